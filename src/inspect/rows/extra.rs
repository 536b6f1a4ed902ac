//! The extra row info of a v2 rows event: MySQL's "### Extra row …" lines
//! (NDB info, partition ids), MariaDB's "### Extra row data format" line.

use std::fmt::Write as _;

use super::RowStyle;
use super::printer::{Kind, writeln_bytes};
use crate::event::rows::table_id_len;
use crate::event::{EventType, Format};

/// What the tools print of a v2 event's extra data.
struct ExtraInfo<'a> {
    /// The first NDB info: `[len][format][payload]`.
    ndb: Option<&'a [u8]>,
    /// The partition id, and for an UPDATE the source partition's.
    part: Option<(u16, Option<u16>)>,
}

/// Prints the extra row info lines of a rows event (none for a v1 event
/// or one without extra data).
pub(super) fn print_extra_row_info(
    out: &mut Vec<u8>,
    body: &[u8],
    plain: EventType,
    fmt: &Format,
    kind: Kind,
    style: RowStyle,
) {
    let post = fmt.post_header_len(plain);
    if post != fmt.post_header_len(EventType::WRITE_ROWS) {
        return;
    }
    let p = table_id_len(post) + 2;
    let Some(b) = body.get(p..p + 2) else { return };
    let len = (u16::from_le_bytes([b[0], b[1]]) as usize).saturating_sub(2);
    let Some(extra) = body.get(p + 2..p + 2 + len) else {
        return;
    };
    let info = parse(extra, kind, style);
    match style {
        RowStyle::MySql => print_mysql(out, &info, kind),
        RowStyle::MariaDb => print_maria(out, &info),
    }
}

/// Reads the tagged extra data up to the first tag the style's tool does
/// not know (MariaDB's reads no partition info).
fn parse(extra: &[u8], kind: Kind, style: RowStyle) -> ExtraInfo<'_> {
    let mut info = ExtraInfo { ndb: None, part: None };
    let mut i = 0;
    while i < extra.len() {
        let tag = extra[i];
        i += 1;
        match tag {
            0 => {
                // [len][format][payload], len counting itself and format.
                let Some(&l) = extra.get(i) else { break };
                let Some(ndb) = extra.get(i..i + l as usize) else {
                    break;
                };
                if info.ndb.is_none() {
                    info.ndb = Some(ndb);
                }
                i += (l as usize).max(1);
            }
            1 if style == RowStyle::MySql => {
                let u16at = |i: usize| extra.get(i..i + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
                let Some(id) = u16at(i) else { break };
                i += 2;
                let src = if kind == Kind::Update {
                    let s = u16at(i);
                    i += 2;
                    s
                } else {
                    None
                };
                info.part = Some((id, src));
            }
            _ => break,
        }
    }
    info
}

fn hex(b: &[u8]) -> String {
    let mut s = String::from("0x");
    for x in b {
        let _ = write!(s, "{x:02X}");
    }
    s
}

fn print_mysql(out: &mut Vec<u8>, info: &ExtraInfo<'_>, kind: Kind) {
    if let Some(ndb) = info.ndb {
        if ndb.len() >= 2 {
            let _ = writeln_bytes(
                out,
                format_args!(
                    "### Extra row ndb info: data_format: {}, len: {}, data: {}",
                    ndb[1],
                    ndb.len() - 2,
                    hex(&ndb[2..])
                ),
            );
        }
    }
    if let Some((id, src)) = info.part {
        match (kind, src) {
            (Kind::Update, Some(src)) => {
                let _ = writeln_bytes(
                    out,
                    format_args!("### Extra row info for partitioning: source_partition: {src} target_partition: {id}"),
                );
            }
            _ => {
                let _ = writeln_bytes(out, format_args!("### Extra row info for partitioning: partition: {id}"));
            }
        }
    }
}

fn print_maria(out: &mut Vec<u8>, info: &ExtraInfo<'_>) {
    if let Some(ndb) = info.ndb {
        if ndb.len() >= 2 {
            let payload = &ndb[2..];
            let mut s = format!("### Extra row data format: {}, len: {} :", ndb[1], payload.len());
            if !payload.is_empty() {
                s.push_str(&hex(payload));
            }
            let _ = writeln_bytes(out, format_args!("{s}"));
        }
    }
}
