//! One-line, human-readable summaries of event bodies, shared by `dump`
//! (text and JSON) and `verify` (which decodes every body to check structure).

use std::fmt::Write as _;

use crate::event::payload::Payload;
use crate::event::views::{
    self, MariaCheckpoint, MariaGtid, MariaGtidList, MysqlGtid, PreviousGtids, Query, RowsHead, TableMapHead, UserVar,
    XaPrepare,
};
use crate::event::{EventType, Format, ParseError, RawEvent, flags};

/// Longest SQL shown in a summary, in bytes.
const SQL_PREVIEW: usize = 120;

/// Bytes shown as text: printable ASCII as is, `"` and `\` escaped, anything
/// else (incl. non-UTF-8) as `\xNN`, cut at `max` bytes with `…`.
pub fn escape_bytes(out: &mut String, b: &[u8], max: usize) {
    let s = String::from_utf8_lossy(&b[..b.len().min(max)]);
    // Valid UTF-8 prints as itself; invalid bytes as \xNN.
    if std::str::from_utf8(&b[..b.len().min(max)]).is_ok() {
        for ch in s.chars() {
            match ch {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if c.is_control() => {
                    let _ = write!(out, "\\x{:02x}", c as u32);
                }
                c => out.push(c),
            }
        }
    } else {
        for &c in &b[..b.len().min(max)] {
            match c {
                b'"' => out.push_str("\\\""),
                b'\\' => out.push_str("\\\\"),
                b'\n' => out.push_str("\\n"),
                0x20..=0x7e => out.push(c as char),
                _ => {
                    let _ = write!(out, "\\x{c:02x}");
                }
            }
        }
    }
    if b.len() > max {
        out.push('…');
    }
}

fn quoted(out: &mut String, key: &str, b: &[u8], max: usize) {
    let _ = write!(out, "{key}=\"");
    escape_bytes(out, b, max);
    out.push('"');
}

/// Appends a summary of `ev`'s body to `out`.
///
/// # Errors
/// When the body of a type we decode is malformed.
pub fn summarize(out: &mut String, ev: &RawEvent<'_>, fmt: &Format) -> Result<(), ParseError> {
    let t = ev.event_type();
    match t {
        EventType::FORMAT_DESCRIPTION => format_description(out, ev, fmt)?,
        EventType::ROTATE => {
            let r = views::Rotate::parse(ev, fmt)?;
            out.push_str("next=");
            escape_bytes(out, r.next_file, 512);
            let _ = write!(out, ":{}", r.position);
            if ev.is_fake_rotate() {
                out.push_str(" fake");
            }
        }
        EventType::QUERY | EventType::EXECUTE_LOAD_QUERY | EventType::MARIA_QUERY_COMPRESSED => query(out, ev, fmt)?,
        EventType::XID => {
            let _ = write!(out, "xid={}", views::xid(ev)?);
        }
        EventType::GTID | EventType::ANONYMOUS_GTID => mysql_gtid(out, ev, fmt)?,
        EventType::PREVIOUS_GTIDS => previous_gtids(out, ev, fmt)?,
        EventType::GTID_TAGGED => {
            let _ = write!(out, "gtid={}", crate::event::tagged::gtid_text(ev)?);
        }
        EventType::MARIA_GTID => maria_gtid(out, ev, fmt)?,
        EventType::MARIA_GTID_LIST => maria_gtid_list(out, ev, fmt)?,
        EventType::MARIA_BINLOG_CHECKPOINT => {
            let c = MariaCheckpoint::parse(ev, fmt)?;
            out.push_str("file=");
            escape_bytes(out, c.file, 512);
        }
        EventType::MARIA_ANNOTATE_ROWS | EventType::ROWS_QUERY => {
            // ROWS_QUERY has a 1-byte length (ignored by servers) before the text.
            let b = ev.body();
            let text = if t == EventType::ROWS_QUERY { b.get(1..).unwrap_or(&[]) } else { b };
            quoted(out, "sql", text, SQL_PREVIEW);
        }
        EventType::TABLE_MAP => {
            let m = TableMapHead::parse(ev, fmt)?;
            let _ = write!(out, "table_id={} ", m.table_id);
            quoted(out, "table", &[m.db, b".", m.table].concat(), 200);
        }
        t if t.is_rows() => {
            let r = RowsHead::parse(ev, fmt)?;
            let _ = write!(out, "table_id={}", r.table_id);
            if r.flags & RowsHead::STMT_END != 0 {
                out.push_str(" stmt_end");
            }
        }
        EventType::INTVAR => {
            let (k, v) = views::intvar(ev)?;
            let name = match k {
                1 => "LAST_INSERT_ID",
                2 => "INSERT_ID",
                _ => "INVALID_INT",
            };
            let _ = write!(out, "{name}={v}");
        }
        EventType::RAND => {
            let (a, b) = views::rand(ev)?;
            let _ = write!(out, "seed1={a} seed2={b}");
        }
        EventType::USER_VAR => user_var(out, ev)?,
        EventType::XA_PREPARE => {
            let x = XaPrepare::parse(ev)?;
            let _ = write!(out, "format_id={} gtrid_len={} bqual_len={}", x.format_id, x.gtrid.len(), x.bqual.len());
            if x.one_phase {
                out.push_str(" one_phase");
            }
        }
        EventType::TRANSACTION_PAYLOAD => {
            let p = Payload::parse(ev, fmt)?;
            let _ = write!(
                out,
                "compression={:?} size={} uncompressed={}",
                p.compression,
                p.data.len(),
                p.uncompressed_size
            );
        }
        EventType::INCIDENT => {
            let (n, msg) = views::incident(ev, fmt)?;
            let _ = write!(out, "incident={n} ");
            quoted(out, "message", msg, SQL_PREVIEW);
        }
        t if !t.is_known() => out.push_str("ignorable"),
        _ => {}
    }
    Ok(())
}

/// The binlog version, server, checksum and the in-use and relay-log flags.
fn format_description(out: &mut String, ev: &RawEvent<'_>, fmt: &Format) -> Result<(), ParseError> {
    let _ = write!(
        out,
        "binlog v{} server=\"{}\" checksum={}",
        fmt.binlog_version,
        fmt.server_version(),
        fmt.checksum.name()
    );
    if ev.flags() & flags::BINLOG_IN_USE != 0 {
        out.push_str(" in-use");
    }
    if ev.flags() & flags::RELAY_LOG != 0 {
        out.push_str(" relay-log");
    }
    Ok(())
}

/// A statement: its thread, time, error code, database and text (its
/// sizes when compressed).
fn query(out: &mut String, ev: &RawEvent<'_>, fmt: &Format) -> Result<(), ParseError> {
    let t = ev.event_type();
    let q = Query::parse(ev, fmt)?;
    let _ = write!(out, "thread={} exec={} err={} ", q.thread_id, q.exec_time, q.error_code);
    quoted(out, "db", q.db, 64);
    out.push(' ');
    let text = q.sql_text().map_err(|k| ParseError { kind: k, at: ev.offset(), event_type: Some(t) })?;
    if q.is_compressed() {
        let _ = write!(out, "compressed={}->{} ", q.sql.len(), text.len());
    }
    quoted(out, "sql", &text, SQL_PREVIEW);
    Ok(())
}

/// MySQL's GTID (or anonymous) and its logical clock.
fn mysql_gtid(out: &mut String, ev: &RawEvent<'_>, fmt: &Format) -> Result<(), ParseError> {
    let t = ev.event_type();
    let g = MysqlGtid::parse(ev, fmt)?;
    if t == EventType::GTID {
        let _ = write!(out, "gtid={}:{}", views::format_uuid(&g.sid), g.gno);
    } else {
        out.push_str("anonymous");
    }
    if let Some((lc, sn)) = g.logical_clock {
        let _ = write!(out, " last_committed={lc} sequence_number={sn}");
    }
    Ok(())
}

/// MySQL's PREVIOUS_GTIDS, tagged (8.4) or not.
fn previous_gtids(out: &mut String, ev: &RawEvent<'_>, fmt: &Format) -> Result<(), ParseError> {
    let t = ev.event_type();
    let p = PreviousGtids::parse(ev, fmt)?;
    if p.tagged {
        let s = crate::event::tagged::previous_gtids_text(ev)?;
        let _ = write!(out, "gtids=\"{s}\" tagged-encoding");
    } else {
        let s = p.to_text().map_err(|k| ParseError { kind: k, at: ev.offset(), event_type: Some(t) })?;
        let _ = write!(out, "gtids=\"{s}\"");
    }
    Ok(())
}

/// MariaDB's GTID, its flags and commit id.
fn maria_gtid(out: &mut String, ev: &RawEvent<'_>, fmt: &Format) -> Result<(), ParseError> {
    let g = MariaGtid::parse(ev, fmt)?;
    let _ = write!(out, "gtid={}-{}-{} flags=0x{:02x}", g.domain_id, ev.server_id(), g.seq_no, g.flags);
    if g.is_standalone() {
        out.push_str(" standalone");
    }
    if let Some(c) = g.commit_id {
        let _ = write!(out, " commit_id={c}");
    }
    Ok(())
}

/// MariaDB's GTID_LIST: every domain's last GTID.
fn maria_gtid_list(out: &mut String, ev: &RawEvent<'_>, fmt: &Format) -> Result<(), ParseError> {
    let l = MariaGtidList::parse(ev, fmt)?;
    out.push_str("gtids=\"");
    for (i, (d, s, q)) in l.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{d}-{s}-{q}");
    }
    out.push('"');
    Ok(())
}

/// A user variable's name, and its type, charset and length (or NULL).
fn user_var(out: &mut String, ev: &RawEvent<'_>) -> Result<(), ParseError> {
    let u = UserVar::parse(ev)?;
    out.push('@');
    escape_bytes(out, u.name, 64);
    match u.value {
        None => out.push_str("=NULL"),
        Some((ty, cs, v, _)) => {
            let _ = write!(out, " type={ty} charset={cs} len={}", v.len());
        }
    }
    Ok(())
}

/// Decodes `ev`'s body as [`summarize`] does, without formatting anything:
/// the structure check `verify` runs on every event.
///
/// # Errors
/// When the body of a type we decode is malformed.
pub fn check_body(ev: &RawEvent<'_>, fmt: &Format) -> Result<(), ParseError> {
    let t = ev.event_type();
    let err = |k| ParseError { kind: k, at: ev.offset(), event_type: Some(t) };
    match t {
        EventType::ROTATE => {
            views::Rotate::parse(ev, fmt)?;
        }
        EventType::QUERY | EventType::EXECUTE_LOAD_QUERY | EventType::MARIA_QUERY_COMPRESSED => {
            let q = Query::parse(ev, fmt)?;
            if q.is_compressed() {
                q.sql_text().map_err(err)?;
            }
        }
        EventType::XID => {
            views::xid(ev)?;
        }
        EventType::GTID | EventType::ANONYMOUS_GTID => {
            MysqlGtid::parse(ev, fmt)?;
        }
        EventType::GTID_TAGGED => {
            crate::event::tagged::gtid_text(ev)?;
        }
        EventType::PREVIOUS_GTIDS => {
            let p = PreviousGtids::parse(ev, fmt)?;
            if p.tagged {
                crate::event::tagged::previous_gtids_text(ev)?;
            } else {
                p.to_text().map_err(err)?;
            }
        }
        EventType::MARIA_GTID => {
            MariaGtid::parse(ev, fmt)?;
        }
        EventType::MARIA_GTID_LIST => {
            MariaGtidList::parse(ev, fmt)?;
        }
        EventType::MARIA_BINLOG_CHECKPOINT => {
            MariaCheckpoint::parse(ev, fmt)?;
        }
        EventType::TABLE_MAP => {
            TableMapHead::parse(ev, fmt)?;
        }
        t if t.is_rows() => {
            RowsHead::parse(ev, fmt)?;
        }
        EventType::INTVAR => {
            views::intvar(ev)?;
        }
        EventType::RAND => {
            views::rand(ev)?;
        }
        EventType::USER_VAR => {
            UserVar::parse(ev)?;
        }
        EventType::XA_PREPARE => {
            XaPrepare::parse(ev)?;
        }
        EventType::TRANSACTION_PAYLOAD => {
            Payload::parse(ev, fmt)?;
        }
        EventType::INCIDENT => {
            views::incident(ev, fmt)?;
        }
        _ => {}
    }
    Ok(())
}
