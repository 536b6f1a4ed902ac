//! Our relay-position mapping agrees with MHA's own Perl
//! `apply_diff_relay_logs --command=generate` (Debian `mha4mysql-node` 0.58)
//! on the same relay logs, for every transaction boundary of the master.
//!
//! The packaged Perl dies on current Perl ("Redundant argument in sprintf" in
//! MHA/NodeUtil.pm, because MariaDB's version string has more numbers than
//! its format has slots). The test copies NodeUtil.pm into a temp dir, slices
//! the match list to the slots the format has, and puts that dir first in
//! PERL5LIB for the child only. The system files are never touched.

mod support;

use support::fixtures::*;
use support::mha::mha_node_perl5lib;

use std::path::Path;
use std::process::Command;

use binlog_diff::log::info::read_master_info;
use binlog_diff::log::{LogName, LogSet};
use binlog_diff::position::{MapOptions, Mapping, MasterPos, find_start};

enum Mha {
    Start(String, u64),
    HasAll,
}

fn mha_generate(lib: &Path, work: &Path, replica: &Path, latest: &MasterPos, target: &MasterPos) -> Mha {
    let out = Command::new("apply_diff_relay_logs")
        .env("PERL5LIB", lib)
        .args([
            "--command=generate",
            &format!("--latest_mlf={}", latest.file),
            &format!("--latest_rmlp={}", latest.pos),
            &format!("--target_mlf={}", target.file),
            &format!("--target_rmlp={}", target.pos),
            "--server_id=2",
            &format!("--workdir={}", work.display()),
            "--timestamp=1",
            "--manager_version=0.58",
            &format!("--relay_log_info={}", relay_log_info(work, replica).display()),
            &format!("--relay_dir={}/", replica.display()),
            &format!("--diff_file_readtolatest={}", work.join("diff.binlog").display()),
        ])
        .output()
        .expect("run apply_diff_relay_logs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    if text.contains("Target slave has received all relay logs.") {
        return Mha::HasAll;
    }
    let line = text
        .lines()
        .find(|l| l.contains("Target relay log file/position found."))
        .unwrap_or_else(|| panic!("MHA found no position for {target}:\n{text}"));
    let f = line.split("start_file:").nth(1).unwrap().split(',').next().unwrap().trim().to_string();
    let p = line.split("start_pos:").nth(1).unwrap().trim().trim_end_matches('.').parse().unwrap();
    Mha::Start(f, p)
}

fn compare(scenario: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let Some(lib) = mha_node_perl5lib(tmp.path()) else { return };
    let dir = support::testdata_dir().join("mariadb").join(scenario);
    let replica = dir.join("replica");
    let master = LogSet::from_index(&dir.join("master/mysql-bin.index")).unwrap();
    let relay = LogSet::from_index(&replica.join("relay-bin.index")).unwrap();
    let mi = read_master_info(&replica.join("master.info")).unwrap();
    let latest = MasterPos::new(mi.master_log_file.parse::<LogName>().unwrap(), mi.read_master_log_pos);
    let mut compared = 0;
    for b in boundaries(&master).into_iter().filter(|b| *b <= latest) {
        let work = tmp.path().join(format!("w{compared}"));
        std::fs::create_dir_all(&work).unwrap();
        let ours = find_start(&relay, &b, Some(&latest), &MapOptions::default()).unwrap();
        match (mha_generate(&lib, &work, &replica, &latest, &b), ours) {
            (Mha::HasAll, Mapping::AlreadyComplete) => {}
            (Mha::Start(f, p), Mapping::Found { start, .. }) => {
                assert_eq!((f.as_str(), p), (start.file.to_string().as_str(), start.pos), "{scenario}: target {b}");
            }
            // MHA's fast path answers "from the end of the newest relay log":
            // an empty diff, which is what "already complete" means.
            (Mha::Start(f, p), Mapping::AlreadyComplete) => {
                let (last, path) = relay.last().unwrap();
                let size = std::fs::metadata(path).unwrap().len();
                assert_eq!(
                    (f.as_str(), p),
                    (last.to_string().as_str(), size),
                    "{scenario} {b}: MHA {f}:{p}, ours: already complete"
                );
            }
            (Mha::HasAll, Mapping::Found { start, .. }) => panic!("{scenario} {b}: MHA has-all, ours {start}"),
        }
        compared += 1;
    }
    eprintln!("{scenario}: {compared} positions agree with MHA");
    assert!(compared > 3);
}

#[test]
fn row_crc32_agrees_with_mha() {
    compare("row-crc32");
}

#[test]
fn statement_none_agrees_with_mha() {
    compare("stmt-none");
}

#[test]
fn mixed_checksums_agree_with_mha() {
    compare("mixed-master-none-replica-crc32");
    compare("mixed-master-crc32-replica-none");
}

#[test]
fn big_transaction_agrees_with_mha() {
    compare("big-trx-relay");
}
