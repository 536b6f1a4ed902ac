//! A live server: one connection, its SQL dialect and a label for
//! messages. Every replication statement and status read the crate sends
//! goes through a [`Server`]; the statements' text comes from the
//! [`Dialect`], and an error names the server's label and the statement
//! (never a password: a `CHANGE MASTER TO` is quoted without it).
//!
//! A `Server` owns its connection ([`Server::connect`]) or borrows one that
//! a caller keeps for its own statements ([`Server::over`]: the applier's
//! session, a driver's control connection).

use std::borrow::BorrowMut;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use mysql::prelude::{FromRow, Queryable};

use super::status::{Dialect, GtidMode, SourceAddr, Status, sql_str};
use super::{ConnSpec, Secret};
use crate::error::{Error, Result};
use crate::position::ReplicaState;

/// One server: a connection (owned, or borrowed with `C = &mut mysql::Conn`),
/// its [`Dialect`] and a label, `name(host:port)`.
pub struct Server<C = mysql::Conn> {
    conn: C,
    dialect: Option<Dialect>,
    name: String,
    addr: String,
}

impl<C> fmt::Debug for Server<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server").field("label", &self.label()).field("dialect", &self.dialect).finish()
    }
}

/// What decides whether a server can be promoted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PromotionFacts {
    /// `@@log_bin`.
    pub log_bin: bool,
    /// `@@log_slave_updates` (`@@log_replica_updates` on MySQL 8.4).
    pub log_replica_updates: bool,
    /// `VERSION()`.
    pub version: String,
    /// `@@binlog_format`.
    pub binlog_format: String,
}

/// MariaDB's GTID positions, read in one statement (`""` for an empty or
/// NULL one).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MariaGtids {
    /// `@@global.gtid_binlog_state`: every (domain, server) in its binlog.
    pub binlog_state: String,
    /// `@@global.gtid_binlog_pos`: the last GTID per domain in its binlog.
    pub binlog_pos: String,
    /// `@@global.gtid_current_pos`.
    pub current_pos: String,
    /// `@@global.gtid_slave_pos`: what its SQL thread applied.
    pub slave_pos: String,
}

/// Where a replica keeps its SQL thread's relay log coordinates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RelayInfoStore {
    /// `relay_log_info_repository=TABLE` (MySQL): `Relay_log_name` of
    /// `mysql.slave_relay_log_info` (`None`: empty).
    Table(Option<String>),
    /// A file: `@@relay_log_info_file` (`None`: the server has no such
    /// variable; its default is `relay-log.info`).
    File(Option<String>),
}

const MARIA_GTIDS: &str = "SELECT @@global.gtid_binlog_state, @@global.gtid_binlog_pos, @@global.gtid_current_pos, \
                           @@global.gtid_slave_pos";

impl Server {
    /// Connects ([`ConnSpec::connect`]: bounded by the MySQL timeout) and
    /// reads the dialect; labelled `host:port`.
    ///
    /// # Errors
    /// The server cannot be reached, refuses the login or does not answer
    /// `SELECT VERSION()`.
    pub fn connect(spec: &ConnSpec) -> Result<Server> {
        Server::open(spec.connect()?, spec.label())
    }

    /// Connects with connect, reads and writes each bounded by `timeout`
    /// ([`ConnSpec::connect_within`]), and reads the dialect.
    ///
    /// # Errors
    /// As [`connect`](Self::connect).
    pub fn connect_within(spec: &ConnSpec, timeout: Duration) -> Result<Server> {
        Server::open(spec.connect_within(timeout)?, spec.label())
    }

    /// The connection, for statements that are not replication's.
    pub fn into_conn(self) -> mysql::Conn {
        self.conn
    }
}

impl<'c> Server<&'c mut mysql::Conn> {
    /// A view over a connection its caller keeps, labelled `label` (`""`:
    /// errors name the statement only). The dialect is read when a
    /// statement first needs it, or given with [`with_dialect`](Server::with_dialect).
    pub fn over(conn: &'c mut mysql::Conn, label: impl Into<String>) -> Self {
        Server { conn, dialect: None, name: label.into(), addr: String::new() }
    }
}

impl<C> Server<C> {
    /// Names the server: its label becomes `name(host:port)`, and
    /// [`replica_state`](Self::replica_state) calls the replica `name`.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets the dialect (known already: no `SELECT VERSION()`).
    pub fn with_dialect(mut self, d: Dialect) -> Self {
        self.dialect = Some(d);
        self
    }

    /// `name(host:port)`, or whichever of the two is known.
    pub fn label(&self) -> String {
        match (self.name.as_str(), self.addr.as_str()) {
            (n, a) if n.is_empty() || n == a => a.to_string(),
            (n, "") => n.to_string(),
            (n, a) => format!("{n}({a})"),
        }
    }
}

impl<C: BorrowMut<mysql::Conn>> Server<C> {
    /// An open connection, labelled `addr`; reads its dialect.
    ///
    /// # Errors
    /// `SELECT VERSION()` fails.
    pub fn open(conn: C, addr: impl Into<String>) -> Result<Self> {
        let mut s = Server { conn, dialect: None, name: String::new(), addr: addr.into() };
        s.dialect()?;
        Ok(s)
    }

    /// Its dialect (read once, from `SELECT VERSION()`).
    ///
    /// # Errors
    /// The query fails.
    pub fn dialect(&mut self) -> Result<Dialect> {
        if let Some(d) = self.dialect {
            return Ok(d);
        }
        let v: Option<String> = self.first("SELECT VERSION()")?;
        let d = Dialect::from_version(&v.unwrap_or_default());
        self.dialect = Some(d);
        Ok(d)
    }

    /// The connection, for statements that are not replication's
    /// (checksums, the caller's own settings).
    pub fn conn(&mut self) -> &mut mysql::Conn {
        self.conn.borrow_mut()
    }

    fn fail(&self, stmt: &str, e: impl fmt::Display) -> Error {
        Error::server(self.label(), format!("{stmt}: {e}"))
    }

    fn run(&mut self, stmt: &str) -> Result<()> {
        self.conn.borrow_mut().query_drop(stmt).map_err(|e| self.fail(stmt, e))
    }

    fn first<T: FromRow>(&mut self, stmt: &str) -> Result<Option<T>> {
        self.conn.borrow_mut().query_first(stmt).map_err(|e| self.fail(stmt, e))
    }

    fn rows<T: FromRow>(&mut self, stmt: &str) -> Result<Vec<T>> {
        self.conn.borrow_mut().query(stmt).map_err(|e| self.fail(stmt, e))
    }

    // Replication threads.

    /// Stops both replication threads.
    ///
    /// # Errors
    /// The statement fails.
    pub fn stop_replica(&mut self) -> Result<()> {
        let q = self.dialect()?.stop_replica();
        self.run(q)
    }

    /// Stops the IO (receiver) thread only.
    ///
    /// # Errors
    /// The statement fails.
    pub fn stop_io_thread(&mut self) -> Result<()> {
        let q = self.dialect()?.stop_io_thread();
        self.run(q)
    }

    /// Starts both replication threads.
    ///
    /// # Errors
    /// The statement fails.
    pub fn start_replica(&mut self) -> Result<()> {
        let q = self.dialect()?.start_replica();
        self.run(q)
    }

    /// Starts the SQL (applier) thread only.
    ///
    /// # Errors
    /// The statement fails.
    pub fn start_sql_thread(&mut self) -> Result<()> {
        let q = self.dialect()?.start_sql_thread();
        self.run(q)
    }

    /// Forgets the replication source entirely (the new master's cleanup).
    ///
    /// # Errors
    /// The statement fails.
    pub fn reset_replica_all(&mut self) -> Result<()> {
        let q = self.dialect()?.reset_replica_all();
        self.run(q)
    }

    /// Runs a `CHANGE MASTER TO` built for `to`; an error quotes the
    /// statement built for `to` without its password.
    fn change_source(&mut self, to: &SourceAddr, build: impl Fn(&SourceAddr) -> String) -> Result<()> {
        let stmt = build(to);
        self.conn.borrow_mut().query_drop(&stmt).map_err(|e| {
            let pw = to.password.as_ref().map(Secret::expose).unwrap_or("");
            // A server's message may quote a piece of the password.
            // As given, and as the statement spells it (escaped).
            let said = e.to_string();
            let said = crate::secret::hide_pieces(&said, pw);
            let said = crate::secret::hide_pieces(&said, &sql_str(pw)).into_owned();
            self.fail(&build(&to.redacted()), said)
        })
    }

    /// Points the replica at `to` from `file:pos`
    /// ([`Dialect::change_source_to_pos`]).
    ///
    /// # Errors
    /// The statement fails (quoted without the password).
    pub fn change_source_to_pos(&mut self, to: &SourceAddr, file: &str, pos: u64) -> Result<()> {
        let d = self.dialect()?;
        self.change_source(to, |a| d.change_source_to_pos(a, file, pos))
    }

    /// Points the replica at `to` in a GTID `mode`
    /// ([`Dialect::change_source_to_gtid`]).
    ///
    /// # Errors
    /// The server has no such mode, or the statement fails (quoted without
    /// the password).
    pub fn change_source_to_gtid(&mut self, to: &SourceAddr, mode: GtidMode) -> Result<()> {
        let d = self.dialect()?;
        if d.change_source_to_gtid(to, mode).is_none() {
            return Err(Error::server(
                self.label(),
                format!("cannot replicate in {} mode (its dialect: {d:?})", mode.name()),
            ));
        }
        self.change_source(to, |a| d.change_source_to_gtid(a, mode).unwrap_or_default())
    }

    /// Points the SQL thread at relay logs already in the datadir, from
    /// `relay_file:relay_pos`, with `to` as a nominal source the IO thread
    /// is never started for ([`Dialect::change_source_to_relay`]).
    ///
    /// # Errors
    /// The statement fails (quoted without the password).
    pub fn change_source_to_relay(&mut self, to: &SourceAddr, relay_file: &str, relay_pos: u64) -> Result<()> {
        let d = self.dialect()?;
        self.change_source(to, |a| d.change_source_to_relay(a, relay_file, relay_pos))
    }

    // Status.

    /// The replica status (`None`: the server is not a replica).
    ///
    /// # Errors
    /// The query fails.
    pub fn replica_status(&mut self) -> Result<Option<Status>> {
        let q = self.dialect()?.show_replica_status();
        let row: Option<mysql::Row> = self.first(q)?;
        Ok(row.as_ref().map(Status::from_row))
    }

    /// Every replication connection's status: MariaDB's named
    /// (multi-source) connections too (`SHOW ALL SLAVES STATUS`, with
    /// `Connection_name`).
    ///
    /// # Errors
    /// The query fails.
    pub fn all_replica_statuses(&mut self) -> Result<Vec<Status>> {
        let q = self.dialect()?.show_all_replica_statuses();
        let rows: Vec<mysql::Row> = self.rows(q)?;
        Ok(rows.iter().map(Status::from_row).collect())
    }

    /// The replica's state ([`ReplicaState`], named after the server's name,
    /// else its address), with its relay-log folder and server id; on
    /// MariaDB its `gtid_slave_pos` when the status has no GTIDs.
    ///
    /// # Errors
    /// A query fails, or the server is not a replica.
    pub fn replica_state(&mut self) -> Result<ReplicaState> {
        let name = if self.name.is_empty() { self.addr.clone() } else { self.name.clone() };
        let row =
            self.replica_status()?.ok_or_else(|| Error::server(self.label(), "not a replica (no replica status)"))?;
        let mut st = ReplicaState::from_status(&name, |k| row.opt(k))?;
        type Paths = (Option<String>, Option<String>, Option<String>, Option<u32>);
        let (relay_log, relay_index, datadir, server_id): Paths = self
            .first("SELECT @@relay_log, @@relay_log_index, @@datadir, @@server_id")?
            .unwrap_or((None, None, None, None));
        st.server_id = server_id;
        let datadir = datadir.map(PathBuf::from);
        let from_setting = |s: Option<String>| -> Option<PathBuf> {
            let p = PathBuf::from(s?);
            let p = if p.is_absolute() { p } else { datadir.as_ref()?.join(p) };
            p.parent().map(Path::to_path_buf)
        };
        st.relay_dir = from_setting(relay_log).or_else(|| from_setting(relay_index)).or(datadir);
        // MariaDB keeps gtid_slave_pos (what its SQL thread applied) in every mode.
        if st.gtid_executed.is_none() && self.dialect()? == Dialect::MariaDb {
            st.gtid_executed = Some(self.gtid_slave_pos()?).filter(|g| !g.is_empty());
        }
        Ok(st)
    }

    /// The server's own binlog coordinates (`None`: binary logging is off).
    ///
    /// # Errors
    /// The query fails.
    pub fn binlog_coords(&mut self) -> Result<Option<(String, u64)>> {
        let q = self.dialect()?.show_master_status();
        let row: Option<mysql::Row> = self.first(q)?;
        Ok(row.map(|r| (r.get(0).unwrap_or_default(), r.get(1).unwrap_or_default())))
    }

    /// `SHOW BINARY LOGS`: every binlog file and its size.
    ///
    /// # Errors
    /// The query fails (binary logging is off).
    pub fn binary_logs(&mut self) -> Result<Vec<(String, u64)>> {
        let q = self.dialect()?.show_binary_logs();
        let rows: Vec<mysql::Row> = self.rows(q)?;
        Ok(rows.iter().filter_map(|r| Some((r.get::<String, _>(0)?, r.get::<u64, _>(1)?))).collect())
    }

    /// `FLUSH BINARY LOGS`: a new binlog file begins.
    ///
    /// # Errors
    /// The statement fails.
    pub fn flush_binary_logs(&mut self) -> Result<()> {
        let q = self.dialect()?.flush_binary_logs();
        self.run(q)
    }

    /// Deletes every binlog file and starts anew (`RESET MASTER`, `RESET
    /// BINARY LOGS AND GTIDS` on MySQL 8.4); on MariaDB the binlog GTID
    /// state is emptied too.
    ///
    /// # Errors
    /// The statement fails.
    pub fn reset_binary_logs(&mut self) -> Result<()> {
        let q = self.dialect()?.reset_binary_logs();
        self.run(q)
    }

    /// Switches to a new relay log, not written to the binlog.
    ///
    /// # Errors
    /// The statement fails.
    pub fn flush_relay_logs(&mut self) -> Result<()> {
        let q = self.dialect()?.flush_relay_logs();
        self.run(q)
    }

    /// `@@global.relay_log_purge`.
    ///
    /// # Errors
    /// The query fails.
    pub fn relay_log_purge(&mut self) -> Result<bool> {
        let v: Option<Option<i64>> = self.first("SELECT @@global.relay_log_purge")?;
        Ok(v.flatten() == Some(1))
    }

    /// `SET GLOBAL relay_log_purge=…`.
    ///
    /// # Errors
    /// The statement fails.
    pub fn set_relay_log_purge(&mut self, on: bool) -> Result<()> {
        self.run(if on { "SET GLOBAL relay_log_purge=1" } else { "SET GLOBAL relay_log_purge=0" })
    }

    /// Where the SQL thread's relay log coordinates are kept.
    ///
    /// # Errors
    /// The repository is a table and reading it fails.
    pub fn relay_info_store(&mut self) -> Result<RelayInfoStore> {
        // MariaDB and MySQL before 5.6.2 have no repository setting: a file.
        let repo: Option<String> =
            self.conn.borrow_mut().query_first("SELECT @@global.relay_log_info_repository").ok().flatten();
        if repo.is_some_and(|r| r.eq_ignore_ascii_case("TABLE")) {
            let name: Option<String> = self.first("SELECT Relay_log_name FROM mysql.slave_relay_log_info")?;
            return Ok(RelayInfoStore::Table(name.filter(|n| !n.is_empty())));
        }
        let f: Option<String> =
            self.conn.borrow_mut().query_first("SELECT @@global.relay_log_info_file").ok().flatten();
        Ok(RelayInfoStore::File(f))
    }

    // GTIDs.

    /// `@@global.gtid_binlog_pos` (MariaDB): the last GTID per domain in its binlog.
    ///
    /// # Errors
    /// The query fails.
    pub fn gtid_binlog_pos(&mut self) -> Result<String> {
        let v: Option<Option<String>> = self.first("SELECT @@global.gtid_binlog_pos")?;
        Ok(v.flatten().unwrap_or_default())
    }

    /// `@@global.server_id` and `@@global.gtid_binlog_state` (MariaDB):
    /// what the server wrote to its binlog, by domain and originating server.
    ///
    /// # Errors
    /// The query fails.
    pub fn gtid_binlog_state(&mut self) -> Result<(u32, String)> {
        let v: Option<(u32, Option<String>)> = self.first("SELECT @@global.server_id, @@global.gtid_binlog_state")?;
        let (id, st) = v.unwrap_or_default();
        Ok((id, st.unwrap_or_default()))
    }

    /// `@@global.gtid_slave_pos` (MariaDB).
    ///
    /// # Errors
    /// The query fails.
    pub fn gtid_slave_pos(&mut self) -> Result<String> {
        let v: Option<Option<String>> = self.first("SELECT @@global.gtid_slave_pos")?;
        Ok(v.flatten().unwrap_or_default())
    }

    /// `SET GLOBAL gtid_slave_pos` (MariaDB; the replica threads must be stopped).
    ///
    /// # Errors
    /// The statement fails.
    pub fn set_gtid_slave_pos(&mut self, pos: &str) -> Result<()> {
        self.run(&format!("SET GLOBAL gtid_slave_pos = '{}'", sql_str(pos)))
    }

    /// MariaDB's GTID positions, in one statement.
    ///
    /// # Errors
    /// The query fails.
    pub fn maria_gtids(&mut self) -> Result<MariaGtids> {
        type Row = (Option<String>, Option<String>, Option<String>, Option<String>);
        let v: Option<Row> = self.first(MARIA_GTIDS)?;
        let (binlog_state, binlog_pos, current_pos, slave_pos) = v.unwrap_or_default();
        Ok(MariaGtids {
            binlog_state: binlog_state.unwrap_or_default(),
            binlog_pos: binlog_pos.unwrap_or_default(),
            current_pos: current_pos.unwrap_or_default(),
            slave_pos: slave_pos.unwrap_or_default(),
        })
    }

    /// `@@server_uuid` and `@@global.gtid_executed` (MySQL).
    ///
    /// # Errors
    /// The query fails.
    pub fn mysql_gtid_executed(&mut self) -> Result<(String, String)> {
        let v: Option<(Option<String>, Option<String>)> = self.first("SELECT @@server_uuid, @@global.gtid_executed")?;
        let (u, g) = v.unwrap_or_default();
        Ok((u.unwrap_or_default(), g.unwrap_or_default()))
    }

    /// Waits until the server has applied `gtids` (MariaDB
    /// `MASTER_GTID_WAIT`, MySQL `WAIT_FOR_EXECUTED_GTID_SET`), at most
    /// `timeout` (whole seconds, at least one; keep it below the
    /// connection's read timeout). `false`: not within it.
    ///
    /// # Errors
    /// The wait fails (a malformed GTID, a killed wait).
    pub fn gtid_wait(&mut self, gtids: &str, timeout: Duration) -> Result<bool> {
        let d = self.dialect()?;
        let q = d.gtid_wait(gtids, timeout);
        let v: Option<Option<i64>> = self.first(&q)?;
        match (d, v.flatten()) {
            (_, Some(0)) => Ok(true),
            (Dialect::MariaDb, Some(-1)) => Ok(false),
            (Dialect::MySqlLegacy | Dialect::MySql80 | Dialect::MySql84, Some(1)) => Ok(false),
            (_, other) => Err(self.fail(&q, format!("unexpected answer {other:?}"))),
        }
    }

    /// Waits until this replica's SQL thread has executed its source up to
    /// `file:pos` (`MASTER_POS_WAIT`, `SOURCE_POS_WAIT` on MySQL 8.4), within
    /// `timeout` (whole seconds, at least one).
    ///
    /// # Errors
    /// Not reached in time, or the replica is not replicating.
    pub fn pos_wait(&mut self, file: &str, pos: u64, timeout: Duration) -> Result<()> {
        let q = self.dialect()?.pos_wait(file, pos, timeout);
        let v: Option<Option<i64>> = self.first(&q)?;
        match v.flatten() {
            Some(n) if n >= 0 => Ok(()),
            Some(-1) => Err(self.fail(&q, format!("not reached in {timeout:?}"))),
            _ => Err(self.fail(&q, "the replica is not replicating (NULL)")),
        }
    }

    // Promotion and switches.

    /// What decides whether the server can be promoted.
    ///
    /// # Errors
    /// The query fails.
    pub fn promotion_facts(&mut self) -> Result<PromotionFacts> {
        let q = self.dialect()?.promotion_facts();
        type Row = (Option<u8>, Option<u8>, Option<String>, Option<String>);
        let v: Option<Row> = self.first(q)?;
        let (b, u, ver, f) = v.unwrap_or_default();
        Ok(PromotionFacts {
            log_bin: b == Some(1),
            log_replica_updates: u == Some(1),
            version: ver.unwrap_or_default(),
            binlog_format: f.unwrap_or_default(),
        })
    }

    /// `@@global.read_only`.
    ///
    /// # Errors
    /// The query fails.
    pub fn read_only(&mut self) -> Result<bool> {
        let v: Option<Option<i64>> = self.first("SELECT @@global.read_only")?;
        Ok(v.flatten() == Some(1))
    }

    /// The folder of the server's own binlogs (the parent of
    /// `@@global.log_bin_basename`; `None`: binary logging is off, or the
    /// server does not say).
    ///
    /// # Errors
    /// The query fails.
    pub fn binlog_dir(&mut self) -> Result<Option<PathBuf>> {
        let v: Option<Option<String>> = self.first("SELECT @@global.log_bin_basename")?;
        Ok(v.flatten().filter(|b| !b.is_empty()).and_then(|b| Path::new(&b).parent().map(Path::to_path_buf)))
    }

    /// The binlog filters of the server's own binlog (`Binlog_Do_DB`,
    /// `Binlog_Ignore_DB` of `SHOW MASTER STATUS`; `None`: binary logging
    /// is off).
    ///
    /// # Errors
    /// The query fails.
    pub fn binlog_filters(&mut self) -> Result<Option<(String, String)>> {
        let q = self.dialect()?.show_master_status();
        let row: Option<mysql::Row> = self.first(q)?;
        let col = |r: &mysql::Row, i: usize| r.get_opt::<Option<String>, _>(i).and_then(|v| v.ok()).flatten();
        Ok(row.map(|r| (col(&r, 2).unwrap_or_default(), col(&r, 3).unwrap_or_default())))
    }

    /// `@@global.gtid_strict_mode` (MariaDB; `None` on a server without it).
    ///
    /// # Errors
    /// The query fails on MariaDB.
    pub fn gtid_strict_mode(&mut self) -> Result<Option<bool>> {
        if self.dialect()? != Dialect::MariaDb {
            return Ok(None);
        }
        let v: Option<Option<i64>> = self.first("SELECT @@global.gtid_strict_mode")?;
        Ok(v.flatten().map(|n| n == 1))
    }

    /// Whether the logged-in account may replicate from this server
    /// (`REPLICATION SLAVE`, `REPLICATION REPLICA` or `ALL PRIVILEGES` on
    /// `*.*` in `SHOW GRANTS`; a privilege granted through a role is not
    /// seen).
    ///
    /// # Errors
    /// The query fails.
    pub fn may_replicate(&mut self) -> Result<bool> {
        let grants: Vec<String> = self.rows("SHOW GRANTS")?;
        Ok(grants.iter().any(|g| grants_replication(g)))
    }

    /// `SET GLOBAL read_only=…` (on MySQL, `read_only=0` also clears `super_read_only`).
    ///
    /// # Errors
    /// The statement fails.
    pub fn set_read_only(&mut self, on: bool) -> Result<()> {
        self.run(if on { "SET GLOBAL read_only=1" } else { "SET GLOBAL read_only=0" })
    }

    /// `@@global.super_read_only`: `None` where the server has no such
    /// variable (MariaDB), or the read fails.
    pub fn super_read_only(&mut self) -> Option<bool> {
        let v: Option<Option<String>> =
            self.conn.borrow_mut().query_first("SELECT @@global.super_read_only").ok().flatten();
        v.flatten().map(|s| s == "1" || s.eq_ignore_ascii_case("on"))
    }

    /// Sets `super_read_only`; turning it off keeps `read_only=1`, so
    /// ordinary users still cannot write.
    ///
    /// # Errors
    /// A statement fails.
    pub fn set_super_read_only(&mut self, on: bool) -> Result<()> {
        if on {
            self.run("SET GLOBAL super_read_only=1")
        } else {
            self.run("SET GLOBAL super_read_only=0")?;
            self.run("SET GLOBAL read_only=1")
        }
    }

    /// Rejects every write on the server from this session on (MHA's lock
    /// on the original master): `FLUSH NO_WRITE_TO_BINLOG TABLES` first (so
    /// the lock does not wait on table flushes), then `FLUSH TABLES WITH
    /// READ LOCK` bounded by `lock_wait_timeout`, then `read_only=1`. Keep
    /// the connection: the lock lives as long as it.
    ///
    /// # Errors
    /// A statement fails or the lock is not taken in time.
    pub fn lock_writes(&mut self, timeout: Duration) -> Result<()> {
        self.run("FLUSH NO_WRITE_TO_BINLOG TABLES")?;
        self.run(&format!("SET SESSION lock_wait_timeout = {}", timeout.as_secs().max(1)))?;
        self.run("FLUSH TABLES WITH READ LOCK")?;
        self.set_read_only(true)
    }

    /// `UNLOCK TABLES` (the session's global read lock).
    ///
    /// # Errors
    /// The statement fails.
    pub fn unlock_tables(&mut self) -> Result<()> {
        self.run("UNLOCK TABLES")
    }

    /// Statements running on the server for at least `secs` seconds, other
    /// than replication and this session: `id, user, seconds, statement`.
    ///
    /// # Errors
    /// The query fails.
    pub fn long_running(&mut self, secs: u64) -> Result<Vec<(u64, String, u64, String)>> {
        self.rows(&format!(
            "SELECT ID, USER, TIME, COALESCE(INFO, '') FROM information_schema.PROCESSLIST \
             WHERE COMMAND = 'Query' AND TIME >= {secs} AND ID <> CONNECTION_ID() AND USER <> 'system user'"
        ))
    }

    /// The InnoDB transactions open for `min_age_secs` or more that have
    /// written or hold locks (`information_schema.INNODB_TRX` joined to the
    /// process list; a transaction that only read is left out: ending it
    /// loses nothing), of client sessions other than this one (never a
    /// replication thread's), oldest first.
    ///
    /// # Errors
    /// The query fails.
    pub fn open_transactions(&mut self, min_age_secs: u64) -> Result<Vec<OpenTrx>> {
        type Row = (
            u64,
            Option<String>,
            Option<String>,
            Option<u64>,
            Option<String>,
            Option<u64>,
            Option<u64>,
            Option<u64>,
            Option<String>,
        );
        let rows: Vec<Row> = self.rows(&format!(
            "SELECT t.trx_mysql_thread_id, p.USER, p.HOST, \
             CAST(GREATEST(TIMESTAMPDIFF(SECOND, t.trx_started, NOW()), 0) AS UNSIGNED), p.COMMAND, \
             CAST(GREATEST(COALESCE(p.TIME, 0), 0) AS UNSIGNED), t.trx_rows_locked, t.trx_rows_modified, p.INFO \
             FROM information_schema.INNODB_TRX t LEFT JOIN information_schema.PROCESSLIST p \
             ON p.ID = t.trx_mysql_thread_id \
             WHERE t.trx_mysql_thread_id NOT IN (0, CONNECTION_ID()) \
             AND t.trx_started <= NOW() - INTERVAL {min_age_secs} SECOND \
             AND (t.trx_rows_modified > 0 OR t.trx_lock_structs > 0) \
             AND COALESCE(p.USER, '') <> 'system user' AND COALESCE(p.COMMAND, '') NOT IN ({REPLICATION_COMMANDS}) \
             ORDER BY t.trx_started, t.trx_mysql_thread_id"
        ))?;
        Ok(rows
            .into_iter()
            .map(|(thread, user, host, age, command, time, locked, modified, info)| {
                let command = command.unwrap_or_default();
                OpenTrx {
                    thread,
                    user: user.unwrap_or_default(),
                    host: host.unwrap_or_default(),
                    started_secs_ago: age.unwrap_or(0),
                    idle_secs: (command == "Sleep").then_some(time.unwrap_or(0)),
                    rows_locked: locked.unwrap_or(0),
                    rows_modified: modified.unwrap_or(0),
                    statement: info.unwrap_or_default(),
                }
            })
            .collect())
    }

    /// Every client session on the server but this one and `ours`: not a
    /// replication thread (`system user`, a replica's `Binlog Dump`), nor
    /// the event scheduler (`Daemon`).
    ///
    /// # Errors
    /// The query fails.
    pub fn client_sessions(&mut self, ours: &[u32]) -> Result<Vec<Session>> {
        let keep: Vec<String> = ours.iter().map(u32::to_string).chain(["CONNECTION_ID()".into()]).collect();
        type Row = (u64, Option<String>, Option<String>, Option<String>, Option<String>);
        let rows: Vec<Row> = self.rows(&format!(
            "SELECT ID, USER, HOST, COMMAND, STATE FROM information_schema.PROCESSLIST \
             WHERE ID NOT IN ({}) AND COALESCE(USER, '') <> 'system user' \
             AND COALESCE(COMMAND, '') NOT IN ({REPLICATION_COMMANDS}) ORDER BY ID",
            keep.join(", ")
        ))?;
        Ok(rows
            .into_iter()
            .map(|(id, user, host, command, state)| Session {
                id,
                user: user.unwrap_or_default(),
                host: host.unwrap_or_default(),
                command: command.unwrap_or_default(),
                state: state.unwrap_or_default(),
            })
            .collect())
    }

    /// `KILL CONNECTION id`: the session ends, its open transaction rolls
    /// back and its client gets an error. `false`: no such session (it
    /// ended on its own meanwhile).
    ///
    /// # Errors
    /// The statement fails otherwise (no privilege to end it).
    pub fn kill_connection(&mut self, id: u64) -> Result<bool> {
        let stmt = format!("KILL CONNECTION {id}");
        match self.conn.borrow_mut().query_drop(&stmt) {
            Ok(()) => Ok(true),
            // ER_NO_SUCH_THREAD
            Err(mysql::Error::MySqlError(e)) if e.code == 1094 => Ok(false),
            Err(e) => Err(self.fail(&stmt, e)),
        }
    }
}

/// The process-list commands of replication threads and the event
/// scheduler (MySQL and MariaDB names), as an SQL list.
const REPLICATION_COMMANDS: &str =
    "'Binlog Dump', 'Binlog Dump GTID', 'Daemon', 'Slave_IO', 'Slave_SQL', 'Slave_worker'";

/// An open transaction on a server ([`Server::open_transactions`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpenTrx {
    /// Its session's thread id (`KILL CONNECTION` takes it).
    pub thread: u64,
    /// The session's user.
    pub user: String,
    /// The session's client host (`host:port`).
    pub host: String,
    /// Seconds since it started (`trx_started`).
    pub started_secs_ago: u64,
    /// Seconds its session has been idle (`None`: a statement runs).
    pub idle_secs: Option<u64>,
    /// `trx_rows_locked`.
    pub rows_locked: u64,
    /// `trx_rows_modified`.
    pub rows_modified: u64,
    /// The statement running, if any.
    pub statement: String,
}

impl fmt::Display for OpenTrx {
    /// `thread 42 (app@10.0.0.5:51234): started 12s ago, idle 11s, 1 row(s) modified, 1 locked`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "thread {} ({}@{}): started {}s ago, ", self.thread, self.user, self.host, self.started_secs_ago)?;
        match self.idle_secs {
            Some(s) => write!(f, "idle {s}s")?,
            None => write!(f, "running {:?}", self.statement.chars().take(80).collect::<String>())?,
        }
        write!(f, ", {} row(s) modified, {} locked", self.rows_modified, self.rows_locked)
    }
}

/// A client session on a server ([`Server::client_sessions`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Session {
    /// Its thread id (`KILL CONNECTION` takes it).
    pub id: u64,
    /// Its user.
    pub user: String,
    /// Its client host (`host:port`).
    pub host: String,
    /// `COMMAND`: `Sleep`, `Query`, …
    pub command: String,
    /// `STATE`: what it waits on, if anything.
    pub state: String,
}

/// A `SHOW GRANTS` line grants replication on `*.*` (`GRANT A, B ON *.* TO …`).
fn grants_replication(line: &str) -> bool {
    let g = line.to_ascii_uppercase();
    let Some((privs, _)) = g.strip_prefix("GRANT ").and_then(|r| r.split_once(" ON *.* TO ")) else {
        return false;
    };
    privs
        .split(',')
        .map(str::trim)
        .any(|p| matches!(p, "REPLICATION SLAVE" | "REPLICATION REPLICA" | "ALL PRIVILEGES" | "ALL"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replication_grants() {
        assert!(grants_replication("GRANT REPLICATION SLAVE ON *.* TO `repl`@`%` IDENTIFIED BY PASSWORD '*X'"));
        assert!(grants_replication("GRANT SELECT, REPLICATION REPLICA ON *.* TO 'r'@'h'"));
        assert!(grants_replication("GRANT ALL PRIVILEGES ON *.* TO `root`@`%` WITH GRANT OPTION"));
        assert!(!grants_replication("GRANT REPLICATION SLAVE ADMIN ON *.* TO `a`@`%`"));
        assert!(!grants_replication("GRANT ALL PRIVILEGES ON `app`.* TO `a`@`%`"));
        assert!(!grants_replication("GRANT USAGE ON *.* TO `repl`@`%`"));
    }

    #[test]
    fn labels() {
        // Labels are made without a server: the fields only.
        let l =
            |name: &str, addr: &str| Server { conn: (), dialect: None, name: name.into(), addr: addr.into() }.label();
        assert_eq!(l("db1", "10.0.0.1:3306"), "db1(10.0.0.1:3306)");
        assert_eq!(l("", "10.0.0.1:3306"), "10.0.0.1:3306");
        assert_eq!(l("10.0.0.1:3306", "10.0.0.1:3306"), "10.0.0.1:3306");
        assert_eq!(l("db1", ""), "db1");
        assert_eq!(l("", ""), "");
    }
}
