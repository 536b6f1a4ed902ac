//! Multi-call front: dispatches on the name it was run as (argv[0]), as
//! uutils' coreutils does: `save_binary_logs`, `apply_diff_relay_logs`,
//! `purge_relay_logs` and `filter_mysqlbinlog` run the MHA-compatible node
//! tools; anything else is the `binlog-diff` command.

use std::process::ExitCode;

fn main() -> ExitCode {
    // Test builds only (the `failpoints` feature of fail-rs, on for `cargo
    // test`): the FAILPOINTS environment variable configures them.
    let _failpoints = fail::has_failpoints().then(fail::FailScenario::setup);
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(tool) = args.first().and_then(|a0| binlog_diff::mha::tool_for_argv0(a0)) {
        return ExitCode::from(binlog_diff::mha::run_os(tool, &args[1..]));
    }
    binlog_diff::cli::main(args)
}
