//! What of the input is never applied, and why: a copy of a transaction cut
//! short and re-fetched whole (reported, dropped as the SQL thread drops
//! it), a transaction cut short by another (an error: it may have
//! committed on the master), the trailing incomplete transaction (reported;
//! an error unless allowed), and an INCIDENT event (an error: the master
//! says events are missing).

use crate::error::Error;
use crate::event::{EventType, Incomplete};
use crate::log::LogFile;

use super::group::{GEvent, Group, identify};
use super::report::NotApplied;

/// A group not applied, with its place, size and why.
fn not_applied(lfs: &[LogFile], g: &Group<'_>, extra: Option<(usize, Incomplete)>, reason: &str) -> NotApplied {
    let (file, offset) = if g.events.is_empty() { extra.map(|(f, i)| (f, i.at)).unwrap_or((0, 0)) } else { g.start() };
    NotApplied {
        file: lfs[file].path().to_path_buf(),
        offset,
        events: g.events.len() as u64,
        bytes: g.bytes() + extra.map(|(_, i)| i.available).unwrap_or(0),
        reason: reason.to_string(),
    }
}

/// A group cut short by the same transaction starting again (reported, never applied).
pub(crate) fn refetched(lfs: &[LogFile], g: &Group<'_>) -> NotApplied {
    not_applied(
        lfs,
        g,
        None,
        "re-fetched: the same transaction starts again and follows whole; this copy is not applied",
    )
}

/// A group cut short by another transaction: its end is missing from the
/// input. Dropping it would lose a transaction the master may have
/// committed, so the apply stops before it (nothing of it applied).
pub(crate) fn abandoned_error(lfs: &[LogFile], g: &Group<'_>) -> Error {
    let (fi, off) = g.start();
    let id = identify(g).map(|(id, _)| id.to_string()).unwrap_or_else(|_| "an unidentified transaction".into());
    let first = g.events.first().map(|e| e.ev.event_type());
    Error::refused(format!(
        "{id} ({} bytes) is cut short by the start of another transaction: its end is missing from the input \
         (a torn relay log?); stopping before it, nothing of it applied — take it whole from the master's binlog",
        g.bytes()
    ))
    .with_file(lfs[fi].path())
    .at(off, first)
}

/// The input's trailing incomplete transaction, if it has any bytes.
pub(crate) fn partial_tail(
    lfs: &[LogFile],
    g: &Group<'_>,
    incomplete: Option<(usize, Incomplete)>,
) -> Option<NotApplied> {
    if g.events.is_empty() && incomplete.is_none() {
        return None;
    }
    let why =
        if incomplete.is_some() { "the input ends inside an event of it" } else { "the input ends before its commit" };
    Some(not_applied(lfs, g, incomplete, why))
}

/// The error an INCIDENT event stops the apply with.
pub(crate) fn incident_error(lfs: &[LogFile], ge: &GEvent<'_>) -> Error {
    let (n, msg) = crate::event::views::incident(&ge.ev, &ge.fde.fmt).unwrap_or((0, b""));
    Error::refused(format!(
        "INCIDENT event {n} ({}): the master reports lost events; stopping before it",
        String::from_utf8_lossy(msg)
    ))
    .with_file(lfs[ge.file].path())
    .at(ge.ev.offset(), Some(EventType::INCIDENT))
}
