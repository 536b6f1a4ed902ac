//! Damage is not a torn end (issue 20, "No silent loss, no divergence, no
//! hang"). A real MariaDB master with a lagging replica writes a tail only
//! it has, over several binlog files, and is SIGKILLed. In a copy of its
//! binlogs one bit is flipped in an event's length field (`event_size`,
//! header bytes 9..13) in the middle of a file, with 100 KB and more of
//! whole events after it: the event now "runs past the end of the file",
//! and its `log_pos` says how long it really is.
//!
//! - In the last file and in an earlier one: `save_binary_logs
//!   --command=save` and `binlog-diff diff --master-binlogs` refuse, naming
//!   file, offset and event type, and leave no output file; `verify`,
//!   `dump` and `stats` (also with `--allow-truncated`) say the same. They
//!   used to save the events before the flip as if the master had crashed
//!   there ("the last log ends inside an event"), losing every transaction
//!   after it without a word.
//! - A real crash-torn end (the last file cut inside its last event) is
//!   still accepted and reported, its partial transaction left out.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use binlog_diff::event::{EventType, Step, WalkOptions};
use binlog_diff::log::{Access, LogFile};
use support::node::Bin;
use support::process::text;
use support::topology::{ADMIN_PASSWORD, ADMIN_USER, MASTER, Topology, TopologyConfig};

/// (offset, size, type) of every whole event of a file.
fn events(path: &Path) -> Vec<(u64, u64, EventType)> {
    let lf = LogFile::open(path, Access::Read).unwrap();
    let mut v = Vec::new();
    let mut it = lf.events(WalkOptions::default());
    while let Some(Step::Event(e)) = it.next_step().unwrap() {
        v.push((e.offset(), e.size() as u64, e.event_type()));
    }
    v
}

/// A copy of the master's binlogs (files and index) in `to`.
fn copy_binlogs(from: &[PathBuf], to: &Path) -> PathBuf {
    std::fs::create_dir_all(to).unwrap();
    let mut index = String::new();
    for f in from {
        let name = f.file_name().unwrap();
        std::fs::copy(f, to.join(name)).unwrap();
        index.push_str(&format!("./{}\n", name.to_string_lossy()));
    }
    std::fs::write(to.join("mysql-bin.index"), index).unwrap();
    to.to_path_buf()
}

/// Flips bit 22 of the `event_size` of the first event in the middle of
/// `file` with at least 100 KB of whole events after it. Returns its
/// offset and type.
fn flip_length_bit(file: &Path) -> (u64, EventType) {
    let evs = events(file);
    let len = std::fs::metadata(file).unwrap().len();
    let &(at, size, ty) = evs
        .iter()
        .find(|(at, size, _)| *at >= len / 4 && len - (at + size) >= 100_000)
        .unwrap_or_else(|| panic!("{}: no event with 100 KB after it ({len} bytes)", file.display()));
    assert!(size < 1 << 22);
    let mut b = std::fs::read(file).unwrap();
    b[at as usize + 9 + 2] ^= 1 << 6; // byte 11 bit 6: bit 22 of event_size
    std::fs::write(file, b).unwrap();
    (at, ty)
}

struct Case {
    topo: Topology,
    binlogs: Vec<PathBuf>,
    /// Where the replica stopped reading (file, position).
    read: (String, u64),
    /// Transactions only the master has.
    tail: usize,
}

/// A master and a replica that stopped early; the master then writes a
/// tail over three and more binlog files (256 KiB each), the last one at
/// least 220 KB, and is SIGKILLed.
fn setup() -> Case {
    let topo = Topology::start(TopologyConfig { replicas: 1, max_binlog_size: 256 << 10, ..Default::default() });
    let mut w = topo.workload(20);
    w.run(10);
    topo.catch_up_then_stop_io(1);
    let st = topo.wait_sql_idle(1);
    let read = st.read_pos();
    let mut tail = 0;
    for i in 0.. {
        assert!(i < 400, "the master's binlogs did not grow as expected: {}", topo.master_status(MASTER));
        w.run(2);
        w.big_transaction(16 << 10);
        tail += 3;
        let m = topo.master_status(MASTER);
        if m.file_seq() >= read.file_seq() + 3 && m.pos >= 220_000 {
            break;
        }
    }
    topo.kill_master();
    let binlogs = topo.binlog_files(MASTER);
    Case { binlogs, read: (read.file.clone(), read.pos), tail, topo }
}

fn save(b: &Bin, case: &Case, dir: &Path, out: &Path) -> Output {
    b.run(
        "save_binary_logs",
        &[
            "--command=save".to_string(),
            format!("--start_file={}", case.read.0),
            format!("--start_pos={}", case.read.1),
            format!("--binlog_dir={}", dir.display()),
            format!("--output_file={}", out.display()),
        ],
    )
}

fn diff(case: &Case, dir: &Path, write: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_binlog-diff"))
        .env("MYSQL_PWD", ADMIN_PASSWORD)
        .args(["diff", "--live", &format!("r1=127.0.0.1:{}", case.topo.port(1)), "-u", ADMIN_USER])
        .arg("--master-binlogs")
        .arg(dir.join("mysql-bin.index"))
        .arg("--write")
        .arg(write)
        .output()
        .unwrap()
}

fn inspect(args: &[&str], file: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_binlog-diff")).args(args).arg(file).output().unwrap()
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir).map(|rd| rd.map(|e| e.unwrap().path()).collect()).unwrap_or_default()
}

/// Every reader refuses the damaged copy with one line naming the file,
/// the flipped event's offset and type, and the damaged length.
fn assert_refused(b: &Bin, case: &Case, dir: &Path, damaged: &Path, at: u64, ty: EventType, work: &Path) {
    let what = format!("{} @ {at} ({ty}): event_size ", damaged.display());
    let named = |s: &str| s.contains(&what) && s.contains("contradicts log_pos") && s.contains("not a torn end");

    let out = work.join("save/saved.binlog");
    let o = save(b, case, dir, &out);
    let (so, se) = text(&o);
    assert_eq!(o.status.code(), Some(1), "save_binary_logs took the damage for a torn end:\n{so}{se}");
    assert!(se.starts_with("Failed to save binary log: ") && named(&se), "{se}");
    assert_eq!(se.lines().count(), 1, "{se}");
    assert!(!so.contains("Saved "), "{so}");
    assert_eq!(files_in(out.parent().unwrap()), Vec::<PathBuf>::new(), "save left a file behind");

    let write = work.join("diffs");
    let o = diff(case, dir, &write);
    let (so, se) = text(&o);
    assert_eq!(o.status.code(), Some(1), "diff --master-binlogs took the damage for a torn end:\n{so}{se}");
    assert!(named(&se), "{se}");
    assert_eq!(files_in(&write), Vec::<PathBuf>::new(), "diff --write left files behind");

    // The inspectors say the same of the same file, tolerant or not.
    for args in [
        &["verify"][..],
        &["verify", "--allow-truncated"],
        &["dump", "--allow-truncated"],
        &["stats", "--allow-truncated"],
        &["stats", "--allow-truncated", "--no-mmap"],
    ] {
        let o = inspect(args, damaged);
        let (so, se) = text(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {se}");
        let said = if args[0] == "verify" { so.lines().last().unwrap_or("") } else { se.trim_end() };
        assert!(named(said), "{args:?}: {said}");
    }
}

#[test]
fn a_flipped_length_bit_is_damage_in_the_last_file_and_in_an_earlier_one() {
    let b = Bin::new();
    let case = setup();
    let tmp = tempfile::tempdir().unwrap();
    let n = case.binlogs.len();
    assert!(n >= 4, "{:?}", case.binlogs);

    // The clean copy: the whole tail is saved.
    let clean = copy_binlogs(&case.binlogs, &tmp.path().join("clean"));
    let out = tmp.path().join("clean-save/saved.binlog");
    let o = save(&b, &case, &clean, &out);
    let (so, se) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{so}{se}");
    assert!(so.contains(&format!("({} whole transactions,", case.tail)), "{so}");

    for (k, which) in [(n - 1, "last"), (n - 2, "earlier")] {
        let work = tmp.path().join(which);
        let dir = copy_binlogs(&case.binlogs, &work.join("binlogs"));
        let damaged = dir.join(case.binlogs[k].file_name().unwrap());
        let (at, ty) = flip_length_bit(&damaged);
        eprintln!("{which} file: {} @ {at} ({ty}) flipped", damaged.display());
        assert_refused(&b, &case, &dir, &damaged, at, ty, &work);
    }

    // A real crash-torn end: the last file cut inside its last event.
    let work = tmp.path().join("torn");
    let dir = copy_binlogs(&case.binlogs, &work.join("binlogs"));
    let last = dir.join(case.binlogs[n - 1].file_name().unwrap());
    // Inside the last transaction's commit event (XID): the server may have
    // written a Binlog_checkpoint after it on its own, and a cut inside that
    // would leave every transaction whole.
    let &(at, size, _) = events(&last).iter().rev().find(|e| e.2 == EventType::XID).unwrap();
    let cut = at + (size / 2).max(20);
    assert!(cut < at + size);
    std::fs::OpenOptions::new().write(true).open(&last).unwrap().set_len(cut).unwrap();
    let out = work.join("save/saved.binlog");
    let o = save(&b, &case, &dir, &out);
    let (so, se) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{so}{se}");
    assert!(so.contains(&format!("({} whole transactions,", case.tail - 1)), "{so}");
    assert!(so.contains("An incomplete transaction at the end"), "{so}");
    assert!(so.contains("The last log ends inside an event"), "{so}");
    assert!(out.exists());
    let o = diff(&case, &dir, &work.join("diffs"));
    let (so, se) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{so}{se}");
    assert!(so.contains(&format!("dead master adds: {} transactions", case.tail - 1)), "{so}");
    assert!(so.contains("partial transaction left out"), "{so}");
    let o = inspect(&["verify", "--allow-truncated"], &last);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    assert!(text(&o).0.contains(&format!("incomplete-tail at={at}")), "{:?}", text(&o));
}

/// The failover: the master SIGKILLed, its last binlog damaged on
/// its (live) host. The tail cannot be saved, and its host answers: the run
/// stops before anything changes, naming the file, offset and type (it used
/// to save the events before the damage, report nothing lost and exit 0).
/// With `--accept-loss` it goes on and lists the loss: exit 11.
#[test]
fn a_failover_refuses_a_damaged_master_tail_or_reports_it_lost() {
    let case = setup();
    let work = tempfile::tempdir().unwrap();
    let conf = case.topo.app_cnf(work.path(), "", &|_| String::new());
    case.topo.sql(1, "START SLAVE IO_THREAD"); // "Connecting", as after a real crash
    let last = &case.binlogs[case.binlogs.len() - 1];
    let (at, ty) = flip_length_bit(last);
    let json = work.path().join("report.json");
    let run = |extra: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_binlog-diff"))
            .args(["failover", "--conf"])
            .arg(&conf)
            .args(["--dead-master-host", "127.0.0.1", "--dead-master-port", &case.topo.port(MASTER).to_string()])
            .args(["--workdir", work.path().join("d").to_str().unwrap(), "--json", json.to_str().unwrap()])
            .args(extra)
            .output()
            .unwrap();
        let (so, se) = text(&o);
        (o.status.code(), format!("{so}{se}"))
    };
    let (code, all) = run(&[]);
    assert_eq!(code, Some(1), "{all}");
    assert!(all.contains(&format!("{} @ {at} ({ty}): event_size ", last.display())), "{all}");
    assert!(all.contains("Nothing was changed") && all.contains("--accept-loss") && !all.contains("Phase 2"), "{all}");
    assert!(!all.contains("Saved "), "{all}");
    let (code, all) = run(&["--accept-loss"]);
    assert_eq!(code, Some(11), "{all}");
    assert!(all.contains("NOT RECOVERABLE: whatever the dead master"), "{all}");
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(!r["unrecoverable"].as_array().unwrap().is_empty(), "{all}");
}
