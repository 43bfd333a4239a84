//! Third transformer: a service's first steps wait until each of its dependencies is ready,
//! taking the instance at its own site or, for an edge site, at its central site. This is
//! where edge services come to wait on the central control plane.

use crate::graph::Builder;

pub fn apply(g: &mut Builder) {
    for i in 0..g.instances.len() {
        let service = g.instances[i].service;
        let site = g.instances[i].site;
        let roots = g.instances[i].roots();
        for need in &service.needs {
            let Some(dep) = g.reach(need, site) else {
                continue;
            };
            let ready = g.instances[dep].ready().to_vec();
            for &r in &roots {
                g.need(r, ready.iter().copied());
            }
        }
    }
}
