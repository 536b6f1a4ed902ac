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
//! # Speed
//!
//! `mariadb-install-db` runs once into a cached template
//! (`target/tmp/mariadb-template-<version>-r<N>/data`, built in a temp dir and
//! renamed into place, so concurrent test binaries at worst build it twice);
//! each server copies it and starts (~0.3-0.5 s).  Users in the template:
//! `root`@localhost (no password, unix socket), `root`@`127.0.0.1` and
//! `root`@`%` ([`ADMIN_PASSWORD`], all privileges), `repl`@`127.0.0.1`/`%`
//! ([`REPL_PASSWORD`], REPLICATION SLAVE).  The template has no binlog, so the
//! master's `mysql-bin.000001` holds only what the test writes.
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
//!
//! # Netns topologies: every server its own "host"
//!
//! With `TopologyConfig { netns: true, .. }` (needs root; see
//! [`netns::available`]) each server runs in its own Linux network
//! namespace with its own address, like a separate machine:
//!
//! * Addresses: the topology takes one free /27 slice of 192.0.2.0/24
//!   (flock'd, see [`netns`]); a bridge in the root namespace gets `.1` of
//!   the slice, the master `.2`, replica `r` `.2+r`.  [`Topology::host_ip`]
//!   gives the address ("127.0.0.1" in plain topologies), [`Topology::port`]
//!   is 3306 for every server.  Every connection of the harness (sql(),
//!   slave_status(), the workload, ...) goes from the root namespace to
//!   `<ip>:3306` through the bridge; replicas replicate from
//!   `MASTER_HOST=<master ip>, MASTER_PORT=3306`.  mariadbd is started with
//!   `--bind-address=<ip> --port=3306 --report-host=<ip> --report-port=3306`
//!   and `--slave-net-timeout=5` (so a dead or cut-off master is noticed in
//!   seconds; MASTER_CONNECT_RETRY is 1 in every topology; override with
//!   `replica_options`).  The template's `root`@`%` and `repl`@`%` cover
//!   192.0.2.x.
//! * Processes: mariadbd and sshd run under `ip netns exec <ns>`, which
//!   execs them: [`Topology::pid`] / [`Topology::sshd_pid`] are the
//!   servers' own pids (checked at start via `/proc/<pid>/comm`), so
//!   [`Topology::kill_master`] SIGKILLs mariadbd only and the host's sshd
//!   keeps answering ("mysqld dead, host alive").
//! * ssh: one sshd per host on `<ip>:22` (own ed25519 host key, key-only,
//!   `PermitRootLogin prohibit-password`, `UsePAM no`, `StrictModes no`,
//!   `PidFile none`, `LogLevel ERROR`, `SetEnv PATH=<ssh_path>:<system
//!   dirs>`), files in `<server dir>/sshd/`, log in `<server dir>/sshd.log`.
//!   One client key ([`Topology::ssh_key`]) for the current user
//!   ([`Topology::ssh_user`]) and one `known_hosts`
//!   ([`Topology::known_hosts`], `<ip> ssh-ed25519 <key>` per host), both in
//!   `$TMPDIR/binlog-diff-netns-ssh-XXXXXX/` (outside the root dir, so
//!   [`Topology::hidden_command`] keeps them).  [`Topology::ssh_options`] is
//!   the option string for MHA's `ssh_options=`; [`Topology::ssh`] builds
//!   an ssh command.  [`Topology::host_dir`] (`<server dir>/work`) is a
//!   remote_workdir per host.
//! * Faults: [`Topology::cut_link`] / [`Topology::restore_link`] (the host's
//!   veth on the bridge down/up: nobody reaches its mysqld or sshd, packets
//!   vanish), [`Topology::stop_sshd`] / [`Topology::start_sshd`],
//!   [`Topology::kill`] (mariadbd only).
//! * [`Topology::hidden_command`]: run a program (the driver under test) in
//!   a mount namespace where the topology's root dir is an empty tmpfs, so
//!   the servers' files are reachable only over ssh.
//! * Teardown (Drop, also when unwinding): mariadbd as above, then the
//!   sshds, then [`netns::Net`]'s teardown (TCP sockets to the slice
//!   destroyed, leftovers inside the namespaces killed by pid, veths,
//!   bridge and namespaces deleted, slice released).  Names carry the owner
//!   pid (`bdt<pid>-<slice>...`), and every start reaps those of dead owners.
//! * Only loopback and the slice's addresses on our own bridge are ever
//!   used (see [`netns`] for why nothing can leave elsewhere).
//! * Not isolated: the filesystem.  The hosts share it with the test
//!   process (a session on one host could read another host's datadir; the
//!   harness itself reads them all directly).  Use
//!   [`Topology::hidden_command`] to make sure a driver does not.
//!
//! `topology.env` gets `<NAME>_IP`, `_NETNS`, `_SSHD_PID`, `_HOST_DIR`,
//! `SUBNET`, `SSH_USER`, `SSH_KEY`, `KNOWN_HOSTS`.
//!
//! # MariaDB 10.11 behaviour seen through this harness
//!
//! * Every master binlog rotation rotates the replica's relay log *twice*:
//!   on the master's real ROTATE (that event then sits alone in a tiny relay
//!   file: replica FDE + master ROTATE + relay ROTATE) and again on the fake
//!   ROTATE (log_pos 0) the master sends at the start of the next file, which
//!   begins the next relay file followed by the master's FDE.  So ~3 relay
//!   files per master binlog even without size rotation.
//! * Relay logs rotate on size (`max_relay_log_size`, 0 = `max_binlog_size`)
//!   at any event boundary, also inside a transaction: a partly relayed
//!   transaction can span relay files; after the cut the IO thread's newest
//!   relay file may hold only the replica FDE + the master's FDE.
//! * With the IO thread stopped mid-transaction, Exec_Master_Log_Pos stays
//!   at the transaction's GTID event and the SQL thread idles ("Slave has
//!   read all relay log") with the partial group open; START SLAVE
//!   IO_THREAD continues from Read_Master_Log_Pos and the group completes.
//! * After SIGKILL of the master, a replica whose IO thread ran reports
//!   Slave_IO_Running = "Connecting" with Last_IO_Errno 2003 (not "No").
//! * After a rotation the master appends a Binlog_checkpoint to the new file
//!   asynchronously, so SHOW MASTER STATUS can move without any commit
//!   ([`Topology::wait_binlog_checkpoint`]).
//! * ROW format with `binlog_annotate_row_events` (default ON) logs each
//!   statement text too: big hex literals cost ~3x their byte size.
//! * `--log-bin`/`--relay-log` with absolute paths put absolute paths into
//!   `mysql-bin.index`, `relay-bin.index` and `relay-log.info`.
//! * mariadbd may ignore a SIGTERM that arrives while it is still starting.
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

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, Once, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mysql::prelude::Queryable;
use mysql::{Conn, Opts, OptsBuilder, Value};

use super::netns;

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

/// Bump when the template's contents (users, InnoDB file sizes) change.
const TEMPLATE_REVISION: u32 = 1;
/// Must match between the template and the servers (or InnoDB resizes the
/// redo log at every start).
const INNODB_LOG_FILE_SIZE: &str = "8M";
const INNODB_BUFFER_POOL_SIZE: &str = "24M";
const DIR_PREFIX: &str = "binlog-diff-topo-";
const POLL: Duration = Duration::from_millis(20);
/// Database used by [`Workload`].
pub const WORKLOAD_DB: &str = "bd";

// ---------------------------------------------------------------------------
// libc bits (std links libc anyway; no crate needed for three functions)

pub(crate) mod sys {
    use std::ffi::c_int;

    unsafe extern "C" {
        fn kill(pid: c_int, sig: c_int) -> c_int;
        #[cfg(target_os = "linux")]
        fn prctl(option: c_int, ...) -> c_int;
    }

    pub const SIGKILL: c_int = 9;
    pub const SIGTERM: c_int = 15;

    /// `kill(pid, sig)`; true if the signal was sent.
    pub fn signal(pid: u32, sig: c_int) -> bool {
        // SAFETY: plain syscall wrapper; pid is one of our children or a
        // process verified through /proc.
        unsafe { kill(pid as c_int, sig) == 0 }
    }

    /// In a forked child before exec: die with SIGKILL when the parent
    /// (thread) dies.  Async-signal-safe.
    #[cfg(target_os = "linux")]
    pub fn set_parent_death_signal() -> std::io::Result<()> {
        const PR_SET_PDEATHSIG: c_int = 1;
        // SAFETY: prctl(PR_SET_PDEATHSIG, sig) only sets a process attribute.
        if unsafe { prctl(PR_SET_PDEATHSIG, SIGKILL as std::ffi::c_ulong) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    #[cfg(not(target_os = "linux"))]
    pub fn set_parent_death_signal() -> std::io::Result<()> {
        Ok(())
    }
}

/// True if `pid` exists and is not a zombie (Linux /proc; falls back to kill 0).
pub fn process_alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // "pid (comm) S ..." -- comm may contain spaces/parens: take the last ')'
        Ok(stat) => stat.rsplit_once(')').map(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X'])).unwrap_or(true),
        Err(_) if Path::new("/proc/self/stat").exists() => false,
        Err(_) => sys::signal(pid, 0),
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn env_flag(name: &str) -> bool {
    matches!(std::env::var(name).as_deref(), Ok("1") | Ok("yes") | Ok("true") | Ok("on"))
}

fn now_nanos() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
}

/// Poll `f` every 20 ms until it returns `Some`, or `None` after `timeout`.
pub fn poll_until<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(POLL);
    }
}

// ---------------------------------------------------------------------------
// configuration

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinlogFormat {
    Row,
    Statement,
    Mixed,
}

impl BinlogFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            BinlogFormat::Row => "ROW",
            BinlogFormat::Statement => "STATEMENT",
            BinlogFormat::Mixed => "MIXED",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "ROW" => Some(BinlogFormat::Row),
            "STATEMENT" | "STMT" => Some(BinlogFormat::Statement),
            "MIXED" => Some(BinlogFormat::Mixed),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinlogChecksum {
    Crc32,
    None,
}

impl BinlogChecksum {
    pub fn as_str(self) -> &'static str {
        match self {
            BinlogChecksum::Crc32 => "CRC32",
            BinlogChecksum::None => "NONE",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "CRC32" => Some(BinlogChecksum::Crc32),
            "NONE" => Some(BinlogChecksum::None),
            _ => None,
        }
    }
}

/// What to start.  `..Default::default()` gives 1 master + 2 replicas, ROW,
/// CRC32, 1 MiB binlogs, relay logs sized like binlogs, classic positions.
#[derive(Clone, Debug)]
pub struct TopologyConfig {
    /// Number of replicas (0 is allowed: a lone master).
    pub replicas: usize,
    pub binlog_format: BinlogFormat,
    /// Applies to every server (master and replicas' own binlogs).
    pub binlog_checksum: BinlogChecksum,
    /// Bytes, >= 4096 (server minimum).  A transaction is never split, so a
    /// file can be larger.
    pub max_binlog_size: u64,
    /// Bytes; 0 (default) = use `max_binlog_size` (server semantics), else >= 4096.
    pub max_relay_log_size: u64,
    /// false (default): `MASTER_USE_GTID=no` with MASTER_LOG_FILE/POS from the
    /// master's SHOW MASTER STATUS; true: `MASTER_USE_GTID=slave_pos`.
    pub use_gtid: bool,
    /// Extra `--option=value` for every server, appended last (they win).
    pub extra_options: Vec<String>,
    /// Extra options for the master only (after `extra_options`).
    pub master_options: Vec<String>,
    /// Extra options for every replica only (after `extra_options`).
    pub replica_options: Vec<String>,
    /// Extra options for one server (its index), after all the others.
    pub server_options: Vec<(usize, String)>,
    /// Run CHANGE MASTER TO + START SLAVE on the replicas (default true).
    pub start_replication: bool,
    /// Bound for each server to accept connections.
    pub ready_timeout: Duration,
    /// Run every server as its own "host": own network namespace and
    /// address in 192.0.2.0/24, mariadbd on `<ip>:3306`, an sshd on
    /// `<ip>:22` (see "Netns topologies" in the module doc).  Needs root.
    /// Default false (127.0.0.1, random ports, no sshd).
    pub netns: bool,
    /// netns only: directories put before the system dirs in the `PATH` of
    /// ssh sessions on every host (e.g. where the node tools are).  (sshd's
    /// `SetEnv PATH=`; root's `~/.bashrc`, which bash reads for ssh
    /// commands, may still put its own dirs in front.)
    pub ssh_path: Vec<PathBuf>,
}

impl Default for TopologyConfig {
    fn default() -> Self {
        TopologyConfig {
            replicas: 2,
            binlog_format: BinlogFormat::Row,
            binlog_checksum: BinlogChecksum::Crc32,
            max_binlog_size: 1 << 20,
            max_relay_log_size: 0,
            use_gtid: false,
            extra_options: Vec::new(),
            master_options: Vec::new(),
            replica_options: Vec::new(),
            server_options: Vec::new(),
            start_replication: true,
            ready_timeout: WAIT_TIMEOUT,
            netns: false,
            ssh_path: Vec::new(),
        }
    }
}

impl TopologyConfig {
    pub fn with_replicas(replicas: usize) -> Self {
        TopologyConfig { replicas, ..Default::default() }
    }

    /// Defaults overridden by `BINLOG_DIFF_REPLICAS`, `BINLOG_DIFF_BINLOG_FORMAT`
    /// (ROW/STATEMENT/MIXED), `BINLOG_DIFF_BINLOG_CHECKSUM` (CRC32/NONE),
    /// `BINLOG_DIFF_MAX_BINLOG_SIZE`, `BINLOG_DIFF_MAX_RELAY_LOG_SIZE` (bytes),
    /// `BINLOG_DIFF_GTID=1`, `BINLOG_DIFF_NETNS=1`.  Panics on unparsable values.
    pub fn from_env() -> Self {
        let mut c = TopologyConfig::default();
        let var = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
        if let Some(v) = var("BINLOG_DIFF_REPLICAS") {
            c.replicas = v.parse().expect("BINLOG_DIFF_REPLICAS");
        }
        if let Some(v) = var("BINLOG_DIFF_BINLOG_FORMAT") {
            c.binlog_format = BinlogFormat::parse(&v).expect("BINLOG_DIFF_BINLOG_FORMAT: ROW|STATEMENT|MIXED");
        }
        if let Some(v) = var("BINLOG_DIFF_BINLOG_CHECKSUM") {
            c.binlog_checksum = BinlogChecksum::parse(&v).expect("BINLOG_DIFF_BINLOG_CHECKSUM: CRC32|NONE");
        }
        if let Some(v) = var("BINLOG_DIFF_MAX_BINLOG_SIZE") {
            c.max_binlog_size = v.parse().expect("BINLOG_DIFF_MAX_BINLOG_SIZE");
        }
        if let Some(v) = var("BINLOG_DIFF_MAX_RELAY_LOG_SIZE") {
            c.max_relay_log_size = v.parse().expect("BINLOG_DIFF_MAX_RELAY_LOG_SIZE");
        }
        c.use_gtid = env_flag("BINLOG_DIFF_GTID");
        c.netns = env_flag("BINLOG_DIFF_NETNS");
        c
    }

    fn validate(&self) {
        assert!(
            (4096..=1 << 30).contains(&self.max_binlog_size),
            "max_binlog_size must be in 4096..=1GiB, got {}",
            self.max_binlog_size
        );
        assert!(
            self.max_relay_log_size == 0 || (4096..=1 << 30).contains(&self.max_relay_log_size),
            "max_relay_log_size must be 0 or in 4096..=1GiB, got {}",
            self.max_relay_log_size
        );
        assert!(self.replicas <= 32, "{} replicas? be reasonable", self.replicas);
        assert!(
            !self.netns || self.replicas < netns::MAX_HOSTS,
            "a netns topology has at most {} replicas (one /27 slice), not {}",
            netns::MAX_HOSTS - 1,
            self.replicas
        );
    }
}

// ---------------------------------------------------------------------------
// binaries and the datadir template

fn find_binary(name: &str, env: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(env).filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let mut dirs: Vec<PathBuf> =
        std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
    dirs.extend(["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"].map(PathBuf::from));
    for d in dirs {
        let p = d.join(name);
        if p.is_file() {
            return p;
        }
    }
    panic!(
        "`{name}` not found (PATH, /usr/sbin, /usr/bin; or set {env}). Install MariaDB: \
         apt-get install mariadb-server mariadb-client (scripts/test.sh does this)"
    );
}

fn mariadbd_path() -> &'static Path {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| find_binary("mariadbd", "MARIADBD"))
}

/// The datadir template used by every server of this process.
#[derive(Clone, Debug)]
pub struct TemplateInfo {
    /// `<cache>/mariadb-template-<version>-r<N>/data`
    pub datadir: PathBuf,
    /// e.g. `10.11.19-MariaDB-0+deb12u1`
    pub version: String,
    /// True if this process ran `mariadb-install-db`.
    pub created_now: bool,
    /// How long building the template took (now, or when it was first built:
    /// read back from `build-time.txt`).
    pub build_time: Duration,
}

static TEMPLATE: OnceLock<TemplateInfo> = OnceLock::new();

/// The cached datadir template, built on first use (once per process; across
/// processes a race only wastes work: build in `<name>.tmp-<pid>-<nanos>`,
/// then `rename`, and the loser deletes its copy).
pub fn template() -> &'static TemplateInfo {
    TEMPLATE.get_or_init(build_or_reuse_template)
}

fn server_version(mariadbd: &Path) -> String {
    let out = Command::new(mariadbd)
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", mariadbd.display()));
    let s = String::from_utf8_lossy(&out.stdout).into_owned();
    // "mariadbd  Ver 10.11.19-MariaDB-0+deb12u1 for debian-linux-gnu on x86_64 (Debian 12)"
    let mut words = s.split_whitespace();
    while let Some(w) = words.next() {
        if w == "Ver" {
            if let Some(v) = words.next() {
                return v.to_string();
            }
        }
    }
    panic!("cannot parse `{} --version` output: {s:?}", mariadbd.display());
}

fn template_cache_dir() -> PathBuf {
    std::env::var_os("BINLOG_DIFF_TEMPLATE_CACHE")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")))
}

fn build_or_reuse_template() -> TemplateInfo {
    let version = server_version(mariadbd_path());
    let cache = template_cache_dir();
    fs::create_dir_all(&cache).unwrap_or_else(|e| panic!("create {}: {e}", cache.display()));
    let safe: String =
        version.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' }).collect();
    let name = format!("mariadb-template-{safe}-r{TEMPLATE_REVISION}");
    let final_dir = cache.join(&name);
    remove_stale_template_builds(&cache, &name);
    let read_build_time = |dir: &Path| {
        fs::read_to_string(dir.join("build-time.txt"))
            .ok()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .map(Duration::from_secs_f64)
            .unwrap_or_default()
    };
    if final_dir.join("data").is_dir() {
        return TemplateInfo {
            datadir: final_dir.join("data"),
            build_time: read_build_time(&final_dir),
            version,
            created_now: false,
        };
    }
    let tmp = cache.join(format!("{name}.tmp-{}-{}", std::process::id(), now_nanos()));
    let t0 = Instant::now();
    build_template(&tmp);
    let build_time = t0.elapsed();
    fs::write(tmp.join("build-time.txt"), format!("{:.3}\n", build_time.as_secs_f64())).unwrap();
    match fs::rename(&tmp, &final_dir) {
        Ok(()) => {}
        Err(_) if final_dir.join("data").is_dir() => {
            // another process won the race: use its template
            let _ = fs::remove_dir_all(&tmp);
        }
        Err(e) => panic!("rename {} -> {}: {e}", tmp.display(), final_dir.display()),
    }
    TemplateInfo { datadir: final_dir.join("data"), version, created_now: true, build_time }
}

/// Remove `<name>.tmp-<pid>-*` build dirs left by dead processes.
fn remove_stale_template_builds(cache: &Path, name: &str) {
    let Ok(rd) = fs::read_dir(cache) else { return };
    let prefix = format!("{name}.tmp-");
    for e in rd.flatten() {
        let fname = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = fname.strip_prefix(&prefix) else { continue };
        let pid = rest.split('-').next().and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid {
            if pid != std::process::id() && !process_alive(pid) {
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }
}

fn build_template(tmp: &Path) {
    fs::create_dir_all(tmp).unwrap_or_else(|e| panic!("create {}: {e}", tmp.display()));
    let init = tmp.join("init.sql");
    // executed by mariadb-install-db after the system tables exist (bootstrap
    // mode: no binlog, so none of this is ever replicated)
    // (bootstrap runs with --skip-grant-tables: FLUSH PRIVILEGES loads them)
    let mut sql = String::from("FLUSH PRIVILEGES;\n");
    for host in ["127.0.0.1", "%"] {
        sql += &format!(
            "CREATE OR REPLACE USER '{ADMIN_USER}'@'{host}' IDENTIFIED BY '{ADMIN_PASSWORD}';\n\
             GRANT ALL PRIVILEGES ON *.* TO '{ADMIN_USER}'@'{host}' WITH GRANT OPTION;\n\
             CREATE OR REPLACE USER '{REPL_USER}'@'{host}' IDENTIFIED BY '{REPL_PASSWORD}';\n\
             GRANT REPLICATION SLAVE ON *.* TO '{REPL_USER}'@'{host}';\n"
        );
    }
    fs::write(&init, sql).unwrap();
    let log_path = tmp.join("install.log");
    let log = fs::File::create(&log_path).unwrap();
    let install_db = find_binary("mariadb-install-db", "MARIADB_INSTALL_DB");
    let status = Command::new(&install_db)
        .arg("--no-defaults")
        .arg(format!("--datadir={}", tmp.join("data").display()))
        .args(["--user=root", "--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve"])
        .arg(format!("--extra-file={}", init.display()))
        .arg(format!("--innodb-log-file-size={INNODB_LOG_FILE_SIZE}"))
        .arg(format!("--innodb-buffer-pool-size={INNODB_BUFFER_POOL_SIZE}"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .status()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", install_db.display()));
    if !status.success() {
        let out = fs::read_to_string(&log_path).unwrap_or_default();
        let _ = fs::remove_dir_all(tmp);
        panic!("{} failed ({status}):\n{out}", install_db.display());
    }
    let _ = fs::remove_file(&init);
    // bootstrap leaves no pid/socket, but be sure nothing else is in there
    for junk in ["mysql-bin.index", "aria_log.tmp"] {
        let _ = fs::remove_file(tmp.join("data").join(junk));
    }
}

fn copy_dir(src: &Path, dst: &Path) -> io::Result<()> {
    fs::create_dir_all(dst)?;
    for e in fs::read_dir(src)? {
        let e = e?;
        let ft = e.file_type()?;
        let to = dst.join(e.file_name());
        if ft.is_dir() {
            copy_dir(&e.path(), &to)?;
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(e.path())?, &to)?;
        } else {
            fs::copy(e.path(), &to)?;
        }
    }
    Ok(())
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
                    sys::signal(pid, sys::SIGKILL);
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

// ---------------------------------------------------------------------------
// results

/// A binlog coordinate.  Ordering is (file name, position), which is the log
/// order for names of the same base (`mysql-bin.000009 < mysql-bin.000010`).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LogPos {
    pub file: String,
    pub pos: u64,
}

impl LogPos {
    pub fn new(file: impl Into<String>, pos: u64) -> Self {
        LogPos { file: file.into(), pos }
    }
    /// The numeric extension (`mysql-bin.000042` -> 42).
    pub fn file_seq(&self) -> u64 {
        self.file.rsplit('.').next().and_then(|n| n.parse().ok()).unwrap_or(0)
    }
}

impl fmt::Display for LogPos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.pos)
    }
}

/// The interesting part of SHOW SLAVE STATUS (all columns are in `raw`).
#[derive(Clone, Debug, Default)]
pub struct SlaveStatus {
    /// Master binlog the IO thread is reading.
    pub master_log_file: String,
    /// End of the last event the IO thread wrote to the relay log.
    pub read_master_log_pos: u64,
    /// Master binlog of the last event group the SQL thread executed.
    pub relay_master_log_file: String,
    /// Master end position of the last executed event group.
    pub exec_master_log_pos: u64,
    /// Relay log file / position the SQL thread is at (basename).
    pub relay_log_file: String,
    pub relay_log_pos: u64,
    /// "Yes", "No" or "Connecting" (master unreachable).
    pub io_running: String,
    /// "Yes" or "No".
    pub sql_running: String,
    pub sql_running_state: String,
    pub last_io_errno: u64,
    pub last_io_error: String,
    pub last_sql_errno: u64,
    pub last_sql_error: String,
    /// "No", "Slave_Pos" or "Current_Pos".
    pub using_gtid: String,
    pub gtid_io_pos: String,
    pub raw: BTreeMap<String, String>,
}

impl SlaveStatus {
    /// (Master_Log_File, Read_Master_Log_Pos)
    pub fn read_pos(&self) -> LogPos {
        LogPos::new(self.master_log_file.clone(), self.read_master_log_pos)
    }
    /// (Relay_Master_Log_File, Exec_Master_Log_Pos)
    pub fn exec_pos(&self) -> LogPos {
        LogPos::new(self.relay_master_log_file.clone(), self.exec_master_log_pos)
    }
    /// (Relay_Log_File, Relay_Log_Pos)
    pub fn relay_pos(&self) -> LogPos {
        LogPos::new(self.relay_log_file.clone(), self.relay_log_pos)
    }
    pub fn io_yes(&self) -> bool {
        self.io_running == "Yes"
    }
    pub fn sql_yes(&self) -> bool {
        self.sql_running == "Yes"
    }
    /// SQL thread waits for more relay log (has executed what it can).
    pub fn sql_idle(&self) -> bool {
        self.sql_running_state.starts_with("Slave has read all relay log")
    }
    fn from_map(m: BTreeMap<String, String>) -> Self {
        let s = |k: &str| m.get(k).cloned().unwrap_or_default();
        let n = |k: &str| m.get(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        SlaveStatus {
            master_log_file: s("Master_Log_File"),
            read_master_log_pos: n("Read_Master_Log_Pos"),
            relay_master_log_file: s("Relay_Master_Log_File"),
            exec_master_log_pos: n("Exec_Master_Log_Pos"),
            relay_log_file: s("Relay_Log_File"),
            relay_log_pos: n("Relay_Log_Pos"),
            io_running: s("Slave_IO_Running"),
            sql_running: s("Slave_SQL_Running"),
            sql_running_state: s("Slave_SQL_Running_State"),
            last_io_errno: n("Last_IO_Errno"),
            last_io_error: s("Last_IO_Error"),
            last_sql_errno: n("Last_SQL_Errno"),
            last_sql_error: s("Last_SQL_Error"),
            using_gtid: s("Using_Gtid"),
            gtid_io_pos: s("Gtid_IO_Pos"),
            raw: m,
        }
    }
}

impl fmt::Display for SlaveStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "io={} sql={} read={} exec={} relay={}",
            self.io_running,
            self.sql_running,
            self.read_pos(),
            self.exec_pos(),
            self.relay_pos()
        )?;
        if self.last_io_errno != 0 {
            write!(f, " io_error={}:{:?}", self.last_io_errno, self.last_io_error)?;
        }
        if self.last_sql_errno != 0 {
            write!(f, " sql_error={}:{:?}", self.last_sql_errno, self.last_sql_error)?;
        }
        Ok(())
    }
}

/// One row of SHOW BINLOG EVENTS / SHOW RELAYLOG EVENTS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BinlogEvent {
    pub log_name: String,
    pub pos: u64,
    pub event_type: String,
    pub server_id: u64,
    pub end_log_pos: u64,
    pub info: String,
}

/// How a replica stops reading from the master, for
/// [`Topology::run_with_stops`].
#[derive(Clone, Copy, Debug)]
pub enum Stop {
    /// After the master's k-th batch, on a transaction boundary.
    After(usize),
    /// Inside a big transaction (256 KiB) written after batch k.
    MidTransaction(usize),
}

/// Result of [`Topology::stop_io_thread_mid_transaction`].
#[derive(Clone, Debug)]
pub struct MidTrxStop {
    /// Sequence number of the big transaction (committed on the master).
    pub seq: u64,
    /// Master coordinates of the transaction's GTID event ...
    pub trx_start: LogPos,
    /// ... and the end of its XID event.
    pub trx_end: LogPos,
    /// The replica's status after its IO thread stopped; `read_pos()` is
    /// strictly inside `trx_start..trx_end`.
    pub status: SlaveStatus,
}

/// Output of a query, every value as text (NULL = None).
#[derive(Clone, Debug, Default)]
pub struct QueryOutput {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
}

fn value_to_string(v: &Value) -> Option<String> {
    match v {
        Value::NULL => None,
        Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::Int(i) => Some(i.to_string()),
        Value::UInt(u) => Some(u.to_string()),
        Value::Float(f) => Some(f.to_string()),
        Value::Double(d) => Some(d.to_string()),
        other => Some(other.as_sql(true).trim_matches('\'').to_string()),
    }
}

fn run_query(conn: &mut Conn, q: &str) -> mysql::Result<QueryOutput> {
    let mut out = QueryOutput::default();
    let mut got_set = false;
    let mut result = conn.query_iter(q)?;
    while let Some(mut set) = result.iter() {
        let cols: Vec<String> = set.columns().as_ref().iter().map(|c| c.name_str().into_owned()).collect();
        let mut rows = Vec::new();
        for row in set.by_ref() {
            rows.push(row?.unwrap().iter().map(value_to_string).collect());
        }
        if !got_set && !cols.is_empty() {
            got_set = true;
            out.columns = cols;
            out.rows = rows;
        }
    }
    Ok(out)
}

/// Quote a string for SQL ('...' with backslash and quote escaped).
pub fn sql_quote(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('\'');
    for c in s.chars() {
        match c {
            '\'' => o.push_str("''"),
            '\\' => o.push_str("\\\\"),
            '\0' => o.push_str("\\0"),
            c => o.push(c),
        }
    }
    o.push('\'');
    o
}

fn ident(s: &str) -> String {
    assert!(!s.contains('`'), "identifier with a backtick: {s:?}");
    format!("`{s}`")
}

// ---------------------------------------------------------------------------
// the topology

struct Server {
    name: String,
    server_id: u32,
    port: u16,
    /// "127.0.0.1", or the host's address in a netns topology.
    ip: String,
    /// netns topologies: the host's network namespace.
    ns: Option<String>,
    dir: PathBuf,
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
    sshd: Mutex<Option<Child>>,
}

/// The network side of a netns topology.
struct NetState {
    net: netns::Net,
    /// ssh client key and known_hosts: outside the topology's root, so that
    /// [`Topology::hidden_command`] does not hide them.
    ssh_dir: PathBuf,
    user: String,
}

impl NetState {
    fn create(cfg: &TopologyConfig) -> NetState {
        if let Err(e) = netns::available() {
            panic!("TopologyConfig {{ netns: true }}: {e}");
        }
        let net = netns::Net::create(cfg.replicas + 1).unwrap_or_else(|e| panic!("netns topology: {e}"));
        let ssh_dir = tempfile::Builder::new()
            .prefix(netns::SSH_DIR_PREFIX)
            .tempdir()
            .expect("create ssh client temp dir")
            .keep();
        fs::write(ssh_dir.join("owner.pid"), format!("{}\n", std::process::id())).unwrap();
        let o = Command::new("id").arg("-un").output().expect("id -un");
        let user = String::from_utf8_lossy(&o.stdout).trim().to_string();
        assert!(o.status.success() && !user.is_empty(), "id -un: {o:?}");
        NetState { net, ssh_dir, user }
    }
}

/// Runs its arguments with the directory `$2` hidden under an empty tmpfs
/// (`$1` is mount(8)); see [`Topology::hidden_command`].
const HIDE_SCRIPT: &str = r#""$1" -t tmpfs -o size=1m,mode=0700 binlog-diff-hidden "$2" || { echo "hidden_command: cannot hide $2" >&2; exit 125; }
shift 2
exec "$@""#;

/// A running master + replicas.  All methods take `&self` and panic (with
/// the tail of the server's error log) on unexpected errors; `try_*`
/// variants return the `mysql::Error` instead.  `server` arguments are
/// [`MASTER`] (0) or a replica number `1..=replicas`.
pub struct Topology {
    cfg: TopologyConfig,
    root: PathBuf,
    keep: bool,
    servers: Vec<Server>,
    start_time: Duration,
    /// Some for netns topologies.
    net: Option<NetState>,
}

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
            topo.net = Some(NetState::create(&topo.cfg));
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
            cmd.pre_exec(sys::set_parent_death_signal);
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

    // -- accessors ---------------------------------------------------------

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
        let mut g = lock(&self.servers[server].child);
        let c = g.as_mut()?;
        match c.try_wait() {
            Ok(None) => Some(c.id()),
            _ => None,
        }
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

    // -- SQL ---------------------------------------------------------------

    /// Connection options for the admin user over TCP.
    pub fn opts(&self, server: usize) -> Opts {
        OptsBuilder::new()
            .ip_or_hostname(Some(self.host_ip(server)))
            .tcp_port(self.port(server))
            .user(Some(ADMIN_USER))
            .pass(Some(ADMIN_PASSWORD))
            .prefer_socket(false)
            .tcp_connect_timeout(Some(Duration::from_secs(5)))
            .read_timeout(Some(Duration::from_secs(300)))
            .write_timeout(Some(Duration::from_secs(300)))
            .init(vec!["SET NAMES utf8mb4"])
            .into()
    }

    /// A new connection (admin user, TCP); e.g. for another thread.
    pub fn conn(&self, server: usize) -> Conn {
        Conn::new(self.opts(server))
            .unwrap_or_else(|e| self.fail(server, format!("connect to {}: {e}", self.name(server))))
    }

    /// Run `f` on the server's cached session (one per server, reconnected
    /// after connection-level errors, kept after SQL errors).
    pub fn with_conn<T>(&self, server: usize, f: impl FnOnce(&mut Conn) -> mysql::Result<T>) -> mysql::Result<T> {
        let s = &self.servers[server];
        let mut g = lock(&s.conn);
        if g.is_none() {
            *g = Some(Conn::new(self.opts(server))?);
        }
        let r = f(g.as_mut().unwrap());
        if let Err(e) = &r {
            if !matches!(e, mysql::Error::MySqlError(_)) {
                *g = None;
            }
        }
        r
    }

    pub fn try_sql(&self, server: usize, q: impl AsRef<str>) -> mysql::Result<()> {
        self.with_conn(server, |c| c.query_drop(q.as_ref()))
    }

    /// Execute (possibly several `;`-separated) statements, ignore results.
    pub fn sql(&self, server: usize, q: impl AsRef<str>) {
        let q = q.as_ref();
        if let Err(e) = self.try_sql(server, q) {
            self.fail(server, format!("{}: `{q}` failed: {e}", self.name(server)));
        }
    }

    pub fn try_query(&self, server: usize, q: impl AsRef<str>) -> mysql::Result<QueryOutput> {
        self.with_conn(server, |c| run_query(c, q.as_ref()))
    }

    /// Columns and text rows of the first result set.
    pub fn query(&self, server: usize, q: impl AsRef<str>) -> QueryOutput {
        let q = q.as_ref();
        self.try_query(server, q)
            .unwrap_or_else(|e| self.fail(server, format!("{}: `{q}` failed: {e}", self.name(server))))
    }

    /// Rows of the first result set, values as text (NULL = None).
    pub fn query_rows(&self, server: usize, q: impl AsRef<str>) -> Vec<Vec<Option<String>>> {
        self.query(server, q).rows
    }

    /// Rows as column name -> value.
    pub fn query_maps(&self, server: usize, q: impl AsRef<str>) -> Vec<BTreeMap<String, Option<String>>> {
        let out = self.query(server, q);
        out.rows.into_iter().map(|r| out.columns.iter().cloned().zip(r).collect()).collect()
    }

    /// First column of the first row (None if no row or NULL).
    pub fn query_value(&self, server: usize, q: impl AsRef<str>) -> Option<String> {
        self.query_rows(server, q).into_iter().next().and_then(|r| r.into_iter().next().flatten())
    }

    /// A global/session variable, e.g. `variable(0, "binlog_format")`.
    pub fn variable(&self, server: usize, name: &str) -> String {
        assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "variable name {name:?}");
        self.query_value(server, format!("SELECT @@{name}")).unwrap_or_default()
    }

    // -- status --------------------------------------------------------------

    /// SHOW MASTER STATUS (File, Position) of any server (replicas have their
    /// own binlog).
    pub fn master_status(&self, server: usize) -> LogPos {
        let rows = self.query_rows(server, "SHOW MASTER STATUS");
        let r = rows.first().unwrap_or_else(|| self.fail(server, "SHOW MASTER STATUS: no row (binlog off?)"));
        LogPos::new(r[0].clone().unwrap_or_default(), r[1].as_deref().unwrap_or("0").parse().unwrap())
    }

    pub fn try_slave_status(&self, replica: usize) -> mysql::Result<Option<SlaveStatus>> {
        let out = self.try_query(replica, "SHOW SLAVE STATUS")?;
        Ok(out.rows.into_iter().next().map(|row| {
            SlaveStatus::from_map(
                out.columns.iter().cloned().zip(row.into_iter().map(Option::unwrap_or_default)).collect(),
            )
        }))
    }

    pub fn slave_status(&self, replica: usize) -> SlaveStatus {
        match self.try_slave_status(replica) {
            Ok(Some(s)) => s,
            Ok(None) => {
                self.fail(replica, format!("{} is not a replica (SHOW SLAVE STATUS is empty)", self.name(replica)))
            }
            Err(e) => self.fail(replica, format!("{}: SHOW SLAVE STATUS: {e}", self.name(replica))),
        }
    }

    /// SHOW BINARY LOGS: (file, size).
    pub fn binary_logs(&self, server: usize) -> Vec<(String, u64)> {
        self.query_rows(server, "SHOW BINARY LOGS")
            .into_iter()
            .map(|r| (r[0].clone().unwrap_or_default(), r[1].as_deref().unwrap_or("0").parse().unwrap_or(0)))
            .collect()
    }

    fn events(&self, server: usize, q: String) -> Vec<BinlogEvent> {
        self.query_rows(server, q)
            .into_iter()
            .map(|r| {
                let s = |i: usize| r.get(i).cloned().flatten().unwrap_or_default();
                BinlogEvent {
                    log_name: s(0),
                    pos: s(1).parse().unwrap_or(0),
                    event_type: s(2),
                    server_id: s(3).parse().unwrap_or(0),
                    end_log_pos: s(4).parse().unwrap_or(0),
                    info: s(5),
                }
            })
            .collect()
    }

    /// SHOW BINLOG EVENTS IN `file` [FROM `from`].
    pub fn binlog_events(&self, server: usize, file: &str, from: Option<u64>) -> Vec<BinlogEvent> {
        let from = from.map(|p| format!(" FROM {p}")).unwrap_or_default();
        self.events(server, format!("SHOW BINLOG EVENTS IN {}{from}", sql_quote(file)))
    }

    /// SHOW RELAYLOG EVENTS IN `file` (basename, as in Relay_Log_File).
    pub fn relay_log_events(&self, replica: usize, file: &str) -> Vec<BinlogEvent> {
        self.events(replica, format!("SHOW RELAYLOG EVENTS IN {}", sql_quote(file)))
    }

    fn numbered_files(&self, server: usize, prefix: &str) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = fs::read_dir(self.datadir(server))
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.path())
                    .filter(|p| {
                        p.file_name()
                            .and_then(|n| n.to_str())
                            .and_then(|n| n.strip_prefix(prefix))
                            .is_some_and(|ext| ext.len() >= 6 && ext.bytes().all(|b| b.is_ascii_digit()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// The server's own binlog files on disk (`mysql-bin.NNNNNN`), in order.
    /// Works while the server is down.
    pub fn binlog_files(&self, server: usize) -> Vec<PathBuf> {
        self.numbered_files(server, "mysql-bin.")
    }

    /// The replica's relay log files on disk (`relay-bin.NNNNNN`), in order.
    pub fn relay_log_files(&self, server: usize) -> Vec<PathBuf> {
        self.numbered_files(server, "relay-bin.")
    }

    /// `CHECKSUM TABLE` of every base table of `db` (empty map if `db` does
    /// not exist).
    pub fn checksum_tables(&self, server: usize, db: &str) -> BTreeMap<String, u64> {
        let tables = self.query_rows(
            server,
            format!(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = {} \
                 AND table_type = 'BASE TABLE' ORDER BY table_name",
                sql_quote(db)
            ),
        );
        let mut out = BTreeMap::new();
        for t in tables {
            let t = t[0].clone().unwrap();
            let rows = self.query_rows(server, format!("CHECKSUM TABLE {}.{}", ident(db), ident(&t)));
            let sum = rows.first().and_then(|r| r[1].as_deref()).and_then(|v| v.parse::<u64>().ok());
            let sum = sum.unwrap_or_else(|| self.fail(server, format!("CHECKSUM TABLE {db}.{t}: {rows:?}")));
            out.insert(t, sum);
        }
        out
    }

    /// Panic unless `server`'s tables in `db` have the same checksums as the
    /// master's (the master must be running).
    pub fn assert_same_data_as_master(&self, server: usize, db: &str) {
        self.assert_same_data(MASTER, server, db);
    }

    /// Tables of `db` whose checksums differ between servers `a` and `b`, as
    /// "table: a=<sum> b=<sum>" (a missing table shows as `-`).  Empty = same.
    pub fn checksum_differences(&self, a: usize, b: usize, db: &str) -> Vec<String> {
        let ca = self.checksum_tables(a, db);
        let cb = self.checksum_tables(b, db);
        let mut names: Vec<&String> = ca.keys().chain(cb.keys()).collect();
        names.sort();
        names.dedup();
        let show = |v: Option<&u64>| v.map(|v| v.to_string()).unwrap_or_else(|| "-".into());
        names
            .into_iter()
            .filter(|t| ca.get(*t) != cb.get(*t))
            .map(|t| format!("{t}: {}={} {}={}", self.name(a), show(ca.get(t)), self.name(b), show(cb.get(t))))
            .collect()
    }

    /// Panic unless servers `a` and `b` have identical (and some) tables in `db`.
    pub fn assert_same_data(&self, a: usize, b: usize, db: &str) {
        assert!(!self.checksum_tables(a, db).is_empty(), "{}: no tables in {db}", self.name(a));
        let d = self.checksum_differences(a, b, db);
        assert!(d.is_empty(), "CHECKSUM TABLE differences in {db}: {d:?}");
    }

    /// Sequence numbers of the [`Workload`] groups this server has committed
    /// (`bd.seq` plus the MyISAM `bd.m.seq_n`), sorted.  Empty without `bd`.
    pub fn committed_seq(&self, server: usize) -> Vec<u64> {
        let have = self.query_value(
            server,
            format!("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '{WORKLOAD_DB}' AND table_name IN ('seq', 'm')"),
        );
        if have.as_deref() != Some("2") {
            return Vec::new();
        }
        self.query_rows(
            server,
            format!(
                "SELECT n FROM {WORKLOAD_DB}.seq UNION SELECT seq_n FROM {WORKLOAD_DB}.m \
                 WHERE seq_n IS NOT NULL ORDER BY 1"
            ),
        )
        .into_iter()
        .map(|r| r[0].as_deref().unwrap().parse().unwrap())
        .collect()
    }

    // -- replication control -------------------------------------------------

    /// STOP SLAVE, then CHANGE MASTER TO `source` (a server of this topology):
    /// with `coords`: MASTER_LOG_FILE/POS and `MASTER_USE_GTID=no`; without:
    /// `MASTER_USE_GTID=slave_pos`.  Does not start the slave.
    pub fn change_master(&self, replica: usize, source: usize, coords: Option<&LogPos>) {
        self.sql(replica, "STOP SLAVE");
        let start = match coords {
            Some(c) => {
                format!("MASTER_LOG_FILE = {}, MASTER_LOG_POS = {}, MASTER_USE_GTID = no", sql_quote(&c.file), c.pos)
            }
            None => "MASTER_USE_GTID = slave_pos".to_string(),
        };
        self.sql(
            replica,
            format!(
                "CHANGE MASTER TO MASTER_HOST = {}, MASTER_PORT = {}, MASTER_USER = {}, \
                 MASTER_PASSWORD = {}, MASTER_CONNECT_RETRY = 1, {start}",
                sql_quote(&self.servers[source].ip),
                self.port(source),
                sql_quote(REPL_USER),
                sql_quote(REPL_PASSWORD)
            ),
        );
    }

    /// Poll SHOW SLAVE STATUS until `pred` holds (fails fast on an SQL thread
    /// error, with WAIT_TIMEOUT).
    pub fn wait_slave(&self, replica: usize, what: &str, mut pred: impl FnMut(&SlaveStatus) -> bool) -> SlaveStatus {
        let mut last = SlaveStatus::default();
        let r = poll_until(WAIT_TIMEOUT, || {
            last = self.slave_status(replica);
            if last.last_sql_errno != 0 {
                self.fail(
                    replica,
                    format!("{}: SQL thread error while waiting for {what}: {last}", self.name(replica)),
                );
            }
            pred(&last).then(|| last.clone())
        });
        r.unwrap_or_else(|| {
            self.fail(
                replica,
                format!("{}: timed out after {WAIT_TIMEOUT:?} waiting for {what}; last: {last}", self.name(replica)),
            )
        })
    }

    /// Wait until the replica's IO thread has read and its SQL thread has
    /// executed everything up to the master's SHOW MASTER STATUS (re-read on
    /// every poll: the master appends Binlog_checkpoint events on its own),
    /// with both threads running.
    pub fn wait_caught_up(&self, replica: usize) -> SlaveStatus {
        let mut last_master = LogPos::default();
        let mut last = SlaveStatus::default();
        let r = poll_until(WAIT_TIMEOUT, || {
            last_master = self.master_status(MASTER);
            last = self.slave_status(replica);
            if last.last_sql_errno != 0 {
                self.fail(replica, format!("{}: SQL thread error: {last}", self.name(replica)));
            }
            let ok =
                last.io_yes() && last.sql_yes() && last.read_pos() == last_master && last.exec_pos() == last_master;
            ok.then(|| last.clone())
        });
        r.unwrap_or_else(|| {
            self.fail(
                replica,
                format!(
                    "{} not caught up with master {last_master} after {WAIT_TIMEOUT:?}: {last}",
                    self.name(replica)
                ),
            )
        })
    }

    /// [`wait_caught_up`](Self::wait_caught_up) for every replica whose IO
    /// *and* SQL threads are supposed to run (i.e. all of them).
    pub fn wait_replicas_caught_up(&self) {
        for r in self.replicas() {
            self.wait_caught_up(r);
        }
    }

    /// Like `wait_replicas_caught_up` but skips replicas whose IO thread was
    /// stopped (Slave_IO_Running = No).
    pub fn wait_replicas_caught_up_running(&self) {
        for r in self.replicas() {
            if self.slave_status(r).io_running != "No" {
                self.wait_caught_up(r);
            }
        }
    }

    /// Wait until the server's current binlog contains a Binlog_checkpoint
    /// event naming that file itself.  After a rotation MariaDB appends such
    /// an event *asynchronously* (once the previous file's transactions are
    /// durable), so without this the end of the binlog can move by itself
    /// after the last commit.  Returns the (then stable) SHOW MASTER STATUS.
    pub fn wait_binlog_checkpoint(&self, server: usize) -> LogPos {
        let mut last = LogPos::default();
        poll_until(WAIT_TIMEOUT, || {
            last = self.master_status(server);
            let evs = self.binlog_events(server, &last.file, None);
            evs.iter()
                .any(|e| e.event_type == "Binlog_checkpoint" && e.info.ends_with(&last.file))
                .then(|| last.clone())
        })
        .unwrap_or_else(|| {
            self.fail(
                server,
                format!("{}: no Binlog_checkpoint for {} in {WAIT_TIMEOUT:?}", self.name(server), last.file),
            )
        })
    }

    /// Wait until the IO thread has read up to the master's current position
    /// (the SQL thread may lag).  Waits for the master's own
    /// [`Binlog_checkpoint`](Self::wait_binlog_checkpoint) first, so the
    /// position is final unless the test writes more.
    pub fn wait_io_read_all(&self, replica: usize) -> SlaveStatus {
        self.wait_binlog_checkpoint(MASTER);
        let mut m = LogPos::default();
        let mut last = SlaveStatus::default();
        let r = poll_until(WAIT_TIMEOUT, || {
            m = self.master_status(MASTER);
            last = self.slave_status(replica);
            (last.io_yes() && last.read_pos() == m).then(|| last.clone())
        });
        r.unwrap_or_else(|| {
            self.fail(replica, format!("{}: IO thread did not read up to {m}: {last}", self.name(replica)))
        })
    }

    /// Wait until the SQL thread has executed everything it can from the relay
    /// log: state "Slave has read all relay log" and, unless a transaction is
    /// only partly relayed, Exec == Read.  Only meaningful with the IO thread
    /// stopped or the master gone (otherwise more may arrive at any moment).
    pub fn wait_sql_idle(&self, replica: usize) -> SlaveStatus {
        // two consecutive idle observations with the same positions
        let mut prev: Option<(LogPos, LogPos)> = None;
        self.wait_slave(replica, "SQL thread idle (read all relay log)", |s| {
            let cur = (s.read_pos(), s.exec_pos());
            let idle = s.sql_yes() && s.sql_idle();
            let stable = prev.as_ref() == Some(&cur);
            prev = idle.then_some(cur);
            idle && stable
        })
    }

    /// STOP SLAVE IO_THREAD and wait until it reports No.
    pub fn stop_io_thread(&self, replica: usize) -> SlaveStatus {
        self.sql(replica, "STOP SLAVE IO_THREAD");
        self.wait_slave(replica, "IO thread stopped", |s| s.io_running == "No")
    }

    /// START SLAVE IO_THREAD and wait until it is Yes (or Connecting, if its
    /// master is down).
    pub fn start_io_thread(&self, replica: usize) -> SlaveStatus {
        self.sql(replica, "START SLAVE IO_THREAD");
        self.wait_slave(replica, "IO thread started", |s| s.io_running != "No")
    }

    pub fn stop_sql_thread(&self, replica: usize) -> SlaveStatus {
        self.sql(replica, "STOP SLAVE SQL_THREAD");
        self.wait_slave(replica, "SQL thread stopped", |s| s.sql_running == "No")
    }

    pub fn start_sql_thread(&self, replica: usize) -> SlaveStatus {
        self.sql(replica, "START SLAVE SQL_THREAD");
        self.wait_slave(replica, "SQL thread started", |s| s.sql_yes())
    }

    /// STOP SLAVE (both threads) and wait until both report No.
    pub fn stop_slave(&self, replica: usize) -> SlaveStatus {
        self.sql(replica, "STOP SLAVE");
        self.wait_slave(replica, "both threads stopped", |s| s.io_running == "No" && s.sql_running == "No")
    }

    /// START SLAVE and wait until the SQL thread runs and the IO thread is
    /// Yes (or Connecting).
    pub fn start_slave(&self, replica: usize) -> SlaveStatus {
        self.sql(replica, "START SLAVE");
        self.wait_slave(replica, "threads started", |s| s.io_running != "No" && s.sql_yes())
    }

    /// Make `replica` end exactly at the master's current position: wait
    /// until its IO thread has read everything written so far, then stop the
    /// IO thread (the SQL thread keeps running and applies what was read).
    /// Call it after the k-th transaction to leave the replica at k
    /// (including the Binlog_checkpoint the master appends on its own after
    /// a rotation: see [`wait_io_read_all`](Self::wait_io_read_all)).
    pub fn catch_up_then_stop_io(&self, replica: usize) -> SlaveStatus {
        self.wait_io_read_all(replica);
        self.stop_io_thread(replica)
    }

    /// Runs the workload in `batches`; after batch `i`, replica `r + 1`
    /// stops reading as `stops[r]` says (a [`Stop`] naming batch `i`), then
    /// `between(i, w)` runs. The last batch only the master gets. Returns the
    /// mid-transaction stops made.
    pub fn run_with_stops(
        &self,
        w: &mut Workload,
        batches: &[usize],
        stops: &[Stop],
        mut between: impl FnMut(usize, &mut Workload),
    ) -> Vec<MidTrxStop> {
        let mut mid = Vec::new();
        for (i, &batch) in batches.iter().enumerate() {
            w.run(batch);
            if i + 1 == batches.len() {
                break;
            }
            for (r, stop) in stops.iter().enumerate() {
                match *stop {
                    Stop::After(k) if k == i => {
                        self.catch_up_then_stop_io(r + 1);
                    }
                    Stop::MidTransaction(k) if k == i => {
                        mid.push(self.stop_io_thread_mid_transaction(r + 1, w, 256 << 10, 16 << 10));
                    }
                    _ => {}
                }
            }
            between(i, w);
        }
        mid
    }

    /// Leave `replica`'s relay log ending in the middle of a transaction: the
    /// master commits one big transaction of ~`bytes` (via `w`, many row or
    /// statement events) while the replica's IO thread is throttled with
    /// `read_binlog_speed_limit`; as soon as the replica has read at least
    /// `min_into` bytes of it (Read_Master_Log_Pos >= GTID event position +
    /// `min_into`, and still before the end of its XID), its IO thread is
    /// stopped and the limit removed.
    ///
    /// Honest caveats: the cut point is not chosen exactly (it is wherever
    /// the throttled IO thread is when polling notices, >= `min_into`; always
    /// at an event boundary, since the IO thread writes whole events) and it
    /// relies on timing: the transfer is throttled to `bytes`/16 per second
    /// (the binlog holds 2-3x `bytes`: hex literals in Annotate_rows/Query
    /// events), so keep `min_into` well below `bytes`.  Panics if the
    /// replica read the whole transaction first.  Other replicas are not
    /// throttled.
    pub fn stop_io_thread_mid_transaction(
        &self,
        replica: usize,
        w: &mut Workload,
        bytes: usize,
        min_into: u64,
    ) -> MidTrxStop {
        assert!(bytes >= 64 << 10, "use at least 64 KiB so the transaction has many events");
        self.wait_io_read_all(replica);
        // token bucket: burst of 2*limit, then limit per second
        let limit_kib = (bytes / 1024 / 16).max(4);
        self.sql(replica, format!("SET GLOBAL read_binlog_speed_limit = {limit_kib}"));
        let before = self.master_status(MASTER);
        let seq = w.big_transaction(bytes);
        // find the transaction in the master's binlog
        let evs = self.binlog_events(MASTER, &before.file, Some(before.pos));
        let gtid = evs
            .iter()
            .position(|e| e.event_type == "Gtid")
            .unwrap_or_else(|| self.fail(MASTER, format!("no Gtid event after {before}")));
        let end = evs[gtid..]
            .iter()
            .find(|e| e.event_type == "Xid" || (e.event_type == "Query" && e.info == "COMMIT"))
            .unwrap_or_else(|| self.fail(MASTER, format!("no Xid after {before}")));
        let trx_start = LogPos::new(before.file.clone(), evs[gtid].pos);
        let trx_end = LogPos::new(before.file.clone(), end.end_log_pos);
        let inside = |s: &SlaveStatus| {
            s.master_log_file == trx_start.file
                && s.read_master_log_pos > trx_start.pos
                && s.read_master_log_pos < trx_end.pos
        };
        let far_enough = |s: &SlaveStatus| inside(s) && s.read_master_log_pos >= trx_start.pos + min_into;
        let mut last = SlaveStatus::default();
        let hit = poll_until(Duration::from_secs(30), || {
            last = self.slave_status(replica);
            if far_enough(&last) {
                return Some(true);
            }
            (last.read_pos() >= trx_end).then_some(false)
        });
        if hit != Some(true) {
            self.sql(replica, "SET GLOBAL read_binlog_speed_limit = 0");
            self.fail(
                replica,
                format!("{}: could not catch the IO thread inside {trx_start}..{trx_end}: {last}", self.name(replica)),
            );
        }
        let status = self.stop_io_thread(replica);
        self.sql(replica, "SET GLOBAL read_binlog_speed_limit = 0");
        if !inside(&status) {
            self.fail(
                replica,
                format!("{}: IO thread stopped outside {trx_start}..{trx_end}: {status}", self.name(replica)),
            );
        }
        MidTrxStop { seq, trx_start, trx_end, status }
    }

    /// MHA's `app.cnf` for this topology, written to `work/app.cnf`: the
    /// admin and replication accounts, `manager_workdir` = `work/manager`
    /// (created), `manager_log` = `work/manager/manager.log`; every server
    /// with its `master_binlog_dir`; in a netns topology each by its own
    /// address, with the harness's ssh user, key and known_hosts and a
    /// `remote_workdir` on its host; otherwise on 127.0.0.1.
    /// `default_extra` lines go into `[server default]`, `per_server(s)`
    /// into server `s`'s section.
    pub fn app_cnf(&self, work: &Path, default_extra: &str, per_server: &dyn Fn(usize) -> String) -> PathBuf {
        let mut cnf = format!(
            "[server default]\nuser={ADMIN_USER}\npassword={ADMIN_PASSWORD}\nrepl_user={REPL_USER}\n\
             repl_password={REPL_PASSWORD}\nmanager_workdir={w}/manager\nmanager_log={w}/manager/manager.log\n",
            w = work.display()
        );
        if self.is_netns() {
            cnf += &format!("ssh_user={}\nssh_options={}\n", self.ssh_user(), self.ssh_options());
        }
        cnf += default_extra;
        for s in self.servers() {
            cnf += &format!(
                "\n[server{}]\nhostname={}\nport={}\nmaster_binlog_dir={}\n",
                s + 1,
                if self.is_netns() { self.host_ip(s) } else { "127.0.0.1".to_string() },
                self.port(s),
                self.datadir(s).display(),
            );
            if self.is_netns() {
                cnf += &format!("remote_workdir={}\n", self.host_dir(s).display());
            }
            cnf += &per_server(s);
        }
        fs::create_dir_all(work.join("manager")).unwrap();
        let p = work.join("app.cnf");
        fs::write(&p, cnf).unwrap();
        p
    }

    // -- netns topologies: hosts, ssh, links ------------------------------------

    /// True for a netns topology ([`TopologyConfig::netns`]).
    pub fn is_netns(&self) -> bool {
        self.net.is_some()
    }

    /// The server's address: its host's 192.0.2.x in a netns topology, else
    /// "127.0.0.1".  Connect to `host_ip(i):port(i)`.
    pub fn host_ip(&self, server: usize) -> String {
        self.servers[server].ip.clone()
    }

    fn net_state(&self) -> &NetState {
        self.net.as_ref().expect("not a netns topology (TopologyConfig { netns: true, .. })")
    }

    /// The network (bridge, namespaces, slice) of a netns topology.
    pub fn net(&self) -> Option<&netns::Net> {
        self.net.as_ref().map(|n| &n.net)
    }

    /// The host's network namespace (netns topologies).
    pub fn netns_name(&self, server: usize) -> Option<&str> {
        self.servers[server].ns.as_deref()
    }

    /// Private key (ed25519, no passphrase) accepted by every host's sshd.
    pub fn ssh_key(&self) -> PathBuf {
        self.net_state().ssh_dir.join("id_ed25519")
    }

    /// `known_hosts` with every host's key, as `<ip> ssh-ed25519 <key>`.
    pub fn known_hosts(&self) -> PathBuf {
        self.net_state().ssh_dir.join("known_hosts")
    }

    /// The login for ssh (the current user, `id -un`).
    pub fn ssh_user(&self) -> String {
        self.net_state().user.clone()
    }

    /// ssh client options, one string (no path contains whitespace):
    /// `-i KEY -o UserKnownHostsFile=KH -o GlobalKnownHostsFile=/dev/null
    /// -o StrictHostKeyChecking=yes -o BatchMode=yes -o IdentitiesOnly=yes
    /// -o ConnectTimeout=5` (e.g. MHA's `ssh_options=`).
    pub fn ssh_options(&self) -> String {
        self.ssh_args().join(" ")
    }

    /// [`ssh_options`](Self::ssh_options) as separate arguments.
    pub fn ssh_args(&self) -> Vec<String> {
        let (key, kh) = (self.ssh_key().display().to_string(), self.known_hosts().display().to_string());
        assert!(!key.contains(char::is_whitespace) && !kh.contains(char::is_whitespace), "{key} {kh}");
        [
            "-i",
            &key,
            "-o",
            &format!("UserKnownHostsFile={kh}"),
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "ConnectTimeout=5",
        ]
        .map(String::from)
        .to_vec()
    }

    /// `ssh -F none <ssh_args> user@<host ip> remote_command` (no user ssh
    /// config is read).
    pub fn ssh(&self, server: usize, remote_command: &str) -> Command {
        let mut c = Command::new(netns::tool("ssh"));
        c.args(["-F", "none"])
            .args(self.ssh_args())
            .arg(format!("{}@{}", self.ssh_user(), self.host_ip(server)))
            .arg(remote_command)
            .stdin(Stdio::null());
        c
    }

    /// A directory for the host's remote_workdir: `<server dir>/work`
    /// (created; in netns and plain topologies alike).
    pub fn host_dir(&self, server: usize) -> PathBuf {
        let d = self.servers[server].dir.join("work");
        fs::create_dir_all(&d).unwrap_or_else(|e| panic!("create {}: {e}", d.display()));
        d
    }

    /// pid of the host's sshd if it is running.
    pub fn sshd_pid(&self, server: usize) -> Option<u32> {
        let mut g = lock(&self.servers[server].sshd);
        let c = g.as_mut()?;
        match c.try_wait() {
            Ok(None) => Some(c.id()),
            _ => None,
        }
    }

    /// Last `lines` lines of the host's sshd log (`<server dir>/sshd.log`).
    pub fn sshd_log_tail(&self, server: usize, lines: usize) -> String {
        let text = fs::read_to_string(self.servers[server].dir.join("sshd.log"))
            .unwrap_or_else(|e| format!("(no sshd log: {e})"));
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Host keys, configs, known_hosts, client key; spawn every sshd.
    fn start_sshds(&self) {
        let n = self.net_state();
        let client_key = n.ssh_dir.join("id_ed25519");
        let mut keygens = vec![netns::spawn_keygen(&client_key, "binlog-diff-netns-client")];
        for s in &self.servers {
            let d = s.dir.join("sshd");
            fs::create_dir_all(&d).unwrap();
            fs::create_dir_all(s.dir.join("work")).unwrap();
            keygens.push(netns::spawn_keygen(&d.join("ssh_host_ed25519_key"), &format!("binlog-diff-{}", s.name)));
        }
        netns::wait_keygens(keygens);
        let client_pub = fs::read_to_string(n.ssh_dir.join("id_ed25519.pub")).unwrap();
        let path = netns::session_path(&self.cfg.ssh_path);
        let mut known_hosts = String::new();
        for s in &self.servers {
            let d = s.dir.join("sshd");
            fs::write(d.join("authorized_keys"), &client_pub).unwrap();
            let ip: std::net::Ipv4Addr = s.ip.parse().unwrap();
            fs::write(d.join("sshd_config"), netns::sshd_config(&d, ip, &path)).unwrap();
            known_hosts += &format!("{} {}\n", s.ip, netns::public_key(&d.join("ssh_host_ed25519_key.pub")));
        }
        fs::write(self.known_hosts(), known_hosts).unwrap();
        let _ = fs::create_dir_all("/run/sshd"); // sshd's privilege separation dir
        for i in 0..self.servers.len() {
            self.spawn_sshd(i);
        }
    }

    fn spawn_sshd(&self, i: usize) {
        let s = &self.servers[i];
        let out = fs::OpenOptions::new().create(true).append(true).open(s.dir.join("sshd.log")).unwrap();
        let mut cmd = self.net_state().net.command_in(i, "/usr/sbin/sshd");
        cmd.args(["-D", "-e", "-f"])
            .arg(s.dir.join("sshd").join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out);
        // SAFETY: the closure only calls prctl (async-signal-safe).
        unsafe {
            cmd.pre_exec(sys::set_parent_death_signal);
        }
        let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn sshd for {}: {e}", s.name));
        let mut pids = fs::OpenOptions::new().create(true).append(true).open(self.root.join("pids")).unwrap();
        writeln!(pids, "{} {}-sshd", child.id(), s.name).unwrap();
        *lock(&s.sshd) = Some(child);
    }

    /// Poll until the host's sshd accepts TCP connections on `<ip>:22`.
    fn wait_sshd(&self, i: usize) -> Result<(), String> {
        let s = &self.servers[i];
        let ip: std::net::Ipv4Addr = s.ip.parse().unwrap();
        let deadline = Instant::now() + self.cfg.ready_timeout;
        loop {
            if let Some(status) = lock(&s.sshd).as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                return Err(format!("{}: sshd exited ({status}):\n{}", s.name, self.sshd_log_tail(i, 20)));
            }
            if netns::ssh_answers(ip, Duration::from_secs(1)) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!("{}: sshd not answering on {ip}:22:\n{}", s.name, self.sshd_log_tail(i, 20)));
            }
            std::thread::sleep(POLL);
        }
    }

    /// Kill (SIGKILL) the host's sshd only; mariadbd keeps running.
    /// Sessions already open (sshd's children) are not killed, as with a
    /// real sshd.
    pub fn stop_sshd(&self, server: usize) {
        self.net_state();
        let mut g = lock(&self.servers[server].sshd);
        if let Some(c) = g.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
        *g = None;
    }

    /// Start the host's sshd again (after [`stop_sshd`](Self::stop_sshd));
    /// waits until it answers.
    pub fn start_sshd(&self, server: usize) {
        assert!(self.sshd_pid(server).is_none(), "{}: sshd is still running", self.name(server));
        self.spawn_sshd(server);
        if let Err(msg) = self.wait_sshd(server) {
            self.fail(server, msg);
        }
    }

    /// Cut the host off the network: its veth on the bridge goes down, so
    /// neither the test process nor any other host reaches its mysqld or
    /// sshd (packets are dropped: connects time out, open connections
    /// hang).  The harness's cached connection to it is dropped.  The
    /// processes keep running.
    pub fn cut_link(&self, server: usize) {
        let n = self.net_state();
        self.forget_conn(server);
        n.net.set_link(server, false).unwrap_or_else(|e| self.fail(server, e));
        let st = n.net.link_state(server);
        assert_eq!(st, "down", "{}: link state after cut", self.name(server));
    }

    /// Undo [`cut_link`](Self::cut_link); waits until the link is up.
    pub fn restore_link(&self, server: usize) {
        let n = self.net_state();
        n.net.set_link(server, true).unwrap_or_else(|e| self.fail(server, e));
        if poll_until(Duration::from_secs(10), || (n.net.link_state(server) == "up").then_some(())).is_none() {
            self.fail(
                server,
                format!("{}: link not up 10 s after restore: {}", self.name(server), n.net.link_state(server)),
            );
        }
    }

    /// True while the host's link is cut.
    pub fn link_is_cut(&self, server: usize) -> bool {
        self.net_state().net.link_state(server) != "up"
    }

    /// `ip netns exec <host's namespace> program`: run a command on the host.
    pub fn in_netns(&self, server: usize, program: impl AsRef<OsStr>) -> Command {
        self.net_state().net.command_in(server, program)
    }

    /// A command that runs `program` (plus the arguments the caller adds) in
    /// a new private mount namespace in which this topology's root directory
    /// ([`root`](Self::root): every datadir, binlog, relay log, socket, host
    /// dir) is covered by an empty tmpfs.  A driver run this way can reach
    /// the servers' files only over ssh (and their data only over TCP).
    /// The ssh key and known_hosts live outside the root, so they stay
    /// visible.  (Honest limits: a process could still look through
    /// `/proc/<server pid>/root/...`; and a current directory inside the root
    /// stays usable, so don't set one there.)  Works for plain topologies too.
    ///
    /// It is `unshare --mount --propagation private -- /bin/sh -c SCRIPT
    /// hidden MOUNT ROOT program [args...]`: arguments pass through as
    /// separate argv entries (`exec "$@"`), no quoting needed.  Exit status
    /// 125 if the tmpfs cannot be mounted.
    pub fn hidden_command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut c = Command::new(netns::tool("unshare"));
        c.args(["--mount", "--propagation", "private", "--", "/bin/sh", "-c", HIDE_SCRIPT, "hidden_command"])
            .arg(netns::tool("mount"))
            .arg(&self.root)
            .arg(program);
        c
    }

    // -- process control -------------------------------------------------------

    fn forget_conn(&self, server: usize) {
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
        sys::signal(child.id(), sys::SIGTERM);
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

    /// Make a [`Workload`] on the master (creates database `bd`).
    pub fn workload(&self, seed: u64) -> Workload {
        Workload::new(self.conn(MASTER), seed)
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
                    let sig = if s.ready.load(Ordering::SeqCst) { sys::SIGTERM } else { sys::SIGKILL };
                    sys::signal(c.id(), sig);
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
        if let Some(mut n) = self.net.take() {
            // sshds (SIGTERM, bounded wait, SIGKILL), then the network: what
            // is still inside the namespaces (e.g. ssh sessions), veths,
            // bridge, namespaces
            for s in &self.servers {
                if let Some(c) = lock(&s.sshd).as_mut() {
                    if c.try_wait().ok().flatten().is_none() {
                        sys::signal(c.id(), sys::SIGTERM);
                    }
                }
            }
            for s in &self.servers {
                if let Some(c) = lock(&s.sshd).as_mut() {
                    if poll_until(Duration::from_secs(5), || c.try_wait().ok().flatten()).is_none() {
                        let _ = c.kill();
                        let _ = c.wait();
                    }
                }
            }
            n.net.teardown();
            if !self.keep {
                let _ = fs::remove_dir_all(&n.ssh_dir);
            }
        }
        if self.keep {
            eprintln!("[topology] BINLOG_DIFF_KEEP=1: kept {}", self.root.display());
        } else if let Err(e) = fs::remove_dir_all(&self.root) {
            eprintln!("[topology] cannot remove {}: {e}", self.root.display());
        }
    }
}

// ---------------------------------------------------------------------------
// workload

/// xorshift64* -- small, seeded, deterministic (the library's, shared with
/// the generated workloads of `bench catchup`).
pub use binlog_diff::bench::workload::XorShift;

/// A failed workload group.  `maybe_committed` is true when the error came
/// from COMMIT itself (e.g. the master was killed): the outcome is unknown.
#[derive(Debug)]
pub struct WorkloadError {
    pub seq: u64,
    pub maybe_committed: bool,
    pub error: mysql::Error,
}

impl fmt::Display for WorkloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "workload group {} failed (maybe committed: {}): {}", self.seq, self.maybe_committed, self.error)
    }
}

/// Seeded writes to database `bd` on one server (normally the master):
///
/// * `bd.t`   InnoDB: INT AUTO_INCREMENT PK, VARCHAR(200) utf8mb4 (multi-byte
///   and 4-byte characters), DECIMAL(12,2), DATETIME(6), BLOB, JSON, seq_n
/// * `bd.m`   MyISAM (non-transactional): id, seq_n UNIQUE, note, hits
/// * `bd.seq` InnoDB `(n INT PRIMARY KEY)`: every transactional group inserts
///   its own sequence number in the same transaction
/// * `bd.big` InnoDB `(id, seq_n, chunk MEDIUMBLOB)`: big transactions
///   (kept apart so that random updates of `t` stay small)
///
/// Sequence numbers count 1, 2, 3, ... per tracked event group; a server
/// has group k iff k is in `bd.seq` or `bd.m.seq_n`
/// ([`Topology::committed_seq`]).  Untracked groups (DDL, and the MyISAM
/// UPDATE that [`non_transactional`](Self::non_transactional) runs before
/// its tracked INSERT) always come right before a tracked one is written,
/// so "has k" still implies "has everything written before k".
///
/// Statements are deterministic (client-generated literals; no NOW(), RAND(),
/// LIMIT without ORDER BY), so STATEMENT and MIXED formats replicate them
/// faithfully.
pub struct Workload {
    conn: Conn,
    rng: XorShift,
    next_seq: u64,
    committed: Vec<u64>,
    max_id: u64,
    extra_column: bool,
}

const TEXT_PIECES: &[&str] = &[
    "a", "b", "c", "k", "x", "y", "z", "Q", "0", "7", " ", " ", "-", "_", ".", "é", "ß", "ñ", "Ω", "ж", "✓", "€", "日",
    "本", "語", "😀", "🚀",
];

impl Workload {
    /// Create the schema (idempotent) and continue numbering after what the
    /// server already has.
    pub fn new(mut conn: Conn, seed: u64) -> Workload {
        let db = WORKLOAD_DB;
        let ddl = [
            format!("CREATE DATABASE IF NOT EXISTS {db} CHARACTER SET utf8mb4"),
            format!(
                "CREATE TABLE IF NOT EXISTS {db}.t (
                   id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
                   name VARCHAR(200) CHARACTER SET utf8mb4 NOT NULL,
                   amount DECIMAL(12,2) NULL,
                   created DATETIME(6) NULL,
                   payload BLOB NULL,
                   doc JSON NULL,
                   seq_n INT NOT NULL
                 ) ENGINE=InnoDB"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {db}.m (
                   id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
                   seq_n INT NULL UNIQUE,
                   note VARCHAR(100) CHARACTER SET utf8mb4 NULL,
                   hits INT NOT NULL DEFAULT 0
                 ) ENGINE=MyISAM"
            ),
            format!("CREATE TABLE IF NOT EXISTS {db}.seq (n INT NOT NULL PRIMARY KEY) ENGINE=InnoDB"),
            format!(
                "CREATE TABLE IF NOT EXISTS {db}.big (
                   id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
                   seq_n INT NOT NULL,
                   chunk MEDIUMBLOB NOT NULL
                 ) ENGINE=InnoDB"
            ),
        ];
        for q in &ddl {
            conn.query_drop(q).unwrap_or_else(|e| panic!("workload schema: {e}\n{q}"));
        }
        let num = |conn: &mut Conn, q: String| -> u64 {
            conn.query_first::<Option<u64>, _>(q).unwrap_or_else(|e| panic!("workload: {e}")).flatten().unwrap_or(0)
        };
        let max_seq =
            num(&mut conn, format!("SELECT MAX(n) FROM (SELECT n FROM {db}.seq UNION ALL SELECT seq_n FROM {db}.m) x"));
        let max_id = num(&mut conn, format!("SELECT MAX(id) FROM {db}.t"));
        let extra = num(
            &mut conn,
            format!(
                "SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = '{db}' \
                 AND table_name = 't' AND column_name = 'extra'"
            ),
        );
        Workload {
            conn,
            rng: XorShift::new(seed),
            next_seq: max_seq + 1,
            committed: Vec::new(),
            max_id,
            extra_column: extra > 0,
        }
    }

    /// Every sequence number this workload committed, in order.
    pub fn committed(&self) -> &[u64] {
        &self.committed
    }
    /// The number the next group will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }
    pub fn rng(&mut self) -> &mut XorShift {
        &mut self.rng
    }
    /// The workload's connection (e.g. to run extra statements in order).
    pub fn conn(&mut self) -> &mut Conn {
        &mut self.conn
    }

    fn text(&mut self, max_chars: u64) -> String {
        let n = self.rng.range(1, max_chars);
        (0..n).map(|_| TEXT_PIECES[self.rng.below(TEXT_PIECES.len() as u64) as usize]).collect()
    }
    fn hex(&mut self, n: usize) -> String {
        let b = self.rng.bytes(n);
        let mut s = String::with_capacity(2 * n + 3);
        s.push_str("x'");
        for x in b {
            s.push_str(&format!("{x:02x}"));
        }
        s.push('\'');
        s
    }
    fn decimal(&mut self) -> String {
        // DECIMAL(12,2): |v| <= 9999999999.99
        let cents = self.rng.below(2_000_000_000_000) as i64 - 999_999_999_999;
        let sign = if cents < 0 { "-" } else { "" };
        format!("{sign}{}.{:02}", cents.unsigned_abs() / 100, cents.unsigned_abs() % 100)
    }
    fn datetime(&mut self) -> String {
        let r = &mut self.rng;
        format!(
            "'{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:06}'",
            r.range(2000, 2030),
            r.range(1, 12),
            r.range(1, 28),
            r.below(24),
            r.below(60),
            r.below(60),
            r.below(1_000_000)
        )
    }

    fn random_statements(&mut self, k: u64) -> Vec<String> {
        let db = WORKLOAD_DB;
        let n = self.rng.range(1, 5);
        let mut v = Vec::new();
        for _ in 0..n {
            let op = self.rng.below(100);
            if op < 50 || self.max_id == 0 {
                let name = sql_quote(&self.text(40));
                let amount = if self.rng.chance(10) { "NULL".into() } else { self.decimal() };
                let created = if self.rng.chance(10) { "NULL".into() } else { self.datetime() };
                let payload = if self.rng.chance(25) {
                    "NULL".into()
                } else {
                    let len = self.rng.below(300) as usize;
                    self.hex(len)
                };
                let doc = if self.rng.chance(20) {
                    "NULL".into()
                } else {
                    let s = self.text(12);
                    let (a, b) = (self.rng.below(1000), self.rng.below(1000));
                    sql_quote(&format!(r#"{{"seq": {k}, "s": "{s}", "a": [{a}, {b}], "f": true}}"#))
                };
                v.push(format!(
                    "INSERT INTO {db}.t (name, amount, created, payload, doc, seq_n) \
                     VALUES ({name}, {amount}, {created}, {payload}, {doc}, {k})"
                ));
                self.max_id += 1;
            } else if op < 80 {
                let id = self.rng.range(1, self.max_id);
                let name = sql_quote(&self.text(60));
                let amount = self.decimal();
                v.push(format!(
                    "UPDATE {db}.t SET name = {name}, amount = {amount}, seq_n = {k}, \
                     doc = JSON_SET(COALESCE(doc, '{{}}'), '$.u', {k}) WHERE id = {id}"
                ));
            } else {
                let id = self.rng.range(1, self.max_id);
                v.push(format!("DELETE FROM {db}.t WHERE id = {id}"));
            }
        }
        v
    }

    /// START TRANSACTION; stmts; INSERT INTO bd.seq VALUES (k); COMMIT.
    fn commit_group(&mut self, stmts: Vec<String>) -> Result<u64, WorkloadError> {
        let k = self.next_seq;
        self.next_seq += 1;
        let err = |e, maybe_committed| WorkloadError { seq: k, maybe_committed, error: e };
        let body = (|| -> mysql::Result<()> {
            self.conn.query_drop("START TRANSACTION")?;
            for s in &stmts {
                self.conn.query_drop(s)?;
            }
            self.conn.query_drop(format!("INSERT INTO {WORKLOAD_DB}.seq (n) VALUES ({k})"))
        })();
        if let Err(e) = body {
            let _ = self.conn.query_drop("ROLLBACK");
            return Err(err(e, false));
        }
        self.conn.query_drop("COMMIT").map_err(|e| err(e, true))?;
        self.committed.push(k);
        Ok(k)
    }

    /// One random multi-statement transaction (1-5 INSERT/UPDATE/DELETE on
    /// `t` + the seq insert).
    pub fn try_trx(&mut self) -> Result<u64, WorkloadError> {
        let k = self.next_seq;
        let stmts = self.random_statements(k);
        self.commit_group(stmts)
    }

    pub fn trx(&mut self) -> u64 {
        self.try_trx().unwrap_or_else(|e| panic!("{e}"))
    }

    /// `n_trx` random transactions; returns their sequence numbers.
    pub fn run(&mut self, n_trx: usize) -> Vec<u64> {
        (0..n_trx).map(|_| self.trx()).collect()
    }

    /// `n` steps, each a random transaction (85%), a non-transactional MyISAM
    /// write (10%) or a DDL (5%); returns the tracked sequence numbers.
    pub fn run_mixed(&mut self, n: usize) -> Vec<u64> {
        let mut out = Vec::new();
        for _ in 0..n {
            let r = self.rng.below(100);
            if r < 85 {
                out.push(self.trx());
            } else if r < 95 {
                out.push(self.non_transactional());
            } else {
                self.ddl();
            }
        }
        out
    }

    /// One transaction of at least `bytes` bytes of binlog (16 KiB random
    /// chunks into `bd.big`, one statement each: a rows event per chunk in
    /// ROW format, a Query event with the hex literal in STATEMENT format).
    pub fn big_transaction(&mut self, bytes: usize) -> u64 {
        const CHUNK: usize = 16 << 10;
        let k = self.next_seq;
        let n = bytes.div_ceil(CHUNK).max(1);
        let stmts: Vec<String> = (0..n)
            .map(|_| {
                let h = self.hex(CHUNK);
                format!("INSERT INTO {WORKLOAD_DB}.big (seq_n, chunk) VALUES ({k}, {h})")
            })
            .collect();
        self.commit_group(stmts).unwrap_or_else(|e| panic!("{e}"))
    }

    /// An ALTER TABLE on `bd.t` (alternately adds and drops column `extra`).
    /// Not tracked by a sequence number (DDL commits implicitly).
    pub fn ddl(&mut self) {
        let q = if self.extra_column {
            format!("ALTER TABLE {WORKLOAD_DB}.t DROP COLUMN extra")
        } else {
            format!("ALTER TABLE {WORKLOAD_DB}.t ADD COLUMN extra INT NOT NULL DEFAULT 7")
        };
        self.conn.query_drop(&q).unwrap_or_else(|e| panic!("workload ddl `{q}`: {e}"));
        self.extra_column = !self.extra_column;
    }

    /// Non-transactional writes to the MyISAM table `bd.m`: an untracked
    /// autocommit UPDATE, then the tracked autocommit INSERT carrying the
    /// sequence number in `m.seq_n`.  Returns that number.
    pub fn non_transactional(&mut self) -> u64 {
        let k = self.next_seq;
        self.next_seq += 1;
        let r = self.rng.below(4);
        let note = sql_quote(&self.text(30));
        let up = format!("UPDATE {WORKLOAD_DB}.m SET hits = hits + 1 WHERE id % 4 = {r}");
        let ins = format!("INSERT INTO {WORKLOAD_DB}.m (seq_n, note) VALUES ({k}, {note})");
        for q in [up, ins] {
            self.conn.query_drop(&q).unwrap_or_else(|e| panic!("workload `{q}`: {e}"));
        }
        self.committed.push(k);
        k
    }
}
