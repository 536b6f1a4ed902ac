//! Where a run starts: from the top of its files, or from its resume state
//! ([`state`]), decided before anything is applied; and the refusals that
//! keep a transaction from being applied twice when the target cannot say
//! what it has (a batched state, a transaction in doubt, files the state
//! records as applied). See "Resume" in [`super`].

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

use super::applied::{AppliedCheck, NoCheck};
use super::options::{ApplyOptions, InDoubtWas};
use super::report::ResumePoint;
use super::state::{self, InDoubt, ResumeState};

/// Where the run starts.
pub(crate) struct RunStart {
    /// The resume state file.
    pub path: PathBuf,
    /// The state the run goes on from (at the files' start for a fresh run).
    pub state: ResumeState,
    /// Transactions ending at or before this (file index, offset) are skipped.
    pub from: Option<(usize, u64)>,
}

/// Reads the resume state when the run needs it, and decides where the run
/// starts.
///
/// # Errors
/// An unreadable state, or a start that could apply a transaction twice.
pub(crate) fn start(opts: &ApplyOptions, files: &[PathBuf], check: AppliedCheck) -> Result<RunStart> {
    let path = opts.state_file.clone().unwrap_or_else(|| state::state_path(files));
    let ids = state::file_ids(files);
    let exact = matches!(check, AppliedCheck::None(_));
    let stored =
        if opts.resume || (exact && !opts.no_state_file && !opts.again) { ResumeState::load(&path)? } else { None };
    // Without a GTID check, a rerun that skips what it applied can only
    // learn that from its state.
    let resume = opts.resume
        || (exact && opts.skip_applied && stored.as_ref().is_some_and(|p| p.files == ids && p.records_any()));
    if !resume {
        if let (AppliedCheck::None(why), Some(p)) = (check, stored.filter(ResumeState::records_any)) {
            return Err(already_recorded(&path, &p, &ids, files, why));
        }
        return Ok(RunStart { path, state: ResumeState::start(ids), from: None });
    }
    let Some(mut p) = stored else {
        if let AppliedCheck::None(why) = check {
            return Err(Error::config(
                Some("--resume"),
                format!("no resume state, and the target cannot say what it has ({})", why.why()),
            )
            .with_file(&path));
        }
        return Ok(RunStart { path, state: ResumeState::start(ids), from: None });
    };
    if p.files != ids {
        return Err(Error::refused("the resume state is for other files (or they changed)").with_file(&path));
    }
    if let (AppliedCheck::None(why), false) = (check, p.exact) {
        return Err(Error::refused(format!(
            "the resume state was not written at a known commit (a batched snapshot, which may lag what \
             committed: it says {} transactions) and the target cannot say what it has ({}): resuming \
             from it could apply transactions twice",
            p.transactions,
            why.why()
        ))
        .with_file(&path));
    }
    if let Some(d) = &p.in_doubt {
        match opts.in_doubt {
            None => return Err(in_doubt_error(&path, d, files)),
            Some(InDoubtWas::Committed) => p.settle_committed(),
            Some(InDoubtWas::RolledBack) => p.in_doubt = None,
        }
    }
    let from = Some((p.file, p.offset));
    p.exact = true;
    Ok(RunStart { path, state: p, from })
}

/// Where the state says the apply stands (for the report).
pub(crate) fn resume_point(files: &[PathBuf], p: &ResumeState, saved: bool) -> ResumePoint {
    ResumePoint {
        file: files.get(p.file).cloned().unwrap_or_default(),
        offset: p.offset,
        transactions: p.transactions,
        last_gtid: p.last_gtid.clone(),
        in_doubt: p.in_doubt.as_ref().map(|d| in_doubt_text(d, files)),
        saved,
    }
}

fn in_doubt_text(d: &InDoubt, files: &[PathBuf]) -> String {
    let name = |i: usize| files.get(i).map(|f| f.display().to_string()).unwrap_or_else(|| format!("file #{i}"));
    format!(
        "transaction {} of these files, {} ({} @ {} to {} @ {})",
        d.n,
        d.trx,
        name(d.file),
        d.offset,
        name(d.end_file),
        d.end_offset
    )
}

/// A resume refused: a transaction's COMMIT was sent but its outcome is unknown.
fn in_doubt_error(state: &Path, d: &InDoubt, files: &[PathBuf]) -> Error {
    let file = files.get(d.file).map(|f| f.display().to_string()).unwrap_or_default();
    let stop = if d.end_file == d.file { format!(" --stop-position {}", d.end_offset) } else { String::new() };
    Error::refused(format!(
        "{} was being committed when the last run stopped, and whether it committed cannot be told from here \
         (the run that sent it could not check the target's GTID state); look on the target for its changes \
         (`binlog-diff dump --rows --start-position {}{stop} {file}` prints them), then resume with \
         --resume-assume-committed if they are there, or --resume-assume-rolled-back if they are not",
        in_doubt_text(d, files),
        d.offset
    ))
    .with_file(state)
}

/// A fresh apply refused: the state records these files (or others at its
/// path) as applied, and the target cannot say what it has.
fn already_recorded(state: &Path, p: &ResumeState, ids: &[(String, u64)], files: &[PathBuf], why: NoCheck) -> Error {
    let what = if p.files == ids {
        let at = files.get(p.file).map(|f| f.display().to_string()).unwrap_or_default();
        let doubt =
            p.in_doubt.as_ref().map(|d| format!(", and {} in doubt", in_doubt_text(d, files))).unwrap_or_default();
        format!(
            "records {} transactions of these files as applied (up to {at} @ {}{}){doubt}",
            p.transactions,
            p.offset,
            p.last_gtid.as_deref().map(|g| format!(", last GTID {g}")).unwrap_or_default()
        )
    } else {
        let first = p.files.first().map(|(f, n)| format!("{f} ({n} bytes)")).unwrap_or_default();
        format!(
            "records {} transactions applied from other files, starting with {first} (or from these files before \
             they changed)",
            p.transactions
        )
    };
    Error::refused(format!(
        "this resume state {what}; the target cannot say what it has ({}), so applying the files again could \
         apply those transactions twice: --resume continues after them; --again applies the files from their \
         start anyway",
        why.why()
    ))
    .with_file(state)
}
