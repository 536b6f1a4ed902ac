//! A live (or restarting) server's files may shrink under us: a restarting
//! mysqld trims its last binlog, a replica cuts a relay log. Mapped, such a
//! file kills the reader with SIGBUS when a lost page is touched. Here the
//! source of a `save_binary_logs` and of a relay-log cut
//! (`apply_diff_relay_logs --command=generate`) is truncated while the tool
//! reads it, at exactly the step named, with fail-rs failpoints (compiled
//! into test builds only, configured by `FAILPOINTS`; see
//! `src/log/source.rs`): the tool stops at the failpoint until the test has
//! truncated the files and closes a FIFO. No sleeps, every wait bounded.
//!
//! - `source-opened` (length taken, nothing read yet): the tool must not die
//!   of a signal; it fails naming the file and both lengths.
//! - `source-read` (read, length not yet checked again): the check after
//!   reading catches the shrink.

mod support;

use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::node::Bin;

const WAIT: Duration = Duration::from_secs(60);

/// A copy of a fixture folder.
fn copy_of(rel: &str, to: &Path) -> PathBuf {
    let src = support::testdata_dir().join("mariadb").join(rel);
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(&src).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
        }
    }
    to.to_path_buf()
}

fn mkfifo(p: &Path) {
    let st = Command::new("mkfifo").arg(p).status().unwrap();
    assert!(st.success(), "mkfifo {}", p.display());
}

/// Waits (bounded) until `child` stops at the failpoint (it opens `fifo`
/// for reading), runs `change`, then lets it go on; returns its output.
fn at_failpoint(mut child: Child, fifo: &Path, change: impl FnOnce()) -> (std::process::ExitStatus, String, String) {
    let t0 = Instant::now();
    let writer = loop {
        match std::fs::OpenOptions::new().write(true).custom_flags(libc::O_NONBLOCK).open(fifo) {
            Ok(w) => break w,
            Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {}
            Err(e) => panic!("{}: {e}", fifo.display()),
        }
        if let Some(st) = child.try_wait().unwrap() {
            let o = child.wait_with_output().unwrap();
            panic!(
                "the tool ended ({st}) without stopping at the failpoint (built without fail/failpoints?)\n{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
        }
        assert!(t0.elapsed() < WAIT, "the tool did not reach the failpoint in {WAIT:?}");
        std::thread::yield_now();
    };
    change();
    drop(writer); // EOF on the FIFO: the tool goes on
    let t1 = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t1.elapsed() > WAIT {
            let _ = child.kill();
            panic!("the tool did not finish in {WAIT:?} after the failpoint");
        }
        std::thread::sleep(Duration::from_millis(20)); // polling a child's exit, not synchronising
    }
    let o = child.wait_with_output().unwrap();
    (o.status, String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

fn spawn(b: &Bin, tool: &str, args: &[String], failpoint: &str, fifo: &Path) -> Child {
    Command::new(b.path(tool))
        .args(args)
        .env("FAILPOINTS", format!("{failpoint}=1*return({})", fifo.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn truncate_all(files: &[PathBuf]) {
    for f in files {
        std::fs::OpenOptions::new().write(true).open(f).unwrap().set_len(0).unwrap();
    }
}

fn logs_in(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.starts_with(prefix) && !n.ends_with(".index") && !n.ends_with(".txt")
        })
        .collect();
    v.sort();
    v
}

/// What every case checks: no signal, exit 1, one line naming a truncated
/// file with both its lengths, and no output file left behind.
fn assert_refused_naming_the_shrink(st: std::process::ExitStatus, so: &str, se: &str, files: &[PathBuf], out: &Path) {
    assert_eq!(st.signal(), None, "killed by a signal: a mapped file shrank under the tool\n{so}{se}");
    assert_eq!(st.code(), Some(1), "{so}{se}");
    let named = files.iter().find(|f| se.contains(&f.display().to_string()));
    let f = named.unwrap_or_else(|| panic!("no truncated file named:\n{se}"));
    assert!(se.contains("shrank while being read"), "{se}");
    let was = std::fs::metadata(
        support::testdata_dir()
            .join("mariadb/row-crc32")
            .join(if f.to_string_lossy().contains("relay") { "replica" } else { "master" })
            .join(f.file_name().unwrap()),
    )
    .unwrap()
    .len();
    assert!(se.contains(&format!("{was} bytes when opened, 0 now")), "{se}");
    assert!(!out.exists(), "{} left behind", out.display());
    let leftovers: Vec<_> = std::fs::read_dir(out.parent().unwrap()).unwrap().map(|e| e.unwrap().path()).collect();
    assert!(leftovers.is_empty(), "left behind: {leftovers:?}");
}

#[test]
fn a_save_whose_binlogs_shrink_while_read_fails_naming_them() {
    let b = Bin::new();
    for failpoint in ["source-opened", "source-read"] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = copy_of("row-crc32/master", &tmp.path().join("binlogs"));
        let fifo = tmp.path().join("fifo");
        mkfifo(&fifo);
        let out = tmp.path().join("out/saved.binlog");
        let args = vec![
            "--command=save".to_string(),
            "--start_file=mysql-bin.000001".into(),
            "--start_pos=4".into(),
            format!("--binlog_dir={}", dir.display()),
            format!("--output_file={}", out.display()),
        ];
        let files = logs_in(&dir, "mysql-bin.");
        assert_eq!(files.len(), 2);
        let child = spawn(&b, "save_binary_logs", &args, failpoint, &fifo);
        let (st, so, se) = at_failpoint(child, &fifo, || truncate_all(&files));
        assert_refused_naming_the_shrink(st, &so, &se, &files, &out);
        assert!(se.starts_with("Failed to save binary log: "), "{failpoint}: {se}");
    }
}

#[test]
fn a_relay_log_cut_whose_files_shrink_while_read_fails_naming_them() {
    let b = Bin::new();
    for failpoint in ["source-opened", "source-read"] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = copy_of("row-crc32/replica", &tmp.path().join("replica"));
        let rinfo = support::fixtures::relay_log_info(tmp.path(), &dir);
        let fifo = tmp.path().join("fifo");
        mkfifo(&fifo);
        let work = tmp.path().join("work");
        std::fs::create_dir_all(&work).unwrap();
        let out = work.join("diff.binlog");
        let args = vec![
            "--command=generate".to_string(),
            "--latest_mlf=mysql-bin.000002".into(),
            "--latest_rmlp=1369".into(),
            "--target_mlf=mysql-bin.000001".into(),
            "--target_rmlp=1001".into(),
            "--server_id=2".into(),
            format!("--workdir={}", work.display()),
            "--timestamp=1".into(),
            format!("--relay_log_info={}", rinfo.display()),
            format!("--relay_dir={}/", dir.display()),
            format!("--diff_file_readtolatest={}", out.display()),
        ];
        // Undamaged, the same cut succeeds (a real boundary, data to copy).
        let o = b.run("apply_diff_relay_logs", &args);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(out.exists());
        std::fs::remove_file(&out).unwrap();
        let files = logs_in(&dir, "relay-bin.");
        assert_eq!(files.len(), 4);
        let child = spawn(&b, "apply_diff_relay_logs", &args, failpoint, &fifo);
        let (st, so, se) = at_failpoint(child, &fifo, || truncate_all(&files));
        assert_refused_naming_the_shrink(st, &so, &se, &files, &out);
    }
}
