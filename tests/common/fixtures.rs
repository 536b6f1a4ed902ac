//! Fixture helpers shared by the mapping and node-tool tests.

use std::path::{Path, PathBuf};

use binlog_diff::event::{TrxGrouper, WalkOptions, classify};
use binlog_diff::log::{Access, LogFile, LogSet, RecoveryMode};
use binlog_diff::position::MasterPos;

/// A private copy of MHA's NodeUtil.pm whose version parsing survives
/// current Perl ("Redundant argument in sprintf"), put first on `PERL5LIB`
/// for the child only; the system files are never touched.
pub fn patched_perl5lib(dir: &Path) -> Option<PathBuf> {
    let src = Path::new("/usr/share/perl5/MHA/NodeUtil.pm");
    let text = std::fs::read_to_string(src).ok()?;
    let fixed = text
        .replace(
            "sprintf( '%03d%03d%03d', $str =~ m/(\\d+)/g )",
            "sprintf( '%03d%03d%03d', ( $str =~ m/(\\d+)/g )[0,1,2] )",
        )
        .replace("sprintf( '%03d%03d', $str =~ m/(\\d+)/g )", "sprintf( '%03d%03d', ( $str =~ m/(\\d+)/g )[0,1] )");
    assert_ne!(text, fixed, "NodeUtil.pm no longer has the lines this test patches");
    let lib = dir.join("perl5");
    std::fs::create_dir_all(lib.join("MHA")).unwrap();
    std::fs::write(lib.join("MHA/NodeUtil.pm"), fixed).unwrap();
    Some(lib)
}

/// [`patched_perl5lib`] when MHA's Perl node tools are installed; `None`,
/// with a loud message, when they are not.
pub fn mha_node_perl5lib(dir: &Path) -> Option<PathBuf> {
    if std::process::Command::new("apply_diff_relay_logs").arg("--version").output().is_err() {
        eprintln!("\n!!!!!!!! SKIPPED: mha4mysql-node (apply_diff_relay_logs) not installed !!!!!!!!\n");
        return None;
    }
    let lib = patched_perl5lib(dir);
    if lib.is_none() {
        eprintln!("\n!!!!!!!! SKIPPED: /usr/share/perl5/MHA/NodeUtil.pm not found !!!!!!!!\n");
    }
    lib
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
