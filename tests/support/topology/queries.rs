//! SQL on the servers of a topology and the checks tests make with it:
//! connections (admin user over TCP, one cached session per server),
//! `sql`/`query` and their `try_*` forms, SHOW MASTER/SLAVE STATUS, binlog
//! and relay log events and files, CHECKSUM TABLE comparisons, and the
//! [`Workload`](super::Workload)'s committed sequence numbers.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use mysql::prelude::Queryable;
use mysql::{Conn, Opts, OptsBuilder, Value};

use super::{ADMIN_PASSWORD, ADMIN_USER, MASTER, Topology, WORKLOAD_DB, lock};

/// A binlog coordinate.  Ordering is (file name, position), which is the log
/// order for names of the same base (`mysql-bin.000009 < mysql-bin.000010`).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LogPos {
    pub file: String,
    pub pos: u64,
}

impl LogPos {
    pub fn new(file: impl Into<String>, pos: u64) -> Self {
        LogPos { file: file.into(), pos }
    }
    /// The numeric extension (`mysql-bin.000042` -> 42).
    pub fn file_seq(&self) -> u64 {
        self.file.rsplit('.').next().and_then(|n| n.parse().ok()).unwrap_or(0)
    }
}

impl fmt::Display for LogPos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.pos)
    }
}

/// The interesting part of SHOW SLAVE STATUS (all columns are in `raw`).
#[derive(Clone, Debug, Default)]
pub struct SlaveStatus {
    /// Master binlog the IO thread is reading.
    pub master_log_file: String,
    /// End of the last event the IO thread wrote to the relay log.
    pub read_master_log_pos: u64,
    /// Master binlog of the last event group the SQL thread executed.
    pub relay_master_log_file: String,
    /// Master end position of the last executed event group.
    pub exec_master_log_pos: u64,
    /// Relay log file / position the SQL thread is at (basename).
    pub relay_log_file: String,
    pub relay_log_pos: u64,
    /// "Yes", "No" or "Connecting" (master unreachable).
    pub io_running: String,
    /// "Yes" or "No".
    pub sql_running: String,
    pub sql_running_state: String,
    pub last_io_errno: u64,
    pub last_io_error: String,
    pub last_sql_errno: u64,
    pub last_sql_error: String,
    /// "No", "Slave_Pos" or "Current_Pos".
    pub using_gtid: String,
    pub gtid_io_pos: String,
    pub raw: BTreeMap<String, String>,
}

impl SlaveStatus {
    /// (Master_Log_File, Read_Master_Log_Pos)
    pub fn read_pos(&self) -> LogPos {
        LogPos::new(self.master_log_file.clone(), self.read_master_log_pos)
    }
    /// (Relay_Master_Log_File, Exec_Master_Log_Pos)
    pub fn exec_pos(&self) -> LogPos {
        LogPos::new(self.relay_master_log_file.clone(), self.exec_master_log_pos)
    }
    /// (Relay_Log_File, Relay_Log_Pos)
    pub fn relay_pos(&self) -> LogPos {
        LogPos::new(self.relay_log_file.clone(), self.relay_log_pos)
    }
    pub fn io_yes(&self) -> bool {
        self.io_running == "Yes"
    }
    pub fn sql_yes(&self) -> bool {
        self.sql_running == "Yes"
    }
    /// SQL thread waits for more relay log (has executed what it can).
    pub fn sql_idle(&self) -> bool {
        self.sql_running_state.starts_with("Slave has read all relay log")
    }
    fn from_map(m: BTreeMap<String, String>) -> Self {
        let s = |k: &str| m.get(k).cloned().unwrap_or_default();
        let n = |k: &str| m.get(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        SlaveStatus {
            master_log_file: s("Master_Log_File"),
            read_master_log_pos: n("Read_Master_Log_Pos"),
            relay_master_log_file: s("Relay_Master_Log_File"),
            exec_master_log_pos: n("Exec_Master_Log_Pos"),
            relay_log_file: s("Relay_Log_File"),
            relay_log_pos: n("Relay_Log_Pos"),
            io_running: s("Slave_IO_Running"),
            sql_running: s("Slave_SQL_Running"),
            sql_running_state: s("Slave_SQL_Running_State"),
            last_io_errno: n("Last_IO_Errno"),
            last_io_error: s("Last_IO_Error"),
            last_sql_errno: n("Last_SQL_Errno"),
            last_sql_error: s("Last_SQL_Error"),
            using_gtid: s("Using_Gtid"),
            gtid_io_pos: s("Gtid_IO_Pos"),
            raw: m,
        }
    }
}

impl fmt::Display for SlaveStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "io={} sql={} read={} exec={} relay={}",
            self.io_running,
            self.sql_running,
            self.read_pos(),
            self.exec_pos(),
            self.relay_pos()
        )?;
        if self.last_io_errno != 0 {
            write!(f, " io_error={}:{:?}", self.last_io_errno, self.last_io_error)?;
        }
        if self.last_sql_errno != 0 {
            write!(f, " sql_error={}:{:?}", self.last_sql_errno, self.last_sql_error)?;
        }
        Ok(())
    }
}

/// One row of SHOW BINLOG EVENTS / SHOW RELAYLOG EVENTS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BinlogEvent {
    pub log_name: String,
    pub pos: u64,
    pub event_type: String,
    pub server_id: u64,
    pub end_log_pos: u64,
    pub info: String,
}

/// Output of a query, every value as text (NULL = None).
#[derive(Clone, Debug, Default)]
pub struct QueryOutput {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
}

fn value_to_string(v: &Value) -> Option<String> {
    match v {
        Value::NULL => None,
        Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::Int(i) => Some(i.to_string()),
        Value::UInt(u) => Some(u.to_string()),
        Value::Float(f) => Some(f.to_string()),
        Value::Double(d) => Some(d.to_string()),
        other => Some(other.as_sql(true).trim_matches('\'').to_string()),
    }
}

fn run_query(conn: &mut Conn, q: &str) -> mysql::Result<QueryOutput> {
    let mut out = QueryOutput::default();
    let mut got_set = false;
    let mut result = conn.query_iter(q)?;
    while let Some(mut set) = result.iter() {
        let cols: Vec<String> = set.columns().as_ref().iter().map(|c| c.name_str().into_owned()).collect();
        let mut rows = Vec::new();
        for row in set.by_ref() {
            rows.push(row?.unwrap().iter().map(value_to_string).collect());
        }
        if !got_set && !cols.is_empty() {
            got_set = true;
            out.columns = cols;
            out.rows = rows;
        }
    }
    Ok(out)
}

/// Quote a string for SQL ('...' with backslash and quote escaped).
pub fn sql_quote(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('\'');
    for c in s.chars() {
        match c {
            '\'' => o.push_str("''"),
            '\\' => o.push_str("\\\\"),
            '\0' => o.push_str("\\0"),
            c => o.push(c),
        }
    }
    o.push('\'');
    o
}

pub(super) fn ident(s: &str) -> String {
    assert!(!s.contains('`'), "identifier with a backtick: {s:?}");
    format!("`{s}`")
}

impl Topology {
    /// Connection options for the admin user over TCP.
    pub fn opts(&self, server: usize) -> Opts {
        OptsBuilder::new()
            .ip_or_hostname(Some(self.host_ip(server)))
            .tcp_port(self.port(server))
            .user(Some(ADMIN_USER))
            .pass(Some(ADMIN_PASSWORD))
            .prefer_socket(false)
            .tcp_connect_timeout(Some(Duration::from_secs(5)))
            .read_timeout(Some(Duration::from_secs(300)))
            .write_timeout(Some(Duration::from_secs(300)))
            .init(vec!["SET NAMES utf8mb4"])
            .into()
    }

    /// A new connection (admin user, TCP); e.g. for another thread.
    pub fn conn(&self, server: usize) -> Conn {
        Conn::new(self.opts(server))
            .unwrap_or_else(|e| self.fail(server, format!("connect to {}: {e}", self.name(server))))
    }

    /// Run `f` on the server's cached session (one per server, reconnected
    /// after connection-level errors, kept after SQL errors). A cached
    /// session the server ended while it was idle (a switch ends every
    /// client session on the old master) is replaced and `f` run again on
    /// the new one: the statement never ran on the ended one.
    pub fn with_conn<T>(&self, server: usize, mut f: impl FnMut(&mut Conn) -> mysql::Result<T>) -> mysql::Result<T> {
        let s = &self.servers[server];
        let mut g = lock(&s.conn);
        let cached = g.is_some();
        if g.is_none() {
            *g = Some(Conn::new(self.opts(server))?);
        }
        let mut r = f(g.as_mut().unwrap());
        // ER_CONNECTION_KILLED, or the socket already closed.
        let ended = |e: &mysql::Error| match e {
            mysql::Error::MySqlError(e) => e.code == 1927,
            _ => true,
        };
        if cached && r.as_ref().is_err_and(ended) {
            *g = None;
            *g = Some(Conn::new(self.opts(server))?);
            r = f(g.as_mut().unwrap());
        }
        if let Err(e) = &r {
            if !matches!(e, mysql::Error::MySqlError(_)) || ended(e) {
                *g = None;
            }
        }
        r
    }

    pub fn try_sql(&self, server: usize, q: impl AsRef<str>) -> mysql::Result<()> {
        self.with_conn(server, |c| c.query_drop(q.as_ref()))
    }

    /// Execute (possibly several `;`-separated) statements, ignore results.
    pub fn sql(&self, server: usize, q: impl AsRef<str>) {
        let q = q.as_ref();
        if let Err(e) = self.try_sql(server, q) {
            self.fail(server, format!("{}: `{q}` failed: {e}", self.name(server)));
        }
    }

    pub fn try_query(&self, server: usize, q: impl AsRef<str>) -> mysql::Result<QueryOutput> {
        self.with_conn(server, |c| run_query(c, q.as_ref()))
    }

    /// Columns and text rows of the first result set.
    pub fn query(&self, server: usize, q: impl AsRef<str>) -> QueryOutput {
        let q = q.as_ref();
        self.try_query(server, q)
            .unwrap_or_else(|e| self.fail(server, format!("{}: `{q}` failed: {e}", self.name(server))))
    }

    /// Rows of the first result set, values as text (NULL = None).
    pub fn query_rows(&self, server: usize, q: impl AsRef<str>) -> Vec<Vec<Option<String>>> {
        self.query(server, q).rows
    }

    /// Rows as column name -> value.
    pub fn query_maps(&self, server: usize, q: impl AsRef<str>) -> Vec<BTreeMap<String, Option<String>>> {
        let out = self.query(server, q);
        out.rows.into_iter().map(|r| out.columns.iter().cloned().zip(r).collect()).collect()
    }

    /// First column of the first row (None if no row or NULL).
    pub fn query_value(&self, server: usize, q: impl AsRef<str>) -> Option<String> {
        self.query_rows(server, q).into_iter().next().and_then(|r| r.into_iter().next().flatten())
    }

    /// A global/session variable, e.g. `variable(0, "binlog_format")`.
    pub fn variable(&self, server: usize, name: &str) -> String {
        assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "variable name {name:?}");
        self.query_value(server, format!("SELECT @@{name}")).unwrap_or_default()
    }

    /// SHOW MASTER STATUS (File, Position) of any server (replicas have their
    /// own binlog).
    pub fn master_status(&self, server: usize) -> LogPos {
        let rows = self.query_rows(server, "SHOW MASTER STATUS");
        let r = rows.first().unwrap_or_else(|| self.fail(server, "SHOW MASTER STATUS: no row (binlog off?)"));
        LogPos::new(r[0].clone().unwrap_or_default(), r[1].as_deref().unwrap_or("0").parse().unwrap())
    }

    pub fn try_slave_status(&self, replica: usize) -> mysql::Result<Option<SlaveStatus>> {
        let out = self.try_query(replica, "SHOW SLAVE STATUS")?;
        Ok(out.rows.into_iter().next().map(|row| {
            SlaveStatus::from_map(
                out.columns.iter().cloned().zip(row.into_iter().map(Option::unwrap_or_default)).collect(),
            )
        }))
    }

    pub fn slave_status(&self, replica: usize) -> SlaveStatus {
        match self.try_slave_status(replica) {
            Ok(Some(s)) => s,
            Ok(None) => {
                self.fail(replica, format!("{} is not a replica (SHOW SLAVE STATUS is empty)", self.name(replica)))
            }
            Err(e) => self.fail(replica, format!("{}: SHOW SLAVE STATUS: {e}", self.name(replica))),
        }
    }

    /// SHOW BINARY LOGS: (file, size).
    pub fn binary_logs(&self, server: usize) -> Vec<(String, u64)> {
        self.query_rows(server, "SHOW BINARY LOGS")
            .into_iter()
            .map(|r| (r[0].clone().unwrap_or_default(), r[1].as_deref().unwrap_or("0").parse().unwrap_or(0)))
            .collect()
    }

    fn events(&self, server: usize, q: String) -> Vec<BinlogEvent> {
        self.query_rows(server, q)
            .into_iter()
            .map(|r| {
                let s = |i: usize| r.get(i).cloned().flatten().unwrap_or_default();
                BinlogEvent {
                    log_name: s(0),
                    pos: s(1).parse().unwrap_or(0),
                    event_type: s(2),
                    server_id: s(3).parse().unwrap_or(0),
                    end_log_pos: s(4).parse().unwrap_or(0),
                    info: s(5),
                }
            })
            .collect()
    }

    /// SHOW BINLOG EVENTS IN `file` [FROM `from`].
    pub fn binlog_events(&self, server: usize, file: &str, from: Option<u64>) -> Vec<BinlogEvent> {
        let from = from.map(|p| format!(" FROM {p}")).unwrap_or_default();
        self.events(server, format!("SHOW BINLOG EVENTS IN {}{from}", sql_quote(file)))
    }

    /// SHOW RELAYLOG EVENTS IN `file` (basename, as in Relay_Log_File).
    pub fn relay_log_events(&self, replica: usize, file: &str) -> Vec<BinlogEvent> {
        self.events(replica, format!("SHOW RELAYLOG EVENTS IN {}", sql_quote(file)))
    }

    fn numbered_files(&self, server: usize, prefix: &str) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = fs::read_dir(self.datadir(server))
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.path())
                    .filter(|p| {
                        p.file_name()
                            .and_then(|n| n.to_str())
                            .and_then(|n| n.strip_prefix(prefix))
                            .is_some_and(|ext| ext.len() >= 6 && ext.bytes().all(|b| b.is_ascii_digit()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// The server's own binlog files on disk (`mysql-bin.NNNNNN`), in order.
    /// Works while the server is down.
    pub fn binlog_files(&self, server: usize) -> Vec<PathBuf> {
        self.numbered_files(server, "mysql-bin.")
    }

    /// The replica's relay log files on disk (`relay-bin.NNNNNN`), in order.
    pub fn relay_log_files(&self, server: usize) -> Vec<PathBuf> {
        self.numbered_files(server, "relay-bin.")
    }

    /// `CHECKSUM TABLE` of every base table of `db` (empty map if `db` does
    /// not exist).
    pub fn checksum_tables(&self, server: usize, db: &str) -> BTreeMap<String, u64> {
        let tables = self.query_rows(
            server,
            format!(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = {} \
                 AND table_type = 'BASE TABLE' ORDER BY table_name",
                sql_quote(db)
            ),
        );
        let mut out = BTreeMap::new();
        for t in tables {
            let t = t[0].clone().unwrap();
            let rows = self.query_rows(server, format!("CHECKSUM TABLE {}.{}", ident(db), ident(&t)));
            let sum = rows.first().and_then(|r| r[1].as_deref()).and_then(|v| v.parse::<u64>().ok());
            let sum = sum.unwrap_or_else(|| self.fail(server, format!("CHECKSUM TABLE {db}.{t}: {rows:?}")));
            out.insert(t, sum);
        }
        out
    }

    /// Panic unless `server`'s tables in `db` have the same checksums as the
    /// master's (the master must be running).
    pub fn assert_same_data_as_master(&self, server: usize, db: &str) {
        self.assert_same_data(MASTER, server, db);
    }

    /// Tables of `db` whose checksums differ between servers `a` and `b`, as
    /// "table: a=<sum> b=<sum>" (a missing table shows as `-`).  Empty = same.
    pub fn checksum_differences(&self, a: usize, b: usize, db: &str) -> Vec<String> {
        let ca = self.checksum_tables(a, db);
        let cb = self.checksum_tables(b, db);
        let mut names: Vec<&String> = ca.keys().chain(cb.keys()).collect();
        names.sort();
        names.dedup();
        let show = |v: Option<&u64>| v.map(|v| v.to_string()).unwrap_or_else(|| "-".into());
        names
            .into_iter()
            .filter(|t| ca.get(*t) != cb.get(*t))
            .map(|t| format!("{t}: {}={} {}={}", self.name(a), show(ca.get(t)), self.name(b), show(cb.get(t))))
            .collect()
    }

    /// Panic unless servers `a` and `b` have identical (and some) tables in `db`.
    pub fn assert_same_data(&self, a: usize, b: usize, db: &str) {
        assert!(!self.checksum_tables(a, db).is_empty(), "{}: no tables in {db}", self.name(a));
        let d = self.checksum_differences(a, b, db);
        assert!(d.is_empty(), "CHECKSUM TABLE differences in {db}: {d:?}");
    }

    /// Sequence numbers of the [`Workload`] groups this server has committed
    /// (`bd.seq` plus the MyISAM `bd.m.seq_n`), sorted.  Empty without `bd`.
    pub fn committed_seq(&self, server: usize) -> Vec<u64> {
        let have = self.query_value(
            server,
            format!("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '{WORKLOAD_DB}' AND table_name IN ('seq', 'm')"),
        );
        if have.as_deref() != Some("2") {
            return Vec::new();
        }
        self.query_rows(
            server,
            format!(
                "SELECT n FROM {WORKLOAD_DB}.seq UNION SELECT seq_n FROM {WORKLOAD_DB}.m \
                 WHERE seq_n IS NOT NULL ORDER BY 1"
            ),
        )
        .into_iter()
        .map(|r| r[0].as_deref().unwrap().parse().unwrap())
        .collect()
    }
}
