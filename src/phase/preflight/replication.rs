//! Who answers, who the master is, and whether every replica replicates
//! from it, both threads running, in one replication mode.

use super::finding::{Check, Finding, Severity};
use super::{CheckOptions, Node};
use crate::phase::config::{AppConf, ServerConf};
use crate::phase::{label, replicates_from, spec};
use crate::server::Server;
use crate::server::status::GtidMode;

/// Every server of `conf`, connected in parallel (each within
/// `mysql_timeout`), with its replica status.
pub(super) fn connect_all(o: &CheckOptions, conf: &AppConf) -> Vec<Node> {
    std::thread::scope(|sc| {
        let handles: Vec<_> = conf.servers.iter().map(|s| sc.spawn(move || connect(o, s))).collect();
        handles
            .into_iter()
            .zip(&conf.servers)
            .map(|(h, s)| h.join().unwrap_or_else(|_| down(s, "the check of it panicked".into())))
            .collect()
    })
}

fn down(s: &ServerConf, why: String) -> Node {
    Node { conf: s.clone(), srv: None, down: Some(why), status: None, read: None }
}

fn connect(o: &CheckOptions, s: &ServerConf) -> Node {
    let mut srv = match Server::connect_within(&spec(s), o.mysql_timeout) {
        Ok(srv) => srv.named(&s.name),
        Err(e) => return down(s, e.to_string()),
    };
    match srv.replica_status() {
        Ok(status) => Node { conf: s.clone(), srv: Some(srv), down: None, status, read: None },
        Err(e) => down(s, format!("SHOW SLAVE STATUS failed: {e}")),
    }
}

/// The master: the server the most replicas point at (one that is not a
/// replica itself first); `None` with a finding when there is none.
pub(super) fn find_master(nodes: &[Node], place: &str, f: &mut Vec<Finding>) -> Option<usize> {
    let followers =
        |m: &ServerConf| nodes.iter().filter(|n| n.status.as_ref().is_some_and(|st| replicates_from(st, m))).count();
    let best = (0..nodes.len())
        .map(|i| (followers(&nodes[i].conf), nodes[i].srv.is_some() && nodes[i].status.is_none(), std::cmp::Reverse(i)))
        .max()
        .filter(|&(n, not_replica, _)| n > 0 || not_replica);
    match best {
        Some((_, _, std::cmp::Reverse(i))) => Some(i),
        None => {
            f.push(Finding::at(
                place,
                Check::Replication,
                Severity::Error,
                "no server of it is a master: every server that answers is a replica, and none replicates from \
                 another server of the file",
                "name the current master in a [serverN] section of app.cnf, and point the replicas at it (CHANGE \
                 MASTER TO ...; START SLAVE)",
            ));
            None
        }
    }
}

/// A finding for each server that does not answer over MySQL.
pub(super) fn unanswered(nodes: &[Node], master: Option<usize>, f: &mut Vec<Finding>) {
    for (i, n) in nodes.iter().enumerate() {
        let Some(why) = &n.down else { continue };
        let (what, fix) = if Some(i) == master {
            (
                format!("the master does not answer over MySQL as {}: {why}", n.conf.user),
                "start it (if it is dead, this is a failover's job: binlog-diff failover), or correct its \
                 hostname/ip/port/user/password in app.cnf"
                    .to_string(),
            )
        } else {
            (
                format!("it does not answer over MySQL as {}: {why}", n.conf.user),
                format!(
                    "start it, correct its hostname/ip/port/user/password in app.cnf, or, to fail over without it, \
                     set ignore_fail=1 in its [{}] section or remove it from the file",
                    n.conf.name
                ),
            )
        };
        f.push(Finding::on(&n.conf, Check::Connect, Severity::Error, what, fix));
    }
}

fn change_master(m: &ServerConf) -> String {
    format!("CHANGE MASTER TO MASTER_HOST='{}', MASTER_PORT={}, ...; START SLAVE", m.ip, m.port)
}

/// Every replica replicates from the master, both threads running; one
/// replication mode. Returns that mode.
pub(super) fn check(nodes: &[Node], master: Option<usize>, f: &mut Vec<Finding>) -> Option<GtidMode> {
    let mi = master?;
    let m = &nodes[mi].conf;
    if let Some(st) = &nodes[mi].status {
        let (h, p) = st.master();
        f.push(Finding::on(
            m,
            Check::Replication,
            Severity::Warning,
            format!("the master is itself a replica (of {h}:{p}): a failover of it leaves that link as it is"),
            "RESET SLAVE ALL on it, unless the master-master or tiered setup is meant",
        ));
    }
    let mut modes: Vec<(&ServerConf, GtidMode)> = Vec::new();
    for (_, n) in super::replicas(nodes, master) {
        let s = &n.conf;
        let Some(st) = &n.status else {
            f.push(Finding::on(
                s,
                Check::Replication,
                Severity::Error,
                format!("it is not a replica: it does not replicate from the master {}", label(m)),
                change_master(m),
            ));
            continue;
        };
        if !replicates_from(st, m) {
            let (h, p) = st.master();
            f.push(Finding::on(
                s,
                Check::Replication,
                Severity::Error,
                format!("it replicates from {h}:{p}, not from the master {} (Master_Host/Master_Port)", label(m)),
                format!("{}; or, if {h}:{p} is the master, correct app.cnf", change_master(m)),
            ));
            continue;
        }
        modes.push((s, st.gtid_mode()));
        if !st.io_running() {
            let err = st.io_error().map(|e| format!("; last IO error {e}")).unwrap_or_default();
            f.push(Finding::on(
                s,
                Check::Replication,
                Severity::Error,
                format!("its IO thread is not running (Slave_IO_Running: {}{err})", st.get("Slave_IO_Running")),
                "mend what the error says, then START SLAVE",
            ));
        }
        if !st.sql_running() || st.sql_error().is_some() {
            let err = st.sql_error().map(|e| format!("; last SQL error {e}")).unwrap_or_default();
            f.push(Finding::on(
                s,
                Check::Replication,
                Severity::Error,
                format!("its SQL thread is not running (Slave_SQL_Running: {}{err})", st.get("Slave_SQL_Running")),
                "mend what the error says (the row it stopped on), then START SLAVE",
            ));
        }
    }
    let first = modes.first().map(|x| x.1)?;
    if modes.iter().all(|x| x.1 == first) {
        return Some(first);
    }
    // The mode most replicas use (on a tie, the first server's in app.cnf)
    // is the one the others are told to take.
    let count = |g: GtidMode| modes.iter().filter(|x| x.1 == g).count();
    let mut common = first;
    for &(_, g) in &modes {
        if count(g) > count(common) {
            common = g;
        }
    }
    for (s, g) in modes.iter().filter(|x| x.1 != common) {
        f.push(Finding::on(
            s,
            Check::Mode,
            Severity::Error,
            format!(
                "it replicates in {} mode, the other replicas in {}: a failover keeps one mode and refuses a mix",
                g.name(),
                common.name()
            ),
            format!("STOP SLAVE; {}; START SLAVE", to_mode(common)),
        ));
    }
    None
}

/// The statement that puts a replica in mode `g`.
fn to_mode(g: GtidMode) -> &'static str {
    match g {
        GtidMode::Off => "CHANGE MASTER TO MASTER_USE_GTID=no (MySQL: MASTER_AUTO_POSITION=0)",
        GtidMode::SlavePos => "CHANGE MASTER TO MASTER_USE_GTID=slave_pos",
        GtidMode::CurrentPos => "CHANGE MASTER TO MASTER_USE_GTID=current_pos",
        GtidMode::AutoPosition => "CHANGE MASTER TO MASTER_AUTO_POSITION=1",
    }
}
