//! Resume state: where the last committed transaction ended, in a small JSON
//! file next to the first diff (`<first file>.apply-state`).
//!
//! Writing it after every commit would cost an fsync per transaction, so it
//! is written in batches (marked `exact: false`) and once more, exactly, when
//! the run ends or fails. A batched state may lag behind the target; resume
//! is still correct because transactions with a GTID are skipped by the
//! target's own GTID state. Without GTIDs only an exact state is accepted.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::error::{Error, Result};

/// Progress of an apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Progress {
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

impl Progress {
    /// Reads a state file; `Ok(None)` when there is none.
    ///
    /// # Errors
    /// Unreadable or malformed file.
    pub fn load(path: &Path) -> Result<Option<Progress>> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(path, e)),
        };
        let bad = |m: &str| Error::invalid(format!("bad resume state: {m}")).with_file(path);
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(&e.to_string()))?;
        let files = v["files"]
            .as_array()
            .ok_or_else(|| bad("files"))?
            .iter()
            .map(|f| Some((f["path"].as_str()?.to_string(), f["size"].as_u64()?)))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| bad("files"))?;
        Ok(Some(Progress {
            files,
            file: v["file"].as_u64().ok_or_else(|| bad("file"))? as usize,
            offset: v["offset"].as_u64().ok_or_else(|| bad("offset"))?,
            transactions: v["transactions"].as_u64().unwrap_or(0),
            last_gtid: v["last_gtid"].as_str().map(str::to_string),
            exact: v["exact"].as_bool().unwrap_or(false),
        }))
    }

    /// Writes the state atomically ([`crate::log::write_atomically`]: a
    /// temporary file, fsynced, renamed over the old one; the one
    /// implementation, which also makes the rename durable).
    ///
    /// # Errors
    /// An I/O error.
    pub fn save(&self, path: &Path) -> Result<()> {
        let v = json!({
            "version": 1,
            "files": self.files.iter().map(|(p, n)| json!({"path": p, "size": n})).collect::<Vec<_>>(),
            "file": self.file,
            "offset": self.offset,
            "transactions": self.transactions,
            "last_gtid": self.last_gtid,
            "exact": self.exact,
        });
        crate::log::write_atomically(path, format!("{v}\n").as_bytes())
    }
}

/// Batches state writes: at most every `every` transactions or `period`.
pub(crate) struct Batcher {
    pub path: PathBuf,
    every: u64,
    period: Duration,
    pending: u64,
    last: Instant,
}

impl Batcher {
    pub fn new(path: PathBuf) -> Batcher {
        Batcher { path, every: 1000, period: Duration::from_secs(1), pending: 0, last: Instant::now() }
    }

    /// After a commit: writes a (non-exact) snapshot when due.
    pub fn committed(&mut self, p: &Progress) -> Result<()> {
        self.pending += 1;
        if self.pending >= self.every || self.last.elapsed() >= self.period {
            let mut q = p.clone();
            q.exact = false;
            q.save(&self.path)?;
            self.pending = 0;
            self.last = Instant::now();
        }
        Ok(())
    }

    /// The final write.
    pub fn finish(&mut self, p: &Progress) -> Result<()> {
        self.pending = 0;
        p.save(&self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.apply-state");
        assert_eq!(Progress::load(&path).unwrap(), None);
        let p = Progress {
            files: vec![("/a/b".into(), 12)],
            file: 0,
            offset: 4096,
            transactions: 7,
            last_gtid: Some("0-1-7".into()),
            exact: true,
        };
        p.save(&path).unwrap();
        assert_eq!(Progress::load(&path).unwrap(), Some(p));
        assert_eq!(state_path(&[PathBuf::from("/d/diff.bin")]), PathBuf::from("/d/diff.bin.apply-state"));
    }
}
