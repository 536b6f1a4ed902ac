//! The end of a run: once every transaction was handled, the target's GTID
//! state must hold the last applied GTID of every domain (MariaDB) or source
//! (MySQL), and the transactions committed and skipped must be every whole
//! one of the input. A short apply is an error, never a success; so is an
//! incomplete trailing transaction, unless allowed.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::event::Flavor;

use super::applied::{AppliedCheck, NoCheck, already_applied};
use super::book::{Book, Env};
use super::group::TrxId;
use super::options::ApplyOptions;
use super::report::{ApplyReport, Verification};
use super::target;

/// Puts the last GTIDs in the report and checks the end (into
/// `report.verification`), over `conn`.
///
/// # Errors
/// A short or inconsistent apply, an incomplete trailing transaction (unless
/// allowed), or a target that cannot be read.
pub(crate) fn finish(conn: &mut mysql::Conn, env: &Env<'_>, book: &mut Book) -> Result<()> {
    book.report.last_gtids = book.last.values().filter_map(TrxId::gtid).collect();
    let end = Ending {
        flavor: env.target.flavor,
        logs_binlog: env.logs_binlog,
        check: env.check,
        groups: env.groups,
        last: &book.last,
        last_logged: &book.last_logged,
    };
    end.check(conn, env.label, env.opts, &mut book.report)
}

/// The end of a run: what must hold once every transaction was handled.
struct Ending<'e> {
    flavor: Flavor,
    logs_binlog: bool,
    check: AppliedCheck,
    /// Whole groups in the input.
    groups: u64,
    last: &'e BTreeMap<(u32, String), TrxId>,
    last_logged: &'e BTreeMap<(u32, String), TrxId>,
}

impl Ending<'_> {
    /// Verifies the target's GTID state and the counts (into
    /// `report.verification`) and refuses a short apply or an unapplied tail.
    fn check(&self, conn: &mut mysql::Conn, label: &str, opts: &ApplyOptions, report: &mut ApplyReport) -> Result<()> {
        let (flavor, logs_binlog, last, last_logged) = (self.flavor, self.logs_binlog, self.last, self.last_logged);
        let done = report.transactions + report.skipped;
        if done != self.groups {
            report.verification = Verification::Mismatch(format!(
                "{done} transactions applied or skipped, but the input has {} complete transactions",
                self.groups
            ));
        } else if last.is_empty() {
            report.verification = Verification::Unverifiable(if report.transactions == 0 {
                "nothing was applied".into()
            } else {
                "the input has no GTIDs".into()
            });
        } else if last_logged.is_empty() && flavor == Flavor::MariaDb && logs_binlog {
            report.verification = Verification::Unverifiable(
                "no applied transaction was binlogged by the target (no row changed)".into(),
            );
        } else if let AppliedCheck::None(n @ (NoCheck::LogBinOff | NoCheck::SessionLogBinOff)) = self.check {
            report.verification = Verification::Unverifiable(format!("no GTID state to check: {}", n.why()));
        } else {
            let now = target::read_applied(conn, flavor, label)?;
            let check = if flavor == Flavor::MariaDb { last_logged } else { last };
            let missing: Vec<String> =
                check.values().filter(|id| already_applied(&now, id).is_none()).filter_map(TrxId::gtid).collect();
            let holds: Vec<String> = check.values().filter_map(TrxId::gtid).collect();
            report.verification = if missing.is_empty() {
                Verification::Verified(format!(
                    "{} transactions; the target's GTID state holds {}",
                    report.transactions,
                    holds.join(",")
                ))
            } else {
                Verification::Mismatch(format!("the target's GTID state lacks {}", missing.join(",")))
            };
        }
        if let Verification::Mismatch(m) = &report.verification {
            return Err(Error::server(label, format!("short or inconsistent apply: {m}")));
        }
        if let Some(l) = &report.left_out {
            if !opts.allow_partial_tail {
                return Err(Error::bad_input(
                    "incomplete trailing transaction",
                    format!(
                        "NOT applied ({} events, {} bytes: {}); all {} complete transactions before it were applied",
                        l.events, l.bytes, l.reason, report.transactions
                    ),
                )
                .with_file(&l.file)
                .at(l.offset, None));
            }
        }
        Ok(())
    }
}
