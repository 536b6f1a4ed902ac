//! The SQL dialect of a server (MariaDB 10.x, MySQL 5.7/8.0, MySQL 8.4's
//! new names), chosen once from its version, and the replica status read
//! through it. Every replication statement's text is built here, so no
//! module outside `server` spells `SLAVE` or `REPLICA`; a [`Server`] sends
//! them. The free functions below are the driver's (`phase`) until it uses
//! [`Server`]: each is one line over it.

use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::position::columns;
use crate::server::{Secret, Server};

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
        Server::over(conn, "").dialect()
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
    /// Starts the SQL (applier) thread only.
    pub fn start_sql_thread(self) -> &'static str {
        if self.new_names() { "START REPLICA SQL_THREAD" } else { "START SLAVE SQL_THREAD" }
    }
    /// Every replication connection's status: MariaDB's named
    /// (multi-source) ones too; MySQL's channels are rows of the plain form.
    pub fn show_all_replica_statuses(self) -> &'static str {
        if self == Dialect::MariaDb { "SHOW ALL SLAVES STATUS" } else { self.show_replica_status() }
    }
    /// Forgets the replication source entirely (the new master's cleanup).
    pub fn reset_replica_all(self) -> &'static str {
        if self.new_names() { "RESET REPLICA ALL" } else { "RESET SLAVE ALL" }
    }
    /// The server's own binlog coordinates.
    pub fn show_master_status(self) -> &'static str {
        if self == Dialect::MySql84 { "SHOW BINARY LOG STATUS" } else { "SHOW MASTER STATUS" }
    }
    /// Every binlog file and its size (one name in every dialect).
    pub fn show_binary_logs(self) -> &'static str {
        "SHOW BINARY LOGS"
    }
    /// A new binlog file (one name in every dialect).
    pub fn flush_binary_logs(self) -> &'static str {
        "FLUSH BINARY LOGS"
    }
    /// Deletes every binlog file (MariaDB: and empties the binlog GTID state).
    pub fn reset_binary_logs(self) -> &'static str {
        if self == Dialect::MySql84 { "RESET BINARY LOGS AND GTIDS" } else { "RESET MASTER" }
    }
    /// A new relay log, not written to the binlog (MHA's text: the version
    /// comment keeps a server before 5.5.1, which has no `RELAY LOGS`, to
    /// `FLUSH LOGS`).
    pub fn flush_relay_logs(self) -> &'static str {
        "FLUSH NO_WRITE_TO_BINLOG /*!50501 RELAY */ LOGS"
    }
    /// What decides whether a server can be promoted: `@@log_bin`,
    /// `@@log_slave_updates` (`@@log_replica_updates` on MySQL 8.4),
    /// `VERSION()` and `@@binlog_format`.
    pub fn promotion_facts(self) -> &'static str {
        if self == Dialect::MySql84 {
            "SELECT @@log_bin, @@log_replica_updates, VERSION(), @@binlog_format"
        } else {
            "SELECT @@log_bin, @@log_slave_updates, VERSION(), @@binlog_format"
        }
    }
    /// Waits for the SQL thread to reach `file:pos` of its source, at most
    /// `timeout` (whole seconds, at least one): `MASTER_POS_WAIT`,
    /// `SOURCE_POS_WAIT` on MySQL 8.4.
    pub fn pos_wait(self, file: &str, pos: u64, timeout: Duration) -> String {
        let f = if self == Dialect::MySql84 { "SOURCE_POS_WAIT" } else { "MASTER_POS_WAIT" };
        format!("SELECT {f}('{}', {pos}, {})", sql_str(file), timeout.as_secs().max(1))
    }
    /// Waits for the server to have applied `gtids`, at most `timeout`
    /// (whole seconds, at least one): MariaDB `MASTER_GTID_WAIT` (0, or -1
    /// on timeout), MySQL `WAIT_FOR_EXECUTED_GTID_SET` (0, or 1).
    pub fn gtid_wait(self, gtids: &str, timeout: Duration) -> String {
        let f = if self == Dialect::MariaDb { "MASTER_GTID_WAIT" } else { "WAIT_FOR_EXECUTED_GTID_SET" };
        format!("SELECT {f}('{}', {})", sql_str(gtids), timeout.as_secs().max(1))
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

    /// `CHANGE MASTER TO` a nominal source with the SQL thread pointed at
    /// relay logs already in the datadir (`RELAY_LOG_FILE`,
    /// `RELAY_LOG_POS`): for applying logs without an IO thread. MariaDB
    /// gets `MASTER_USE_GTID=no`. The statement holds the password: never
    /// log it.
    pub fn change_source_to_relay(self, to: &SourceAddr, relay_file: &str, relay_pos: u64) -> String {
        let (base, _) = self.change_source(to);
        let base = format!("{base}, RELAY_LOG_FILE='{}', RELAY_LOG_POS={relay_pos}", sql_str(relay_file));
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
    Server::over(conn, "").set_gtid_slave_pos(pos)
}

/// `@@global.server_id` and `@@global.gtid_binlog_state` (MariaDB): what
/// the server wrote to its binlog, by domain and originating server.
///
/// # Errors
/// The query fails.
pub fn gtid_binlog_state(conn: &mut mysql::Conn) -> Result<(u32, String)> {
    Server::over(conn, "").gtid_binlog_state()
}

/// What decides whether a server can be promoted: `@@log_bin`,
/// `@@log_slave_updates` (`@@log_replica_updates` on MySQL 8.4), `VERSION()`
/// and `@@binlog_format`.
///
/// # Errors
/// The query fails.
pub fn promotion_facts(conn: &mut mysql::Conn, d: Dialect) -> Result<(bool, bool, String, String)> {
    let f = Server::over(conn, "").with_dialect(d).promotion_facts()?;
    Ok((f.log_bin, f.log_replica_updates, f.version, f.binlog_format))
}

/// Waits until this replica's SQL thread has executed its source up to
/// `file:pos` (`MASTER_POS_WAIT`, `SOURCE_POS_WAIT` on MySQL 8.4), within
/// `timeout`.
///
/// # Errors
/// Not reached in time, or the replica is not replicating.
pub fn pos_wait(conn: &mut mysql::Conn, d: Dialect, file: &str, pos: u64, timeout: Duration) -> Result<()> {
    Server::over(conn, "").with_dialect(d).pos_wait(file, pos, timeout)
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
    Server::over(conn, "").lock_writes(timeout)
}

/// `UNLOCK TABLES` (the session's global read lock).
///
/// # Errors
/// The statement fails.
pub fn unlock_tables(conn: &mut mysql::Conn) -> Result<()> {
    Server::over(conn, "").unlock_tables()
}

/// Statements running on the server for at least `secs` seconds, other
/// than replication and this session: `id, user, seconds, statement`.
///
/// # Errors
/// The query fails.
pub fn long_running(conn: &mut mysql::Conn, secs: u64) -> Result<Vec<(u64, String, u64, String)>> {
    Server::over(conn, "").long_running(secs)
}

/// `@@server_uuid` and `@@global.gtid_executed` (MySQL).
///
/// # Errors
/// The query fails.
pub fn mysql_gtid_executed(conn: &mut mysql::Conn) -> Result<(String, String)> {
    Server::over(conn, "").mysql_gtid_executed()
}

/// `@@global.gtid_slave_pos` (MariaDB).
///
/// # Errors
/// The query fails.
pub fn gtid_slave_pos(conn: &mut mysql::Conn) -> Result<String> {
    Server::over(conn, "").gtid_slave_pos()
}

/// `@@global.gtid_binlog_pos` (MariaDB): the last GTID per domain in its binlog.
///
/// # Errors
/// The query fails.
pub fn gtid_binlog_pos(conn: &mut mysql::Conn) -> Result<String> {
    Server::over(conn, "").gtid_binlog_pos()
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

impl SourceAddr {
    /// The same address with its password shown as `<secret>` (for a
    /// statement quoted in an error).
    pub fn redacted(&self) -> SourceAddr {
        SourceAddr { password: self.password.as_ref().map(|_| Secret::new(crate::secret::PLACEHOLDER)), ..self.clone() }
    }
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
    /// `SQL_Delay` (`CHANGE MASTER TO MASTER_DELAY`), in seconds; 0 when absent.
    pub fn sql_delay(&self) -> u64 {
        self.get("SQL_Delay").parse().unwrap_or(0)
    }
    /// `Seconds_Behind_Master` (`None`: NULL, the SQL or IO thread not running).
    pub fn seconds_behind(&self) -> Option<u64> {
        self.get("Seconds_Behind_Master").parse().ok()
    }
    /// How far the replica is behind its master, in words, when it is
    /// behind by more than `limit` seconds or delays on purpose
    /// (`MASTER_DELAY`); `None`: it keeps up. A replica delayed on purpose
    /// falls behind again with every write, however caught up it is now.
    pub fn behind(&self, limit: u64) -> Option<String> {
        let delay = self.sql_delay();
        let lag = self.seconds_behind();
        let lag_text = match lag {
            Some(s) => format!("{s}s behind its master (Seconds_Behind_Master)"),
            None => "its lag unknown (Seconds_Behind_Master is NULL)".to_string(),
        };
        match (delay, lag) {
            (d, _) if d > 0 => {
                let waiting = match self.get("SQL_Remaining_Delay").parse::<u64>() {
                    Ok(r) => format!(", its next transaction due in {r}s (SQL_Remaining_Delay)"),
                    Err(_) => String::new(),
                };
                let lag = match lag {
                    Some(0) => String::new(),
                    _ => format!(", {lag_text}"),
                };
                Some(format!("it is delayed on purpose: MASTER_DELAY={d}s (SQL_Delay){waiting}{lag}"))
            }
            (_, Some(s)) if s > limit => Some(lag_text),
            (_, None) => Some(lag_text),
            _ => None,
        }
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
    Server::over(conn, "").with_dialect(d).replica_status()
}

/// Every replication connection's status: MariaDB's named (multi-source)
/// connections too (`SHOW ALL SLAVES STATUS`, with `Connection_name`).
///
/// # Errors
/// The query fails.
pub fn all_replica_statuses(conn: &mut mysql::Conn, d: Dialect) -> Result<Vec<Status>> {
    Server::over(conn, "").with_dialect(d).all_replica_statuses()
}

impl Status {
    pub(super) fn from_row(row: &mysql::Row) -> Status {
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
    Server::over(conn, "").with_dialect(d).binlog_coords()
}

/// `@@global.super_read_only`: `None` where the server has no such variable (MariaDB).
pub fn super_read_only(conn: &mut mysql::Conn) -> Option<bool> {
    Server::over(conn, "").super_read_only()
}

/// Sets `super_read_only`; turning it off keeps `read_only=1`, so ordinary
/// users still cannot write.
///
/// # Errors
/// The statement fails.
pub fn set_super_read_only(conn: &mut mysql::Conn, on: bool) -> Result<()> {
    Server::over(conn, "").set_super_read_only(on)
}

/// `SET GLOBAL read_only=…` (on MySQL, `read_only=0` also clears `super_read_only`).
///
/// # Errors
/// The statement fails.
pub fn set_read_only(conn: &mut mysql::Conn, on: bool) -> Result<()> {
    Server::over(conn, "").set_read_only(on)
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
            return Err(Error::new(crate::error::ErrorKind::Timeout {
                host: String::new(),
                step: what.to_string(),
                why: format!("not done after {timeout:?}"),
            }));
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
    fn every_statement_per_dialect() {
        use Dialect::{MariaDb, MySql80, MySql84, MySqlLegacy};
        let all = [MariaDb, MySqlLegacy, MySql80, MySql84];
        // (statement, MariaDB, MySQL < 8.0.22, MySQL 8.0.22+, MySQL 8.4)
        type Row = (fn(Dialect) -> &'static str, [&'static str; 4]);
        let table: &[Row] = &[
            (
                Dialect::show_replica_status,
                ["SHOW SLAVE STATUS", "SHOW SLAVE STATUS", "SHOW REPLICA STATUS", "SHOW REPLICA STATUS"],
            ),
            (
                Dialect::show_all_replica_statuses,
                ["SHOW ALL SLAVES STATUS", "SHOW SLAVE STATUS", "SHOW REPLICA STATUS", "SHOW REPLICA STATUS"],
            ),
            (Dialect::stop_replica, ["STOP SLAVE", "STOP SLAVE", "STOP REPLICA", "STOP REPLICA"]),
            (
                Dialect::stop_io_thread,
                ["STOP SLAVE IO_THREAD", "STOP SLAVE IO_THREAD", "STOP REPLICA IO_THREAD", "STOP REPLICA IO_THREAD"],
            ),
            (Dialect::start_replica, ["START SLAVE", "START SLAVE", "START REPLICA", "START REPLICA"]),
            (
                Dialect::start_sql_thread,
                [
                    "START SLAVE SQL_THREAD",
                    "START SLAVE SQL_THREAD",
                    "START REPLICA SQL_THREAD",
                    "START REPLICA SQL_THREAD",
                ],
            ),
            (
                Dialect::reset_replica_all,
                ["RESET SLAVE ALL", "RESET SLAVE ALL", "RESET REPLICA ALL", "RESET REPLICA ALL"],
            ),
            (
                Dialect::show_master_status,
                ["SHOW MASTER STATUS", "SHOW MASTER STATUS", "SHOW MASTER STATUS", "SHOW BINARY LOG STATUS"],
            ),
            (Dialect::show_binary_logs, ["SHOW BINARY LOGS"; 4]),
            (Dialect::flush_binary_logs, ["FLUSH BINARY LOGS"; 4]),
            (
                Dialect::reset_binary_logs,
                ["RESET MASTER", "RESET MASTER", "RESET MASTER", "RESET BINARY LOGS AND GTIDS"],
            ),
            (Dialect::flush_relay_logs, ["FLUSH NO_WRITE_TO_BINLOG /*!50501 RELAY */ LOGS"; 4]),
            (
                Dialect::promotion_facts,
                [
                    "SELECT @@log_bin, @@log_slave_updates, VERSION(), @@binlog_format",
                    "SELECT @@log_bin, @@log_slave_updates, VERSION(), @@binlog_format",
                    "SELECT @@log_bin, @@log_slave_updates, VERSION(), @@binlog_format",
                    "SELECT @@log_bin, @@log_replica_updates, VERSION(), @@binlog_format",
                ],
            ),
        ];
        for (stmt, want) in table {
            for (d, w) in all.iter().zip(want) {
                assert_eq!(stmt(*d), *w, "{d:?}");
            }
        }
        let t = Duration::from_millis(1500);
        assert_eq!(MariaDb.pos_wait("b'1.000002", 4, t), "SELECT MASTER_POS_WAIT('b\\'1.000002', 4, 1)");
        assert_eq!(MySql80.pos_wait("b.000002", 4, Duration::ZERO), "SELECT MASTER_POS_WAIT('b.000002', 4, 1)");
        assert_eq!(MySql84.pos_wait("b.000002", 4, t * 2), "SELECT SOURCE_POS_WAIT('b.000002', 4, 3)");
        assert_eq!(MariaDb.gtid_wait("0-1-5,1-1-2", t), "SELECT MASTER_GTID_WAIT('0-1-5,1-1-2', 1)");
        for d in [MySqlLegacy, MySql80, MySql84] {
            assert_eq!(d.gtid_wait("u:1-5", t), "SELECT WAIT_FOR_EXECUTED_GTID_SET('u:1-5', 1)");
        }
    }

    #[test]
    fn relay_source_per_dialect() {
        let to = SourceAddr { host: "127.0.0.1".into(), port: 9, user: "bench".into(), password: None };
        assert_eq!(
            Dialect::MariaDb.change_source_to_relay(&to, "bench-relay.000001", 4),
            "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=9, MASTER_USER='bench', MASTER_PASSWORD='', \
             RELAY_LOG_FILE='bench-relay.000001', RELAY_LOG_POS=4, MASTER_USE_GTID=no"
        );
        assert_eq!(
            Dialect::MySqlLegacy.change_source_to_relay(&to, "r.000001", 4),
            "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=9, MASTER_USER='bench', MASTER_PASSWORD='', \
             RELAY_LOG_FILE='r.000001', RELAY_LOG_POS=4"
        );
        assert_eq!(
            Dialect::MySql84.change_source_to_relay(&to, "r.000001", 4),
            "CHANGE REPLICATION SOURCE TO SOURCE_HOST='127.0.0.1', SOURCE_PORT=9, SOURCE_USER='bench', \
             SOURCE_PASSWORD='', RELAY_LOG_FILE='r.000001', RELAY_LOG_POS=4"
        );
    }

    #[test]
    fn redacted_statements_hold_no_password() {
        let to =
            SourceAddr { host: "db2".into(), port: 3307, user: "repl".into(), password: Some(Secret::new("s3cr'et")) };
        let r = to.redacted();
        for d in [Dialect::MariaDb, Dialect::MySql84] {
            let quoted = d.change_source_to_pos(&r, "b.000001", 4);
            assert!(!quoted.contains("s3cr"), "{quoted}");
            assert!(quoted.contains("PASSWORD='<secret>'"), "{quoted}");
            assert!(d.change_source_to_pos(&to, "b.000001", 4).contains("s3cr"));
        }
        let none = SourceAddr { password: None, ..to };
        assert!(none.redacted().password.is_none());
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
    fn behind_names_the_delay_and_the_lag() {
        let st = |cols: &[(&str, &str)]| Status(cols.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
        assert_eq!(st(&[("Seconds_Behind_Master", "1"), ("SQL_Delay", "0")]).behind(1), None);
        assert_eq!(
            st(&[("Seconds_Behind_Master", "2")]).behind(1).as_deref(),
            Some("2s behind its master (Seconds_Behind_Master)")
        );
        assert!(st(&[("Seconds_Behind_Master", "")]).behind(1).unwrap().contains("Seconds_Behind_Master is NULL"));
        let d = st(&[("Seconds_Behind_Source", "0"), ("SQL_Delay", "25"), ("SQL_Remaining_Delay", "7")]).behind(1);
        assert_eq!(
            d.as_deref(),
            Some(
                "it is delayed on purpose: MASTER_DELAY=25s (SQL_Delay), its next transaction due in 7s (SQL_Remaining_Delay)"
            )
        );
        let d = st(&[("Seconds_Behind_Master", "40"), ("SQL_Delay", "25")]).behind(100).unwrap();
        assert!(d.ends_with("MASTER_DELAY=25s (SQL_Delay), 40s behind its master (Seconds_Behind_Master)"), "{d}");
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
