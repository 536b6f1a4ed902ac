//! Exit codes of `binlog-diff`: the one place they are decided (the README's
//! "Exit codes" says the same). Operators script on them, so each means one
//! thing.
//!
//! **The failover driver's commands** (`failover`, `monitor`, `switch`,
//! `ack`, `register-candidate`) use the failover's table,
//! [`crate::phase::outcome`]:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | done (a failover: every replica recovered, nothing the dead master committed is known lost) |
//! | 1 | refused or failed before anything changed, `app.cnf` unreadable included: fix what it says, run it again |
//! | 10 | a failover is done, but some replica could not be recovered; it is named |
//! | 11 | a failover is done, but committed transactions of the dead master were not recovered; they are listed |
//! | 12 | a failover (`monitor`'s too) stopped after it began changing servers: fix what it says, then `--resume` |
//!
//! **`check`** exits 0 when a failover now would succeed (no finding is an
//! error; warnings allowed) and 1 when it would not (a finding is an error,
//! or `app.cnf` cannot be read): [`CHECK_HEALTHY`], [`CHECK_NOT_HEALTHY`].
//!
//! **Every other command** (`dump`, `verify`, `stats`, `map`, `diff`,
//! `apply`, `bench`):
//!
//! | code | meaning |
//! |---|---|
//! | 0 | clean; done (`apply`: a verified full apply) |
//! | 1 | damaged input, named by file, byte offset and event type; `apply`: also an input that ends inside a transaction, which was left out |
//! | 2 | usage, I/O or any other error (a server unreachable, a refusal, `bench`: an invalid run) |
//! | 128 + N | `apply`: stopped by signal N (130: SIGINT, 143: SIGTERM) at a clean point; where it stopped and how to resume are printed |
//!
//! **Any command**: a command line that cannot be parsed exits 2; `--help`
//! and `--version` exit 0.
//!
//! **`mha TOOL`** (and the binary run under a tool's name) keeps MHA's
//! codes, which MHA's manager branches on ([`crate::mha::exit`], re-exported
//! here as `MHA_*`):
//!
//! | code | tools | meaning |
//! |---|---|---|
//! | 0 | every tool | done; `--help`, `--version` |
//! | 1 | every tool | failed (MHA's `croak`), or a command line it refuses (usage printed) |
//! | 10 | `save_binary_logs` | nothing to save after the start position ("Event not exists.") |
//! | 22 | `apply_diff_relay_logs` | applying the files failed |
//! | 2 | `binlog-diff mha` itself | no tool named, or `install DIR` missing DIR or failing |
//!
//! Which error is which ([`ErrorKind`]) does not change a code, but for
//! damage (1, [`Error::is_damage`]), an interrupt (128 + N) and a failover
//! stopped part-way (12, [`ErrorKind::Unfinished`]).

use crate::error::{Error, ErrorKind};
use crate::phase::outcome;

pub use crate::mha::exit::{
    APPLY_DIFF_FAILED as MHA_APPLY_DIFF_FAILED, FAILED as MHA_FAILED, FRONT_USAGE as MHA_FRONT_USAGE, OK as MHA_OK,
    SAVE_EVENT_NOT_EXIST as MHA_SAVE_EVENT_NOT_EXIST,
};

/// Clean, done.
pub const EXIT_OK: u8 = 0;
/// The input is damaged (corrupt, truncated, not a binlog).
pub const EXIT_DAMAGED: u8 = 1;
/// Usage, I/O or any other error.
pub const EXIT_ERROR: u8 = 2;

/// A driver's command is done ([`outcome::EXIT_SUCCESS`]).
pub const DRIVER_OK: u8 = outcome::EXIT_SUCCESS;
/// A driver's command refused or failed before anything changed
/// ([`outcome::EXIT_REFUSED`]).
pub const DRIVER_REFUSED: u8 = outcome::EXIT_REFUSED;
/// A failover is done, but some replica could not be recovered
/// ([`outcome::EXIT_PARTIAL`]).
pub const DRIVER_PARTIAL: u8 = outcome::EXIT_PARTIAL;
/// A failover is done, but committed transactions of the dead master were
/// not recovered ([`outcome::EXIT_LOST`]).
pub const DRIVER_LOST: u8 = outcome::EXIT_LOST;
/// A failover stopped after it began changing servers: `--resume`
/// ([`outcome::EXIT_UNFINISHED`]).
pub const DRIVER_UNFINISHED: u8 = outcome::EXIT_UNFINISHED;

/// `check`: no finding is an error; a failover now would succeed.
pub const CHECK_HEALTHY: u8 = 0;
/// `check`: a finding is an error (or `app.cnf` cannot be read).
pub const CHECK_NOT_HEALTHY: u8 = 1;

/// The code of a command other than the driver's that failed with `e`.
pub fn of_error(e: &Error) -> u8 {
    if e.is_damage() { EXIT_DAMAGED } else { EXIT_ERROR }
}

/// The code of a driver's command that failed with `e` (a failover that
/// stopped part-way: 12, else 1).
pub fn of_driver_error(e: &Error) -> u8 {
    outcome::of_error(e)
}

/// The code of a failover that reached its end ([`outcome::of_report`]).
pub fn of_failover(r: &crate::phase::FailoverReport) -> u8 {
    outcome::of_report(r)
}

/// The code of an apply stopped by `signal`: 128 + the signal.
pub fn interrupted(signal: usize) -> u8 {
    u8::try_from(128 + signal).unwrap_or(EXIT_ERROR)
}

/// The code of one target's apply that failed with `e`: interrupted by
/// `signal`, or `left_out_only` (nothing failed, but the input ends inside a
/// transaction, which was left out: damaged input), else [`of_error`].
pub fn of_apply(e: &Error, left_out_only: bool, signal: usize) -> u8 {
    if matches!(e.kind(), ErrorKind::Interrupted(_)) {
        interrupted(signal)
    } else if left_out_only {
        EXIT_DAMAGED
    } else {
        of_error(e)
    }
}

/// The code of a command line clap did not run: 0 for `--help` and
/// `--version` (printed on standard output), else 2.
pub fn of_usage(e: &clap::Error) -> u8 {
    if e.use_stderr() { EXIT_ERROR } else { EXIT_OK }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{ParseError, ParseErrorKind};
    use clap::Parser;

    #[test]
    fn damage_is_one_everything_else_two() {
        let parse = Error::parse(
            Some(std::path::Path::new("mysql-bin.000001")),
            ParseError { kind: ParseErrorKind::BadMagic, at: 0, event_type: None },
        );
        assert_eq!(of_error(&parse), EXIT_DAMAGED);
        assert_eq!(of_error(&Error::new(ErrorKind::Truncated { available: 9, needed: 19 })), EXIT_DAMAGED);
        let io = Error::io(std::path::Path::new("/x"), std::io::Error::from(std::io::ErrorKind::NotFound));
        assert_eq!(of_error(&io), EXIT_ERROR);
        assert_eq!(of_error(&Error::invalid("bad")), EXIT_ERROR);
        assert_eq!(of_error(&Error::new(ErrorKind::Connect("h:1".into()))), EXIT_ERROR);
        assert_eq!(of_error(&Error::refused("no")), EXIT_ERROR);
        // The typed kinds of a wrong request are not damage either.
        for e in [
            Error::config(Some("--threads"), "bad value \"0\""),
            Error::bad_input("position \"x\"", "expected FILE:POS"),
            Error::server("h:3306", "replication is running"),
            Error::remote("u@h:22", "fetch f", "exit 1"),
            Error::timeout("h:3306", "at GTID 0-1-7", "the apply deadline passed"),
        ] {
            assert_eq!(of_error(&e), EXIT_ERROR, "{e}");
        }
    }

    /// MHA's codes keep their values: the manager branches on them.
    #[test]
    fn mha_codes_are_mhas() {
        assert_eq!((MHA_OK, MHA_FAILED, MHA_SAVE_EVENT_NOT_EXIST, MHA_APPLY_DIFF_FAILED), (0, 1, 10, 22));
        assert_eq!(MHA_FRONT_USAGE, EXIT_ERROR, "`binlog-diff mha` misused is a usage error, as the CLI's");
    }

    #[test]
    fn the_driver_uses_the_failover_table() {
        assert_eq!(of_driver_error(&Error::new(ErrorKind::Unfinished("x".into()))), 12);
        assert_eq!(of_driver_error(&Error::refused("x")), 1);
        assert_eq!(of_driver_error(&Error::server("s1", "x")), 1);
        assert_eq!(of_driver_error(&Error::config(Some("--new-master"), "x")), 1);
        assert_eq!((DRIVER_OK, DRIVER_REFUSED, DRIVER_PARTIAL, DRIVER_LOST, DRIVER_UNFINISHED), (0, 1, 10, 11, 12));
        let mut r = crate::phase::FailoverReport { new_master: Some("s2".into()), ..Default::default() };
        assert_eq!(of_failover(&r), 0);
        r.replicas.push(("s3".into(), Err("apply failed".into())));
        assert_eq!(of_failover(&r), 10);
        r.unrecoverable.push("what the dead master committed after mysql-bin.000003:120".into());
        assert_eq!(of_failover(&r), 11);
    }

    #[test]
    fn apply_codes() {
        assert_eq!(interrupted(2), 130);
        assert_eq!(interrupted(15), 143);
        assert_eq!(interrupted(1000), EXIT_ERROR);
        let stop = Error::new(ErrorKind::Interrupted("SIGINT".into()));
        assert_eq!(of_apply(&stop, false, 15), 143);
        assert_eq!(of_apply(&stop, true, 2), 130, "an interrupt outranks a left-out tail");
        let tail = Error::bad_input("incomplete trailing transaction", "NOT applied");
        assert_eq!(of_apply(&tail, true, 0), EXIT_DAMAGED);
        let timeout = Error::new(ErrorKind::Timeout { host: "h:1".into(), step: "s".into(), why: "w".into() });
        assert_eq!(of_apply(&timeout, false, 0), EXIT_ERROR);
    }

    #[test]
    fn usage_codes() {
        let code = |args: &[&str]| of_usage(&super::super::Cli::try_parse_from(args).unwrap_err());
        assert_eq!(code(&["binlog-diff", "frobnicate"]), EXIT_ERROR);
        assert_eq!(code(&["binlog-diff", "verify"]), EXIT_ERROR, "a missing argument");
        assert_eq!(code(&["binlog-diff", "failover", "--conf", "a.cnf"]), EXIT_ERROR, "the driver's too");
        assert_eq!(code(&["binlog-diff", "--help"]), EXIT_OK);
        assert_eq!(code(&["binlog-diff", "verify", "--help"]), EXIT_OK);
        assert_eq!(code(&["binlog-diff", "--version"]), EXIT_OK);
    }
}
