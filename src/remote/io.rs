//! Remote commands on a non-blocking session: one loop that feeds a
//! command's standard input and reads its standard output and error as they
//! come, bounded by the step's deadline, sending keepalives and watching
//! that the server still answers, and that kills the command's process
//! group over a second channel when the step fails.
//!
//! The session is non-blocking once authenticated: every libssh2 call
//! returns at once ("would block" when it cannot go on), holding the
//! session's lock only that long, so threads sharing the session take turns
//! and none waits inside libssh2. Between tries a thread waits on the socket
//! itself for at most [`SLICE`].
//!
//! Liveness: with `ServerAliveInterval` set, a keepalive asking for a reply
//! is sent every interval while a step waits (libssh2 sends one every 2 s
//! at most), only when the socket has room (a keepalive sent in part would
//! block every later packet: libssh2 only finishes a packet for the call
//! that started it). The kernel says when a byte last came in
//! (`TCP_INFO`'s `tcpi_last_data_recv`); when nothing came for
//! `interval × ServerAliveCountMax` + 1 s during a step, the session is dead:
//! that step and every other one on it fail at once, naming the host.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

use ssh2::{BlockDirections, ErrorCode};

use super::{Kept, Output, Remote, sh_quote, ssh_err};
use crate::error::{Error, ErrorKind, Result};

/// `e` with `note` (what became of the remote command) after what it says,
/// its kind kept: a step of `label`'s that failed or ran out of time.
fn noted(e: Error, note: &str, label: &str) -> Error {
    let at = e.location().clone();
    let e = match e.kind() {
        ErrorKind::Remote { host, step, why } => Error::remote(host, step, format!("{why}; {note}")),
        ErrorKind::Timeout { host, step, why } => Error::timeout(host, step, format!("{why}; {note}")),
        _ => return Error::remote(label, "ssh command", format!("{e}; {note}")),
    };
    e.with_location(at)
}

/// The longest a waiting thread sleeps before it tries again (another
/// thread may have read its data off the socket meanwhile).
pub(super) const SLICE: Duration = Duration::from_millis(50);

/// Added to `interval × count` before a silent server counts as gone.
const ALIVE_SLACK: Duration = Duration::from_secs(1);

/// What the remote command reads on its standard input.
pub(super) enum Input<'a> {
    None,
    Bytes(&'a [u8]),
    File(&'a Path),
}

/// How a remote command ended.
pub(super) struct Ran {
    pub status: i32,
    pub out_bytes: u64,
    pub stderr: String,
}

/// One step on the session: when it started and by when it must be done.
pub(super) struct Step {
    start: Instant,
    deadline: Option<Instant>,
    bound: Option<Duration>,
    spins: u32,
}

impl Step {
    pub(super) fn new(bound: Option<Duration>) -> Step {
        let start = Instant::now();
        Step { start, deadline: bound.map(|b| start + b), bound, spins: 0 }
    }
}

/// libssh2's `LIBSSH2_ERROR_EAGAIN`.
const EAGAIN: i32 = -37;

fn would_block(e: &ssh2::Error) -> bool {
    e.code() == ErrorCode::Session(EAGAIN)
}

/// Milliseconds since the kernel last received data on `sock`.
fn silent_for(sock: &TcpStream) -> Option<Duration> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: a zeroed tcp_info is valid; getsockopt writes at most `len` bytes.
        let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
        // SAFETY: a live socket, a buffer of `len` bytes.
        let r = unsafe {
            libc::getsockopt(
                sock.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_INFO,
                (&mut info as *mut libc::tcp_info).cast(),
                &mut len,
            )
        };
        if r == 0 {
            return Some(Duration::from_millis(info.tcpi_last_data_recv as u64));
        }
        None
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = sock;
        None
    }
}

/// Waits up to `t` for `events` on `sock`; true when ready.
fn poll(sock: &TcpStream, events: libc::c_short, t: Duration) -> bool {
    let mut p = libc::pollfd { fd: sock.as_raw_fd(), events, revents: 0 };
    // SAFETY: one pollfd, valid for the call.
    let r = unsafe { libc::poll(&mut p, 1, t.as_millis().min(i32::MAX as u128) as libc::c_int) };
    r > 0
}

impl Remote {
    /// Why the session is dead, if it is.
    pub(super) fn dead(&self) -> Option<String> {
        self.dead.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn mark_dead(&self, why: String) {
        let mut d = self.dead.lock().unwrap_or_else(|p| p.into_inner());
        if d.is_none() {
            *d = Some(why);
            // Every later call on the socket fails at once.
            let _ = self.sock.shutdown(std::net::Shutdown::Both);
        }
    }

    /// Fails when the session is dead or the step's time is up.
    fn check(&self, st: &Step, what: &str) -> Result<()> {
        if let Some(why) = self.dead() {
            return Err(ssh_err(what, &self.label, format!("the session is dead ({why})")));
        }
        if let (Some(d), Some(b)) = (st.deadline, st.bound) {
            if Instant::now() >= d {
                return Err(Error::timeout(
                    &self.label,
                    format!("at the ssh {what}"),
                    format!("step deadline: not done within {b:?}"),
                ));
            }
        }
        Ok(())
    }

    /// After a call said "would block": a keepalive when due, the liveness
    /// check, then a wait on the socket (at most [`SLICE`], never past the
    /// deadline).
    fn wait(&self, st: &mut Step, what: &str) -> Result<()> {
        self.check(st, what)?;
        if let Some((interval, count)) = self.alive {
            // Only with room in the socket: never a keepalive sent in part.
            if poll(&self.sock, libc::POLLOUT, Duration::ZERO) {
                let _ = self.sess.keepalive_send();
            }
            let limit = Duration::from_secs(u64::from(interval) * u64::from(count.max(1))) + ALIVE_SLACK;
            if let Some(silent) = silent_for(&self.sock) {
                let silent = silent.min(st.start.elapsed());
                if silent > limit {
                    let why = format!(
                        "no answer from the server for {:.1}s (ServerAliveInterval {interval}s x ServerAliveCountMax \
                         {count}): the connection is dead",
                        silent.as_secs_f64()
                    );
                    self.mark_dead(why.clone());
                    return Err(ssh_err(what, &self.label, why));
                }
            }
        }
        let mut events = match self.sess.block_directions() {
            BlockDirections::Inbound => libc::POLLIN,
            BlockDirections::Outbound => libc::POLLOUT,
            BlockDirections::Both => libc::POLLIN | libc::POLLOUT,
            BlockDirections::None => 0,
        };
        let mut t = SLICE;
        if let Some(d) = st.deadline {
            t = t.min(d.saturating_duration_since(Instant::now()));
        }
        if events == 0 {
            events = libc::POLLIN;
        }
        if poll(&self.sock, events, t) {
            // Ready at once, over and over, and no progress: do not spin.
            st.spins += 1;
            if st.spins > 100 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        Ok(())
    }

    /// `f` until it does not "would block".
    fn retry<T>(
        &self,
        st: &mut Step,
        what: &str,
        mut f: impl FnMut() -> std::result::Result<T, ssh2::Error>,
    ) -> Result<T> {
        loop {
            self.check(st, what)?;
            match f() {
                Ok(v) => return Ok(v),
                Err(e) if would_block(&e) => self.wait(st, what)?,
                Err(e) => return Err(ssh_err(what, &self.label, e)),
            }
        }
    }

    /// Opens a channel that is kept, not freed, when dropped (see `done`).
    fn open(&self, st: &mut Step) -> Result<Kept<'_>> {
        let ch = self.retry(st, "channel", || self.sess.channel_session())?;
        Ok(Kept { ch: Some(ch), done: &self.done })
    }

    /// Runs `cmd` through the remote user's shell within `bound` (`None`:
    /// the session's step bound): `input` on its standard input, its standard
    /// output into `out`, each line of its standard error to `on_line` as it
    /// comes. The command runs in its own process group (sshd makes every
    /// session's shell a session leader) behind `timeout`, so it ends by
    /// itself shortly after the deadline even when we cannot reach it then;
    /// when the step fails (deadline, dead session, `out` failing) the group
    /// is killed over a second channel.
    ///
    /// # Errors
    /// The channel fails, the step runs out of time, the session dies, or
    /// `out` cannot be written (not a non-zero exit).
    pub(super) fn call(
        &self,
        cmd: &str,
        input: Input<'_>,
        out: &mut dyn Write,
        on_line: &mut dyn FnMut(&str),
        bound: Option<Duration>,
    ) -> Result<Ran> {
        let mut st = Step::new(bound.or(self.step_bound()));
        let mut ch = self.open(&mut st)?;
        let wrapped = wrapped(cmd, st.bound);
        self.retry(&mut st, "exec", || ch.exec(&wrapped))?;
        let mut pgid = None;
        match self.pump(&mut ch, &mut st, input, out, on_line, &mut pgid) {
            Ok(r) => Ok(r),
            Err(e) => {
                let what = match (self.dead(), pgid) {
                    (None, Some(p)) => self.kill_group(p),
                    (Some(_), Some(p)) => format!(
                        "its process group {p} there cannot be reached now; it is ended by its own bound (timeout) there"
                    ),
                    (_, None) => "it had not said its process group yet".to_string(),
                };
                let _ = ch.close(); // once: not waited for
                Err(noted(e, &what, &self.label))
            }
        }
    }

    fn pump(
        &self,
        ch: &mut Kept<'_>,
        st: &mut Step,
        input: Input<'_>,
        out: &mut dyn Write,
        on_line: &mut dyn FnMut(&str),
        pgid: &mut Option<u32>,
    ) -> Result<Ran> {
        let mut feed = Feed::new(input)?;
        let (mut out_eof, mut err_eof) = (false, false);
        let mut buf = vec![0u8; 1 << 20];
        let mut ebuf = vec![0u8; 64 << 10];
        let mut err = ErrLines { line: Vec::new(), text: String::new(), pgid, on_line };
        let mut out_bytes = 0u64;
        // Non-blocking: each turn moves what it can of standard input,
        // output and error; a turn that moved nothing waits a little.
        while !(out_eof && err_eof) {
            self.check(st, "run")?;
            let mut progress = feed.turn(ch)?;
            if !out_eof {
                match ch.read(&mut buf) {
                    Ok(0) => out_eof = true,
                    Ok(n) => {
                        out.write_all(&buf[..n]).map_err(|e| {
                            Error::from(std::io::Error::new(e.kind(), format!("writing what {} sent: {e}", self.label)))
                        })?;
                        out_bytes += n as u64;
                        progress = true;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(ssh_err("read", &self.label, e)),
                }
            }
            if !err_eof {
                match ch.stderr().read(&mut ebuf) {
                    Ok(0) => err_eof = true,
                    Ok(n) => {
                        err.take(&ebuf[..n]);
                        progress = true;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(ssh_err("read", &self.label, e)),
                }
            }
            if progress {
                st.spins = 0;
            } else if !(out_eof && err_eof) {
                self.wait(st, "run")?;
            }
        }
        let mut stderr = err.finish();
        let status = self.exit_status(ch, st, &mut stderr)?;
        Ok(Ran { status, out_bytes, stderr })
    }

    /// The command's exit status once its channel closed; killed by a
    /// signal is 128 + N, never a success, and said on `stderr`.
    fn exit_status(&self, ch: &mut Kept<'_>, st: &mut Step, stderr: &mut String) -> Result<i32> {
        self.retry(st, "close", || ch.wait_close())?;
        let mut status = ch.exit_status().map_err(|e| ssh_err("exit status", &self.label, e))?;
        if let Ok(sig) = ch.exit_signal() {
            if let Some(name) = sig.exit_signal {
                status = 128 + signal_number(&name);
                stderr.push_str(&format!("(killed by signal SIG{name})"));
            }
        }
        let _ = self.retry(st, "close", || ch.close());
        Ok(status)
    }

    /// SIGTERM to process group `pgid` on the remote host, SIGKILL 2 s
    /// later if it is still there; over a new channel, within 10 s. Says
    /// what happened.
    fn kill_group(&self, pgid: u32) -> String {
        let cmd = format!(
            "kill -TERM -- -{pgid} 2>/dev/null || {{ echo gone; exit 0; }}; i=0; while [ $i -lt 20 ]; do \
             kill -0 -- -{pgid} 2>/dev/null || {{ echo term; exit 0; }}; sleep 0.1; i=$((i+1)); done; \
             kill -KILL -- -{pgid} 2>/dev/null; echo kill"
        );
        let mut st = Step::new(Some(Duration::from_secs(10)));
        let r = (|| -> Result<Output> {
            let mut ch = self.open(&mut st)?;
            self.retry(&mut st, "exec", || ch.exec(&cmd))?;
            let mut out = Vec::new();
            let mut none = None;
            let r = self.pump(&mut ch, &mut st, Input::None, &mut out, &mut |_| {}, &mut none)?;
            Ok(Output { status: r.status, stdout: String::from_utf8_lossy(&out).into_owned(), stderr: r.stderr })
        })();
        match r.as_ref().map(|o| o.stdout.trim()) {
            Ok("gone") => format!("its process group {pgid} there had ended"),
            Ok("term") => format!("its process group {pgid} there was killed (SIGTERM)"),
            Ok("kill") => format!("its process group {pgid} there was killed (SIGTERM, then SIGKILL)"),
            Ok(other) => format!("killing its process group {pgid} there said {other:?}"),
            Err(e) => {
                format!("its process group {pgid} there could not be killed ({e}); it is ended by its own bound there")
            }
        }
    }
}

/// A command's standard input, fed without blocking: the bytes given, or
/// the file read a MiB at a time, then EOF.
struct Feed<'i> {
    file: Option<(std::fs::File, &'i Path)>,
    pending: Vec<u8>,
    at: usize,
    input_done: bool,
    eof_sent: bool,
}

impl<'i> Feed<'i> {
    fn new(input: Input<'i>) -> Result<Feed<'i>> {
        let (file, pending) = match input {
            Input::File(p) => (Some((std::fs::File::open(p).map_err(|e| Error::io(p, e))?, p)), Vec::new()),
            Input::Bytes(b) => (None, b.to_vec()),
            Input::None => (None, Vec::new()),
        };
        Ok(Feed { input_done: file.is_none(), file, pending, at: 0, eof_sent: false })
    }

    /// Writes what the channel takes now; true when something moved.
    fn turn(&mut self, ch: &mut Kept<'_>) -> Result<bool> {
        if self.eof_sent {
            return Ok(false);
        }
        let mut progress = false;
        if self.at == self.pending.len() && !self.input_done {
            let (f, p) = self.file.as_mut().expect("a file while input is not done");
            self.pending.resize(1 << 20, 0);
            let n = f.read(&mut self.pending).map_err(|e| Error::io(p, e))?;
            self.pending.truncate(n);
            self.at = 0;
            self.input_done = n == 0;
        }
        if self.at < self.pending.len() {
            match ch.write(&self.pending[self.at..]) {
                Ok(n) => {
                    self.at += n;
                    progress = n > 0;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                // The command closed its input (it exited early): its status says why.
                Err(_) => {
                    self.at = self.pending.len();
                    self.input_done = true;
                }
            }
        }
        if self.at == self.pending.len() && self.input_done {
            match ch.send_eof() {
                Err(e) if would_block(&e) => {}
                _ => self.eof_sent = true,
            }
        }
        Ok(progress)
    }
}

/// A command's standard error, line by line: the wrapper's first line
/// gives the process group; every other line goes to `on_line` and is kept.
struct ErrLines<'a> {
    line: Vec<u8>,
    text: String,
    pgid: &'a mut Option<u32>,
    on_line: &'a mut dyn FnMut(&str),
}

impl ErrLines<'_> {
    fn take(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if b == b'\n' {
                let l = std::mem::take(&mut self.line);
                self.one(&l, true);
            } else {
                self.line.push(b);
            }
        }
    }

    fn one(&mut self, l: &[u8], newline: bool) {
        let l = String::from_utf8_lossy(l);
        if self.pgid.is_none() {
            if let Some(p) = l.strip_prefix(PGID_MARK).and_then(|p| p.trim().parse().ok()) {
                *self.pgid = Some(p);
                return;
            }
        }
        (self.on_line)(&l);
        self.text.push_str(&l);
        if newline {
            self.text.push('\n');
        }
    }

    /// What was said, the last line too when it had no newline.
    fn finish(mut self) -> String {
        if !self.line.is_empty() {
            let l = std::mem::take(&mut self.line);
            self.one(&l, false);
        }
        self.text
    }
}

/// The first line the remote wrapper prints on standard error.
const PGID_MARK: &str = "binlog-diff-pgid ";

/// `cmd` as run remotely: first its process group on standard error (the
/// login shell's pid: sshd makes it a session and group leader), a umask
/// of 077 (what we write there, diffs and tails, holds rows: 0600 files,
/// 0700 folders, whatever the remote account's default), then the command
/// itself, behind `timeout` when the step has a bound (ours, plus 5
/// s: the remote end's own bound, for when the driver cannot reach it).
fn wrapped(cmd: &str, bound: Option<Duration>) -> String {
    let q = sh_quote(cmd);
    let mark = format!("printf '{PGID_MARK}%s\\n' \"$$\" >&2; umask 077; ");
    match bound {
        Some(b) => {
            let secs = b.as_secs() + 5;
            format!(
                "{mark}if command -v timeout >/dev/null 2>&1; then exec timeout -k 5 {secs} sh -c {q}; fi; exec sh -c {q}"
            )
        }
        None => format!("{mark}exec sh -c {q}"),
    }
}

fn signal_number(name: &str) -> i32 {
    match name.trim_start_matches("SIG") {
        "HUP" => 1,
        "INT" => 2,
        "QUIT" => 3,
        "ILL" => 4,
        "ABRT" => 6,
        "FPE" => 8,
        "KILL" => 9,
        "USR1" => 10,
        "SEGV" => 11,
        "USR2" => 12,
        "PIPE" => 13,
        "ALRM" => 14,
        "TERM" => 15,
        _ => 127,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapper_says_its_group_then_runs_the_command_bounded() {
        let w = wrapped("echo 'a b' >&2 && cat", Some(Duration::from_secs(30)));
        assert!(w.starts_with("printf 'binlog-diff-pgid %s\\n' \"$$\" >&2; umask 077; "), "{w}");
        assert!(w.contains("exec timeout -k 5 35 sh -c 'echo '\\''a b'\\'' >&2 && cat'"), "{w}");
        let o = std::process::Command::new("sh").arg("-c").arg(&w).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        let mut lines = err.lines();
        assert!(lines.next().unwrap().starts_with(PGID_MARK), "{err}");
        assert_eq!(lines.next(), Some("a b"));
        assert_eq!(wrapped("true", None), "printf 'binlog-diff-pgid %s\\n' \"$$\" >&2; umask 077; exec sh -c true");
        assert_eq!(signal_number("KILL"), 9);
    }
}
