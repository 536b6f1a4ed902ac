//! Starting and stopping the servers of a topology: spawn `mariadbd` from
//! the template (in parallel), wait until each accepts connections (retrying
//! a lost port race), set up replication; kill, shut down, restart; and the
//! teardown when the [`Topology`] is dropped.
//!
//! # Teardown guarantees
//!
//! * `Drop`: SIGTERM to every running server (clean shutdown; SIGKILL for a
//!   server that never finished starting: mariadbd can ignore a SIGTERM that
//!   arrives during startup), SIGKILL after 30 s, then the temp dir is
//!   removed unless `BINLOG_DIFF_KEEP=1`.  While unwinding from a panic the
//!   tail of every error log is printed first.
//! * Every `mariadbd` is spawned with `PR_SET_PDEATHSIG=SIGKILL` (Linux): if
//!   the test process dies without unwinding (SIGKILL, abort, `exit`), the
//!   kernel kills its servers.  Caveat: the signal fires when the *thread*
//!   that spawned the server exits, so keep a `Topology` on the thread that
//!   created it (the normal case for a `#[test]`).
//! * Belt and braces: the first `Topology::start` of a process scans
//!   `$TMPDIR/binlog-diff-topo-*` for directories whose owner process is gone,
//!   SIGKILLs servers listed in their `pids` file (only if
//!   `/proc/<pid>/cmdline` still names that directory) and removes the
//!   directory (unless it has a `KEEP` marker).
//!
//! Passwords never appear on a command line: clients use the `mysql` crate.

use std::fs;
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

use mysql::{Conn, OptsBuilder};

use super::super::process::{POLL, poll_until, process_alive, set_parent_death_signal, signal};
use super::template::{INNODB_BUFFER_POOL_SIZE, INNODB_LOG_FILE_SIZE, copy_dir, mariadbd_path, template};
use super::{MASTER, Server, Topology, TopologyConfig, WAIT_TIMEOUT, env_flag, lock};

const DIR_PREFIX: &str = "binlog-diff-topo-";

impl Topology {
    /// Start master + replicas, wait until every server accepts connections
    /// and (with `start_replication`) every replica's IO and SQL threads run.
    pub fn start(cfg: TopologyConfig) -> Topology {
        cfg.validate();
        let template = template();
        reap_stale_topologies();
        let t0 = Instant::now();
        let root = tempfile::Builder::new().prefix(DIR_PREFIX).tempdir().expect("create topology temp dir").keep();
        fs::write(root.join("owner.pid"), format!("{}\n", std::process::id())).unwrap();
        let keep = env_flag("BINLOG_DIFF_KEEP");
        if keep {
            fs::write(root.join("KEEP"), "BINLOG_DIFF_KEEP=1\n").unwrap();
        }
        let mut topo = Topology { cfg, root, keep, servers: Vec::new(), start_time: Duration::ZERO, net: None };
        if topo.cfg.netns {
            topo.net = Some(super::super::hosts::NetState::create(&topo.cfg));
        }
        let mut used_ports = Vec::new();
        for i in 0..=topo.cfg.replicas {
            let name = if i == MASTER { "master".to_string() } else { format!("replica{i}") };
            let dir = topo.root.join(&name);
            let (port, ip, ns) = match &topo.net {
                Some(n) => (3306, n.net.host(i).ip.to_string(), Some(n.net.host(i).ns.clone())),
                None => {
                    let port = pick_port(&used_ports);
                    used_ports.push(port);
                    (port, "127.0.0.1".to_string(), None)
                }
            };
            topo.servers.push(Server {
                server_id: i as u32 + 1,
                port,
                ip,
                ns,
                datadir: dir.join("data"),
                socket: dir.join("mysql.sock"),
                error_log: dir.join("error.log"),
                dir,
                name,
                child: Mutex::new(None),
                conn: Mutex::new(None),
                ready: AtomicBool::new(false),
                sshd: Mutex::new(None),
            });
            topo.prepare_datadir(i, &template.datadir);
            topo.spawn(i);
        }
        if topo.net.is_some() {
            topo.start_sshds();
        }
        // servers start in parallel; wait for each (retrying a lost port race)
        for i in 0..topo.servers.len() {
            let mut attempt = 0;
            loop {
                match topo.wait_ready(i) {
                    Ok(()) => break,
                    Err(msg) if attempt < 4 && topo.net.is_none() && topo.port_conflict(i) => {
                        attempt += 1;
                        eprintln!("[topology] {}: port {} taken, retrying ({msg})", topo.servers[i].name, topo.port(i));
                        let port = pick_port(&used_ports);
                        used_ports.push(port);
                        topo.servers[i].port = port;
                        // a failed start may already have created binlog files
                        topo.prepare_datadir(i, &template.datadir);
                        topo.spawn(i);
                    }
                    Err(msg) => topo.fail(i, msg),
                }
            }
        }
        if topo.net.is_some() {
            for i in 0..topo.servers.len() {
                if let Err(msg) = topo.wait_sshd(i) {
                    topo.fail(i, msg);
                }
                // `ip netns exec` execs: the pids we hold are the servers' own
                for (pid, want) in [(topo.pid(i), "mariadbd"), (topo.sshd_pid(i), "sshd")] {
                    let comm = pid.and_then(|p| fs::read_to_string(format!("/proc/{p}/comm")).ok());
                    assert_eq!(comm.as_deref().map(str::trim), Some(want), "{}: pid {pid:?}", topo.name(i));
                }
            }
        }
        topo.write_env_file();
        if topo.cfg.start_replication {
            topo.setup_replication();
        }
        topo.start_time = t0.elapsed();
        eprintln!("[topology] started in {:.2}s: {}", topo.start_time.as_secs_f64(), topo.describe());
        topo
    }

    /// Shorthand for `start(TopologyConfig::with_replicas(n))`.
    pub fn with_replicas(n: usize) -> Topology {
        Topology::start(TopologyConfig::with_replicas(n))
    }

    fn prepare_datadir(&self, i: usize, template: &Path) {
        let s = &self.servers[i];
        let _ = fs::remove_dir_all(&s.dir);
        fs::create_dir_all(s.dir.join("tmp")).unwrap();
        copy_dir(template, &s.datadir)
            .unwrap_or_else(|e| panic!("copy template {} -> {}: {e}", template.display(), s.datadir.display()));
    }

    fn server_args(&self, i: usize) -> Vec<String> {
        let s = &self.servers[i];
        let c = &self.cfg;
        let d = s.datadir.display();
        let mut a: Vec<String> = vec![
            "--no-defaults".into(),
            format!("--datadir={d}"),
            format!("--socket={}", s.socket.display()),
            format!("--pid-file={}", s.dir.join("mariadbd.pid").display()),
            format!("--log-error={}", s.error_log.display()),
            format!("--tmpdir={}", s.dir.join("tmp").display()),
            format!("--port={}", s.port),
            format!("--bind-address={}", s.ip),
            "--user=root".into(),
            format!("--server-id={}", s.server_id),
            format!("--log-bin={d}/mysql-bin"),
            "--log-slave-updates=ON".into(),
            format!("--relay-log={d}/relay-bin"),
            "--relay-log-purge=0".into(),
            "--skip-slave-start".into(),
            "--skip-name-resolve".into(),
            "--character-set-server=utf8mb4".into(),
            "--collation-server=utf8mb4_general_ci".into(),
            format!("--binlog-format={}", c.binlog_format.as_str()),
            format!("--binlog-checksum={}", c.binlog_checksum.as_str()),
            format!("--max-binlog-size={}", c.max_binlog_size),
            format!("--max-relay-log-size={}", c.max_relay_log_size),
            format!("--report-host={}", s.ip),
            format!("--report-port={}", s.port),
            format!("--innodb-buffer-pool-size={INNODB_BUFFER_POOL_SIZE}"),
            format!("--innodb-log-file-size={INNODB_LOG_FILE_SIZE}"),
            // speed: survives SIGKILL of mariadbd (page cache), not an OS crash
            "--innodb-flush-log-at-trx-commit=2".into(),
            "--innodb-doublewrite=0".into(),
            "--innodb-temp-data-file-path=ibtmp1:1M:autoextend".into(),
            "--skip-innodb-buffer-pool-load-at-startup".into(),
            "--skip-innodb-buffer-pool-dump-at-shutdown".into(),
            "--max-allowed-packet=64M".into(),
            "--key-buffer-size=4M".into(),
            "--aria-pagecache-buffer-size=8M".into(),
            "--max-connections=64".into(),
        ];
        if self.net.is_some() {
            // notice a dead or unreachable master within seconds (heartbeat:
            // half of it); extra_options/replica_options may override
            a.push("--slave-net-timeout=5".into());
        }
        a.extend(c.extra_options.iter().cloned());
        a.extend(if i == MASTER { c.master_options.iter() } else { c.replica_options.iter() }.cloned());
        a.extend(c.server_options.iter().filter(|(s, _)| *s == i).map(|(_, o)| o.clone()));
        a
    }

    fn spawn(&self, i: usize) {
        let s = &self.servers[i];
        let args = self.server_args(i);
        fs::write(s.dir.join("options"), args.join("\n") + "\n").unwrap();
        let out = fs::OpenOptions::new().create(true).append(true).open(s.dir.join("stdout.log")).unwrap();
        let mut cmd = match &self.net {
            Some(n) => n.net.command_in(i, mariadbd_path()),
            None => Command::new(mariadbd_path()),
        };
        cmd.args(&args).stdin(Stdio::null()).stdout(out.try_clone().unwrap()).stderr(out);
        // SAFETY: the closure only calls prctl (async-signal-safe).
        unsafe {
            cmd.pre_exec(set_parent_death_signal);
        }
        let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {}: {e}", mariadbd_path().display()));
        let mut pids = fs::OpenOptions::new().create(true).append(true).open(self.root.join("pids")).unwrap();
        writeln!(pids, "{} {}", child.id(), s.name).unwrap();
        *lock(&s.child) = Some(child);
        *lock(&s.conn) = None;
        s.ready.store(false, Ordering::SeqCst);
    }

    /// Poll until the server accepts an admin connection (kept as the cached
    /// connection).  Err if it exits or the deadline passes.
    fn wait_ready(&self, i: usize) -> Result<(), String> {
        let s = &self.servers[i];
        let deadline = Instant::now() + self.cfg.ready_timeout;
        let opts = OptsBuilder::from_opts(self.opts(i)).tcp_connect_timeout(Some(Duration::from_secs(2)));
        loop {
            if let Some(status) = lock(&s.child).as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                return Err(format!("{} exited during startup ({status})", s.name));
            }
            match Conn::new(opts.clone()) {
                Ok(c) => {
                    *lock(&s.conn) = Some(c);
                    s.ready.store(true, Ordering::SeqCst);
                    return Ok(());
                }
                Err(e) if Instant::now() >= deadline => {
                    return Err(format!("{} not ready after {:?} (last error: {e})", s.name, self.cfg.ready_timeout));
                }
                Err(_) => std::thread::sleep(POLL),
            }
        }
    }

    fn port_conflict(&self, i: usize) -> bool {
        let log = fs::read_to_string(&self.servers[i].error_log).unwrap_or_default();
        log.contains("Address already in use") || log.contains("Do you already have another server running")
    }

    fn setup_replication(&self) {
        let coords = if self.cfg.use_gtid { None } else { Some(self.master_status(MASTER)) };
        for r in self.replicas() {
            self.change_master(r, MASTER, coords.as_ref());
            self.sql(r, "START SLAVE");
        }
        for r in self.replicas() {
            self.wait_slave(r, "IO and SQL threads running", |s| s.io_yes() && s.sql_yes());
        }
    }

    pub(in crate::support) fn forget_conn(&self, server: usize) {
        // take it out first: dropping a Conn talks to the server (COM_QUIT)
        let c = lock(&self.servers[server].conn).take();
        drop(c);
    }

    /// SIGKILL the server (simulated crash) and wait for it to exit.
    pub fn kill(&self, server: usize) {
        let c = lock(&self.servers[server].conn).take();
        let mut g = lock(&self.servers[server].child);
        if let Some(child) = g.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
        drop(g);
        drop(c); // connection to a dead server: COM_QUIT fails quietly
    }

    /// SIGKILL the master.
    pub fn kill_master(&self) {
        self.kill(MASTER);
    }

    /// Clean shutdown (SIGTERM, like `mariadb-admin shutdown`): the binlog is
    /// closed with a STOP event.  SIGKILL and panic if it takes over 60 s.
    pub fn shutdown(&self, server: usize) {
        self.forget_conn(server);
        let mut g = lock(&self.servers[server].child);
        let Some(child) = g.as_mut() else { return };
        if child.try_wait().ok().flatten().is_some() {
            return;
        }
        signal(child.id(), libc::SIGTERM);
        let exited = poll_until(WAIT_TIMEOUT, || child.try_wait().ok().flatten());
        if exited.is_none() {
            let _ = child.kill();
            let _ = child.wait();
            drop(g);
            self.fail(server, format!("{} did not shut down within {WAIT_TIMEOUT:?} (killed)", self.name(server)));
        }
    }

    /// Start a stopped/killed server again with the same datadir, port and
    /// options; waits until it accepts connections.  (A replica does not
    /// start its slave threads by itself: --skip-slave-start.)
    pub fn restart(&self, server: usize) {
        assert!(!self.is_running(server), "{} is still running", self.name(server));
        self.spawn(server);
        if let Err(msg) = self.wait_ready(server) {
            self.fail(server, msg);
        }
        self.write_env_file();
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for i in 0..self.servers.len() {
                eprintln!(
                    "----- {} ({}) error log, last 20 lines -----\n{}",
                    self.servers[i].name,
                    self.servers[i].error_log.display(),
                    self.error_log_tail(i, 20)
                );
                if self.net.is_some() {
                    eprintln!(
                        "----- {} sshd log, last 10 lines -----\n{}",
                        self.servers[i].name,
                        self.sshd_log_tail(i, 10)
                    );
                }
            }
            if self.net.is_some() {
                eprintln!("{}", self.describe());
            }
        }
        for i in 0..self.servers.len() {
            self.forget_conn(i);
        }
        // SIGTERM everyone at once (SIGKILL if still starting up), then wait
        // (bounded), then SIGKILL
        for s in &self.servers {
            if let Some(c) = lock(&s.child).as_mut() {
                if c.try_wait().ok().flatten().is_none() {
                    let sig = if s.ready.load(Ordering::SeqCst) { libc::SIGTERM } else { libc::SIGKILL };
                    signal(c.id(), sig);
                }
            }
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        for s in &self.servers {
            if let Some(c) = lock(&s.child).as_mut() {
                let left = deadline.saturating_duration_since(Instant::now());
                if poll_until(left, || c.try_wait().ok().flatten()).is_none() {
                    eprintln!("[topology] {} ignored SIGTERM for 30s, SIGKILL", s.name);
                    let _ = c.kill();
                    let _ = c.wait();
                }
            }
        }
        if let Some(n) = self.net.take() {
            // sshds, then the network (see hosts::NetState::teardown)
            n.teardown(&self.servers, self.keep);
        }
        if self.keep {
            eprintln!("[topology] BINLOG_DIFF_KEEP=1: kept {}", self.root.display());
        } else if let Err(e) = fs::remove_dir_all(&self.root) {
            eprintln!("[topology] cannot remove {}: {e}", self.root.display());
        }
    }
}

/// Kill servers of topologies whose owner process died without cleaning up
/// (only pids whose /proc cmdline names the directory), remove the dirs.
fn reap_stale_topologies() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let Ok(rd) = fs::read_dir(std::env::temp_dir()) else { return };
        for e in rd.flatten() {
            let fname = e.file_name().to_string_lossy().into_owned();
            if !fname.starts_with(DIR_PREFIX) {
                continue;
            }
            let dir = e.path();
            let owner = fs::read_to_string(dir.join("owner.pid")).ok().and_then(|s| s.trim().parse::<u32>().ok());
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .map(|t| t.elapsed().unwrap_or_default() > Duration::from_secs(600))
                .unwrap_or(false);
            match owner {
                Some(pid) if pid == std::process::id() || process_alive(pid) => continue,
                None if !old => continue, // being created right now, maybe
                _ => {}
            }
            let dir_s = dir.to_string_lossy().into_owned();
            for line in fs::read_to_string(dir.join("pids")).unwrap_or_default().lines() {
                let Some(pid) = line.split_whitespace().next().and_then(|p| p.parse::<u32>().ok()) else { continue };
                let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                if process_alive(pid) && String::from_utf8_lossy(&cmdline).contains(&dir_s) {
                    eprintln!("[topology] reaping stale mariadbd {pid} of dead owner ({dir_s})");
                    signal(pid, libc::SIGKILL);
                }
            }
            if !dir.join("KEEP").exists() {
                let _ = fs::remove_dir_all(&dir);
            }
        }
    });
}

fn pick_port(avoid: &[u16]) -> u16 {
    loop {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let p = l.local_addr().unwrap().port();
        if !avoid.contains(&p) {
            return p;
        }
    }
}
