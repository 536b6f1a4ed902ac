//! `binlog-diff bench catchup` end to end: real throwaway MariaDB servers,
//! every mode on the same generated logs, the validity check, the user's
//! own logs with a datadir or a dump as the starting state, bad input.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use binlog_diff::server::embedded::{self, Embedded};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_binlog-diff");

fn catchup(args: &[&str], workdir: &Path) -> Output {
    Command::new(BIN)
        .args(["bench", "catchup", "--json", "--no-progress", "--workdir"])
        .arg(workdir)
        .args(args)
        .output()
        .expect("run binlog-diff")
}

fn report(out: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{stdout}\nstderr:\n{}", String::from_utf8_lossy(&out.stderr)))
}

fn line<'a>(r: &'a Value, mode: &str, threads: u64) -> &'a Value {
    r["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["mode"] == mode && l["threads"] == threads)
        .unwrap_or_else(|| panic!("no line {mode} x{threads} in {r:#}"))
}

/// The generated logs and snapshot the seeded workload left in `workdir`.
fn generated(workdir: &Path) -> (Vec<PathBuf>, PathBuf) {
    let g = std::fs::read_dir(workdir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("gen-seeded-"))
        .expect("a generated workload");
    let mut logs: Vec<PathBuf> = std::fs::read_dir(g.join("logs")).unwrap().map(|e| e.unwrap().path()).collect();
    logs.sort();
    (logs, g.join("snapshot"))
}

/// Every mode, 1 and 2 threads, on a generated sysbench-like mix from
/// eight clients: every run ends with the reference's checksums and the
/// logs' last GTID, the table has a line per mode and thread count, and the
/// chart names every mode.
#[test]
fn every_mode_on_a_generated_workload() {
    let tmp = tempfile::tempdir().unwrap();
    let chart = tmp.path().join("chart.svg");
    let out =
        catchup(&["--size", "1M", "--threads", "1,2", "--chart", chart.to_str().unwrap()], &tmp.path().join("work"));
    let r = report(&out);
    assert!(out.status.success(), "{r:#}\n{}", String::from_utf8_lossy(&out.stderr));
    let trx = r["logs"]["transactions"].as_u64().unwrap();
    assert!(trx > 300, "{r:#}");
    assert_eq!(r["results"].as_array().unwrap().len(), 1 + 3 * 2 + 1 + 2, "{r:#}");
    for (mode, threads) in [
        ("sql", 1),
        ("conservative", 1),
        ("conservative", 2),
        ("optimistic", 2),
        ("aggressive", 2),
        ("pipe", 1),
        ("apply", 1),
        ("apply", 2),
    ] {
        let l = line(&r, mode, threads);
        assert_eq!(l["valid"], true, "{mode} x{threads}: {r:#}");
        assert!(l["seconds"].as_f64().unwrap() > 0.0);
        assert!(l["speedup_vs_sql"].as_f64().unwrap() > 0.0);
    }
    assert_eq!(line(&r, "sql", 1)["speedup_vs_sql"].as_f64(), Some(1.0));
    let runs = r["runs"].as_array().unwrap();
    let end = r["logs"]["end_gtid"].as_str().unwrap();
    for run in runs {
        assert_eq!(run["gtid_binlog_pos"], end, "{run:#}");
        assert_eq!(run["checksums"], runs[0]["checksums"], "{run:#}");
    }
    let sums = runs[0]["checksums"].as_object().unwrap();
    assert_eq!(sums.len(), 4, "the four sbtest tables: {sums:?}");
    assert!(sums.values().all(|v| v.as_u64().is_some_and(|n| n != 0)));
    let svg = std::fs::read_to_string(&chart).unwrap();
    assert!(svg.starts_with("<svg"));
    for m in ["sql", "conservative", "optimistic", "aggressive", "pipe", "apply"] {
        assert!(svg.contains(&format!(">\n{m}\n<")) || svg.contains(&format!(">{m}<")), "{m} not in the legend");
    }
    assert_eq!(r["chart"], chart.to_str().unwrap());
}

/// A run that ends with other data is marked invalid and the command fails:
/// a replication filter (`--server-option`) makes the SQL thread skip a
/// table that our applier writes.
#[test]
fn a_diverging_run_is_invalid() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    let out = catchup(
        &[
            "--workload",
            "seeded",
            "--size",
            "512K",
            "--modes",
            "sql,apply",
            "--threads",
            "1",
            "--server-option=--replicate-ignore-table=bd.seq",
        ],
        &work,
    );
    let r = report(&out);
    assert!(!out.status.success(), "{r:#}");
    assert_eq!(line(&r, "sql", 1)["valid"], true, "{r:#}");
    let apply = r["runs"].as_array().unwrap().iter().find(|x| x["mode"] == "apply").unwrap();
    assert_eq!(apply["valid"], false, "{r:#}");
    let why = apply["problem"].as_str().unwrap();
    assert!(why.contains("checksums differ") && why.contains("bd.seq") && !why.contains("bd.t\""), "{why}");
    assert!(line(&r, "apply", 1)["seconds"].is_null(), "an invalid run has no time in the table");

    // The same logs as the user's own files, starting from the generator's
    // datadir, then from a logical dump of it: both valid.
    let (logs, snapshot) = generated(&work);
    let before: Vec<Vec<u8>> = logs.iter().map(|l| std::fs::read(l).unwrap()).collect();
    let mut args: Vec<String> =
        ["--modes", "sql,optimistic,apply", "--threads", "2", "--datadir"].iter().map(|s| s.to_string()).collect();
    args.push(snapshot.display().to_string());
    args.extend(logs.iter().map(|p| p.display().to_string()));
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = catchup(&argv, &work);
    let r = report(&out);
    assert!(out.status.success(), "{r:#}");
    let trx = r["logs"]["transactions"].as_u64().unwrap();
    assert!(trx > 50, "{r:#}");

    let dump = tmp.path().join("start.sql");
    dump_of(&snapshot, &tmp.path().join("dumper"), &dump);
    let mut args: Vec<String> =
        ["--modes", "sql,pipe", "--dump", dump.to_str().unwrap()].iter().map(|s| s.to_string()).collect();
    args.extend(logs.iter().map(|p| p.display().to_string()));
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let out2 = catchup(&argv, &work);
    let r2 = report(&out2);
    assert!(out2.status.success(), "{r2:#}");
    assert_eq!(r2["logs"]["transactions"].as_u64(), Some(trx));
    // Same data at the end from either starting state.
    let sums = |r: &Value| r["runs"].as_array().unwrap()[0]["checksums"].clone();
    assert_eq!(sums(&r), sums(&r2));
    // The user's files were only read.
    let after: Vec<Vec<u8>> = logs.iter().map(|l| std::fs::read(l).unwrap()).collect();
    assert!(before == after, "the input logs changed");
}

/// `mariadb-dump --databases bd` of a copy of `snapshot`.
fn dump_of(snapshot: &Path, dir: &Path, out: &Path) {
    let data = dir.join("data");
    embedded::copy_dir(snapshot, &data).unwrap();
    let server = Embedded::start(dir, &data, &[]).unwrap();
    let dumper = embedded::find_program(&["mariadb-dump", "mysqldump"]).unwrap();
    let o = Command::new(dumper)
        .arg("--no-defaults")
        .arg("--user=root")
        .arg(format!("--socket={}", server.socket().display()))
        .args(["--databases", "bd"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::write(out, o.stdout).unwrap();
}

/// Logs that are not logs: an error naming the file, no run, no panic.
#[test]
fn bad_logs_are_refused_with_the_file_named() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("mysql-bin.000001");
    std::fs::write(&bad, b"\xfebinXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX").unwrap();
    let out = Command::new(BIN)
        .args(["bench", "catchup", "--no-progress", "--workdir"])
        .arg(tmp.path().join("work"))
        .arg(&bad)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    // Garbage after the magic is damage at offset 4, never a torn end (the one rule of log::file).
    assert!(err.contains("mysql-bin.000001 @ 4 (") && err.contains("FORMAT_DESCRIPTION_EVENT"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(std::fs::read(&bad).unwrap(), b"\xfebinXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX");

    // A real log with one byte changed inside an event: the CRC check names
    // the file, the event's offset and its type.
    let work = tmp.path().join("work");
    let out = catchup(&["--workload", "seeded", "--size", "256K", "--modes", "apply", "--threads", "1"], &work);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (logs, _) = generated(&work);
    let big = logs.iter().max_by_key(|l| std::fs::metadata(l).unwrap().len()).unwrap();
    let damaged = tmp.path().join(big.file_name().unwrap());
    let mut bytes = std::fs::read(big).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(&damaged, &bytes).unwrap();
    let out = Command::new(BIN)
        .args(["bench", "catchup", "--no-progress", "--workdir"])
        .arg(&work)
        .arg(&damaged)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains(&damaged.display().to_string()) && err.contains('@') && err.contains("_EVENT"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// `--target`: the user's scratch server (here one of ours on a TCP port),
/// wiped and restored from a dump before each run; the SQL-thread modes are
/// refused there, and so is a target without consent to wipe it.
#[test]
fn scratch_target_restored_from_a_dump() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    let out = catchup(&["--workload", "seeded", "--size", "256K", "--modes", "apply", "--threads", "1"], &work);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (logs, snapshot) = generated(&work);
    let dump = tmp.path().join("start.sql");
    dump_of(&snapshot, &tmp.path().join("dumper"), &dump);

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let data = tmp.path().join("scratch/data");
    embedded::copy_dir(&embedded::template(&work).unwrap(), &data).unwrap();
    let opts: Vec<String> = vec![
        "--skip-networking=0".into(),
        format!("--port={port}"),
        "--bind-address=127.0.0.1".into(),
        "--log-bin=scratch-bin".into(),
        "--server-id=7".into(),
    ];
    let _scratch = Embedded::start(&tmp.path().join("scratch"), &data, &opts).unwrap();
    let target = format!("127.0.0.1:{port}");
    let mut args: Vec<String> = ["--modes", "pipe,apply", "--threads", "1,2", "--dump", dump.to_str().unwrap()]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(["--target".to_string(), target.clone(), "--wipe-target".into()]);
    args.extend(logs.iter().map(|p| p.display().to_string()));
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = catchup(&argv, &work);
    let r = report(&out);
    assert!(out.status.success(), "{r:#}\n{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(r["results"].as_array().unwrap().len(), 3);
    let runs = r["runs"].as_array().unwrap();
    for run in runs {
        assert_eq!(run["valid"], true, "{run:#}");
        assert_eq!(run["checksums"], runs[0]["checksums"]);
        assert_eq!(run["gtid_binlog_pos"], r["logs"]["end_gtid"]);
    }

    let refuse = |extra: &[&str]| {
        let mut a: Vec<&str> = vec!["--target", &target];
        a.extend_from_slice(extra);
        a.push(logs[0].to_str().unwrap());
        let o = catchup(&a, &work);
        assert!(!o.status.success());
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let e = refuse(&["--modes", "apply"]);
    assert!(e.contains("--wipe-target"), "{e}");
    let e = refuse(&["--wipe-target", "--modes", "sql,apply"]);
    assert!(e.contains("mode sql") && e.contains("only pipe and apply"), "{e}");
}

/// A real replica's relay logs (a folder, `--relay`; small, so transactions
/// span files), from an empty server: the SQL thread and our applier reach
/// the master's data. MHA's pipe does not: mariadb-binlog loses the table
/// map of a transaction that continues in the next relay log, and the run
/// is reported invalid with mariadb's error, not hung.
#[test]
fn a_replicas_relay_logs() {
    use support::topology::{MASTER, Topology, TopologyConfig};
    let topo = Topology::start(TopologyConfig { replicas: 1, max_relay_log_size: 16384, ..Default::default() });
    let mut w = topo.workload(5);
    w.run(150);
    w.ddl();
    w.run(50);
    topo.wait_replicas_caught_up();
    topo.stop_slave(1);
    let want = topo.checksum_tables(MASTER, "bd");
    let tmp = tempfile::tempdir().unwrap();
    let relay = tmp.path().join("relay");
    std::fs::create_dir_all(&relay).unwrap();
    for e in std::fs::read_dir(topo.datadir(1)).unwrap() {
        let p = e.unwrap().path();
        if p.file_name().unwrap().to_string_lossy().starts_with("relay-bin.") {
            std::fs::copy(&p, relay.join(p.file_name().unwrap())).unwrap();
        }
    }
    drop(topo);
    let out = catchup(
        &["--modes", "sql,optimistic,apply", "--threads", "2", "--relay", relay.to_str().unwrap()],
        &tmp.path().join("work"),
    );
    let r = report(&out);
    assert!(out.status.success(), "{r:#}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(r["logs"]["files"].as_u64().unwrap() > 2, "several relay logs: {r:#}");
    let sums = &r["runs"].as_array().unwrap()[0]["checksums"];
    assert!(want.len() >= 3, "{want:?}");
    for (t, v) in &want {
        let key = if t.contains('.') { t.clone() } else { format!("bd.{t}") };
        assert_eq!(sums[&key].as_u64(), Some(*v), "{key}: {r:#}");
    }
    let out = catchup(&["--modes", "pipe", "--relay", relay.to_str().unwrap()], &tmp.path().join("work"));
    let r = report(&out);
    assert!(!out.status.success());
    let why = r["runs"][0]["problem"].as_str().unwrap();
    assert!(why.contains("mariadb failed"), "{why}");
}
