//! The replication user against each candidate: after a failover the other
//! replicas log in to the new master as `repl_user` with `repl_password`.
//!
//! The login is tried from this host (the manager's), to each candidate's
//! MySQL port, within `mysql_timeout`; then `SHOW GRANTS` must grant
//! replication. The replicas themselves log in from their own hosts: an
//! account limited by host (`'repl'@'192.0.2.%'`) may accept them and still
//! refuse this host, which is then a finding to look at, not proof; a
//! check from each replica's host would need a MySQL client there.

use super::finding::{Check, Finding, Severity};
use super::{CheckOptions, Node, replicas};
use crate::server::{ConnSpec, Server};

/// Each candidate (a replica without `no_master`) accepts `repl_user`.
pub(super) fn check(o: &CheckOptions, nodes: &[Node], master: Option<usize>, f: &mut Vec<Finding>) {
    let candidates: Vec<&Node> = replicas(nodes, master).map(|x| x.1).filter(|n| !n.conf.no_master).collect();
    let results: Vec<Option<Finding>> = std::thread::scope(|sc| {
        let hs: Vec<_> = candidates.iter().map(|n| sc.spawn(move || one(o, n))).collect();
        hs.into_iter().map(|h| h.join().ok().flatten()).collect()
    });
    f.extend(results.into_iter().flatten());
}

fn one(o: &CheckOptions, n: &Node) -> Option<Finding> {
    let s = &n.conf;
    let spec = ConnSpec {
        host: Some(s.ip.clone()),
        port: Some(s.port),
        user: Some(s.repl_user.clone()),
        password: s.repl_password.clone(),
        ..Default::default()
    };
    let fix = format!(
        "on every server: CREATE USER '{u}'@'%' IDENTIFIED BY '<repl_password>'; GRANT REPLICATION SLAVE ON *.* \
         TO '{u}'@'%' (or correct repl_user/repl_password in app.cnf)",
        u = s.repl_user
    );
    let mut srv = match Server::connect_within(&spec, o.mysql_timeout) {
        Ok(srv) => srv,
        Err(e) => {
            return Some(Finding::on(
                s,
                Check::Grants,
                Severity::Error,
                format!(
                    "the replication user {} cannot log in to it (from this host, with app.cnf's repl_password): \
                     {e}; promoted, the other replicas could not replicate from it",
                    s.repl_user
                ),
                fix,
            ));
        }
    };
    match srv.may_replicate() {
        Ok(true) => None,
        Ok(false) => Some(Finding::on(
            s,
            Check::Grants,
            Severity::Error,
            format!("the replication user {} logs in, but has no REPLICATION SLAVE on *.*", s.repl_user),
            fix,
        )),
        Err(e) => Some(Finding::on(
            s,
            Check::Grants,
            Severity::Warning,
            format!("the replication user {}'s grants cannot be read: {e}", s.repl_user),
            fix,
        )),
    }
}
