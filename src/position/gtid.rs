//! GTIDs: what a server has executed (MariaDB positions, MySQL GTID sets)
//! and where, by GTID, a target's missing transactions begin in the latest
//! replica's relay logs — the answer when master coordinates cannot give
//! one, and a check on it when they can.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{Error, Result};
use crate::event::{EventType, Format, RawEvent, WalkOptions};
use crate::log::{LiveFile, LogSet, RecoveryMode};

use super::coords::RelayPos;
use super::cursor::{MasterCursor, Origin};
use super::relay_map::MapOptions;

/// MariaDB GTID positions: highest seq_no per `(domain, server_id)`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MariaState {
    /// `(domain, server) → seq_no`.
    pub map: BTreeMap<(u32, u32), u64>,
}

impl MariaState {
    /// Parses `0-1-12,1-2-5` (any of gtid_binlog_pos/state, gtid_slave_pos…).
    pub fn parse(s: &str) -> Result<MariaState> {
        let mut st = MariaState::default();
        st.add(s)?;
        Ok(st)
    }

    /// Adds the entries of a list, keeping the highest seq_no.
    pub fn add(&mut self, s: &str) -> Result<()> {
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let bad = || Error::bad_input(format!("MariaDB GTID {part:?}"), "expected DOMAIN-SERVER-SEQ");
            let mut it = part.split('-');
            let d = it.next().and_then(|x| x.parse().ok()).ok_or_else(bad)?;
            let sv = it.next().and_then(|x| x.parse().ok()).ok_or_else(bad)?;
            let q: u64 = it.next().and_then(|x| x.parse().ok()).ok_or_else(bad)?;
            if it.next().is_some() {
                return Err(bad());
            }
            let e = self.map.entry((d, sv)).or_insert(q);
            *e = (*e).max(q);
        }
        Ok(())
    }

    /// Highest seq_no recorded in `domain`, from any server.
    pub fn domain_seq(&self, domain: u32) -> Option<u64> {
        self.map.iter().filter(|((d, _), _)| *d == domain).map(|(_, &n)| n).max()
    }

    /// Highest seq_no recorded for `(domain, server)`.
    pub fn seq(&self, domain: u32, server: u32) -> Option<u64> {
        self.map.get(&(domain, server)).copied()
    }

    /// One GTID per domain, the highest seq_no (seq_no only grows within a
    /// domain, whichever server wrote it): a `gtid_slave_pos` value.
    pub fn domain_position(&self) -> String {
        let mut per: BTreeMap<u32, (u32, u64)> = BTreeMap::new();
        for (&(d, s), &n) in &self.map {
            let e = per.entry(d).or_insert((s, n));
            if n > e.1 {
                *e = (s, n);
            }
        }
        per.iter().map(|(d, (s, n))| format!("{d}-{s}-{n}")).collect::<Vec<_>>().join(",")
    }

    /// Entries as a sorted `d-s-n` list.
    pub fn to_text(&self) -> String {
        self.map.iter().map(|((d, s), n)| format!("{d}-{s}-{n}")).collect::<Vec<_>>().join(",")
    }
}

/// A MySQL GTID set: `uuid[:tag]` → sorted closed intervals.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GtidSet {
    /// `(uuid lower-case, tag)` → intervals.
    pub map: BTreeMap<(String, String), Vec<(i64, i64)>>,
}

impl GtidSet {
    /// Parses `uuid:1-5:7,uuid2:tag:1-3` (whitespace and newlines allowed).
    pub fn parse(s: &str) -> Result<GtidSet> {
        let mut set = GtidSet::default();
        let clean: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        for part in clean.split(',').filter(|p| !p.is_empty()) {
            let mut it = part.split(':');
            let uuid = it.next().unwrap_or_default().to_ascii_lowercase();
            if uuid.len() != 36 {
                return Err(Error::bad_input(
                    format!("GTID set element {part:?}"),
                    "expected a 36-character UUID first",
                ));
            }
            let mut tag = String::new();
            for seg in it {
                if seg.chars().next().is_some_and(|c| c.is_ascii_digit()) {
                    let (a, b) = match seg.split_once('-') {
                        Some((a, b)) => (a, b),
                        None => (seg, seg),
                    };
                    let (a, b) = match (a.parse::<i64>(), b.parse::<i64>()) {
                        (Ok(a), Ok(b)) => (a, b),
                        _ => return Err(Error::bad_input(format!("GTID interval {seg:?}"), "expected N or N-M")),
                    };
                    set.map.entry((uuid.clone(), tag.clone())).or_default().push((a, b));
                } else {
                    tag = seg.to_ascii_lowercase();
                }
            }
        }
        Ok(set)
    }

    /// Whether every gno of `a..=b` under `key` is in the set.
    fn covers_interval(&self, key: &(String, String), a: i64, b: i64) -> bool {
        let mut ivs = self.map.get(key).cloned().unwrap_or_default();
        ivs.sort_unstable();
        let mut need = a;
        for (s, e) in ivs {
            if s > need {
                break;
            }
            if e >= need {
                if e >= b {
                    return true;
                }
                need = e + 1;
            }
        }
        need > b
    }

    /// The GTIDs of this set that `other` lacks.
    pub fn minus(&self, other: &GtidSet) -> GtidSet {
        let mut out = GtidSet::default();
        for (k, ivs) in &self.map {
            let mut theirs = other.map.get(k).cloned().unwrap_or_default();
            theirs.sort_unstable();
            let mut left = Vec::new();
            for &(a, b) in ivs {
                let mut from = a;
                for &(x, y) in &theirs {
                    if y < from || x > b {
                        continue;
                    }
                    if x > from {
                        left.push((from, x - 1));
                    }
                    from = from.max(y.saturating_add(1));
                    if from > b {
                        break;
                    }
                }
                if from <= b {
                    left.push((from, b));
                }
            }
            if !left.is_empty() {
                out.map.insert(k.clone(), left);
            }
        }
        out
    }

    /// `uuid[:tag]:a-b` per interval.
    pub fn to_list(&self) -> Vec<String> {
        let mut v = Vec::new();
        for ((u, t), ivs) in &self.map {
            let head = if t.is_empty() { u.clone() } else { format!("{u}:{t}") };
            for &(a, b) in ivs {
                v.push(if a == b { format!("{head}:{a}") } else { format!("{head}:{a}-{b}") });
            }
        }
        v
    }

    /// Whether `uuid:gno` (untagged) is in the set.
    pub fn contains(&self, uuid: &str, gno: i64) -> bool {
        self.contains_tagged(uuid, "", gno)
    }

    /// Whether `uuid:tag:gno` is in the set (`tag` empty: untagged).
    pub fn contains_tagged(&self, uuid: &str, tag: &str, gno: i64) -> bool {
        self.map
            .get(&(uuid.to_ascii_lowercase(), tag.to_ascii_lowercase()))
            .is_some_and(|v| v.iter().any(|&(a, b)| a <= gno && gno <= b))
    }
}

/// What a replica has executed, by GTID: MariaDB `gtid_slave_pos` (one
/// GTID per domain: everything in the domain up to its seq_no, which grows
/// whichever server wrote it) or MySQL `Executed_Gtid_Set`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Executed {
    /// MariaDB.
    Maria(MariaState),
    /// MySQL.
    Mysql(GtidSet),
}

impl Executed {
    /// Parses either form (MySQL's has `uuid:`; empty: nothing executed).
    ///
    /// # Errors
    /// Neither form.
    pub fn parse(s: &str) -> Result<Executed> {
        if s.contains(':') {
            Ok(Executed::Mysql(GtidSet::parse(s)?))
        } else {
            Ok(Executed::Maria(MariaState::parse(s)?))
        }
    }

    /// Whether this set holds everything `other` holds (`None`: one is
    /// MariaDB's, the other MySQL's).
    pub fn covers(&self, other: &Executed) -> Option<bool> {
        match (self, other) {
            (Executed::Maria(a), Executed::Maria(b)) => {
                Some(b.map.keys().all(|&(d, _)| a.domain_seq(d) >= b.domain_seq(d)))
            }
            (Executed::Mysql(a), Executed::Mysql(b)) => {
                Some(b.map.iter().all(|(k, ivs)| ivs.iter().all(|&(x, y)| a.covers_interval(k, x, y))))
            }
            _ => None,
        }
    }

    /// For a GTID event: its GTID, and whether this set holds it. `None`
    /// for any other event.
    ///
    /// # Errors
    /// A GTID event that cannot be decoded.
    pub fn check(
        &self,
        ev: &RawEvent<'_>,
        fmt: &Format,
    ) -> std::result::Result<Option<(String, bool)>, crate::event::ParseError> {
        let t = ev.event_type();
        if t == EventType::MARIA_GTID {
            let g = crate::event::views::MariaGtid::parse(ev, fmt)?;
            let (d, sv, n) = (g.domain_id, ev.server_id(), g.seq_no);
            let has = match self {
                Executed::Maria(st) => st.domain_seq(d).is_some_and(|m| m >= n),
                Executed::Mysql(_) => false,
            };
            return Ok(Some((format!("{d}-{sv}-{n}"), has)));
        }
        if t == EventType::GTID || t == EventType::GTID_TAGGED {
            let text = crate::event::tagged::gtid_text(ev)?;
            let has = match self {
                Executed::Mysql(set) => {
                    let parts: Vec<&str> = text.split(':').collect();
                    match parts.as_slice() {
                        [u, n] => n.parse().is_ok_and(|n| set.contains(u, n)),
                        [u, tag, n] => n.parse().is_ok_and(|n| set.contains_tagged(u, tag, n)),
                        _ => false,
                    }
                }
                Executed::Maria(_) => false,
            };
            return Ok(Some((text, has)));
        }
        Ok(None)
    }
}

/// A server's GTID state with what marks its own writes: MariaDB
/// `gtid_binlog_state` and its server_id, MySQL `gtid_executed` and its
/// server_uuid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OwnState {
    /// MariaDB.
    Maria {
        /// `@@server_id`.
        server_id: u32,
        /// `@@gtid_binlog_state`.
        state: MariaState,
    },
    /// MySQL.
    Mysql {
        /// `@@server_uuid`.
        uuid: String,
        /// `@@gtid_executed`.
        executed: GtidSet,
    },
}

/// Per replica, its errant transactions: its own writes that no other
/// replica has (a replica that was a master once has its old writes on the
/// others too: not errant). MariaDB: per domain, the last such GTID
/// (`gtid_binlog_state` keeps only the last per domain and server); MySQL:
/// the intervals under its server_uuid the others lack. `None`: unknown.
pub fn errant(states: &[Option<OwnState>]) -> Vec<Vec<String>> {
    let others = |i: usize| states.iter().enumerate().filter(move |(j, _)| *j != i).filter_map(|(_, s)| s.as_ref());
    states
        .iter()
        .enumerate()
        .map(|(i, s)| match s {
            None => Vec::new(),
            Some(OwnState::Maria { server_id: me, state }) => state
                .map
                .iter()
                .filter(|((_, server), _)| server == me)
                .filter(|&(&(d, sv), &n)| {
                    others(i).all(|o| match o {
                        OwnState::Maria { state: o, .. } => o.seq(d, sv).is_none_or(|m| m < n),
                        OwnState::Mysql { .. } => true,
                    })
                })
                .map(|(&(d, sv), &n)| format!("{d}-{sv}-{n}"))
                .collect(),
            Some(OwnState::Mysql { uuid, executed }) => {
                let uuid = uuid.to_ascii_lowercase();
                let mine = GtidSet {
                    map: executed
                        .map
                        .iter()
                        .filter(|((u, _), _)| *u == uuid)
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                };
                let mut theirs = GtidSet::default();
                for o in others(i) {
                    if let OwnState::Mysql { executed, .. } = o {
                        for (k, v) in &executed.map {
                            theirs.map.entry(k.clone()).or_default().extend(v.iter().copied());
                        }
                    }
                }
                mine.minus(&theirs).to_list()
            }
        })
        .collect()
}

/// Where, by GTID, a target's missing transactions begin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GtidStart {
    /// At this transaction's GTID event (its GTID).
    Found(RelayPos, String),
    /// The target has every transaction the logs hold.
    AlreadyComplete,
}

/// The first transaction in `relay` (the latest replica's relay logs) whose
/// GTID `executed` lacks: where that target's diff
/// starts. Later transactions it has are left to the applier, which skips
/// what the target's GTID state holds.
///
/// # Errors
/// Unreadable or damaged logs, or a transaction without a GTID before any
/// the target lacks (nothing to go by).
pub fn gtid_start(relay: &LogSet, executed: &Executed, opts: &MapOptions) -> Result<GtidStart> {
    let mut own = opts.own_server_id;
    let n = relay.files().len();
    for (i, (name, path)) in relay.files().iter().enumerate() {
        let mut lf = LiveFile::open(path, opts.access)?;
        let mut cur = MasterCursor::relay(own, None);
        let mut found = None;
        let mut anonymous = None;
        lf.walk(
            WalkOptions { verify_checksums: opts.verify_checksums },
            None,
            RecoveryMode::TolerateNewFile.for_file(i + 1 == n),
            |step, _| {
                let Some((ev, fmt)) = step else { return Ok(true) };
                let origin = cur.advance(&ev, fmt).map_err(|e| Error::parse(Some(path), e))?;
                if origin != Origin::Data {
                    return Ok(true);
                }
                if ev.event_type() == EventType::ANONYMOUS_GTID {
                    anonymous = Some(ev.offset());
                    return Ok(false);
                }
                match executed.check(&ev, fmt).map_err(|e| Error::parse(Some(path), e))? {
                    Some((g, false)) => {
                        found = Some((ev.offset(), g));
                        Ok(false)
                    }
                    _ => Ok(true),
                }
            },
        )?;
        own = own.or(cur.own_server_id());
        if let Some(at) = anonymous {
            return Err(no_gtid(path, at));
        }
        if let Some((at, g)) = found {
            return Ok(GtidStart::Found(RelayPos::new(name.clone(), at), g));
        }
    }
    Ok(GtidStart::AlreadyComplete)
}

fn no_gtid(path: &Path, at: u64) -> Error {
    Error::bad_input("a transaction without a GTID", "the target's place cannot be found by GTID")
        .with_file(path)
        .at(at, Some(EventType::ANONYMOUS_GTID))
}

/// The GTID of the first transaction at or after `at` in one relay file,
/// and whether `executed` holds it (`None`: no GTID event follows there).
///
/// # Errors
/// The file cannot be read or is damaged.
pub fn gtid_at(
    relay: &LogSet,
    at: &RelayPos,
    executed: &Executed,
    opts: &MapOptions,
) -> Result<Option<(String, bool)>> {
    let Some(path) = relay.path(&at.file) else { return Ok(None) };
    let mut lf = LiveFile::open(path, opts.access)?;
    let wo = WalkOptions { verify_checksums: opts.verify_checksums };
    // The format in effect there: the file's header events (read only those,
    // then jump: the file may be large).
    let mut fmt: Option<Format> = None;
    let mut cur = MasterCursor::relay(opts.own_server_id, None);
    let header = lf.walk(wo, None, RecoveryMode::TolerateNewFile, |step, _| {
        let Some((ev, f)) = step else { return Ok(true) };
        match cur.advance(&ev, f) {
            Ok(Origin::Data) | Err(_) => Ok(false),
            Ok(_) => {
                fmt = Some(f.clone());
                Ok(true)
            }
        }
    });
    let (Ok(_), Some(fmt)) = (header, fmt) else { return Ok(None) };
    let mut found = None;
    lf.walk(wo, Some((at.pos, fmt)), RecoveryMode::TolerateTruncatedTail, |step, _| {
        let Some((ev, f)) = step else { return Ok(true) };
        if cur.advance(&ev, f).map_err(|e| Error::parse(Some(path), e))? == Origin::Data {
            found = executed.check(&ev, f).map_err(|e| Error::parse(Some(path), e))?;
        }
        Ok(found.is_none())
    })?;
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::LogFile;

    #[test]
    fn maria_state() {
        let s = MariaState::parse("0-1-12, 1-2-5,0-3-7,0-1-3").unwrap();
        assert_eq!(s.seq(0, 1), Some(12));
        assert_eq!(s.seq(0, 3), Some(7));
        assert_eq!(s.seq(1, 2), Some(5));
        assert_eq!(s.seq(2, 2), None);
        assert_eq!(s.to_text(), "0-1-12,0-3-7,1-2-5");
        let e = MariaState::parse("0-1").unwrap_err();
        assert_eq!(e.to_string(), "MariaDB GTID \"0-1\": expected DOMAIN-SERVER-SEQ");
        assert!(matches!(e.kind(), crate::error::ErrorKind::BadInput { .. }));
        assert!(MariaState::parse("").unwrap().map.is_empty());
        // A failover's new master continues the domain's seq_no: the highest wins.
        assert_eq!(MariaState::parse("0-1-12,0-3-7,1-2-5,0-2-13").unwrap().domain_position(), "0-2-13,1-2-5");
    }

    #[test]
    fn gtid_set() {
        let s =
            GtidSet::parse("3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5:7,\n4e11fa47-71ca-11e1-9e33-c80aa9429562:tag:1-3")
                .unwrap();
        assert!(s.contains("3e11fa47-71ca-11e1-9e33-c80aa9429562", 5));
        assert!(s.contains("3e11fa47-71ca-11e1-9e33-c80aa9429562", 7));
        assert!(!s.contains("3e11fa47-71ca-11e1-9e33-c80aa9429562", 6));
        assert!(!s.contains("4e11fa47-71ca-11e1-9e33-c80aa9429562", 1));
        assert!(GtidSet::parse("").unwrap().map.is_empty());
    }

    fn fixture_relay() -> LogSet {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/mariadb/row-crc32/replica");
        LogSet::discover(&dir, crate::log::LogKind::Relay).unwrap()
    }

    #[test]
    fn start_by_gtid_on_mariadb_relay_logs() {
        let relay = fixture_relay();
        let o = MapOptions { own_server_id: Some(2), ..MapOptions::default() };
        let at = |f: &str, p: u64| RelayPos::new(f.parse().unwrap(), p);
        let start = |ex: &str| gtid_start(&relay, &Executed::parse(ex).unwrap(), &o).unwrap();
        // Nothing executed: the first transaction of the first relay file with data.
        assert_eq!(start(""), GtidStart::Found(at("relay-bin.000002", 627), "0-1-1".into()));
        // Up to 0-1-11 (the last one in relay-bin.000002): the next file's first.
        assert_eq!(start("0-1-11"), GtidStart::Found(at("relay-bin.000004", 684), "0-1-12".into()));
        // A position holds the whole domain up to its seq_no, whatever the server id.
        assert_eq!(start("0-7-12"), GtidStart::Found(at("relay-bin.000004", 1361), "0-1-13".into()));
        assert_eq!(start("0-1-13"), GtidStart::AlreadyComplete);
        // Another domain only: everything in domain 0 is missing.
        assert_eq!(start("1-1-50"), GtidStart::Found(at("relay-bin.000002", 627), "0-1-1".into()));
        // The check at a position: the GTID found there, and whether the target has it.
        let ex = Executed::parse("0-1-12").unwrap();
        assert_eq!(gtid_at(&relay, &at("relay-bin.000004", 1361), &ex, &o).unwrap(), Some(("0-1-13".into(), false)));
        assert_eq!(gtid_at(&relay, &at("relay-bin.000004", 684), &ex, &o).unwrap(), Some(("0-1-12".into(), true)));
        assert_eq!(gtid_at(&relay, &at("relay-bin.000004", 1700), &ex, &o).unwrap(), None);
    }

    #[test]
    fn mysql_gtids_and_anonymous_transactions() {
        let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/testdata/public");
        let find = |name: &str| {
            let mut stack = vec![corpus.clone()];
            while let Some(d) = stack.pop() {
                for e in std::fs::read_dir(&d).ok()?.flatten() {
                    let p = e.path();
                    if p.is_dir() {
                        stack.push(p);
                    } else if p.file_name().is_some_and(|n| n == name) {
                        return Some(p);
                    }
                }
            }
            None
        };
        let Some(gtid_file) = find("binlog_transaction_with_GTID.000001") else {
            eprintln!("skipped: the public corpus is not at {}", corpus.display());
            return;
        };
        // MySQL GTID events against an executed set.
        let lf = LogFile::open(&gtid_file, crate::log::Access::Read).unwrap();
        let mut seen = Vec::new();
        lf.walk(WalkOptions::default(), RecoveryMode::AbsoluteConsistency, |ev, fmt| {
            let ex = Executed::parse("00000000-0000-0000-0000-000000000000:1").unwrap();
            if let Some(r) = Executed::Mysql(GtidSet::default()).check(&ev, fmt).unwrap() {
                let (g, has) = r;
                assert!(!has);
                let (uuid, n) = g.rsplit_once(':').unwrap();
                let set = Executed::parse(&format!("{uuid}:1-{n}")).unwrap();
                assert_eq!(set.check(&ev, fmt).unwrap(), Some((g.clone(), true)));
                assert_eq!(ex.check(&ev, fmt).unwrap().map(|r| r.1), Some(false));
                seen.push(g);
            }
            Ok(true)
        })
        .unwrap();
        assert!(!seen.is_empty(), "GTID events in {}", gtid_file.display());
        // A MySQL 8.0 relay log of anonymous transactions: no answer by GTID, said so.
        let relay = find("rpl_unfiltered_hidden_gcol.000001").unwrap();
        let set = LogSet::from_files([relay]).unwrap();
        let e = gtid_start(&set, &Executed::parse("").unwrap(), &MapOptions::default()).unwrap_err();
        assert!(e.to_string().contains("@ 371 (ANONYMOUS_GTID") && e.to_string().contains("without a GTID"), "{e}");
    }

    #[test]
    fn errant_own_writes() {
        let maria = |id: u32, s: &str| Some(OwnState::Maria { server_id: id, state: MariaState::parse(s).unwrap() });
        // Replica 2 wrote 0-2-3 (errant); replica 3 was master once (0-3-5 everywhere), then wrote 0-3-6.
        let e = errant(&[maria(2, "0-1-90,0-2-3,0-3-5"), maria(3, "0-1-80,0-3-6"), maria(4, "0-1-85,0-3-5"), None]);
        assert_eq!(e, vec![vec!["0-2-3".to_string()], vec!["0-3-6".to_string()], vec![], vec![]]);
        let u1 = "3e11fa47-71ca-11e1-9e33-c80aa9429561";
        let u2 = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
        let mysql =
            |uuid: &str, s: &str| Some(OwnState::Mysql { uuid: uuid.into(), executed: GtidSet::parse(s).unwrap() });
        // Replica u2 was master for 1-10 (everyone has them), then wrote 11-12 only it has.
        let e = errant(&[mysql(u2, &format!("{u1}:1-100,{u2}:1-12")), mysql("x", &format!("{u1}:1-90,{u2}:1-10"))]);
        assert_eq!(e[0], vec![format!("{u2}:11-12")]);
        assert!(e[1].is_empty());
        // minus: holes and edges.
        let a = GtidSet::parse(&format!("{u1}:1-10:20-30")).unwrap();
        let b = GtidSet::parse(&format!("{u1}:3-4:9-21:30")).unwrap();
        assert_eq!(a.minus(&b).to_list(), vec![format!("{u1}:1-2"), format!("{u1}:5-8"), format!("{u1}:22-29")]);
    }
}
