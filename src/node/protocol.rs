//! What crosses the boundary between the failover driver and a host: one
//! request and one reply per operation, typed and versioned. Each carries
//! [`PROTOCOL`]; each end refuses another (a binary of another release on
//! a host is found before it does anything, not by a missing field in the
//! middle of a failover).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::diff::tail::TailStart;
use crate::diff::{DiffDoc, PlanDoc};
use crate::error::{Error, Result};
use crate::position::ReplicaStateDoc;

/// The version of these structs. Raise it with any change of their meaning.
pub const PROTOCOL: u32 = 1;

/// A message with its protocol version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope<T> {
    /// [`PROTOCOL`] of the sender.
    pub protocol: u32,
    /// The request or reply.
    pub body: T,
}

impl<T> Envelope<T> {
    /// `body` under this build's protocol.
    pub fn new(body: T) -> Envelope<T> {
        Envelope { protocol: PROTOCOL, body }
    }

    /// The body, when the protocol is ours.
    ///
    /// # Errors
    /// Another protocol version (`from` names the other end).
    pub fn open(self, from: &str) -> Result<T> {
        if self.protocol != PROTOCOL {
            return Err(Error::remote(
                from,
                "the node protocol",
                format!(
                    "it speaks version {}, this binary {PROTOCOL}: run the same release on every host",
                    self.protocol
                ),
            ));
        }
        Ok(self.body)
    }
}

/// Cut every replica's diff from the latest replica's relay logs (on its host).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CutRequest {
    /// Every surviving replica's state (the latest's with its relay folder).
    pub replicas: Vec<ReplicaStateDoc>,
    /// Write the diffs into this folder (on the host); `None`: plan only.
    pub write: Option<PathBuf>,
}

/// Save the dead master's binlog tail (on its host).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaveRequest {
    /// Where it starts (`FILE:POS`).
    pub from: String,
    /// Exactly there, or at the start of the transaction that holds it.
    pub start: TailStart,
    /// The folders that may hold its binlogs (`master_binlog_dir`).
    pub binlog_dirs: Vec<PathBuf>,
    /// The file to write (on the host).
    pub output: PathBuf,
}

/// What a save wrote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaveReply {
    /// Where it starts (`FILE:POS`): the request's `from`, or the start of
    /// the transaction that held it.
    pub from: String,
    /// The tail (`None`: nothing after `from`; no file).
    pub tail: Option<DiffDoc>,
    /// The file written (on the host).
    pub output: PathBuf,
}

/// Apply each target's diff to it (from the host that has the diffs).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyRequest {
    /// Who and where.
    pub targets: Vec<ApplyTarget>,
    /// The account every target takes.
    pub user: String,
    /// Its password (sent only over an authenticated channel, on standard input).
    pub password: Option<String>,
    /// Connections per target.
    pub parallel: usize,
    /// The MySQL timeout (seconds).
    pub mysql_timeout_secs: u64,
    /// Each target's apply deadline (seconds).
    pub deadline_secs: u64,
    /// Continue from each diff's state file.
    pub resume: bool,
}

/// One target of an [`ApplyRequest`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyTarget {
    /// Its name (app.cnf's section).
    pub name: String,
    /// Its MySQL address.
    pub host: String,
    /// Its MySQL port.
    pub port: u16,
    /// Its diff (on the applying host).
    pub file: PathBuf,
}

/// Why a target's apply failed, where the driver branches on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplyFailureKind {
    /// The applying host cannot reach the target's MySQL: the driver applies that diff itself.
    Connect,
    /// The target stopped answering, or the deadline passed.
    Timeout,
    /// Anything else (named in the message).
    Other,
}

/// What one target's apply did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyOutcome {
    /// The target's name.
    pub name: String,
    /// Transactions committed.
    pub transactions: u64,
    /// Events applied.
    pub events: u64,
    /// Transactions skipped, the target had them.
    pub skipped: u64,
    /// The last GTID applied per domain.
    pub last_gtids: Vec<String>,
    /// Why it failed (`None`: it did not).
    pub failure: Option<(ApplyFailureKind, String)>,
}

/// What an apply did, per target in the request's order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyReply {
    /// One per target.
    pub targets: Vec<ApplyOutcome>,
}

/// The cut's reply.
pub type CutReply = PlanDoc;
