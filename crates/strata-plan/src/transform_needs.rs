//! Third transformer: a service's first steps wait until each of its dependencies is ready,
//! taking the instance at its own site or, for an edge site, at its central site. This is
//! where edge services come to wait on the central control plane. Steps the catalog runs
//! `early` (a configuration, a database sync) do not wait: the steps right after them do.

use crate::graph::Builder;

pub fn apply(g: &mut Builder) {
    for i in 0..g.instances.len() {
        let service = g.instances[i].service;
        let site = g.instances[i].site;
        let gated = g.instances[i].gated();
        for need in &service.needs {
            let Some(dep) = g.reach(need, site) else {
                continue;
            };
            let ready = g.instances[dep].ready().to_vec();
            for &r in &gated {
                g.need(r, ready.iter().copied());
            }
        }
    }
}
