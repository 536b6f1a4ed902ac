//! Replays fuzz findings and seed inputs through the fuzz targets' property
//! checks, on stable Rust (no libFuzzer, no nightly).
//!
//! The checks are not copied: this test includes `fuzz/src/checks.rs`, the
//! very file the cargo-fuzz targets call, so a regression file fails here
//! exactly as it failed under the fuzzer.
//!
//! Inputs:
//! - `testdata/fuzz-regressions/<target>/*`: minimized crashes, each replayed
//!   through its target's checks (`event_walk`, `views`, `dump`, and the
//!   text targets `gtid_sets`, `app_cnf`, `info_files`, `json_docs`,
//!   `known_hosts`; any other directory name runs the three binlog ones);
//! - text seeds: `fuzz/seeds/<target>/*` through that text target;
//! - seeds: `fuzz/seeds/*`, the binlogs under `testdata/` and, when present,
//!   the public corpus in `../shared/testdata/public`: each whole file through
//!   `event_walk` and `dump`, and each of its events through `views`;
//! - with `BINLOG_DIFF_FUZZ_CORPUS=1`, also every file of `fuzz/corpus/<target>/`
//!   (the corpora the fuzzer grew; gitignored, so only on a fuzzing machine).

#[allow(dead_code)]
#[path = "../fuzz/src/checks.rs"]
mod checks;

use std::io::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use binlog_diff::event::{EventIter, Format, HEADER_LEN, Step, WalkOptions};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            files_under(&p, out);
        } else if p.is_file() {
            out.push(p);
        }
    }
}

fn is_binlog(data: &[u8]) -> bool {
    data.starts_with(&[0xfe, b'b', b'i', b'n'])
}

thread_local! {
    /// First arithmetic-overflow panic seen on this thread since the last `run`.
    static OVERFLOW: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Chains a panic hook that remembers overflow panics, including those the
/// library catches itself (see `checks::is_overflow_panic`: they wrap, and
/// may abort, in release builds).
fn install_overflow_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let msg = info.to_string();
            if checks::is_overflow_panic(&msg) {
                OVERFLOW.with(|o| {
                    o.borrow_mut().get_or_insert(msg);
                });
            }
            prev(info);
        }));
    });
}

/// Runs `target`'s checks on `data`; a panic, or an overflow panic the library
/// caught, becomes an `Err` naming the input.
fn run(target: &str, data: &[u8], formats: &[Format], what: &str) -> Result<(), String> {
    install_overflow_hook();
    OVERFLOW.with(|o| *o.borrow_mut() = None);
    let r = catch_unwind(AssertUnwindSafe(|| match target {
        "event_walk" => checks::event_walk(data),
        "views" => checks::views_target(data, formats),
        "dump" => checks::dump_target(data),
        "gtid_sets" => checks::gtid_sets(data),
        "app_cnf" => checks::app_cnf(data),
        "info_files" => checks::info_files(data),
        "json_docs" => checks::json_docs(data),
        "known_hosts" => checks::known_hosts(data),
        _ => {
            checks::event_walk(data);
            checks::views_target(data, formats);
            checks::dump_target(data);
        }
    }));
    if let Some(msg) = OVERFLOW.with(|o| o.borrow_mut().take()) {
        return Err(format!(
            "{target}: {what}: arithmetic overflow (caught inside the library; wraps in release builds): {msg}"
        ));
    }
    r.map_err(|e| {
        let msg = e
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "non-string panic".into());
        format!("{target}: {what}: {msg}")
    })
}

/// `views` inputs for a file: type byte + body (CRC stripped) of each event.
fn view_inputs(data: &[u8]) -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    for step in EventIter::new(data, WalkOptions { verify_checksums: false }) {
        let Ok(Step::Event(ev)) = step else { break };
        let mut input = vec![ev.as_bytes()[4]];
        input.extend_from_slice(ev.body());
        v.push(input);
    }
    v
}

fn report(failures: Vec<String>, ran: usize, what: &str) {
    eprintln!("{what}: {ran} inputs replayed, {} failed", failures.len());
    assert!(failures.is_empty(), "{} of {ran} {what} failed:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn fuzz_regressions_replay() {
    let formats = checks::formats();
    let base = Path::new(ROOT).join("testdata/fuzz-regressions");
    let mut failures = Vec::new();
    let mut ran = 0;
    let Ok(rd) = std::fs::read_dir(&base) else {
        eprintln!("no {} (nothing to replay)", base.display());
        return;
    };
    let mut dirs: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    dirs.sort();
    for dir in dirs.into_iter().filter(|d| d.is_dir()) {
        let target = dir.file_name().unwrap().to_string_lossy().into_owned();
        let mut files = Vec::new();
        files_under(&dir, &mut files);
        for f in files {
            if f.extension().is_some_and(|e| e == "md") {
                continue; // notes next to the inputs
            }
            let data = std::fs::read(&f).unwrap();
            ran += 1;
            // Straight to stderr, not captured: if an input aborts the
            // process (allocation failure, stack overflow), this names it.
            let _ = writeln!(std::io::stderr(), "replaying {target}: {}", f.display());
            if let Err(e) = run(&target, &data, &formats, &f.display().to_string()) {
                failures.push(e);
            }
        }
    }
    let _ = std::fs::remove_dir_all(checks::scratch_dir());
    report(failures, ran, "fuzz regressions");
}

#[test]
fn seed_inputs_replay() {
    let formats = checks::formats();
    let root = Path::new(ROOT);
    let mut files = Vec::new();
    files_under(&root.join("fuzz/seeds"), &mut files);
    files_under(&root.join("testdata"), &mut files);
    files_under(&root.join("../shared/testdata/public"), &mut files);
    let mut failures = Vec::new();
    let mut ran = 0;
    for f in files {
        let Ok(data) = std::fs::read(&f) else { continue };
        // testdata/fuzz-regressions is replayed (per target) by fuzz_regressions_replay.
        if !is_binlog(&data) || data.len() > 4 << 20 || f.components().any(|c| c.as_os_str() == "fuzz-regressions") {
            continue;
        }
        let name = f.display().to_string();
        ran += 1;
        for target in ["event_walk", "dump"] {
            if let Err(e) = run(target, &data, &formats, &name) {
                failures.push(e);
            }
        }
        for (i, input) in view_inputs(&data).iter().enumerate() {
            if let Err(e) = run("views", input, &formats, &format!("{name} event #{i}")) {
                failures.push(e);
            }
        }
    }
    report(failures, ran, "seed files");
}

#[test]
fn fuzz_corpus_replay() {
    if std::env::var_os("BINLOG_DIFF_FUZZ_CORPUS").is_none_or(|v| v != "1") {
        eprintln!("set BINLOG_DIFF_FUZZ_CORPUS=1 to replay fuzz/corpus/*");
        return;
    }
    let formats = checks::formats();
    let mut failures = Vec::new();
    let mut ran = 0;
    for target in ["event_walk", "views", "dump"].into_iter().chain(TEXT_TARGETS) {
        let mut files = Vec::new();
        files_under(&Path::new(ROOT).join("fuzz/corpus").join(target), &mut files);
        for f in files {
            // A fuzzer running meanwhile replaces inputs it reduces.
            let Ok(data) = std::fs::read(&f) else { continue };
            ran += 1;
            if let Err(e) = run(target, &data, &formats, &f.display().to_string()) {
                failures.push(e);
            }
        }
    }
    let _ = std::fs::remove_dir_all(checks::scratch_dir());
    report(failures, ran, "fuzz corpus inputs");
}

/// The targets whose inputs are texts, not binlogs: their seeds are the
/// files of `fuzz/seeds/<target>/`.
const TEXT_TARGETS: [&str; 5] = ["gtid_sets", "app_cnf", "info_files", "json_docs", "known_hosts"];

/// Each text target's seeds (`fuzz/seeds/<target>/*`) through its checks.
#[test]
fn text_seeds_replay() {
    let formats = checks::formats();
    let mut failures = Vec::new();
    let mut ran = 0;
    for target in TEXT_TARGETS {
        let mut files = Vec::new();
        files_under(&Path::new(ROOT).join("fuzz/seeds").join(target), &mut files);
        assert!(!files.is_empty(), "no seeds for {target} in fuzz/seeds/{target}/");
        for f in files {
            let data = std::fs::read(&f).unwrap();
            ran += 1;
            if let Err(e) = run(target, &data, &formats, &f.display().to_string()) {
                failures.push(e);
            }
        }
    }
    let _ = std::fs::remove_dir_all(checks::scratch_dir());
    report(failures, ran, "text seeds");
}

/// The formats the `views` target decodes with are the ones real servers
/// describe: the MariaDB FDE is a real 10.11 one, and the MySQL 8.0 FDE built
/// in code matches a real 8.0.45 file's when the public corpus is present.
#[test]
fn views_formats_are_real() {
    let [my, ma] = checks::formats();
    assert_eq!(ma.flavor, binlog_diff::event::Flavor::MariaDb);
    assert_eq!(ma.version.0, 10);
    assert_eq!(ma.post_header_count(), 171);
    assert_eq!(my.flavor, binlog_diff::event::Flavor::MySql);
    assert_eq!(my.version, (8, 0, 45));
    let real = Path::new(ROOT).join("../shared/testdata/public/percona-binlog-server/data_80045_gtid/binlog.000001");
    if let Ok(data) = std::fs::read(&real) {
        let size = u32::from_le_bytes(data[13..17].try_into().unwrap()) as usize;
        let fde = &data[4..4 + size];
        let built = checks::mysql80_fde();
        assert_eq!(fde.len(), built.len());
        // Same version string, header length and post-header table.
        assert_eq!(&fde[HEADER_LEN..HEADER_LEN + 52], &built[HEADER_LEN..HEADER_LEN + 52]);
        assert_eq!(&fde[HEADER_LEN + 56..size - 4], &built[HEADER_LEN + 56..size - 4]);
        let f = Format::from_fde_event(fde).unwrap();
        assert_eq!(f.post_header_count(), my.post_header_count());
    }
}
