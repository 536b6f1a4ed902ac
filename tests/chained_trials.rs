//! Randomized trials that chain what operators do (issue 20), on real
//! MariaDB servers: a failover, writes, a switch, writes, an `ack`, and a
//! second failover, in positional or `slave_pos` topologies, with faults
//! drawn at random points:
//!
//! - a replica broken on an SQL error (a duplicate key written on it alone)
//!   before a failover, with `ignore_fail` or without (then the failover
//!   must refuse in phase 1, and the operator sets `ignore_fail` and runs it
//!   again);
//! - a wrong `master_binlog_dir` (refused before anything changes, then mended);
//! - an open transaction on the master during the switch (its COMMIT must
//!   fail, or be everywhere);
//! - the anti-flapping block before the second failover (refused, then `ack`).
//!
//! After every step: every acknowledged write is on every server of the
//! topology exactly once (the workload's sequence table; a duplicate in a
//! table without a key shows in the checksums); no two servers' data differ;
//! a refused step changed nothing; no step outlives its bound.
//!
//! `BINLOG_DIFF_CHAINS=N` (default 2: what CI runs) and
//! `BINLOG_DIFF_CHAIN_SEED=S` (default 1): chains S .. S+N-1; a failing
//! chain names its seed and the rest still run. `scripts/trials.sh` runs
//! hundreds of them beside the single-failover trials.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::drive::{final_line, output};
use support::seeded::{env_u64, print_draws, run_seeds};
use support::topology::{BinlogFormat, MASTER, Topology, TopologyConfig, Workload, XorShift, poll_until};

/// The bound of any one command of a chain (debug build, 2 cores, shared).
const STEP_BOUND: Duration = Duration::from_secs(180);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    None,
    /// A replica's SQL thread stopped on a duplicate key; `ignore_fail` set beforehand or not.
    Broken {
        ignore_fail: bool,
    },
    /// The dead master's `master_binlog_dir` wrong in app.cnf.
    WrongBinlogDir,
    /// A lagging replica's mysqld frozen (SIGSTOP) in the middle of its
    /// phase-4 apply: the run must end within its bound, exit 10, that
    /// replica named, the others recovered.
    Frozen,
}

/// One chain's draw.
#[derive(Debug)]
struct Chain {
    seed: u64,
    gtid: bool,
    format: BinlogFormat,
    first: Fault,
    second: Fault,
    /// The switch makes the old master a slave of the new one (else it is left out, read-only).
    orig_is_new_slave: bool,
    /// A transaction left open on the master across the switch.
    open_trx: bool,
    parallel: bool,
}

impl Chain {
    fn draw(seed: u64) -> Chain {
        let mut r = XorShift::new(seed ^ 0x0063_6861_696e);
        let fault = |r: &mut XorShift| match r.below(5) {
            0 => Fault::Broken { ignore_fail: r.chance(50) },
            1 => Fault::WrongBinlogDir,
            2 => Fault::Frozen,
            _ => Fault::None,
        };
        Chain {
            seed,
            gtid: r.chance(40),
            format: [BinlogFormat::Row, BinlogFormat::Statement, BinlogFormat::Mixed][r.below(3) as usize],
            first: fault(&mut r),
            second: fault(&mut r),
            orig_is_new_slave: r.chance(60),
            open_trx: r.chance(50),
            parallel: r.chance(50),
        }
    }
}

/// The state of a chain as it runs.
struct Run<'t> {
    topo: &'t Topology,
    work: PathBuf,
    rng: XorShift,
    /// The servers of the topology, the master first.
    members: Vec<usize>,
    /// Every write a client was told committed.
    acked: BTreeSet<u64>,
    /// Per server section, extra app.cnf lines.
    extra: Vec<String>,
    log: String,
}

impl Run<'_> {
    fn master(&self) -> usize {
        self.members[0]
    }

    fn replicas(&self) -> Vec<usize> {
        self.members[1..].to_vec()
    }

    /// app.cnf of the members only (the others left the topology, as an
    /// operator removes them), with the per-server extras.
    fn conf(&self) -> PathBuf {
        let all = self.topo.app_cnf(&self.work, "", &|s| self.extra[s].clone());
        let mut conf = all.clone();
        for s in self.topo.servers().filter(|s| !self.members.contains(s)) {
            conf = support::drive::without_server(&conf, &format!("server{}", s + 1));
        }
        conf
    }

    fn step(&mut self, what: &str, f: impl FnOnce(&mut Self) -> (i32, String)) -> (i32, String) {
        let t = Instant::now();
        let (code, out) = f(self);
        let took = t.elapsed();
        self.log.push_str(&format!("== {what}: exit {code} in {:.1}s\n{out}\n", took.as_secs_f64()));
        assert!(took <= STEP_BOUND, "{what} took {took:?}, over its bound {STEP_BOUND:?}");
        (code, out)
    }

    /// `n` writes on the master, acknowledged ones remembered.
    fn writes(&mut self, n: usize) {
        let seed = self.rng.next_u64();
        let mut w = Workload::new(self.topo.conn(self.master()), seed);
        if self.rng.chance(40) {
            w.run_mixed(n);
        } else {
            w.run(n);
        }
        self.acked.extend(w.committed());
    }

    /// Every member holds every acknowledged write once, and the same data.
    fn check(&self, after: &str) -> Result<(), String> {
        let m = self.master();
        let want = self.topo.checksum_tables(m, "bd");
        let seq = self.topo.committed_seq(m);
        let acked: Vec<u64> = self.acked.iter().copied().collect();
        if seq != acked {
            let missing: Vec<_> = acked.iter().filter(|s| !seq.contains(s)).collect();
            let extra: Vec<_> = seq.iter().filter(|s| !self.acked.contains(s)).collect();
            return Err(format!(
                "after {after}: the master {} misses {missing:?}, has unacknowledged {extra:?}",
                self.topo.name(m)
            ));
        }
        for &r in &self.members[1..] {
            let same =
                poll_until(Duration::from_secs(60), || (self.topo.checksum_tables(r, "bd") == want).then_some(()));
            if same.is_none() {
                return Err(format!(
                    "after {after}: {} differs from the master: {:?} vs {want:?}; {}",
                    self.topo.name(r),
                    self.topo.checksum_tables(r, "bd"),
                    self.topo.slave_status(r)
                ));
            }
            if self.topo.committed_seq(r) != acked {
                return Err(format!("after {after}: {}'s committed sequence differs", self.topo.name(r)));
            }
        }
        Ok(())
    }

    /// Replicas stop reading at random points of three batches; the last
    /// batch only the master gets.
    fn lag(&mut self) {
        // Those still reading (a replica set up to lag already stopped).
        let replicas: Vec<usize> =
            self.replicas().into_iter().filter(|&r| self.topo.slave_status(r).io_running != "No").collect();
        let stops: Vec<usize> = replicas.iter().map(|_| self.rng.below(2) as usize).collect();
        for batch in 0..3 {
            let n = self.rng.range(3, 12) as usize;
            self.writes(n);
            if batch == 2 {
                break;
            }
            for (i, &r) in replicas.iter().enumerate() {
                if stops[i] == batch {
                    read_all_then_stop_io(self.topo, r, self.master());
                }
            }
        }
    }

    /// Breaks a replica: a row written on it alone, then the same key from the master.
    fn break_one(&mut self) -> usize {
        let reps = self.replicas();
        let b = reps[self.rng.below(reps.len() as u64) as usize];
        let (m, key) = (self.master(), 7_000_000 + self.rng.below(1_000_000));
        self.topo.sql(m, "CREATE TABLE IF NOT EXISTS bd.dup (id INT PRIMARY KEY)");
        let created = poll_until(Duration::from_secs(60), || {
            self.topo
                .query_value(b, "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'dup'")
                .filter(|n| n == "1")
        });
        assert!(created.is_some(), "bd.dup reaches {}", self.topo.name(b));
        self.topo.sql(b, "SET SESSION sql_log_bin=0");
        self.topo.sql(b, format!("INSERT INTO bd.dup VALUES ({key})"));
        self.topo.sql(b, "SET SESSION sql_log_bin=1");
        self.topo.sql(m, format!("INSERT INTO bd.dup VALUES ({key})"));
        let stopped = poll_until(Duration::from_secs(60), || {
            let s = self.topo.slave_status(b);
            (s.raw.get("Last_SQL_Errno").map(String::as_str) == Some("1062")).then_some(())
        });
        assert!(stopped.is_some(), "{} stops on 1062", self.topo.name(b));
        b
    }

    /// A failover of the master with `fault`; returns an error on any divergence.
    fn failover(&mut self, fault: Fault, parallel: bool, nth: &str) -> Result<(), String> {
        let broken = match fault {
            Fault::Broken { ignore_fail } if self.members.len() >= 4 => {
                let b = self.break_one();
                if ignore_fail {
                    self.extra[b] = "ignore_fail=1\n".into();
                }
                Some((b, ignore_fail))
            }
            _ => None,
        };
        // A replica that lags: its diff holds a big transaction into bd.big.
        let frozen = match fault {
            Fault::Frozen if self.members.len() >= 4 => {
                let reps = self.replicas();
                let f = reps[self.rng.below(reps.len() as u64) as usize];
                read_all_then_stop_io(self.topo, f, self.master());
                let mut w = Workload::new(self.topo.conn(self.master()), self.rng.next_u64());
                w.big_transaction(64 << 10);
                self.acked.extend(w.committed());
                Some(f)
            }
            _ => None,
        };
        self.lag();
        let m = self.master();
        if fault == Fault::WrongBinlogDir {
            let wrong = self.work.join("not-the-binlogs");
            std::fs::create_dir_all(&wrong).unwrap();
            self.extra[m] = format!("master_binlog_dir={}\n", wrong.display());
        }
        self.topo.kill(m);
        for r in self.replicas() {
            self.topo.sql(r, "START SLAVE IO_THREAD");
        }
        let mut args: Vec<String> = vec![
            "--dead-master-host".into(),
            "127.0.0.1".into(),
            "--dead-master-port".into(),
            self.topo.port(m).to_string(),
            "--detect-wait".into(),
            "20".into(),
        ];
        if parallel {
            args.extend(["--parallel".into(), "4".into()]);
        }
        let run = |me: &mut Self, what: &str| {
            let conf = me.conf();
            let a: Vec<&str> = args.iter().map(String::as_str).collect();
            me.step(what, |me| failover_at(me.topo, &conf, &a))
        };
        // Refusals first: each changes nothing, then the operator mends what it names.
        if fault == Fault::WrongBinlogDir || broken.is_some_and(|(_, i)| !i) {
            let before = self.positions();
            let (code, out) = run(self, &format!("{nth} failover, refused"));
            if code != 1 {
                return Err(format!("{nth} failover: exit {code}, not a refusal:\n{out}"));
            }
            let named = if fault == Fault::WrongBinlogDir { "master_binlog_dir" } else { "ignore_fail=1" };
            if !out.contains(named) || out.contains("Phase 2") || self.positions() != before {
                return Err(format!("{nth} failover: refused without naming {named}, or changed something:\n{out}"));
            }
            self.extra[m].clear();
            if let Some((b, _)) = broken {
                self.extra[b] = "ignore_fail=1\n".into();
            }
        }
        let (code, out) = match frozen {
            Some(f) => self.failover_frozen(f, &args, nth)?,
            None => run(self, &format!("{nth} failover")),
        };
        let done = if frozen.is_some() { 10 } else { 0 };
        if code != done {
            return Err(format!("{nth} failover: exit {code}, not {done}:\n{out}"));
        }
        if let Some(f) = frozen {
            let named =
                out.lines().any(|l| l.contains(&format!("server{}", f + 1)) && l.contains("FAILED: apply failed"));
            if !named {
                return Err(format!("{nth} failover: the frozen replica is not named:\n{out}"));
            }
            // An operator rebuilds it; it leaves the topology.
            self.members.retain(|&s| s != f);
        }
        if let Some((b, _)) = broken {
            if !final_line(&out).contains("left out (ignore_fail)") {
                return Err(format!("{nth} failover: the broken replica is not said to be left out:\n{out}"));
            }
            self.members.retain(|&s| s != b);
        }
        self.members.retain(|&s| s != m);
        let new = self.members.iter().copied().find(|&s| self.topo.try_slave_status(s).unwrap().is_none());
        let new = new.ok_or_else(|| format!("{nth} failover: no member without replication:\n{out}"))?;
        self.members.retain(|&s| s != new);
        self.members.insert(0, new);
        self.check(&format!("the {nth} failover"))
    }

    /// The failover while replica `f`'s apply waits on a lock and its mysqld
    /// is then frozen; thawed once the run ended (or its bound passed).
    fn failover_frozen(&mut self, f: usize, args: &[String], nth: &str) -> Result<(i32, String), String> {
        let conf = self.conf();
        let log = self.work.join(format!("{nth}-failover.log"));
        let mut a: Vec<&str> = args.iter().map(String::as_str).collect();
        a.extend(["--mysql-timeout", "5"]);
        let mut locker = self.topo.conn(f);
        mysql::prelude::Queryable::query_drop(&mut locker, "LOCK TABLES bd.big WRITE").unwrap();
        let file = std::fs::File::create(&log).unwrap();
        let t = Instant::now();
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_binlog-diff"));
        c.arg("failover").arg("--conf").arg(&conf).args(&a).stdout(file.try_clone().unwrap()).stderr(file);
        let mut child = c.spawn().unwrap();
        let waits = poll_until(Duration::from_secs(120), || {
            let q = "SELECT ID FROM information_schema.PROCESSLIST WHERE STATE LIKE 'Waiting for %lock%'";
            (!self.topo.query_rows(f, q).is_empty() || child.try_wait().unwrap().is_some()).then_some(())
        });
        let pid = self.topo.pid(f).unwrap();
        if waits.is_some() && child.try_wait().unwrap().is_none() {
            unsafe { libc::kill(pid as i32, libc::SIGSTOP) };
        } else {
            let q = "SELECT ID, USER, COMMAND, STATE, LEFT(COALESCE(INFO, ''), 80) FROM information_schema.PROCESSLIST";
            self.log.push_str(&format!(
                "== {} never waited on bd.big: {:?}\n",
                self.topo.name(f),
                self.topo.query_rows(f, q)
            ));
        }
        let code = poll_until(STEP_BOUND, || child.try_wait().unwrap().map(|s| s.code().unwrap_or(-1)));
        unsafe { libc::kill(pid as i32, libc::SIGCONT) };
        drop(locker);
        let out = std::fs::read_to_string(&log).unwrap_or_default();
        self.log.push_str(&format!(
            "== {nth} failover, {} frozen: in {:.1}s\n{out}\n",
            self.topo.name(f),
            t.elapsed().as_secs_f64()
        ));
        match code {
            Some(code) => Ok((code, out)),
            None => {
                let _ = child.kill();
                Err(format!("{nth} failover with a frozen replica outlived its bound {STEP_BOUND:?}:\n{out}"))
            }
        }
    }

    /// Every member's read and executed positions.
    fn positions(&self) -> Vec<String> {
        self.replicas()
            .iter()
            .map(|&r| {
                let s = self.topo.slave_status(r);
                format!(
                    "{} {} {}",
                    s.read_pos(),
                    s.exec_pos(),
                    s.raw.get("Slave_IO_Running").cloned().unwrap_or_default()
                )
            })
            .collect()
    }

    /// A switch to a random replica, maybe across an open transaction.
    fn switch(&mut self, orig_is_new_slave: bool, open_trx: bool) -> Result<(), String> {
        use mysql::prelude::Queryable;
        let (old, reps) = (self.master(), self.replicas());
        let target = reps[self.rng.below(reps.len() as u64) as usize];
        for &r in &reps {
            let caught = poll_until(Duration::from_secs(60), || {
                (self.topo.checksum_tables(r, "bd") == self.topo.checksum_tables(old, "bd")).then_some(())
            });
            assert!(caught.is_some(), "{} catches up before the switch", self.topo.name(r));
        }
        let key = 9_000_000 + self.rng.below(1_000_000);
        let mut open = open_trx.then(|| {
            let mut c = self.topo.conn(old);
            c.query_drop("BEGIN").unwrap();
            c.query_drop(format!("INSERT INTO bd.seq VALUES ({key})")).unwrap();
            c
        });
        let conf = self.conf();
        let nm = format!("127.0.0.1:{}", self.topo.port(target));
        let mut a = vec!["--new-master", nm.as_str()];
        if orig_is_new_slave {
            a.push("--orig-master-is-new-slave");
        }
        if open_trx {
            // Without it the open transaction refuses the switch.
            a.push("--kill-open-transactions");
        }
        let (code, out) = self.step("switch", |_| support::drive::switch(&conf, &a));
        if code != 0 {
            return Err(format!("switch: exit {code}:\n{out}"));
        }
        if let Some(c) = open.as_mut() {
            if c.query_drop("COMMIT").is_ok() {
                self.acked.insert(key); // told committed: it must then be everywhere
            }
        }
        self.members.retain(|&s| s != target && (orig_is_new_slave || s != old));
        self.members.insert(0, target);
        self.check("the switch")
    }

    /// The anti-flapping block refuses the next failover until `ack`.
    fn ack(&mut self) -> Result<(), String> {
        let conf = self.conf();
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_binlog-diff"));
        c.arg("ack").arg("--conf").arg(&conf);
        let (code, out) = self.step("ack", |_| output(c));
        if code != 0 || !out.starts_with("acknowledged: ") {
            return Err(format!("ack: exit {code}: {out}"));
        }
        Ok(())
    }
}

/// The replica's IO thread reads all `master` wrote, then stops.
fn read_all_then_stop_io(topo: &Topology, replica: usize, master: usize) {
    topo.wait_binlog_checkpoint(master);
    let read = poll_until(Duration::from_secs(60), || {
        let s = topo.slave_status(replica);
        (s.io_yes() && s.read_pos() == topo.master_status(master)).then_some(())
    });
    assert!(
        read.is_some(),
        "{} reads all {} wrote: {}",
        topo.name(replica),
        topo.name(master),
        topo.slave_status(replica)
    );
    // Not the harness's stop: it fails on an SQL error, which a broken replica has.
    topo.sql(replica, "STOP SLAVE IO_THREAD");
    let stopped = poll_until(Duration::from_secs(60), || (topo.slave_status(replica).io_running == "No").then_some(()));
    assert!(stopped.is_some(), "{}'s IO thread stops", topo.name(replica));
}

/// A failover whose dead master is given in `args`.
fn failover_at(_topo: &Topology, conf: &Path, args: &[&str]) -> (i32, String) {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_binlog-diff"));
    c.arg("failover").arg("--conf").arg(conf).args(args);
    output(c)
}

fn chain(c: &Chain) -> Result<String, String> {
    let topo = Topology::start(TopologyConfig {
        replicas: 4,
        binlog_format: c.format,
        max_binlog_size: 16 << 10,
        use_gtid: c.gtid,
        ..Default::default()
    });
    let work = tempfile::tempdir().unwrap();
    let mut run = Run {
        topo: &topo,
        work: work.path().to_path_buf(),
        rng: XorShift::new(c.seed),
        members: topo.servers().collect(),
        acked: BTreeSet::new(),
        extra: vec![String::new(); topo.servers().count()],
        log: String::new(),
    };
    let result = (|| {
        run.writes(10);
        run.failover(c.first, c.parallel, "first")?;
        run.writes(8);
        run.switch(c.orig_is_new_slave, c.open_trx)?;
        run.writes(8);
        // Another failover so soon is refused until acknowledged.
        let conf = run.conf();
        let m = run.master();
        let port = topo.port(m).to_string();
        let a = ["--dead-master-host", "127.0.0.1", "--dead-master-port", port.as_str(), "--dry-run"];
        let (_, out) = run.step("a dry run under the anti-flapping block", |r| failover_at(r.topo, &conf, &a));
        if !out.contains("A real run would be refused") {
            return Err(format!("no anti-flapping block after the first failover:\n{out}"));
        }
        run.ack()?;
        let second = if run.members.len() >= 3 { c.second } else { Fault::None };
        run.failover(second, !c.parallel, "second")?;
        run.writes(5);
        run.check("the last writes")?;
        Ok(format!("{} acknowledged writes, members at the end {:?}", run.acked.len(), run.members))
    })();
    result.map_err(|e| format!("{e}\n--- chain log ---\n{}", run.log))
}

#[test]
fn chained_operator_trials() {
    let (first, n) = (env_u64("BINLOG_DIFF_CHAIN_SEED", 1), env_u64("BINLOG_DIFF_CHAINS", 2));
    run_seeds("chain", first, n, Chain::draw, chain);
}

/// The draws of `BINLOG_DIFF_CHAINS` / `BINLOG_DIFF_CHAIN_SEED`, not run.
#[test]
#[ignore = "lists chain draws only"]
fn chain_plans() {
    print_draws(env_u64("BINLOG_DIFF_CHAIN_SEED", 1), env_u64("BINLOG_DIFF_CHAINS", 2), Chain::draw);
    let _ = MASTER;
}
