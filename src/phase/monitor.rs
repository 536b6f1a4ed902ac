//! `binlog-diff monitor`: MHA's `masterha_manager`. Pings the master every
//! `ping_interval` seconds (app.cnf, MHA's default 3); after
//! `ping_failures` pings in a row fail, runs the failover, whose first phase
//! confirms the death through the replicas (a master the replicas still
//! reach is UnreachableMaster: watching goes on). The anti-flapping block
//! holds (a blocked failover ends the watch with an error). After a
//! failover it exits, or with `continue_after` watches the new master.
//! A stop request (SIGTERM, SIGINT) ends the watch between pings.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mysql::prelude::Queryable;

use super::config::AppConf;
use super::{FailoverOptions, failover, label, say, spec};
use crate::error::{Error, Result};
use crate::server::status::{Dialect, replica_status};

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
    /// A failover ran; its new master.
    FailedOver(String),
}

/// The server every other one replicates from.
fn current_master(conf: &AppConf) -> Result<usize> {
    let mut masters = Vec::new();
    for (i, s) in conf.servers.iter().enumerate() {
        let Ok(mut c) = spec(s).connect_within(Duration::from_secs(5)) else { continue };
        let d = Dialect::of(&mut c)?;
        if let Some(st) = replica_status(&mut c, d)? {
            let (h, p) = st.master();
            masters.push(conf.servers.iter().position(|m| m.port == p && (m.ip == h || m.hostname == h)));
        } else {
            masters.push(Some(i));
        }
    }
    let first = masters.iter().flatten().next().copied();
    match first {
        Some(m) if masters.iter().all(|x| *x == Some(m)) => Ok(m),
        _ => Err(Error::invalid("no single master that every reachable server agrees on")),
    }
}

fn ping(conf: &super::config::ServerConf, t: Duration) -> bool {
    spec(conf)
        .connect_within(t)
        .and_then(|mut c| c.query_drop("SELECT 1").map_err(|e| Error::invalid(e.to_string())))
        .is_ok()
}

/// Watches `conf`'s master until it dies (then fails over) or `stop` is set.
///
/// # Errors
/// No master can be found, or a failover fails or is refused (anti-flapping).
pub fn monitor(o: &MonitorOptions, conf: &AppConf, stop: &Arc<AtomicBool>) -> Result<Ended> {
    let interval = o.ping_interval.unwrap_or(Duration::from_secs(conf.ping_interval.max(1)));
    loop {
        let mi = current_master(conf)?;
        let m = conf.servers[mi].clone();
        say(&format!(
            "Monitoring {} every {:?} ({} failed pings in a row: failover).",
            label(&m),
            interval,
            o.ping_failures
        ));
        let mut failed = 0u32;
        loop {
            let t = Instant::now();
            if stop.load(Ordering::Relaxed) {
                say("Stop requested: no longer monitoring.");
                return Ok(Ended::Stopped);
            }
            if ping(&m, interval) {
                failed = 0;
            } else {
                failed += 1;
                say(&format!("  {}: ping failed ({failed}/{})", label(&m), o.ping_failures));
                if failed >= o.ping_failures {
                    break;
                }
            }
            // Wait out the interval, looking at the stop flag as it goes.
            while t.elapsed() < interval && !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(50).min(interval));
            }
        }
        let mut fo = o.failover.clone();
        fo.dead_master_host = m.ip.clone();
        fo.dead_master_port = Some(m.port);
        say(&format!("{} does not answer: failing over.", label(&m)));
        match failover(&fo, conf) {
            Ok(r) if r.new_master.is_some() => {
                let new = r.new_master.clone().unwrap_or_default();
                if !o.continue_after {
                    return Ok(Ended::FailedOver(new));
                }
                say(&format!("Failed over to {new}; watching it (--continue)."));
            }
            Ok(_) => return Err(Error::invalid("the failover ended without a new master")),
            Err(e) if matches!(e.kind(), crate::error::ErrorKind::NotDead(_)) => {
                say(&format!("Not dead as the replicas see it ({e}); watching on."));
            }
            Err(e) => return Err(e),
        }
    }
}
