//! Shared test support: where fixtures live.
#![allow(dead_code)]

use std::path::PathBuf;

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
pub mod build;
pub mod fixtures;
pub mod mha;
pub mod node;
