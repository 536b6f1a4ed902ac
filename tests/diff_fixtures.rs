//! Positions and diffs on real MariaDB fixtures (testdata/mariadb, made by
//! scripts/gen-mariadb-fixtures.sh): for every transaction boundary of the
//! master's binlogs, the relay position mapped on the replica, cut as a
//! relay diff, holds exactly the master events after that boundary, byte
//! for byte, as the saved master binlog tail from the same boundary does.

mod support;

use support::fixtures::*;

use std::path::Path;

use binlog_diff::diff::{CutOptions, relay_diff, save_binlog};
use binlog_diff::event::{EventType, Step, WalkOptions};
use binlog_diff::log::info::read_master_info;
use binlog_diff::log::{Access, LogFile, LogName, LogSet};
use binlog_diff::position::{MapOptions, Mapping, MasterPos, find_start};

/// Data events of a diff file: (type, bytes), FDEs excluded.
fn data_events(p: &Path) -> Vec<(EventType, Vec<u8>)> {
    let lf = LogFile::open(p, Access::Read).unwrap();
    let mut it = lf.events(WalkOptions::default());
    let mut v = Vec::new();
    while let Some(s) = it.next_step().unwrap() {
        match s {
            Step::Event(e) if e.event_type() != EventType::FORMAT_DESCRIPTION => {
                v.push((e.event_type(), e.as_bytes().to_vec()))
            }
            Step::Event(_) => {}
            Step::Incomplete(i) => panic!("{}: diff ends inside an event at {}", p.display(), i.at),
        }
    }
    v
}

/// `mariadb-binlog` (GTID strict mode is its default) reads the diff to the
/// end with no error and no warning.
fn mariadb_binlog_reads_cleanly(p: &Path) {
    let Ok(o) = std::process::Command::new("mariadb-binlog").arg("--no-defaults").arg(p).output() else {
        eprintln!("!!!!!!!! mariadb-binlog not installed: diff readability not checked !!!!!!!!");
        return;
    };
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success() && err.trim().is_empty(), "mariadb-binlog on {}: {:?}\n{err}", p.display(), o.status);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(!text.contains("ERROR") && !text.contains("Warning"), "mariadb-binlog output on {}:\n{text}", p.display());
}

fn scenario(name: &str, byte_identical: bool) {
    let dir = support::testdata_dir().join("mariadb").join(name);
    let master = LogSet::from_index(&dir.join("master/mysql-bin.index")).unwrap();
    let relay = LogSet::from_index(&dir.join("replica/relay-bin.index")).unwrap();
    let mi = read_master_info(&dir.join("replica/master.info")).unwrap();
    let latest = MasterPos::new(mi.master_log_file.parse::<LogName>().unwrap(), mi.read_master_log_pos);
    let tmp = tempfile::tempdir().unwrap();
    let bs = boundaries(&master);
    assert!(bs.len() > 3, "{name}: too few transactions");
    let mut checked = 0;
    for b in bs.iter().filter(|b| **b <= latest) {
        let m = find_start(&relay, b, Some(&latest), &MapOptions::default())
            .unwrap_or_else(|e| panic!("{name}: mapping {b}: {e}"));
        let start = match m {
            Mapping::AlreadyComplete => {
                assert_eq!(b, &latest, "{name}: only the latest position is complete");
                continue;
            }
            Mapping::Found { start, .. } => start,
        };
        let rd = tmp.path().join(format!("relay-{checked}"));
        let sd = tmp.path().join(format!("save-{checked}"));
        let r = relay_diff(&relay, &start, &rd, &CutOptions::default()).unwrap_or_else(|e| panic!("{name} {b}: {e}"));
        let s = save_binlog(&master, b, &sd, &CutOptions::default()).unwrap_or_else(|e| panic!("{name} {b}: {e}"));
        assert!(!r.starts_mid_transaction, "{name} {b}");
        assert_eq!(r.master_start.as_ref(), Some(b), "{name}: relay diff from {start} starts at master {b}");
        assert_eq!(r.transactions, s.transactions, "{name} {b}: transactions in relay diff vs master tail");
        mariadb_binlog_reads_cleanly(&rd);
        mariadb_binlog_reads_cleanly(&sd);
        if byte_identical {
            let (rv, sv) = (data_events(&rd), data_events(&sd));
            assert_eq!(rv.len(), sv.len(), "{name} {b}: event count");
            assert!(rv == sv, "{name} {b}: relay diff and master tail differ");
        }
        checked += 1;
    }
    eprintln!("{name}: {checked} boundaries mapped and cut");
    assert!(checked > 3, "{name}: checked only {checked}");
}

#[test]
fn row_crc32() {
    scenario("row-crc32", true);
}

#[test]
fn statement_checksum_none() {
    scenario("stmt-none", true);
}

#[test]
fn relay_checksum_differs_from_master() {
    scenario("mixed-master-none-replica-crc32", true);
    scenario("mixed-master-crc32-replica-none", true);
}

#[test]
fn big_transaction_spanning_relay_files() {
    scenario("big-trx-relay", true);
}

#[test]
fn compressed_master_events_are_decompressed_in_relay_logs() {
    // The replica's IO thread stores events uncompressed, so bytes differ;
    // transactions and positions must still agree.
    scenario("compressed", false);
}

/// A start that is not an event, or is inside a transaction, is refused
/// with the file, the offset and the event type; nothing is left behind.
#[test]
fn bad_starts_are_refused_with_file_and_offset() {
    use binlog_diff::position::RelayPos;
    let dir = support::testdata_dir().join("mariadb/row-crc32/replica");
    let relay = LogSet::from_index(&dir.join("relay-bin.index")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("d.binlog");
    let name: LogName = "relay-bin.000002".parse().unwrap();
    // 1301 is one byte into the GTID event at 1300.
    let e = relay_diff(&relay, &RelayPos::new(name.clone(), 1301), &out, &CutOptions::default()).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("relay-bin.000002 @ 1342") && msg.contains("position 1301 is not the start of an event"),
        "{msg}"
    );
    // 1496 is the TABLE_MAP inside the transaction opened at 1300.
    let e = relay_diff(&relay, &RelayPos::new(name, 1496), &out, &CutOptions::default()).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("relay-bin.000002 @ 1496 (TABLE_MAP_EVENT)") && msg.contains("inside a transaction"), "{msg}");
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0, "no output or temp file left behind");
}

/// Every master event end the latest replica has read (not only transaction
/// boundaries: a target's IO thread can stop between any two events) maps
/// to a relay position whose diff starts exactly there. The big transaction
/// spans relay files rotated on size, so some targets are exactly where a
/// relay file begins, with the event ending there at the end of the
/// previous file (the case MHA's manager hit: "no event ends at master
/// position").
#[test]
fn every_master_event_end_maps() {
    for name in ["row-crc32", "stmt-none", "big-trx-relay", "mixed-master-none-replica-crc32"] {
        let dir = support::testdata_dir().join("mariadb").join(name);
        let master = LogSet::from_index(&dir.join("master/mysql-bin.index")).unwrap();
        let relay = LogSet::from_index(&dir.join("replica/relay-bin.index")).unwrap();
        let mi = read_master_info(&dir.join("replica/master.info")).unwrap();
        let latest = MasterPos::new(mi.master_log_file.parse::<LogName>().unwrap(), mi.read_master_log_pos);
        let tmp = tempfile::tempdir().unwrap();
        let opts = CutOptions { allow_mid_transaction_start: true, keep_partial_tail: true, ..CutOptions::default() };
        // (type, start, end) of every master event, in order.
        let mut evs = Vec::new();
        for (file, path) in master.files() {
            let lf = LogFile::open(path, Access::Read).unwrap();
            let mut it = lf.events(WalkOptions::default());
            while let Some(Step::Event(e)) = it.next_step().unwrap() {
                let at = |o: u64| MasterPos::new(file.clone(), o);
                evs.push((e.event_type(), at(e.offset()), at(e.end_offset())));
            }
        }
        // Diffs leave out the master's format and bookkeeping events.
        let skipped = [
            EventType::FORMAT_DESCRIPTION,
            EventType::ROTATE,
            EventType::STOP,
            EventType::MARIA_GTID_LIST,
            EventType::MARIA_BINLOG_CHECKPOINT,
        ];
        let mut checked = 0;
        for (k, (ty, _, end)) in evs.iter().enumerate() {
            // A replica that reads a ROTATE reports the next file's start, never its end.
            if [EventType::FORMAT_DESCRIPTION, EventType::ROTATE].contains(ty) || *end > latest {
                continue;
            }
            let m = find_start(&relay, end, Some(&latest), &MapOptions::default())
                .unwrap_or_else(|err| panic!("{name}: mapping {end} ({ty}): {err}"));
            let Mapping::Found { start, .. } = m else { continue };
            // The last master event before the start, in the relay logs, ends
            // at the target.
            assert_eq!(
                master_log_pos_before(&relay, &start),
                Some(end.pos as u32),
                "{name}: {end} ({ty}) mapped to {start}"
            );
            let out = tmp.path().join("d");
            let r = relay_diff(&relay, &start, &out, &opts).unwrap_or_else(|err| panic!("{name} {end}: {err}"));
            let first_kept =
                evs[k + 1..].iter().find(|(t, s, _)| !skipped.contains(t) && *s < latest).map(|(_, s, _)| s);
            // The diff starts at the target, or where the next event it keeps
            // starts (nothing to apply lies between the two).
            if let (Some(ms), Some(fk)) = (r.master_start.as_ref(), first_kept) {
                assert!(
                    end <= ms && ms <= fk,
                    "{name}: relay diff from {start} for {end} starts at {ms}, next kept {fk}"
                );
            }
            checked += 1;
        }
        eprintln!("{name}: {checked} event ends mapped");
        assert!(checked > 20, "{name}: checked only {checked}");
    }
}

/// `log_pos` of the last master event (server id 1, not a fake event)
/// before `start` in the relay logs, looking back across files.
fn master_log_pos_before(relay: &LogSet, start: &binlog_diff::position::RelayPos) -> Option<u32> {
    let files = relay.files();
    let k = files.iter().position(|(n, _)| *n == start.file)?;
    for (n, (_, path)) in files[..=k].iter().enumerate().rev() {
        let lf = LogFile::open(path, Access::Read).unwrap();
        let mut it = lf.events(WalkOptions::default());
        let mut last = None;
        while let Some(Step::Event(e)) = it.next_step().unwrap() {
            if n == k && e.offset() >= start.pos {
                break;
            }
            if e.server_id() == 1 && e.log_pos() != 0 {
                last = Some(e.log_pos());
            }
        }
        if last.is_some() {
            return last;
        }
    }
    None
}

/// A tail asked for from any event end (where an IO thread may stop, also
/// inside a transaction) starts at the transaction that holds it: at the
/// position itself exactly when a tail may start there, and always at a
/// place an exact tail may start, with the same bytes.
#[test]
fn a_tail_from_inside_a_transaction_starts_where_it_does() {
    use binlog_diff::diff::tail::{TailStart, save_tail};
    for name in ["row-crc32", "stmt-none", "crashed-master"] {
        let dir = support::testdata_dir().join("mariadb").join(name).join("master");
        let master = LogSet::from_index(&dir.join("mysql-bin.index")).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let dirs = vec![dir.clone()];
        let (mut inside, mut on) = (0, 0);
        for (file, path) in master.files() {
            let lf = LogFile::open(path, Access::Read).unwrap();
            let mut ends = Vec::new();
            let mut it = lf.events(WalkOptions::default());
            while let Ok(Some(Step::Event(e))) = it.next_step() {
                ends.push(e.end_offset());
            }
            for e in ends {
                let at = MasterPos::new(file.clone(), e);
                let (t, x) = (tmp.path().join("t"), tmp.path().join("x"));
                let saved = save_tail(&dirs, &at, TailStart::Transaction, &t).unwrap();
                assert!(saved.from.file == *file && saved.from.pos <= e, "{name} {at}: starts at {}", saved.from);
                let exact_here = save_tail(&dirs, &at, TailStart::Exact, &x);
                if saved.from.pos == e {
                    on += 1;
                    assert!(exact_here.is_ok(), "{name} {at}: on a boundary, yet {:?}", exact_here.err());
                } else {
                    inside += 1;
                    let err = exact_here.unwrap_err().to_string();
                    assert!(err.contains("inside a transaction"), "{name} {at}: {err}");
                    let exact = save_tail(&dirs, &saved.from, TailStart::Exact, &x).unwrap();
                    assert_eq!(exact.report.is_some(), saved.report.is_some(), "{name} {at}");
                    if saved.report.is_some() {
                        assert_eq!(std::fs::read(&t).unwrap(), std::fs::read(&x).unwrap(), "{name} {at}");
                    }
                }
            }
        }
        assert!(inside > 3 && on > 3, "{name}: {inside} positions inside transactions, {on} on boundaries");
    }
}
