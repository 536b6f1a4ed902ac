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

/// The version string every binlog-diff prints for `--version`.
pub fn our_version() -> String {
    format!("binlog-diff {}", env!("CARGO_PKG_VERSION"))
}

impl Host {
    /// Connects to `user@host:port` with `opts` (the connection bounded by
    /// `connect_timeout` when `opts` sets no `ConnectTimeout`); afterwards
    /// every blocking step of the session (a read while a remote command
    /// runs, a write, a channel open) is bounded by `step_timeout`.
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

    /// Runs `argv` (each word quoted for the remote shell) with `input` on
    /// its standard input: over SSH bounded by the session's step timeout, on
    /// this host within `timeout`. `step` names the step in errors.
    ///
    /// # Errors
    /// The command cannot be started, the channel fails, or it runs out of
    /// time (a local command is then killed). A non-zero exit is not an
    /// error: see [`Output::status`].
    pub fn run(&self, step: &str, argv: &[String], input: &[u8], timeout: Duration) -> Result<Output> {
        match self {
            Host::Ssh(r) => {
                let cmd = argv.iter().map(|a| sh_quote(a)).collect::<Vec<_>>().join(" ");
                r.exec_with_bytes(&cmd, input).map_err(|e| Error::invalid(format!("{step} on {}: {e}", r.label())))
            }
            Host::Local => run_local(step, argv, input, timeout),
        }
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
                r.exec_following(&cmd, input, on_line)
                    .map_err(|e| Error::invalid(format!("{step} on {}: {e}", r.label())))
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
            remote.file_name().ok_or_else(|| Error::invalid(format!("fetch {}: not a file", remote.display())))?;
        let dest = local_dir.join(name);
        let (tmp, mut f) = temp_file(&dest).map_err(|e| Error::io(&dest, e))?;
        let q = sh_quote(&remote.to_string_lossy());
        let step = |e: String| Error::invalid(format!("fetch {} from {}: {e}", remote.display(), r.label()));
        let res = (|| {
            // One remote shell: the size on stderr, the bytes on stdout. SSH's
            // MAC authenticates every byte on the way; the size catches a cut
            // stream; the applier then checks every event (structure, CRC32)
            // before it applies anything. (An MD5 on both sides cost a core-second
            // per 300 MB and proved nothing more.)
            let cmd = format!("stat -c %s -- {q} >&2 && cat -- {q}");
            let (status, bytes, stderr) = r.exec_to(&cmd, &mut f)?;
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
                let me = std::env::current_exe().map_err(|e| Error::invalid(format!("our own binary: {e}")))?;
                let dest = dir.join("binlog-diff");
                r.push(&me, &dest, true, &mut |_| {})
                    .map_err(|e| Error::invalid(format!("push binary to {}: {e}", r.label())))?;
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
            return Err(Error::invalid(format!(
                "{}: {bin} --version says {:?} (exit {}{}), this driver is {:?}: install the same binlog-diff there, \
                 or pass --push-binary",
                self.label(),
                theirs,
                o.status,
                if o.stderr.trim().is_empty() { String::new() } else { format!(": {}", o.stderr.trim()) },
                our_version()
            )));
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
    let err =
        |e: std::io::Error| Error::invalid(format!("{step}: {}: {e}", argv.first().map(String::as_str).unwrap_or("")));
    let (prog, args) = argv.split_first().ok_or_else(|| Error::invalid(format!("{step}: empty command")))?;
    let mut child = Command::new(prog)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(err)?;
    let mut stdin = child.stdin.take().expect("piped");
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let mut out = child.stdout.take().expect("piped");
    let mut errs = child.stderr.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let ereader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = errs.read_to_string(&mut s);
        s
    });
    let t0 = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().map_err(err)? {
            break st;
        }
        if t0.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Error::invalid(format!("{step}: {prog} did not finish in {timeout:?} (killed)")));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = writer.join();
    let stdout = reader.join().unwrap_or_default();
    let stderr = ereader.join().unwrap_or_default();
    Ok(Output { status: status.code().unwrap_or(-1), stdout, stderr })
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
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("x");
        std::fs::write(&f, b"1").unwrap();
        assert_eq!(h.fetch(&f, Path::new("/nonexistent")).unwrap(), f);
    }
}
