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

/// Phase 2: `master_ip_online_change_script --command=stop`; the new
/// master's lag once more (the lock never waits on a replica known to be
/// behind); with `--kill-open-transactions` the master's open transactions
/// ended; then the write lock and `read_only=1` on the old master, and its
/// final coordinates.
pub(super) fn reject_updates(o: &SwitchOptions, c: &mut Checked, doc: &mut SwitchDoc) -> Result<Locked> {
    say("* Phase 2: Rejecting updates Phase..");
    let (orig, new) = (c.orig().clone(), c.new_master().clone());
    let since = Instant::now();
    hook(&new.master_ip_online_change_script, "stop", &orig, &new, o)?;
    let st = c.nodes[c.ni].srv.replica_status()?.unwrap_or_default();
    if let Some(why) = st.behind(o.running_updates_limit.as_secs()) {
        return Err(Error::refused(format!(
            "{} is now {why}: the writes would stay blocked while it caught up, so no lock was taken and nothing \
             was changed (the stop hook ran: undo it if it stopped your traffic). Run the switch again once it has \
             caught up, or choose another with --new-master",
            label(&new)
        )));
    }
    if o.kill_open_transactions {
        let m = &mut c.nodes[c.oi].srv;
        for t in m.open_transactions(o.running_updates_limit.as_secs())? {
            if m.kill_connection(t.thread)? {
                say(&format!("  {}: ended {t} (--kill-open-transactions): its work rolled back", label(&orig)));
                doc.open_transactions_ended.push(t.to_string());
            }
        }
    }
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

/// Phase 5: `RESET SLAVE ALL` on the new master; every client session on
/// the old master ended (under the lock, and once more after it), its lock
/// released (it stays read-only); with `--orig-master-is-new-slave` it
/// follows the new master.
pub(super) fn cleanup(
    o: &SwitchOptions,
    c: &mut Checked,
    l: &mut Locked,
    f: &Follow<'_>,
    doc: &mut SwitchDoc,
) -> Result<Vec<String>> {
    say("* Phase 5: New master cleanup phase..");
    c.nodes[c.ni].srv.reset_replica_all()?;
    let orig = c.orig().clone();
    // The old master never commits again: a session that outlived the
    // switch (idle, in a transaction, or queued on our lock) from a client
    // that read_only does not stop would write there, a write the new master
    // never gets. Ended, its client reconnects where the hook points now.
    let ours = [l.lock.conn().connection_id(), c.nodes[c.oi].srv.conn().connection_id()];
    let (mut ended, mut left) = end_client_sessions(&mut l.lock, &ours, &orig);
    l.lock.unlock_tables()?;
    let (more, more_left) = end_client_sessions(&mut l.lock, &ours, &orig);
    ended.extend(more);
    left.extend(more_left);
    say(&format!(
        "  {}: ended {} client session(s) that outlived the switch{}",
        label(&orig),
        ended.len(),
        if ended.is_empty() { String::new() } else { format!(": {}", ended.join(", ")) }
    ));
    let mut failed = Vec::new();
    if !left.is_empty() {
        say(&format!(
            "  {}: FAILED to end {}: a client that read_only does not stop could still write there; end them by \
             hand (KILL CONNECTION; the user in app.cnf needs CONNECTION ADMIN or SUPER)",
            label(&orig),
            left.join(", ")
        ));
        failed.push(format!("{} (sessions not ended)", label(&orig)));
    }
    doc.sessions_ended = ended;
    doc.sessions_not_ended = left;
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

/// Ends every client session on `srv` (the old master) but `ours` and the
/// replication user's (a replica's threads). Returns `#id user@host
/// (command, state)` of each one ended, and of each one that could not be
/// (with why); the switch is done by now, so a failure is reported, not
/// returned.
fn end_client_sessions(srv: &mut Server, ours: &[u32], orig: &crate::phase::ServerConf) -> (Vec<String>, Vec<String>) {
    let (mut ended, mut left) = (Vec::new(), Vec::new());
    let sessions = match srv.client_sessions(ours) {
        Ok(s) => s,
        Err(e) => return (ended, vec![format!("its sessions (not listed: {e})")]),
    };
    for s in sessions.into_iter().filter(|s| s.user != orig.repl_user) {
        let what = [s.command.as_str(), s.state.as_str()].iter().filter(|x| !x.is_empty()).copied().collect::<Vec<_>>();
        let who = format!("#{} {}@{} ({})", s.id, s.user, s.host, what.join(", "));
        match srv.kill_connection(s.id) {
            Ok(true) => ended.push(who),
            Ok(false) => {}
            Err(e) => left.push(format!("{who}: {e}")),
        }
    }
    (ended, left)
}
