//! The lab's networks. One "fabric" namespace holds a bridge per site, with the router's
//! address on each; it forwards between sites, and inter-site packets are policy-routed
//! through the WAN router's TUN device, which adds latency. Each host's namespace has one
//! veth (eth0) into its site's bridge and a default route via the router; a site with a
//! provider network has a second bridge, with the router's address on it and a veth into
//! every host of the site. The fabric has no route out, so lab hosts reach nothing beyond
//! the lab.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use strata_sys::ProcessId;

use crate::journal::{Journal, Resource};
use crate::spec::{LabHost, LabSpec};
use crate::state::LabState;
use crate::wan::{WanConfig, WanSite, WAN_DEVICE};
use crate::{ifname, io, LabError};

/// The routing table that sends inter-site traffic to the WAN router.
const WAN_TABLE: &str = "100";

pub(crate) fn ip(args: &[&str]) -> Result<String, LabError> {
    Ok(strata_sys::run(Command::new("ip").args(args))?)
}

pub(crate) fn netns_exists(name: &str) -> bool {
    strata_sys::netns_inode(name).is_some()
}

fn link_exists(netns: &str, link: &str) -> bool {
    strata_sys::run_ok(
        Command::new("ip")
            .args(["-n", netns, "link", "show", link])
            .stdout(Stdio::null()),
    )
    .unwrap_or(false)
}

/// Makes a namespace (journaled first) unless this lab made it already, with loopback up.
/// A namespace of that name that this lab did not make (another lab of the same cloud under
/// another STRATA_HOME) is refused, never adopted: the names are global to the machine.
pub(crate) fn add_netns(journal: &Journal, name: &str) -> Result<(), LabError> {
    let ours = journal.read().contains(&Resource::Netns(name.to_owned()));
    if netns_exists(name) && !ours {
        return Err(LabError::Spec(format!(
            "network namespace {name} exists but this lab did not make it (a lab of the same cloud under another STRATA_HOME?); take that lab down, or name the cloud differently"
        )));
    }
    if !netns_exists(name) {
        journal.record(&Resource::Netns(name.to_owned()))?;
        ip(&["netns", "add", name])?;
    }
    ip(&["-n", name, "link", "set", "lo", "up"])?;
    Ok(())
}

fn sysctl(netns: &str, settings: &[&str]) -> Result<(), LabError> {
    strata_sys::run(
        Command::new("ip")
            .args(["netns", "exec", netns, "sysctl", "-q", "-w"])
            .args(settings),
    )?;
    Ok(())
}

/// The fabric with a bridge per site, and the WAN router when there is more than one site.
/// `router` is the running router (kept when the sites have not changed). Returns the router.
pub(crate) fn fabric(
    lab: &LabState,
    journal: &Journal,
    spec: &LabSpec,
    router: Option<(ProcessId, bool)>,
    router_command: &[String],
) -> Result<Option<ProcessId>, LabError> {
    let fabric = lab.fabric_netns();
    add_netns(journal, &fabric)?;
    sysctl(
        &fabric,
        &[
            "net.ipv4.ip_forward=1",
            "net.ipv4.conf.all.rp_filter=0",
            "net.ipv4.conf.default.rp_filter=0",
        ],
    )?;
    for site in &spec.sites {
        let routed = format!("{}/{}", site.gateway, site.subnet.prefix_len());
        router_bridge(&fabric, &ifname('b', &site.name), &routed)?;
        if let Some(provider) = &site.provider {
            let routed = format!("{}/{}", provider.gateway, provider.subnet.prefix_len());
            router_bridge(&fabric, &ifname('p', &site.name), &routed)?;
        }
    }
    if spec.sites.len() < 2 {
        return Ok(None);
    }
    let router = match router {
        Some((process, same_sites)) if same_sites && process.is_alive() => process,
        other => {
            if let Some((old, _)) = other {
                old.signal(libc::SIGTERM);
            }
            start_router(lab, journal, spec, router_command)?
        }
    };
    ip(&["-n", &fabric, "link", "set", WAN_DEVICE, "up"])?;
    sysctl(
        &fabric,
        &[&format!("net.ipv4.conf.{WAN_DEVICE}.rp_filter=0")],
    )?;
    let rules = ip(&["-n", &fabric, "rule", "show"])?;
    for site in &spec.sites {
        let bridge = ifname('b', &site.name);
        if !rules.contains(&format!("iif {bridge} lookup {WAN_TABLE}")) {
            ip(&[
                "-n", &fabric, "rule", "add", "iif", &bridge, "lookup", WAN_TABLE,
            ])?;
        }
    }
    ip(&[
        "-n", &fabric, "route", "replace", "default", "dev", WAN_DEVICE, "table", WAN_TABLE,
    ])?;
    Ok(Some(router))
}

/// A bridge of the fabric, made if missing, with the router's address `routed` on it, up.
fn router_bridge(fabric: &str, bridge: &str, routed: &str) -> Result<(), LabError> {
    if !link_exists(fabric, bridge) {
        ip(&["-n", fabric, "link", "add", bridge, "type", "bridge"])?;
        ip(&["-n", fabric, "addr", "add", routed, "dev", bridge])?;
    }
    ip(&["-n", fabric, "link", "set", bridge, "up"])?;
    Ok(())
}

/// A cable from a bridge of the fabric to a host: a veth `outside` on `bridge`, its peer
/// `inside` in the host's namespace, both up.
fn cable(
    fabric: &str,
    bridge: &str,
    outside: &str,
    netns: &str,
    inside: &str,
) -> Result<(), LabError> {
    ip(&[
        "-n", fabric, "link", "add", outside, "type", "veth", "peer", "name", inside, "netns",
        netns,
    ])?;
    ip(&["-n", fabric, "link", "set", outside, "master", bridge, "up"])?;
    ip(&["-n", netns, "link", "set", inside, "up"])?;
    Ok(())
}

fn start_router(
    lab: &LabState,
    journal: &Journal,
    spec: &LabSpec,
    router_command: &[String],
) -> Result<ProcessId, LabError> {
    let fabric = lab.fabric_netns();
    let config = WanConfig {
        sites: spec
            .sites
            .iter()
            .map(|s| WanSite {
                name: s.name.clone(),
                subnet: s.subnet,
                latency_ms: s.latency_ms,
            })
            .collect(),
        cuts_file: lab.dir.join("wan-cuts.json"),
    };
    let config_path = lab.dir.join("wan.json");
    std::fs::write(
        &config_path,
        serde_json::to_string_pretty(&config).expect("wan config serializes"),
    )
    .map_err(io("writing", &config_path))?;
    let log_path = lab.dir.join("wan-router.log");
    let log = std::fs::File::create(&log_path).map_err(io("creating", &log_path))?;
    let (program, args) = router_command
        .split_first()
        .ok_or_else(|| LabError::Spec("no WAN router command given".into()))?;
    let mut cmd = Command::new("nsenter");
    cmd.arg(format!("--net={}/{fabric}", strata_sys::NETNS_DIR))
        .arg(program)
        .args(args)
        .arg(&config_path);
    let child = spawn_detached(&mut cmd, log)?;
    let process = ProcessId::of(child as i32).ok_or_else(|| {
        LabError::Spec(format!(
            "the WAN router exited at once; see {}",
            log_path.display()
        ))
    })?;
    journal.record(&Resource::Process {
        pid: process.pid,
        start_time: process.start_time,
        what: "wan router".into(),
    })?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !link_exists(&fabric, WAN_DEVICE) {
        if !process.is_alive() || Instant::now() > deadline {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            return Err(LabError::Spec(format!(
                "the WAN router did not start: {}",
                log.trim()
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(process)
}

/// Starts a daemon in its own session with stdio to `log`; returns its PID. The child is not
/// waited for: it outlives this process.
pub(crate) fn spawn_detached(cmd: &mut Command, log: std::fs::File) -> Result<u32, LabError> {
    use std::os::unix::process::CommandExt;
    let err = log.try_clone().map_err(io("opening", Path::new("log")))?;
    // SAFETY: setsid is async-signal-safe; it detaches the daemon from our terminal and group.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let child = cmd
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        .spawn()
        .map_err(|e| LabError::Spec(format!("cannot start {:?}: {e}", cmd.get_program())))?;
    Ok(child.id())
}

/// A host's namespace with eth0 on its site's bridge, its address and default route.
pub(crate) fn host_network(
    lab: &LabState,
    journal: &Journal,
    spec: &LabSpec,
    host: &LabHost,
) -> Result<(), LabError> {
    let fabric = lab.fabric_netns();
    let netns = lab.host_netns(&host.name);
    add_netns(journal, &netns)?;
    let site = spec.site(&host.site).ok_or_else(|| {
        LabError::Spec(format!(
            "host `{}` is on unknown site `{}`",
            host.name, host.site
        ))
    })?;
    cable(
        &fabric,
        &ifname('b', &site.name),
        &ifname('v', &host.name),
        &netns,
        "eth0",
    )?;
    ip(&[
        "-n",
        &netns,
        "addr",
        "add",
        &format!("{}/{}", host.ip, host.prefix_len),
        "dev",
        "eth0",
    ])?;
    ip(&[
        "-n",
        &netns,
        "route",
        "add",
        "default",
        "via",
        &site.gateway.to_string(),
    ])?;
    if let Some(provider) = &site.provider {
        // A second cable, to the site's provider bridge: no address of the host's own (Neutron
        // bridges it for routers, floating IPs and servers on the provider network).
        cable(
            &fabric,
            &ifname('p', &site.name),
            &ifname('q', &host.name),
            &netns,
            &provider.interface,
        )?;
    }
    Ok(())
}

/// Unplugs a lab host from its site's network (`plugged: false`: its link goes down, as a
/// pulled cable or a dead switch port), or plugs it back: the link comes up and the default
/// route via the site's router is put back, which the kernel dropped with the link.
pub fn set_plugged(lab: &crate::LabState, host: &str, plugged: bool) -> Result<(), LabError> {
    if !lab.hosts().iter().any(|h| h.name == host) {
        return Err(LabError::Spec(format!(
            "no node `{host}` in lab `{}`",
            lab.name
        )));
    }
    let netns = lab.host_netns(host);
    if !plugged {
        ip(&["-n", &netns, "link", "set", "eth0", "down"])?;
        return Ok(());
    }
    ip(&["-n", &netns, "link", "set", "eth0", "up"])?;
    // The site's router takes the subnet's first address (see spec.rs).
    let addrs = ip(&["-n", &netns, "-4", "-o", "addr", "show", "dev", "eth0"])?;
    let net: ipnet::IpNet = addrs
        .split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)
        .and_then(|cidr| cidr.parse().ok())
        .ok_or_else(|| LabError::Spec(format!("host `{host}` has no address on eth0")))?;
    let gateway =
        net.trunc().hosts().next().ok_or_else(|| {
            LabError::Spec(format!("host `{host}`'s subnet has no router address"))
        })?;
    ip(&[
        "-n",
        &netns,
        "route",
        "replace",
        "default",
        "via",
        &gateway.to_string(),
    ])?;
    Ok(())
}
