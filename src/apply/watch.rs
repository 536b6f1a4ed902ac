//! Bounds on an apply's waits: no MySQL wait without one.
//!
//! Apply connections have no read timeout: a statement of a diff may rightly
//! run longer than the MySQL timeout (a big DDL). Instead, a watchdog thread
//! per target ([`Watch`]):
//!
//! - **liveness**: when no transaction has been settled (committed or
//!   skipped) for the MySQL timeout, it probes the target on a new side
//!   connection (connect, read and write each bounded by the timeout) and
//!   checks that our connections are still there. A target that does not
//!   answer in time (mysqld frozen, host gone, link cut), or that no longer
//!   has a connection we are waiting on, ends the apply. A target that
//!   answers is probed again after another quiet timeout;
//! - **deadline**: when the apply's deadline passes, it ends the apply;
//! - **interrupt**: once the interrupt flag (SIGINT, SIGTERM) has been set
//!   for [`GRACE`], every second it sends `KILL QUERY` to each of our
//!   connections, so a statement waiting on a lock ends (the run itself
//!   stops at the next transaction boundary and rolls back an open one).
//!
//! Ending the apply means: every apply socket is shut down (`shutdown(2)`
//! on a duplicate of its descriptor, so the descriptor we act on is always
//! ours), which makes every blocked read return at once, and, when the
//! server still answers, our connections are killed on it too (an open
//! transaction rolled back and its locks released now, not when the server
//! notices). The run then ends through its usual lost-connection path
//! (which says what became of the transaction), and [`Watch::stop`] says
//! why, for the error.

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mysql::prelude::Queryable;

use crate::server::ConnSpec;

use super::counters::Counters;

/// How long an interrupt waits for the run to stop by itself before it
/// interrupts statements.
pub(crate) const GRACE: Duration = Duration::from_secs(1);

/// How often the watchdog looks.
const TICK: Duration = Duration::from_millis(100);

/// Why the watchdog ended an apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Fired {
    /// The target did not answer a probe within the MySQL timeout.
    Silent {
        /// The MySQL timeout.
        bound: Duration,
        /// How the probe failed.
        error: String,
    },
    /// Connections we were waiting on no longer exist on the target.
    Gone {
        /// Their ids.
        ids: Vec<u32>,
    },
    /// The deadline passed.
    Deadline {
        /// The deadline, from the start of the apply.
        after: Duration,
    },
}

impl Fired {
    /// Why, in words (for [`crate::error::ErrorKind::Timeout`]).
    pub fn why(&self) -> String {
        match self {
            Fired::Silent { bound, error } => format!(
                "no answer within the MySQL timeout of {}s (a probe on a new connection: {error}): the server is \
                 frozen or its host or link is down; the apply connections were cut",
                bound.as_secs_f64()
            ),
            Fired::Gone { ids } => format!(
                "connection(s) {} no longer exist on the server while the apply waited on them; the apply \
                 connections were cut",
                ids.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
            ),
            Fired::Deadline { after } => format!(
                "the apply deadline of {}s passed; the apply connections were cut (and killed on the server)",
                after.as_secs_f64()
            ),
        }
    }
}

/// When a run must end, if no transaction settles meanwhile.
#[derive(Clone, Debug)]
pub(crate) struct Limits {
    /// The MySQL timeout: the bound of a quiet spell before a probe, and of the probe.
    pub bound: Duration,
    /// The deadline: when, and how long after the start that is.
    pub deadline: Option<(Instant, Duration)>,
}

/// Our connections, as the watchdog holds them: a duplicate descriptor of
/// each socket and its id on the server.
struct Watched {
    fd: OwnedFd,
    id: u32,
}

struct Shared {
    conns: Mutex<Vec<Watched>>,
    stop: Mutex<bool>,
    cv: Condvar,
    fired: Mutex<Option<Fired>>,
}

impl Shared {
    fn ids(&self) -> Vec<u32> {
        self.conns.lock().unwrap_or_else(|e| e.into_inner()).iter().map(|w| w.id).collect()
    }

    /// Shuts every watched socket down: blocked reads and writes return now.
    fn cut(&self) {
        for w in self.conns.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            // SAFETY: `w.fd` is a descriptor we own (a duplicate of the
            // connection's), open until `w` is dropped; shutdown(2) only
            // changes the state of the socket it names.
            unsafe {
                libc::shutdown(w.fd.as_raw_fd(), libc::SHUT_RDWR);
            }
        }
    }
}

/// The watchdog of one target's apply; stop it with [`Watch::stop`].
pub(crate) struct Watch {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Watch {
    /// Starts watching (no connections yet: see [`Watch::watch`]).
    /// `progress` counts settled transactions.
    pub fn start(
        spec: &ConnSpec,
        limits: Limits,
        interrupt: Option<Arc<AtomicBool>>,
        progress: Arc<Counters>,
    ) -> Watch {
        let shared = Arc::new(Shared {
            conns: Mutex::new(Vec::new()),
            stop: Mutex::new(false),
            cv: Condvar::new(),
            fired: Mutex::new(None),
        });
        let (sh, spec) = (shared.clone(), spec.clone());
        let thread = std::thread::Builder::new()
            .name("apply-watchdog".into())
            .spawn(move || watch_loop(&sh, &spec, &limits, interrupt.as_deref(), &progress))
            .ok();
        Watch { shared, thread }
    }

    /// Watches these connections from now on (instead of the ones before).
    pub fn watch<'c>(&self, conns: impl IntoIterator<Item = &'c mysql::Conn>) {
        let mut v = Vec::new();
        for c in conns {
            // SAFETY: the connection is open for the duration of this call,
            // so its descriptor is valid while we duplicate it.
            let fd = unsafe { BorrowedFd::borrow_raw(c.as_raw_fd()) };
            if let Ok(fd) = fd.try_clone_to_owned() {
                v.push(Watched { fd, id: c.connection_id() });
            }
        }
        *self.shared.conns.lock().unwrap_or_else(|e| e.into_inner()) = v;
    }

    /// Stops the watchdog; says why it ended the run, if it did.
    pub fn stop(mut self) -> Option<Fired> {
        self.halt();
        self.shared.fired.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn halt(&mut self) {
        *self.shared.stop.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.shared.cv.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.halt();
    }
}

/// What a probe found: the ids of ours the server no longer has.
type Probe = std::result::Result<Vec<u32>, String>;

/// Connects within `bound` and asks which of `ids` the server still has.
fn probe(spec: &ConnSpec, bound: Duration, ids: &[u32]) -> Probe {
    let mut c = spec.connect_within(bound).map_err(|e| e.to_string())?;
    if ids.is_empty() {
        return c.query_drop("SELECT 1").map(|()| Vec::new()).map_err(|e| e.to_string());
    }
    let list = ids.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
    let have: Vec<u32> = c
        .query(format!("SELECT ID FROM information_schema.PROCESSLIST WHERE ID IN ({list})"))
        .map_err(|e| e.to_string())?;
    Ok(ids.iter().copied().filter(|i| !have.contains(i)).collect())
}

/// Sends `stmt ID` for each id over a side connection (best effort).
fn kill_each(spec: &ConnSpec, bound: Duration, stmt: &str, ids: &[u32]) {
    if ids.is_empty() {
        return;
    }
    if let Ok(mut c) = spec.connect_within(bound) {
        for id in ids {
            let _ = c.query_drop(format!("{stmt} {id}"));
        }
    }
}

fn watch_loop(sh: &Shared, spec: &ConnSpec, limits: &Limits, interrupt: Option<&AtomicBool>, progress: &Counters) {
    let bound = limits.bound;
    let mut last_done = progress.done.load(Ordering::Relaxed);
    let mut quiet_since = Instant::now();
    let mut probing: Option<(mpsc::Receiver<Probe>, Instant, u64)> = None;
    let mut interrupted: Option<Instant> = None;
    let mut last_kill: Option<Instant> = None;
    let fire = |f: Fired| {
        sh.cut();
        if !matches!(f, Fired::Silent { .. }) {
            // It answers: end our sessions there too (locks released now).
            kill_each(spec, bound, "KILL CONNECTION", &sh.ids());
        }
        *sh.fired.lock().unwrap_or_else(|e| e.into_inner()) = Some(f);
    };
    loop {
        {
            let stop = sh.stop.lock().unwrap_or_else(|e| e.into_inner());
            if *stop {
                return;
            }
            let (stop, _) = sh.cv.wait_timeout(stop, TICK).unwrap_or_else(|e| e.into_inner());
            if *stop {
                return;
            }
        }
        let now = Instant::now();
        if let Some((at, after)) = limits.deadline {
            if now >= at {
                fire(Fired::Deadline { after });
                return;
            }
        }
        if interrupt.is_some_and(|f| f.load(Ordering::Relaxed)) {
            let since = *interrupted.get_or_insert(now);
            if now.duration_since(since) >= GRACE && last_kill.is_none_or(|t| now.duration_since(t) >= GRACE) {
                kill_each(spec, bound, "KILL QUERY", &sh.ids());
                last_kill = Some(Instant::now());
            }
        }
        let done = progress.done.load(Ordering::Relaxed);
        if done != last_done {
            last_done = done;
            quiet_since = now;
        }
        match &probing {
            Some((rx, started, at_done)) => match rx.try_recv() {
                Ok(r) => {
                    let quiet = *at_done == done;
                    probing = None;
                    match r {
                        Err(error) => {
                            fire(Fired::Silent { bound, error });
                            return;
                        }
                        Ok(gone) if quiet && !gone.is_empty() => {
                            fire(Fired::Gone { ids: gone });
                            return;
                        }
                        // It answers: probe again after another quiet spell.
                        Ok(_) => quiet_since = now,
                    }
                }
                Err(mpsc::TryRecvError::Empty) => {
                    // Connect, read and write are each bounded: this is a safety net.
                    if now.duration_since(*started) > bound * 3 + Duration::from_secs(1) {
                        fire(Fired::Silent { bound, error: "the probe did not return".into() });
                        return;
                    }
                }
                Err(mpsc::TryRecvError::Disconnected) => {
                    fire(Fired::Silent { bound, error: "the probe ended without an answer".into() });
                    return;
                }
            },
            None if now.duration_since(quiet_since) >= bound => {
                let (tx, rx) = mpsc::channel();
                let (spec, ids) = (spec.clone(), sh.ids());
                let spawned = std::thread::Builder::new().name("apply-probe".into()).spawn(move || {
                    let _ = tx.send(probe(&spec, bound, &ids));
                });
                match spawned {
                    Ok(_) => probing = Some((rx, now, done)),
                    // No thread for it: look again at the next tick.
                    Err(_) => quiet_since = now,
                }
            }
            None => {}
        }
    }
}

/// The session lock wait bound (seconds) for what is left of a deadline
/// (`None`: no deadline, the server's own settings stay).
pub(crate) fn lock_wait_secs(deadline: Option<Instant>, now: Instant) -> Option<u64> {
    deadline.map(|d| d.saturating_duration_since(now).as_secs_f64().ceil().max(1.0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_waits_follow_the_deadline() {
        let now = Instant::now();
        assert_eq!(lock_wait_secs(None, now), None);
        assert_eq!(lock_wait_secs(Some(now + Duration::from_millis(4200)), now), Some(5));
        assert_eq!(lock_wait_secs(Some(now + Duration::from_secs(5)), now), Some(5));
        // Passed or about to: the shortest wait the server knows.
        assert_eq!(lock_wait_secs(Some(now), now + Duration::from_secs(3)), Some(1));
    }

    #[test]
    fn reasons_name_the_bound() {
        let f = Fired::Silent { bound: Duration::from_secs(3), error: "timed out".into() };
        assert!(f.why().contains("MySQL timeout of 3s") && f.why().contains("timed out"), "{}", f.why());
        assert!(Fired::Deadline { after: Duration::from_secs(5) }.why().contains("deadline of 5s"));
        assert!(Fired::Gone { ids: vec![7, 9] }.why().contains("7,9"));
    }

    /// A socket pair: the watchdog cuts a read blocked on one end.
    #[test]
    fn cut_unblocks_a_blocked_read() {
        use std::io::Read;
        use std::os::unix::net::UnixStream;
        let (mut a, _b) = UnixStream::pair().unwrap();
        let sh = Shared {
            conns: Mutex::new(vec![Watched { fd: a.try_clone().unwrap().into(), id: 1 }]),
            stop: Mutex::new(false),
            cv: Condvar::new(),
            fired: Mutex::new(None),
        };
        let t = std::thread::spawn(move || {
            let mut buf = [0u8; 8];
            a.read(&mut buf).map(|n| n == 0)
        });
        // Blocked already or not yet: either way the read ends at EOF.
        sh.cut();
        assert!(t.join().unwrap().unwrap(), "the read did not end at EOF");
    }
}
