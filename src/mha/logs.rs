//! Finding the logs the way MHA's `BinlogManager` does (relay-log.info,
//! relay dir + current file, comma lists of binlog folders), and cutting
//! them the way MHA's raw mode needs: a diff that starts where MHA says
//! (even inside a transaction) and, for relay logs, keeps a trailing
//! incomplete transaction, whose end is in the next `--apply_files` piece.
//!
//! Differences from MHA, on purpose:
//! - files are ordered by the `.index` (numerically when there is none),
//!   not by the lexically last name in the folder (`x.999999` < `x.1000000`);
//! - only master data events are copied (see [`crate::diff`]), not the
//!   source file's header events.

use std::path::{Path, PathBuf};

use crate::diff::{CutOptions, DiffReport, LeftOut, Start};
use crate::error::{Error, Result};
use crate::event::{Step, WalkOptions, flags};
use crate::log::{LogFile, LogKind, LogName, LogSet};

/// A series of logs in one folder, as MHA's `BinlogManager` knows it.
#[derive(Clone, Debug)]
pub struct Logs {
    /// The folder (`{dir}` in MHA's messages).
    pub dir: PathBuf,
    /// Its files of the series.
    pub set: LogSet,
    /// The current file named by relay-log.info / `--current_relay_log` / `--start_file`.
    pub current: LogName,
}

impl Logs {
    /// The newest file (`{end_log}`).
    pub fn end(&self) -> &LogName {
        &self.set.last().expect("a located series has files").0
    }

    /// The newest file's path.
    pub fn end_path(&self) -> &Path {
        &self.set.last().expect("a located series has files").1
    }

    /// MHA's `init_from_dir_file`: the series of `current` in `dir`.
    ///
    /// # Errors
    /// No file of the series, or the newest one cannot be opened.
    pub fn from_dir_file(dir: &Path, current: &str) -> Result<Logs> {
        let current: LogName = current
            .trim()
            .rsplit('/')
            .next()
            .unwrap_or("")
            .parse()
            .map_err(|e: crate::log::name::BadLogName| Error::from(e))?;
        let set = LogSet::from_dir(dir, current.base())?;
        let Some((_, end)) = set.last() else {
            // MHA's words, as the manager's log shows them.
            let none =
                std::io::Error::new(std::io::ErrorKind::NotFound, "Failed to get tail of the relay/bin log name!");
            return Err(Error::from(none));
        };
        std::fs::File::open(end).map_err(|e| Error::io(end, e))?;
        Ok(Logs { dir: dir.to_path_buf(), set, current })
    }

    /// MHA's `init_from_relay_log_info`: the relay file named in
    /// relay-log.info (a numeric first line is a line count; a relative
    /// name, `./` stripped, is in `datadir`, default the info file's folder).
    ///
    /// # Errors
    /// Unreadable info file, or no relay log found.
    pub fn from_relay_log_info(rinfo: &Path, datadir: Option<&Path>) -> Result<Logs> {
        let text = std::fs::read_to_string(rinfo).map_err(|e| {
            Error::from(std::io::Error::new(
                e.kind(),
                format!("Could not open relay-log-info file {}.", rinfo.display()),
            ))
        })?;
        let datadir = datadir
            .filter(|d| !d.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| rinfo.parent().map(Path::to_path_buf).unwrap_or_default());
        // Only the name matters here (MHA reads nothing else).
        let file = crate::log::info::relay_log_path(&text, &datadir).ok_or_else(|| {
            Error::bad_input("relay-log.info", "Coundln't get current relay log name.").with_file(rinfo)
        })?;
        let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
        Logs::from_dir_file(&dir, name)
    }
}

/// A folder name as MHA prints it (no trailing `/`).
pub fn show_dir(d: &Path) -> String {
    let s = d.display().to_string();
    let t = s.trim_end_matches('/');
    if t.is_empty() { s } else { t.to_string() }
}

/// MHA's `find_correct_binlog_dir`: the first folder of a comma list that holds `file`.
pub fn find_binlog_dir(file: &str, dirs: &str) -> Option<PathBuf> {
    dirs.split(',').filter(|d| !d.is_empty()).map(PathBuf::from).find(|d| d.join(file).is_file())
}

/// MHA's `find_correct_binlog_dir_file_from_prefix`: the first folder with
/// files `prefix.NNNNNN`, and its oldest one.
pub fn find_binlog_dir_from_prefix(prefix: &str, dirs: &str) -> Option<(PathBuf, String)> {
    for d in dirs.split(',').filter(|d| !d.is_empty()) {
        let d = PathBuf::from(d);
        if let Ok(set) = LogSet::from_dir(&d, prefix) {
            if let Some((n, _)) = set.files().iter().find(|(_, p)| p.is_file()) {
                return Some((d, n.to_string()));
            }
        }
    }
    None
}

/// Whether a log file is a relay log (its first FDE carries the RELAY_LOG
/// flag). Reads only the file's first bytes.
pub fn is_relay_log(path: &Path) -> Result<bool> {
    let (lf, _) = LogFile::open_prefix(path, 64 << 10)?;
    let mut it = lf.events(WalkOptions { verify_checksums: false });
    match it.next_step() {
        Ok(Some(Step::Event(ev))) if ev.event_type() == crate::event::EventType::FORMAT_DESCRIPTION => {
            Ok(ev.flags() & flags::RELAY_LOG != 0)
        }
        Ok(_) => Ok(false),
        Err(e) => Err(Error::parse(Some(path), e)),
    }
}

/// What a cut for MHA produced.
#[derive(Clone, Debug)]
pub struct Cut {
    /// The engine's report (whole transactions).
    pub report: DiffReport,
    /// A trailing incomplete transaction that was kept in the file
    /// (relay sources: its end follows in the next apply file).
    pub kept_tail: Option<LeftOut>,
    /// Events in the file (the kept tail included).
    pub events: u64,
    /// Bytes in the file.
    pub bytes: u64,
}

/// Cuts `set` from `start` to the end into `out`, MHA's way: a start
/// inside a transaction is accepted (and one before the first event is
/// taken as the first event); for relay logs a trailing incomplete
/// transaction is kept (appended after the engine's boundary-clean cut); for
/// a master's binlog it is left out (never committed).
///
/// # Errors
/// A damaged source, a start that is not an event boundary, an I/O error.
pub fn cut(set: &LogSet, start: &Start, out: &Path, opts: &CutOptions) -> Result<Cut> {
    let kind = start.kind();
    let opts = CutOptions { allow_mid_transaction_start: true, keep_partial_tail: kind == LogKind::Relay, ..*opts };
    let start = Start::new(kind, start.file().clone(), start.pos().max(4));
    let report = match &start {
        Start::Relay(p) => crate::diff::relay_diff(set, p, out, &opts)?,
        Start::Binlog(p) => crate::diff::save_binlog(set, p, out, &opts)?,
    };
    let kept_tail = if kind == LogKind::Relay { report.left_out.clone() } else { None };
    Ok(Cut { events: report.written.events, bytes: report.written.bytes, kept_tail, report })
}
