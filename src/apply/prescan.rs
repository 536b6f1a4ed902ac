//! The input, opened and read through once before any server is touched:
//! every file must be a binlog (magic and format description), every event
//! sound (structure, checksums), every group a whole transaction from its
//! start. What the apply needs to know in advance is learnt on the way
//! ([`Prescan`]): the biggest packet a statement will need, how many
//! transactions there are and which lack a GTID, and who wrote them.
//!
//! A damaged input thus stops the apply with nothing applied.

use crate::error::{Error, Result};
use crate::event::{EventType, Flavor};
use crate::log::LogFile;

use super::group::Group;
use super::options::ApplyOptions;
use super::stream::{Item, Stream};

/// Opens `files`, refusing any that is not a binlog.
pub(crate) fn open_files(files: &[std::path::PathBuf], opts: &ApplyOptions) -> Result<Vec<LogFile>> {
    if files.is_empty() {
        return Err(Error::config(None, "no files to apply"));
    }
    files
        .iter()
        .map(|f| {
            let lf = LogFile::open(f, opts.access)?;
            // A binlog has at least its magic and a format description: an
            // empty or cut-off file is refused, never applied as "nothing".
            let first = crate::event::WalkOptions { verify_checksums: opts.verify_checksums };
            lf.walk(first, crate::log::RecoveryMode::AbsoluteConsistency, |_, _| Ok(false))?;
            Ok(lf)
        })
        .collect()
}

/// What the pre-scan learns.
pub(crate) struct Prescan {
    /// Biggest packet a statement needs (with slack).
    pub max_packet: u64,
    /// Whole groups in the input.
    pub groups: u64,
    /// Groups without a GTID.
    pub without_gtid: u64,
    /// Flavors of the writers (from the FDEs).
    pub flavors: Vec<Flavor>,
}

impl Prescan {
    /// Reads `lfs` through as one stream.
    pub(crate) fn of(lfs: &[LogFile], opts: &ApplyOptions) -> Result<Prescan> {
        let mut p = Prescan { max_packet: 0, groups: 0, without_gtid: 0, flavors: Vec::new() };
        let mut s = Stream::new(lfs, opts.verify_checksums);
        let need = |n: u64, p: &mut Prescan| p.max_packet = p.max_packet.max(n + 4096);
        while let Some(it) = s.next_item()? {
            let Item::Group(g) = it else { continue };
            check_group_start(lfs, &g)?;
            p.groups += 1;
            let f = g.events[0].ev.event_type();
            if !matches!(f, EventType::MARIA_GTID | EventType::GTID | EventType::GTID_TAGGED) {
                p.without_gtid += 1;
            }
            let mut rows = 0u64;
            let mut nrows = 0u64;
            for e in &g.events {
                if !p.flavors.contains(&e.fde.fmt.flavor) {
                    p.flavors.push(e.fde.fmt.flavor);
                }
                let t = e.ev.event_type();
                let n = e.ev.size() as u64;
                if t == EventType::TABLE_MAP || t.is_rows() {
                    rows += n + 4;
                    nrows += 1;
                    need(b64(e.fde.bytes.len() as u64), &mut p);
                    continue;
                }
                if rows > 0 {
                    need(b64(rows) + nrows, &mut p);
                    rows = 0;
                    nrows = 0;
                }
                let body = e.ev.body();
                let text = match t {
                    EventType::MARIA_QUERY_COMPRESSED => {
                        // 0x80|lenlen, big-endian length: the decompressed size.
                        let q = crate::event::views::Query::parse(&e.ev, &e.fde.fmt)
                            .map_err(|x| Error::parse(Some(lfs[e.file].path()), x))?;
                        let k = *q.sql.first().unwrap_or(&0) as usize & 7;
                        q.sql.get(1..1 + k).map(|b| b.iter().fold(0u64, |a, &x| a << 8 | x as u64)).unwrap_or(n)
                    }
                    EventType::TRANSACTION_PAYLOAD => {
                        let pl = crate::event::payload::Payload::parse(&e.ev, &e.fde.fmt)
                            .map_err(|x| Error::parse(Some(lfs[e.file].path()), x))?;
                        b64(pl.uncompressed_size)
                    }
                    _ => body.len() as u64,
                };
                // Non-UTF-8 text goes as hex: twice its size.
                need(text * 2 + 64, &mut p);
            }
            if rows > 0 {
                need(b64(rows) + nrows, &mut p);
            }
        }
        Ok(p)
    }
}

/// Refuses a group that is the tail of a transaction whose start is not in
/// the input (a diff cut from a read position inside a transaction): a
/// commit with no GTID or BEGIN before it. Applying such a tail on its own
/// would commit half a transaction.
pub(crate) fn check_group_start(lfs: &[LogFile], g: &Group<'_>) -> Result<()> {
    use crate::event::{Class, views::QueryKind};
    let first = &g.events[0];
    let opener = matches!(
        first.class,
        Class::MysqlGtid | Class::MariaGtid(_) | Class::Query(QueryKind::Begin | QueryKind::XaStart)
    );
    if opener {
        return Ok(());
    }
    // Rows events closed by their statement end are a whole statement
    // (MySQL 5.1 logged MyISAM rows without BEGIN); a commit is not.
    let last = g.events.last().expect("non-empty group");
    let tail = matches!(
        last.class,
        Class::Xid
            | Class::XaPrepare
            | Class::Payload
            | Class::Query(QueryKind::Commit | QueryKind::Rollback | QueryKind::XaPrepare)
    );
    if tail {
        return Err(Error::bad_input(
            "a commit with no GTID or BEGIN before it",
            "the input starts inside a transaction (apply it together with the file that holds the transaction's \
             start) or is damaged",
        )
        .with_file(lfs[first.file].path())
        .at(first.ev.offset(), Some(first.ev.event_type())));
    }
    Ok(())
}

/// Base64 text of `n` bytes, with slack for the statement around it.
fn b64(n: u64) -> u64 {
    n.div_ceil(3) * 4 + 64
}
