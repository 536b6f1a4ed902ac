//! What an apply is asked to do: [`ApplyOptions`] (re-exported by
//! [`super`]), the operator's word on a transaction in doubt, and the test
//! hook the parallel apply calls after each commit.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::log::Access;

use super::counters::Counters;

/// Options for an apply.
#[derive(Clone, Debug)]
pub struct ApplyOptions {
    /// Refuse unless the target's `@@server_id` is this.
    pub expect_server_id: Option<u32>,
    /// Refuse unless the target's GTID position is this (MariaDB
    /// `gtid_current_pos`/`gtid_binlog_pos`, MySQL `gtid_executed`).
    pub expect_gtid_pos: Option<String>,
    /// Apply even while replication threads run on the target, or the
    /// input's server flavor differs from the target's.
    pub force: bool,
    /// `SET sql_log_bin=0` for the apply session.
    pub disable_log_bin: bool,
    /// Continue after what the target already has (state file + GTID state).
    pub resume: bool,
    /// Skip, rather than fail on, transactions whose GTID the target
    /// already has: a rerun of an interrupted failover. Unlike `resume` it
    /// needs no state file; transactions without a GTID are applied.
    pub skip_applied: bool,
    /// A trailing incomplete transaction is reported but is not an error.
    pub allow_partial_tail: bool,
    /// Verify event checksums while reading.
    pub verify_checksums: bool,
    /// How to read the files.
    pub access: Access,
    /// State file (default: [`state_path`](super::state_path) of the files).
    pub state_file: Option<PathBuf>,
    /// Write no state file.
    pub no_state_file: bool,
    /// Times a transaction is run again after a deadlock or lock wait
    /// timeout (only transactions the source marks transactional).
    pub retries: u32,
    /// Worker connections: 1 applies serially over one connection; more
    /// run independent transactions side by side, committing in source
    /// order (see "Parallel apply"). Only [`apply`] (which can open
    /// connections) runs in parallel.
    ///
    /// [`apply`]: super::apply()
    pub parallel: usize,
    /// Send every transaction on its own (no compound statements of many
    /// row transactions; see `compound.rs`).
    pub no_batch: bool,
    /// Live progress counters (transactions committed or skipped, of all).
    pub counters: Option<Arc<Counters>>,
    /// Apply files the resume state records as applied (in whole or in
    /// part) once more, from their start. Only matters when the target
    /// cannot say what it has (no GTID check: see "Resume"): that is
    /// refused otherwise.
    pub again: bool,
    /// With `resume` (or `skip_applied`): what became of the transaction the
    /// state says was being committed when the last run stopped. Such a
    /// state is refused without it.
    pub in_doubt: Option<InDoubtWas>,
    /// End the apply when this long has passed since it started (its
    /// connections cut, a [`ErrorKind::Timeout`]); lock waits of its
    /// sessions (`lock_wait_timeout`, `innodb_lock_wait_timeout`) are
    /// bounded by what is left of it. The MySQL timeout (the liveness
    /// bound) is the connection spec's ([`ConnSpec::timeout`]).
    ///
    /// [`ErrorKind::Timeout`]: crate::error::ErrorKind::Timeout
    /// [`ConnSpec::timeout`]: crate::server::ConnSpec::timeout
    pub deadline: Option<Duration>,
    /// Set (by a signal handler) to stop at the next clean point: no COMMIT
    /// is sent after it, an open transaction is rolled back (a statement
    /// still running after a second is interrupted with `KILL QUERY`), the
    /// state is written exactly, and the run fails with
    /// [`ErrorKind::Interrupted`].
    ///
    /// [`ErrorKind::Interrupted`]: crate::error::ErrorKind::Interrupted
    pub interrupt: Option<Arc<AtomicBool>>,
    /// Test hook: called with a parallel worker's connection id right after
    /// its COMMIT returned.
    #[doc(hidden)]
    pub after_commit: Option<AfterCommit>,
}

/// What the operator found of a transaction in doubt (see [`ApplyOptions::in_doubt`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InDoubtWas {
    /// Its changes are on the target: resume after it.
    Committed,
    /// They are not: resume with it.
    RolledBack,
}

/// A test hook (see [`ApplyOptions::after_commit`]).
#[doc(hidden)]
#[derive(Clone)]
pub struct AfterCommit(pub Arc<dyn Fn(u32) + Send + Sync>);

impl std::fmt::Debug for AfterCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AfterCommit")
    }
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            expect_server_id: None,
            expect_gtid_pos: None,
            force: false,
            disable_log_bin: false,
            resume: false,
            skip_applied: false,
            allow_partial_tail: false,
            verify_checksums: true,
            access: Access::Mmap,
            state_file: None,
            no_state_file: false,
            retries: 3,
            parallel: 1,
            no_batch: false,
            counters: None,
            again: false,
            in_doubt: None,
            deadline: None,
            interrupt: None,
            after_commit: None,
        }
    }
}

impl ApplyOptions {
    /// Whether [`ApplyOptions::interrupt`] was set: stop at the next clean point.
    pub(crate) fn interrupted(&self) -> bool {
        self.interrupt.as_ref().is_some_and(|f| f.load(Ordering::Relaxed))
    }
}
