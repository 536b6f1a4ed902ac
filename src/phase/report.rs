//! The failover's JSON report (`--json FILE`), typed: each phase fills its
//! own section, in the order of [`Phase`]. Written in every case, also when
//! the run fails.

use std::path::PathBuf;

use serde::Serialize;

use super::record::Record;
use crate::diff::DiffDoc;

/// The report's format version.
pub const VERSION: u32 = 2;

/// A failover's phases, in order: they order the timings and the report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Phase 1: nothing changes.
    ConfigurationCheck,
    /// Phase 2: the in-progress record, the hooks, IO threads stopped.
    DeadMasterShutdown,
    /// Phase 3: SQL threads settle, the diffs are cut, the new master chosen.
    MasterRecovery,
    /// Phase 4: applied, the new master writable, the others following it.
    ApplyAndRepoint,
    /// Phase 5: the new master cleaned up, records, `report_script`.
    Cleanup,
}

impl Phase {
    /// How the log and the report name it.
    pub fn name(self) -> &'static str {
        match self {
            Phase::ConfigurationCheck => "configuration check",
            Phase::DeadMasterShutdown => "dead master shutdown",
            Phase::MasterRecovery => "master recovery",
            Phase::ApplyAndRepoint => "apply and re-point",
            Phase::Cleanup => "cleanup",
        }
    }
}

/// How long a phase took.
#[derive(Clone, Debug, Serialize)]
pub struct PhaseTime {
    /// [`Phase::name`].
    pub phase: &'static str,
    /// Seconds.
    pub seconds: f64,
}

/// What one replica's IO thread said about the master.
#[derive(Clone, Debug, Serialize)]
pub struct Evidence {
    /// The replica.
    pub replica: String,
    /// `Slave_IO_Running`.
    pub io_thread: String,
    /// Its last IO error.
    pub last_io_error: Option<String>,
}

/// The dead master, as the run found it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct DeadMaster {
    /// Its section name.
    pub name: String,
    /// Its address.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// Its host over SSH: `reachable` or `unreachable`.
    pub ssh: Option<&'static str>,
    /// Each replica's evidence.
    pub evidence: Vec<Evidence>,
    /// `dead` or `unreachable`.
    pub verdict: Option<&'static str>,
    /// Where the tail saved in phase 1 starts.
    pub tail_saved_in_phase_1: Option<String>,
    /// Why the tail could not be saved (`--accept-loss`).
    pub tail_error: Option<String>,
}

/// A server left out (`ignore_fail`).
#[derive(Clone, Debug, Serialize)]
pub struct Skipped {
    /// Its section name.
    pub name: String,
    /// Why.
    pub why: String,
}

/// A surviving replica in phase 3.
#[derive(Clone, Debug, Serialize)]
pub struct ReplicaDoc {
    /// Its section name.
    pub name: String,
    /// Its address.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// What it read (master coordinate).
    pub read: String,
    /// What it executed.
    pub exec: String,
    /// `Slave_IO_Running` at detection.
    pub io_thread: String,
    /// Its last IO error.
    pub last_io_error: Option<String>,
    /// Its errant transactions (its own writes no other replica has).
    pub errant_gtids: Vec<String>,
}

/// The dead master's tail.
#[derive(Clone, Debug, Serialize)]
pub struct TailDoc {
    /// The copy here.
    pub file: PathBuf,
    /// Where it starts.
    pub from: String,
    /// What the save said.
    pub saved: String,
}

/// One replica's relay diff.
#[derive(Clone, Debug, Serialize)]
pub struct DiffEntry {
    /// The replica.
    pub replica: String,
    /// What it holds.
    pub relay_diff: DiffDoc,
    /// Found by GTID: the first missing GTID.
    pub by_gtid: Option<String>,
    /// Where master coordinates and GTIDs disagree.
    pub gtid_note: Option<String>,
    /// The file on the latest replica's host.
    pub cut_on_latest: Option<PathBuf>,
}

/// The new master.
#[derive(Clone, Debug, Serialize)]
pub struct NewMaster {
    /// Its section name.
    pub name: String,
    /// Its address.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// Why it was chosen.
    pub why: String,
    /// Its binlog coordinates when it took writes.
    pub binlog: Option<String>,
}

/// What one replica's apply (or re-pointing) did.
#[derive(Clone, Debug, Serialize)]
pub struct StepDoc {
    /// The replica.
    pub replica: String,
    /// The files applied here (the apply only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<PathBuf>>,
    /// It worked.
    pub ok: bool,
    /// What happened.
    pub result: String,
}

/// How the run ended.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum Outcome {
    /// `success`, `partial` or `lost`.
    Word(&'static str),
    /// It stopped.
    Error {
        /// Why.
        error: String,
        /// Its exit code.
        exit: u8,
    },
}

/// The whole report.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    /// [`VERSION`].
    pub version: u32,
    /// The dead master.
    pub dead_master: DeadMaster,
    /// The earlier run's record, when resumed.
    pub resumed: Option<Record>,
    /// Servers left out (`ignore_fail`).
    pub skipped: Vec<Skipped>,
    /// The topology's replication mode.
    pub replication_mode: Option<&'static str>,
    /// The surviving replicas.
    pub replicas: Vec<ReplicaDoc>,
    /// The latest replica.
    pub latest: Option<String>,
    /// A note on how the latest was chosen.
    pub latest_note: Option<String>,
    /// Where the relay logs end on a transaction boundary.
    pub relay_end: Option<String>,
    /// The dead master's tail here.
    pub master_tail: Option<TailDoc>,
    /// Each replica's relay diff.
    pub diffs: Vec<DiffEntry>,
    /// Every candidate, best first.
    pub candidates: Vec<super::promote::CandidateDoc>,
    /// The new master.
    pub new_master: Option<NewMaster>,
    /// Each replica's apply.
    pub applied: Vec<StepDoc>,
    /// The hosts now following the new master.
    pub new_slaves: Vec<String>,
    /// Each replica's re-pointing.
    pub repointed: Vec<StepDoc>,
    /// Each phase's time, in order.
    pub phases: Vec<PhaseTime>,
    /// How it ended.
    pub result: Option<Outcome>,
    /// What could not be recovered.
    pub unrecoverable: Vec<String>,
    /// The exit code of a run that reached its end.
    pub exit: Option<u8>,
}
