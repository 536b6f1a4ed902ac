//! Events to statements, the way mysqlbinlog prints them, one transaction
//! at a time: a `Group` becomes a `TrxPlan` (session settings, then the
//! transaction's statements, then its end) that the executor runs atomically.
//!
//! - QUERY: the session context (see [`super::session`]) then the text, as bytes.
//! - INTVAR / RAND / USER_VAR: `SET INSERT_ID=…`, `SET @@RAND_SEED1=…`, `SET @v:=…`.
//! - TABLE_MAP + rows events (v1, v2): one `BINLOG '…'` per statement
//!   (base64 of the raw events), after a `BINLOG` of the FDE that describes
//!   them whenever the format changes. MariaDB's compressed rows events are
//!   sent decompressed (the server refuses them in `BINLOG`, and
//!   mariadb-binlog prints them decompressed too).
//! - MariaDB GTID: `SET @@session.gtid_domain_id/server_id/gtid_seq_no`;
//!   MySQL GTID: `SET @@SESSION.GTID_NEXT='uuid[:tag]:gno'`.
//! - BEGIN_LOAD_QUERY / APPEND_BLOCK / EXECUTE_LOAD_QUERY: `LOAD DATA LOCAL
//!   INFILE` with the file's blocks served from memory.
//! - XID and QUERY `COMMIT` → `COMMIT`; QUERY `ROLLBACK` → `ROLLBACK`; XA
//!   groups → `XA START … XA END … XA PREPARE` (or `XA COMMIT … ONE PHASE`).
//! - TRANSACTION_PAYLOAD: decompressed, its events converted in place.
//! - ANNOTATE_ROWS, ROWS_QUERY, TRANSACTION_CONTEXT, VIEW_CHANGE: skipped.
//!
//! Anything else (the pre-5.0 LOAD events, pre-GA rows events, unknown
//! types) is refused with an error naming the event, never silently dropped.

use crate::event::checksum::compute_crc32;
use crate::event::payload::Payload;
use crate::event::views::{
    MariaGtid, MysqlGtid, Query, QueryKind, RowsHead, TableMapHead, UserVar, XaPrepare, format_uuid, intvar,
    maria_gtid_flags, rand,
};
use crate::event::{ChecksumAlg, EventIter, EventType, Format, HEADER_LEN, RawEvent, Step};

use super::group::{Fde, Group, Kind, TrxId, Xid, identify, tagged_id};
use super::report::{Failure, TrxOutcome};
use super::session::{ConvError, SessionCtx, TargetInfo, hex, perr, quote_ident};

/// Where a statement comes from: an event of a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Src {
    /// File index.
    pub file: usize,
    /// Offset of the event in its file (of the outer event for payload contents).
    pub offset: u64,
    /// Its type.
    pub ty: EventType,
}

/// One statement to run.
#[derive(Clone, Debug)]
pub(crate) struct Stmt {
    /// SQL text as bytes (not always UTF-8).
    pub sql: Vec<u8>,
    /// The event it comes from.
    pub src: Src,
    /// Error code the statement ended with on the master (0: none).
    pub expect_error: u16,
    /// A readable stand-in for long statements in messages (`BINLOG` ones).
    pub desc: Option<String>,
    /// For `LOAD DATA LOCAL INFILE`: the file's name in the statement and its
    /// contents (from BEGIN_LOAD_QUERY and APPEND_BLOCK events).
    pub infile: Option<(String, std::sync::Arc<Vec<u8>>)>,
    /// A statement's text from the log (QUERY), not one we wrote: it may
    /// end in a comment or a `;`, so it is never joined with others into
    /// one multi-statement packet.
    pub raw: bool,
}

impl Stmt {
    fn new(sql: impl Into<Vec<u8>>, src: Src) -> Stmt {
        Stmt { sql: sql.into(), src, expect_error: 0, desc: None, infile: None, raw: false }
    }

    /// May share a multi-statement packet with its neighbours.
    pub fn batchable(&self) -> bool {
        !self.raw && self.expect_error == 0 && self.infile.is_none() && std::str::from_utf8(&self.sql).is_ok()
    }
}

/// How a group ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum End {
    /// No closing statement (Plain groups).
    None,
    /// `COMMIT`
    Commit(Src),
    /// `ROLLBACK` (a group that rolled back on the master, keeping its
    /// non-transactional changes).
    Rollback(Src),
    /// `XA END xid; XA PREPARE xid`
    XaPrepare(Src, Xid),
    /// `XA END xid; XA COMMIT xid ONE PHASE`
    XaOnePhase(Src, Xid),
}

/// One transaction, ready to run.
#[derive(Clone, Debug)]
pub(crate) struct TrxPlan {
    /// Identity.
    pub id: TrxId,
    /// Session settings before the transaction starts (GTID, `BINLOG` FDE).
    pub pre: Vec<Stmt>,
    /// How it runs.
    pub kind: Kind,
    /// The first event (errors in BEGIN are reported there).
    pub first: Src,
    /// Statements inside.
    pub body: Vec<Stmt>,
    /// Closing statement.
    pub end: End,
    /// A MySQL GTID was set with GTID_NEXT.
    pub sets_gtid_next: bool,
    /// Events in the group (payload contents included).
    pub events: u64,
    /// The group has row events (`BINLOG` statements).
    pub has_rows: bool,
    /// The source says the group touched transactional tables only
    /// (MariaDB `FL_TRANSACTIONAL`): a rolled-back attempt left nothing, so
    /// it may be retried.
    pub transactional: bool,
}

/// Converts one group. On error, the event at fault.
pub(crate) fn convert(
    group: &Group<'_>,
    ctx: &mut SessionCtx,
    target: &TargetInfo<'_>,
) -> Result<TrxPlan, (Src, ConvError)> {
    let first = &group.events[0];
    let first_src = src_of(first.file, &first.ev);
    let (id, kind) = identify(group).map_err(|e| (first_src, e))?;
    let mut c = Conv {
        ctx,
        target,
        plan: TrxPlan {
            id,
            pre: Vec::new(),
            kind,
            first: first_src,
            body: Vec::new(),
            end: End::None,
            sets_gtid_next: false,
            events: 0,
            has_rows: false,
            transactional: false,
        },
        rows: None,
        loads: std::collections::HashMap::new(),
    };
    for ge in &group.events {
        let src = src_of(ge.file, &ge.ev);
        c.event(&ge.ev, &ge.fde, src, false).map_err(|e| (src, e))?;
    }
    c.flush_rows();
    Ok(c.plan)
}

/// The report's account of a group that could not be converted (at `src`).
pub(crate) fn failure(files: &[std::path::PathBuf], g: &Group<'_>, src: Src, e: ConvError) -> Failure {
    Failure {
        file: files[src.file].clone(),
        offset: src.offset,
        event_type: src.ty,
        trx: g.id_text(),
        server_error: None,
        message: e.0,
        outcome: TrxOutcome::NotStarted,
        refused: true,
    }
}

fn src_of(file: usize, ev: &RawEvent<'_>) -> Src {
    Src { file, offset: ev.offset(), ty: ev.event_type() }
}

struct RowsChunk {
    /// The `BINLOG '` statement so far: base64 lines are appended in place.
    sql: Vec<u8>,
    /// The first rows event (errors are about rows), else the TABLE_MAP.
    src: Src,
    rows_seen: bool,
    /// `db.table EVENT_TYPE` items for messages.
    what: Vec<String>,
}

struct Conv<'c, 't> {
    ctx: &'c mut SessionCtx,
    target: &'c TargetInfo<'t>,
    plan: TrxPlan,
    rows: Option<RowsChunk>,
    /// LOAD DATA file contents by file id.
    loads: std::collections::HashMap<u32, Vec<u8>>,
}

impl Conv<'_, '_> {
    fn push(&mut self, s: Stmt) {
        self.plan.body.push(s);
    }

    fn flush_rows(&mut self) {
        if let Some(mut r) = self.rows.take() {
            r.sql.push(b'\'');
            let mut st = Stmt::new(r.sql, r.src);
            st.desc = Some(format!("BINLOG: {}", r.what.join(", ")));
            self.plan.body.push(st);
            self.plan.has_rows = true;
        }
    }

    fn xa(&self) -> Option<&Xid> {
        match &self.plan.kind {
            Kind::Xa(Some(x)) => Some(x),
            _ => None,
        }
    }

    /// Converts one event; `inner` for events inside a TRANSACTION_PAYLOAD.
    fn event(&mut self, ev: &RawEvent<'_>, fde: &Fde<'_>, src: Src, inner: bool) -> Result<(), ConvError> {
        let t = ev.event_type();
        let fmt = &fde.fmt;
        self.plan.events += 1;
        let is_rowish = t == EventType::TABLE_MAP || t.is_rows();
        if !is_rowish {
            self.flush_rows();
        }
        match t {
            EventType::MARIA_GTID => self.maria_gtid(ev, fmt, src)?,
            EventType::GTID => {
                let g = MysqlGtid::parse(ev, fmt).map_err(perr)?;
                let s = format!("SET @@SESSION.GTID_NEXT='{}:{}'", format_uuid(&g.sid), g.gno);
                self.plan.pre.push(Stmt::new(s, src));
                self.plan.sets_gtid_next = true;
            }
            EventType::ANONYMOUS_GTID => {}
            EventType::GTID_TAGGED => {
                let id = tagged_id(ev)?;
                let text = id.gtid().expect("a GTID");
                self.plan.pre.push(Stmt::new(format!("SET @@SESSION.GTID_NEXT='{text}'"), src));
                self.plan.sets_gtid_next = true;
            }
            EventType::QUERY | EventType::MARIA_QUERY_COMPRESSED => self.query(ev, fde, src)?,
            EventType::INTVAR => {
                let (ty, v) = intvar(ev).map_err(perr)?;
                let s = match ty {
                    1 => format!("SET LAST_INSERT_ID={v}"),
                    2 => format!("SET INSERT_ID={v}"),
                    _ => return Err(ConvError(format!("INTVAR type {ty}"))),
                };
                self.push(Stmt::new(s, src));
            }
            EventType::RAND => {
                let (a, b) = rand(ev).map_err(perr)?;
                self.push(Stmt::new(format!("SET @@RAND_SEED1={a}, @@RAND_SEED2={b}"), src));
            }
            EventType::USER_VAR => {
                let uv = UserVar::parse(ev).map_err(perr)?;
                let s = user_var(&uv, self.target)?;
                if !self.ctx.user_vars.iter().any(|n| n == uv.name) {
                    self.ctx.user_vars.push(uv.name.to_vec());
                }
                self.push(Stmt::new(s, src));
            }
            t if t == EventType::TABLE_MAP || t.is_rows() => self.rows_event(ev, fde, src, inner)?,
            EventType::XID => {
                self.plan.end = match self.plan.kind {
                    Kind::Xa(Some(_)) => return Err(ConvError("XID inside an XA group".into())),
                    _ => End::Commit(src),
                };
            }
            EventType::XA_PREPARE => {
                let x = XaPrepare::parse(ev).map_err(perr)?;
                let xid = Xid { format_id: x.format_id as i32, gtrid: x.gtrid.to_vec(), bqual: x.bqual.to_vec() };
                self.plan.end = if x.one_phase { End::XaOnePhase(src, xid) } else { End::XaPrepare(src, xid) };
            }
            EventType::TRANSACTION_PAYLOAD => self.payload(ev, fde, src, inner)?,
            EventType::MARIA_ANNOTATE_ROWS
            | EventType::ROWS_QUERY
            | EventType::TRANSACTION_CONTEXT
            | EventType::VIEW_CHANGE
            | EventType::IGNORABLE => {}
            EventType::BEGIN_LOAD_QUERY | EventType::APPEND_BLOCK => self.load_block(ev, fmt)?,
            EventType::EXECUTE_LOAD_QUERY => self.execute_load(ev, fde, src)?,
            EventType::CREATE_FILE
            | EventType::LOAD
            | EventType::NEW_LOAD
            | EventType::EXEC_LOAD
            | EventType::DELETE_FILE => {
                return Err(ConvError("LOAD DATA in STATEMENT format is not supported by the applier".into()));
            }
            t => return Err(ConvError(format!("{t} cannot be applied"))),
        }
        Ok(())
    }

    /// MariaDB's GTID: the session's domain, server id and sequence number
    /// set as the server's own SQL thread sets them.
    fn maria_gtid(&mut self, ev: &RawEvent<'_>, fmt: &Format, src: Src) -> Result<(), ConvError> {
        let g = MariaGtid::parse(ev, fmt).map_err(perr)?;
        let mut sets = Vec::new();
        if self.ctx.gtid_domain != Some(g.domain_id) {
            sets.push(format!("@@session.gtid_domain_id={}", g.domain_id));
            self.ctx.gtid_domain = Some(g.domain_id);
        }
        if self.ctx.server_id != Some(ev.server_id()) {
            sets.push(format!("@@session.server_id={}", ev.server_id()));
            self.ctx.server_id = Some(ev.server_id());
        }
        sets.push(format!("@@session.gtid_seq_no={}", g.seq_no));
        self.plan.transactional = g.flags & maria_gtid_flags::TRANSACTIONAL != 0;
        self.plan.pre.push(Stmt::new(format!("SET {}", sets.join(", ")), src));
        if let Some(s) = self.ctx.skip_replication(ev.flags(), self.target) {
            self.plan.pre.push(Stmt::new(s, src));
        }
        Ok(())
    }

    /// A TABLE_MAP or rows event: its bytes go into the current `BINLOG`
    /// statement, which ends after a statement's last rows event.
    fn rows_event(&mut self, ev: &RawEvent<'_>, fde: &Fde<'_>, src: Src, inner: bool) -> Result<(), ConvError> {
        let (t, fmt) = (ev.event_type(), &fde.fmt);
        if (20..=22).contains(&t.0) {
            return Err(ConvError("pre-GA rows events (MySQL 5.1 betas) are not supported".into()));
        }
        self.binlog_fde(fde, src);
        let bytes = if (166..=171).contains(&t.0) {
            // The server refuses compressed rows in BINLOG (mariadb-binlog
            // prints them uncompressed too).
            std::borrow::Cow::Owned(uncompress_rows(ev, fmt)?)
        } else {
            binlog_bytes(ev, fmt.checksum, inner)
        };
        let chunk = self.rows.get_or_insert_with(|| RowsChunk {
            sql: b"BINLOG '\n".to_vec(),
            src,
            rows_seen: false,
            what: Vec::new(),
        });
        if t == EventType::TABLE_MAP {
            if let Ok(h) = TableMapHead::parse(ev, fmt) {
                chunk.what.push(format!(
                    "TABLE_MAP {}.{}",
                    String::from_utf8_lossy(h.db),
                    String::from_utf8_lossy(h.table)
                ));
            }
        } else {
            if !chunk.rows_seen {
                chunk.src = src;
                chunk.rows_seen = true;
            }
            chunk.what.push(t.to_string());
        }
        base64_line(&bytes, &mut chunk.sql);
        if t.is_rows() && RowsHead::parse(ev, fmt).map_err(perr)?.flags & RowsHead::STMT_END != 0 {
            self.flush_rows();
        }
        Ok(())
    }

    /// MySQL's TRANSACTION_PAYLOAD: its events, decompressed, converted one
    /// by one (and counted instead of it).
    fn payload(&mut self, ev: &RawEvent<'_>, fde: &Fde<'_>, src: Src, inner: bool) -> Result<(), ConvError> {
        let fmt = &fde.fmt;
        if inner {
            return Err(ConvError("TRANSACTION_PAYLOAD inside a payload".into()));
        }
        let p = Payload::parse(ev, fmt).map_err(perr)?;
        let data = p.decompress().map_err(|k| ConvError(k.to_string()))?;
        let mut it = EventIter::inner(&data, fmt.clone());
        self.plan.events -= 1; // count the inner events instead
        loop {
            match it.next_step() {
                Ok(None) => break,
                Ok(Some(Step::Event(iev))) => self.event(&iev, fde, src, true)?,
                Ok(Some(Step::Incomplete(_))) => return Err(ConvError("payload ends inside an event".into())),
                Err(e) => return Err(perr(e)),
            }
        }
        Ok(())
    }

    /// A block of a LOAD DATA file, kept by file id until its
    /// EXECUTE_LOAD_QUERY (a BEGIN_LOAD_QUERY starts the file again).
    fn load_block(&mut self, ev: &RawEvent<'_>, fmt: &Format) -> Result<(), ConvError> {
        let t = ev.event_type();
        // post-header: file_id u32; body: a block of the file.
        let (post, data) = ev
            .body()
            .split_at_checked(fmt.post_header_len(t))
            .ok_or_else(|| ConvError("load block shorter than its post-header".into()))?;
        let id = post
            .first_chunk::<4>()
            .map(|b| u32::from_le_bytes(*b))
            .ok_or_else(|| ConvError("load block without a file id".into()))?;
        let buf = self.loads.entry(id).or_default();
        if t == EventType::BEGIN_LOAD_QUERY {
            buf.clear();
        }
        buf.extend_from_slice(data);
        Ok(())
    }

    fn query(&mut self, ev: &RawEvent<'_>, fde: &Fde<'_>, src: Src) -> Result<(), ConvError> {
        let q = Query::parse(ev, &fde.fmt).map_err(perr)?;
        let text = q.sql_text().map_err(|k| ConvError(k.to_string()))?;
        let kind = QueryKind::of(&text);
        let in_trx = !matches!(self.plan.kind, Kind::Plain);
        match kind {
            QueryKind::Begin if in_trx => return Ok(()),
            QueryKind::Commit if self.plan.kind == Kind::Trx => {
                self.plan.end = End::Commit(src);
                return Ok(());
            }
            QueryKind::Rollback if self.plan.kind == Kind::Trx => {
                self.plan.end = End::Rollback(src);
                return Ok(());
            }
            QueryKind::XaStart | QueryKind::XaEnd if self.xa().is_some() => return Ok(()),
            QueryKind::XaPrepare if self.xa().is_some() => {
                let x = self.xa().cloned().expect("xa");
                self.plan.end = End::XaPrepare(src, x);
                return Ok(());
            }
            _ => {}
        }
        let flavor = fde.fmt.flavor;
        for s in self.ctx.query_context(&q, ev.timestamp(), ev.flags(), flavor, self.target)? {
            self.push(Stmt::new(s, src));
        }
        self.push(Stmt {
            sql: text.into_owned(),
            src,
            expect_error: q.error_code,
            desc: None,
            infile: None,
            raw: true,
        });
        Ok(())
    }

    /// EXECUTE_LOAD_QUERY: the LOAD DATA statement rewritten to read the
    /// file from us (`LOCAL INFILE`), as mysqlbinlog does with a temp file.
    fn execute_load(&mut self, ev: &RawEvent<'_>, fde: &Fde<'_>, src: Src) -> Result<(), ConvError> {
        let q = Query::parse(ev, &fde.fmt).map_err(perr)?;
        // Post-header: the QUERY fields (13 bytes), then file_id u32,
        // fn_pos_start u32, fn_pos_end u32, dup_handling u8.
        let b = ev.body();
        let ext = b.get(13..26).ok_or_else(|| ConvError("EXECUTE_LOAD_QUERY post-header".into()))?;
        let u = |i: usize| u32::from_le_bytes([ext[i], ext[i + 1], ext[i + 2], ext[i + 3]]);
        let (id, start, end, dup) = (u(0), u(4) as usize, u(8) as usize, ext[12]);
        let text = q.sql;
        if start > end || end > text.len() {
            return Err(ConvError("EXECUTE_LOAD_QUERY file name position".into()));
        }
        let data = self.loads.remove(&id).ok_or_else(|| ConvError(format!("LOAD DATA file {id}: no data block")))?;
        let name = format!("binlog-diff-load-{id}");
        let mut sql = text[..start].to_vec();
        sql.extend_from_slice(format!(" LOCAL INFILE '{name}'").as_bytes());
        if dup == 2 {
            sql.extend_from_slice(b" REPLACE");
        }
        sql.extend_from_slice(b" INTO");
        sql.extend_from_slice(&text[end..]);
        let flavor = fde.fmt.flavor;
        for s in self.ctx.query_context(&q, ev.timestamp(), ev.flags(), flavor, self.target)? {
            self.push(Stmt::new(s, src));
        }
        let mut st = Stmt::new(sql, src);
        st.raw = true;
        st.expect_error = q.error_code;
        st.infile = Some((name, std::sync::Arc::new(data)));
        self.push(st);
        Ok(())
    }

    /// `BINLOG '<FDE>'` before the first rows event under a new format.
    fn binlog_fde(&mut self, fde: &Fde<'_>, src: Src) {
        let key = fde_key(fde);
        if self.ctx.fde_sent.as_deref() == Some(&key[..]) {
            return;
        }
        let mut sql = b"BINLOG '\n".to_vec();
        base64_line(fde.bytes, &mut sql);
        sql.push(b'\'');
        let mut st = Stmt::new(sql, Src { file: fde.file, ..src });
        st.desc = Some("BINLOG: FORMAT_DESCRIPTION_EVENT".into());
        if self.plan.has_rows || self.rows.is_some() {
            // The format changes inside the transaction (a group spanning
            // relay logs): the new FDE goes exactly where it takes effect.
            self.flush_rows();
            self.plan.body.push(st);
        } else {
            self.plan.pre.push(st);
        }
        self.ctx.fde_sent = Some(key);
    }
}

/// What identifies an FDE's encoding: everything but its header and create timestamp.
fn fde_key(fde: &Fde<'_>) -> Vec<u8> {
    let b = fde.bytes;
    let end = if fde.fmt.checksum_aware { b.len().saturating_sub(4) } else { b.len() };
    let mut k = Vec::with_capacity(end);
    k.extend_from_slice(b.get(HEADER_LEN..HEADER_LEN + 52).unwrap_or(&[]));
    k.extend_from_slice(b.get(HEADER_LEN + 56..end).unwrap_or(&[]));
    k
}

/// An event's bytes for `BINLOG`: inner payload events carry no checksum,
/// but the server expects what the FDE says, so one is added.
fn binlog_bytes<'a>(ev: &RawEvent<'a>, alg: ChecksumAlg, inner: bool) -> std::borrow::Cow<'a, [u8]> {
    if !(inner && alg == ChecksumAlg::Crc32 && !ev.has_checksum()) {
        return std::borrow::Cow::Borrowed(ev.as_bytes());
    }
    let mut b = ev.as_bytes().to_vec();
    let size = (b.len() + 4) as u32;
    b[9..13].copy_from_slice(&size.to_le_bytes());
    let crc = compute_crc32(&b);
    b.extend_from_slice(&crc.to_le_bytes());
    std::borrow::Cow::Owned(b)
}

/// A MariaDB compressed rows event (166–171) as the plain event it stands
/// for: same header (type and size changed), post-header, column count and
/// bitmaps; the row images decompressed; the checksum recomputed.
fn uncompress_rows(ev: &RawEvent<'_>, fmt: &crate::event::Format) -> Result<Vec<u8>, ConvError> {
    let t = ev.event_type();
    let plain = t.uncompressed_rows();
    let body = ev.body();
    let bad = |w: &str| ConvError(format!("compressed rows event: {w}"));
    let ph = fmt.post_header_len(t);
    let mut p = ph;
    if (169..=171).contains(&t.0) {
        // v2: the post-header ends with the length of the extra header (itself included).
        let v = body.get(ph.saturating_sub(2)..ph).ok_or_else(|| bad("post-header"))?;
        p += (u16::from_le_bytes([v[0], v[1]]) as usize).saturating_sub(2);
    }
    let rest = body.get(p..).ok_or_else(|| bad("header"))?;
    let mut c = crate::event::bytes::Cursor::new(rest);
    let ncols = c.packed("column count").map_err(|k| bad(&k.to_string()))? as usize;
    let used = rest.len() - c.remaining();
    let images = if matches!(plain.0, 24 | 31) { 2 } else { 1 };
    let head = p + used + images * ncols.div_ceil(8);
    let packed = body.get(head..).ok_or_else(|| bad("bitmaps"))?;
    let rows = crate::event::compress::maria_uncompress(packed).map_err(|k| bad(&k.to_string()))?;
    let mut out = Vec::with_capacity(HEADER_LEN + head + rows.len() + 4);
    out.extend_from_slice(&ev.as_bytes()[..HEADER_LEN]);
    out.extend_from_slice(&body[..head]);
    out.extend_from_slice(&rows);
    out[4] = plain.0;
    let size = (out.len() + if ev.has_checksum() { 4 } else { 0 }) as u32;
    out[9..13].copy_from_slice(&size.to_le_bytes());
    if ev.has_checksum() {
        let crc = compute_crc32(&out);
        out.extend_from_slice(&crc.to_le_bytes());
    }
    Ok(out)
}

/// `SET @name := value` for a USER_VAR event, typed as mysqlbinlog prints it.
fn user_var(uv: &UserVar<'_>, target: &TargetInfo<'_>) -> Result<String, ConvError> {
    let name = quote_ident(uv.name)?;
    let Some((ty, cs, val, fl)) = uv.value else {
        return Ok(format!("SET @{name}:=NULL"));
    };
    let v = match ty {
        0 => {
            let (csn, colln) = target
                .collations
                .get(&(cs as u16))
                .ok_or_else(|| ConvError(format!("user variable {name}: collation id {cs} unknown to the target")))?;
            format!("_{csn} X'{}' COLLATE `{colln}`", hex(val))
        }
        1 => {
            let b: [u8; 8] = val.try_into().map_err(|_| ConvError("REAL user variable size".into()))?;
            let f = f64::from_le_bytes(b);
            if !f.is_finite() {
                return Err(ConvError(format!("user variable {name}: non-finite REAL")));
            }
            format!("{f:e}")
        }
        2 => {
            let b: [u8; 8] = val.try_into().map_err(|_| ConvError("INT user variable size".into()))?;
            if fl & 1 != 0 { u64::from_le_bytes(b).to_string() } else { i64::from_le_bytes(b).to_string() }
        }
        4 => {
            use mysql_common::binlog::decimal::{Decimal, decimal_bin_size};
            // precision u8, scale u8, then the binary value. Checked first:
            // the decoder panics on a scale above the precision.
            let bad = || ConvError(format!("user variable {name}: malformed DECIMAL"));
            let (p, sc) = match val {
                [p, sc, ..] => (*p as usize, *sc as usize),
                _ => return Err(bad()),
            };
            if p == 0 || p > 65 || sc > 38 || sc > p || val.len() < 2 + decimal_bin_size(p, sc) {
                return Err(bad());
            }
            Decimal::read_packed(val, true).map_err(|_| bad())?.to_string()
        }
        t => return Err(ConvError(format!("user variable {name}: value type {t}"))),
    };
    Ok(format!("SET @{name}:={v}"))
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// The two base64 symbols of every 12-bit value: one look-up per half of a
/// 3-byte group instead of one per symbol.
static B64_PAIRS: [[u8; 2]; 4096] = {
    let mut t = [[0u8; 2]; 4096];
    let mut i = 0;
    while i < 4096 {
        t[i] = [B64[i >> 6], B64[i & 63]];
        i += 1;
    }
    t
};

/// Appends the base64 of `b` (with padding) and a newline.
pub(crate) fn base64_line(b: &[u8], out: &mut Vec<u8>) {
    // Encoded a block at a time into a stack buffer and copied out whole: no
    // capacity check per symbol (event bodies are most of the statement text).
    const IN: usize = 768;
    let mut buf = [0u8; IN / 3 * 4];
    out.reserve(b.len().div_ceil(3) * 4 + 1);
    let mut blocks = b.chunks_exact(IN);
    for block in &mut blocks {
        for (c, q) in block.chunks_exact(3).zip(buf.chunks_exact_mut(4)) {
            let n = (c[0] as usize) << 16 | (c[1] as usize) << 8 | c[2] as usize;
            q[..2].copy_from_slice(&B64_PAIRS[n >> 12]);
            q[2..].copy_from_slice(&B64_PAIRS[n & 0xfff]);
        }
        out.extend_from_slice(&buf);
    }
    let tail = blocks.remainder();
    let whole = tail.chunks_exact(3);
    let rest = whole.remainder();
    let mut used = 0;
    for (c, q) in whole.zip(buf.chunks_exact_mut(4)) {
        let n = (c[0] as usize) << 16 | (c[1] as usize) << 8 | c[2] as usize;
        q[..2].copy_from_slice(&B64_PAIRS[n >> 12]);
        q[2..].copy_from_slice(&B64_PAIRS[n & 0xfff]);
        used += 4;
    }
    out.extend_from_slice(&buf[..used]);
    if let Some(&first) = rest.first() {
        let n = (first as usize) << 16 | (*rest.get(1).unwrap_or(&0) as usize) << 8;
        let (hi, lo) = (B64_PAIRS[n >> 12], B64_PAIRS[n & 0xfff]);
        let third = if rest.len() > 1 { lo[0] } else { b'=' };
        out.extend_from_slice(&[hi[0], hi[1], third, b'=']);
    }
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64() {
        let mut s = Vec::new();
        base64_line(b"", &mut s);
        base64_line(b"f", &mut s);
        base64_line(b"fo", &mut s);
        base64_line(b"foo", &mut s);
        base64_line(b"foob", &mut s);
        base64_line(b"\xff\xfe\x00", &mut s);
        assert_eq!(s, b"\nZg==\nZm8=\nZm9v\nZm9vYg==\n//4A\n");
    }

    #[test]
    fn base64_every_symbol() {
        // Bit by bit, as the RFC defines it: checks the chunked encoder on every byte value.
        let naive = |b: &[u8]| {
            let bits: Vec<u8> = b.iter().flat_map(|x| (0..8).rev().map(move |i| x >> i & 1)).collect();
            let mut s: Vec<u8> = bits
                .chunks(6)
                .map(|c| B64[c.iter().fold(0usize, |a, &x| a << 1 | x as usize) << (6 - c.len())])
                .collect();
            while s.len() % 4 != 0 {
                s.push(b'=');
            }
            s.push(b'\n');
            s
        };
        let data: Vec<u8> = (0..=255u8).rev().chain(0..=255).cycle().take(2000).collect();
        for n in [0, 1, 2, 3, 4, 5, 255, 256, 257, 512, 767, 768, 769, 770, 771, 1536, 1537] {
            let mut out = Vec::new();
            base64_line(&data[..n], &mut out);
            assert_eq!(out, naive(&data[..n]), "{n} bytes");
        }
    }

    #[test]
    fn decimals() {
        use mysql_common::binlog::decimal::Decimal;
        for v in ["1.5", "-0.50", "99999999.99", "0.00", "123456789012.5", "-1234567890.123456789", "7", "0.000000001"]
        {
            let d: Decimal = v.parse().unwrap();
            let mut b = Vec::new();
            let (p, s) = match v.split_once('.') {
                Some((i, f)) => (i.trim_start_matches('-').len() + f.len(), f.len()),
                None => (v.len(), 0),
            };
            b.push(p as u8);
            b.push(s as u8);
            d.write_bin(&mut b).unwrap();
            let back = Decimal::read_packed(&b[..], true).unwrap();
            assert_eq!(back.to_string(), v, "{v}");
        }
    }

    #[test]
    fn user_vars() {
        let vars = std::collections::HashSet::new();
        let mut colls = std::collections::HashMap::new();
        colls.insert(8u16, ("latin1".to_string(), "latin1_swedish_ci".to_string()));
        let t = TargetInfo { vars: &vars, collations: &colls };
        fn uv(ty: u8, v: &[u8], fl: u8) -> UserVar<'_> {
            UserVar { name: b"v`x", value: Some((ty, 8, v, fl)) }
        }
        assert_eq!(user_var(&uv(0, b"ab", 0), &t).unwrap(), "SET @`v``x`:=_latin1 X'6162' COLLATE `latin1_swedish_ci`");
        assert_eq!(user_var(&uv(2, &(-5i64).to_le_bytes(), 0), &t).unwrap(), "SET @`v``x`:=-5");
        assert_eq!(user_var(&uv(2, &u64::MAX.to_le_bytes(), 1), &t).unwrap(), "SET @`v``x`:=18446744073709551615");
        assert_eq!(user_var(&uv(1, &1.5f64.to_le_bytes(), 0), &t).unwrap(), "SET @`v``x`:=1.5e0");
        assert_eq!(user_var(&UserVar { name: b"n", value: None }, &t).unwrap(), "SET @`n`:=NULL");
        // Malformed values are errors, never panics.
        for bad in [&[5u8, 10, 0][..], &[0, 0], &[70, 2, 0, 0, 0, 0, 0, 0, 0, 0], &[4, 2], &[]] {
            assert!(user_var(&uv(4, bad, 0), &t).is_err(), "{bad:?}");
        }
        assert!(user_var(&uv(1, b"abc", 0), &t).is_err());
        assert!(user_var(&UserVar { name: b"x", value: Some((0, 99, b"", 0)) }, &t).is_err());
    }
}
