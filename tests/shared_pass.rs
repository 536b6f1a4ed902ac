//! The shared pass (one walk feeding many diffs, each from its own start)
//! gives, byte for byte, the diff each cutter gives alone. The reference is
//! the per-replica cutter as it was before the shared pass (commit 0bdbdea's
//! `Cutter::segment`), rebuilt here on the public API, so the comparison is
//! against independent code, not the new walk run with one lane.
//!
//! On every MariaDB fixture (testdata/mariadb): every event offset of the
//! relay logs and of the master's binlogs as a start (MHA's mid-transaction
//! mode, so almost all are valid; the strict mode, so most fail and must
//! fail alike without disturbing the others), relay then master tail as a
//! plan cuts them, and `Plan::make`/`Plan::write` against the reference.

mod support;

use support::fixtures::*;

use std::path::{Path, PathBuf};

use binlog_diff::diff::{
    self, CutOptions, Cutter, DiffReport, DiffWriter, Join, LeftOut, Plan, PlanInput, shared_segment,
};
use binlog_diff::error::{Error, Result};
use binlog_diff::event::{Boundary, ChecksumAlg, Format, RawEvent, Step, TrxGrouper, WalkOptions, classify};
use binlog_diff::log::{Access, LogFile, LogKind, LogName, LogSet};
use binlog_diff::position::{MapOptions, Mapping, MasterCursor, MasterPos, Origin, ReplicaState, find_start};

/// The per-replica cutter before the shared pass, on the public API.
struct RefCutter {
    w: DiffWriter,
    rep: DiffReport,
    opts: CutOptions,
    open_group: Option<LeftOut>,
    segments: usize,
    /// The last master format description its walks met (an empty diff gets it).
    last_fde: Option<(Vec<u8>, Format)>,
}

impl RefCutter {
    fn create(out: &Path, opts: CutOptions) -> RefCutter {
        RefCutter {
            w: DiffWriter::create(out).unwrap(),
            rep: DiffReport::default(),
            opts,
            open_group: None,
            segments: 0,
            last_fde: None,
        }
    }

    fn segment(&mut self, set: &LogSet, first: &LogName, start: u64, kind: LogKind) -> Result<()> {
        let files = set.from_name(first);
        if files.first().map(|f| &f.0) != Some(first) {
            return Err(Error::bad_input(format!("log file {first}"), "not found"));
        }
        let opts = self.opts;
        let first_segment = self.segments == 0;
        self.segments += 1;
        let mut grouper = TrxGrouper::mid_stream();
        let mut cursor = match kind {
            LogKind::Relay => MasterCursor::relay(opts.own_server_id, None),
            LogKind::Binlog => MasterCursor::binlog(first.clone()),
        };
        let mut started = false;
        let mut copied_any = false;
        let mut master_fde: Option<(Vec<u8>, Format)> = None;
        let walk = WalkOptions { verify_checksums: opts.verify_checksums };
        for (fi, (name, path)) in files.iter().enumerate() {
            if fi > 0 && kind == LogKind::Binlog {
                cursor = MasterCursor::binlog(name.clone());
            }
            let perr = |e| Error::parse(Some(path), e);
            let lf = LogFile::open(path, opts.access)?;
            let len = lf.bytes().len() as u64;
            if fi == 0 && start > len {
                return Err(Error::bad_input("diff start", format!("position {start} is past the end of the file"))
                    .with_file(path));
            }
            let mut it = lf.events(walk);
            loop {
                let ev = match it.next_step().map_err(perr)? {
                    None => break,
                    Some(Step::Event(ev)) => ev,
                    Some(Step::Incomplete(_)) if fi + 1 == files.len() => {
                        self.rep.truncated_tail = true;
                        break;
                    }
                    Some(Step::Incomplete(inc)) => return Err(lf.truncated(inc)),
                };
                let fmt = it.format().expect("format known after an event");
                if !started {
                    if ev.offset() == start {
                        started = true;
                    } else if ev.offset() > start {
                        return Err(Error::bad_input(
                            "diff start",
                            format!("position {start} is not the start of an event"),
                        )
                        .with_file(path)
                        .at(ev.offset(), Some(ev.event_type())));
                    }
                }
                let before = cursor.file().cloned().zip(cursor.pos());
                let origin = cursor.advance(&ev, fmt).map_err(perr)?;
                if origin == Origin::MasterFde {
                    master_fde = Some((ev.as_bytes().to_vec(), fmt.clone()));
                    self.last_fde = master_fde.clone();
                }
                let role = grouper.feed(classify(&ev, fmt).map_err(perr)?);
                let real_rotate = origin == Origin::MasterRotate && !ev.is_fake_rotate();
                if !started || !(origin.is_data() || real_rotate) {
                    continue;
                }
                if !copied_any {
                    copied_any = true;
                    if self.rep.master_start.is_none() {
                        self.rep.master_start = before.map(|(f, p)| MasterPos::new(f, p));
                    }
                    let mid = !matches!(role.boundary, Boundary::Open | Boundary::OpenClose | Boundary::Control);
                    if mid && !(first_segment && opts.allow_mid_transaction_start) {
                        return Err(Error::bad_input(
                            "diff start",
                            format!(
                                "position {start} is inside a transaction; a diff must start on a transaction boundary"
                            ),
                        )
                        .with_file(path)
                        .at(ev.offset(), Some(ev.event_type())));
                    }
                    self.rep.starts_mid_transaction |= mid;
                }
                if let Some((bytes, f)) = master_fde.take() {
                    let has_crc = f.checksum_aware && f.checksum == ChecksumAlg::Crc32;
                    let fde = RawEvent::new(0, &bytes, has_crc).map_err(perr)?;
                    self.w.set_format(&fde, &f)?;
                }
                if self.w.format().is_none() {
                    return Err(Error::bad_input("first event to copy", "no master format description before it")
                        .with_file(path)
                        .at(ev.offset(), Some(ev.event_type())));
                }
                self.w.copy(&ev)?;
                self.rep.data_end = cursor.file().cloned().zip(cursor.pos()).map(|(f, p)| MasterPos::new(f, p));
                if role.boundary.opens() || (self.open_group.is_none() && grouper.in_group()) {
                    self.open_group = Some(LeftOut { file: name.clone(), offset: ev.offset(), bytes: 0 });
                }
                if let Some(g) = self.open_group.as_mut() {
                    g.bytes += ev.size() as u64;
                }
                if role.boundary.closes() {
                    self.rep.transactions += 1;
                }
                if !grouper.in_group() {
                    self.open_group = None;
                    self.w.commit_point();
                    self.rep.master_end = cursor.file().cloned().zip(cursor.pos()).map(|(f, p)| MasterPos::new(f, p));
                }
            }
            if fi == 0 && !started && start != len {
                return Err(Error::bad_input("diff start", format!("position {start} is not the start of an event"))
                    .with_file(path));
            }
            started = true;
        }
        if grouper.in_group() {
            if let Some(g) = self.open_group.take() {
                self.rep.left_out = Some(g);
            }
            if opts.keep_partial_tail {
                self.w.commit_point();
            } else {
                self.w.rollback_to_commit_point()?;
            }
        } else {
            self.rep.left_out = None;
        }
        if self.rep.master_end.is_none() {
            self.rep.master_end = self.rep.master_start.clone();
        }
        Ok(())
    }

    fn finish(mut self) -> Result<DiffReport> {
        if let (None, Some((bytes, f))) = (self.w.format(), self.last_fde.take()) {
            let has_crc = f.checksum_aware && f.checksum == binlog_diff::event::ChecksumAlg::Crc32;
            let fde = RawEvent::new(0, &bytes, has_crc).map_err(|e| Error::parse(None, e))?;
            self.w.set_format(&fde, &f)?;
        }
        let mut rep = std::mem::take(&mut self.rep);
        rep.written = self.w.finish()?;
        Ok(rep)
    }
}

/// A start: file and offset.
type Start = (LogName, u64);

/// Every event's offset in every file of `set`, and each file's end.
fn every_offset(set: &LogSet) -> Vec<Start> {
    let mut out = Vec::new();
    for (name, path) in set.files() {
        let lf = LogFile::open(path, Access::Read).unwrap();
        let mut it = lf.events(WalkOptions::default());
        while let Ok(Some(Step::Event(ev))) = it.next_step() {
            out.push((name.clone(), ev.offset()));
        }
        out.push((name.clone(), lf.bytes().len() as u64));
    }
    out
}

/// One diff's outcome: the report and the file, or the error's text.
type Outcome = std::result::Result<(DiffReport, Vec<u8>), String>;

fn outcome(r: Result<DiffReport>, path: &Path) -> Outcome {
    match r {
        Ok(rep) => Ok((rep, std::fs::read(path).unwrap())),
        Err(e) => {
            assert!(!path.exists(), "{}: a failed diff leaves no file", path.display());
            Err(e.to_string())
        }
    }
}

/// Each start cut alone by the reference: `segs` are the segments after the
/// first (a plan's master tail), each with its own start.
fn reference(
    first: (&LogSet, LogKind),
    starts: &[Start],
    then: Option<(&LogSet, &[Start])>,
    opts: CutOptions,
    dir: &Path,
) -> Vec<Outcome> {
    starts
        .iter()
        .enumerate()
        .map(|(i, (f, s))| {
            let p = dir.join(format!("ref-{i}"));
            let mut c = RefCutter::create(&p, opts);
            let r = c.segment(first.0, f, *s, first.1).and_then(|()| match then {
                Some((set, t)) => c.segment(set, &t[i].0, t[i].1, LogKind::Binlog),
                None => Ok(()),
            });
            outcome(r.and_then(|()| c.finish()), &p)
        })
        .collect()
}

/// All starts cut together by the shared pass.
fn shared(
    first: (&LogSet, LogKind),
    starts: &[Start],
    then: Option<(&LogSet, &[Start])>,
    opts: CutOptions,
    dir: &Path,
) -> Vec<Outcome> {
    let paths: Vec<PathBuf> = (0..starts.len()).map(|i| dir.join(format!("shared-{i}"))).collect();
    let mut cutters: Vec<Option<Cutter>> = paths.iter().map(|p| Some(Cutter::create(p, opts).unwrap())).collect();
    let mut errs: Vec<Option<Error>> = starts.iter().map(|_| None).collect();
    let mut run = |set: &LogSet, kind: LogKind, at: &[Start], cutters: &mut Vec<Option<Cutter>>| {
        let live: Vec<usize> = (0..at.len()).filter(|&i| cutters[i].is_some()).collect();
        let joins: Vec<Join<'_>> = cutters
            .iter_mut()
            .zip(at)
            .filter_map(|(c, (f, s))| {
                c.as_mut().map(|c| Join { cutter: c, start: diff::Start::new(kind, f.clone(), *s) })
            })
            .collect();
        let rs = shared_segment(set, joins);
        assert_eq!(rs.len(), live.len(), "one result per join");
        for (i, r) in live.into_iter().zip(rs) {
            if let Err(e) = r {
                errs[i] = Some(e);
                cutters[i] = None; // dropped: its temporary file goes
            }
        }
    };
    run(first.0, first.1, starts, &mut cutters);
    if let Some((set, t)) = then {
        run(set, LogKind::Binlog, t, &mut cutters);
    }
    cutters
        .into_iter()
        .zip(errs)
        .zip(&paths)
        .map(|((c, e), p)| match (c, e) {
            (Some(c), None) => outcome(c.finish(), p),
            (None, Some(e)) => outcome(Err(e), p),
            _ => unreachable!("a cutter is either kept or failed"),
        })
        .collect()
}

fn same(what: &str, starts: &[Start], r: &[Outcome], s: &[Outcome]) -> (usize, usize) {
    assert_eq!(r.len(), s.len());
    let (mut ok, mut failed) = (0, 0);
    for (i, (a, b)) in r.iter().zip(s).enumerate() {
        let (f, o) = &starts[i];
        match (a, b) {
            (Ok((ra, fa)), Ok((rb, fb))) => {
                assert_eq!(ra, rb, "{what}, start {f}:{o}: reports");
                assert!(fa == fb, "{what}, start {f}:{o}: files differ ({} vs {} bytes)", fa.len(), fb.len());
                ok += 1;
            }
            (Err(ea), Err(eb)) => {
                assert_eq!(ea, eb, "{what}, start {f}:{o}: errors");
                failed += 1;
            }
            _ => panic!(
                "{what}, start {f}:{o}: reference {a:?} vs shared {b:?}",
                a = a.as_ref().map(|x| &x.0),
                b = b.as_ref().map(|x| &x.0)
            ),
        }
    }
    (ok, failed)
}

fn scenarios() -> Vec<(String, PathBuf)> {
    let root = support::testdata_dir().join("mariadb");
    let mut v: Vec<(String, PathBuf)> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("replica/relay-bin.index").exists() && p.join("master/mysql-bin.index").exists())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), p))
        .collect();
    v.sort();
    assert!(v.len() >= 7, "fixtures missing under {}", root.display());
    v
}

fn sets(dir: &Path) -> (LogSet, LogSet) {
    (
        LogSet::from_index(&dir.join("replica/relay-bin.index")).unwrap(),
        LogSet::from_index(&dir.join("master/mysql-bin.index")).unwrap(),
    )
}

const MHA: CutOptions = CutOptions {
    verify_checksums: true,
    access: Access::Mmap,
    allow_mid_transaction_start: true,
    own_server_id: None,
    keep_partial_tail: true,
};

/// Every event offset as a start, all together, in both modes: relay logs and master binlogs.
#[test]
fn every_start_alone_equals_all_together() {
    for (name, dir) in scenarios() {
        let (relay, master) = sets(&dir);
        for (set, kind, label) in [(&relay, LogKind::Relay, "relay"), (&master, LogKind::Binlog, "binlog")] {
            let starts = every_offset(set);
            for (opts, mode) in [(MHA, "mid-transaction allowed"), (CutOptions::default(), "strict")] {
                let tmp = tempfile::tempdir().unwrap();
                let what = format!("{name} {label} {mode}");
                let r = reference((set, kind), &starts, None, opts, tmp.path());
                let s = shared((set, kind), &starts, None, opts, tmp.path());
                let (ok, failed) = same(&what, &starts, &r, &s);
                eprintln!("{what}: {} starts, {ok} diffs identical, {failed} refused alike", starts.len());
                assert!(ok > 3, "{what}: too few diffs compared");
            }
        }
    }
}

/// Relay logs from every mapped boundary, then the master's tail from where
/// the relay part ends: the two segments a plan cuts, shared vs alone.
#[test]
fn relay_then_master_tail_shared_equals_alone() {
    for (name, dir) in scenarios() {
        let (relay, master) = sets(&dir);
        let mut starts = Vec::new();
        let mut tails = Vec::new();
        for b in boundaries(&master) {
            if let Ok(Mapping::Found { start, .. }) = find_start(&relay, &b, None, &MapOptions::default()) {
                starts.push((start.file, start.pos));
                tails.push((b.file, b.pos)); // a fixed point in the master's binlogs, as in a plan
            }
        }
        assert!(starts.len() > 3, "{name}: too few mapped boundaries");
        // the tail starts at the last boundary the relay logs hold (plans use `relay_end`)
        let last = tails.last().cloned().unwrap();
        let tails: Vec<Start> = tails.iter().map(|_| last.clone()).collect();
        let tmp = tempfile::tempdir().unwrap();
        let opts = CutOptions::default();
        let r = reference((&relay, LogKind::Relay), &starts, Some((&master, &tails)), opts, tmp.path());
        let s = shared((&relay, LogKind::Relay), &starts, Some((&master, &tails)), opts, tmp.path());
        let (ok, failed) = same(&format!("{name} relay+master"), &starts, &r, &s);
        eprintln!("{name}: relay+master tail: {ok} identical, {failed} refused alike");
        assert!(ok > 3);
    }
}

/// Cutters that read differently (checksums verified or not, mapped or
/// read) in one call: each gets what it would get alone; a missing file or
/// a bad start fails only its own cutter.
#[test]
fn mixed_options_and_failures_stay_per_cutter() {
    let dir = support::testdata_dir().join("mariadb/row-crc32");
    let (relay, _) = sets(&dir);
    let mut starts = every_offset(&relay);
    starts.push(("relay-bin.999999".parse().unwrap(), 4));
    let tmp = tempfile::tempdir().unwrap();
    let optss: Vec<CutOptions> = (0..starts.len())
        .map(|i| CutOptions {
            verify_checksums: i % 2 == 0,
            access: if i % 3 == 0 { Access::Read } else { Access::Mmap },
            ..MHA
        })
        .collect();
    let r: Vec<Outcome> = starts
        .iter()
        .enumerate()
        .map(|(i, (f, s))| {
            let p = tmp.path().join(format!("ref-{i}"));
            let mut c = RefCutter::create(&p, optss[i]);
            outcome(c.segment(&relay, f, *s, LogKind::Relay).and_then(|()| c.finish()), &p)
        })
        .collect();
    let paths: Vec<PathBuf> = (0..starts.len()).map(|i| tmp.path().join(format!("shared-{i}"))).collect();
    let mut cutters: Vec<Cutter> = paths.iter().zip(&optss).map(|(p, o)| Cutter::create(p, *o).unwrap()).collect();
    let joins = cutters
        .iter_mut()
        .zip(&starts)
        .map(|(c, (f, s))| Join { cutter: c, start: diff::Start::new(LogKind::Relay, f.clone(), *s) });
    let rs = shared_segment(&relay, joins.collect());
    let s: Vec<Outcome> =
        cutters.into_iter().zip(rs).zip(&paths).map(|((c, r), p)| outcome(r.and_then(|()| c.finish()), p)).collect();
    let (ok, failed) = same("row-crc32 mixed options", &starts, &r, &s);
    assert!(ok > 3 && failed >= 1, "{ok} identical, {failed} refused");
    assert!(matches!(&s[starts.len() - 1], Err(e) if e.contains("not found")));
}

/// `Plan::make` (counting) and `Plan::write` against the reference cut per
/// target: replicas executed up to every boundary the relay logs hold.
#[test]
fn plan_write_equals_reference_per_target() {
    for (name, dir) in scenarios() {
        let (relay, master) = sets(&dir);
        let mut latest = ReplicaState::from_info_files(
            "latest",
            &dir.join("replica/relay-log.info"),
            &dir.join("replica/master.info"),
        )
        .unwrap();
        latest.relay_dir = Some(dir.join("replica"));
        let mut replicas = vec![latest.clone()];
        for (k, b) in boundaries(&master).into_iter().filter(|b| *b <= latest.read).enumerate() {
            let mut st = latest.clone();
            st.name = format!("r{k}");
            st.read = b.clone();
            st.exec = b;
            replicas.push(st);
        }
        let opts = CutOptions::default();
        let mut plan =
            Plan::make(PlanInput { replicas, master_binlogs: Some(master.clone()), opts, count: true }).unwrap();
        let counted: Vec<DiffReport> = plan.targets.iter().map(|t| t.diff.clone()).collect();
        let tmp = tempfile::tempdir().unwrap();
        plan.write(&tmp.path().join("plan")).unwrap();
        let cut_opts = CutOptions { own_server_id: plan.targets[plan.latest].state.server_id, ..opts };
        for (i, t) in plan.targets.iter().enumerate() {
            let p = tmp.path().join(format!("ref-{i}"));
            let mut c = RefCutter::create(&p, cut_opts);
            if let Some(s) = &t.relay_start {
                c.segment(&relay, &s.file, s.pos, LogKind::Relay).unwrap();
            }
            let from = if t.state.exec > plan.relay_end { &t.state.exec } else { &plan.relay_end };
            c.segment(&master, &from.file, from.pos, LogKind::Binlog).unwrap();
            let rep = c.finish().unwrap();
            let what = format!("{name} {}", t.state.name);
            assert_eq!(t.diff, rep, "{what}: written report");
            assert_eq!(counted[i], rep, "{what}: counted report");
            let ours = std::fs::read(t.file.as_ref().unwrap()).unwrap();
            assert!(ours == std::fs::read(&p).unwrap(), "{what}: file differs from the reference");
        }
        eprintln!("{name}: plan of {} replicas written, each equal to its reference", plan.targets.len());
    }
}

/// The writer gathers back-to-back events into one run: a rollback inside
/// the unwritten run, one past it (the file is cut), and misuse (another
/// source, a write while a run is pending) refused without a panic.
#[test]
fn writer_runs_and_rollbacks() {
    use support::build::{event, fde, file, query_body};
    let q = |sql: &str| event(2, 1, 0, 0, &query_body("d", sql.as_bytes()), true);
    let evs = vec![fde(1, "10.11.6-MariaDB-log", true, 0), q("BEGIN"), q("INSERT 1"), q("COMMIT"), q("BEGIN")];
    let lf = LogFile::from_bytes("mem", file(&evs));
    let other = LogFile::from_bytes("mem2", file(&evs));
    let src = &lf;
    let mut it = lf.events(WalkOptions::default());
    let mut all = Vec::new();
    let mut fmt = None;
    while let Some(Step::Event(e)) = it.next_step().unwrap() {
        fmt = it.format().cloned();
        all.push(e);
    }
    let (fde_ev, body) = (all[0], &all[1..]);
    let fmt = fmt.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let expect = |n: usize| {
        let mut v = file(&[evs[0].clone()]);
        for e in &evs[1..=n] {
            v.extend_from_slice(e);
        }
        v
    };

    // Rollback inside the pending run: nothing written yet, the run is shortened.
    let p = tmp.path().join("a");
    let mut w = DiffWriter::create(&p).unwrap();
    w.set_format(&fde_ev, &fmt).unwrap();
    for e in &body[..3] {
        w.copy_from(src, e).unwrap();
    }
    w.commit_point();
    w.copy_from(src, &body[3]).unwrap();
    assert_eq!(w.rollback_to_commit_point().unwrap(), body[3].size() as u64);
    w.flush_from(src).unwrap();
    let wr = w.finish().unwrap();
    assert_eq!((wr.events, std::fs::read(&p).unwrap()), (3, expect(3)));

    // Rollback past what was written: the file itself is cut back.
    let p = tmp.path().join("b");
    let mut w = DiffWriter::create(&p).unwrap();
    w.set_format(&fde_ev, &fmt).unwrap();
    w.copy_from(src, &body[0]).unwrap();
    w.commit_point();
    w.copy_from(src, &body[1]).unwrap();
    w.flush_from(src).unwrap();
    w.copy_from(src, &body[2]).unwrap();
    w.rollback_to_commit_point().unwrap();
    w.flush_from(src).unwrap(); // nothing left to write
    let wr = w.finish().unwrap();
    assert_eq!((wr.events, std::fs::read(&p).unwrap()), (1, expect(1)));

    // Misuse is an error, and a failed diff leaves no file.
    let p = tmp.path().join("c");
    let mut w = DiffWriter::create(&p).unwrap();
    w.set_format(&fde_ev, &fmt).unwrap();
    w.copy_from(src, &body[0]).unwrap();
    assert!(w.copy_from(&other, &body[1]).is_err(), "an event not in the source given");
    assert!(w.copy(&body[1]).is_err(), "a direct write while a run is pending");
    assert!(w.flush_from(&other).is_err(), "flushing from another source");
    w.commit_point();
    assert!(w.finish().is_err(), "finishing with a run never written");
    assert!(std::fs::read_dir(tmp.path()).unwrap().all(|e| e.unwrap().file_name() != "c"));
}

/// Runs longer than the writer's run limit (8 MiB), writeback steps (64 MiB)
/// and a trailing incomplete transaction cut off after its bytes were
/// handed to the copier: a synthetic 70 MiB binlog of 1 MiB statements,
/// shared vs alone, byte for byte.
#[test]
fn large_runs_and_a_cut_off_tail() {
    use support::build::{event, fde, file, query_body};
    // No checksums: a debug build would spend its time on CRCs, and they are not what is tested here.
    let q = |sql: &[u8]| event(2, 1, 0, 0, &query_body("d", sql), false);
    let mut big = b"INSERT INTO t VALUES ".to_vec();
    big.resize(1 << 20, b'0');
    let mut evs = vec![fde(1, "10.11.6-MariaDB-log", false, 0)];
    for _ in 0..34 {
        evs.extend([q(b"BEGIN"), q(&big), q(&big), q(b"COMMIT")]);
    }
    evs.extend([q(b"BEGIN"), q(&big), q(&big)]); // never committed
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bin");
    std::fs::create_dir(&dir).unwrap();
    let path = dir.join("mysql-bin.000001");
    std::fs::write(&path, file(&evs)).unwrap();
    let set = LogSet::from_files([path]).unwrap();
    let name: LogName = "mysql-bin.000001".parse().unwrap();
    // Offsets of the BEGINs of transactions 0, 5 and 30 (each is 4 events).
    let mut offsets = vec![4u64];
    for e in &evs {
        offsets.push(offsets.last().unwrap() + e.len() as u64);
    }
    let starts: Vec<Start> = [1usize, 21, 121].iter().map(|&i| (name.clone(), offsets[i])).collect();
    for opts in [CutOptions::default(), MHA] {
        let r = reference((&set, LogKind::Binlog), &starts, None, opts, tmp.path());
        let s = shared((&set, LogKind::Binlog), &starts, None, opts, tmp.path());
        let (ok, failed) = same("synthetic 70 MiB", &starts, &r, &s);
        assert_eq!((ok, failed), (3, 0));
        let (rep, bytes) = s[0].as_ref().unwrap();
        assert_eq!(rep.transactions, 34);
        assert!(rep.left_out.is_some(), "the last transaction is incomplete");
        let whole: usize = 4 + evs[..1 + 34 * 4].iter().map(Vec::len).sum::<usize>();
        let tail: usize = evs[1 + 34 * 4..].iter().map(Vec::len).sum();
        let want = if opts.keep_partial_tail { whole + tail } else { whole };
        assert_eq!(bytes.len(), want, "the incomplete tail is cut off unless kept");
    }
}
