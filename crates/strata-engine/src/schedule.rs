//! The walk's schedule, apart from running anything: which step may start now (everything
//! it needs done, and room on its host: one step at a time that writes files, units or
//! packages, and beside it a few that only run commands), which first (the longest estimated
//! chain still behind it: list scheduling by critical path), and what a failure stops
//! (everything downstream of it, reported under it). Pure data, tested without hosts.

use std::collections::{HashMap, VecDeque};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Status {
    Waiting,
    Running,
    Done,
    Failed,
    Skipped,
}

/// Steps that share a host (see `Node::shares_host`) running on it at once, besides its one
/// step that does not, unless the deploy is told otherwise: enough to overlap the waits of
/// API calls and database syncs, few enough that a busy host does not run a dozen commands
/// against one another.
pub const SHARING_PER_HOST: usize = 3;

/// One step as the schedule sees it.
pub(crate) struct Node<'p> {
    pub host: &'p str,
    pub needs: &'p [usize],
    pub estimate_ms: u32,
    /// It only runs commands, waits and reads (`StepDef::shares_host`): it may run beside
    /// the host's other steps. A step that writes files, units or packages runs alone among
    /// such steps.
    pub shares_host: bool,
}

/// What runs on a host now.
#[derive(Default)]
struct Room {
    /// A step that does not share the host.
    alone: bool,
    sharing: usize,
}

pub(crate) struct Schedule<'p> {
    hosts: Vec<&'p str>,
    shares_host: Vec<bool>,
    status: Vec<Status>,
    waiting_on: Vec<usize>,
    dependents: Vec<Vec<usize>>,
    /// Each step's estimated chain to the end of the plan, itself included.
    rank: Vec<u64>,
    ready: HashMap<&'p str, VecDeque<usize>>,
    running: HashMap<&'p str, Room>,
    /// Sharing steps at once on a host (at least 1: with none, no step shares).
    beside: usize,
    remaining: usize,
}

impl<'p> Schedule<'p> {
    /// The schedule of steps in topological order (a step's needs come before it), with at
    /// most `beside` sharing steps at once on a host; 0: each step has its host to itself.
    pub(crate) fn new(nodes: &[Node<'p>], beside: usize) -> Schedule<'p> {
        let n = nodes.len();
        let mut dependents = vec![Vec::new(); n];
        for (i, s) in nodes.iter().enumerate() {
            for &d in s.needs {
                dependents[d].push(i);
            }
        }
        let rank = strata_plan::chains_to_end(nodes.iter().map(|s| (s.needs, s.estimate_ms)));
        let mut ready: HashMap<&str, VecDeque<usize>> = HashMap::new();
        for (i, s) in nodes.iter().enumerate() {
            if s.needs.is_empty() {
                ready.entry(s.host).or_default().push_back(i);
            }
        }
        Schedule {
            hosts: nodes.iter().map(|s| s.host).collect(),
            shares_host: nodes.iter().map(|s| s.shares_host && beside > 0).collect(),
            status: vec![Status::Waiting; n],
            waiting_on: nodes.iter().map(|s| s.needs.len()).collect(),
            dependents,
            rank,
            ready,
            running: HashMap::new(),
            beside,
            remaining: n,
        }
    }

    /// Whether every step has an outcome.
    pub(crate) fn finished(&self) -> bool {
        self.remaining == 0
    }

    /// The step to start now, marked running on its host: of the ready steps whose host has
    /// room for them, the one with the longest chain behind it (a host's room is small, so
    /// it should go to the step others wait on). `None` when nothing can start yet.
    pub(crate) fn start_next(&mut self) -> Option<usize> {
        let (running, rank, shares, beside) =
            (&self.running, &self.rank, &self.shares_host, self.beside);
        let fits = |host: &str, i: usize| {
            let room = running.get(host);
            if shares[i] {
                room.map_or(0, |r| r.sharing) < beside
            } else {
                !room.is_some_and(|r| r.alone)
            }
        };
        let pick = self
            .ready
            .iter()
            .flat_map(|(h, q)| {
                q.iter()
                    .enumerate()
                    .filter(move |&(_, &i)| fits(h, i))
                    .map(move |(at, &i)| (rank[i], at, i))
            })
            .max()
            .map(|(_, _, i)| i)?;
        let host = self.hosts[pick];
        if let Some(q) = self.ready.get_mut(host) {
            q.retain(|&r| r != pick);
        }
        self.status[pick] = Status::Running;
        let room = self.running.entry(host).or_default();
        if self.shares_host[pick] {
            room.sharing += 1;
        } else {
            room.alone = true;
        }
        Some(pick)
    }

    /// `i` is done: its room on its host is free, and the steps that waited only on it are
    /// ready.
    pub(crate) fn done(&mut self, i: usize) {
        self.release(i, Status::Done);
        for k in 0..self.dependents[i].len() {
            let d = self.dependents[i][k];
            self.waiting_on[d] -= 1;
            if self.waiting_on[d] == 0 && self.status[d] == Status::Waiting {
                self.ready.entry(self.hosts[d]).or_default().push_back(d);
            }
        }
    }

    /// `i` failed: its room on its host is free, and everything downstream of it is skipped.
    /// Returns the skipped steps, nearest first.
    pub(crate) fn failed(&mut self, i: usize) -> Vec<usize> {
        self.release(i, Status::Failed);
        let mut skipped = Vec::new();
        let mut queue: VecDeque<usize> = self.dependents[i].iter().copied().collect();
        while let Some(d) = queue.pop_front() {
            if self.status[d] != Status::Waiting {
                continue;
            }
            self.status[d] = Status::Skipped;
            self.remaining -= 1;
            skipped.push(d);
            queue.extend(self.dependents[d].iter().copied());
        }
        skipped
    }

    fn release(&mut self, i: usize, status: Status) {
        if let Some(room) = self.running.get_mut(self.hosts[i]) {
            if self.shares_host[i] {
                room.sharing -= 1;
            } else {
                room.alone = false;
            }
        }
        self.remaining -= 1;
        self.status[i] = status;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn node<'p>(host: &'p str, needs: &'p [usize], estimate_ms: u32) -> Node<'p> {
        Node {
            host,
            needs,
            estimate_ms,
            shares_host: false,
        }
    }

    fn sharing<'p>(host: &'p str, needs: &'p [usize], estimate_ms: u32) -> Node<'p> {
        Node {
            shares_host: true,
            ..node(host, needs, estimate_ms)
        }
    }

    #[test]
    fn a_host_runs_one_step_at_a_time_and_the_longest_chain_goes_first() {
        // a0 (short, nothing behind) and a1 (leads to b2) are ready on host a; b2 needs a1.
        let nodes = [
            node("a", &[], 100),
            node("a", &[], 10),
            node("b", &[1], 1000),
        ];
        let mut s = Schedule::new(&nodes, SHARING_PER_HOST);
        assert_eq!(s.start_next(), Some(1), "a1 has b2's 1000 ms behind it");
        assert_eq!(s.start_next(), None, "host a is busy, b2 waits on a1");
        s.done(1);
        let mut started = vec![s.start_next().unwrap(), s.start_next().unwrap()];
        started.sort_unstable();
        assert_eq!(started, [0, 2], "a0 and b2, each on its own host");
        assert_eq!(s.start_next(), None);
        s.done(0);
        s.done(2);
        assert!(s.finished());
    }

    #[test]
    fn a_failure_skips_only_what_is_downstream_of_it() {
        // 0 -> 1 -> 2, and 3 independent on another host; 4 needs 2 and 3.
        let nodes = [
            node("a", &[], 1),
            node("a", &[0], 1),
            node("b", &[1], 1),
            node("c", &[], 1),
            node("c", &[2, 3], 1),
        ];
        let mut s = Schedule::new(&nodes, SHARING_PER_HOST);
        let first: HashSet<usize> = [s.start_next().unwrap(), s.start_next().unwrap()].into();
        assert_eq!(first, [0, 3].into());
        assert_eq!(s.failed(0), vec![1, 2, 4], "nearest first");
        s.done(3);
        assert_eq!(s.start_next(), None, "4 was skipped with 0's branch");
        assert!(s.finished());
    }

    #[test]
    fn steps_that_only_run_commands_share_their_host_a_few_at_a_time() {
        // On host a: two steps that write (0, 1) and four that only run commands (2..=5).
        assert_eq!(
            SHARING_PER_HOST, 3,
            "the steps below are laid out for three"
        );
        let nodes = [
            node("a", &[], 50),
            node("a", &[], 40),
            sharing("a", &[], 30),
            sharing("a", &[], 20),
            sharing("a", &[], 10),
            sharing("a", &[], 5),
        ];
        let mut s = Schedule::new(&nodes, SHARING_PER_HOST);
        let mut first = Vec::new();
        while let Some(i) = s.start_next() {
            first.push(i);
        }
        assert_eq!(
            first,
            [0, 2, 3, 4],
            "one writer, and beside it as many sharing steps as the host has room for"
        );
        s.done(2);
        assert_eq!(
            s.start_next(),
            Some(5),
            "a sharing step takes the room left"
        );
        assert_eq!(s.start_next(), None, "1 waits for the other writer");
        s.done(0);
        assert_eq!(s.start_next(), Some(1));
        for i in [1, 3, 4, 5] {
            s.done(i);
        }
        assert!(s.finished());
    }

    #[test]
    fn with_none_beside_a_host_runs_one_step_at_a_time() {
        let nodes = [
            node("a", &[], 50),
            sharing("a", &[], 30),
            sharing("a", &[], 20),
            node("b", &[], 10),
        ];
        let mut s = Schedule::new(&nodes, 0);
        let mut first = Vec::new();
        while let Some(i) = s.start_next() {
            first.push(i);
        }
        first.sort_unstable();
        assert_eq!(
            first,
            [0, 3],
            "one step on each host, the sharing ones wait"
        );
        s.done(0);
        assert_eq!(s.start_next(), Some(1));
        assert_eq!(
            s.start_next(),
            None,
            "2 waits for 1, though both only run commands"
        );
        s.done(1);
        assert_eq!(s.start_next(), Some(2));
        s.done(2);
        s.done(3);
        assert!(s.finished());
    }
}
