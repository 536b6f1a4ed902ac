//! The node operations run in this process: what `binlog-diff node …` runs
//! on a remote host, and what the driver calls directly when the host is
//! this machine (no subprocess, no JSON).

use std::sync::Arc;

use super::protocol::{
    ApplyFailureKind, ApplyOutcome, ApplyReply, ApplyRequest, CutReply, CutRequest, SaveReply, SaveRequest,
};
use crate::apply::{ApplyOptions, Counters, PlanTarget, apply_plan};
use crate::diff::{CutOptions, DiffDoc, Plan, PlanDoc, PlanInput};
use crate::error::{ErrorKind, Result};
use crate::position::ReplicaState;
use crate::server::{ConnSpec, Secret};

/// Plans (and with `write`, cuts) every replica's diff in one shared pass.
///
/// # Errors
/// A bad state, unreadable or damaged relay logs, a replica whose position
/// is not in them, an I/O error writing a diff.
pub fn cut(req: CutRequest) -> Result<CutReply> {
    let replicas = req.replicas.into_iter().map(ReplicaState::try_from).collect::<Result<Vec<_>>>()?;
    let input = PlanInput { replicas, master_binlogs: None, opts: CutOptions::default(), count: req.write.is_none() };
    let mut plan = Plan::make(input)?;
    if let Some(dir) = &req.write {
        plan.write(dir)?;
    }
    Ok(PlanDoc::from(&plan))
}

/// Saves the binlog tail.
///
/// # Errors
/// As [`crate::diff::tail::save_tail`]; `from` not a `FILE:POS`.
pub fn save(req: SaveRequest) -> Result<SaveReply> {
    let from = req.from.parse()?;
    let saved = crate::diff::tail::save_tail(&req.binlog_dirs, &from, req.start, &req.output)?;
    Ok(SaveReply { from: saved.from.to_string(), tail: saved.report.as_ref().map(DiffDoc::from), output: req.output })
}

/// Applies each target's diff, all at once; `counters[i]` follows target `i`.
pub fn apply(req: ApplyRequest, counters: &[Arc<Counters>]) -> ApplyReply {
    let targets: Vec<PlanTarget> = req
        .targets
        .iter()
        .map(|t| PlanTarget {
            name: t.name.clone(),
            host: t.host.clone(),
            port: t.port,
            file: t.file.clone(),
            transactions: 0,
        })
        .collect();
    let base = ConnSpec {
        user: Some(req.user.clone()),
        password: req.password.as_deref().map(Secret::new),
        timeout: Some(std::time::Duration::from_secs(req.mysql_timeout_secs.max(1))),
        ..Default::default()
    };
    let opts = ApplyOptions {
        parallel: req.parallel.max(1),
        resume: req.resume,
        // What an earlier, interrupted run committed is skipped (by GTID, or by the state file).
        skip_applied: true,
        deadline: Some(std::time::Duration::from_secs(req.deadline_secs.max(1))),
        ..Default::default()
    };
    let results = apply_plan(&targets, &base, &opts, counters);
    let outcomes = req
        .targets
        .iter()
        .zip(results)
        .map(|(t, r)| match r {
            Ok(rep) => ApplyOutcome {
                name: t.name.clone(),
                transactions: rep.transactions,
                events: rep.events,
                skipped: rep.skipped,
                last_gtids: rep.last_gtids.clone(),
                failure: None,
            },
            Err(f) => {
                let kind = match f.error.kind() {
                    ErrorKind::Connect(_) => ApplyFailureKind::Connect,
                    ErrorKind::Timeout { .. } => ApplyFailureKind::Timeout,
                    _ => ApplyFailureKind::Other,
                };
                ApplyOutcome {
                    name: t.name.clone(),
                    transactions: f.report.transactions,
                    events: f.report.events,
                    skipped: f.report.skipped,
                    last_gtids: f.report.last_gtids.clone(),
                    failure: Some((kind, f.error.to_string())),
                }
            }
        })
        .collect();
    ApplyReply { targets: outcomes }
}
