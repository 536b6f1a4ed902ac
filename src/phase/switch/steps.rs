//! The switch's phases 2 to 5: writes rejected on the old master, the new
//! master caught up and writable, the others following it, the old master
//! never committing again. Before the new master takes writes, any failure
//! rolls back.

use std::time::Instant;

use super::check::Checked;
use super::{Node, SwitchDoc, SwitchOptions, Switched, hook};
use crate::error::{Error, Result};
use crate::phase::{label, say, spec};
use crate::server::Server;
use crate::server::status::{Dialect, GtidMode, SourceAddr, wait_for};

/// The old master under the write lock: the lock's own connection, and
/// what to restore on a rollback.
pub(super) struct Locked {
    lock: Server,
    was_read_only: bool,
    /// Its final coordinates.
    pub file: String,
    pub pos: u64,
    /// When writes began to be rejected (the stop hook).
    pub since: Instant,
}

/// Phase 2: `master_ip_online_change_script --command=stop`, then the
/// write lock and `read_only=1` on the old master, and its final coordinates.
pub(super) fn reject_updates(o: &SwitchOptions, c: &mut Checked, doc: &mut SwitchDoc) -> Result<Locked> {
    say("* Phase 2: Rejecting updates Phase..");
    let (orig, new) = (c.orig().clone(), c.new_master().clone());
    let since = Instant::now();
    hook(&new.master_ip_online_change_script, "stop", &orig, &new, o)?;
    let was_read_only = c.nodes[c.oi].srv.read_only().unwrap_or(false);
    let lock = Server::connect(&spec(&orig))?.named(&orig.name);
    let mut l = Locked { lock, was_read_only, file: String::new(), pos: 0, since };
    let coords = l.lock.lock_writes(o.wait_timeout).and_then(|()| {
        l.lock.binlog_coords()?.ok_or_else(|| Error::server(label(&orig), "the master's binary logging is off"))
    });
    match coords {
        Ok((file, pos)) => {
            say(&format!("  {} locked and read-only at {file}:{pos}", label(&orig)));
            doc.orig_master_final = Some(format!("{file}:{pos}"));
            (l.file, l.pos) = (file, pos);
            Ok(l)
        }
        Err(e) => Err(rollback(&mut l, c, e)),
    }
}

/// Undoes phase 2 (and the new master's stop) before the new master took
/// writes: the old master takes writes again, nothing is re-pointed.
pub(super) fn rollback(l: &mut Locked, c: &mut Checked, e: Error) -> Error {
    let _ = l.lock.unlock_tables();
    if !l.was_read_only {
        let _ = l.lock.set_read_only(false);
    }
    let _ = c.nodes[c.ni].srv.start_replica();
    say(&format!("  Rolled back: {} takes writes again, nothing re-pointed.", label(c.orig())));
    e
}

/// Phase 3: the new master executes up to the old master's final
/// coordinates, stops replicating, gets `--command=start` and takes writes.
/// Returns its coordinates then.
pub(super) fn promote(
    o: &SwitchOptions,
    c: &mut Checked,
    l: &mut Locked,
    doc: &mut SwitchDoc,
) -> Result<(String, u64)> {
    say("* Phase 3: New master Phase..");
    let (orig, new) = (c.orig().clone(), c.new_master().clone());
    let r = (|| -> Result<(String, u64)> {
        let n = &mut c.nodes[c.ni].srv;
        n.pos_wait(&l.file, l.pos, o.wait_timeout)?;
        n.stop_replica()?;
        let coords = n.binlog_coords()?.ok_or_else(|| Error::server(label(&new), "binary logging is off"))?;
        hook(&new.master_ip_online_change_script, "start", &orig, &new, o)?;
        c.nodes[c.ni].srv.set_read_only(false)?;
        Ok(coords)
    })();
    let (nfile, npos) = r.map_err(|e| rollback(l, c, e))?;
    let blocked = l.since.elapsed().as_secs_f64();
    say(&format!("  {} takes writes at {nfile}:{npos} (writes were rejected for {blocked:.3}s)", label(&new)));
    doc.writes_rejected_seconds = Some(blocked);
    Ok((nfile, npos))
}

/// Where the others start on the new master, and how long they may wait.
pub(super) struct Follow<'a> {
    pub o: &'a SwitchOptions,
    pub new: &'a crate::phase::ServerConf,
    pub mode: GtidMode,
    /// The old master's final coordinates (what to have executed first).
    pub old_end: (&'a str, u64),
    /// The new master's coordinates when it took writes.
    pub start: (&'a str, u64),
}

impl Follow<'_> {
    /// `n` (after executing up to the old master's end, if `wait_first`)
    /// replicates from the new master in the topology's mode, both threads running.
    pub fn follow(&self, n: &mut Node, wait_first: bool) -> Result<()> {
        let who = label(&n.conf);
        if wait_first {
            n.srv.pos_wait(self.old_end.0, self.old_end.1, self.o.wait_timeout)?;
        }
        n.srv.stop_replica()?;
        let to = SourceAddr {
            host: self.new.ip.clone(),
            port: self.new.port,
            user: n.conf.repl_user.clone(),
            password: self.new.repl_password.clone().or_else(|| n.conf.repl_password.clone()),
        };
        match self.mode {
            GtidMode::Off => n.srv.change_source_to_pos(&to, self.start.0, self.start.1)?,
            m => n.srv.change_source_to_gtid(&to, m)?,
        }
        n.srv.start_replica()?;
        let srv = &mut n.srv;
        wait_for(self.o.wait_timeout, &format!("{who} replicating from {}", label(self.new)), || {
            let st = srv.replica_status()?.unwrap_or_default();
            if let Some(e) = st.io_error().or_else(|| st.sql_error()) {
                return Err(Error::server(&who, e));
            }
            Ok((st.io_running() && st.sql_running()).then_some(()))
        })
    }
}

/// Phase 4: every other replica follows the new master, in parallel.
/// Returns the labels of those that failed.
pub(super) fn others(c: &mut Checked, f: &Follow<'_>, doc: &mut SwitchDoc) -> Vec<String> {
    say("* Phase 4: Switching the others Phase..");
    let (oi, ni) = (c.oi, c.ni);
    let results: Vec<(String, std::result::Result<(), String>)> = std::thread::scope(|sc| {
        let hs: Vec<_> = c
            .nodes
            .iter_mut()
            .enumerate()
            .filter(|(i, _)| *i != ni && *i != oi)
            .map(|(_, n)| sc.spawn(move || (label(&n.conf), f.follow(n, true).map_err(|e| e.to_string()))))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap_or_else(|_| (String::new(), Err("panicked".into())))).collect()
    });
    let mut failed = Vec::new();
    for (who, r) in &results {
        match r {
            Ok(()) => say(&format!("  {who}: replicating from {}", label(f.new))),
            Err(e) => {
                say(&format!("  {who}: FAILED: {e}"));
                failed.push(who.clone());
            }
        }
    }
    doc.switched = results
        .iter()
        .map(|(w, r)| Switched { replica: w.clone(), ok: r.is_ok(), error: r.as_ref().err().cloned() })
        .collect();
    failed
}

/// Phase 5: `RESET SLAVE ALL` on the new master; the old master's sessions
/// that could still commit there ended, its lock released (it stays
/// read-only); with `--orig-master-is-new-slave` it follows the new master.
pub(super) fn cleanup(o: &SwitchOptions, c: &mut Checked, l: &mut Locked, f: &Follow<'_>) -> Result<Vec<String>> {
    say("* Phase 5: New master cleanup phase..");
    c.nodes[c.ni].srv.reset_replica_all()?;
    let orig = c.orig().clone();
    // The old master never commits again: a session that holds a transaction
    // or waits on our lock would commit there the moment the lock goes (a
    // client that passes read_only), a write the new master never gets.
    let ours = [l.lock.conn().connection_id(), c.nodes[c.oi].srv.conn().connection_id()];
    for (id, user, state) in l.lock.end_sessions_that_could_commit(&ours)? {
        let state = if state.is_empty() { "an open transaction".to_string() } else { state };
        say(&format!("  {}: ended session {id} of {user} ({state}): it could have committed there", label(&orig)));
    }
    l.lock.unlock_tables()?;
    let mut failed = Vec::new();
    if o.orig_master_is_new_slave {
        let n = &mut c.nodes[c.oi];
        // A master's own writes are in its binlog, not in its slave position:
        // as a replica it starts from what it holds (MariaDB's way of making
        // a master a slave), so nothing comes back to it twice.
        let from_binlog = match (c.mode, n.srv.dialect()?) {
            (GtidMode::SlavePos | GtidMode::CurrentPos, Dialect::MariaDb) => {
                n.srv.gtid_binlog_pos().and_then(|p| n.srv.set_gtid_slave_pos(&p))
            }
            _ => Ok(()),
        };
        match from_binlog.and_then(|()| f.follow(n, false)) {
            Ok(()) => say(&format!("  {}: the old master replicates from {}", label(&orig), label(f.new))),
            Err(e) => {
                say(&format!("  {}: FAILED to follow the new master: {e}", label(&orig)));
                failed.push(label(&orig));
            }
        }
    }
    Ok(failed)
}
