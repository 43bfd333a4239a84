//! Reading catalog files into [`Catalog`], checking them the way specs are checked: unknown
//! fields, unknown services and steps, and dependency cycles become located diagnostics.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use strata_source::read::{boolean, named_entries, string, string_list, uint, MapReader};
use strata_source::{parse_yaml, Diagnostic, Diagnostics, Label, Node, SourceMap};

use crate::{
    Api, Catalog, CephUse, CheckDef, Database, Group, Kind, Leader, On, OpDef, Port, Reach, Role,
    Service, StepDef, StepRef, DEFAULT_CHECK_TIMEOUT_S, HOOK_API_REGISTRATION, HOOK_DATABASE,
    HOOK_MESSAGING_USER, SERVES, SERVES_CACHE, SERVES_DATABASE, SERVES_IMAGE,
};

include!(concat!(env!("OUT_DIR"), "/builtin_catalog.rs"));

/// The catalog files compiled into this binary, as (relative path, text).
pub fn builtin_files() -> &'static [(&'static str, &'static str)] {
    BUILTIN_FILES
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("cannot read catalog directory {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Catalog {
    /// The built-in catalog, with the files of `extra` (same layout: `services/*.yaml`,
    /// `roles.yaml`) added on top; an extra file with a built-in's path replaces it.
    pub fn load(
        sources: &mut SourceMap,
        extra: Option<&Path>,
        diags: &mut Diagnostics,
    ) -> Result<Catalog, CatalogError> {
        let mut files: BTreeMap<String, (String, String)> = builtin_files()
            .iter()
            .map(|(rel, text)| {
                (
                    rel.to_string(),
                    (format!("<builtin>/catalog/{rel}"), text.to_string()),
                )
            })
            .collect();
        if let Some(dir) = extra {
            for (rel, path) in list_yaml(dir, dir)? {
                let text = std::fs::read_to_string(&path).map_err(|source| CatalogError::Read {
                    path: path.clone(),
                    source,
                })?;
                files.insert(rel, (path.display().to_string(), text));
            }
        }
        Ok(Catalog::from_files(sources, files.into_values(), diags))
    }

    /// Builds a catalog from (display name, text) pairs; `roles.yaml` holds roles, any
    /// other file one service.
    pub fn from_files(
        sources: &mut SourceMap,
        files: impl IntoIterator<Item = (String, String)>,
        diags: &mut Diagnostics,
    ) -> Catalog {
        let mut catalog = Catalog::default();
        for (name, text) in files {
            if let Some(i) = name.find("templates/").filter(|_| name.ends_with(".j2")) {
                let key = name[i + "templates/".len()..].to_owned();
                catalog.templates.insert(key.clone(), text.clone());
                catalog.template_files.insert(key, sources.add(name, text));
                continue;
            }
            let is_roles = name.ends_with("roles.yaml");
            let file = sources.add(name, text);
            let root = match parse_yaml(file, sources.text(file)) {
                Ok(root) => root,
                Err(d) => {
                    diags.push(d);
                    continue;
                }
            };
            if is_roles {
                for role in roles(&root, diags) {
                    catalog.roles.insert(role.name.clone(), role);
                }
            } else if let Some(service) = service(&root, diags) {
                if let Some(prev) = catalog.services.get(&service.name) {
                    diags.push(
                        Diagnostic::error(
                            service.loc,
                            format!("service `{}` is defined twice", service.name),
                        )
                        .with_label(Label::new(prev.loc, "first defined here")),
                    );
                }
                catalog.services.insert(service.name.clone(), service);
            }
        }
        check(&catalog, diags);
        catalog
    }
}

fn list_yaml(dir: &Path, root: &Path) -> Result<Vec<(String, PathBuf)>, CatalogError> {
    let read = std::fs::read_dir(dir).map_err(|source| CatalogError::Read {
        path: dir.to_owned(),
        source,
    })?;
    let mut out = Vec::new();
    for entry in read.filter_map(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            out.extend(list_yaml(&path, root)?);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "j2") {
            let rel = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            out.push((rel, path));
        }
    }
    Ok(out)
}

fn strings(node: Option<&Node>, what: &str, diags: &mut Diagnostics) -> Vec<String> {
    string_list(node, what, diags)
        .map(|l| l.value.into_iter().map(|s| s.value).collect())
        .unwrap_or_default()
}

/// A list of Debian package names: they reach apt's and the guest build's command lines.
fn package_names(node: Option<&Node>, what: &str, diags: &mut Diagnostics) -> Vec<String> {
    let Some(list) = string_list(node, what, diags) else {
        return Vec::new();
    };
    let mut names = Vec::new();
    for name in list.value {
        // Debian policy 5.6.1: lower case letters, digits, `+`, `-` and `.`, starting with
        // a letter or digit, at least two characters.
        let v = &name.value;
        let valid = v.len() >= 2
            && v.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && v.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c));
        if valid {
            names.push(name.value);
        } else {
            diags.push(
                Diagnostic::error(name.loc, format!("`{v}` in {what} is not a Debian package name"))
                    .with_help("a package name has lower-case letters, digits, `+`, `-` and `.`, and starts with a letter or digit"),
            );
        }
    }
    names
}

fn enum_field<T: Copy>(
    node: Option<&Node>,
    what: &str,
    choices: &[(&str, T)],
    default: T,
    diags: &mut Diagnostics,
) -> T {
    let Some(value) = string(node, what, diags) else {
        return default;
    };
    match choices.iter().find(|(n, _)| *n == value.value) {
        Some((_, v)) => *v,
        None => {
            let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
            diags.push(
                Diagnostic::error(value.loc, format!("unknown {what} `{}`", value.value))
                    .with_help(format!("use one of: {}", names.join(", "))),
            );
            default
        }
    }
}

/// A service's databases: `database: NAME` (one, its user named alike), or `databases:` a
/// list of names or `{ name, user }` (several databases may share one user).
fn databases(r: &MapReader, what: &str, diags: &mut Diagnostics) -> Vec<Database> {
    let one = string(r.get("database"), "`database`", diags).map(|d| Database {
        user: d.value.clone(),
        name: d.value,
    });
    let Some(list) = r.get("databases") else {
        return one.into_iter().collect();
    };
    if let Some(first) = r.get("database") {
        diags.push(
            Diagnostic::error(
                first.loc,
                format!("{what} has both `database` and `databases`"),
            )
            .with_help("list every database under `databases`"),
        );
    }
    let Some(items) = list.as_seq() else {
        strata_source::read::type_error(list, "`databases`", "a list of databases", diags);
        return Vec::new();
    };
    let mut out: Vec<Database> = Vec::new();
    for item in items {
        let db = if item.as_str().is_some() {
            string(Some(item), "a database", diags).map(|n| Database {
                user: n.value.clone(),
                name: n.value,
            })
        } else {
            let dr = MapReader::new(
                item,
                &format!("a database of {what}"),
                &["name", "user"],
                diags,
            );
            string(dr.get("name"), "`name`", diags).map(|n| Database {
                user: string(dr.get("user"), "`user`", diags)
                    .map(|u| u.value)
                    .unwrap_or_else(|| n.value.clone()),
                name: n.value,
            })
        };
        if let Some(db) = db {
            if out.iter().any(|d| d.name == db.name) {
                diags.push(Diagnostic::error(
                    item.loc,
                    format!("{what} lists database `{}` twice", db.name),
                ));
            } else {
                out.push(db);
            }
        }
    }
    out
}

/// `ports:` as a list of numbers, or a map of names to numbers (`{ client: 3306 }`) for
/// ports others look up.
fn ports(node: Option<&Node>, diags: &mut Diagnostics) -> Vec<Port> {
    let Some(node) = node else {
        return Vec::new();
    };
    if let Some(items) = node.as_seq() {
        return items
            .iter()
            .filter_map(|i| uint(Some(i), "a port", 65535, diags))
            .map(|p| Port {
                name: None,
                number: p.value as u16,
            })
            .collect();
    }
    if node.as_map().is_some() {
        return named_entries(Some(node), "`ports`", diags)
            .into_iter()
            .filter_map(|(name, value)| {
                Some(Port {
                    number: uint(Some(value), "a port", 65535, diags)?.value as u16,
                    name: Some(name.value),
                })
            })
            .collect();
    }
    strata_source::read::type_error(
        node,
        "`ports`",
        "a list of port numbers, or names and numbers",
        diags,
    );
    Vec::new()
}

fn service(root: &Node, diags: &mut Diagnostics) -> Option<Service> {
    let r = MapReader::new(
        root,
        "a service",
        &[
            "name",
            "description",
            "kind",
            "group",
            "packages",
            "guest",
            "units",
            "ports",
            "serves",
            "reach",
            "leader",
            "database",
            "databases",
            "messaging",
            "api",
            "deployed",
            "ceph",
            "needs",
            "early",
            "site_needs",
            "steps",
            "provides",
            "checks",
        ],
        diags,
    );
    let Some(name) = string(r.get("name"), "`name`", diags) else {
        diags.push(
            Diagnostic::error(root.loc, "a service file needs a `name`")
                .with_help("add `name: <service>` at the top"),
        );
        return None;
    };
    let what = format!("service `{}`", name.value);
    let ports = ports(r.get("ports"), diags);
    let serves = strings(r.get("serves"), "`serves`", diags);
    if let (Some(node), Some(unknown)) = (
        r.get("serves"),
        serves.iter().find(|s| !SERVES.contains(&s.as_str())),
    ) {
        diags.push(
            Diagnostic::error(
                node.loc,
                format!("{what} serves `{unknown}`, which strata does not know"),
            )
            .with_help(format!("a service can serve {}", SERVES.join(", "))),
        );
    }
    let api = r.get("api").and_then(|a| {
        let ar = MapReader::new(
            a,
            &format!("the api of {what}"),
            &["type", "port", "path"],
            diags,
        );
        Some(Api {
            service_type: string(ar.get("type"), "`type`", diags)?.value,
            port: uint(ar.get("port"), "`port`", 65535, diags)?.value as u16,
            path: string(ar.get("path"), "`path`", diags)
                .map(|p| p.value)
                .unwrap_or_default(),
        })
    });
    let mut steps = Vec::new();
    match r.get("steps").map(|s| (s, s.as_seq())) {
        Some((_, Some(items))) => {
            for item in items {
                if let Some(step) = step_def(item, &what, None, diags) {
                    steps.push(step);
                }
            }
        }
        Some((s, None)) => strata_source::read::type_error(s, "`steps`", "a list of steps", diags),
        None => {}
    }
    let mut checks = Vec::new();
    match r.get("checks").map(|c| (c, c.as_seq())) {
        Some((_, Some(items))) => {
            for item in items {
                let cr = MapReader::new(
                    item,
                    &format!("a check of {what}"),
                    &["name", "on", "run", "timeout_s", "deployer", "finally"],
                    diags,
                );
                let name = string(cr.get("name"), "`name`", diags);
                let run = string(cr.get("run"), "`run`", diags);
                let deployer = string(cr.get("deployer"), "`deployer`", diags).map(|d| d.value);
                let finally = string(cr.get("finally"), "`finally`", diags).map(|f| f.value);
                let timeout_s = uint(cr.get("timeout_s"), "`timeout_s`", 3600, diags)
                    .map_or(DEFAULT_CHECK_TIMEOUT_S, |t| t.value);
                let on = enum_field(
                    cr.get("on"),
                    "`on`",
                    &[("each", On::Each), ("first", On::First)],
                    On::Each,
                    diags,
                );
                match (name, run) {
                    (Some(name), Some(run)) => checks.push(CheckDef {
                        name: name.value,
                        on,
                        run: run.value,
                        timeout_s,
                        deployer,
                        finally,
                    }),
                    _ => diags.push(
                        Diagnostic::error(item.loc, format!("a check of {what} needs `name` and `run`"))
                            .with_help("e.g. `- { name: answers, on: each, run: \"curl -sf http://{{ host.ip }}:80/\" }`"),
                    ),
                }
            }
        }
        Some((c, None)) => {
            strata_source::read::type_error(c, "`checks`", "a list of checks", diags)
        }
        None => {}
    }
    // What the service does for others' traits (a database, a messaging user, an API
    // registration): steps the planner places where a trait asks for them.
    let mut provides = BTreeMap::new();
    if let Some(p) = r.get("provides") {
        let pr = MapReader::new(
            p,
            &format!("`provides` of {what}"),
            &[HOOK_DATABASE, HOOK_MESSAGING_USER, HOOK_API_REGISTRATION],
            diags,
        );
        for hook in [HOOK_DATABASE, HOOK_MESSAGING_USER, HOOK_API_REGISTRATION] {
            if let Some(def) = pr
                .get(hook)
                .and_then(|n| step_def(n, &what, Some(hook), diags))
            {
                provides.insert(hook.to_owned(), def);
            }
        }
    }
    if steps.is_empty() {
        diags.push(
            Diagnostic::error(name.loc, format!("{what} has no steps"))
                .with_help("add at least one step, e.g. `- { action: configure, on: each }`"),
        );
    }
    Some(Service {
        loc: name.loc,
        description: string(r.get("description"), "`description`", diags)
            .map(|d| d.value)
            .unwrap_or_default(),
        kind: enum_field(
            r.get("kind"),
            "`kind`",
            &[
                ("infra", Kind::Infra),
                ("api", Kind::Api),
                ("worker", Kind::Worker),
                ("agent", Kind::Agent),
                ("ceph", Kind::Ceph),
            ],
            Kind::Worker,
            diags,
        ),
        group: enum_field(
            r.get("group"),
            "`group`",
            &[("site", Group::Site), ("galera", Group::Galera)],
            Group::Site,
            diags,
        ),
        packages: package_names(r.get("packages"), "`packages`", diags),
        guest: package_names(r.get("guest"), "`guest`", diags),
        units: strings(r.get("units"), "`units`", diags),
        ports,
        serves,
        reach: enum_field(
            r.get("reach"),
            "`reach`",
            &[("site", Reach::Site), ("central", Reach::Central)],
            Reach::Central,
            diags,
        ),
        leader: enum_field(
            r.get("leader"),
            "`leader`",
            &[("first", Leader::First), ("least-busy", Leader::LeastBusy)],
            Leader::First,
            diags,
        ),
        databases: databases(&r, &what, diags),
        messaging: r
            .get("messaging")
            .and_then(|m| m.as_bool())
            .unwrap_or(false),
        api,
        prepared_only: r.get("deployed").and_then(|d| d.as_bool()) == Some(false),
        ceph: enum_field(
            r.get("ceph"),
            "`ceph`",
            &[
                ("none", CephUse::None),
                ("local", CephUse::Local),
                ("stores", CephUse::Stores),
            ],
            CephUse::None,
            diags,
        ),
        needs: strings(r.get("needs"), "`needs`", diags),
        early: strings(r.get("early"), "`early`", diags),
        site_needs: named_entries(r.get("site_needs"), "`site_needs`", diags)
            .into_iter()
            .filter_map(|(need, why)| {
                let why = string(Some(why), "the reason of a `site_needs` entry", diags)?;
                Some((need.value, why.value))
            })
            .collect(),
        steps,
        provides,
        checks,
        name: name.value,
    })
}

/// One step of a service (`steps:`), or what it provides to a trait (`provides:`, which has
/// no action of its own nor an order among the service's steps).
fn step_def(
    item: &Node,
    what: &str,
    hook: Option<&str>,
    diags: &mut Diagnostics,
) -> Option<StepDef> {
    let lifecycle = hook.is_none();
    let keys: &[&str] = if lifecycle {
        &[
            "action",
            "on",
            "after",
            "after_all",
            "estimate_s",
            "doc",
            "ops",
            "retries",
            "logs",
            "alone",
        ]
    } else {
        &["estimate_s", "doc", "ops", "retries", "logs", "alone"]
    };
    let sr = MapReader::new(item, &format!("a step of {what}"), keys, diags);
    let action = if lifecycle {
        let Some(action) = string(sr.get("action"), "`action`", diags) else {
            diags.push(Diagnostic::error(
                item.loc,
                format!("a step of {what} has no `action`"),
            ));
            return None;
        };
        action.value
    } else {
        hook.unwrap_or_default().to_owned()
    };
    let refs = |key: &str, diags: &mut Diagnostics| -> Vec<StepRef> {
        strings(sr.get(key), key, diags)
            .into_iter()
            .map(|a| match a.split_once(':') {
                Some((svc, act)) => StepRef {
                    service: Some(svc.to_owned()),
                    action: act.to_owned(),
                },
                None => StepRef {
                    service: None,
                    action: a,
                },
            })
            .collect()
    };
    let step_ops = sr
        .get("ops")
        .map(|o| ops(o, &format!("step `{action}` of {what}"), diags))
        .unwrap_or_default();
    let after = refs("after", diags);
    let after_all = refs("after_all", diags);
    Some(StepDef {
        on: enum_field(
            sr.get("on"),
            "`on`",
            &[
                ("each", On::Each),
                ("first", On::First),
                ("rest", On::Rest),
                ("database", On::Database),
                ("store", On::Store),
            ],
            On::Each,
            diags,
        ),
        action,
        after,
        after_all,
        estimate_ms: uint(sr.get("estimate_s"), "`estimate_s`", 3600, diags)
            .map(|e| e.value * 1000)
            .unwrap_or(1000),
        doc: string(sr.get("doc"), "`doc`", diags).map(|d| d.value),
        ops: step_ops,
        retries: uint(sr.get("retries"), "`retries`", 20, diags)
            .map(|r| r.value)
            .unwrap_or(0),
        logs: strings(sr.get("logs"), "`logs`", diags),
        alone: boolean(sr.get("alone"), "`alone`", diags).is_some_and(|a| a.value),
    })
}

/// A step's `ops:` list: each entry a map with one key naming the operation.
fn ops(node: &Node, what: &str, diags: &mut Diagnostics) -> Vec<OpDef> {
    let Some(items) = node.as_seq() else {
        strata_source::read::type_error(node, "`ops`", "a list of operations", diags);
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in items {
        let kinds = ["packages", "file", "service", "command", "wait", "fetch"];
        let Some([(key, body)]) = item.as_map() else {
            diags.push(
                Diagnostic::error(
                    item.loc,
                    format!("an operation of {what} must be a map with one key"),
                )
                .with_help(format!("one of: {}", kinds.join(", "))),
            );
            continue;
        };
        let kind = key.scalar_text().unwrap_or_default();
        let text = |r: &MapReader, k: &str, diags: &mut Diagnostics| {
            string(r.get(k), k, diags).map(|s| s.value)
        };
        let op = match kind {
            "packages" => Some(OpDef::Packages(package_names(
                Some(body),
                "`packages`",
                diags,
            ))),
            "file" => {
                let r = MapReader::new(
                    body,
                    "a file operation",
                    &["path", "template", "content", "owner", "group", "mode"],
                    diags,
                );
                let mode = text(&r, "mode", diags).unwrap_or_else(|| "0644".into());
                let mode =
                    u32::from_str_radix(mode.trim_start_matches("0o"), 8).unwrap_or_else(|_| {
                        diags.push(
                            Diagnostic::error(body.loc, format!("mode `{mode}` is not octal"))
                                .with_help("write it like \"0640\""),
                        );
                        0o644
                    });
                let path = r
                    .require("path", "a file operation", "add `path:`", diags)
                    .and_then(|p| string(Some(p), "path", diags))
                    .map(|p| p.value);
                let (template, content) = (text(&r, "template", diags), text(&r, "content", diags));
                if template.is_some() == content.is_some() {
                    diags.push(
                        Diagnostic::error(
                            body.loc,
                            "a file operation needs `template` or `content`, one of them",
                        )
                        .with_help("name a file under templates/, or give the content inline"),
                    );
                }
                path.map(|path| OpDef::File {
                    path,
                    template,
                    content,
                    owner: text(&r, "owner", diags).unwrap_or_else(|| "root".into()),
                    group: text(&r, "group", diags).unwrap_or_else(|| "root".into()),
                    mode,
                })
            }
            "service" => {
                let r = MapReader::new(
                    body,
                    "a service operation",
                    &["unit", "restart_on_change", "watch", "state", "no_block"],
                    diags,
                );
                let unit = r
                    .require("unit", "a service operation", "add `unit:`", diags)
                    .and_then(|u| string(Some(u), "unit", diags))
                    .map(|u| u.value);
                let watch = strings(r.get("watch"), "`watch`", diags);
                unit.map(|unit| OpDef::Service {
                    unit,
                    restart_on_change: boolean(
                        r.get("restart_on_change"),
                        "`restart_on_change`",
                        diags,
                    )
                    .is_none_or(|r| r.value),
                    watch,
                    state: text(&r, "state", diags).unwrap_or_else(|| "running".into()),
                    no_block: boolean(r.get("no_block"), "`no_block`", diags)
                        .is_some_and(|b| b.value),
                })
            }
            "command" => {
                let r = MapReader::new(
                    body,
                    "a command operation",
                    &["run", "creates", "unless"],
                    diags,
                );
                let run = r
                    .require("run", "a command operation", "add `run:`", diags)
                    .and_then(|u| string(Some(u), "run", diags))
                    .map(|u| u.value);
                let (creates, unless) = (text(&r, "creates", diags), text(&r, "unless", diags));
                if creates.is_none() && unless.is_none() {
                    diags.push(
                        Diagnostic::error(
                            body.loc,
                            "a command operation needs a guard: `creates` or `unless`",
                        )
                        .with_help("say how to tell it has run, so a re-run does not run it again"),
                    );
                }
                run.map(|run| OpDef::Command {
                    run,
                    creates,
                    unless,
                })
            }
            "wait" => {
                let r = MapReader::new(
                    body,
                    "a wait operation",
                    &["tcp", "http", "status", "command", "timeout_s"],
                    diags,
                );
                let (tcp, http, command) = (
                    text(&r, "tcp", diags),
                    text(&r, "http", diags),
                    text(&r, "command", diags),
                );
                if [tcp.is_some(), http.is_some(), command.is_some()]
                    .iter()
                    .filter(|b| **b)
                    .count()
                    != 1
                {
                    diags.push(Diagnostic::error(
                        body.loc,
                        "a wait operation waits for one thing: `tcp`, `http` or `command`",
                    ));
                }
                Some(OpDef::Wait {
                    tcp,
                    http,
                    command,
                    status: uint(r.get("status"), "status", 599, diags)
                        .map(|s| s.value as u16)
                        .unwrap_or(200),
                    timeout_s: uint(r.get("timeout_s"), "timeout_s", 3600, diags)
                        .map(|s| s.value)
                        .unwrap_or(60),
                })
            }
            "fetch" => {
                let r = MapReader::new(body, "a fetch operation", &["run", "output"], diags);
                match (text(&r, "run", diags), text(&r, "output", diags)) {
                    (Some(run), Some(output)) => Some(OpDef::Fetch { run, output }),
                    _ => {
                        diags.push(Diagnostic::error(
                            body.loc,
                            "a fetch operation needs `run` and `output`",
                        ));
                        None
                    }
                }
            }
            other => {
                diags.push(
                    Diagnostic::error(key.loc, format!("unknown operation `{other}` in {what}"))
                        .with_help(format!("operations: {}", kinds.join(", "))),
                );
                None
            }
        };
        out.extend(op);
    }
    out
}

fn roles(root: &Node, diags: &mut Diagnostics) -> Vec<Role> {
    // Roles may extend roles defined later in the file: read all, then compose in order.
    let mut raw = Vec::new();
    for (name, node) in named_entries(Some(root), "the roles file", diags) {
        let what = format!("role `{}`", name.value);
        let r = MapReader::new(
            node,
            &what,
            &[
                "description",
                "extends",
                "services",
                "add",
                "remove",
                "site_requires",
            ],
            diags,
        );
        raw.push((
            name,
            string(r.get("description"), "`description`", diags)
                .map(|d| d.value)
                .unwrap_or_default(),
            string(r.get("extends"), "`extends`", diags),
            r.get("services")
                .map(|s| strings(Some(s), "`services`", diags)),
            strings(r.get("add"), "`add`", diags),
            strings(r.get("remove"), "`remove`", diags),
            strings(r.get("site_requires"), "`site_requires`", diags),
        ));
    }
    let mut done: BTreeMap<String, Role> = BTreeMap::new();
    let mut pending: Vec<_> = raw.into_iter().collect();
    while !pending.is_empty() {
        let before = pending.len();
        pending.retain(
            |(name, description, extends, services, add, remove, site_requires)| {
                let base = match extends {
                    Some(e) => match done.get(&e.value) {
                        Some(b) => Some(b.clone()),
                        None => return true,
                    },
                    None => None,
                };
                let mut requires = base
                    .as_ref()
                    .map(|b| b.site_requires.clone())
                    .unwrap_or_default();
                requires.extend(site_requires.iter().cloned());
                done.insert(
                    name.value.clone(),
                    Role {
                        name: name.value.clone(),
                        loc: name.loc,
                        description: description.clone(),
                        services: Catalog::compose(base.as_ref(), services.as_deref(), add, remove),
                        site_requires: requires,
                    },
                );
                false
            },
        );
        if pending.len() == before {
            for (name, _, extends, ..) in &pending {
                let e = extends
                    .as_ref()
                    .expect("only roles with extends stay pending");
                diags.push(
                    Diagnostic::error(
                        e.loc,
                        format!(
                            "role `{}` extends `{}`, which is unknown or part of a cycle",
                            name.value, e.value
                        ),
                    )
                    .with_help("extend a role that exists and does not extend this one"),
                );
            }
            break;
        }
    }
    done.into_values().collect()
}

/// Cross-file checks: every name a service or role refers to exists, steps refer to steps
/// that exist, and service dependencies have no cycle.
fn check(catalog: &Catalog, diags: &mut Diagnostics) {
    // One server per trait: code asks the catalog who serves it.
    for what in SERVES {
        let servers: Vec<&Service> = catalog
            .services
            .values()
            .filter(|s| s.serves.iter().any(|x| x == what))
            .collect();
        if let [first, second, ..] = servers.as_slice() {
            diags.push(
                Diagnostic::error(
                    second.loc,
                    format!("`{}` and `{}` both serve `{what}`", first.name, second.name),
                )
                .with_label(Label::new(first.loc, "also serves it"))
                .with_help("one service serves each trait: remove it from one `serves:`"),
            );
        }
    }
    // The ports the others' configuration is written with, by name.
    for (what, names) in [
        (SERVES_DATABASE, &["client", "gcomm"][..]),
        (SERVES_CACHE, &["client"][..]),
    ] {
        if let Some(server) = catalog.server_of(what) {
            for name in names.iter().filter(|n| server.port(n).is_none()) {
                diags.push(
                    Diagnostic::error(
                        server.loc,
                        format!(
                            "`{}` serves `{what}` but names no `{name}` port",
                            server.name
                        ),
                    )
                    .with_help(format!(
                        "name it in `ports:`, e.g. `ports: {{ {name}: 1234 }}`"
                    )),
                );
            }
        }
    }
    // A site's stores are the image stores the spec gives it (`glance:`): only the service
    // that keeps images uses them, so `ceph: stores` and `on: store` belong to it alone.
    for service in catalog.services.values() {
        let uses_stores = service.ceph == CephUse::Stores;
        let store_step = service.steps.iter().find(|d| d.on == On::Store);
        let serves_images = service.serves.iter().any(|s| s == SERVES_IMAGE);
        if (uses_stores || store_step.is_some()) && !serves_images {
            let what = match store_step {
                Some(d) if !uses_stores => format!("its step `{}` runs `on: store`", d.action),
                _ => "it says `ceph: stores`".to_owned(),
            };
            diags.push(
                Diagnostic::error(
                    service.loc,
                    format!(
                        "`{}` uses a site's image stores ({what}) but does not serve `{SERVES_IMAGE}`",
                        service.name
                    ),
                )
                .with_help(format!(
                    "the stores are the spec's `glance:` stores of the service that serves `{SERVES_IMAGE}`: use `ceph: local` and `on: each`, or add `{SERVES_IMAGE}` to its `serves:`"
                )),
            );
        }
    }
    for service in catalog.services.values() {
        let site_needs = service.site_needs.iter().map(|(n, _)| n);
        for need in service.needs.iter().chain(site_needs) {
            if !catalog.services.contains_key(need) {
                diags.push(Diagnostic::error(
                    service.loc,
                    format!("service `{}` needs unknown service `{need}`", service.name),
                ));
            }
        }
        for early in &service.early {
            if service.step(early).is_none() {
                diags.push(
                    Diagnostic::error(
                        service.loc,
                        format!(
                            "service `{}` runs step `{early}` early, but has no such step",
                            service.name
                        ),
                    )
                    .with_help("`early:` lists steps of the service's own `steps:`"),
                );
            }
        }
        let mut seen = HashSet::new();
        for step in &service.steps {
            if !seen.insert(step.action.as_str()) {
                diags.push(Diagnostic::error(
                    service.loc,
                    format!(
                        "service `{}` has two steps named `{}`",
                        service.name, step.action
                    ),
                ));
            }
            if step.on == On::Database && service.databases.is_empty() {
                diags.push(Diagnostic::error(service.loc, format!("step `{}` of `{}` runs once per database, but the service has no `database`", step.action, service.name)));
            }
            for after in step.after.iter().chain(&step.after_all) {
                let target = match &after.service {
                    None => Some(service),
                    Some(other) => catalog.services.get(other),
                };
                let ok = target.is_some_and(|t| t.step(&after.action).is_some());
                let own_earlier = after.service.is_some()
                    || service
                        .steps
                        .iter()
                        .take_while(|s| s.action != step.action)
                        .any(|s| s.action == after.action);
                if !ok || !own_earlier {
                    let name = match &after.service {
                        Some(s) => format!("{s}:{}", after.action),
                        None => after.action.clone(),
                    };
                    diags.push(
                        Diagnostic::error(service.loc, format!("step `{}` of `{}` runs after `{name}`, which is not an earlier step", step.action, service.name))
                            .with_help("`after` names earlier steps of the same service, or `service:step` of another"),
                    );
                }
            }
        }
    }
    for service in catalog.services.values() {
        for step in service.steps.iter().chain(service.provides.values()) {
            for op in &step.ops {
                if let OpDef::File {
                    template: Some(t), ..
                } = op
                {
                    if !catalog.templates.contains_key(t) {
                        diags.push(Diagnostic::error(service.loc, format!("step `{}` of `{}` uses template `{t}`, which is not under templates/", step.action, service.name)));
                    }
                }
            }
        }
    }
    for role in catalog.roles.values() {
        for s in role.services.iter().chain(&role.site_requires) {
            if !catalog.services.contains_key(s) {
                diags.push(Diagnostic::error(
                    role.loc,
                    format!("role `{}` names unknown service `{s}`", role.name),
                ));
            }
        }
    }
    // Dependency cycles, printed as their chain.
    let mut state: BTreeMap<&str, u8> = BTreeMap::new();
    for start in catalog.services.keys() {
        let mut path = Vec::new();
        visit(catalog, start, &mut state, &mut path, diags);
    }
}

fn visit<'a>(
    catalog: &'a Catalog,
    name: &'a str,
    state: &mut BTreeMap<&'a str, u8>,
    path: &mut Vec<&'a str>,
    diags: &mut Diagnostics,
) {
    match state.get(name) {
        Some(2) => return,
        Some(1) => {
            let from = path.iter().position(|p| *p == name).unwrap_or(0);
            let mut chain: Vec<&str> = path[from..].to_vec();
            chain.push(name);
            let loc = catalog.services[name].loc;
            diags.push(
                Diagnostic::error(
                    loc,
                    format!("service dependency cycle: {}", chain.join(" -> ")),
                )
                .with_help("remove one of these `needs`"),
            );
            return;
        }
        _ => {}
    }
    state.insert(name, 1);
    path.push(name);
    if let Some(service) = catalog.services.get(name) {
        for need in &service.needs {
            if catalog.services.contains_key(need.as_str()) {
                visit(catalog, need, state, path, diags);
            }
        }
    }
    path.pop();
    state.insert(name, 2);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builtin() -> (Catalog, Diagnostics, SourceMap) {
        let mut sources = SourceMap::new();
        let mut diags = Diagnostics::new();
        let catalog = Catalog::load(&mut sources, None, &mut diags).unwrap();
        (catalog, diags, sources)
    }

    #[test]
    fn the_builtin_catalog_is_clean_and_complete() {
        let (catalog, diags, sources) = builtin();
        assert!(diags.is_empty(), "{}", diags.render(&sources));
        for name in [
            "galera",
            "rabbitmq",
            "memcached",
            "haproxy",
            "keystone",
            "glance-api",
            "placement",
            "nova-api",
            "nova-conductor",
            "nova-scheduler",
            "nova-compute",
            "neutron-server",
            "neutron-agent",
            "cinder-api",
            "cinder-scheduler",
            "cinder-volume",
            "cinder-backup",
            "heat",
            "ceph-mon",
            "ceph-mgr",
            "ceph-osd",
            "ceph-client",
        ] {
            assert!(catalog.service(name).is_some(), "missing service {name}");
        }
        for role in [
            "Controller",
            "Compute",
            "ComputeHCI",
            "CephStorage",
            "CephAll",
            "DistributedCompute",
            "DistributedComputeHCI",
            "DistributedComputeHCIScaleOut",
        ] {
            assert!(catalog.role(role).is_some(), "missing role {role}");
        }
    }

    /// Where a command template passes a generated secret as a process's argument (visible
    /// in the host's process list while it runs): every `secret(` not fed through standard
    /// input (`printf '%s\n' '...' |`, printf being the shell's own) or a here-document. A
    /// `'uuid'` secret is an identifier, not a credential.
    fn secrets_on_a_command_line(command: &str) -> Vec<String> {
        let mut found = Vec::new();
        for (at, _) in command.match_indices("secret(") {
            let before = command[..at].trim_end_matches([' ', '{']);
            let call = &command[at..];
            let call = &call[..call.find(')').unwrap_or(call.len())];
            let through_stdin = before.ends_with("printf '%s\\n' '") || before.contains("<<");
            if !through_stdin && !call.contains("'uuid'") {
                found.push(call.to_owned());
            }
        }
        found
    }

    fn commands_of(service: &Service) -> Vec<&str> {
        let ops = service
            .steps
            .iter()
            .chain(service.provides.values())
            .flat_map(|s| &s.ops);
        let mut commands: Vec<&str> = Vec::new();
        for op in ops {
            match op {
                OpDef::Command { run, unless, .. } => {
                    commands.push(run);
                    commands.extend(unless.as_deref());
                }
                OpDef::Wait { command, .. } => commands.extend(command.as_deref()),
                OpDef::Fetch { run, .. } => commands.push(run),
                _ => {}
            }
        }
        for check in &service.checks {
            commands.push(&check.run);
            commands.extend(check.deployer.as_deref());
            commands.extend(check.finally.as_deref());
        }
        commands
    }

    #[test]
    fn no_secret_is_put_on_a_command_line() {
        let (catalog, ..) = builtin();
        for service in catalog.services.values() {
            for command in commands_of(service) {
                let found = secrets_on_a_command_line(command);
                assert!(found.is_empty(), "{}: {found:?} in {command}", service.name);
            }
        }
        // The rule sees what it is for: RabbitMQ's old form, a password as an argument.
        assert_eq!(
            secrets_on_a_command_line(
                "rabbitmqctl add_user 'u' '{{ secret('rabbitmq-' ~ messaging.user) }}'"
            ),
            vec!["secret('rabbitmq-' ~ messaging.user".to_owned()]
        );
        assert!(secrets_on_a_command_line(
            "printf '%s\\n' '{{ secret('x') }}' | rabbitmqctl add_user 'u'"
        )
        .is_empty());
    }

    #[test]
    fn seed_002_dependencies_hold() {
        let (catalog, ..) = builtin();
        let needs = |s: &str| catalog.service(s).unwrap().needs.clone();
        assert!(
            catalog
                .service("keystone")
                .unwrap()
                .needs
                .iter()
                .all(|n| catalog.service(n).unwrap().kind == Kind::Infra),
            "keystone needs no OpenStack service, only infrastructure"
        );
        assert!(needs("glance-api").contains(&"keystone".into()));
        assert!(needs("neutron-server").contains(&"keystone".into()));
        for dep in ["keystone", "glance-api", "neutron-server", "placement"] {
            assert!(
                needs("nova-api").contains(&dep.into()),
                "nova-api needs {dep}"
            );
        }
        for dep in ["keystone", "nova-api", "cinder-api"] {
            assert!(needs("heat").contains(&dep.into()), "heat needs {dep}");
        }
    }

    #[test]
    fn roles_compose_by_extension() {
        let (catalog, ..) = builtin();
        let dchci = &catalog.role("DistributedComputeHCI").unwrap().services;
        for s in [
            "nova-compute",
            "glance-api",
            "cinder-volume",
            "ceph-mon",
            "ceph-osd",
        ] {
            assert!(dchci.contains(&s.to_string()), "{s}");
        }
        let scale = catalog.role("DistributedComputeHCIScaleOut").unwrap();
        assert!(
            scale.services.contains(&"haproxy".into())
                && !scale.services.contains(&"glance-api".into())
        );
        assert_eq!(scale.site_requires, vec!["glance-api".to_string()]);
    }

    #[test]
    fn a_service_added_as_a_file_needs_no_code() {
        let mut sources = SourceMap::new();
        let mut diags = Diagnostics::new();
        let mut files: Vec<(String, String)> = builtin_files()
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect();
        files.push(("services/horizon.yaml".into(), "name: horizon\nkind: api\npackages: [openstack-dashboard]\nneeds: [keystone]\nsteps:\n  - { action: configure }\n  - { action: start, after: [configure] }\n".into()));
        let catalog = Catalog::from_files(&mut sources, files, &mut diags);
        assert!(diags.is_empty(), "{}", diags.render(&sources));
        assert_eq!(
            catalog.service("horizon").unwrap().needs,
            vec!["keystone".to_string()]
        );
    }

    #[test]
    fn cycles_and_bad_references_are_reported() {
        let mut sources = SourceMap::new();
        let mut diags = Diagnostics::new();
        let files = vec![
            (
                "services/a.yaml".to_string(),
                "name: a\nneeds: [b]\nsteps: [{ action: start, after: [nope] }]\n".to_string(),
            ),
            (
                "services/b.yaml".to_string(),
                "name: b\nneeds: [a]\nsteps: [{ action: start }]\n".to_string(),
            ),
        ];
        Catalog::from_files(&mut sources, files, &mut diags);
        let text = diags.render(&sources);
        assert!(
            text.contains("service dependency cycle: a -> b -> a"),
            "{text}"
        );
        assert!(text.contains("runs after `nope`"), "{text}");
    }

    /// A catalog of these files (and the built-in ones with `builtin`), and what loading
    /// it said.
    fn catalog_of(extra: &[(&str, &str)], builtin: bool) -> (Catalog, String) {
        let mut sources = SourceMap::new();
        let mut diags = Diagnostics::new();
        let mut files: Vec<(String, String)> = if builtin {
            builtin_files()
                .iter()
                .map(|(n, t)| (n.to_string(), t.to_string()))
                .collect()
        } else {
            Vec::new()
        };
        files.extend(extra.iter().map(|(n, t)| (n.to_string(), t.to_string())));
        let catalog = Catalog::from_files(&mut sources, files, &mut diags);
        (catalog, diags.render(&sources))
    }

    #[test]
    fn package_names_are_checked_where_they_are_written() {
        let (catalog, said) = catalog_of(
            &[("services/n.yaml", "name: n\npackages: [nova-api, \"x; rm -rf /\"]\nguest: [linux-image-amd64, Busybox]\nsteps:\n  - { action: start, ops: [{ packages: [g++-12, ../x] }] }\n")],
            false,
        );
        for bad in ["x; rm -rf /", "Busybox", "../x"] {
            assert!(
                said.contains(&format!("`{bad}` in `"))
                    && said.contains("is not a Debian package name"),
                "{bad}: {said}"
            );
        }
        let n = catalog.service("n").unwrap();
        assert_eq!(n.packages, ["nova-api"]);
        assert_eq!(n.guest, ["linux-image-amd64"]);
        assert!(!said.contains("`g++-12`"), "{said}");
    }

    #[test]
    fn a_leader_is_first_unless_the_service_says_least_busy() {
        let (catalog, said) = catalog_of(
            &[
                ("services/a.yaml", "name: a\nsteps: [{ action: start }]\n"),
                (
                    "services/b.yaml",
                    "name: b\nleader: least-busy\nsteps: [{ action: start }]\n",
                ),
                (
                    "services/c.yaml",
                    "name: c\nleader: busiest\nsteps: [{ action: start }]\n",
                ),
            ],
            false,
        );
        assert_eq!(catalog.service("a").unwrap().leader, Leader::First);
        assert_eq!(catalog.service("b").unwrap().leader, Leader::LeastBusy);
        assert!(
            said.contains("busiest") && said.contains("least-busy"),
            "an unknown leader rule is refused, naming the known ones: {said}"
        );
    }

    #[test]
    fn only_steps_of_commands_waits_and_reads_share_their_host_unless_alone() {
        let (catalog, said) = catalog_of(
            &[(
                "services/s.yaml",
                "name: s\nsteps:\n  - { action: sync, ops: [{ command: { run: x, unless: y } }, { wait: { tcp: \"h:1\" } }, { fetch: { run: y, output: o } }] }\n  - { action: configure, ops: [{ command: { run: x, unless: y } }, { file: { path: /etc/s, content: z } }] }\n  - { action: restart, alone: true, ops: [{ command: { run: systemctl restart s, unless: y } }] }\n  - { action: nothing }\n",
            )],
            false,
        );
        assert!(!said.contains("error:"), "{said}");
        let s = catalog.service("s").unwrap();
        let shares = |a: &str| s.step(a).unwrap().shares_host();
        assert!(shares("sync"), "commands, a wait and a fetch");
        assert!(!shares("configure"), "it writes a file");
        assert!(!shares("restart"), "the catalog says alone");
        assert!(
            !shares("nothing"),
            "a step without operations is nothing to share"
        );
        let (_, said) = catalog_of(
            &[(
                "services/s.yaml",
                "name: s\nsteps: [{ action: a, alone: sometimes, ops: [{ command: { run: x, unless: y } }] }]\n",
            )],
            false,
        );
        assert!(
            said.contains("`alone` must be true or false"),
            "a word that is not a boolean is refused: {said}"
        );
    }

    #[test]
    fn early_names_steps_of_the_service() {
        let (catalog, said) = catalog_of(
            &[(
                "services/e.yaml",
                "name: e\nearly: [configure]\nsteps: [{ action: configure }, { action: start, after: [configure] }]\n",
            )],
            false,
        );
        assert!(!said.contains("error:"), "{said}");
        assert_eq!(catalog.service("e").unwrap().early, ["configure"]);
        let (_, said) = catalog_of(
            &[(
                "services/e.yaml",
                "name: e\nearly: [sync]\nsteps: [{ action: configure }]\n",
            )],
            false,
        );
        assert!(
            said.contains("service `e` runs step `sync` early, but has no such step"),
            "{said}"
        );
    }

    #[test]
    fn site_needs_name_known_services_and_say_why() {
        let (catalog, said) = catalog_of(
            &[
                ("services/d.yaml", "name: d\nsteps: [{ action: start }]\n"),
                ("services/n.yaml", "name: n\nsite_needs: { d: \"it serves n's guests\" }\nsteps: [{ action: start }]\n"),
            ],
            false,
        );
        assert!(!said.contains("error:"), "{said}");
        assert_eq!(
            catalog.service("n").unwrap().site_needs,
            [("d".to_owned(), "it serves n's guests".to_owned())]
        );
        let (_, said) = catalog_of(
            &[(
                "services/n.yaml",
                "name: n\nsite_needs: { nope: why }\nsteps: [{ action: start }]\n",
            )],
            false,
        );
        assert!(
            said.contains("service `n` needs unknown service `nope`"),
            "{said}"
        );
    }

    #[test]
    fn a_check_may_take_longer_than_the_default() {
        let (catalog, said) = catalog_of(
            &[("services/n.yaml", "name: n\nsteps: [{ action: start }]\nchecks:\n  - { name: slow, run: \"true\", timeout_s: 600 }\n  - { name: quick, run: \"true\" }\n")],
            false,
        );
        assert!(!said.contains("error:"), "{said}");
        let timeouts: Vec<u32> = catalog
            .service("n")
            .unwrap()
            .checks
            .iter()
            .map(|c| c.timeout_s)
            .collect();
        assert_eq!(timeouts, [600, DEFAULT_CHECK_TIMEOUT_S]);
        let (_, said) = catalog_of(
            &[("services/n.yaml", "name: n\nsteps: [{ action: start }]\nchecks: [{ name: x, run: \"true\", timeout_s: forever }]\n")],
            false,
        );
        assert!(said.contains("timeout_s"), "{said}");
    }

    #[test]
    fn a_service_keeps_any_number_of_databases_each_with_its_user() {
        let (catalog, said) = catalog_of(
            &[("services/n.yaml", "name: n\ndatabases: [n_api, { name: n_cell0, user: n_api }, { name: n }]\nsteps: [{ action: start }]\n")],
            false,
        );
        assert!(
            !said.contains("error:") && !said.contains("warning:"),
            "{said}"
        );
        let pairs: Vec<(&str, &str)> = catalog
            .service("n")
            .unwrap()
            .databases
            .iter()
            .map(|d| (d.name.as_str(), d.user.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [("n_api", "n_api"), ("n_cell0", "n_api"), ("n", "n")]
        );
        let (_, said) = catalog_of(
            &[(
                "services/m.yaml",
                "name: m\ndatabase: m\ndatabases: [m, m]\nsteps: [{ action: start }]\n",
            )],
            false,
        );
        assert!(
            said.contains("has both `database` and `databases`"),
            "{said}"
        );
        assert!(said.contains("lists database `m` twice"), "{said}");
    }

    #[test]
    fn each_trait_has_one_server_whose_ports_are_named() {
        let (catalog, said) = catalog_of(&[], true);
        assert!(
            !said.contains("error:") && !said.contains("warning:"),
            "{said}"
        );
        assert_eq!(catalog.server_name(crate::SERVES_DATABASE), "galera");
        // Every trait of the built-in catalog is served, the Ceph and compute ones included.
        for what in crate::SERVES {
            assert!(catalog.server_of(what).is_some(), "nothing serves {what}");
        }
        assert_eq!(catalog.server_name(crate::SERVES_CEPH_STORAGE), "ceph-osd");
        assert_eq!(catalog.server_name(crate::SERVES_COMPUTE), "nova-compute");
        assert_eq!(
            catalog
                .server_of(crate::SERVES_CACHE)
                .unwrap()
                .port("client"),
            Some(11211)
        );
        assert_eq!(catalog.service("ceph-osd").unwrap().reach, Reach::Site);
        assert_eq!(catalog.service("keystone").unwrap().reach, Reach::Central);
        let (_, said) = catalog_of(
            &[(
                "services/redis.yaml",
                "name: redis\nserves: [cache, coffee]\nports: [6379]\nsteps: [{ action: start }]\n",
            )],
            true,
        );
        assert!(
            said.contains("serves `coffee`, which strata does not know"),
            "{said}"
        );
        assert!(said.contains("both serve `cache`"), "{said}");
    }

    #[test]
    fn only_the_image_server_uses_the_image_stores() {
        let (_, said) = catalog_of(
            &[
                (
                    "services/pics.yaml",
                    "name: pics\nceph: stores\nsteps: [{ action: start }]\n",
                ),
                (
                    "services/copier.yaml",
                    "name: copier\nsteps: [{ action: copy, on: store }]\n",
                ),
            ],
            true,
        );
        assert!(
            said.contains("`pics` uses a site's image stores (it says `ceph: stores`) but does not serve `image`"),
            "{said}"
        );
        assert!(
            said.contains("`copier` uses a site's image stores (its step `copy` runs `on: store`) but does not serve `image`"),
            "{said}"
        );
        // The built-in catalog's image server (glance-api) uses both and is accepted.
        let (catalog, said) = catalog_of(&[], true);
        assert!(!said.contains("image stores"), "{said}");
        assert_eq!(
            catalog.server_of(crate::SERVES_IMAGE).unwrap().ceph,
            CephUse::Stores
        );
    }
}
