//! Guards that put back every server setting the applier changes, on every
//! exit path (success, error, panic): the session variables of the apply
//! connection, and the global `max_allowed_packet` when it had to be raised.

use mysql::prelude::Queryable;

use crate::error::{Error, Result};
use crate::event::Flavor;

use super::target::Target;

fn literal(v: &str) -> String {
    if v.parse::<i64>().is_ok() || v.parse::<u64>().is_ok() {
        v.to_string()
    } else {
        format!("'{}'", v.replace('\\', "\\\\").replace('\'', "''"))
    }
}

/// The apply connection with its session set up for applying, restored on drop.
pub(crate) struct SessionGuard<'c> {
    conn: &'c mut mysql::Conn,
    saved: Vec<(String, String)>,
    flavor: Flavor,
    /// User variables set by USER_VAR events (unset on restore).
    pub user_vars: Vec<Vec<u8>>,
    /// False once the connection is known to be gone.
    pub alive: bool,
    restored: bool,
}

impl<'c> SessionGuard<'c> {
    /// Snapshots the session (from `target`) and sets it up as mysqlbinlog's
    /// output does: `pseudo_slave_mode=1` (MariaDB detaches a prepared XA
    /// transaction from the session in that mode), `max_delayed_threads=0`,
    /// `completion_type=0`, `autocommit=1`, and `sql_log_bin=0` when asked.
    /// MariaDB's `binlog_annotate_row_events=0` too: the annotation would be
    /// our `BINLOG` statement's base64 text, which says nothing to a reader
    /// and more than doubled what the target writes to its binlog (the
    /// master's own annotation cannot be carried through `BINLOG`). With
    /// `lock_wait` (seconds left of a deadline), `lock_wait_timeout` and
    /// `innodb_lock_wait_timeout` too: a lock an application holds on the
    /// target (a metadata lock waits a year by default) ends our wait by
    /// the deadline, on the server's side as well.
    pub fn begin(
        conn: &'c mut mysql::Conn,
        target: &Target,
        disable_log_bin: bool,
        lock_wait: Option<u64>,
    ) -> Result<SessionGuard<'c>> {
        let g = SessionGuard {
            conn,
            saved: target.session_vars.clone(),
            flavor: target.flavor,
            user_vars: Vec::new(),
            alive: true,
            restored: false,
        };
        // MySQL 8.0.26+ renamed pseudo_slave_mode (8.4 dropped the old name).
        let pseudo =
            if target.var_names.contains("pseudo_replica_mode") { "pseudo_replica_mode" } else { "pseudo_slave_mode" };
        let mut sets = Vec::new();
        for (n, v) in [
            (pseudo, "1"),
            ("max_delayed_threads", "0"),
            ("binlog_annotate_row_events", "0"),
            ("completion_type", "0"),
            ("autocommit", "1"),
        ] {
            if target.var_names.contains(n) {
                sets.push(format!("@@session.{n}={v}"));
            }
        }
        if disable_log_bin {
            sets.push("@@session.sql_log_bin=0".into());
        }
        if let Some(secs) = lock_wait {
            for n in ["lock_wait_timeout", "innodb_lock_wait_timeout"] {
                if target.var_names.contains(n) {
                    sets.push(format!("@@session.{n}={secs}"));
                }
            }
        }
        if !sets.is_empty() {
            g.conn.query_drop(format!("SET {}", sets.join(", "))).map_err(|e| {
                Error::server(&target.label, format!("setting up the session ({}): {e}", sets.join(", ")))
            })?;
        }
        Ok(g)
    }

    /// The connection.
    pub fn conn(&mut self) -> &mut mysql::Conn {
        self.conn
    }

    /// Puts the session back as it was (best effort: each setting on its own).
    pub fn restore(&mut self) {
        if self.restored {
            return;
        }
        self.restored = true;
        if !self.alive {
            return;
        }
        let c = &mut *self.conn;
        let _ = c.query_drop("ROLLBACK");
        if self.flavor == Flavor::MySql {
            let _ = c.query_drop("SET @@SESSION.GTID_NEXT='AUTOMATIC'");
        }
        let _ = c.query_drop("SET @@session.sql_mode=''");
        let mut sql_mode = None;
        for (n, v) in &self.saved {
            let stmt = match n.as_str() {
                "sql_mode" => {
                    sql_mode = Some(v.clone());
                    continue;
                }
                "gtid_next" => continue, // set to AUTOMATIC above
                "timestamp" => "SET @@session.timestamp=DEFAULT".to_string(),
                "gtid_seq_no" => "SET @@session.gtid_seq_no=0".to_string(),
                _ => format!("SET @@session.{n}={}", literal(v)),
            };
            let _ = c.query_drop(stmt);
        }
        for name in &self.user_vars {
            if let Ok(q) = super::session::quote_ident(name) {
                let _ = c.query_drop(format!("SET @{q}=NULL"));
            }
        }
        if let Some(m) = sql_mode {
            let _ = c.query_drop(format!("SET @@session.sql_mode={}", literal(&m)));
        }
    }
}

impl Drop for SessionGuard<'_> {
    fn drop(&mut self) {
        self.restore();
    }
}

/// A raised global `max_allowed_packet`, put back on restore or drop.
pub(crate) struct PacketGuard {
    conn: Option<mysql::Conn>,
    /// The server's label, which errors name.
    label: String,
    original: u64,
    changed: bool,
}

/// The server's ceiling for `max_allowed_packet`.
pub(crate) const MAX_PACKET: u64 = 1 << 30;

impl PacketGuard {
    /// Raises the global value to `needed` (rounded up to 1 KiB) using `conn`,
    /// which the guard keeps to restore it if nothing else does.
    pub fn raise(mut conn: mysql::Conn, label: &str, original: u64, needed: u64) -> Result<PacketGuard> {
        let v = needed.div_ceil(1024).saturating_mul(1024).min(MAX_PACKET);
        conn.query_drop(format!("SET @@global.max_allowed_packet={v}"))
            .map_err(|e| Error::server(label, format!("raising max_allowed_packet to {v}: {e}")))?;
        Ok(PacketGuard { conn: Some(conn), label: label.to_string(), original, changed: true })
    }

    /// Puts the global value back through `via` (a session opened meanwhile
    /// keeps its larger value).
    pub fn restore(&mut self, via: &mut mysql::Conn) -> Result<()> {
        if self.changed {
            via.query_drop(format!("SET @@global.max_allowed_packet={}", self.original)).map_err(|e| {
                Error::server(&self.label, format!("restoring max_allowed_packet to {}: {e}", self.original))
            })?;
            self.changed = false;
        }
        Ok(())
    }
}

impl Drop for PacketGuard {
    fn drop(&mut self) {
        if self.changed {
            if let Some(c) = self.conn.as_mut() {
                let _ = c.query_drop(format!("SET @@global.max_allowed_packet={}", self.original));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn literals() {
        assert_eq!(super::literal("12"), "12");
        assert_eq!(super::literal("-3"), "-3");
        assert_eq!(super::literal("ON"), "'ON'");
        assert_eq!(super::literal(""), "''");
        assert_eq!(super::literal("it's"), "'it''s'");
    }
}
