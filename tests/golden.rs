//! Golden tests: every fixture in `testdata/fixtures.list` has its expected
//! `dump`, `verify` and `stats` output beside it under `testdata/golden/`,
//! named `<fixture>.<mode>` (plus `.err` for the expected error). Every
//! fixture runs through both the mmap and the read path, which must agree.
//!
//! Regenerate with `BINLOG_DIFF_UPDATE=1 cargo test --test golden`.

mod support;

use std::path::{Path, PathBuf};

use binlog_diff::inspect::{DumpOptions, Stats, StatsOptions, dump, verify};
use binlog_diff::log::{Access, LogFile, RecoveryMode};

fn golden_path(name: &str, mode: &str) -> PathBuf {
    support::testdata_dir().join("golden").join(format!("{name}.{mode}"))
}

/// Output of each mode for one fixture, with the absolute path replaced by its name.
fn run_modes(name: &str, path: &Path, access: Access) -> Vec<(&'static str, String)> {
    let lf = LogFile::open(path, access).unwrap();
    if access == Access::Mmap && !lf.bytes().is_empty() {
        assert!(lf.is_mapped(), "{name}: expected an mmap");
    }
    let shown = path.display().to_string();
    let fix = |s: String| s.replace(&shown, name);
    let mut out = Vec::new();

    let mut buf = Vec::new();
    let r = dump(&mut buf, &lf, &DumpOptions::default());
    out.push(("dump", fix(String::from_utf8(buf).unwrap())));
    out.push(("dump.err", r.err().map(|e| fix(format!("{e}\n"))).unwrap_or_default()));

    let v = match verify(&lf, RecoveryMode::AbsoluteConsistency) {
        Ok(r) => r.line(&lf),
        Err(e) => e.to_string(),
    };
    out.push(("verify", fix(v + "\n")));

    let mut st = Stats::new();
    let opts = StatsOptions { no_verify: false, recovery: RecoveryMode::TolerateTruncatedTail };
    let s = match st.add_file(&lf, opts) {
        Ok(()) => st.to_text(),
        Err(e) => format!("{}error: {e}\n", st.to_text()),
    };
    out.push(("stats", fix(s)));
    out
}

#[test]
fn golden_outputs_mmap_and_read_agree() {
    let update = std::env::var_os("BINLOG_DIFF_UPDATE").is_some();
    let fixtures = support::fixtures();
    assert!(!fixtures.is_empty(), "no fixtures");
    let mut failures = Vec::new();
    for (name, path) in &fixtures {
        let mmap = run_modes(name, path, Access::Mmap);
        let read = run_modes(name, path, Access::Read);
        assert_eq!(mmap, read, "{name}: mmap and read paths differ");
        for (mode, actual) in mmap {
            let gp = golden_path(name, mode);
            if update {
                if actual.is_empty() {
                    let _ = std::fs::remove_file(&gp);
                } else {
                    std::fs::create_dir_all(gp.parent().unwrap()).unwrap();
                    std::fs::write(&gp, &actual).unwrap();
                }
                continue;
            }
            let expected = std::fs::read_to_string(&gp).unwrap_or_default();
            if expected != actual {
                failures.push(format!(
                    "{name}.{mode}: output differs from {}\n--- expected\n{}\n--- actual\n{}",
                    gp.display(),
                    head(&expected),
                    head(&actual)
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} golden mismatches (rerun with BINLOG_DIFF_UPDATE=1 to update):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn head(s: &str) -> String {
    s.lines().take(40).collect::<Vec<_>>().join("\n")
}

/// Every corpus file is listed, so a new file cannot slip in untested.
#[test]
fn every_corpus_binlog_is_a_fixture() {
    let Some(corpus) = support::corpus_dir() else { return };
    let listed: std::collections::BTreeSet<String> = support::fixtures().into_iter().map(|(n, _)| n).collect();
    let mut missing = Vec::new();
    let mut stack = vec![corpus.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                if !p.ends_with("expected-json") {
                    stack.push(p);
                }
                continue;
            }
            let rel = p.strip_prefix(&corpus).unwrap().display().to_string();
            let f = p.file_name().unwrap().to_string_lossy().to_string();
            let not_binlog = f.ends_with(".md")
                || f.ends_with(".index")
                || f.starts_with("plaintext-")
                || f.starts_with("mysql-index-file");
            if !not_binlog && !listed.contains(&format!("public/{rel}")) {
                missing.push(rel);
            }
        }
    }
    assert!(missing.is_empty(), "corpus files not in testdata/fixtures.list: {missing:?}");
}
