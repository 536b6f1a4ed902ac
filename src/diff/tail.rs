//! The dead master's binlog tail: its binlogs from a master coordinate to
//! the end, saved as one binlog file (what `save_binary_logs --command=save`
//! does for MHA, and what a failover saves on the dead master's host).

use std::path::{Path, PathBuf};

use super::generate::{CutOptions, DiffReport, save_binlog};
use crate::error::{Error, Result};
use crate::event::{TrxGrouper, WalkOptions, classify};
use crate::log::{Access, LiveFile, LogSet, RecoveryMode};
use crate::position::MasterPos;

/// The folder of `dirs` that holds `file` (MHA's `find_correct_binlog_dir`).
pub fn find_binlog_dir(dirs: &[PathBuf], file: &str) -> Option<PathBuf> {
    dirs.iter().find(|d| d.join(file).is_file()).cloned()
}

/// Where a tail is to start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TailStart {
    /// Exactly at `from`, which must be a transaction boundary.
    Exact,
    /// At the start of the transaction that holds `from` (`from` itself
    /// when it is a boundary): a replica's IO thread may have stopped
    /// reading inside a transaction, whose events before `from` the tail
    /// must then hold too (a transaction never spans two binlogs).
    Transaction,
}

/// A saved tail: where it starts, and what it holds.
#[derive(Clone, Debug)]
pub struct SavedTail {
    /// Its first master coordinate (`from`, or the start of the
    /// transaction `from` was inside).
    pub from: MasterPos,
    /// What was written (`None`: nothing after `from`; no file is left).
    pub report: Option<DiffReport>,
}

/// Saves the binlogs in `dirs` from `from` to the end into `out` (temporary
/// file, fsynced, renamed), starting as `start` says.
///
/// # Errors
/// `from`'s file is in none of `dirs` (the error lists them), `from` not
/// on a transaction boundary under [`TailStart::Exact`], damage in the
/// binlogs (file, offset, event type), an I/O error.
pub fn save_tail(dirs: &[PathBuf], from: &MasterPos, start: TailStart, out: &Path) -> Result<SavedTail> {
    let file = from.file.to_string();
    let dir = find_binlog_dir(dirs, &file).ok_or_else(|| {
        let shown: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
        Error::bad_input(format!("binlog {file}"), format!("not found in {}", shown.join(", ")))
    })?;
    let from = match start {
        TailStart::Exact => from.clone(),
        TailStart::Transaction => MasterPos::new(from.file.clone(), transaction_start(&dir.join(&file), from.pos)?),
    };
    let set = LogSet::from_dir(&dir, from.file.base())?;
    let rep = save_binlog(&set, &from, out, &CutOptions::default())?;
    if rep.written.events == 0 {
        std::fs::remove_file(out).map_err(|e| Error::io(out, e))?;
        return Ok(SavedTail { from, report: None });
    }
    Ok(SavedTail { from, report: Some(rep) })
}

/// The offset of the event that opened the transaction holding `pos` in
/// the binlog at `path`, or `pos` when no transaction is open there (also
/// when `pos` is not an event's start: the save then says so).
///
/// # Errors
/// The file cannot be read, or is damaged before `pos`.
pub fn transaction_start(path: &Path, pos: u64) -> Result<u64> {
    let mut f = LiveFile::open(path, Access::Read)?;
    let mut g = TrxGrouper::new();
    let mut open_at = None;
    let mut at = pos;
    let mode = RecoveryMode::TolerateNewFile;
    f.walk(WalkOptions::default(), None, mode, |step, lf| {
        let Some((ev, fmt)) = step else { return Ok(true) };
        if ev.offset() >= pos {
            return Ok(false);
        }
        let role = g.feed(classify(&ev, fmt).map_err(|e| Error::parse(Some(lf.path()), e))?);
        if role.boundary.opens() {
            open_at = Some(ev.offset());
        }
        if !g.in_group() {
            open_at = None;
        }
        Ok(true)
    })?;
    if let Some(o) = open_at {
        at = o;
    }
    Ok(at)
}
