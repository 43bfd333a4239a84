//! The plan as text (a tree by site and host, with the needs that cross sites), JSON (for
//! tools and diffs) and Graphviz.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use std::io::Write;

use serde::ser::{Serialize, SerializeSeq, SerializeStruct, Serializer};
use strata_model::Model;

use crate::graph::{Plan, Step, StepId};

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

/// serde_json's pretty layout (two spaces an indent), begun `level` indents deep: a value
/// written alone comes out as it would inside an enclosing document.
struct PrettyAt {
    level: usize,
    has_value: bool,
}

impl PrettyAt {
    fn indent(&self, w: &mut (impl std::io::Write + ?Sized)) -> std::io::Result<()> {
        for _ in 0..self.level {
            w.write_all(b"  ")?;
        }
        Ok(())
    }

    fn open(
        &mut self,
        w: &mut (impl std::io::Write + ?Sized),
        bracket: &[u8],
    ) -> std::io::Result<()> {
        self.level += 1;
        self.has_value = false;
        w.write_all(bracket)
    }

    fn close(
        &mut self,
        w: &mut (impl std::io::Write + ?Sized),
        bracket: &[u8],
    ) -> std::io::Result<()> {
        self.level -= 1;
        if self.has_value {
            w.write_all(b"\n")?;
            self.indent(w)?;
        }
        w.write_all(bracket)
    }

    fn item(&mut self, w: &mut (impl std::io::Write + ?Sized), first: bool) -> std::io::Result<()> {
        w.write_all(if first { b"\n" } else { b",\n" })?;
        self.indent(w)
    }
}

impl serde_json::ser::Formatter for PrettyAt {
    fn begin_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.open(w, b"[")
    }
    fn end_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.close(w, b"]")
    }
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.item(w, first)
    }
    fn end_array_value<W: ?Sized + std::io::Write>(&mut self, _: &mut W) -> std::io::Result<()> {
        self.has_value = true;
        Ok(())
    }
    fn begin_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.open(w, b"{")
    }
    fn end_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.close(w, b"}")
    }
    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.item(w, first)
    }
    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        w.write_all(b": ")
    }
    fn end_object_value<W: ?Sized + std::io::Write>(&mut self, _: &mut W) -> std::io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

/// `value` in serde_json's pretty layout, as it would be `level` indents deep.
fn pretty_at(
    w: &mut impl std::io::Write,
    level: usize,
    value: &(impl Serialize + ?Sized),
) -> std::io::Result<()> {
    let mut ser = serde_json::Serializer::with_formatter(
        w,
        PrettyAt {
            level,
            has_value: false,
        },
    );
    value.serialize(&mut ser).map_err(std::io::Error::from)
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
    /// nodes is hundreds of megabytes of JSON). The steps, nearly all of it, are formatted
    /// in chunks by two threads and written in order: a few chunks are in memory at once.
    /// The bytes are serde_json's pretty layout, as if the whole were serialized at once.
    pub fn write_json(&self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        // A buffer of a known type: the formatter's many small writes stay inline instead of
        // each going through `dyn Write` (a large plan is hundreds of MB of JSON).
        let mut out = std::io::BufWriter::with_capacity(1 << 20, out);
        out.write_all(b"{\n  \"cloud\": ")?;
        pretty_at(&mut out, 1, &self.cloud)?;
        out.write_all(b",\n  \"sites\": ")?;
        pretty_at(&mut out, 1, &self.sites)?;
        out.write_all(b",\n  \"hosts\": ")?;
        pretty_at(&mut out, 1, &self.hosts)?;
        out.write_all(b",\n  \"steps\": ")?;
        if self.steps.is_empty() {
            out.write_all(b"[]")?;
        } else {
            out.write_all(b"[")?;
            self.write_steps(&mut out, 4096)?;
            out.write_all(b"\n  ]")?;
        }
        out.write_all(b",\n  \"critical_path\": ")?;
        pretty_at(&mut out, 1, &Ids(&self.critical_path, &self.steps))?;
        write!(out, ",\n  \"critical_path_ms\": {}", self.critical_path_ms)?;
        if !self.not_deployed.is_empty() {
            out.write_all(b",\n  \"not_deployed\": ")?;
            pretty_at(&mut out, 1, &self.not_deployed)?;
        }
        out.write_all(b"\n}\n")?;
        out.flush()
    }

    /// Every step as an element of the plan's `steps` array, `chunk` steps a chunk: this
    /// thread formats the even chunks, a helper the odd ones, and they are written in order.
    fn write_steps(&self, out: &mut impl std::io::Write, chunk: usize) -> std::io::Result<()> {
        let steps = &self.steps;
        let chunks: Vec<&[Step]> = steps.chunks(chunk).collect();
        let format = |index: usize| -> Vec<u8> {
            let mut buf = Vec::with_capacity(chunks[index].len() * 400);
            for (i, step) in chunks[index].iter().enumerate() {
                buf.extend_from_slice(if index == 0 && i == 0 {
                    b"\n    "
                } else {
                    b",\n    "
                });
                pretty_at(&mut buf, 2, &JsonStep(step, steps)).expect("a Vec takes every write");
            }
            buf
        };
        std::thread::scope(|scope| {
            let (odd, from_helper) = std::sync::mpsc::sync_channel::<Vec<u8>>(2);
            let format = &format;
            let count = chunks.len();
            scope.spawn(move || {
                for index in (1..count).step_by(2) {
                    if odd.send(format(index)).is_err() {
                        return; // the writer stopped on an error
                    }
                }
            });
            for index in (0..count).step_by(2) {
                out.write_all(&format(index))?;
                if index + 1 < count {
                    let chunk = from_helper
                        .recv()
                        .expect("the helper formats every odd chunk");
                    out.write_all(&chunk)?;
                }
            }
            Ok(())
        })
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

    /// The plan as text: a tree grouped by site then host, steps in plan order, needs shown
    /// when they come from another site (that is where the cross-site order lives). Written
    /// as it is made: at a hundred thousand hosts the text is over a hundred MB, and is never
    /// held whole.
    pub fn write_text(&self, model: &Model, out: &mut impl std::io::Write) -> std::io::Result<()> {
        writeln!(
            out,
            "plan for cloud `{}`: {} steps on {} hosts in {} site{}; critical path {} over {} steps\n",
            self.cloud,
            self.steps.len(),
            self.hosts.len(),
            self.sites.len(),
            if self.sites.len() == 1 { "" } else { "s" },
            seconds(self.critical_path_ms),
            self.critical_path.len()
        )?;
        if !self.not_deployed.is_empty() {
            writeln!(
                out,
                "not deployed by this version (no operations in the catalog yet; their steps do nothing):\n  {}\n",
                self.not_deployed.join(", ")
            )?;
        }
        // Each host's steps, in plan order (a hash of the name: a tree of a hundred thousand
        // names costs a dozen string comparisons per step).
        let mut by_host: HashMap<&str, Vec<usize>> = HashMap::with_capacity(self.hosts.len());
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
            writeln!(out, "site {} ({})", site.name, facts.join("; "))?;
            for &h in &model.sites[site_id].hosts {
                let host = &self.hosts[h];
                write!(out, "  {} ({}, {})", host.name, host.role, host.ip)?;
                if let Some(t) = &host.hci {
                    write!(
                        out,
                        " hci: reserved_host_memory_mb={} cpu_allocation_ratio={}",
                        t.reserved_host_memory_mb, t.cpu_allocation_ratio
                    )?;
                }
                writeln!(out)?;
                for &i in by_host.get(host.name.as_str()).into_iter().flatten() {
                    let s = &self.steps[i];
                    let label = s.id.splitn(3, '/').nth(2).unwrap_or(&s.id);
                    let mut remote = s
                        .needs
                        .iter()
                        .map(|&n| &self.steps[n])
                        .filter(|n| n.site != s.site)
                        .map(|n| n.id.as_str())
                        .peekable();
                    if remote.peek().is_none() {
                        writeln!(out, "    {label}")?;
                    } else {
                        write!(out, "    {label:<40} <- ")?;
                        for (k, id) in remote.enumerate() {
                            if k > 0 {
                                out.write_all(b", ")?;
                            }
                            out.write_all(id.as_bytes())?;
                        }
                        writeln!(out)?;
                    }
                }
            }
            writeln!(out)?;
        }
        writeln!(out, "critical path ({}):", seconds(self.critical_path_ms))?;
        for &i in &self.critical_path {
            let s = &self.steps[i];
            writeln!(out, "  {} ({})", s.id, seconds(u64::from(s.estimate_ms)))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    /// The plan as serde_json writes it whole, the layout `write_json` keeps.
    fn whole(plan: &Plan) -> String {
        struct Steps<'a>(&'a [Step]);
        impl Serialize for Steps<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut seq = s.serialize_seq(Some(self.0.len()))?;
                for step in self.0 {
                    seq.serialize_element(&JsonStep(step, self.0))?;
                }
                seq.end()
            }
        }
        #[derive(serde::Serialize)]
        struct Whole<'a> {
            cloud: &'a str,
            sites: &'a [crate::graph::SiteSummary],
            hosts: &'a [crate::HostSummary],
            steps: Steps<'a>,
            critical_path: Ids<'a>,
            critical_path_ms: u64,
            #[serde(skip_serializing_if = "<[String]>::is_empty")]
            not_deployed: &'a [String],
        }
        let doc = Whole {
            cloud: &plan.cloud,
            sites: &plan.sites,
            hosts: &plan.hosts,
            steps: Steps(&plan.steps),
            critical_path: Ids(&plan.critical_path, &plan.steps),
            critical_path_ms: plan.critical_path_ms,
            not_deployed: &plan.not_deployed,
        };
        serde_json::to_string_pretty(&doc).unwrap() + "\n"
    }

    fn plan(steps: usize) -> Plan {
        let name = |s: &str| -> Arc<str> { Arc::from(s) };
        Plan {
            cloud: "c\"q".into(),
            steps: (0..steps)
                .map(|i| Step {
                    id: format!("s/h/x:a{i}"),
                    site: name("s"),
                    host: name("h"),
                    service: name("x"),
                    qualifier: (i % 3 == 0).then(|| name("q")),
                    action: name(&format!("a{i}")),
                    needs: (0..i).rev().take(2).collect(),
                    estimate_ms: i as u32,
                    doc: (i % 2 == 0).then(|| name("a \"doc\"\n")),
                    hook: None,
                })
                .collect(),
            critical_path: (0..steps).step_by(2).collect(),
            critical_path_ms: 7,
            hosts: Vec::new(),
            sites: Vec::new(),
            not_deployed: vec!["heat".into()],
        }
    }

    #[test]
    fn json_in_chunks_is_the_whole_documents_bytes() {
        for steps in [0, 1, 2, 7] {
            let plan = plan(steps);
            let reference = whole(&plan);
            assert_eq!(plan.to_json(), reference, "{steps} steps");
            for chunk in [1, 2, 3, 8] {
                let mut out = Vec::new();
                if steps > 0 {
                    plan.write_steps(&mut out, chunk).unwrap();
                    let from_chunks = String::from_utf8(out).unwrap();
                    let start = reference.find("\"steps\": [").unwrap() + "\"steps\": [".len();
                    let end = reference.find("\n  ],\n  \"critical_path\"").unwrap();
                    assert_eq!(
                        from_chunks,
                        reference[start..end],
                        "{steps} steps by {chunk}"
                    );
                }
            }
        }
    }
}
