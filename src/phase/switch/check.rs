//! The switch's phase 1: who is the master, who follows it, in which mode,
//! how far behind each replica is, who is to be the new master; statements
//! that would hold the lock up, transactions that would be lost or commit
//! on the old master alone. Nothing changes here.

use super::{Node, SwitchDoc, SwitchOptions};
use crate::error::{Error, Result};
use crate::phase::config::{AppConf, ServerConf};
use crate::phase::{label, promote, say, spec};
use crate::server::Server;
use crate::server::status::{GtidMode, Status};

/// What phase 1 found.
pub(super) struct Checked {
    /// The servers of the switch: the master and every replica that follows it.
    pub nodes: Vec<Node>,
    /// The master's index.
    pub oi: usize,
    /// The new master's index.
    pub ni: usize,
    pub mode: GtidMode,
}

impl Checked {
    pub fn orig(&self) -> &ServerConf {
        &self.nodes[self.oi].conf
    }

    pub fn new_master(&self) -> &ServerConf {
        &self.nodes[self.ni].conf
    }
}

/// Phase 1.
pub(super) fn check(o: &SwitchOptions, conf: &AppConf, doc: &mut SwitchDoc) -> Result<Checked> {
    if conf.servers.len() < 2 {
        return Err(Error::refused(format!(
            "{} names {} server(s): a switch needs a master and at least one replica",
            conf.path.display(),
            conf.servers.len()
        )));
    }
    let (nodes, oi) = topology(conf)?;
    let mode = replication_mode(&nodes, oi)?;
    let orig = nodes[oi].conf.clone();
    say(&format!("  Current master: {}; replication mode: {}", label(&orig), mode.name()));
    let mut c = Checked { nodes, oi, ni: oi, mode };
    c.ni = choose(o, conf, &mut c, doc)?;
    say(&format!("  New master: {}", label(c.new_master())));
    doc.orig_master = Some(orig.name.clone());
    doc.new_master = Some(c.new_master().name.clone());
    refuse_slow_followers(o, &c)?;
    refuse_long_running(o, &mut c)?;
    refuse_open_transactions(o, &mut c)?;
    Ok(c)
}

/// Every server that answers (one with `ignore_fail` that does not is left
/// out), the master among them, and the replicas that follow it (one with
/// `ignore_fail` that does not is left out as it is).
fn topology(conf: &AppConf) -> Result<(Vec<Node>, usize)> {
    let mut found = Vec::new();
    for s in &conf.servers {
        match Server::connect(&spec(s)) {
            Ok(srv) => {
                let mut srv = srv.named(&s.name);
                let st = srv.replica_status()?;
                found.push((Node { conf: s.clone(), srv, status: None }, st));
            }
            Err(e) if s.ignore_fail => say(&format!("  {}: skipped (ignore_fail): {e}", label(s))),
            Err(e) => {
                return Err(Error::refused(format!(
                    "{}: {e}. Nothing was changed. A switch needs every server of {} to answer: start it, set \
                     ignore_fail=1 in its [{}] section, or remove it from the file (a dead master after a failover)",
                    label(s),
                    conf.path.display(),
                    s.name
                )));
            }
        }
    }
    if found.len() < 2 {
        return Err(Error::refused("fewer than two servers answer: nothing to switch"));
    }
    let oi = (0..found.len())
        .find(|&i| {
            found[i].1.is_none()
                && (0..found.len())
                    .filter(|&j| j != i)
                    .all(|j| found[j].0.conf.ignore_fail || follows(&found[j].1, &found[i].0.conf))
        })
        .ok_or_else(|| no_master(&found))?;
    let orig = found[oi].0.conf.clone();
    let mut nodes = Vec::new();
    let mut statuses = Vec::new();
    for (i, (n, st)) in found.into_iter().enumerate() {
        if i != oi && !follows(&st, &orig) {
            say(&format!(
                "  {}: skipped (ignore_fail): it does not replicate from the master; left as it is",
                label(&n.conf)
            ));
            continue;
        }
        nodes.push(n);
        statuses.push(st);
    }
    if nodes.len() < 2 {
        return Err(Error::refused("the master has no replica to switch to"));
    }
    let oi = nodes.iter().position(|n| n.conf.name == orig.name).unwrap_or(0);
    for (n, st) in nodes.iter_mut().zip(statuses) {
        n.status = st;
    }
    Ok((nodes, oi))
}

/// `st` replicates from `m` with both threads running.
fn follows(st: &Option<Status>, m: &ServerConf) -> bool {
    st.as_ref().is_some_and(|st| crate::phase::replicates_from(st, m) && st.io_running() && st.sql_running())
}

fn no_master(found: &[(Node, Option<Status>)]) -> Error {
    let each: Vec<String> = found
        .iter()
        .map(|(n, st)| match st {
            None => format!("{}: not a replica", label(&n.conf)),
            Some(st) => format!(
                "{}: replicates from {}:{} (IO thread {}, SQL thread {})",
                label(&n.conf),
                st.master().0,
                st.master().1,
                st.get("Slave_IO_Running"),
                st.get("Slave_SQL_Running")
            ),
        })
        .collect();
    Error::refused(format!(
        "no server is the master every other one replicates from, with both threads running ({}): switch refused, \
         nothing changed",
        each.join("; ")
    ))
}

/// The replicas' one replication mode, which the switch keeps.
fn replication_mode(nodes: &[Node], oi: usize) -> Result<GtidMode> {
    let modes: Vec<GtidMode> = nodes
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != oi)
        .filter_map(|(_, n)| n.status.as_ref())
        .map(Status::gtid_mode)
        .collect();
    let mode = modes.first().copied().unwrap_or(GtidMode::Off);
    if modes.iter().any(|m| *m != mode) {
        return Err(Error::refused("the replicas replicate in different modes: make them agree first"));
    }
    Ok(mode)
}

/// The new master, by the promotion rules among the replicas (`--new-master`
/// cannot overrule a hard rule).
fn choose(o: &SwitchOptions, conf: &AppConf, c: &mut Checked, doc: &mut SwitchDoc) -> Result<usize> {
    let rules = promote::registered(&promote::rules_file(&conf.manager_workdir))?;
    let idx: Vec<usize> = (0..c.nodes.len()).filter(|&i| i != c.oi).collect();
    let mut facts = Vec::new();
    for &i in &idx {
        let n = &mut c.nodes[i];
        let sql = n.srv.promotion_facts()?;
        let mut f = promote::Facts::of(&n.conf, sql, n.status.as_ref(), &rules);
        f.behind = n.status.as_ref().and_then(|st| st.behind(o.running_updates_limit.as_secs()));
        facts.push(f);
    }
    let ranked = promote::rank(&facts);
    say("  Candidates, best first:");
    for r in &ranked {
        say(&format!("    {}", r.describe(&facts)));
    }
    doc.candidates = ranked.iter().map(|r| r.doc(&facts)).collect();
    let requested = match &o.new_master {
        Some((h, p)) => {
            let s = conf.find(h, *p)?;
            let orig = c.orig();
            Some(idx.iter().position(|&i| c.nodes[i].conf.name == s.name).ok_or_else(|| {
                Error::config(Some("--new-master"), format!("{} is not a replica of {}", label(s), label(orig)))
            })?)
        }
        None => None,
    };
    Ok(idx[promote::choose(&ranked, &facts, requested)?])
}

/// Statements running on the master for `running_updates_limit` or more
/// (other than replication's) would hold the write lock up: refused.
fn refuse_long_running(o: &SwitchOptions, c: &mut Checked) -> Result<()> {
    let orig = c.orig().clone();
    let long = c.nodes[c.oi].srv.long_running(o.running_updates_limit.as_secs())?;
    let long: Vec<_> = long.into_iter().filter(|(_, u, _, _)| *u != orig.repl_user).collect();
    if long.is_empty() {
        return Ok(());
    }
    let l: Vec<String> = long.iter().map(|(id, u, t, q)| format!("#{id} {u} {t}s: {q}")).collect();
    Err(Error::refused(format!(
        "statements running on {} for {}s or more (running_updates_limit): {}; switch refused",
        label(&orig),
        o.running_updates_limit.as_secs(),
        l.join(" | ")
    )))
}

/// The other replicas follow the new master only once they have executed
/// up to the old master's end, each within `--wait-timeout`: one delayed
/// or behind by that much would be left behind, replicating from a
/// read-only old master. Refused before anything changes; one behind by
/// less is named (the switch ends later by as much, the writes are not
/// blocked meanwhile).
fn refuse_slow_followers(o: &SwitchOptions, c: &Checked) -> Result<()> {
    let wait = o.wait_timeout.as_secs();
    let mut slow = Vec::new();
    for (i, n) in c.nodes.iter().enumerate().filter(|(i, _)| *i != c.oi && *i != c.ni) {
        let Some(st) = n.status.as_ref() else { continue };
        let Some(why) = st.behind(o.running_updates_limit.as_secs()) else { continue };
        let needs = st.sql_delay().max(st.seconds_behind().unwrap_or(0));
        if needs >= wait {
            slow.push(format!("{}: {why}", label(&c.nodes[i].conf)));
        } else {
            say(&format!(
                "  {}: {why}: it follows {} once it has executed what the old master wrote (up to about {needs}s \
                 after the new master takes writes)",
                label(&n.conf),
                label(c.new_master())
            ));
        }
    }
    if slow.is_empty() {
        return Ok(());
    }
    Err(Error::refused(format!(
        "{}: it could not execute what the old master wrote within --wait-timeout ({wait}s) after the switch, and \
         would be left replicating from the read-only old master. Switch refused, nothing changed. Set \
         MASTER_DELAY=0 on it for the switch (STOP SLAVE; CHANGE MASTER TO MASTER_DELAY=0; START SLAVE), wait \
         until it has caught up, or give a --wait-timeout longer than its delay and lag",
        slow.join("; ")
    )))
}

/// Transactions open on the master for `running_updates_limit` or more
/// (that wrote or hold locks) refuse the switch, each named, unless
/// `--kill-open-transactions` (they are ended in phase 2, just before the
/// lock). Left alone, one from a client that `read_only` does not stop
/// would commit on the old master alone. Younger ones are traffic in
/// flight: they commit before the lock (and replicate), or are ended after
/// the switch, their clients told they failed.
fn refuse_open_transactions(o: &SwitchOptions, c: &mut Checked) -> Result<()> {
    let orig = c.orig().clone();
    let limit = o.running_updates_limit.as_secs();
    let open = c.nodes[c.oi].srv.open_transactions(limit)?;
    if open.is_empty() {
        return Ok(());
    }
    let each: Vec<String> = open.iter().map(ToString::to_string).collect();
    if o.kill_open_transactions {
        say(&format!(
            "  {}: {} open transaction(s), to be ended before the lock (--kill-open-transactions): {}",
            label(&orig),
            open.len(),
            each.join(" | ")
        ));
        return Ok(());
    }
    let ids: Vec<String> = open.iter().map(|t| t.thread.to_string()).collect();
    Err(Error::refused(format!(
        "transactions open for {limit}s or more (running_updates_limit) on {}: {}. Switch refused, nothing changed: the switch would have to end them (their \
         work rolled back), and one from a client that read_only does not stop (SUPER, root) would otherwise \
         commit on the old master alone. Let them commit or roll back, end them (KILL CONNECTION {}), or run \
         again with --kill-open-transactions",
        label(&orig),
        each.join(" | "),
        ids.join("; KILL CONNECTION ")
    )))
}
