//! The dead master's binlog tail: its binlogs from a master coordinate to
//! the end, saved as one binlog file (what `save_binary_logs --command=save`
//! does for MHA, and what a failover saves on the dead master's host).

use std::path::{Path, PathBuf};

use super::generate::{CutOptions, DiffReport, save_binlog};
use crate::error::{Error, Result};
use crate::log::LogSet;
use crate::position::MasterPos;

/// The folder of `dirs` that holds `file` (MHA's `find_correct_binlog_dir`).
pub fn find_binlog_dir(dirs: &[PathBuf], file: &str) -> Option<PathBuf> {
    dirs.iter().find(|d| d.join(file).is_file()).cloned()
}

/// Saves the binlogs in `dirs` from `from` (a transaction boundary) to the
/// end into `out` (temporary file, fsynced, renamed). `Ok(None)`: nothing
/// after `from` (no file is left).
///
/// # Errors
/// `from`'s file is in none of `dirs` (the error lists them), damage in
/// the binlogs (file, offset, event type), an I/O error.
pub fn save_tail(dirs: &[PathBuf], from: &MasterPos, out: &Path) -> Result<Option<DiffReport>> {
    let file = from.file.to_string();
    let dir = find_binlog_dir(dirs, &file).ok_or_else(|| {
        let shown: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
        Error::bad_input(format!("binlog {file}"), format!("not found in {}", shown.join(", ")))
    })?;
    let set = LogSet::from_dir(&dir, from.file.base())?;
    let rep = save_binlog(&set, from, out, &CutOptions::default())?;
    if rep.written.events == 0 {
        std::fs::remove_file(out).map_err(|e| Error::io(out, e))?;
        return Ok(None);
    }
    Ok(Some(rep))
}
