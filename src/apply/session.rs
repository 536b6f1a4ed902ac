//! What the target session has been told so far, so that the context of a
//! QUERY event (database, `sql_mode`, character sets, time zone, timestamp,
//! …) is set with as few statements as possible: like mysqlbinlog's
//! `print_event_info`, a `SET` is emitted only when a value changes.
//!
//! The tracker is cloned at the start of every transaction and the clone is
//! kept only once the transaction committed, so it always describes the
//! server's session, never statements that were skipped or rolled back.

use std::collections::HashSet;

use crate::event::Flavor;
use crate::event::views::{Query, StatusVar};

/// `OPTION_*` bits of `Q_FLAGS2` (identical in MySQL and MariaDB for the
/// first four; the rest are MariaDB's, checked against MariaDB 10.11).
pub mod option_bits {
    /// `sql_auto_is_null=1`
    pub const AUTO_IS_NULL: u32 = 1 << 14;
    /// MariaDB `check_constraint_checks=0`
    pub const NO_CHECK_CONSTRAINT_CHECKS: u32 = 1 << 15;
    /// `autocommit=0` (not replayed: every group is an explicit transaction)
    pub const NOT_AUTOCOMMIT: u32 = 1 << 19;
    /// MariaDB `explicit_defaults_for_timestamp=1` (10.10+)
    pub const EXPLICIT_DEF_TIMESTAMP: u32 = 1 << 24;
    /// `foreign_key_checks=0`
    pub const NO_FOREIGN_KEY_CHECKS: u32 = 1 << 26;
    /// `unique_checks=0`
    pub const RELAXED_UNIQUE_CHECKS: u32 = 1 << 27;
    /// MariaDB `sql_if_exists=1`
    pub const IF_EXISTS: u32 = 1 << 28;
    /// MariaDB `system_versioning_insert_history=1`
    pub const INSERT_HISTORY: u32 = 1 << 30;
}

/// Session variables replayed from `Q_FLAGS2`: name, bit, whether a set bit means 1.
const FLAGS2_VARS: &[(&str, u32, bool, bool)] = &[
    // (variable, bit, bit set means value 1, MariaDB only)
    ("foreign_key_checks", option_bits::NO_FOREIGN_KEY_CHECKS, false, false),
    ("sql_auto_is_null", option_bits::AUTO_IS_NULL, true, false),
    ("unique_checks", option_bits::RELAXED_UNIQUE_CHECKS, false, false),
    ("check_constraint_checks", option_bits::NO_CHECK_CONSTRAINT_CHECKS, false, true),
    ("sql_if_exists", option_bits::IF_EXISTS, true, true),
    ("explicit_defaults_for_timestamp", option_bits::EXPLICIT_DEF_TIMESTAMP, true, true),
    ("system_versioning_insert_history", option_bits::INSERT_HISTORY, true, true),
];

/// Collation id of utf8mb4_general_ci (both servers).
const UTF8MB4: u16 = 45;

/// A problem turning an event into statements.
#[derive(Debug)]
pub(crate) struct ConvError(pub String);

/// An event that does not parse, as a conversion error.
pub(crate) fn perr(e: crate::event::ParseError) -> ConvError {
    ConvError(e.kind.to_string())
}

/// The tracked session state. `None` means "not known": the next event sets it.
#[derive(Clone, Debug, Default)]
pub(crate) struct SessionCtx {
    db: Option<Vec<u8>>,
    timestamp: Option<(u32, Option<u32>)>,
    thread_id: Option<u32>,
    flags2: [Option<bool>; FLAGS2_VARS.len()],
    sql_mode: Option<u64>,
    auto_inc: Option<(u16, u16)>,
    charset: Option<(u16, u16, u16)>,
    time_zone: Option<Vec<u8>>,
    lc_time_names: Option<u16>,
    charset_database: Option<u16>,
    mysql_extra: [Option<u16>; 4],
    character_set_collations: Option<Vec<u8>>,
    skip_replication: Option<bool>,
    /// MariaDB `gtid_domain_id` and `server_id` last set.
    pub gtid_domain: Option<u32>,
    pub server_id: Option<u32>,
    /// Identity of the last FDE sent with `BINLOG`.
    pub fde_sent: Option<Vec<u8>>,
    /// User variables set (the guard unsets them at the end).
    pub user_vars: Vec<Vec<u8>>,
}

/// MySQL-only status variables replayed by name.
const MYSQL_EXTRA: [&str; 4] = [
    "explicit_defaults_for_timestamp",
    "default_collation_for_utf8mb4",
    "sql_require_primary_key",
    "default_table_encryption",
];

/// What the converter knows about the target.
pub(crate) struct TargetInfo<'t> {
    /// Session variables the target has (lower case).
    pub vars: &'t HashSet<String>,
    /// Collation id → (character set, collation) on the target.
    pub collations: &'t std::collections::HashMap<u16, (String, String)>,
}

fn push_set(sets: &mut Vec<String>, s: String) {
    sets.push(s);
}

/// Backtick-quotes an identifier.
pub(crate) fn quote_ident(name: &[u8]) -> Result<String, ConvError> {
    let s = std::str::from_utf8(name)
        .map_err(|_| ConvError(format!("identifier is not UTF-8: {}", String::from_utf8_lossy(name))))?;
    Ok(format!("`{}`", s.replace('`', "``")))
}

/// Single-quotes a short ASCII setting value (time zone names and the
/// like); refuses quotes and backslashes rather than depend on `sql_mode`.
pub(crate) fn quote_plain(v: &[u8]) -> Result<String, ConvError> {
    if v.iter().any(|&b| b == b'\'' || b == b'\\' || !(0x20..0x7f).contains(&b)) {
        return Err(ConvError(format!("unsupported characters in setting value {:?}", String::from_utf8_lossy(v))));
    }
    Ok(format!("'{}'", String::from_utf8_lossy(v)))
}

/// Upper-case hex digits.
pub(crate) fn hex(b: &[u8]) -> String {
    const H: &[u8; 16] = b"0123456789ABCDEF";
    let mut s = String::with_capacity(b.len() * 2);
    for &x in b {
        s.push(H[(x >> 4) as usize] as char);
        s.push(H[(x & 15) as usize] as char);
    }
    s
}

impl SessionCtx {
    /// Statements that bring the session to the context of `q` (a statement
    /// to execute, not BEGIN/COMMIT): `USE` first when the database changes,
    /// then one `SET` with every changed variable. `ts` is the header
    /// timestamp; `flags` the header flags.
    pub fn query_context(
        &mut self,
        q: &Query<'_>,
        ts: u32,
        flags: u16,
        flavor: Flavor,
        target: &TargetInfo<'_>,
    ) -> Result<Vec<String>, ConvError> {
        let mut out = Vec::new();
        let mut sets = Vec::new();

        // Status variables.
        let mut flags2 = None;
        let mut sql_mode = None;
        let mut auto_inc = (1u16, 1u16);
        let mut charset = None;
        let mut time_zone: Option<&[u8]> = None;
        let mut lc_time_names = 0u16;
        let mut charset_database = 0u16;
        let mut micro = None;
        let mut mysql_extra: [Option<u16>; 4] = [None; 4];
        let mut csc: Option<&[u8]> = None;
        for sv in q.status() {
            match sv.map_err(|k| ConvError(format!("status variables: {k}")))? {
                StatusVar::Flags2(f) => flags2 = Some(f),
                StatusVar::SqlMode(m) => sql_mode = Some(m),
                StatusVar::AutoIncrement(i, o) => auto_inc = (i, o),
                StatusVar::Charset(a, b, c) => charset = Some((a, b, c)),
                StatusVar::TimeZone(z) => time_zone = Some(z),
                StatusVar::LcTimeNames(n) => lc_time_names = n,
                StatusVar::CharsetDatabase(n) => charset_database = n,
                StatusVar::Microseconds(u) | StatusVar::HrNow(u) => micro = Some(u),
                StatusVar::ExplicitDefaultsForTimestamp(v) => mysql_extra[0] = Some(v as u16),
                StatusVar::DefaultCollationForUtf8mb4(v) => mysql_extra[1] = Some(v),
                StatusVar::SqlRequirePrimaryKey(v) => mysql_extra[2] = Some(v as u16),
                StatusVar::DefaultTableEncryption(v) => mysql_extra[3] = Some(v as u16),
                StatusVar::CharacterSetCollations(raw) => csc = Some(raw),
                _ => {}
            }
        }

        // Database: mysqlbinlog's rule (no USE under SUPPRESS_USE; an empty
        // name is remembered but cannot be "un-selected").
        if flags & crate::event::flags::SUPPRESS_USE == 0 && self.db.as_deref() != Some(q.db) {
            self.db = Some(q.db.to_vec());
            if !q.db.is_empty() {
                if !q.db.is_ascii() {
                    // Names are stored in the system character set (UTF-8);
                    // make the server read this one statement as UTF-8.
                    out.push(format!("SET @@session.character_set_client={UTF8MB4}"));
                    self.charset = None;
                }
                out.push(format!("USE {}", quote_ident(q.db)?));
            }
        }

        // No microseconds in the event means .000000, as mysqlbinlog prints it.
        let t = (ts, micro.filter(|&u| u != 0));
        if self.timestamp != Some(t) {
            self.timestamp = Some(t);
            match t.1 {
                Some(u) => push_set(&mut sets, format!("TIMESTAMP={ts}.{u:06}")),
                None => push_set(&mut sets, format!("TIMESTAMP={ts}")),
            }
        }
        if self.thread_id != Some(q.thread_id) {
            self.thread_id = Some(q.thread_id);
            push_set(&mut sets, format!("@@session.pseudo_thread_id={}", q.thread_id));
        }
        if let Some(f2) = flags2 {
            for (i, &(name, bit, set_means_one, maria_only)) in FLAGS2_VARS.iter().enumerate() {
                if maria_only && flavor != Flavor::MariaDb {
                    continue;
                }
                let one = (f2 & bit != 0) == set_means_one;
                if self.flags2[i] == Some(one) {
                    continue;
                }
                if !target.vars.contains(name) {
                    // The target cannot hold it: fine while it is the default.
                    let default_one =
                        matches!(name, "foreign_key_checks" | "unique_checks" | "check_constraint_checks");
                    if one != default_one && name != "explicit_defaults_for_timestamp" {
                        return Err(ConvError(format!(
                            "the target has no session variable {name} (needed = {})",
                            one as u8
                        )));
                    }
                    self.flags2[i] = Some(one);
                    continue;
                }
                self.flags2[i] = Some(one);
                push_set(&mut sets, format!("@@session.{name}={}", one as u8));
            }
        }
        if let Some(m) = sql_mode {
            if self.sql_mode != Some(m) {
                self.sql_mode = Some(m);
                push_set(&mut sets, format!("@@session.sql_mode={m}"));
            }
        }
        if self.auto_inc != Some(auto_inc) {
            self.auto_inc = Some(auto_inc);
            push_set(
                &mut sets,
                format!(
                    "@@session.auto_increment_increment={}, @@session.auto_increment_offset={}",
                    auto_inc.0, auto_inc.1
                ),
            );
        }
        if let Some(c) = charset {
            if self.charset != Some(c) {
                self.charset = Some(c);
                push_set(
                    &mut sets,
                    format!(
                        "@@session.character_set_client={}, @@session.collation_connection={}, @@session.collation_server={}",
                        c.0, c.1, c.2
                    ),
                );
            }
        }
        if let Some(z) = time_zone {
            if self.time_zone.as_deref() != Some(z) {
                self.time_zone = Some(z.to_vec());
                push_set(&mut sets, format!("@@session.time_zone={}", quote_plain(z)?));
            }
        }
        if self.lc_time_names != Some(lc_time_names) {
            self.lc_time_names = Some(lc_time_names);
            push_set(&mut sets, format!("@@session.lc_time_names={lc_time_names}"));
        }
        if self.charset_database != Some(charset_database) {
            self.charset_database = Some(charset_database);
            if charset_database == 0 {
                push_set(&mut sets, "@@session.collation_database=DEFAULT".into());
            } else {
                push_set(&mut sets, format!("@@session.collation_database={charset_database}"));
            }
        }
        for (i, v) in mysql_extra.iter().enumerate() {
            if let Some(v) = *v {
                if self.mysql_extra[i] != Some(v) {
                    self.mysql_extra[i] = Some(v);
                    if target.vars.contains(MYSQL_EXTRA[i]) {
                        push_set(&mut sets, format!("@@session.{}={v}", MYSQL_EXTRA[i]));
                    }
                }
            }
        }
        if let Some(raw) = csc {
            if self.character_set_collations.as_deref() != Some(raw) {
                self.character_set_collations = Some(raw.to_vec());
                let v = character_set_collations(raw, target)?;
                push_set(&mut sets, format!("@@session.character_set_collations='{v}'"));
            }
        }
        if flavor == Flavor::MariaDb {
            self.skip_replication_into(flags, target, &mut sets);
        }
        if !sets.is_empty() {
            out.push(format!("SET {}", sets.join(", ")));
        }
        Ok(out)
    }

    /// `skip_replication` from the header flag (MariaDB), for any applied event.
    pub fn skip_replication(&mut self, flags: u16, target: &TargetInfo<'_>) -> Option<String> {
        let mut sets = Vec::new();
        self.skip_replication_into(flags, target, &mut sets);
        sets.pop().map(|s| format!("SET {s}"))
    }

    fn skip_replication_into(&mut self, flags: u16, target: &TargetInfo<'_>, sets: &mut Vec<String>) {
        let skip = flags & crate::event::flags::SKIP_REPLICATION != 0;
        if self.skip_replication.unwrap_or(false) != skip && target.vars.contains("skip_replication") {
            sets.push(format!("@@session.skip_replication={}", skip as u8));
        }
        self.skip_replication = Some(skip);
    }
}

/// MariaDB `Q_CHARACTER_SET_COLLATIONS` as the variable's text form.
fn character_set_collations(raw: &[u8], target: &TargetInfo<'_>) -> Result<String, ConvError> {
    let n = *raw.first().unwrap_or(&0) as usize;
    let mut parts = Vec::new();
    for i in 0..n {
        let e = raw.get(1 + i * 4..5 + i * 4).ok_or_else(|| ConvError("Q_CHARACTER_SET_COLLATIONS".into()))?;
        let cs = u16::from_le_bytes([e[0], e[1]]);
        let coll = u16::from_le_bytes([e[2], e[3]]);
        let (csn, _) = target.collations.get(&cs).ok_or_else(|| ConvError(format!("unknown collation id {cs}")))?;
        let (_, colln) =
            target.collations.get(&coll).ok_or_else(|| ConvError(format!("unknown collation id {coll}")))?;
        parts.push(format!("{csn}={colln}"));
    }
    Ok(parts.join(","))
}
