//! Typed, borrowed views over the event bodies the diff engine needs.
//! Each view parses lazily from [`RawEvent::body`] with bounds checks and
//! keeps text as bytes (SQL is not always UTF-8).

use super::bytes::Cursor;
use super::error::{ParseError, ParseErrorKind};
use super::fde::Format;
use super::iter::RawEvent;
use super::types::EventType;

pub(crate) fn at<T>(ev: &RawEvent<'_>, r: Result<T, ParseErrorKind>) -> Result<T, ParseError> {
    r.map_err(|k| ParseError::new(k, ev.offset(), Some(ev.event_type())))
}

fn expect(ev: &RawEvent<'_>, ty: &[EventType]) -> Result<(), ParseError> {
    if ty.contains(&ev.event_type()) {
        Ok(())
    } else {
        Err(ParseError::new(ParseErrorKind::BadValue("event type for this view"), ev.offset(), Some(ev.event_type())))
    }
}

/// Splits the body into post-header (as long as the FDE says) and the rest.
fn split_post<'a>(ev: &RawEvent<'a>, fmt: &Format) -> Result<(&'a [u8], &'a [u8]), ParseError> {
    let body = ev.body();
    let n = fmt.post_header_len(ev.event_type());
    if body.len() < n {
        return Err(ParseError::new(ParseErrorKind::Truncated("post-header"), ev.offset(), Some(ev.event_type())));
    }
    Ok(body.split_at(n))
}

/// ROTATE_EVENT (4): where the next events are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rotate<'a> {
    /// Position in the next file (4 for a real rotate).
    pub position: u64,
    /// Next file name, as bytes (no NUL terminator on disk).
    pub next_file: &'a [u8],
}

impl<'a> Rotate<'a> {
    /// # Errors
    /// Wrong type, or a body shorter than its post-header.
    pub fn parse(ev: &RawEvent<'a>, fmt: &Format) -> Result<Self, ParseError> {
        expect(ev, &[EventType::ROTATE])?;
        let (post, rest) = split_post(ev, fmt)?;
        let position = if post.len() >= 8 { u64::from_le_bytes(post[..8].try_into().unwrap()) } else { 4 };
        Ok(Rotate { position, next_file: rest })
    }
}

/// What a QUERY event's text means for transaction boundaries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueryKind {
    /// `BEGIN`
    Begin,
    /// `COMMIT`
    Commit,
    /// `ROLLBACK` (not `ROLLBACK TO SAVEPOINT`)
    Rollback,
    /// `XA START …`
    XaStart,
    /// `XA END …`
    XaEnd,
    /// `XA PREPARE …` (MariaDB before the XA_PREPARE event)
    XaPrepare,
    /// `XA COMMIT …`
    XaCommit,
    /// `XA ROLLBACK …`
    XaRollback,
    /// `SAVEPOINT …` or `ROLLBACK TO …`: stays inside the transaction.
    Savepoint,
    /// Anything else: DML in STATEMENT format, or DDL.
    Other,
}

impl QueryKind {
    /// Classifies SQL text. Servers write these words in upper case with no
    /// comment before them; we accept any case and leading blanks.
    pub fn of(sql: &[u8]) -> QueryKind {
        let s = trim_start(sql);
        let (w1, r) = word(s);
        if eq(w1, b"BEGIN") && trim_start(r).is_empty() {
            return QueryKind::Begin;
        }
        if eq(w1, b"COMMIT") && trim_start(r).is_empty() {
            return QueryKind::Commit;
        }
        if eq(w1, b"ROLLBACK") {
            let (w2, _) = word(trim_start(r));
            return if w2.is_empty() { QueryKind::Rollback } else { QueryKind::Savepoint };
        }
        if eq(w1, b"SAVEPOINT") {
            return QueryKind::Savepoint;
        }
        if eq(w1, b"XA") {
            let (w2, _) = word(trim_start(r));
            return match () {
                _ if eq(w2, b"START") || eq(w2, b"BEGIN") => QueryKind::XaStart,
                _ if eq(w2, b"END") => QueryKind::XaEnd,
                _ if eq(w2, b"PREPARE") => QueryKind::XaPrepare,
                _ if eq(w2, b"COMMIT") => QueryKind::XaCommit,
                _ if eq(w2, b"ROLLBACK") => QueryKind::XaRollback,
                _ => QueryKind::Other,
            };
        }
        QueryKind::Other
    }
}

fn trim_start(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|b| b.is_ascii_whitespace()).count();
    &s[n..]
}
fn word(s: &[u8]) -> (&[u8], &[u8]) {
    let n = s.iter().take_while(|b| b.is_ascii_alphabetic()).count();
    s.split_at(n)
}
fn eq(a: &[u8], b: &[u8]) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// QUERY_EVENT (2), EXECUTE_LOAD_QUERY (18) and MariaDB QUERY_COMPRESSED (165).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Query<'a> {
    /// Session thread id (`pseudo_thread_id` on apply).
    pub thread_id: u32,
    /// Seconds the statement took on the master.
    pub exec_time: u32,
    /// Error code the statement ended with on the master.
    pub error_code: u16,
    /// Raw status variables (see [`StatusVars`]).
    pub status_vars: &'a [u8],
    /// Default database.
    pub db: &'a [u8],
    /// SQL text; for QUERY_COMPRESSED, the compressed bytes (see [`Query::sql_text`]).
    pub sql: &'a [u8],
    compressed: bool,
}

impl<'a> Query<'a> {
    /// # Errors
    /// Wrong type, or lengths that run past the body.
    pub fn parse(ev: &RawEvent<'a>, fmt: &Format) -> Result<Self, ParseError> {
        expect(ev, &[EventType::QUERY, EventType::EXECUTE_LOAD_QUERY, EventType::MARIA_QUERY_COMPRESSED])?;
        let (post, rest) = split_post(ev, fmt)?;
        at(
            ev,
            (|| {
                let mut p = Cursor::new(post);
                let thread_id = p.u32("thread_id")?;
                let exec_time = p.u32("exec_time")?;
                let db_len = p.u8("db_len")? as usize;
                let error_code = p.u16("error_code")?;
                let sv_len = if p.remaining() >= 2 { p.u16("status_vars_len")? as usize } else { 0 };
                let mut c = Cursor::new(rest);
                let status_vars = c.take(sv_len, "status variables")?;
                let db = c.take(db_len, "database name")?;
                c.skip(1, "database name terminator")?;
                let sql = c.rest();
                Ok(Query {
                    thread_id,
                    exec_time,
                    error_code,
                    status_vars,
                    db,
                    sql,
                    compressed: ev.event_type() == EventType::MARIA_QUERY_COMPRESSED,
                })
            })(),
        )
    }

    /// Whether [`Query::sql`] is compressed (MariaDB `log_bin_compress`).
    pub fn is_compressed(&self) -> bool {
        self.compressed
    }

    /// The SQL text, decompressed when needed.
    ///
    /// # Errors
    /// `Decompress` when a compressed body is damaged.
    pub fn sql_text(&self) -> Result<std::borrow::Cow<'a, [u8]>, ParseErrorKind> {
        if self.compressed {
            super::compress::maria_uncompress(self.sql).map(std::borrow::Cow::Owned)
        } else {
            Ok(std::borrow::Cow::Borrowed(self.sql))
        }
    }

    /// Boundary meaning of the statement. Compressed statements are
    /// decompressed only when short enough to be a boundary keyword.
    pub fn kind(&self) -> QueryKind {
        if self.compressed {
            return match self.sql_text() {
                Ok(t) => QueryKind::of(&t),
                Err(_) => QueryKind::Other,
            };
        }
        QueryKind::of(self.sql)
    }

    /// Status variables, decoded lazily.
    pub fn status(&self) -> StatusVars<'a> {
        StatusVars { c: Cursor::new(self.status_vars) }
    }
}

/// One QUERY status variable (`Q_*_CODE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StatusVar<'a> {
    /// Q_FLAGS2_CODE (0): OPTION_* bits (autocommit, foreign/unique checks…).
    Flags2(u32),
    /// Q_SQL_MODE_CODE (1)
    SqlMode(u64),
    /// Q_CATALOG (2/6)
    Catalog(&'a [u8]),
    /// Q_AUTO_INCREMENT (3): increment, offset.
    AutoIncrement(u16, u16),
    /// Q_CHARSET_CODE (4): character_set_client, collation_connection, collation_server.
    Charset(u16, u16, u16),
    /// Q_TIME_ZONE_CODE (5)
    TimeZone(&'a [u8]),
    /// Q_LC_TIME_NAMES_CODE (7)
    LcTimeNames(u16),
    /// Q_CHARSET_DATABASE_CODE (8)
    CharsetDatabase(u16),
    /// Q_TABLE_MAP_FOR_UPDATE_CODE (9)
    TableMapForUpdate(u64),
    /// Q_MASTER_DATA_WRITTEN_CODE (10)
    MasterDataWritten(u32),
    /// Q_INVOKER (11): user, host.
    Invoker(&'a [u8], &'a [u8]),
    /// Q_UPDATED_DB_NAMES (12): raw bytes after the count.
    UpdatedDbNames(u8, &'a [u8]),
    /// Q_MICROSECONDS (13)
    Microseconds(u32),
    /// Q_EXPLICIT_DEFAULTS_FOR_TIMESTAMP (16)
    ExplicitDefaultsForTimestamp(u8),
    /// Q_DDL_LOGGED_WITH_XID (17)
    DdlXid(u64),
    /// Q_DEFAULT_COLLATION_FOR_UTF8MB4 (18)
    DefaultCollationForUtf8mb4(u16),
    /// Q_SQL_REQUIRE_PRIMARY_KEY (19)
    SqlRequirePrimaryKey(u8),
    /// Q_DEFAULT_TABLE_ENCRYPTION (20)
    DefaultTableEncryption(u8),
    /// MariaDB Q_HRNOW (128): microseconds of the timestamp.
    HrNow(u32),
    /// MariaDB Q_XID (129)
    Xid(u64),
    /// MariaDB Q_GTID_FLAGS3 (130)
    GtidFlags3(u8),
    /// MariaDB Q_CHARACTER_SET_COLLATIONS (131): raw.
    CharacterSetCollations(&'a [u8]),
}

/// Iterator over status variables. Stops (with an error) at an unknown code,
/// since its length cannot be known.
#[derive(Clone, Copy)]
pub struct StatusVars<'a> {
    c: Cursor<'a>,
}

impl<'a> Iterator for StatusVars<'a> {
    type Item = Result<StatusVar<'a>, ParseErrorKind>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.c.remaining() == 0 {
            return None;
        }
        let r = self.one();
        if r.is_err() {
            self.c = Cursor::new(&[]);
        }
        Some(r)
    }
}

impl<'a> StatusVars<'a> {
    fn one(&mut self) -> Result<StatusVar<'a>, ParseErrorKind> {
        let c = &mut self.c;
        let code = c.u8("status variable code")?;
        let lstr = |c: &mut Cursor<'a>| -> Result<&'a [u8], ParseErrorKind> {
            let n = c.u8("status variable length")? as usize;
            c.take(n, "status variable")
        };
        Ok(match code {
            0 => StatusVar::Flags2(c.u32("Q_FLAGS2")?),
            1 => StatusVar::SqlMode(c.u64("Q_SQL_MODE")?),
            2 => {
                let s = lstr(c)?;
                c.skip(1, "Q_CATALOG terminator")?;
                StatusVar::Catalog(s)
            }
            3 => StatusVar::AutoIncrement(c.u16("Q_AUTO_INCREMENT")?, c.u16("Q_AUTO_INCREMENT")?),
            4 => StatusVar::Charset(c.u16("Q_CHARSET")?, c.u16("Q_CHARSET")?, c.u16("Q_CHARSET")?),
            5 => StatusVar::TimeZone(lstr(c)?),
            6 => StatusVar::Catalog(lstr(c)?),
            7 => StatusVar::LcTimeNames(c.u16("Q_LC_TIME_NAMES")?),
            8 => StatusVar::CharsetDatabase(c.u16("Q_CHARSET_DATABASE")?),
            9 => StatusVar::TableMapForUpdate(c.u64("Q_TABLE_MAP_FOR_UPDATE")?),
            10 => StatusVar::MasterDataWritten(c.u32("Q_MASTER_DATA_WRITTEN")?),
            11 => {
                let u = lstr(c)?;
                let h = lstr(c)?;
                StatusVar::Invoker(u, h)
            }
            12 => {
                let n = c.u8("Q_UPDATED_DB_NAMES")?;
                // 254 (OVER_MAX_DBS_IN_EVENT_MTS) means no names follow.
                let start = c.buf;
                if n != 254 {
                    for _ in 0..n {
                        let len = c
                            .buf
                            .iter()
                            .position(|&b| b == 0)
                            .ok_or(ParseErrorKind::Truncated("Q_UPDATED_DB_NAMES"))?;
                        c.skip(len + 1, "Q_UPDATED_DB_NAMES")?;
                    }
                }
                StatusVar::UpdatedDbNames(n, &start[..start.len() - c.buf.len()])
            }
            13 => {
                let b = c.take(3, "Q_MICROSECONDS")?;
                StatusVar::Microseconds(u32::from_le_bytes([b[0], b[1], b[2], 0]))
            }
            16 => StatusVar::ExplicitDefaultsForTimestamp(c.u8("Q_EXPLICIT_DEFAULTS_FOR_TIMESTAMP")?),
            17 => StatusVar::DdlXid(c.u64("Q_DDL_LOGGED_WITH_XID")?),
            18 => StatusVar::DefaultCollationForUtf8mb4(c.u16("Q_DEFAULT_COLLATION_FOR_UTF8MB4")?),
            19 => StatusVar::SqlRequirePrimaryKey(c.u8("Q_SQL_REQUIRE_PRIMARY_KEY")?),
            20 => StatusVar::DefaultTableEncryption(c.u8("Q_DEFAULT_TABLE_ENCRYPTION")?),
            128 => {
                let b = c.take(3, "Q_HRNOW")?;
                StatusVar::HrNow(u32::from_le_bytes([b[0], b[1], b[2], 0]))
            }
            129 => StatusVar::Xid(c.u64("Q_XID")?),
            130 => StatusVar::GtidFlags3(c.u8("Q_GTID_FLAGS3")?),
            131 => {
                // count u8, then per entry: cs u16, coll u16.
                let start = c.buf;
                let n = c.u8("Q_CHARACTER_SET_COLLATIONS")? as usize;
                c.skip(n * 4, "Q_CHARACTER_SET_COLLATIONS")?;
                StatusVar::CharacterSetCollations(&start[..1 + n * 4])
            }
            _ => return Err(ParseErrorKind::BadValue("status variable code")),
        })
    }
}

/// MySQL GTID_LOG_EVENT (33) and ANONYMOUS_GTID_LOG_EVENT (34).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MysqlGtid {
    /// `GTID_FLAG_MAY_HAVE_SBR` etc.
    pub flags: u8,
    /// Source UUID (all zero for anonymous).
    pub sid: [u8; 16],
    /// Transaction number.
    pub gno: i64,
    /// Logical clock, when present (5.7+): `(last_committed, sequence_number)`.
    pub logical_clock: Option<(i64, i64)>,
}

impl MysqlGtid {
    /// # Errors
    /// Wrong type, or a body shorter than the fixed fields.
    pub fn parse(ev: &RawEvent<'_>, _fmt: &Format) -> Result<Self, ParseError> {
        expect(ev, &[EventType::GTID, EventType::ANONYMOUS_GTID])?;
        at(
            ev,
            (|| {
                let mut c = Cursor::new(ev.body());
                let flags = c.u8("GTID flags")?;
                let mut sid = [0u8; 16];
                sid.copy_from_slice(c.take(16, "GTID sid")?);
                let gno = c.u64("GTID gno")? as i64;
                let logical_clock = if c.remaining() >= 17 && c.u8("lt_type")? == 2 {
                    Some((c.u64("last_committed")? as i64, c.u64("sequence_number")? as i64))
                } else {
                    None
                };
                Ok(MysqlGtid { flags, sid, gno, logical_clock })
            })(),
        )
    }
}

/// Formats a 16-byte UUID the way servers print it.
pub fn format_uuid(u: &[u8; 16]) -> String {
    let h: String = u.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// MySQL PREVIOUS_GTIDS_LOG_EVENT (35), untagged encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PreviousGtids<'a> {
    body: &'a [u8],
    /// Whether the 8.4 tagged encoding is used (not decoded here).
    pub tagged: bool,
}

impl<'a> PreviousGtids<'a> {
    /// # Errors
    /// Wrong type or a body too short for its count.
    pub fn parse(ev: &RawEvent<'a>, _fmt: &Format) -> Result<Self, ParseError> {
        expect(ev, &[EventType::PREVIOUS_GTIDS])?;
        let body = ev.body();
        let n = at(ev, Cursor::new(body).u64("n_sids"))?;
        // 8.4 stores a format byte in the top of n_sids (1 = tagged).
        Ok(PreviousGtids { body, tagged: n >> 56 != 0 })
    }

    /// The GTID set as `uuid:a-b:c-d,...` (untagged encoding only).
    ///
    /// # Errors
    /// `Truncated` when counts run past the body; `BadValue` for the tagged encoding.
    pub fn to_text(&self) -> Result<String, ParseErrorKind> {
        if self.tagged {
            return Err(ParseErrorKind::BadValue("tagged GTID set encoding"));
        }
        let mut c = Cursor::new(self.body);
        let n = c.u64("n_sids")?;
        let mut out = String::new();
        for i in 0..n {
            let mut sid = [0u8; 16];
            sid.copy_from_slice(c.take(16, "sid")?);
            if i > 0 {
                out.push(',');
            }
            out.push_str(&format_uuid(&sid));
            let k = c.u64("n_intervals")?;
            if k > c.remaining() as u64 / 16 {
                return Err(ParseErrorKind::Truncated("GTID intervals"));
            }
            for _ in 0..k {
                // Half-open [start, end) with 1 <= start < end.
                let a = c.u64("interval")? as i64;
                let b = c.u64("interval")? as i64;
                if a < 1 || b <= a {
                    return Err(ParseErrorKind::BadValue("GTID interval"));
                }
                if b - a == 1 {
                    out.push_str(&format!(":{a}"));
                } else {
                    out.push_str(&format!(":{a}-{}", b - 1));
                }
            }
        }
        Ok(out)
    }
}

/// MariaDB GTID flags (`Gtid_log_event::FL_*`).
pub mod maria_gtid_flags {
    /// A single-event group (DDL, non-transactional autocommit).
    pub const STANDALONE: u8 = 1;
    /// `commit_id` follows (group commit).
    pub const GROUP_COMMIT_ID: u8 = 2;
    /// Transactional engine.
    pub const TRANSACTIONAL: u8 = 4;
    /// May be applied in parallel.
    pub const ALLOW_PARALLEL: u8 = 8;
    /// Waited for a row lock on the master.
    pub const WAITED: u8 = 16;
    /// DDL.
    pub const DDL: u8 = 32;
    /// XA PREPARE group.
    pub const PREPARED_XA: u8 = 64;
    /// XA COMMIT/ROLLBACK group.
    pub const COMPLETED_XA: u8 = 128;
}

/// MariaDB GTID_EVENT (162): starts an event group (instead of BEGIN).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MariaGtid {
    /// Sequence number.
    pub seq_no: u64,
    /// Replication domain.
    pub domain_id: u32,
    /// `FL_*` flags, see [`maria_gtid_flags`].
    pub flags: u8,
    /// Group-commit id when `FL_GROUP_COMMIT_ID`.
    pub commit_id: Option<u64>,
}

impl MariaGtid {
    /// # Errors
    /// Wrong type or a short body.
    pub fn parse(ev: &RawEvent<'_>, _fmt: &Format) -> Result<Self, ParseError> {
        expect(ev, &[EventType::MARIA_GTID])?;
        at(
            ev,
            (|| {
                let mut c = Cursor::new(ev.body());
                let seq_no = c.u64("seq_no")?;
                let domain_id = c.u32("domain_id")?;
                let flags = c.u8("flags")?;
                let commit_id =
                    if flags & maria_gtid_flags::GROUP_COMMIT_ID != 0 { Some(c.u64("commit_id")?) } else { None };
                Ok(MariaGtid { seq_no, domain_id, flags, commit_id })
            })(),
        )
    }

    /// Standalone group (DDL or non-transactional statement).
    pub fn is_standalone(&self) -> bool {
        self.flags & maria_gtid_flags::STANDALONE != 0
    }
}

/// MariaDB GTID_LIST_EVENT (163): last GTID per domain at the start of a binlog.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MariaGtidList<'a> {
    /// Entries count.
    pub count: u32,
    /// High 4 bits of the count field.
    pub flags: u8,
    list: &'a [u8],
}

impl<'a> MariaGtidList<'a> {
    /// # Errors
    /// Wrong type or a body too short for its count.
    pub fn parse(ev: &RawEvent<'a>, _fmt: &Format) -> Result<Self, ParseError> {
        expect(ev, &[EventType::MARIA_GTID_LIST])?;
        at(
            ev,
            (|| {
                let mut c = Cursor::new(ev.body());
                let raw = c.u32("count")?;
                let count = raw & 0x0fff_ffff;
                let list = c.take(count as usize * 16, "GTID list")?;
                Ok(MariaGtidList { count, flags: (raw >> 28) as u8, list })
            })(),
        )
    }

    /// `(domain_id, server_id, seq_no)` entries.
    pub fn iter(&self) -> impl Iterator<Item = (u32, u32, u64)> + 'a {
        self.list.chunks_exact(16).map(|e| {
            (
                u32::from_le_bytes(e[0..4].try_into().unwrap()),
                u32::from_le_bytes(e[4..8].try_into().unwrap()),
                u64::from_le_bytes(e[8..16].try_into().unwrap()),
            )
        })
    }
}

/// MariaDB BINLOG_CHECKPOINT_EVENT (161).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MariaCheckpoint<'a> {
    /// Oldest binlog still needed for crash recovery.
    pub file: &'a [u8],
}

impl<'a> MariaCheckpoint<'a> {
    /// # Errors
    /// Wrong type or a short body.
    pub fn parse(ev: &RawEvent<'a>, _fmt: &Format) -> Result<Self, ParseError> {
        expect(ev, &[EventType::MARIA_BINLOG_CHECKPOINT])?;
        at(
            ev,
            (|| {
                let mut c = Cursor::new(ev.body());
                let n = c.u32("name length")? as usize;
                Ok(MariaCheckpoint { file: c.take(n, "file name")? })
            })(),
        )
    }
}

/// XID_EVENT (16): commit of an XA-capable engine's transaction.
pub fn xid(ev: &RawEvent<'_>) -> Result<u64, ParseError> {
    expect(ev, &[EventType::XID])?;
    at(ev, Cursor::new(ev.body()).u64("xid"))
}

/// INTVAR_EVENT (5): `(type, value)`; type 1 = LAST_INSERT_ID, 2 = INSERT_ID.
pub fn intvar(ev: &RawEvent<'_>) -> Result<(u8, u64), ParseError> {
    expect(ev, &[EventType::INTVAR])?;
    let mut c = Cursor::new(ev.body());
    at(ev, (|| Ok((c.u8("intvar type")?, c.u64("intvar value")?)))())
}

/// RAND_EVENT (13): `(seed1, seed2)`.
pub fn rand(ev: &RawEvent<'_>) -> Result<(u64, u64), ParseError> {
    expect(ev, &[EventType::RAND])?;
    let mut c = Cursor::new(ev.body());
    at(ev, (|| Ok((c.u64("seed1")?, c.u64("seed2")?)))())
}

/// USER_VAR_EVENT (14).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserVar<'a> {
    /// Variable name.
    pub name: &'a [u8],
    /// `None` for NULL, else `(type, charset, value bytes, flags)`.
    pub value: Option<(u8, u32, &'a [u8], u8)>,
}

impl<'a> UserVar<'a> {
    /// # Errors
    /// Wrong type or lengths past the body.
    pub fn parse(ev: &RawEvent<'a>) -> Result<Self, ParseError> {
        expect(ev, &[EventType::USER_VAR])?;
        at(
            ev,
            (|| {
                let mut c = Cursor::new(ev.body());
                let n = c.u32("name length")? as usize;
                let name = c.take(n, "name")?;
                if c.u8("is_null")? != 0 {
                    return Ok(UserVar { name, value: None });
                }
                let ty = c.u8("type")?;
                let cs = c.u32("charset")?;
                let len = c.u32("value length")? as usize;
                let v = c.take(len, "value")?;
                let fl = if c.remaining() > 0 { c.u8("flags")? } else { 0 };
                Ok(UserVar { name, value: Some((ty, cs, v, fl)) })
            })(),
        )
    }
}

/// XA_PREPARE_LOG_EVENT (38).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XaPrepare<'a> {
    /// `XA COMMIT … ONE PHASE`
    pub one_phase: bool,
    /// XID formatID.
    pub format_id: u32,
    /// gtrid bytes.
    pub gtrid: &'a [u8],
    /// bqual bytes.
    pub bqual: &'a [u8],
}

impl<'a> XaPrepare<'a> {
    /// # Errors
    /// Wrong type or lengths past the body.
    pub fn parse(ev: &RawEvent<'a>) -> Result<Self, ParseError> {
        expect(ev, &[EventType::XA_PREPARE])?;
        at(
            ev,
            (|| {
                let mut c = Cursor::new(ev.body());
                let one_phase = c.u8("one_phase")? != 0;
                let format_id = c.u32("formatID")?;
                let g = c.u32("gtrid_length")? as usize;
                let b = c.u32("bqual_length")? as usize;
                if g > 64 || b > 64 {
                    return Err(ParseErrorKind::BadValue("XID length"));
                }
                let gtrid = c.take(g, "gtrid")?;
                let bqual = c.take(b, "bqual")?;
                Ok(XaPrepare { one_phase, format_id, gtrid, bqual })
            })(),
        )
    }
}

/// TABLE_MAP_EVENT (19): the table a following rows event changes (head only;
/// column types and metadata are decoded by mysql_common when rows are shown).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableMapHead<'a> {
    /// Table id (valid until the next TABLE_MAP reuse).
    pub table_id: u64,
    /// Database name.
    pub db: &'a [u8],
    /// Table name.
    pub table: &'a [u8],
}

impl<'a> TableMapHead<'a> {
    /// # Errors
    /// Wrong type or lengths past the body.
    pub fn parse(ev: &RawEvent<'a>, fmt: &Format) -> Result<Self, ParseError> {
        expect(ev, &[EventType::TABLE_MAP])?;
        let (post, rest) = split_post(ev, fmt)?;
        at(
            ev,
            (|| {
                let table_id = table_id(post)?;
                let mut c = Cursor::new(rest);
                let n = c.u8("db length")? as usize;
                let db = c.take(n, "db name")?;
                c.skip(1, "db terminator")?;
                let n = c.u8("table length")? as usize;
                let table = c.take(n, "table name")?;
                Ok(TableMapHead { table_id, db, table })
            })(),
        )
    }
}

fn table_id(post: &[u8]) -> Result<u64, ParseErrorKind> {
    let mut c = Cursor::new(post);
    // 5.1.0–5.1.3 used 4-byte table ids (post-header 6).
    if post.len() == 6 { Ok(c.u32("table_id")? as u64) } else { c.u48("table_id") }
}

/// Head of a rows event: table id and flags (`STMT_END_F` = 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RowsHead {
    /// Table id from the preceding TABLE_MAP.
    pub table_id: u64,
    /// Rows flags; bit 0 is `STMT_END_F`.
    pub flags: u16,
}

impl RowsHead {
    /// Last rows event of its statement.
    pub const STMT_END: u16 = 1;

    /// # Errors
    /// Not a rows event, or a short post-header.
    pub fn parse(ev: &RawEvent<'_>, fmt: &Format) -> Result<Self, ParseError> {
        if !ev.event_type().is_rows() {
            return expect(ev, &[]).map(|_| unreachable!());
        }
        let (post, _) = split_post(ev, fmt)?;
        at(
            ev,
            (|| {
                let tid = table_id(post)?;
                let off = if post.len() == 6 { 4 } else { 6 };
                let mut c = Cursor::new(&post[off.min(post.len())..]);
                Ok(RowsHead { table_id: tid, flags: c.u16("rows flags")? })
            })(),
        )
    }
}

/// INCIDENT_EVENT (26): `(incident number, message)`.
pub fn incident<'a>(ev: &RawEvent<'a>, fmt: &Format) -> Result<(u16, &'a [u8]), ParseError> {
    expect(ev, &[EventType::INCIDENT])?;
    let (post, rest) = split_post(ev, fmt)?;
    at(
        ev,
        (|| {
            let n = Cursor::new(post).u16("incident")?;
            let mut c = Cursor::new(rest);
            let len = c.u8("message length")? as usize;
            Ok((n, c.take(len, "message")?))
        })(),
    )
}
