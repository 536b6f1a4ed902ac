//! The event walk on synthetic files: FDE switching in relay logs, checksum
//! rules, truncation at every byte, fusing after errors.

mod support;

use binlog_diff::event::views::{Query, QueryKind, Rotate};
use binlog_diff::event::{ChecksumAlg, EventIter, EventType, ParseErrorKind, Step, WalkOptions, flags};
use support::build::{event, fde, file, query_body, rotate_body};

const ON: WalkOptions = WalkOptions { verify_checksums: true };

/// Events (offset, type, bytes), the step that ended the walk, the error kind.
type Walked<'a> = (Vec<(u64, EventType, Vec<u8>)>, Option<Step<'a>>, Option<ParseErrorKind>);

fn walk(data: &[u8]) -> Walked<'_> {
    let mut it = EventIter::new(data, ON);
    let mut evs = Vec::new();
    loop {
        match it.next_step() {
            Ok(Some(Step::Event(e))) => {
                let f = it.format().unwrap();
                let detail = match e.event_type() {
                    EventType::QUERY => Query::parse(&e, f).unwrap().sql.to_vec(),
                    EventType::ROTATE => Rotate::parse(&e, f).unwrap().next_file.to_vec(),
                    _ => Vec::new(),
                };
                evs.push((e.offset(), e.event_type(), detail));
            }
            Ok(Some(s @ Step::Incomplete(_))) => return (evs, Some(s), None),
            Ok(None) => return (evs, None, None),
            Err(e) => return (evs, None, Some(e.kind)),
        }
    }
}

/// Relay log where the replica checksums and the master does not: the
/// replica's FDE (CRC32), the master's fake ROTATE (no CRC) and FDE (OFF),
/// master events without CRC, and the replica's own closing ROTATE with CRC.
#[test]
fn relay_log_replica_crc32_master_none() {
    let data = file(&[
        fde(2, "10.11.19-MariaDB-log", true, flags::RELAY_LOG),
        event(4, 1, 0, flags::ARTIFICIAL, &rotate_body("mysql-bin.000007", 4), false),
        fde(1, "10.11.19-MariaDB-log", false, 0),
        event(2, 1, 500, 0, &query_body("db", b"BEGIN"), false),
        event(2, 1, 600, 0, &query_body("db", b"INSERT INTO t VALUES (1)"), false),
        event(16, 1, 631, 0, &7u64.to_le_bytes(), false),
        event(4, 2, 0, 0, &rotate_body("relay-bin.000002", 4), true),
    ]);
    let (evs, tail, err) = walk(&data);
    assert_eq!(err, None);
    assert_eq!(tail, None);
    let names: Vec<_> = evs.iter().map(|e| e.1).collect();
    use EventType as T;
    assert_eq!(names, [T::FORMAT_DESCRIPTION, T::ROTATE, T::FORMAT_DESCRIPTION, T::QUERY, T::QUERY, T::XID, T::ROTATE]);
    assert_eq!(evs[1].2, b"mysql-bin.000007", "fake rotate name must not include a CRC");
    assert_eq!(evs[4].2, b"INSERT INTO t VALUES (1)");
    assert_eq!(evs[6].2, b"relay-bin.000002", "the replica's own rotate carries its CRC");
}

/// The other way round: replica NONE, master CRC32.
#[test]
fn relay_log_replica_none_master_crc32() {
    let data = file(&[
        fde(2, "8.0.36", false, flags::RELAY_LOG),
        event(4, 1, 0, flags::ARTIFICIAL, &rotate_body("binlog.000003", 4), true),
        fde(1, "8.0.36", true, 0),
        event(2, 1, 500, 0, &query_body("db", b"BEGIN"), true),
        event(16, 1, 531, 0, &9u64.to_le_bytes(), true),
        event(4, 2, 0, 0, &rotate_body("relay-bin.000009", 4), false),
    ]);
    let (evs, _, err) = walk(&data);
    assert_eq!(err, None);
    assert_eq!(evs[1].2, b"binlog.000003");
    assert_eq!(evs[3].2, b"BEGIN");
    assert_eq!(evs[5].2, b"relay-bin.000009");
    // The governing alg switched with the master's FDE.
    let mut it = EventIter::new(&data, ON);
    let mut algs = Vec::new();
    while let Ok(Some(Step::Event(_))) = it.next_step() {
        algs.push(it.format().unwrap().checksum);
    }
    assert_eq!(algs[0], ChecksumAlg::Off);
    assert_eq!(algs[3], ChecksumAlg::Crc32);
}

#[test]
fn damaged_event_under_master_crc_is_caught() {
    let mut data = file(&[
        fde(2, "8.0.36", false, flags::RELAY_LOG),
        fde(1, "8.0.36", true, 0),
        event(2, 1, 500, 0, &query_body("db", b"INSERT INTO t VALUES (42)"), true),
    ]);
    let n = data.len();
    data[n - 8] ^= 0x01; // flip a bit in the SQL text
    let (evs, _, err) = walk(&data);
    assert_eq!(evs.len(), 2);
    assert!(matches!(err, Some(ParseErrorKind::ChecksumMismatch { .. })), "{err:?}");
}

#[test]
fn fde_in_use_flag_does_not_break_its_crc() {
    let mut f = fde(1, "10.11.19-MariaDB-log", true, flags::BINLOG_IN_USE);
    let data = file(&[f.clone(), event(3, 1, 0, 0, &[], true)]);
    assert_eq!(walk(&data).2, None);
    // The server clears the flag in place on close; the CRC stays valid.
    f[17] &= !1;
    let data = file(&[f, event(3, 1, 0, 0, &[], true)]);
    assert_eq!(walk(&data).2, None);
}

/// Cutting a valid file at every byte gives the events before the cut and
/// then `Incomplete` at the cut event (or a clean end on a boundary), never
/// an error or a panic.
#[test]
fn truncation_at_every_byte_is_incomplete_not_error() {
    let events = vec![
        fde(1, "10.11.19-MariaDB-log", true, 0),
        event(2, 1, 0, 0, &query_body("db", b"BEGIN"), true),
        event(2, 1, 0, 0, &query_body("db", b"UPDATE t SET a=a+1"), true),
        event(16, 1, 0, 0, &1u64.to_le_bytes(), true),
    ];
    let data = file(&events);
    let mut bounds = vec![4u64];
    for e in &events {
        bounds.push(bounds.last().unwrap() + e.len() as u64);
    }
    for cut in 0..=data.len() {
        let (evs, tail, err) = walk(&data[..cut]);
        assert_eq!(err, None, "cut at {cut}");
        let whole = bounds.iter().filter(|&&b| b <= cut as u64).count().saturating_sub(1);
        assert_eq!(evs.len(), whole, "cut at {cut}");
        let on_boundary = cut == 0 || bounds.contains(&(cut as u64));
        match tail {
            None => assert!(on_boundary, "cut at {cut} should be incomplete"),
            Some(Step::Incomplete(i)) => {
                assert!(!on_boundary, "cut at {cut}");
                let start = if cut < 4 { 0 } else { bounds[whole] };
                assert_eq!(i.at, start, "cut at {cut}");
                assert_eq!(i.available, cut as u64 - start);
            }
            Some(Step::Event(_)) => unreachable!(),
        }
    }
}

#[test]
fn walk_is_fused_after_an_error() {
    let data = file(&[fde(1, "8.0.36", true, 0), event(200, 1, 0, 0, b"x", true), event(3, 1, 0, 0, &[], true)]);
    let mut it = EventIter::new(&data, ON);
    assert!(matches!(it.next_step(), Ok(Some(Step::Event(_)))));
    let e = it.next_step().unwrap_err();
    assert_eq!(e.kind, ParseErrorKind::UnknownEventType(200));
    assert_eq!(e.at, 4 + data[4 + 9] as u64, "error names the event's offset");
    for _ in 0..3 {
        assert_eq!(it.next_step(), Ok(None));
    }
}

#[test]
fn unknown_ignorable_event_is_skipped() {
    let data = file(&[
        fde(1, "5.7.12", true, 0),
        event(100, 1, 0, flags::IGNORABLE, b"pad", true),
        event(3, 1, 0, 0, &[], true),
    ]);
    let (evs, _, err) = walk(&data);
    assert_eq!(err, None);
    assert_eq!(evs.len(), 3);
}

#[test]
fn old_formats_are_rejected_clearly() {
    // v3: START_EVENT_V3 with binlog_version 3 and a 19-byte header.
    let mut body = 3u16.to_le_bytes().to_vec();
    body.extend_from_slice(&[0u8; 54]);
    let data = file(&[event(1, 1, 0, 0, &body, false)]);
    assert_eq!(walk(&data).2, Some(ParseErrorKind::UnsupportedBinlogVersion(3)));
    // Not a binlog at all.
    assert_eq!(walk(b"-----BEGIN PUBLIC KEY-----").2, Some(ParseErrorKind::BadMagic));
    // First event not an FDE.
    let data = file(&[event(2, 1, 0, 0, &query_body("d", b"BEGIN"), false)]);
    assert_eq!(walk(&data).2, Some(ParseErrorKind::NoFormatDescription));
}

#[test]
fn query_kinds() {
    for (sql, k) in [
        (&b"BEGIN"[..], QueryKind::Begin),
        (b"COMMIT", QueryKind::Commit),
        (b"ROLLBACK", QueryKind::Rollback),
        (b"ROLLBACK TO SAVEPOINT a", QueryKind::Savepoint),
        (b"XA START X'31',X'',1", QueryKind::XaStart),
        (b"XA COMMIT X'31',X'',1", QueryKind::XaCommit),
        (b"COMMIT /* x */", QueryKind::Other),
        (b"create table t (a int)", QueryKind::Other),
        (b"\xff\xfe", QueryKind::Other),
    ] {
        assert_eq!(QueryKind::of(sql), k, "{}", String::from_utf8_lossy(sql));
    }
}
