//! HCI tuning (TripleO's derive_params formula): on a node that runs both Nova compute and
//! Ceph OSDs, how much memory to reserve for the host and how far to overcommit CPUs.

use strata_source::{Diagnostic, Diagnostics};

use crate::ceph::osds_of;
use crate::compile::Ctx;
use crate::model::*;

/// Per OSD: 5 GB of RAM; per guest, 0.5 GB of overhead.
const GB_PER_OSD: f64 = 5.0;
const GB_OVERHEAD_PER_GUEST: f64 = 0.5;
const DEFAULT_GUEST_GB: f64 = 2.0;
const DEFAULT_GUEST_CPU_UTIL: f64 = 0.5;

#[derive(Debug, Clone, Copy)]
pub struct HciInputs {
    pub ram_gb: u32,
    pub vcpus: u32,
    pub osds: u32,
    pub osd_type: OsdKind,
    pub avg_guest_memory_gb: f64,
    /// Average share of a vCPU a guest keeps busy, from 0 to 1.
    pub avg_guest_cpu_util: f64,
}

/// The formula of tripleo-facts.md.
pub fn hci_tuning(i: HciInputs) -> HciTuning {
    let vcpus_per_osd = match i.osd_type {
        OsdKind::Hdd => 1.0,
        OsdKind::Ssd => 4.0,
        OsdKind::Nvme => 3.0,
    };
    let osds = f64::from(i.osds);
    let free_gb = f64::from(i.ram_gb) - GB_PER_OSD * osds;
    let guests = (free_gb / (i.avg_guest_memory_gb + GB_OVERHEAD_PER_GUEST))
        .floor()
        .max(0.0);
    let reserved_gb = GB_PER_OSD * osds + GB_OVERHEAD_PER_GUEST * guests;
    let vcpus = f64::from(i.vcpus);
    let ratio = if vcpus > 0.0 && i.avg_guest_cpu_util > 0.0 {
        ((vcpus - vcpus_per_osd * osds) / i.avg_guest_cpu_util) / vcpus
    } else {
        0.0
    };
    HciTuning {
        osds: i.osds,
        guests: guests as u32,
        reserved_host_memory_mb: (1024.0 * reserved_gb).round() as u64,
        cpu_allocation_ratio: (ratio * 100.0).round() / 100.0,
    }
}

pub(crate) fn tune(ctx: &Ctx, model: &mut Model, diags: &mut Diagnostics) {
    let hci = &ctx.raw.defaults.hci;
    let guest_gb = hci
        .avg_guest_memory_gb
        .as_ref()
        .map(|v| v.value)
        .unwrap_or(DEFAULT_GUEST_GB);
    let util = hci
        .avg_guest_cpu_util
        .as_ref()
        .map(|v| v.value)
        .unwrap_or(DEFAULT_GUEST_CPU_UTIL);
    if let Some(m) = &hci.avg_guest_memory_gb {
        if m.value <= 0.0 || !m.value.is_finite() {
            // Once, at the value: not once per HCI node it would skew.
            diags.push(
                Diagnostic::error(
                    m.loc,
                    format!("avg_guest_memory_gb {} is not a size", m.value),
                )
                .with_help("give the average memory of a guest in GB, more than 0 (e.g. 2)"),
            );
            return;
        }
    }
    if let Some(u) = &hci.avg_guest_cpu_util {
        if u.value <= 0.0 || u.value > 1.0 {
            diags.push(
                Diagnostic::error(
                    u.loc,
                    format!("avg_guest_cpu_util {} is outside (0, 1]", u.value),
                )
                .with_help("give the average share of a vCPU a guest uses, e.g. 0.5 for 50%"),
            );
            return;
        }
    }
    for id in 0..model.hosts.len() {
        let host = &model.hosts[id];
        let servers = &model.servers;
        if !(host.runs(&servers.compute) && host.runs(&servers.ceph_storage)) {
            continue;
        }
        let raw = ctx.hosts[id];
        let (Some(ram_gb), Some(vcpus)) = (host.ram_gb, host.vcpus) else {
            diags.push(
                Diagnostic::warning(ctx.role_loc(id), format!("HCI node `{}` has no `ram_gb` and `vcpus`: its reserved memory and CPU allocation ratio cannot be derived", host.name))
                    .with_help("add `ram_gb:` and `vcpus:` so Nova leaves room for the OSDs"),
            );
            continue;
        };
        let tuning = hci_tuning(HciInputs {
            ram_gb,
            vcpus,
            osds: osds_of(host),
            osd_type: host.osd_type,
            avg_guest_memory_gb: guest_gb,
            avg_guest_cpu_util: util,
        });
        let ram_loc = raw.ram_gb.as_ref().map(|r| r.loc).unwrap_or(raw.loc);
        let cpu_loc = raw.vcpus.as_ref().map(|r| r.loc).unwrap_or(raw.loc);
        let reserved_gb = tuning.reserved_host_memory_mb as f64 / 1024.0;
        if reserved_gb > 0.8 * f64::from(ram_gb) {
            // The least RAM whose reservation fits in 80% of it (the reservation grows with
            // the guests the RAM holds, so it is searched, not divided out).
            let enough = (ram_gb..=ram_gb.saturating_mul(64).max(64)).find(|&r| {
                let t = hci_tuning(HciInputs {
                    ram_gb: r,
                    vcpus,
                    osds: osds_of(host),
                    osd_type: host.osd_type,
                    avg_guest_memory_gb: guest_gb,
                    avg_guest_cpu_util: util,
                });
                t.reserved_host_memory_mb as f64 / 1024.0 <= 0.8 * f64::from(r)
            });
            let help = match enough {
                Some(r) => format!("give it at least {r} GB of RAM, or fewer OSD disks"),
                None => "give it fewer OSD disks".to_owned(),
            };
            diags.push(
                Diagnostic::error(ram_loc, format!("HCI node `{}` must reserve {reserved_gb:.1} GB for {} OSDs and guest overhead, over 80% of its {ram_gb} GB", host.name, tuning.osds))
                    .with_help(help),
            );
        }
        if tuning.cpu_allocation_ratio < 0.5 {
            diags.push(
                Diagnostic::error(cpu_loc, format!("HCI node `{}` has a CPU allocation ratio of {} (under 0.5): its {vcpus} vCPUs are mostly taken by {} OSDs", host.name, tuning.cpu_allocation_ratio, tuning.osds))
                    .with_help("give it more vCPUs or fewer OSD disks"),
            );
        } else if tuning.cpu_allocation_ratio > 16.0 {
            diags.push(
                Diagnostic::warning(
                    cpu_loc,
                    format!(
                        "HCI node `{}` would overcommit CPUs {}:1 (over 16)",
                        host.name, tuning.cpu_allocation_ratio
                    ),
                )
                .with_help(
                    "raise `defaults.hci.avg_guest_cpu_util` if guests are busier than assumed",
                ),
            );
        }
        model.hosts[id].hci = Some(tuning);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_matches_tripleo_facts() {
        // 128 GB, 32 vCPUs, 4 HDD OSDs, 2 GB guests at 50%:
        // guests = floor((128 - 20) / 2.5) = 43; reserved = 1024 * (20 + 21.5) = 42496 MB;
        // ratio = ((32 - 4) / 0.5) / 32 = 1.75.
        let t = hci_tuning(HciInputs {
            ram_gb: 128,
            vcpus: 32,
            osds: 4,
            osd_type: OsdKind::Hdd,
            avg_guest_memory_gb: 2.0,
            avg_guest_cpu_util: 0.5,
        });
        assert_eq!(t.guests, 43);
        assert_eq!(t.reserved_host_memory_mb, 42496);
        assert_eq!(t.cpu_allocation_ratio, 1.75);
    }

    #[test]
    fn nvme_osds_cost_three_vcpus_each() {
        let t = hci_tuning(HciInputs {
            ram_gb: 256,
            vcpus: 48,
            osds: 8,
            osd_type: OsdKind::Nvme,
            avg_guest_memory_gb: 2.0,
            avg_guest_cpu_util: 0.1,
        });
        assert_eq!(t.cpu_allocation_ratio, 5.0); // ((48 - 24) / 0.1) / 48
    }

    #[test]
    fn no_room_for_guests_reserves_the_osds() {
        let t = hci_tuning(HciInputs {
            ram_gb: 8,
            vcpus: 4,
            osds: 2,
            osd_type: OsdKind::Hdd,
            avg_guest_memory_gb: 2.0,
            avg_guest_cpu_util: 0.5,
        });
        assert_eq!(t.guests, 0);
        assert_eq!(t.reserved_host_memory_mb, 10240);
    }
}
