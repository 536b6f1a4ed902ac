//! Where fixtures live (the project's `testdata/`, the public corpus, the
//! list of both in `testdata/fixtures.list`) and helpers over them: a
//! relay-log.info pointing at a fixture, the transaction ends of a master's
//! binlogs.

use std::path::{Path, PathBuf};

use binlog_diff::event::{TrxGrouper, WalkOptions, classify};
use binlog_diff::log::{Access, LogFile, LogSet, RecoveryMode};
use binlog_diff::position::MasterPos;

/// The public corpus (`../shared/testdata/public`), or `BINLOG_DIFF_CORPUS`.
/// `None`, with a loud message, when it is absent.
pub fn corpus_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("BINLOG_DIFF_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/testdata/public")));
    if dir.join("MANIFEST.md").exists() {
        Some(dir)
    } else {
        eprintln!(
            "\n!!!!!!!! SKIPPED: public binlog corpus not found at {} (set BINLOG_DIFF_CORPUS) !!!!!!!!\n",
            dir.display()
        );
        None
    }
}

/// The project's own fixtures.
pub fn testdata_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata"))
}

/// Fixtures from `testdata/fixtures.list`: `(name, absolute path)`.
/// Names are `public/<path in corpus>` or `local/<path under testdata>`.
/// Public entries are left out (with a message) when the corpus is absent.
pub fn fixtures() -> Vec<(String, PathBuf)> {
    let list = std::fs::read_to_string(testdata_dir().join("fixtures.list")).expect("testdata/fixtures.list");
    let corpus = corpus_dir();
    let mut out = Vec::new();
    for line in list.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (src, rel) = line.split_once('/').expect("fixture names are public/… or local/…");
        let path = match src {
            "public" => match &corpus {
                Some(c) => c.join(rel),
                None => continue,
            },
            "local" => testdata_dir().join(rel),
            other => panic!("unknown fixture source {other} in fixtures.list"),
        };
        assert!(path.exists(), "fixture {line} listed but missing at {}", path.display());
        out.push((line.to_string(), path));
    }
    out
}

/// A relay-log.info naming the fixture's relay log by absolute path (one
/// fixture records the absolute paths of the machine that made it).
pub fn relay_log_info(work: &Path, replica: &Path) -> PathBuf {
    let orig = binlog_diff::log::info::read_relay_log_info(&replica.join("relay-log.info")).unwrap();
    let name = orig.relay_log_file.file_name().unwrap();
    let p = work.join("relay-log.info");
    let text = format!(
        "5\n{}\n{}\n{}\n{}\n0\n",
        replica.join(name).display(),
        orig.relay_log_pos,
        orig.master_log_file,
        orig.master_log_pos
    );
    std::fs::write(&p, text).unwrap();
    p
}

/// Master positions where a transaction ends.
pub fn boundaries(master: &LogSet) -> Vec<MasterPos> {
    let mut out = Vec::new();
    for (name, path) in master.files() {
        let lf = LogFile::open(path, Access::Mmap).unwrap();
        let mut g = TrxGrouper::new();
        lf.walk(WalkOptions::default(), RecoveryMode::TolerateTruncatedTail, |ev, fmt| {
            if g.feed(classify(&ev, fmt).unwrap()).boundary.closes() {
                out.push(MasterPos::new(name.clone(), ev.end_offset()));
            }
            Ok(true)
        })
        .unwrap();
    }
    out
}
