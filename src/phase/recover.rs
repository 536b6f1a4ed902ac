//! Phase 3, master recovery: every SQL thread settles, the latest replica,
//! every replica's diff cut in one shared pass on the latest replica's host,
//! the dead master's tail from where the relay logs end, what cannot be
//! recovered, and the new master by the promotion rules.

use std::path::PathBuf;
use std::time::Instant;

use super::report::{DiffEntry, NewMaster, Phase, ReplicaDoc, TailDoc};

use super::check::Checked;
use super::tail::Saved;
use super::{Run, label, promote, secs};
use crate::diff::PlanDoc;
use crate::diff::tail::TailStart;
use crate::error::{Error, Result};
use crate::node::{CutRequest, Node};
use crate::position::{ReplicaState, latest};
use crate::remote::Host;
use crate::server::status::{Dialect, GtidMode, wait_for};

/// What phase 3 found.
pub(super) struct Recovered {
    /// Each replica's state, in the order of `Checked::alive`.
    pub states: Vec<ReplicaState>,
    /// What each SQL thread applied, by GTID (GTID topologies).
    pub slave_pos_before: Vec<Option<String>>,
    /// The latest replica.
    pub latest: usize,
    /// Where the relay logs end on a transaction boundary (master coordinate).
    pub relay_end: String,
    /// Each replica's relay diff on the latest replica's host (none when it lacks nothing).
    pub cut_files: Vec<Option<PathBuf>>,
    /// Each replica's relay diff size.
    pub relay_bytes: Vec<u64>,
    /// The dead master's tail here, and what the save said.
    pub tail: Option<(PathBuf, String)>,
    /// The new master.
    pub new_idx: usize,
    /// Per replica, why it cannot follow the new master.
    pub cannot: Vec<Option<String>>,
}

impl Run<'_> {
    /// Phase 3. `None`: a dry run, which ends here with the plan.
    pub(super) fn recover(&mut self, c: &mut Checked) -> Result<Option<Recovered>> {
        let o = self.o;
        let t = Instant::now();
        self.say("* Phase 3: Master Recovery Phase..");
        self.note(|r| r.phase = "master recovery".into())?;
        let mut states: Vec<ReplicaState> = Vec::new();
        let mut slave_pos_before: Vec<Option<String>> = Vec::new();
        let mut own_states: Vec<Option<crate::position::OwnState>> = Vec::new();
        let mut promotion_sql = Vec::new();
        for r in &mut c.alive {
            promotion_sql.push(r.srv.promotion_facts()?);
            let who = label(&r.conf);
            if !o.dry_run {
                let srv = &mut r.srv;
                wait_for(o.wait_timeout, &format!("{who}: the SQL thread applying what it read"), || {
                    let st = srv.replica_status()?.ok_or_else(|| Error::server(&who, "no longer a replica"))?;
                    if let Some(e) = st.sql_error() {
                        return Err(Error::server(&who, format!("SQL thread error {e}")));
                    }
                    Ok((!st.sql_running() || st.sql_settled()).then_some(()))
                })?;
                r.srv.stop_replica()?;
            }
            // What its SQL thread applied, by GTID: re-pointing in GTID mode starts from it.
            slave_pos_before.push(match c.mode {
                GtidMode::SlavePos | GtidMode::CurrentPos => Some(r.srv.gtid_slave_pos()?),
                _ => None,
            });
            own_states.push(Some(own_state(&mut r.srv)?));
            let mut st = r.srv.replica_state()?;
            st.host = Some(r.conf.ip.clone());
            st.port = Some(r.conf.port);
            self.say(&format!("  {}: read {} executed {}", r.conf.name, st.read, st.exec));
            states.push(st);
        }
        // Errant transactions: never promoted, always reported.
        let errant = crate::position::errant(&own_states);
        self.report_replicas(c, &states, &errant);
        let li = latest(&states).ok_or_else(|| Error::refused("no replica state"))?;
        let lr = &c.alive[li];
        self.say(&format!("  Latest replica: {} (read {})", label(&lr.conf), states[li].read));
        if let Some(n) = crate::position::latest_note(&states) {
            self.say(&format!("    note: {n}"));
            self.doc.latest_note = Some(n);
        }
        let (plan, cut_files) = self.cut(c, &states, li)?;
        let relay_end = plan.relay_end.clone();
        let tail = self.tail_from(c, &relay_end, &plan)?;
        let relay_bytes = self.describe_diffs(c, &states, &plan, &cut_files, li, &relay_end);
        let (new_idx, cannot) = self.choose(c, promotion_sql, &errant, li)?;
        self.phase_done(Phase::MasterRecovery, t);
        if o.dry_run {
            super::run_folder::remove(c.opened_hosts(), &c.run_dir, false, o.step_timeout);
            self.say("Dry run: nothing changed.");
            self.report.new_master = Some(c.alive[new_idx].conf.name.clone());
            return Ok(None);
        }
        let new_name = c.alive[new_idx].conf.name.clone();
        self.note(|r| r.new_master = Some(new_name))?;
        Ok(Some(Recovered {
            states,
            slave_pos_before,
            latest: li,
            relay_end,
            cut_files,
            relay_bytes,
            tail,
            new_idx,
            cannot,
        }))
    }

    /// Every replica's positions and errant GTIDs in the report; the errant
    /// ones said.
    fn report_replicas(&mut self, c: &Checked, states: &[ReplicaState], errant: &[Vec<String>]) {
        self.doc.replicas = c
            .alive
            .iter()
            .zip(states)
            .zip(errant)
            .map(|((r, s), e)| ReplicaDoc {
                name: r.conf.name.clone(),
                host: r.conf.ip.clone(),
                port: r.conf.port,
                read: s.read.to_string(),
                exec: s.exec.to_string(),
                io_thread: r.status.get("Slave_IO_Running").to_string(),
                last_io_error: r.status.io_error(),
                errant_gtids: e.clone(),
            })
            .collect();
        for (r, e) in c.alive.iter().zip(errant) {
            if !e.is_empty() {
                self.say(&format!(
                    "  {}: errant transactions (its own writes, on no other replica; never promoted), up to {}",
                    label(&r.conf),
                    e.join(",")
                ));
            }
        }
    }

    /// The cut, on the latest replica's host: one shared pass for every
    /// replica. Its plan and each replica's diff file there.
    fn cut(&mut self, c: &Checked, states: &[ReplicaState], li: usize) -> Result<(PlanDoc, Vec<Option<PathBuf>>)> {
        let o = self.o;
        let lr = &c.alive[li];
        let lhost = lr.host.as_ref().map_err(|e| {
            Error::remote(
                label(&lr.conf),
                "open its host",
                format!("the latest replica's relay logs are out of reach: {e}"),
            )
        })?;
        let lbin = lr.bin.clone().ok_or_else(|| {
            Error::remote(
                label(&lr.conf),
                "run our binary",
                "the latest replica's host cannot run binlog-diff (see above)",
            )
        })?;
        let write = (!o.dry_run).then(|| run_folder(lhost, c, &lr.conf).join("diffs"));
        let req = CutRequest { replicas: states.iter().map(Into::into).collect(), write };
        let tc = Instant::now();
        let plan = Node { host: lhost, bin: &lbin, timeout: o.step_timeout }.cut(req)?;
        // Each replica's diff on the latest replica's host (none when it holds no transaction).
        let cut_files: Vec<Option<PathBuf>> = states
            .iter()
            .map(|st| {
                let t = plan.target(&st.name)?;
                (!o.dry_run && t.diff.transactions > 0).then(|| t.file.clone()).flatten()
            })
            .collect();
        self.say(&format!(
            "  Cut on {} in {:.2}s: the relay logs end on a transaction boundary at master {}",
            lhost.label(),
            secs(tc.elapsed()),
            plan.relay_end
        ));
        if let Some(p) = &plan.relay_partial {
            self.say(&format!(
                "  The latest replica holds a transaction only in part ({} @ {}, {} bytes): it must come from the dead master.",
                p.file, p.offset, p.bytes
            ));
        }
        Ok((plan, cut_files))
    }

    /// The dead master's tail from `relay_end`: phase 1's when it starts
    /// there, else saved again (its host still answering). What cannot be
    /// had is put in the report as unrecoverable.
    fn tail_from(&mut self, c: &mut Checked, relay_end: &str, plan: &PlanDoc) -> Result<Option<(PathBuf, String)>> {
        let o = self.o;
        let saved = self.tail_at(c, relay_end);
        let mut tail = None;
        let mut nothing_after = false;
        match saved {
            Some(Ok(sv)) => match sv.file {
                Some(f) => tail = Some((f, sv.line)),
                None => {
                    self.say("  The dead master has nothing after the latest replica.");
                    nothing_after = true;
                }
            },
            Some(Err(e)) if !o.accept_loss => {
                return Err(Error::refused(format!(
                    "the dead master's tail could not be saved again from {relay_end}: {e}; nothing was applied \
                     (--accept-loss to go on without it)"
                )));
            }
            Some(Err(e)) => self.say(&format!("  Could not save the dead master's tail: {e} (--accept-loss).")),
            None if o.dry_run && c.dead_ssh => {
                self.say(&format!("  Would save the dead master's binlogs from {relay_end} on its host."));
            }
            None => {}
        }
        if !o.dry_run && tail.is_none() && !nothing_after {
            let why = if c.dead_ssh { "could not be saved (--accept-loss)" } else { "its host is not reachable" };
            let m = format!(
                "whatever the dead master {} committed after {relay_end} ({why}): the survivors end where the latest replica's relay logs end",
                label(&c.dead)
            );
            self.say(&format!("  NOT RECOVERABLE: {m}"));
            self.report.unrecoverable.push(m);
            if let Some(p) = &plan.relay_partial {
                let m = format!(
                    "the transaction the latest replica read only in part ({} @ {}, {} bytes), after master {relay_end}",
                    p.file, p.offset, p.bytes
                );
                self.say(&format!("  NOT RECOVERABLE: {m}"));
                self.report.unrecoverable.push(m);
            }
        }
        self.doc.master_tail = tail.as_ref().map(|(f, saved)| TailDoc {
            file: f.clone(),
            from: relay_end.to_string(),
            saved: saved.clone(),
        });
        Ok(tail)
    }

    /// The tail from `relay_end`: phase 1's when it starts there, else saved
    /// again while the dead master's host still answers. `None`: not had.
    fn tail_at(&mut self, c: &mut Checked, relay_end: &str) -> Option<Result<Saved>> {
        let o = self.o;
        match (c.tail.take(), &c.dead_host, &c.dead_bin) {
            (Some(sv), _, _) if sv.from == relay_end => {
                if sv.file.is_some() {
                    self.say(&format!("  The tail saved in phase 1 starts there: {}", sv.line));
                }
                Some(Ok(sv))
            }
            (early, Ok(h), Some(b)) if c.dead_ssh && !o.dry_run => {
                if let Some(sv) = early {
                    self.say(&format!("  The tail was saved from {}; saving it again from {relay_end}.", sv.from));
                }
                let saver = c.saver(h, b, o.step_timeout);
                let r = saver.save(relay_end, TailStart::Exact);
                if let Ok(sv) = &r {
                    if sv.file.is_some() {
                        self.say(&format!(
                            "  Dead master's tail saved on {} in {:.2}s: {}",
                            h.label(),
                            sv.secs,
                            sv.line
                        ));
                    }
                }
                Some(r)
            }
            (Some(sv), _, _) if o.dry_run => Some(Ok(sv)),
            (Some(sv), _, _) => {
                self.say(&format!(
                    "  The tail was saved from {} but the relay logs end at {relay_end}, and the dead master's host \
                     can no longer be read.",
                    sv.from
                ));
                None
            }
            _ => None,
        }
    }

    /// Says each replica's diff; the report's `diffs`. Returns each relay diff's size.
    fn describe_diffs(
        &mut self,
        c: &Checked,
        states: &[ReplicaState],
        plan: &PlanDoc,
        cut_files: &[Option<PathBuf>],
        li: usize,
        relay_end: &str,
    ) -> Vec<u64> {
        let mut bytes = Vec::new();
        for (i, (r, st)) in c.alive.iter().zip(states).enumerate() {
            let t = plan.target(&st.name);
            let d = t.map(|t| t.diff.clone()).unwrap_or_default();
            let by_gtid = t.and_then(|t| t.by_gtid.clone());
            let gtid_note = t.and_then(|t| t.gtid_note.clone());
            self.say(&format!(
                "  {}: {} transactions, {} bytes from the relay logs ({} .. {}){}",
                r.conf.name,
                d.transactions,
                d.bytes,
                d.master_start.as_deref().unwrap_or("-"),
                d.master_end.as_deref().unwrap_or("-"),
                by_gtid.as_ref().map(|g| format!(", found by GTID from {g}")).unwrap_or_default()
            ));
            if let Some(n) = &gtid_note {
                self.say(&format!("    note: {n}"));
            }
            bytes.push(d.bytes);
            self.doc.diffs.push(DiffEntry {
                replica: r.conf.name.clone(),
                relay_diff: d,
                by_gtid,
                gtid_note,
                cut_on_latest: cut_files[i].clone(),
            });
        }
        self.doc.latest = Some(c.alive[li].conf.name.clone());
        self.doc.relay_end = Some(relay_end.to_string());
        bytes
    }

    /// The new master: hard rules, then preferences, then how many replicas
    /// each choice keeps, then the latest (promote.rs); a resumed run keeps
    /// the earlier run's choice.
    fn choose(
        &mut self,
        c: &Checked,
        promotion_sql: Vec<crate::server::PromotionFacts>,
        errant: &[Vec<String>],
        li: usize,
    ) -> Result<(usize, Vec<Option<String>>)> {
        let (o, conf) = (self.o, self.conf);
        let rules = promote::registered(&promote::rules_file(&conf.manager_workdir))?;
        let mut facts = Vec::new();
        for (i, (r, sql)) in c.alive.iter().zip(promotion_sql).enumerate() {
            let mut f = promote::Facts::of(&r.conf, sql, Some(&r.status), &rules);
            f.errant = errant[i].clone();
            f.latest = i == li;
            facts.push(f);
        }
        let ranked = promote::rank(&facts);
        self.say("  Candidates, best first:");
        for c in &ranked {
            self.say(&format!("    {}", c.describe(&facts)));
        }
        self.doc.candidates = ranked.iter().map(|c| c.doc(&facts)).collect();
        let earlier = c.resumed.as_ref().and_then(|r| r.new_master.clone());
        let requested_name = match (&o.new_master, &earlier) {
            (Some((h, p)), e) => {
                let s = conf.find(h, *p)?;
                if let Some(e) = e.as_ref().filter(|e| **e != s.name) {
                    return Err(Error::config(
                        Some("--new-master"),
                        format!("{} is not the earlier run's new master {e}: resume with that one", label(s)),
                    ));
                }
                Some(s.name.clone())
            }
            (None, e) => e.clone(),
        };
        let requested = match &requested_name {
            Some(n) => Some(
                c.alive
                    .iter()
                    .position(|r| r.conf.name == *n)
                    .ok_or_else(|| Error::config(Some("--new-master"), format!("{n} is not an alive replica")))?,
            ),
            None => None,
        };
        let new_idx = promote::choose(&ranked, &facts, requested)?;
        let why = match (&o.new_master, &earlier) {
            (Some(_), _) => "--new-master".to_string(),
            (None, Some(_)) => "the earlier run's choice".to_string(),
            (None, None) => format!("the best candidate: {}", ranked[0].describe(&facts)),
        };
        // Replicas that cannot follow it are left as they are, and said to be lost.
        let cannot: Vec<Option<String>> = facts.iter().map(|f| promote::cannot_follow(&facts[new_idx], f)).collect();
        let new_master = &c.alive[new_idx].conf;
        self.say(&format!("  New master: {} ({why})", label(new_master)));
        self.doc.new_master = Some(NewMaster {
            name: new_master.name.clone(),
            host: new_master.ip.clone(),
            port: new_master.port,
            why,
            binlog: None,
        });
        for (r, w) in c.alive.iter().zip(&cannot) {
            if let Some(w) = w.as_ref().filter(|_| r.conf.name != new_master.name) {
                self.say(&format!("  {} cannot follow it ({w}): it will be left as it is.", label(&r.conf)));
            }
        }
        Ok((new_idx, cannot))
    }
}

/// A server's GTID state with what marks its own writes (MariaDB
/// `gtid_binlog_state` and `server_id`, MySQL `gtid_executed` and
/// `server_uuid`), for [`crate::position::errant`].
///
/// # Errors
/// A query fails, or the server's answer is not a GTID state.
pub(super) fn own_state(srv: &mut crate::server::Server) -> Result<crate::position::OwnState> {
    Ok(if srv.dialect()? == Dialect::MariaDb {
        let (server_id, st) = srv.gtid_binlog_state()?;
        crate::position::OwnState::Maria { server_id, state: crate::position::MariaState::parse(&st)? }
    } else {
        let (uuid, g) = srv.mysql_gtid_executed()?;
        crate::position::OwnState::Mysql { uuid, executed: crate::position::GtidSet::parse(&g)? }
    })
}

/// The run's folder on `h` for server `s`: the workdir here, the run folder there.
pub(super) fn run_folder(h: &Host, c: &Checked, s: &super::ServerConf) -> PathBuf {
    match h {
        Host::Local => c.workdir.clone(),
        Host::Ssh(_) => s.remote_workdir.join(&c.run_dir),
    }
}
