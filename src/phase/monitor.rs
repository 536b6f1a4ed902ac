//! `binlog-diff monitor`: MHA's `masterha_manager`. Pings the master every
//! `ping_interval` seconds (app.cnf, MHA's default 3); after
//! `ping_failures` pings in a row fail, runs the failover, whose first phase
//! confirms the death through the replicas (a master the replicas still
//! reach is UnreachableMaster: watching goes on).
//!
//! The watch follows the topology: a `switch` (ours, MHA's, or by hand)
//! makes another server the master, and the monitor watches that one. It
//! looks again at who the master is when the one it pings turns read-only
//! (a switch's first step), at least every [`RECHECK`], and before it fails
//! over: a master the replicas no longer follow is not failed over. A
//! failover and a switch never run at once (the cluster lock, `lock.rs`).
//!
//! After a failover it exits, or with `continue_after` watches the new
//! master. With `continue_after`, a failover refused before it changed
//! anything (the anti-flapping block, a switch holding the cluster, a
//! topology that changed under it) never ends the watch: it says why and
//! watches on. A failover that stopped part-way ends it: its in-progress
//! record needs an operator, and a monitor does not start while one exists.
//! A stop request (SIGTERM, SIGINT) ends the watch between pings.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::config::AppConf;
use super::record::Record;
use super::{FailoverOptions, failover, label, say, spec};
use crate::error::{Error, ErrorKind, Result};
use crate::server::Server;

/// How often the watch looks again at who the master is, even while pings succeed.
pub const RECHECK: Duration = Duration::from_secs(30);

/// How to watch.
#[derive(Clone, Debug)]
pub struct MonitorOptions {
    /// Seconds between pings (app.cnf `ping_interval` when `None`).
    pub ping_interval: Option<Duration>,
    /// Failed pings in a row before the failover runs.
    pub ping_failures: u32,
    /// Keep watching the new master after a failover.
    pub continue_after: bool,
    /// For the failover (its dead master is filled in).
    pub failover: FailoverOptions,
}

/// How a watch ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ended {
    /// A stop was requested.
    Stopped,
    /// A failover ran: its new master, and its exit code (0, or 10/11 when
    /// it did not recover everything: see [`super::outcome`]).
    FailedOver {
        /// The new master's section name.
        new_master: String,
        /// The failover's exit code.
        exit: u8,
    },
}

/// The server every other reachable one replicates from.
fn current_master(conf: &AppConf) -> Result<usize> {
    let mut masters = Vec::new();
    for (i, s) in conf.servers.iter().enumerate() {
        let Ok(mut srv) = Server::connect_within(&spec(s), Duration::from_secs(5)) else { continue };
        if let Some(st) = srv.replica_status()? {
            let (h, p) = st.master();
            masters.push(conf.servers.iter().position(|m| m.port == p && (m.ip == h || m.hostname == h)));
        } else {
            masters.push(Some(i));
        }
    }
    let first = masters.iter().flatten().next().copied();
    match first {
        Some(m) if masters.iter().all(|x| *x == Some(m)) => Ok(m),
        _ => Err(Error::refused("no single master that every reachable server agrees on")),
    }
}

/// What a ping saw.
enum Ping {
    /// It answers and takes writes.
    Writable,
    /// It answers but is read-only: maybe no longer the master.
    ReadOnly,
    Failed,
}

fn ping(conf: &super::config::ServerConf, t: Duration) -> Ping {
    match Server::connect_within(&spec(conf), t).and_then(|mut s| s.read_only()) {
        Ok(true) => Ping::ReadOnly,
        Ok(false) => Ping::Writable,
        Err(_) => Ping::Failed,
    }
}

/// Sleeps out `d` from `t`, looking at the stop flag as it goes.
fn wait_out(t: Instant, d: Duration, stop: &AtomicBool) {
    while t.elapsed() < d && !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(50).min(d));
    }
}

/// Watches `conf`'s master until it dies (then fails over) or `stop` is set.
///
/// # Errors
/// An unfinished failover's record exists (at start, or left by a
/// failover it ran); no master can be found at start; a failover fails or
/// is refused and `continue_after` is off.
pub fn monitor(o: &MonitorOptions, conf: &AppConf, stop: &Arc<AtomicBool>) -> Result<Ended> {
    if let Some(r) = Record::load(&conf.manager_workdir)? {
        return Err(Error::refused(format!(
            "{}; finish it first (`binlog-diff failover --resume`), then start the monitor",
            r.describe()
        )));
    }
    let interval = o.ping_interval.unwrap_or(Duration::from_secs(conf.ping_interval.max(1)));
    let mut mi = current_master(conf)?;
    loop {
        let m = conf.servers[mi].clone();
        say(&format!(
            "Monitoring {} every {:?} ({} failed pings in a row: failover).",
            label(&m),
            interval,
            o.ping_failures
        ));
        let mut failed = 0u32;
        let mut checked = Instant::now();
        let moved = loop {
            let t = Instant::now();
            if stop.load(Ordering::Relaxed) {
                say("Stop requested: no longer monitoring.");
                return Ok(Ended::Stopped);
            }
            let p = ping(&m, interval);
            let due = checked.elapsed() >= RECHECK || matches!(p, Ping::ReadOnly);
            if matches!(p, Ping::Failed) {
                failed += 1;
                say(&format!("  {}: ping failed ({failed}/{})", label(&m), o.ping_failures));
            } else {
                failed = 0;
            }
            // Before failing over, and now and then: is it still the master?
            if due || failed >= o.ping_failures {
                checked = Instant::now();
                match current_master(conf) {
                    Ok(now) if now != mi => break Some(now),
                    _ if failed >= o.ping_failures => break None,
                    _ => {}
                }
            }
            wait_out(t, interval, stop);
        };
        if let Some(now) = moved {
            say(&format!(
                "The topology changed: every server follows {}, not {}; watching it.",
                label(&conf.servers[now]),
                label(&m)
            ));
            mi = now;
            continue;
        }
        let mut fo = o.failover.clone();
        fo.dead_master_host = m.ip.clone();
        fo.dead_master_port = Some(m.port);
        say(&format!("{} does not answer: failing over.", label(&m)));
        match failover(&fo, conf) {
            Ok(r) if r.new_master.is_some() => {
                let new = r.new_master.clone().unwrap_or_default();
                if !o.continue_after {
                    return Ok(Ended::FailedOver { new_master: new, exit: r.exit_code() });
                }
                say(&format!("Failed over to {new}; watching it (--continue)."));
                mi = conf.servers.iter().position(|s| s.name == new).unwrap_or(mi);
            }
            Ok(_) => return Err(Error::refused("the failover ended without a new master")),
            Err(e) if matches!(e.kind(), ErrorKind::NotDead(_)) => {
                say(&format!("Not dead as the replicas see it ({e}); watching on."));
            }
            // It changed nothing: a watch that is to go on goes on.
            Err(e) if o.continue_after && !matches!(e.kind(), ErrorKind::Unfinished(_)) => {
                say(&format!("The failover was refused, nothing changed: {e}. Watching on (--continue)."));
                if let Ok(now) = current_master(conf) {
                    mi = now;
                }
                wait_out(Instant::now(), interval, stop);
            }
            Err(e) => return Err(e),
        }
    }
}
