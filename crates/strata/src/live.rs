//! The live view of a deploy or a check on a terminal: a bar per site (steps or checks
//! settled of its total, and its failures), a line per host with what it runs and for how
//! long, and for a deploy the time the critical path still needs by the plan's estimates.
//! What the plain output prints (changed steps, failures) scrolls above it. Used only when
//! stderr is a terminal and `--json` is off.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use strata_engine::{CheckProgress, Event};

/// What the view counts, apart from drawing it: a unit to test without a terminal. Its
/// items are a deploy's steps or a check run's checks.
pub struct Progress {
    /// Whether the items are checks (no critical path to tell).
    checks: bool,
    /// Per item: its site and host (by index), and its estimated chain to the end.
    steps: HashMap<String, (usize, usize, u64)>,
    sites: Vec<(String, usize)>,
    hosts: Vec<String>,
    /// Per site: steps settled (done, resumed, failed or skipped) and failures.
    settled: Vec<(usize, usize)>,
    /// Per host: the steps it runs now (a few may share it) and since when, oldest first.
    running: Vec<Vec<(String, Instant)>>,
    /// Steps not settled yet.
    open: std::collections::HashSet<String>,
}

impl Progress {
    pub fn new(plan: &strata_plan::Plan) -> Progress {
        let rank = strata_plan::chains_to_end(
            plan.steps
                .iter()
                .map(|s| (s.needs.as_slice(), s.estimate_ms)),
        );
        Progress::of(
            plan.steps
                .iter()
                .zip(rank)
                .map(|(s, r)| (s.id.clone(), s.site.to_string(), s.host.to_string(), r)),
            false,
        )
    }

    /// For a check run: its checks as (id, site, host).
    pub fn of_checks(checks: &[(String, String, String)]) -> Progress {
        Progress::of(
            checks
                .iter()
                .map(|(id, site, host)| (id.clone(), site.clone(), host.clone(), 0)),
            true,
        )
    }

    /// Items as (id, site, host, estimated chain to the end).
    fn of(items: impl Iterator<Item = (String, String, String, u64)>, checks: bool) -> Progress {
        let mut sites: Vec<(String, usize)> = Vec::new();
        let mut hosts: Vec<String> = Vec::new();
        let mut steps = HashMap::new();
        for (id, site_name, host_name, rank) in items {
            let site = match sites.iter().position(|(name, _)| *name == site_name) {
                Some(k) => k,
                None => {
                    sites.push((site_name, 0));
                    sites.len() - 1
                }
            };
            sites[site].1 += 1;
            let host = match hosts.iter().position(|h| *h == host_name) {
                Some(k) => k,
                None => {
                    hosts.push(host_name);
                    hosts.len() - 1
                }
            };
            steps.insert(id, (site, host, rank));
        }
        Progress {
            checks,
            settled: vec![(0, 0); sites.len()],
            running: vec![Vec::new(); hosts.len()],
            open: steps.keys().cloned().collect(),
            steps,
            sites,
            hosts,
        }
    }

    /// Learns an event of a deploy.
    pub fn see(&mut self, event: &Event) {
        match event {
            Event::Started { step, .. } => self.start(step),
            Event::Done { step, .. }
            | Event::Resumed { step, .. }
            | Event::Skipped { step, .. } => self.settle(step, false),
            Event::Failed { step, .. } => self.settle(step, true),
        }
    }

    /// Learns what a check run reported.
    pub fn see_check(&mut self, event: &CheckProgress) {
        match event {
            CheckProgress::Planned(_) => {}
            CheckProgress::Started(id) => self.start(id),
            CheckProgress::Finished { id, passed } => self.settle(id, !passed),
            CheckProgress::Dropped(id) => {
                // Not run here, and not counted: out of its site's total.
                if let Some(&(site, _, _)) = self.steps.get(id) {
                    if self.open.remove(id) {
                        self.sites[site].1 -= 1;
                    }
                }
            }
        }
    }

    fn start(&mut self, id: &str) {
        if let Some(&(_, host, _)) = self.steps.get(id) {
            self.running[host].push((id.to_owned(), Instant::now()));
        }
    }

    fn settle(&mut self, id: &str, failed: bool) {
        let Some(&(site, host, _)) = self.steps.get(id) else {
            return;
        };
        if self.open.remove(id) {
            self.settled[site].0 += 1;
            self.settled[site].1 += usize::from(failed);
        }
        self.running[host].retain(|(s, _)| s != id);
    }

    /// The view's first line.
    pub fn header(&self) -> String {
        if self.checks {
            let failed: usize = self.settled.iter().map(|s| s.1).sum();
            let open = self.open.len();
            let noun = if open == 1 { "check" } else { "checks" };
            format!("{open} {noun} to finish, {failed} failed so far")
        } else {
            format!(
                "about {:.0} s left on the critical path (by the plan's estimates)",
                self.left().as_secs_f64()
            )
        }
    }

    /// The critical path's estimated time still to go: the longest chain among the steps
    /// not settled, less what the running ones have already taken.
    pub fn left(&self) -> Duration {
        let ms = self
            .open
            .iter()
            .filter_map(|id| {
                let &(_, host, rank) = self.steps.get(id)?;
                let spent = self.running[host]
                    .iter()
                    .find(|(s, _)| s == id)
                    .map_or(0, |(_, since)| since.elapsed().as_millis() as u64);
                Some(rank.saturating_sub(spent))
            })
            .max()
            .unwrap_or(0);
        Duration::from_millis(ms)
    }

    /// A site's line: settled of total, and failures.
    pub fn site_line(&self, k: usize) -> (String, u64, u64, usize) {
        let (name, total) = &self.sites[k];
        let (done, failed) = self.settled[k];
        (name.clone(), done as u64, *total as u64, failed)
    }

    /// A host's line: the step it has run longest (and since when), how many more run beside
    /// it, or that it waits.
    pub fn host_line(&self, k: usize) -> (String, Option<Instant>) {
        match self.running[k].as_slice() {
            [(step, since), beside @ ..] => (
                format!(
                    "{:<16} {}{}",
                    self.hosts[k],
                    // `site/host/what`: what runs, without the site and host.
                    step.splitn(3, '/').nth(2).unwrap_or(step),
                    match beside.len() {
                        0 => String::new(),
                        n => format!(" (+{n} beside it)"),
                    }
                ),
                Some(*since),
            ),
            [] => (format!("{:<16} -", self.hosts[k]), None),
        }
    }
}

/// The view on the terminal.
pub struct Live {
    progress: Progress,
    multi: MultiProgress,
    header: ProgressBar,
    sites: Vec<ProgressBar>,
    hosts: Vec<ProgressBar>,
    /// Per host: the start of the step its line shows, to restart its clock on a new one.
    shown: Vec<Option<Instant>>,
    running_style: ProgressStyle,
    idle_style: ProgressStyle,
}

/// How often the lines redraw by themselves (the clocks of running steps).
const TICK: Duration = Duration::from_millis(250);

impl Live {
    pub fn new(plan: &strata_plan::Plan) -> Live {
        Live::of(Progress::new(plan))
    }

    /// The view of a check run, once it has said what it will run.
    pub fn of_checks(checks: &[(String, String, String)]) -> Live {
        Live::of(Progress::of_checks(checks))
    }

    fn of(progress: Progress) -> Live {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(4));
        let header = multi.add(ProgressBar::new_spinner());
        header.set_style(ProgressStyle::with_template("{spinner} {msg}").expect("template"));
        let bar = ProgressStyle::with_template("  {prefix:<12} [{bar:30}] {pos}/{len} {msg}")
            .expect("template")
            .progress_chars("=> ");
        let sites = (0..progress.sites.len())
            .map(|k| {
                let (name, _, total, _) = progress.site_line(k);
                let b = multi.add(ProgressBar::new(total));
                b.set_style(bar.clone());
                b.set_prefix(name);
                b
            })
            .collect();
        // A host's line is cut to the terminal's width: a long check's name would wrap, and a
        // wrapped line breaks the redraw.
        let idle_style = ProgressStyle::with_template("    {wide_msg}").expect("template");
        let running_style =
            ProgressStyle::with_template("    {wide_msg} ({elapsed})").expect("template");
        let hosts = (0..progress.hosts.len())
            .map(|_| {
                let b = multi.add(ProgressBar::new_spinner());
                b.set_style(idle_style.clone());
                b.enable_steady_tick(TICK);
                b
            })
            .collect();
        header.enable_steady_tick(TICK);
        let mut live = Live {
            shown: vec![None; progress.hosts.len()],
            progress,
            multi,
            header,
            sites,
            hosts,
            running_style,
            idle_style,
        };
        live.draw();
        live
    }

    /// Learns an event of a deploy and redraws.
    pub fn see(&mut self, event: &Event) {
        self.progress.see(event);
        self.draw();
    }

    /// Learns what a check run reported and redraws.
    pub fn see_check(&mut self, event: &CheckProgress) {
        self.progress.see_check(event);
        self.draw();
    }

    /// A line above the view (what the plain output prints).
    pub fn println(&self, text: &str) {
        let _ = self.multi.println(text.trim_end());
    }

    fn draw(&mut self) {
        self.header.set_message(self.progress.header());
        self.header.tick();
        for (k, bar) in self.sites.iter().enumerate() {
            let (_, done, total, failed) = self.progress.site_line(k);
            bar.set_length(total);
            bar.set_position(done);
            bar.set_message(if failed > 0 {
                format!("{failed} failed")
            } else {
                String::new()
            });
        }
        for (k, bar) in self.hosts.iter().enumerate() {
            let (line, since) = self.progress.host_line(k);
            if since != self.shown[k] {
                // A new step (or none): its own clock and style.
                bar.set_style(if since.is_some() {
                    self.running_style.clone()
                } else {
                    self.idle_style.clone()
                });
                bar.reset_elapsed();
                self.shown[k] = since;
            }
            bar.set_message(line);
        }
    }

    /// Takes the view off the terminal.
    pub fn finish(self) {
        for bar in self.hosts.iter().chain(&self.sites) {
            bar.finish_and_clear();
        }
        self.header.finish_and_clear();
        let _ = self.multi.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> strata_plan::Plan {
        let mut sources = strata_source::SourceMap::new();
        let mut diags = strata_source::Diagnostics::new();
        let catalog = strata_catalog::Catalog::load(&mut sources, None, &mut diags).unwrap();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let loaded = strata_spec::load(&mut sources, &root.join("examples/dcn.yaml"), &[]).unwrap();
        let model = strata_model::compile(&loaded.spec.unwrap(), &catalog, &mut diags).unwrap();
        strata_plan::build(&model, &catalog).unwrap()
    }

    #[test]
    fn the_view_counts_each_site_and_the_critical_path_left() {
        let plan = plan();
        let mut p = Progress::new(&plan);
        assert_eq!(
            p.left().as_millis() as u64,
            plan.critical_path_ms,
            "before anything ran, the whole critical path is left"
        );
        let first = &plan.steps[0];
        p.see(&Event::Started {
            step: first.id.clone(),
            host: first.host.to_string(),
        });
        let host = p.hosts.iter().position(|h| **h == *first.host).unwrap();
        assert!(p
            .host_line(host)
            .0
            .contains(first.id.rsplit('/').next().unwrap()));
        // Another step of the host runs beside it, and is what the line shows once the first
        // has settled.
        let beside = plan.steps[1..]
            .iter()
            .find(|s| s.host == first.host)
            .unwrap();
        p.see(&Event::Started {
            step: beside.id.clone(),
            host: beside.host.to_string(),
        });
        assert!(
            p.host_line(host).0.ends_with("(+1 beside it)"),
            "{:?}",
            p.host_line(host)
        );
        p.see(&Event::Failed {
            step: first.id.clone(),
            host: first.host.to_string(),
            action: "x".into(),
            status: Some(1),
            stderr: String::new(),
        });
        let site = p
            .sites
            .iter()
            .position(|(s, _)| **s == *first.site)
            .unwrap();
        let (_, done, total, failed) = p.site_line(site);
        assert_eq!((done, failed), (1, 1));
        assert!(
            p.host_line(host)
                .0
                .ends_with(beside.id.rsplit('/').next().unwrap()),
            "{:?}",
            p.host_line(host)
        );
        p.see(&Event::Done {
            step: beside.id.clone(),
            host: beside.host.to_string(),
            actions: Vec::new(),
            seconds: 1.0,
            looked_ahead: false,
        });
        assert!(p.host_line(host).0.ends_with('-'), "the host waits again");
        for s in &plan.steps {
            p.see(&Event::Resumed {
                step: s.id.clone(),
                host: s.host.to_string(),
            });
        }
        let (_, done, _, failed) = p.site_line(site);
        assert_eq!((done, failed), (total, 1), "each step settles once");
        assert_eq!(p.left(), Duration::ZERO);
    }
    #[test]
    fn the_check_view_counts_each_site_and_drops_what_does_not_apply() {
        let id = |site: &str, host: &str, what: &str| format!("{site}/{host}/{what}");
        let checks = vec![
            (
                id("central", "ctl-0", "keystone: a token"),
                "central".to_owned(),
                "ctl-0".to_owned(),
            ),
            (
                id("central", "ctl-0", "neutron-dhcp: a server across the WAN"),
                "central".to_owned(),
                "ctl-0".to_owned(),
            ),
            (
                id("dcn0", "dcn0-0", "nova-compute: a/b"),
                "dcn0".to_owned(),
                "dcn0-0".to_owned(),
            ),
        ];
        let mut p = Progress::of_checks(&checks);
        assert_eq!(p.site_line(0), ("central".to_owned(), 0, 2, 0));
        assert!(
            p.header().starts_with("3 checks to finish"),
            "{}",
            p.header()
        );
        p.see_check(&CheckProgress::Dropped(checks[1].0.clone()));
        assert_eq!(p.header(), "2 checks to finish, 0 failed so far");
        assert_eq!(
            p.site_line(0).2,
            1,
            "a check that does not apply leaves the total"
        );
        p.see_check(&CheckProgress::Started(checks[2].0.clone()));
        assert!(
            p.host_line(1).0.ends_with("nova-compute: a/b"),
            "{:?}",
            p.host_line(1)
        );
        p.see_check(&CheckProgress::Finished {
            id: checks[2].0.clone(),
            passed: false,
        });
        assert_eq!(p.header(), "1 check to finish, 1 failed so far");
        p.see_check(&CheckProgress::Finished {
            id: checks[0].0.clone(),
            passed: true,
        });
        assert_eq!(p.site_line(0), ("central".to_owned(), 1, 1, 0));
        assert_eq!(p.site_line(1), ("dcn0".to_owned(), 1, 1, 1));
        assert_eq!(p.header(), "0 checks to finish, 1 failed so far");
        assert!(p.host_line(1).0.ends_with('-'), "the host runs nothing now");
    }
}
