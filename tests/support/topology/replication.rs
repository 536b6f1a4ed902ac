//! Replication control on a topology: CHANGE MASTER, starting and stopping
//! the replica threads, the waits (caught up, IO thread read all, SQL
//! thread idle, the master's own Binlog_checkpoint), and stopping replicas
//! where a test wants them: after a batch of the workload, or inside a
//! transaction ([`Stop`], [`Topology::run_with_stops`]).
//!
//! # MariaDB 10.11 behaviour seen through this harness
//!
//! * Every master binlog rotation rotates the replica's relay log *twice*:
//!   on the master's real ROTATE (that event then sits alone in a tiny relay
//!   file: replica FDE + master ROTATE + relay ROTATE) and again on the fake
//!   ROTATE (log_pos 0) the master sends at the start of the next file, which
//!   begins the next relay file followed by the master's FDE.  So ~3 relay
//!   files per master binlog even without size rotation.
//! * Relay logs rotate on size (`max_relay_log_size`, 0 = `max_binlog_size`)
//!   at any event boundary, also inside a transaction: a partly relayed
//!   transaction can span relay files; after the cut the IO thread's newest
//!   relay file may hold only the replica FDE + the master's FDE.
//! * With the IO thread stopped mid-transaction, Exec_Master_Log_Pos stays
//!   at the transaction's GTID event and the SQL thread idles ("Slave has
//!   read all relay log") with the partial group open; START SLAVE
//!   IO_THREAD continues from Read_Master_Log_Pos and the group completes.
//! * After SIGKILL of the master, a replica whose IO thread ran reports
//!   Slave_IO_Running = "Connecting" with Last_IO_Errno 2003 (not "No").
//! * After a rotation the master appends a Binlog_checkpoint to the new file
//!   asynchronously, so SHOW MASTER STATUS can move without any commit
//!   ([`Topology::wait_binlog_checkpoint`]).
//! * ROW format with `binlog_annotate_row_events` (default ON) logs each
//!   statement text too: big hex literals cost ~3x their byte size.
//! * `--log-bin`/`--relay-log` with absolute paths put absolute paths into
//!   `mysql-bin.index`, `relay-bin.index` and `relay-log.info`.
//! * mariadbd may ignore a SIGTERM that arrives while it is still starting.

use std::time::Duration;

use super::super::process::poll_until;
use super::{LogPos, MASTER, REPL_PASSWORD, REPL_USER, SlaveStatus, Topology, WAIT_TIMEOUT, Workload, sql_quote};

/// How a replica stops reading from the master, for
/// [`Topology::run_with_stops`].
#[derive(Clone, Copy, Debug)]
pub enum Stop {
    /// After the master's k-th batch, on a transaction boundary.
    After(usize),
    /// Inside a big transaction (256 KiB) written after batch k.
    MidTransaction(usize),
}

/// Result of [`Topology::stop_io_thread_mid_transaction`].
#[derive(Clone, Debug)]
pub struct MidTrxStop {
    /// Sequence number of the big transaction (committed on the master).
    pub seq: u64,
    /// Master coordinates of the transaction's GTID event ...
    pub trx_start: LogPos,
    /// ... and the end of its XID event.
    pub trx_end: LogPos,
    /// The replica's status after its IO thread stopped; `read_pos()` is
    /// strictly inside `trx_start..trx_end`.
    pub status: SlaveStatus,
}

impl Topology {
    /// STOP SLAVE, then CHANGE MASTER TO `source` (a server of this topology):
    /// with `coords`: MASTER_LOG_FILE/POS and `MASTER_USE_GTID=no`; without:
    /// `MASTER_USE_GTID=slave_pos`.  Does not start the slave.
    pub fn change_master(&self, replica: usize, source: usize, coords: Option<&LogPos>) {
        self.sql(replica, "STOP SLAVE");
        let start = match coords {
            Some(c) => {
                format!("MASTER_LOG_FILE = {}, MASTER_LOG_POS = {}, MASTER_USE_GTID = no", sql_quote(&c.file), c.pos)
            }
            None => "MASTER_USE_GTID = slave_pos".to_string(),
        };
        self.sql(
            replica,
            format!(
                "CHANGE MASTER TO MASTER_HOST = {}, MASTER_PORT = {}, MASTER_USER = {}, \
                 MASTER_PASSWORD = {}, MASTER_CONNECT_RETRY = 1, {start}",
                sql_quote(&self.servers[source].ip),
                self.port(source),
                sql_quote(REPL_USER),
                sql_quote(REPL_PASSWORD)
            ),
        );
    }

    /// Poll SHOW SLAVE STATUS until `pred` holds (fails fast on an SQL thread
    /// error, with WAIT_TIMEOUT).
    pub fn wait_slave(&self, replica: usize, what: &str, mut pred: impl FnMut(&SlaveStatus) -> bool) -> SlaveStatus {
        let mut last = SlaveStatus::default();
        let r = poll_until(WAIT_TIMEOUT, || {
            last = self.slave_status(replica);
            if last.last_sql_errno != 0 {
                self.fail(
                    replica,
                    format!("{}: SQL thread error while waiting for {what}: {last}", self.name(replica)),
                );
            }
            pred(&last).then(|| last.clone())
        });
        r.unwrap_or_else(|| {
            self.fail(
                replica,
                format!("{}: timed out after {WAIT_TIMEOUT:?} waiting for {what}; last: {last}", self.name(replica)),
            )
        })
    }

    /// Wait until the replica's IO thread has read and its SQL thread has
    /// executed everything up to the master's SHOW MASTER STATUS (re-read on
    /// every poll: the master appends Binlog_checkpoint events on its own),
    /// with both threads running.
    pub fn wait_caught_up(&self, replica: usize) -> SlaveStatus {
        let mut last_master = LogPos::default();
        let mut last = SlaveStatus::default();
        let r = poll_until(WAIT_TIMEOUT, || {
            last_master = self.master_status(MASTER);
            last = self.slave_status(replica);
            if last.last_sql_errno != 0 {
                self.fail(replica, format!("{}: SQL thread error: {last}", self.name(replica)));
            }
            let ok =
                last.io_yes() && last.sql_yes() && last.read_pos() == last_master && last.exec_pos() == last_master;
            ok.then(|| last.clone())
        });
        r.unwrap_or_else(|| {
            self.fail(
                replica,
                format!(
                    "{} not caught up with master {last_master} after {WAIT_TIMEOUT:?}: {last}",
                    self.name(replica)
                ),
            )
        })
    }

    /// [`wait_caught_up`](Self::wait_caught_up) for every replica whose IO
    /// *and* SQL threads are supposed to run (i.e. all of them).
    pub fn wait_replicas_caught_up(&self) {
        for r in self.replicas() {
            self.wait_caught_up(r);
        }
    }

    /// Like `wait_replicas_caught_up` but skips replicas whose IO thread was
    /// stopped (Slave_IO_Running = No).
    pub fn wait_replicas_caught_up_running(&self) {
        for r in self.replicas() {
            if self.slave_status(r).io_running != "No" {
                self.wait_caught_up(r);
            }
        }
    }

    /// Wait until the server's current binlog contains a Binlog_checkpoint
    /// event naming that file itself.  After a rotation MariaDB appends such
    /// an event *asynchronously* (once the previous file's transactions are
    /// durable), so without this the end of the binlog can move by itself
    /// after the last commit.  Returns the (then stable) SHOW MASTER STATUS.
    pub fn wait_binlog_checkpoint(&self, server: usize) -> LogPos {
        let mut last = LogPos::default();
        poll_until(WAIT_TIMEOUT, || {
            last = self.master_status(server);
            let evs = self.binlog_events(server, &last.file, None);
            evs.iter()
                .any(|e| e.event_type == "Binlog_checkpoint" && e.info.ends_with(&last.file))
                .then(|| last.clone())
        })
        .unwrap_or_else(|| {
            self.fail(
                server,
                format!("{}: no Binlog_checkpoint for {} in {WAIT_TIMEOUT:?}", self.name(server), last.file),
            )
        })
    }

    /// Wait until the IO thread has read up to the master's current position
    /// (the SQL thread may lag).  Waits for the master's own
    /// [`Binlog_checkpoint`](Self::wait_binlog_checkpoint) first, so the
    /// position is final unless the test writes more.
    pub fn wait_io_read_all(&self, replica: usize) -> SlaveStatus {
        self.wait_binlog_checkpoint(MASTER);
        let mut m = LogPos::default();
        let mut last = SlaveStatus::default();
        let r = poll_until(WAIT_TIMEOUT, || {
            m = self.master_status(MASTER);
            last = self.slave_status(replica);
            (last.io_yes() && last.read_pos() == m).then(|| last.clone())
        });
        r.unwrap_or_else(|| {
            self.fail(replica, format!("{}: IO thread did not read up to {m}: {last}", self.name(replica)))
        })
    }

    /// Wait until the SQL thread has executed everything it can from the relay
    /// log: state "Slave has read all relay log" and, unless a transaction is
    /// only partly relayed, Exec == Read.  Only meaningful with the IO thread
    /// stopped or the master gone (otherwise more may arrive at any moment).
    pub fn wait_sql_idle(&self, replica: usize) -> SlaveStatus {
        // two consecutive idle observations with the same positions
        let mut prev: Option<(LogPos, LogPos)> = None;
        self.wait_slave(replica, "SQL thread idle (read all relay log)", |s| {
            let cur = (s.read_pos(), s.exec_pos());
            let idle = s.sql_yes() && s.sql_idle();
            let stable = prev.as_ref() == Some(&cur);
            prev = idle.then_some(cur);
            idle && stable
        })
    }

    /// STOP SLAVE IO_THREAD and wait until it reports No.
    pub fn stop_io_thread(&self, replica: usize) -> SlaveStatus {
        self.sql(replica, "STOP SLAVE IO_THREAD");
        self.wait_slave(replica, "IO thread stopped", |s| s.io_running == "No")
    }

    /// START SLAVE IO_THREAD and wait until it is Yes (or Connecting, if its
    /// master is down).
    pub fn start_io_thread(&self, replica: usize) -> SlaveStatus {
        self.sql(replica, "START SLAVE IO_THREAD");
        self.wait_slave(replica, "IO thread started", |s| s.io_running != "No")
    }

    pub fn stop_sql_thread(&self, replica: usize) -> SlaveStatus {
        self.sql(replica, "STOP SLAVE SQL_THREAD");
        self.wait_slave(replica, "SQL thread stopped", |s| s.sql_running == "No")
    }

    pub fn start_sql_thread(&self, replica: usize) -> SlaveStatus {
        self.sql(replica, "START SLAVE SQL_THREAD");
        self.wait_slave(replica, "SQL thread started", |s| s.sql_yes())
    }

    /// STOP SLAVE (both threads) and wait until both report No.
    pub fn stop_slave(&self, replica: usize) -> SlaveStatus {
        self.sql(replica, "STOP SLAVE");
        self.wait_slave(replica, "both threads stopped", |s| s.io_running == "No" && s.sql_running == "No")
    }

    /// START SLAVE and wait until the SQL thread runs and the IO thread is
    /// Yes (or Connecting).
    pub fn start_slave(&self, replica: usize) -> SlaveStatus {
        self.sql(replica, "START SLAVE");
        self.wait_slave(replica, "threads started", |s| s.io_running != "No" && s.sql_yes())
    }

    /// Make `replica` end exactly at the master's current position: wait
    /// until its IO thread has read everything written so far, then stop the
    /// IO thread (the SQL thread keeps running and applies what was read).
    /// Call it after the k-th transaction to leave the replica at k
    /// (including the Binlog_checkpoint the master appends on its own after
    /// a rotation: see [`wait_io_read_all`](Self::wait_io_read_all)).
    pub fn catch_up_then_stop_io(&self, replica: usize) -> SlaveStatus {
        self.wait_io_read_all(replica);
        self.stop_io_thread(replica)
    }

    /// Runs the workload in `batches`; after batch `i`, replica `r + 1`
    /// stops reading as `stops[r]` says (a [`Stop`] naming batch `i`), then
    /// `between(i, w)` runs. The last batch only the master gets. Returns the
    /// mid-transaction stops made.
    pub fn run_with_stops(
        &self,
        w: &mut Workload,
        batches: &[usize],
        stops: &[Stop],
        mut between: impl FnMut(usize, &mut Workload),
    ) -> Vec<MidTrxStop> {
        let mut mid = Vec::new();
        for (i, &batch) in batches.iter().enumerate() {
            w.run(batch);
            if i + 1 == batches.len() {
                break;
            }
            for (r, stop) in stops.iter().enumerate() {
                match *stop {
                    Stop::After(k) if k == i => {
                        self.catch_up_then_stop_io(r + 1);
                    }
                    Stop::MidTransaction(k) if k == i => {
                        mid.push(self.stop_io_thread_mid_transaction(r + 1, w, 256 << 10, 16 << 10));
                    }
                    _ => {}
                }
            }
            between(i, w);
        }
        mid
    }

    /// Leave `replica`'s relay log ending in the middle of a transaction: the
    /// master commits one big transaction of ~`bytes` (via `w`, many row or
    /// statement events) while the replica's IO thread is throttled with
    /// `read_binlog_speed_limit`; as soon as the replica has read at least
    /// `min_into` bytes of it (Read_Master_Log_Pos >= GTID event position +
    /// `min_into`, and still before the end of its XID), its IO thread is
    /// stopped and the limit removed.
    ///
    /// Honest caveats: the cut point is not chosen exactly (it is wherever
    /// the throttled IO thread is when polling notices, >= `min_into`; always
    /// at an event boundary, since the IO thread writes whole events) and it
    /// relies on timing: the transfer is throttled to `bytes`/16 per second
    /// (the binlog holds 2-3x `bytes`: hex literals in Annotate_rows/Query
    /// events), so keep `min_into` well below `bytes`.  Panics if the
    /// replica read the whole transaction first.  Other replicas are not
    /// throttled.
    pub fn stop_io_thread_mid_transaction(
        &self,
        replica: usize,
        w: &mut Workload,
        bytes: usize,
        min_into: u64,
    ) -> MidTrxStop {
        assert!(bytes >= 64 << 10, "use at least 64 KiB so the transaction has many events");
        self.wait_io_read_all(replica);
        // token bucket: burst of 2*limit, then limit per second
        let limit_kib = (bytes / 1024 / 16).max(4);
        self.sql(replica, format!("SET GLOBAL read_binlog_speed_limit = {limit_kib}"));
        let before = self.master_status(MASTER);
        let seq = w.big_transaction(bytes);
        // find the transaction in the master's binlog
        let evs = self.binlog_events(MASTER, &before.file, Some(before.pos));
        let gtid = evs
            .iter()
            .position(|e| e.event_type == "Gtid")
            .unwrap_or_else(|| self.fail(MASTER, format!("no Gtid event after {before}")));
        let end = evs[gtid..]
            .iter()
            .find(|e| e.event_type == "Xid" || (e.event_type == "Query" && e.info == "COMMIT"))
            .unwrap_or_else(|| self.fail(MASTER, format!("no Xid after {before}")));
        let trx_start = LogPos::new(before.file.clone(), evs[gtid].pos);
        let trx_end = LogPos::new(before.file.clone(), end.end_log_pos);
        let inside = |s: &SlaveStatus| {
            s.master_log_file == trx_start.file
                && s.read_master_log_pos > trx_start.pos
                && s.read_master_log_pos < trx_end.pos
        };
        let far_enough = |s: &SlaveStatus| inside(s) && s.read_master_log_pos >= trx_start.pos + min_into;
        let mut last = SlaveStatus::default();
        let hit = poll_until(Duration::from_secs(30), || {
            last = self.slave_status(replica);
            if far_enough(&last) {
                return Some(true);
            }
            (last.read_pos() >= trx_end).then_some(false)
        });
        if hit != Some(true) {
            self.sql(replica, "SET GLOBAL read_binlog_speed_limit = 0");
            self.fail(
                replica,
                format!("{}: could not catch the IO thread inside {trx_start}..{trx_end}: {last}", self.name(replica)),
            );
        }
        let status = self.stop_io_thread(replica);
        self.sql(replica, "SET GLOBAL read_binlog_speed_limit = 0");
        if !inside(&status) {
            self.fail(
                replica,
                format!("{}: IO thread stopped outside {trx_start}..{trx_end}: {status}", self.name(replica)),
            );
        }
        MidTrxStop { seq, trx_start, trx_end, status }
    }
}
