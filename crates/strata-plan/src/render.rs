//! The plan as text (a tree by site and host, with the needs that cross sites), JSON (for
//! tools and diffs) and Graphviz.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use std::io::Write;

use serde::ser::{Serialize, SerializeSeq, SerializeStruct, Serializer};
use strata_model::Model;

use crate::graph::{Plan, SiteSummary, Step, StepId};
use crate::HostSummary;

#[derive(serde::Serialize)]
struct JsonPlan<'a> {
    cloud: &'a str,
    sites: &'a [SiteSummary],
    hosts: &'a [HostSummary],
    steps: JsonSteps<'a>,
    critical_path: Ids<'a>,
    critical_path_ms: u64,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    not_deployed: &'a [String],
}

/// Step indices written as step ids.
struct Ids<'a>(&'a [StepId], &'a [Step]);

impl Serialize for Ids<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for &i in self.0 {
            seq.serialize_element(&self.1[i].id)?;
        }
        seq.end()
    }
}

struct JsonSteps<'a>(&'a Plan);

impl Serialize for JsonSteps<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let steps = &self.0.steps;
        let mut seq = s.serialize_seq(Some(steps.len()))?;
        for step in steps {
            seq.serialize_element(&JsonStep(step, steps))?;
        }
        seq.end()
    }
}

struct JsonStep<'a>(&'a Step, &'a [Step]);

impl Serialize for JsonStep<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let step = self.0;
        let mut st = s.serialize_struct("Step", 9)?;
        st.serialize_field("id", &step.id)?;
        st.serialize_field("site", &step.site)?;
        st.serialize_field("host", &step.host)?;
        st.serialize_field("service", &step.service)?;
        if let Some(q) = &step.qualifier {
            st.serialize_field("qualifier", q)?;
        }
        st.serialize_field("action", &step.action)?;
        st.serialize_field("needs", &Ids(&step.needs, self.1))?;
        st.serialize_field("estimate_ms", &step.estimate_ms)?;
        if let Some(doc) = &step.doc {
            st.serialize_field("doc", doc)?;
        }
        st.end()
    }
}

fn seconds(ms: u64) -> String {
    format!("{:.0} s", ms as f64 / 1000.0)
}

impl Plan {
    /// JSON, streamed from borrowed data (a plan can have hundreds of thousands of steps).
    pub fn to_json(&self) -> String {
        let mut out = Vec::new();
        self.write_json(&mut out).expect("plan serializes");
        String::from_utf8(out).expect("JSON is UTF-8")
    }

    /// The JSON document written as it is made, never whole in memory (a plan of 100,000
    /// nodes is hundreds of megabytes of JSON).
    pub fn write_json(&self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        let doc = JsonPlan {
            cloud: &self.cloud,
            sites: &self.sites,
            hosts: &self.hosts,
            steps: JsonSteps(self),
            critical_path: Ids(&self.critical_path, &self.steps),
            critical_path_ms: self.critical_path_ms,
            not_deployed: &self.not_deployed,
        };
        // A buffer of a known type: the formatter's many small writes stay inline instead of
        // each going through `dyn Write` (a large plan is hundreds of MB of JSON).
        let mut buffered = std::io::BufWriter::with_capacity(1 << 20, out);
        serde_json::to_writer_pretty(&mut buffered, &doc)?;
        buffered.write_all(b"\n")?;
        buffered.flush()
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
        if !self.not_deployed.is_empty() {
            let _ = writeln!(
                out,
                "not deployed by this version (no operations in the catalog yet; their steps do nothing):\n  {}\n",
                self.not_deployed.join(", ")
            );
        }
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
