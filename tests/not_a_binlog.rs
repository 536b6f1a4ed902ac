//! A binlog holds at least the 4-byte magic number and a format description
//! event (issue 20: `verify`, `dump` and `stats` called a 0-byte file a clean
//! binlog with 0 events, exit 0; mariadb-binlog refuses it). A file that
//! ends before its FORMAT_DESCRIPTION_EVENT is whole is refused by the
//! inspectors, tolerant or not, with the damaged exit code (1) and the
//! file's name. The cut deals with one explicitly: as the newest file of a
//! dead master's binlogs it is one the server had just created (nothing in
//! it, reported as a torn end); an earlier file of the set must be whole.

mod support;

use std::path::{Path, PathBuf};

use support::node::Bin;
use support::process::text;

fn fixture(rel: &str) -> PathBuf {
    support::testdata_dir().join("mariadb").join(rel)
}

/// The first bytes of a real binlog: none, part of the magic number, the
/// magic number, the magic number and part of the FDE.
fn short_files(dir: &Path) -> Vec<(PathBuf, usize)> {
    let whole = std::fs::read(fixture("row-crc32/master/mysql-bin.000002")).unwrap();
    [0, 2, 4, 30]
        .into_iter()
        .map(|n| {
            let p = dir.join(format!("short{n}.000001"));
            std::fs::write(&p, &whole[..n]).unwrap();
            (p, n)
        })
        .collect()
}

#[test]
fn the_inspectors_refuse_a_file_without_a_format_description() {
    let tmp = tempfile::tempdir().unwrap();
    for (file, n) in short_files(tmp.path()) {
        for args in [
            &["verify"][..],
            &["verify", "--allow-truncated"],
            &["verify", "--no-mmap"],
            &["dump"],
            &["dump", "--allow-truncated", "--no-mmap"],
            &["stats"],
            &["stats", "--allow-truncated"],
        ] {
            let o =
                std::process::Command::new(env!("CARGO_BIN_EXE_binlog-diff")).args(args).arg(&file).output().unwrap();
            let (so, se) = text(&o);
            assert_eq!(o.status.code(), Some(1), "{n} bytes, {args:?}: {so}{se}");
            let said = format!("{so}{se}");
            assert!(said.contains(&format!("{} @ ", file.display())), "{n} bytes, {args:?}: {said}");
            let strict = !args.contains(&"--allow-truncated");
            // Cut inside the magic number or the FDE: strictly, a truncated event, as for any event.
            let why = if strict && (n == 2 || n == 30) { "truncated event" } else { "not a binlog: the file" };
            assert!(said.contains(why), "{n} bytes, {args:?}: {said}");
            assert!(!so.contains(": OK "), "{n} bytes, {args:?}: {so}");
        }
    }
}

/// The applier too: an empty or cut-off file is not a diff with nothing in
/// it (it was applied as one, exit 0), alone or after a whole file.
#[test]
fn the_applier_refuses_a_file_without_a_format_description() {
    let tmp = tempfile::tempdir().unwrap();
    let whole = fixture("row-crc32/master/mysql-bin.000002");
    for (file, n) in short_files(tmp.path()) {
        for files in [vec![file.clone()], vec![whole.clone(), file.clone()]] {
            let o = std::process::Command::new(env!("CARGO_BIN_EXE_binlog-diff"))
                .args(["apply", "--print-sql"])
                .args(&files)
                .output()
                .unwrap();
            let (so, se) = text(&o);
            assert_ne!(o.status.code(), Some(0), "{n} bytes: {so}{se}");
            assert!(se.contains(&format!("{} @ ", file.display())), "{n} bytes: {se}");
        }
    }
}

/// `save_binary_logs` over a copy of a master's binlogs whose newest file is
/// just created (0 bytes, the magic number only, a torn FDE): the tail is
/// saved, the new file reported as a torn end; the same file as an earlier
/// file of the set is refused.
#[test]
fn a_cut_takes_a_new_last_file_for_a_torn_end_and_refuses_an_earlier_one() {
    let b = Bin::new();
    let tmp = tempfile::tempdir().unwrap();
    let src = fixture("row-crc32/master");
    let whole3 = std::fs::read(src.join("mysql-bin.000002")).unwrap();
    for n in [0, 4, 30] {
        let dir = tmp.path().join(format!("new{n}"));
        std::fs::create_dir_all(&dir).unwrap();
        for f in ["mysql-bin.000001", "mysql-bin.000002"] {
            std::fs::copy(src.join(f), dir.join(f)).unwrap();
        }
        std::fs::write(dir.join("mysql-bin.000003"), &whole3[..n]).unwrap();
        std::fs::write(dir.join("mysql-bin.index"), "./mysql-bin.000001\n./mysql-bin.000002\n./mysql-bin.000003\n")
            .unwrap();
        let save = |start: &str, out: &Path| {
            b.run(
                "save_binary_logs",
                &[
                    "--command=save".to_string(),
                    format!("--start_file={start}"),
                    "--start_pos=4".into(),
                    format!("--binlog_dir={}", dir.display()),
                    format!("--output_file={}", out.display()),
                ],
            )
        };
        let out = dir.join("out/saved.binlog");
        let o = save("mysql-bin.000002", &out);
        let (so, se) = text(&o);
        assert_eq!(o.status.code(), Some(0), "new last file of {n} bytes: {so}{se}");
        assert!(so.contains("The last log ends inside an event"), "{so}");
        assert!(out.exists());

        // The same file, not the newest: damage.
        std::fs::write(dir.join("mysql-bin.000004"), &whole3).unwrap();
        std::fs::write(
            dir.join("mysql-bin.index"),
            "./mysql-bin.000001\n./mysql-bin.000002\n./mysql-bin.000003\n./mysql-bin.000004\n",
        )
        .unwrap();
        let out = dir.join("out2/saved.binlog");
        let o = save("mysql-bin.000002", &out);
        let (so, se) = text(&o);
        assert_eq!(o.status.code(), Some(1), "earlier file of {n} bytes: {so}{se}");
        assert!(se.contains(&format!("{} @ ", dir.join("mysql-bin.000003").display())), "{se}");
        assert!(!out.exists());
    }
}
