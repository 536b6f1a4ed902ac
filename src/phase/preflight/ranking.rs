//! The candidates in the order a failover would try them now, by the
//! promotion rules the failover itself uses ([`crate::phase::promote`]),
//! and why each is or is not eligible.

use super::finding::{Candidate, Check, Finding, Severity};
use super::{Node, replicas};
use crate::phase::AppConf;
use crate::phase::promote::{self, Facts, Ranked};

/// The ranking: every replica that answered, best first.
pub(super) struct Ranking {
    /// As printed and in the JSON.
    pub candidates: Vec<Candidate>,
    /// The names of those a failover could promote, best first.
    pub eligible: Vec<String>,
    /// Per candidate (in `candidates`' order), the names of the replicas
    /// that could not follow it, with why.
    pub loses: Vec<Vec<(String, String)>>,
}

/// Ranks the replicas as a failover now would (with the registered rules
/// of the manager's workdir).
pub(super) fn rank(
    conf: &AppConf,
    nodes: &[Node],
    master: Option<usize>,
    errant: &[Vec<String>],
    f: &mut Vec<Finding>,
) -> Ranking {
    let rules = match promote::registered(&promote::rules_file(&conf.manager_workdir)) {
        Ok(r) => r,
        Err(e) => {
            f.push(Finding::at(
                promote::rules_file(&conf.manager_workdir).display().to_string(),
                Check::Ranking,
                Severity::Error,
                format!("the registered promotion rules cannot be read: {e}"),
                "register the rules again (binlog-diff register-candidate), or remove the file",
            ));
            Vec::new()
        }
    };
    let mut facts = Vec::new();
    let mut hosts = Vec::new();
    let mut states = Vec::new();
    for (i, n) in replicas(nodes, master) {
        let Some(r) = &n.read else { continue };
        let mut x = Facts::of(&n.conf, r.facts.clone(), n.status.as_ref(), &rules);
        x.errant = errant[i].clone();
        facts.push(x);
        hosts.push(format!("{}:{}", n.conf.ip, n.conf.port));
        states.push(r.state.clone());
    }
    // The latest replica: a tie-break of the ranking, as in a failover.
    if states.iter().all(Option::is_some) {
        let states: Vec<_> = states.into_iter().flatten().collect();
        if let Some(li) = crate::position::latest(&states) {
            facts[li].latest = true;
        }
    }
    let ranked = promote::rank(&facts);
    explain(&ranked, &facts, &hosts)
}

/// The ranking of `facts` for a person: `hosts[i]` is `facts[i]`'s address.
pub(super) fn explain(ranked: &[Ranked], facts: &[Facts], hosts: &[String]) -> Ranking {
    let mut out = Ranking { candidates: Vec::new(), eligible: Vec::new(), loses: Vec::new() };
    for r in ranked {
        let x = &facts[r.index];
        let line = r.describe(facts);
        let why = line.strip_prefix(&format!("{}: ", x.name)).unwrap_or(&line).to_string();
        let eligible = r.excluded.is_empty();
        if eligible {
            out.eligible.push(x.name.clone());
        }
        out.candidates.push(Candidate {
            server: x.name.clone(),
            host: hosts.get(r.index).cloned().unwrap_or_default(),
            eligible,
            why,
        });
        out.loses.push(r.loses.iter().map(|(j, w)| (facts[*j].name.clone(), w.clone())).collect());
    }
    out
}

/// What the ranking means for a failover now: no candidate at all (an
/// error); the first candidate leaving replicas behind; a
/// `candidate_master` that cannot be promoted.
pub(super) fn findings(r: &Ranking, conf: &AppConf, nodes: &[Node], master: Option<usize>, f: &mut Vec<Finding>) {
    if master.is_none() || replicas(nodes, master).next().is_none() {
        return;
    }
    if r.eligible.is_empty() {
        let each: Vec<String> = r.candidates.iter().map(|c| format!("{}: {}", c.server, c.why)).collect();
        f.push(Finding::at(
            conf.path.display().to_string(),
            Check::Ranking,
            Severity::Error,
            format!(
                "no replica could be promoted now ({})",
                if each.is_empty() { "none answers".into() } else { each.join("; ") }
            ),
            "make at least one replica promotable (log_bin and log_slave_updates on, no filters, no errant \
             transactions, no no_master=1), and set candidate_master=1 on it",
        ));
        return;
    }
    if let Some((c, lost)) = r.candidates.first().zip(r.loses.first()) {
        let conf_of = |name: &str| conf.servers.iter().find(|s| s.name == name);
        for (name, why) in lost {
            if let Some(s) = conf_of(name) {
                f.push(Finding::on(
                    s,
                    Check::Ranking,
                    Severity::Warning,
                    format!("it could not follow {}, the new master a failover would choose now: {why}", c.server),
                    "give every server the same version and binlog_format (or a newer version on the replicas)",
                ));
            }
        }
    }
    for c in r.candidates.iter().filter(|c| !c.eligible) {
        let Some(s) = conf.servers.iter().find(|s| s.name == c.server) else { continue };
        if s.candidate_master {
            f.push(Finding::on(
                s,
                Check::Ranking,
                Severity::Warning,
                format!("candidate_master=1, but a failover now could not promote it: {}", c.why),
                "mend what excludes it (see its other findings)",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phase::promote::tests::f;

    #[test]
    fn the_ranking_says_why_each_stands_where_it_stands() {
        let mut facts = vec![f("server2"), f("server3"), f("server4")];
        facts[0].log_bin = false;
        facts[1].candidate_master = true;
        facts[2].latest = true;
        facts[2].binlog_format = "STATEMENT".into();
        let hosts = vec!["192.0.2.3:3306".to_string(), "192.0.2.4:3306".into(), "192.0.2.5:3306".into()];
        let r = explain(&promote::rank(&facts), &facts, &hosts);
        let got: Vec<(&str, &str, bool, &str)> =
            r.candidates.iter().map(|c| (c.server.as_str(), c.host.as_str(), c.eligible, c.why.as_str())).collect();
        assert_eq!(
            got,
            [
                (
                    "server3",
                    "192.0.2.4:3306",
                    true,
                    "prefer (candidate_master), keeps 1 of 2; server4 could not follow it: its binlog_format \
                     STATEMENT cannot log what a ROW master sends"
                ),
                ("server4", "192.0.2.5:3306", true, "neutral (default), keeps 2 of 2, the latest"),
                (
                    "server2",
                    "192.0.2.3:3306",
                    false,
                    "excluded: binary logging is off: nothing could replicate from it"
                ),
            ]
        );
        assert_eq!(r.eligible, ["server3", "server4"]);
        let lost = "its binlog_format STATEMENT cannot log what a ROW master sends".to_string();
        assert_eq!(r.loses[0], [("server4".to_string(), lost)]);
    }
}
