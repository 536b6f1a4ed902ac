//! The files to apply as one stream of whole transactions.
//!
//! Files are walked in order with one [`TrxGrouper`], so a transaction may
//! span files (raw relay logs); a diff written by [`crate::diff`] never does.
//! A group is handed out only once its closing event has been read: the tail
//! of the last file, if it ends inside a transaction, comes out as
//! [`Item::Partial`] and is never applied.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::event::{Boundary, EventType, Incomplete, Step, TrxGrouper, WalkOptions, classify};
use crate::log::LogFile;

use super::group::{Fde, GEvent, Group, identify};

/// What the stream yields.
pub(crate) enum Item<'a> {
    /// A whole transaction.
    Group(Group<'a>),
    /// An open group that a new group replaced before it closed, and the
    /// new group is not the same transaction again: its end is missing from
    /// the input (a torn relay log, a master that restarted mid-transaction).
    /// Nothing proves it never committed, so the apply stops before it.
    Abandoned(Group<'a>),
    /// An open group followed by the same transaction (same GTID, or same
    /// master position) from its start: a re-fetch; the whole copy follows,
    /// so the cut one is dropped, as the SQL thread does.
    Refetched(Group<'a>),
    /// An INCIDENT event: the master says events are missing.
    Incident(GEvent<'a>),
    /// The stream ended inside a transaction: its events so far (possibly
    /// none, when only a cut event is there) and the cut event, if any.
    Partial { group: Group<'a>, incomplete: Option<(usize, Incomplete)> },
}

/// Walks files as one stream of groups.
pub(crate) struct Stream<'a> {
    files: &'a [LogFile],
    opts: WalkOptions,
    idx: usize,
    iter: Option<crate::event::EventIter<'a>>,
    fde: Option<Arc<Fde<'a>>>,
    grouper: TrxGrouper,
    open: Option<Group<'a>>,
    queue: VecDeque<Item<'a>>,
    done: bool,
}

impl<'a> Stream<'a> {
    pub fn new(files: &'a [LogFile], verify_checksums: bool) -> Self {
        Stream {
            files,
            opts: WalkOptions { verify_checksums },
            idx: 0,
            iter: None,
            fde: None,
            grouper: TrxGrouper::new(),
            open: None,
            queue: VecDeque::new(),
            done: false,
        }
    }

    /// Next item, or `None` at the end of the last file.
    ///
    /// # Errors
    /// A damaged file (bad magic, checksum mismatch, malformed body), or a
    /// file other than the last ending inside an event.
    pub fn next_item(&mut self) -> Result<Option<Item<'a>>> {
        loop {
            if let Some(it) = self.queue.pop_front() {
                return Ok(Some(it));
            }
            if self.done {
                return Ok(None);
            }
            self.advance()?;
        }
    }

    fn advance(&mut self) -> Result<()> {
        if self.idx >= self.files.len() {
            self.done = true;
            if let Some(g) = self.open.take() {
                self.queue.push_back(Item::Partial { group: g, incomplete: None });
            }
            return Ok(());
        }
        let lf = &self.files[self.idx];
        let it = self.iter.get_or_insert_with(|| lf.events(self.opts));
        match it.next_step() {
            Err(e) => Err(Error::parse(Some(lf.path()), e)),
            Ok(None) => {
                self.idx += 1;
                self.iter = None;
                Ok(())
            }
            Ok(Some(Step::Incomplete(inc))) => {
                if self.idx + 1 < self.files.len() {
                    return Err(lf.truncated(inc));
                }
                self.done = true;
                let g = self.open.take().unwrap_or_default();
                self.queue.push_back(Item::Partial { group: g, incomplete: Some((self.idx, inc)) });
                self.idx += 1;
                Ok(())
            }
            Ok(Some(Step::Event(ev))) => {
                let fmt = it.format().expect("format known after an event");
                if ev.event_type() == EventType::FORMAT_DESCRIPTION {
                    self.fde = Some(Arc::new(Fde { bytes: ev.as_bytes(), fmt: fmt.clone(), file: self.idx }));
                }
                let class = classify(&ev, fmt).map_err(|e| Error::parse(Some(lf.path()), e))?;
                let fde = self.fde.clone().expect("an FDE precedes every event");
                let ge = GEvent { file: self.idx, ev, fde, class };
                self.feed(ge);
                Ok(())
            }
        }
    }

    fn feed(&mut self, ge: GEvent<'a>) {
        let role = self.grouper.feed(ge.class);
        if role.boundary == Boundary::Control {
            if ge.ev.event_type() == EventType::INCIDENT {
                self.queue.push_back(Item::Incident(ge));
            }
            return;
        }
        // A new group while one is open (reported by the grouper, or an open
        // group it thought was between groups): the open one ends here.
        if role.abandons || role.boundary.opens() {
            if let Some(g) = self.open.take() {
                let again = Group { events: vec![ge.clone()] };
                let same = matches!(
                    (identify(&g), identify(&again)),
                    (Ok((a, _)), Ok((b, _))) if a == b
                );
                self.queue.push_back(if same { Item::Refetched(g) } else { Item::Abandoned(g) });
            }
        }
        if role.boundary.opens() {
            self.open = Some(Group::default());
        }
        let g = self.open.get_or_insert_with(Group::default);
        g.events.push(ge);
        if role.boundary.closes() {
            let g = self.open.take().expect("group open");
            self.queue.push_back(Item::Group(g));
        }
    }
}
