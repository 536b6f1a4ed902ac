//! The `mariadbd` binary and the datadir template every server starts
//! from.
//!
//! `mariadb-install-db` runs once into a cached template
//! (`target/tmp/mariadb-template-<version>-r<N>/data`, built in a temp dir and
//! renamed into place, so concurrent test binaries at worst build it twice);
//! each server copies it and starts (~0.3-0.5 s).  Users in the template:
//! `root`@localhost (no password, unix socket), `root`@`127.0.0.1` and
//! `root`@`%` ([`ADMIN_PASSWORD`], all privileges), `repl`@`127.0.0.1`/`%`
//! ([`REPL_PASSWORD`], REPLICATION SLAVE).  The template has no binlog, so the
//! master's `mysql-bin.000001` holds only what the test writes.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::super::process::{find_tool, process_alive};
use super::{ADMIN_PASSWORD, ADMIN_USER, REPL_PASSWORD, REPL_USER};

/// Bump when the template's contents (users, InnoDB file sizes) change.
const TEMPLATE_REVISION: u32 = 1;
/// Must match between the template and the servers (or InnoDB resizes the
/// redo log at every start).
pub(super) const INNODB_LOG_FILE_SIZE: &str = "8M";
pub(super) const INNODB_BUFFER_POOL_SIZE: &str = "24M";

fn now_nanos() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
}

/// `env`'s value, or the tool found by [`find_tool`].
fn find_binary(name: &str, env: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(env).filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    find_tool(name).unwrap_or_else(|| {
        panic!(
            "`{name}` not found (PATH, /usr/sbin, /usr/bin; or set {env}). Install MariaDB: \
             apt-get install mariadb-server mariadb-client (scripts/test.sh does this)"
        )
    })
}

pub(super) fn mariadbd_path() -> &'static Path {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| find_binary("mariadbd", "MARIADBD"))
}

/// The datadir template used by every server of this process.
#[derive(Clone, Debug)]
pub struct TemplateInfo {
    /// `<cache>/mariadb-template-<version>-r<N>/data`
    pub datadir: PathBuf,
    /// e.g. `10.11.19-MariaDB-0+deb12u1`
    pub version: String,
    /// True if this process ran `mariadb-install-db`.
    pub created_now: bool,
    /// How long building the template took (now, or when it was first built:
    /// read back from `build-time.txt`).
    pub build_time: Duration,
}

static TEMPLATE: OnceLock<TemplateInfo> = OnceLock::new();

/// The cached datadir template, built on first use (once per process; across
/// processes a race only wastes work: build in `<name>.tmp-<pid>-<nanos>`,
/// then `rename`, and the loser deletes its copy).
pub fn template() -> &'static TemplateInfo {
    TEMPLATE.get_or_init(build_or_reuse_template)
}

fn server_version(mariadbd: &Path) -> String {
    let out = Command::new(mariadbd)
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", mariadbd.display()));
    let s = String::from_utf8_lossy(&out.stdout).into_owned();
    // "mariadbd  Ver 10.11.19-MariaDB-0+deb12u1 for debian-linux-gnu on x86_64 (Debian 12)"
    let mut words = s.split_whitespace();
    while let Some(w) = words.next() {
        if w == "Ver" {
            if let Some(v) = words.next() {
                return v.to_string();
            }
        }
    }
    panic!("cannot parse `{} --version` output: {s:?}", mariadbd.display());
}

fn template_cache_dir() -> PathBuf {
    std::env::var_os("BINLOG_DIFF_TEMPLATE_CACHE")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")))
}

fn build_or_reuse_template() -> TemplateInfo {
    let version = server_version(mariadbd_path());
    let cache = template_cache_dir();
    fs::create_dir_all(&cache).unwrap_or_else(|e| panic!("create {}: {e}", cache.display()));
    let safe: String =
        version.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' }).collect();
    let name = format!("mariadb-template-{safe}-r{TEMPLATE_REVISION}");
    let final_dir = cache.join(&name);
    remove_stale_template_builds(&cache, &name);
    let read_build_time = |dir: &Path| {
        fs::read_to_string(dir.join("build-time.txt"))
            .ok()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .map(Duration::from_secs_f64)
            .unwrap_or_default()
    };
    if final_dir.join("data").is_dir() {
        return TemplateInfo {
            datadir: final_dir.join("data"),
            build_time: read_build_time(&final_dir),
            version,
            created_now: false,
        };
    }
    let tmp = cache.join(format!("{name}.tmp-{}-{}", std::process::id(), now_nanos()));
    let t0 = Instant::now();
    build_template(&tmp);
    let build_time = t0.elapsed();
    fs::write(tmp.join("build-time.txt"), format!("{:.3}\n", build_time.as_secs_f64())).unwrap();
    match fs::rename(&tmp, &final_dir) {
        Ok(()) => {}
        Err(_) if final_dir.join("data").is_dir() => {
            // another process won the race: use its template
            let _ = fs::remove_dir_all(&tmp);
        }
        Err(e) => panic!("rename {} -> {}: {e}", tmp.display(), final_dir.display()),
    }
    TemplateInfo { datadir: final_dir.join("data"), version, created_now: true, build_time }
}

/// Remove `<name>.tmp-<pid>-*` build dirs left by dead processes.
fn remove_stale_template_builds(cache: &Path, name: &str) {
    let Ok(rd) = fs::read_dir(cache) else { return };
    let prefix = format!("{name}.tmp-");
    for e in rd.flatten() {
        let fname = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = fname.strip_prefix(&prefix) else { continue };
        let pid = rest.split('-').next().and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid {
            if pid != std::process::id() && !process_alive(pid) {
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }
}

fn build_template(tmp: &Path) {
    fs::create_dir_all(tmp).unwrap_or_else(|e| panic!("create {}: {e}", tmp.display()));
    let init = tmp.join("init.sql");
    // executed by mariadb-install-db after the system tables exist (bootstrap
    // mode: no binlog, so none of this is ever replicated)
    // (bootstrap runs with --skip-grant-tables: FLUSH PRIVILEGES loads them)
    let mut sql = String::from("FLUSH PRIVILEGES;\n");
    for host in ["127.0.0.1", "%"] {
        sql += &format!(
            "CREATE OR REPLACE USER '{ADMIN_USER}'@'{host}' IDENTIFIED BY '{ADMIN_PASSWORD}';\n\
             GRANT ALL PRIVILEGES ON *.* TO '{ADMIN_USER}'@'{host}' WITH GRANT OPTION;\n\
             CREATE OR REPLACE USER '{REPL_USER}'@'{host}' IDENTIFIED BY '{REPL_PASSWORD}';\n\
             GRANT REPLICATION SLAVE ON *.* TO '{REPL_USER}'@'{host}';\n"
        );
    }
    fs::write(&init, sql).unwrap();
    let log_path = tmp.join("install.log");
    let log = fs::File::create(&log_path).unwrap();
    let install_db = find_binary("mariadb-install-db", "MARIADB_INSTALL_DB");
    let status = Command::new(&install_db)
        .arg("--no-defaults")
        .arg(format!("--datadir={}", tmp.join("data").display()))
        .args(["--user=root", "--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve"])
        .arg(format!("--extra-file={}", init.display()))
        .arg(format!("--innodb-log-file-size={INNODB_LOG_FILE_SIZE}"))
        .arg(format!("--innodb-buffer-pool-size={INNODB_BUFFER_POOL_SIZE}"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .status()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", install_db.display()));
    if !status.success() {
        let out = fs::read_to_string(&log_path).unwrap_or_default();
        let _ = fs::remove_dir_all(tmp);
        panic!("{} failed ({status}):\n{out}", install_db.display());
    }
    let _ = fs::remove_file(&init);
    // bootstrap leaves no pid/socket, but be sure nothing else is in there
    for junk in ["mysql-bin.index", "aria_log.tmp"] {
        let _ = fs::remove_file(tmp.join("data").join(junk));
    }
}

pub(super) fn copy_dir(src: &Path, dst: &Path) -> io::Result<()> {
    fs::create_dir_all(dst)?;
    for e in fs::read_dir(src)? {
        let e = e?;
        let ft = e.file_type()?;
        let to = dst.join(e.file_name());
        if ft.is_dir() {
            copy_dir(&e.path(), &to)?;
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(e.path())?, &to)?;
        } else {
            fs::copy(e.path(), &to)?;
        }
    }
    Ok(())
}
