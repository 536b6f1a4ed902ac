//! What `check` found: typed findings, each naming a server (or the
//! cluster) and its fix, the candidates in the order a failover would try
//! them, and the report as a versioned JSON document and as text.

use serde::{Deserialize, Serialize};

use crate::phase::config::ServerConf;

/// The version of [`CheckReport`]'s JSON: bumped when a field changes
/// meaning or goes away (new fields may appear without a bump).
pub const VERSION: u32 = 1;

/// Which check a finding comes from (docs/check.md lists each with its fixes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// The server answers over MySQL with app.cnf's `user`.
    Connect,
    /// An SSH session to its host: reachable, host key verified, key login.
    Ssh,
    /// Our binary on its host, at our version.
    Binary,
    /// Its binlog folder (`master_binlog_dir`) and relay-log folder readable there.
    Folders,
    /// A master; every other server replicating from it, both threads running.
    Replication,
    /// One replication mode (positional, MariaDB GTID, MySQL auto-position).
    Mode,
    /// `log_bin`, `log_slave_updates`, `relay_log_purge`, `read_only`, `binlog_format`.
    Settings,
    /// Replication and binlog filters, the same everywhere.
    Filters,
    /// The replication user can log in to each candidate and replicate.
    Grants,
    /// The hook scripts app.cnf names exist and can run.
    Hooks,
    /// Errant transactions, `gtid_strict_mode` alike everywhere.
    Gtid,
    /// A candidate a failover could promote, and whom it keeps.
    Ranking,
    /// The manager's side: its workdir, an unfinished failover, the anti-flapping block.
    Manager,
}

impl Check {
    /// Its name (as in the JSON).
    pub fn name(self) -> &'static str {
        match self {
            Check::Connect => "connect",
            Check::Ssh => "ssh",
            Check::Binary => "binary",
            Check::Folders => "folders",
            Check::Replication => "replication",
            Check::Mode => "mode",
            Check::Settings => "settings",
            Check::Filters => "filters",
            Check::Grants => "grants",
            Check::Hooks => "hooks",
            Check::Gtid => "gtid",
            Check::Ranking => "ranking",
            Check::Manager => "manager",
        }
    }
}

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// A failover now would fail, or lose data.
    Error,
    /// A failover now would succeed, but something is off.
    Warning,
}

impl Severity {
    /// `error` or `warning`.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// One thing found, with its fix.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The server's section name in app.cnf (`None`: the cluster, or this host).
    pub server: Option<String>,
    /// Where: the server's `ip:port`, a host, or the file concerned.
    pub host: String,
    /// Which check.
    pub check: Check,
    /// How bad.
    pub severity: Severity,
    /// What is wrong.
    pub what: String,
    /// What to do about it.
    pub fix: String,
}

impl Finding {
    /// A finding on server `s`.
    pub fn on(
        s: &ServerConf,
        check: Check,
        severity: Severity,
        what: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Finding {
            server: Some(s.name.clone()),
            host: format!("{}:{}", s.ip, s.port),
            check,
            severity,
            what: what.into(),
            fix: fix.into(),
        }
    }

    /// A finding on no one server: `place` is the host or file concerned.
    pub fn at(
        place: impl Into<String>,
        check: Check,
        severity: Severity,
        what: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Finding { server: None, host: place.into(), check, severity, what: what.into(), fix: fix.into() }
    }

    /// `[error] server2(192.0.2.3:3306): what. Fix: fix`.
    pub fn line(&self) -> String {
        let who = match &self.server {
            Some(s) => format!("{s}({})", self.host),
            None => self.host.clone(),
        };
        let end = |t: &str| t.trim_end().trim_end_matches('.').to_string();
        format!("[{}] {who}: {}. Fix: {}.", self.severity.name(), end(&self.what), end(&self.fix))
    }
}

/// A replica as a candidate of a failover now, in the order it would be tried.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    /// Its section name.
    pub server: String,
    /// Its `ip:port`.
    pub host: String,
    /// No hard rule excludes it.
    pub eligible: bool,
    /// Why it stands where it stands: its preference, whom it keeps, or what excludes it.
    pub why: String,
}

/// Everything `check` found (`--json` prints it).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckReport {
    /// [`VERSION`].
    pub version: u32,
    /// No finding is an error: a failover now would succeed.
    pub healthy: bool,
    /// The app.cnf checked.
    pub conf: String,
    /// The master's section name, when one was found.
    pub master: Option<String>,
    /// The replicas' replication mode, when they agree.
    pub mode: Option<String>,
    /// Every finding, errors first.
    pub findings: Vec<Finding>,
    /// The candidates, best first; excluded ones last.
    pub ranking: Vec<Candidate>,
}

impl CheckReport {
    /// A report of `findings` (sorted: errors first, then by check, in the
    /// order found); healthy when none is an error.
    pub fn new(conf: String, master: Option<String>, mode: Option<String>, mut findings: Vec<Finding>) -> Self {
        findings.sort_by_key(|f| f.severity);
        let healthy = !findings.iter().any(|f| f.severity == Severity::Error);
        CheckReport { version: VERSION, healthy, conf, master, mode, findings, ranking: Vec::new() }
    }

    /// How many findings have `severity`.
    pub fn count(&self, severity: Severity) -> usize {
        self.findings.iter().filter(|f| f.severity == severity).count()
    }

    /// The report for a person; its last line is the one to grep for:
    /// `Replication health is OK.` or `Replication health is NOT OK: N errors.`
    pub fn text(&self) -> String {
        let mut o = format!("Checked {}\n", self.conf);
        match (&self.master, &self.mode) {
            (Some(m), Some(mode)) => o += &format!("Master: {m}; replication mode: {mode}\n"),
            (Some(m), None) => o += &format!("Master: {m}\n"),
            (None, _) => o += "Master: none found\n",
        }
        if !self.ranking.is_empty() {
            o += "Candidates a failover would promote now, best first:\n";
            let mut n = 0;
            for c in &self.ranking {
                if c.eligible {
                    n += 1;
                    o += &format!("  {n}. {}({}): {}\n", c.server, c.host, c.why);
                } else {
                    o += &format!("  -  {}({}): {}\n", c.server, c.host, c.why);
                }
            }
        }
        for f in &self.findings {
            o += &f.line();
            o.push('\n');
        }
        let (e, w) = (self.count(Severity::Error), self.count(Severity::Warning));
        let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
        o += &format!("{}, {}.\n", plural(e, "error"), plural(w, "warning"));
        if e == 0 {
            o += "Replication health is OK.\n";
        } else {
            o += &format!("Replication health is NOT OK: {}.\n", plural(e, "error"));
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(name: &str, ip: &str) -> ServerConf {
        let p = std::env::temp_dir().join("binlog-diff-finding-test.cnf");
        std::fs::write(&p, format!("[{name}]\nhostname={ip}\n")).unwrap();
        let c = crate::phase::config::AppConf::read(&p, None).unwrap();
        let _ = std::fs::remove_file(&p);
        c.servers[0].clone()
    }

    #[test]
    fn lines_name_the_server_its_host_and_the_fix() {
        let s = server("server2", "192.0.2.3");
        let f =
            Finding::on(&s, Check::Settings, Severity::Warning, "relay_log_purge=1.", "SET GLOBAL relay_log_purge=0");
        assert_eq!(
            f.line(),
            "[warning] server2(192.0.2.3:3306): relay_log_purge=1. Fix: SET GLOBAL relay_log_purge=0."
        );
        let g =
            Finding::at("/etc/mha/app.cnf", Check::Ranking, Severity::Error, "no candidate", "set candidate_master=1");
        assert_eq!(g.line(), "[error] /etc/mha/app.cnf: no candidate. Fix: set candidate_master=1.");
    }

    #[test]
    fn text_ends_with_the_line_to_grep_for_and_json_round_trips() {
        let s = server("server3", "192.0.2.4");
        let warn = Finding::on(&s, Check::Settings, Severity::Warning, "read_only=0", "SET GLOBAL read_only=1");
        let err = Finding::on(&s, Check::Replication, Severity::Error, "its IO thread is stopped", "START SLAVE");
        let mut r = CheckReport::new(
            "/a.cnf".into(),
            Some("server1(192.0.2.2:3306)".into()),
            Some("positional".into()),
            vec![warn.clone()],
        );
        r.ranking = vec![
            Candidate {
                server: "server2".into(),
                host: "192.0.2.3:3306".into(),
                eligible: true,
                why: "neutral".into(),
            },
            Candidate {
                server: "server3".into(),
                host: "192.0.2.4:3306".into(),
                eligible: false,
                why: "excluded: binary logging is off".into(),
            },
        ];
        assert!(r.healthy);
        let t = r.text();
        assert_eq!(
            t,
            "Checked /a.cnf\nMaster: server1(192.0.2.2:3306); replication mode: positional\n\
             Candidates a failover would promote now, best first:\n  1. server2(192.0.2.3:3306): neutral\n  \
             -  server3(192.0.2.4:3306): excluded: binary logging is off\n\
             [warning] server3(192.0.2.4:3306): read_only=0. Fix: SET GLOBAL read_only=1.\n\
             0 errors, 1 warning.\nReplication health is OK.\n"
        );
        let bad = CheckReport::new("/a.cnf".into(), None, None, vec![warn, err.clone()]);
        assert!(!bad.healthy);
        assert_eq!(bad.findings[0], err, "errors first");
        let t = bad.text();
        assert!(t.starts_with("Checked /a.cnf\nMaster: none found\n[error] server3"), "{t}");
        assert!(t.ends_with("1 error, 1 warning.\nReplication health is NOT OK: 1 error.\n"), "{t}");
        let json = serde_json::to_string(&bad).unwrap();
        assert!(json.contains("\"check\":\"replication\"") && json.contains("\"severity\":\"error\""), "{json}");
        assert_eq!(serde_json::from_str::<CheckReport>(&json).unwrap(), bad);
    }
}
