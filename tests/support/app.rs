//! An application simulator: what the application sees of a switch or a
//! failover.
//!
//! [`create_app_user`] makes, on the master (replicated everywhere), the
//! application's account [`APP_USER`] (no SUPER: `INSERT` on
//! `app.log` only, so `read_only` and a locked account stop it as they stop
//! a real application) and its table `app.log (k BIGINT, KEY(k))`: not
//! unique, so a write applied twice shows as a key counted twice.
//!
//! [`App::start`] runs a thread that connects to an address (the VIP) as that
//! user and inserts fresh keys (1, 2, 3, ...), each its own autocommit
//! `INSERT`, with 1 s connect/read/write timeouts, reconnecting after any
//! error.  Every attempt is recorded: its key, when it was sent and done
//! (from the app's start), whether it reached the server at all (a failed
//! connect sends nothing), whether it was acknowledged, and the error.
//! [`App::stop`] ends the thread and returns the [`AppRun`];
//! [`AppRun::report`] compares it with what a server holds:
//!
//! * the outage: from the last acknowledged write before the first failure
//!   after a mark (the test's event) to the first acknowledged write after
//!   the last failure;
//! * acknowledged keys missing on the server (lost), keys present more than
//!   once (applied twice), and keys never acknowledged that landed anyway
//!   (in doubt: a timeout or a killed connection after the commit).

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mysql::prelude::Queryable;
use mysql::{Conn, OptsBuilder};

use super::topology::{MASTER, Topology, poll_until};

pub const APP_USER: &str = "app";
pub const APP_PASSWORD: &str = "bd-app-pw";
/// Each connect, read and write.
pub const APP_TIMEOUT: Duration = Duration::from_secs(1);

/// The application's account and table, on the master, replicated to every
/// replica before it returns.
pub fn create_app_user(topo: &Topology) {
    topo.sql(MASTER, "CREATE DATABASE IF NOT EXISTS app");
    topo.sql(MASTER, "CREATE TABLE IF NOT EXISTS app.log (k BIGINT NOT NULL, KEY (k)) ENGINE=InnoDB");
    topo.sql(MASTER, format!("CREATE USER IF NOT EXISTS '{APP_USER}'@'%' IDENTIFIED BY '{APP_PASSWORD}'"));
    topo.sql(MASTER, format!("GRANT INSERT ON app.log TO '{APP_USER}'@'%'"));
    topo.wait_replicas_caught_up();
}

/// True if `server` has the application's account locked (`ACCOUNT LOCK`).
pub fn app_user_locked(topo: &Topology, server: usize) -> bool {
    let v = topo.query_value(server, format!("SHOW CREATE USER '{APP_USER}'@'%'")).unwrap_or_default();
    v.contains("ACCOUNT LOCK")
}

/// One write of the application.
#[derive(Clone, Debug)]
pub struct Attempt {
    pub key: u64,
    /// From the app's start.
    pub sent_at: Duration,
    pub done_at: Duration,
    /// The INSERT went to a server (false: the connect failed).
    pub sent: bool,
    pub acked: bool,
    pub error: Option<String>,
}

/// The running application.
pub struct App {
    t0: Instant,
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicU64>,
    attempts: Arc<Mutex<Vec<Attempt>>>,
    thread: Option<JoinHandle<()>>,
}

impl App {
    /// Starts writing to `ip:port` as [`APP_USER`]. `on_connect_error` runs
    /// after each failed connect (see `Topology::vip_client_fix`).
    pub fn start(ip: Ipv4Addr, port: u16, on_connect_error: Option<Box<dyn Fn() + Send>>) -> App {
        let t0 = Instant::now();
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(AtomicU64::new(0));
        let attempts = Arc::new(Mutex::new(Vec::new()));
        let (s, a, at) = (stop.clone(), acked.clone(), attempts.clone());
        let opts = OptsBuilder::new()
            .ip_or_hostname(Some(ip.to_string()))
            .tcp_port(port)
            .user(Some(APP_USER))
            .pass(Some(APP_PASSWORD))
            .prefer_socket(false)
            .tcp_connect_timeout(Some(APP_TIMEOUT))
            .read_timeout(Some(APP_TIMEOUT))
            .write_timeout(Some(APP_TIMEOUT));
        let thread = std::thread::spawn(move || {
            let mut conn: Option<Conn> = None;
            let mut key = 0u64;
            while !s.load(Ordering::Relaxed) {
                key += 1;
                let sent_at = t0.elapsed();
                if conn.is_none() {
                    match Conn::new(opts.clone()) {
                        Ok(c) => conn = Some(c),
                        Err(e) => {
                            let done_at = t0.elapsed();
                            at.lock().unwrap().push(Attempt {
                                key,
                                sent_at,
                                done_at,
                                sent: false,
                                acked: false,
                                error: Some(format!("connect: {e}")),
                            });
                            if let Some(f) = &on_connect_error {
                                f();
                            }
                            std::thread::sleep(Duration::from_millis(20));
                            continue;
                        }
                    }
                }
                let r = conn.as_mut().unwrap().query_drop(format!("INSERT INTO app.log (k) VALUES ({key})"));
                let done_at = t0.elapsed();
                let (acked, error) = match r {
                    Ok(()) => (true, None),
                    Err(e) => {
                        conn = None;
                        (false, Some(e.to_string()))
                    }
                };
                at.lock().unwrap().push(Attempt { key, sent_at, done_at, sent: true, acked, error });
                if acked {
                    a.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(5));
                } else {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        });
        App { t0, stop, acked, attempts, thread: Some(thread) }
    }

    /// Time since the app started (a mark for [`AppRun::report`]).
    pub fn now(&self) -> Duration {
        self.t0.elapsed()
    }

    /// Acknowledged writes so far.
    pub fn acked(&self) -> u64 {
        self.acked.load(Ordering::Relaxed)
    }

    /// Waits (up to `timeout`) for `n` more acknowledged writes; false if
    /// they did not come.
    pub fn wait_acks(&self, n: u64, timeout: Duration) -> bool {
        let want = self.acked() + n;
        poll_until(timeout, || (self.acked() >= want).then_some(())).is_some()
    }

    /// The last `n` errors, one line each (for a failure message).
    pub fn last_errors(&self, n: usize) -> String {
        let a = self.attempts.lock().unwrap();
        let e: Vec<String> =
            a.iter().rev().filter_map(|a| a.error.as_ref().map(|e| format!("key {}: {e}", a.key))).take(n).collect();
        e.into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    /// Stops the thread (within one timeout) and returns what it did.
    pub fn stop(mut self) -> AppRun {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().expect("the app thread panicked");
        }
        AppRun { attempts: std::mem::take(&mut *self.attempts.lock().unwrap()) }
    }
}

impl Drop for App {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Everything the application did.
pub struct AppRun {
    pub attempts: Vec<Attempt>,
}

/// The app-visible outage around an event.
#[derive(Clone, Debug)]
pub struct Outage {
    /// The last acknowledged write before the first failure (its end).
    pub last_ack_before: Duration,
    /// The first acknowledged write after the last failure (its end);
    /// `None`: writes never came back.
    pub first_ack_after: Option<Duration>,
    /// Attempts that failed in between.
    pub failed: usize,
}

impl Outage {
    pub fn length(&self) -> Option<Duration> {
        self.first_ack_after.map(|a| a.saturating_sub(self.last_ack_before))
    }
}

/// What the application saw, checked against a server.
#[derive(Debug)]
pub struct AppReport {
    pub attempts: usize,
    pub acked: usize,
    /// `None`: no write failed after the mark.
    pub outage: Option<Outage>,
    /// Acknowledged keys the server does not have.
    pub missing: Vec<u64>,
    /// Keys the server has more than once, with their count.
    pub doubled: Vec<(u64, u64)>,
    /// Keys sent but not acknowledged that the server has.
    pub in_doubt_landed: Vec<u64>,
    /// The errors seen after the mark, each with its count.
    pub errors: BTreeMap<String, usize>,
}

impl AppRun {
    /// The outage after `mark` (see [`Outage`]); `None` if nothing failed.
    pub fn outage_after(&self, mark: Duration) -> Option<Outage> {
        let after: Vec<&Attempt> = self.attempts.iter().filter(|a| a.sent_at >= mark).collect();
        let first_fail = after.iter().position(|a| !a.acked)?;
        let last_fail = after.iter().rposition(|a| !a.acked)?;
        let last_ack_before = self
            .attempts
            .iter()
            .filter(|a| a.acked && a.done_at <= after[first_fail].sent_at)
            .map(|a| a.done_at)
            .next_back()
            .unwrap_or(mark);
        let first_ack_after = after[last_fail + 1..].iter().find(|a| a.acked).map(|a| a.done_at);
        let failed = after[first_fail..=last_fail].iter().filter(|a| !a.acked).count();
        Some(Outage { last_ack_before, first_ack_after, failed })
    }

    /// Compares the run with `app.log` on `server` (read as the admin).
    pub fn report(&self, topo: &Topology, server: usize, mark: Duration) -> AppReport {
        let rows = topo.query_rows(server, "SELECT k, COUNT(*) FROM app.log GROUP BY k");
        let have: BTreeMap<u64, u64> = rows
            .iter()
            .map(|r| (r[0].as_deref().unwrap().parse().unwrap(), r[1].as_deref().unwrap().parse().unwrap()))
            .collect();
        let mut errors = BTreeMap::new();
        for a in self.attempts.iter().filter(|a| a.sent_at >= mark) {
            if let Some(e) = &a.error {
                // One entry per kind: the message without its details.
                let kind: String = e.chars().take(90).collect();
                *errors.entry(kind).or_insert(0) += 1;
            }
        }
        AppReport {
            attempts: self.attempts.len(),
            acked: self.attempts.iter().filter(|a| a.acked).count(),
            outage: self.outage_after(mark),
            missing: self.attempts.iter().filter(|a| a.acked && !have.contains_key(&a.key)).map(|a| a.key).collect(),
            doubled: have.iter().filter(|&(_, &n)| n > 1).map(|(&k, &n)| (k, n)).collect(),
            in_doubt_landed: self
                .attempts
                .iter()
                .filter(|a| a.sent && !a.acked && have.contains_key(&a.key))
                .map(|a| a.key)
                .collect(),
            errors,
        }
    }
}

impl fmt::Display for AppReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "application: {} writes, {} acknowledged", self.attempts, self.acked)?;
        match &self.outage {
            None => writeln!(f, "  outage: none (no write failed)")?,
            Some(o) => match o.length() {
                Some(l) => writeln!(
                    f,
                    "  outage: {:.3}s (last ack before at {:.3}s, first after at {:.3}s; {} writes failed)",
                    l.as_secs_f64(),
                    o.last_ack_before.as_secs_f64(),
                    o.first_ack_after.unwrap().as_secs_f64(),
                    o.failed
                )?,
                None => writeln!(
                    f,
                    "  outage: writes never came back (last ack at {:.3}s; {} failed)",
                    o.last_ack_before.as_secs_f64(),
                    o.failed
                )?,
            },
        }
        writeln!(f, "  acknowledged but missing: {:?}", self.missing)?;
        writeln!(f, "  applied twice: {:?}", self.doubled)?;
        writeln!(f, "  not acknowledged, landed anyway (in doubt): {:?}", self.in_doubt_landed)?;
        for (e, n) in &self.errors {
            writeln!(f, "  {n:>5} x {e}")?;
        }
        Ok(())
    }
}
