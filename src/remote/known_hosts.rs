//! Known-hosts files, the parts this client uses: what they say of a host's
//! key ([`host_key_verdict`], pure: texts in, a [`Verdict`] out), and
//! recording a new key the way OpenSSH does ([`record_host_key`]).
//!
//! # Lines
//!
//! - `hostpatterns keytype base64 [comment]`: matched by libssh2 (ssh2's
//!   `KnownHosts`), one line at a time: plain names, comma lists, hashed
//!   names (`|1|salt|hash`) and `[host]:port`. (libssh2 also lets a plain
//!   `host` entry stand for every port of that host, and has no wildcards
//!   or `!` negation.)
//! - `@revoked hostpatterns keytype base64`: parsed here. The key is refused
//!   for *every* host, whatever the line's host patterns say, and whatever
//!   `StrictHostKeyChecking` says (sshd(8): a revoked key "must not ever be
//!   accepted"): [`Verdict::Revoked`], naming the file and line.
//! - `@cert-authority …`: this client does not do host certificates, so
//!   these lines are ignored (a host known only through a CA is
//!   [`Verdict::Unknown`]).
//! - Blank lines, `#` comments and lines that cannot be read are ignored.
//!
//! A key of the host in another type than the one presented counts as a
//! [`Verdict::Mismatch`] (OpenSSH would call the host new; the handshake
//! asks first for the types the files hold, so this only happens when the
//! server no longer offers that type).

use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ssh2::{CheckResult, KnownHostFileKind, Session};

use crate::error::{Error, Result};

/// What the known-hosts files say of a host's key ([`host_key_verdict`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A line holds this key for this host.
    Match,
    /// A `@revoked` line holds this key: never accepted.
    Revoked {
        /// The file.
        file: PathBuf,
        /// Its line (from 1).
        line: usize,
    },
    /// Lines name this host, none with this key.
    Mismatch {
        /// The file of the first such line.
        file: PathBuf,
        /// Its line (from 1).
        line: usize,
    },
    /// No line names this host.
    Unknown,
}

/// What the known-hosts files `files` (each its path and its text, in the
/// order they are searched) say of `key`, the host key `host` presented on
/// `port` (the raw key blob, as the SSH protocol sends it: its type is
/// inside it).
///
/// In order: a `@revoked` line holding `key` gives [`Verdict::Revoked`]
/// (its first such line), whatever the other lines say; else a line of
/// `host` (or `[host]:port`) with `key` gives [`Verdict::Match`]; else the
/// first line of that host with another key gives [`Verdict::Mismatch`];
/// else [`Verdict::Unknown`]. See the [module](self) for which lines count.
///
/// # Errors
/// None: any input gives a verdict (an unreadable line counts as absent; a
/// host name holding a NUL byte is known to no line), never a panic.
pub fn host_key_verdict(files: &[(PathBuf, String)], host: &str, port: u16, key: &[u8]) -> Verdict {
    for (path, text) in files {
        for (i, line) in text.lines().enumerate() {
            if revoked_key(line).is_some_and(|k| k == key) {
                return Verdict::Revoked { file: path.clone(), line: i + 1 };
            }
        }
    }
    if host.contains('\0') {
        return Verdict::Unknown;
    }
    // Without a session there are no KnownHosts (libssh2 ties them to one);
    // a session that never connects does no I/O.
    let Ok(sess) = Session::new() else { return Verdict::Unknown };
    let mut mismatch = None;
    for (path, text) in files {
        for (i, line) in text.lines().enumerate() {
            let t = line.trim();
            if t.is_empty() || t.starts_with('#') || t.starts_with('@') || t.contains('\0') {
                continue;
            }
            // One line at a time: libssh2 gives up on a whole text at its
            // first unreadable line, and says nothing of where it matched.
            let Ok(mut kh) = sess.known_hosts() else { return Verdict::Unknown };
            if kh.read_str(t, KnownHostFileKind::OpenSSH).is_err() {
                continue;
            }
            match kh.check_port(host, port, key) {
                CheckResult::Match => return Verdict::Match,
                CheckResult::Mismatch if mismatch.is_none() => {
                    mismatch = Some(Verdict::Mismatch { file: path.clone(), line: i + 1 })
                }
                _ => {}
            }
        }
    }
    mismatch.unwrap_or(Verdict::Unknown)
}

/// The key of a `@revoked hostpatterns keytype base64` line (decoded).
fn revoked_key(line: &str) -> Option<Vec<u8>> {
    let mut w = line.split_whitespace();
    if w.next()? != "@revoked" {
        return None;
    }
    let (_hosts, _ktype, b64) = (w.next()?, w.next()?, w.next()?);
    STANDARD.decode(b64).ok()
}

/// The type name inside an SSH key blob (`ssh-ed25519`, …): its first
/// length-prefixed string.
pub fn key_type_of(key: &[u8]) -> Option<&str> {
    let n = u32::from_be_bytes(key.get(..4)?.try_into().ok()?) as usize;
    std::str::from_utf8(key.get(4..4usize.checked_add(n)?)?).ok()
}

/// The known-hosts line OpenSSH writes for a new key: `host keytype base64`
/// on port 22, else `[host]:port keytype base64` (names not hashed).
pub fn known_hosts_line(host: &str, port: u16, key: &[u8]) -> String {
    let name = if port == 22 { host.to_string() } else { format!("[{host}]:{port}") };
    format!("{name} {} {}", key_type_of(key).unwrap_or("unknown"), STANDARD.encode(key))
}

/// Appends `host`'s `key` ([`known_hosts_line`]) to the known-hosts file
/// `file`, as OpenSSH does under `StrictHostKeyChecking=accept-new` (and
/// `no`): the folder made mode 0700 and the file 0600 when missing; the
/// append under an exclusive advisory lock (`flock`) on the file, so two
/// connections at once neither interleave nor both add the key; fsynced
/// (and the folder, when the file is new). Returns `false` when the file
/// held the key already (another connection recorded it meanwhile).
///
/// # Errors
/// The folder or the file cannot be made, locked, read or written.
pub fn record_host_key(file: &Path, host: &str, port: u16, key: &[u8]) -> Result<bool> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let dir = file.parent().filter(|d| !d.as_os_str().is_empty());
    if let Some(d) = dir.filter(|d| !d.exists()) {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(d).map_err(|e| Error::io(d, e))?;
    }
    let existed = file.exists();
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(0o600)
        .open(file)
        .map_err(|e| Error::io(file, e))?;
    flock_exclusive(&f).map_err(|e| Error::io(file, e))?;
    // Under the lock: what another connection may have written meanwhile.
    let mut text = String::new();
    f.seek(std::io::SeekFrom::Start(0)).map_err(|e| Error::io(file, e))?;
    let mut raw = Vec::new();
    f.read_to_end(&mut raw).map_err(|e| Error::io(file, e))?;
    text.push_str(&String::from_utf8_lossy(&raw));
    if host_key_verdict(&[(file.to_path_buf(), text)], host, port, key) == Verdict::Match {
        return Ok(false);
    }
    let sep = if raw.is_empty() || raw.ends_with(b"\n") { "" } else { "\n" };
    let line = format!("{sep}{}\n", known_hosts_line(host, port, key));
    f.write_all(line.as_bytes()).and_then(|_| f.sync_all()).map_err(|e| Error::io(file, e))?;
    if !existed {
        if let Some(d) = dir {
            std::fs::File::open(d).and_then(|d| d.sync_all()).map_err(|e| Error::io(d, e))?;
        }
    }
    Ok(true)
}

/// `flock(LOCK_EX)`, waiting; released when `f` is closed.
fn flock_exclusive(f: &std::fs::File) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    loop {
        // SAFETY: a plain syscall on a descriptor `f` owns for the call.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ed25519 key blob: its type, then 32 bytes of `seed`.
    fn key(seed: u8) -> Vec<u8> {
        let mut k = Vec::new();
        for part in [&b"ssh-ed25519"[..], &[seed; 32][..]] {
            k.extend_from_slice(&(part.len() as u32).to_be_bytes());
            k.extend_from_slice(part);
        }
        k
    }

    fn line(hosts: &str, k: &[u8]) -> String {
        format!("{hosts} ssh-ed25519 {}", STANDARD.encode(k))
    }

    fn files(texts: &[&str]) -> Vec<(PathBuf, String)> {
        texts.iter().enumerate().map(|(i, t)| (PathBuf::from(format!("/kh{i}")), t.to_string())).collect()
    }

    #[test]
    fn plain_port_and_comma_entries_match() {
        let (a, b) = (key(1), key(2));
        let f = files(&[&format!("# c\n\n{}\n{}\n", line("db1,192.0.2.9", &a), line("[db2]:2222", &b))]);
        assert_eq!(host_key_verdict(&f, "192.0.2.9", 22, &a), Verdict::Match);
        assert_eq!(host_key_verdict(&f, "db2", 2222, &b), Verdict::Match);
        assert_eq!(host_key_verdict(&f, "db3", 22, &a), Verdict::Unknown);
        assert_eq!(host_key_verdict(&[], "db1", 22, &a), Verdict::Unknown);
    }

    #[test]
    fn another_key_is_a_mismatch_naming_its_line() {
        let (a, b) = (key(1), key(2));
        let f = files(&["", &format!("garbage line\n{}\n", line("[db2]:2222", &b))]);
        assert_eq!(host_key_verdict(&f, "db2", 2222, &a), Verdict::Mismatch { file: "/kh1".into(), line: 2 });
        // A later line with the key: it matches.
        let f = files(&[&line("[db2]:2222", &b), &line("[db2]:2222", &a)]);
        assert_eq!(host_key_verdict(&f, "db2", 2222, &a), Verdict::Match);
    }

    /// `@revoked` wins over a matching line, whatever its host patterns say.
    #[test]
    fn a_revoked_key_is_refused_for_every_host() {
        let (a, b) = (key(1), key(2));
        let ok = line("db1", &a);
        for revoked in ["*", "db1", "elsewhere"] {
            let f = files(&[&format!("{ok}\n"), &format!("# x\n@revoked {}\n", line(revoked, &a))]);
            assert_eq!(host_key_verdict(&f, "db1", 22, &a), Verdict::Revoked { file: "/kh1".into(), line: 2 });
            assert_eq!(host_key_verdict(&f, "db1", 22, &b), Verdict::Mismatch { file: "/kh0".into(), line: 1 });
        }
        // A @revoked line does not make its host known.
        let f = files(&[&format!("@revoked {}", line("db1", &b))]);
        assert_eq!(host_key_verdict(&f, "db1", 22, &a), Verdict::Unknown);
    }

    #[test]
    fn cert_authority_lines_are_ignored() {
        let a = key(1);
        let f = files(&[&format!("@cert-authority {}\n", line("db1", &a))]);
        assert_eq!(host_key_verdict(&f, "db1", 22, &a), Verdict::Unknown);
    }

    #[test]
    fn odd_input_gives_a_verdict() {
        let a = key(1);
        let f = files(&["@revoked\n@revoked * ssh-ed25519 !!!\n\0\n[\n|1|x|y ssh-ed25519 AAAA\n"]);
        assert_eq!(host_key_verdict(&f, "db\0", 22, &a), Verdict::Unknown);
        assert_eq!(host_key_verdict(&f, "", 0, &[]), Verdict::Unknown);
        assert_eq!(key_type_of(&[0, 0, 0, 9, b'x']), None);
        assert_eq!(key_type_of(&[0xff; 4]), None);
    }

    #[test]
    fn the_line_written_is_openssh_s() {
        let a = key(1);
        assert_eq!(known_hosts_line("db1", 22, &a), line("db1", &a));
        assert_eq!(known_hosts_line("192.0.2.5", 2222, &a), line("[192.0.2.5]:2222", &a));
    }

    /// Folder 0700 and file 0600 made; a second record of the key adds
    /// nothing; threads recording eight hosts at once, each twice, leave
    /// eight whole lines, one per host.
    #[test]
    fn recording_is_private_and_once() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("ssh/known_hosts");
        assert!(record_host_key(&f, "db1", 2222, &key(1)).unwrap());
        assert!(!record_host_key(&f, "db1", 2222, &key(1)).unwrap());
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!((mode(&f), mode(f.parent().unwrap())), (0o600, 0o700));
        let added = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            for n in (2..10u8).chain(2..10) {
                let (f, added) = (&f, &added);
                s.spawn(move || {
                    if record_host_key(f, &format!("db{n}"), 22, &key(n)).unwrap() {
                        added.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                });
            }
        });
        assert_eq!(added.into_inner(), 8);
        let text = std::fs::read_to_string(&f).unwrap();
        assert_eq!(text.lines().count(), 9, "{text}");
        let all = files(&[&text]);
        for n in 1..10u8 {
            let port = if n == 1 { 2222 } else { 22 };
            assert_eq!(host_key_verdict(&all, &format!("db{n}"), port, &key(n)), Verdict::Match, "db{n}");
        }
    }

    /// A record waits while another process holds the file's lock (OpenSSH
    /// takes none; two of our connections at once do).
    #[test]
    fn recording_waits_for_the_lock() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("known_hosts");
        std::fs::write(&f, "").unwrap();
        let holder = std::fs::File::open(&f).unwrap();
        flock_exclusive(&holder).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let f2 = f.clone();
        std::thread::spawn(move || tx.send(record_host_key(&f2, "db1", 22, &key(1)).unwrap()));
        assert!(rx.recv_timeout(std::time::Duration::from_millis(300)).is_err(), "it waits for the lock");
        drop(holder);
        assert_eq!(rx.recv_timeout(std::time::Duration::from_secs(10)), Ok(true));
        assert_eq!(std::fs::read_to_string(&f).unwrap(), format!("{}\n", line("db1", &key(1))));
    }
}
