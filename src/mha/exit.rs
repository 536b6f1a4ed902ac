//! Exit codes of the MHA node tools: mha4mysql-node 0.58's, which the
//! manager branches on, so no value here ever changes. The binary's one
//! table of exit codes, [`crate::cli::exit`], lists and re-exports them.
//!
//! | code | tools | meaning |
//! |---|---|---|
//! | 0 | every tool | done (`save_binary_logs`: saved; `apply_diff_relay_logs`: applied, or the target has every relay log; `filter_mysqlbinlog`: always); `--help`, `--version` |
//! | 1 | every tool | failed (MHA's `croak`: the message on standard error); a command line `GetOptions` refuses, or a wrong `--command` (usage printed, `pod2usage(1)`) |
//! | 10 | `save_binary_logs` | nothing to save after the start position ("Event not exists.") |
//! | 22 | `apply_diff_relay_logs` | applying the files failed (the failing transaction named) |
//! | 2 | `binlog-diff mha` itself | no tool named, or `install DIR` without DIR or failing (the CLI's usage code, not MHA's) |
//!
//! MHA's `NodeConst` also names 2, 10 and 12
//! (`Target_Has_Received_All_Relay_Logs`, `Relay_Log_Not_Found`,
//! `Relay_Pos_Not_Found`): statuses inside `apply_diff_relay_logs`, never
//! its exit code (0.58 exits 0 for the first, and `croak`s, 1, for the
//! others), so none of them here.

/// Every tool: done.
pub const OK: u8 = 0;
/// Every tool: failed, or a command line it refuses (`pod2usage(1)`).
pub const FAILED: u8 = 1;
/// `save_binary_logs`: nothing after the start position (its
/// `$EVENT_NOT_EXIST`; the manager branches on it).
pub const SAVE_EVENT_NOT_EXIST: u8 = 10;
/// `apply_diff_relay_logs`: applying the files failed
/// (`$MHA::NodeConst::Applying_SQL_File_Failed`).
pub const APPLY_DIFF_FAILED: u8 = 22;
/// `binlog-diff mha` without a tool, or `install` failing: a usage error of
/// our own front, as the CLI's.
pub const FRONT_USAGE: u8 = 2;
