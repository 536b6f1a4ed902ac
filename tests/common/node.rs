//! Our node tools under MHA's names, and a key-only OpenSSH server on a
//! loopback port: shared by the node-tool and manager tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// MHA's node command names, all answered by the one `binlog-diff` binary.
pub const TOOLS: [&str; 4] = ["save_binary_logs", "apply_diff_relay_logs", "purge_relay_logs", "filter_mysqlbinlog"];

fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

/// A temp dir with our tools under MHA's names.
pub struct Bin {
    pub dir: tempfile::TempDir,
}

impl Bin {
    pub fn new() -> Bin {
        let dir = tempfile::tempdir().unwrap();
        let exe = env!("CARGO_BIN_EXE_binlog-diff");
        let out = Command::new(exe).args(["mha", "install"]).arg(dir.path()).output().unwrap();
        assert!(out.status.success(), "mha install: {}", String::from_utf8_lossy(&out.stderr));
        for t in TOOLS {
            assert!(dir.path().join(t).exists(), "{t} installed");
        }
        Bin { dir }
    }
    pub fn path(&self, tool: &str) -> PathBuf {
        self.dir.path().join(tool)
    }
    pub fn run(&self, tool: &str, args: &[String]) -> Output {
        Command::new(self.path(tool)).args(args).output().unwrap()
    }
    /// Runs a command line the way the manager's `ssh host "<cmd>"` does:
    /// a local shell takes the double quotes, a remote shell the rest.
    pub fn run_through_two_shells(&self, cmdline: &str) -> Output {
        let inner = format!("PATH={}:$PATH {cmdline}", self.dir.path().display());
        Command::new("sh").arg("-c").arg(format!("sh -c \"{inner}\"")).output().unwrap()
    }
}

/// An OpenSSH server on 127.0.0.1 (key-only login, own host key and
/// authorized_keys in a temp dir), killed on drop.
pub struct Sshd {
    pub dir: tempfile::TempDir,
    pub port: u16,
    child: std::process::Child,
}

pub fn keygen(path: &Path) {
    let o = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "binlog-diff-test", "-f"])
        .arg(path)
        .output()
        .unwrap();
    assert!(o.status.success(), "ssh-keygen: {:?}", text(&o));
}

impl Sshd {
    /// `None` (with a loud message) when OpenSSH's server is not installed.
    pub fn start(path_dir: &Path) -> Option<Sshd> {
        if !Path::new("/usr/sbin/sshd").exists() || Command::new("ssh-keygen").arg("-?").output().is_err() {
            eprintln!("\n!!!!!!!! SKIPPED: openssh-server (/usr/sbin/sshd) not installed !!!!!!!!\n");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        keygen(&d.join("host_key"));
        keygen(&d.join("id_ed25519"));
        std::fs::copy(d.join("id_ed25519.pub"), d.join("authorized_keys")).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let cfg = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile none\nAuthorizedKeysFile {d}/authorized_keys\n\
             StrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
             PermitRootLogin prohibit-password\nSetEnv PATH={p}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n\
             Subsystem sftp internal-sftp\nLogLevel ERROR\n",
            d = d.display(),
            p = path_dir.display()
        );
        std::fs::write(d.join("sshd_config"), cfg).unwrap();
        let _ = std::fs::create_dir_all("/run/sshd"); // privilege separation folder
        let child = Command::new("/usr/sbin/sshd")
            .arg("-f")
            .arg(d.join("sshd_config"))
            .args(["-D", "-e"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .unwrap();
        let mut s = Sshd { dir, port, child };
        let t0 = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if t0.elapsed() > std::time::Duration::from_secs(10) || s.child.try_wait().unwrap().is_some() {
                panic!("sshd did not start on port {port}");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let host_pub = std::fs::read_to_string(s.dir.path().join("host_key.pub")).unwrap();
        let mut w = host_pub.split_whitespace();
        let kh = format!("[127.0.0.1]:{port} {} {}\n", w.next().unwrap(), w.next().unwrap());
        std::fs::write(s.known_hosts(), kh).unwrap();
        s.port = port;
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

pub fn whoami() -> String {
    let o = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}
