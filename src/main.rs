//! Multi-call front: dispatches on the name it was run as (argv[0]), as
//! uutils' coreutils does; anything else is the `binlog-diff` command.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    binlog_diff::cli::main(args)
}
