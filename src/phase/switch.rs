//! `binlog-diff switch`: a planned master switch while the master is alive
//! (MHA's `masterha_master_switch --master_state=alive`).
//!
//! 1. **Checks.** The current master is the server the others replicate
//!    from; each replica runs both threads. The new master is `--new-master`
//!    or the best candidate by the promotion rules (`promote.rs`), and no
//!    hard rule may exclude it. Statements running on the master for
//!    `--running-updates-limit` seconds or more refuse the switch (MHA's
//!    running_updates_limit): the write lock would wait on them.
//! 2. **Rejecting updates.** `master_ip_online_change_script --command=stop`
//!    with MHA's arguments (0 or 10 go on), then on the master `FLUSH
//!    NO_WRITE_TO_BINLOG TABLES`, `FLUSH TABLES WITH READ LOCK` (bounded by
//!    `lock_wait_timeout`) and `read_only=1`; its final coordinates.
//! 3. **The new master** executes up to them (`MASTER_POS_WAIT`), stops
//!    replicating, gets `--command=start` and `read_only=0`.
//! 4. **The others** (and the old master with `--orig-master-is-new-slave`)
//!    wait for the same coordinates, then replicate from the new master in
//!    the topology's own mode, in parallel.
//! 5. `RESET SLAVE ALL` on the new master; the old master's lock released
//!    (it stays read-only).
//!
//! Any failure before the new master takes writes rolls back: the old
//! master's lock released and `read_only` as it was, the new master
//! replicating again, nothing re-pointed.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::config::{AppConf, ServerConf};
use super::hooks::{self, HookExit};
use super::{label, promote, say, spec, sql};
use crate::error::{Error, Result};
use crate::server::status::{
    Dialect, GtidMode, SourceAddr, binlog_coords, end_sessions_that_could_commit, gtid_binlog_pos, lock_writes,
    long_running, pos_wait, promotion_facts, replica_status, set_gtid_slave_pos, set_read_only, unlock_tables,
    wait_for,
};

/// What `switch` is asked to do.
#[derive(Clone, Debug)]
pub struct SwitchOptions {
    /// The new master (`host[:port]`); else the best candidate.
    pub new_master: Option<(String, Option<u16>)>,
    /// The old master replicates from the new one afterwards.
    pub orig_master_is_new_slave: bool,
    /// Refuse when a statement has run this long on the master.
    pub running_updates_limit: Duration,
    /// Bound for the write lock, each position wait and replication start.
    pub wait_timeout: Duration,
    /// Bound for each hook script ([`hooks::run`]).
    pub hook_timeout: Duration,
    /// Check and plan only.
    pub dry_run: bool,
    /// Write a JSON report here.
    pub json: Option<std::path::PathBuf>,
}

impl Default for SwitchOptions {
    fn default() -> Self {
        SwitchOptions {
            new_master: None,
            orig_master_is_new_slave: false,
            running_updates_limit: Duration::from_secs(1),
            wait_timeout: Duration::from_secs(60),
            hook_timeout: hooks::DEFAULT_TIMEOUT,
            dry_run: false,
            json: None,
        }
    }
}

/// The switch's JSON report (`--json FILE`).
#[derive(Debug, Default, Serialize)]
struct SwitchDoc {
    /// Every candidate, best first.
    candidates: Vec<promote::CandidateDoc>,
    /// The old master's section name.
    orig_master: Option<String>,
    /// The new master's section name.
    new_master: Option<String>,
    /// The old master's final coordinates, under the lock.
    orig_master_final: Option<String>,
    /// From the stop hook to the new master's `read_only=0`.
    writes_rejected_seconds: Option<f64>,
    /// Each other server's re-pointing.
    switched: Vec<Switched>,
    /// How it ended.
    result: Option<SwitchResult>,
}

/// One server's re-pointing.
#[derive(Debug, Serialize)]
struct Switched {
    replica: String,
    ok: bool,
    error: Option<String>,
}

/// How a switch ended: its final line, or why it stopped.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum SwitchResult {
    Done(String),
    Error { error: String },
}

struct Node {
    conf: ServerConf,
    conn: mysql::Conn,
    dialect: Dialect,
}

fn hook(script: &Option<String>, command: &str, orig: &ServerConf, new: &ServerConf, o: &SwitchOptions) -> Result<()> {
    let Some(script) = script else { return Ok(()) };
    let args = hooks::online_change_args(command, orig, new, o.orig_master_is_new_slave);
    say(&format!("  Executing master_ip_online_change_script: {}", hooks::shown(script, &args)));
    let what = format!("master_ip_online_change_script --command={command}");
    if hooks::run_as(&what, script, &args, o.hook_timeout)? == HookExit::Ten {
        say("  It exited 10: proceeding (as MHA).");
    }
    Ok(())
}

/// Switches the master of `conf`'s topology while it is alive.
///
/// # Errors
/// A check refuses the switch (nothing changed), or a step fails: before
/// the new master takes writes everything is rolled back; after, the error
/// says what was left.
pub fn switch(o: &SwitchOptions, conf: &AppConf) -> Result<String> {
    let mut doc = SwitchDoc::default();
    // One failover or switch of a cluster at a time; a monitor's failover waits its turn.
    let _lock = super::lock::ClusterLock::take(&conf.manager_workdir, "switch")?;
    let r = run(o, conf, &mut doc);
    doc.result = Some(match &r {
        Ok(line) => SwitchResult::Done(line.clone()),
        Err(e) => SwitchResult::Error { error: e.to_string() },
    });
    if let Some(p) = &o.json {
        let text = serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n";
        crate::log::write_atomically(p, text.as_bytes())?;
    }
    r
}

fn run(o: &SwitchOptions, conf: &AppConf, doc: &mut SwitchDoc) -> Result<String> {
    let t_all = Instant::now();
    say("* Phase 1: Configuration Check Phase..");
    if conf.servers.len() < 2 {
        return Err(Error::refused(format!(
            "{} names {} server(s): a switch needs a master and at least one replica",
            conf.path.display(),
            conf.servers.len()
        )));
    }
    let mut nodes = Vec::new();
    for s in &conf.servers {
        match spec(s).connect() {
            Ok(mut conn) => {
                let dialect = Dialect::of(&mut conn)?;
                nodes.push(Node { conf: s.clone(), conn, dialect });
            }
            Err(e) if s.ignore_fail => say(&format!("  {}: skipped (ignore_fail): {e}", label(s))),
            Err(e) => {
                return Err(Error::refused(format!(
                    "{}: {e}. Nothing was changed. A switch needs every server of {} to answer: start it, set \
                     ignore_fail=1 in its [{}] section, or remove it from the file (a dead master after a failover)",
                    label(s),
                    conf.path.display(),
                    s.name
                )));
            }
        }
    }
    if nodes.len() < 2 {
        return Err(Error::refused("fewer than two servers answer: nothing to switch"));
    }
    // The master: the server every other one replicates from (a server
    // with `ignore_fail` that does not, or whose threads do not run, is
    // left out as it is).
    let mut statuses = Vec::new();
    for n in &mut nodes {
        statuses.push(replica_status(&mut n.conn, n.dialect)?);
    }
    let follows = |st: &Option<crate::server::status::Status>, m: &ServerConf| {
        st.as_ref().is_some_and(|st| {
            let (h, p) = st.master();
            p == m.port && (h == m.ip || h == m.hostname) && st.io_running() && st.sql_running()
        })
    };
    let oi = (0..nodes.len())
        .find(|&i| {
            statuses[i].is_none()
                && (0..nodes.len())
                    .filter(|&j| j != i)
                    .all(|j| nodes[j].conf.ignore_fail || follows(&statuses[j], &nodes[i].conf))
        })
        .ok_or_else(|| {
            let each: Vec<String> = nodes
                .iter()
                .zip(&statuses)
                .map(|(n, st)| match st {
                    None => format!("{}: not a replica", label(&n.conf)),
                    Some(st) => format!(
                        "{}: replicates from {}:{} (IO thread {}, SQL thread {})",
                        label(&n.conf),
                        st.master().0,
                        st.master().1,
                        st.get("Slave_IO_Running"),
                        st.get("Slave_SQL_Running")
                    ),
                })
                .collect();
            Error::refused(format!(
                "no server is the master every other one replicates from, with both threads running ({}): \
                 switch refused, nothing changed",
                each.join("; ")
            ))
        })?;
    let orig_conf = nodes[oi].conf.clone();
    let mut keep = Vec::new();
    for (i, (n, st)) in nodes.into_iter().zip(statuses).enumerate() {
        if i != oi && !follows(&st, &orig_conf) {
            say(&format!(
                "  {}: skipped (ignore_fail): it does not replicate from the master; left as it is",
                label(&n.conf)
            ));
            continue;
        }
        keep.push((n, st));
    }
    let oi = keep.iter().position(|(n, _)| n.conf.name == orig_conf.name).unwrap_or(0);
    let (mut nodes, statuses): (Vec<Node>, Vec<_>) = keep.into_iter().unzip();
    if nodes.len() < 2 {
        return Err(Error::refused("the master has no replica to switch to"));
    }
    let modes: Vec<GtidMode> = statuses
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != oi)
        .map(|(_, s)| s.as_ref().expect("a replica").gtid_mode())
        .collect();
    let mode = modes[0];
    if modes.iter().any(|m| *m != mode) {
        return Err(Error::invalid("the replicas replicate in different modes: make them agree first"));
    }
    let orig = nodes[oi].conf.clone();
    say(&format!("  Current master: {}; replication mode: {}", label(&orig), mode.name()));
    // The new master, by the promotion rules among the replicas.
    let rules = promote::registered(&promote::rules_file(&conf.manager_workdir))?;
    let idx: Vec<usize> = (0..nodes.len()).filter(|&i| i != oi).collect();
    let mut facts = Vec::new();
    for &i in &idx {
        let n = &mut nodes[i];
        let sql = promotion_facts(&mut n.conn, n.dialect)?;
        facts.push(promote::Facts::of(&n.conf, sql, statuses[i].as_ref(), &rules));
    }
    let ranked = promote::rank(&facts);
    say("  Candidates, best first:");
    for c in &ranked {
        say(&format!("    {}", c.describe(&facts)));
    }
    doc.candidates = ranked.iter().map(|c| c.doc(&facts)).collect();
    let requested = match &o.new_master {
        Some((h, p)) => {
            let s = conf.find(h, *p)?;
            Some(
                idx.iter()
                    .position(|&i| nodes[i].conf.name == s.name)
                    .ok_or_else(|| Error::invalid(format!("{} is not a replica of {}", label(s), label(&orig))))?,
            )
        }
        None => None,
    };
    let pick = promote::choose(&ranked, &facts, requested)?;
    let ni = idx[pick];
    let new = nodes[ni].conf.clone();
    say(&format!("  New master: {}", label(&new)));
    doc.orig_master = Some(orig.name.clone());
    doc.new_master = Some(new.name.clone());
    // Long-running statements would hold the lock up.
    let long = long_running(&mut nodes[oi].conn, o.running_updates_limit.as_secs())?;
    let long: Vec<_> = long.into_iter().filter(|(_, u, _, _)| *u != orig.repl_user).collect();
    if !long.is_empty() {
        let l: Vec<String> = long.iter().map(|(id, u, t, q)| format!("#{id} {u} {t}s: {q}")).collect();
        return Err(Error::invalid(format!(
            "statements running on {} for {}s or more (running_updates_limit): {}; switch refused",
            label(&orig),
            o.running_updates_limit.as_secs(),
            l.join(" | ")
        )));
    }
    if o.dry_run {
        say("Dry run: nothing changed.");
        return Ok(format!("Dry run: {} would be the new master.", label(&new)));
    }

    // ---- Phase 2: rejecting updates on the old master ----
    say("* Phase 2: Rejecting updates Phase..");
    let t_block = Instant::now();
    hook(&new.master_ip_online_change_script, "stop", &orig, &new, o)?;
    let was_read_only: bool = {
        use mysql::prelude::Queryable;
        nodes[oi].conn.query_first::<u8, _>("SELECT @@global.read_only").ok().flatten() == Some(1)
    };
    let mut lock = spec(&orig).connect()?;
    let rollback = |lock: &mut mysql::Conn, nodes: &mut [Node], e: Error| -> Error {
        let _ = unlock_tables(lock);
        if !was_read_only {
            let _ = set_read_only(lock, false);
        }
        let n = &mut nodes[ni];
        let _ = sql(&mut n.conn, &label(&n.conf), n.dialect.start_replica());
        say(&format!("  Rolled back: {} takes writes again, nothing re-pointed.", label(&orig)));
        e
    };
    if let Err(e) = lock_writes(&mut lock, o.wait_timeout) {
        return Err(rollback(&mut lock, &mut nodes, e));
    }
    let (file, pos) = match binlog_coords(&mut lock, nodes[oi].dialect) {
        Ok(Some(c)) => c,
        Ok(None) => return Err(rollback(&mut lock, &mut nodes, Error::invalid("the master's binary logging is off"))),
        Err(e) => return Err(rollback(&mut lock, &mut nodes, e)),
    };
    say(&format!("  {} locked and read-only at {file}:{pos}", label(&orig)));
    doc.orig_master_final = Some(format!("{file}:{pos}"));

    // ---- Phase 3: the new master ----
    say("* Phase 3: New master Phase..");
    let new_coords = (|| -> Result<(String, u64)> {
        let n = &mut nodes[ni];
        pos_wait(&mut n.conn, n.dialect, &file, pos, o.wait_timeout)?;
        sql(&mut n.conn, &label(&n.conf), n.dialect.stop_replica())?;
        let c = binlog_coords(&mut n.conn, n.dialect)?
            .ok_or_else(|| Error::invalid(format!("{}: binary logging is off", label(&n.conf))))?;
        hook(&new.master_ip_online_change_script, "start", &orig, &new, o)?;
        set_read_only(&mut n.conn, false)?;
        Ok(c)
    })();
    let (nfile, npos) = match new_coords {
        Ok(c) => c,
        Err(e) => return Err(rollback(&mut lock, &mut nodes, e)),
    };
    let blocked = t_block.elapsed().as_secs_f64();
    say(&format!("  {} takes writes at {nfile}:{npos} (writes were rejected for {blocked:.3}s)", label(&new)));
    doc.writes_rejected_seconds = Some(blocked);

    // ---- Phase 4: the others follow it ----
    say("* Phase 4: Switching the others Phase..");
    let to = SourceAddr { host: new.ip.clone(), port: new.port, user: String::new(), password: None };
    let follow = |n: &mut Node, wait_first: bool| -> Result<()> {
        let who = label(&n.conf);
        if wait_first {
            pos_wait(&mut n.conn, n.dialect, &file, pos, o.wait_timeout)?;
        }
        sql(&mut n.conn, &who, n.dialect.stop_replica())?;
        let to = SourceAddr {
            user: n.conf.repl_user.clone(),
            password: new.repl_password.clone().or_else(|| n.conf.repl_password.clone()),
            ..to.clone()
        };
        let stmt = match mode {
            GtidMode::Off => n.dialect.change_source_to_pos(&to, &nfile, npos),
            m => n
                .dialect
                .change_source_to_gtid(&to, m)
                .ok_or_else(|| Error::invalid(format!("{who}: cannot re-point in {} mode", m.name())))?,
        };
        use mysql::prelude::Queryable;
        n.conn.query_drop(stmt).map_err(|e| Error::invalid(format!("{who}: CHANGE MASTER TO {}: {e}", label(&new))))?;
        sql(&mut n.conn, &who, n.dialect.start_replica())?;
        let d = n.dialect;
        let conn = &mut n.conn;
        wait_for(o.wait_timeout, &format!("{who} replicating from {}", label(&new)), || {
            let st = replica_status(conn, d)?.unwrap_or_default();
            if let Some(e) = st.io_error().or_else(|| st.sql_error()) {
                return Err(Error::invalid(e));
            }
            Ok((st.io_running() && st.sql_running()).then_some(()))
        })
    };
    let results: Vec<(String, std::result::Result<(), String>)> = std::thread::scope(|sc| {
        let hs: Vec<_> = nodes
            .iter_mut()
            .enumerate()
            .filter(|(i, _)| *i != ni && *i != oi)
            .map(|(_, n)| {
                let follow = &follow;
                sc.spawn(move || (label(&n.conf), follow(n, true).map_err(|e| e.to_string())))
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap_or_else(|_| (String::new(), Err("panicked".into())))).collect()
    });
    let mut failed = Vec::new();
    for (who, r) in &results {
        match r {
            Ok(()) => say(&format!("  {who}: replicating from {}", label(&new))),
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

    // ---- Phase 5: cleanup ----
    say("* Phase 5: New master cleanup phase..");
    {
        let n = &mut nodes[ni];
        let who = label(&n.conf);
        sql(&mut n.conn, &who, n.dialect.reset_replica_all())?;
    }
    // The old master never commits again: a session that holds a transaction
    // or waits on our lock would commit there the moment the lock goes (a
    // client that passes read_only), a write the new master never gets.
    let ours = [lock.connection_id(), nodes[oi].conn.connection_id()];
    for (id, user, state) in end_sessions_that_could_commit(&mut lock, &ours)? {
        let state = if state.is_empty() { "an open transaction".to_string() } else { state };
        say(&format!("  {}: ended session {id} of {user} ({state}): it could have committed there", label(&orig)));
    }
    // The old master's lock goes; it stays read-only.
    unlock_tables(&mut lock)?;
    if o.orig_master_is_new_slave {
        let n = &mut nodes[oi];
        // A master's own writes are in its binlog, not in its slave position:
        // as a replica it starts from what it holds (MariaDB's way of making
        // a master a slave), so nothing comes back to it twice.
        let from_binlog = match (mode, n.dialect) {
            (GtidMode::SlavePos | GtidMode::CurrentPos, Dialect::MariaDb) => {
                gtid_binlog_pos(&mut n.conn).and_then(|p| set_gtid_slave_pos(&mut n.conn, &p).map(|()| p)).map(Some)
            }
            _ => Ok(None),
        };
        match from_binlog.and_then(|_| follow(n, false)) {
            Ok(()) => say(&format!("  {}: the old master replicates from {}", label(&orig), label(&new))),
            Err(e) => {
                say(&format!("  {}: FAILED to follow the new master: {e}", label(&orig)));
                failed.push(label(&orig));
            }
        }
    }
    let outcome = if failed.is_empty() { "completed successfully" } else { "done, but some servers failed" };
    let line = format!(
        "Switching master to {} {outcome} in {:.1}s (writes rejected {blocked:.3}s).",
        label(&new),
        t_all.elapsed().as_secs_f64()
    );
    say(&line);
    if failed.is_empty() { Ok(line) } else { Err(Error::invalid(format!("{line} Failed: {}", failed.join(", ")))) }
}
