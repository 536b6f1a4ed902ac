//! The phase driver: a dead-master failover run by binlog-diff itself,
//! reading MHA's `app.cnf`, in MHA's phases, across hosts.
//!
//! Servers are reached over MySQL (status, stops, apply, re-pointing) and
//! their files only through their host ([`Host`]): this machine when the
//! host is loopback or our own name, else one SSH session per host (host key
//! checked, key authentication), opened once in phase 1 and reused. On each
//! host the work is done by our own binary (`--remote-binary`, or pushed
//! with `--push-binary`; its version must equal ours).
//!
//! Each phase is a file, a function from what the phases before it found to
//! what it found:
//!
//! 1. [`check`] **Configuration check**: nothing changes here. The dead
//!    master must not answer over MySQL *and* every replica's IO thread must
//!    have lost it (orchestrator's DeadMaster); every other server must
//!    replicate from it, with a working SQL thread (else it is left out with
//!    `ignore_fail`, or the run is refused naming `ignore_fail`). When the
//!    dead master's host still answers SSH, its binlog tail is saved now,
//!    before anything changes: if that fails, the run stops here (the fix is
//!    named) unless `--accept-loss`.
//! 2. [`shutdown`] **Dead master shutdown**: the in-progress record is
//!    written first ([`record`]); `master_ip_failover_script --command=stop|stopssh`
//!    and `shutdown_script` with MHA's arguments and exit codes; then
//!    `STOP SLAVE IO_THREAD`.
//! 3. [`recover`] **Master recovery**: every SQL thread applies what it read
//!    and stops; the latest replica; on *its* host, one shared pass cuts
//!    every replica's diff; the dead master's tail again from where the relay
//!    logs end, when that is not where phase 1 saved it from; what cannot be
//!    recovered; the new master by the promotion rules.
//! 4. [`apply`] **Apply**: every replica applies its relay diff and the
//!    master tail natively, all at once, each verified; then [`repoint`]:
//!    the new master gets `master_ip_failover_script --command=start` and
//!    `read_only=0`, the others follow it in the topology's own mode.
//! 5. [`cleanup`] **Cleanup**: `RESET SLAVE ALL` on the new master, every
//!    server's GTID state saying what it holds, `report_script`, the
//!    anti-flapping record, the in-progress record removed.
//!
//! A run that stops after phase 2 began leaves its in-progress record: a
//! plain rerun is refused while it exists, and `--resume` continues it,
//! replica by replica, from each one's apply state ([`outcome`] has the exit
//! codes). Every wait is bounded: MySQL control connections by
//! `--mysql-timeout`, each SSH step by `--step-timeout`, SQL threads and
//! replication start by `--wait-timeout`; an expired wait is an error naming
//! the host and step.

pub mod apply;
pub mod check;
pub mod cleanup;
pub mod config;
pub mod flapping;
pub mod hooks;
pub mod lock;
pub mod monitor;
pub mod outcome;
pub mod preflight;
pub mod promote;
pub mod record;
pub mod recover;
mod remote_apply;
pub mod repoint;
pub mod report;
mod run_folder;
pub mod shutdown;
pub mod switch;
mod tail;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind, Result};
use crate::remote::{Host, SshOptions};
use crate::server::ConnSpec;
use crate::server::Server;
use crate::server::status::Status;

pub use config::{AppConf, ServerConf};

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
    /// Go on when the dead master's host answers but its binlog tail cannot
    /// be saved: what it alone committed is then lost (and said so).
    pub accept_loss: bool,
    /// Continue the failover whose in-progress record is in the manager's
    /// workdir (it stopped part-way).
    pub resume: bool,
    /// How long to wait for every replica's IO thread to lose the master.
    pub detect_wait: Duration,
    /// Bound for each MySQL control connection's connect, read and write.
    pub mysql_timeout: Duration,
    /// Bound for each SSH step as a whole (a remote cut, a save, a fetch, a
    /// remote apply): a deadline, not an idle timeout; and for each
    /// replica's apply (`apply --deadline`).
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
            accept_loss: false,
            resume: false,
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
    /// Servers left out (`ignore_fail`), with why: left as they were.
    pub left_out: Vec<(String, String)>,
    /// What the run knows it could not recover.
    pub unrecoverable: Vec<String>,
    /// The whole report, as written by `--json`.
    pub doc: report::Report,
}

impl FailoverReport {
    /// Every server recovered (what the dead master alone had may still be
    /// lost: see `unrecoverable`).
    pub fn ok(&self) -> bool {
        self.new_master.is_some() && self.replicas.iter().all(|r| r.1.is_ok())
    }

    /// The exit code of a run that got to the end (see [`outcome`]).
    pub fn exit_code(&self) -> u8 {
        outcome::of_report(self)
    }
}

/// One line of the run's log, as a `tracing` event (target
/// `binlog_diff::phase`): the front decides where it goes (the terminal, and
/// MHA's `manager_log`; see [`log_to`]).
fn say(s: &str) {
    // A hook's output, a server's message: a password is never printed.
    tracing::info!("{}", crate::secret::redact(s));
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

/// A surviving replica.
struct Replica {
    conf: ServerConf,
    srv: Server,
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

fn is_local(host: &str) -> bool {
    matches!(host, "127.0.0.1" | "localhost" | "::1")
        || std::fs::read_to_string("/etc/hostname").is_ok_and(|h| h.trim() == host)
}

/// Opens `s`'s host: this machine, or an SSH session from its `ssh_*`
/// settings; what a person should know of the session (an unverified host
/// key accepted) goes to `log`.
fn open_host(s: &ServerConf, step_timeout: Duration, log: &mut dyn FnMut(&str)) -> std::result::Result<Host, String> {
    if is_local(&s.ssh_host) {
        return Ok(Host::Local);
    }
    let opts = SshOptions::parse(&s.ssh_options);
    let t = Duration::from_secs(s.ssh_connection_timeout.max(1));
    Host::ssh(&s.ssh_user, &s.ssh_host, s.ssh_port, &opts, t, step_timeout, log).map_err(|e| e.to_string())
}

/// Opens `s`'s host ([`open_host`]) and our binary there
/// ([`Host::node`]; with `push`, a copy pushed to the run folder `run_dir`
/// of its `remote_workdir`).
fn open_host_and_node(
    s: &ServerConf,
    run_dir: &str,
    bin: &str,
    push: bool,
    step_timeout: Duration,
    folder: Option<(&run_folder::Made, bool)>,
    log: &mut dyn FnMut(&str),
) -> (std::result::Result<Host, String>, std::result::Result<String, String>) {
    let h = open_host(s, step_timeout, log);
    let b = match &h {
        Ok(h) => {
            let dir = s.remote_workdir.join(run_dir);
            // A failover's run folder (made, not reused: see run_folder), before anything goes there.
            let made = match (h, folder) {
                (Host::Ssh(_), Some((made, resumed))) => made.make(h, &dir, resumed, step_timeout),
                _ => Ok(()),
            };
            made.and_then(|()| h.node(bin, push.then_some(dir.as_path()), step_timeout).map_err(|e| e.to_string()))
        }
        Err(e) => Err(e.clone()),
    };
    (h, b)
}

/// `st` names `m` as its master: `m`'s address or hostname, and its port.
fn replicates_from(st: &Status, m: &ServerConf) -> bool {
    let (h, p) = st.master();
    p == m.port && (h == m.ip || h == m.hostname)
}

fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Runs the failover.
///
/// # Errors
/// - before anything changed: the refusal or failure, as its own kind
///   (`NotDead`, `Refused`, `Connect`, …); nothing was changed;
/// - after phase 2 began: [`ErrorKind::Unfinished`]: the in-progress record
///   is left in the manager's workdir and `--resume` continues the run.
///
/// Failures while applying or re-pointing a replica other than the new
/// master are in the report (the others go on, as MHA's phase 4 does). With
/// `json`, the report is written in every case.
pub fn failover(o: &FailoverOptions, conf: &AppConf) -> Result<FailoverReport> {
    // One failover or switch of a cluster at a time.
    let _lock = lock::ClusterLock::take(&conf.manager_workdir, "failover")?;
    let mut run = Run {
        o,
        conf,
        phases: Vec::new(),
        report: FailoverReport::default(),
        doc: report::Report { version: report::VERSION, ..Default::default() },
        record: None,
        new_slaves: Vec::new(),
    };
    let r = run.go();
    // After the record was written, a failure leaves it (with why) for `--resume`.
    let r = match (r, run.record.as_mut()) {
        (Err(e), Some(rec)) => {
            rec.stopped = Some(e.to_string());
            let kept = rec.save(&conf.manager_workdir);
            let path = record::path(&conf.manager_workdir);
            let mut m = format!(
                "{e}; the failover stopped part-way (its record: {}): fix that, then run it again with --resume",
                path.display()
            );
            if let Err(k) = kept {
                m.push_str(&format!(" (the record could not be updated: {k})"));
            }
            Err(Error::new(ErrorKind::Unfinished(m)))
        }
        (r, _) => r,
    };
    run.doc.phases = run.phases.iter().map(|&(p, seconds)| report::PhaseTime { phase: p.name(), seconds }).collect();
    run.doc.result = Some(match &r {
        Ok(()) if !run.report.unrecoverable.is_empty() => report::Outcome::Word("lost"),
        Ok(()) if run.report.ok() => report::Outcome::Word("success"),
        Ok(()) => report::Outcome::Word("partial"),
        Err(e) => report::Outcome::Error { error: e.to_string(), exit: outcome::of_error(e) },
    });
    run.doc.unrecoverable = run.report.unrecoverable.clone();
    if let Ok(()) = &r {
        run.doc.exit = Some(run.report.exit_code());
    }
    if let Some(p) = &o.json {
        let text = serde_json::to_string_pretty(&run.doc).unwrap_or_default() + "\n";
        let text = crate::secret::redact(&text);
        crate::log::write_atomically(p, text.as_bytes())?;
    }
    run.report.doc = std::mem::take(&mut run.doc);
    r.map(|()| run.report)
}

/// One failover run: the options, the report as it grows, and the
/// in-progress record once phase 2 began.
struct Run<'a> {
    o: &'a FailoverOptions,
    conf: &'a AppConf,
    phases: Vec<(report::Phase, f64)>,
    report: FailoverReport,
    doc: report::Report,
    record: Option<record::Record>,
    /// The hostnames now replicating from the new master (for `report_script`).
    new_slaves: Vec<String>,
}

impl Run<'_> {
    fn say(&self, s: &str) {
        say(s);
    }

    fn phase_done(&mut self, phase: report::Phase, t: Instant) {
        self.phases.push((phase, secs(t.elapsed())));
    }

    /// Updates the in-progress record (a no-op before it exists, in a dry run).
    fn note(&mut self, f: impl FnOnce(&mut record::Record)) -> Result<()> {
        match self.record.as_mut() {
            Some(r) => {
                f(r);
                r.save(&self.conf.manager_workdir)
            }
            None => Ok(()),
        }
    }

    fn go(&mut self) -> Result<()> {
        let t_all = Instant::now();
        let mut c = self.check()?;
        let r = self.go_checked(&mut c, t_all);
        if r.is_err() {
            // The run's folders go on every way out; once changes began
            // (a record exists), the remote applies' state files stay for
            // `--resume`.
            run_folder::remove(c.opened_hosts(), &c.run_dir, self.record.is_some(), self.o.step_timeout);
        }
        r
    }

    /// Phases 2 to 5, once phase 1 passed.
    fn go_checked(&mut self, c: &mut check::Checked, t_all: Instant) -> Result<()> {
        if !self.o.dry_run {
            self.shutdown(c)?;
        }
        // Resumed after the new master took writes: only the re-pointing is left.
        if let Some(p) = c.resumed.as_ref().and_then(|r| r.promoted.clone()) {
            let promoted = self.repoint_resumed(c, &p)?;
            return self.cleanup(c, &promoted, t_all);
        }
        let Some(r) = self.recover(c)? else {
            return Ok(()); // a dry run ends with the plan
        };
        let applied = self.apply(c, &r)?;
        let promoted = self.promote(c, &r, &applied)?;
        self.repoint(c, &r, applied, &promoted)?;
        self.cleanup(c, &promoted, t_all)
    }
}
