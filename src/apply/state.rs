//! Resume state: where the last committed transaction ended, in a small JSON
//! file next to the first diff (`<first file>.apply-state`).
//!
//! How exact it must be depends on whether the target can say what it has
//! (`AppliedCheck` in `applied.rs`):
//!
//! - **By GTID** (every transaction has one and the target records those
//!   we apply): writing the state after every commit would cost an fsync
//!   per transaction for nothing, so it is written in batches (marked
//!   `exact: false`) and once more, exactly, when the run ends or fails. A
//!   batched state may lag behind the target; resume is still correct
//!   because transactions the target has are skipped by its GTID state.
//! - **No check** (transactions without GTIDs, `--disable-log-bin`, a
//!   target without binary logging): the state must never say less than
//!   has committed. The JSON file is written exactly at the start and the
//!   end of a run, and in between a journal beside it
//!   (`<state file>.journal`, appended to) records, for each transaction,
//!   an *intent* — "transaction N (file, offset, GTID): COMMIT about to be
//!   sent", fsynced (`fdatasync`) before the COMMIT is sent — and after the
//!   commit returned, "N committed" (not synced: a lost one only widens the
//!   doubt below, after a crash of the machine). A run killed between the
//!   two leaves transaction N *in doubt*: resume refuses it until told
//!   whether it committed. A run killed before the intent leaves an exact
//!   state.
//!
//! The journal belongs to the JSON state that names it (a random id in
//! both): a journal left by another run is ignored. A torn last record (a
//! crash while it was written) is the normal end of a journal; damage before
//! the end is an error.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::error::{Error, Result};

/// Where an apply stands, as its resume state file records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResumeState {
    /// The files of the run (absolute when possible) and their sizes.
    pub files: Vec<(String, u64)>,
    /// Index of the file where the last committed transaction ends.
    pub file: usize,
    /// Offset just past it.
    pub offset: u64,
    /// Transactions committed so far (all runs).
    pub transactions: u64,
    /// GTID of the last committed transaction.
    pub last_gtid: Option<String>,
    /// Written right after a known commit (not a batched snapshot).
    pub exact: bool,
    /// A transaction whose COMMIT was sent but whose outcome is not known
    /// (the run stopped before the answer): it follows the one above.
    pub in_doubt: Option<InDoubt>,
}

/// A transaction whose COMMIT may or may not have happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InDoubt {
    /// Its number among the transactions of the files ([`ResumeState::transactions`] + 1).
    pub n: u64,
    /// Index of the file of its first event.
    pub file: usize,
    /// Offset of its first event.
    pub offset: u64,
    /// Index of the file where it ends.
    pub end_file: usize,
    /// Offset just past it.
    pub end_offset: u64,
    /// Which transaction (`GTID 0-1-5`, `master position 4 (server_id 1)`).
    pub trx: String,
    /// Its GTID, if it has one.
    pub gtid: Option<String>,
}

impl ResumeState {
    /// A state at the start of the files.
    pub fn start(files: Vec<(String, u64)>) -> ResumeState {
        ResumeState { files, file: 0, offset: 0, transactions: 0, last_gtid: None, exact: true, in_doubt: None }
    }

    /// Whether it records anything applied (or possibly applied).
    pub fn records_any(&self) -> bool {
        self.transactions > 0 || self.offset > 0 || self.in_doubt.is_some()
    }

    /// The transaction in doubt committed after all: the state moves past it.
    pub fn settle_committed(&mut self) {
        if let Some(d) = self.in_doubt.take() {
            self.transactions = d.n;
            self.file = d.end_file;
            self.offset = d.end_offset;
            self.last_gtid = d.gtid;
        }
    }
}

/// The state file for a run over `files`.
pub fn state_path(files: &[PathBuf]) -> PathBuf {
    let first = files.first().map(PathBuf::as_path).unwrap_or(Path::new("binlog-diff"));
    let mut name = first.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".apply-state");
    first.with_file_name(name)
}

/// The identity of the files, as stored.
pub fn file_ids(files: &[PathBuf]) -> Vec<(String, u64)> {
    files
        .iter()
        .map(|f| {
            let p = std::fs::canonicalize(f).unwrap_or_else(|_| f.clone());
            let n = std::fs::metadata(f).map(|m| m.len()).unwrap_or(0);
            (p.display().to_string(), n)
        })
        .collect()
}

impl ResumeState {
    /// Reads a state file; `Ok(None)` when there is none.
    ///
    /// # Errors
    /// Unreadable or malformed file.
    pub fn load(path: &Path) -> Result<Option<ResumeState>> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(path, e)),
        };
        let bad = |m: &str| Error::bad_input("resume state", format!("bad {m}")).with_file(path);
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Error::bad_input("resume state", format!("not JSON: {e}")).with_file(path))?;
        let files = v["files"]
            .as_array()
            .ok_or_else(|| bad("files"))?
            .iter()
            .map(|f| Some((f["path"].as_str()?.to_string(), f["size"].as_u64()?)))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| bad("files"))?;
        let in_doubt = match &v["in_doubt"] {
            serde_json::Value::Null => None,
            d => Some(InDoubt {
                n: d["n"].as_u64().ok_or_else(|| bad("in_doubt.n"))?,
                file: d["file"].as_u64().ok_or_else(|| bad("in_doubt.file"))? as usize,
                offset: d["offset"].as_u64().ok_or_else(|| bad("in_doubt.offset"))?,
                end_file: d["end_file"].as_u64().ok_or_else(|| bad("in_doubt.end_file"))? as usize,
                end_offset: d["end_offset"].as_u64().ok_or_else(|| bad("in_doubt.end_offset"))?,
                trx: d["trx"].as_str().unwrap_or("?").to_string(),
                gtid: d["gtid"].as_str().map(str::to_string),
            }),
        };
        let mut p = ResumeState {
            files,
            file: v["file"].as_u64().ok_or_else(|| bad("file"))? as usize,
            offset: v["offset"].as_u64().ok_or_else(|| bad("offset"))?,
            transactions: v["transactions"].as_u64().unwrap_or(0),
            last_gtid: v["last_gtid"].as_str().map(str::to_string),
            exact: v["exact"].as_bool().unwrap_or(false),
            in_doubt,
        };
        if let Some(id) = v["journal"].as_str() {
            let jpath = journal_path(path);
            match std::fs::read(&jpath) {
                Ok(bytes) => {
                    replay(&mut p, id, &bytes).map_err(|m| Error::bad_input("resume journal", m).with_file(&jpath))?
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(&jpath, e)),
            }
        }
        Ok(Some(p))
    }

    /// Writes the state atomically ([`crate::log::write_atomically`]: a
    /// temporary file, fsynced, renamed over the old one, the folder fsynced).
    ///
    /// # Errors
    /// An I/O error.
    pub fn save(&self, path: &Path) -> Result<()> {
        self.save_with(path, None)
    }

    /// [`ResumeState::save`], naming the journal that continues it.
    fn save_with(&self, path: &Path, journal: Option<&str>) -> Result<()> {
        let d = self.in_doubt.as_ref().map(|d| {
            json!({"n": d.n, "file": d.file, "offset": d.offset, "end_file": d.end_file,
                   "end_offset": d.end_offset, "trx": d.trx, "gtid": d.gtid})
        });
        let v = json!({
            "version": 1,
            "files": self.files.iter().map(|(p, n)| json!({"path": p, "size": n})).collect::<Vec<_>>(),
            "file": self.file,
            "offset": self.offset,
            "transactions": self.transactions,
            "last_gtid": self.last_gtid,
            "exact": self.exact,
            "in_doubt": d,
            "journal": journal,
        });
        crate::log::write_atomically(path, format!("{v}\n").as_bytes())
    }
}

/// The journal beside a state file.
pub fn journal_path(state: &Path) -> PathBuf {
    let mut name = state.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".journal");
    state.with_file_name(name)
}

/// A journal line: fields, then the CRC32 of what precedes it.
fn record(fields: &[&str]) -> String {
    let body = fields.join("\t");
    let crc = crc32fast::hash(body.as_bytes());
    format!("{body}\t{crc:08x}\n")
}

/// Continues `p` with a journal's records (see the module docs).
fn replay(p: &mut ResumeState, id: &str, bytes: &[u8]) -> std::result::Result<(), String> {
    let mut lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    // What follows the last newline is a record cut by a crash (or nothing).
    lines.pop();
    let last = lines.len().saturating_sub(1);
    let mut pending: Option<InDoubt> = None;
    for (i, raw) in lines.iter().enumerate() {
        let parsed = std::str::from_utf8(raw).ok().and_then(|l| {
            let (body, crc) = l.rsplit_once('\t')?;
            (u32::from_str_radix(crc, 16).ok()? == crc32fast::hash(body.as_bytes())).then_some(body)
        });
        let Some(body) = parsed else {
            if i == last {
                break; // torn while written
            }
            return Err(format!("damaged journal record {} (not at its end)", i + 1));
        };
        let f: Vec<&str> = body.split('\t').collect();
        let num = |k: usize| f.get(k).and_then(|x| x.parse::<u64>().ok());
        match (i, f.first().copied()) {
            (0, Some("J")) if f.get(1) == Some(&id) => continue,
            // Another run's journal: the state file is newer than all of it.
            (0, _) => return Ok(()),
            (_, Some("I")) => {
                let bad = || format!("bad journal record {}", i + 1);
                let d = InDoubt {
                    n: num(1).ok_or_else(bad)?,
                    file: num(2).ok_or_else(bad)? as usize,
                    offset: num(3).ok_or_else(bad)?,
                    end_file: num(4).ok_or_else(bad)? as usize,
                    end_offset: num(5).ok_or_else(bad)?,
                    gtid: f.get(6).filter(|g| **g != "-").map(|g| g.to_string()),
                    trx: f.get(7).unwrap_or(&"?").to_string(),
                };
                if d.n <= p.transactions {
                    continue;
                }
                // A transaction run again (a retry) repeats its intent.
                let again = pending.as_ref().is_some_and(|q| q.n == d.n);
                if d.n != p.transactions + 1 || (pending.is_some() && !again) {
                    return Err(format!(
                        "journal record {}: transaction {} out of order (the state is at {})",
                        i + 1,
                        d.n,
                        p.transactions
                    ));
                }
                pending = Some(d);
            }
            (_, Some("C")) => {
                let n = num(1).ok_or_else(|| format!("bad journal record {}", i + 1))?;
                if n <= p.transactions {
                    continue;
                }
                match pending.take() {
                    Some(d) if d.n == n => {
                        p.in_doubt = Some(d);
                        p.settle_committed();
                    }
                    _ => return Err(format!("journal record {}: transaction {n} committed without an intent", i + 1)),
                }
            }
            _ => return Err(format!("bad journal record {}", i + 1)),
        }
    }
    if pending.is_some() {
        p.in_doubt = pending;
    }
    Ok(())
}

/// The journal of a run (see the module docs), 0600.
///
/// Written into space already zero-filled and synced (a chunk at a time):
/// then an intent's `fdatasync` flushes only its data, not the file size
/// as well (an append would, and cost about half as much again here). The
/// zeros after the last record are no record (no newline ends them).
struct Journal {
    file: std::fs::File,
    path: PathBuf,
    /// Where the next record goes.
    at: u64,
    /// Bytes zero-filled so far.
    room: u64,
}

/// Bytes zero-filled at a time (some 25,000 transactions' records).
const CHUNK: u64 = 4 << 20;

impl Journal {
    /// Starts an empty journal with its header, durably.
    fn create(state: &Path, id: &str) -> Result<Journal> {
        use std::os::unix::fs::OpenOptionsExt;
        let path = journal_path(state);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        let mut j = Journal { file, path, at: 0, room: 0 };
        j.append(&record(&["J", id]), true)?;
        // Its name, too, must survive a crash before the first intent counts.
        let dir = j.path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| Error::io(dir, e))?;
        Ok(j)
    }

    fn append(&mut self, line: &str, sync: bool) -> Result<()> {
        use std::os::unix::fs::FileExt;
        let n = line.len() as u64;
        let r = (|| -> std::io::Result<()> {
            if self.at + n > self.room {
                let more = CHUNK.max(n);
                self.file.write_all_at(&vec![0; more as usize], self.room)?;
                self.file.sync_all()?;
                self.room += more;
            }
            self.file.write_all_at(line.as_bytes(), self.at)?;
            if sync {
                self.file.sync_data()?;
            }
            Ok(())
        })();
        r.map_err(|e| Error::io(&self.path, e))?;
        self.at += n;
        Ok(())
    }
}

/// What a run may say about a transaction in doubt.
pub(crate) fn intent_record(d: &InDoubt) -> String {
    let (n, file, off, ef, eo) =
        (d.n.to_string(), d.file.to_string(), d.offset.to_string(), d.end_file.to_string(), d.end_offset.to_string());
    record(&["I", &n, &file, &off, &ef, &eo, d.gtid.as_deref().unwrap_or("-"), &d.trx])
}

/// Writes the state as the run goes: batched snapshots, or exact with a
/// journal (see the module docs).
pub(crate) struct Batcher {
    pub path: PathBuf,
    mode: Mode,
}

enum Mode {
    /// At most every `every` transactions or `period`, not exact.
    Snapshots { every: u64, period: Duration, pending: u64, last: Instant },
    /// Exact: an intent before each COMMIT, a record after it.
    Journal(Option<Journal>),
}

impl Batcher {
    /// Batched snapshots: the target's GTID state settles what they lag.
    pub fn new(path: PathBuf) -> Batcher {
        let mode = Mode::Snapshots { every: 1000, period: Duration::from_secs(1), pending: 0, last: Instant::now() };
        Batcher { path, mode }
    }

    /// Exact: nothing else can say what committed.
    pub fn exact(path: PathBuf) -> Batcher {
        Batcher { path, mode: Mode::Journal(None) }
    }

    /// Whether every commit needs an intent first.
    pub fn journals(&self) -> bool {
        matches!(self.mode, Mode::Journal(_))
    }

    /// The state at the start of a run (and, exact, a new journal after it).
    pub fn begin(&mut self, p: &ResumeState) -> Result<()> {
        match &mut self.mode {
            Mode::Snapshots { .. } => p.save(&self.path),
            Mode::Journal(j) => {
                // Another run's journal goes first: it must never continue this state.
                *j = None;
                remove(&journal_path(&self.path))?;
                let id = format!(
                    "{:x}-{:x}",
                    std::process::id(),
                    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
                );
                p.save_with(&self.path, Some(&id))?;
                *j = Some(Journal::create(&self.path, &id)?);
                Ok(())
            }
        }
    }

    /// Before a COMMIT (exact mode): the transaction may commit from now on.
    pub fn intent(&mut self, d: &InDoubt) -> Result<()> {
        match &mut self.mode {
            Mode::Journal(Some(j)) => j.append(&intent_record(d), true),
            Mode::Journal(None) => Err(Error::invalid("the resume journal was not started").with_file(&self.path)),
            Mode::Snapshots { .. } => Ok(()),
        }
    }

    /// After a commit: a snapshot when due, or the journal's record.
    pub fn committed(&mut self, p: &ResumeState) -> Result<()> {
        match &mut self.mode {
            Mode::Snapshots { every, period, pending, last } => {
                *pending += 1;
                if *pending >= *every || last.elapsed() >= *period {
                    let mut q = p.clone();
                    q.exact = false;
                    q.save(&self.path)?;
                    *pending = 0;
                    *last = Instant::now();
                }
                Ok(())
            }
            Mode::Journal(Some(j)) => j.append(&record(&["C", &p.transactions.to_string()]), false),
            Mode::Journal(None) => Ok(()),
        }
    }

    /// The final write (the journal, if any, is then removed).
    pub fn finish(&mut self, p: &ResumeState) -> Result<()> {
        p.save(&self.path)?;
        match &mut self.mode {
            Mode::Snapshots { pending, .. } => {
                *pending = 0;
                Ok(())
            }
            Mode::Journal(j) => {
                *j = None;
                remove(&journal_path(&self.path))
            }
        }
    }
}

fn remove(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(path, e)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.apply-state");
        assert_eq!(ResumeState::load(&path).unwrap(), None);
        let p = ResumeState {
            files: vec![("/a/b".into(), 12)],
            file: 0,
            offset: 4096,
            transactions: 7,
            last_gtid: Some("0-1-7".into()),
            exact: true,
            in_doubt: None,
        };
        p.save(&path).unwrap();
        assert_eq!(ResumeState::load(&path).unwrap(), Some(p));
        assert_eq!(state_path(&[PathBuf::from("/d/diff.bin")]), PathBuf::from("/d/diff.bin.apply-state"));
    }

    fn doubt(n: u64) -> InDoubt {
        InDoubt {
            n,
            file: 0,
            offset: 100 * n,
            end_file: 1,
            end_offset: 100 * n + 50,
            trx: format!("GTID 0-1-{n}"),
            gtid: Some(format!("0-1-{n}")),
        }
    }

    /// The journal continues its state exactly: committed records move
    /// it, an intent without its record is in doubt, a torn tail is the end.
    #[test]
    fn journal_replay() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.apply-state");
        let mut b = Batcher::exact(path.clone());
        assert!(b.journals());
        let mut p = ResumeState::start(vec![("/a".into(), 9)]);
        p.transactions = 4;
        b.begin(&p).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(journal_path(&path)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        for n in 5..=6 {
            b.intent(&doubt(n)).unwrap();
            p.transactions = n;
            b.committed(&p).unwrap();
        }
        // A retry repeats its intent.
        b.intent(&doubt(7)).unwrap();
        b.intent(&doubt(7)).unwrap();
        let got = ResumeState::load(&path).unwrap().unwrap();
        assert_eq!((got.transactions, got.file, got.offset), (6, 1, 650));
        assert_eq!(got.last_gtid.as_deref(), Some("0-1-6"));
        assert_eq!(got.in_doubt, Some(doubt(7)));
        assert!(got.exact);
        // A torn last record: the end of the journal, not an error.
        let jp = journal_path(&path);
        let end = std::fs::read(&jp).unwrap().iter().position(|&b| b == 0).unwrap();
        use std::os::unix::fs::FileExt;
        let j = std::fs::OpenOptions::new().write(true).open(&jp).unwrap();
        j.write_all_at(b"C\t7\t0000", end as u64).unwrap();
        assert_eq!(ResumeState::load(&path).unwrap().unwrap().in_doubt, Some(doubt(7)));
        // Damage before the end is an error.
        let text = std::fs::read_to_string(&jp).unwrap().replacen("0-1-5", "0-1-X", 1);
        std::fs::write(&jp, text).unwrap();
        assert!(ResumeState::load(&path).unwrap_err().to_string().contains("damaged journal record"));
        // The final write removes the journal.
        p.transactions = 7;
        b.finish(&p).unwrap();
        assert!(!jp.exists());
        assert_eq!(ResumeState::load(&path).unwrap().unwrap().transactions, 7);
    }

    /// A journal left by another run never continues a newer state.
    #[test]
    fn foreign_journal_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.apply-state");
        let mut b = Batcher::exact(path.clone());
        let p = ResumeState::start(vec![("/a".into(), 9)]);
        b.begin(&p).unwrap();
        b.intent(&doubt(1)).unwrap();
        let old = std::fs::read(journal_path(&path)).unwrap();
        // A new run starts (its own journal), then the old journal comes back.
        let mut b2 = Batcher::exact(path.clone());
        b2.begin(&p).unwrap();
        std::fs::write(journal_path(&path), old).unwrap();
        assert_eq!(ResumeState::load(&path).unwrap().unwrap(), p);
    }

    #[test]
    fn settle_in_doubt_as_committed() {
        let mut p = ResumeState::start(vec![]);
        p.in_doubt = Some(doubt(1));
        assert!(p.records_any());
        p.settle_committed();
        assert_eq!((p.transactions, p.file, p.offset, p.in_doubt.is_none()), (1, 1, 150, true));
    }
}
