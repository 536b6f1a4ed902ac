//! Real MariaDB replication topologies for integration tests: one master and
//! N replicas on 127.0.0.1, each a `mariadbd` process with its own datadir
//! (in a temp dir) and its own TCP port, classic file/position replication
//! (`MASTER_USE_GTID=no`) unless asked otherwise.  Everything started here is
//! torn down when the [`Topology`] is dropped (also while unwinding from a
//! failed assertion).
//!
//! ```ignore
//! mod support;
//! use support::topology::{Topology, TopologyConfig, MASTER};
//!
//! let topo = Topology::start(TopologyConfig { replicas: 2, max_binlog_size: 8192, ..Default::default() });
//! let mut w = topo.workload(42);          // creates database `bd` on the master
//! let first = w.run(20);                  // 20 committed transactions
//! topo.catch_up_then_stop_io(1);          // replica 1 ends here ...
//! w.run(20);
//! topo.wait_replicas_caught_up_running(); // ... replica 2 gets everything
//! topo.kill_master();                     // SIGKILL
//! assert_eq!(topo.committed_seq(1), first);
//! ```
//!
//! # Starting a topology by hand
//!
//! `scripts/topology.sh start|status|stop` starts a topology and keeps it
//! running until `stop` (it runs the ignored test `hold_topology` of
//! `tests/topology.rs`; see the script's header for the knobs).  Without the
//! script, any test run leaves its datadirs behind with
//!
//! ```text
//! BINLOG_DIFF_KEEP=1 cargo test --test topology -- --nocapture
//! ```
//!
//! Each topology lives in `$TMPDIR/binlog-diff-topo-XXXXXX/` (`/tmp` by
//! default; the path is printed at start and, with `BINLOG_DIFF_KEEP=1`, at
//! teardown):
//!
//! ```text
//! topology.env          ROOT, OWNER_PID, <NAME>_PORT/_PID/_DATADIR/_SOCKET/_ERROR_LOG
//! pids                  "<pid> <name>" of every mariadbd ever started here
//! owner.pid             pid of the test process that owns the servers
//! KEEP                  present when BINLOG_DIFF_KEEP=1 (dir is not removed)
//! master/               server-id 1
//! replica1/ ...         server-id 2, 3, ...
//!   data/               datadir: mysql-bin.NNNNNN + mysql-bin.index (own
//!                       binlog), relay-bin.NNNNNN + relay-bin.index,
//!                       master.info, relay-log.info (replicas)
//!   mysql.sock          unix socket: `mariadb -uroot --socket=.../mysql.sock`
//!                       (root@localhost has no password)
//!   error.log           server error log, stdout.log, options (command line)
//!   tmp/                server tmpdir
//! ```
//!
//! Ports are picked free at start (printed and in `topology.env`); over TCP
//! connect as `root`@127.0.0.1 with [`ADMIN_PASSWORD`].  The servers are
//! stopped at the end of the test even with `BINLOG_DIFF_KEEP=1` (the
//! datadirs are cleanly shut down then, so they can be inspected or restarted
//! with the command line saved in `<name>/options`).
//!
//!
//! # Where things are
//!
//! * [`config`]: [`TopologyConfig`] (what to start) and its environment knobs.
//! * [`template`]: the `mariadbd` binary and the cached datadir template.
//! * [`servers`]: starting, stopping, killing and restarting the servers;
//!   teardown.
//! * [`queries`]: SQL on a server and the checks the tests make (status,
//!   binlog events, checksums, committed sequence numbers).
//! * [`replication`]: CHANGE MASTER, the waits, stopping a replica where a
//!   test wants it (also inside a transaction).
//! * [`workload`]: the seeded writes ([`Workload`]).
//! * [`app_cnf`]: MHA's `app.cnf` for a topology.
//! * `support::hosts` (next to `support::netns`): the host side of netns
//!   topologies (every server its own host: ssh, links, hidden files).
//!
//! # Environment
//!
//! * `BINLOG_DIFF_KEEP=1`: keep the temp dirs.
//! * `MARIADBD`, `MARIADB_INSTALL_DB`: binaries (default: from `PATH`, then
//!   `/usr/sbin`, `/usr/bin`).
//! * `BINLOG_DIFF_TEMPLATE_CACHE`: where templates are cached (default
//!   `CARGO_TARGET_TMPDIR`, i.e. `target/tmp`).
//! * [`TopologyConfig::from_env`] reads `BINLOG_DIFF_REPLICAS`,
//!   `BINLOG_DIFF_BINLOG_FORMAT`, `BINLOG_DIFF_BINLOG_CHECKSUM`,
//!   `BINLOG_DIFF_MAX_BINLOG_SIZE`, `BINLOG_DIFF_MAX_RELAY_LOG_SIZE`,
//!   `BINLOG_DIFF_GTID`, `BINLOG_DIFF_NETNS`.

mod app_cnf;
pub mod config;
pub mod queries;
pub mod replication;
mod servers;
pub mod template;
pub mod workload;

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::atomic::AtomicBool;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use mysql::Conn;

use super::process::running_pid;

// What the tests import from here (each test binary uses a part of it).
#[allow(unused_imports)]
pub use super::process::{poll_until, process_alive};
#[allow(unused_imports)]
pub use config::{BinlogChecksum, BinlogFormat, TopologyConfig};
#[allow(unused_imports)]
pub use queries::{BinlogEvent, LogPos, QueryOutput, SlaveStatus, sql_quote};
#[allow(unused_imports)]
pub use replication::{MidTrxStop, Stop};
#[allow(unused_imports)]
pub use template::{TemplateInfo, template};
#[allow(unused_imports)]
pub use workload::{WORKLOAD_DB, Workload, WorkloadError, XorShift};

/// Index of the master in every `server: usize` argument; replicas are
/// `1..=replicas` (see [`Topology::replicas`]).
pub const MASTER: usize = 0;
/// Admin account over TCP (`root`@`127.0.0.1`, all privileges).
pub const ADMIN_USER: &str = "root";
pub const ADMIN_PASSWORD: &str = "bd-admin-pw";
/// Replication account (REPLICATION SLAVE) present on every server.
pub const REPL_USER: &str = "repl";
pub const REPL_PASSWORD: &str = "bd-repl-pw";
/// Default bound for every wait in this module.
pub const WAIT_TIMEOUT: Duration = Duration::from_secs(60);

/// One server of a topology (and, in a netns topology, its host).
pub(super) struct Server {
    pub(super) name: String,
    server_id: u32,
    port: u16,
    /// "127.0.0.1", or the host's address in a netns topology.
    pub(super) ip: String,
    /// netns topologies: the host's network namespace.
    pub(super) ns: Option<String>,
    pub(super) dir: PathBuf,
    datadir: PathBuf,
    socket: PathBuf,
    error_log: PathBuf,
    child: Mutex<Option<Child>>,
    conn: Mutex<Option<Conn>>,
    /// Accepted a connection since its last spawn.  A mariadbd that gets
    /// SIGTERM while still starting up may ignore it (observed under load:
    /// it kept running), so teardown SIGKILLs servers that never got ready.
    ready: AtomicBool,
    /// netns topologies: the host's sshd (`ip netns exec` execs it: this is
    /// sshd's own pid).
    pub(super) sshd: Mutex<Option<Child>>,
}

/// A running master + replicas.  All methods take `&self` and panic (with
/// the tail of the server's error log) on unexpected errors; `try_*`
/// variants return the `mysql::Error` instead.  `server` arguments are
/// [`MASTER`] (0) or a replica number `1..=replicas`.
pub struct Topology {
    pub(super) cfg: TopologyConfig,
    pub(super) root: PathBuf,
    keep: bool,
    pub(super) servers: Vec<Server>,
    start_time: Duration,
    /// Some for netns topologies.
    pub(super) net: Option<super::hosts::NetState>,
}

/// A mutex's guard, also after a panic while it was held.
pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn env_flag(name: &str) -> bool {
    matches!(std::env::var(name).as_deref(), Ok("1") | Ok("yes") | Ok("true") | Ok("on"))
}

impl Topology {
    pub fn config(&self) -> &TopologyConfig {
        &self.cfg
    }
    /// Time `start` took (template excluded).
    pub fn start_time(&self) -> Duration {
        self.start_time
    }
    pub fn template(&self) -> &'static TemplateInfo {
        template()
    }
    /// `1..=replicas`
    pub fn replicas(&self) -> std::ops::RangeInclusive<usize> {
        1..=self.cfg.replicas
    }
    /// `0..=replicas`
    pub fn servers(&self) -> std::ops::RangeInclusive<usize> {
        0..=self.cfg.replicas
    }
    /// "master", "replica1", ...
    pub fn name(&self, server: usize) -> &str {
        &self.servers[server].name
    }
    pub fn server_id(&self, server: usize) -> u32 {
        self.servers[server].server_id
    }
    pub fn port(&self, server: usize) -> u16 {
        self.servers[server].port
    }
    pub fn datadir(&self, server: usize) -> &Path {
        &self.servers[server].datadir
    }
    pub fn socket(&self, server: usize) -> &Path {
        &self.servers[server].socket
    }
    pub fn error_log_path(&self, server: usize) -> &Path {
        &self.servers[server].error_log
    }
    /// The topology's temp dir.
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// pid of the server process if it is running.
    pub fn pid(&self, server: usize) -> Option<u32> {
        running_pid(&mut lock(&self.servers[server].child))
    }
    pub fn is_running(&self, server: usize) -> bool {
        self.pid(server).is_some()
    }

    /// One line per server: name, server id, port, pid, datadir.
    pub fn describe(&self) -> String {
        let mut o = format!("root {}", self.root.display());
        for i in self.servers() {
            let pid = self.pid(i).map(|p| p.to_string()).unwrap_or_else(|| "-".into());
            o += &format!(
                "\n  {:<9} server_id={} port={} pid={} datadir={}",
                self.name(i),
                self.server_id(i),
                self.port(i),
                pid,
                self.datadir(i).display()
            );
            if let Some(ns) = self.netns_name(i) {
                let sshd = self.sshd_pid(i).map(|p| p.to_string()).unwrap_or_else(|| "-".into());
                o += &format!(" ip={} netns={ns} sshd={sshd}", self.host_ip(i));
            }
        }
        if let Some(n) = &self.net {
            o += &format!(
                "\n  netns: subnet {} bridge {} ({}); ssh {}@<ip>, key {}, known_hosts {}",
                n.net.subnet(),
                n.net.bridge(),
                n.net.bridge_ip(),
                n.user,
                self.ssh_key().display(),
                self.known_hosts().display()
            );
        }
        o
    }

    fn write_env_file(&self) {
        let mut o = format!(
            "ROOT={}\nOWNER_PID={}\nSERVERS=\"{}\"\nADMIN_USER={ADMIN_USER}\n",
            self.root.display(),
            std::process::id(),
            self.servers.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(" ")
        );
        for i in self.servers() {
            let n = self.name(i).to_ascii_uppercase();
            let s = &self.servers[i];
            o += &format!(
                "{n}_PORT={}\n{n}_PID={}\n{n}_SERVER_ID={}\n{n}_DATADIR={}\n{n}_SOCKET={}\n{n}_ERROR_LOG={}\n",
                s.port,
                self.pid(i).map(|p| p.to_string()).unwrap_or_default(),
                s.server_id,
                s.datadir.display(),
                s.socket.display(),
                s.error_log.display()
            );
            if let Some(ns) = &s.ns {
                o += &format!(
                    "{n}_IP={}\n{n}_NETNS={ns}\n{n}_SSHD_PID={}\n{n}_HOST_DIR={}\n",
                    s.ip,
                    self.sshd_pid(i).map(|p| p.to_string()).unwrap_or_default(),
                    self.host_dir(i).display()
                );
            }
        }
        if let Some(n) = &self.net {
            o += &format!(
                "SUBNET={}\nSSH_USER={}\nSSH_KEY={}\nKNOWN_HOSTS={}\n",
                n.net.subnet(),
                n.user,
                self.ssh_key().display(),
                self.known_hosts().display()
            );
        }
        fs::write(self.root.join("topology.env"), o).unwrap();
    }

    /// Last `lines` lines of the server's error log.
    pub fn error_log_tail(&self, server: usize, lines: usize) -> String {
        let text = fs::read_to_string(self.error_log_path(server)).unwrap_or_else(|e| format!("(no error log: {e})"));
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Panic with `msg` and the tail of the server's error log.
    pub fn fail(&self, server: usize, msg: impl fmt::Display) -> ! {
        panic!(
            "{msg}\n----- {} error log {} (last 30 lines) -----\n{}\n-----",
            self.name(server),
            self.error_log_path(server).display(),
            self.error_log_tail(server, 30)
        )
    }
}
