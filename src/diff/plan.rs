//! The failover diff plan: the latest replica, where its relay logs end on a
//! transaction boundary, and for every replica the range it lacks (a relay
//! range on the latest replica from the replica's *executed* position, plus
//! the dead master's binlog tail). `write` cuts every replica's diff in one
//! shared pass over the sources (the ranges are nested suffixes of the same
//! stream), the source files shared read-only.

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::log::{LogKind, LogSet};
use crate::position::{
    Executed, GtidStart, MapOptions, Mapping, MasterPos, RelayPos, ReplicaState, find_start, gtid_at, gtid_start,
    latest, torn_tail,
};

use super::generate::{CutOptions, Cutter, DiffReport, Join, LeftOut, Start, shared_segment};

/// Inputs for a plan.
pub struct PlanInput {
    /// Every surviving replica's state (with `relay_dir` for the latest).
    pub replicas: Vec<ReplicaState>,
    /// The dead master's binlogs, when reachable.
    pub master_binlogs: Option<LogSet>,
    /// How to cut.
    pub opts: CutOptions,
    /// Count what each replica's diff will hold (a dry-run cut per replica).
    /// Off when the diffs are written next: [`Plan::write`] fills the counts
    /// from the real cut, and reading every range twice would double the work.
    pub count: bool,
}

/// One replica's part of the plan.
#[derive(Clone, Debug)]
pub struct TargetPlan {
    /// The replica's state.
    pub state: ReplicaState,
    /// Where its missing events start on the latest replica's relay logs
    /// (`None`: it has everything the latest replica's relay logs hold).
    pub relay_start: Option<RelayPos>,
    /// Whether MHA's fast path (verified) found the start.
    pub fast_path: bool,
    /// Found by GTID (master coordinates gave none): the first missing GTID.
    pub by_gtid: Option<String>,
    /// Where master coordinates and GTIDs disagree, what they say (the
    /// applier still skips what the target's GTID state holds).
    pub gtid_note: Option<String>,
    /// What its diff holds (counted, or as written).
    pub diff: DiffReport,
    /// The written file, after [`Plan::write`].
    pub file: Option<PathBuf>,
}

/// A whole plan.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Index of the latest replica in `targets`.
    pub latest: usize,
    /// Master coordinate where the latest replica's relay logs end on a
    /// transaction boundary.
    pub relay_end: MasterPos,
    /// A transaction the latest replica's relay logs hold only in part.
    pub relay_partial: Option<LeftOut>,
    /// What the dead master's binlogs add after `relay_end`.
    pub master_tail: Option<DiffReport>,
    /// Per replica.
    pub targets: Vec<TargetPlan>,
    relay: LogSet,
    master_binlogs: Option<LogSet>,
    opts: CutOptions,
}

fn relay_set_of(st: &ReplicaState) -> Result<LogSet> {
    let dir = st.relay_dir.as_ref().ok_or_else(|| Error::bad_input(&st.name, "relay log folder unknown"))?;
    match &st.relay_exec {
        Some(r) => LogSet::from_dir(dir, r.file.base()),
        None => LogSet::discover(dir, LogKind::Relay),
    }
}

impl Plan {
    /// Works out the plan, counting what each diff will hold.
    ///
    /// # Errors
    /// No replicas, the latest replica's relay logs unreadable or damaged, a
    /// replica whose executed position is not in them (purged relay logs).
    pub fn make(input: PlanInput) -> Result<Plan> {
        let li = latest(&input.replicas).ok_or_else(|| Error::config(None, "no replicas"))?;
        let lst = &input.replicas[li];
        let relay = relay_set_of(lst)?;
        let map_opts = MapOptions {
            own_server_id: lst.server_id,
            access: input.opts.access,
            verify_checksums: false, // the cuts verify what they copy
        };
        let cut_opts = CutOptions { own_server_id: lst.server_id, ..input.opts };

        // Where the latest replica's relay logs end on a boundary: cut from its own executed position.
        let own_start = match find_start(&relay, &lst.exec, Some(&lst.read), &map_opts)? {
            Mapping::Found { start, .. } => Some(start),
            Mapping::AlreadyComplete => None,
        };
        let (relay_end, relay_partial) = match &own_start {
            Some(s) => {
                let mut c = Cutter::counting(cut_opts);
                c.segment(&relay, Start::Relay(s.clone()))?;
                let r = c.report();
                (r.master_end.clone().unwrap_or_else(|| lst.exec.clone()), r.left_out.clone())
            }
            // It executed all it read, as far as its status says; unless the
            // newest relay file is torn (its host crashed): then the relay
            // logs end at the last whole transaction before the tear, and
            // the partial one must come whole from the master's binlog.
            None => match torn_tail(&relay, &map_opts)? {
                Some(t) => (t.boundary, Some(LeftOut { file: t.at.file, offset: t.at.pos, bytes: t.bytes })),
                None => (lst.read.clone(), None),
            },
        };
        let master_tail = match &input.master_binlogs {
            Some(m) => {
                let mut c = Cutter::counting(cut_opts);
                c.segment(m, Start::Binlog(relay_end.clone()))?;
                Some(c.finish()?)
            }
            None => None,
        };
        let mut plan = Plan {
            latest: li,
            relay_end,
            relay_partial,
            master_tail,
            targets: Vec::new(),
            relay,
            master_binlogs: input.master_binlogs,
            opts: cut_opts,
        };
        let targets: Result<Vec<TargetPlan>> = input
            .replicas
            .par_iter()
            .map(|st| target_plan(&plan.relay, &plan.relay_end, &lst.read, st, &map_opts))
            .collect();
        plan.targets = targets?;
        if input.count {
            let cutters = plan.targets.iter().map(|_| Ok(Cutter::counting(plan.opts))).collect();
            let counts = plan.cut_all(cutters);
            for (t, r) in plan.targets.iter_mut().zip(counts) {
                t.diff = r?;
            }
        }
        Ok(plan)
    }

    /// Cuts every target's diff, `cutters[i]` for `targets[i]`: one pass
    /// over the latest replica's relay logs feeds every target from its own
    /// start (the ranges are nested: all run to the end of the same logs),
    /// then one pass over the master's binlogs. The files are then finished
    /// (fsynced) concurrently, so the device flushes them together.
    fn cut_all(&self, mut cutters: Vec<Result<Cutter>>) -> Vec<Result<DiffReport>> {
        let named = |t: &TargetPlan, e: Error| e.with_subject(&t.state.name);
        let mut idx = Vec::new();
        let mut joins = Vec::new();
        for (i, (c, t)) in cutters.iter_mut().zip(&self.targets).enumerate() {
            if let (Ok(c), Some(s)) = (c.as_mut(), t.relay_start.as_ref()) {
                joins.push(Join { cutter: c, start: Start::Relay(s.clone()) });
                idx.push(i);
            }
        }
        for (i, r) in idx.into_iter().zip(shared_segment(&self.relay, joins)) {
            if let Err(e) = r {
                cutters[i] = Err(named(&self.targets[i], e));
            }
        }
        if let Some(m) = &self.master_binlogs {
            let mut idx = Vec::new();
            let mut joins = Vec::new();
            for (i, (c, t)) in cutters.iter_mut().zip(&self.targets).enumerate() {
                if let Ok(c) = c.as_mut() {
                    // Continue from where the relay part ended (or where the replica is, if further).
                    let from = if t.state.exec > self.relay_end { &t.state.exec } else { &self.relay_end };
                    joins.push(Join { cutter: c, start: Start::Binlog(from.clone()) });
                    idx.push(i);
                }
            }
            for (i, r) in idx.into_iter().zip(shared_segment(m, joins)) {
                if let Err(e) = r {
                    cutters[i] = Err(named(&self.targets[i], e));
                }
            }
        }
        // One thread per file: the fsyncs wait on the device, not the CPU.
        std::thread::scope(|s| {
            let hs: Vec<_> = cutters.into_iter().map(|c| s.spawn(move || c?.finish())).collect();
            hs.into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err(Error::invalid("diff writer thread panicked"))))
                .collect()
        })
    }

    /// Writes every replica's diff into `dir` as `<name>.diff.binlog`, in one shared pass.
    ///
    /// # Errors
    /// The first replica whose diff could not be written (the others are still written).
    pub fn write(&mut self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let files: Vec<PathBuf> =
            self.targets.iter().map(|t| dir.join(format!("{}.diff.binlog", sanitize(&t.state.name)))).collect();
        let cutters = files.iter().map(|f| Cutter::create(f, self.opts)).collect();
        let results = self.cut_all(cutters);
        let mut first_err = None;
        for ((t, f), r) in self.targets.iter_mut().zip(files).zip(results) {
            match r {
                Ok(rep) => {
                    t.file = Some(f);
                    t.diff = rep;
                }
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Human-readable plan.
    pub fn to_text(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let l = &self.targets[self.latest].state;
        let _ = writeln!(s, "latest replica: {} (read {}, executed {})", l.name, l.read, l.exec);
        let _ = writeln!(s, "relay logs end on a transaction boundary at master {}", self.relay_end);
        if let Some(p) = &self.relay_partial {
            let _ = writeln!(
                s,
                "  partial transaction left out of relay diffs: {} @ {} ({} bytes)",
                p.file, p.offset, p.bytes
            );
        }
        match &self.master_tail {
            Some(t) => {
                let _ = writeln!(
                    s,
                    "dead master adds: {} transactions, {} bytes after {}{}",
                    t.transactions,
                    t.written.bytes.saturating_sub(4),
                    self.relay_end,
                    t.left_out
                        .as_ref()
                        .map(|p| format!(
                            " (partial transaction left out: {} @ {}, {} bytes)",
                            p.file, p.offset, p.bytes
                        ))
                        .unwrap_or_default()
                );
            }
            None => s.push_str("dead master binlogs: not given (its unreplicated tail, if any, is not included)\n"),
        }
        for t in &self.targets {
            let _ = writeln!(s, "replica {}: read {}, executed {}", t.state.name, t.state.read, t.state.exec);
            match &t.relay_start {
                Some(r) => {
                    let _ = writeln!(
                        s,
                        "  missing: master {} .. {}; relay on {}: {} .. end ({})",
                        t.state.exec,
                        t.diff.master_end.as_ref().map(|m| m.to_string()).unwrap_or_else(|| "-".into()),
                        l.name,
                        r,
                        match (&t.by_gtid, t.fast_path) {
                            (Some(g), _) => format!("by GTID: {g}"),
                            (None, true) => "fast path, verified".into(),
                            (None, false) => "scan".into(),
                        }
                    );
                }
                None => {
                    let _ = writeln!(s, "  has every transaction the relay logs hold");
                }
            }
            if let Some(n) = &t.gtid_note {
                let _ = writeln!(s, "  note: {n}");
            }
            let _ = writeln!(
                s,
                "  diff: {} transactions, {} events, {} bytes{}",
                t.diff.transactions,
                t.diff.written.events,
                t.diff.written.bytes,
                t.file.as_ref().map(|f| format!(" -> {}", f.display())).unwrap_or_default()
            );
        }
        s
    }

    /// The plan as JSON (`diff --json`): [`super::PlanDoc`].
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(super::PlanDoc::from(self)).unwrap_or_default()
    }
}

fn sanitize(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' { c } else { '_' }).collect()
}

/// One replica's place in the plan: where its diff starts in the latest
/// replica's relay logs (by master position, else by GTID), or nothing to
/// cut when it executed up to `relay_end`.
fn target_plan(
    relay: &LogSet,
    relay_end: &MasterPos,
    latest_read: &MasterPos,
    st: &ReplicaState,
    map_opts: &MapOptions,
) -> Result<TargetPlan> {
    let executed = st.gtid_executed.as_deref().map(Executed::parse).transpose()?;
    let mut by_gtid = None;
    let mut gtid_note = None;
    let (relay_start, fast) = if st.exec >= *relay_end {
        (None, false)
    } else {
        match (find_start(relay, &st.exec, Some(latest_read), map_opts), &executed) {
            (Ok(Mapping::Found { start, fast }), ex) => {
                // A check: the first transaction there is one it lacks.
                if let Some(ex) = ex {
                    if let Some((g, true)) = gtid_at(relay, &start, ex, map_opts)? {
                        gtid_note = Some(format!(
                            "its master position says {start} ({g}), but its GTID state already holds {g}"
                        ));
                    }
                }
                (Some(start), fast)
            }
            (Ok(Mapping::AlreadyComplete), _) => (None, false),
            // Master coordinates give no answer (relay logs that
            // restart after a GTID reconnect, another master's
            // coordinates): by GTID, when the replica has them.
            (Err(e), Some(ex)) => match gtid_start(relay, ex, map_opts) {
                Ok(GtidStart::Found(start, g)) => {
                    gtid_note = Some(format!("master position {}: {e}; found by GTID: {g} at {start}", st.exec));
                    by_gtid = Some(g);
                    (Some(start), false)
                }
                Ok(GtidStart::AlreadyComplete) => (None, false),
                Err(e2) => {
                    // The last attempt's failure, its kind kept, after the first's.
                    return Err(e2.with_subject(format!("{}: {e}; by GTID", st.name)));
                }
            },
            (Err(e), None) => return Err(e.with_subject(&st.name)),
        }
    };
    let diff = DiffReport::default();
    Ok(TargetPlan { state: st.clone(), relay_start, fast_path: fast, by_gtid, gtid_note, diff, file: None })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::position::ReplicaState;

    fn state(name: &str, read: &str, exec: &str, gtid: Option<&str>) -> ReplicaState {
        let (rf, rp) = read.split_once(':').unwrap();
        let (ef, ep) = exec.split_once(':').unwrap();
        let mut v = serde_json::json!({
            "name": name, "master_log_file": rf, "read_master_log_pos": rp.parse::<u64>().unwrap(),
            "relay_master_log_file": ef, "exec_master_log_pos": ep.parse::<u64>().unwrap(),
            "gtid_executed": gtid,
        });
        if name == "latest" {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/mariadb/row-crc32/replica");
            v["relay_dir"] = serde_json::json!(dir.display().to_string());
            v["server_id"] = serde_json::json!(2);
        }
        ReplicaState::from_json(&v).unwrap()
    }

    fn plan(targets: Vec<ReplicaState>) -> Result<Plan> {
        let mut replicas = vec![state("latest", "mysql-bin.000002:1369", "mysql-bin.000002:1369", Some("0-1-13"))];
        replicas.extend(targets);
        Plan::make(PlanInput { replicas, master_binlogs: None, opts: CutOptions::default(), count: true })
    }

    /// Master coordinates first; by GTID when they give no answer; a
    /// disagreement between the two is said.
    #[test]
    fn starts_by_position_then_by_gtid() {
        // Positions and GTIDs agree: no note.
        let p = plan(vec![state("a", "mysql-bin.000002:1062", "mysql-bin.000002:1062", Some("0-1-12"))]).unwrap();
        let t = &p.targets[1];
        assert_eq!(t.relay_start.as_ref().unwrap().to_string(), "relay-bin.000004:1361");
        assert!(t.by_gtid.is_none() && t.gtid_note.is_none(), "{t:?}");
        assert_eq!(t.diff.transactions, 1);

        // No event ends at 1063 (not a boundary in any coordinate): by GTID.
        let p = plan(vec![state("b", "mysql-bin.000002:1063", "mysql-bin.000002:1063", Some("0-1-12"))]).unwrap();
        let t = &p.targets[1];
        assert_eq!(t.relay_start.as_ref().unwrap().to_string(), "relay-bin.000004:1361");
        assert_eq!(t.by_gtid.as_deref(), Some("0-1-13"));
        assert!(t.gtid_note.as_ref().unwrap().contains("found by GTID: 0-1-13"), "{t:?}");
        assert!(p.to_text().contains("by GTID: 0-1-13"), "{}", p.to_text());
        assert_eq!(p.to_json()["replicas"][1]["by_gtid"], "0-1-13");

        // Without GTIDs it is the positional error, named.
        let e = plan(vec![state("c", "mysql-bin.000002:1063", "mysql-bin.000002:1063", None)]).unwrap_err();
        assert!(e.to_string().starts_with("c: relay position not found"), "{e}");
        assert!(matches!(e.kind(), crate::error::ErrorKind::BadInput { .. }), "the replica named, the kind kept: {e}");

        // The position says 0-1-12 is missing, the GTID state holds it: said.
        let p = plan(vec![state("d", "mysql-bin.000002:427", "mysql-bin.000002:385", Some("0-1-12"))]).unwrap();
        let note = p.targets[1].gtid_note.clone().unwrap_or_default();
        assert!(note.contains("already holds 0-1-12"), "{:?}", p.targets[1]);
    }
}
