//! A server's host as the phase driver sees it: this machine, or one
//! reached over one persistent, authenticated SSH session (host key checked
//! against known_hosts, key authentication only), reused across phases.
//! Remote work runs our own binary on that host ([`Host::node`]); files come
//! back streamed over the channel ([`Host::fetch`]), their length checked.
//!
//! Every step is bounded: a remote command that does not finish within its
//! timeout is an error naming the host and the step, never a hang.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{Output, Remote, SshOptions, sh_quote};
use crate::error::{Error, Result};

/// Where commands run.
pub enum Host {
    /// This machine.
    Local,
    /// Another machine over SSH.
    Ssh(Remote),
}

/// `ServerAliveInterval` of [`Host::ssh`] sessions when the options set none
/// (with OpenSSH's default `ServerAliveCountMax` of 3: dead after about 46 s).
pub const DEFAULT_ALIVE_INTERVAL: u32 = 15;

/// The version string every binlog-diff prints for `--version`.
pub fn our_version() -> String {
    format!("binlog-diff {}", env!("CARGO_PKG_VERSION"))
}

impl Host {
    /// Connects to `user@host:port` with `opts` (the connection bounded by
    /// `connect_timeout` when `opts` sets no `ConnectTimeout`; keepalives
    /// every [`DEFAULT_ALIVE_INTERVAL`] when it sets no
    /// `ServerAliveInterval`: a failover must notice a vanished host within
    /// a minute, not at a step's deadline); afterwards every step on the
    /// session (a remote command, a fetch, a push) is bounded as a whole by
    /// `step_timeout`.
    ///
    /// # Errors
    /// Connection, host key or authentication failure.
    pub fn ssh(
        user: &str,
        host: &str,
        port: u16,
        opts: &SshOptions,
        connect_timeout: Duration,
        step_timeout: Duration,
        log: &mut dyn FnMut(&str),
    ) -> Result<Host> {
        let mut o = opts.clone();
        o.connect_timeout.get_or_insert(connect_timeout);
        o.server_alive_interval.get_or_insert(DEFAULT_ALIVE_INTERVAL);
        let r = Remote::connect(user, host, port, &o, log)?;
        r.set_timeout(step_timeout);
        Ok(Host::Ssh(r))
    }

    /// `local` or `user@host:port`.
    pub fn label(&self) -> String {
        match self {
            Host::Local => "this host".into(),
            Host::Ssh(r) => r.label().to_string(),
        }
    }

    /// Whether this host's SSH key was verified (this machine: yes); see
    /// [`Remote::key_verified`].
    pub fn key_verified(&self) -> bool {
        match self {
            Host::Local => true,
            Host::Ssh(r) => r.key_verified(),
        }
    }

    /// Call before `step` writes a secret (a MySQL password: in a node
    /// request, on a command's standard input) to this host: a host whose
    /// SSH key was not verified (accepted only because of
    /// `StrictHostKeyChecking=no`) may be someone else, and never gets one.
    /// Commands without a secret still run there.
    ///
    /// # Errors
    /// [`ErrorKind::Refused`](crate::error::ErrorKind::Refused) naming the
    /// host, the step, why its key is not verified and the fix; nothing was
    /// sent.
    pub fn may_receive_secret(&self, step: &str) -> Result<()> {
        match self {
            Host::Ssh(r) if !r.key_verified() => Err(Error::refused(format!(
                "{step} on {}: refused to send the MySQL password there: {}",
                r.label(),
                r.unverified_why().unwrap_or("its host key is not verified")
            ))),
            _ => Ok(()),
        }
    }

    /// Runs `argv` (each word quoted for the remote shell) with `input` on
    /// its standard input, within `timeout` for the whole of it (over ssh as
    /// on this host). `step` names the step in errors.
    ///
    /// # Errors
    /// The command cannot be started, the channel fails, the session dies,
    /// or it runs out of time: then it is killed, with its process group
    /// (over ssh: see [`crate::remote`]'s "Time"). A non-zero exit is not an
    /// error: see [`Output::status`].
    pub fn run(&self, step: &str, argv: &[String], input: &[u8], timeout: Duration) -> Result<Output> {
        self.run_following(step, argv, input, timeout, &mut |_| {})
    }

    /// As [`Host::run`], giving each line of the command's standard error to
    /// `on_line` as it comes (over ssh; on this machine, once it is done).
    ///
    /// # Errors
    /// As [`Host::run`].
    pub fn run_following(
        &self,
        step: &str,
        argv: &[String],
        input: &[u8],
        timeout: Duration,
        on_line: &mut dyn FnMut(&str),
    ) -> Result<Output> {
        match self {
            Host::Ssh(r) => {
                let cmd = argv.iter().map(|a| sh_quote(a)).collect::<Vec<_>>().join(" ");
                let mut out = Vec::new();
                r.call(&cmd, super::io::Input::Bytes(input), &mut out, on_line, Some(timeout))
                    .map(|x| Output {
                        status: x.status,
                        stdout: String::from_utf8_lossy(&out).into_owned(),
                        stderr: x.stderr,
                    })
                    .map_err(|e| e.with_subject(format!("{step} on {}", r.label())))
            }
            Host::Local => {
                let o = run_local(step, argv, input, timeout)?;
                o.stderr.lines().for_each(&mut *on_line);
                Ok(o)
            }
        }
    }

    /// Brings `remote` (a file on this host) to `local_dir`, returning the
    /// path to use: the file itself when the host is this machine; else a
    /// copy streamed over the channel (authenticated by SSH, its length
    /// checked) into a new mode-0600 temporary file (unique name), fsynced,
    /// renamed into place, the folder fsynced.
    ///
    /// # Errors
    /// The remote file cannot be read, the copy fails or differs, or the
    /// time runs out.
    pub fn fetch(&self, remote: &Path, local_dir: &Path) -> Result<PathBuf> {
        let r = match self {
            Host::Local => return Ok(remote.to_path_buf()),
            Host::Ssh(r) => r,
        };
        let name =
            remote.file_name().ok_or_else(|| Error::bad_input(format!("fetch {}", remote.display()), "not a file"))?;
        let dest = local_dir.join(name);
        let (tmp, mut f) = temp_file(&dest).map_err(|e| Error::io(&dest, e))?;
        let q = sh_quote(&remote.to_string_lossy());
        let what = format!("fetch {}", remote.display());
        let step = |why: String| Error::remote(r.label(), &what, why);
        let res = (|| {
            // One remote shell: the size on stderr, the bytes on stdout. SSH's
            // MAC authenticates every byte on the way; the size catches a cut
            // stream; the applier then checks every event (structure, CRC32)
            // before it applies anything. (An MD5 on both sides cost a core-second
            // per 300 MB and proved nothing more.)
            let cmd = format!("stat -c %s -- {q} >&2 && cat -- {q}");
            let (status, bytes, stderr) =
                r.exec_to(&cmd, &mut f).map_err(|e| e.with_subject(format!("{what} from {}", r.label())))?;
            if status != 0 {
                return Err(step(format!("exit {status}: {}", stderr.trim())));
            }
            let size: Option<u64> = stderr.trim().parse().ok();
            if size != Some(bytes) {
                return Err(step(format!("received {bytes} bytes of {:?}", stderr.trim())));
            }
            f.sync_all().map_err(|e| Error::io(&tmp, e))?;
            std::fs::rename(&tmp, &dest).map_err(|e| Error::io(&dest, e))
        })();
        if let Err(e) = res {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        std::fs::File::open(local_dir).and_then(|d| d.sync_all()).map_err(|e| Error::io(local_dir, e))?;
        Ok(dest)
    }

    /// Our binary on this host: `path` as given, or (with `push`) a copy of
    /// the running binary pushed to `push_dir`. Its version must equal ours.
    ///
    /// # Errors
    /// The push fails, the binary does not run there, or its version differs.
    pub fn node(&self, path: &str, push: Option<&Path>, timeout: Duration) -> Result<String> {
        let bin = match (self, push) {
            (Host::Ssh(r), Some(dir)) => {
                let me = std::env::current_exe()
                    .map_err(|e| Error::from(std::io::Error::new(e.kind(), format!("our own binary: {e}"))))?;
                let dest = dir.join("binlog-diff");
                r.push(&me, &dest, true, &mut |_| {})
                    .map_err(|e| e.with_subject(format!("push binary to {}", r.label())))?;
                dest.to_string_lossy().into_owned()
            }
            (Host::Local, _) => match std::env::current_exe() {
                Ok(me) if path == "binlog-diff" => me.to_string_lossy().into_owned(),
                _ => path.to_string(),
            },
            _ => path.to_string(),
        };
        let o = self.run("version check", &[bin.clone(), "--version".into()], b"", timeout)?;
        let theirs = o.stdout.trim();
        if o.status != 0 || theirs != our_version() {
            return Err(Error::remote(
                self.label(),
                "version check",
                format!(
                    "{bin} --version says {:?} (exit {}{}), this driver is {:?}: install the same binlog-diff there, \
                     or pass --push-binary",
                    theirs,
                    o.status,
                    if o.stderr.trim().is_empty() { String::new() } else { format!(": {}", o.stderr.trim()) },
                    our_version()
                ),
            ));
        }
        Ok(bin)
    }
}

/// A new, empty, mode-0600 file with a unique hidden name beside `dest`
/// (`.NAME.part.PID.N`, `O_EXCL`): two fetches of one name never share it.
fn temp_file(dest: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    use std::os::unix::fs::OpenOptionsExt;
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    loop {
        let tmp = dest.with_file_name(format!(
            ".{name}.part.{}.{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

fn run_local(step: &str, argv: &[String], input: &[u8], timeout: Duration) -> Result<Output> {
    run_local_group(step, argv, input, timeout).map(|r| r.output)
}

/// How long the output of a command that has exited is still read: what
/// it wrote is in the pipes already (at most a pipe's capacity each), so
/// this only ever runs out when a background child of it holds them.
pub const OUTPUT_GRACE: Duration = Duration::from_secs(2);

/// Between SIGTERM and SIGKILL to a timed-out command's process group.
pub const KILL_GRACE: Duration = Duration::from_secs(2);

/// A local command that ran ([`run_local_group`]).
#[derive(Debug)]
pub struct LocalRun {
    /// What it printed and how it exited (killed by a signal: 128 + the signal).
    pub output: Output,
    /// Its process group (its pid).
    pub pgid: u32,
    /// Processes of its group still running after it exited (background
    /// children it left; not killed).
    pub left: Vec<u32>,
}

/// Runs `argv` on this machine in a process group of its own, with `input`
/// on its standard input, within `timeout`. `step` names it in errors.
///
/// The rule: the command has finished when its *main* process has exited.
/// Its output is then read for at most [`OUTPUT_GRACE`] more (a background
/// child still holding the pipes neither blocks us nor is waited for: what
/// it writes later is read and dropped). Processes left in its group are
/// returned in [`LocalRun::left`] and left running: the command exited by
/// itself, they are its own doing (`cmd &`, `ssh -f`). When the main process
/// is still running at `timeout`, the whole group gets SIGTERM, then after
/// [`KILL_GRACE`] SIGKILL; the error says what was killed. (A child that
/// moved to another group or session, `setsid`, is out of reach.)
///
/// # Errors
/// The command cannot be started, or it runs out of time. A non-zero exit
/// is not an error: see [`Output::status`].
pub fn run_local_group(step: &str, argv: &[String], input: &[u8], timeout: Duration) -> Result<LocalRun> {
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    let err = |e: std::io::Error| {
        let prog = argv.first().map(String::as_str).unwrap_or("");
        Error::from(std::io::Error::new(e.kind(), format!("{step}: {prog}: {e}")))
    };
    let (prog, args) = argv.split_first().ok_or_else(|| Error::invalid(format!("{step}: empty command")))?;
    let mut child = Command::new(prog)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(err)?;
    let pgid = child.id();
    // Never joined: a background child holding the pipe could block it.
    if let Some(mut stdin) = child.stdin.take() {
        let input = input.to_vec();
        std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
    }
    let out = Capture::start(child.stdout.take());
    let errs = Capture::start(child.stderr.take());
    let t0 = Instant::now();
    loop {
        // Not reaped yet: while its zombie is there, the group id stays ours.
        if exited(pgid).map_err(err)? {
            break;
        }
        if t0.elapsed() >= timeout {
            let killed = kill_group(pgid);
            let _ = child.wait();
            let said = errs.take(Instant::now() + Duration::from_millis(200));
            let said = said.trim().lines().last().map(|l| format!("; it last said: {l}")).unwrap_or_default();
            // On this machine: no host, the step first.
            return Err(Error::timeout("", step, format!("did not finish within {timeout:?}: {killed}{said}")));
        }
        std::thread::sleep(Duration::from_millis(10).min(timeout.saturating_sub(t0.elapsed())));
    }
    let until = Instant::now() + OUTPUT_GRACE;
    let stdout = out.take(until);
    let stderr = errs.take(until);
    let left: Vec<u32> = group_members(pgid).unwrap_or_default().into_iter().filter(|&p| p != pgid).collect();
    let status = child.wait().map_err(err)?;
    let status = status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
    Ok(LocalRun { output: Output { status, stdout, stderr }, pgid, left })
}

/// True once process `pid` (our child) has exited; it is not reaped.
fn exited(pid: u32) -> std::io::Result<bool> {
    // SAFETY: a zeroed siginfo_t is valid; waitid fills it or leaves si_pid 0.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
    // SAFETY: plain syscall on our own child, `info` outlives it.
    if unsafe { libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, flags) } != 0 {
        let e = std::io::Error::last_os_error();
        return if e.kind() == std::io::ErrorKind::Interrupted { Ok(false) } else { Err(e) };
    }
    // SAFETY: filled by waitid for SIGCHLD-style info.
    Ok(unsafe { info.si_pid() } != 0)
}

/// The live (not zombie) processes of process group `pgid`, from /proc;
/// `None` when /proc cannot be read.
pub fn group_members(pgid: u32) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else { continue };
        // "pid (comm) state ppid pgrp ...": comm may hold anything, ')' included.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else { continue };
        let f: Vec<&str> = rest.split_whitespace().take(3).collect();
        if f.len() == 3 && f[0] != "Z" && f[2].parse() == Ok(pgid) {
            out.push(pid);
        }
    }
    Some(out)
}

fn group_alive(pgid: u32) -> bool {
    match group_members(pgid) {
        Some(m) => !m.is_empty(),
        // SAFETY: signal 0 only checks.
        None => (unsafe { libc::kill(-(pgid as libc::pid_t), 0) }) == 0,
    }
}

fn wait_group_gone(pgid: u32, within: Duration) -> bool {
    let t0 = Instant::now();
    while group_alive(pgid) {
        if t0.elapsed() >= within {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

fn pids(p: &[u32]) -> String {
    p.iter().map(u32::to_string).collect::<Vec<_>>().join(" ")
}

/// SIGTERM to the whole group, SIGKILL after [`KILL_GRACE`]; says what it did.
fn kill_group(pgid: u32) -> String {
    let before = group_members(pgid).map(|m| format!(" (pids {})", pids(&m))).unwrap_or_default();
    let group = -(pgid as libc::pid_t);
    // SAFETY: signals to a process group we created (its leader not reaped).
    unsafe { libc::kill(group, libc::SIGTERM) };
    if wait_group_gone(pgid, KILL_GRACE) {
        return format!("killed its process group {pgid}{before} with SIGTERM");
    }
    // SAFETY: as above.
    unsafe { libc::kill(group, libc::SIGKILL) };
    let still = if wait_group_gone(pgid, KILL_GRACE) {
        String::new()
    } else {
        format!("; still there: {}", pids(&group_members(pgid).unwrap_or_default()))
    };
    format!("killed its process group {pgid}{before} with SIGTERM, then SIGKILL after {KILL_GRACE:?}{still}")
}

/// A pipe read to its end by a thread; taken with a deadline.
struct Capture {
    buf: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    dropped: std::sync::Arc<std::sync::atomic::AtomicBool>,
    done: std::sync::mpsc::Receiver<()>,
}

impl Capture {
    fn start(r: Option<impl Read + Send + 'static>) -> Capture {
        use std::sync::atomic::Ordering;
        let buf = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let dropped = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (tx, done) = std::sync::mpsc::channel();
        let (b, d) = (buf.clone(), dropped.clone());
        std::thread::spawn(move || {
            if let Some(mut r) = r {
                let mut chunk = [0u8; 8192];
                loop {
                    match r.read(&mut chunk) {
                        Ok(0) => break,
                        Ok(n) if !d.load(Ordering::Relaxed) => {
                            b.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(&chunk[..n])
                        }
                        Ok(_) => {} // taken already: read and dropped
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(_) => break,
                    }
                }
            }
            let _ = tx.send(());
        });
        Capture { buf, dropped, done }
    }

    /// What was read by `until` (all of it, if the pipe ended by then).
    fn take(self, until: Instant) -> String {
        let _ = self.done.recv_timeout(until.saturating_duration_since(Instant::now()));
        self.dropped.store(true, std::sync::atomic::Ordering::Relaxed);
        let b = self.buf.lock().unwrap_or_else(|p| p.into_inner());
        String::from_utf8_lossy(&b).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_run_feeds_stdin_and_bounds_time() {
        let h = Host::Local;
        let o = h.run("t", &["cat".into()], b"hello", Duration::from_secs(10)).unwrap();
        assert_eq!((o.status, o.stdout.as_str()), (0, "hello"));
        let e = h.run("sleepy step", &["sleep".into(), "5".into()], b"", Duration::from_millis(200)).unwrap_err();
        assert!(e.to_string().contains("sleepy step") && e.to_string().contains("killed"), "{e}");
        assert!(matches!(e.kind(), crate::error::ErrorKind::Timeout { step, .. } if step == "sleepy step"), "{e}");
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("x");
        std::fs::write(&f, b"1").unwrap();
        assert_eq!(h.fetch(&f, Path::new("/nonexistent")).unwrap(), f);
    }
}
