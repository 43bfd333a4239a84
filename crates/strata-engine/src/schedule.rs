//! The walk's schedule, apart from running anything: which step may start now (everything
//! it needs done, its host idle), which first (the longest estimated chain still behind it:
//! list scheduling by critical path), and what a failure stops (everything downstream of
//! it, reported under it). Pure data, tested without hosts.

use std::collections::{HashMap, HashSet, VecDeque};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Status {
    Waiting,
    Running,
    Done,
    Failed,
    Skipped,
}

/// One step as the schedule sees it.
pub(crate) struct Node<'p> {
    pub host: &'p str,
    pub needs: &'p [usize],
    pub estimate_ms: u32,
}

pub(crate) struct Schedule<'p> {
    hosts: Vec<&'p str>,
    status: Vec<Status>,
    waiting_on: Vec<usize>,
    dependents: Vec<Vec<usize>>,
    /// Each step's estimated chain to the end of the plan, itself included.
    rank: Vec<u64>,
    ready: HashMap<&'p str, VecDeque<usize>>,
    busy: HashSet<&'p str>,
    remaining: usize,
}

impl<'p> Schedule<'p> {
    /// The schedule of steps in topological order (a step's needs come before it).
    pub(crate) fn new(nodes: &[Node<'p>]) -> Schedule<'p> {
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
            status: vec![Status::Waiting; n],
            waiting_on: nodes.iter().map(|s| s.needs.len()).collect(),
            dependents,
            rank,
            ready,
            busy: HashSet::new(),
            remaining: n,
        }
    }

    /// Whether every step has an outcome.
    pub(crate) fn finished(&self) -> bool {
        self.remaining == 0
    }

    /// The step to start now, marked running and its host busy: of the steps ready on idle
    /// hosts, the one with the longest chain behind it (a host runs one step at a time, so
    /// it should be the one others wait on). `None` when nothing can start yet.
    pub(crate) fn start_next(&mut self) -> Option<usize> {
        let busy = &self.busy;
        let rank = &self.rank;
        let pick = self
            .ready
            .iter()
            .filter(|(h, _)| !busy.contains(*h))
            .flat_map(|(_, q)| q.iter().enumerate().map(move |(at, &i)| (rank[i], at, i)))
            .max()
            .map(|(_, _, i)| i)?;
        let host = self.hosts[pick];
        if let Some(q) = self.ready.get_mut(host) {
            q.retain(|&r| r != pick);
        }
        self.status[pick] = Status::Running;
        self.busy.insert(host);
        Some(pick)
    }

    /// `i` is done: its host is free and the steps that waited only on it are ready.
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

    /// `i` failed: its host is free, and everything downstream of it is skipped. Returns the
    /// skipped steps, nearest first.
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
        self.busy.remove(self.hosts[i]);
        self.remaining -= 1;
        self.status[i] = status;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node<'p>(host: &'p str, needs: &'p [usize], estimate_ms: u32) -> Node<'p> {
        Node {
            host,
            needs,
            estimate_ms,
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
        let mut s = Schedule::new(&nodes);
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
        let mut s = Schedule::new(&nodes);
        let first: HashSet<usize> = [s.start_next().unwrap(), s.start_next().unwrap()].into();
        assert_eq!(first, [0, 3].into());
        assert_eq!(s.failed(0), vec![1, 2, 4], "nearest first");
        s.done(3);
        assert_eq!(s.start_next(), None, "4 was skipped with 0's branch");
        assert!(s.finished());
    }
}
