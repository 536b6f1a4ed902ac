//! The host side of netns topologies ([`TopologyConfig::netns`]): every
//! server its own "host" (a network namespace of [`netns`], its own address
//! and sshd), reached over ssh; links cut and restored; a driver run with
//! the servers' files hidden.
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

use std::ffi::OsStr;
use std::fs;
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::netns;
use super::process::{POLL, poll_until, running_pid, set_parent_death_signal, signal, tool};
use super::sshd::{SSHD, public_key, session_path, spawn_keygen, ssh_answers, sshd_config, wait_keygens, whoami};
use super::topology::{Server, Topology, TopologyConfig, lock};

/// The network side of a netns topology.
pub(super) struct NetState {
    pub(super) net: netns::Net,
    /// ssh client key and known_hosts: outside the topology's root, so that
    /// [`Topology::hidden_command`] does not hide them.
    pub(super) ssh_dir: PathBuf,
    pub(super) user: String,
}

impl NetState {
    pub(super) fn create(cfg: &TopologyConfig) -> NetState {
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
        NetState { net, ssh_dir, user: whoami() }
    }

    /// The sshds (SIGTERM, bounded wait, SIGKILL), then the network: what
    /// is still inside the namespaces (e.g. ssh sessions), veths, bridge,
    /// namespaces; the ssh client dir unless `keep`.
    pub(super) fn teardown(mut self, servers: &[Server], keep: bool) {
        for s in servers {
            if let Some(c) = lock(&s.sshd).as_mut() {
                if c.try_wait().ok().flatten().is_none() {
                    signal(c.id(), libc::SIGTERM);
                }
            }
        }
        for s in servers {
            if let Some(c) = lock(&s.sshd).as_mut() {
                if poll_until(Duration::from_secs(5), || c.try_wait().ok().flatten()).is_none() {
                    let _ = c.kill();
                    let _ = c.wait();
                }
            }
        }
        self.net.teardown();
        if !keep {
            let _ = fs::remove_dir_all(&self.ssh_dir);
        }
    }
}

/// Runs its arguments with the directory `$2` hidden under an empty tmpfs
/// (`$1` is mount(8)); see [`Topology::hidden_command`].
const HIDE_SCRIPT: &str = r#""$1" -t tmpfs -o size=1m,mode=0700 binlog-diff-hidden "$2" || { echo "hidden_command: cannot hide $2" >&2; exit 125; }
shift 2
exec "$@""#;

impl Topology {
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
        let mut c = Command::new(tool("ssh"));
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
        running_pid(&mut lock(&self.servers[server].sshd))
    }

    /// Last `lines` lines of the host's sshd log (`<server dir>/sshd.log`).
    pub fn sshd_log_tail(&self, server: usize, lines: usize) -> String {
        let text = fs::read_to_string(self.servers[server].dir.join("sshd.log"))
            .unwrap_or_else(|e| format!("(no sshd log: {e})"));
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Host keys, configs, known_hosts, client key; spawn every sshd.
    pub(super) fn start_sshds(&self) {
        let n = self.net_state();
        let client_key = n.ssh_dir.join("id_ed25519");
        let mut keygens = vec![spawn_keygen(&client_key, "binlog-diff-netns-client")];
        for s in &self.servers {
            let d = s.dir.join("sshd");
            fs::create_dir_all(&d).unwrap();
            fs::create_dir_all(s.dir.join("work")).unwrap();
            keygens.push(spawn_keygen(&d.join("ssh_host_ed25519_key"), &format!("binlog-diff-{}", s.name)));
        }
        wait_keygens(keygens);
        let client_pub = fs::read_to_string(n.ssh_dir.join("id_ed25519.pub")).unwrap();
        let path = session_path(&self.cfg.ssh_path);
        let mut known_hosts = String::new();
        for s in &self.servers {
            let d = s.dir.join("sshd");
            fs::write(d.join("authorized_keys"), &client_pub).unwrap();
            let ip: std::net::Ipv4Addr = s.ip.parse().unwrap();
            fs::write(d.join("sshd_config"), sshd_config(&d, ip, 22, &path)).unwrap();
            known_hosts += &format!("{} {}\n", s.ip, public_key(&d.join("ssh_host_ed25519_key.pub")));
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
        let mut cmd = self.net_state().net.command_in(i, SSHD);
        cmd.args(["-D", "-e", "-f"])
            .arg(s.dir.join("sshd").join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out);
        // SAFETY: the closure only calls prctl (async-signal-safe).
        unsafe {
            cmd.pre_exec(set_parent_death_signal);
        }
        let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn sshd for {}: {e}", s.name));
        let mut pids = fs::OpenOptions::new().create(true).append(true).open(self.root.join("pids")).unwrap();
        writeln!(pids, "{} {}-sshd", child.id(), s.name).unwrap();
        *lock(&s.sshd) = Some(child);
    }

    /// Poll until the host's sshd accepts TCP connections on `<ip>:22`.
    pub(super) fn wait_sshd(&self, i: usize) -> Result<(), String> {
        let s = &self.servers[i];
        let ip: std::net::Ipv4Addr = s.ip.parse().unwrap();
        let deadline = Instant::now() + self.cfg.ready_timeout;
        loop {
            if let Some(status) = lock(&s.sshd).as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                return Err(format!("{}: sshd exited ({status}):\n{}", s.name, self.sshd_log_tail(i, 20)));
            }
            if ssh_answers(SocketAddr::from((ip, 22)), Duration::from_secs(1)) {
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
        let mut c = Command::new(tool("unshare"));
        c.args(["--mount", "--propagation", "private", "--", "/bin/sh", "-c", HIDE_SCRIPT, "hidden_command"])
            .arg(tool("mount"))
            .arg(&self.root)
            .arg(program);
        c
    }
}
