//! The servers' settings against the promotion rules: binary logging on the
//! master and on candidates, `log_slave_updates`, `relay_log_purge`,
//! `read_only`, one `binlog_format`, the same filters everywhere.

use super::finding::{Check, Finding, Severity};
use super::{Node, replicas};
use crate::phase::promote;
use crate::position::{OwnState, ReplicaState};
use crate::server::{PromotionFacts, Server};

/// What `check` reads of one server's settings.
pub(super) struct Read {
    /// `log_bin`, `log_slave_updates`, version, `binlog_format`.
    pub facts: PromotionFacts,
    /// `@@relay_log_purge`.
    pub relay_log_purge: bool,
    /// `@@read_only`.
    pub read_only: bool,
    /// `Binlog_Do_DB`, `Binlog_Ignore_DB` (`None`: binary logging off).
    pub binlog_filters: Option<(String, String)>,
    /// Its current binlog file (`None`: binary logging off).
    pub binlog: Option<String>,
    /// The folder of its binlogs, as it says.
    pub binlog_dir: Option<std::path::PathBuf>,
    /// `gtid_strict_mode` (MariaDB).
    pub strict: Option<bool>,
    /// Its GTID state and what marks its own writes.
    pub own: Option<OwnState>,
    /// Its replica state (a replica: what it read, its relay-log folder).
    pub state: Option<ReplicaState>,
}

fn read(srv: &mut Server, replica: bool) -> crate::error::Result<Read> {
    let facts = srv.promotion_facts()?;
    Ok(Read {
        facts,
        relay_log_purge: srv.relay_log_purge()?,
        read_only: srv.read_only()?,
        binlog_filters: srv.binlog_filters()?,
        binlog: srv.binlog_coords()?.map(|(f, _)| f),
        binlog_dir: srv.binlog_dir().ok().flatten(),
        strict: srv.gtid_strict_mode()?,
        own: crate::phase::recover::own_state(srv).ok(),
        // A replica whose IO thread never connected has no state to read: no
        // relay log to look at, no position to rank by.
        state: if replica { srv.replica_state().ok() } else { None },
    })
}

/// Reads every answering server's settings (a failure is a finding).
pub(super) fn read_all(nodes: &mut [Node], f: &mut Vec<Finding>) {
    for n in nodes.iter_mut() {
        let replica = n.status.is_some();
        let Some(srv) = n.srv.as_mut() else { continue };
        match read(srv, replica) {
            Ok(r) => n.read = Some(r),
            Err(e) => f.push(Finding::on(
                &n.conf,
                Check::Connect,
                Severity::Error,
                format!("its settings cannot be read as {}: {e}", n.conf.user),
                format!("grant {} the privileges MHA's user needs (SUPER or REPLICATION CLIENT, SELECT)", n.conf.user),
            )),
        }
    }
}

/// A replica's replication filters, as `Column: value` lines.
fn replication_filters(n: &Node) -> Vec<String> {
    n.status.as_ref().map(promote::replication_filters).unwrap_or_default()
}

fn binlog_filters(r: &Read) -> Vec<String> {
    match &r.binlog_filters {
        Some((d, i)) => [("Binlog_Do_DB", d), ("Binlog_Ignore_DB", i)]
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{k}: {v}"))
            .collect(),
        None => Vec::new(),
    }
}

fn shown(v: &[String]) -> String {
    if v.is_empty() { "none".into() } else { v.join(", ") }
}

/// The settings of the master and its replicas.
pub(super) fn check(nodes: &[Node], master: Option<usize>, f: &mut Vec<Finding>) {
    let Some(mi) = master else { return };
    let m = &nodes[mi];
    let Some(mr) = &m.read else { return };
    if !mr.facts.log_bin {
        f.push(Finding::on(
            &m.conf,
            Check::Settings,
            Severity::Error,
            "binary logging is off on the master: nothing can replicate from it, and a failover could not save \
             what only it has",
            "set log_bin in its my.cnf and restart it",
        ));
    }
    let mut seen_filters: Vec<(Vec<String>, usize)> = Vec::new();
    for (_, n) in replicas(nodes, master) {
        let Some(r) = &n.read else { continue };
        let s = &n.conf;
        if r.relay_log_purge {
            f.push(Finding::on(
                s,
                Check::Settings,
                Severity::Warning,
                "relay_log_purge=1: its relay logs are removed once applied, so it cannot give a lagging replica \
                 what it lacks in a failover",
                "SET GLOBAL relay_log_purge=0, and relay_log_purge=0 in its my.cnf (purge them with \
                 purge_relay_logs from cron, as MHA does)",
            ));
        }
        if !r.read_only {
            f.push(Finding::on(
                s,
                Check::Settings,
                Severity::Warning,
                "read_only=0 on a replica: a write there makes an errant transaction",
                "SET GLOBAL read_only=1, and read_only=1 in its my.cnf",
            ));
        }
        if !r.facts.binlog_format.eq_ignore_ascii_case(&mr.facts.binlog_format) && r.facts.log_bin {
            f.push(Finding::on(
                s,
                Check::Settings,
                Severity::Warning,
                format!(
                    "binlog_format={} but the master's is {}: promoted, it would log differently, and a replica \
                     with a narrower format could not follow it",
                    r.facts.binlog_format, mr.facts.binlog_format
                ),
                format!("SET GLOBAL binlog_format={}, and the same in its my.cnf", mr.facts.binlog_format),
            ));
        }
        let rf = replication_filters(n);
        match seen_filters.iter_mut().find(|(v, _)| *v == rf) {
            Some(x) => x.1 += 1,
            None => seen_filters.push((rf, 1)),
        }
    }
    // Replication filters: the same on every replica (MHA refuses a mix).
    if seen_filters.len() > 1 {
        let most = seen_filters.iter().max_by_key(|x| (x.1, x.0.is_empty())).map(|x| x.0.clone()).unwrap_or_default();
        for (_, n) in replicas(nodes, master) {
            let rf = replication_filters(n);
            if n.status.is_some() && rf != most {
                f.push(Finding::on(
                    &n.conf,
                    Check::Filters,
                    Severity::Error,
                    format!(
                        "its replication filters ({}) differ from the other replicas' ({}): MHA refuses a failover \
                         with differing filters, and promoted it would lack what the others have",
                        shown(&rf),
                        shown(&most)
                    ),
                    "give every server the same replicate_* settings (my.cnf, or SET GLOBAL replicate_do_db=... \
                     with its SQL thread stopped), and remove the ones not needed",
                ));
            }
        }
    }
    // Binlog filters: the master's on every server.
    let mb = binlog_filters(mr);
    for (_, n) in replicas(nodes, master) {
        let Some(r) = &n.read else { continue };
        let b = binlog_filters(r);
        if r.facts.log_bin && b != mb {
            f.push(Finding::on(
                &n.conf,
                Check::Filters,
                Severity::Error,
                format!(
                    "its binlog filters ({}) differ from the master's ({}): promoted, its binlog would hold other \
                     schemas than the master's did",
                    shown(&b),
                    shown(&mb)
                ),
                "give every server the same binlog_do_db / binlog_ignore_db in my.cnf",
            ));
        }
    }
}

/// Candidates that cannot be promoted for their settings (`no_master`
/// servers exempt): an error when no candidate can be, else a warning.
pub(super) fn promotable(nodes: &[Node], master: Option<usize>, none_eligible: bool, f: &mut Vec<Finding>) {
    let severity = if none_eligible { Severity::Error } else { Severity::Warning };
    let others = replicas(nodes, master).count() > 1;
    for (_, n) in replicas(nodes, master) {
        let Some(r) = &n.read else { continue };
        if n.conf.no_master {
            continue;
        }
        if !r.facts.log_bin {
            f.push(Finding::on(
                &n.conf,
                Check::Settings,
                severity,
                "binary logging is off: it cannot be promoted (nothing could replicate from it)",
                format!(
                    "set log_bin (and log_slave_updates) in its my.cnf and restart it; or, if it is never to be \
                     the master, set no_master=1 in its [{}] section",
                    n.conf.name
                ),
            ));
        } else if !r.facts.log_replica_updates && others {
            f.push(Finding::on(
                &n.conf,
                Check::Settings,
                severity,
                "log_slave_updates is off: what it replicated is not in its binlog, so the other replicas could \
                 not follow it once promoted",
                format!(
                    "set log_slave_updates in its my.cnf and restart it; or set no_master=1 in its [{}] section",
                    n.conf.name
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phase::AppConf;

    fn nodes(cnf: &str) -> Vec<Node> {
        let d = std::env::temp_dir().join(format!("binlog-diff-settings-test-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let p = d.join("app.cnf");
        std::fs::write(&p, cnf).unwrap();
        let c = AppConf::read(&p, None).unwrap();
        let _ = std::fs::remove_dir_all(&d);
        c.servers
            .into_iter()
            .map(|conf| Node {
                conf,
                srv: None,
                down: None,
                status: None,
                read: Some(Read {
                    facts: PromotionFacts {
                        log_bin: true,
                        log_replica_updates: true,
                        version: "10.11.9-MariaDB".into(),
                        binlog_format: "ROW".into(),
                    },
                    relay_log_purge: false,
                    read_only: true,
                    binlog_filters: Some((String::new(), String::new())),
                    binlog: Some("mysql-bin.000001".into()),
                    binlog_dir: None,
                    strict: None,
                    own: None,
                    state: None,
                }),
            })
            .collect()
    }

    #[test]
    fn a_candidate_without_log_bin_is_an_error_only_when_it_is_the_only_one() {
        let mut n = nodes(
            "[server1]\nhostname=192.0.2.2\n[server2]\nhostname=192.0.2.3\n[server3]\nhostname=192.0.2.4\nno_master=1\n",
        );
        n[1].read.as_mut().unwrap().facts.log_bin = false;
        n[2].read.as_mut().unwrap().facts.log_bin = false;
        let mut f = Vec::new();
        promotable(&n, Some(0), true, &mut f);
        assert_eq!(f.len(), 1, "no_master servers are exempt: {f:?}");
        assert_eq!(
            (f[0].server.as_deref(), f[0].check, f[0].severity),
            (Some("server2"), Check::Settings, Severity::Error)
        );
        assert!(f[0].fix.contains("no_master=1 in its [server2] section"), "{:?}", f[0]);
        let mut f = Vec::new();
        promotable(&n, Some(0), false, &mut f);
        assert_eq!(f[0].severity, Severity::Warning, "another candidate can be promoted");
    }

    #[test]
    fn the_master_without_log_bin_and_differing_binlog_filters_are_errors() {
        let mut n = nodes("[server1]\nhostname=192.0.2.2\n[server2]\nhostname=192.0.2.3\n");
        n[0].read.as_mut().unwrap().facts.log_bin = false;
        n[1].read.as_mut().unwrap().binlog_filters = Some(("app".into(), String::new()));
        n[1].read.as_mut().unwrap().relay_log_purge = true;
        let mut f = Vec::new();
        check(&n, Some(0), &mut f);
        let got: Vec<_> = f.iter().map(|x| (x.server.as_deref().unwrap(), x.check, x.severity)).collect();
        assert_eq!(
            got,
            [
                ("server1", Check::Settings, Severity::Error),
                ("server2", Check::Settings, Severity::Warning),
                ("server2", Check::Filters, Severity::Error),
            ]
        );
        assert!(f[2].what.contains("(Binlog_Do_DB: app) differ from the master's (none)"), "{:?}", f[2]);
    }
}
