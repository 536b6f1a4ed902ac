//! What a run was set up with ([`Env`]) and what it records as transactions
//! commit, in commit order ([`Book`]): the report's counts, the last GTID of
//! each domain or source (and of those the target binlogged), the resume
//! state and its writer. The serial run and the parallel commit head keep
//! the same book, so both count and record a commit alike.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::error::Result;
use crate::log::LogFile;

use super::applied::{AppliedCheck, key_of};
use super::convert::TrxPlan;
use super::counters::Counters;
use super::group::TrxId;
use super::options::ApplyOptions;
use super::report::{ApplyFailure, ApplyReport};
use super::resume::resume_point;
use super::state::{Batcher, InDoubt, ResumeState};
use super::target::Target;

/// What the run set up before its loop.
pub(crate) struct Env<'x> {
    pub label: &'x str,
    pub lfs: &'x [LogFile],
    pub files: &'x [PathBuf],
    pub target: &'x Target,
    pub opts: &'x ApplyOptions,
    pub resume_from: Option<(usize, u64)>,
    /// Check `@@last_gtid` after commits of groups without rows (see
    /// [`logged_by`](super::applied::logged_by)).
    pub noop_check: bool,
    /// An intent goes to the journal before each COMMIT.
    pub journaling: bool,
    /// Session lock waits bounded by what is left of the deadline (seconds).
    pub lock_wait: Option<u64>,
    /// Whether the target's GTID state says what it has.
    pub check: AppliedCheck,
    /// The target writes what we apply to its binlog (and records its GTIDs).
    pub logs_binlog: bool,
    /// Whole groups in the input.
    pub groups: u64,
}

/// What the commits update, in commit order.
pub(crate) struct Book {
    pub report: ApplyReport,
    /// The resume state, as of the last commit.
    pub state: ResumeState,
    /// Writes the resume state (none with `no_state_file`).
    pub batcher: Option<Batcher>,
    /// The last committed transaction of each GTID domain or source.
    pub last: BTreeMap<(u32, String), TrxId>,
    /// The same, of those the target wrote to its binlog.
    pub last_logged: BTreeMap<(u32, String), TrxId>,
    /// The transaction whose intent is in the journal (exact state).
    pub pending: Option<InDoubt>,
}

impl Book {
    pub(crate) fn new(report: ApplyReport, state: ResumeState, batcher: Option<Batcher>) -> Book {
        Book { report, state, batcher, last: BTreeMap::new(), last_logged: BTreeMap::new(), pending: None }
    }

    /// A committed transaction, ending at `end`: counts, GTID book-keeping
    /// (`logged`: the target wrote it to its binlog), resume state.
    ///
    /// # Errors
    /// The resume state could not be written.
    pub(crate) fn commit(&mut self, plan: &TrxPlan, end: (usize, u64), logged: bool) -> Result<()> {
        let report = &mut self.report;
        report.transactions += 1;
        report.events += plan.events;
        report.files[end.0].transactions += 1;
        report.files[end.0].events += plan.events;
        if let Some(key) = key_of(&plan.id) {
            self.last.insert(key.clone(), plan.id.clone());
            if logged {
                self.last_logged.insert(key, plan.id.clone());
            } else if let Some(g) = plan.id.gtid() {
                report.not_binlogged.push(g);
            }
        }
        let st = &mut self.state;
        st.file = end.0;
        st.offset = end.1;
        st.transactions += 1;
        st.last_gtid = plan.id.gtid();
        self.pending = None;
        match self.batcher.as_mut() {
            Some(b) => b.committed(st),
            None => Ok(()),
        }
    }

    /// A transaction of file `file` skipped: the target has it, or the
    /// resume state says it committed.
    pub(crate) fn skip(&mut self, file: usize, counters: &Option<Arc<Counters>>) {
        self.report.skipped += 1;
        Counters::tick(counters);
        self.report.files[file].skipped += 1;
    }

    /// Writes the state a last time (exact, or with the transaction in
    /// doubt) and puts where it says the apply stands in the report.
    ///
    /// # Errors
    /// The resume state could not be written.
    pub(crate) fn save_final(&mut self, files: &[PathBuf]) -> Result<()> {
        self.report.resume = Some(resume_point(files, &self.state, self.batcher.is_some()));
        match self.batcher.as_mut() {
            Some(b) => b.finish(&self.state),
            None => Ok(()),
        }
    }

    /// The run's result with its report.
    pub(crate) fn end(self, r: Result<()>) -> std::result::Result<ApplyReport, ApplyFailure> {
        match r {
            Ok(()) => Ok(self.report),
            Err(error) => Err(ApplyFailure { error, report: Box::new(self.report) }),
        }
    }
}
