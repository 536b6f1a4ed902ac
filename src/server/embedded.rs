//! A throwaway MariaDB server on this machine: the distribution's
//! `mariadbd` with its own datadir, unix socket and no TCP port, for
//! benchmarks a user runs on their own logs (`binlog-diff bench catchup`).
//!
//! The system tables come from `mariadb-install-db`, run once into a cached
//! template ([`template`]) and copied for every server; copying is far
//! faster than installing. A server started here is stopped when its
//! [`Embedded`] is dropped (SIGTERM, then SIGKILL after a bound), and is
//! spawned with `PR_SET_PDEATHSIG` so it dies with the thread that started
//! it even when this process is killed.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::ConnSpec;
use crate::error::{Error, ErrorKind, Result};

/// InnoDB redo log size of the template and of every server: large enough
/// that a catch-up is not throttled by checkpoints.
const LOG_FILE_SIZE: &str = "256M";

/// A program of the MariaDB packages: `$BINLOG_DIFF_<NAME>` if set, else
/// the first of `names` found on `PATH` or in `/usr/sbin`.
///
/// # Errors
/// None of them is installed.
pub fn find_program(names: &[&str]) -> Result<PathBuf> {
    let env_name = format!("BINLOG_DIFF_{}", names[0].to_ascii_uppercase().replace('-', "_"));
    if let Some(p) = std::env::var_os(&env_name) {
        return Ok(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> = std::env::split_paths(&path).chain([PathBuf::from("/usr/sbin")]).collect();
    for n in names {
        for d in &dirs {
            let p = d.join(n);
            if p.is_file() {
                return Ok(p);
            }
        }
    }
    Err(Error::server(names[0], format!("not found (install mariadb-server and mariadb-client, or set {env_name})")))
}

fn run_as_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// `mariadbd --version`'s version word, e.g. `10.11.19-MariaDB-0+deb12u1`.
///
/// # Errors
/// mariadbd cannot be run.
pub fn server_version() -> Result<String> {
    let d = find_program(&["mariadbd", "mysqld"])?;
    let out = Command::new(&d).arg("--version").output().map_err(|e| Error::io(&d, e))?;
    let s = String::from_utf8_lossy(&out.stdout);
    Ok(s.split_whitespace().nth(2).unwrap_or("unknown").to_string())
}

/// The datadir of a freshly installed server (system tables only,
/// `root@localhost` without a password), built once under `cache` and
/// reused: `<cache>/template-<version>/data`.
///
/// # Errors
/// `mariadb-install-db` fails or the cache cannot be written.
pub fn template(cache: &Path) -> Result<PathBuf> {
    let version: String =
        server_version()?.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' { c } else { '_' }).collect();
    let dir = cache.join(format!("template-{version}"));
    let data = dir.join("data");
    if data.join("mysql").is_dir() {
        return Ok(data);
    }
    fs::create_dir_all(cache).map_err(|e| Error::io(cache, e))?;
    // Built aside and renamed in: a second builder at worst builds it twice.
    // The name is unique per call, not per process: two threads of one
    // process (tests, benchmark arms) must not share, and so remove, it.
    static BUILDS: AtomicU64 = AtomicU64::new(0);
    let n = BUILDS.fetch_add(1, Ordering::Relaxed);
    let tmp = cache.join(format!(".template-{}-{}-{n}", version, std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let install = find_program(&["mariadb-install-db", "mysql_install_db"])?;
    let mut c = Command::new(&install);
    c.arg("--no-defaults")
        .arg(format!("--datadir={}", tmp.join("data").display()))
        .args(["--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve"])
        .arg(format!("--innodb-log-file-size={LOG_FILE_SIZE}"));
    if run_as_root() {
        c.arg("--user=root");
    }
    let out = c.output().map_err(|e| Error::io(&install, e))?;
    if !out.status.success() {
        let _ = fs::remove_dir_all(&tmp);
        return Err(Error::server(
            tmp.join("data").display().to_string(),
            format!(
                "{} failed ({}): {}",
                install.display(),
                out.status,
                error_lines(&String::from_utf8_lossy(&out.stderr))
            ),
        ));
    }
    match fs::rename(&tmp, &dir) {
        Ok(()) => {}
        // Somebody else finished first: theirs is as good as ours.
        Err(_) if data.join("mysql").is_dir() => {
            let _ = fs::remove_dir_all(&tmp);
        }
        Err(e) => return Err(Error::io(&dir, e)),
    }
    Ok(data)
}

/// The lines of a server's stderr worth showing: its `[ERROR]` lines (the
/// last one alone, "Aborting", says nothing), else its last line.
fn error_lines(stderr: &str) -> String {
    let errors: Vec<&str> = stderr.lines().filter(|l| l.contains("[ERROR]")).collect();
    match errors.as_slice() {
        [] => stderr.lines().last().unwrap_or("").to_string(),
        e => e[e.len().saturating_sub(5)..].join(" | "),
    }
}

/// Copies a directory tree (regular files and directories; a server's
/// datadir has nothing else). `std::fs::copy` uses `copy_file_range`,
/// which shares blocks where the filesystem can.
///
/// # Errors
/// A file cannot be read or written.
pub fn copy_dir(from: &Path, to: &Path) -> Result<u64> {
    fs::create_dir_all(to).map_err(|e| Error::io(to, e))?;
    let mut bytes = 0;
    for e in fs::read_dir(from).map_err(|e| Error::io(from, e))? {
        let e = e.map_err(|e| Error::io(from, e))?;
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let ty = e.file_type().map_err(|e| Error::io(&src, e))?;
        if ty.is_dir() {
            bytes += copy_dir(&src, &dst)?;
        } else if ty.is_file() {
            bytes += fs::copy(&src, &dst).map_err(|e| Error::io(&src, e))?;
        }
    }
    Ok(bytes)
}

/// A running throwaway server.
pub struct Embedded {
    child: Option<Child>,
    dir: PathBuf,
    datadir: PathBuf,
    socket: PathBuf,
    error_log: PathBuf,
}

impl Embedded {
    /// Starts `mariadbd` on `datadir` (which must hold system tables), with
    /// its socket, pid file, error log and tmpdir in `dir`, no TCP port,
    /// and `options` after ours (so a later option wins). Returns once the
    /// server accepts connections.
    ///
    /// # Errors
    /// mariadbd cannot be run, exits, or does not answer within 120 s; the
    /// error quotes the last lines of its error log.
    pub fn start(dir: &Path, datadir: &Path, options: &[String]) -> Result<Embedded> {
        fs::create_dir_all(dir.join("tmp")).map_err(|e| Error::io(dir, e))?;
        let bin = find_program(&["mariadbd", "mysqld"])?;
        let socket = dir.join("mysql.sock");
        let error_log = dir.join("error.log");
        let mut c = Command::new(&bin);
        c.arg("--no-defaults")
            .arg(format!("--datadir={}", datadir.display()))
            .arg(format!("--socket={}", socket.display()))
            .arg(format!("--pid-file={}", dir.join("mariadbd.pid").display()))
            .arg(format!("--log-error={}", error_log.display()))
            .arg(format!("--tmpdir={}", dir.join("tmp").display()))
            .arg("--skip-networking")
            .arg(format!("--innodb-log-file-size={LOG_FILE_SIZE}"))
            .args(options)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if run_as_root() {
            c.arg("--user=root");
        }
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            use std::os::unix::process::CommandExt;
            c.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = c.spawn().map_err(|e| Error::io(&bin, e))?;
        let mut s =
            Embedded { child: Some(child), dir: dir.to_path_buf(), datadir: datadir.to_path_buf(), socket, error_log };
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if s.spec().connect().is_ok() {
                return Ok(s);
            }
            if let Some(st) = s.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                s.child = None;
                return Err(Error::server(
                    s.datadir.display().to_string(),
                    format!("mariadbd exited at start ({st}): {}", s.log_tail()),
                ));
            }
            if Instant::now() > deadline {
                return Err(Error::new(ErrorKind::Timeout {
                    host: s.datadir.display().to_string(),
                    step: "waiting for mariadbd to start".into(),
                    why: format!("mariadbd did not answer within 120 s: {}", s.log_tail()),
                }));
            }
            // Polling the socket: the server gives no other signal that it is ready.
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Connection settings: root over the unix socket.
    pub fn spec(&self) -> ConnSpec {
        ConnSpec { socket: Some(self.socket.clone()), user: Some("root".into()), ..ConnSpec::default() }
    }

    /// The unix socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The datadir.
    pub fn datadir(&self) -> &Path {
        &self.datadir
    }

    /// The directory with the socket and logs.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The last lines of the error log (for messages).
    pub fn log_tail(&self) -> String {
        let text = fs::read_to_string(&self.error_log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().filter(|l| !l.contains("max_open_files")).collect();
        let from = lines.len().saturating_sub(3);
        format!("{} (in {})", lines[from..].join(" | "), self.error_log.display())
    }

    /// Shuts the server down cleanly (SIGTERM) and waits for it; SIGKILL
    /// after 120 s.
    ///
    /// # Errors
    /// The server had to be killed.
    pub fn stop(&mut self) -> Result<()> {
        let Some(mut c) = self.child.take() else { return Ok(()) };
        // SAFETY: kill(2) on our own child's pid, which wait() has not reaped.
        unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if c.try_wait().ok().flatten().is_some() {
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                let _ = c.wait();
                return Err(Error::new(ErrorKind::Timeout {
                    host: self.datadir.display().to_string(),
                    step: "waiting for mariadbd to shut down".into(),
                    why: format!("mariadbd in {} ignored SIGTERM for 120 s: killed", self.dir.display()),
                }));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Embedded {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}
