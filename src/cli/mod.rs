//! The `binlog-diff` command line (ripgrep's thin CLI): the commands, and
//! dispatch. Each command group has a file of its own holding its clap
//! arguments (the flags as typed), a `resolve` step that turns them (and
//! `app.cnf` where it applies) into the library's typed options, and a `run`
//! step that makes one library call and prints what it returns. No
//! connection is opened and no decision is taken here.
//!
//! | file | commands |
//! |---|---|
//! | `inspect.rs` | `dump`, `verify`, `stats`, `map` |
//! | `diff.rs` | `diff` |
//! | `apply.rs` | `apply` |
//! | `driver.rs` | `failover`, `switch`, `monitor`, `ack`, `register-candidate` |
//! | `check.rs` | `check` |
//! | `bench.rs` | `bench catchup` |
//! | `mha.rs` | `mha TOOL …` |
//! | `node.rs` | `node cut\|save\|apply`: the node operations, for a driver on another host |
//! | [`exit`] (`exit.rs`) | the exit codes of every command: one table |

mod apply;
mod bench;
mod check;
mod diff;
mod driver;
pub mod exit;
mod inspect;
mod mha;
mod node;

use std::path::Path;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::error::{Error, Result};

#[derive(Parser, Debug)]
#[command(
    name = "binlog-diff",
    version,
    about = "Binlog/relay-log diff engine and applier for MySQL and MariaDB failover"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Print one line per event (offset, type, server_id, size, log_pos, flags, summary).
    Dump(inspect::DumpArgs),
    /// Check structure and checksums; exit 0 when clean, 1 on damage.
    Verify(inspect::VerifyArgs),
    /// Plan (and with --write, cut) every replica's diff after a master failure.
    Diff(diff::DiffArgs),
    /// Map a master position to the relay position where a replica's missing events start.
    Map(inspect::MapArgs),
    /// Events and bytes by type, transactions, partial tail, GTID ranges, timestamps.
    Stats(inspect::StatsArgs),
    /// Apply diff logs to a live server over the MySQL protocol, one whole
    /// transaction at a time (no mysqlbinlog | mysql). Exit 0 only on a
    /// verified full apply.
    Apply(apply::ApplyArgs),
    /// Dead-master failover on MHA's `app.cnf`: check, stop IO threads, wait for SQL threads, plan and cut every
    /// replica's diff, apply them all natively, re-point the replicas at the new master.
    Failover(driver::FailoverArgs),
    /// Planned switch of a live master on MHA's `app.cnf` (MHA's `--master_state=alive`): reject updates on
    /// it, let the new master catch up, move every replica to it; rolled back on failure before the new master
    /// takes writes.
    Switch(driver::SwitchArgs),
    /// MHA's masterha_manager: ping the master of an `app.cnf` every ping_interval; when it is dead (as the
    /// replicas see it too), fail over; honours the anti-flapping block; exits after (or `--continue`).
    Monitor(driver::MonitorArgs),
    /// MHA's masterha_check_ssh and masterha_check_repl on an `app.cnf`: every host over ssh, every replica
    /// replicating from the master in one mode, settings and filters against the promotion rules, the
    /// replication user, hook scripts, errant GTIDs, and the candidates a failover would promote now. Each
    /// finding names the server and its fix; exit 0 only when a failover now would succeed.
    Check(check::CheckArgs),
    /// Benchmarks on throwaway MariaDB servers.
    Bench {
        #[command(subcommand)]
        what: bench::BenchCmd,
    },
    /// Acknowledge the last failover of an `app.cnf`'s cluster: lifts the block on another
    /// (last_failover_minute, MHA's 8 h by default).
    Ack(driver::AckArgs),
    /// Register a promotion rule for a server of an `app.cnf` (kept in its manager_workdir), which the next
    /// `failover` ranks by: must_not, prefer_not, neutral or prefer.
    RegisterCandidate(driver::RegisterArgs),
    /// MHA-compatible node tools: `mha <save_binary_logs|apply_diff_relay_logs|purge_relay_logs|filter_mysqlbinlog> ARGS…`,
    /// or `mha install DIR` (symlinks named after the tools).
    #[command(disable_help_flag = true)]
    Mha(mha::MhaArgs),
    /// The node operations a failover driver on another host asks of this one (typed JSON on standard
    /// input and output; see `node`).
    #[command(hide = true)]
    Node {
        #[command(subcommand)]
        op: node::NodeOp,
    },
}

/// The text of an input file given on the command line; `-`: standard input.
fn read_input(path: &Path) -> Result<String> {
    if path.as_os_str() == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).map_err(|e| Error::io(path, e))?;
        Ok(s)
    } else {
        std::fs::read_to_string(path).map_err(|e| Error::io(path, e))
    }
}

/// Runs `binlog-diff` with these arguments (argv[0] included).
pub fn main(args: Vec<std::ffi::OsString>) -> ExitCode {
    // Before anything is written: what we write is private (0600, 0700).
    crate::log::modes::restrict_umask();
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(exit::of_usage(&e));
        }
    };
    ExitCode::from(match cli.cmd {
        Cmd::Dump(a) => inspect::run_dump(a),
        Cmd::Verify(a) => inspect::run_verify(a),
        Cmd::Stats(a) => inspect::run_stats(a),
        Cmd::Map(a) => inspect::run_map(a),
        Cmd::Diff(a) => diff::run(a),
        Cmd::Apply(a) => apply::run(a),
        Cmd::Failover(a) => driver::run_failover(a),
        Cmd::Switch(a) => driver::run_switch(a),
        Cmd::Monitor(a) => driver::run_monitor(a),
        Cmd::Check(a) => check::run(a),
        Cmd::Ack(a) => driver::run_ack(a),
        Cmd::RegisterCandidate(a) => driver::run_register(a),
        Cmd::Bench { what } => bench::run(what),
        Cmd::Mha(a) => mha::run(a),
        Cmd::Node { op } => node::run(op),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
