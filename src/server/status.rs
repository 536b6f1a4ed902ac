//! The SQL dialect of a server (MariaDB 10.x, MySQL 5.7/8.0, MySQL 8.4's
//! new names), chosen once from its version, and the replica status read
//! through it. Every replication statement the driver sends is built here,
//! so no other module spells `SLAVE` or `REPLICA`.

use std::time::{Duration, Instant};

use mysql::prelude::Queryable;

use crate::error::{Error, Result};
use crate::position::columns;
use crate::server::Secret;

/// Which statement names a server takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// MariaDB 10.x / 11.x: `SHOW SLAVE STATUS`, `CHANGE MASTER TO … MASTER_USE_GTID`.
    MariaDb,
    /// MySQL before 8.0.22: the `SLAVE` / `MASTER` names only.
    MySqlLegacy,
    /// MySQL 8.0.22 … 8.3: both names; we send the new `REPLICA` ones
    /// (`CHANGE REPLICATION SOURCE TO` from 8.0.23).
    MySql80,
    /// MySQL 8.4 and later: only the new names (`SHOW BINARY LOG STATUS`).
    MySql84,
}

impl Dialect {
    /// From `SELECT VERSION()` (e.g. `10.11.6-MariaDB-0+deb12u1`, `8.0.36`, `8.4.0`).
    pub fn from_version(v: &str) -> Dialect {
        if v.to_ascii_lowercase().contains("mariadb") {
            return Dialect::MariaDb;
        }
        let mut n =
            v.split(|c: char| !c.is_ascii_digit()).filter(|s| !s.is_empty()).map(|s| s.parse::<u32>().unwrap_or(0));
        let (a, b, c) = (n.next().unwrap_or(0), n.next().unwrap_or(0), n.next().unwrap_or(0));
        match (a, b, c) {
            (a, _, _) if a >= 9 => Dialect::MySql84,
            (8, b, _) if b >= 4 => Dialect::MySql84,
            (8, 0, c) if c >= 23 => Dialect::MySql80,
            (8, b, _) if b >= 1 => Dialect::MySql80,
            _ => Dialect::MySqlLegacy,
        }
    }

    /// Reads the dialect of a connected server.
    ///
    /// # Errors
    /// The query fails.
    pub fn of(conn: &mut mysql::Conn) -> Result<Dialect> {
        let v: Option<String> =
            conn.query_first("SELECT VERSION()").map_err(|e| Error::invalid(format!("SELECT VERSION(): {e}")))?;
        Ok(Dialect::from_version(&v.unwrap_or_default()))
    }

    fn new_names(self) -> bool {
        matches!(self, Dialect::MySql80 | Dialect::MySql84)
    }

    /// `SHOW SLAVE STATUS` / `SHOW REPLICA STATUS`.
    pub fn show_replica_status(self) -> &'static str {
        if self.new_names() { "SHOW REPLICA STATUS" } else { "SHOW SLAVE STATUS" }
    }
    /// Stops the IO (receiver) thread only.
    pub fn stop_io_thread(self) -> &'static str {
        if self.new_names() { "STOP REPLICA IO_THREAD" } else { "STOP SLAVE IO_THREAD" }
    }
    /// Stops both threads.
    pub fn stop_replica(self) -> &'static str {
        if self.new_names() { "STOP REPLICA" } else { "STOP SLAVE" }
    }
    /// Starts both threads.
    pub fn start_replica(self) -> &'static str {
        if self.new_names() { "START REPLICA" } else { "START SLAVE" }
    }
    /// Forgets the replication source entirely (the new master's cleanup).
    pub fn reset_replica_all(self) -> &'static str {
        if self.new_names() { "RESET REPLICA ALL" } else { "RESET SLAVE ALL" }
    }
    /// The server's own binlog coordinates.
    pub fn show_master_status(self) -> &'static str {
        if self == Dialect::MySql84 { "SHOW BINARY LOG STATUS" } else { "SHOW MASTER STATUS" }
    }

    /// `CHANGE MASTER TO` (or `CHANGE REPLICATION SOURCE TO`) a source,
    /// without the part that says where to start; and the option prefix.
    fn change_source(self, to: &SourceAddr) -> (String, &'static str) {
        let q = sql_str;
        let (stmt, k) =
            if self.new_names() { ("CHANGE REPLICATION SOURCE TO", "SOURCE") } else { ("CHANGE MASTER TO", "MASTER") };
        let base = format!(
            "{stmt} {k}_HOST='{}', {k}_PORT={}, {k}_USER='{}', {k}_PASSWORD='{}'",
            q(&to.host),
            to.port,
            q(&to.user),
            q(to.password.as_ref().map(Secret::expose).unwrap_or("")),
        );
        (base, k)
    }

    /// `CHANGE MASTER TO` (or `CHANGE REPLICATION SOURCE TO`) a source at a
    /// file position. MariaDB gets `MASTER_USE_GTID=no`: positional, as the
    /// old topology was. The statement holds the password: never log it.
    pub fn change_source_to_pos(self, to: &SourceAddr, file: &str, pos: u64) -> String {
        let (base, k) = self.change_source(to);
        let base = format!("{base}, {k}_LOG_FILE='{}', {k}_LOG_POS={pos}", sql_str(file));
        if self == Dialect::MariaDb { format!("{base}, MASTER_USE_GTID=no") } else { base }
    }

    /// `CHANGE MASTER TO` a source in a GTID `mode` (the topology's own):
    /// MariaDB `MASTER_USE_GTID=slave_pos|current_pos` (the replica's
    /// `gtid_slave_pos` says where), MySQL `MASTER_AUTO_POSITION=1`
    /// (`SOURCE_AUTO_POSITION=1` with the new names). `None` for
    /// [`GtidMode::Off`] or a mode this server does not have. The
    /// statement holds the password: never log it.
    pub fn change_source_to_gtid(self, to: &SourceAddr, mode: GtidMode) -> Option<String> {
        let (base, k) = self.change_source(to);
        match (self, mode) {
            (Dialect::MariaDb, GtidMode::SlavePos) => Some(format!("{base}, MASTER_USE_GTID=slave_pos")),
            (Dialect::MariaDb, GtidMode::CurrentPos) => Some(format!("{base}, MASTER_USE_GTID=current_pos")),
            (Dialect::MySqlLegacy | Dialect::MySql80 | Dialect::MySql84, GtidMode::AutoPosition) => {
                Some(format!("{base}, {k}_AUTO_POSITION=1"))
            }
            _ => None,
        }
    }
}

/// How a replica finds its place in its source's binlog.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GtidMode {
    /// File and offset (MariaDB `Using_Gtid: No`, MySQL `Auto_Position: 0`).
    Off,
    /// MariaDB `MASTER_USE_GTID=slave_pos`.
    SlavePos,
    /// MariaDB `MASTER_USE_GTID=current_pos`.
    CurrentPos,
    /// MySQL `MASTER_AUTO_POSITION=1`.
    AutoPosition,
}

impl GtidMode {
    /// How a person reads it.
    pub fn name(self) -> &'static str {
        match self {
            GtidMode::Off => "positional",
            GtidMode::SlavePos => "MariaDB GTID (slave_pos)",
            GtidMode::CurrentPos => "MariaDB GTID (current_pos)",
            GtidMode::AutoPosition => "MySQL GTID auto-position",
        }
    }
}

/// `SET GLOBAL gtid_slave_pos` (MariaDB; the replica threads must be stopped).
///
/// # Errors
/// The statement fails.
pub fn set_gtid_slave_pos(conn: &mut mysql::Conn, pos: &str) -> Result<()> {
    let q = format!("SET GLOBAL gtid_slave_pos = '{}'", sql_str(pos));
    conn.query_drop(&q).map_err(|e| Error::invalid(format!("{q}: {e}")))
}

/// `@@global.server_id` and `@@global.gtid_binlog_state` (MariaDB): what
/// the server wrote to its binlog, by domain and originating server.
///
/// # Errors
/// The query fails.
pub fn gtid_binlog_state(conn: &mut mysql::Conn) -> Result<(u32, String)> {
    let q = "SELECT @@global.server_id, @@global.gtid_binlog_state";
    let v: Option<(u32, Option<String>)> = conn.query_first(q).map_err(|e| Error::invalid(format!("{q}: {e}")))?;
    let (id, st) = v.unwrap_or_default();
    Ok((id, st.unwrap_or_default()))
}

/// What decides whether a server can be promoted: `@@log_bin`,
/// `@@log_slave_updates` (`@@log_replica_updates` on MySQL 8.4), `VERSION()`
/// and `@@binlog_format`.
///
/// # Errors
/// The query fails.
pub fn promotion_facts(conn: &mut mysql::Conn, d: Dialect) -> Result<(bool, bool, String, String)> {
    let q = if d == Dialect::MySql84 {
        "SELECT @@log_bin, @@log_replica_updates, VERSION(), @@binlog_format"
    } else {
        "SELECT @@log_bin, @@log_slave_updates, VERSION(), @@binlog_format"
    };
    type Row = (Option<u8>, Option<u8>, Option<String>, Option<String>);
    let v: Option<Row> = conn.query_first(q).map_err(|e| Error::invalid(format!("{q}: {e}")))?;
    let (b, u, ver, f) = v.unwrap_or_default();
    Ok((b == Some(1), u == Some(1), ver.unwrap_or_default(), f.unwrap_or_default()))
}

/// Waits until this replica's SQL thread has executed its source up to
/// `file:pos` (`MASTER_POS_WAIT`, `SOURCE_POS_WAIT` on MySQL 8.4), within
/// `timeout`.
///
/// # Errors
/// Not reached in time, or the replica is not replicating.
pub fn pos_wait(conn: &mut mysql::Conn, d: Dialect, file: &str, pos: u64, timeout: Duration) -> Result<()> {
    let f = if d == Dialect::MySql84 { "SOURCE_POS_WAIT" } else { "MASTER_POS_WAIT" };
    let q = format!("SELECT {f}('{}', {pos}, {})", sql_str(file), timeout.as_secs().max(1));
    let v: Option<Option<i64>> = conn.query_first(&q).map_err(|e| Error::invalid(format!("{q}: {e}")))?;
    match v.flatten() {
        Some(n) if n >= 0 => Ok(()),
        Some(-1) => Err(Error::invalid(format!("{q}: not reached in {timeout:?}"))),
        _ => Err(Error::invalid(format!("{q}: the replica is not replicating (NULL)"))),
    }
}

/// Rejects every write on the server from this session on (MHA's lock on
/// the original master): `FLUSH NO_WRITE_TO_BINLOG TABLES` first (so the
/// lock does not wait on table flushes), then `FLUSH TABLES WITH READ LOCK`
/// bounded by `lock_wait_timeout`, then `read_only=1`. Keep the connection:
/// the lock lives as long as it.
///
/// # Errors
/// A statement fails or the lock is not taken in time.
pub fn lock_writes(conn: &mut mysql::Conn, timeout: Duration) -> Result<()> {
    let run = |conn: &mut mysql::Conn, q: &str| conn.query_drop(q).map_err(|e| Error::invalid(format!("{q}: {e}")));
    run(conn, "FLUSH NO_WRITE_TO_BINLOG TABLES")?;
    run(conn, &format!("SET SESSION lock_wait_timeout = {}", timeout.as_secs().max(1)))?;
    run(conn, "FLUSH TABLES WITH READ LOCK")?;
    set_read_only(conn, true)
}

/// `UNLOCK TABLES` (the session's global read lock).
///
/// # Errors
/// The statement fails.
pub fn unlock_tables(conn: &mut mysql::Conn) -> Result<()> {
    conn.query_drop("UNLOCK TABLES").map_err(|e| Error::invalid(format!("UNLOCK TABLES: {e}")))
}

/// Statements running on the server for at least `secs` seconds, other
/// than replication and this session: `id, user, seconds, statement`.
///
/// # Errors
/// The query fails.
pub fn long_running(conn: &mut mysql::Conn, secs: u64) -> Result<Vec<(u64, String, u64, String)>> {
    let q = format!(
        "SELECT ID, USER, TIME, COALESCE(INFO, '') FROM information_schema.PROCESSLIST \
         WHERE COMMAND = 'Query' AND TIME >= {secs} AND ID <> CONNECTION_ID() AND USER <> 'system user'"
    );
    conn.query(&q).map_err(|e| Error::invalid(format!("{q}: {e}")))
}

/// Ends every client session that could still commit on this server once
/// a lock on it is released: those holding an open InnoDB transaction, and
/// those waiting on the global read lock or the commit lock (a commit or a
/// write to a non-transactional table queued behind `FLUSH TABLES WITH READ
/// LOCK`). Replication threads and the sessions in `ours` are kept. Their
/// transactions roll back; their clients get an error, so nothing they
/// were told was committed is lost. Returns `id, user, state` of each.
///
/// # Errors
/// The query fails (a `KILL` of a session that ended meanwhile is not an error).
pub fn end_sessions_that_could_commit(conn: &mut mysql::Conn, ours: &[u32]) -> Result<Vec<(u64, String, String)>> {
    let keep: Vec<String> = ours.iter().map(u32::to_string).chain(["CONNECTION_ID()".into()]).collect();
    let q = format!(
        "SELECT p.ID, p.USER, COALESCE(p.STATE, '') FROM information_schema.PROCESSLIST p \
         WHERE p.ID NOT IN ({}) AND p.USER <> 'system user' AND p.COMMAND NOT IN ('Binlog Dump', 'Daemon') \
         AND (p.STATE IN ('Waiting for global read lock', 'Waiting for commit lock', 'Waiting for backup lock') \
              OR p.ID IN (SELECT trx_mysql_thread_id FROM information_schema.INNODB_TRX))",
        keep.join(", ")
    );
    let found: Vec<(u64, String, String)> = conn.query(&q).map_err(|e| Error::invalid(format!("{q}: {e}")))?;
    for (id, _, _) in &found {
        // Unknown thread: it ended on its own meanwhile.
        let _ = conn.query_drop(format!("KILL CONNECTION {id}"));
    }
    Ok(found)
}

/// `@@server_uuid` and `@@global.gtid_executed` (MySQL).
///
/// # Errors
/// The query fails.
pub fn mysql_gtid_executed(conn: &mut mysql::Conn) -> Result<(String, String)> {
    let q = "SELECT @@server_uuid, @@global.gtid_executed";
    let v: Option<(Option<String>, Option<String>)> =
        conn.query_first(q).map_err(|e| Error::invalid(format!("{q}: {e}")))?;
    let (u, g) = v.unwrap_or_default();
    Ok((u.unwrap_or_default(), g.unwrap_or_default()))
}

/// `@@global.gtid_slave_pos` (MariaDB).
///
/// # Errors
/// The query fails.
pub fn gtid_slave_pos(conn: &mut mysql::Conn) -> Result<String> {
    let v: Option<Option<String>> = conn
        .query_first("SELECT @@global.gtid_slave_pos")
        .map_err(|e| Error::invalid(format!("SELECT @@global.gtid_slave_pos: {e}")))?;
    Ok(v.flatten().unwrap_or_default())
}

/// `@@global.gtid_binlog_pos` (MariaDB): the last GTID per domain in its binlog.
///
/// # Errors
/// The query fails.
pub fn gtid_binlog_pos(conn: &mut mysql::Conn) -> Result<String> {
    let v: Option<Option<String>> = conn
        .query_first("SELECT @@global.gtid_binlog_pos")
        .map_err(|e| Error::invalid(format!("SELECT @@global.gtid_binlog_pos: {e}")))?;
    Ok(v.flatten().unwrap_or_default())
}

/// Where a replica is pointed.
#[derive(Clone, Debug)]
pub struct SourceAddr {
    /// Host or ip.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Replication user.
    pub user: String,
    /// Its password.
    pub password: Option<Secret>,
}

/// Quotes a string for a single-quoted SQL literal.
pub fn sql_str(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\'', "\\'")
}

/// One row of the replica status, columns by name (both naming schemes).
#[derive(Clone, Debug, Default)]
pub struct Status(Vec<(String, String)>);

impl Status {
    /// A column's value (`""` when absent or NULL). Either name of a
    /// renamed column finds it in a row of either naming scheme
    /// (`Master_Host` / `Source_Host`, `Slave_IO_Running` /
    /// `Replica_IO_Running`, …: [`RENAMED_STATUS_COLUMNS`](crate::position::columns::RENAMED_STATUS_COLUMNS)).
    pub fn get(&self, k: &str) -> &str {
        let by_name = |n: &str| self.0.iter().find(|(c, _)| c == n).map(|(_, v)| v.as_str());
        columns::lookup(k, by_name).unwrap_or("")
    }
    /// The replica's GTID mode (MariaDB `Using_Gtid`, MySQL `Auto_Position`).
    pub fn gtid_mode(&self) -> GtidMode {
        match self.get("Using_Gtid").to_ascii_lowercase().as_str() {
            "slave_pos" => GtidMode::SlavePos,
            "current_pos" => GtidMode::CurrentPos,
            _ if self.get("Auto_Position") == "1" => GtidMode::AutoPosition,
            _ => GtidMode::Off,
        }
    }
    /// The IO thread is connected to its master.
    pub fn io_running(&self) -> bool {
        self.get("Slave_IO_Running") == "Yes"
    }
    /// The SQL thread runs.
    pub fn sql_running(&self) -> bool {
        self.get("Slave_SQL_Running") == "Yes"
    }
    /// The master's host and port as the replica has them.
    pub fn master(&self) -> (String, u16) {
        (self.get("Master_Host").to_string(), self.get("Master_Port").parse().unwrap_or(0))
    }
    /// The SQL thread has executed everything the IO thread read, or waits
    /// for more inside a transaction the IO thread cut.
    pub fn sql_settled(&self) -> bool {
        let done = (self.get("Relay_Master_Log_File"), self.get("Exec_Master_Log_Pos"))
            == (self.get("Master_Log_File"), self.get("Read_Master_Log_Pos"));
        done || self.get("Slave_SQL_Running_State").contains("read all relay log")
    }
    /// The SQL thread's last error, if any.
    pub fn sql_error(&self) -> Option<String> {
        let n = self.get("Last_SQL_Errno");
        (!n.is_empty() && n != "0").then(|| format!("{n}: {}", self.get("Last_SQL_Error")))
    }
    /// The IO thread's last error, if any.
    pub fn io_error(&self) -> Option<String> {
        let n = self.get("Last_IO_Errno");
        (!n.is_empty() && n != "0").then(|| format!("{n}: {}", self.get("Last_IO_Error")))
    }
}

/// Reads the replica status (`None`: the server is not a replica).
///
/// # Errors
/// The query fails.
pub fn replica_status(conn: &mut mysql::Conn, d: Dialect) -> Result<Option<Status>> {
    let q = d.show_replica_status();
    let row: Option<mysql::Row> = conn.query_first(q).map_err(|e| Error::invalid(format!("{q}: {e}")))?;
    Ok(row.as_ref().map(Status::from_row))
}

/// Every replication connection's status: MariaDB's named (multi-source)
/// connections too (`SHOW ALL SLAVES STATUS`, with `Connection_name`).
///
/// # Errors
/// The query fails.
pub fn all_replica_statuses(conn: &mut mysql::Conn, d: Dialect) -> Result<Vec<Status>> {
    let q = if d == Dialect::MariaDb { "SHOW ALL SLAVES STATUS" } else { d.show_replica_status() };
    let rows: Vec<mysql::Row> = conn.query(q).map_err(|e| Error::invalid(format!("{q}: {e}")))?;
    Ok(rows.iter().map(Status::from_row).collect())
}

impl Status {
    fn from_row(row: &mysql::Row) -> Status {
        let cols: Vec<String> = row.columns_ref().iter().map(|c| c.name_str().to_string()).collect();
        Status(
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
                .collect(),
        )
    }

    /// A column's value, `None` when absent or empty (both naming schemes).
    pub fn opt(&self, k: &str) -> Option<String> {
        Some(self.get(k)).filter(|v| !v.is_empty()).map(str::to_string)
    }
}

/// The server's own binlog coordinates (`None`: binary logging is off).
///
/// # Errors
/// The query fails.
pub fn binlog_coords(conn: &mut mysql::Conn, d: Dialect) -> Result<Option<(String, u64)>> {
    let q = d.show_master_status();
    let row: Option<mysql::Row> = conn.query_first(q).map_err(|e| Error::invalid(format!("{q}: {e}")))?;
    Ok(row.map(|r| (r.get(0).unwrap_or_default(), r.get(1).unwrap_or_default())))
}

/// `@@global.super_read_only`: `None` where the server has no such variable (MariaDB).
pub fn super_read_only(conn: &mut mysql::Conn) -> Option<bool> {
    let v: Option<Option<String>> = conn.query_first("SELECT @@global.super_read_only").ok();
    v.flatten().map(|s| s == "1" || s.eq_ignore_ascii_case("on"))
}

/// Sets `super_read_only`; turning it off keeps `read_only=1`, so ordinary
/// users still cannot write.
///
/// # Errors
/// The statement fails.
pub fn set_super_read_only(conn: &mut mysql::Conn, on: bool) -> Result<()> {
    let r = if on {
        conn.query_drop("SET GLOBAL super_read_only=1")
    } else {
        conn.query_drop("SET GLOBAL super_read_only=0").and_then(|_| conn.query_drop("SET GLOBAL read_only=1"))
    };
    r.map_err(|e| Error::invalid(format!("setting super_read_only={}: {e}", u8::from(on))))
}

/// `SET GLOBAL read_only=…` (on MySQL, `read_only=0` also clears `super_read_only`).
///
/// # Errors
/// The statement fails.
pub fn set_read_only(conn: &mut mysql::Conn, on: bool) -> Result<()> {
    let q = if on { "SET GLOBAL read_only=1" } else { "SET GLOBAL read_only=0" };
    conn.query_drop(q).map_err(|e| Error::invalid(format!("{q}: {e}")))
}

/// Polls `f` every 100 ms until it yields, or `timeout` passes.
///
/// # Errors
/// `f` fails, or the time runs out (`what` names the wait).
pub fn wait_for<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Result<Option<T>>) -> Result<T> {
    let t0 = Instant::now();
    loop {
        if let Some(v) = f()? {
            return Ok(v);
        }
        if t0.elapsed() > timeout {
            return Err(Error::invalid(format!("{what}: not done after {timeout:?}")));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dialect_by_version() {
        assert_eq!(Dialect::from_version("10.11.6-MariaDB-0+deb12u1-log"), Dialect::MariaDb);
        assert_eq!(Dialect::from_version("5.7.44-log"), Dialect::MySqlLegacy);
        assert_eq!(Dialect::from_version("8.0.21"), Dialect::MySqlLegacy);
        assert_eq!(Dialect::from_version("8.0.36"), Dialect::MySql80);
        assert_eq!(Dialect::from_version("8.4.0"), Dialect::MySql84);
        assert_eq!(Dialect::from_version("9.1.0"), Dialect::MySql84);
    }

    #[test]
    fn statements_per_dialect() {
        let to = SourceAddr { host: "db2".into(), port: 3307, user: "r'pl".into(), password: Some(Secret::new("p")) };
        assert_eq!(
            Dialect::MariaDb.change_source_to_pos(&to, "mysql-bin.000002", 4),
            "CHANGE MASTER TO MASTER_HOST='db2', MASTER_PORT=3307, MASTER_USER='r\\'pl', MASTER_PASSWORD='p', \
             MASTER_LOG_FILE='mysql-bin.000002', MASTER_LOG_POS=4, MASTER_USE_GTID=no"
        );
        assert!(Dialect::MySqlLegacy.change_source_to_pos(&to, "b.1", 4).ends_with("MASTER_LOG_POS=4"));
        assert!(
            Dialect::MySql84
                .change_source_to_pos(&to, "b.1", 4)
                .starts_with("CHANGE REPLICATION SOURCE TO SOURCE_HOST='db2'")
        );
        assert_eq!(Dialect::MySql84.show_master_status(), "SHOW BINARY LOG STATUS");
        assert_eq!(Dialect::MySql80.show_master_status(), "SHOW MASTER STATUS");
        assert_eq!(Dialect::MySql80.reset_replica_all(), "RESET REPLICA ALL");
        assert_eq!(Dialect::MariaDb.stop_io_thread(), "STOP SLAVE IO_THREAD");
    }

    #[test]
    fn gtid_statements_per_dialect() {
        let to = SourceAddr { host: "db2".into(), port: 3307, user: "repl".into(), password: Some(Secret::new("p")) };
        let head = |k: &str| format!("{k}_HOST='db2', {k}_PORT=3307, {k}_USER='repl', {k}_PASSWORD='p'");
        assert_eq!(
            Dialect::MariaDb.change_source_to_gtid(&to, GtidMode::SlavePos).unwrap(),
            format!("CHANGE MASTER TO {}, MASTER_USE_GTID=slave_pos", head("MASTER"))
        );
        assert_eq!(
            Dialect::MariaDb.change_source_to_gtid(&to, GtidMode::CurrentPos).unwrap(),
            format!("CHANGE MASTER TO {}, MASTER_USE_GTID=current_pos", head("MASTER"))
        );
        assert_eq!(
            Dialect::MySqlLegacy.change_source_to_gtid(&to, GtidMode::AutoPosition).unwrap(),
            format!("CHANGE MASTER TO {}, MASTER_AUTO_POSITION=1", head("MASTER"))
        );
        for d in [Dialect::MySql80, Dialect::MySql84] {
            assert_eq!(
                d.change_source_to_gtid(&to, GtidMode::AutoPosition).unwrap(),
                format!("CHANGE REPLICATION SOURCE TO {}, SOURCE_AUTO_POSITION=1", head("SOURCE"))
            );
        }
        assert_eq!(Dialect::MariaDb.change_source_to_gtid(&to, GtidMode::AutoPosition), None);
        assert_eq!(Dialect::MySql84.change_source_to_gtid(&to, GtidMode::SlavePos), None);
        assert_eq!(Dialect::MariaDb.change_source_to_gtid(&to, GtidMode::Off), None);
    }

    #[test]
    fn gtid_mode_from_status() {
        let st = |k: &str, v: &str| Status(vec![(k.into(), v.into())]);
        assert_eq!(st("Using_Gtid", "Slave_Pos").gtid_mode(), GtidMode::SlavePos);
        assert_eq!(st("Using_Gtid", "Current_Pos").gtid_mode(), GtidMode::CurrentPos);
        assert_eq!(st("Using_Gtid", "No").gtid_mode(), GtidMode::Off);
        assert_eq!(st("Auto_Position", "1").gtid_mode(), GtidMode::AutoPosition);
        assert_eq!(st("Auto_Position", "0").gtid_mode(), GtidMode::Off);
    }

    #[test]
    fn status_reads_both_names() {
        let s = Status(vec![("Replica_IO_Running".into(), "Yes".into()), ("Source_Port".into(), "3306".into())]);
        assert!(s.io_running());
        assert_eq!(s.master().1, 3306);
        // Every renamed column, by either name, in a row of either scheme.
        for &(old, new) in columns::RENAMED_STATUS_COLUMNS {
            for row in [old, new] {
                let s = Status(vec![(row.into(), "v".into())]);
                assert_eq!((s.get(old), s.get(new)), ("v", "v"), "{row}");
            }
        }
        // A column with one name is not made up from a prefix rule.
        let s = Status(vec![("Gtid_Slave_Pos".into(), "0-1-5".into())]);
        assert_eq!(s.get("Gtid_Slave_Pos"), "0-1-5");
        assert_eq!(s.get("Gtid_Replica_Pos"), "");
    }

    #[test]
    fn status_and_replica_state_read_the_same_columns() {
        // A MySQL 8.4 row (new names only) and a MariaDB row (old names only)
        // give the same state, through the one table.
        let row = |names: fn((&'static str, &'static str)) -> &'static str| {
            Status(
                [
                    (("Master_Log_File", "Source_Log_File"), "b.000003"),
                    (("Read_Master_Log_Pos", "Read_Source_Log_Pos"), "500"),
                    (("Relay_Master_Log_File", "Relay_Source_Log_File"), "b.000003"),
                    (("Exec_Master_Log_Pos", "Exec_Source_Log_Pos"), "400"),
                    (("Relay_Log_File", "Relay_Log_File"), "relay.000002"),
                    (("Relay_Log_Pos", "Relay_Log_Pos"), "123"),
                    (("Seconds_Behind_Master", "Seconds_Behind_Source"), "0"),
                ]
                .into_iter()
                .map(|(pair, v)| (names(pair).to_string(), v.to_string()))
                .collect(),
            )
        };
        let (old, new) = (row(|p| p.0), row(|p| p.1));
        let a = crate::position::ReplicaState::from_status("r", |k| old.opt(k)).unwrap();
        let b = crate::position::ReplicaState::from_status("r", |k| new.opt(k)).unwrap();
        assert_eq!(a, b);
        assert_eq!(b.read.to_string(), "b.000003:500");
        assert_eq!(new.get("Seconds_Behind_Master"), "0");
        assert_eq!(old.get("Seconds_Behind_Source"), "0");
    }
}
