//! A plan as it crosses a process or host boundary: the typed form of
//! [`Plan`] that `diff --json` prints and the failover driver reads back.
//! Fields only; nothing is looked up by name at run time.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::generate::{DiffReport, LeftOut};
use super::plan::Plan;
use crate::position::ReplicaStateDoc;

/// A transaction held only in part: where it starts, and how much of it is there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeftOutDoc {
    /// Source file where it starts.
    pub file: String,
    /// Offset of its first event in that file.
    pub offset: u64,
    /// Bytes of it present.
    pub bytes: u64,
}

impl From<&LeftOut> for LeftOutDoc {
    fn from(l: &LeftOut) -> Self {
        LeftOutDoc { file: l.file.to_string(), offset: l.offset, bytes: l.bytes }
    }
}

/// What one diff holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffDoc {
    /// Whole transactions.
    pub transactions: u64,
    /// Events copied.
    pub events: u64,
    /// Bytes in the file.
    pub bytes: u64,
    /// Master coordinate of its first event.
    pub master_start: Option<String>,
    /// Master coordinate after its last kept event.
    pub master_end: Option<String>,
    /// A trailing transaction held only in part, left out.
    pub left_out: Option<LeftOutDoc>,
}

impl From<&DiffReport> for DiffDoc {
    fn from(r: &DiffReport) -> Self {
        DiffDoc {
            transactions: r.transactions,
            events: r.written.events,
            bytes: r.written.bytes,
            master_start: r.master_start.as_ref().map(ToString::to_string),
            master_end: r.master_end.as_ref().map(ToString::to_string),
            left_out: r.left_out.as_ref().map(LeftOutDoc::from),
        }
    }
}

/// One replica's part of a plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetDoc {
    /// The replica's state.
    pub state: ReplicaStateDoc,
    /// Where its missing events start on the latest replica's relay logs.
    pub relay_start: Option<String>,
    /// Whether MHA's fast path (verified) found that start.
    pub fast_path: bool,
    /// Found by GTID: the first missing GTID.
    pub by_gtid: Option<String>,
    /// Where master coordinates and GTIDs disagree, what they say.
    pub gtid_note: Option<String>,
    /// What its diff holds.
    pub diff: DiffDoc,
    /// The written file (on the host that cut it).
    pub file: Option<PathBuf>,
}

/// A whole plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanDoc {
    /// The latest replica's name.
    pub latest: String,
    /// Master coordinate where the latest replica's relay logs end on a transaction boundary.
    pub relay_end: String,
    /// A transaction the latest replica's relay logs hold only in part.
    pub relay_partial: Option<LeftOutDoc>,
    /// What the dead master's binlogs add after `relay_end` (when they were given).
    pub master_tail: Option<DiffDoc>,
    /// Per replica.
    pub replicas: Vec<TargetDoc>,
}

impl PlanDoc {
    /// Replica `name`'s part.
    pub fn target(&self, name: &str) -> Option<&TargetDoc> {
        self.replicas.iter().find(|t| t.state.name == name)
    }
}

impl From<&Plan> for PlanDoc {
    fn from(p: &Plan) -> Self {
        PlanDoc {
            latest: p.targets[p.latest].state.name.clone(),
            relay_end: p.relay_end.to_string(),
            relay_partial: p.relay_partial.as_ref().map(LeftOutDoc::from),
            master_tail: p.master_tail.as_ref().map(DiffDoc::from),
            replicas: p
                .targets
                .iter()
                .map(|t| TargetDoc {
                    state: ReplicaStateDoc::from(&t.state),
                    relay_start: t.relay_start.as_ref().map(ToString::to_string),
                    fast_path: t.fast_path,
                    by_gtid: t.by_gtid.clone(),
                    gtid_note: t.gtid_note.clone(),
                    diff: DiffDoc::from(&t.diff),
                    file: t.file.clone(),
                })
                .collect(),
        }
    }
}
