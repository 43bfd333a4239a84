//! From catalog operations to concrete ones: every string is a minijinja template rendered
//! with the step's context (cloud, host, site, step, all hosts, outputs of earlier steps)
//! and a `secret(name)` function that makes or reads a generated secret. Undefined names
//! are errors, not empty strings.

use std::sync::Arc;

use minijinja::value::Serde;
use minijinja::{Environment, UndefinedBehavior, Value};
use serde::Serialize;
use strata_catalog::{Catalog, OpDef};
use strata_model::{HostId, Model, SiteKind};
use strata_ops::{Op, WaitFor};

use crate::{Redactor, State};

#[derive(Serialize)]
struct HostView {
    name: String,
    ip: String,
    site: String,
    role: String,
    services: Vec<String>,
}

pub(crate) struct Renderer {
    env: Environment<'static>,
    /// Templates that did not compile, with why (reported where they are used).
    broken: std::collections::HashMap<String, String>,
    hosts: Value,
    cloud: String,
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
                broken.insert(name.clone(), format!("{e:#}"));
            }
        }
        env.add_function(
            "secret",
            move |name: String| -> Result<String, minijinja::Error> {
                let value = state.secret(&name).map_err(|e| {
                    minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, e.to_string())
                })?;
                redactor.add(&value);
                Ok(value)
            },
        );
        let hosts: Vec<HostView> = model.hosts.iter().map(|h| host_view(model, h)).collect();
        Renderer {
            env,
            broken,
            hosts: Value::from(Serde(hosts)),
            cloud: model.cloud.clone(),
        }
    }

    /// The context of a step on `host`.
    pub(crate) fn context(
        &self,
        model: &Model,
        host: HostId,
        step: &strata_plan::Step,
        outputs: &std::collections::HashMap<String, String>,
    ) -> Value {
        let h = &model.hosts[host];
        let site = &model.sites[h.site];
        minijinja::context! {
            cloud => self.cloud.clone(),
            host => Value::from(Serde(host_view(model, h))),
            site => minijinja::context! {
                name => site.name.clone(),
                region => site.region.clone(),
                availability_zone => site.availability_zone.clone(),
                vip => site.vip.map(|v| v.to_string()),
                kind => if site.kind == SiteKind::Edge { "edge" } else { "central" },
            },
            step => minijinja::context! { service => step.service.clone(), action => step.action.clone(), qualifier => step.qualifier.clone() },
            hosts => self.hosts.clone(),
            outputs => Value::from(Serde(outputs.clone())),
            galera => galera_view(model, host, step.qualifier.as_deref()).map(|g| Value::from(Serde(g))),
        }
    }

    fn text(&self, template: &str, ctx: &Value) -> Result<String, String> {
        self.env
            .render_str(template, ctx.clone())
            .map_err(|e| format!("rendering `{template}`: {e:#}"))
    }

    /// Concrete operations for a step.
    pub(crate) fn ops(&self, defs: &[OpDef], ctx: &Value) -> Result<Vec<Op>, String> {
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
                            (Some(t), _) => match self.broken.get(t) {
                                Some(why) => {
                                    return Err(format!("template `{t}` does not compile: {why}"))
                                }
                                None => self
                                    .env
                                    .get_template(t)
                                    .and_then(|t| t.render(ctx.clone()))
                                    .map_err(|e| format!("rendering template `{t}`: {e:#}"))?,
                            },
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
                    } => Op::Service {
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
                            let (host, port) = t
                                .rsplit_once(':')
                                .ok_or_else(|| format!("wait tcp `{t}` is not host:port"))?;
                            WaitFor::Tcp {
                                host: host.to_owned(),
                                port: port
                                    .parse()
                                    .map_err(|_| format!("wait tcp `{t}`: bad port"))?,
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

#[derive(Serialize)]
struct GaleraMember {
    name: String,
    ip: String,
    /// `pc.weight`: members of a stretched cluster's primary site weigh more.
    weight: u32,
}

#[derive(Serialize)]
struct GaleraView {
    name: String,
    members: Vec<GaleraMember>,
    /// The client port (3306, plus an offset when several clusters share hosts).
    port: u16,
    /// The group communication port (4567, plus the same offset).
    gcomm_port: u16,
    /// This host's weight.
    weight: u32,
}

/// The Galera cluster a step of `host` is about: the named one its qualifier names, else the
/// host's site's own.
fn galera_view(model: &Model, host: HostId, qualifier: Option<&str>) -> Option<GaleraView> {
    let cluster = model.galera.iter().find(|g| {
        g.members.contains(&host)
            && if g.named {
                qualifier == Some(g.name.as_str())
            } else {
                qualifier.is_none()
            }
    })?;
    let members: Vec<GaleraMember> = cluster
        .members
        .iter()
        .zip(&cluster.weights)
        .map(|(&m, &w)| GaleraMember {
            name: model.hosts[m].name.clone(),
            ip: model.hosts[m].ip.to_string(),
            weight: w,
        })
        .collect();
    let weight = cluster
        .members
        .iter()
        .position(|&m| m == host)
        .map(|i| cluster.weights[i])
        .unwrap_or(1);
    Some(GaleraView {
        name: cluster.name.clone(),
        members,
        port: 3306 + cluster.port_offset,
        gcomm_port: 4567 + cluster.port_offset,
        weight,
    })
}

fn host_view(model: &Model, h: &strata_model::Host) -> HostView {
    HostView {
        name: h.name.clone(),
        ip: h.ip.to_string(),
        site: model.sites[h.site].name.clone(),
        role: h.role.clone(),
        services: h.services.to_vec(),
    }
}
