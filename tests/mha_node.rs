//! The MHA-compatible node tools, run as MHA's manager runs them: the built
//! `binlog-diff` binary under the names `save_binary_logs`,
//! `apply_diff_relay_logs`, `purge_relay_logs`, `filter_mysqlbinlog`
//! (symlinks in a temp dir).
//!
//! - the command-line contract (versions, usage, unknown options, defaults,
//!   manager version, messages, exit codes);
//! - on the MariaDB fixtures, `find`/`generate` agree with MHA's own Perl
//!   `apply_diff_relay_logs` (Debian mha4mysql-node 0.58 with a private
//!   patched NodeUtil.pm on PERL5LIB, as tests/mha_mapping.rs does) on the
//!   start file/position, and the diffs hold the same master data events;
//!   `save_binary_logs` saves the master's tail;
//! - on real MariaDB servers: lagging replicas (one stopped inside a
//!   transaction) recovered with our generate + save + apply, passwords
//!   shell-escaped and passed through two shells as the manager does; every
//!   replica then equals the master's committed state; `test`;
//!   `purge_relay_logs`.
//! - `BINLOG_DIFF_MHA_MANAGER=1`: the real MHA manager driving our tools
//!   over SSH (see `mha_manager_failover`).

use support::fixtures::*;
use support::mha::mha_node_perl5lib;
use support::node::{Bin, TOOLS};
use support::process::text;
use support::sshd::{Sshd, keygen, whoami};
mod support;

use std::path::Path;
use std::process::{Command, Output};

use binlog_diff::event::{EventType, Step, TrxGrouper, WalkOptions, classify};
use binlog_diff::log::{Access, LogFile, LogName, LogSet, RecoveryMode};
use binlog_diff::mha::shell::escape_for_shell;
use binlog_diff::position::MasterPos;
use support::topology::{ADMIN_PASSWORD, ADMIN_USER, MASTER, Topology, TopologyConfig};

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

// ---------------------------------------------------------------------------
// The command-line contract

#[test]
fn versions_usage_and_unknown_options() {
    let b = Bin::new();
    for t in TOOLS {
        let o = b.run(t, &s(&["--version"]));
        assert_eq!(code(&o), 0, "{t}");
        assert_eq!(text(&o).0, format!("{t} version 0.58.\n"));
        // The manager's check: /version (\d+\.\d+)/ and >= 0.54.
        let o = b.run(t, &s(&["--bogus"]));
        assert_eq!(code(&o), 1, "{t} --bogus");
        let (out, err) = text(&o);
        assert!(out.starts_with("Usage:"), "{t}: usage on stdout: {out}");
        assert_eq!(err, "Unknown option: bogus\n");
        let o = b.run(t, &s(&["--help"]));
        assert_eq!(code(&o), 0, "{t} --help");
        assert!(text(&o).0.starts_with("Usage:"));
    }
    // GetOptions errors: a flag with a value, a non-number for =i, ambiguity.
    let o = b.run("save_binary_logs", &s(&["--debug=1"]));
    assert_eq!((code(&o), text(&o).1), (1, "Option debug does not take an argument\n".into()));
    let o = b.run("save_binary_logs", &s(&["--start_pos=abc"]));
    assert_eq!(text(&o).1, "Value \"abc\" invalid for option start_pos (number expected)\n");
    let o = b.run("apply_diff_relay_logs", &s(&["--s=1"]));
    assert_eq!(code(&o), 1);
    assert!(text(&o).1.starts_with("Option s is ambiguous ("), "{}", text(&o).1);
    // Abbreviations and case, as GetOptions.
    let o = b.run("apply_diff_relay_logs", &s(&["--VERS"]));
    assert_eq!(text(&o).0, "apply_diff_relay_logs version 0.58.\n");
    // The multi-call front also answers as `binlog-diff mha <tool>`.
    let o = Command::new(env!("CARGO_BIN_EXE_binlog-diff"))
        .args(["mha", "save_binary_logs", "--version"])
        .output()
        .unwrap();
    assert_eq!(text(&o).0, "save_binary_logs version 0.58.\n");
    // Any other name is binlog-diff itself.
    let o = Command::new(env!("CARGO_BIN_EXE_binlog-diff")).arg("--version").output().unwrap();
    assert!(text(&o).0.starts_with("binlog-diff "));
}

#[test]
fn manager_version_and_required_options() {
    let b = Bin::new();
    let w = tempfile::tempdir().unwrap();
    let wd = format!("--workdir={}", w.path().display());
    let o = b.run("save_binary_logs", &s(&["--command=test", "--manager_version=0.53"]));
    assert_eq!(code(&o), 1);
    assert_eq!(text(&o).1, "Failed to save binary log: MHA Manager version is 0.53, but must be 0.54 or higher.\n");
    let o = b.run("apply_diff_relay_logs", &s(&["--command=find", "--manager_version=0.5"]));
    assert_eq!((code(&o), text(&o).1), (1, "MHA Manager version is 0.5, but must be 0.54 or higher.\n".into()));
    let o = b.run("save_binary_logs", &s(&["--manager_version=0.58"]));
    assert_eq!(text(&o).1, "Failed to save binary log: Set --command=[test|save]\n");
    let o = b.run("save_binary_logs", &s(&["--command=save", "--start_file=mysql-bin.000001"]));
    assert_eq!(text(&o).1, "Failed to save binary log: Set --start_pos=<starting_binlog_pos>\n");
    let o = b.run("save_binary_logs", &s(&["--command=test", "--start_pos=4"]));
    assert!(text(&o).1.contains("Set --start_file=<starting_binlog_filename> or --binlog_prefix"));
    // Text mode is refused clearly (and MHA's own check comes first).
    let o = b.run(
        "save_binary_logs",
        &s(&["--command=save", "--start_file=mysql-bin.000001", "--start_pos=4", "--handle_raw_binlog=0"]),
    );
    assert_eq!(text(&o).1, "Failed to save binary log: mysql version not found.\n");
    let o = b.run(
        "save_binary_logs",
        &s(&[
            "--command=save",
            "--start_file=mysql-bin.000001",
            "--start_pos=4",
            "--handle_raw_binlog=0",
            "--oldest_version=10.11.6",
        ]),
    );
    assert_eq!(code(&o), 1);
    assert!(text(&o).1.contains("--handle_raw_binlog=0 (mysqlbinlog text output) is not supported"));
    // apply_diff_relay_logs: target_version for test/apply, command check.
    let o = b.run("apply_diff_relay_logs", &s(&["--command=apply", &wd]));
    assert_eq!(text(&o).1, "--target_version=<mysql_version> must be set.\n");
    let o = b.run("apply_diff_relay_logs", &s(&["--command=bogus", &wd]));
    assert_eq!(
        text(&o).1,
        "Invalid command bogus. Either [test|find|generate|generate_and_send|apply] command must be set.\n"
    );
    let o = b.run("apply_diff_relay_logs", &s(&["--command=find", &wd]));
    assert_eq!(
        text(&o).1,
        "ERROR: Either (--relay_dir=s, --current_relay_log=s) or (--relay_log_info=s) must be set.\n"
    );
    let o = b.run("apply_diff_relay_logs", &s(&["--command=apply", "--target_version=10.11", &wd]));
    assert_eq!(text(&o).1, "ERROR: --apply_files must be set.\n");
    let o = b.run(
        "apply_diff_relay_logs",
        &s(&["--command=apply", "--target_version=10.11", "--apply_files=/nonexistent/a.binlog", &wd]),
    );
    assert_eq!((code(&o), text(&o).1), (1, "ERROR: /nonexistent/a.binlog not found!\n".into()));
    let o = b.run("apply_diff_relay_logs", &s(&["--command=generate_and_send", "--scp_user=0", &wd]));
    assert_eq!(text(&o).1, "ERROR: --scp_user and --scp_host must be set.\n");
    // Fixture relay logs, missing coordinates: MHA's messages, in MHA's order.
    let rep = support::testdata_dir().join("mariadb/row-crc32/replica");
    let rinfo = relay_log_info(w.path(), &rep);
    let base = vec![
        "--command=find".to_string(),
        wd.clone(),
        format!("--relay_log_info={}", rinfo.display()),
        format!("--relay_dir={}/", rep.display()),
    ];
    let o = b.run("apply_diff_relay_logs", &base);
    assert_eq!(text(&o).1, "--latest_mlf (my latest master log file name) must be set.\n");
    let mut a = base.clone();
    a.extend(s(&["--latest_mlf=mysql-bin.000002", "--target_mlf=mysql-bin.000001", "--target_rmlp=0"]));
    let o = b.run("apply_diff_relay_logs", &a);
    assert_eq!(text(&o).1, "--target_rmlp (target master read log pos) must be set.\n", "0 is unset (||=)");
    a.extend(s(&["--target_rmlp=1358", "--latest_rmlp=1369"]));
    let o = b.run("apply_diff_relay_logs", &a);
    assert_eq!(text(&o).1, "--server_id (my server id) must be set.\n");
    a.push("--server_id=2".into());
    let o = b.run("apply_diff_relay_logs", &a);
    assert_eq!(code(&o), 0, "{:?}", text(&o));
    let out = text(&o).0;
    assert!(out.contains("    Relay log found at "), "{out}");
    assert!(out.ends_with("Target relay log FOUND!\n"), "{out}");
}

#[test]
fn filter_mysqlbinlog_trims_like_mha() {
    let b = Bin::new();
    let input = "# at 4\n#250101  1:00:00 server id 1  end_log_pos 256 CRC32 0x1 \tStart: binlog v 4, server v 10.11.19-MariaDB-log created 250101  1:00:00\nROLLBACK/*!*/;\nBINLOG '\nAAAA\n'/*!*/;\n# at 256\n#x Query\nBEGIN\n/*!*/;\nDELIMITER ;\n# End of log file\nROLLBACK /* added by mysqlbinlog */;\n/*!50003 SET COMPLETION_TYPE=@OLD_COMPLETION_TYPE*/;\n";
    let want = "# at 4\n#250101  1:00:00 server id 1  end_log_pos 256 CRC32 0x1 \tStart: binlog v 4, server v 10.11.19-MariaDB-log created 250101  1:00:00\n# ROLLBACK and BINLOG events generated by start_event were trimmed.\n# at 256\n#x Query\nBEGIN\n/*!*/;\nDELIMITER ;\n# End of log file\n# Tail ROLLBACK event generated by mysqlbinlog was trimmed.\n";
    let mut child = Command::new(b.path("filter_mysqlbinlog"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(code(&o), 0);
    assert_eq!(text(&o).0, want);
    // The Perl filter, when it runs here, agrees.
    if let Ok(mut p) = Command::new("/usr/bin/filter_mysqlbinlog")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
    {
        p.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        let o = p.wait_with_output().unwrap();
        assert_eq!(text(&o).0, want, "MHA's Perl filter_mysqlbinlog");
    }
}

// ---------------------------------------------------------------------------
// Fixtures: agreement with MHA's Perl tool

fn start_line(out: &str) -> Option<(String, u64)> {
    let line = out.lines().find(|l| l.contains("Target relay log file/position found."))?;
    let f = line.split("start_file:").nth(1)?.split(',').next()?.trim().to_string();
    let p = line.split("start_pos:").nth(1)?.trim().trim_end_matches('.').parse().ok()?;
    Some((f, p))
}

/// The master's data events of a diff (byte-exact), in order: no FDE,
/// rotate, per-file metadata, nor the replica's own events.
fn data_events(path: &Path, master_id: u32) -> Vec<Vec<u8>> {
    let lf = LogFile::open(path, Access::Read).unwrap();
    let mut it = lf.events(WalkOptions { verify_checksums: true });
    let mut out = Vec::new();
    while let Some(step) = it.next_step().unwrap() {
        let Step::Event(ev) = step else { break };
        let t = ev.event_type();
        if ev.server_id() != master_id
            || matches!(
                t,
                EventType::FORMAT_DESCRIPTION
                    | EventType::ROTATE
                    | EventType::STOP
                    | EventType::MARIA_GTID_LIST
                    | EventType::MARIA_BINLOG_CHECKPOINT
                    | EventType::PREVIOUS_GTIDS
            )
        {
            continue;
        }
        out.push(ev.as_bytes().to_vec());
    }
    out
}

/// Every event end of the master's binlogs (boundaries and mid-transaction
/// points: both are read positions MHA's manager may pass).
fn event_ends(master: &LogSet) -> Vec<(MasterPos, bool)> {
    let mut out = Vec::new();
    for (name, path) in master.files() {
        let lf = LogFile::open(path, Access::Mmap).unwrap();
        let mut g = TrxGrouper::new();
        lf.walk(WalkOptions::default(), RecoveryMode::TolerateTruncatedTail, |ev, fmt| {
            let closes = g.feed(classify(&ev, fmt).unwrap()).boundary.closes();
            // (A master ROTATE's end is never a read position: the replica moves to the next file.)
            if !matches!(ev.event_type(), EventType::FORMAT_DESCRIPTION | EventType::ROTATE) {
                out.push((MasterPos::new(name.clone(), ev.end_offset()), closes || !g.in_group()));
            }
            Ok(true)
        })
        .unwrap();
    }
    out
}

/// The master's data events from `from` to `to` (as [`data_events`] filters them).
fn master_events(master: &LogSet, from: &MasterPos, to: &MasterPos) -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    for (name, path) in master.from_name(&from.file) {
        if name > &to.file {
            break;
        }
        let lf = LogFile::open(path, Access::Mmap).unwrap();
        lf.walk(WalkOptions::default(), RecoveryMode::TolerateTruncatedTail, |ev, _| {
            let here = MasterPos::new(name.clone(), ev.offset());
            if here >= *to {
                return Ok(false);
            }
            let t = ev.event_type();
            if here >= *from
                && !matches!(
                    t,
                    EventType::FORMAT_DESCRIPTION
                        | EventType::ROTATE
                        | EventType::STOP
                        | EventType::MARIA_GTID_LIST
                        | EventType::MARIA_BINLOG_CHECKPOINT
                        | EventType::PREVIOUS_GTIDS
                )
            {
                v.push(ev.as_bytes().to_vec());
            }
            Ok(true)
        })
        .unwrap();
    }
    v
}

fn compare_with_mha(scenario: &str) {
    let b = Bin::new();
    let tmp = tempfile::tempdir().unwrap();
    let Some(lib) = mha_node_perl5lib(tmp.path()) else { return };
    let dir = support::testdata_dir().join("mariadb").join(scenario);
    let replica = dir.join("replica");
    let master = LogSet::from_index(&dir.join("master/mysql-bin.index")).unwrap();
    let mi = binlog_diff::log::info::read_master_info(&replica.join("master.info")).unwrap();
    let latest = MasterPos::new(mi.master_log_file.parse::<LogName>().unwrap(), mi.read_master_log_pos);
    let rinfo = relay_log_info(tmp.path(), &replica);
    let all: Vec<(MasterPos, bool)> = event_ends(&master).into_iter().filter(|(p, _)| *p < latest).collect();
    // Every boundary, and every third point inside a transaction.
    let picked: Vec<&MasterPos> =
        all.iter().enumerate().filter(|(i, (_, boundary))| *boundary || i % 3 == 0).map(|(_, (p, _))| p).collect();
    let (mut same, mut mid, mut mha_failed) = (0, 0, 0);
    for (k, target) in picked.into_iter().enumerate() {
        let work = tmp.path().join(format!("w{k}"));
        std::fs::create_dir_all(&work).unwrap();
        let args = |diff: &Path| -> Vec<String> {
            vec![
                format!("--latest_mlf={}", latest.file),
                format!("--latest_rmlp={}", latest.pos),
                format!("--target_mlf={}", target.file),
                format!("--target_rmlp={}", target.pos),
                "--server_id=2".into(),
                format!("--workdir={}", work.display()),
                "--timestamp=1".into(),
                "--manager_version=0.58".into(),
                format!("--relay_log_info={}", rinfo.display()),
                format!("--relay_dir={}/", replica.display()),
                format!("--diff_file_readtolatest={}", diff.display()),
            ]
        };
        let mha_diff = work.join("mha.binlog");
        let ours_diff = work.join("ours.binlog");
        let mut a = vec!["--command=generate".to_string()];
        a.extend(args(&mha_diff));
        let mha = Command::new("apply_diff_relay_logs").env("PERL5LIB", &lib).args(&a).output().unwrap();
        let mut a = vec!["--command=generate".to_string()];
        a.extend(args(&ours_diff));
        let ours = b.run("apply_diff_relay_logs", &a);
        let (mo, me) = text(&mha);
        let (oo, oe) = text(&ours);
        assert_eq!(code(&ours), 0, "{scenario} {target}: ours failed\n{oo}{oe}");
        // Ours always holds exactly the master's events from the target to the latest position.
        if oo.contains("Target slave has received all relay logs.") {
            assert!(master_events(&master, target, &latest).is_empty(), "{scenario} {target}: {oo}");
        } else {
            assert_eq!(
                data_events(&ours_diff, 1),
                master_events(&master, target, &latest),
                "{scenario} {target}: our diff is not the master's range\n{oo}"
            );
        }
        if mo.contains("Target pos NOT found!") {
            // MHA's header scan takes a relay file's first event *end* for
            // its start, and misses positions inside a transaction at a
            // relay file boundary (big-trx-relay): ours is checked above.
            mha_failed += 1;
            continue;
        }
        if mo.contains("Target slave has received all relay logs.") {
            assert!(oo.contains("Target slave has received all relay logs."), "{scenario} {target}: {oo}");
            continue;
        }
        let mha_start = start_line(&mo).unwrap_or_else(|| panic!("{scenario} {target}: MHA found nothing\n{mo}{me}"));
        match start_line(&oo) {
            Some(st) => assert_eq!(st, mha_start, "{scenario} {target}: start file/pos"),
            None => {
                // MHA's fast path answers "from the end of the newest relay
                // log" for what we call "has everything".
                assert!(oo.contains("Target slave has received all relay logs."), "{oo}");
                let size = std::fs::metadata(replica.join(&mha_start.0)).unwrap().len();
                assert_eq!(mha_start.1, size, "{scenario} {target}");
                continue;
            }
        }
        // find agrees too.
        let mut a = vec!["--command=find".to_string()];
        a.extend(args(&ours_diff));
        let f = b.run("apply_diff_relay_logs", &a);
        assert_eq!(code(&f), 0, "{scenario} {target}: find {:?}", text(&f));
        assert!(text(&f).0.ends_with("Target relay log FOUND!\n"));
        // Same master data events as MHA's diff, byte for byte.
        if mha_diff.exists() {
            assert_eq!(
                data_events(&ours_diff, 1),
                data_events(&mha_diff, 1),
                "{scenario} {target}: diff events differ from MHA's"
            );
            same += 1;
            if oo.contains("starts inside a transaction") {
                mid += 1;
            }
        } else {
            // MHA exits 1 on a diff with only header events; ours is empty.
            assert!(data_events(&ours_diff, 1).is_empty(), "{scenario} {target}: MHA wrote nothing\n{mo}{me}");
        }
    }
    eprintln!(
        "{scenario}: {same} diffs equal to MHA's ({mid} starting inside a transaction); MHA found no position for {mha_failed} that we cut correctly"
    );
    assert!(same > 3, "{scenario}: compared too few");
}

#[test]
fn generate_agrees_with_mha_row_crc32() {
    compare_with_mha("row-crc32");
}

#[test]
fn generate_agrees_with_mha_stmt_none() {
    compare_with_mha("stmt-none");
}

#[test]
fn generate_agrees_with_mha_mixed_checksums() {
    compare_with_mha("mixed-master-none-replica-crc32");
    compare_with_mha("mixed-master-crc32-replica-none");
}

#[test]
fn generate_agrees_with_mha_big_transaction() {
    compare_with_mha("big-trx-relay");
}

#[test]
fn save_binary_logs_on_master_binlogs() {
    let b = Bin::new();
    let tmp = tempfile::tempdir().unwrap();
    for scenario in ["row-crc32", "stmt-none", "mixed-master-none-replica-crc32", "crashed-master"] {
        let mdir = support::testdata_dir().join("mariadb").join(scenario).join("master");
        let master = LogSet::from_index(&mdir.join("mysql-bin.index")).unwrap();
        let ends = event_ends(&master);
        let (first, _) = master.files()[0].clone();
        for (k, from) in [MasterPos::new(first.clone(), 4)]
            .into_iter()
            .chain(ends.iter().filter(|(_, b)| *b).map(|(p, _)| p.clone()).step_by(5))
            .enumerate()
        {
            let out = tmp.path().join(format!("{scenario}-{k}/saved.binlog"));
            let o = b.run(
                "save_binary_logs",
                &[
                    "--command=save".to_string(),
                    format!("--start_file={}", from.file),
                    format!("--start_pos={}", from.pos),
                    format!("--binlog_dir=/nonexistent,{}", mdir.display()),
                    format!("--output_file={}", out.display()),
                    "--handle_raw_binlog=1".into(),
                    "--disable_log_bin=0".into(),
                    "--manager_version=0.58".into(),
                ],
            );
            let (so, se) = text(&o);
            let want: Vec<Vec<u8>> = {
                // The master's data events after `from`, as in the binlogs, whole transactions only.
                let mut v = Vec::new();
                let mut pending = Vec::new();
                for (name, path) in master.from_name(&from.file) {
                    let lf = LogFile::open(path, Access::Mmap).unwrap();
                    let mut g = TrxGrouper::new();
                    lf.walk(WalkOptions::default(), RecoveryMode::TolerateTruncatedTail, |ev, fmt| {
                        let role = g.feed(classify(&ev, fmt).unwrap());
                        let after = name != &from.file || ev.offset() >= from.pos;
                        let t = ev.event_type();
                        if after
                            && !matches!(
                                t,
                                EventType::FORMAT_DESCRIPTION
                                    | EventType::ROTATE
                                    | EventType::MARIA_GTID_LIST
                                    | EventType::MARIA_BINLOG_CHECKPOINT
                                    | EventType::STOP
                            )
                        {
                            pending.push(ev.as_bytes().to_vec());
                            if !g.in_group() || role.boundary.closes() {
                                v.append(&mut pending);
                            }
                        }
                        Ok(true)
                    })
                    .unwrap();
                }
                v
            };
            if want.is_empty() {
                assert_eq!(code(&o), 10, "{scenario} from {from}: nothing to save\n{so}{se}");
                assert!(so.ends_with("Event not exists.\n"), "{so}");
            } else {
                assert_eq!(code(&o), 0, "{scenario} from {from}\n{so}{se}");
                assert!(so.ends_with(" Concat succeeded.\n"), "{so}");
                // A valid binlog (structure and checksums) with those events.
                assert_eq!(data_events(&out, 1), want, "{scenario} from {from}");
            }
        }
        // From the very end: nothing to save.
        let (last, lpath) = master.last().unwrap().clone();
        let size = std::fs::metadata(&lpath).unwrap().len();
        let out = tmp.path().join(format!("{scenario}-end.binlog"));
        let o = b.run(
            "save_binary_logs",
            &[
                "--command=save".to_string(),
                format!("--start_file={last}"),
                format!("--start_pos={size}"),
                format!("--binlog_dir={}", mdir.display()),
                format!("--output_file={}", out.display()),
            ],
        );
        if scenario != "crashed-master" {
            assert_eq!(code(&o), 10, "{scenario}: {:?}", text(&o));
        }
        // The health check form: test with --binlog_prefix.
        let o = b.run(
            "save_binary_logs",
            &[
                "--command=test".to_string(),
                "--start_pos=4".into(),
                "--binlog_prefix=mysql-bin".into(),
                format!("--binlog_dir={}", mdir.display()),
                format!("--output_file={}", tmp.path().join("t/save_binary_logs_test").display()),
                "--manager_version=0.58".into(),
            ],
        );
        assert_eq!(code(&o), 0, "{:?}", text(&o));
        assert!(text(&o).0.ends_with(&format!("  Binlog found at {}, up to {last}\n", mdir.display())));
    }
    // A missing binlog folder: MHA's message, exit 1.
    let o = b.run(
        "save_binary_logs",
        &s(&[
            "--command=test",
            "--start_pos=4",
            "--binlog_prefix=mysql-bin",
            "--binlog_dir=/nonexistent",
            "--output_file=/tmp/x",
        ]),
    );
    assert_eq!(code(&o), 1);
    assert!(
        text(&o).1.starts_with("Failed to save binary log: Binlog not found from /nonexistent! If you got this error")
    );
    // A start position that is not an event start: error, not garbage.
    let mdir = support::testdata_dir().join("mariadb/row-crc32/master");
    let o = b.run(
        "save_binary_logs",
        &[
            "--command=save".to_string(),
            "--start_file=mysql-bin.000001".into(),
            "--start_pos=1010".into(),
            format!("--binlog_dir={}", mdir.display()),
            format!("--output_file={}", tmp.path().join("bad.binlog").display()),
        ],
    );
    assert_eq!(code(&o), 1, "{:?}", text(&o));
    assert!(text(&o).1.contains("not the start of an event"), "{}", text(&o).1);
}

// ---------------------------------------------------------------------------
// Real servers

/// A user whose name and password need every escape MHA knows.
const NASTY_USER: &str = "mha ad$min";
const NASTY_PASS: &str = "p a$s'w\"o`r|d;*?~<>^()[]{},#!&";

fn create_nasty_user(topo: &Topology, server: usize) {
    let q = |s: &str| support::topology::sql_quote(s);
    topo.sql(server, "SET sql_log_bin=0");
    topo.sql(
        server,
        format!("CREATE USER IF NOT EXISTS {}@'127.0.0.1' IDENTIFIED BY {}", q(NASTY_USER), q(NASTY_PASS)),
    );
    topo.sql(server, format!("GRANT ALL PRIVILEGES ON *.* TO {}@'127.0.0.1' WITH GRANT OPTION", q(NASTY_USER)));
    topo.sql(server, "SET sql_log_bin=1");
}

/// The manager's apply command line for `server`, run through two shells.
fn apply_cmd(b: &Bin, topo: &Topology, server: usize, files: &[&Path], work: &Path) -> Output {
    let list: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    let cmd = format!(
        "apply_diff_relay_logs --command=apply --slave_user={} --slave_host=127.0.0.1 --slave_ip=127.0.0.1  --slave_port={} --apply_files={} --workdir={} --target_version=10.11.19-MariaDB-0+deb12u1-log --timestamp=20261121133703 --handle_raw_binlog=1 --disable_log_bin=0 --manager_version=0.58 --client_bindir=/nonexistent/bin --ssh_options='-o StrictHostKeyChecking=no'  --slave_pass={}",
        escape_for_shell(NASTY_USER),
        topo.port(server),
        list.join(","),
        work.display(),
        escape_for_shell(NASTY_PASS),
    );
    b.run_through_two_shells(&cmd)
}

fn relay_args(topo: &Topology, server: usize) -> Vec<String> {
    let d = topo.datadir(server);
    vec![format!("--relay_log_info={}", d.join("relay-log.info").display()), format!("--relay_dir={}/", d.display())]
}

#[test]
fn recovers_lagging_replicas_on_real_servers() {
    let b = Bin::new();
    let work = tempfile::tempdir().unwrap();
    let topo = Topology::start(TopologyConfig { replicas: 3, max_binlog_size: 16 << 10, ..Default::default() });
    let mut w = topo.workload(11);
    // r3 stops first, r2 later, r1 (the latest) inside a big transaction;
    // then the master writes more that only it has.
    w.run(25);
    topo.catch_up_then_stop_io(3);
    w.run(25);
    topo.catch_up_then_stop_io(2);
    w.run(10);
    let mid = topo.stop_io_thread_mid_transaction(1, &mut w, 256 << 10, 16 << 10);
    w.run(25);
    let want_seq = topo.committed_seq(MASTER);
    let want_sum = topo.checksum_tables(MASTER, "bd");
    topo.kill_master();
    let mut st = Vec::new();
    for r in topo.replicas() {
        topo.wait_sql_idle(r);
        st.push(topo.stop_slave(r));
        create_nasty_user(&topo, r);
        assert_ne!(topo.committed_seq(r), want_seq, "replica {r} lags");
    }
    let latest = &st[0];
    assert_eq!(latest.read_pos().file, mid.status.master_log_file);
    let wd = |n: &str| work.path().join(n);

    // Phase 3.2: the dead master's binlog from the latest replica's read position (inside a transaction).
    let saved = wd("saved_master_binlog_from_127.0.0.1_1_20261121133703.binlog");
    let o = b.run(
        "save_binary_logs",
        &[
            "--command=save".to_string(),
            format!("--start_file={}", latest.master_log_file),
            format!("--start_pos={}", latest.read_master_log_pos),
            format!("--binlog_dir={}", topo.datadir(MASTER).display()),
            format!("--output_file={}", saved.display()),
            "--handle_raw_binlog=1".into(),
            "--disable_log_bin=0".into(),
            "--manager_version=0.58".into(),
        ],
    );
    assert_eq!(code(&o), 0, "save: {:?}", text(&o));
    assert!(text(&o).0.contains("starts inside a transaction"), "{}", text(&o).0);

    // Phase 4.1: diffs from the latest replica's relay logs for r2 and r3 (they end inside the transaction).
    let mut diffs = Vec::new();
    for r in [2usize, 3] {
        let s = &st[r - 1];
        let diff = wd(&format!("relay_from_read_to_latest_127.0.0.1_{}_20261121133703.binlog", topo.port(r)));
        let mut a = vec![
            "--command=generate".to_string(),
            format!("--latest_mlf={}", latest.master_log_file),
            format!("--latest_rmlp={}", latest.read_master_log_pos),
            format!("--target_mlf={}", s.master_log_file),
            format!("--target_rmlp={}", s.read_master_log_pos),
            format!("--server_id={}", topo.server_id(1)),
            format!("--diff_file_readtolatest={}", diff.display()),
            format!("--workdir={}", work.path().display()),
            "--timestamp=20261121133703".into(),
            "--handle_raw_binlog=1".into(),
            "--disable_log_bin=0".into(),
            "--manager_version=0.58".into(),
        ];
        a.extend(relay_args(&topo, 1));
        let o = b.run("apply_diff_relay_logs", &a);
        let (so, se) = text(&o);
        assert_eq!(code(&o), 0, "generate for r{r}: {so}{se}");
        assert!(so.contains(" Target relay log file/position found. start_file:"), "{so}");
        assert!(so.contains(&format!(" Generating diff relay log succeeded. Saved at {} .", diff.display())), "{so}");
        assert!(so.contains("It ends inside a transaction"), "the latest replica stopped mid-transaction: {so}");
        diffs.push((r, diff));
    }

    // Phase 3.5 on the latest replica: its own exec->read relay piece, then the saved binlog.
    let l = &st[0];
    let e2r = wd("relay_from_exec_to_read_1.binlog");
    let a = vec![
        "--command=save".to_string(),
        format!("--start_file={}", l.relay_log_file),
        format!("--start_pos={}", l.relay_log_pos),
        format!("--output_file={}", e2r.display()),
        "--handle_raw_binlog=1".into(),
        "--disable_log_bin=0".into(),
        "--manager_version=0.58".into(),
        format!("--relay_log_info={}", topo.datadir(1).join("relay-log.info").display()),
        format!("--binlog_dir={}", topo.datadir(1).display()),
    ];
    let o = b.run("save_binary_logs", &a);
    assert_eq!(code(&o), 0, "exec->read: {:?}", text(&o));
    let o = apply_cmd(&b, &topo, 1, &[&e2r, &saved], work.path());
    let (so, se) = text(&o);
    eprintln!("-- apply on r1 (exec->read + saved):\n{so}");
    assert_eq!(code(&o), 0, "apply on r1: {so}{se}");
    assert!(so.ends_with("Applying log files succeeded.\n"), "{so}");
    assert!(so.contains("verified:"), "{so}");
    assert!(!se.contains(NASTY_PASS) && !so.contains(NASTY_PASS), "the password is never printed");

    // Phase 4.2: read->latest diff, then the saved binlog, as one stream.
    for (r, diff) in &diffs {
        let o = apply_cmd(&b, &topo, *r, &[diff, &saved], work.path());
        let (so, se) = text(&o);
        eprintln!("-- apply on r{r} (read->latest + saved):\n{so}");
        assert_eq!(code(&o), 0, "apply on r{r}: {so}{se}");
        assert!(so.contains(&format!(
            "Applying differential binary/relay log files {},{} on 127.0.0.1:{}. This may take long time...",
            diff.display(),
            saved.display(),
            topo.port(*r)
        )));
    }
    for r in topo.replicas() {
        assert_eq!(topo.committed_seq(r), want_seq, "replica {r} has the master's committed transactions");
        assert_eq!(topo.checksum_tables(r, "bd"), want_sum, "replica {r} equals the master");
    }

    // Applying again is refused (the target already has those transactions): exit 22, never a double apply.
    let (r, diff) = &diffs[0];
    let o = apply_cmd(&b, &topo, *r, &[diff, &saved], work.path());
    let (so, se) = text(&o);
    assert_eq!(code(&o), 22, "{so}{se}");
    assert!(so.contains("FATAL: applying log files failed"), "{so}");
    assert_eq!(topo.checksum_tables(*r, "bd"), want_sum);
    // A wrong password: exit 22 as well (the apply cannot run).
    let o = b.run(
        "apply_diff_relay_logs",
        &[
            "--command=apply".to_string(),
            "--slave_user=root".into(),
            "--slave_pass=wrong".into(),
            "--slave_host=127.0.0.1".into(),
            format!("--slave_port={}", topo.port(*r)),
            format!("--apply_files={}", diff.display()),
            format!("--workdir={}", work.path().display()),
            "--target_version=10.11".into(),
        ],
    );
    assert_eq!(code(&o), 22, "{:?}", text(&o));
}

#[test]
fn test_command_and_purge_relay_logs_on_a_real_replica() {
    let b = Bin::new();
    let work = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
    let topo = Topology::start(TopologyConfig { replicas: 1, max_binlog_size: 8 << 10, ..Default::default() });
    let mut w = topo.workload(5);
    for _ in 0..4 {
        w.run(10);
        topo.sql(MASTER, "FLUSH BINARY LOGS");
    }
    w.run(5);
    topo.wait_caught_up(1);
    create_nasty_user(&topo, 1);

    // masterha_check_repl's slave check, through two shells.
    let cmd = format!(
        "apply_diff_relay_logs --command=test --slave_user={} --slave_host=127.0.0.1 --slave_ip=127.0.0.1 --slave_port={} --workdir={} --target_version=10.11.19-MariaDB-0+deb12u1-log --manager_version=0.58 --client_bindir=/nonexistent {} {}  --ssh_options='-o StrictHostKeyChecking=no'  --slave_pass={}",
        escape_for_shell(NASTY_USER),
        topo.port(1),
        work.path().display(),
        relay_args(&topo, 1)[0],
        relay_args(&topo, 1)[1],
        escape_for_shell(NASTY_PASS),
    );
    let o = b.run_through_two_shells(&cmd);
    let (so, se) = text(&o);
    assert_eq!(code(&o), 0, "test: {so}{se}");
    assert!(so.contains("super_read_only is defined and turned on.. not present or turned off, ignoring."), "{so}");
    assert!(so.contains("    Testing mysql connection and privileges.. done."), "{so}");
    // A wrong password fails the check.
    let o = b.run(
        "apply_diff_relay_logs",
        &[
            "--command=test".to_string(),
            "--slave_user=root".into(),
            "--slave_pass=nope".into(),
            format!("--slave_port={}", topo.port(1)),
            format!("--workdir={}", work.path().display()),
            "--target_version=10.11".into(),
            relay_args(&topo, 1)[0].clone(),
        ],
    );
    assert_eq!(code(&o), 1, "{:?}", text(&o));

    // purge_relay_logs: relay_log_purge=0 (MHA's requirement) and old relay logs present.
    let before = topo.relay_log_files(1);
    assert!(before.len() > 3, "several relay logs: {before:?}");
    let purge_args = |extra: &[&str]| -> Vec<String> {
        let mut v = vec![
            format!("--user={ADMIN_USER}"),
            format!("--password={ADMIN_PASSWORD}"),
            "--host=127.0.0.1".into(),
            format!("--port={}", topo.port(1)),
            format!("--workdir={}", work.path().display()),
        ];
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let o = b.run("purge_relay_logs", &purge_args(&[]));
    let (so, se) = text(&o);
    assert_eq!(code(&o), 0, "purge: {so}{se}");
    assert!(so.contains(" Creating hard link for "), "{so}");
    assert!(so.contains("All relay log purging operations succeeded."), "{so}");
    assert!(!so.contains(ADMIN_PASSWORD) && !se.contains(ADMIN_PASSWORD));
    let after = topo.relay_log_files(1);
    assert!(after.len() < before.len(), "old relay logs purged: {before:?} -> {after:?}");
    assert_eq!(topo.variable(1, "relay_log_purge"), "0", "relay_log_purge is off again");
    let leftover: Vec<_> = std::fs::read_dir(work.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("relay-bin."))
        .collect();
    assert!(leftover.is_empty(), "hard links removed: {leftover:?}");
    // Replication still works.
    w.run(5);
    topo.wait_caught_up(1);
    // relay_log_purge=1: MHA exits at once, or disables it when asked.
    topo.sql(1, "SET GLOBAL relay_log_purge=1");
    let o = b.run("purge_relay_logs", &purge_args(&[]));
    assert_eq!(code(&o), 0);
    assert!(text(&o).0.contains(" relay_log_purge is enabled. Exit."), "{:?}", text(&o));
    let o = b.run("purge_relay_logs", &purge_args(&["--disable_relay_log_purge", "--use_hardlink=0"]));
    let (so, se) = text(&o);
    assert_eq!(code(&o), 0, "{so}{se}");
    assert!(so.contains(" relay_log_purge is enabled. Disabling.."), "{so}");
    assert!(so.contains(" Opening "), "the open-handle fallback: {so}");
    assert_eq!(topo.variable(1, "relay_log_purge"), "0");
    // Not local: refused.
    let o = b.run("purge_relay_logs", &s(&["--host=192.0.2.1", "--password=x"]));
    assert_eq!(code(&o), 1);
    assert!(text(&o).1.contains("must be local address"), "{:?}", text(&o));
}

// ---------------------------------------------------------------------------
// SSH: generate_and_send to a key-only sshd on a loopback port

#[test]
fn generate_and_send_over_ssh() {
    let b = Bin::new();
    let Some(sshd) = Sshd::start(b.dir.path()) else { return };
    let tmp = tempfile::tempdir().unwrap();
    let rep = support::testdata_dir().join("mariadb/row-crc32/replica");
    let rinfo = relay_log_info(tmp.path(), &rep);
    let user = whoami();
    let args = |diff: &Path, ssh_options: &str| -> Vec<String> {
        vec![
            "--command=generate_and_send".to_string(),
            format!("--scp_user={user}"),
            "--scp_host=127.0.0.1".into(),
            format!("--scp_port={}", sshd.port),
            "--latest_mlf=mysql-bin.000002".into(),
            "--latest_rmlp=1369".into(),
            "--target_mlf=mysql-bin.000001".into(),
            "--target_rmlp=1358".into(),
            "--server_id=2".into(),
            format!("--diff_file_readtolatest={}", diff.display()),
            format!("--workdir={}", tmp.path().display()),
            "--timestamp=20261121133703".into(),
            "--handle_raw_binlog=1".into(),
            "--disable_log_bin=0".into(),
            "--manager_version=0.58".into(),
            format!("--relay_log_info={}", rinfo.display()),
            format!("--relay_dir={}/", rep.display()),
            format!("--ssh_options={ssh_options}"),
        ]
    };
    let strict = format!(
        "-o ServerAliveInterval=60 -o ServerAliveCountMax=20 -o StrictHostKeyChecking=yes -o ConnectionAttempts=5 -o PasswordAuthentication=no -o BatchMode=yes -i {} -o UserKnownHostsFile={}",
        sshd.key().display(),
        sshd.known_hosts().display()
    );
    // The same host is the target: the remote path is the local one (MHA's G8 case).
    let diff = tmp.path().join("remote/work/relay_from_read_to_latest_127.0.0.1_3318_20261121133703.binlog");
    let reference = tmp.path().join("reference.binlog");
    let mut a = args(&reference, &strict);
    a[0] = "--command=generate".into();
    assert_eq!(code(&b.run("apply_diff_relay_logs", &a)), 0);
    let o = b.run("apply_diff_relay_logs", &args(&diff, &strict));
    let (so, se) = text(&o);
    assert_eq!(code(&o), 0, "{so}{se}");
    assert!(so.contains(&format!(" to {user}@127.0.0.1({}) succeeded.", sshd.port)), "{so}");
    assert_eq!(std::fs::read(&diff).unwrap(), std::fs::read(&reference).unwrap(), "pushed file intact");
    assert!(!so.contains("WARNING"), "a known host key: {so}");

    // A different remote path (mkdir -p on the remote side), through the manager's two shells.
    let elsewhere = tmp.path().join("target-host/mha-work/diff.binlog");
    let cmd = args(&elsewhere, &strict)
        .into_iter()
        .map(|a| match a.strip_prefix("--ssh_options=") {
            Some(v) => format!("--ssh_options='{v}'"),
            None => a,
        })
        .collect::<Vec<_>>()
        .join(" ");
    let o = b.run_through_two_shells(&format!("apply_diff_relay_logs {cmd}"));
    assert_eq!(code(&o), 0, "{:?}", text(&o));
    assert_eq!(std::fs::read(&elsewhere).unwrap(), std::fs::read(&reference).unwrap());

    // A changed host key: refused when strict, accepted and said so with StrictHostKeyChecking=no.
    keygen(&tmp.path().join("other"));
    let other = std::fs::read_to_string(tmp.path().join("other.pub")).unwrap();
    let mut w = other.split_whitespace();
    let bad_kh = tmp.path().join("bad_known_hosts");
    std::fs::write(&bad_kh, format!("[127.0.0.1]:{} {} {}\n", sshd.port, w.next().unwrap(), w.next().unwrap()))
        .unwrap();
    let with_kh = |policy: &str| {
        format!(
            "-o StrictHostKeyChecking={policy} -o BatchMode=yes -i {} -o UserKnownHostsFile={}",
            sshd.key().display(),
            bad_kh.display()
        )
    };
    let o = b.run("apply_diff_relay_logs", &args(&diff, &with_kh("yes")));
    assert_eq!(code(&o), 1, "{:?}", text(&o));
    assert!(text(&o).1.contains("host key verification failed"), "{:?}", text(&o));
    let o = b.run("apply_diff_relay_logs", &args(&diff, &with_kh("no")));
    assert_eq!(code(&o), 0, "{:?}", text(&o));
    assert!(text(&o).0.contains("does NOT match") && text(&o).0.contains("StrictHostKeyChecking=no"), "{:?}", text(&o));
    // No usable key: refused.
    let o = b.run(
        "apply_diff_relay_logs",
        &args(
            &diff,
            // Its own known_hosts: `no` records a new key in the first one, as OpenSSH does (not ~/.ssh here).
            &format!(
                "-o StrictHostKeyChecking=no -o IdentitiesOnly=yes -i {} -o UserKnownHostsFile={}",
                tmp.path().join("other").display(),
                tmp.path().join("no_known_hosts").display()
            ),
        ),
    );
    assert_eq!(code(&o), 1, "{:?}", text(&o));
    assert!(text(&o).1.contains("public key authentication failed"), "{:?}", text(&o));
}

/// Issue 13's defect: the latest replica's relay log torn shorter than its
/// status claims (a crash of its host). `generate` must not keep the cut
/// transaction saying "its end follows in the next apply file" — the
/// manager saves the master's tail from the claimed read position, past
/// that transaction's start — but fail, naming it, and leave no diff.
#[test]
fn generate_refuses_a_torn_relay_log() {
    let b = Bin::new();
    let w = tempfile::tempdir().unwrap();
    let rep = w.path().join("replica");
    std::fs::create_dir_all(&rep).unwrap();
    let orig = support::testdata_dir().join("mariadb/row-crc32/replica");
    for e in std::fs::read_dir(&orig).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), rep.join(e.file_name())).unwrap();
    }
    let last = rep.join("relay-bin.000004");
    let whole = std::fs::read(&last).unwrap();
    let rinfo = support::fixtures::relay_log_info(w.path(), &rep);
    // The replica claims mysql-bin.000002:1369; relay-bin.000004 holds GTID
    // 0-1-13 at 1361..1668 (master 1062..1369); its ANNOTATE_ROWS spans 1403..1475.
    let run = |name: &str| {
        let diff = w.path().join(format!("{name}.binlog"));
        let o = b.run(
            "apply_diff_relay_logs",
            &[
                "--command=generate".to_string(),
                "--latest_mlf=mysql-bin.000002".into(),
                "--latest_rmlp=1369".into(),
                "--target_mlf=mysql-bin.000002".into(),
                "--target_rmlp=1062".into(),
                "--server_id=2".into(),
                format!("--workdir={}", w.path().display()),
                format!("--relay_log_info={}", rinfo.display()),
                format!("--relay_dir={}/", rep.display()),
                format!("--diff_file_readtolatest={}", diff.display()),
            ],
        );
        (o, diff)
    };
    for (cut_at, what) in [(1450, "the last file ends inside an event"), (1475, "they end inside a transaction")] {
        std::fs::write(&last, &whole[..cut_at]).unwrap();
        let (o, diff) = run(&format!("torn{cut_at}"));
        let (out, err) = text(&o);
        assert_eq!(code(&o), 1, "torn at {cut_at}: {out}{err}");
        assert!(err.contains("torn") && err.contains(what), "{err}");
        assert!(err.contains("relay-bin.000004 @ 1361") && err.contains("mysql-bin.000002:1369"), "{err}");
        assert!(!out.contains("its end follows"), "{out}");
        assert!(!diff.exists(), "no diff left behind");
    }
    // Whole, it generates as before.
    std::fs::write(&last, &whole).unwrap();
    let (o, diff) = run("whole");
    assert_eq!(code(&o), 0, "{:?}", text(&o));
    assert!(diff.exists());
}

/// Issue 13's fault: the output folder fills up (a 4 KiB tmpfs in a private
/// mount namespace). `save_binary_logs` and `apply_diff_relay_logs
/// --command=generate` fail with the OS error naming the file, exit 1, and
/// leave no file behind (not even their temporary one); the source logs are
/// byte-identical afterwards.
#[test]
fn a_full_output_disk_leaves_no_half_file() {
    let unshare = Command::new("unshare").args(["-m", "true"]).status();
    if !unshare.is_ok_and(|s| s.success()) {
        eprintln!("skipped: no private mount namespace here (needs root and unshare)");
        return;
    }
    let b = Bin::new();
    let w = tempfile::tempdir().unwrap();
    let fx = support::testdata_dir().join("mariadb/big-trx-relay");
    let rep = w.path().join("replica");
    std::fs::create_dir_all(&rep).unwrap();
    for e in std::fs::read_dir(fx.join("replica")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), rep.join(e.file_name())).unwrap();
    }
    let rinfo = support::fixtures::relay_log_info(w.path(), &rep);
    let digest = |d: &Path| {
        let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().path())
            .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
            .collect();
        v.sort();
        v
    };
    let (master_before, relay_before) = (digest(&fx.join("master")), digest(&rep));
    let full = w.path().join("full");
    std::fs::create_dir_all(&full).unwrap();
    let q = |p: &Path| binlog_diff::remote::sh_quote(&p.to_string_lossy());
    // Both in one namespace: mount, run, list what is left, all before the mount goes.
    let script = format!(
        "mount -t tmpfs -o size=4k tmpfs {full} || exit 99\n\
         {save} --command=save --binlog_dir={mdir} --start_file=mysql-bin.000001 --start_pos=4 \
           --output_file={full}/tail.binlog; echo \"save rc=$?\"\n\
         {gen} --command=generate --latest_mlf=mysql-bin.000001 --latest_rmlp=20680 \
           --target_mlf=mysql-bin.000001 --target_rmlp=927 --server_id=2 --workdir={work} \
           --relay_log_info={rinfo} --relay_dir={rdir}/ --diff_file_readtolatest={full}/diff.binlog; \
           echo \"generate rc=$?\"\n\
         echo left: $(ls -A {full})\n",
        full = q(&full),
        save = q(&b.path("save_binary_logs")),
        gen = q(&b.path("apply_diff_relay_logs")),
        mdir = q(&fx.join("master")),
        work = q(w.path()),
        rinfo = q(&rinfo),
        rdir = q(&rep),
    );
    let o = Command::new("unshare").args(["-m", "sh", "-c", &script]).output().unwrap();
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    assert!(out.contains("save rc=1") && out.contains("generate rc=1"), "{out}{err}");
    assert_eq!(err.matches("No space left on device").count(), 2, "{err}");
    assert!(err.contains(&format!("{}/.tail.binlog", full.display())), "names the file: {err}");
    assert!(out.contains("left: \n") || out.trim_end().ends_with("left:"), "no file left: {out}");
    assert!(digest(&fx.join("master")) == master_before && digest(&rep) == relay_before, "sources changed");
}

/// Issue 13: sources are never modified by the commands that read logs to
/// cut or map (not only dump/verify/stats, see tests/cli.rs): `map`,
/// `diff --write`, `save_binary_logs` (master and relay logs),
/// `apply_diff_relay_logs` find/generate leave every fixture file
/// byte-identical with its mtime (`filter_mysqlbinlog` reads only text on
/// its standard input). (`purge_relay_logs` deletes
/// relay logs by design; the failover's dead-master binlogs are checked by
/// tests/trials.rs.)
#[test]
fn cutting_and_mapping_never_modify_their_sources() {
    let b = Bin::new();
    let w = tempfile::tempdir().unwrap();
    let fx = support::testdata_dir().join("mariadb/big-trx-relay");
    let (mdir, rdir) = (fx.join("master"), fx.join("replica"));
    let fingerprint = || {
        let mut v: Vec<_> = [&mdir, &rdir]
            .iter()
            .flat_map(|d| std::fs::read_dir(d).unwrap())
            .map(|e| e.unwrap().path())
            .map(|p| {
                let m = std::fs::metadata(&p).unwrap();
                (p.clone(), std::fs::read(&p).unwrap(), m.modified().unwrap())
            })
            .collect();
        v.sort();
        v
    };
    let before = fingerprint();
    let rinfo = support::fixtures::relay_log_info(w.path(), &rdir);
    let bd = env!("CARGO_BIN_EXE_binlog-diff");
    let run = |what: &str, o: Output| {
        let (out, err) = text(&o);
        assert!(o.status.success(), "{what}: {out}{err}");
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    run(
        "map",
        Command::new(bd)
            .args(["map", "--verify", "--target", "mysql-bin.000001:927", "--latest", "mysql-bin.000001:20680"])
            .arg("--relay")
            .arg(&rinfo)
            .output()
            .unwrap(),
    );
    let state = serde_json::json!([{
        "name": "r1", "master_log_file": "mysql-bin.000001", "read_master_log_pos": 927,
        "relay_master_log_file": "mysql-bin.000001", "exec_master_log_pos": 927,
    }, {
        "name": "latest", "master_log_file": "mysql-bin.000001", "read_master_log_pos": 20680,
        "relay_master_log_file": "mysql-bin.000001", "exec_master_log_pos": 20680,
        "relay_dir": rdir.display().to_string(), "server_id": 2,
    }]);
    let state_file = w.path().join("state.json");
    std::fs::write(&state_file, state.to_string()).unwrap();
    run(
        "diff --write",
        Command::new(bd)
            .arg("diff")
            .arg("--state")
            .arg(&state_file)
            .arg("--master-binlogs")
            .arg(&mdir)
            .arg("--write")
            .arg(w.path().join("diffs"))
            .output()
            .unwrap(),
    );
    let q = |p: &Path| p.display().to_string();
    for (i, args) in [
        s(&[
            "--command=save",
            "--start_file=mysql-bin.000001",
            "--start_pos=927",
            &format!("--binlog_dir={}", q(&mdir)),
        ]),
        s(&[
            "--command=save",
            "--start_file=relay-bin.000003",
            "--start_pos=4",
            &format!("--relay_log_info={}", q(&rinfo)),
        ]),
    ]
    .into_iter()
    .enumerate()
    {
        let mut a = args;
        a.push(format!("--output_file={}/saved{i}.binlog", q(w.path())));
        run("save_binary_logs", b.run("save_binary_logs", &a));
    }
    let common_args = |cmd: &str| {
        s(&[
            cmd,
            "--latest_mlf=mysql-bin.000001",
            "--latest_rmlp=20680",
            "--target_mlf=mysql-bin.000001",
            "--target_rmlp=927",
            "--server_id=2",
            &format!("--workdir={}", q(w.path())),
            &format!("--relay_log_info={}", q(&rinfo)),
            &format!("--relay_dir={}/", q(&rdir)),
            &format!("--diff_file_readtolatest={}/gen.binlog", q(w.path())),
        ])
    };
    run("find", b.run("apply_diff_relay_logs", &common_args("--command=find")));
    run("generate", b.run("apply_diff_relay_logs", &common_args("--command=generate")));
    let after = fingerprint();
    assert_eq!(before.len(), after.len());
    for (b, a) in before.iter().zip(&after) {
        assert!(b == a, "{} changed", b.0.display());
    }
}
