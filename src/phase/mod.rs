//! The phase driver: a dead-master failover run by binlog-diff itself,
//! reading MHA's `app.cnf`, in MHA's phases (non-GTID path), across hosts.
//!
//! Servers are reached over MySQL (status, stops, apply, re-pointing) and
//! their files only through their host ([`Host`]): this machine when the
//! host is loopback or our own name, else one SSH session per host (host key
//! checked, key authentication), opened once in phase 1 and reused. On each
//! host the work is done by our own binary (`--remote-binary`, or pushed
//! with `--push-binary`; its version must equal ours).
//!
//! 1. **Configuration check**: the dead master must not answer over MySQL
//!    *and* every replica's IO thread must have lost it (orchestrator's
//!    DeadMaster); while some replica still replicates from it, the run is
//!    refused (an unreachable master is not a dead one) unless `--force`.
//!    Each replica's evidence is printed. Every replica must replicate from
//!    the dead master. SSH to every host; our binary's version there.
//! 2. **Dead master shutdown**: `master_ip_failover_script --command=stop|stopssh`
//!    and `shutdown_script` with MHA's arguments and exit codes (a failing
//!    hook aborts before anything changed); then `STOP SLAVE IO_THREAD`.
//! 3. **Master recovery**: every SQL thread applies what it read and stops;
//!    the latest replica; on *its* host, one shared pass cuts every
//!    replica's diff from its executed position to where the relay logs end
//!    on a transaction boundary (`binlog-diff diff --state - --write`); on
//!    the dead master's host, when it still answers SSH, its binlog tail from
//!    that boundary (`save_binary_logs`); both streamed back here (MD5
//!    checked). When the dead master's host is gone, the run says what cannot
//!    be recovered. The new master: `--new-master`, else the first
//!    `candidate_master`, else the latest replica; never `no_master`.
//! 4. **Apply and re-point**: every replica applies its relay diff and the
//!    master tail natively, all at once, each verified; the new master gets
//!    `master_ip_failover_script --command=start` and `read_only=0`; the others
//!    `CHANGE MASTER TO` its coordinates and start replicating (checked).
//! 5. **Cleanup**: `RESET SLAVE ALL` on the new master; `report_script`;
//!    the JSON report (`--json FILE`).
//!
//! Every wait is bounded: MySQL control connections by `--mysql-timeout`,
//! each SSH step by `--step-timeout`, SQL threads and replication start by
//! `--wait-timeout`; an expired wait is an error naming the host and step.

pub mod config;
pub mod hooks;
pub mod monitor;
pub mod promote;
pub mod switch;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mysql::prelude::Queryable;
use serde_json::{Value, json};

use crate::apply::{ApplyOptions, apply};
use crate::error::{Error, Result};
use crate::position::{ReplicaState, latest};
use crate::remote::{Host, SshOptions};
use crate::server::status::{
    Dialect, GtidMode, SourceAddr, Status, binlog_coords, gtid_binlog_state, gtid_slave_pos, mysql_gtid_executed,
    replica_status, set_gtid_slave_pos, set_read_only, wait_for,
};
use crate::server::{ConnSpec, replica_state};

pub use config::{AppConf, ServerConf};
use hooks::HookExit;

/// What to do.
#[derive(Clone, Debug)]
pub struct FailoverOptions {
    /// The dead master's hostname or ip.
    pub dead_master_host: String,
    /// Its port, when several servers share the host.
    pub dead_master_port: Option<u16>,
    /// The new master (hostname or ip, port).
    pub new_master: Option<(String, Option<u16>)>,
    /// Where diffs go on this host (default: `manager_workdir/failover-<timestamp>`).
    pub workdir: Option<PathBuf>,
    /// Print the plan and stop: nothing on any server is changed.
    pub dry_run: bool,
    /// Bound for waiting on SQL threads and replication start.
    pub wait_timeout: Duration,
    /// Connections per replica for the apply (`apply --parallel`); 0: 4 for
    /// a diff of 1 MiB or more, else one.
    pub parallel: usize,
    /// Go on although some replica still replicates from the master.
    pub force: bool,
    /// How long to wait for every replica's IO thread to lose the master.
    pub detect_wait: Duration,
    /// Bound for each MySQL control connection's connect, read and write.
    pub mysql_timeout: Duration,
    /// Bound for each SSH step as a whole (a remote cut, a save, a fetch, a
    /// remote apply): a deadline, not an idle timeout.
    pub step_timeout: Duration,
    /// Bound for each hook script ([`hooks::run`]).
    pub hook_timeout: Duration,
    /// Our binary on the remote hosts.
    pub remote_binary: String,
    /// Push the running binary to each remote host's workdir first.
    pub push_binary: bool,
    /// Write the JSON report here.
    pub json: Option<PathBuf>,
    /// Apply the relay diffs from the latest replica's host straight to each
    /// target over MySQL (our binary there), instead of bringing them here
    /// first: the bytes cross the network once, not twice.
    pub apply_on_latest: bool,
}

impl Default for FailoverOptions {
    fn default() -> Self {
        FailoverOptions {
            dead_master_host: String::new(),
            dead_master_port: None,
            new_master: None,
            workdir: None,
            dry_run: false,
            wait_timeout: Duration::from_secs(600),
            parallel: 0,
            force: false,
            detect_wait: Duration::from_secs(30),
            mysql_timeout: Duration::from_secs(30),
            step_timeout: Duration::from_secs(600),
            hook_timeout: hooks::DEFAULT_TIMEOUT,
            remote_binary: "binlog-diff".into(),
            push_binary: false,
            json: None,
            apply_on_latest: true,
        }
    }
}

/// How a failover ended.
#[derive(Debug, Default)]
pub struct FailoverReport {
    /// The new master's section name.
    pub new_master: Option<String>,
    /// Per replica: section name and what happened (`Ok` or the error text).
    pub replicas: Vec<(String, std::result::Result<String, String>)>,
    /// What the run knows it could not recover.
    pub unrecoverable: Vec<String>,
    /// The whole report, as written by `--json`.
    pub json: Value,
}

impl FailoverReport {
    /// Every server recovered (what the dead master alone had may still be
    /// lost: see `unrecoverable`).
    pub fn ok(&self) -> bool {
        self.new_master.is_some() && self.replicas.iter().all(|r| r.1.is_ok())
    }
}

/// One line of the run's log, as a `tracing` event (target
/// `binlog_diff::phase`): the front decides where it goes (the terminal, and
/// MHA's `manager_log`; see [`log_to`]).
fn say(s: &str) {
    tracing::info!("{s}");
}

/// Sends the driver's log to standard output (the lines only; errors to
/// standard error) and, when
/// `manager_log` is given, appends it there with timestamps. Installs a
/// global subscriber: call it once, from a front.
///
/// # Errors
/// The log file cannot be opened.
pub fn log_to(manager_log: Option<&Path>) -> Result<()> {
    use tracing_subscriber::fmt::writer::MakeWriterExt;
    use tracing_subscriber::prelude::*;
    let file = match manager_log {
        Some(p) => Some(std::fs::OpenOptions::new().create(true).append(true).open(p).map_err(|e| Error::io(p, e))?),
        None => None,
    };
    let stdout = tracing_subscriber::fmt::layer()
        .without_time()
        .with_level(false)
        .with_target(false)
        .with_ansi(false)
        // Errors to standard error, the rest to standard output.
        .with_writer(std::io::stderr.with_max_level(tracing::Level::ERROR).or_else(std::io::stdout));
    let file =
        file.map(|f| tracing_subscriber::fmt::layer().with_target(false).with_ansi(false).with_writer(Mutex::new(f)));
    let _ = tracing_subscriber::registry().with(stdout).with(file).try_init();
    Ok(())
}

/// The dead master's tail as saved on its host and brought here.
struct Saved {
    /// Where it starts (master coordinate).
    from: String,
    /// The local copy (`None`: nothing after `from`).
    file: Option<PathBuf>,
    /// What the save printed about it.
    line: String,
    secs: f64,
}

/// What one replica applies: its relay diff on the latest replica's host, the master's tail here.
type ApplyInput<'a> = (Option<&'a Path>, Option<&'a Path>);

/// A surviving replica.
struct Replica {
    conf: ServerConf,
    conn: mysql::Conn,
    dialect: Dialect,
    status: Status,
    host: std::result::Result<Host, String>,
    bin: Option<String>,
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

fn sql(conn: &mut mysql::Conn, who: &str, q: &str) -> Result<()> {
    conn.query_drop(q).map_err(|e| Error::invalid(format!("{who}: {q}: {e}")))
}

fn is_local(host: &str) -> bool {
    matches!(host, "127.0.0.1" | "localhost" | "::1")
        || std::fs::read_to_string("/etc/hostname").is_ok_and(|h| h.trim() == host)
}

/// Opens `s`'s host: this machine, or an SSH session from its `ssh_*` settings.
fn open_host(s: &ServerConf, step_timeout: Duration) -> std::result::Result<Host, String> {
    if is_local(&s.ssh_host) {
        return Ok(Host::Local);
    }
    let opts = SshOptions::parse(&s.ssh_options);
    let t = Duration::from_secs(s.ssh_connection_timeout.max(1));
    Host::ssh(&s.ssh_user, &s.ssh_host, s.ssh_port, &opts, t, step_timeout, &mut |m| say(&format!("  {m}")))
        .map_err(|e| e.to_string())
}

/// Runs our binary on `host` (`args` after the binary), failing on a
/// non-zero exit unless `ok_codes` holds it.
fn node(
    host: &Host,
    bin: &str,
    step: &str,
    args: &[String],
    input: &[u8],
    t: Duration,
    ok_codes: &[i32],
) -> Result<crate::remote::Output> {
    let mut argv = vec![bin.to_string()];
    argv.extend(args.iter().cloned());
    let o = host.run(step, &argv, input, t)?;
    if o.status != 0 && !ok_codes.contains(&o.status) {
        return Err(Error::invalid(format!(
            "{step} on {}: exit {}: {}",
            host.label(),
            o.status,
            o.stderr.trim().lines().last().unwrap_or(o.stdout.trim())
        )));
    }
    Ok(o)
}

/// Per replica (by name), what the remote `apply --plan` did.
type RemoteApplied = std::collections::HashMap<String, std::result::Result<RemoteDone, RemoteErr>>;

/// A relay diff applied from the latest replica's host.
#[derive(Clone, Debug)]
struct RemoteDone {
    line: String,
    last_gtids: Vec<String>,
}

#[derive(Clone, Debug)]
enum RemoteErr {
    /// That host cannot reach the target's MySQL: the diff comes here instead.
    CannotConnect(String),
    Failed(String),
}

/// What happened to `name`'s diff (the whole run's failure when it has no entry).
fn remote_result(m: &RemoteApplied, name: &str) -> std::result::Result<RemoteDone, RemoteErr> {
    match m.get(name).or_else(|| m.get("")) {
        Some(r) => r.clone(),
        None => Err(RemoteErr::Failed("no result for it in the report".into())),
    }
}

/// Reads the JSON of `apply --plan - --json` run on the latest replica's host.
fn remote_applied(out: Result<crate::remote::Output>, secs: f64) -> RemoteApplied {
    let mut m = RemoteApplied::new();
    let o = match out {
        Ok(o) => o,
        Err(e) => {
            m.insert(String::new(), Err(RemoteErr::Failed(e.to_string())));
            return m;
        }
    };
    let Ok(Value::Array(list)) = serde_json::from_str::<Value>(o.stdout.trim()) else {
        let lines: Vec<&str> =
            o.stderr.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("progress\t")).collect();
        let why = lines.iter().find(|l| l.starts_with("error") || l.contains("binlog-diff:")).or(lines.last());
        let why = why.copied().unwrap_or("no report").to_string();
        m.insert(String::new(), Err(RemoteErr::Failed(format!("exit {}: {why}", o.status))));
        return m;
    };
    for t in list {
        let name = t["name"].as_str().unwrap_or("").to_string();
        let rep = &t["report"];
        let r = if t["ok"] == json!(true) {
            let skipped = rep["skipped"].as_u64().unwrap_or(0);
            Ok(RemoteDone {
                line: format!(
                    "applied {} transactions ({} events){} from the latest replica's host in {secs:.2}s",
                    rep["transactions"].as_u64().unwrap_or(0),
                    rep["events"].as_u64().unwrap_or(0),
                    if skipped > 0 { format!(", skipped {skipped} it already had") } else { String::new() },
                ),
                last_gtids: rep["last_gtids"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|g| g.as_str().map(str::to_string)).collect())
                    .unwrap_or_default(),
            })
        } else {
            let e = t["error"].as_str().unwrap_or("failed").to_string();
            if t["error_kind"] == json!("connect") {
                Err(RemoteErr::CannotConnect(e))
            } else {
                Err(RemoteErr::Failed(e))
            }
        };
        m.insert(name, r);
    }
    m
}

/// Removes this run's folder (a pushed binary, the cut diffs) and the saved
/// tail from every remote host, in parallel: every file is here now.
fn remove_run_files<'a>(hosts: impl Iterator<Item = (&'a Host, &'a ServerConf)>, run_dir: &str, t: Duration) {
    std::thread::scope(|sc| {
        for (h, s) in hosts {
            if let Host::Ssh(_) = h {
                let d = s.remote_workdir.join(run_dir).to_string_lossy().into_owned();
                let argv = vec!["rm".into(), "-rf".into(), "--".into(), d.clone(), format!("{d}-master-tail.binlog")];
                sc.spawn(move || h.run("cleanup", &argv, b"", t));
            }
        }
    });
}

fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

/// Runs the failover.
///
/// # Errors
/// A configuration, detection, connection, hook or planning failure before
/// anything was applied, or a new master that could not be recovered.
/// Failures while applying or re-pointing another replica are in the
/// report (the others go on, as MHA's phase 4 does). With `json`, the
/// report is written in every case.
pub fn failover(o: &FailoverOptions, conf: &AppConf) -> Result<FailoverReport> {
    let mut run = Run { o, phases: Vec::new(), report: FailoverReport::default(), doc: json!({}) };
    let r = run.go(conf);
    run.doc["phases"] = Value::Array(run.phases.iter().map(|(n, s)| json!({"phase": n, "seconds": s})).collect());
    run.doc["result"] = match &r {
        Ok(()) if run.report.ok() => json!("success"),
        Ok(()) => json!("partial"),
        Err(e) => json!({"error": e.to_string()}),
    };
    run.doc["unrecoverable"] = json!(run.report.unrecoverable);
    if let Some(p) = &o.json {
        let text = serde_json::to_string_pretty(&run.doc).unwrap_or_default() + "\n";
        crate::log::write_atomically(p, text.as_bytes())?;
    }
    run.report.json = run.doc;
    r.map(|()| run.report)
}

struct Run<'a> {
    o: &'a FailoverOptions,
    phases: Vec<(String, f64)>,
    report: FailoverReport,
    doc: Value,
}

impl Run<'_> {
    fn say(&self, s: &str) {
        say(s);
    }

    fn phase_done(&mut self, name: &str, t: Instant) {
        self.phases.push((name.to_string(), secs(t.elapsed())));
    }

    fn go(&mut self, conf: &AppConf) -> Result<()> {
        let o = self.o;
        let t_all = Instant::now();

        // ---- Phase 1 ------------------------------------------------------
        let t = Instant::now();
        self.say("* Phase 1: Configuration Check Phase..");
        let dead = conf.find(&o.dead_master_host, o.dead_master_port)?.clone();
        self.doc["dead_master"] = json!({"name": dead.name, "host": dead.ip, "port": dead.port});
        // Anti-flapping: no second failover on this cluster soon after one,
        // unless acknowledged (`binlog-diff ack`) or forced.
        let last = promote::last_failover_file(&conf.manager_workdir);
        if let Some(why) = promote::blocked_by_last_failover(&last, conf.last_failover_minute * 60)? {
            match (o.force, o.dry_run) {
                (true, _) => self.say(&format!("  {why} (going on: --force)")),
                (false, true) => self.say(&format!("  A real run would be refused: {why}")),
                (false, false) => return Err(Error::invalid(why)),
            }
        }
        // Hosts: one SSH session each and our binary there, opened in the
        // background while the MySQL checks run (the dead master's may fail:
        // its host may be gone; a cut-off host costs its connect timeout once).
        let run_dir = format!(
            "binlog-diff-{}-{}",
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
            std::process::id()
        );
        type Opened = (std::result::Result<Host, String>, std::result::Result<String, String>);
        let opening: Vec<(String, std::thread::JoinHandle<Opened>)> = conf
            .servers
            .iter()
            .map(|conf_s| {
                let (s, rd, bin, push, st) =
                    (conf_s.clone(), run_dir.clone(), o.remote_binary.clone(), o.push_binary, o.step_timeout);
                let h = std::thread::spawn(move || {
                    let h = open_host(&s, st);
                    let b = match &h {
                        Ok(h) => {
                            let push_dir = s.remote_workdir.join(&rd);
                            h.node(&bin, push.then_some(push_dir.as_path()), st).map_err(|e| e.to_string())
                        }
                        Err(e) => Err(e.clone()),
                    };
                    (h, b)
                });
                (conf_s.name.clone(), h)
            })
            .collect();
        let short = o.mysql_timeout.min(Duration::from_secs(4));
        match spec(&dead).connect_within(short) {
            Ok(_) => {
                return Err(Error::invalid(format!(
                    "the master {} answers: this is not a dead-master failover",
                    label(&dead)
                )));
            }
            Err(e) => self.say(&format!("  Dead master {}: MySQL does not answer ({e}).", label(&dead))),
        }
        let mut alive: Vec<Replica> = Vec::new();
        let mut skipped = Vec::new();
        for s in conf.servers.iter().filter(|s| s.name != dead.name) {
            let r = (|| -> Result<Replica> {
                let mut c = spec(s).connect_within(o.mysql_timeout)?;
                let d = Dialect::of(&mut c)?;
                let st =
                    replica_status(&mut c, d)?.ok_or_else(|| Error::invalid(format!("{}: not a replica", label(s))))?;
                let (mh, mp) = st.master();
                if mp != dead.port || ![dead.ip.as_str(), dead.hostname.as_str()].contains(&mh.as_str()) {
                    return Err(Error::invalid(format!(
                        "{} replicates from {mh}:{mp}, not from the dead master",
                        label(s)
                    )));
                }
                Ok(Replica {
                    conf: s.clone(),
                    conn: c,
                    dialect: d,
                    status: st,
                    host: Err("not opened".into()),
                    bin: None,
                })
            })();
            match r {
                Ok(r) => alive.push(r),
                Err(e) if s.ignore_fail => {
                    self.say(&format!("  {}: skipped (ignore_fail): {e}", label(s)));
                    skipped.push(json!({"name": s.name, "why": e.to_string()}));
                }
                Err(e) => return Err(e),
            }
        }
        if alive.is_empty() {
            return Err(Error::invalid("no replica to fail over to"));
        }
        self.detect(&dead, &mut alive)?;
        let mode = self.replication_mode(&alive)?;

        let mut opened: Vec<(String, Opened)> = opening
            .into_iter()
            .map(|(n, h)| (n, h.join().unwrap_or_else(|_| (Err("panicked".into()), Err("panicked".into())))))
            .collect();
        let mut take = |name: &str| -> Opened {
            match opened.iter().position(|(n, _)| n == name) {
                Some(i) => opened.swap_remove(i).1,
                None => (Err("not opened".into()), Err("not opened".into())),
            }
        };
        let (dead_host, dead_bin) = take(&dead.name);
        let hosts: Vec<Opened> = alive.iter().map(|r| take(&r.conf.name)).collect();
        for (r, (h, b)) in alive.iter_mut().zip(hosts) {
            match &b {
                Ok(b) => self.say(&format!(
                    "  {}: on {}, {b} is {}",
                    label(&r.conf),
                    h.as_ref().map(Host::label).unwrap_or_default(),
                    crate::remote::host::our_version()
                )),
                Err(e) => self.say(&format!("  {}: host not usable: {e}", label(&r.conf))),
            }
            r.host = h;
            r.bin = b.ok();
        }
        let mut dead_ssh = dead_host.is_ok();
        let dead_bin = match (&dead_host, dead_bin) {
            (Ok(h), Ok(b)) => {
                self.say(&format!("  Dead master's host ({}) is reachable: its binlog tail can be saved.", h.label()));
                Some(b)
            }
            (Ok(h), Err(e)) => {
                self.say(&format!(
                    "  Dead master's host {} answers SSH, but our binary does not run there: {e}",
                    h.label()
                ));
                None
            }
            (Err(e), _) => {
                self.say(&format!("  Dead master's host is not reachable over SSH: {e}"));
                None
            }
        };
        self.doc["dead_master"]["ssh"] = json!(if dead_ssh { "reachable" } else { "unreachable" });
        self.doc["skipped"] = json!(skipped);
        self.phase_done("configuration check", t);

        // ---- Phase 2 ------------------------------------------------------
        let t = Instant::now();
        if !o.dry_run {
            self.say("* Phase 2: Dead Master Shutdown Phase..");
            if let Some(script) = &dead.master_ip_failover_script {
                let args = hooks::ip_stop_args(&dead, dead_ssh);
                self.say(&format!("  Executing master IP deactivation script: {}", hooks::shown(script, &args)));
                match hooks::run(script, &args, o.hook_timeout) {
                    HookExit::Ok => self.say("  done."),
                    HookExit::Ten => self.say("  It exited 10: proceeding (as MHA)."),
                    HookExit::Failed(m) => {
                        return Err(Error::invalid(format!(
                            "master_ip_failover_script failed ({m}): nothing was changed"
                        )));
                    }
                }
            } else {
                self.say("  master_ip_failover_script is not set: fence the dead master's address yourself.");
            }
            if let Some(script) = &dead.shutdown_script {
                let args = hooks::shutdown_args(&dead, dead_ssh);
                self.say(&format!("  Executing SHUTDOWN script: {}", hooks::shown(script, &args)));
                match hooks::run(script, &args, o.hook_timeout) {
                    HookExit::Ok => {
                        self.say("  Power off done: the dead master's host is gone, its binlogs with it.");
                        dead_ssh = false;
                    }
                    HookExit::Ten => self.say("  SSH reachable. Shutting down mysqld done."),
                    HookExit::Failed(m) => {
                        return Err(Error::invalid(format!("shutdown_script failed ({m}): nothing was changed")));
                    }
                }
            } else {
                self.say("  shutdown_script is not set.");
            }
            for r in &mut alive {
                sql(&mut r.conn, &label(&r.conf), r.dialect.stop_io_thread())?;
            }
            self.phase_done("dead master shutdown", t);
        }

        // ---- Phase 3 ------------------------------------------------------
        let t = Instant::now();
        self.say("* Phase 3: Master Recovery Phase..");
        let mut states: Vec<ReplicaState> = Vec::new();
        let mut slave_pos_before: Vec<Option<String>> = Vec::new();
        let mut own_states: Vec<Option<crate::position::OwnState>> = Vec::new();
        let mut promotion_sql = Vec::new();
        for r in &mut alive {
            promotion_sql.push(crate::server::status::promotion_facts(&mut r.conn, r.dialect)?);
            let who = label(&r.conf);
            if !o.dry_run {
                let (conn, d) = (&mut r.conn, r.dialect);
                wait_for(o.wait_timeout, &format!("{who}: the SQL thread applying what it read"), || {
                    let st = replica_status(conn, d)?
                        .ok_or_else(|| Error::invalid(format!("{who}: no longer a replica")))?;
                    if let Some(e) = st.sql_error() {
                        return Err(Error::invalid(format!("{who}: SQL thread error {e}")));
                    }
                    Ok((!st.sql_running() || st.sql_settled()).then_some(()))
                })?;
                sql(&mut r.conn, &who, r.dialect.stop_replica())?;
            }
            // What its SQL thread applied, by GTID: re-pointing in GTID mode starts from it.
            slave_pos_before.push(match mode {
                GtidMode::SlavePos | GtidMode::CurrentPos => Some(gtid_slave_pos(&mut r.conn)?),
                _ => None,
            });
            own_states.push(if r.dialect == Dialect::MariaDb {
                let (server_id, st) = gtid_binlog_state(&mut r.conn)?;
                Some(crate::position::OwnState::Maria { server_id, state: crate::position::MariaState::parse(&st)? })
            } else {
                let (uuid, g) = mysql_gtid_executed(&mut r.conn)?;
                Some(crate::position::OwnState::Mysql { uuid, executed: crate::position::GtidSet::parse(&g)? })
            });
            let mut st = replica_state(&mut r.conn, &r.conf.name)?;
            st.host = Some(r.conf.ip.clone());
            st.port = Some(r.conf.port);
            self.say(&format!("  {}: read {} executed {}", r.conf.name, st.read, st.exec));
            states.push(st);
        }
        self.doc["replicas"] = Value::Array(
            alive
                .iter()
                .zip(&states)
                .map(|(r, s)| {
                    json!({"name": r.conf.name, "host": r.conf.ip, "port": r.conf.port, "read": s.read.to_string(),
                           "exec": s.exec.to_string(), "io_thread": r.status.get("Slave_IO_Running"),
                           "last_io_error": r.status.io_error()})
                })
                .collect(),
        );
        // Errant transactions: never promoted, always reported.
        let errant = crate::position::errant(&own_states);
        for (r, e) in alive.iter().zip(&errant) {
            if !e.is_empty() {
                self.say(&format!(
                    "  {}: errant transactions (its own writes, on no other replica; never promoted), up to {}",
                    label(&r.conf),
                    e.join(",")
                ));
            }
        }
        if let Value::Array(a) = &mut self.doc["replicas"] {
            for (v, e) in a.iter_mut().zip(&errant) {
                v["errant_gtids"] = json!(e);
            }
        }
        let li = latest(&states).expect("one replica at least");
        let lr = &alive[li];
        self.say(&format!("  Latest replica: {} (read {})", label(&lr.conf), states[li].read));
        if let Some(n) = crate::position::latest_note(&states) {
            self.say(&format!("    note: {n}"));
            self.doc["latest_note"] = json!(n);
        }
        let lhost = lr.host.as_ref().map_err(|e| {
            Error::invalid(format!("the latest replica {}'s relay logs are out of reach: {e}", label(&lr.conf)))
        })?;
        let lbin = lr.bin.clone().ok_or_else(|| {
            Error::invalid(format!("the latest replica {}'s host cannot run binlog-diff (see above)", label(&lr.conf)))
        })?;
        let workdir = match &o.workdir {
            Some(w) => w.clone(),
            None => conf.manager_workdir.join(format!("failover-{run_dir}")),
        };
        std::fs::create_dir_all(&workdir).map_err(|e| Error::io(&workdir, e))?;
        let rdir = |h: &Host, s: &ServerConf| -> PathBuf {
            match h {
                Host::Local => workdir.clone(),
                Host::Ssh(_) => s.remote_workdir.join(&run_dir),
            }
        };

        // The cut, on the latest replica's host (one shared pass for every
        // replica), and beside it the dead master's tail, on its own host;
        // then every file streamed back here, in parallel.
        let state_json = serde_json::to_vec(&states.iter().map(ReplicaState::to_json).collect::<Vec<_>>())
            .map_err(|e| Error::invalid(e.to_string()))?;
        let cut_dir = rdir(lhost, &lr.conf).join("diffs");
        let mut args: Vec<String> = vec!["diff".into(), "--state".into(), "-".into(), "--json".into()];
        if !o.dry_run {
            args.extend(["--write".into(), cut_dir.to_string_lossy().into_owned()]);
        }
        let saver = match (dead_ssh && !o.dry_run, &dead_host, &dead_bin) {
            (true, Ok(h), Some(b)) => Some((h, b.as_str())),
            _ => None,
        };
        let dirs: Vec<String> = dead.master_binlog_dir.iter().map(|d| d.to_string_lossy().into_owned()).collect();
        // The tail goes beside the run folder, which exists only where the binary was pushed.
        let tail_file = |h: &Host| match h {
            Host::Local => workdir.join("master-tail.binlog"),
            Host::Ssh(_) => dead.remote_workdir.join(format!("{run_dir}-master-tail.binlog")),
        };
        let save = |h: &Host, b: &str, from: &str| -> Result<Saved> {
            let t = Instant::now();
            let (f, p) = from.rsplit_once(':').unwrap_or(("", "0"));
            let out_file = tail_file(h);
            let a = vec![
                "mha".into(),
                "save_binary_logs".into(),
                "--command=save".into(),
                format!("--start_file={f}"),
                format!("--start_pos={p}"),
                format!("--binlog_dir={}", dirs.join(",")),
                format!("--output_file={}", out_file.display()),
            ];
            let out = node(h, b, "save the dead master's binlog tail", &a, b"", o.step_timeout, &[10])?;
            if out.status == 10 {
                return Ok(Saved { from: from.to_string(), file: None, line: String::new(), secs: secs(t.elapsed()) });
            }
            let line = out.stdout.lines().find(|l| l.contains("Saved ")).unwrap_or("").trim().to_string();
            let file = h.fetch(&out_file, &workdir)?;
            Ok(Saved { from: from.to_string(), file: Some(file), line, secs: secs(t.elapsed()) })
        };
        // The latest replica's SQL thread executed all it read: its executed
        // position is where its relay logs end on a boundary, unless the cut
        // says otherwise (then the tail is saved again from there).
        let guess = states[li].exec.to_string();
        let tc = Instant::now();
        let (cut, saved) = std::thread::scope(|sc| {
            let saving = saver.map(|(h, b)| sc.spawn(|| save(h, b, &guess)));
            let cut = (|| -> Result<(Value, f64, Vec<Option<PathBuf>>)> {
                let out = node(lhost, &lbin, "cut the diffs", &args, &state_json, o.step_timeout, &[])?;
                let plan: Value = serde_json::from_str(&out.stdout).map_err(|e| {
                    Error::invalid(format!("the cut on {} printed no plan ({e}): {}", lhost.label(), out.stderr.trim()))
                })?;
                // Each replica's diff on the latest replica's host (none when it holds no transaction).
                let cut_files: Vec<Option<PathBuf>> = states
                    .iter()
                    .map(|st| {
                        let t = plan["replicas"].as_array()?.iter().find(|t| t["state"]["name"] == json!(st.name))?;
                        let txs = t["diff"]["transactions"].as_u64().unwrap_or(0);
                        (!o.dry_run && txs > 0).then(|| t["file"].as_str().map(PathBuf::from)).flatten()
                    })
                    .collect();
                Ok((plan, secs(tc.elapsed()), cut_files))
            })();
            (cut, saving.map(|h| h.join().unwrap_or_else(|_| Err(Error::invalid("save panicked")))))
        });
        let (plan, cut_secs, cut_files) = cut?;
        let relay_end = plan["relay_end"].as_str().unwrap_or_default().to_string();
        self.say(&format!(
            "  Cut on {} in {cut_secs:.2}s: the relay logs end on a transaction boundary at master {relay_end}",
            lhost.label(),
        ));
        if let Some(p) = plan["relay_partial"].as_object() {
            self.say(&format!(
                "  The latest replica holds a transaction only in part ({} @ {}, {} bytes): it must come from the dead master.",
                p["file"], p["offset"], p["bytes"]
            ));
        }
        let saved = match (saved, saver) {
            (Some(Ok(sv)), Some((h, b))) if sv.from != relay_end => {
                self.say(&format!("  The tail was saved from {}; saving it again from {relay_end}.", sv.from));
                Some(save(h, b, &relay_end))
            }
            (s, _) => s,
        };
        let mut tail: Option<(PathBuf, String)> = None;
        let mut nothing_after = false;
        match (saved, saver) {
            (Some(Ok(sv)), Some((h, _))) => match sv.file {
                Some(f) => {
                    self.say(&format!("  Dead master's tail saved on {} in {:.2}s: {}", h.label(), sv.secs, sv.line));
                    tail = Some((f, sv.line));
                }
                None => {
                    self.say("  The dead master has nothing after the latest replica.");
                    nothing_after = true;
                }
            },
            (Some(Err(e)), _) => self.say(&format!("  Could not save the dead master's tail: {e}")),
            _ if o.dry_run && dead_ssh => {
                self.say(&format!("  Would save the dead master's binlogs from {relay_end} on its host."));
            }
            _ => {}
        }
        if !o.dry_run && tail.is_none() && !nothing_after {
            let why = if dead_ssh { "could not be saved" } else { "its host is not reachable" };
            let m = format!(
                "whatever the dead master {} committed after {relay_end} ({why}): the survivors end where the latest replica's relay logs end",
                label(&dead)
            );
            self.say(&format!("  NOT RECOVERABLE: {m}"));
            self.report.unrecoverable.push(m);
            if let Some(p) = plan["relay_partial"].as_object() {
                let m = format!(
                    "the transaction the latest replica read only in part ({} @ {}, {} bytes), after master {relay_end}",
                    p["file"], p["offset"], p["bytes"]
                );
                self.say(&format!("  NOT RECOVERABLE: {m}"));
                self.report.unrecoverable.push(m);
            }
        }

        let mut diff_docs = Vec::new();
        let targets = plan["replicas"].as_array().cloned().unwrap_or_default();
        for (i, (r, st)) in alive.iter().zip(&states).enumerate() {
            let t = targets.iter().find(|t| t["state"]["name"] == json!(st.name)).cloned().unwrap_or(Value::Null);
            let d = t["diff"].clone();
            self.say(&format!(
                "  {}: {} transactions, {} bytes from the relay logs ({} .. {}){}",
                r.conf.name,
                d["transactions"].as_u64().unwrap_or(0),
                d["bytes"],
                d["master_start"].as_str().unwrap_or("-"),
                d["master_end"].as_str().unwrap_or("-"),
                t["by_gtid"].as_str().map(|g| format!(", found by GTID from {g}")).unwrap_or_default()
            ));
            if let Some(n) = t["gtid_note"].as_str() {
                self.say(&format!("    note: {n}"));
            }
            diff_docs.push(json!({"replica": r.conf.name, "relay_diff": d, "by_gtid": t["by_gtid"],
                                  "gtid_note": t["gtid_note"],
                                  "cut_on_latest": cut_files[i].as_ref().map(|f| f.display().to_string())}));
        }
        self.doc["latest"] = json!(lr.conf.name);
        self.doc["relay_end"] = json!(relay_end);
        self.doc["master_tail"] = match &tail {
            Some((f, saved)) => json!({"file": f.display().to_string(), "from": relay_end, "saved": saved}),
            None => Value::Null,
        };
        self.doc["diffs"] = json!(diff_docs);

        // The new master: hard rules, then preferences, then how many
        // replicas each choice keeps, then the latest (promote.rs).
        let rules = promote::registered(&promote::rules_file(&conf.manager_workdir))?;
        let mut facts = Vec::new();
        for (i, (r, sql)) in alive.iter().zip(promotion_sql).enumerate() {
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
        self.doc["candidates"] = Value::Array(ranked.iter().map(|c| c.to_json(&facts)).collect());
        let requested = match &o.new_master {
            Some((h, p)) => {
                let s = conf.find(h, *p)?;
                Some(
                    alive
                        .iter()
                        .position(|r| r.conf.name == s.name)
                        .ok_or_else(|| Error::invalid(format!("{} is not an alive replica", label(s))))?,
                )
            }
            None => None,
        };
        let new_idx = promote::choose(&ranked, &facts, requested)?;
        let why = match requested {
            Some(_) => "--new-master".to_string(),
            None => format!("the best candidate: {}", ranked[0].describe(&facts)),
        };
        // Replicas that cannot follow it are left as they are, and said to be lost.
        let cannot: Vec<Option<String>> = facts.iter().map(|f| promote::cannot_follow(&facts[new_idx], f)).collect();
        let new_master = alive[new_idx].conf.clone();
        self.say(&format!("  New master: {} ({why})", label(&new_master)));
        self.doc["new_master"] =
            json!({"name": new_master.name, "host": new_master.ip, "port": new_master.port, "why": why});
        for (r, c) in alive.iter().zip(&cannot) {
            if let Some(w) = c.as_ref().filter(|_| r.conf.name != new_master.name) {
                self.say(&format!("  {} cannot follow it ({w}): it will be left as it is.", label(&r.conf)));
            }
        }
        self.phase_done("master recovery", t);
        if o.dry_run {
            let hosts = alive.iter().filter_map(|r| r.host.as_ref().ok().map(|h| (h, &r.conf)));
            remove_run_files(hosts.chain(dead_host.as_ref().ok().map(|h| (h, &dead))), &run_dir, o.step_timeout);
            self.say("Dry run: nothing changed.");
            self.report.new_master = Some(new_master.name.clone());
            return Ok(());
        }

        // ---- Phase 4 ------------------------------------------------------
        let t = Instant::now();
        self.say("* Phase 4: Applying every replica's diff (in parallel) and re-pointing..");
        // Parallel apply only where it pays: below this, opening the extra
        // connections costs more than they save.
        const PARALLEL_FROM_BYTES: u64 = 1 << 20;
        let relay_bytes: Vec<u64> = diff_docs.iter().map(|d| d["relay_diff"]["bytes"].as_u64().unwrap_or(0)).collect();
        let tail_bytes = tail.as_ref().and_then(|(f, _)| std::fs::metadata(f).ok()).map(|m| m.len()).unwrap_or(0);
        let workers = |bytes: u64| match o.parallel {
            0 if bytes >= PARALLEL_FROM_BYTES => 4,
            0 => 1,
            n => n,
        };
        // Each replica: its relay diff (up to the boundary), then the master's tail (from it).
        let boundary: Option<crate::position::MasterPos> = relay_end.parse().ok();
        let tail_file = tail.as_ref().map(|(f, _)| f.clone());
        let inputs: Vec<std::result::Result<ApplyInput, String>> = states
            .iter()
            .zip(&cut_files)
            .map(|(st, cf)| match (&tail_file, &boundary) {
                // It executed past where the tail starts (the latest replica's
                // relay log torn shorter than what was executed from it). With
                // GTIDs the tail's apply skips what it has; without, fail it
                // rather than apply twice or leave a gap.
                (Some(_), Some(b)) if st.exec > *b && st.gtid_executed.is_none() => Err(format!(
                    "executed {} past the boundary {relay_end} where the dead master's tail starts: not recovered",
                    st.exec
                )),
                _ => Ok((cf.as_deref(), tail_file.as_deref())),
            })
            .collect();
        // A bar per replica on a terminal (quiet when piped); totals come from the applier's own count.
        let counters: Vec<std::sync::Arc<crate::apply::Counters>> = alive.iter().map(|_| Default::default()).collect();
        let bars = crate::apply::Bars::new(&alive.iter().map(|r| (r.conf.name.clone(), 0)).collect::<Vec<_>>());
        let applied_files: Vec<Mutex<Vec<PathBuf>>> = alive.iter().map(|_| Mutex::new(Vec::new())).collect();
        let applied_gtids: Vec<Mutex<Vec<String>>> = alive.iter().map(|_| Mutex::new(Vec::new())).collect();
        // The relay diffs, from the latest replica's host straight to each
        // target (one remote process for all, each target on its thread),
        // when that host is remote and every replica takes one account (the
        // password goes on that process's standard input only).
        let same_account = alive.iter().all(|r| {
            r.conf.user == alive[0].conf.user
                && r.conf.password.as_ref().map(crate::server::Secret::expose)
                    == alive[0].conf.password.as_ref().map(crate::server::Secret::expose)
        });
        let on_latest = o.apply_on_latest && matches!(lhost, Host::Ssh(_)) && same_account;
        let remote_targets: Vec<Value> = alive
            .iter()
            .zip(&inputs)
            .filter_map(|(r, input)| {
                let cut = input.as_ref().ok()?.0?;
                Some(json!({"state": {"name": r.conf.name, "host": r.conf.ip, "port": r.conf.port},
                            "file": cut.display().to_string()}))
            })
            .collect();
        let remote: std::sync::OnceLock<RemoteApplied> = std::sync::OnceLock::new();
        let remote_stage = || {
            let mut plan = json!({"replicas": remote_targets});
            if let Some(p) = &alive[0].conf.password {
                plan["password"] = json!(p.expose());
            }
            let args: Vec<String> = vec![
                "apply".into(),
                "--plan".into(),
                "-".into(),
                "--user".into(),
                alive[0].conf.user.clone(),
                "--skip-applied".into(),
                "--json".into(),
                "--progress".into(),
                "--parallel".into(),
                workers(relay_bytes.iter().copied().max().unwrap_or(0)).to_string(),
            ];
            let mut argv = vec![lbin.clone()];
            argv.extend(args);
            let t = Instant::now();
            // Its progress lines move each replica's bar.
            let mut follow = |l: &str| {
                let mut f = l.split('\t');
                if let (Some("progress"), Some(name), Some(done), Some(total)) =
                    (f.next(), f.next(), f.next(), f.next())
                {
                    if let Some(i) = alive.iter().position(|r| r.conf.name == name) {
                        let c = &counters[i];
                        c.total.store(total.parse().unwrap_or(0), std::sync::atomic::Ordering::Relaxed);
                        c.done.store(done.parse().unwrap_or(0), std::sync::atomic::Ordering::Relaxed);
                    }
                }
            };
            let step = "apply the relay diffs from the latest replica's host";
            let out = lhost.run_following(step, &argv, plan.to_string().as_bytes(), o.step_timeout, &mut follow);
            remote_applied(out, t.elapsed().as_secs_f64())
        };
        if on_latest && !remote_targets.is_empty() {
            self.say(&format!(
                "  Relay diffs applied from {} straight to each replica (one pass over the network).",
                lhost.label()
            ));
        }
        // Each replica on its own: its relay diff (from the latest replica's
        // host, or streamed here first), then the master's tail from here;
        // a small diff does not wait for a big one.
        let results: Vec<std::result::Result<String, String>> = std::thread::scope(|sc| {
            let hs: Vec<_> = alive
                .iter()
                .zip(&inputs)
                .zip(&counters)
                .zip(&applied_files)
                .zip(&applied_gtids)
                .zip(&relay_bytes)
                .map(|(((((r, input), c), keep), gtids), &rb)| {
                    let sp = spec(&r.conf);
                    let workdir = &workdir;
                    let (remote, remote_stage) = (&remote, &remote_stage);
                    sc.spawn(move || {
                        let (cut, tail) = input.clone()?;
                        let t = Instant::now();
                        let mut f = Vec::new();
                        let mut done: Vec<String> = Vec::new();
                        let mut gt: Vec<String> = Vec::new();
                        let mut cut = cut;
                        if let (true, Some(_)) = (on_latest, cut) {
                            match remote_result(remote.get_or_init(remote_stage), &r.conf.name) {
                                Ok(x) => {
                                    done.push(x.line);
                                    gt.extend(x.last_gtids);
                                    cut = None;
                                }
                                // The latest replica's host cannot reach it: bring the diff here.
                                Err(RemoteErr::CannotConnect(m)) => {
                                    done.push(format!("the latest replica's host cannot reach it ({m}): from here"));
                                }
                                Err(RemoteErr::Failed(m)) => {
                                    return Err(format!("apply failed on the latest replica's host: {m}"));
                                }
                            }
                        }
                        if let Some(cf) = cut {
                            f.push(lhost.fetch(cf, workdir).map_err(|e| e.to_string())?);
                        } else if !done.is_empty() {
                            // The bar follows the tail now.
                            c.done.store(0, std::sync::atomic::Ordering::Relaxed);
                        }
                        f.extend(tail.map(Path::to_path_buf));
                        *keep.lock().unwrap_or_else(|p| p.into_inner()) = f.clone();
                        if f.is_empty() {
                            *gtids.lock().unwrap_or_else(|p| p.into_inner()) = gt;
                            return Ok(if done.is_empty() { "nothing to apply".to_string() } else { done.join("; ") });
                        }
                        let fetched = t.elapsed().as_secs_f64();
                        // Its own state file: the master's tail is one file that
                        // several replicas apply at once, and the default state
                        // path sits beside the first input.
                        let state_file = workdir.join(format!("{}.apply-state", r.conf.name.replace('/', "_")));
                        let here = tail_bytes + if cut.is_some() { rb } else { 0 };
                        let opts = ApplyOptions {
                            parallel: workers(here),
                            counters: Some(c.clone()),
                            state_file: Some(state_file),
                            // A rerun after an interrupted failover: what an earlier
                            // run committed is in the target's GTID state.
                            skip_applied: true,
                            ..Default::default()
                        };
                        let t = Instant::now();
                        match apply(&sp, &f, &opts) {
                            Ok(r) => Ok({
                                gt.extend(r.last_gtids.iter().cloned());
                                *gtids.lock().unwrap_or_else(|p| p.into_inner()) = gt;
                                let here = format!(
                                    "applied {} transactions ({} events){} in {:.2}s{}",
                                    r.transactions,
                                    r.events,
                                    if r.skipped > 0 {
                                        format!(", skipped {} it already had", r.skipped)
                                    } else {
                                        String::new()
                                    },
                                    t.elapsed().as_secs_f64(),
                                    if cut.is_some() && !matches!(lhost, Host::Local) {
                                        format!(" (its diff fetched in {fetched:.2}s)")
                                    } else {
                                        String::new()
                                    }
                                );
                                done.push(here);
                                done.join("; then ")
                            }),
                            Err(e) => Err(format!("apply failed: {}", e.error)),
                        }
                    })
                })
                .collect();
            if let Some(b) = &bars {
                b.follow(&counters, || hs.iter().all(|h| h.is_finished()));
            }
            hs.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("apply panicked".into()))).collect()
        });
        let files: Vec<Vec<PathBuf>> =
            applied_files.into_iter().map(|m| m.into_inner().unwrap_or_else(|p| p.into_inner())).collect();
        // Every file is here now: the hosts' run files go, beside the re-pointing.
        let mut sessions: Vec<(Host, ServerConf)> = alive
            .iter_mut()
            .filter_map(|r| std::mem::replace(&mut r.host, Err("closed".into())).ok().map(|h| (h, r.conf.clone())))
            .collect();
        sessions.extend(dead_host.ok().map(|h| (h, dead.clone())));
        let cleanup = {
            let (run_dir, t) = (run_dir.clone(), o.step_timeout);
            std::thread::spawn(move || remove_run_files(sessions.iter().map(|(h, s)| (h, s)), &run_dir, t))
        };
        if let Some(b) = &bars {
            for (i, r) in results.iter().enumerate() {
                b.finish(i, &counters, r.is_ok());
            }
        }
        for (r, res) in alive.iter().zip(&results) {
            match res {
                Ok(m) => self.say(&format!("  {}: {m}", label(&r.conf))),
                Err(m) => self.say(&format!("  {}: FAILED: {m}", label(&r.conf))),
            }
        }
        self.doc["applied"] = Value::Array(
            alive
                .iter()
                .zip(&results)
                .zip(&files)
                .map(|((r, res), f)| {
                    json!({"replica": r.conf.name, "files": f.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
                           "ok": res.is_ok(), "result": match res { Ok(m) | Err(m) => m }})
                })
                .collect(),
        );
        if let Err(e) = &results[new_idx] {
            return Err(Error::invalid(format!(
                "the new master {} could not be recovered ({e}); the other replicas applied their diffs but were not \
                 re-pointed: fix it and re-run `binlog-diff apply --resume` on it, or pick another with --new-master",
                label(&new_master)
            )));
        }
        let (file, pos) = {
            let r = &mut alive[new_idx];
            binlog_coords(&mut r.conn, r.dialect)?
                .ok_or_else(|| Error::invalid(format!("{}: binary logging is off", label(&new_master))))?
        };
        self.say(&format!("  New master {} at {file}:{pos}", label(&new_master)));
        self.doc["new_master"]["binlog"] = json!(format!("{file}:{pos}"));
        if let Some(script) = &new_master.master_ip_failover_script {
            let args = hooks::ip_start_args(&dead, &new_master, dead_ssh);
            self.say(&format!("  Executing master IP activate script: {}", hooks::shown(script, &args)));
            match hooks::run(script, &args, o.hook_timeout) {
                HookExit::Ok => self.say("  OK."),
                HookExit::Ten => self.say("  It exited 10: proceeding (as MHA)."),
                HookExit::Failed(m) => {
                    return Err(Error::invalid(format!(
                        "master_ip_failover_script --command=start failed ({m}): {} has every transaction but \
                         takes no writes; the others were not re-pointed",
                        label(&new_master)
                    )));
                }
            }
        }
        set_read_only(&mut alive[new_idx].conn, false)
            .map_err(|e| Error::invalid(format!("{}: {e}", label(&new_master))))?;
        let to = SourceAddr { host: new_master.ip.clone(), port: new_master.port, user: String::new(), password: None };
        let wait = o.wait_timeout;
        // In MariaDB GTID mode each replica starts from its gtid_slave_pos:
        // what its SQL thread had applied, plus what we applied (every
        // survivor now holds the same transactions, so the same position).
        let mut starts: Vec<Option<String>> = Vec::new();
        for ((before, gtids), r) in slave_pos_before.iter().zip(applied_gtids).zip(&alive) {
            starts.push(match before {
                Some(b) => {
                    let mut st = crate::position::MariaState::parse(b)
                        .map_err(|e| Error::invalid(format!("{}: gtid_slave_pos: {e}", label(&r.conf))))?;
                    for g in gtids.into_inner().unwrap_or_else(|p| p.into_inner()) {
                        st.add(&g)?;
                    }
                    Some(st.domain_position())
                }
                None => None,
            });
        }
        let repointed: Vec<std::result::Result<String, String>> = std::thread::scope(|sc| {
            let hs: Vec<_> = alive
                .iter_mut()
                .zip(results)
                .zip(starts)
                .enumerate()
                .filter(|(i, _)| *i != new_idx)
                .map(|(i, ((r, res), start))| {
                    let lost = cannot[i].clone();
                    let to = SourceAddr {
                        user: r.conf.repl_user.clone(),
                        password: new_master.repl_password.clone().or_else(|| r.conf.repl_password.clone()),
                        ..to.clone()
                    };
                    let nm = label(&new_master);
                    let file = &file;
                    sc.spawn(move || {
                        let applied = res?;
                        if let Some(w) = lost {
                            return Err(format!(
                                "{applied}; lost: it cannot follow the new master ({w}), left as it is"
                            ));
                        }
                        let d = r.dialect;
                        // In the topology's own mode: a GTID topology stays one.
                        let (stmt, how) = match mode {
                            GtidMode::Off => (d.change_source_to_pos(&to, file, pos), format!("at {file}:{pos}")),
                            m => {
                                if let Some(p) = &start {
                                    set_gtid_slave_pos(&mut r.conn, p).map_err(|e| e.to_string())?;
                                }
                                let stmt = d.change_source_to_gtid(&to, m).ok_or_else(|| {
                                    format!(
                                        "{} cannot be re-pointed in {} mode (its dialect: {d:?})",
                                        label(&r.conf),
                                        m.name()
                                    )
                                })?;
                                let from = start.as_ref().map(|p| format!(", gtid_slave_pos {p}")).unwrap_or_default();
                                (stmt, format!("in {} mode{from}", m.name()))
                            }
                        };
                        // The statement holds the replication password: errors quote it without.
                        r.conn.query_drop(stmt).map_err(|e| format!("CHANGE MASTER TO {nm}: {e}"))?;
                        r.conn.query_drop(d.start_replica()).map_err(|e| format!("{}: {e}", d.start_replica()))?;
                        let conn = &mut r.conn;
                        wait_for(wait, "replication from the new master", || {
                            let st = replica_status(conn, d)?.unwrap_or_default();
                            if let Some(e) = st.io_error().or_else(|| st.sql_error()) {
                                return Err(Error::invalid(e));
                            }
                            Ok((st.io_running() && st.sql_running()).then_some(()))
                        })
                        .map_err(|e| format!("replication did not start: {e}"))?;
                        Ok(format!("{applied}; replicating from {nm} {how}"))
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("panicked".into()))).collect()
        });
        let others: Vec<&Replica> = alive.iter().enumerate().filter(|(i, _)| *i != new_idx).map(|(_, r)| r).collect();
        let mut new_slaves = Vec::new();
        for (r, res) in others.iter().zip(repointed) {
            match &res {
                Ok(m) => {
                    self.say(&format!("  {}: {m}", label(&r.conf)));
                    new_slaves.push(r.conf.hostname.clone());
                }
                Err(m) => self.say(&format!("  {}: FAILED: {m}", label(&r.conf))),
            }
            let res = if r.conf.ignore_fail {
                res.or_else(|e| Ok(format!("failed, ignored (ignore_fail): {e}")))
            } else {
                res
            };
            self.report.replicas.push((r.conf.name.clone(), res));
        }
        self.doc["repointed"] = Value::Array(
            self.report
                .replicas
                .iter()
                .map(|(n, r)| json!({"replica": n, "ok": r.is_ok(), "result": match r { Ok(m) | Err(m) => m }}))
                .collect(),
        );
        self.phase_done("apply and re-point", t);

        // ---- Phase 5 ------------------------------------------------------
        let t = Instant::now();
        self.say("* Phase 5: New master cleanup phase..");
        {
            let r = &mut alive[new_idx];
            let who = label(&new_master);
            sql(&mut r.conn, &who, r.dialect.stop_replica())?;
            sql(&mut r.conn, &who, r.dialect.reset_replica_all())?;
        }
        self.report.new_master = Some(new_master.name.clone());
        if let Err(e) = promote::record_failover(&last, &dead.name, &new_master.name) {
            self.say(&format!("  Could not record this failover for anti-flapping: {e}"));
        }
        let _ = cleanup.join();
        let outcome =
            if self.report.ok() { "completed successfully" } else { "done, but recovery on some replicas failed" };
        let subject = format!("MySQL Master failover {}", label(&dead));
        let body = format!("Master {} is down! Failover to {} {outcome}.", label(&dead), label(&new_master));
        if let Some(script) = &dead.report_script {
            let args = hooks::report_args(&dead, Some((&new_master, &new_slaves)), &conf.path, &subject, &body);
            self.say(&format!("  Executing report script: {}", hooks::shown(script, &args)));
            if let HookExit::Failed(m) = hooks::run(script, &args, o.hook_timeout) {
                self.say(&format!("  report_script failed: {m}"));
            }
        }
        self.phase_done("cleanup", t);
        let per_phase: Vec<String> = self.phases.iter().map(|(n, s)| format!("{n} {s:.2}s")).collect();
        self.say(&format!(
            "Master failover to {} {outcome} in {:.1}s ({}). Diffs: {}",
            label(&new_master),
            t_all.elapsed().as_secs_f64(),
            per_phase.join(", "),
            workdir.display()
        ));
        Ok(())
    }

    /// The topology's replication mode, which re-pointing keeps: every
    /// replica must agree (a mixed topology is refused before anything
    /// changes: re-pointing would have to change some replica's mode).
    fn replication_mode(&mut self, alive: &[Replica]) -> Result<GtidMode> {
        let modes: Vec<(String, GtidMode)> = alive.iter().map(|r| (label(&r.conf), r.status.gtid_mode())).collect();
        let mode = modes[0].1;
        if modes.iter().any(|(_, m)| *m != mode) {
            let each: Vec<String> = modes.iter().map(|(n, m)| format!("{n}: {}", m.name())).collect();
            return Err(Error::invalid(format!(
                "the replicas replicate in different modes ({}): re-pointing them in one mode would change some \
                 replica's; make them agree first (CHANGE MASTER TO … MASTER_USE_GTID=… / MASTER_AUTO_POSITION=…)",
                each.join(", ")
            )));
        }
        self.say(&format!("  Replication mode: {} (kept when re-pointing)", mode.name()));
        self.doc["replication_mode"] = json!(mode.name());
        Ok(mode)
    }

    /// The master is dead only if we cannot reach it *and* every replica has
    /// lost it too: waits up to `detect_wait` for the IO threads to notice.
    fn detect(&mut self, dead: &ServerConf, alive: &mut [Replica]) -> Result<()> {
        let t0 = Instant::now();
        loop {
            let mut still = Vec::new();
            for r in alive.iter_mut() {
                r.status = replica_status(&mut r.conn, r.dialect)?.unwrap_or_default();
                if r.status.io_running() {
                    still.push(label(&r.conf));
                }
            }
            if still.is_empty() || t0.elapsed() >= self.o.detect_wait {
                let ev: Vec<Value> = alive
                    .iter()
                    .map(|r| {
                        json!({"replica": r.conf.name, "io_thread": r.status.get("Slave_IO_Running"),
                               "last_io_error": r.status.io_error()})
                    })
                    .collect();
                for r in alive.iter() {
                    self.say(&format!(
                        "  Evidence: {}: IO thread {}{}",
                        label(&r.conf),
                        r.status.get("Slave_IO_Running"),
                        r.status.io_error().map(|e| format!(", last IO error {e}")).unwrap_or_default()
                    ));
                }
                self.doc["dead_master"]["evidence"] = json!(ev);
                if still.is_empty() {
                    self.say(&format!(
                        "  DeadMaster: {} is unreachable from here and from every replica.",
                        label(dead)
                    ));
                    self.doc["dead_master"]["verdict"] = json!("dead");
                    return Ok(());
                }
                self.doc["dead_master"]["verdict"] = json!("unreachable");
                if self.o.force {
                    self.say(&format!(
                        "  UnreachableMaster: {} still replicate from it; going on (--force).",
                        still.join(", ")
                    ));
                    return Ok(());
                }
                return Err(Error::new(crate::error::ErrorKind::NotDead(format!(
                    "UnreachableMaster: {} does not answer here, but {} still replicate from it (waited {:?}): \
                     it is not dead; nothing was changed (--force to fail over anyway)",
                    label(dead),
                    still.join(", "),
                    self.o.detect_wait
                ))));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}
