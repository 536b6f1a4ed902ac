//! Property checks shared by the fuzz targets (`fuzz/fuzz_targets/*.rs`) and
//! by the stable regression test `tests/fuzz_regressions.rs`, which includes
//! this very file with `#[path]` so that both run the same checks.
//!
//! Only the public API of `binlog_diff`, `serde_json` and `std` is used, and
//! nothing here refers to `crate::`, so the file compiles as a module of any
//! crate that depends on `binlog_diff` and `serde_json`.
//!
//! Every check panics (via `assert!`) when a property is violated; the code
//! under test must never panic on any input.

use std::io::Write as _;

use binlog_diff::event::checksum::{compute_crc32, crc32_of_event};
use binlog_diff::event::payload::{Payload, PayloadCompression};
use binlog_diff::event::tagged;
use binlog_diff::event::views::{
    self, MariaCheckpoint, MariaGtid, MariaGtidList, MysqlGtid, PreviousGtids, Query, QueryKind, Rotate, RowsHead,
    TableMapHead, UserVar, XaPrepare,
};
use binlog_diff::event::{EventIter, EventType, Format, HEADER_LEN, RawEvent, Step, TrxGrouper, WalkOptions, classify};
use binlog_diff::inspect::{DumpOptions, Stats, StatsOptions, dump, verify};
use binlog_diff::log::{LogFile, RecoveryMode, Tail};

/// How deep TRANSACTION_PAYLOAD events are followed (outer walk = 0).
/// Servers never nest payloads, but the inner walk does not forbid it, so the
/// fuzzer can build nests; a small bound keeps an exec cheap.
const MAX_PAYLOAD_DEPTH: u32 = 3;

/// Whether a panic message is an arithmetic overflow check (`attempt to add
/// with overflow`, `attempt to subtract with overflow`, ...).
///
/// Such a panic is a bug even when the library catches it (binlog-diff wraps
/// mysql_common in `catch_unwind`): debug builds and the fuzz build check
/// overflow, but the release profile does not, so there the value wraps
/// instead and the code goes on with it (e.g. a wrapped decimal size becomes
/// a huge allocation, and an allocation failure aborts the process, which no
/// `catch_unwind` can stop). The fuzz targets and the regression test
/// therefore fail on these even when they are caught.
pub fn is_overflow_panic(msg: &str) -> bool {
    msg.contains("with overflow")
}

// ---------------------------------------------------------------------------
// target `event_walk`

/// `event_walk`: arbitrary bytes walked as a file, with and without CRC
/// verification; every event goes through every typed view.
pub fn event_walk(data: &[u8]) {
    for verify_checksums in [true, false] {
        let it = EventIter::new(data, WalkOptions { verify_checksums });
        check_walk(data, it, verify_checksums, 0);
    }
}

/// How a checked walk ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalkEnd {
    /// `Ok(None)` with every byte consumed.
    Clean,
    /// `Step::Incomplete`.
    Incomplete,
    /// An `Err`.
    Error,
}

/// Drains `it` over `data`, checking the walk invariants, and feeds every
/// event to [`exercise_event`]. Returns how the walk ended and the number of
/// whole events.
pub fn check_walk<'a>(data: &'a [u8], mut it: EventIter<'a>, verified: bool, depth: u32) -> (WalkEnd, u64) {
    let len = data.len() as u64;
    let mut prev_offset: Option<u64> = None;
    let mut prev_end: Option<u64> = None;
    let mut grouper = TrxGrouper::new();
    let mut events = 0u64;
    let end = loop {
        let r = it.next_step();
        assert!(it.valid_offset() <= len, "valid_offset {} > len {len}", it.valid_offset());
        assert!(it.position() <= len, "position {} > len {len}", it.position());
        match r {
            Ok(Some(Step::Event(ev))) => {
                events += 1;
                let off = ev.offset();
                if let Some(p) = prev_offset {
                    assert!(off > p, "event offsets not increasing: {off} after {p}");
                }
                if let Some(e) = prev_end {
                    assert_eq!(off, e, "event at {off} does not start where the previous ended");
                }
                assert!(ev.size() >= HEADER_LEN, "event smaller than a header");
                assert!(ev.end_offset() <= len, "event [{off}, {}) outside input of {len} bytes", ev.end_offset());
                assert_eq!(
                    ev.as_bytes(),
                    &data[off as usize..ev.end_offset() as usize],
                    "event bytes are not the input bytes at its offset"
                );
                assert_eq!(ev.header().event_size as usize, ev.size());
                assert_eq!(it.valid_offset(), ev.end_offset());
                if ev.has_checksum() {
                    assert!(ev.size() >= HEADER_LEN + 4);
                    if verified {
                        let (s, c) = crc32_of_event(ev.as_bytes()).expect("checksummed event");
                        assert_eq!(s, c, "walk verified an event whose CRC is wrong");
                    }
                }
                let fmt = it.format().expect("an event is returned only with a format");
                exercise_event(&ev, fmt, &mut grouper, depth);
                prev_offset = Some(off);
                prev_end = Some(ev.end_offset());
            }
            Ok(Some(Step::Incomplete(inc))) => {
                assert_eq!(inc.at, it.valid_offset(), "Incomplete.at != valid_offset");
                assert!(inc.available < inc.needed, "Incomplete with enough bytes: {inc:?}");
                assert_eq!(inc.at + inc.available, len, "Incomplete does not reach EOF: {inc:?}");
                break WalkEnd::Incomplete;
            }
            Ok(None) => {
                assert_eq!(it.valid_offset(), len, "clean end before EOF");
                break WalkEnd::Clean;
            }
            Err(e) => {
                assert!(e.at <= len, "error offset {} past EOF {len}", e.at);
                let _ = e.to_string();
                break WalkEnd::Error;
            }
        }
    };
    // Fused: after Ok(None), Incomplete or Err, nothing more, ever.
    let valid = it.valid_offset();
    for _ in 0..3 {
        assert!(matches!(it.next_step(), Ok(None)), "walk resumed after it ended ({end:?})");
        assert!(it.next().is_none(), "Iterator::next resumed after the end");
        assert_eq!(it.valid_offset(), valid, "valid_offset moved after the end");
    }
    let _ = grouper.in_group();
    (end, events)
}

/// Feeds one event to every typed view, `classify` (into `grouper`) and,
/// for payloads, decompression plus an inner walk.
pub fn exercise_event(ev: &RawEvent<'_>, fmt: &Format, grouper: &mut TrxGrouper, depth: u32) {
    let _ = ev.header();
    let _ = ev.checksum();
    let _ = ev.body();
    let _ = ev.is_fake_rotate();
    let _ = (ev.timestamp(), ev.server_id(), ev.log_pos(), ev.flags());
    let _ = ev.event_type().to_string();
    let _ = fmt.post_header_len(ev.event_type());
    let _ = fmt.server_version();
    if ev.event_type() == EventType::FORMAT_DESCRIPTION {
        if let Ok(f) = Format::from_fde_event(ev.as_bytes()) {
            let _ = f.server_version();
            assert!(f.post_header_count() <= 255);
        }
    }
    if ev.has_checksum() {
        let n = ev.size();
        let computed = compute_crc32(&ev.as_bytes()[..n - 4]);
        let (_, c2) = crc32_of_event(ev.as_bytes()).expect("checksummed event");
        assert_eq!(computed, c2, "compute_crc32 and crc32_of_event disagree");
    }
    run_views(ev, fmt);
    if let Ok(c) = classify(ev, fmt) {
        let role = grouper.feed(c);
        let _ = (role.boundary.opens(), role.boundary.closes());
    }
    if let Ok(p) = Payload::parse(ev, fmt) {
        assert_eq!(ev.event_type(), EventType::TRANSACTION_PAYLOAD);
        if depth < MAX_PAYLOAD_DEPTH {
            if let Ok(inner) = p.decompress() {
                if p.compression == PayloadCompression::Zstd {
                    assert_eq!(inner.len() as u64, p.uncompressed_size);
                }
                let it = EventIter::inner(&inner, fmt.clone());
                check_walk(&inner, it, false, depth + 1);
            }
        }
    }
}

/// Every typed view in `views` (and `Payload`), each of which must return
/// `Ok` or `Err` for any event; a view that accepts an event of another type
/// is a bug too.
pub fn run_views(ev: &RawEvent<'_>, fmt: &Format) {
    let t = ev.event_type();
    let only = |ok: bool, types: &[EventType], view: &str| {
        if ok {
            assert!(types.contains(&t), "{view} accepted an event of type {t}");
        }
    };
    let _ = QueryKind::of(ev.body());

    let r = Rotate::parse(ev, fmt);
    only(r.is_ok(), &[EventType::ROTATE], "Rotate");

    let r = Query::parse(ev, fmt);
    only(r.is_ok(), &[EventType::QUERY, EventType::EXECUTE_LOAD_QUERY, EventType::MARIA_QUERY_COMPRESSED], "Query");
    if let Ok(q) = r {
        let _ = q.kind();
        let _ = q.is_compressed();
        if let Ok(text) = q.sql_text() {
            let _ = QueryKind::of(&text);
        }
        // Every item consumes at least one byte or ends the iteration.
        let mut n = 0usize;
        for v in q.status() {
            n += 1;
            assert!(n <= q.status_vars.len() + 1, "StatusVars does not terminate");
            let _ = format!("{v:?}");
        }
    }

    let r = MysqlGtid::parse(ev, fmt);
    only(r.is_ok(), &[EventType::GTID, EventType::ANONYMOUS_GTID], "MysqlGtid");
    if let Ok(g) = r {
        let _ = views::format_uuid(&g.sid);
    }

    let r = PreviousGtids::parse(ev, fmt);
    only(r.is_ok(), &[EventType::PREVIOUS_GTIDS], "PreviousGtids");
    if let Ok(p) = r {
        let _ = p.to_text();
    }

    let r = MariaGtid::parse(ev, fmt);
    only(r.is_ok(), &[EventType::MARIA_GTID], "MariaGtid");
    if let Ok(g) = r {
        let _ = g.is_standalone();
    }

    let r = MariaGtidList::parse(ev, fmt);
    only(r.is_ok(), &[EventType::MARIA_GTID_LIST], "MariaGtidList");
    if let Ok(l) = r {
        assert_eq!(l.iter().count(), l.count as usize, "GTID list count");
    }

    let r = MariaCheckpoint::parse(ev, fmt);
    only(r.is_ok(), &[EventType::MARIA_BINLOG_CHECKPOINT], "MariaCheckpoint");

    only(views::xid(ev).is_ok(), &[EventType::XID], "xid");
    only(views::intvar(ev).is_ok(), &[EventType::INTVAR], "intvar");
    only(views::rand(ev).is_ok(), &[EventType::RAND], "rand");
    only(UserVar::parse(ev).is_ok(), &[EventType::USER_VAR], "UserVar");
    only(XaPrepare::parse(ev).is_ok(), &[EventType::XA_PREPARE], "XaPrepare");
    only(TableMapHead::parse(ev, fmt).is_ok(), &[EventType::TABLE_MAP], "TableMapHead");
    if RowsHead::parse(ev, fmt).is_ok() {
        assert!(t.is_rows(), "RowsHead accepted an event of type {t}");
    }
    only(views::incident(ev, fmt).is_ok(), &[EventType::INCIDENT], "incident");
    // mysql_common-backed decoders (MySQL 8.4 tagged GTIDs), guarded by
    // catch_unwind inside the library; they take any event type.
    let _ = tagged::gtid_text(ev);
    let _ = tagged::previous_gtids_text(ev);
    // Payload::parse is exercised (and its result walked) by exercise_event.
}

// ---------------------------------------------------------------------------
// target `views`

/// FDE of a MySQL 8.0 server (8.0.45's post-header table, CRC32): the same
/// bytes such a server writes, less the create timestamp.
pub fn mysql80_fde() -> Vec<u8> {
    const TABLE: [u8; 41] = [
        0, 13, 0, 8, 0, 0, 0, 0, 4, 0, 4, 0, 0, 0, 98, 0, 4, 26, 8, 0, 0, 0, 8, 8, 8, 2, 0, 0, 0, 10, 10, 10, 42, 42,
        0, 18, 52, 0, 10, 40, 0,
    ];
    build_fde(b"8.0.45", &TABLE, 1)
}

/// FDE of a MariaDB 10.11 server, as written by Debian's mariadbd 10.11
/// (`fuzz/seeds/fde-mariadb-10.11.bin`, the first event of a fresh binlog).
pub const MARIADB_1011_FDE: &[u8] = include_bytes!("../seeds/fde-mariadb-10.11.bin");

/// Builds an FDE event (header, body, alg byte, CRC32).
pub fn build_fde(server_version: &[u8], table: &[u8], alg: u8) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&4u16.to_le_bytes());
    let mut sv = [0u8; 50];
    sv[..server_version.len()].copy_from_slice(server_version);
    body.extend_from_slice(&sv);
    body.extend_from_slice(&0u32.to_le_bytes());
    body.push(HEADER_LEN as u8);
    body.extend_from_slice(table);
    body.push(alg);
    let mut ev = header(EventType::FORMAT_DESCRIPTION.0, 1, body.len() + 4, 4, 0);
    ev.extend_from_slice(&body);
    let crc = compute_crc32(&ev);
    ev.extend_from_slice(&crc.to_le_bytes());
    ev
}

/// A 19-byte header; `size` is the whole event size.
pub fn header(ty: u8, server_id: u32, size: usize, at: u64, flags: u16) -> Vec<u8> {
    let mut h = Vec::with_capacity(HEADER_LEN + size);
    h.extend_from_slice(&0x6000_0000u32.to_le_bytes());
    h.push(ty);
    h.extend_from_slice(&server_id.to_le_bytes());
    h.extend_from_slice(&(size as u32).to_le_bytes());
    h.extend_from_slice(&((at + size as u64) as u32).to_le_bytes());
    h.extend_from_slice(&flags.to_le_bytes());
    h
}

/// The two formats the `views` target decodes with.
pub fn formats() -> [Format; 2] {
    let my = Format::from_fde_event(&mysql80_fde()).expect("MySQL 8.0 FDE parses");
    let ma = Format::from_fde_event(MARIADB_1011_FDE).expect("MariaDB 10.11 FDE parses");
    [my, ma]
}

/// `views`: `data[0]` is the event type, the rest the body; a valid header
/// (right `event_size`, no checksum) is built around it and every typed view
/// runs on it under a MySQL 8.0 and a MariaDB 10.11 format. The same bytes are
/// then also read as an event whose last four bytes are a CRC.
pub fn views_target(data: &[u8], formats: &[Format]) {
    let Some((&ty, body)) = data.split_first() else {
        return;
    };
    let size = HEADER_LEN + body.len();
    let mut ev = header(ty, 1, size, 4, 0);
    ev.extend_from_slice(body);
    for fmt in formats {
        for crc in [false, true] {
            if let Ok(raw) = RawEvent::new(4, &ev, crc) {
                assert_eq!(raw.body().len(), body.len() - if crc { 4 } else { 0 });
                let mut g = TrxGrouper::new();
                exercise_event(&raw, fmt, &mut g, 0);
                let mut g = TrxGrouper::mid_stream();
                if let Ok(c) = classify(&raw, fmt) {
                    g.feed(c);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// target `dump`

/// `dump`: arbitrary bytes as a whole file through `inspect::dump` (text and
/// JSON, rows off and on), `verify` and `Stats::add_file`. Beyond "no panic":
/// JSON output is one valid object per line, and what `verify` accepts,
/// `dump` (rows off) and `stats` accept too.
pub fn dump_target(data: &[u8]) {
    let file = LogFile::from_bytes("fuzz.bin", data.to_vec());
    let len = data.len() as u64;
    let tol = RecoveryMode::TolerateTruncatedTail;
    let abs = RecoveryMode::AbsoluteConsistency;

    for (rows, json, no_verify, recovery) in
        [(false, false, false, abs), (true, false, false, tol), (false, false, true, tol), (true, false, true, abs)]
    {
        let opts = DumpOptions { rows, json, no_verify, recovery, ..Default::default() };
        let _ = dump(&mut std::io::sink(), &file, &opts);
    }
    // Start/stop positions somewhere inside the file.
    let opts = DumpOptions {
        start_position: Some(len / 3),
        stop_position: Some(len - len / 3),
        recovery: tol,
        ..Default::default()
    };
    let _ = dump(&mut std::io::sink(), &file, &opts);

    // JSON: every line is a JSON object. Only without rows: `dump --json
    // --rows` currently appends the text `### ...` row lines between the
    // JSON objects (inspect/dump.rs writes RowPrinter output as is).
    let mut out = Vec::new();
    let opts = DumpOptions { json: true, recovery: tol, ..Default::default() };
    let _ = dump(&mut out, &file, &opts);
    let text = String::from_utf8(out).expect("dump --json writes UTF-8");
    for line in text.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("dump --json line is not JSON ({e}): {line}"));
        assert!(v.is_object(), "dump --json line is not an object: {line}");
    }
    let opts = DumpOptions { json: true, rows: true, recovery: tol, ..Default::default() };
    let _ = dump(&mut std::io::sink(), &file, &opts);

    let v_abs = verify(&file, abs);
    let v_tol = verify(&file, tol);
    match (&v_abs, &v_tol) {
        (Ok(a), Ok(t)) => assert_eq!(a, t, "verify differs by recovery mode on a clean file"),
        (Err(_), Ok(t)) => assert!(
            matches!(t.tail, Tail::Incomplete(_)),
            "strict verify failed, tolerant verify passed without a truncated tail"
        ),
        (Ok(_), Err(e)) => panic!("strict verify passed, tolerant verify failed: {e}"),
        (Err(_), Err(_)) => {}
    }
    if let Err(e) = &v_tol {
        let _ = e.to_string();
    }
    if let Ok(r) = &v_tol {
        let _ = r.line(&file);
        match r.tail {
            Tail::Clean => assert_eq!(r.bytes, len, "verify bytes != file length"),
            Tail::Incomplete(inc) if len >= 4 => {
                assert_eq!(r.bytes, inc.at, "verify bytes != start of truncated tail")
            }
            _ => {}
        }
        // What verify accepts (every body decoded, every CRC checked),
        // dump without rows and stats accept too.
        let opts = DumpOptions { recovery: tol, ..Default::default() };
        if let Err(e) = dump(&mut std::io::sink(), &file, &opts) {
            panic!("verify passed but dump failed: {e}");
        }
        let mut st = Stats::new();
        let so = StatsOptions { recovery: tol, ..Default::default() };
        if let Err(e) = st.add_file(&file, so) {
            panic!("verify passed but stats failed: {e}");
        }
        assert_eq!(st.events, r.events, "stats and verify count different events");
    }

    for no_verify in [false, true] {
        for recovery in [abs, tol] {
            let mut st = Stats::new();
            let so = StatsOptions { no_verify, recovery };
            let _ = st.add_file(&file, so);
            // A second file continues the stream (grouper carried over).
            let _ = st.add_file(&file, so);
            let _ = st.to_text();
            let _ = st.to_json().to_string();
        }
    }
    let _ = std::io::sink().flush();
}
