//! The `binlog-diff` binary: exit codes, error lines, and proof that no
//! command writes to its inputs.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_binlog-diff"))
}

fn run(args: &[&str]) -> (i32, String, String) {
    let o = bin().args(args).output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into(),
        String::from_utf8_lossy(&o.stderr).into(),
    )
}

fn corpus(rel: &str) -> Option<String> {
    support::corpus_dir().map(|d| d.join(rel).display().to_string())
}

#[test]
fn clean_file_exits_zero() {
    let Some(f) = corpus("mysql-binlog-connector-java/mysql-bin.checksum-crc32") else { return };
    let (code, out, err) = run(&["verify", &f]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(": OK events=303 "), "{out}");
}

#[test]
fn not_a_binlog_names_file_and_offset() {
    let Some(f) = corpus("mysql-binlog-connector-rust/non-binlog") else { return };
    let (code, out, _) = run(&["verify", &f]);
    assert_eq!(code, 1);
    assert_eq!(out.trim(), format!("{f} @ 0: not a binlog file (bad magic number)"));
    let (code, _, err) = run(&["dump", &f]);
    assert_eq!(code, 1);
    assert!(err.contains("@ 0: not a binlog file"), "{err}");
}

#[test]
fn corrupt_body_prints_everything_before_then_fails() {
    let Some(f) = corpus("rust_mysql_common/corrupt-relay-bin.000624") else { return };
    let (code, out, err) = run(&["dump", &f]);
    assert_eq!(code, 1);
    assert_eq!(
        err.trim(),
        format!("binlog-diff: {f} @ 91204 (QUERY_EVENT): event body too short for status variables")
    );
    assert_eq!(out.lines().count(), 873, "every event before the damage, then the damaged header line");
    assert!(out.lines().last().unwrap().trim_start().starts_with("91204 QUERY_EVENT"));
}

#[test]
fn truncated_tail_is_an_error_unless_allowed() {
    let Some(f) = corpus("rust_mysql_common/binlog_truncated_prev_gtid_event.000001") else { return };
    let (code, out, _) = run(&["verify", &f]);
    assert_eq!(code, 1);
    assert!(out.contains("@ 120 (PREVIOUS_GTIDS_LOG_EVENT): truncated event: 9 of 19 bytes present"), "{out}");
    let (code, out, _) = run(&["verify", "--allow-truncated", &f]);
    assert_eq!(code, 0);
    assert!(out.contains("incomplete-tail at=120 available=9 needed=19"), "{out}");
}

#[test]
fn checksum_damage_is_named() {
    let Some(f) = corpus("zalora-binlog-parser/mysql-bin.01") else { return };
    let mut bytes = std::fs::read(&f).unwrap();
    bytes[300] ^= 0x40;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("damaged.000001");
    std::fs::write(&p, &bytes).unwrap();
    let (code, out, _) = run(&["verify", p.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(out.contains("damaged.000001 @ "), "{out}");
    assert!(out.contains("checksum mismatch: stored 0x"), "{out}");
}

#[test]
fn usage_errors_exit_two() {
    assert_eq!(run(&["verify"]).0, 2);
    assert_eq!(run(&["frobnicate"]).0, 2);
    assert_eq!(run(&["verify", "/nonexistent/mysql-bin.000001"]).0, 2);
}

#[test]
fn json_dump_is_one_object_per_line() {
    let Some(f) = corpus("rust_mysql_common/mariadb-bin.000001") else { return };
    let (code, out, _) = run(&["dump", "--json", &f]);
    assert_eq!(code, 0);
    let lines: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 13);
    assert_eq!(lines[3]["type"], "GTID_EVENT");
    assert_eq!(lines[3]["offset"], 330);
}

#[test]
fn start_and_stop_position() {
    let Some(f) = corpus("rust_mysql_common/mariadb-bin.000001") else { return };
    let (_, out, _) = run(&["dump", "--start-position", "330", "--stop-position", "702", &f]);
    let offs: Vec<&str> = out.lines().map(|l| l.split_whitespace().next().unwrap()).collect();
    assert_eq!(offs, ["330", "372", "476", "612", "671"]);
}

fn fingerprint(p: &Path) -> (Vec<u8>, std::time::SystemTime) {
    (std::fs::read(p).unwrap(), std::fs::metadata(p).unwrap().modified().unwrap())
}

/// Sources are opened read-only and never modified: every corpus file is
/// byte-identical (and keeps its mtime) after every command ran on it.
#[test]
fn commands_never_modify_their_inputs() {
    let fixtures: Vec<PathBuf> = support::fixtures().into_iter().map(|(_, p)| p).collect();
    let before: Vec<_> = fixtures.iter().map(|p| fingerprint(p)).collect();
    let args: Vec<&str> = fixtures.iter().map(|p| p.to_str().unwrap()).collect();
    for cmd in [
        &["verify"][..],
        &["verify", "-j", "--allow-truncated"],
        &["dump", "--allow-truncated"],
        &["dump", "--json", "--no-mmap"],
        &["stats", "--allow-truncated"],
    ] {
        for f in &args {
            let mut a = cmd.to_vec();
            a.push(f);
            run(&a);
        }
    }
    run(&[&["verify"][..], &args].concat());
    let after: Vec<_> = fixtures.iter().map(|p| fingerprint(p)).collect();
    for ((p, b), a) in fixtures.iter().zip(before).zip(after) {
        assert!(b == a, "{} changed", p.display());
    }
}

/// `-p` asks for the password on the terminal (echo off), as `mysql -p`
/// does; without a terminal it says so. The terminal is a pty from
/// util-linux `script`; the answer is typed only once the prompt shows.
#[test]
fn password_prompt_on_a_terminal() {
    use std::io::{Read, Write};
    use std::os::fd::{AsRawFd, FromRawFd};
    use std::os::unix::process::CommandExt;
    let exe = env!("CARGO_BIN_EXE_binlog-diff");
    // No terminal: a clear error, no password read from stdin.
    let o = bin()
        .args(["diff", "--live", "r=127.0.0.1:1", "-u", "x", "-p"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("cannot read the password from the terminal"), "{err}");
    // A pseudo-terminal of our own, the child's controlling terminal, so the
    // test can see when echo goes off (the terminal settings are shared by
    // both ends) and type only then: typing right after the prompt races
    // the child turning echo off.
    let (mut master, slave) = {
        let (mut m, mut sl) = (0, 0);
        // SAFETY: openpty writes two fds into the locals; the null pointers are allowed.
        let r = unsafe { libc::openpty(&mut m, &mut sl, std::ptr::null_mut(), std::ptr::null(), std::ptr::null()) };
        assert_eq!(r, 0, "openpty");
        // SAFETY: both fds were just opened and are owned here.
        unsafe { (std::fs::File::from_raw_fd(m), std::fs::File::from_raw_fd(sl)) }
    };
    let mut cmd = Command::new(exe);
    cmd.args(["diff", "--live", "r=127.0.0.1:1", "-u", "x", "-p"])
        .stdin(slave.try_clone().unwrap())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave.try_clone().unwrap());
    // SAFETY: setsid and ioctl are async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY as _, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    // The command holds copies of the child's ends: without them, reading the master ends when the child exits.
    drop(cmd);
    drop(slave);
    let echo_off = || {
        // SAFETY: tcgetattr fills a zeroed termios for a valid fd.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        unsafe { libc::tcgetattr(master.as_raw_fd(), &mut t) == 0 && t.c_lflag & libc::ECHO == 0 }
    };
    let t0 = std::time::Instant::now();
    while !echo_off() {
        assert!(t0.elapsed() < std::time::Duration::from_secs(60), "echo never went off");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    master.write_all(b"sekret-pw\n").unwrap();
    assert!(child.wait().unwrap().code().is_some());
    let mut seen = Vec::new();
    // Reading the master after the child exited ends with EIO: everything before it is the output.
    let mut buf = [0u8; 4096];
    while let Ok(n) = master.read(&mut buf) {
        if n == 0 {
            break;
        }
        seen.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&seen);
    // The password was taken (the connection is what fails), and not echoed.
    assert!(text.contains("Enter password: "), "the prompt: {text}");
    assert!(text.contains("127.0.0.1:1: cannot connect"), "{text}");
    assert!(!text.contains("sekret-pw"), "password echoed: {text}");
}

/// A transaction cut short by the start of *another* one (a torn relay log
/// followed by the master's tail) is an error naming where it starts, never
/// dropped silently; cut short by the *same* transaction starting again (a
/// re-fetch), the cut copy is dropped and the whole one applied.
#[test]
fn cut_short_transaction_is_an_error_unless_refetched() {
    let src = support::testdata_dir().join("mariadb/row-crc32/master/mysql-bin.000002");
    let b = std::fs::read(&src).unwrap();
    // Offsets from its dump: FDE 4..256; GTID 0-1-12 at 385..1062; GTID 0-1-13 at 1062..1369.
    let d = tempfile::tempdir().unwrap();
    let torn = d.path().join("torn.binlog");
    std::fs::write(&torn, &b[..1222]).unwrap(); // ends inside 0-1-13, after its TABLE_MAP
    let with = |name: &str, body: &[u8]| {
        let p = d.path().join(name);
        std::fs::write(&p, [&b[..256], body].concat()).unwrap();
        p
    };
    let other = with("other.binlog", &b[385..1062]); // 0-1-12 whole
    let again = with("again.binlog", &b[1062..1369]); // 0-1-13 whole

    let o = bin().args(["apply", "--print-sql"]).arg(&torn).arg(&other).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "a cut-short transaction followed by another must fail");
    assert!(err.contains("torn.binlog") && err.contains("1062") && err.contains("0-1-13"), "{err}");
    assert!(err.contains("cut short"), "{err}");

    let o = bin().args(["apply", "--print-sql"]).arg(&torn).arg(&again).output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.contains("re-fetched copy of the next transaction"), "{out}");
    assert_eq!(out.matches("GTID 0-1-13").count(), 1, "applied once: {out}");
}

/// `verify --json`: one object per file and line, in the order given, with
/// the text output's numbers and the damage's offset and event type.
#[test]
fn verify_json_is_one_object_per_file() {
    let master = support::testdata_dir().join("mariadb/row-crc32/master");
    let (f1, f2) = (master.join("mysql-bin.000001"), master.join("mysql-bin.000002"));
    let dir = tempfile::tempdir().unwrap();
    let torn = dir.path().join("mysql-bin.000003");
    std::fs::write(&torn, &std::fs::read(&f1).unwrap()[..1000]).unwrap();
    let missing = dir.path().join("mysql-bin.000004");
    let s = |p: &Path| p.display().to_string();
    let (code, text, _) = run(&["verify", &s(&f1), &s(&f2), &s(&torn), &s(&missing)]);
    assert_eq!(code, 2, "{text}");
    for args in [&["verify", "--json"][..], &["verify", "--json", "-j"]] {
        let (code, out, err) = run(&[args, &[&s(&f1), &s(&f2), &s(&torn), &s(&missing)]].concat());
        assert_eq!(code, 2, "the worst file's code: {out}{err}");
        let v: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let files: Vec<&str> = v.iter().map(|o| o["file"].as_str().unwrap()).collect();
        assert_eq!(files, [s(&f1), s(&f2), s(&torn), s(&missing)]);
        for (o, line) in v.iter().zip(text.lines()).take(2) {
            assert_eq!(o["ok"], true);
            assert_eq!(o["error"], serde_json::Value::Null);
            assert_eq!(o["incomplete_tail"], serde_json::Value::Null);
            assert_eq!(o["checksums"], serde_json::json!(["CRC32"]));
            let said = format!(
                "{}: OK events={} bytes={} checksum=CRC32 verified={}",
                o["file"].as_str().unwrap(),
                o["events"],
                o["bytes"],
                o["verified"]
            );
            assert_eq!(line, said);
        }
        assert_eq!(v[0]["events"], 51);
        let e = &v[2]["error"];
        assert_eq!(v[2]["ok"], false);
        assert_eq!(v[2]["events"], serde_json::Value::Null);
        assert_eq!((e["damaged"].as_bool(), e["offset"].as_u64()), (Some(true), Some(850)));
        assert_eq!(e["event_type"], "QUERY_EVENT");
        assert_eq!(e["message"].as_str().unwrap(), text.lines().nth(2).unwrap());
        let e = &v[3]["error"];
        assert_eq!((e["damaged"].as_bool(), &e["offset"]), (Some(false), &serde_json::Value::Null));
    }
    // A torn tail accepted: clean, and where it is.
    let (code, out, _) = run(&["verify", "--json", "--allow-truncated", &s(&torn)]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["incomplete_tail"], serde_json::json!({"at": 850, "available": 150, "needed": 151}));
    // Damage alone exits 1, as in text.
    assert_eq!(run(&["verify", "--json", &s(&f1), &s(&torn)]).0, 1);
}

/// `map --json`: one object, with the positions the text output gives.
#[test]
fn map_json_is_one_object() {
    let relay = support::testdata_dir().join("mariadb/row-crc32/replica").display().to_string();
    let map =
        |extra: &[&str]| run(&[&["map", "--relay", &relay, "--latest", "mysql-bin.000002:1369"][..], extra].concat());
    let (code, text, _) = map(&["--target", "mysql-bin.000002:385"]);
    assert_eq!(code, 0);
    assert!(text.starts_with("master mysql-bin.000002:385 -> relay relay-bin.000004:684 ("), "{text}");
    let (code, out, _) = map(&["--target", "mysql-bin.000002:385", "--json"]);
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 1, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["target"], serde_json::json!({"file": "mysql-bin.000002", "pos": 385}));
    assert_eq!(v["start"], serde_json::json!({"file": "relay-bin.000004", "pos": 684}));
    assert_eq!(
        (v["fast_path"].as_bool(), v["already_complete"].as_bool()),
        (Some(text.contains("fast path")), Some(false))
    );
    assert!(v["millis"].as_f64().unwrap() >= 0.0);
    let (code, out, _) = map(&["--target", "mysql-bin.000002:1369", "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!((&v["start"], v["already_complete"].as_bool()), (&serde_json::Value::Null, Some(true)));
    // No mapping: the error on standard error, nothing on standard output, exit 2.
    let (code, out, err) = map(&["--target", "mysql-bin.000009:4", "--json"]);
    assert_eq!((code, out.as_str()), (2, ""));
    assert!(err.contains("mysql-bin.000009:4 is ahead of the latest replica"), "{err}");
}

/// What a command writes holds rows: the diffs and their folder are 0600 /
/// 0700 even under the usual umask 022 (issue 21).
#[test]
fn written_diffs_are_private_whatever_the_umask() {
    let data = support::testdata_dir().join("mariadb/row-crc32");
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("diffs");
    let o = Command::new("sh")
        .arg("-c")
        .arg("umask 022; exec \"$@\"")
        .arg("sh")
        .arg(env!("CARGO_BIN_EXE_binlog-diff"))
        .args(["diff", "--datadir"])
        .arg(format!("r={}", data.join("replica").display()))
        .arg("--master-binlogs")
        .arg(data.join("master"))
        .arg("--write")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    let files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    assert!(!files.is_empty());
    for f in files {
        assert_eq!(mode(&f), if f.is_dir() { 0o700 } else { 0o600 }, "{}", f.display());
    }
}
