//! Phase 4, its second half: the new master takes writes
//! (`master_ip_failover_script --command=start`, `read_only=0`), and every
//! other replica follows it in the topology's own mode, checked
//! replicating. Each step is in the in-progress record, so a resumed run
//! re-points only who is left, from where the new master took writes.

use super::report::{Phase, StepDoc};

use super::apply::ApplyResults;
use super::check::Checked;
use super::hooks::{self, HookExit};
use super::record::{self, ReplicaStep};
use super::recover::Recovered;
use super::{Replica, Run, ServerConf, label};
use crate::error::{Error, Result};
use crate::server::status::{GtidMode, SourceAddr, wait_for};

/// The new master, and where it took writes.
pub(super) struct NewMasterAt {
    /// Its index in `Checked::alive`.
    pub idx: usize,
    /// Its binlog coordinates then, and what it held by GTID (GTID
    /// topologies: its `gtid_slave_pos` from now on), as the record keeps them.
    pub at: record::Promoted,
}

impl Run<'_> {
    /// The new master takes writes.
    pub(super) fn promote(&mut self, c: &mut Checked, r: &Recovered, a: &ApplyResults) -> Result<NewMasterAt> {
        let new_master = c.alive[r.new_idx].conf.clone();
        if let Err(e) = &a.results[r.new_idx] {
            return Err(Error::server(
                label(&new_master),
                format!(
                    "the new master could not be recovered ({e}); the other replicas applied their diffs but were \
                     not re-pointed: fix it and resume, or pick another with --new-master"
                ),
            ));
        }
        let (file, pos) = {
            let n = &mut c.alive[r.new_idx];
            n.srv.binlog_coords()?.ok_or_else(|| Error::server(label(&new_master), "binary logging is off"))?
        };
        self.say(&format!("  New master {} at {file}:{pos}", label(&new_master)));
        if let Some(n) = self.doc.new_master.as_mut() {
            n.binlog = Some(format!("{file}:{pos}"));
        }
        if let Some(script) = &new_master.master_ip_failover_script {
            let args = hooks::ip_start_args(&c.dead, &new_master, c.dead_ssh);
            self.say(&format!("  Executing master IP activate script: {}", hooks::shown(script, &args)));
            let what = format!(
                "master_ip_failover_script --command=start ({} has every transaction but takes no writes; the \
                 others were not re-pointed)",
                label(&new_master)
            );
            match hooks::run_as(&what, script, &args, self.o.hook_timeout)? {
                HookExit::Ten => self.say("  It exited 10: proceeding (as MHA)."),
                _ => self.say("  OK."),
            }
        }
        c.alive[r.new_idx].srv.set_read_only(false)?;
        let gtid = match &r.slave_pos_before[r.new_idx] {
            Some(b) => Some(gtid_start(b, &a.gtids[r.new_idx])?),
            None => None,
        };
        let (f, g, name) = (file.clone(), gtid.clone(), new_master.name.clone());
        self.note(|rec| {
            rec.promoted = Some(record::Promoted { file: f, pos, gtid: g });
            rec.replicas.insert(name, ReplicaStep::Repointed);
        })?;
        Ok(NewMasterAt { idx: r.new_idx, at: record::Promoted { file, pos, gtid } })
    }

    /// Every other replica follows the new master. Each one's GTID start
    /// (GTID topologies) is what its SQL thread had applied plus what we
    /// applied: every survivor now holds the same transactions.
    pub(super) fn repoint(&mut self, c: &mut Checked, r: &Recovered, a: ApplyResults, p: &NewMasterAt) -> Result<()> {
        let mut starts: Vec<Option<String>> = Vec::new();
        for ((before, gtids), x) in r.slave_pos_before.iter().zip(&a.gtids).zip(&c.alive) {
            starts.push(match before {
                Some(b) => Some(gtid_start(b, gtids).map_err(|e| Error::server(label(&x.conf), e.to_string()))?),
                None => None,
            });
        }
        let results = a.results.into_iter().map(|res| res.map(Some)).collect();
        self.follow_new_master(c, p, results, starts, &r.cannot)?;
        self.phase_done(Phase::ApplyAndRepoint, a.started);
        Ok(())
    }

    /// After a resumed run found the new master already taking writes: the
    /// replicas the earlier run applied but did not re-point follow it from
    /// where it took writes; those it did not apply are left, reported.
    pub(super) fn repoint_resumed(&mut self, c: &mut Checked, promoted: &record::Promoted) -> Result<NewMasterAt> {
        let t = std::time::Instant::now();
        self.say("* Phase 4: Re-pointing what the earlier run left..");
        let rec = c.resumed.clone().unwrap_or_else(|| record::Record::new(&c.dead.name, &c.workdir, &c.run_dir));
        let new_name = rec.new_master.clone().unwrap_or_default();
        let idx = c
            .alive
            .iter()
            .position(|x| x.conf.name == new_name)
            .ok_or_else(|| Error::server(&new_name, "the earlier run's new master does not answer"))?;
        // Every survivor holds what the new master held when it took writes.
        let at = promoted.gtid.clone();
        let p = NewMasterAt { idx, at: promoted.clone() };
        let mut results = Vec::new();
        let mut starts = Vec::new();
        for x in &c.alive {
            results.push(match rec.step(&x.conf.name) {
                ReplicaStep::Applied | ReplicaStep::Repointed => Ok(None),
                ReplicaStep::Pending => Err(format!(
                    "its diffs were not applied before {new_name} took writes: recover it by hand (its diffs and \
                     apply state are in {})",
                    c.workdir.display()
                )),
            });
            starts.push(at.clone());
        }
        let cannot = vec![None; c.alive.len()];
        self.follow_new_master(c, &p, results, starts, &cannot)?;
        self.phase_done(Phase::ApplyAndRepoint, t);
        Ok(p)
    }

    /// Re-points every replica but the new master, in parallel, and reports each.
    fn follow_new_master(
        &mut self,
        c: &mut Checked,
        p: &NewMasterAt,
        results: Vec<std::result::Result<Option<String>, String>>,
        starts: Vec<Option<String>>,
        cannot: &[Option<String>],
    ) -> Result<()> {
        let new_master = c.alive[p.idx].conf.clone();
        let (mode, wait) = (c.mode, self.o.wait_timeout);
        let repointed: Vec<std::result::Result<String, String>> = std::thread::scope(|sc| {
            let hs: Vec<_> = c
                .alive
                .iter_mut()
                .zip(results)
                .zip(starts)
                .enumerate()
                .filter(|(i, _)| *i != p.idx)
                .map(|(i, ((x, res), start))| {
                    let lost = cannot[i].clone();
                    let nm = &new_master;
                    sc.spawn(move || {
                        let applied = res?;
                        let applied = applied.map(|a| format!("{a}; ")).unwrap_or_default();
                        if let Some(w) = lost {
                            return Err(format!("{applied}lost: it cannot follow the new master ({w}), left as it is"));
                        }
                        follow(x, nm, mode, (&p.at.file, p.at.pos), start.as_deref(), wait)
                            .map(|how| format!("{applied}replicating from {} {how}", label(nm)))
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("panicked".into()))).collect()
        });
        let others: Vec<ServerConf> =
            c.alive.iter().enumerate().filter(|(i, _)| *i != p.idx).map(|(_, x)| x.conf.clone()).collect();
        let mut new_slaves = Vec::new();
        for (s, res) in others.iter().zip(repointed) {
            match &res {
                Ok(m) => {
                    self.say(&format!("  {}: {m}", label(s)));
                    new_slaves.push(s.hostname.clone());
                    let n = s.name.clone();
                    self.note(|rec| {
                        rec.replicas.insert(n, ReplicaStep::Repointed);
                    })?;
                }
                Err(m) => self.say(&format!("  {}: FAILED: {m}", label(s))),
            }
            let res =
                if s.ignore_fail { res.or_else(|e| Ok(format!("failed, ignored (ignore_fail): {e}"))) } else { res };
            self.report.replicas.push((s.name.clone(), res));
        }
        self.doc.new_slaves = new_slaves.clone();
        self.new_slaves = new_slaves;
        self.doc.repointed = self
            .report
            .replicas
            .iter()
            .map(|(n, r)| StepDoc {
                replica: n.clone(),
                files: None,
                ok: r.is_ok(),
                result: match r {
                    Ok(m) | Err(m) => m.clone(),
                },
            })
            .collect();
        Ok(())
    }
}

/// `before` (a `gtid_slave_pos`) plus the GTIDs applied since: the
/// position, per domain, a replica starts from.
pub(super) fn gtid_start(before: &str, applied: &[String]) -> Result<String> {
    let mut st = crate::position::MariaState::parse(before)?;
    for g in applied {
        st.add(g)?;
    }
    Ok(st.domain_position())
}

/// Points `x` at the new master in the topology's own mode and waits until
/// both its threads run. Returns how it was pointed.
fn follow(
    x: &mut Replica,
    new_master: &ServerConf,
    mode: GtidMode,
    (file, pos): (&str, u64),
    start: Option<&str>,
    wait: std::time::Duration,
) -> std::result::Result<String, String> {
    let to = SourceAddr {
        host: new_master.ip.clone(),
        port: new_master.port,
        user: x.conf.repl_user.clone(),
        password: new_master.repl_password.clone().or_else(|| x.conf.repl_password.clone()),
    };
    let srv = &mut x.srv;
    // In the topology's own mode: a GTID topology stays one.
    let how = match mode {
        GtidMode::Off => {
            srv.change_source_to_pos(&to, file, pos).map_err(|e| e.to_string())?;
            format!("at {file}:{pos}")
        }
        m => {
            if let Some(p) = start {
                srv.set_gtid_slave_pos(p).map_err(|e| e.to_string())?;
            }
            srv.change_source_to_gtid(&to, m).map_err(|e| e.to_string())?;
            let from = start.map(|p| format!(", gtid_slave_pos {p}")).unwrap_or_default();
            format!("in {} mode{from}", m.name())
        }
    };
    srv.start_replica().map_err(|e| e.to_string())?;
    wait_for(wait, "replication from the new master", || {
        let st = srv.replica_status()?.unwrap_or_default();
        if let Some(e) = st.io_error().or_else(|| st.sql_error()) {
            return Err(Error::server(srv.label(), e));
        }
        Ok((st.io_running() && st.sql_running()).then_some(()))
    })
    .map_err(|e| format!("replication did not start: {e}"))?;
    Ok(how)
}
