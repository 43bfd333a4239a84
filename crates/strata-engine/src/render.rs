//! From catalog operations to concrete ones: every string is a minijinja template rendered
//! with the step's context (cloud, host, site, step, all hosts, outputs of earlier steps)
//! and a `secret(name)` function that makes or reads a generated secret. Undefined names
//! are errors, not empty strings.

use std::sync::Arc;

use minijinja::{Environment, UndefinedBehavior, Value};
use strata_catalog::{Catalog, OpDef};
use strata_model::{HostId, Model};
use strata_ops::{Op, WaitFor};

use crate::views::{self, Views};
use crate::{Redactor, State};

/// The values fetched from hosts so far, shared by every step's context without a copy (a
/// cloud of thousands of hosts has thousands of them).
pub(crate) type Outputs = Arc<views::OutputsView>;

pub(crate) fn outputs(map: std::collections::HashMap<String, String>) -> Outputs {
    Arc::new(views::OutputsView(map))
}

pub(crate) struct Renderer {
    env: Environment<'static>,
    /// Templates that did not compile, with why (reported where they are used).
    broken: std::collections::HashMap<String, RenderError>,
    views: Views,
}

impl Renderer {
    pub(crate) fn new(
        model: &Model,
        catalog: &Catalog,
        state: Arc<State>,
        redactor: Arc<Redactor>,
    ) -> Renderer {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        if let Ok(syntax) = minijinja::syntax::SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .build()
        {
            env.set_syntax(syntax);
        }
        let mut broken = std::collections::HashMap::new();
        for (name, text) in &catalog.templates {
            if let Err(e) = env.add_template_owned(name.clone(), text.clone()) {
                broken.insert(
                    name.clone(),
                    RenderError::new(format!("template `{name}` does not compile"), &e),
                );
            }
        }
        env.add_function(
            "secret",
            move |name: String, kind: Option<String>| -> Result<String, minijinja::Error> {
                let kind = match kind.as_deref() {
                    None | Some("password") => crate::SecretKind::Password,
                    Some("fernet") => crate::SecretKind::Fernet,
                    Some("cephx") => crate::SecretKind::Cephx,
                    Some("uuid") => crate::SecretKind::Uuid,
                    Some(other) => {
                        return Err(minijinja::Error::new(
                            minijinja::ErrorKind::InvalidOperation,
                            format!(
                            "secret kind `{other}` is not `password`, `fernet`, `cephx` or `uuid`"
                        ),
                        ))
                    }
                };
                let value = state.secret_of_kind(&name, kind).map_err(|e| {
                    minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, e.to_string())
                })?;
                redactor.add(&value);
                Ok(value)
            },
        );
        Renderer {
            env,
            broken,
            views: Views::new(model, catalog),
        }
    }

    /// The context of a step on `host` (see views.rs for what each name holds).
    pub(crate) fn context(
        &self,
        model: &Model,
        host: HostId,
        step: &strata_plan::Step,
        outputs: &Outputs,
    ) -> Value {
        views::context(&self.views, model, host, step, outputs)
    }

    /// A template string rendered with a context (a check's command).
    pub(crate) fn render(&self, template: &str, ctx: &Value) -> Result<String, String> {
        self.text(template, ctx).map_err(|e| e.message)
    }

    fn text(&self, template: &str, ctx: &Value) -> Result<String, RenderError> {
        self.env
            .render_str(template, ctx.clone())
            .map_err(|e| RenderError::new(format!("rendering `{template}`"), &e))
    }

    /// A catalog template file rendered with a context.
    fn file(&self, name: &str, ctx: &Value) -> Result<String, RenderError> {
        if let Some(broken) = self.broken.get(name) {
            return Err(broken.clone());
        }
        self.env
            .get_template(name)
            .and_then(|t| t.render(ctx.clone()))
            .map_err(|e| RenderError::new(format!("rendering template `{name}`"), &e))
    }

    /// Concrete operations for a step; an error keeps where in which template it arose.
    pub(crate) fn ops_located(&self, defs: &[OpDef], ctx: &Value) -> Result<Vec<Op>, RenderError> {
        defs.iter()
            .map(|def| {
                Ok(match def {
                    OpDef::Packages(names) => Op::Packages {
                        names: names
                            .iter()
                            .map(|n| self.text(n, ctx))
                            .collect::<Result<_, _>>()?,
                    },
                    OpDef::File {
                        path,
                        template,
                        content,
                        owner,
                        group,
                        mode,
                    } => {
                        let content = match (template, content) {
                            (Some(t), _) => self.file(t, ctx)?,
                            (None, Some(c)) => self.text(c, ctx)?,
                            (None, None) => String::new(),
                        };
                        Op::File {
                            path: self.text(path, ctx)?,
                            content,
                            owner: self.text(owner, ctx)?,
                            group: self.text(group, ctx)?,
                            mode: *mode,
                        }
                    }
                    OpDef::Service {
                        unit,
                        restart_on_change,
                        watch,
                        state,
                        no_block,
                    } => Op::Service {
                        no_block: *no_block,
                        running: match self.text(state, ctx)?.trim() {
                            "running" => true,
                            "stopped" => false,
                            other => {
                                return Err(RenderError::plain(format!(
                                    "service state `{other}` is not `running` or `stopped`"
                                )))
                            }
                        },
                        unit: self.text(unit, ctx)?,
                        restart_on_change: *restart_on_change,
                        watch: watch
                            .iter()
                            .map(|w| self.text(w, ctx))
                            .collect::<Result<_, _>>()?,
                    },
                    OpDef::Command {
                        run,
                        creates,
                        unless,
                    } => Op::Command {
                        run: self.text(run, ctx)?,
                        creates: creates.as_deref().map(|c| self.text(c, ctx)).transpose()?,
                        unless: unless.as_deref().map(|u| self.text(u, ctx)).transpose()?,
                    },
                    OpDef::Wait {
                        tcp,
                        http,
                        status,
                        command,
                        timeout_s,
                    } => {
                        let what = if let Some(t) = tcp {
                            let t = self.text(t, ctx)?;
                            let (host, port) = t.rsplit_once(':').ok_or_else(|| {
                                RenderError::plain(format!("wait tcp `{t}` is not host:port"))
                            })?;
                            WaitFor::Tcp {
                                host: host.to_owned(),
                                port: port.parse().map_err(|_| {
                                    RenderError::plain(format!("wait tcp `{t}`: bad port"))
                                })?,
                            }
                        } else if let Some(u) = http {
                            WaitFor::Http {
                                url: self.text(u, ctx)?,
                                status: *status,
                            }
                        } else {
                            WaitFor::Command(self.text(command.as_deref().unwrap_or("true"), ctx)?)
                        };
                        Op::Wait {
                            what,
                            timeout_s: *timeout_s,
                        }
                    }
                    OpDef::Fetch { run, output } => Op::Fetch {
                        run: self.text(run, ctx)?,
                        output: self.text(output, ctx)?,
                    },
                })
            })
            .collect()
    }
}

/// Why something did not render: what, and where in which catalog template file when the
/// error arose in one (an inline string of a service file has no such place).
#[derive(Debug, Clone)]
pub(crate) struct RenderError {
    pub message: String,
    /// The template's name under `templates/`, its line (1-based), and the byte range of
    /// the fault in its text when minijinja knows it.
    pub at: Option<(String, usize, Option<std::ops::Range<usize>>)>,
}

impl RenderError {
    fn new(what: String, e: &minijinja::Error) -> RenderError {
        let at = match (e.name(), e.line()) {
            (Some(name), Some(line)) if name != "<string>" => {
                Some((name.to_owned(), line, e.range()))
            }
            _ => None,
        };
        RenderError {
            message: format!("{what}: {}", describe(e)),
            at,
        }
    }

    fn plain(message: String) -> RenderError {
        RenderError { message, at: None }
    }
}

/// A template error in a line or two: what and where, and its causes. (The alternate form
/// prints the whole context, which buries the message and shows more than an operator needs.)
fn describe(e: &minijinja::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}
