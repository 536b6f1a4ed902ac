//! `purge_relay_logs`: delete a replica's old relay logs without blocking
//! its SQL thread (MHA needs `relay_log_purge=0`, so something else must
//! purge). What MHA 0.58 means to do:
//!
//! 1. the server must be this host's (127.0.0.1, localhost, this host name,
//!    or an address of a local interface) and a replica;
//! 2. `relay_log_purge=1`: exit, or with `--disable_relay_log_purge` set it to 0;
//! 3. hard-link every relay log older than the SQL thread's file into
//!    `--workdir` (MHA's intended path: its `use_hardlink` option is read as
//!    `use_hard_link`, so it never runs there; `--use_hardlink=0` here keeps
//!    MHA's fallback, an open read handle on every relay log), so the SQL
//!    thread's unlink only drops a link;
//! 4. under `GET_LOCK('MHA_Master_High_Availability_Failover', 200)` (the
//!    lock the manager holds during failover): `SET GLOBAL relay_log_purge=1;
//!    FLUSH NO_WRITE_TO_BINLOG RELAY LOGS`, then **poll** until no relay log
//!    older than the SQL thread's current one is left (the SQL thread purges
//!    them when it moves to the new file), at most 10 s — MHA sleeps 3 s
//!    and hopes — then `SET GLOBAL relay_log_purge=0`, release the lock;
//! 5. remove the hard links: the disk space is freed here, outside the lock.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mysql::prelude::Queryable;

use super::getopt::{Kind, Spec};
use super::logs::{Logs, show_dir};
use super::{Croak, Res, out};
use crate::server::{ConnSpec, RelayInfoStore, Secret, Server};

const SPECS: &[Spec] = &[
    ("help", Kind::Flag),
    ("version", Kind::Flag),
    ("workdir", Kind::Str),
    ("relay_log_info", Kind::Str),
    ("user", Kind::Str),
    ("password", Kind::Str),
    ("host", Kind::Str),
    ("port", Kind::Int),
    ("socket", Kind::Str),
    ("defaults_file", Kind::Str),
    ("disable_relay_log_purge", Kind::Flag),
    ("use_hardlink", Kind::Int),
];

const USAGE: &str = "Usage:
    purge_relay_logs --user=root --password=rootpass --host=127.0.0.1

    Deletes old relay logs of this host's replica without blocking its SQL
    thread (run it from cron; MHA needs relay_log_purge=0).
    --workdir must be on the relay logs' filesystem (hard links).
";

/// How long to wait for the SQL thread to purge after the relay log switch.
pub const PURGE_WAIT: Duration = Duration::from_secs(10);

/// Runs `purge_relay_logs` with `args`; returns the exit status.
pub fn main(args: &[String]) -> u8 {
    let o = match super::parse_or_usage(SPECS, args, USAGE) {
        Ok(o) => o,
        Err(code) => return code,
    };
    if o.has("version") {
        out(&format!("purge_relay_logs version {}.\n", super::VERSION));
        return super::exit::OK;
    }
    let a = Args {
        workdir: PathBuf::from(o.or("workdir", "/var/tmp")),
        relay_log_info: o.truthy("relay_log_info").map(PathBuf::from),
        user: o.or("user", "root"),
        password: o.truthy("password").map(str::to_string),
        host: o.or("host", "127.0.0.1"),
        port: o.int("port").filter(|&p| p != 0).and_then(|p| u16::try_from(p).ok()).unwrap_or(3306),
        socket: o.get("socket").map(PathBuf::from),
        defaults_file: o.get("defaults_file").map(PathBuf::from),
        disable_relay_log_purge: o.has("disable_relay_log_purge"),
        // MHA: `||= 1`, so 0 would still mean 1; here 0 selects the open-handle fallback.
        use_hardlink: o.int("use_hardlink").is_none_or(|v| v != 0),
    };
    match run(&a) {
        Ok(()) => super::exit::OK,
        Err(c) => {
            let msg = if c.msg.ends_with('\n') { c.msg } else { format!("{}\n", c.msg) };
            eprint!("{msg}");
            c.code
        }
    }
}

struct Args {
    workdir: PathBuf,
    relay_log_info: Option<PathBuf>,
    user: String,
    password: Option<String>,
    host: String,
    port: u16,
    socket: Option<PathBuf>,
    defaults_file: Option<PathBuf>,
    disable_relay_log_purge: bool,
    use_hardlink: bool,
}

/// MHA's `check_local`, with "an address of this host" decided by binding
/// a socket to it rather than parsing `/sbin/ifconfig` output.
fn check_local(host: &str) -> Res<()> {
    if host == "127.0.0.1" || host.contains("localhost") || host == super::hostname() {
        return Ok(());
    }
    let ip = super::get_ip(host)?;
    let bare = ip.trim_start_matches('[').trim_end_matches(']').to_string();
    let local = bare.parse::<std::net::IpAddr>().is_ok_and(|a| std::net::UdpSocket::bind((a, 0)).is_ok());
    if !local {
        return Err(Croak::new(format!("--host({host}) must be local address (localhost, 127.0.0.1, etc)!\n")));
    }
    Ok(())
}

fn croak(e: crate::Error) -> Croak {
    Croak::new(format!("{e}\n"))
}

fn relay_files_older_than(logs: &Logs, current: &crate::log::LogName) -> Vec<(crate::log::LogName, PathBuf)> {
    logs.set.files().iter().filter(|(n, p)| n < current && p.is_file()).cloned().collect()
}

fn run(a: &Args) -> Res<()> {
    check_local(&a.host)?;
    out(&format!("{}: purge_relay_logs script started.\n", super::current_time()));
    let spec = ConnSpec {
        host: Some(a.host.clone()),
        port: Some(a.port),
        socket: a.socket.clone(),
        user: Some(a.user.clone()),
        password: a.password.clone().map(Secret::new),
        timeout: None,
    };
    let spec = spec.with_password_from_env_or(a.defaults_file.as_deref())?;
    let conn = spec.connect().map_err(|e| Croak::new(format!(" Failed to get DB Handle on {}! {e}\n", a.host)))?;
    let mut srv = Server::open(conn, spec.label()).map_err(croak)?;
    let is_slave = srv.replica_status().map_err(croak)?.is_some();
    if !is_slave {
        return Err(Croak::new(" Target mysql server is not defined as replication slave.\n"));
    }
    if srv.relay_log_purge().map_err(croak)? {
        if a.disable_relay_log_purge {
            out(" relay_log_purge is enabled. Disabling..\n");
            srv.set_relay_log_purge(false).map_err(croak)?;
        } else {
            out(" relay_log_purge is enabled. Exit.\n");
            return Ok(());
        }
    }
    let logs = locate(&mut srv, a)?;
    let current = logs.current.clone();
    let mut linked: Vec<PathBuf> = Vec::new();
    let mut _handles: Vec<std::fs::File> = Vec::new();
    if a.use_hardlink {
        remove_hardlinks(&a.workdir, logs.current.base())?;
        out(&format!(" Current relay log file: {}/{}\n", show_dir(&logs.dir), current));
        let old = relay_files_older_than(&logs, &current);
        if let Some((last, _)) = old.last() {
            out(&format!(" Archiving unused relay log files (up to {}/{}) ...\n", show_dir(&logs.dir), last));
        }
        for (n, p) in &old {
            let dst = a.workdir.join(n.to_string());
            out(&format!(" Creating hard link for {} under {} ..", p.display(), dst.display()));
            std::fs::hard_link(p, &dst).map_err(|e| {
                Croak::new(format!(
                    "\nhard link {} -> {} failed: {e} (--workdir must be on the relay logs' filesystem)\n",
                    p.display(),
                    dst.display()
                ))
            })?;
            out(" ok.\n");
            linked.push(dst);
        }
        if old.is_empty() {
            out(" Old relay logs not found. No need to archive right now.\n");
        } else {
            out(" Creating hard links for unused relay log files completed.\n");
        }
    } else {
        for (_, p) in logs.set.files() {
            out(&format!(" Opening {} ..\n", p.display()));
            _handles.push(std::fs::File::open(p).map_err(|e| Croak::new(format!("{e}: {}\n", p.display())))?);
        }
    }
    let got: Option<i64> = srv
        .conn()
        .exec_first("SELECT GET_LOCK('MHA_Master_High_Availability_Failover', ?)", (200,))
        .map_err(|e| Croak::new(format!("GET_LOCK: {e}\n")))?;
    if got != Some(1) {
        return Err(Croak::new(" Getting advisory lock failed. Maybe failover script is running?\n"));
    }
    out(
        " Executing SET GLOBAL relay_log_purge=1; FLUSH NO_WRITE_TO_BINLOG RELAY LOGS; waiting until the SQL thread has deleted the older relay log files (if it keeps up, at most 10 s); SET GLOBAL relay_log_purge=0; ..",
    );
    let r = purge_under_lock(&mut srv, &logs);
    let _ = srv.set_relay_log_purge(false);
    let _ = srv.conn().query_drop("SELECT RELEASE_LOCK('MHA_Master_High_Availability_Failover')");
    let left = r?;
    if left == 0 {
        out(" ok.\n");
    } else {
        out(&format!(
            " ok ({left} older relay log files remain: the SQL thread has not finished them yet; they go next time).\n"
        ));
    }
    if a.use_hardlink {
        remove_hardlinks(&a.workdir, logs.current.base())?;
    }
    drop(_handles);
    out(&format!("{}: All relay log purging operations succeeded.\n", super::current_time()));
    Ok(())
}

/// Enables purging, switches relay logs, and polls until the SQL thread
/// has deleted every relay log older than the one it is in (bounded by
/// [`PURGE_WAIT`]); returns how many are left.
fn purge_under_lock(srv: &mut Server, logs: &Logs) -> Res<usize> {
    srv.set_relay_log_purge(true).map_err(croak)?;
    srv.flush_relay_logs().map_err(croak)?;
    let start = Instant::now();
    loop {
        let left = older_than_sql_thread(srv, logs)?;
        if left == 0 || start.elapsed() >= PURGE_WAIT {
            return Ok(left);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Relay files on disk older than the SQL thread's current one.
fn older_than_sql_thread(srv: &mut Server, logs: &Logs) -> Res<usize> {
    let Some(row) = srv.replica_status().map_err(croak)? else { return Ok(0) };
    let name: Option<String> = row.opt("Relay_Log_File");
    let Some(cur) = name.and_then(|n| crate::log::LogName::from_path_str(&n).ok()) else { return Ok(0) };
    let fresh = crate::log::LogSet::from_dir(&logs.dir, cur.base()).map_err(Croak::from)?;
    Ok(fresh.files().iter().filter(|(n, p)| *n < cur && p.is_file()).count())
}

/// Removes files named `<prefix>.<digits>` in `workdir` (MHA removes
/// `<prefix>*`; only log names here, so nothing else is touched).
fn remove_hardlinks(workdir: &Path, prefix: &str) -> Res<()> {
    out(&format!(" Removing hard linked relay log files {prefix}* under {}..", workdir.display()));
    let rd = match std::fs::read_dir(workdir) {
        Ok(r) => r,
        Err(e) => return Err(Croak::new(format!("{}: {e}\n", workdir.display()))),
    };
    for e in rd.flatten() {
        let p = e.path();
        let Some(n) = p.file_name().and_then(|n| n.to_str()) else { continue };
        let ok = n.parse::<crate::log::LogName>().is_ok_and(|l| l.base() == prefix);
        if ok && e.file_type().is_ok_and(|t| t.is_file()) {
            std::fs::remove_file(&p).map_err(|e| Croak::new(format!("{}: {e}\n", p.display())))?;
        }
    }
    out(" done.\n");
    Ok(())
}

/// The relay logs and the SQL thread's file: `mysql.slave_relay_log_info`
/// (MySQL ≥ 5.6.2 with `relay_log_info_repository=TABLE`), else
/// relay-log.info (`--relay_log_info`, or `@@relay_log_info_file` in the datadir).
fn locate(srv: &mut Server, a: &Args) -> Res<Logs> {
    let sql = "SELECT @@global.datadir";
    let datadir: Option<String> =
        srv.conn().query_first(sql).map_err(|e| Croak::new(format!("{}: {sql}: {e}\n", srv.label())))?;
    let datadir = PathBuf::from(datadir.unwrap_or_default());
    let info_file = match srv.relay_info_store().map_err(croak)? {
        RelayInfoStore::File(f) => f,
        RelayInfoStore::Table(name) => {
            let name = name.ok_or_else(|| {
                Croak::new("Getting relay log directory or current relay logfile from replication table failed!\n")
            })?;
            let p = PathBuf::from(name.strip_prefix("./").unwrap_or(&name));
            let p = if p.is_absolute() { p } else { datadir.join(p) };
            let dir = p.parent().map(Path::to_path_buf).unwrap_or_default();
            let file = p.file_name().and_then(|n| n.to_str()).unwrap_or("").to_string();
            return Ok(Logs::from_dir_file(&dir, &file)?);
        }
    };
    let path = match &a.relay_log_info {
        Some(p) => p.clone(),
        None => {
            let f = info_file.unwrap_or_else(|| "relay-log.info".into());
            let f = f.strip_prefix("./").unwrap_or(&f).to_string();
            if f.starts_with('/') { PathBuf::from(f) } else { datadir.join(f) }
        }
    };
    if !path.is_file() {
        return Err(Croak::new(format!(" {} does NOT exist.\n", path.display())));
    }
    out(&format!(" Found relay_log.info: {}\n", path.display()));
    Ok(Logs::from_relay_log_info(&path, None)?)
}
