//! Last transformer: freezes the graph into a plan in topological order (ties broken by
//! creation order, so the same spec always gives the same plan), reports a cycle with its
//! chain, and computes the critical path from the catalog's step estimates.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use strata_model::SiteKind;

use crate::graph::{Builder, Plan, SiteSummary, Step, StepId};
use crate::{HostSummary, PlanError};

pub fn finish(g: Builder) -> Result<Plan, PlanError> {
    // Only the model and the steps go on; the lookup tables go now (at a hundred thousand
    // nodes the step keys alone are a hundred MB).
    let Builder {
        model,
        steps,
        keys,
        host_of,
        instances,
        at_site,
        on_galera,
        ..
    } = g;
    // Services of this cloud the catalog has no operations for yet: planned, not deployed.
    let mut not_deployed: Vec<String> = instances
        .iter()
        .filter(|i| !i.service.is_deployed())
        .map(|i| i.service.name.clone())
        .collect();
    not_deployed.sort();
    not_deployed.dedup();
    drop((keys, host_of, instances, at_site, on_galera));
    let mut steps = steps;
    for s in &mut steps {
        s.needs.sort_unstable();
        s.needs.dedup();
    }
    let n = steps.len();
    let mut indegree: Vec<usize> = steps.iter().map(|s| s.needs.len()).collect();
    let dependents = Dependents::of(steps.iter().map(|s| s.needs.as_slice()));
    let mut ready: BinaryHeap<Reverse<StepId>> =
        (0..n).filter(|&i| indegree[i] == 0).map(Reverse).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(Reverse(i)) = ready.pop() {
        order.push(i);
        for &d in dependents.of_step(i) {
            indegree[d] -= 1;
            if indegree[d] == 0 {
                ready.push(Reverse(d));
            }
        }
    }
    drop(dependents);
    if order.len() < n {
        return Err(PlanError::Cycle(find_cycle(&steps, &indegree)));
    }
    let mut position = vec![0; n];
    for (pos, &i) in order.iter().enumerate() {
        position[i] = pos;
    }
    drop(order);
    let mut sorted = permute(steps, &position);
    for s in &mut sorted {
        for d in &mut s.needs {
            *d = position[*d];
        }
        s.needs.sort_unstable();
    }
    let (critical_path, critical_path_ms) = critical_path(&sorted);
    let hosts = model
        .hosts
        .iter()
        .map(|h| HostSummary {
            name: h.name.clone(),
            site: model.sites[h.site].name.clone(),
            role: h.role.clone(),
            ip: h.ip.to_string(),
            hci: h.hci,
        })
        .collect();
    let sites = model
        .sites
        .iter()
        .map(|s| SiteSummary {
            name: s.name.clone(),
            kind: match s.kind {
                SiteKind::Central => "central".into(),
                SiteKind::Edge => "edge".into(),
            },
            edge_of: (s.kind == SiteKind::Edge).then(|| model.sites[s.control_plane].name.clone()),
            region: s.region.clone(),
            availability_zone: s.availability_zone.clone(),
            ceph_cluster: s.ceph.map(|c| model.ceph[c].name.clone()),
            glance_stores: s
                .glance
                .iter()
                .flat_map(|g| {
                    g.stores.iter().enumerate().map(move |(i, st)| {
                        if i == g.default {
                            format!("{} (default)", st.name)
                        } else {
                            st.name.clone()
                        }
                    })
                })
                .collect(),
        })
        .collect();
    Ok(Plan {
        not_deployed,
        cloud: model.cloud.clone(),
        steps: sorted,
        critical_path,
        critical_path_ms,
        hosts,
        sites,
    })
}

/// Each step's longest chain of estimates from it to the end of the plan, itself included,
/// for steps given in dependency order as (needs, estimate in ms): the deploy's scheduler
/// runs the step with the longest first, and the live view shows the longest left.
pub fn chains_to_end<'a>(steps: impl ExactSizeIterator<Item = (&'a [usize], u32)>) -> Vec<u64> {
    let steps: Vec<(&[usize], u32)> = steps.collect();
    let dependents = Dependents::of(steps.iter().map(|(needs, _)| *needs));
    let mut rank = vec![0u64; steps.len()];
    for i in (0..steps.len()).rev() {
        let behind = dependents
            .of_step(i)
            .iter()
            .map(|&d| rank[d])
            .max()
            .unwrap_or(0);
        rank[i] = u64::from(steps[i].1) + behind;
    }
    rank
}

/// The longest chain of estimates through the graph: what bounds a fully parallel deploy.
fn critical_path(steps: &[Step]) -> (Vec<StepId>, u64) {
    let mut finish = vec![0u64; steps.len()];
    let mut via: Vec<Option<StepId>> = vec![None; steps.len()];
    for (i, s) in steps.iter().enumerate() {
        let best = s
            .needs
            .iter()
            .copied()
            .max_by_key(|&d| (finish[d], Reverse(d)));
        finish[i] = u64::from(s.estimate_ms) + best.map(|d| finish[d]).unwrap_or(0);
        via[i] = best;
    }
    let Some(end) = (0..steps.len()).max_by_key(|&i| (finish[i], Reverse(i))) else {
        return (Vec::new(), 0);
    };
    let mut path = vec![end];
    while let Some(prev) = via[*path.last().unwrap()] {
        path.push(prev);
    }
    path.reverse();
    (path, finish[end])
}

/// A cycle among the steps Kahn's algorithm could not order, as step ids.
fn find_cycle(steps: &[Step], indegree: &[usize]) -> Vec<String> {
    let Some(start) = (0..steps.len()).find(|&i| indegree[i] > 0) else {
        return Vec::new();
    };
    // Walk backwards along unfinished needs until a step repeats.
    let mut seen = vec![usize::MAX; steps.len()];
    let mut path = Vec::new();
    let mut cur = start;
    while seen[cur] == usize::MAX {
        seen[cur] = path.len();
        path.push(cur);
        cur = steps[cur]
            .needs
            .iter()
            .copied()
            .find(|&d| indegree[d] > 0)
            .unwrap_or(cur);
    }
    let mut cycle: Vec<String> = path[seen[cur]..]
        .iter()
        .rev()
        .map(|&i| steps[i].id.clone())
        .collect();
    cycle.push(cycle[0].clone());
    cycle
}

/// `steps` reordered in place so that step `i` ends at `position[i]`: swaps along the
/// permutation's cycles, never a second vector of steps.
fn permute(mut steps: Vec<Step>, position: &[StepId]) -> Vec<Step> {
    let mut at: Vec<StepId> = position.to_vec();
    for i in 0..steps.len() {
        while at[i] != i {
            let j = at[i];
            steps.swap(i, j);
            at.swap(i, j);
        }
    }
    steps
}

/// Who needs each step: the reverse of the steps' `needs`, in two flat vectors (a vector per
/// step would be a million small allocations).
struct Dependents {
    /// Where each step's dependents start in `list` (one more entry than steps).
    start: Vec<usize>,
    list: Vec<StepId>,
}

impl Dependents {
    /// From each step's needs, in step order (every need is the index of a step).
    fn of<'a>(needs: impl ExactSizeIterator<Item = &'a [StepId]> + Clone) -> Self {
        let mut start = vec![0; needs.len() + 1];
        for &d in needs.clone().flatten() {
            start[d + 1] += 1;
        }
        for i in 1..start.len() {
            start[i] += start[i - 1];
        }
        let mut fill = start.clone();
        let mut list = vec![0; start[start.len() - 1]];
        for (i, of_step) in needs.enumerate() {
            for &d in of_step {
                list[fill[d]] = i;
                fill[d] += 1;
            }
        }
        Dependents { start, list }
    }

    fn of_step(&self, step: StepId) -> &[StepId] {
        &self.list[self.start[step]..self.start[step + 1]]
    }
}
