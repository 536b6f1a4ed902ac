//! The phase driver: a dead-master failover run by binlog-diff itself,
//! reading MHA's `app.cnf`, in MHA's phases (non-GTID path):
//!
//! 1. **Configuration check**: every server of the configuration; the dead
//!    master must not answer; every other server must replicate from it.
//! 2. **Dead master shutdown**: `STOP SLAVE IO_THREAD` everywhere (no
//!    shutdown or IP-failover scripts are run: fence the master yourself).
//! 3. **Master recovery**: wait until every replica's SQL thread has applied
//!    what it read, stop it, read the states; the latest replica; the dead
//!    master's binlogs when its `master_binlog_dir` is on this host; one
//!    [`Plan`] cuts every replica's diff in parallel from its *executed*
//!    position on the latest replica's relay logs plus the master's tail
//!    (transaction-complete, fsynced); the new master (`--new-master`, else
//!    the first `candidate_master`, else the latest replica; never
//!    `no_master`).
//! 4. **Apply and re-point**: every replica applies its own diff with the
//!    native applier, all at once (each verified: a short apply is a
//!    failure); the new master's `SHOW MASTER STATUS` afterwards is where the
//!    others start; `CHANGE MASTER TO` it and `START SLAVE` on each.
//! 5. **New master cleanup**: `RESET SLAVE ALL`, `read_only=0` on it; the
//!    replicas' threads are checked running.
//!
//! Unlike MHA, every replica gets its own diff from the latest replica's
//! relay logs (not exec→read + read→latest pieces), so no piece can start
//! or end inside a transaction.
//!
//! # Limits
//! Servers' files must be on this host: the latest replica's relay logs
//! (found through `@@relay_log`/`@@datadir`) and, to save its tail, the dead
//! master's binlogs. A dead master whose binlogs are elsewhere is recovered
//! up to what the latest replica read (said so). Remote hosts over SSH are
//! not driven yet: run binlog-diff as MHA's node tools under MHA's manager
//! for that.

pub mod config;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use mysql::prelude::Queryable;

use crate::apply::{ApplyOptions, apply};
use crate::diff::{CutOptions, Plan, PlanInput};
use crate::error::{Error, Result};
use crate::log::LogSet;
use crate::server::{ConnSpec, replica_state};

pub use config::{AppConf, ServerConf};

/// What to do.
#[derive(Clone, Debug)]
pub struct FailoverOptions {
    /// MHA application configuration.
    pub conf: PathBuf,
    /// MHA global configuration, read first.
    pub global_conf: Option<PathBuf>,
    /// The dead master's hostname or ip.
    pub dead_master_host: String,
    /// Its port, when several servers share the host.
    pub dead_master_port: Option<u16>,
    /// The new master (hostname or ip, port).
    pub new_master: Option<(String, Option<u16>)>,
    /// Where diffs go (default: `manager_workdir/failover-<timestamp>`).
    pub workdir: Option<PathBuf>,
    /// Print the plan and stop: nothing on any server is changed.
    pub dry_run: bool,
    /// Bound for waiting on SQL threads and replication start.
    pub wait_timeout: Duration,
    /// Connections per replica for the apply (`apply --parallel`; 0 or 1: serial).
    pub parallel: usize,
}

/// How a failover ended, per server.
#[derive(Debug, Default)]
pub struct FailoverReport {
    /// The new master's section name.
    pub new_master: Option<String>,
    /// Per replica: section name and what happened (`Ok` or the error text).
    pub replicas: Vec<(String, std::result::Result<String, String>)>,
}

impl FailoverReport {
    /// Every server recovered.
    pub fn ok(&self) -> bool {
        self.new_master.is_some() && self.replicas.iter().all(|r| r.1.is_ok())
    }
}

fn say(s: &str) {
    println!("{s}");
}

fn spec(s: &ServerConf) -> ConnSpec {
    ConnSpec {
        host: Some(s.ip.clone()),
        port: Some(s.port),
        user: Some(s.user.clone()),
        password: s.password.clone(),
        ..Default::default()
    }
}

fn label(s: &ServerConf) -> String {
    format!("{}({}:{})", s.name, s.ip, s.port)
}

/// `SHOW SLAVE STATUS` as (column, value) pairs (`None`: not a replica).
fn slave_status(conn: &mut mysql::Conn) -> Result<Option<Vec<(String, String)>>> {
    let row: Option<mysql::Row> =
        conn.query_first("SHOW SLAVE STATUS").map_err(|e| Error::invalid(format!("SHOW SLAVE STATUS: {e}")))?;
    Ok(row.map(|row| {
        let cols: Vec<String> = row.columns_ref().iter().map(|c| c.name_str().to_string()).collect();
        cols.into_iter()
            .enumerate()
            .map(|(i, c)| {
                let v = match row.as_ref(i) {
                    Some(mysql::Value::Bytes(b)) => String::from_utf8_lossy(b).into_owned(),
                    Some(mysql::Value::NULL) | None => String::new(),
                    Some(v) => v.as_sql(true).trim_matches('\'').to_string(),
                };
                (c, v)
            })
            .collect()
    }))
}

fn col<'a>(st: &'a [(String, String)], k: &str) -> &'a str {
    st.iter().find(|(c, _)| c == k).map(|(_, v)| v.as_str()).unwrap_or("")
}

fn run_sql(conn: &mut mysql::Conn, who: &str, q: &str) -> Result<()> {
    conn.query_drop(q).map_err(|e| Error::invalid(format!("{who}: {q}: {e}")))
}

fn is_local(host: &str) -> bool {
    matches!(host, "127.0.0.1" | "localhost" | "::1")
        || std::fs::read_to_string("/etc/hostname").is_ok_and(|h| h.trim() == host)
}

/// Waits until the SQL thread has applied everything the IO thread read
/// (or idles inside a transaction the IO thread cut), then stops it.
fn settle(conn: &mut mysql::Conn, who: &str, timeout: Duration) -> Result<()> {
    let t0 = Instant::now();
    loop {
        let st = slave_status(conn)?.ok_or_else(|| Error::invalid(format!("{who}: no longer a replica")))?;
        let done = (col(&st, "Relay_Master_Log_File"), col(&st, "Exec_Master_Log_Pos"))
            == (col(&st, "Master_Log_File"), col(&st, "Read_Master_Log_Pos"));
        let idle = col(&st, "Slave_SQL_Running_State").contains("read all relay log");
        if col(&st, "Slave_SQL_Running") != "Yes" || done || idle {
            if col(&st, "Last_SQL_Errno") != "0" && !col(&st, "Last_SQL_Errno").is_empty() {
                return Err(Error::invalid(format!("{who}: SQL thread error: {}", col(&st, "Last_SQL_Error"))));
            }
            return run_sql(conn, who, "STOP SLAVE");
        }
        if t0.elapsed() > timeout {
            return Err(Error::invalid(format!("{who}: the SQL thread did not catch up in {timeout:?}")));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Runs the failover.
///
/// # Errors
/// A configuration, connection or planning failure before anything was
/// applied. Failures while applying or re-pointing a replica are in the
/// report (the others go on, as MHA's phase 4 does).
pub fn failover(o: &FailoverOptions) -> Result<FailoverReport> {
    let t0 = Instant::now();
    let conf = AppConf::read(&o.conf, o.global_conf.as_deref())?;
    say("* Phase 1: Configuration Check Phase..");
    let dead = conf.find(&o.dead_master_host, o.dead_master_port)?.clone();
    if spec(&dead).connect().is_ok() {
        return Err(Error::invalid(format!(
            "the master {} answers: this is not a dead-master failover (stop it first)",
            label(&dead)
        )));
    }
    say(&format!("  Dead master: {} does not answer.", label(&dead)));
    let mut alive = Vec::new();
    for s in conf.servers.iter().filter(|s| s.name != dead.name) {
        let mut c = spec(s).connect()?;
        let st = slave_status(&mut c)?.ok_or_else(|| Error::invalid(format!("{}: not a replica", label(s))))?;
        let port_ok = col(&st, "Master_Port") == dead.port.to_string();
        let host_ok = [dead.ip.as_str(), dead.hostname.as_str()].contains(&col(&st, "Master_Host"));
        if !(port_ok && host_ok) {
            return Err(Error::invalid(format!(
                "{} replicates from {}:{}, not from the dead master",
                label(s),
                col(&st, "Master_Host"),
                col(&st, "Master_Port")
            )));
        }
        say(&format!("  Alive replica: {}", label(s)));
        alive.push((s.clone(), c));
    }
    if alive.is_empty() {
        return Err(Error::invalid("no replica to fail over to"));
    }

    if !o.dry_run {
        say("* Phase 2: Dead Master Shutdown Phase..");
        say("  (no shutdown or IP failover script: fence the dead master yourself)");
        for (s, c) in &mut alive {
            run_sql(c, &label(s), "STOP SLAVE IO_THREAD")?;
        }
    }

    say("* Phase 3: Master Recovery Phase..");
    let mut replicas = Vec::new();
    for (s, c) in &mut alive {
        if !o.dry_run {
            settle(c, &label(s), o.wait_timeout)?;
        }
        replicas.push(replica_state(c, &s.name)?);
    }
    for r in &replicas {
        say(&format!("  {}: read {} executed {}", r.name, r.read, r.exec));
    }
    let latest_read = replicas.iter().map(|r| r.read.clone()).max().expect("one replica at least");
    let master_binlogs = if is_local(&dead.ip) || is_local(&dead.hostname) {
        let base = latest_read.file.base().to_string();
        dead.master_binlog_dir.iter().find_map(|d| LogSet::from_dir(d, &base).ok().filter(|s| !s.files().is_empty()))
    } else {
        None
    };
    match &master_binlogs {
        Some(_) => say("  The dead master's binlogs are readable here: its tail is saved."),
        None => say("  The dead master's binlogs are not reachable from here: recovering up to the latest replica."),
    }
    let workdir = match &o.workdir {
        Some(w) => w.clone(),
        None => conf.manager_workdir.join(format!(
            "failover-{}",
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
        )),
    };
    let mut plan = Plan::make(PlanInput { replicas, master_binlogs, opts: CutOptions::default(), count: o.dry_run })?;
    if !o.dry_run {
        std::fs::create_dir_all(&workdir).map_err(|e| Error::io(&workdir, e))?;
        plan.write(&workdir)?;
    }
    print!("{}", plan.to_text());

    let pick = |s: &ServerConf| alive.iter().position(|(a, _)| a.name == s.name);
    let new_idx = match &o.new_master {
        Some((h, p)) => {
            let s = conf.find(h, *p)?;
            pick(s).ok_or_else(|| Error::invalid(format!("{} is not an alive replica", label(s))))?
        }
        None => alive
            .iter()
            .position(|(s, _)| s.candidate_master && !s.no_master)
            .or_else(|| (!alive[plan.latest].0.no_master).then_some(plan.latest))
            .or_else(|| alive.iter().position(|(s, _)| !s.no_master))
            .ok_or_else(|| Error::invalid("every replica is no_master"))?,
    };
    let new_master = alive[new_idx].0.clone();
    say(&format!("  New master: {}", label(&new_master)));
    let mut report = FailoverReport::default();
    if o.dry_run {
        say("Dry run: nothing changed.");
        report.new_master = Some(new_master.name.clone());
        return Ok(report);
    }

    say("* Phase 4: Applying every replica's diff (in parallel) and re-pointing..");
    let files: Vec<Option<PathBuf>> = plan.targets.iter().map(|t| t.file.clone()).collect();
    let results: Vec<std::result::Result<String, String>> = std::thread::scope(|sc| {
        let hs: Vec<_> = alive
            .iter()
            .zip(&files)
            .map(|((s, _), f)| {
                let sp = spec(s);
                sc.spawn(move || match f {
                    None => Ok("nothing to apply".to_string()),
                    Some(f) => {
                        let opts = ApplyOptions { parallel: o.parallel, ..Default::default() };
                        match apply(&sp, std::slice::from_ref(f), &opts) {
                            Ok(r) => Ok(format!("applied {} transactions ({} events)", r.transactions, r.events)),
                            Err(e) => Err(format!("apply failed: {}", e.error)),
                        }
                    }
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("apply panicked".into()))).collect()
    });
    for ((s, _), r) in alive.iter().zip(&results) {
        match r {
            Ok(m) => say(&format!("  {}: {m}", label(s))),
            Err(m) => say(&format!("  {}: FAILED: {m}", label(s))),
        }
    }
    if let Err(e) = &results[new_idx] {
        return Err(Error::invalid(format!(
            "the new master {} could not be recovered ({e}); the other replicas applied their diffs but were not \
             re-pointed: fix it and re-run `binlog-diff apply --resume` on it, or pick another with --new-master",
            label(&new_master)
        )));
    }
    let (file, pos): (String, u64) = {
        let c = &mut alive[new_idx].1;
        let row: Option<mysql::Row> = c.query_first("SHOW MASTER STATUS").map_err(|e| Error::invalid(e.to_string()))?;
        let row = row.ok_or_else(|| Error::invalid(format!("{}: binary logging is off", label(&new_master))))?;
        (row.get(0).unwrap_or_default(), row.get(1).unwrap_or_default())
    };
    say(&format!("  New master {} at {file}:{pos}", label(&new_master)));
    for (i, ((s, c), r)) in alive.iter_mut().zip(results).enumerate() {
        if i == new_idx {
            continue;
        }
        let r = r.and_then(|applied| {
            let repl_pw = new_master.repl_password.as_ref().or(s.repl_password.as_ref());
            let q = format!(
                "CHANGE MASTER TO MASTER_HOST='{}', MASTER_PORT={}, MASTER_USER='{}', MASTER_PASSWORD='{}', \
                 MASTER_LOG_FILE='{}', MASTER_LOG_POS={pos}",
                sql_str(&new_master.ip),
                new_master.port,
                sql_str(&s.repl_user),
                sql_str(repl_pw.map(|p| p.expose()).unwrap_or("")),
                sql_str(&file),
            );
            // MariaDB: classic positions, as the old master's replication was.
            let q = if c.server_version().0 >= 10 { format!("{q}, MASTER_USE_GTID=no") } else { q };
            // The statement holds the replication password: errors quote it without.
            c.query_drop(&q).map_err(|e| format!("CHANGE MASTER TO {}: {e}", label(&new_master)))?;
            c.query_drop("START SLAVE").map_err(|e| format!("START SLAVE: {e}"))?;
            let t0 = Instant::now();
            loop {
                let st = slave_status(c).map_err(|e| e.to_string())?.unwrap_or_default();
                if col(&st, "Slave_IO_Running") == "Yes" && col(&st, "Slave_SQL_Running") == "Yes" {
                    break;
                }
                if t0.elapsed() > o.wait_timeout || !col(&st, "Last_IO_Error").is_empty() {
                    return Err(format!("replication did not start: {}", col(&st, "Last_IO_Error")));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            Ok(format!("{applied}; replicating from {}", label(&new_master)))
        });
        match &r {
            Ok(m) => say(&format!("  {}: {m}", label(s))),
            Err(m) => say(&format!("  {}: FAILED: {m}", label(s))),
        }
        let r = if s.ignore_fail { r.or_else(|e| Ok(format!("failed, ignored (ignore_fail): {e}"))) } else { r };
        report.replicas.push((s.name.clone(), r));
    }

    say("* Phase 5: New master cleanup phase..");
    let c = &mut alive[new_idx].1;
    run_sql(c, &label(&new_master), "STOP SLAVE")?;
    run_sql(c, &label(&new_master), "RESET SLAVE ALL")?;
    run_sql(c, &label(&new_master), "SET GLOBAL read_only=0")?;
    report.new_master = Some(new_master.name.clone());
    say(&format!(
        "Master failover to {} {} in {:.1}s. Diffs: {}",
        label(&new_master),
        if report.ok() { "completed successfully" } else { "done, but recovery on some replicas failed" },
        t0.elapsed().as_secs_f64(),
        workdir.display()
    ));
    Ok(report)
}

fn sql_str(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\'', "\\'")
}
