//! Randomized failover trials on real MariaDB servers (issue 13).
//!
//! Each trial draws, from its seed, a topology (2–3 replicas; ROW,
//! STATEMENT or MIXED; CRC32 or no checksums; small binlog and relay-log
//! sizes; positional or `MASTER_USE_GTID=slave_pos` replication), a lag
//! pattern over several master binlog files (each replica stops reading
//! after a random batch, at most one inside a big transaction), writes in
//! between (DDL, a non-transactional MyISAM table, big transactions that
//! span relay-log files) and a tail only the master has. Then the master
//! fails: its mysqld is SIGKILLed, on 127.0.0.1 or (one trial in ten) on
//! its own host (network namespaces; the host still answers ssh), or (one
//! in ten) its host's link is cut, so what only it had is lost. In some
//! loopback trials the latest replica's last relay log is first torn a few
//! bytes short, inside its last event (its status claiming more, as after a
//! crash of its host): ours must still lose nothing (the torn transaction
//! comes whole from the master's binlog), MHA's manager with our node tools
//! must refuse loudly. Then
//! `binlog-diff failover` runs (serial or `--parallel 4`; on own hosts where
//! the servers' files are hidden from it), or, in a quarter of the
//! positional loopback trials, MHA's own manager (`masterha_master_switch
//! --master_state=dead`) with our node tools.
//!
//! Pass, per trial: success; something reported unrecoverable exactly when
//! something is (only when the master's host is cut off and it alone had
//! transactions); every survivor's committed sequence and table checksums
//! equal the master's committed state before the failure (cut off: the
//! latest replica's), never a half transaction (the sequence table and the
//! data tables are written in the same transactions); the dead master's
//! binlog files byte-identical before and after; the survivors replicating
//! from the new master.
//!
//! `BINLOG_DIFF_TRIALS=N` (default 4: what CI runs) and
//! `BINLOG_DIFF_TRIAL_SEED=S` (default 1): trials S, S+1, …, S+N-1; a
//! failing trial is reported with its seed and the rest still run;
//! `BINLOG_DIFF_TRIAL_VERBOSE=1` prints each run's output.
//! `scripts/trials.sh N SEED` runs them on a release build.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use support::mha::Manager;
use support::seeded::{env_u64, print_draws, run_seeds};
use support::topology::{BinlogChecksum, BinlogFormat, MASTER, Stop, Topology, TopologyConfig, XorShift, poll_until};

/// One trial's draw.
#[derive(Debug)]
struct Plan {
    seed: u64,
    replicas: usize,
    format: BinlogFormat,
    checksum: BinlogChecksum,
    max_binlog_size: u64,
    max_relay_log_size: u64,
    gtid: bool,
    batches: Vec<usize>,
    stops: Vec<Stop>,
    /// After batch i: mixed writes (DDL, MyISAM) and a big transaction of this many bytes.
    mixed: Vec<usize>,
    big: Vec<usize>,
    parallel: bool,
    /// MHA's manager (`masterha_master_switch --master_state=dead`) with our
    /// node tools instead of `binlog-diff failover` (positional topologies).
    mha: bool,
    /// Every server its own host (network namespaces; the driver reaches
    /// files only over ssh), and how the master fails.
    hosts: Hosts,
    /// The latest replica's last relay log torn this many bytes short (inside
    /// its last event), as after a crash of its host: its status claims more
    /// than the file holds.
    torn: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hosts {
    /// All on 127.0.0.1; the master's mysqld SIGKILLed.
    Loopback,
    /// Own hosts; the master's mysqld SIGKILLed, its host still answers ssh.
    MysqldKilled,
    /// Own hosts; the master's link cut (mysqld and all): what only the
    /// master had is lost, and must be reported.
    MasterCutOff,
}

impl Plan {
    fn draw(seed: u64) -> Plan {
        let mut r = XorShift::new(seed);
        let replicas = 2 + r.below(2) as usize;
        let format = [BinlogFormat::Row, BinlogFormat::Statement, BinlogFormat::Mixed][r.below(3) as usize];
        let checksum = if r.chance(70) { BinlogChecksum::Crc32 } else { BinlogChecksum::None };
        let max_binlog_size = r.range(8, 65) << 10;
        let max_relay_log_size = if r.chance(50) { 0 } else { r.range(8, 33) << 10 };
        let gtid = r.chance(25);
        let n = 3 + r.below(3) as usize;
        let batches: Vec<usize> = (0..n).map(|_| r.range(5, 31) as usize).collect();
        // Stops happen after batches 0..n-2 (the last batch only the master gets).
        let mut mid_used = false;
        let stops = (0..replicas)
            .map(|_| {
                let k = r.below(n as u64 - 1) as usize;
                if !mid_used && r.chance(30) {
                    mid_used = true;
                    Stop::MidTransaction(k)
                } else {
                    Stop::After(k)
                }
            })
            .collect();
        let mixed = (0..n).map(|_| if r.chance(40) { r.range(3, 15) as usize } else { 0 }).collect();
        let big = (0..n).map(|_| if r.chance(20) { (r.range(64, 512) << 10) as usize } else { 0 }).collect();
        let parallel = r.chance(50);
        let mha = !gtid && r.chance(25);
        let hosts = match (mha, r.below(10)) {
            (false, 0) => Hosts::MysqldKilled,
            (false, 1) => Hosts::MasterCutOff,
            _ => Hosts::Loopback,
        };
        // Loopback only: the master's binlogs must be there to take the torn
        // transaction whole (or, for MHA's manager, the run must refuse).
        let torn = (hosts == Hosts::Loopback && r.chance(15)).then(|| r.range(1, 21));
        Plan {
            seed,
            replicas,
            format,
            checksum,
            max_binlog_size,
            max_relay_log_size,
            gtid,
            batches,
            stops,
            mixed,
            big,
            parallel,
            mha,
            hosts,
            torn,
        }
    }
}

/// Every binlog file of the dead master, by name: its bytes' hash and length.
fn binlog_digests(topo: &Topology) -> BTreeMap<PathBuf, (u64, usize)> {
    use std::hash::{DefaultHasher, Hasher};
    topo.binlog_files(MASTER)
        .into_iter()
        .map(|p| {
            let b = std::fs::read(&p).unwrap();
            let mut h = DefaultHasher::new();
            h.write(&b);
            (p, (h.finish(), b.len()))
        })
        .collect()
}

/// Runs one trial; `Err` says what diverged.
fn trial(p: &Plan, mha: Option<&Manager>) -> Result<String, String> {
    let netns = p.hosts != Hosts::Loopback;
    if netns && !support::netns::usable() {
        return Ok("skipped: network namespaces not available".into());
    }
    let topo = Topology::start(TopologyConfig {
        netns,
        replicas: p.replicas,
        binlog_format: p.format,
        binlog_checksum: p.checksum,
        max_binlog_size: p.max_binlog_size,
        max_relay_log_size: p.max_relay_log_size,
        use_gtid: p.gtid,
        ..Default::default()
    });
    let work = tempfile::tempdir().unwrap();
    let mut w = topo.workload(p.seed);
    topo.run_with_stops(&mut w, &p.batches, &p.stops, |i, w| {
        if p.mixed[i] > 0 {
            w.run_mixed(p.mixed[i]);
        }
        if p.big[i] > 0 {
            w.big_transaction(p.big[i]);
        }
    });
    let master_seq = topo.committed_seq(MASTER);
    let (want_seq, want_sum) = if p.hosts == Hosts::MasterCutOff {
        // What the latest replica read is what can be recovered.
        let latest = topo.replicas().max_by_key(|&r| topo.slave_status(r).read_pos()).unwrap();
        topo.wait_sql_idle(latest);
        (topo.committed_seq(latest), topo.checksum_tables(latest, "bd"))
    } else {
        (master_seq.clone(), topo.checksum_tables(MASTER, "bd"))
    };
    let mut torn = None;
    if let Some(k) = p.torn {
        // The latest replica, its SQL thread done (it executed what is now
        // torn): its last relay file cut k bytes short, when that file ends
        // with a transaction's last event (not only header events).
        // Every replica tied for the latest: whichever is chosen is torn.
        let reads: Vec<_> = topo.replicas().map(|r| (r, topo.slave_status(r).read_pos())).collect();
        let max = reads.iter().map(|(_, p)| p.clone()).max().unwrap();
        let mut done = Vec::new();
        for (r, _) in reads.iter().filter(|(_, p)| *p == max) {
            topo.wait_sql_idle(*r);
            let f = topo.relay_log_files(*r).pop().unwrap();
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            let last = topo.relay_log_events(*r, &name).pop();
            let ends_a_trx = last.as_ref().is_some_and(|e| e.event_type == "Xid" || e.info.contains("COMMIT"));
            let len = std::fs::metadata(&f).unwrap().len();
            if ends_a_trx && len > k {
                let file = std::fs::OpenOptions::new().write(true).open(&f).unwrap();
                file.set_len(len - k).unwrap();
                done.push(format!("{}'s {name}", topo.name(*r)));
            }
        }
        if !done.is_empty() {
            torn = Some(format!("{} torn {k} bytes short", done.join(", ")));
        }
    }
    let before = if p.hosts == Hosts::MasterCutOff {
        topo.cut_link(MASTER);
        None
    } else {
        topo.kill_master();
        Some(binlog_digests(&topo))
    };
    for r in topo.replicas() {
        topo.sql(r, "START SLAVE IO_THREAD"); // "Connecting", as after a real crash
    }
    let t = Instant::now();
    let out = match (mha, p.torn) {
        // MHA's manager with our node tools: generate refuses the torn relay
        // log, so the run fails loudly (never a silent loss).
        // (When another replica read as much, untorn, the manager may go by
        // that one and succeed: then the checks below say whether all is there.)
        (Some(m), Some(_)) => match m.failover(&topo, work.path()) {
            Ok(out) => out,
            Err(out) if out.contains("torn") => {
                return Ok("MHA's manager refused the torn relay log, as it must".into());
            }
            Err(out) => return Err(format!("MHA's manager failed, but not on the torn relay log:\n{out}")),
        },
        (Some(m), None) => m.failover(&topo, work.path())?,
        (None, _) => ours(p, &topo, work.path(), want_seq != master_seq)?,
    };
    let secs = t.elapsed().as_secs_f64();
    if std::env::var_os("BINLOG_DIFF_TRIAL_VERBOSE").is_some() {
        eprintln!("{out}");
    }
    if before.is_some_and(|b| binlog_digests(&topo) != b) {
        return Err("the dead master's binlog files changed".into());
    }
    let mut bad = Vec::new();
    for r in topo.replicas() {
        let seq = topo.committed_seq(r);
        if seq != want_seq {
            let missing: Vec<_> = want_seq.iter().filter(|s| !seq.contains(s)).collect();
            let extra: Vec<_> = seq.iter().filter(|s| !want_seq.contains(s)).collect();
            bad.push(format!("{}: missing {missing:?}, extra {extra:?}", topo.name(r)));
        }
        let sum = topo.checksum_tables(r, "bd");
        if sum != want_sum {
            bad.push(format!("{}: checksums differ: {sum:?} vs the master's {want_sum:?}", topo.name(r)));
        }
    }
    if !bad.is_empty() {
        return Err(format!("{}\n{out}", bad.join("\n")));
    }
    let new_master = topo
        .replicas()
        .find(|&r| {
            let port = topo.port(r);
            out.contains(&format!("Master failover to server{}(", r + 1))
                || out.contains(&format!("Master failover to 127.0.0.1(127.0.0.1:{port}) completed successfully."))
        })
        .ok_or_else(|| format!("no success line:\n{out}"))?;
    topo.sql(new_master, "CREATE TABLE bd.after_failover (id INT PRIMARY KEY)");
    topo.sql(new_master, "INSERT INTO bd.after_failover VALUES (1)");
    let want = topo.checksum_tables(new_master, "bd");
    for r in topo.replicas().filter(|&r| r != new_master) {
        if poll_until(Duration::from_secs(60), || (topo.checksum_tables(r, "bd") == want).then_some(())).is_none() {
            return Err(format!("{} does not follow the new master: {}", topo.name(r), topo.slave_status(r)));
        }
    }
    let who = if mha.is_some() { "MHA's manager" } else { "failover" };
    let torn = torn.map(|t| format!(" ({t})")).unwrap_or_default();
    Ok(format!("{} transactions, {who} {secs:.2}s, new master {}{torn}", want_seq.len(), topo.name(new_master)))
}

/// `binlog-diff failover` (on own hosts: where the servers' files are
/// hidden, its binary pushed to each host); `Err` unless it is done (exit 0,
/// or 11 with a loss) and reports something unrecoverable exactly when
/// something is (`lossy`).
fn ours(p: &Plan, topo: &Topology, work: &Path, lossy: bool) -> Result<String, String> {
    let conf = topo.app_cnf(work, "", &|_| String::new());
    let report = work.join("report.json");
    let bin = env!("CARGO_BIN_EXE_binlog-diff");
    let mut cmd = if topo.is_netns() { topo.hidden_command(bin) } else { Command::new(bin) };
    cmd.arg("failover")
        .arg("--conf")
        .arg(&conf)
        .args(["--dead-master-host", &topo.host_ip(MASTER), "--dead-master-port", &topo.port(MASTER).to_string()])
        .arg("--workdir")
        .arg(work.join("diffs"))
        .arg("--json")
        .arg(&report);
    if p.parallel {
        cmd.args(["--parallel", "4"]);
    }
    if topo.is_netns() {
        cmd.arg("--push-binary");
    }
    let o = cmd.output().unwrap();
    let out = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    // Done: 0, or 11 when something the dead master committed was not recovered.
    let done = if lossy { 11 } else { 0 };
    if o.status.code() != Some(done) {
        return Err(format!("failover exited {:?}, not {done}:\n{out}", o.status.code()));
    }
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let reported = doc["unrecoverable"].as_array().is_some_and(|a| !a.is_empty());
    if reported != lossy {
        let why = if lossy { "the master alone had transactions" } else { "everything was recoverable" };
        return Err(format!("unrecoverable reported: {}, but {why}:\n{out}", doc["unrecoverable"]));
    }
    Ok(out)
}

#[test]
fn randomized_failover_trials() {
    let mut mha = None;
    let (first, n) = (env_u64("BINLOG_DIFF_TRIAL_SEED", 1), env_u64("BINLOG_DIFF_TRIALS", 4));
    run_seeds("trial", first, n, Plan::draw, |p| {
        if p.mha && mha.is_none() {
            mha = Some(Manager::new());
        }
        let m = if p.mha { mha.as_ref().and_then(Option::as_ref) } else { None };
        trial(p, m)
    });
}

/// The draws the same `BINLOG_DIFF_TRIALS` / `BINLOG_DIFF_TRIAL_SEED` would
/// run, without running them (`cargo test --test trials -- --ignored plans`).
#[test]
#[ignore = "lists trial draws only"]
fn plans() {
    print_draws(env_u64("BINLOG_DIFF_TRIAL_SEED", 1), env_u64("BINLOG_DIFF_TRIALS", 4), Plan::draw);
}
