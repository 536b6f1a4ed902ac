//! `binlog-diff switch`: a planned master switch while the master is alive
//! (MHA's `masterha_master_switch --master_state=alive`).
//!
//! 1. **Checks** (nothing changes). The current master is the server the
//!    others replicate from; each replica runs both threads. Every
//!    replica's lag (`Seconds_Behind_Master`) and `MASTER_DELAY`
//!    (`SQL_Delay`) are read: a replica more than `--running-updates-limit`
//!    seconds behind, or delayed on purpose, ranks last and is never
//!    chosen by itself; `--new-master` naming one is refused with its delay
//!    and the fix. The new master is `--new-master` or the best candidate
//!    by the promotion rules (`promote.rs`), and no hard rule may exclude
//!    it. Statements running on the master for `--running-updates-limit`
//!    seconds or more refuse the switch (MHA's running_updates_limit): the
//!    write lock would wait on them. Transactions open that long that wrote
//!    or hold locks on the master refuse it too, each named (thread, user@host, its
//!    age, idle time, rows): ending them loses their work, and letting them
//!    be lets a client that `read_only` does not stop commit on the old
//!    master alone. `--kill-open-transactions` ends them instead. A replica
//!    delayed or lagging by `--wait-timeout` or more (it could not catch up
//!    in time after the switch) refuses it as well.
//! 2. **Rejecting updates.** `master_ip_online_change_script --command=stop`
//!    with MHA's arguments (0 or 10 go on); the new master's lag read again
//!    (the write-blocked window never waits on a replica known to be
//!    behind); with `--kill-open-transactions` the open transactions
//!    ended; then on the master `FLUSH NO_WRITE_TO_BINLOG TABLES`, `FLUSH
//!    TABLES WITH READ LOCK` (bounded by `lock_wait_timeout`) and
//!    `read_only=1`; its final coordinates.
//! 3. **The new master** executes up to them (`MASTER_POS_WAIT`), stops
//!    replicating, gets `--command=start` and `read_only=0`.
//! 4. **The others** wait for the same coordinates, then replicate from the
//!    new master in the topology's own mode, in parallel.
//! 5. `RESET SLAVE ALL` on the new master. On the old master, still under
//!    the lock, every client session is ended (`KILL CONNECTION`; never a
//!    replication thread nor the event scheduler); the lock is released (it
//!    stays read-only), sessions that connected meanwhile are ended too, and
//!    with `--orig-master-is-new-slave` it follows the new master.
//!
//! Why end every session rather than hold the lock for longer: the lock
//! already lasts until the start hook has moved the traffic and the new
//! master takes writes (phase 3), and it cannot outlive this process (nor
//! can the old master replicate under it). What `read_only` does not stop
//! (a SUPER or `READ ONLY ADMIN` client: root) is then a session that
//! outlived the switch: a pool's idle connection, a transaction begun after
//! the check. Ended, its client reconnects where the hook now points, or
//! is told its transaction failed; nothing it was told committed is lost.
//! A client that connects to the old master's address after the switch is
//! the hook's to stop, as in MHA.
//!
//! Any failure before the new master takes writes rolls back: the old
//! master's lock released and `read_only` as it was, the new master
//! replicating again, nothing re-pointed.

mod check;
mod steps;

use std::time::{Duration, Instant};

use serde::Serialize;

use super::config::{AppConf, ServerConf};
use super::hooks::{self, HookExit};
use super::{label, promote, say};
use crate::error::{Error, Result};
use crate::server::Server;
use crate::server::status::Status;

/// What `switch` is asked to do.
#[derive(Clone, Debug)]
pub struct SwitchOptions {
    /// The new master (`host[:port]`); else the best candidate.
    pub new_master: Option<(String, Option<u16>)>,
    /// The old master replicates from the new one afterwards.
    pub orig_master_is_new_slave: bool,
    /// Refuse when a statement has run this long on the master; a replica
    /// further behind is not chosen by itself.
    pub running_updates_limit: Duration,
    /// End the master's open transactions before the lock (else they
    /// refuse the switch).
    pub kill_open_transactions: bool,
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
            kill_open_transactions: false,
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
    /// The master's open transactions ended before the lock (`--kill-open-transactions`).
    open_transactions_ended: Vec<String>,
    /// Client sessions on the old master ended after the switch.
    sessions_ended: Vec<String>,
    /// Those that could not be ended (with why): they could still write there.
    sessions_not_ended: Vec<String>,
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

/// A server of the switch.
struct Node {
    conf: ServerConf,
    srv: Server,
    /// Its replica status at the check (`None`: not a replica: the master).
    status: Option<Status>,
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
        crate::log::write_atomically(p, crate::secret::redact(&text).as_bytes())?;
    }
    r
}

fn run(o: &SwitchOptions, conf: &AppConf, doc: &mut SwitchDoc) -> Result<String> {
    let t_all = Instant::now();
    say("* Phase 1: Configuration Check Phase..");
    let mut c = check::check(o, conf, doc)?;
    let new = c.new_master().clone();
    if o.dry_run {
        say("Dry run: nothing changed.");
        return Ok(format!("Dry run: {} would be the new master.", label(&new)));
    }
    let mut l = steps::reject_updates(o, &mut c, doc)?;
    let (nfile, npos) = steps::promote(o, &mut c, &mut l, doc)?;
    let blocked = l.since.elapsed().as_secs_f64();
    let old_end = (l.file.clone(), l.pos);
    let f = steps::Follow { o, new: &new, mode: c.mode, old_end: (&old_end.0, old_end.1), start: (&nfile, npos) };
    let mut failed = steps::others(&mut c, &f, doc);
    failed.extend(steps::cleanup(o, &mut c, &mut l, &f, doc)?);
    let outcome = if failed.is_empty() { "completed successfully" } else { "done, but some servers failed" };
    let line = format!(
        "Switching master to {} {outcome} in {:.1}s (writes rejected {blocked:.3}s).",
        label(&new),
        t_all.elapsed().as_secs_f64()
    );
    say(&line);
    match failed.is_empty() {
        true => Ok(line),
        false => Err(Error::server(failed.join(", "), format!("{line} They failed (see above)."))),
    }
}
