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

/// A QUERY event's status variables, as [`SessionCtx::query_context`]
/// compares them (the defaults of those left out).
struct Status<'q> {
    flags2: Option<u32>,
    sql_mode: Option<u64>,
    auto_inc: (u16, u16),
    charset: Option<(u16, u16, u16)>,
    time_zone: Option<&'q [u8]>,
    lc_time_names: u16,
    charset_database: u16,
    micro: Option<u32>,
    /// MySQL's, in the order of `MYSQL_EXTRA`.
    mysql_extra: [Option<u16>; 4],
    /// MySQL 8's `character_set_collations`, raw.
    csc: Option<&'q [u8]>,
}

impl<'q> Status<'q> {
    fn of(q: &Query<'q>) -> Result<Status<'q>, ConvError> {
        let mut st = Status {
            flags2: None,
            sql_mode: None,
            auto_inc: (1, 1),
            charset: None,
            time_zone: None,
            lc_time_names: 0,
            charset_database: 0,
            micro: None,
            mysql_extra: [None; 4],
            csc: None,
        };
        for sv in q.status() {
            match sv.map_err(|k| ConvError(format!("status variables: {k}")))? {
                StatusVar::Flags2(f) => st.flags2 = Some(f),
                StatusVar::SqlMode(m) => st.sql_mode = Some(m),
                StatusVar::AutoIncrement(i, o) => st.auto_inc = (i, o),
                StatusVar::Charset(a, b, c) => st.charset = Some((a, b, c)),
                StatusVar::TimeZone(z) => st.time_zone = Some(z),
                StatusVar::LcTimeNames(n) => st.lc_time_names = n,
                StatusVar::CharsetDatabase(n) => st.charset_database = n,
                StatusVar::Microseconds(u) | StatusVar::HrNow(u) => st.micro = Some(u),
                StatusVar::ExplicitDefaultsForTimestamp(v) => st.mysql_extra[0] = Some(v as u16),
                StatusVar::DefaultCollationForUtf8mb4(v) => st.mysql_extra[1] = Some(v),
                StatusVar::SqlRequirePrimaryKey(v) => st.mysql_extra[2] = Some(v as u16),
                StatusVar::DefaultTableEncryption(v) => st.mysql_extra[3] = Some(v as u16),
                StatusVar::CharacterSetCollations(raw) => st.csc = Some(raw),
                _ => {}
            }
        }
        Ok(st)
    }
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
        let Status {
            flags2,
            sql_mode,
            auto_inc,
            charset,
            time_zone,
            lc_time_names,
            charset_database,
            micro,
            mysql_extra,
            csc,
        } = Status::of(q)?;
        self.use_db(q.db, flags, &mut out)?;

        self.clock_and_thread(ts, micro, q.thread_id, &mut sets);
        if let Some(f2) = flags2 {
            self.flags2_sets(f2, flavor, target, &mut sets)?;
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

    /// The statement's time (`ts`, `micro` seconds) and its thread id, when
    /// they changed.
    fn clock_and_thread(&mut self, ts: u32, micro: Option<u32>, thread_id: u32, sets: &mut Vec<String>) {
        // No microseconds in the event means .000000, as mysqlbinlog prints it.
        let t = (ts, micro.filter(|&u| u != 0));
        if self.timestamp != Some(t) {
            self.timestamp = Some(t);
            match t.1 {
                Some(u) => push_set(sets, format!("TIMESTAMP={ts}.{u:06}")),
                None => push_set(sets, format!("TIMESTAMP={ts}")),
            }
        }
        if self.thread_id != Some(thread_id) {
            self.thread_id = Some(thread_id);
            push_set(sets, format!("@@session.pseudo_thread_id={thread_id}"));
        }
    }

    /// Database: mysqlbinlog's rule (no USE under SUPPRESS_USE; an empty
    /// name is remembered but cannot be "un-selected").
    fn use_db(&mut self, db: &[u8], flags: u16, out: &mut Vec<String>) -> Result<(), ConvError> {
        if flags & crate::event::flags::SUPPRESS_USE == 0 && self.db.as_deref() != Some(db) {
            self.db = Some(db.to_vec());
            if !db.is_empty() {
                if !db.is_ascii() {
                    // Names are stored in the system character set (UTF-8);
                    // make the server read this one statement as UTF-8.
                    out.push(format!("SET @@session.character_set_client={UTF8MB4}"));
                    self.charset = None;
                }
                out.push(format!("USE {}", quote_ident(db)?));
            }
        }
        Ok(())
    }

    /// The `OPTIONS_WRITTEN_TO_BIN_LOG` bits that changed, as session
    /// variables; one the target lacks is refused unless it keeps its default.
    fn flags2_sets(
        &mut self,
        f2: u32,
        flavor: Flavor,
        target: &TargetInfo<'_>,
        sets: &mut Vec<String>,
    ) -> Result<(), ConvError> {
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
                let default_one = matches!(name, "foreign_key_checks" | "unique_checks" | "check_constraint_checks");
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
            push_set(sets, format!("@@session.{name}={}", one as u8));
        }
        Ok(())
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
