//! How a failover (or `monitor`'s failover) ended: the one table of exit
//! codes. Operators script on them, so each means one thing; the README's
//! "Exit codes" says the same.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | done: every replica recovered, nothing the dead master committed is known lost |
//! | 1 | refused or failed before anything changed: fix what it says, run it again |
//! | 10 | done, but some replica could not be recovered (MHA's "recovery on some slaves failed"); it is named |
//! | 11 | done, but committed transactions of the dead master were not recovered; they are listed (the final line says so) |
//! | 12 | stopped after it began changing servers: the in-progress record is left; fix what it says, then `--resume` |

use super::FailoverReport;
use crate::error::{Error, ErrorKind};

/// Every replica recovered, nothing lost.
pub const EXIT_SUCCESS: u8 = 0;
/// Refused or failed before anything changed.
pub const EXIT_REFUSED: u8 = 1;
/// Done, but some replica could not be recovered.
pub const EXIT_PARTIAL: u8 = 10;
/// Done, but transactions of the dead master were not recovered.
pub const EXIT_LOST: u8 = 11;
/// Stopped part-way: rerun with `--resume`.
pub const EXIT_UNFINISHED: u8 = 12;

/// The exit code of a run that reached its end. A loss outranks a replica
/// left unrecovered: data is gone, not only a server to mend.
pub fn of_report(r: &FailoverReport) -> u8 {
    if !r.unrecoverable.is_empty() {
        EXIT_LOST
    } else if !r.ok() {
        EXIT_PARTIAL
    } else {
        EXIT_SUCCESS
    }
}

/// The exit code of a run that stopped with `e`.
pub fn of_error(e: &Error) -> u8 {
    match e.kind() {
        ErrorKind::Unfinished(_) => EXIT_UNFINISHED,
        _ => EXIT_REFUSED,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_outranks_a_failed_replica() {
        let mut r = FailoverReport { new_master: Some("s2".into()), ..Default::default() };
        assert_eq!(of_report(&r), EXIT_SUCCESS);
        r.replicas.push(("s3".into(), Err("apply failed".into())));
        assert_eq!(of_report(&r), EXIT_PARTIAL);
        r.unrecoverable.push("whatever the dead master committed after mysql-bin.000003:120".into());
        assert_eq!(of_report(&r), EXIT_LOST);
        assert_eq!(of_error(&Error::new(ErrorKind::Unfinished("x".into()))), EXIT_UNFINISHED);
        assert_eq!(of_error(&Error::refused("x")), EXIT_REFUSED);
    }
}
