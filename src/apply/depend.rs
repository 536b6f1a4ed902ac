//! Which transactions may overlap in a parallel apply (pure logic).
//!
//! Every transaction gets a slot: its number in source order (`seq`) and
//! `after`, the number of transactions (in source order) that must have
//! committed before it may start. Commits always happen in source order, so
//! "the first `after` committed" is all a worker has to wait for.
//!
//! Three sources of independence, each sound on its own, so the smallest
//! bound wins (as MySQL's WRITESET tracking takes the smaller of its own and
//! the commit-order clock):
//!
//! - **Write sets**: hashes of the primary/unique key values a transaction's
//!   row images touch (or of a whole table when no key is known). A
//!   transaction waits for the last earlier one that shares a hash. A
//!   transaction without a write set resets the history: later ones cannot
//!   see what it touched, so they wait for it.
//! - **MariaDB group commit**: transactions of one group commit (same
//!   `commit_id`, consecutive, `FL_ALLOW_PARALLEL`) were prepared together
//!   on the master, so none waited for another: they wait only for what came
//!   before the group.
//! - **MySQL logical clock**: `last_committed` names the transaction that
//!   must have committed first (by `sequence_number`, which restarts with
//!   every binlog file: a restart makes the new file wait for everything
//!   before it).
//!
//! A barrier (DDL, statements, non-transactional tables, anything unknown)
//! waits for everything before it and everything after waits for it.

use std::collections::{BTreeMap, HashMap};

/// What the dispatcher learnt about a transaction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Info {
    /// Runs alone.
    pub barrier: bool,
    /// Write-set hashes; `None` when unknown.
    pub keys: Option<Vec<u64>>,
    /// MariaDB group-commit id (with `FL_ALLOW_PARALLEL`).
    pub group: Option<u64>,
    /// MySQL logical clock: `(last_committed, sequence_number)`.
    pub clock: Option<(i64, i64)>,
}

impl Info {
    /// A transaction that runs alone.
    pub fn barrier() -> Info {
        Info { barrier: true, ..Info::default() }
    }
}

/// Where a transaction goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Slot {
    /// Its number in source order (from 0).
    pub seq: u64,
    /// It may start once this many transactions (from the first) committed.
    pub after: u64,
    /// It runs alone (`after == seq`, and later ones wait for it).
    pub barrier: bool,
}

/// Assigns slots in source order.
#[derive(Debug)]
pub(crate) struct Scheduler {
    next: u64,
    /// Barrier: nothing before this may be overtaken.
    floor: u64,
    /// Key hash → last transaction that wrote it.
    writers: HashMap<u64, u64>,
    /// Write-set bounds are at least this (a transaction without a write set).
    ws_floor: u64,
    /// Most key hashes kept before the history is reset (like
    /// `binlog_transaction_dependency_history_size`).
    cap: usize,
    /// MariaDB: the previous transaction's commit id and its group's first transaction.
    group: Option<(u64, u64)>,
    /// MySQL: `sequence_number` → seq, for the current source binlog file.
    clock: BTreeMap<i64, u64>,
    /// The last `sequence_number` seen.
    clock_last: Option<i64>,
    /// First seq of the current source binlog file.
    clock_base: u64,
}

impl Scheduler {
    /// A scheduler keeping at most `cap` key hashes.
    pub fn new(cap: usize) -> Scheduler {
        Scheduler {
            next: 0,
            floor: 0,
            writers: HashMap::new(),
            ws_floor: 0,
            cap,
            group: None,
            clock: BTreeMap::new(),
            clock_last: None,
            clock_base: 0,
        }
    }

    /// The slot of the next transaction.
    pub fn schedule(&mut self, info: &Info) -> Slot {
        let seq = self.next;
        self.next += 1;
        if info.barrier {
            self.floor = seq + 1;
            self.ws_floor = seq + 1;
            self.writers.clear();
            self.group = None;
            self.clock_seen(None, seq);
            return Slot { seq, after: seq, barrier: true };
        }
        let mut after = seq;
        match &info.keys {
            Some(keys) => {
                let ws = keys.iter().filter_map(|k| self.writers.get(k)).map(|s| s + 1).max().unwrap_or(0);
                after = after.min(ws.max(self.ws_floor));
                if self.writers.len() + keys.len() > self.cap {
                    self.writers.clear();
                    self.ws_floor = seq + 1;
                } else {
                    for k in keys {
                        self.writers.insert(*k, seq);
                    }
                }
            }
            None => {
                self.writers.clear();
                self.ws_floor = seq + 1;
            }
        }
        match info.group {
            Some(c) => {
                let start = match self.group {
                    Some((prev, start)) if prev == c => start,
                    _ => seq,
                };
                after = after.min(start);
                self.group = Some((c, start));
            }
            None => self.group = None,
        }
        if let Some(dep) = self.clock_seen(info.clock, seq) {
            after = after.min(dep);
        }
        Slot { seq, after: after.max(self.floor), barrier: false }
    }

    /// Records a logical clock; returns the bound it gives.
    fn clock_seen(&mut self, clock: Option<(i64, i64)>, seq: u64) -> Option<u64> {
        let Some((last_committed, sn)) = clock else {
            // Without a clock the numbering cannot be followed further.
            self.clock.clear();
            self.clock_last = None;
            self.clock_base = seq + 1;
            return None;
        };
        if self.clock_last.is_some_and(|l| sn <= l) {
            // A new source binlog file: its numbers say nothing about the last file's.
            self.clock.clear();
            self.clock_base = seq;
        }
        self.clock_last = Some(sn);
        let dep = self.clock.range(..=last_committed).next_back().map(|(_, s)| s + 1).unwrap_or(self.clock_base);
        self.clock.insert(sn, seq);
        if self.clock.len() > self.cap {
            self.clock.clear();
            self.clock_base = seq + 1;
        }
        Some(dep)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(k: &[u64]) -> Info {
        Info { keys: Some(k.to_vec()), ..Info::default() }
    }

    fn afters(s: &mut Scheduler, infos: &[Info]) -> Vec<u64> {
        infos.iter().map(|i| s.schedule(i).after).collect()
    }

    #[test]
    fn write_sets() {
        let mut s = Scheduler::new(1000);
        // 0:{1} 1:{2} 2:{1,3} 3:{3} 4:{9}
        let a = afters(&mut s, &[keys(&[1]), keys(&[2]), keys(&[1, 3]), keys(&[3]), keys(&[9])]);
        assert_eq!(a, vec![0, 0, 1, 3, 0]);
    }

    #[test]
    fn barriers_fence_both_ways() {
        let mut s = Scheduler::new(1000);
        s.schedule(&keys(&[1]));
        s.schedule(&keys(&[2]));
        let b = s.schedule(&Info::barrier());
        assert_eq!(b, Slot { seq: 2, after: 2, barrier: true });
        // Disjoint keys still wait for the barrier; the old writers are forgotten.
        assert_eq!(s.schedule(&keys(&[7])).after, 3);
        assert_eq!(s.schedule(&keys(&[1])).after, 3);
    }

    #[test]
    fn no_write_set_resets_the_history() {
        let mut s = Scheduler::new(1000);
        s.schedule(&keys(&[1]));
        // No write set, but the source's group commit lets it overlap.
        let g = Info { group: Some(5), ..Info::default() };
        assert_eq!(s.schedule(&g).after, 1);
        // Disjoint keys: must still wait for the one whose writes are unknown.
        assert_eq!(s.schedule(&keys(&[2])).after, 2);
    }

    #[test]
    fn maria_group_commit() {
        let mut s = Scheduler::new(1000);
        let g = |c: u64| Info { group: Some(c), ..Info::default() };
        // Groups 10 (seq 0,1,2), 11 (3,4), then one without parallel permission.
        let a = afters(&mut s, &[g(10), g(10), g(10), g(11), g(11), Info::default()]);
        assert_eq!(a, vec![0, 0, 0, 3, 3, 5]);
    }

    #[test]
    fn smaller_bound_wins() {
        let mut s = Scheduler::new(1000);
        let gk = |c: u64, k: &[u64]| Info { group: Some(c), keys: Some(k.to_vec()), ..Info::default() };
        // Single-writer master: every transaction its own group, write sets give the parallelism.
        let a = afters(&mut s, &[gk(1, &[1]), gk(2, &[2]), gk(3, &[1]), gk(4, &[4])]);
        assert_eq!(a, vec![0, 0, 1, 0]);
        // Same group, shared key: the group says they are independent (the master let them overlap).
        let mut s = Scheduler::new(1000);
        let a = afters(&mut s, &[gk(9, &[1]), gk(9, &[1])]);
        assert_eq!(a, vec![0, 0]);
    }

    #[test]
    fn mysql_logical_clock() {
        let mut s = Scheduler::new(1000);
        let c = |lc: i64, sn: i64| Info { clock: Some((lc, sn)), ..Info::default() };
        // sn 1..5 of one file: 2 and 3 depend on 1; 4 on 3; 5 on 1.
        let a = afters(&mut s, &[c(0, 1), c(1, 2), c(1, 3), c(3, 4), c(1, 5)]);
        assert_eq!(a, vec![0, 1, 1, 3, 1]);
        // A new file (numbers restart): its first transactions wait for all of the last file.
        let a = afters(&mut s, &[c(0, 1), c(0, 2), c(2, 3)]);
        assert_eq!(a, vec![5, 5, 7]);
        // A diff that starts mid-file: last_committed before the first number seen is already on the target.
        let mut s = Scheduler::new(1000);
        let a = afters(&mut s, &[c(40, 45), c(40, 46), c(45, 47)]);
        assert_eq!(a, vec![0, 0, 1]);
    }

    #[test]
    fn history_cap_is_conservative() {
        let mut s = Scheduler::new(3);
        s.schedule(&keys(&[1, 2]));
        // Over the cap: the history is dropped, and this one becomes the floor of write-set bounds.
        assert_eq!(s.schedule(&keys(&[3, 4])).after, 0);
        assert_eq!(s.schedule(&keys(&[1])).after, 2);
    }
}
