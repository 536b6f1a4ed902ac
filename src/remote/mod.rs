//! Pushing files to another host over SSH (the `ssh2` crate, libssh2), the
//! way MHA's node does it with `ssh`/`scp` and the same options string:
//! `mkdir -p` the remote folder, copy, then compare the remote `md5sum`
//! with ours (MHA's `compare_checksum`), up to 3 tries. A Perl node and this
//! one therefore agree on what a good copy is, so fleets can mix them.
//!
//! # Options
//!
//! [`SshOptions::parse`] reads the `ssh` command-line options MHA passes in
//! `--ssh_options` (its `SSH_OPT_ALIVE` plus whatever the manager
//! configuration adds): `-i FILE`, `-o Key=Value` / `-oKey=Value` / `-o Key Value`
//! for `IdentityFile`, `UserKnownHostsFile`, `GlobalKnownHostsFile`,
//! `StrictHostKeyChecking`, `ConnectTimeout`, `ConnectionAttempts`,
//! `ServerAliveInterval`, `ServerAliveCountMax`, `IdentitiesOnly`; everything else (`BatchMode`,
//! `PasswordAuthentication`, …) is accepted and has no effect, since this
//! client never prompts and never uses passwords.
//!
//! # Host keys
//!
//! The server's key is checked against the known-hosts files
//! (`UserKnownHostsFile`, default `~/.ssh/known_hosts` and
//! `~/.ssh/known_hosts2`, plus `/etc/ssh/ssh_known_hosts`), `[host]:port`
//! entries included, by [`host_key_verdict`] (which lines count:
//! [`known_hosts`]; `@cert-authority` lines are ignored, this client does
//! not do host certificates):
//!
//! | the files say | `yes` (default) | `accept-new` | `no` |
//! |---|---|---|---|
//! | the key (a `@revoked` line) | refused | refused | refused |
//! | this key for this host | verified | verified | verified |
//! | another key for this host | refused | refused | accepted, *unverified*, not recorded, said on the log |
//! | nothing of this host | refused | recorded, verified | recorded, *unverified* this time, said on the log |
//!
//! As OpenSSH (ssh_config(5)), `accept-new` and `no` both add a new key to
//! the first `UserKnownHostsFile` ([`known_hosts::record_host_key`]: 0600, appended
//! under `flock`; "Permanently added … to FILE" on the log), so the next
//! connection matches it. `accept-new` trusts a key on first use, as
//! OpenSSH does; a key accepted only because of `no` (new or changed) is
//! *unverified* for the session that accepted it: [`Remote::key_verified`]
//! says so, and a password is never sent to such a host
//! ([`Host::may_receive_secret`]); commands that need none work. MHA's
//! default `SSH_OPT_ALIVE` says `StrictHostKeyChecking=no`.
//!
//! # Authentication
//!
//! Public key only: the `-i`/`IdentityFile` keys, then the ssh-agent (unless
//! `IdentitiesOnly=yes`), then `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`
//! when no identity file was named.
//!
//! # Time
//!
//! Connecting (TCP, handshake, authentication) is bounded by
//! `ConnectTimeout` (default [`DEFAULT_CONNECT_TIMEOUT`]) per step. After
//! that, every remote command is one *step* with a deadline for the whole of
//! it ([`Remote::set_timeout`], default [`DEFAULT_STEP_TIMEOUT`]): a command
//! that keeps printing progress still ends at its deadline. The session is
//! non-blocking ([`io`]): keepalives asking for a reply go out every
//! `ServerAliveInterval` while a step waits, and a server silent for
//! `ServerAliveInterval x ServerAliveCountMax` (+ 1 s) makes the session dead:
//! every step on it fails at once, naming the host.
//!
//! A remote command runs in a process group of its own (sshd makes each
//! session's shell a session leader; the wrapper prints its id first) behind
//! `timeout` (its deadline + 5 s). Without a pty, sshd does *not* end a
//! command when its channel or connection goes (a `sleep` runs on; a
//! command that writes dies of SIGPIPE, or, if it ignores SIGPIPE, fails on
//! EPIPE at its next write: our own binary). So when a step fails (its
//! deadline, a dead session, a local write error) its group is killed over
//! a second channel (SIGTERM, SIGKILL after 2 s); when the host cannot be
//! reached, the remote `timeout` ends it shortly after the deadline.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ssh2::{MethodType, Session};

pub mod host;
mod io;
pub mod known_hosts;
pub use host::Host;
pub use known_hosts::{Verdict, host_key_verdict};

use crate::error::{Error, Result};

/// What to do with a host key that is not known (OpenSSH's `StrictHostKeyChecking`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostKeyPolicy {
    /// Only known keys (`yes`, and the default under `BatchMode`).
    Strict,
    /// Unknown keys accepted, changed keys refused (`accept-new`).
    AcceptNew,
    /// Anything accepted, and logged (`no`/`off`).
    AcceptAny,
}

/// SSH settings from an `ssh` options string.
#[derive(Clone, Debug)]
pub struct SshOptions {
    /// `-i` / `IdentityFile`, in order.
    pub identity_files: Vec<PathBuf>,
    /// `UserKnownHostsFile` (default `~/.ssh/known_hosts`, `~/.ssh/known_hosts2`).
    pub user_known_hosts: Vec<PathBuf>,
    /// `GlobalKnownHostsFile` (default `/etc/ssh/ssh_known_hosts`).
    pub global_known_hosts: Vec<PathBuf>,
    /// `StrictHostKeyChecking`.
    pub host_key_policy: HostKeyPolicy,
    /// `ConnectTimeout` (TCP connect and each SSH step).
    pub connect_timeout: Option<Duration>,
    /// `ConnectionAttempts` (TCP connects, one second apart).
    pub connection_attempts: u32,
    /// `ServerAliveInterval` (keepalives, seconds).
    pub server_alive_interval: Option<u32>,
    /// `ServerAliveCountMax`: keepalives without an answer before the
    /// session counts as dead (default 3, as OpenSSH).
    pub server_alive_count_max: u32,
    /// `IdentitiesOnly=yes`: no agent.
    pub identities_only: bool,
    /// Options seen and ignored (for `--debug`).
    pub ignored: Vec<String>,
}

/// MHA's `$SSH_OPT_ALIVE`, the options used when `--ssh_options` is not given.
pub const MHA_SSH_OPT_ALIVE: &str = "-o ServerAliveInterval=60 -o ServerAliveCountMax=20 -o StrictHostKeyChecking=no -o ConnectionAttempts=5 -o PasswordAuthentication=no -o BatchMode=yes";

fn home() -> PathBuf {
    std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/root"))
}

fn expand(p: &str) -> PathBuf {
    match p.strip_prefix("~/") {
        Some(rest) => home().join(rest),
        None if p == "~" => home(),
        None => PathBuf::from(p),
    }
}

impl Default for SshOptions {
    fn default() -> Self {
        let h = home();
        SshOptions {
            identity_files: Vec::new(),
            user_known_hosts: vec![h.join(".ssh/known_hosts"), h.join(".ssh/known_hosts2")],
            global_known_hosts: vec![PathBuf::from("/etc/ssh/ssh_known_hosts")],
            host_key_policy: HostKeyPolicy::Strict,
            connect_timeout: None,
            connection_attempts: 1,
            server_alive_interval: None,
            server_alive_count_max: 3,
            identities_only: false,
            ignored: Vec::new(),
        }
    }
}

impl SshOptions {
    /// Parses an `ssh` options string (as in MHA's `--ssh_options`).
    pub fn parse(s: &str) -> SshOptions {
        let words = split_words(s);
        let mut o = SshOptions::default();
        let mut i = 0;
        while i < words.len() {
            let w = &words[i];
            i += 1;
            let take = |i: &mut usize| -> Option<String> {
                let v = words.get(*i).cloned();
                *i += 1;
                v
            };
            if let Some(rest) = w.strip_prefix("-o") {
                let kv = if rest.is_empty() { take(&mut i).unwrap_or_default() } else { rest.to_string() };
                let (k, v) = match kv.split_once('=') {
                    Some((k, v)) => (k.trim().to_string(), v.trim().to_string()),
                    None => {
                        // "-o Key Value"
                        let mut parts = kv.splitn(2, char::is_whitespace);
                        (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").trim().to_string())
                    }
                };
                o.set(&k, &v);
            } else if let Some(rest) = w.strip_prefix("-i") {
                let f = if rest.is_empty() { take(&mut i).unwrap_or_default() } else { rest.to_string() };
                o.identity_files.push(expand(&f));
            } else if w == "-p" || w == "-l" || w == "-F" {
                o.ignored.push(format!("{w} {}", take(&mut i).unwrap_or_default()));
            } else {
                o.ignored.push(w.clone());
            }
        }
        o
    }

    fn set(&mut self, key: &str, v: &str) {
        let yes = |v: &str| matches!(v.to_ascii_lowercase().as_str(), "yes" | "true" | "on");
        match key.to_ascii_lowercase().as_str() {
            "identityfile" => self.identity_files.push(expand(v)),
            "userknownhostsfile" => self.user_known_hosts = v.split_whitespace().map(expand).collect(),
            "globalknownhostsfile" => self.global_known_hosts = v.split_whitespace().map(expand).collect(),
            "stricthostkeychecking" => {
                self.host_key_policy = match v.to_ascii_lowercase().as_str() {
                    "no" | "off" | "false" => HostKeyPolicy::AcceptAny,
                    "accept-new" => HostKeyPolicy::AcceptNew,
                    _ => HostKeyPolicy::Strict,
                }
            }
            "connecttimeout" => self.connect_timeout = v.parse().ok().map(Duration::from_secs),
            "connectionattempts" => self.connection_attempts = v.parse().unwrap_or(1).max(1),
            "serveraliveinterval" => self.server_alive_interval = v.parse().ok().filter(|&n| n > 0),
            "serveralivecountmax" => self.server_alive_count_max = v.parse().unwrap_or(3).max(1),
            "identitiesonly" => self.identities_only = yes(v),
            _ => self.ignored.push(format!("{key}={v}")),
        }
    }
}

/// The output of a remote command.
#[derive(Clone, Debug)]
pub struct Output {
    /// Exit status.
    pub status: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// An authenticated SSH session.
pub struct Remote {
    /// Finished channels, freed only with the session: ssh2 frees a dropped
    /// channel without taking the session's lock (rust-lang/ssh2-rs#322), so
    /// a drop racing another thread's read on the same session corrupts the
    /// transport ("transport read"). Declared before `sess`: dropped first.
    done: std::sync::Mutex<Vec<ssh2::Channel>>,
    sess: Session,
    label: String,
    /// The session's socket (a duplicate): waits, `TCP_INFO`, shutdown.
    sock: TcpStream,
    /// The bound of a step in milliseconds (0: none).
    step_ms: std::sync::atomic::AtomicU64,
    /// (`ServerAliveInterval`, `ServerAliveCountMax`), when keepalives are on.
    alive: Option<(u32, u32)>,
    /// Why the session is dead, once it is.
    dead: std::sync::Mutex<Option<String>>,
    /// `None`: the host key was verified; else why not, and the fix.
    unverified: Option<String>,
}

/// `ConnectTimeout` when the options set none.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A step's bound until [`Remote::set_timeout`] says otherwise.
pub const DEFAULT_STEP_TIMEOUT: Duration = Duration::from_secs(600);

impl Drop for Remote {
    fn drop(&mut self) {
        // Non-blocking to the end: freeing the channels and the session
        // never waits on the peer (what cannot be freed at once is leaked).
        let _ = self.sess.disconnect(None, "done", None);
    }
}

/// A step of the ssh session on `label` that failed ([`ErrorKind::Remote`]).
///
/// [`ErrorKind::Remote`]: crate::error::ErrorKind::Remote
fn ssh_err(what: &str, label: &str, e: impl std::fmt::Display) -> Error {
    Error::remote(label, format!("ssh {what}"), e.to_string())
}

/// The connection itself that failed (resolve, TCP, handshake): an
/// [`ErrorKind::Connect`] (a caller may try another way there).
///
/// [`ErrorKind::Connect`]: crate::error::ErrorKind::Connect
fn connect_err(what: &str, label: &str, e: impl std::fmt::Display) -> Error {
    Error::new(crate::error::ErrorKind::Connect(format!("ssh {label}: {what}: {e}")))
}

fn key_type_name(t: ssh2::HostKeyType) -> &'static str {
    match t {
        ssh2::HostKeyType::Rsa => "ssh-rsa",
        ssh2::HostKeyType::Dss => "ssh-dss",
        ssh2::HostKeyType::Ecdsa256 => "ecdsa-sha2-nistp256",
        ssh2::HostKeyType::Ecdsa384 => "ecdsa-sha2-nistp384",
        ssh2::HostKeyType::Ecdsa521 => "ecdsa-sha2-nistp521",
        ssh2::HostKeyType::Ed25519 => "ssh-ed25519",
        ssh2::HostKeyType::Unknown => "unknown",
    }
}

/// Host-key types the known-hosts files hold, most wanted first, so the
/// handshake asks for a key we can check.
fn known_key_types(files: &[PathBuf]) -> Vec<String> {
    let mut out = Vec::new();
    for f in files {
        let Ok(text) = std::fs::read_to_string(f) else { continue };
        for line in text.lines() {
            let mut w = line.split_whitespace();
            let first = w.next().unwrap_or("");
            if first.is_empty() || first.starts_with('#') || first.starts_with('@') {
                continue;
            }
            if let Some(t) = w.next() {
                let t = t.to_string();
                if !out.contains(&t) {
                    out.push(t);
                }
            }
        }
    }
    out
}

impl Remote {
    /// Connects to `user@host:port`, checks the host key and authenticates.
    /// `log` receives what a person should know (an unverified host key).
    ///
    /// # Errors
    /// Connection, host key or authentication failure.
    pub fn connect(user: &str, host: &str, port: u16, opts: &SshOptions, log: &mut dyn FnMut(&str)) -> Result<Remote> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let label = format!("{user}@{bare}:{port}");
        let addrs: Vec<_> =
            (bare, port).to_socket_addrs().map_err(|e| connect_err("cannot resolve host", &label, e))?.collect();
        let mut last_err = None;
        let mut tcp = None;
        let ct = opts.connect_timeout.filter(|t| !t.is_zero()).unwrap_or(DEFAULT_CONNECT_TIMEOUT);
        'attempts: for attempt in 0..opts.connection_attempts {
            if attempt > 0 {
                std::thread::sleep(Duration::from_secs(1));
            }
            for a in &addrs {
                match TcpStream::connect_timeout(a, ct) {
                    Ok(s) => {
                        tcp = Some(s);
                        break 'attempts;
                    }
                    Err(e) => last_err = Some(e),
                }
            }
        }
        let tcp = tcp.ok_or_else(|| {
            connect_err(
                "cannot connect",
                &label,
                last_err.map(|e| e.to_string()).unwrap_or_else(|| "no address".into()),
            )
        })?;
        let sock = tcp.try_clone().map_err(|e| connect_err("socket", &label, e))?;
        let mut sess = Session::new().map_err(|e| connect_err("session", &label, e))?;
        // Handshake and authentication: blocking, each step within ConnectTimeout.
        sess.set_timeout(ct.as_millis().clamp(1, u32::MAX as u128) as u32);
        sess.set_tcp_stream(tcp);
        let files: Vec<PathBuf> = opts.user_known_hosts.iter().chain(&opts.global_known_hosts).cloned().collect();
        let mut prefs = known_key_types(&files);
        if !prefs.is_empty() {
            // Ask for a key type we can check first, then the rest libssh2 supports.
            if let Ok(all) = sess.supported_algs(MethodType::HostKey) {
                prefs.retain(|p| all.contains(&p.as_str()));
                for a in all {
                    if !prefs.iter().any(|p| p == a) {
                        prefs.push(a.to_string());
                    }
                }
                let _ = sess.method_pref(MethodType::HostKey, &prefs.join(","));
            }
        }
        sess.handshake().map_err(|e| connect_err("handshake", &label, e))?;
        let unverified =
            check_host_key(&sess, bare, port, &files, &opts.user_known_hosts, opts.host_key_policy, &label, log)?;
        authenticate(&sess, user, opts, &label)?;
        let alive = opts.server_alive_interval.map(|n| (n, opts.server_alive_count_max.max(1)));
        if let Some((n, _)) = alive {
            // Asking for a reply: the reply is what shows the server is there.
            sess.set_keepalive(true, n);
        }
        sess.set_timeout(0);
        sess.set_blocking(false);
        Ok(Remote {
            done: std::sync::Mutex::new(Vec::new()),
            sess,
            label,
            sock,
            step_ms: std::sync::atomic::AtomicU64::new(DEFAULT_STEP_TIMEOUT.as_millis() as u64),
            alive,
            dead: std::sync::Mutex::new(None),
            unverified,
        })
    }

    /// `user@host:port`.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Whether the host's key was verified: it matched the known-hosts
    /// files, or `StrictHostKeyChecking=accept-new` recorded it (trust on
    /// first use). `false` when only `StrictHostKeyChecking=no` let it in.
    pub fn key_verified(&self) -> bool {
        self.unverified.is_none()
    }

    /// Why the host key is not verified, and how to fix it (`None`: it is).
    pub fn unverified_why(&self) -> Option<&str> {
        self.unverified.as_deref()
    }

    /// Bounds every following step of this session (a remote command, from
    /// its channel's opening to its exit status) *as a whole* by `t`;
    /// zero: unbounded. Default [`DEFAULT_STEP_TIMEOUT`].
    pub fn set_timeout(&self, t: Duration) {
        self.step_ms.store(t.as_millis().min(u64::MAX as u128) as u64, std::sync::atomic::Ordering::Relaxed);
    }

    fn step_bound(&self) -> Option<Duration> {
        match self.step_ms.load(std::sync::atomic::Ordering::Relaxed) {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        }
    }

    fn output(&self, cmd: &str, input: io::Input<'_>, on_line: &mut dyn FnMut(&str)) -> Result<Output> {
        let mut out = Vec::new();
        let r = self.call(cmd, input, &mut out, on_line, None)?;
        Ok(Output { status: r.status, stdout: String::from_utf8_lossy(&out).into_owned(), stderr: r.stderr })
    }

    /// Runs a command through the remote user's shell, within the step bound.
    ///
    /// # Errors
    /// The channel fails, the session dies or the step runs out of time (not
    /// a non-zero exit: see [`Output::status`]).
    pub fn exec(&self, cmd: &str) -> Result<Output> {
        self.output(cmd, io::Input::None, &mut |_| {})
    }

    /// Runs `cmd` with `input` on its standard input, then collects its output.
    ///
    /// # Errors
    /// As [`Remote::exec`].
    pub fn exec_with_bytes(&self, cmd: &str, input: &[u8]) -> Result<Output> {
        self.output(cmd, io::Input::Bytes(input), &mut |_| {})
    }

    /// Runs `cmd` with `input` on its standard input; each line of its
    /// standard error goes to `on_line` as it comes (progress), its standard
    /// output is collected.
    ///
    /// # Errors
    /// As [`Remote::exec`].
    pub fn exec_following(&self, cmd: &str, input: &[u8], on_line: &mut dyn FnMut(&str)) -> Result<Output> {
        self.output(cmd, io::Input::Bytes(input), on_line)
    }

    /// Runs `cmd` and streams its standard output into `out` (a remote file
    /// sent back with `cat`); returns the exit status, the bytes copied and
    /// the standard error.
    ///
    /// # Errors
    /// As [`Remote::exec`], or `out` cannot be written.
    pub fn exec_to(&self, cmd: &str, out: &mut dyn Write) -> Result<(i32, u64, String)> {
        let r = self.call(cmd, io::Input::None, out, &mut |_| {}, None)?;
        Ok((r.status, r.out_bytes, r.stderr))
    }

    /// Streams `local` to the remote command `cmd` on its standard input
    /// (one remote shell: every extra command costs a shell start-up, which
    /// with heavy start-up files takes longer than the copy), then collects
    /// its output.
    ///
    /// # Errors
    /// A local read failure, or as [`Remote::exec`].
    pub fn exec_with_input(&self, cmd: &str, local: &Path) -> Result<Output> {
        self.output(cmd, io::Input::File(local), &mut |_| {})
    }
}

/// A channel handed to [`Remote::done`] when dropped.
struct Kept<'a> {
    ch: Option<ssh2::Channel>,
    done: &'a std::sync::Mutex<Vec<ssh2::Channel>>,
}

impl std::ops::Deref for Kept<'_> {
    type Target = ssh2::Channel;
    fn deref(&self) -> &ssh2::Channel {
        self.ch.as_ref().expect("present until drop")
    }
}

impl std::ops::DerefMut for Kept<'_> {
    fn deref_mut(&mut self) -> &mut ssh2::Channel {
        self.ch.as_mut().expect("present until drop")
    }
}

impl Drop for Kept<'_> {
    fn drop(&mut self) {
        if let Some(ch) = self.ch.take() {
            self.done.lock().unwrap_or_else(|p| p.into_inner()).push(ch);
        }
    }
}

/// Checks the server's key ([`host_key_verdict`]) under `policy`, records
/// a new one under `accept-new`/`no` in the first of `user_files`; returns
/// `None` when the key is verified, else why it is not and the fix.
#[allow(clippy::too_many_arguments)]
fn check_host_key(
    sess: &Session,
    host: &str,
    port: u16,
    files: &[PathBuf],
    user_files: &[PathBuf],
    policy: HostKeyPolicy,
    label: &str,
    log: &mut dyn FnMut(&str),
) -> Result<Option<String>> {
    let (key, ktype) = sess.host_key().ok_or_else(|| ssh_err("host key", label, "server sent none"))?;
    let texts: Vec<(PathBuf, String)> =
        files.iter().filter_map(|f| Some((f.clone(), std::fs::read_to_string(f).ok()?))).collect();
    let what = key_type_name(ktype);
    let files_txt = if texts.is_empty() {
        "no known-hosts file".to_string()
    } else {
        texts.iter().map(|(f, _)| f.display().to_string()).collect::<Vec<_>>().join(", ")
    };
    let first = user_files.first().filter(|f| f.as_os_str() != "none");
    let fix = format!(
        "check its fingerprint, then add its key to known_hosts: ssh-keyscan -p {port} {host} >> {} \
         (or connect with StrictHostKeyChecking=accept-new)",
        first.map(|f| f.display().to_string()).unwrap_or_else(|| "~/.ssh/known_hosts".into())
    );
    let policy_name = match policy {
        HostKeyPolicy::Strict => "yes",
        HostKeyPolicy::AcceptNew => "accept-new",
        HostKeyPolicy::AcceptAny => "no",
    };
    match (host_key_verdict(&texts, host, port, key), policy) {
        (Verdict::Revoked { file, line }, _) => Err(ssh_err(
            "host key verification failed",
            label,
            format!(
                "its {what} key is REVOKED by {} line {line} (@revoked): refused whatever StrictHostKeyChecking says",
                file.display()
            ),
        )),
        (Verdict::Match, _) => Ok(None),
        (Verdict::Mismatch { file, line }, HostKeyPolicy::AcceptAny) => {
            log(&format!(
                "WARNING: {label}: the {what} host key does NOT match {} line {line}; accepted because \
                 StrictHostKeyChecking=no, UNVERIFIED: no password is sent there",
                file.display()
            ));
            Ok(Some(format!(
                "its {what} host key does not match {f} line {line} (accepted only because StrictHostKeyChecking=no); \
                 if the host's key really changed, remove the old one (ssh-keygen -R '{entry}' -f {f}), then {fix}",
                f = file.display(),
                entry = known_hosts::known_hosts_line(host, port, key).split(' ').next().unwrap_or(host),
            )))
        }
        (Verdict::Mismatch { file, line }, _) => Err(ssh_err(
            "host key verification failed",
            label,
            format!("the {what} key differs from {} line {line}", file.display()),
        )),
        (Verdict::Unknown, HostKeyPolicy::Strict) => Err(ssh_err(
            "host key verification failed",
            label,
            format!("no {what} key for this host in {files_txt} (StrictHostKeyChecking=yes); {fix}"),
        )),
        (Verdict::Unknown, p) => {
            // As OpenSSH: accept-new and no both add a new key to the first user file.
            let entry = known_hosts::known_hosts_line(host, port, key);
            let entry = entry.split(' ').next().unwrap_or(host).to_string();
            let recorded = match first.map(|f| (f, known_hosts::record_host_key(f, host, port, key))) {
                Some((f, Ok(_))) => {
                    log(&format!(
                        "Warning: Permanently added {entry} ({what}) to {} (StrictHostKeyChecking={policy_name})",
                        f.display()
                    ));
                    Some(f)
                }
                Some((f, Err(e))) => {
                    log(&format!("WARNING: {label}: could not add its {what} host key to {}: {e}", f.display()));
                    None
                }
                None => None,
            };
            if p == HostKeyPolicy::AcceptNew {
                return Ok(None);
            }
            log(&format!(
                "WARNING: {label}: {what} host key not verified (not in {files_txt}); accepted because \
                 StrictHostKeyChecking=no, UNVERIFIED: no password is sent there"
            ));
            Ok(Some(match recorded {
                Some(f) => format!(
                    "its {what} host key was new and accepted only because StrictHostKeyChecking=no; it is recorded \
                     in {f} now, as OpenSSH does: check its fingerprint (ssh-keygen -lF '{entry}' -f {f}, against \
                     ssh-keygen -lf on the host's own key), remove the line if it differs, then run again \
                     (or use StrictHostKeyChecking=accept-new)",
                    f = f.display()
                ),
                None => format!(
                    "its {what} host key was unknown (not in {files_txt}) and accepted only because \
                     StrictHostKeyChecking=no; {fix}"
                ),
            }))
        }
    }
}

fn authenticate(sess: &Session, user: &str, opts: &SshOptions, label: &str) -> Result<()> {
    let mut tried = Vec::new();
    for f in &opts.identity_files {
        if sess.userauth_pubkey_file(user, None, f, None).is_ok() && sess.authenticated() {
            return Ok(());
        }
        tried.push(f.display().to_string());
    }
    if !opts.identities_only && std::env::var_os("SSH_AUTH_SOCK").is_some() {
        if sess.userauth_agent(user).is_ok() && sess.authenticated() {
            return Ok(());
        }
        tried.push("ssh-agent".into());
    }
    if opts.identity_files.is_empty() {
        for n in ["id_ed25519", "id_ecdsa", "id_rsa"] {
            let f = home().join(".ssh").join(n);
            if f.exists() {
                if sess.userauth_pubkey_file(user, None, &f, None).is_ok() && sess.authenticated() {
                    return Ok(());
                }
                tried.push(f.display().to_string());
            }
        }
    }
    Err(ssh_err(
        "public key authentication failed",
        label,
        if tried.is_empty() { "no key to try".to_string() } else { format!("tried {}", tried.join(", ")) },
    ))
}

/// MD5 of a local file, as `md5sum` prints it (32 lowercase hex digits).
///
/// # Errors
/// The file cannot be read.
pub fn md5_file(path: &Path) -> Result<String> {
    use md5::{Digest, Md5};
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut h = Md5::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// MHA's `generate_and_send` transfer: `mkdir -p` the remote folder, copy
/// `local` to `remote` (via a temporary name and `mv -f`), compare MD5s; up
/// to 3 tries of copy + compare, as `NodeUtil::file_copy`. One remote shell
/// per try (MHA's scp + ssh md5sum start two or more). Each try is bounded
/// by [`push_bound`] of the file's size (MHA's copy had no bound).
///
/// # Errors
/// Connection or `mkdir` failure, or 3 failed tries.
pub fn push_file(
    user: &str,
    host: &str,
    port: u16,
    opts: &SshOptions,
    local: &Path,
    remote: &Path,
    log: &mut dyn FnMut(&str),
) -> Result<()> {
    let size = std::fs::metadata(local).map_err(|e| Error::io(local, e))?.len();
    let r = Remote::connect(user, host, port, opts, log)?;
    r.set_timeout(push_bound(size));
    r.push(local, remote, false, log)
}

/// The bound of one try of a push of `bytes`: two minutes, plus a second
/// per MiB (the copy must average 1 MiB/s; a relay-log diff of 1 GiB may
/// take 19 minutes, a stalled one fails instead of hanging the failover).
pub fn push_bound(bytes: u64) -> Duration {
    Duration::from_secs(120 + bytes / (1 << 20))
}

impl Remote {
    /// Copies `local` to `remote` on this session as [`push_file`] does
    /// (temporary name, rename, MD5 compared, 3 tries); `executable` makes
    /// the copy mode 755 before the rename.
    ///
    /// # Errors
    /// `mkdir` failure or 3 failed tries.
    pub fn push(&self, local: &Path, remote: &Path, executable: bool, log: &mut dyn FnMut(&str)) -> Result<()> {
        let r = self;
        let ours = md5_file(local)?;
        let mut last = None;
        // Through a temporary name and a rename: when this host is the target
        // too (the same path on both sides), the file being read is never
        // truncated under us. mkdir, copy, rename and md5sum run in one remote
        // shell, the file on its standard input.
        let name = remote.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let tmp = remote.with_file_name(format!(".{name}.part.{}", std::process::id()));
        let q = |p: &Path| sh_quote(&p.to_string_lossy());
        let mkdir = match remote.parent().filter(|d| !d.as_os_str().is_empty()) {
            Some(dir) => format!("mkdir -p {} && ", q(dir)),
            None => String::new(),
        };
        let chmod = if executable { format!("chmod 755 {} && ", q(&tmp)) } else { String::new() };
        let cmd = format!("{mkdir}cat > {t} && {chmod}mv -f {t} {f} && md5sum {f}", t = q(&tmp), f = q(remote));
        for _ in 0..3 {
            match r.exec_with_input(&cmd, local) {
                Ok(o) if o.status == 0 => {
                    let theirs: String = o.stdout.chars().take(32).collect();
                    if theirs == ours {
                        return Ok(());
                    }
                    last = Some(format!("md5 mismatch: local {ours}, remote {theirs}"));
                }
                Ok(o) => {
                    let _ = r.exec(&format!("rm -f {}", q(&tmp)));
                    last = Some(format!("exit {}: {}", o.status, o.stderr.trim()));
                }
                Err(e) => last = Some(e.to_string()),
            }
            log("Failed copy or checksum. Retrying..");
        }
        Err(ssh_err("copy failed 3 times", r.label(), last.unwrap_or_default()))
    }
}

/// Quotes a word for a POSIX shell (remote commands we build ourselves).
pub fn sh_quote(s: &str) -> String {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./:=@,+%".contains(&b)) {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Splits an option string (`--ssh_options`) into words as a shell would:
/// whitespace separates, single and double quotes group, `\` escapes.
pub fn split_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut have = false;
    let mut chars = s.chars();
    let mut q: Option<char> = None;
    while let Some(c) = chars.next() {
        match (q, c) {
            (None, c) if c.is_whitespace() => {
                if have {
                    out.push(std::mem::take(&mut cur));
                    have = false;
                }
            }
            (None, '\'' | '"') => {
                q = Some(c);
                have = true;
            }
            (Some(open), c) if c == open => q = None,
            (None, '\\') | (Some('"'), '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
                have = true;
            }
            (_, c) => {
                cur.push(c);
                have = true;
            }
        }
    }
    if have {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mha_options() {
        let o = SshOptions::parse(&format!(
            "{MHA_SSH_OPT_ALIVE} -i /k/id_ed25519 -o UserKnownHostsFile=/k/known_hosts -oIdentitiesOnly=yes"
        ));
        assert_eq!(o.host_key_policy, HostKeyPolicy::AcceptAny);
        assert_eq!(o.connection_attempts, 5);
        assert_eq!((o.server_alive_interval, o.server_alive_count_max), (Some(60), 20));
        assert_eq!(SshOptions::parse("-oServerAliveCountMax=0").server_alive_count_max, 1);
        assert_eq!(SshOptions::default().server_alive_count_max, 3);
        assert_eq!(o.identity_files, [PathBuf::from("/k/id_ed25519")]);
        assert_eq!(o.user_known_hosts, [PathBuf::from("/k/known_hosts")]);
        assert!(o.identities_only);
        assert!(o.ignored.iter().any(|x| x == "BatchMode=yes"));
        assert_eq!(SshOptions::parse("").host_key_policy, HostKeyPolicy::Strict);
        assert_eq!(
            SshOptions::parse("-o 'StrictHostKeyChecking accept-new'").host_key_policy,
            HostKeyPolicy::AcceptNew
        );
    }

    #[test]
    fn a_push_is_bounded_by_its_size() {
        assert_eq!(push_bound(0), Duration::from_secs(120));
        assert_eq!(push_bound(1 << 30), Duration::from_secs(120 + 1024));
    }

    #[test]
    fn words() {
        assert_eq!(
            split_words("-o A=1  -i '/p q/k' -o \"B=2 3\" x\\ y"),
            ["-o", "A=1", "-i", "/p q/k", "-o", "B=2 3", "x y"]
        );
        assert_eq!(sh_quote("/var/tmp/a b"), "'/var/tmp/a b'");
        assert_eq!(sh_quote("/var/tmp/ab"), "/var/tmp/ab");
    }

    #[test]
    fn md5_like_md5sum() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("x");
        std::fs::write(&f, b"100\n").unwrap();
        assert_eq!(md5_file(&f).unwrap(), "919d117956d3135c4c683ff021352f5c"); // echo 100 | md5sum
        let out = std::process::Command::new("md5sum").arg(&f).output();
        if let Ok(o) = out {
            let s = String::from_utf8_lossy(&o.stdout);
            assert_eq!(&s[..32], md5_file(&f).unwrap());
        }
    }
}
