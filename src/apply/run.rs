//! One run over connections already open: the safety checks on the target,
//! what it has and whether its GTID state can say so, where the run starts
//! (its resume state) and how that state is written; then the serial run
//! ([`serial`]) or the parallel one ([`parallel`]), and the end check.

use std::path::PathBuf;
use std::time::Instant;

use crate::error::{Error, Result};
use crate::event::Flavor;
use crate::log::LogFile;

use super::applied::AppliedCheck;
use super::book::{Book, Env};
use super::counters::Counters;
use super::options::ApplyOptions;
use super::prescan::Prescan;
use super::report::{ApplyFailure, ApplyReport};
use super::state::Batcher;
use super::target::{self, Applied, Target};
use super::{ending, parallel, resume, serial, watch};

/// Runs the apply over `conn` (and `workers`, for `--parallel`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn run(
    conn: &mut mysql::Conn,
    label: &str,
    lfs: &[LogFile],
    pre: &Prescan,
    target: Target,
    opts: &ApplyOptions,
    mut report: ApplyReport,
    workers: Vec<mysql::Conn>,
    deadline: Option<Instant>,
) -> Result<ApplyReport, ApplyFailure> {
    report.server_version = target.version.clone();
    report.server_id = target.server_id;
    let files: Vec<PathBuf> = lfs.iter().map(|l| l.path().to_path_buf()).collect();
    Counters::set_total(&opts.counters, pre.groups);
    let fail = |e: Error, report: ApplyReport| ApplyFailure { error: e, report: Box::new(report) };
    let applied = match check_target(conn, label, pre, &target, opts) {
        Ok(a) => a,
        Err(e) => return Err(fail(e, report)),
    };
    // A statement that changes no row is not binlogged under row-based logging:
    // its GTID cannot reach the target's GTID state (MariaDB). Such groups are
    // checked right after their commit, and left out of the final check.
    let flavor = target.flavor;
    let logs_binlog = target.log_bin && !opts.disable_log_bin && target.sql_log_bin;
    let noop_check = flavor == Flavor::MariaDb && logs_binlog && target.binlog_format != "STATEMENT";
    let check = AppliedCheck::of(target.log_bin, !opts.disable_log_bin && target.sql_log_bin, pre.without_gtid);
    let start = match resume::start(opts, &files, check) {
        Ok(s) => s,
        Err(e) => return Err(fail(e, report)),
    };
    let mut batcher = (!opts.no_state_file).then(|| match check {
        AppliedCheck::ByGtid => Batcher::new(start.path.clone()),
        AppliedCheck::None(_) => Batcher::exact(start.path.clone()),
    });
    let journaling = batcher.as_ref().is_some_and(Batcher::journals);
    report.state_file = batcher.as_ref().map(|b| b.path.clone());
    if let Some(b) = batcher.as_mut() {
        // Fail now, not after the first batch, when the state cannot be written.
        if let Err(e) = b.begin(&start.state) {
            let e = Error::config(
                Some("--state-file"),
                format!("cannot write the resume state ({e}); use --state-file or --no-state-file"),
            );
            return Err(fail(e, report));
        }
    }
    let env = Env {
        label,
        lfs,
        files: &files,
        target: &target,
        opts,
        resume_from: start.from,
        noop_check,
        journaling,
        lock_wait: watch::lock_wait_secs(deadline, Instant::now()),
        check,
        logs_binlog,
        groups: pre.groups,
    };
    let book = Book::new(report, start.state, batcher);
    // On MariaDB, workers run windows of row transactions as compound
    // statements (`chain`); the rest runs on the main connection. Batches
    // need the target's GTID state to follow our commits: after a lost
    // connection (or a stopped window) it says which of a batch committed.
    let batching = flavor == Flavor::MariaDb && !opts.no_batch && logs_binlog && check == AppliedCheck::ByGtid;
    if !workers.is_empty() && !batching {
        let (mut book, r) = parallel::run_loop(conn, workers, &env, applied, book);
        let saved = book.save_final(&files);
        let r = r.and(saved).and_then(|()| ending::finish(conn, &env, &mut book));
        return book.end(r);
    }
    serial::run(conn, workers, &env, applied, book, batching)
}

/// Refuses a target the input is not for, or that replicates; returns what
/// it has.
fn check_target(
    conn: &mut mysql::Conn,
    label: &str,
    pre: &Prescan,
    target: &Target,
    opts: &ApplyOptions,
) -> Result<Applied> {
    let flavor = target.flavor;
    if !opts.force {
        if let Some(f) = pre.flavors.iter().find(|&&f| f != flavor) {
            return Err(Error::server(
                label,
                format!(
                    "the files were written by {f:?} but the target is {flavor:?} ({}); use --force to apply anyway",
                    target.version
                ),
            ));
        }
    }
    if let Some(want) = opts.expect_server_id {
        if want != target.server_id {
            return Err(Error::server(label, format!("server_id is {}, expected {want}", target.server_id)));
        }
    }
    let running = target::running_replication(conn, flavor, label)?;
    if !running.is_empty() && !opts.force {
        return Err(Error::server(
            label,
            format!("replication is running ({}); stop it first or use --force", running.join("; ")),
        ));
    }
    if let Some(p) = &opts.expect_gtid_pos {
        target::check_expected_pos(conn, flavor, label, p)?;
    }
    target::read_applied(conn, flavor, label)
}
