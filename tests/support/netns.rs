//! Linux network namespaces for "netns" topologies
//! ([`TopologyConfig::netns`](super::topology::TopologyConfig::netns)): every
//! server of a topology becomes a "host" with its own network stack, reached
//! from the test process (root namespace) through a bridge.
//!
//! ```text
//!   root namespace                              netns bdt<pid>-<s>h0 (master)
//!   bridge bdt<pid>-<s>br 192.0.2.<32s+1>/27 ─┬─ veth bdt<pid>-<s>h0 ═ eth0 192.0.2.<32s+2>/27
//!                                             ├─ veth bdt<pid>-<s>h1 ═ eth0 192.0.2.<32s+3>/27  (replica1)
//!                                             └─ ...
//! ```
//!
//! # Addresses: one /27 slice of 192.0.2.0/24 per topology
//!
//! 192.0.2.0/24 is cut into eight /27 slices; slice `s` covers
//! `192.0.2.32s .. 192.0.2.32s+31`: the bridge gets `.32s+1`, host `n`
//! (0 = master) gets `.32s+2+n` (so at most [`MAX_HOSTS`] hosts).  A slice is
//! held with `flock` on `/tmp/binlog-diff-netns-slice-<s>.lock` for the
//! topology's lifetime (the kernel drops the lock when the process dies, so
//! nothing needs cleaning after a crash); threads of one process exclude each
//! other too (one open file description each).  A slice is skipped if any
//! address of it appears on this machine already: an interface address, a
//! route's destination narrower than /24, a gateway, a neighbour entry (on
//! the machine this was written on, eth0 itself is 192.0.2.2/24 with gateway
//! 192.0.2.1 and broadcast .255, so slices 0 and 7 are never used).  With all
//! free slices taken, [`Net::create`] waits (up to 5 minutes).
//!
//! # Traffic stays on our bridge, by construction
//!
//! * The bridge's /27 connected route is more specific than any /24 route of
//!   the machine, so from the root namespace every address of the slice goes
//!   to our bridge (never to a real interface), while the topology exists.
//!   Cutting a host takes its *veth* down, never the bridge (its route stays).
//!   We refuse to run with `net.ipv4.conf.all.ignore_routes_with_linkdown=1`.
//! * Inside a host namespace the only routes are `lo` and the /27 on `eth0`:
//!   no default route, nothing else is reachable.
//! * IPv6 is disabled on every interface we create (root side before it
//!   goes up; inside the namespaces `all` and `default`), so there is no
//!   link-local autoconfiguration, DAD or router solicitation.  Only IPv4 and
//!   ARP for 192.0.2.x cross the bridge.  The bridge does not call
//!   iptables/arptables (`nf_call_*tables 0`), has no multicast snooping.
//! * At teardown, before the bridge (and with it the route) goes away, every
//!   TCP socket of the root namespace to the slice is destroyed
//!   (`ss -K dst <slice>`; sends the RST through our bridge), so a
//!   connection the test still holds cannot later send a packet that would
//!   be routed elsewhere.
//!
//! # Names and teardown
//!
//! Names are `bdt<owner pid>-<slice>br` (bridge), `bdt<owner pid>-<slice>h<n>`
//! (host `n`'s namespace, and its veth's root end; the inner end is `eth0`):
//! at most 15 characters.  [`Net`]'s `Drop` (also while unwinding) destroys
//! the sockets, SIGKILLs processes still inside our namespaces (by pid, as
//! listed by `ip netns pids`: e.g. sessions of an sshd), deletes the veths,
//! the bridge and the namespaces, then releases the slice.
//! [`reap_stale`] (run by every [`Net::create`]) deletes namespaces and links
//! named `bdt<pid>-...` whose owner pid is dead (not ours, not alive), after
//! SIGKILLing processes inside such namespaces, and the ssh client dirs
//! (`$TMPDIR/binlog-diff-netns-ssh-*`) of dead owners.  (Owners are
//! identified by pid in this machine's pid namespace.)

use std::fs::{self, File};
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::process::{all_text, find_tool, process_alive, signal, tool};

/// Prefix of every namespace and link we create.
pub const PREFIX: &str = "bdt";
/// The /24 our slices are cut from (TEST-NET-1).
pub const NETWORK: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 0);
/// Prefix length of one slice.
pub const SLICE_PREFIX_LEN: u8 = 27;
const SLICE_SIZE: u8 = 32;
const SLICES: u8 = 8;
/// Hosts per slice: `.32s+2 ..= .32s+30`.
pub const MAX_HOSTS: usize = SLICE_SIZE as usize - 3;
/// Prefix of the ssh client dirs in `$TMPDIR` (see the topology).
pub const SSH_DIR_PREFIX: &str = "binlog-diff-netns-ssh-";
/// How long [`Net::create`] waits for a free slice.
const SLICE_WAIT: Duration = Duration::from_secs(300);

/// `ip` (iproute2).
pub fn ip_path() -> &'static Path {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| tool("ip"))
}

/// `Ok` if netns topologies can run here: root, iproute2, `unshare`,
/// `mount`, OpenSSH server and client, `ss`.  The message says what is
/// missing.
pub fn available() -> Result<(), String> {
    let mut missing = Vec::new();
    let uid = fs::read_to_string("/proc/self/status").ok().and_then(|s| {
        s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(2).unwrap_or("").to_string())
    });
    if uid.as_deref() != Some("0") {
        missing.push("root (effective uid 0)".to_string());
    }
    for t in ["ip", "unshare", "mount", "ssh", "ssh-keygen", "ss"] {
        if find_tool(t).is_none() {
            missing.push(format!("`{t}`"));
        }
    }
    if !Path::new("/usr/sbin/sshd").is_file() {
        missing.push("/usr/sbin/sshd (apt-get install openssh-server)".into());
    }
    if missing.is_empty() { Ok(()) } else { Err(format!("netns topologies need {}", missing.join(", "))) }
}

/// True if netns topologies can run here ([`available`]); otherwise a
/// loud skip (false), or a failure when `CI` is set (CI must run them).
pub fn usable() -> bool {
    match available() {
        Ok(()) => true,
        Err(e) => {
            assert!(std::env::var_os("CI").is_none(), "network namespaces are needed in CI: {e}");
            eprintln!("\n!!!!!!!! SKIPPED: network namespaces not available: {e} !!!!!!!!\n");
            false
        }
    }
}

/// Run `ip args`, stdout on success.
pub fn ip(args: &[&str]) -> Result<String, String> {
    let o = Command::new(ip_path())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    if o.status.success() {
        Ok(String::from_utf8_lossy(&o.stdout).into_owned())
    } else {
        Err(format!("ip {} failed ({}): {}", args.join(" "), o.status, all_text(&o).trim_end()))
    }
}

/// `ip [-force] -batch -` with `lines` on stdin.
fn ip_batch(lines: &[String], force: bool) -> Result<(), String> {
    let mut cmd = Command::new(ip_path());
    if force {
        cmd.arg("-force");
    }
    let mut child = cmd
        .args(["-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("ip -batch: {e}"))?;
    let text = lines.join("\n") + "\n";
    child.stdin.take().unwrap().write_all(text.as_bytes()).map_err(|e| format!("ip -batch stdin: {e}"))?;
    let o = child.wait_with_output().map_err(|e| format!("ip -batch: {e}"))?;
    if o.status.success() {
        Ok(())
    } else {
        Err(format!("ip -batch failed ({}): {}\n-- batch --\n{text}", o.status, all_text(&o).trim_end()))
    }
}

/// The owner pid in a name of ours (`bdt<pid>-...`).
pub fn owner_pid(name: &str) -> Option<u32> {
    let (pid, _) = name.strip_prefix(PREFIX)?.split_once('-')?;
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok()
}

/// Names of all network namespaces (`ip netns list`).
pub fn list_netns() -> Vec<String> {
    ip(&["netns", "list"])
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

/// Names of all links of the root namespace (`ip -o link show`).
pub fn list_links() -> Vec<String> {
    ip(&["-o", "link", "show"])
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let name = l.split_whitespace().nth(1)?.trim_end_matches(':');
            Some(name.split('@').next().unwrap_or(name).to_string())
        })
        .collect()
}

/// Namespaces and links of ours (prefix) owned by `pid`.
pub fn names_of_owner(pid: u32) -> Vec<String> {
    list_netns().into_iter().chain(list_links()).filter(|n| owner_pid(n) == Some(pid)).collect()
}

/// Pids of processes inside namespace `ns` (`ip netns pids`).
pub fn netns_pids(ns: &str) -> Vec<u32> {
    ip(&["netns", "pids", ns]).unwrap_or_default().split_whitespace().filter_map(|p| p.parse().ok()).collect()
}

/// SIGKILL every process inside our namespace `ns` and wait (bounded) until
/// they are gone.  Only for namespaces named by us.
fn kill_netns_pids(ns: &str) {
    assert!(owner_pid(ns).is_some(), "not one of our namespaces: {ns}");
    let me = std::process::id();
    let pids: Vec<u32> = netns_pids(ns).into_iter().filter(|&p| p != me).collect();
    for &p in &pids {
        signal(p, libc::SIGKILL);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while pids.iter().any(|&p| process_alive(p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn owner_dead(pid: u32) -> bool {
    pid != std::process::id() && !process_alive(pid)
}

/// Remove what dead owners left behind: namespaces (after SIGKILLing the
/// processes inside) and links named `bdt<pid>-...` whose pid is dead, and
/// `$TMPDIR/binlog-diff-netns-ssh-*` dirs whose `owner.pid` is dead.
/// Returns the names removed.
pub fn reap_stale() -> Vec<String> {
    let mut reaped = Vec::new();
    for ns in list_netns() {
        if owner_pid(&ns).is_some_and(owner_dead) {
            kill_netns_pids(&ns);
            if ip(&["netns", "del", &ns]).is_ok() {
                reaped.push(ns);
            }
        }
    }
    for link in list_links() {
        if owner_pid(&link).is_some_and(owner_dead) && ip(&["link", "del", &link]).is_ok() {
            reaped.push(link);
        }
    }
    if let Ok(rd) = fs::read_dir(std::env::temp_dir()) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.starts_with(SSH_DIR_PREFIX) {
                continue;
            }
            let owner = fs::read_to_string(e.path().join("owner.pid")).ok().and_then(|s| s.trim().parse::<u32>().ok());
            if owner.is_some_and(owner_dead) && fs::remove_dir_all(e.path()).is_ok() {
                reaped.push(name);
            }
        }
    }
    reaped.sort();
    reaped.dedup();
    if !reaped.is_empty() {
        eprintln!("[netns] reaped leftovers of dead owners: {}", reaped.join(" "));
    }
    reaped
}

fn parse_v4(token: &str) -> Option<(Ipv4Addr, u8)> {
    let (addr, len) = match token.split_once('/') {
        Some((a, l)) => (a, l.parse::<u8>().ok()?),
        None => (token, 32),
    };
    let a: Ipv4Addr = addr.parse().ok()?;
    (len <= 32).then_some((a, len))
}

/// Slices with an address already in use on this machine (see the module
/// doc): any 192.0.2.x host address, or a network narrower than /24 inside
/// 192.0.2.0/24, in `ip -4 addr`, `ip -4 route show table all`, `ip -4 neigh`.
fn blocked_slices() -> Result<[bool; SLICES as usize], String> {
    let mut text = ip(&["-4", "-o", "addr", "show"])?;
    text += &ip(&["-4", "route", "show", "table", "all"])?;
    text += &ip(&["-4", "neigh", "show"])?;
    let mut blocked = [false; SLICES as usize];
    let net = u32::from(NETWORK);
    for tok in text.split_whitespace() {
        let Some((a, len)) = parse_v4(tok) else { continue };
        let a = u32::from(a);
        if a & 0xffff_ff00 != net || len <= 24 {
            continue; // outside 192.0.2.0/24, or the /24 itself (our /27 is more specific)
        }
        let size = 1u32 << (32 - len);
        let first = a & !(size - 1) & 0xff;
        let last = first + size - 1;
        for s in 0..SLICES as u32 {
            let (lo, hi) = (s * SLICE_SIZE as u32, s * SLICE_SIZE as u32 + SLICE_SIZE as u32 - 1);
            if first <= hi && last >= lo {
                blocked[s as usize] = true;
            }
        }
    }
    Ok(blocked)
}

/// `flock(fd, LOCK_EX | LOCK_NB)` (`File::try_lock` needs Rust 1.89; the
/// crate's MSRV is 1.85).  Released when the file is closed.
fn try_flock(f: &File) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: flock(2) on an open descriptor we own.
    unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

fn lock_path(slice: u8) -> PathBuf {
    PathBuf::from(format!("/tmp/binlog-diff-netns-slice-{slice}.lock"))
}

/// Take a free slice: not blocked, and its lock file is ours.
fn allocate_slice() -> Result<(u8, File), String> {
    let deadline = Instant::now() + SLICE_WAIT;
    let mut waited = false;
    loop {
        let blocked = blocked_slices()?;
        for s in 0..SLICES {
            if blocked[s as usize] {
                continue;
            }
            let f = fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(lock_path(s))
                .map_err(|e| format!("open {}: {e}", lock_path(s).display()))?;
            if !try_flock(&f) {
                continue;
            }
            // re-check under the lock (someone may have left it behind)
            if blocked_slices()?[s as usize] {
                continue;
            }
            return Ok((s, f));
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "no free /27 slice of 192.0.2.0/24 after {SLICE_WAIT:?} (blocked by addresses in use: {:?}; \
                 the others are locked by live topologies)",
                (0..SLICES).filter(|&s| blocked[s as usize]).collect::<Vec<_>>()
            ));
        }
        if !waited {
            eprintln!("[netns] every free /27 slice is in use; waiting for one");
            waited = true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One host's network: its namespace, the root end of its veth, its address.
#[derive(Clone, Debug)]
pub struct NetHost {
    pub ns: String,
    pub veth: String,
    pub ip: Ipv4Addr,
}

/// A bridge, and per host a namespace with a veth into it; torn down on drop.
pub struct Net {
    slice: u8,
    bridge: String,
    bridge_ip: Ipv4Addr,
    hosts: Vec<NetHost>,
    torn_down: bool,
    /// flock'd slice lock, released last
    lock: Option<File>,
}

/// Serialises namespace creation (and reaping) inside this process (`ip
/// netns add` sets up /run/netns on first use).
static CREATE: Mutex<()> = Mutex::new(());

/// The lock [`Net::create`] holds while it reaps and creates (for a test
/// that fakes leftovers).
pub fn creation_lock() -> std::sync::MutexGuard<'static, ()> {
    CREATE.lock().unwrap_or_else(|e| e.into_inner())
}

impl Net {
    /// Reap stale leftovers, take a free slice and create the bridge and
    /// `hosts` namespaces (addresses configured, links up).
    pub fn create(hosts: usize) -> Result<Net, String> {
        assert!((1..=MAX_HOSTS).contains(&hosts), "a netns topology has 1..={MAX_HOSTS} hosts, not {hosts}");
        let linkdown =
            fs::read_to_string("/proc/sys/net/ipv4/conf/all/ignore_routes_with_linkdown").unwrap_or_default();
        if linkdown.trim() == "1" {
            return Err("net.ipv4.conf.all.ignore_routes_with_linkdown=1: a bridge without carrier would lose \
                        its route and 192.0.2.x traffic could leave through another interface; refusing"
                .into());
        }
        let _g = creation_lock();
        reap_stale();
        let (slice, lock) = allocate_slice()?;
        let pid = std::process::id();
        let base = slice * SLICE_SIZE;
        let o = NETWORK.octets();
        let addr = |last: u8| Ipv4Addr::new(o[0], o[1], o[2], last);
        let net = Net {
            slice,
            bridge: format!("{PREFIX}{pid}-{slice}br"),
            bridge_ip: addr(base + 1),
            hosts: (0..hosts)
                .map(|n| {
                    let name = format!("{PREFIX}{pid}-{slice}h{n}");
                    NetHost { ns: name.clone(), veth: name, ip: addr(base + 2 + n as u8) }
                })
                .collect(),
            torn_down: false,
            lock: Some(lock),
        };
        for name in net.names() {
            assert!(name.len() <= 15, "interface name {name:?} longer than 15 characters");
        }
        // leftovers of an earlier topology of this very process on this slice
        // (a teardown that failed): ours, remove them first
        let existing: Vec<String> = list_netns().into_iter().chain(list_links()).collect();
        if net.names().iter().any(|n| existing.contains(n)) {
            net.delete_objects();
        }
        net.setup()?; // on error, Drop removes whatever was created
        Ok(net)
    }

    fn setup(&self) -> Result<(), String> {
        let br = &self.bridge;
        let mut a = Vec::new();
        for h in &self.hosts {
            a.push(format!("netns add {}", h.ns));
        }
        a.push(format!(
            "link add {br} type bridge stp_state 0 mcast_snooping 0 nf_call_iptables 0 nf_call_ip6tables 0 nf_call_arptables 0"
        ));
        for h in &self.hosts {
            a.push(format!("link add {} type veth peer name eth0 netns {}", h.veth, h.ns));
            a.push(format!("link set {} master {br}", h.veth));
        }
        ip_batch(&a, false)?;
        // no IPv6 on our root-side interfaces (before they go up)
        if Path::new("/proc/sys/net/ipv6/conf").is_dir() {
            for dev in std::iter::once(br).chain(self.hosts.iter().map(|h| &h.veth)) {
                let p = format!("/proc/sys/net/ipv6/conf/{dev}/disable_ipv6");
                fs::write(&p, "1").map_err(|e| format!("write {p}: {e}"))?;
            }
        }
        let mut b =
            vec![format!("link set {br} up"), format!("addr add {}/{SLICE_PREFIX_LEN} brd + dev {br}", self.bridge_ip)];
        for h in &self.hosts {
            b.push(format!("link set {} up", h.veth));
        }
        ip_batch(&b, false)?;
        // inside each namespace (in parallel): no IPv6, address, lo and eth0 up
        let ipp = ip_path().display().to_string();
        let mut children = Vec::new();
        for h in &self.hosts {
            let script = format!(
                "set -e\n\
                 if [ -d /proc/sys/net/ipv6/conf ]; then\n\
                   echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6\n\
                   echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6\n\
                 fi\n\
                 {ipp} addr add {}/{SLICE_PREFIX_LEN} brd + dev eth0\n\
                 {ipp} link set lo up\n\
                 {ipp} link set eth0 up\n",
                h.ip
            );
            let child = Command::new(ip_path())
                .args(["netns", "exec", &h.ns, "/bin/sh", "-c", &script])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| format!("ip netns exec {}: {e}", h.ns))?;
            children.push((h, child));
        }
        let mut errors = Vec::new();
        for (h, c) in children {
            match c.wait_with_output() {
                Ok(o) if o.status.success() => {}
                Ok(o) => errors.push(format!("{}: setup failed ({}): {}", h.ns, o.status, all_text(&o).trim_end())),
                Err(e) => errors.push(format!("{}: {e}", h.ns)),
            }
        }
        if errors.is_empty() { Ok(()) } else { Err(errors.join("\n")) }
    }

    /// Every namespace and link name this `Net` owns.
    pub fn names(&self) -> Vec<String> {
        let mut v = vec![self.bridge.clone()];
        for h in &self.hosts {
            v.push(h.ns.clone());
            if h.veth != h.ns {
                v.push(h.veth.clone());
            }
        }
        v
    }

    pub fn slice(&self) -> u8 {
        self.slice
    }
    /// e.g. `192.0.2.32/27`
    pub fn subnet(&self) -> String {
        let o = NETWORK.octets();
        format!("{}.{}.{}.{}/{SLICE_PREFIX_LEN}", o[0], o[1], o[2], self.slice * SLICE_SIZE)
    }
    pub fn bridge(&self) -> &str {
        &self.bridge
    }
    pub fn bridge_ip(&self) -> Ipv4Addr {
        self.bridge_ip
    }
    pub fn hosts(&self) -> &[NetHost] {
        &self.hosts
    }
    pub fn host(&self, n: usize) -> &NetHost {
        &self.hosts[n]
    }
    /// The slice's address for a virtual IP (`.32s+30`, the last host
    /// address): never a host's while the topology has fewer than
    /// [`MAX_HOSTS`] hosts (`None` otherwise).  No one holds it until a
    /// test adds it to a host's `eth0` (see `support::vip`).
    pub fn vip(&self) -> Option<Ipv4Addr> {
        let o = NETWORK.octets();
        (self.hosts.len() < MAX_HOSTS)
            .then(|| Ipv4Addr::new(o[0], o[1], o[2], self.slice * SLICE_SIZE + SLICE_SIZE - 2))
    }
    /// True if `ip` is inside this slice.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let base = u32::from(NETWORK) + self.slice as u32 * SLICE_SIZE as u32;
        (base..base + SLICE_SIZE as u32).contains(&u32::from(ip))
    }

    /// `ip netns exec <ns> program`: the command runs in host `n`'s network
    /// namespace (and a mount namespace of its own with that namespace's
    /// /sys; `ip` execs `program`, so the child's pid is `program`'s).
    pub fn command_in(&self, n: usize, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(ip_path());
        c.args(["netns", "exec", &self.hosts[n].ns]).arg(program);
        c
    }

    /// Take host `n`'s veth (root end, on the bridge) down or up.
    pub fn set_link(&self, n: usize, up: bool) -> Result<(), String> {
        ip(&["link", "set", &self.hosts[n].veth, if up { "up" } else { "down" }]).map(|_| ())
    }

    /// Operational state of host `n`'s veth (root end): "up", "down", ...
    pub fn link_state(&self, n: usize) -> String {
        fs::read_to_string(format!("/sys/class/net/{}/operstate", self.hosts[n].veth))
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "missing".into())
    }

    fn delete_objects(&self) {
        let mut lines: Vec<String> = self.hosts.iter().map(|h| format!("link del {}", h.veth)).collect();
        lines.push(format!("link del {}", self.bridge));
        lines.extend(self.hosts.iter().map(|h| format!("netns del {}", h.ns)));
        let present: Vec<String> = list_netns().into_iter().chain(list_links()).collect();
        let lines: Vec<String> =
            lines.into_iter().filter(|l| present.iter().any(|p| l.ends_with(&format!(" {p}")))).collect();
        if !lines.is_empty() {
            let _ = ip_batch(&lines, true);
        }
    }

    /// Destroy the root namespace's TCP sockets to the slice, kill what is
    /// left inside our namespaces, delete veths, bridge, namespaces; release
    /// the slice.  Returns what could not be removed (empty = clean).
    /// Idempotent; `Drop` calls it.
    pub fn teardown(&mut self) -> Vec<String> {
        if self.torn_down {
            return Vec::new();
        }
        self.torn_down = true;
        if let Some(ss) = find_tool("ss") {
            let _ = Command::new(ss)
                .args(["-K", "-t", "dst", &self.subnet()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let present = list_netns();
        for h in &self.hosts {
            if present.contains(&h.ns) {
                kill_netns_pids(&h.ns);
            }
        }
        self.delete_objects();
        let left: Vec<String> = {
            let present: Vec<String> = list_netns().into_iter().chain(list_links()).collect();
            self.names().into_iter().filter(|n| present.contains(n)).collect()
        };
        if !left.is_empty() {
            eprintln!("[netns] could not remove: {}", left.join(" "));
        }
        drop(self.lock.take());
        left
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        self.teardown();
    }
}
