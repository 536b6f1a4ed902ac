//! Which replica to promote (orchestrator's lessons: the latest is not
//! always right). Pure: facts in, a ranking with reasons out.
//!
//! Hard rules exclude a candidate: binary logging off; `log_slave_updates`
//! off while others must follow it; replication filters (it lacks data the
//! others have); errant transactions; `no_master` or a registered
//! `must_not`. Then, per pair, whether another replica can follow it: not
//! from a newer major version, nor from a binlog format its own binlog
//! cannot take (a STATEMENT replica that logs updates cannot follow a ROW
//! master). Candidates are ranked by preference (`prefer`, from
//! `candidate_master` or a registered rule; `neutral`; `prefer_not`), then
//! by how many replicas they keep, then the latest first.
//!
//! For a switch (the master alive), a replica known to be behind (lagging
//! more than `running_updates_limit`, or delayed on purpose with
//! `MASTER_DELAY`) ranks after every one that keeps up and is never chosen
//! by itself: the writes would stay blocked while it caught up. Asked for
//! by name, it is refused with its delay and the fix.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::config::ServerConf;
use crate::error::{Error, Result};
use crate::server::status::Status;

/// A promotion rule registered at run time (`binlog-diff register-candidate`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rule {
    /// Never promote it.
    MustNot,
    /// Only when nothing better is there.
    PreferNot,
    /// No preference.
    Neutral,
    /// Promote it when it can be.
    Prefer,
}

impl Rule {
    /// `must_not`, `prefer_not`, `neutral`, `prefer`.
    ///
    /// # Errors
    /// Another word.
    pub fn parse(s: &str) -> Result<Rule> {
        Ok(match s {
            "must_not" => Rule::MustNot,
            "prefer_not" => Rule::PreferNot,
            "neutral" => Rule::Neutral,
            "prefer" => Rule::Prefer,
            _ => return Err(Error::bad_input(format!("rule {s:?}"), "one of must_not, prefer_not, neutral, prefer")),
        })
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Rule::MustNot => "must_not",
            Rule::PreferNot => "prefer_not",
            Rule::Neutral => "neutral",
            Rule::Prefer => "prefer",
        }
    }
}

/// What is known of one replica.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    /// Its name in app.cnf.
    pub name: String,
    /// `@@log_bin`.
    pub log_bin: bool,
    /// `@@log_slave_updates` (`log_replica_updates`).
    pub log_slave_updates: bool,
    /// `VERSION()`: major and minor.
    pub version: (u32, u32),
    /// `@@binlog_format`.
    pub binlog_format: String,
    /// Its replication filters (`Replicate_Do_DB: x`, …).
    pub filters: Vec<String>,
    /// Its errant transactions.
    pub errant: Vec<String>,
    /// `no_master` in app.cnf.
    pub no_master: bool,
    /// `candidate_master` in app.cnf.
    pub candidate_master: bool,
    /// A registered rule.
    pub rule: Option<Rule>,
    /// It read the most.
    pub latest: bool,
    /// How far behind its master it is, when it is known to be behind (a
    /// switch's check: [`Status::behind`]); `None` in a failover.
    pub behind: Option<String>,
}

impl Facts {
    /// From what a server says: `sql` is [`promotion_facts`]'s answer, its
    /// replica status gives its filters; the rule registered for it last.
    ///
    /// [`promotion_facts`]: crate::server::Server::promotion_facts
    pub fn of(
        conf: &ServerConf,
        sql: crate::server::PromotionFacts,
        status: Option<&Status>,
        rules: &[(String, Rule)],
    ) -> Facts {
        let crate::server::PromotionFacts { log_bin, log_replica_updates: log_slave_updates, version, binlog_format } =
            sql;
        let mut nums = version.split(|c: char| !c.is_ascii_digit()).filter(|x| !x.is_empty());
        let mut num = || nums.next().and_then(|x| x.parse().ok()).unwrap_or(0);
        let filters = status.map(replication_filters).unwrap_or_default();
        Facts {
            name: conf.name.clone(),
            log_bin,
            log_slave_updates,
            version: (num(), num()),
            binlog_format,
            filters,
            no_master: conf.no_master,
            candidate_master: conf.candidate_master,
            rule: rules.iter().rev().find(|(n, _)| *n == conf.name).map(|(_, r)| *r),
            ..Default::default()
        }
    }
}

/// The replica status columns that filter replication.
const FILTERS: [&str; 6] = [
    "Replicate_Do_DB",
    "Replicate_Ignore_DB",
    "Replicate_Do_Table",
    "Replicate_Ignore_Table",
    "Replicate_Wild_Do_Table",
    "Replicate_Wild_Ignore_Table",
];

/// A replica's replication filters, as `Column: value` (`Replicate_Do_DB: app`).
pub(super) fn replication_filters(st: &Status) -> Vec<String> {
    FILTERS.iter().filter(|k| !st.get(k).is_empty()).map(|k| format!("{k}: {}", st.get(k))).collect()
}

/// The new master: `requested` (an index into the facts) unless a hard
/// rule excludes it, else the best candidate.
///
/// # Errors
/// The requested one is excluded (with why), or every one is.
pub fn choose(ranked: &[Ranked], facts: &[Facts], requested: Option<usize>) -> Result<usize> {
    match requested {
        Some(i) => {
            let c = ranked.iter().find(|c| c.index == i).expect("every replica is ranked");
            if !c.excluded.is_empty() {
                return Err(Error::refused(format!(
                    "{} cannot be the new master: {}",
                    facts[i].name,
                    c.excluded.join("; ")
                )));
            }
            match &facts[i].behind {
                None => Ok(i),
                Some(why) => {
                    let other = ranked
                        .iter()
                        .find(|c| c.excluded.is_empty() && facts[c.index].behind.is_none())
                        .map(|c| format!(", or choose another with --new-master ({} keeps up)", facts[c.index].name))
                        .unwrap_or_default();
                    Err(Error::refused(format!(
                        "{} cannot be the new master now: {why}. Writes would stay blocked while it caught up. \
                         Nothing was changed. Wait until it has caught up, or set MASTER_DELAY=0 on it for the \
                         switch (STOP SLAVE; CHANGE MASTER TO MASTER_DELAY=0; START SLAVE){other}",
                        facts[i].name
                    )))
                }
            }
        }
        None => match ranked.iter().find(|c| c.excluded.is_empty()) {
            None => Err(Error::refused("no replica can be the new master (see the candidates above)")),
            Some(c) if facts[c.index].behind.is_none() => Ok(c.index),
            Some(_) => {
                let behind: Vec<String> = ranked
                    .iter()
                    .filter(|c| c.excluded.is_empty())
                    .filter_map(|c| facts[c.index].behind.as_ref().map(|w| format!("{}: {w}", facts[c.index].name)))
                    .collect();
                Err(Error::refused(format!(
                    "every replica that could be the new master is behind ({}): writes would stay blocked while \
                     it caught up. Nothing was changed. Wait until one has caught up, or set MASTER_DELAY=0 on one \
                     for the switch",
                    behind.join("; ")
                )))
            }
        },
    }
}

/// One candidate's place.
#[derive(Clone, Debug)]
pub struct Ranked {
    /// Index into the facts.
    pub index: usize,
    /// Why it cannot be promoted (empty: it can).
    pub excluded: Vec<String>,
    /// Its preference, and where it comes from.
    pub preference: (Rule, &'static str),
    /// The others that could follow it, and those that could not (with why).
    pub keeps: Vec<usize>,
    /// Those that could not follow it, and why.
    pub loses: Vec<(usize, String)>,
}

impl Ranked {
    /// One line for a person.
    pub fn describe(&self, facts: &[Facts]) -> String {
        let f = &facts[self.index];
        if !self.excluded.is_empty() {
            return format!("{}: excluded: {}", f.name, self.excluded.join("; "));
        }
        let mut s = format!(
            "{}: {} ({}), keeps {} of {}",
            f.name,
            self.preference.0.name(),
            self.preference.1,
            self.keeps.len(),
            facts.len() - 1
        );
        if f.latest {
            s.push_str(", the latest");
        }
        if let Some(b) = &f.behind {
            s.push_str(&format!(", behind: {b}"));
        }
        for (i, why) in &self.loses {
            s.push_str(&format!("; {} could not follow it: {why}", facts[*i].name));
        }
        s
    }

    /// For the JSON report.
    pub fn doc(&self, facts: &[Facts]) -> CandidateDoc {
        CandidateDoc {
            name: facts[self.index].name.clone(),
            excluded: self.excluded.clone(),
            preference: self.preference.0.name(),
            preference_from: self.preference.1,
            keeps: self.keeps.iter().map(|&i| facts[i].name.clone()).collect(),
            loses: self.loses.iter().map(|(i, w)| Lost { name: facts[*i].name.clone(), why: w.clone() }).collect(),
            latest: facts[self.index].latest,
            behind: facts[self.index].behind.clone(),
        }
    }
}

fn format_rank(f: &str) -> u8 {
    match f.to_ascii_uppercase().as_str() {
        "STATEMENT" => 0,
        "MIXED" => 1,
        _ => 2,
    }
}

/// Why replica `r` cannot follow master `m`, if it cannot.
pub fn cannot_follow(m: &Facts, r: &Facts) -> Option<String> {
    if m.version.0 > r.version.0 || (m.version.0 == r.version.0 && m.version.1 > r.version.1) {
        return Some(format!(
            "its version {}.{} is older than the master's {}.{}",
            r.version.0, r.version.1, m.version.0, m.version.1
        ));
    }
    if r.log_bin && r.log_slave_updates && format_rank(&r.binlog_format) < format_rank(&m.binlog_format) {
        return Some(format!(
            "its binlog_format {} cannot log what a {} master sends",
            r.binlog_format, m.binlog_format
        ));
    }
    None
}

/// Every candidate, best first; excluded ones last, with why.
pub fn rank(facts: &[Facts]) -> Vec<Ranked> {
    let mut out: Vec<Ranked> = (0..facts.len())
        .map(|i| {
            let f = &facts[i];
            let mut excluded = Vec::new();
            if !f.log_bin {
                excluded.push("binary logging is off: nothing could replicate from it".to_string());
            }
            if f.log_bin && !f.log_slave_updates && facts.len() > 1 {
                excluded.push("log_slave_updates is off: what it replicated is not in its binlog".to_string());
            }
            if !f.filters.is_empty() {
                excluded
                    .push(format!("it filters replication ({}): it lacks what the others have", f.filters.join(", ")));
            }
            if !f.errant.is_empty() {
                excluded.push(format!("errant transactions (up to {})", f.errant.join(",")));
            }
            if f.no_master {
                excluded.push("no_master in the configuration".to_string());
            }
            if f.rule == Some(Rule::MustNot) {
                excluded.push("registered must_not".to_string());
            }
            let preference = match (f.rule, f.candidate_master) {
                (Some(r), _) => (r, "registered"),
                (None, true) => (Rule::Prefer, "candidate_master"),
                (None, false) => (Rule::Neutral, "default"),
            };
            let mut keeps = Vec::new();
            let mut loses = Vec::new();
            for (j, r) in facts.iter().enumerate().filter(|(j, _)| *j != i) {
                match cannot_follow(f, r) {
                    None => keeps.push(j),
                    Some(w) => loses.push((j, w)),
                }
            }
            Ranked { index: i, excluded, preference, keeps, loses }
        })
        .collect();
    out.sort_by(|a, b| {
        let key = |r: &Ranked| {
            let f = &facts[r.index];
            (r.excluded.is_empty(), f.behind.is_none(), r.preference.0, r.keeps.len(), f.latest)
        };
        key(a).cmp(&key(b)).reverse().then(a.index.cmp(&b.index))
    });
    out
}

/// A candidate in the JSON report.
#[derive(Clone, Debug, serde::Serialize)]
pub struct CandidateDoc {
    /// Its section name.
    pub name: String,
    /// The hard rules that exclude it (none: it can be promoted).
    pub excluded: Vec<String>,
    /// Its preference.
    pub preference: &'static str,
    /// Where the preference comes from.
    pub preference_from: &'static str,
    /// The replicas that could follow it.
    pub keeps: Vec<String>,
    /// The replicas that could not, and why.
    pub loses: Vec<Lost>,
    /// It is the latest replica.
    pub latest: bool,
    /// Why it is behind, when it is (a switch's check); it ranks last.
    pub behind: Option<String>,
}

/// A replica that could not follow a candidate.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Lost {
    /// Its section name.
    pub name: String,
    /// Why.
    pub why: String,
}

/// The registered rules' file in the manager's workdir.
pub fn rules_file(manager_workdir: &Path) -> PathBuf {
    manager_workdir.join("binlog-diff-candidates.json")
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// One registered rule.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Registered {
    /// The server's section name.
    server: String,
    /// [`Rule::name`].
    rule: String,
    /// When it lapses (Unix seconds), if ever.
    expires: Option<u64>,
}

impl Registered {
    fn in_force(&self) -> bool {
        self.expires.is_none_or(|t| t > now())
    }
}

fn read_registered(file: &Path) -> Result<Vec<Registered>> {
    match std::fs::read_to_string(file) {
        Ok(t) => serde_json::from_str(&t)
            .map_err(|e| Error::bad_input("the candidate registry", e.to_string()).with_file(file)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(Error::io(file, e)),
    }
}

/// The rules registered and still in force, by server name.
///
/// # Errors
/// The file exists but cannot be read or parsed, or names an unknown rule.
pub fn registered(file: &Path) -> Result<Vec<(String, Rule)>> {
    read_registered(file)?
        .into_iter()
        .filter(Registered::in_force)
        .map(|r| Ok((r.server, Rule::parse(&r.rule)?)))
        .collect()
}

/// Registers `rule` for server `name` (replacing its earlier one), for
/// `expire_secs` when given. The read-modify-write runs under an exclusive
/// `flock` on `FILE.lock` beside it (two `register-candidate` at once both
/// land); the file is replaced atomically ([`crate::log::write_atomically`]).
///
/// # Errors
/// The file cannot be read, parsed or written, or another writer holds the
/// lock for more than [`LOCK_WAIT`].
pub fn register(file: &Path, name: &str, rule: Rule, expire_secs: Option<u64>) -> Result<()> {
    if let Some(d) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
    }
    let _lock = lock_beside(file)?;
    let mut list = read_registered(file)?;
    list.retain(|r| r.server != name && r.in_force());
    list.push(Registered {
        server: name.to_string(),
        rule: rule.name().to_string(),
        expires: expire_secs.map(|s| now() + s),
    });
    let text = serde_json::to_string_pretty(&list).map_err(|e| Error::invalid(e.to_string()))?;
    crate::log::write_atomically(file, text.as_bytes())
}

/// How long [`register`] waits for another writer's lock.
pub const LOCK_WAIT: Duration = Duration::from_secs(10);

/// An exclusive `flock` on `FILE.lock` (created 0600, never removed:
/// removing a lock file lets two writers lock two different files), released
/// when dropped. Bounded by [`LOCK_WAIT`].
fn lock_beside(file: &Path) -> Result<std::fs::File> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    let mut name = file.as_os_str().to_owned();
    name.push(".lock");
    let lock = PathBuf::from(name);
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&lock)
        .map_err(|e| Error::io(&lock, e))?;
    let t0 = Instant::now();
    loop {
        // SAFETY: flock on a descriptor we own, open for the call.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return Ok(f);
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::WouldBlock && e.raw_os_error() != Some(libc::EINTR) {
            return Err(Error::io(&lock, e));
        }
        if t0.elapsed() >= LOCK_WAIT {
            return Err(Error::refused(format!(
                "{}: another writer has held it for {LOCK_WAIT:?} (a register-candidate still running?)",
                lock.display()
            )));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub use super::flapping::{blocked_by_last_failover, last_failover_file, record_failover};

/// `1h`, `30m`, `45s`, `2d`, or seconds.
///
/// # Errors
/// Anything else.
pub fn parse_duration(s: &str) -> Result<u64> {
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = n.parse().map_err(|_| Error::bad_input(format!("duration {s:?}"), "e.g. 1h, 30m, 45s, 2d"))?;
    let k = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(Error::bad_input(format!("duration {s:?}"), "e.g. 1h, 30m, 45s, 2d")),
    };
    Ok(n * k)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A replica that could be promoted, for tests.
    pub(crate) fn f(name: &str) -> Facts {
        Facts {
            name: name.into(),
            log_bin: true,
            log_slave_updates: true,
            version: (10, 11),
            binlog_format: "ROW".into(),
            ..Default::default()
        }
    }

    fn order(r: &[Ranked], facts: &[Facts]) -> Vec<String> {
        r.iter().filter(|x| x.excluded.is_empty()).map(|x| facts[x.index].name.clone()).collect()
    }

    #[test]
    fn hard_rules_then_preferences_then_kept_then_latest() {
        let mut v = vec![f("a"), f("b"), f("c"), f("d")];
        v[0].latest = true;
        // The latest alone: it wins among equals.
        assert_eq!(order(&rank(&v), &v), ["a", "b", "c", "d"]);
        // candidate_master beats the latest; a registered prefer_not sinks one.
        v[2].candidate_master = true;
        v[1].rule = Some(Rule::PreferNot);
        assert_eq!(order(&rank(&v), &v), ["c", "a", "d", "b"]);
        // Hard rules exclude, with reasons; a registered rule beats candidate_master.
        v[2].rule = Some(Rule::MustNot);
        v[0].log_bin = false;
        v[3].filters = vec!["Replicate_Do_DB: app".into()];
        let r = rank(&v);
        assert_eq!(order(&r, &v), ["b"]);
        let why = |n: &str| r.iter().find(|x| v[x.index].name == n).unwrap().describe(&v);
        assert!(why("a").contains("binary logging is off"), "{}", why("a"));
        assert!(why("c").contains("registered must_not"), "{}", why("c"));
        assert!(why("d").contains("filters replication (Replicate_Do_DB: app)"), "{}", why("d"));
    }

    #[test]
    fn a_replica_behind_ranks_last_and_is_never_chosen_by_itself() {
        let mut v = vec![f("delayed"), f("b"), f("c")];
        // Preferred and the latest, but delayed on purpose: last of those that can be promoted.
        v[0].candidate_master = true;
        v[0].latest = true;
        v[0].behind = Some("it is delayed on purpose: MASTER_DELAY=25s (SQL_Delay)".into());
        let r = rank(&v);
        assert_eq!(order(&r, &v), ["b", "c", "delayed"]);
        assert_eq!(choose(&r, &v, None).unwrap(), 1);
        assert!(r[2].describe(&v).contains("behind: it is delayed on purpose: MASTER_DELAY=25s"));
        // Asked for by name: refused, naming the delay, the fix and one that keeps up.
        let e = choose(&r, &v, Some(0)).unwrap_err().to_string();
        assert!(e.contains("MASTER_DELAY=25s") && e.contains("MASTER_DELAY=0") && e.contains("b keeps up"), "{e}");
        // Every candidate behind: none is chosen by itself, each named.
        v[1].behind = Some("40s behind its master (Seconds_Behind_Master)".into());
        v[2].filters = vec!["Replicate_Do_DB: app".into()];
        let r = rank(&v);
        let e = choose(&r, &v, None).unwrap_err().to_string();
        assert!(e.contains("delayed: it is delayed") && e.contains("b: 40s behind"), "{e}");
    }

    #[test]
    fn who_can_follow_whom() {
        let mut v = vec![f("new"), f("old"), f("stmt")];
        v[0].version = (11, 4);
        v[2].binlog_format = "STATEMENT".into();
        let r = rank(&v);
        let new = r.iter().find(|x| x.index == 0).unwrap();
        assert_eq!(new.keeps.len(), 0);
        assert!(
            new.describe(&v).contains("old could not follow it: its version 10.11 is older than the master's 11.4")
        );
        assert!(new.describe(&v).contains("stmt could not follow it: its version 10.11"));
        let fmt = cannot_follow(&v[1], &v[2]).unwrap();
        assert!(fmt.contains("its binlog_format STATEMENT cannot log what a ROW master sends"), "{fmt}");
        // Keeping more ranks higher: the STATEMENT one keeps both (a ROW replica takes anything).
        assert_eq!(order(&r, &v)[0], "stmt");
        // A STATEMENT replica without log_slave_updates logs nothing it receives: it can follow.
        let mut m = f("m");
        m.binlog_format = "ROW".into();
        let mut s = f("s");
        s.binlog_format = "STATEMENT".into();
        s.log_slave_updates = false;
        assert_eq!(cannot_follow(&m, &s), None);
    }

    #[test]
    fn a_failover_blocks_the_next_until_acknowledged() {
        let d = tempfile::tempdir().unwrap();
        let file = last_failover_file(d.path());
        assert_eq!(blocked_by_last_failover(&file, 3600).unwrap(), None);
        record_failover(&file, "server1", "server2").unwrap();
        let why = blocked_by_last_failover(&file, 3600).unwrap().unwrap();
        assert!(why.contains("server1 -> server2") && why.contains("binlog-diff ack"), "{why}");
        assert_eq!(blocked_by_last_failover(&file, 0).unwrap(), None, "outside the window");
        std::fs::remove_file(&file).unwrap();
        assert_eq!(blocked_by_last_failover(&file, 3600).unwrap(), None, "acknowledged");
    }

    #[test]
    fn registered_rules_expire() {
        let d = tempfile::tempdir().unwrap();
        let file = rules_file(d.path());
        assert!(registered(&file).unwrap().is_empty());
        register(&file, "server2", Rule::Prefer, None).unwrap();
        register(&file, "server3", Rule::MustNot, Some(3600)).unwrap();
        register(&file, "server2", Rule::PreferNot, None).unwrap();
        let mut got = registered(&file).unwrap();
        got.sort();
        assert_eq!(got, vec![("server2".into(), Rule::PreferNot), ("server3".into(), Rule::MustNot)]);
        // An expired one is gone.
        let mut v: Vec<Registered> = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        for r in v.iter_mut().filter(|r| r.server == "server3") {
            r.expires = Some(1);
        }
        std::fs::write(&file, serde_json::to_string(&v).unwrap()).unwrap();
        assert_eq!(registered(&file).unwrap(), vec![("server2".into(), Rule::PreferNot)]);
        assert_eq!(parse_duration("1h").unwrap(), 3600);
        assert_eq!(parse_duration("90").unwrap(), 90);
        assert!(parse_duration("1w").is_err() && Rule::parse("always").is_err());
    }

    /// Two writers at once (as two `register-candidate`): every registration
    /// lands, none is lost to the other's read-modify-write, and no
    /// temporary file is left.
    #[test]
    fn concurrent_registrations_are_all_kept() {
        let d = tempfile::tempdir().unwrap();
        let file = rules_file(d.path());
        let n = 40;
        let go = std::sync::Barrier::new(2);
        std::thread::scope(|s| {
            for who in ["a", "b"] {
                let (file, go) = (&file, &go);
                s.spawn(move || {
                    go.wait();
                    for i in 0..n {
                        register(file, &format!("{who}{i}"), Rule::Prefer, None).unwrap();
                    }
                });
            }
        });
        let got = registered(&file).unwrap();
        assert_eq!(got.len(), 2 * n, "lost registrations: {got:?}");
        let left: Vec<_> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    }
}
