//! The graph under construction: steps keyed by host, service, qualifier and action, and the
//! service instances they belong to. Transformers add to it; `order` freezes it into a Plan.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::Arc;

use serde::Serialize;
use strata_catalog::{Catalog, Service};
use strata_model::{GaleraId, HostId, Model, SiteId};

pub type StepId = usize;

/// One step of the plan.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// `site/host/service[qualifier]:action`, stable across runs.
    pub id: String,
    // Names are shared among the steps that carry them (interned by the builder): a plan
    // can hold a million steps, and each would otherwise own six copies.
    pub site: Arc<str>,
    pub host: Arc<str>,
    pub service: Arc<str>,
    /// What the step is about beyond its service: a Galera cluster, a Ceph cluster, a store.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qualifier: Option<Arc<str>>,
    pub action: Arc<str>,
    /// Indices of the steps this one needs (ids in JSON).
    #[serde(skip)]
    pub needs: Vec<StepId>,
    pub estimate_ms: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub doc: Option<Arc<str>>,
    /// For a step done for another service's trait: which service provides it, and for what.
    /// Boxed: few steps have one, and a plan can hold a million steps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hook: Option<Box<Hook>>,
}

/// A step placed for a trait: `provider`'s `provides.<name>` operations, about `subject`
/// (a database, a project's messaging user, an API service at a site).
#[derive(Debug, Clone, Serialize)]
pub struct Hook {
    pub provider: String,
    pub name: String,
    pub subject: String,
    /// The site the subject is deployed at (an API is registered in that site's region).
    pub site: String,
}

/// A plan: steps in a topological order (every step after the steps it needs).
#[derive(Debug, Clone)]
pub struct Plan {
    pub cloud: String,
    pub steps: Vec<Step>,
    pub critical_path: Vec<StepId>,
    pub critical_path_ms: u64,
    pub hosts: Vec<crate::HostSummary>,
    pub sites: Vec<SiteSummary>,
    /// Services in the spec whose catalog steps have no operations yet: their steps are
    /// planned and do nothing, and nothing is registered or fronted for them.
    pub not_deployed: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SiteSummary {
    pub name: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edge_of: Option<String>,
    pub region: String,
    pub availability_zone: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ceph_cluster: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub glance_stores: Vec<String>,
}

/// A service deployed as a unit: at one site, or on one Galera cluster.
pub struct Instance<'a> {
    pub service: &'a Service,
    pub site: SiteId,
    pub hosts: Vec<HostId>,
    /// For Galera-grouped services: the cluster.
    pub galera: Option<GaleraId>,
    /// Concrete steps by action, in host order (one entry for `first`/`database` steps).
    pub steps: HashMap<String, Vec<StepId>>,
}

impl Instance<'_> {
    /// Steps others wait on when they need this instance.
    pub fn ready(&self) -> &[StepId] {
        self.service
            .ready_step()
            .and_then(|s| self.steps.get(&s.action))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Steps that wait for the services the instance needs: its first steps not run early
    /// (the roots, else what comes right after an `early:` step of the service).
    pub fn gated(&self) -> Vec<StepId> {
        let early = |action: &str| self.service.early.iter().any(|e| e == action);
        self.service
            .steps
            .iter()
            .filter(|d| !early(&d.action))
            .filter(|d| {
                d.after.is_empty()
                    || d.after
                        .iter()
                        .any(|r| r.service.is_none() && early(&r.action))
            })
            .flat_map(|d| self.steps.get(&d.action).into_iter().flatten().copied())
            .collect()
    }

    /// Steps that start the instance's work on each host (no `after` in the catalog).
    pub fn roots(&self) -> Vec<StepId> {
        self.service
            .steps
            .iter()
            .filter(|d| d.after.is_empty())
            .flat_map(|d| self.steps.get(&d.action).into_iter().flatten().copied())
            .collect()
    }
}

pub struct Builder<'a> {
    pub model: &'a Model,
    pub catalog: &'a Catalog,
    pub steps: Vec<Step>,
    /// Step ids to steps, so a step asked for twice is one step: by a keyed hash of the id
    /// (no copy of a million ids), with the rare second id of one hash kept whole.
    pub(crate) keys: StepKeys,
    pub host_of: Vec<HostId>,
    /// Each host's planned work so far: the estimates of the steps placed on it.
    pub load_ms: Vec<u64>,
    pub instances: Vec<Instance<'a>>,
    /// Instances of site-grouped services by (service, site).
    pub at_site: HashMap<(&'a str, SiteId), usize>,
    /// Instances of Galera-grouped services by (service, cluster).
    pub on_galera: HashMap<(&'a str, GaleraId), usize>,
    /// The packages step of each host.
    pub packages: Vec<StepId>,
    /// Every name a step carries, once.
    pub(crate) names: HashSet<Arc<str>>,
    /// Each host's site and host names, as interned.
    host_names: Vec<Option<(Arc<str>, Arc<str>)>>,
    /// Where `step` writes the id it looks up.
    scratch: String,
}

/// Step ids by a hash of the id string, keyed per process (RandomState) so that names in a
/// spec cannot be chosen to collide; a second id with the same hash goes to `collided`.
#[derive(Default)]
pub(crate) struct StepKeys<S = RandomState> {
    hasher: S,
    by_hash: HashMap<u64, StepId, BuildHasherDefault<AlreadyHashed>>,
    collided: HashMap<String, StepId>,
}

impl<S: BuildHasher> StepKeys<S> {
    fn get(&self, id: &str, steps: &[Step]) -> Option<StepId> {
        match self.by_hash.get(&self.hasher.hash_one(id)) {
            Some(&found) if steps[found].id == id => Some(found),
            Some(_) => self.collided.get(id).copied(),
            None => None,
        }
    }

    fn insert(&mut self, id: &str, step: StepId) {
        match self.by_hash.entry(self.hasher.hash_one(id)) {
            std::collections::hash_map::Entry::Occupied(_) => {
                self.collided.insert(id.to_owned(), step);
            }
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(step);
            }
        }
    }
}

/// The identity as a hasher, for keys that are already keyed hashes.
#[derive(Default)]
pub(crate) struct AlreadyHashed(u64);

impl Hasher for AlreadyHashed {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl<'a> Builder<'a> {
    pub fn new(model: &'a Model, catalog: &'a Catalog) -> Self {
        // Room for about every step at once: growing a vector of a million steps by doubling
        // copies it over and over.
        let estimate: usize = model
            .hosts
            .iter()
            .map(|h| {
                1 + h
                    .services
                    .iter()
                    .filter_map(|s| catalog.service(s))
                    .map(|s| s.steps.len() + s.provides.len())
                    .sum::<usize>()
            })
            .sum();
        Builder {
            model,
            catalog,
            steps: Vec::with_capacity(estimate),
            keys: StepKeys::default(),
            host_of: Vec::new(),
            load_ms: vec![0; model.hosts.len()],
            instances: Vec::new(),
            at_site: HashMap::new(),
            on_galera: HashMap::new(),
            packages: Vec::new(),
            names: HashSet::new(),
            host_names: vec![None; model.hosts.len()],
            scratch: String::new(),
        }
    }

    /// The step with this key, created if new. Returns its id and whether it was created.
    pub fn step(
        &mut self,
        host: HostId,
        service: &str,
        qualifier: Option<&str>,
        action: &str,
        estimate_ms: u32,
        doc: Option<&str>,
    ) -> (StepId, bool) {
        let h = &self.model.hosts[host];
        let site = &self.model.sites[h.site].name;
        // The id is written into a buffer kept for the purpose: a call that finds the step
        // already made needs no string of its own.
        let mut id = std::mem::take(&mut self.scratch);
        id.clear();
        // Pushed piece by piece: `write!`'s formatting machinery costs a million ids dearly.
        for part in [site.as_str(), "/", &h.name, "/", service] {
            id.push_str(part);
        }
        if let Some(q) = qualifier {
            for part in ["[", q, "]"] {
                id.push_str(part);
            }
        }
        id.push(':');
        id.push_str(action);
        if let Some(existing) = self.keys.get(&id, &self.steps) {
            self.scratch = id;
            return (existing, false);
        }
        let index = self.steps.len();
        self.keys.insert(&id, index);
        let new_id = id.clone();
        self.scratch = id;
        let (site, host_name) = match &self.host_names[host] {
            Some(names) => names.clone(),
            None => {
                let names = (self.name(site), self.name(&h.name));
                self.host_names[host] = Some(names.clone());
                names
            }
        };
        let step = Step {
            id: new_id,
            site,
            host: host_name,
            service: self.name(service),
            qualifier: qualifier.map(|q| self.name(q)),
            action: self.name(action),
            needs: self.packages.get(host).copied().into_iter().collect(),
            estimate_ms,
            doc: doc.map(|d| self.name(d)),
            hook: None,
        };
        self.steps.push(step);
        self.host_of.push(host);
        self.load_ms[host] += u64::from(estimate_ms);
        (index, true)
    }

    /// `text`, shared with every other step that carries it.
    fn name(&mut self, text: &str) -> Arc<str> {
        match self.names.get(text) {
            Some(shared) => shared.clone(),
            None => {
                let shared: Arc<str> = Arc::from(text);
                self.names.insert(shared.clone());
                shared
            }
        }
    }

    pub fn need(&mut self, step: StepId, needs: impl IntoIterator<Item = StepId>) {
        let list = &mut self.steps[step].needs;
        list.extend(needs.into_iter().filter(|&n| n != step));
    }

    /// The instance of a site-grouped service that `site` reaches: its own, else its central
    /// site's (unless the service says `reach: site`, as Ceph daemons do).
    pub fn reach(&self, service: &str, site: SiteId) -> Option<usize> {
        let local_only = self
            .catalog
            .service(service)
            .is_some_and(|s| s.reach == strata_catalog::Reach::Site);
        self.at_site.get(&(service, site)).copied().or_else(|| {
            let cp = self.model.sites[site].control_plane;
            (!local_only && cp != site)
                .then(|| self.at_site.get(&(service, cp)).copied())
                .flatten()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every id hashes alike: lookups must stay exact through the collided ids.
    #[derive(Default)]
    struct Constant;

    impl BuildHasher for Constant {
        type Hasher = AlreadyHashed;
        fn build_hasher(&self) -> AlreadyHashed {
            AlreadyHashed(0)
        }
    }

    #[test]
    fn step_keys_stay_exact_when_hashes_collide() {
        let step = |id: &str| Step {
            id: id.to_owned(),
            site: Arc::from("s"),
            host: Arc::from("h"),
            service: Arc::from("x"),
            qualifier: None,
            action: Arc::from("a"),
            needs: Vec::new(),
            estimate_ms: 0,
            doc: None,
            hook: None,
        };
        let steps = vec![step("s/h/x:a"), step("s/h/x:b"), step("s/h/y:a")];
        let mut keys: StepKeys<Constant> = StepKeys::default();
        for (i, s) in steps.iter().enumerate() {
            assert_eq!(keys.get(&s.id, &steps[..i]), None, "{} is new", s.id);
            keys.insert(&s.id, i);
        }
        for (i, s) in steps.iter().enumerate() {
            assert_eq!(keys.get(&s.id, &steps), Some(i), "{}", s.id);
        }
        assert_eq!(keys.get("s/h/z:a", &steps), None);
    }
}
