//! What an apply did: per file, in total, what was left out, how it ended.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;

use crate::error::Error;
use crate::event::EventType;

/// Per-file counts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileReport {
    /// The file.
    pub path: PathBuf,
    /// Transactions committed whose last event is in this file.
    pub transactions: u64,
    /// Events of those transactions (payload contents included).
    pub events: u64,
    /// Transactions skipped because the target already had them (`--resume`).
    pub skipped: u64,
}

/// A server error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerError {
    /// Error number.
    pub code: u16,
    /// SQLSTATE.
    pub state: String,
    /// Message.
    pub message: String,
}

/// What became of the failing transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrxOutcome {
    /// Nothing of it was executed (it failed before starting, or was skipped).
    NotStarted,
    /// Rolled back: nothing of it stays (for transactional tables).
    RolledBack,
    /// The connection was lost before the end of the transaction: the
    /// server rolls an open transaction back.
    RolledBackByServer,
    /// Unknown: the connection was lost during COMMIT (or during a
    /// statement that commits on its own). `--resume` decides from the
    /// target's GTID state.
    Unknown,
}

impl TrxOutcome {
    /// Short text.
    pub fn text(self) -> &'static str {
        match self {
            TrxOutcome::NotStarted => "nothing of it was executed",
            TrxOutcome::RolledBack => "rolled back, nothing of it was applied",
            TrxOutcome::RolledBackByServer => "connection lost inside the transaction: the server rolls it back",
            TrxOutcome::Unknown => "connection lost while committing: outcome unknown (check the target, or --resume)",
        }
    }
}

/// Where and why the apply stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// File of the failing event.
    pub file: PathBuf,
    /// Offset of the failing event.
    pub offset: u64,
    /// Its type.
    pub event_type: EventType,
    /// The transaction (GTID or master position).
    pub trx: String,
    /// The server's error, when the server answered with one.
    pub server_error: Option<ServerError>,
    /// What went wrong, in words.
    pub message: String,
    /// What became of the transaction.
    pub outcome: TrxOutcome,
    /// The applier refused the transaction before sending any of it (it is
    /// applied already, or holds an event the applier cannot apply): the
    /// error is an [`ErrorKind::Refused`](crate::error::ErrorKind::Refused);
    /// otherwise the target failed it, an
    /// [`ErrorKind::Server`](crate::error::ErrorKind::Server).
    pub refused: bool,
}

/// A transaction of the input that was not applied because it is
/// incomplete there: the trailing one (the input ends before its commit),
/// or a copy cut short and re-fetched whole. (Not [`crate::diff::LeftOut`],
/// which is where a cut diff stopped short in the source's own log set.)
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotApplied {
    /// File of its first event.
    pub file: PathBuf,
    /// Offset of its first event (or of the cut event when nothing else is there).
    pub offset: u64,
    /// Whole events of it present.
    pub events: u64,
    /// Bytes present (the cut event's too).
    pub bytes: u64,
    /// Why.
    pub reason: String,
}

/// How the end state was checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verification {
    /// Not checked (the apply failed first).
    NotRun,
    /// The target's GTID state holds the last applied GTID of every domain/source.
    Verified(String),
    /// Nothing to check against (no GTIDs, or binary logging off on the target).
    Unverifiable(String),
    /// The GTID state does not hold what was applied.
    Mismatch(String),
}

/// Where the apply stands, as its resume state says (written at its end).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResumePoint {
    /// The file where the last committed transaction ends.
    pub file: PathBuf,
    /// The offset just past it: a resume starts here.
    pub offset: u64,
    /// Transactions of these files committed (every run).
    pub transactions: u64,
    /// GTID of the last committed transaction.
    pub last_gtid: Option<String>,
    /// A transaction whose COMMIT was sent but whose outcome is unknown.
    pub in_doubt: Option<String>,
    /// Whether a state file records it (not with `no_state_file`).
    pub saved: bool,
}

/// Result of an apply.
#[derive(Clone, Debug)]
pub struct ApplyReport {
    /// `host:port` or socket.
    pub target: String,
    /// Target server version.
    pub server_version: String,
    /// Target server id.
    pub server_id: u32,
    /// Per file.
    pub files: Vec<FileReport>,
    /// Transactions committed in this run.
    pub transactions: u64,
    /// Events applied in this run.
    pub events: u64,
    /// Transactions skipped (already on the target).
    pub skipped: u64,
    /// Attempts run again after a deadlock or lock wait timeout.
    pub retries: u64,
    /// Compound statements that committed all of their transactions (many
    /// row transactions in one round trip).
    pub batches: u64,
    /// Worker connections (1: serial).
    pub parallel: usize,
    /// Parallel apply: transactions run again, in turn, after they ran
    /// beside an earlier transaction they conflicted with (an error, or a
    /// row lock the earlier one needed).
    pub reruns: u64,
    /// Parallel apply: transactions that ran alone (DDL, statements,
    /// non-transactional tables, no dependency information).
    pub barriers: u64,
    /// Incomplete transactions that the input itself abandoned (a master restart).
    pub abandoned: Vec<NotApplied>,
    /// The trailing incomplete transaction, not applied.
    pub left_out: Option<NotApplied>,
    /// Last applied GTID per domain/source.
    pub last_gtids: Vec<String>,
    /// Committed transactions the target did not write to its binlog: they
    /// changed no row and the target logs rows (`binlog_format` ROW/MIXED),
    /// so their GTIDs cannot appear in its GTID state (MariaDB).
    pub not_binlogged: Vec<String>,
    /// End-state check.
    pub verification: Verification,
    /// Why the apply stopped early.
    pub failure: Option<Failure>,
    /// The resume state file.
    pub state_file: Option<PathBuf>,
    /// Where the apply stands (once the run got as far as its resume state).
    pub resume: Option<ResumePoint>,
    /// Wall time.
    pub elapsed: Duration,
}

impl ApplyReport {
    pub(crate) fn new(files: &[PathBuf]) -> ApplyReport {
        ApplyReport {
            target: String::new(),
            server_version: String::new(),
            server_id: 0,
            files: files.iter().map(|p| FileReport { path: p.clone(), ..Default::default() }).collect(),
            transactions: 0,
            events: 0,
            skipped: 0,
            retries: 0,
            batches: 0,
            parallel: 1,
            reruns: 0,
            barriers: 0,
            abandoned: Vec::new(),
            left_out: None,
            last_gtids: Vec::new(),
            not_binlogged: Vec::new(),
            verification: Verification::NotRun,
            failure: None,
            state_file: None,
            resume: None,
            elapsed: Duration::ZERO,
        }
    }

    /// Everything complete was applied and verified (or unverifiable), nothing failed.
    pub fn is_complete(&self) -> bool {
        self.failure.is_none() && !matches!(self.verification, Verification::Mismatch(_) | Verification::NotRun)
    }

    /// Human-readable report.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "target {} (server_id {}, {})", self.target, self.server_id, self.server_version);
        for f in &self.files {
            let _ = write!(s, "  {}: {} transactions, {} events", f.path.display(), f.transactions, f.events);
            if f.skipped > 0 {
                let _ = write!(s, ", {} skipped (already applied)", f.skipped);
            }
            s.push('\n');
        }
        let _ = write!(
            s,
            "applied {} transactions ({} events) in {:.3}s",
            self.transactions,
            self.events,
            self.elapsed.as_secs_f64()
        );
        if self.skipped > 0 {
            let _ = write!(s, ", skipped {} already applied", self.skipped);
        }
        if self.retries > 0 {
            let _ = write!(s, ", {} retries after deadlocks or lock wait timeouts", self.retries);
        }
        if self.batches > 0 {
            let _ = write!(s, ", {} batches of transactions sent together", self.batches);
        }
        s.push('\n');
        if self.parallel > 1 {
            let _ = writeln!(
                s,
                "parallel: {} workers, {} transactions ran alone, {} run again after a conflict with an earlier one",
                self.parallel, self.barriers, self.reruns
            );
        }
        if !self.last_gtids.is_empty() {
            let _ = writeln!(s, "last GTIDs: {}", self.last_gtids.join(","));
        }
        if !self.not_binlogged.is_empty() {
            let _ = writeln!(
                s,
                "committed but not binlogged by the target (no row changed, row-based logging): {}",
                self.not_binlogged.join(",")
            );
        }
        for a in &self.abandoned {
            let _ = writeln!(
                s,
                "abandoned in the input (never committed): {} @ {} ({} events): {}",
                a.file.display(),
                a.offset,
                a.events,
                a.reason
            );
        }
        if let Some(l) = &self.left_out {
            let _ = writeln!(
                s,
                "NOT applied: incomplete transaction at {} @ {} ({} events, {} bytes): {}",
                l.file.display(),
                l.offset,
                l.events,
                l.bytes,
                l.reason
            );
        }
        match &self.verification {
            Verification::NotRun => {}
            Verification::Verified(d) => {
                let _ = writeln!(s, "verified: {d}");
            }
            Verification::Unverifiable(d) => {
                let _ = writeln!(s, "not verifiable: {d}");
            }
            Verification::Mismatch(d) => {
                let _ = writeln!(s, "VERIFICATION FAILED: {d}");
            }
        }
        if let Some(f) = &self.failure {
            let _ = writeln!(s, "FAILED: {}", f.line());
        }
        if let Some(p) = &self.state_file {
            let _ = writeln!(s, "resume state: {}", p.display());
        }
        s
    }

    /// Machine-readable report.
    pub fn to_json(&self) -> serde_json::Value {
        let lo = |l: &NotApplied| json!({"file": l.file.display().to_string(), "offset": l.offset, "events": l.events, "bytes": l.bytes, "reason": l.reason});
        let (vstate, vdetail) = match &self.verification {
            Verification::NotRun => ("not_run", String::new()),
            Verification::Verified(d) => ("verified", d.clone()),
            Verification::Unverifiable(d) => ("unverifiable", d.clone()),
            Verification::Mismatch(d) => ("mismatch", d.clone()),
        };
        json!({
            "target": self.target,
            "server_version": self.server_version,
            "server_id": self.server_id,
            "files": self.files.iter().map(|f| json!({
                "path": f.path.display().to_string(),
                "transactions": f.transactions,
                "events": f.events,
                "skipped": f.skipped,
            })).collect::<Vec<_>>(),
            "transactions": self.transactions,
            "events": self.events,
            "skipped": self.skipped,
            "retries": self.retries,
            "batches": self.batches,
            "parallel": self.parallel,
            "reruns": self.reruns,
            "barriers": self.barriers,
            "abandoned": self.abandoned.iter().map(lo).collect::<Vec<_>>(),
            "left_out": self.left_out.as_ref().map(lo),
            "last_gtids": self.last_gtids,
            "not_binlogged": self.not_binlogged,
            "verification": {"state": vstate, "detail": vdetail},
            "failure": self.failure.as_ref().map(|f| json!({
                "file": f.file.display().to_string(),
                "offset": f.offset,
                "event_type": f.event_type.to_string(),
                "transaction": f.trx,
                "server_error": f.server_error.as_ref().map(|e| json!({"code": e.code, "state": e.state, "message": e.message})),
                "message": f.message,
                "outcome": format!("{:?}", f.outcome),
            })),
            "state_file": self.state_file.as_ref().map(|p| p.display().to_string()),
            "resume": self.resume.as_ref().map(|r| json!({
                "file": r.file.display().to_string(),
                "offset": r.offset,
                "transactions": r.transactions,
                "last_gtid": r.last_gtid,
                "in_doubt": r.in_doubt,
            })),
            "elapsed_seconds": self.elapsed.as_secs_f64(),
            "complete": self.is_complete(),
        })
    }
}

/// An apply that did not end in a verified full apply: the error (one line,
/// with file, offset, event type, transaction and server error where they
/// apply) and the report of what was done.
#[derive(Debug)]
pub struct ApplyFailure {
    /// What went wrong.
    pub error: Error,
    /// What was done before (boxed: it is large).
    pub report: Box<ApplyReport>,
}

impl From<ApplyFailure> for Error {
    fn from(f: ApplyFailure) -> Error {
        f.error
    }
}

impl ApplyReport {
    /// The one-line error for the report's failure (which must be set): the
    /// applier's refusal, or the target `label`'s failure (see
    /// [`Failure::refused`]).
    pub(crate) fn failure_error(&self, label: &str) -> Error {
        let f = self.failure.as_ref().expect("failure set");
        let cause = match &f.server_error {
            Some(e) => format!("server error {} ({}): {} [{}]", e.code, e.state, e.message, f.message),
            None => f.message.clone(),
        };
        let line =
            format!("{}: {cause}; {}; {} transactions committed before it", f.trx, f.outcome.text(), self.transactions);
        let line = line.replace(['\n', '\r'], " ");
        let e = if f.refused { Error::refused(line) } else { Error::server(label, line) };
        e.with_file(&f.file).at(f.offset, Some(f.event_type))
    }
}

impl Failure {
    /// One line: `file @ offset (TYPE): transaction …: cause; outcome`.
    pub fn line(&self) -> String {
        let cause = match &self.server_error {
            Some(e) => format!("server error {} ({}): {}", e.code, e.state, e.message),
            None => self.message.clone(),
        };
        let extra = if self.server_error.is_some() && !self.message.is_empty() {
            format!(" [{}]", self.message)
        } else {
            String::new()
        };
        format!(
            "{} @ {} ({}): {}: {}{}; {}",
            self.file.display(),
            self.offset,
            self.event_type,
            self.trx,
            cause,
            extra,
            self.outcome.text()
        )
        .replace(['\n', '\r'], " ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    /// A transaction the applier refused is a refusal; one the target
    /// failed is the target's failure, named.
    #[test]
    fn failure_errors_by_kind() {
        let mut r = ApplyReport::new(&[PathBuf::from("d.bin")]);
        let mut f = Failure {
            file: PathBuf::from("d.bin"),
            offset: 120,
            event_type: EventType::WRITE_ROWS,
            trx: "GTID 0-1-12".into(),
            server_error: Some(ServerError { code: 1062, state: "23000".into(), message: "Duplicate entry".into() }),
            message: "statement `BINLOG`".into(),
            outcome: TrxOutcome::RolledBack,
            refused: false,
        };
        r.failure = Some(f.clone());
        let e = r.failure_error("h:3306");
        assert!(matches!(e.kind(), ErrorKind::Server { server, .. } if server == "h:3306"), "{e}");
        assert!(
            e.to_string().starts_with("d.bin @ 120 (WRITE_ROWS_EVENT): h:3306: GTID 0-1-12: server error 1062"),
            "{e}"
        );
        f.server_error = None;
        f.message =
            "already applied on the target (its GTID state holds it); use --resume to skip applied transactions".into();
        f.outcome = TrxOutcome::NotStarted;
        f.refused = true;
        r.failure = Some(f);
        let e = r.failure_error("h:3306");
        assert!(matches!(e.kind(), ErrorKind::Refused(_)), "{e}");
        assert!(e.to_string().starts_with("d.bin @ 120 (WRITE_ROWS_EVENT): GTID 0-1-12: already applied"), "{e}");
    }
}
