//! The server we apply to: what it is, what it has already applied (GTID
//! state), whether replication is running on it, and its collations.

use std::collections::{HashMap, HashSet};

use mysql::prelude::Queryable;

use crate::error::{Error, Result};
use crate::event::Flavor;
use crate::server::Server;
use crate::server::status::Dialect;

/// Session variables the applier may change; the guard snapshots and
/// restores them, and the converter sets only those the target has.
pub(crate) const SESSION_VARS: &[&str] = &[
    "sql_log_bin",
    "pseudo_slave_mode",
    "pseudo_replica_mode",
    "max_delayed_threads",
    "binlog_annotate_row_events",
    "completion_type",
    "autocommit",
    "server_id",
    "gtid_domain_id",
    "gtid_seq_no",
    "skip_replication",
    "sql_mode",
    "foreign_key_checks",
    "unique_checks",
    "sql_auto_is_null",
    "check_constraint_checks",
    "sql_if_exists",
    "explicit_defaults_for_timestamp",
    "system_versioning_insert_history",
    "auto_increment_increment",
    "auto_increment_offset",
    "character_set_client",
    "collation_connection",
    "innodb_lock_wait_timeout",
    "lock_wait_timeout",
    "collation_server",
    "collation_database",
    "character_set_collations",
    "time_zone",
    "lc_time_names",
    "pseudo_thread_id",
    "default_collation_for_utf8mb4",
    "sql_require_primary_key",
    "default_table_encryption",
    "gtid_next",
    "timestamp",
];

/// What we know about the target.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    /// The server's label (`host:port`), which errors name.
    pub label: String,
    pub flavor: Flavor,
    pub version: String,
    pub server_id: u32,
    pub log_bin: bool,
    pub sql_log_bin: bool,
    /// Session `binlog_format` (upper case).
    pub binlog_format: String,
    pub max_allowed_packet: u64,
    pub global_max_allowed_packet: u64,
    /// What the server gives its own replication applier (`slave_max_allowed_packet`).
    pub slave_max_allowed_packet: Option<u64>,
    /// Snapshot of [`SESSION_VARS`] that exist on the target (lower-case names).
    pub session_vars: Vec<(String, String)>,
    pub var_names: HashSet<String>,
    pub collations: HashMap<u16, (String, String)>,
}

pub(crate) fn qerr(label: &str, what: &str) -> impl Fn(mysql::Error) -> Error {
    let (label, what) = (label.to_string(), what.to_string());
    move |e| Error::server(&label, format!("{what}: {e}"))
}

fn s(v: &mysql::Value) -> Option<String> {
    match v {
        mysql::Value::NULL => None,
        mysql::Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        mysql::Value::Int(i) => Some(i.to_string()),
        mysql::Value::UInt(i) => Some(i.to_string()),
        other => Some(other.as_sql(true).trim_matches('\'').to_string()),
    }
}

/// Row values as optional strings.
pub(crate) fn row_strings(row: &mysql::Row) -> Vec<Option<String>> {
    (0..row.len()).map(|i| row.as_ref(i).and_then(s)).collect()
}

impl Target {
    /// Reads version, ids, binlog settings, packet limits, session variables and collations.
    pub fn probe(conn: &mut mysql::Conn, label: &str) -> Result<Target> {
        let row: mysql::Row = conn
            .query_first(
                "SELECT @@version, @@server_id, @@log_bin, @@session.sql_log_bin, @@session.max_allowed_packet, \
                 @@global.max_allowed_packet, @@session.binlog_format",
            )
            .map_err(qerr(label, "reading server settings"))?
            .ok_or_else(|| Error::server(label, "no answer to SELECT @@version"))?;
        let v = row_strings(&row);
        let version = v[0].clone().unwrap_or_default();
        let flavor = if version.contains("MariaDB") { Flavor::MariaDb } else { Flavor::MySql };
        let num = |i: usize| v[i].as_deref().and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
        let server_id = num(1) as u32;
        let log_bin = num(2) == 1;
        let sql_log_bin = num(3) == 1;
        let max_allowed_packet = num(4);
        let global_max_allowed_packet = num(5);
        let binlog_format = v[6].clone().unwrap_or_default().to_ascii_uppercase();

        let slave_max_allowed_packet =
            conn.query_first::<Option<u64>, _>("SELECT @@global.slave_max_allowed_packet").ok().flatten().flatten();

        let list = SESSION_VARS.iter().map(|n| format!("'{n}'")).collect::<Vec<_>>().join(",");
        let rows: Vec<mysql::Row> = conn
            .query(format!("SHOW SESSION VARIABLES WHERE Variable_name IN ({list})"))
            .map_err(qerr(label, "reading session variables"))?;
        let mut session_vars = Vec::new();
        for r in &rows {
            let v = row_strings(r);
            if let (Some(n), val) = (v[0].clone(), v.get(1).cloned().flatten()) {
                session_vars.push((n.to_ascii_lowercase(), val.unwrap_or_default()));
            }
        }
        let var_names = session_vars.iter().map(|(n, _)| n.clone()).collect();

        let rows: Vec<mysql::Row> = conn
            .query(
                "SELECT ID, CHARACTER_SET_NAME, COLLATION_NAME FROM information_schema.COLLATIONS WHERE ID IS NOT NULL",
            )
            .map_err(qerr(label, "reading collations"))?;
        let mut collations = HashMap::new();
        for r in &rows {
            let v = row_strings(r);
            if let (Some(id), Some(cs), Some(co)) = (v[0].as_deref(), v[1].clone(), v[2].clone()) {
                if let Ok(id) = id.parse::<u16>() {
                    collations.insert(id, (cs, co));
                }
            }
        }
        Ok(Target {
            label: label.to_string(),
            flavor,
            version,
            server_id,
            log_bin,
            sql_log_bin,
            binlog_format,
            max_allowed_packet,
            global_max_allowed_packet,
            slave_max_allowed_packet,
            session_vars,
            var_names,
            collations,
        })
    }
}

/// The target as a [`Server`] over the applier's connection: MariaDB
/// by flavor; MySQL's dialect read when a statement needs it.
fn server<'c>(conn: &'c mut mysql::Conn, flavor: Flavor, label: &str) -> Server<&'c mut mysql::Conn> {
    let s = Server::over(conn, label);
    match flavor {
        Flavor::MariaDb => s.with_dialect(Dialect::MariaDb),
        Flavor::MySql => s,
    }
}

/// Running replication threads on the target, as `name: IO=Yes SQL=Yes` lines.
pub(crate) fn running_replication(conn: &mut mysql::Conn, flavor: Flavor, label: &str) -> Result<Vec<String>> {
    let rows = server(conn, flavor, label).all_replica_statuses()?;
    let mut out = Vec::new();
    for r in &rows {
        let (io, sql) = (r.get("Slave_IO_Running"), r.get("Slave_SQL_Running"));
        let running = |v: &str| !v.is_empty() && !v.eq_ignore_ascii_case("No");
        if running(io) || running(sql) {
            let name = r.opt("Connection_name").or_else(|| r.opt("Channel_Name")).unwrap_or_else(|| "default".into());
            out.push(format!("replication connection '{name}': IO thread {io}, SQL thread {sql}"));
        }
    }
    Ok(out)
}

/// What the target has applied: MariaDB `(domain, server) → seq` or a MySQL GTID set.
#[derive(Clone, Debug)]
pub(crate) enum Applied {
    Maria(MariaState),
    Mysql(GtidSet),
}

pub use crate::position::gtid::{GtidSet, MariaState};

/// Reads what the target has applied: MariaDB's binlog GTID state and
/// `gtid_slave_pos` (one read), MySQL's `gtid_executed`.
pub(crate) fn read_applied(conn: &mut mysql::Conn, flavor: Flavor, label: &str) -> Result<Applied> {
    let mut srv = server(conn, flavor, label);
    match flavor {
        Flavor::MariaDb => {
            let g = srv.maria_gtids()?;
            let mut st = MariaState::default();
            st.add(&g.binlog_state)?;
            st.add(&g.slave_pos)?;
            Ok(Applied::Maria(st))
        }
        Flavor::MySql => Ok(Applied::Mysql(GtidSet::parse(&srv.mysql_gtid_executed()?.1)?)),
    }
}

/// The GTID position an operator expects, compared with the target's.
pub(crate) fn check_expected_pos(conn: &mut mysql::Conn, flavor: Flavor, label: &str, expect: &str) -> Result<()> {
    let mut srv = server(conn, flavor, label);
    match flavor {
        Flavor::MariaDb => {
            let want = MariaState::parse(expect)?;
            let g = srv.maria_gtids()?;
            for got in [&g.current_pos, &g.binlog_pos, &g.slave_pos] {
                if MariaState::parse(got)? == want {
                    return Ok(());
                }
            }
            Err(Error::server(
                label,
                format!("GTID position is {} (current) / {} (binlog), expected {expect}", g.current_pos, g.binlog_pos),
            ))
        }
        Flavor::MySql => {
            let want = GtidSet::parse(expect)?;
            let got_s = srv.mysql_gtid_executed()?.1;
            if GtidSet::parse(&got_s)? == want {
                Ok(())
            } else {
                Err(Error::server(label, format!("gtid_executed is {got_s}, expected {expect}")))
            }
        }
    }
}
