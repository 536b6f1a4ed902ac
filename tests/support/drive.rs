//! Running our commands against a topology: `failover`, `switch`, as an
//! operator would (their output and exit code; on netns hosts with the
//! servers' files hidden), the crash and the lag failover tests set up
//! before, and the checks every failover test makes afterwards.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::topology::{MASTER, Stop, Topology, Workload, poll_until};

/// The exit code and everything printed.
pub fn output(mut c: Command) -> (i32, String) {
    let o = c.output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    (o.status.code().unwrap_or(-1), text)
}

/// `binlog-diff failover` of `topo`'s master (by its address and port).
pub fn failover_cmd(topo: &Topology, conf: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_binlog-diff"));
    c.arg("failover")
        .arg("--conf")
        .arg(conf)
        .args(["--dead-master-host", &topo.host_ip(MASTER), "--dead-master-port", &topo.port(MASTER).to_string()])
        .args(extra);
    c
}

/// Runs a failover: its exit code and output.
pub fn failover(topo: &Topology, conf: &Path, extra: &[&str]) -> (i32, String) {
    output(failover_cmd(topo, conf, extra))
}

/// `binlog-diff failover` of `topo`'s master (by its address) where every
/// server's files are hidden ([`Topology::hidden_command`]): whatever it
/// reads of relay logs and binlogs comes over ssh.
pub fn hidden_failover_cmd(topo: &Topology, conf: &Path) -> Command {
    let mut c = topo.hidden_command(env!("CARGO_BIN_EXE_binlog-diff"));
    c.arg("failover").arg("--conf").arg(conf).args(["--dead-master-host", &topo.host_ip(MASTER)]);
    c
}

/// Runs [`hidden_failover_cmd`] with `extra`: its exit code and output.
pub fn hidden_failover(topo: &Topology, conf: &Path, extra: &[&str]) -> (i32, String) {
    let mut c = hidden_failover_cmd(topo, conf);
    c.args(extra);
    output(c)
}

/// Runs `binlog-diff switch`: its exit code and output.
pub fn switch(conf: &Path, extra: &[&str]) -> (i32, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_binlog-diff"));
    c.arg("switch").arg("--conf").arg(conf).args(extra);
    output(c)
}

/// The last line that starts `Master failover to`.
pub fn final_line(out: &str) -> &str {
    out.lines().rev().find(|l| l.starts_with("Master failover to")).unwrap_or("")
}

/// After a master's crash the replicas' IO threads retry ("Connecting").
pub fn restart_io_threads(topo: &Topology) {
    for r in topo.replicas() {
        topo.sql(r, "START SLAVE IO_THREAD");
    }
}

/// SIGKILLs the master's mysqld, then restarts the replicas' IO threads,
/// as after a real crash.
pub fn kill_master_as_a_crash(topo: &Topology) {
    topo.kill_master();
    restart_io_threads(topo);
}

/// The workload in three batches on a 1 + 3 topology: replica 3 stops
/// after the first, replicas 1 and 2 after the second, and what replica 3
/// lacks holds a big transaction into `bd.big` (which
/// [`failover_held_on_a_lock`] locks there).  The last batch only the master
/// gets.
pub fn third_replica_lags_over_bd_big(topo: &Topology, w: &mut Workload) {
    topo.run_with_stops(w, &[10, 20, 10], &[Stop::After(1), Stop::After(1), Stop::After(0)], |i, w| {
        if i == 0 {
            w.run(10);
            w.big_transaction(64 << 10);
        }
    });
}

/// The new master takes a write, and every other replica in `others` gets it.
pub fn assert_replicating_from(topo: &Topology, new_master: usize, others: &[usize]) {
    assert!(topo.try_slave_status(new_master).unwrap().is_none(), "RESET SLAVE ALL on the new master");
    topo.sql(new_master, "CREATE TABLE IF NOT EXISTS bd.after_failover (id INT PRIMARY KEY)");
    // A new row each call: a later switch checks again on the same table.
    topo.sql(new_master, "INSERT INTO bd.after_failover SELECT COALESCE(MAX(id), 0) + 1 FROM bd.after_failover");
    let want = topo.checksum_tables(new_master, "bd");
    for &r in others {
        let got = poll_until(Duration::from_secs(60), || (topo.checksum_tables(r, "bd") == want).then_some(()));
        assert!(got.is_some(), "{} replicates from the new master: {}", topo.name(r), topo.slave_status(r));
    }
}

/// [`assert_replicating_from`] for every replica of the topology but the new master.
pub fn assert_all_replicating_from(topo: &Topology, new_master: usize) {
    let others: Vec<usize> = topo.replicas().filter(|&r| r != new_master).collect();
    assert_replicating_from(topo, new_master, &others);
}

/// A copy of `conf` (beside it, `<name>-less.cnf`) without server `name`'s section.
pub fn without_server(conf: &Path, name: &str) -> std::path::PathBuf {
    let text = std::fs::read_to_string(conf).unwrap();
    let mut out = String::new();
    let mut skip = false;
    for l in text.lines() {
        if l.starts_with('[') {
            skip = l == format!("[{name}]");
        }
        if !skip {
            out.push_str(l);
            out.push('\n');
        }
    }
    let p = conf.with_file_name(format!("{name}-less.cnf"));
    std::fs::write(&p, out).unwrap();
    p
}

/// A failover that must succeed, its diffs under `work/d`: its output and JSON report.
pub fn failover_reported(topo: &Topology, conf: &Path, work: &Path) -> (String, serde_json::Value) {
    let json = work.join("report.json");
    let (code, out) =
        failover(topo, conf, &["--workdir", work.join("d").to_str().unwrap(), "--json", json.to_str().unwrap()]);
    eprintln!("{out}");
    assert_eq!(code, 0, "{out}");
    (out, serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap())
}

/// A failover running while replica `held`'s apply waits: `bd.big` is
/// write-locked there (by the returned connection) before the driver starts,
/// whose output goes to `log`. Returns once that apply waits for the lock.
pub fn failover_held_on_a_lock(
    topo: &Topology,
    conf: &Path,
    held: usize,
    log: &Path,
    extra: &[&str],
) -> (std::process::Child, mysql::Conn) {
    let mut locker = topo.conn(held);
    mysql::prelude::Queryable::query_drop(&mut locker, "LOCK TABLES bd.big WRITE").unwrap();
    let f = std::fs::File::create(log).unwrap();
    let child = failover_cmd(topo, conf, extra).stdout(f.try_clone().unwrap()).stderr(f).spawn().unwrap();
    let waits = poll_until(Duration::from_secs(120), || {
        let waiting = topo.query_rows(
            held,
            "SELECT ID FROM information_schema.PROCESSLIST WHERE STATE LIKE 'Waiting for %lock%' \
             AND ID <> CONNECTION_ID()",
        );
        (!waiting.is_empty()).then_some(())
    });
    let out = std::fs::read_to_string(log).unwrap_or_default();
    assert!(waits.is_some(), "the apply on {} never waited for bd.big: {out}", topo.name(held));
    (child, locker)
}
