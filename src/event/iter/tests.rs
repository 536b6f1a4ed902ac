//! The torn-end rule on real MariaDB 10.11 files (testdata/mariadb),
//! with one header field changed as damage would change it.
use super::*;
use crate::event::error::{ParseError, ParseErrorKind};
use crate::event::header::HEADER_LEN;
use crate::event::types::{EventType, flags};

fn fixture(rel: &str) -> Vec<u8> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/mariadb").join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// (offset, size, log_pos) of every event of a whole file.
fn events(b: &[u8]) -> Vec<(usize, u32, u32)> {
    let mut it = EventIter::new(b, WalkOptions::default());
    let mut v = Vec::new();
    while let Some(s) = it.next_step().unwrap() {
        let Step::Event(e) = s else { panic!("not whole: {s:?}") };
        v.push((e.offset() as usize, e.size() as u32, e.log_pos()));
    }
    v
}

/// How a walk ends: `Ok(None)` on a boundary, `Ok(Some(_))` torn, `Err` damaged.
fn end(b: &[u8]) -> Result<Option<Incomplete>, ParseError> {
    let mut it = EventIter::new(b, WalkOptions::default());
    loop {
        match it.next_step()? {
            None => return Ok(None),
            Some(Step::Incomplete(i)) => return Ok(Some(i)),
            Some(Step::Event(_)) => {}
        }
    }
}

fn with_size(b: &[u8], at: usize, size: u32) -> Vec<u8> {
    let mut d = b.to_vec();
    d[at + 9..at + 13].copy_from_slice(&size.to_le_bytes());
    d
}

fn contradiction(size: u32, log_pos: u32, by_log_pos: i64) -> ParseErrorKind {
    ParseErrorKind::LengthContradictsLogPos { event_size: size, log_pos, by_log_pos }
}

/// Every event cut short is a torn end, header fragments included.
fn assert_every_cut_is_torn(b: &[u8], name: &str) {
    for (at, size, _) in events(b) {
        for cut in [at + 1, at + 18, at + 19, at + size as usize - 1] {
            if cut >= at + size as usize {
                continue;
            }
            let needed = if cut - at < HEADER_LEN { HEADER_LEN as u64 } else { u64::from(size) };
            let want = Incomplete { at: at as u64, available: (cut - at) as u64, needed };
            assert_eq!(end(&b[..cut]), Ok(Some(want)), "{name} cut at {cut}");
        }
    }
}

/// The case: a bit flipped in a length field makes an event run
/// past the end of the file with whole events after it; its `log_pos`
/// (offset + real size in a binlog) says otherwise. The same event
/// really cut short (header fragments included) is a torn end.
#[test]
fn a_longer_length_in_a_binlog_is_damage_a_cut_is_a_torn_end() {
    for f in ["row-crc32/master/mysql-bin.000002", "stmt-none/master/mysql-bin.000002"] {
        let b = fixture(f);
        assert_every_cut_is_torn(&b, f);
        for (at, size, lp) in events(&b) {
            for bit in [13, 20, 30] {
                let d = with_size(&b, at, size ^ (1 << bit));
                let e = end(&d).expect_err(&format!("{f}: size of the event at {at} with bit {bit} flipped"));
                assert_eq!((e.at, e.event_type), (at as u64, Some(EventType(b[at + 4]))), "{f} @ {at}");
                assert_eq!(e.kind, contradiction(size ^ (1 << bit), lp, i64::from(size)), "{f} @ {at}");
            }
        }
    }
}

/// A shorter length makes the event whole but wrong: with CRC32 its
/// checksum fails; without, what follows is no event, and the walk never
/// takes it for a torn end (the shortened event's `log_pos` already
/// contradicts where it ends).
#[test]
fn a_shorter_length_is_never_a_torn_end() {
    for (f, crc) in [("row-crc32/master/mysql-bin.000002", true), ("stmt-none/master/mysql-bin.000002", false)] {
        let b = fixture(f);
        for (at, size, _) in events(&b) {
            for bit in 0..9 {
                let short = size & !(1 << bit);
                if short == size || short < 23 {
                    continue;
                }
                let r = end(&with_size(&b, at, short));
                assert!(
                    !matches!(r, Ok(Some(_))),
                    "{f}: event at {at} shortened to {short} taken for a torn end: {r:?}"
                );
                if crc {
                    assert!(r.is_err(), "{f}: event at {at} shortened to {short}: {r:?}");
                }
            }
        }
    }
}

/// A binlog whose events stop being where their `log_pos` say (an
/// earlier length shortened, no checksums) cannot end torn: the damage
/// is named at the first event that broke the rule.
#[test]
fn an_earlier_misplaced_event_contradicts_a_torn_end() {
    let b = fixture("stmt-none/master/mysql-bin.000002");
    let evs = events(&b);
    let (at, size, lp) = evs[evs.len() / 2];
    // Shortened by 4, and those 4 bytes gone: the walk stays aligned, and
    // the file is cut in the middle of its second-to-last event.
    let mut d = with_size(&b, at, size - 4);
    let next = at + size as usize;
    d.drain(next - 4..next);
    let (torn_at, torn_size, _) = evs[evs.len() - 2];
    let cut = torn_at + torn_size as usize / 2;
    assert!(cut - torn_at > HEADER_LEN);
    d.truncate(cut - 4);
    let e = end(&d).unwrap_err();
    assert_eq!((e.at, e.kind), (at as u64, contradiction(size - 4, lp, i64::from(size))));
    // The same cut of the undamaged file is a torn end.
    assert!(matches!(end(&b[..cut]), Ok(Some(_))));
}

/// `log_pos` 0 says nothing (fake rotates, some relay-log events): only
/// "runs past the end" applies.
#[test]
fn log_pos_zero_gives_no_evidence() {
    let b = fixture("row-crc32/master/mysql-bin.000002");
    let (at, size, lp) = events(&b)[6];
    let mut d = with_size(&b, at, size ^ (1 << 20));
    assert_eq!(end(&d).unwrap_err().kind, contradiction(size ^ (1 << 20), lp, i64::from(size)));
    d[at + 13..at + 17].copy_from_slice(&0u32.to_le_bytes());
    assert!(matches!(end(&d), Ok(Some(Incomplete { at: a, .. })) if a == at as u64));
}

#[test]
fn a_torn_event_of_no_known_type_is_damage() {
    let b = fixture("row-crc32/master/mysql-bin.000002");
    let (at, size, _) = events(&b)[6];
    let mut d = b[..at + size as usize - 1].to_vec();
    d[at + 4] = 0xee;
    assert_eq!(end(&d).unwrap_err().kind, ParseErrorKind::UnknownEventType(0xee));
    d[at + 17] |= flags::IGNORABLE as u8; // 0x80 is in the low byte
    assert!(matches!(end(&d), Ok(Some(_))));
}

/// A relay log's `log_pos` is the master's: the chain from the previous
/// master event is the evidence, once that one chained onto its own
/// predecessor; the replica's own events are in the relay log's own
/// coordinates.
#[test]
fn relay_logs_are_judged_by_the_master_chain() {
    for f in ["row-crc32/replica/relay-bin.000001", "row-crc32/replica/relay-bin.000004"] {
        assert_every_cut_is_torn(&fixture(f), f);
    }
    let b = fixture("row-crc32/replica/relay-bin.000004");
    let evs = events(&b);
    // own FDE, fake rotate (log_pos 0), the master's FDE (log_pos 256, after
    // the fake rotate: not chained), GTID_LIST (299 = 256 + 43: chained), ...
    assert_eq!(evs[..4].iter().map(|e| (e.0, e.2)).collect::<Vec<_>>(), [(4, 256), (256, 0), (303, 256), (555, 299)]);
    for (i, &(at, size, lp)) in evs.iter().enumerate() {
        let r = end(&with_size(&b, at, size ^ (1 << 20)));
        if i == 1 {
            // The fake rotate: log_pos 0, no evidence.
            assert!(matches!(r, Ok(Some(_))), "event {i} at {at}: {r:?}");
            continue;
        }
        // The replica's own FDE (its own coordinates), the master's FDE
        // (from its file's start, 4), then the chain.
        let own = b[at + 5] == 2; // the replica's server id: its own FDE, and STOP at the end
        let from = match i {
            _ if own => at as i64,
            2 => 4,
            _ => i64::from(evs[i - 1].2),
        };
        let e = r.unwrap_err();
        assert_eq!((e.at, e.kind), (at as u64, contradiction(size ^ (1 << 20), lp, i64::from(lp) - from)), "{i}");
    }
    // An event after a chain break gives no evidence: here, a master
    // event after the replica's own FDE (log_pos rewritten to break it).
    let mut d = with_size(&b, evs[3].0, evs[3].1 ^ (1 << 20));
    d[evs[2].0 + 13..evs[2].0 + 17].copy_from_slice(&300u32.to_le_bytes()); // not 4 + 252
    let crc_fixed = {
        let (a, s) = (evs[2].0, evs[2].1 as usize);
        let c = crate::event::checksum::compute_crc32(&d[a..a + s - 4]);
        d[a + s - 4..a + s].copy_from_slice(&c.to_le_bytes());
        d
    };
    assert!(matches!(end(&crc_fixed), Ok(Some(Incomplete { at, .. })) if at == evs[3].0 as u64));
    // The replica's own ROTATE closing a relay file: its own coordinates too.
    let b = fixture("row-crc32/replica/relay-bin.000001");
    let (at, size, lp) = events(&b)[1];
    assert_eq!(end(&with_size(&b, at, size + 1000)).unwrap_err().kind, contradiction(size + 1000, lp, 47));
}

/// A master leaves out events a replica does not ask for (MariaDB's
/// ANNOTATE_ROWS when the replica does not replicate them): a gap in
/// the chain. An event torn after a gap is still a torn end; a length
/// past what the gap leaves is not.
#[test]
fn a_gap_in_a_relay_chain_is_not_evidence_of_damage() {
    let b = fixture("row-crc32/replica/relay-bin.000004");
    let evs = events(&b);
    let ann = evs.iter().position(|e| b[e.0 + 4] == EventType::MARIA_ANNOTATE_ROWS.0).unwrap();
    let (a_at, a_size, _) = evs[ann];
    let (_, tm_size, tm_lp) = evs[ann + 1];
    let (_, _, gtid_lp) = evs[ann - 1];
    let mut gap = b[..a_at].to_vec();
    gap.extend_from_slice(&b[a_at + a_size as usize..]);
    // The TABLE_MAP now at a_at, torn: 70 + 56 bytes of master
    // coordinates since the GTID before it, for 56.
    assert!(matches!(end(&gap[..a_at + 30]), Ok(Some(Incomplete { at, .. })) if at == a_at as u64));
    let room = tm_lp - gtid_lp;
    assert_eq!(room, a_size + tm_size);
    let short = &gap[..a_at + room as usize];
    let e = end(&with_size(short, a_at, room + 1)).unwrap_err();
    assert_eq!(e.kind, contradiction(room + 1, tm_lp, i64::from(room)));
    // As long as the gap leaves: no evidence.
    assert!(matches!(end(&with_size(&gap[..a_at + 100], a_at, room)), Ok(Some(_))));
}

/// Before the format description: the file's own coordinates; and the
/// first event must be an FDE even when torn.
#[test]
fn a_torn_format_description() {
    let b = fixture("row-crc32/master/mysql-bin.000002");
    for cut in [1, 3, 5, 22, 23, 255] {
        assert!(matches!(end(&b[..cut]), Ok(Some(_))), "cut at {cut}");
    }
    assert_eq!(end(&b[..4]), Ok(None));
    let e = end(&with_size(&b[..200], 4, 252 + 4096)).unwrap_err();
    assert_eq!(e.kind, contradiction(252 + 4096, 256, 252));
    let mut d = b[..200].to_vec();
    d[4 + 4] = EventType::QUERY.0;
    assert_eq!(end(&d).unwrap_err().kind, ParseErrorKind::NoFormatDescription);
}
