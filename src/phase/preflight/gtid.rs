//! Errant transactions (a replica's own writes that no other server has)
//! and `gtid_strict_mode` alike on every server.

use super::finding::{Check, Finding, Severity};
use super::{Node, replicas};

/// Finds errant transactions on replicas (the master's state counts as one
/// of the others: a replica's write the master lacks is errant). Returns,
/// per server (in `nodes`' order), its errant GTIDs.
pub(super) fn check(nodes: &[Node], master: Option<usize>, f: &mut Vec<Finding>) -> Vec<Vec<String>> {
    let states: Vec<_> = nodes.iter().map(|n| n.read.as_ref().and_then(|r| r.own.clone())).collect();
    let mut errant = crate::position::errant(&states);
    if let Some(m) = master {
        // The master's own writes are what the others replicate: never errant.
        errant[m].clear();
    }
    for (i, n) in replicas(nodes, master) {
        if errant[i].is_empty() {
            continue;
        }
        f.push(Finding::on(
            &n.conf,
            Check::Gtid,
            Severity::Error,
            format!(
                "errant transactions {}: written on it directly, they are on no other server; a failover would \
                 not promote it, and once it follows a new master they break or vanish",
                errant[i].join(",")
            ),
            "find them in its binlog (mysqlbinlog, by GTID); if they belong on the master, apply them there; \
             if not, undo them, and make its GTID state forget them (MariaDB: RESET MASTER on it, then SET GLOBAL \
             gtid_slave_pos to what it applied; MySQL: an empty transaction with each of those GTIDs on the \
             master). Keep read_only=1 on replicas",
        ));
    }
    // gtid_strict_mode alike (MariaDB).
    let strict: Vec<(usize, bool)> =
        nodes.iter().enumerate().filter_map(|(i, n)| n.read.as_ref().and_then(|r| r.strict).map(|s| (i, s))).collect();
    let want = master.and_then(|m| strict.iter().find(|x| x.0 == m).map(|x| x.1));
    if let Some(want) = want {
        for &(i, s) in strict.iter().filter(|x| x.1 != want) {
            f.push(Finding::on(
                &nodes[i].conf,
                Check::Gtid,
                Severity::Warning,
                format!("gtid_strict_mode={} but the master's is {}", u8::from(s), u8::from(want)),
                format!(
                    "SET GLOBAL gtid_strict_mode={} (and in its my.cnf), the same on every server; 1 is safest",
                    u8::from(want)
                ),
            ));
        }
    }
    errant
}
