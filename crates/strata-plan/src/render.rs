//! The plan as text (a tree by site and host, with the needs that cross sites), JSON (for
//! tools and diffs) and Graphviz.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::json;
use strata_model::Model;

use crate::graph::Plan;

fn seconds(ms: u64) -> String {
    format!("{:.0} s", ms as f64 / 1000.0)
}

impl Plan {
    pub fn to_json(&self) -> String {
        let steps: Vec<_> = self
            .steps
            .iter()
            .map(|s| {
                let mut v = serde_json::to_value(s).expect("steps serialize");
                v["needs"] = json!(s
                    .needs
                    .iter()
                    .map(|&n| &self.steps[n].id)
                    .collect::<Vec<_>>());
                v
            })
            .collect();
        let doc = json!({
            "cloud": self.cloud,
            "sites": self.sites,
            "hosts": self.hosts,
            "steps": steps,
            "critical_path": self.critical_path.iter().map(|&i| &self.steps[i].id).collect::<Vec<_>>(),
            "critical_path_ms": self.critical_path_ms,
        });
        let mut out = serde_json::to_string_pretty(&doc).expect("plan serializes");
        out.push('\n');
        out
    }

    pub fn to_dot(&self) -> String {
        let mut out =
            String::from("digraph plan {\n  rankdir=LR;\n  node [shape=box, fontsize=10];\n");
        let mut by_site: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, s) in self.steps.iter().enumerate() {
            by_site.entry(&s.site).or_default().push(i);
        }
        let on_path: std::collections::HashSet<usize> =
            self.critical_path.iter().copied().collect();
        for site in &self.sites {
            let _ = writeln!(
                out,
                "  subgraph \"cluster_{}\" {{\n    label=\"{} ({})\";",
                site.name, site.name, site.kind
            );
            for &i in by_site.get(site.name.as_str()).into_iter().flatten() {
                let s = &self.steps[i];
                let label = format!("{}\\n{}", s.host, s.id.rsplit('/').next().unwrap_or(&s.id));
                let style = if on_path.contains(&i) {
                    ", color=red, penwidth=2"
                } else {
                    ""
                };
                let _ = writeln!(out, "    \"{}\" [label=\"{label}\"{style}];", s.id);
            }
            out.push_str("  }\n");
        }
        for s in &self.steps {
            for &n in &s.needs {
                let _ = writeln!(out, "  \"{}\" -> \"{}\";", self.steps[n].id, s.id);
            }
        }
        out.push_str("}\n");
        out
    }

    /// A tree grouped by site then host, steps in plan order. Needs are shown when they come
    /// from another site (that is where the cross-site order lives).
    pub fn to_text(&self, model: &Model) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "plan for cloud `{}`: {} steps on {} hosts in {} site{}; critical path {} over {} steps\n",
            self.cloud,
            self.steps.len(),
            self.hosts.len(),
            self.sites.len(),
            if self.sites.len() == 1 { "" } else { "s" },
            seconds(self.critical_path_ms),
            self.critical_path.len()
        );
        let mut by_host: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, s) in self.steps.iter().enumerate() {
            by_host.entry(&s.host).or_default().push(i);
        }
        for (site_id, site) in self.sites.iter().enumerate() {
            let mut facts = vec![match &site.edge_of {
                Some(c) => format!("edge of {c}, availability zone {}", site.availability_zone),
                None => format!("region {}", site.region),
            }];
            if let Some(c) = &site.ceph_cluster {
                facts.push(format!("ceph cluster {c}"));
            }
            if !site.glance_stores.is_empty() {
                facts.push(format!("glance stores {}", site.glance_stores.join(", ")));
            }
            let _ = writeln!(out, "site {} ({})", site.name, facts.join("; "));
            for &h in &model.sites[site_id].hosts {
                let host = &self.hosts[h];
                let mut head = format!("  {} ({}, {})", host.name, host.role, host.ip);
                if let Some(t) = &host.hci {
                    let _ = write!(
                        head,
                        " hci: reserved_host_memory_mb={} cpu_allocation_ratio={}",
                        t.reserved_host_memory_mb, t.cpu_allocation_ratio
                    );
                }
                let _ = writeln!(out, "{head}");
                for &i in by_host.get(host.name.as_str()).into_iter().flatten() {
                    let s = &self.steps[i];
                    let label = s.id.splitn(3, '/').nth(2).unwrap_or(&s.id);
                    let remote: Vec<&str> = s
                        .needs
                        .iter()
                        .map(|&n| &self.steps[n])
                        .filter(|n| n.site != s.site)
                        .map(|n| n.id.as_str())
                        .collect();
                    if remote.is_empty() {
                        let _ = writeln!(out, "    {label}");
                    } else {
                        let _ = writeln!(out, "    {label:<40} <- {}", remote.join(", "));
                    }
                }
            }
            out.push('\n');
        }
        let _ = writeln!(out, "critical path ({}):", seconds(self.critical_path_ms));
        for &i in &self.critical_path {
            let s = &self.steps[i];
            let _ = writeln!(out, "  {} ({})", s.id, seconds(u64::from(s.estimate_ms)));
        }
        out
    }
}
