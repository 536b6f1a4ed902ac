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
use binlog_diff::position::{Executed, GtidSet, MariaState, OwnState, errant};

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

// ---------------------------------------------------------------------------
// target `gtid_sets`

/// Two texts from one input: before and after the first NUL byte (lossy
/// UTF-8: the parsers take `&str`).
pub fn two_texts(data: &[u8]) -> (String, String) {
    let (a, b) = match data.iter().position(|&c| c == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    (String::from_utf8_lossy(a).into_owned(), String::from_utf8_lossy(b).into_owned())
}

/// A reference model of a MySQL GTID set: per `(uuid, tag)`, sorted, disjoint,
/// non-adjacent closed intervals (i128: no overflow at the i64 edges);
/// reversed intervals (`5-3`) are empty; keys without a gno are left out.
type GtidModel = std::collections::BTreeMap<(String, String), Vec<(i128, i128)>>;

fn model_of(set: &GtidSet) -> GtidModel {
    let mut out = GtidModel::new();
    for (k, ivs) in &set.map {
        let mut v: Vec<(i128, i128)> =
            ivs.iter().filter(|(a, b)| a <= b).map(|&(a, b)| (i128::from(a), i128::from(b))).collect();
        v.sort_unstable();
        let mut merged: Vec<(i128, i128)> = Vec::new();
        for (a, b) in v {
            match merged.last_mut() {
                Some(last) if a <= last.1 + 1 => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        if !merged.is_empty() {
            out.insert(k.clone(), merged);
        }
    }
    out
}

fn model_minus(a: &GtidModel, b: &GtidModel) -> GtidModel {
    let mut out = GtidModel::new();
    for (k, ivs) in a {
        let empty = Vec::new();
        let theirs = b.get(k).unwrap_or(&empty);
        let mut left = Vec::new();
        for &(x, y) in ivs {
            let mut from = x;
            for &(p, q) in theirs {
                if q < from || p > y {
                    continue;
                }
                if p > from {
                    left.push((from, p - 1));
                }
                from = from.max(q + 1);
            }
            if from <= y {
                left.push((from, y));
            }
        }
        if !left.is_empty() {
            out.insert(k.clone(), left);
        }
    }
    out
}

fn model_contains(m: &GtidModel, key: &(String, String), gno: i128) -> bool {
    m.get(key).is_some_and(|v| v.iter().any(|&(a, b)| a <= gno && gno <= b))
}

/// The text `GtidSet::parse` reads back as `set` (its `Display`-like form).
pub fn gtid_set_text(set: &GtidSet) -> String {
    set.to_list().join(",")
}

/// `gtid_sets`: two GTID texts (split at the first NUL), each read as a
/// MariaDB GTID list and as a MySQL GTID set. Beyond "no panic": what is
/// accepted reads back equal from its text; the set operations the driver
/// uses agree with a reference model (`minus`, `covers`, `contains`), and
/// the errant transactions of two servers are their own and the other's lack.
pub fn gtid_sets(data: &[u8]) {
    let (ta, tb) = two_texts(data);
    let (ta, tb) = (ta.as_str(), tb.as_str());

    // MariaDB: `domain-server-seq` lists.
    let ma = MariaState::parse(ta);
    let mb = MariaState::parse(tb);
    for m in [&ma, &mb] {
        match m {
            Ok(s) => check_maria_state(s),
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
    if let (Ok(a), Ok(b)) = (&ma, &mb) {
        // `add` keeps the highest seq_no per (domain, server).
        let mut ab = a.clone();
        ab.add(tb).expect("a list that parses alone adds");
        for (k, &n) in &ab.map {
            assert_eq!(Some(n), a.map.get(k).copied().max(b.map.get(k).copied()), "add at {k:?}");
        }
        assert_eq!(ab.map.len(), a.map.keys().chain(b.map.keys()).collect::<std::collections::BTreeSet<_>>().len());
        // What repointing computes (`repoint::gtid_start`): before + applied, per domain.
        let pos = MariaState::parse(&ab.domain_position()).expect("domain_position reads back");
        for &(d, _) in ab.map.keys() {
            assert_eq!(pos.domain_seq(d), ab.domain_seq(d), "domain_position of domain {d}");
        }
        let (ea, eb) = (Executed::Maria(a.clone()), Executed::Maria(b.clone()));
        let eab = Executed::Maria(ab.clone());
        assert_eq!(eab.covers(&ea), Some(true), "a ∪ b covers a");
        assert_eq!(eab.covers(&eb), Some(true), "a ∪ b covers b");
        // A MariaDB position holds its whole domain up to its highest seq_no.
        let top = |s: &MariaState, d: u32| s.map.iter().filter(|(k, _)| k.0 == d).map(|(_, &n)| n).max();
        let by_domain = b.map.keys().all(|&(d, _)| top(a, d).is_some_and(|x| Some(x) >= top(b, d)));
        assert_eq!(ea.covers(&eb), Some(by_domain), "MariaDB covers, by domain");
        check_errant_maria(a, b);
    }

    // MySQL: `uuid[:tag]:a-b:c` sets.
    let sa = GtidSet::parse(ta);
    let sb = GtidSet::parse(tb);
    for s in [&sa, &sb] {
        match s {
            Ok(s) => check_gtid_set(s),
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
    if let (Ok(a), Ok(b)) = (&sa, &sb) {
        let (ma, mb) = (model_of(a), model_of(b));
        let d = a.minus(b);
        assert_eq!(model_of(&d), model_minus(&ma, &mb), "a − b");
        assert!(d.map.values().flatten().all(|(x, y)| x <= y), "a − b holds a reversed interval: {d:?}");
        // (a − b) ∩ b = ∅, a covers a − b, b ∪ (a − b) covers a.
        let md = model_of(&d);
        for (k, ivs) in &md {
            for &(x, y) in ivs {
                let theirs = mb.get(k).map(Vec::as_slice).unwrap_or_default();
                assert!(theirs.iter().all(|&(p, q)| q < x || p > y), "(a − b) ∩ b at {k:?}:{x}-{y}");
            }
        }
        let (ea, eb, ed) = (Executed::Mysql(a.clone()), Executed::Mysql(b.clone()), Executed::Mysql(d.clone()));
        assert_eq!(ea.covers(&ed), Some(true), "a covers a − b");
        assert_eq!(ea.covers(&eb), Some(model_minus(&mb, &ma).is_empty()), "a covers b iff b − a is empty");
        assert_eq!(eb.covers(&ea), Some(md.is_empty()), "b covers a iff a − b is empty");
        let mut union = b.clone();
        for (k, v) in &d.map {
            union.map.entry(k.clone()).or_default().extend(v.iter().copied());
        }
        assert_eq!(Executed::Mysql(union).covers(&ea), Some(true), "b ∪ (a − b) covers a");
        // contains, at every interval's edges of either set.
        for (k, ivs) in a.map.iter().chain(&b.map) {
            for &(x, y) in ivs {
                for g in [x.checked_sub(1), Some(x), Some(y), y.checked_add(1)].into_iter().flatten() {
                    let want = model_contains(&ma, k, i128::from(g));
                    assert_eq!(a.contains_tagged(&k.0, &k.1, g), want, "contains {k:?}:{g}");
                    if k.1.is_empty() {
                        assert_eq!(a.contains(&k.0.to_ascii_uppercase(), g), want, "contains is case-blind");
                    }
                }
            }
        }
        check_errant_mysql(a, b);
    }

    // Either flavour, as plans and states carry them.
    for t in [ta, tb] {
        if let Ok(e) = Executed::parse(t) {
            assert_eq!(e.covers(&e), Some(true), "a set covers itself: {t:?}");
            let text = match &e {
                Executed::Maria(s) => s.to_text(),
                Executed::Mysql(s) => gtid_set_text(s),
            };
            // An empty MySQL set prints as "", which reads as an empty MariaDB one.
            let back = Executed::parse(&text).expect("an accepted set's text reads back");
            assert!(back == e || text.is_empty(), "{t:?} -> {text:?} -> {back:?}");
        }
    }
}

fn check_maria_state(s: &MariaState) {
    let text = s.to_text();
    assert_eq!(MariaState::parse(&text).ok().as_ref(), Some(s), "MariaDB list {text:?} reads back");
    let pos = s.domain_position();
    let p = MariaState::parse(&pos).expect("domain_position reads back");
    let domains: std::collections::BTreeSet<u32> = s.map.keys().map(|k| k.0).collect();
    assert_eq!(p.map.len(), domains.len(), "one GTID per domain in {pos:?}");
    for d in domains {
        assert_eq!(p.domain_seq(d), s.domain_seq(d), "domain {d} in {pos:?}");
        let best = p.map.keys().find(|k| k.0 == d).unwrap();
        assert_eq!(s.seq(best.0, best.1), p.domain_seq(d), "domain_position names a GTID of the list");
    }
}

fn check_gtid_set(s: &GtidSet) {
    let text = gtid_set_text(s);
    let back = GtidSet::parse(&text).unwrap_or_else(|e| panic!("GTID set text {text:?} does not read back: {e}"));
    assert_eq!(&back, s, "GTID set {text:?} reads back different");
    assert!(s.map.keys().all(|(u, t)| *u == u.to_ascii_lowercase() && *t == t.to_ascii_lowercase()));
    assert!(model_of(&s.minus(s)).is_empty(), "a − a is empty");
    assert_eq!(model_of(&s.minus(&GtidSet::default())), model_of(s), "a − ∅ = a");
}

fn check_errant_maria(a: &MariaState, b: &MariaState) {
    let id = |s: &MariaState| s.map.keys().next().map(|k| k.1).unwrap_or(0);
    let states = [
        Some(OwnState::Maria { server_id: id(a), state: a.clone() }),
        Some(OwnState::Maria { server_id: id(b), state: b.clone() }),
        None,
    ];
    let e = errant(&states);
    assert_eq!(e.len(), 3);
    assert!(e[2].is_empty());
    for (i, (own, other)) in [(a, b), (b, a)].into_iter().enumerate() {
        for g in &e[i] {
            let one = MariaState::parse(g).expect("an errant GTID reads back");
            let (&(d, sv), &n) = one.map.iter().next().expect("one GTID");
            assert_eq!(sv, id(own), "errant {g} is the server's own write");
            assert_eq!(own.seq(d, sv), Some(n), "errant {g} is in the server's state");
            assert!(other.seq(d, sv).is_none_or(|m| m < n), "errant {g}: the other has it");
        }
        let lacking = own.map.iter().filter(|&(&(d, sv), &n)| sv == id(own) && other.seq(d, sv).is_none_or(|m| m < n));
        assert_eq!(e[i].len(), lacking.count(), "every own write the other lacks is errant");
    }
}

fn check_errant_mysql(a: &GtidSet, b: &GtidSet) {
    let uuid = |s: &GtidSet| s.map.keys().next().map(|k| k.0.to_ascii_uppercase()).unwrap_or_default();
    let states = [
        Some(OwnState::Mysql { uuid: uuid(a), executed: a.clone() }),
        Some(OwnState::Mysql { uuid: uuid(b), executed: b.clone() }),
    ];
    let e = errant(&states);
    for (i, (own, other)) in [(a, b), (b, a)].into_iter().enumerate() {
        let set = GtidSet::parse(&e[i].join(",")).expect("errant GTIDs read back");
        let mine: GtidSet = GtidSet {
            map: own
                .map
                .iter()
                .filter(|(k, _)| k.0 == uuid(own).to_ascii_lowercase())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        };
        assert_eq!(model_of(&set), model_minus(&model_of(&mine), &model_of(other)), "errant of server {i}");
    }
}

// ---------------------------------------------------------------------------
// target `app_cnf`

/// `app_cnf`: the bytes (lossy UTF-8) as MHA's `app.cnf`, through
/// `AppConf::from_text`. Beyond "no panic": an error is a
/// `Config`/`BadInput` one whose text names the file; an accepted file
/// lists each server once (repeated sections merge), and `find` by a
/// server's own hostname and port returns it when nothing else matches.
pub fn app_cnf(data: &[u8]) {
    use binlog_diff::error::ErrorKind;
    use binlog_diff::phase::config::AppConf;
    let text = String::from_utf8_lossy(data);
    let path = std::path::Path::new("/fuzz/etc/app-fuzz.cnf");
    let c = match AppConf::from_text(&text, path) {
        Ok(c) => c,
        Err(e) => {
            assert!(matches!(e.kind(), ErrorKind::Config { .. } | ErrorKind::BadInput { .. }), "untyped: {e:?}");
            assert!(e.to_string().contains("/fuzz/etc/app-fuzz.cnf"), "error does not name the file: {e}");
            return;
        }
    };
    assert!(!c.servers.is_empty(), "accepted with no server");
    assert_eq!(c.path, path);
    let names: std::collections::BTreeSet<&str> = c.servers.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names.len(), c.servers.len(), "a server listed twice: {names:?}");
    for s in &c.servers {
        assert!(s.name.starts_with("server") && s.name != "server default", "not a server section: {:?}", s.name);
        let matching =
            c.servers.iter().filter(|o| (o.hostname == s.hostname || o.ip == s.hostname) && o.port == s.port);
        match (c.find(&s.hostname, Some(s.port)), matching.count()) {
            (Ok(found), 1) => assert_eq!(found.name, s.name, "find({}, {})", s.hostname, s.port),
            (Ok(found), n) => panic!("find({}, {}) gave {} of {n} matches", s.hostname, s.port, found.name),
            (Err(_), n) => assert_ne!(n, 1, "find({}, {}) missed the one match", s.hostname, s.port),
        }
    }
}

// ---------------------------------------------------------------------------
// target `info_files`

/// `info_files`: a `relay-log.info` and a `master.info` text (split at the
/// first NUL). Beyond "no panic": what is accepted, written back in the
/// line-count layout (MySQL 5.6+, MariaDB) and, for `relay-log.info`, the
/// old one without a count, reads back the same; `relay_log_path` (which
/// finds the relay series) names the file `parse_relay_log_info` accepted.
pub fn info_files(data: &[u8]) {
    use binlog_diff::log::info::{parse_master_info, parse_relay_log_info, relay_log_path};
    let (relay, master) = two_texts(data);
    let datadir = std::path::Path::new("/fuzz/datadir");
    let path = relay_log_path(&relay, datadir);
    match parse_relay_log_info(&relay, datadir) {
        Ok(r) => {
            assert_eq!(path.as_ref(), Some(&r.relay_log_file), "relay_log_path disagrees on {relay:?}");
            let body = format!(
                "{}\n{}\n{}\n{}\n",
                r.relay_log_file.display(),
                r.relay_log_pos,
                r.master_log_file,
                r.master_log_pos
            );
            for text in [format!("5\n{body}0\n"), body] {
                let back = parse_relay_log_info(&text, std::path::Path::new("/elsewhere"));
                assert_eq!(
                    back.as_ref().ok(),
                    Some(&r),
                    "relay-log.info {text:?} (from {relay:?}) reads back {back:?}"
                );
                assert_eq!(relay_log_path(&text, datadir).as_ref(), Some(&r.relay_log_file));
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    match parse_master_info(&master) {
        Ok(m) => {
            let text = format!("33\n{}\n{}\n127.0.0.1\nrepl\nsecret\n3306\n", m.master_log_file, m.read_master_log_pos);
            let back = parse_master_info(&text);
            assert_eq!(back.as_ref().ok(), Some(&m), "master.info {text:?} (from {master:?}) reads back {back:?}");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

// ---------------------------------------------------------------------------
// target `json_docs`

/// Parses `text` as a `T` the way its reader does; an accepted document
/// serializes, and that text reads back equal.
fn json_round_trip<T>(text: &[u8], what: &str) -> Option<T>
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let v: T = serde_json::from_slice(text).ok()?;
    let out = serde_json::to_string(&v).unwrap_or_else(|e| panic!("accepted {what} does not serialize: {e}: {v:?}"));
    let back: T = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{what} {out} does not read back: {e}"));
    assert_eq!(back, v, "{what} reads back different from {out}");
    Some(v)
}

/// A node-protocol message as both ends read it: the request from the
/// node's standard input (`from_slice`), the reply from its standard output
/// (trimmed); then `open` checks the protocol.
fn envelope<T>(body: &[u8], what: &str) -> Option<T>
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    use binlog_diff::node::{Envelope, PROTOCOL};
    let trimmed = String::from_utf8_lossy(body);
    let _ = serde_json::from_str::<Envelope<T>>(trimmed.trim());
    let env: Envelope<T> = json_round_trip(body, what)?;
    let protocol = env.protocol;
    match env.open("fuzz") {
        Ok(b) => {
            assert_eq!(protocol, PROTOCOL);
            Some(b)
        }
        Err(e) => {
            assert_ne!(protocol, PROTOCOL);
            assert!(e.to_string().contains(&protocol.to_string()), "{e}");
            None
        }
    }
}

/// A folder of this process and thread for the documents read from files.
pub fn scratch_dir() -> std::path::PathBuf {
    let d =
        std::env::temp_dir().join(format!("binlog-diff-fuzz-{}-{:?}", std::process::id(), std::thread::current().id()));
    std::fs::create_dir_all(&d).expect("scratch folder");
    d
}

/// `json_docs`: `data[0]` selects the document, the rest is its text. Every
/// JSON document binlog-diff reads back from another process or host, or
/// from its own files: the node protocol's requests and replies, the plan,
/// replica states (serde and `list_from_json`), the failover's in-progress
/// record and the applier's resume state (with its journal after a NUL).
/// Beyond "no panic": an accepted document serializes and reads back equal;
/// what the driver then does with states (`latest`) does not panic.
pub fn json_docs(data: &[u8]) {
    use binlog_diff::apply::ResumeState;
    use binlog_diff::diff::PlanDoc;
    use binlog_diff::node::{ApplyReply, ApplyRequest, CutReply, CutRequest, SaveReply, SaveRequest};
    use binlog_diff::phase::record::Record;
    use binlog_diff::position::{ReplicaState, ReplicaStateDoc, latest};
    let Some((&sel, body)) = data.split_first() else { return };
    match sel % 11 {
        0 => drop(envelope::<CutRequest>(body, "CutRequest")),
        1 => drop(envelope::<SaveRequest>(body, "SaveRequest")),
        2 => drop(envelope::<ApplyRequest>(body, "ApplyRequest")),
        3 => drop(envelope::<SaveReply>(body, "SaveReply")),
        4 => drop(envelope::<ApplyReply>(body, "ApplyReply")),
        5 => {
            if let Some(plan) = envelope::<CutReply>(body, "CutReply") {
                for t in &plan.replicas {
                    assert!(plan.target(&t.state.name).is_some());
                }
            }
        }
        6 => drop(json_round_trip::<PlanDoc>(body, "PlanDoc")),
        7 => {
            // A state doc, then the typed state it converts to (and back).
            if let Some(doc) = json_round_trip::<ReplicaStateDoc>(body, "ReplicaStateDoc")
                && let Ok(st) = ReplicaState::try_from(doc)
            {
                let again = ReplicaStateDoc::from(&st);
                assert_eq!(ReplicaState::try_from(again.clone()).ok().as_ref(), Some(&st), "{again:?}");
                assert_eq!(serde_json::to_value(&again).expect("serializes"), st.to_json());
            }
        }
        8 => {
            // `diff --state -`: an array of states.
            let text = String::from_utf8_lossy(body);
            if let Ok(list) = ReplicaState::list_from_json(&text, std::path::Path::new("-")) {
                let json = serde_json::Value::Array(list.iter().map(ReplicaState::to_json).collect()).to_string();
                let back = ReplicaState::list_from_json(&json, std::path::Path::new("-"));
                assert_eq!(back.as_ref().ok(), Some(&list), "states {json} read back {back:?}");
                match latest(&list) {
                    Some(i) => assert!(i < list.len()),
                    None => assert!(list.is_empty()),
                }
            }
        }
        9 => {
            // The in-progress record, through `Record::load`.
            let dir = scratch_dir();
            let p = binlog_diff::phase::record::path(&dir);
            std::fs::write(&p, body).expect("write record");
            if let Ok(Some(r)) = Record::load(&dir) {
                let text = serde_json::to_string_pretty(&r).expect("a record serializes");
                std::fs::write(&p, text.as_bytes()).expect("write record");
                let back = Record::load(&dir);
                assert_eq!(back.as_ref().ok().and_then(Option::as_ref), Some(&r), "record {text} reads back {back:?}");
            }
        }
        _ => {
            // The applier's resume state (and its journal after a NUL), through load/save.
            let (state, journal) = match body.iter().position(|&c| c == 0) {
                Some(i) => (&body[..i], Some(&body[i + 1..])),
                None => (body, None),
            };
            let dir = scratch_dir();
            let p = dir.join("diff.apply-state");
            let j = binlog_diff::apply::state::journal_path(&p);
            std::fs::write(&p, state).expect("write state");
            match journal {
                Some(b) => std::fs::write(&j, b).expect("write journal"),
                None => {
                    let _ = std::fs::remove_file(&j);
                }
            }
            if let Ok(Some(s)) = ResumeState::load(&p) {
                let _ = std::fs::remove_file(&j);
                let q = dir.join("saved.apply-state");
                s.save(&q).expect("save a state");
                let back = ResumeState::load(&q);
                assert_eq!(back.as_ref().ok().and_then(Option::as_ref), Some(&s), "resume state reads back {back:?}");
            }
        }
    }
}

// ---------------------------------------------------------------------------
// target `known_hosts`

/// An ed25519 host key blob (`string "ssh-ed25519", string key`) around `k`.
fn ed25519_blob(k: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&11u32.to_be_bytes());
    b.extend_from_slice(b"ssh-ed25519");
    b.extend_from_slice(&u32::try_from(k.len()).unwrap_or(0).to_be_bytes());
    b.extend_from_slice(k);
    b
}

/// `known_hosts`: `data[0]` = selector (bit 7: port 2222, else 22; bits 5
/// and 6 both set: also record the key in a file), then a host name up to
/// the first newline, 32 ed25519 key bytes (shorter: zero-padded), then a
/// known_hosts text. `remote::host_key_verdict` judges the key with the
/// text as a known-hosts file. Beyond "no panic":
/// - `Match` only when the key's base64 is in the text; `Revoked`/`Mismatch`
///   name that file and a line of it;
/// - with a `@revoked` line of the key appended: `Revoked`, whatever else;
/// - for a plain host name libssh2 can read (at most 254 bytes as
///   written), with the key's own line (`known_hosts_line`:
///   `host` or `[host]:port`) appended: `Match`, unless the text revokes the
///   key (then still `Revoked`); and after `record_host_key` into a file
///   holding the text, the same.
pub fn known_hosts(data: &[u8]) {
    use binlog_diff::remote::known_hosts::{key_type_of, known_hosts_line, record_host_key};
    use binlog_diff::remote::{Verdict, host_key_verdict};
    let Some((&sel, rest)) = data.split_first() else { return };
    let port: u16 = if sel & 0x80 != 0 { 2222 } else { 22 };
    let (host, rest) = match rest.iter().position(|&c| c == b'\n') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let host = String::from_utf8_lossy(host).into_owned();
    let mut k = [0u8; 32];
    let n = rest.len().min(32);
    k[..n].copy_from_slice(&rest[..n]);
    let text = String::from_utf8_lossy(&rest[n..]).into_owned();
    let key = ed25519_blob(&k);
    assert_eq!(key_type_of(&key), Some("ssh-ed25519"));
    let own = known_hosts_line(&host, port, &key);
    let b64 = own.rsplit(' ').next().unwrap_or_default().to_string();
    let path = std::path::PathBuf::from("/fuzz/known_hosts");
    let judge = |t: &str| host_key_verdict(&[(path.clone(), t.to_string())], &host, port, &key);
    let v = judge(&text);
    let lines = text.lines().count();
    match &v {
        Verdict::Match => assert!(text.contains(&b64), "a key not in the file matched for {host:?}"),
        Verdict::Revoked { file, line } | Verdict::Mismatch { file, line } => {
            assert_eq!(file, &path);
            assert!((1..=lines).contains(line), "line {line} of {lines}");
        }
        Verdict::Unknown => {}
    }
    // A revoked key is refused whatever the other lines say.
    let revoked = format!("{text}\n@revoked * ssh-ed25519 {b64}\n");
    assert!(matches!(judge(&revoked), Verdict::Revoked { .. }), "@revoked * ssh-ed25519 {b64} not revoked");
    // The key's own line: known, unless revoked.
    let plain = |h: &str| !h.is_empty() && h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    // libssh2 reads a known-hosts name (`host` or `[host]:port`) of at most
    // 254 bytes; a longer one is no line at all (DNS names have 253 at most).
    if !plain(&host) || own.split(' ').next().is_none_or(|name| name.len() > 254) {
        return;
    }
    let with = format!("{text}\n{own}\n");
    let was_revoked = matches!(v, Verdict::Revoked { .. });
    match judge(&with) {
        Verdict::Match => assert!(!was_revoked, "a revoked key matched"),
        Verdict::Revoked { .. } => assert!(was_revoked, "{own} appended made the key revoked"),
        other => panic!("{own}: its own line gives {other:?}"),
    }
    if sel & 0x60 == 0x60 {
        let file = scratch_dir().join("known_hosts");
        std::fs::write(&file, &text).expect("write known_hosts");
        let added = record_host_key(&file, &host, port, &key).expect("record a host key");
        let after = std::fs::read_to_string(&file).expect("read known_hosts");
        assert!(after.starts_with(&text), "recording rewrote the file's lines");
        assert!(added || after == text, "nothing added, yet the file changed");
        match host_key_verdict(&[(file, after.clone())], &host, port, &key) {
            Verdict::Match => assert!(!was_revoked, "a revoked key matched"),
            Verdict::Revoked { .. } => assert!(was_revoked),
            other => panic!("{own} recorded, then {other:?}: {after:?}"),
        }
    }
}
