//! MHA's application configuration (`app.cnf`, and optionally the global
//! `masterha_default.cnf`): `[server default]` applies to every
//! `[serverN]` section; a section's own lines win.
//!
//! Only what the phase driver uses is read; the other keys of MHA's are
//! accepted and ignored. A key or block MHA does not know is refused, as MHA
//! refuses it, naming the file, the line and the closest valid name: a
//! misspelled `candidate_master` or `[server4]` would otherwise change who
//! is promoted, or leave a server out. Passwords are kept as [`Secret`]s
//! and never printed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::server::Secret;

/// One `[serverN]` section, with the defaults applied.
#[derive(Clone, Debug)]
pub struct ServerConf {
    /// The section name (`server1` …).
    pub name: String,
    /// `hostname`.
    pub hostname: String,
    /// `ip` (default: `hostname`).
    pub ip: String,
    /// `port` (default 3306).
    pub port: u16,
    /// `user` (default root).
    pub user: String,
    /// `password`.
    pub password: Option<Secret>,
    /// `repl_user` (default: `user`).
    pub repl_user: String,
    /// `repl_password` (default: `password`).
    pub repl_password: Option<Secret>,
    /// `master_binlog_dir` (comma list; MHA's default `/var/lib/mysql,/var/log/mysql`).
    pub master_binlog_dir: Vec<PathBuf>,
    /// `candidate_master=1`: preferred as the new master.
    pub candidate_master: bool,
    /// `no_master=1`: never the new master.
    pub no_master: bool,
    /// `ignore_fail=1`: a failure on this server does not fail the run.
    pub ignore_fail: bool,
    /// `ssh_user` (default: the user running the driver).
    pub ssh_user: String,
    /// `ssh_host` (default: `hostname`).
    pub ssh_host: String,
    /// `ssh_port` (default 22).
    pub ssh_port: u16,
    /// `ssh_options`: `ssh` command-line options (`-i KEY`, `-o UserKnownHostsFile=…`).
    pub ssh_options: String,
    /// `ssh_connection_timeout` (seconds, default 5, as MHA).
    pub ssh_connection_timeout: u64,
    /// `remote_workdir` (default `/var/tmp`).
    pub remote_workdir: PathBuf,
    /// `master_pid_file` (passed to `shutdown_script`).
    pub master_pid_file: Option<String>,
    /// `master_ip_failover_script`.
    pub master_ip_failover_script: Option<String>,
    /// `master_ip_online_change_script` (`switch`).
    pub master_ip_online_change_script: Option<String>,
    /// `shutdown_script`.
    pub shutdown_script: Option<String>,
    /// `report_script`.
    pub report_script: Option<String>,
    /// `secondary_check_script` (MHA's manager runs it to confirm a dead
    /// master from other networks; `check` makes sure it can run).
    pub secondary_check_script: Option<String>,
}

/// A whole application configuration.
#[derive(Clone, Debug)]
pub struct AppConf {
    /// `[serverN]` sections, in file order.
    pub servers: Vec<ServerConf>,
    /// `manager_workdir` (default `/var/log/masterha`).
    pub manager_workdir: PathBuf,
    /// `manager_log`: where the run's log is appended (besides stdout).
    pub manager_log: Option<PathBuf>,
    /// The application configuration file (passed to `report_script --conf`).
    pub path: PathBuf,
    /// `last_failover_minute` (MHA's, default 480): after a failover,
    /// another is blocked for this long unless acknowledged.
    pub last_failover_minute: u64,
    /// `ping_interval` (MHA's, seconds, default 3): how often `monitor` pings the master.
    pub ping_interval: u64,
}

type Section = BTreeMap<String, String>;

/// Sections in file order, through the `rust-ini` crate set to MHA's
/// `Config::Tiny` reading: `key=value` split at the first `=`, both
/// trimmed; `#`/`;` start a comment only at the beginning of a line (a
/// password may hold them); no quoting or escapes (quotes and backslashes
/// are part of the value); a key repeated in a section: the last one wins;
/// a section repeated: merged.
fn parse_sections(text: &str, path: &Path) -> Result<Vec<(String, Section)>> {
    // Config::Tiny's line grammar first, so a bad line is named exactly (the
    // crate would read a key across lines until it meets `=` or `:`); and
    // MHA's names: a misspelled key or block is refused, as MHA refuses it,
    // never silently ignored (it would change who is promoted, or leave a
    // server out of a failover).
    for (i, raw) in text.lines().enumerate() {
        let l = raw.trim();
        let at = |m: String| Error::config(None, format!("line {}: {m}", i + 1)).with_file(path);
        if l.is_empty() || l.starts_with('#') || l.starts_with(';') {
            continue;
        }
        if let Some(block) = l.strip_prefix('[').and_then(|b| b.strip_suffix(']')) {
            check_block(block.trim()).map_err(at)?;
            continue;
        }
        match l.find('=') {
            Some(eq) if eq > 0 && !l[..eq].contains(':') => check_key(l[..eq].trim()).map_err(at)?,
            _ => return Err(at(format!("expected key=value or [section], got {l:?}"))),
        }
    }
    let opt = ini::ParseOption { enabled_quote: false, enabled_escape: false, ..Default::default() };
    let doc = ini::Ini::load_from_str_opt(text, opt)
        .map_err(|e| Error::config(None, format!("line {}: {}", e.line + 1, e.msg)).with_file(path))?;
    let mut out: Vec<(String, Section)> = Vec::new();
    for (name, props) in doc.iter() {
        let Some(name) = name else {
            if let Some((k, _)) = props.iter().next() {
                return Err(Error::config(Some(k), "outside a [section]").with_file(path));
            }
            continue;
        };
        let mut sec = Section::new();
        for (k, v) in props.iter() {
            sec.insert(k.trim().to_string(), v.trim().to_string());
        }
        out.push((name.trim().to_string(), sec));
    }
    Ok(out)
}

/// MHA 0.58's parameter names (`MHA::Config`'s `@PARAM_ARRAY`), and ours:
/// `last_failover_minute` (MHA's manager takes it as an option).
pub const KEYS: &[&str] = &[
    "hostname",
    "ip",
    "port",
    "ssh_host",
    "ssh_ip",
    "ssh_port",
    "ssh_connection_timeout",
    "ssh_options",
    "node_label",
    "candidate_master",
    "no_master",
    "ignore_fail",
    "skip_init_ssh_check",
    "skip_reset_slave",
    "user",
    "password",
    "repl_user",
    "repl_password",
    "disable_log_bin",
    "master_pid_file",
    "handle_raw_binlog",
    "ssh_user",
    "remote_workdir",
    "master_binlog_dir",
    "log_level",
    "manager_workdir",
    "manager_log",
    "check_repl_delay",
    "check_repl_filter",
    "latest_priority",
    "multi_tier_slave",
    "ping_interval",
    "ping_type",
    "secondary_check_script",
    "master_ip_failover_script",
    "master_ip_online_change_script",
    "shutdown_script",
    "report_script",
    "init_conf_load_script",
    "client_bindir",
    "client_libdir",
    "use_gtid_auto_pos",
    "last_failover_minute",
];

/// The valid name closest to `name`, when one is close enough to be a typo.
fn closest<'a>(name: &str, valid: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    valid
        .map(|v| (strsim::damerau_levenshtein(name, v), v))
        .filter(|(d, v)| *d <= 2.max(v.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, v)| v)
}

fn check_key(key: &str) -> std::result::Result<(), String> {
    if KEYS.contains(&key) {
        return Ok(());
    }
    let hint = closest(key, KEYS.iter().copied()).map(|c| format!("; did you mean {c}?")).unwrap_or_default();
    Err(format!("parameter name {key} is invalid (MHA refuses it too){hint}"))
}

/// MHA's rule: `server default`, or `server`/`binlog` and more, no white space.
fn check_block(block: &str) -> std::result::Result<(), String> {
    let named = |p: &str| block.strip_prefix(p).is_some_and(|r| !r.is_empty() && !r.contains(char::is_whitespace));
    if block == "server default" || named("server") || named("binlog") {
        return Ok(());
    }
    let hint = closest(block, ["server default"].into_iter())
        .map(str::to_string)
        .or_else(|| {
            let digits: String = block.chars().filter(char::is_ascii_digit).collect();
            (!digits.is_empty() && strsim::damerau_levenshtein(block, &format!("server{digits}")) <= 2)
                .then(|| format!("server{digits}"))
        })
        .map(|c| format!("; did you mean [{c}]?"))
        .unwrap_or_default();
    Err(format!(
        "block name [{block}] is invalid: it must be [server default] or start with \"server\" (or \"binlog\"){hint}"
    ))
}

fn flag(v: Option<&String>) -> bool {
    v.is_some_and(|v| v.trim() != "0" && !v.trim().is_empty())
}

/// One `[serverN]` section, what it leaves out taken from `[server default]`.
fn server_conf(name: String, own: &Section, default: &Section, app: &Path) -> Result<ServerConf> {
    let get = |k: &str| own.get(k).or_else(|| default.get(k));
    let hostname = get("hostname")
        .cloned()
        .ok_or_else(|| Error::config(Some("hostname"), format!("[{name}] has none")).with_file(app))?;
    let port = match get("port") {
        Some(p) => p
            .parse()
            .map_err(|_| Error::config(Some("port"), format!("[{name}] {p:?} is not a port")).with_file(app))?,
        None => 3306,
    };
    let user = get("user").cloned().unwrap_or_else(|| "root".into());
    let num = |k: &str, d: u64| -> Result<u64> {
        match get(k) {
            Some(v) => v
                .trim()
                .parse()
                .map_err(|_| Error::config(Some(k), format!("[{name}] {v:?} is not a number")).with_file(app)),
            None => Ok(d),
        }
    };
    let ssh_port = u16::try_from(num("ssh_port", 22)?)
        .map_err(|_| Error::config(Some("ssh_port"), format!("[{name}] is not a port")).with_file(app))?;
    let ssh_connection_timeout = num("ssh_connection_timeout", 5)?;
    let opt = |k: &str| get(k).filter(|v| !v.trim().is_empty()).cloned();
    let own_host = hostname.clone();
    let password = get("password").map(Secret::new);
    Ok(ServerConf {
        ip: get("ip").cloned().unwrap_or_else(|| hostname.clone()),
        hostname,
        port,
        repl_user: get("repl_user").cloned().unwrap_or_else(|| user.clone()),
        repl_password: get("repl_password").map(Secret::new).or_else(|| password.clone()),
        user,
        password,
        master_binlog_dir: get("master_binlog_dir")
            .map(String::as_str)
            .unwrap_or("/var/lib/mysql,/var/log/mysql")
            .split(',')
            .map(|d| PathBuf::from(d.trim()))
            .collect(),
        candidate_master: flag(get("candidate_master")),
        no_master: flag(get("no_master")),
        ignore_fail: flag(get("ignore_fail")),
        ssh_user: opt("ssh_user").unwrap_or_else(current_user),
        ssh_host: opt("ssh_host").unwrap_or_else(|| own_host.clone()),
        ssh_port,
        ssh_options: opt("ssh_options").unwrap_or_default(),
        ssh_connection_timeout,
        remote_workdir: PathBuf::from(opt("remote_workdir").unwrap_or_else(|| "/var/tmp".into())),
        master_pid_file: opt("master_pid_file"),
        master_ip_failover_script: opt("master_ip_failover_script"),
        master_ip_online_change_script: opt("master_ip_online_change_script"),
        shutdown_script: opt("shutdown_script"),
        report_script: opt("report_script"),
        secondary_check_script: opt("secondary_check_script"),
        name,
    })
}

impl AppConf {
    /// Reads `app` (and `global` first, when given: `app` wins).
    ///
    /// # Errors
    /// Unreadable file, a malformed line, a bad port, or no server section.
    pub fn read(app: &Path, global: Option<&Path>) -> Result<AppConf> {
        let mut texts = Vec::new();
        for path in global.into_iter().chain([app]) {
            texts.push((std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?, path));
        }
        let texts: Vec<(&str, &Path)> = texts.iter().map(|(t, p)| (t.as_str(), *p)).collect();
        AppConf::from_texts(&texts)
    }

    /// Reads one configuration's text; `path` names the file in messages
    /// and becomes [`AppConf::path`].
    ///
    /// # Errors
    /// A malformed line, a bad port or number, or no server section
    /// ([`ErrorKind::Config`](crate::error::ErrorKind::Config), naming `path`).
    pub fn from_text(text: &str, path: &Path) -> Result<AppConf> {
        AppConf::from_texts(&[(text, path)])
    }

    /// Texts in reading order (the global one first); the last is the application's.
    fn from_texts(texts: &[(&str, &Path)]) -> Result<AppConf> {
        let app = texts.last().map(|(_, p)| *p).unwrap_or(Path::new("app.cnf"));
        let mut default = Section::new();
        let mut servers: Vec<(String, Section)> = Vec::new();
        for &(text, path) in texts {
            for (name, sec) in parse_sections(text, path)? {
                if name == "server default" {
                    default.extend(sec);
                } else if name.starts_with("server") {
                    match servers.iter_mut().find(|(n, _)| *n == name) {
                        Some((_, s)) => s.extend(sec),
                        None => servers.push((name, sec)),
                    }
                }
                // [binlogN] sections (binlog servers) are not used here.
            }
        }
        if servers.is_empty() {
            return Err(Error::config(None, "no [serverN] section").with_file(app));
        }
        let out =
            servers.into_iter().map(|(name, own)| server_conf(name, &own, &default, app)).collect::<Result<_>>()?;
        let manager_workdir =
            default.get("manager_workdir").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/var/log/masterha"));
        let manager_log = default.get("manager_log").filter(|v| !v.trim().is_empty()).map(PathBuf::from);
        let last_failover_minute = match default.get("last_failover_minute") {
            Some(v) => v.trim().parse().map_err(|_| {
                Error::config(Some("last_failover_minute"), format!("{v:?} is not a number")).with_file(app)
            })?,
            None => 480,
        };
        let ping_interval = match default.get("ping_interval") {
            Some(v) => v
                .trim()
                .parse()
                .map_err(|_| Error::config(Some("ping_interval"), format!("{v:?} is not a number")).with_file(app))?,
            None => 3,
        };
        Ok(AppConf {
            servers: out,
            manager_workdir,
            manager_log,
            path: app.to_path_buf(),
            last_failover_minute,
            ping_interval,
        })
    }

    /// The server at `host` (hostname or ip) and `port` (any port when `None`
    /// and only one server matches the host).
    ///
    /// # Errors
    /// None or several match.
    pub fn find(&self, host: &str, port: Option<u16>) -> Result<&ServerConf> {
        let m: Vec<&ServerConf> = self
            .servers
            .iter()
            .filter(|s| (s.hostname == host || s.ip == host) && port.is_none_or(|p| s.port == p))
            .collect();
        match m[..] {
            [one] => Ok(one),
            [] => Err(Error::config(None, format!("no server {host}{} in the configuration", port_s(port)))),
            _ => Err(Error::config(None, format!("several servers match {host}{}: give the port", port_s(port)))),
        }
    }
}

/// The user running this process (MHA's default `ssh_user`).
fn current_user() -> String {
    // SAFETY: getpwuid returns a pointer into static storage or null; it is
    // read at once, before any other call could overwrite it.
    unsafe {
        let pw = libc::getpwuid(libc::getuid());
        if !pw.is_null() && !(*pw).pw_name.is_null() {
            return std::ffi::CStr::from_ptr((*pw).pw_name).to_string_lossy().into_owned();
        }
    }
    std::env::var("USER").unwrap_or_else(|_| "root".into())
}

fn port_s(p: Option<u16>) -> String {
    p.map(|p| format!(":{p}")).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 21: MHA refuses a misspelled key or block; so do we, naming the
    /// file, the line and the closest valid name.
    #[test]
    fn misspelled_keys_and_blocks_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("app.cnf");
        for (text, line, want) in [
            ("[server1]\nhostname=a\ncandidat_master=1\n", 3, "did you mean candidate_master?"),
            ("[server1]\nhostname=a\nignore_fial=1\n", 3, "did you mean ignore_fail?"),
            ("[server1]\nhostname=a\nno_mastr=1\n", 3, "did you mean no_master?"),
            ("[server default]\nrepl_pasword=x\n[server1]\nhostname=a\n", 2, "did you mean repl_password?"),
            ("[server1]\nhostname=a\n[sever4]\nhostname=b\n", 3, "did you mean [server4]?"),
            ("[server1]\nhostname=a\n[server defualt]\nuser=x\n", 3, "did you mean [server default]?"),
            ("[server1]\nhostname=a\nfrobnicate=1\n", 3, "parameter name frobnicate is invalid"),
        ] {
            std::fs::write(&p, text).unwrap();
            let e = AppConf::read(&p, None).unwrap_err().to_string();
            assert!(e.contains(&format!("app.cnf: line {line}:")) && e.contains(want), "{text:?}: {e}");
        }
        std::fs::write(&p, "[server default]\nlast_failover_minute=5\n[server1]\nhostname=a\n[binlog1]\nhostname=b\n")
            .unwrap();
        assert_eq!(AppConf::read(&p, None).unwrap().last_failover_minute, 5);
    }

    #[test]
    fn defaults_apply_and_sections_win() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("app.cnf");
        std::fs::write(
            &p,
            "# comment\n[server default]\nuser=admin\npassword=p w'd\nrepl_user=repl\nmaster_binlog_dir=/a, /b\n\
             manager_workdir=/tmp/m\n\n[server1]\nhostname=db1\nport=3307\n[server2]\nhostname=db2\nip=10.0.0.2\n\
             candidate_master=1\nuser=other\n[binlog1]\nhostname=b\n",
        )
        .unwrap();
        let c = AppConf::read(&p, None).unwrap();
        assert_eq!(c.servers.len(), 2);
        let s1 = &c.servers[0];
        assert_eq!((s1.hostname.as_str(), s1.ip.as_str(), s1.port, s1.user.as_str()), ("db1", "db1", 3307, "admin"));
        assert_eq!(s1.password.as_ref().unwrap().expose(), "p w'd");
        assert_eq!(s1.repl_password.as_ref().unwrap().expose(), "p w'd");
        assert_eq!(s1.master_binlog_dir, vec![PathBuf::from("/a"), PathBuf::from("/b")]);
        let s2 = &c.servers[1];
        assert_eq!((s2.ip.as_str(), s2.port, s2.user.as_str(), s2.candidate_master), ("10.0.0.2", 3306, "other", true));
        assert_eq!(c.manager_workdir, PathBuf::from("/tmp/m"));
        assert_eq!((s1.ssh_host.as_str(), s1.ssh_port, s1.ssh_connection_timeout), ("db1", 22, 5));
        assert_eq!(s1.remote_workdir, PathBuf::from("/var/tmp"));
        assert!(s1.master_ip_failover_script.is_none() && !s1.ssh_user.is_empty());
        assert_eq!(c.find("10.0.0.2", None).unwrap().name, "server2");
        assert!(c.find("db9", None).is_err());
        assert!(!format!("{:?}", c).contains("p w'd"), "passwords never in Debug output");
    }

    #[test]
    fn mha_quirks() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("app.cnf");
        std::fs::write(
            &p,
            "; MHA\n[server default]\npassword = a#b;c=\"d\\e\n  ssh_options=-i /k/id -o UserKnownHostsFile=/k/kh\n\
             ssh_port=2222\nremote_workdir=/data/tmp\nmaster_ip_failover_script=/usr/local/bin/ip_failover --vip=10.0.0.9\n\
             [server1]\nhostname=db1\nport=3307\nport=3308\n[server2]\nhostname=db2\n[server1]\ncandidate_master=1\n\
             ssh_host=jump1\n",
        )
        .unwrap();
        let c = AppConf::read(&p, None).unwrap();
        assert_eq!(c.servers.len(), 2, "a repeated section is merged");
        let s1 = &c.servers[0];
        assert_eq!(s1.password.as_ref().unwrap().expose(), "a#b;c=\"d\\e", "no inline comments, quotes or escapes");
        assert_eq!(s1.port, 3308, "the last value wins");
        assert!(s1.candidate_master);
        assert_eq!((s1.ssh_host.as_str(), s1.ssh_port), ("jump1", 2222));
        assert_eq!(s1.ssh_options, "-i /k/id -o UserKnownHostsFile=/k/kh");
        assert_eq!(s1.remote_workdir, PathBuf::from("/data/tmp"));
        assert_eq!(s1.master_ip_failover_script.as_deref(), Some("/usr/local/bin/ip_failover --vip=10.0.0.9"));
        assert_eq!(c.servers[1].ssh_host, "db2", "ssh_host defaults to hostname");
        // The global configuration is read first; the application's wins.
        let g = d.path().join("masterha_default.cnf");
        std::fs::write(&g, "[server default]\nssh_port=22\nmanager_workdir=/g\nuser=g\n").unwrap();
        let c = AppConf::read(&p, Some(&g)).unwrap();
        assert_eq!((c.servers[0].ssh_port, c.servers[0].user.as_str()), (2222, "g"));
        assert_eq!(c.manager_workdir, PathBuf::from("/g"));
    }

    #[test]
    fn bad_lines_name_the_file_and_line() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("app.cnf");
        std::fs::write(&p, "[server1]\nhostname=a\nport=x\n").unwrap();
        let e = AppConf::read(&p, None).unwrap_err().to_string();
        assert!(e.contains("app.cnf") && e.contains("port: [server1] \"x\" is not a port"), "{e}");
        std::fs::write(&p, "[server1]\nnonsense\n").unwrap();
        let e = AppConf::read(&p, None).unwrap_err().to_string();
        assert!(e.contains("line 2"), "{e}");
    }
}
