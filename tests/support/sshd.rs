//! OpenSSH for the tests: ed25519 keys, one sshd configuration (key-only,
//! its own host key and authorized_keys in a dir of ours, a `PATH` for the
//! sessions), a probe that an sshd answers, and [`Sshd`]: such a server on a
//! loopback port (MHA's manager and node tools, `remote::Host`).  The netns
//! hosts' sshds (`support::hosts`) are made of the same pieces.

use std::fs;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::process::{all_text, find_tool, poll_until, tool};

/// The OpenSSH server.
pub const SSHD: &str = "/usr/sbin/sshd";

/// `ssh-keygen -t ed25519 -N '' -f path`, spawned (wait on the child).
pub fn spawn_keygen(path: &Path, comment: &str) -> Child {
    Command::new(tool("ssh-keygen"))
        .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("ssh-keygen: {e}"))
}

/// Wait for keygens spawned by [`spawn_keygen`]; panic with their output.
pub fn wait_keygens(children: Vec<Child>) {
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "ssh-keygen failed: {}", all_text(&o).trim_end());
    }
}

/// One key pair at `path` (and `path.pub`).
pub fn keygen(path: &Path) {
    wait_keygens(vec![spawn_keygen(path, "binlog-diff-test")]);
}

/// `<type> <key>` of a public key file.
pub fn public_key(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let mut w = text.split_whitespace();
    format!("{} {}", w.next().unwrap_or(""), w.next().unwrap_or(""))
}

/// The `PATH` ssh sessions get: `extra` dirs, then the usual system dirs.
pub fn session_path(extra: &[PathBuf]) -> String {
    let mut v: Vec<String> = extra.iter().map(|p| p.display().to_string()).collect();
    v.extend(["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"].map(String::from));
    v.join(":")
}

/// An sshd_config: `ip:port` only, key-only (the host key
/// `ssh_host_ed25519_key` and `authorized_keys` in `dir`), root allowed with
/// a key, no PAM, sessions get `SetEnv PATH=path`.
pub fn sshd_config(dir: &Path, ip: Ipv4Addr, port: u16, path: &str) -> String {
    let d = dir.display();
    format!(
        "Port {port}\nListenAddress {ip}\nAddressFamily inet\nHostKey {d}/ssh_host_ed25519_key\nPidFile none\n\
         AuthorizedKeysFile {d}/authorized_keys\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n\
         KbdInteractiveAuthentication no\nPubkeyAuthentication yes\nPermitRootLogin prohibit-password\n\
         UseDNS no\nMaxStartups 100\nMaxSessions 100\nSetEnv PATH={path}\nSubsystem sftp internal-sftp\n\
         LogLevel ERROR\n"
    )
}

/// True if an SSH server answers on `addr`: exchange identification
/// strings (ours first, so sshd logs nothing at LogLevel ERROR), then close.
pub fn ssh_answers(addr: SocketAddr, timeout: Duration) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, timeout) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(timeout));
    if s.write_all(b"SSH-2.0-binlog-diff-probe\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 64];
    let mut got = Vec::new();
    while got.len() < 8 {
        match std::io::Read::read(&mut s, &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    got.starts_with(b"SSH-2.0-")
}

/// The current user's login name (`id -un`).
pub fn whoami() -> String {
    let o = Command::new("id").arg("-un").output().expect("id -un");
    let user = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert!(o.status.success() && !user.is_empty(), "id -un: {o:?}");
    user
}

/// An OpenSSH server on 127.0.0.1 (key-only login, own host key and
/// authorized_keys in a temp dir; its sessions get `path_dir` first on
/// `PATH`), killed on drop.  [`key`](Self::key) logs in as [`whoami`].
pub struct Sshd {
    pub dir: tempfile::TempDir,
    pub port: u16,
    child: Child,
}

impl Sshd {
    /// `None` (with a loud message) when OpenSSH's server is not installed.
    pub fn start(path_dir: &Path) -> Option<Sshd> {
        if !Path::new(SSHD).exists() || find_tool("ssh-keygen").is_none() {
            eprintln!("\n!!!!!!!! SKIPPED: openssh-server ({SSHD}) not installed !!!!!!!!\n");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        wait_keygens(vec![
            spawn_keygen(&d.join("ssh_host_ed25519_key"), "binlog-diff-test"),
            spawn_keygen(&d.join("id_ed25519"), "binlog-diff-test"),
        ]);
        fs::copy(d.join("id_ed25519.pub"), d.join("authorized_keys")).unwrap();
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let path = session_path(&[path_dir.to_path_buf()]);
        fs::write(d.join("sshd_config"), sshd_config(d, Ipv4Addr::LOCALHOST, port, &path)).unwrap();
        let _ = fs::create_dir_all("/run/sshd"); // privilege separation folder
        let child = Command::new(SSHD)
            .arg("-f")
            .arg(d.join("sshd_config"))
            .args(["-D", "-e"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut s = Sshd { dir, port, child };
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let up = poll_until(Duration::from_secs(10), || {
            if ssh_answers(addr, Duration::from_secs(1)) {
                return Some(true);
            }
            s.child.try_wait().unwrap().is_some().then_some(false)
        });
        assert_eq!(up, Some(true), "sshd did not start on port {port}");
        let kh = format!("[127.0.0.1]:{port} {}\n", public_key(&s.dir.path().join("ssh_host_ed25519_key.pub")));
        fs::write(s.known_hosts(), kh).unwrap();
        Some(s)
    }
    pub fn known_hosts(&self) -> PathBuf {
        self.dir.path().join("known_hosts")
    }
    pub fn key(&self) -> PathBuf {
        self.dir.path().join("id_ed25519")
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
