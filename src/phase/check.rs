//! Phase 1, configuration check: nothing changes here. What is dead, who
//! survives, in which replication mode, which hosts answer, and the dead
//! master's tail saved while nothing has changed yet.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::report::{DeadMaster, Evidence, Phase, Skipped};

use super::record::{Record, ReplicaStep};
use super::tail::{Saved, Saver};
use super::{Replica, Run, ServerConf, label, promote, spec};
use crate::diff::tail::TailStart;
use crate::error::{Error, ErrorKind, Result};
use crate::position::MasterPos;
use crate::remote::Host;
use crate::server::Probe;
use crate::server::Server;
use crate::server::status::GtidMode;

/// What phase 1 found.
pub(super) struct Checked {
    pub dead: ServerConf,
    /// The replicas this run recovers.
    pub alive: Vec<Replica>,
    pub mode: GtidMode,
    pub dead_host: std::result::Result<Host, String>,
    pub dead_bin: Option<String>,
    /// The dead master's host answers SSH and runs our binary: its binlogs can be read.
    pub dead_ssh: bool,
    /// The run folder's name on remote hosts.
    pub run_dir: String,
    /// This host's folder for the run's files.
    pub workdir: PathBuf,
    /// The tail saved now, from where the replicas stopped reading.
    pub tail: Option<Saved>,
    /// The earlier run's record (`--resume`).
    pub resumed: Option<Record>,
}

impl Checked {
    /// What saves the dead master's tail with our binary `bin` on its `host`
    /// (phase 1 early, phase 3 again from the latest relay end).
    pub(super) fn saver<'a>(&'a self, host: &'a Host, bin: &'a str, step_timeout: Duration) -> Saver<'a> {
        Saver { host, bin, dead: &self.dead, run_dir: &self.run_dir, workdir: &self.workdir, step_timeout }
    }

    /// Every host opened: the survivors' and the dead master's.
    pub(super) fn opened_hosts(&self) -> impl Iterator<Item = (&Host, &ServerConf)> {
        let alive = self.alive.iter().filter_map(|r| r.host.as_ref().ok().map(|h| (h, &r.conf)));
        alive.chain(self.dead_host.as_ref().ok().map(|h| (h, &self.dead)))
    }
}

type Opened = (std::result::Result<Host, String>, std::result::Result<String, String>);

impl Run<'_> {
    /// Phase 1.
    pub(super) fn check(&mut self) -> Result<Checked> {
        let (o, conf) = (self.o, self.conf);
        let t = Instant::now();
        self.say("* Phase 1: Configuration Check Phase..");
        let dead = conf.find(&o.dead_master_host, o.dead_master_port)?.clone();
        self.doc.dead_master =
            DeadMaster { name: dead.name.clone(), host: dead.ip.clone(), port: dead.port, ..Default::default() };
        let resumed = self.earlier_run(&dead)?;
        if resumed.is_none() {
            self.anti_flapping()?;
        }
        let run_dir = match &resumed {
            Some(r) => r.run_dir.clone(),
            None => super::run_folder::new_name(),
        };
        let workdir = match (&resumed, &o.workdir) {
            (Some(r), Some(w)) if *w != r.workdir => {
                return Err(Error::refused(format!(
                    "--workdir {} is not the earlier run's {}: resume there (or leave --workdir out)",
                    w.display(),
                    r.workdir.display()
                )));
            }
            (Some(r), _) => r.workdir.clone(),
            (None, Some(w)) => w.clone(),
            (None, None) => conf.manager_workdir.join(format!("failover-{run_dir}")),
        };
        std::fs::create_dir_all(&workdir).map_err(|e| Error::io(&workdir, e))?;
        // Hosts: one SSH session each and our binary there, opened in the
        // background while the MySQL checks run (the dead master's may fail:
        // its host may be gone; a cut-off host costs its connect timeout once).
        let made = super::run_folder::Made::default();
        let opening: Vec<(String, std::thread::JoinHandle<Opened>)> = conf
            .servers
            .iter()
            .map(|s| (s.name.clone(), self.open_in_background(s, &run_dir, &made, resumed.is_some())))
            .collect();
        let (alive, mode) = match self.while_opening(&dead, resumed.as_ref()) {
            Ok(x) => x,
            Err(e) => {
                // Refused: the folders being made on the hosts go too.
                self.abandon(opening, &run_dir);
                return Err(e);
            }
        };
        let mut alive = alive;
        let (dead_host, dead_bin) = self.join_hosts(opening, &dead, &mut alive);
        let mut c = Checked {
            dead,
            alive,
            mode,
            dead_ssh: dead_host.is_ok() && dead_bin.is_some(),
            dead_host,
            dead_bin,
            run_dir,
            workdir,
            tail: None,
            resumed,
        };
        if c.resumed.as_ref().is_none_or(|r| r.promoted.is_none()) {
            c.tail = match self.save_tail_early(&c) {
                Ok(t) => t,
                Err(e) => {
                    super::run_folder::remove(c.opened_hosts(), &c.run_dir, false, o.step_timeout);
                    return Err(e);
                }
            };
        }
        self.phase_done(Phase::ConfigurationCheck, t);
        Ok(c)
    }

    /// The checks made while the hosts open: the dead master is silent, the
    /// survivors, detection, one replication mode.
    fn while_opening(&mut self, dead: &ServerConf, resumed: Option<&Record>) -> Result<(Vec<Replica>, GtidMode)> {
        let o = self.o;
        let short = o.mysql_timeout.min(Duration::from_secs(4));
        match spec(dead).probe(short) {
            // A login it refuses is an answer too: a live master we cannot use is not a dead one.
            Probe::Answers(why) => {
                return Err(Error::refused(format!(
                    "the master {} answers{}: this is not a dead-master failover",
                    label(dead),
                    if why.is_empty() { String::new() } else { format!(" ({why})") }
                )));
            }
            Probe::Silent(e) => self.say(&format!("  Dead master {}: MySQL does not answer ({e}).", label(dead))),
        }
        let mut alive = self.survivors(dead, resumed)?;
        if alive.is_empty() {
            return Err(Error::refused("no replica to fail over to"));
        }
        if resumed.is_none_or(|r| r.promoted.is_none()) {
            self.detect(dead, &mut alive)?;
        }
        let mode = self.replication_mode(&alive)?;
        Ok((alive, mode))
    }

    /// Waits for the hosts being opened (each within its bounds) and
    /// removes the run folder made on them: the run was refused.
    fn abandon(&self, opening: Vec<(String, std::thread::JoinHandle<Opened>)>, run_dir: &str) {
        let opened: Vec<(Host, &ServerConf)> = opening
            .into_iter()
            .filter_map(|(n, h)| {
                let host = h.join().ok()?.0.ok()?;
                Some((host, self.conf.servers.iter().find(|s| s.name == n)?))
            })
            .collect();
        super::run_folder::remove(opened.iter().map(|(h, s)| (h, *s)), run_dir, false, self.o.step_timeout);
    }

    /// An earlier run that did not finish: refused unless `--resume`, which
    /// needs one, for this dead master.
    fn earlier_run(&mut self, dead: &ServerConf) -> Result<Option<Record>> {
        let wd = &self.conf.manager_workdir;
        let earlier = Record::load(wd)?;
        match (earlier, self.o.resume) {
            (None, false) => Ok(None),
            (None, true) => Err(Error::refused(format!(
                "--resume: no failover to resume ({} does not exist)",
                super::record::path(wd).display()
            ))),
            (Some(r), false) => Err(Error::refused(format!(
                "{}. A new failover now could apply twice what it applied: check the servers, then run the same \
                 command with --resume to continue it (or, once every server is mended by hand, remove {})",
                r.describe(),
                super::record::path(wd).display()
            ))),
            (Some(r), true) if r.dead_master != dead.name => Err(Error::refused(format!(
                "--resume: the unfinished failover is of {}, not of {}",
                r.dead_master, dead.name
            ))),
            (Some(r), true) => {
                self.say(&format!("  Resuming: {}.", r.describe()));
                self.doc.resumed = Some(r.clone());
                Ok(Some(r))
            }
        }
    }

    /// No second failover on this cluster soon after one, unless
    /// acknowledged (`binlog-diff ack`) or forced.
    fn anti_flapping(&mut self) -> Result<()> {
        let last = promote::last_failover_file(&self.conf.manager_workdir);
        let window = self.conf.last_failover_minute.saturating_mul(60);
        if let Some(why) = promote::blocked_by_last_failover(&last, window)? {
            match (self.o.force, self.o.dry_run) {
                (true, _) => self.say(&format!("  {why} (going on: --force)")),
                (false, true) => self.say(&format!("  A real run would be refused: {why}")),
                (false, false) => return Err(Error::refused(why)),
            }
        }
        Ok(())
    }

    /// Opens `s`'s host, makes the run's folder there (see
    /// [`super::run_folder`]) and checks our binary, in a thread of its own.
    fn open_in_background(
        &self,
        s: &ServerConf,
        run_dir: &str,
        made: &super::run_folder::Made,
        resumed: bool,
    ) -> std::thread::JoinHandle<Opened> {
        let (s, rd, bin, push, st) =
            (s.clone(), run_dir.to_string(), self.o.remote_binary.clone(), self.o.push_binary, self.o.step_timeout);
        let made = made.clone();
        std::thread::spawn(move || {
            let folder = Some((&made, resumed));
            super::open_host_and_node(&s, &rd, &bin, push, st, folder, &mut |m| super::say(&format!("  {m}")))
        })
    }

    /// Every other server: a replica of the dead master with a working SQL
    /// thread. One that is not is left out with `ignore_fail` (as it is,
    /// reported), else the run is refused naming the ways forward. When
    /// resuming after the new master took writes, the replicas already
    /// re-pointed are left alone and the new master is not a replica.
    fn survivors(&mut self, dead: &ServerConf, resumed: Option<&Record>) -> Result<Vec<Replica>> {
        let o = self.o;
        let mut alive = Vec::new();
        for s in self.conf.servers.iter().filter(|s| s.name != dead.name) {
            let step = resumed.map(|r| r.step(&s.name)).unwrap_or_default();
            let promoted = resumed.is_some_and(|r| r.promoted.is_some());
            if promoted && step == ReplicaStep::Repointed {
                self.say(&format!("  {}: re-pointed by the earlier run; left as it is.", label(s)));
                continue;
            }
            let is_new_master = resumed.is_some_and(|r| r.new_master.as_deref() == Some(s.name.as_str()));
            let r = (|| -> Result<Replica> {
                let mut srv = Server::connect_within(&spec(s), o.mysql_timeout)
                    .map_err(|e| Error::new(ErrorKind::Connect(format!("{}: cannot connect: {}", label(s), e.kind()))))?
                    .named(&s.name);
                let st = srv.replica_status()?;
                if promoted && is_new_master {
                    // It took writes in the earlier run: no longer a replica of anything we know.
                    let status = st.unwrap_or_default();
                    return Ok(Replica { conf: s.clone(), srv, status, host: Err(String::new()), bin: None });
                }
                let st = st.ok_or_else(|| Error::server(label(s), "not a replica"))?;
                if !super::replicates_from(&st, dead) {
                    let (mh, mp) = st.master();
                    return Err(Error::refused(format!(
                        "{} replicates from {mh}:{mp}, not from the dead master {}",
                        label(s),
                        label(dead)
                    )));
                }
                if let Some(e) = st.sql_error() {
                    return Err(Error::server(
                        label(s),
                        format!("its SQL thread stopped on error {e}: it cannot be brought to the others' state"),
                    ));
                }
                Ok(Replica { conf: s.clone(), srv, status: st, host: Err(String::new()), bin: None })
            })();
            match r {
                Ok(r) => alive.push(r),
                Err(e) if s.ignore_fail => {
                    self.say(&format!("  {}: skipped (ignore_fail), left as it is: {e}", label(s)));
                    self.doc.skipped.push(Skipped { name: s.name.clone(), why: e.to_string() });
                    self.report.left_out.push((s.name.clone(), e.to_string()));
                }
                Err(e) => {
                    return Err(Error::refused(format!(
                        "{e}. Nothing was changed. To fail over without {}: set ignore_fail=1 in its [{}] section \
                         (it is then left as it is, and reported), or remove it from {}",
                        s.name,
                        s.name,
                        self.conf.path.display()
                    )));
                }
            }
        }
        Ok(alive)
    }

    /// Collects the hosts opened in the background: each replica's, and the dead master's.
    fn join_hosts(
        &mut self,
        opening: Vec<(String, std::thread::JoinHandle<Opened>)>,
        dead: &ServerConf,
        alive: &mut [Replica],
    ) -> (std::result::Result<Host, String>, Option<String>) {
        let mut opened: Vec<(String, Opened)> = opening
            .into_iter()
            .map(|(n, h)| (n, h.join().unwrap_or_else(|_| (Err("panicked".into()), Err("panicked".into())))))
            .collect();
        let mut take = |name: &str| -> Opened {
            match opened.iter().position(|(n, _)| n == name) {
                Some(i) => opened.swap_remove(i).1,
                None => (Err("not opened".into()), Err("not opened".into())),
            }
        };
        let (dead_host, dead_bin) = take(&dead.name);
        for r in alive.iter_mut() {
            let (h, b) = take(&r.conf.name);
            match &b {
                Ok(b) => self.say(&format!(
                    "  {}: on {}, {b} is {}",
                    label(&r.conf),
                    h.as_ref().map(Host::label).unwrap_or_default(),
                    crate::remote::host::our_version()
                )),
                Err(e) => self.say(&format!("  {}: host not usable: {e}", label(&r.conf))),
            }
            r.host = h;
            r.bin = b.ok();
        }
        let dead_bin = match (&dead_host, dead_bin) {
            (Ok(h), Ok(b)) => {
                self.say(&format!("  Dead master's host ({}) is reachable: its binlog tail can be saved.", h.label()));
                Some(b)
            }
            (Ok(h), Err(e)) => {
                self.say(&format!(
                    "  Dead master's host {} answers SSH, but our binary does not run there: {e}",
                    h.label()
                ));
                None
            }
            (Err(e), _) => {
                self.say(&format!("  Dead master's host is not reachable over SSH: {e}"));
                None
            }
        };
        let ssh = if dead_host.is_ok() { "reachable" } else { "unreachable" };
        self.doc.dead_master.ssh = Some(ssh);
        (dead_host, dead_bin)
    }

    /// The dead master's tail, saved before anything changes, from the
    /// furthest any replica read. When its host answers but the save fails
    /// (a wrong `master_binlog_dir`, damage, our binary missing there), the
    /// run stops here, unless `--accept-loss`.
    fn save_tail_early(&mut self, c: &Checked) -> Result<Option<Saved>> {
        let from = furthest_read(&c.alive);
        let attempt = match (&c.dead_host, &c.dead_bin, &from) {
            (Ok(h), Some(b), Some(from)) => {
                let saver = c.saver(h, b, self.o.step_timeout);
                // The furthest read may be inside a transaction (an IO thread cut off
                // mid-transaction): the tail then starts where that transaction does,
                // where the relay logs' last whole transaction ends.
                Some(saver.save(&from.to_string(), TailStart::Transaction))
            }
            // Its host answers, but our binary does not run there.
            (Ok(h), None, _) => Some(Err(Error::remote(
                h.label(),
                "run our binary",
                "it does not run on the dead master's host (see above): install it there, or pass --push-binary",
            ))),
            _ => None,
        };
        match attempt {
            Some(Ok(sv)) => {
                let on = c.dead_host.as_ref().map(Host::label).unwrap_or_default();
                match &sv.file {
                    Some(_) => self.say(&format!("  Dead master's tail saved on {on} in {:.2}s: {}", sv.secs, sv.line)),
                    None => self.say(&format!("  The dead master has nothing after {}.", sv.from)),
                }
                self.doc.dead_master.tail_saved_in_phase_1 = Some(sv.from.clone());
                Ok(Some(sv))
            }
            Some(Err(e)) if self.o.accept_loss => {
                self.say(&format!(
                    "  Could not save the dead master's tail: {e}. Going on (--accept-loss): what it alone \
                     committed will be lost."
                ));
                self.doc.dead_master.tail_error = Some(e.to_string());
                Ok(None)
            }
            Some(Err(e)) => Err(Error::refused(format!(
                "the dead master {}'s host answers, but its binlog tail could not be saved: {e}. Nothing was \
                 changed. Fix it and run again (where its binary logs are elsewhere: master_binlog_dir in {} must \
                 name their folder; now: {}); or pass --accept-loss to fail over without its tail (what only it \
                 committed is then lost)",
                label(&c.dead),
                self.conf.path.display(),
                c.dead.master_binlog_dir.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(",")
            ))),
            None => Ok(None),
        }
    }

    /// The topology's replication mode, which re-pointing keeps: every
    /// replica must agree (a mixed topology is refused before anything
    /// changes: re-pointing would have to change some replica's mode).
    fn replication_mode(&mut self, alive: &[Replica]) -> Result<GtidMode> {
        let modes: Vec<(String, GtidMode)> = alive
            .iter()
            .filter(|r| !r.status.get("Master_Host").is_empty())
            .map(|r| (label(&r.conf), r.status.gtid_mode()))
            .collect();
        let mode = modes.first().map_or(GtidMode::Off, |m| m.1);
        if modes.iter().any(|(_, m)| *m != mode) {
            let each: Vec<String> = modes.iter().map(|(n, m)| format!("{n}: {}", m.name())).collect();
            return Err(Error::refused(format!(
                "the replicas replicate in different modes ({}): re-pointing them in one mode would change some \
                 replica's; make them agree first (CHANGE MASTER TO … MASTER_USE_GTID=… / MASTER_AUTO_POSITION=…)",
                each.join(", ")
            )));
        }
        self.say(&format!("  Replication mode: {} (kept when re-pointing)", mode.name()));
        self.doc.replication_mode = Some(mode.name());
        Ok(mode)
    }

    /// The master is dead only if we cannot reach it *and* every replica has
    /// lost it too: waits up to `detect_wait` for the IO threads to notice.
    fn detect(&mut self, dead: &ServerConf, alive: &mut [Replica]) -> Result<()> {
        let t0 = Instant::now();
        loop {
            let mut still = Vec::new();
            for r in alive.iter_mut() {
                r.status = r.srv.replica_status()?.unwrap_or_default();
                if r.status.io_running() {
                    still.push(label(&r.conf));
                } else if let Some(e) = master_answered(&r.status) {
                    // Its IO thread is down, but the master answered it: not evidence of death.
                    still.push(format!("{} (the master answered it: {e})", label(&r.conf)));
                }
            }
            if still.is_empty() || t0.elapsed() >= self.o.detect_wait {
                return self.verdict(dead, alive, still);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn verdict(&mut self, dead: &ServerConf, alive: &[Replica], still: Vec<String>) -> Result<()> {
        let ev: Vec<Evidence> = alive
            .iter()
            .map(|r| Evidence {
                replica: r.conf.name.clone(),
                io_thread: r.status.get("Slave_IO_Running").to_string(),
                last_io_error: r.status.io_error(),
            })
            .collect();
        for r in alive {
            self.say(&format!(
                "  Evidence: {}: IO thread {}{}",
                label(&r.conf),
                r.status.get("Slave_IO_Running"),
                r.status.io_error().map(|e| format!(", last IO error {e}")).unwrap_or_default()
            ));
        }
        self.doc.dead_master.evidence = ev;
        if still.is_empty() {
            self.say(&format!("  DeadMaster: {} is unreachable from here and from every replica.", label(dead)));
            self.doc.dead_master.verdict = Some("dead");
            return Ok(());
        }
        self.doc.dead_master.verdict = Some("unreachable");
        if self.o.force {
            self.say(&format!(
                "  UnreachableMaster: {} still replicate from it; going on (--force).",
                still.join(", ")
            ));
            return Ok(());
        }
        Err(Error::new(ErrorKind::NotDead(format!(
            "UnreachableMaster: {} does not answer here, but {} still replicate from it (waited {:?}): \
             it is not dead; nothing was changed (--force to fail over anyway)",
            label(dead),
            still.join(", "),
            self.o.detect_wait
        ))))
    }
}

/// The IO thread's last error, when it is one only a live master gives:
/// access refused (1044, 1045, 1130) or the master's own binlog error (1236).
fn master_answered(st: &crate::server::status::Status) -> Option<String> {
    let n = st.get("Last_IO_Errno");
    ["1044", "1045", "1130", "1236"].contains(&n).then(|| st.io_error().unwrap_or_default())
}

/// The furthest master coordinate any replica's IO thread read.
fn furthest_read(alive: &[Replica]) -> Option<MasterPos> {
    alive
        .iter()
        .filter_map(|r| {
            let f = r.status.get("Master_Log_File").parse().ok()?;
            let p = r.status.get("Read_Master_Log_Pos").parse().ok()?;
            Some(MasterPos::new(f, p))
        })
        .max()
}
