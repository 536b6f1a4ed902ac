//! `binlog-diff mha TOOL ARGS…`: MHA's node tools under our name
//! ([`crate::mha`]), with MHA's own argument parsing and exit codes.

use clap::Args;

/// `binlog-diff mha` arguments: passed through untouched.
#[derive(Args, Debug)]
pub(super) struct MhaArgs {
    /// The tool and its arguments, or `install DIR`.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
    args: Vec<std::ffi::OsString>,
}

/// `mha`: the tool's exit code, MHA's.
pub(super) fn run(a: MhaArgs) -> u8 {
    crate::mha::subcommand(&a.args)
}

#[cfg(test)]
mod tests {
    use super::super::{Cli, Cmd};
    use clap::Parser;

    #[test]
    fn arguments_pass_through_untouched() {
        let Cmd::Mha(a) = Cli::try_parse_from([
            "binlog-diff",
            "mha",
            "save_binary_logs",
            "--help",
            "--command=save",
            "-v",
            "--binlog_dir=/var/lib/mysql",
        ])
        .unwrap()
        .cmd
        else {
            panic!()
        };
        assert_eq!(a.args, ["save_binary_logs", "--help", "--command=save", "-v", "--binlog_dir=/var/lib/mysql"]);
        let Cmd::Mha(a) = Cli::try_parse_from(["binlog-diff", "mha"]).unwrap().cmd else { panic!() };
        assert!(a.args.is_empty());
    }
}
