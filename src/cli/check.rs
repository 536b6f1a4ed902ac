//! `binlog-diff check`: MHA's `masterha_check_ssh` and
//! `masterha_check_repl` on an `app.cnf` ([`crate::phase::preflight`]).
//! Reads the configuration, makes one call, prints the report (text, or
//! `--json`); exit 0 only when a failover now would succeed.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::exit::{CHECK_HEALTHY, CHECK_NOT_HEALTHY};
use crate::error::Result;
use crate::phase::AppConf;
use crate::phase::preflight::{CheckOptions, check};

/// `binlog-diff check` arguments.
#[derive(Args, Debug)]
pub(super) struct CheckArgs {
    /// MHA application configuration (`[server default]`, `[serverN]`).
    #[arg(long)]
    conf: PathBuf,
    /// MHA global configuration, read before `--conf`.
    #[arg(long)]
    global_conf: Option<PathBuf>,
    /// Print the report as JSON (the same findings) instead of text.
    #[arg(long)]
    json: bool,
    /// Seconds bounding each MySQL connection's connect, read and write.
    #[arg(long, default_value_t = 10)]
    mysql_timeout: u64,
    /// Seconds bounding each command on a remote host (the version check, a file check).
    #[arg(long, default_value_t = 60)]
    step_timeout: u64,
    /// binlog-diff on the remote hosts (a path, or a name on their PATH); its version must equal ours.
    #[arg(long, default_value = "binlog-diff")]
    remote_binary: String,
    /// The failovers push this binary (`failover --push-binary`): check that a pushed copy runs on each host
    /// (it is removed after), instead of looking for an installed one.
    #[arg(long)]
    push_binary: bool,
}

fn resolve(a: CheckArgs) -> Result<(AppConf, CheckOptions, bool)> {
    let conf = AppConf::read(&a.conf, a.global_conf.as_deref())?;
    let o = CheckOptions {
        mysql_timeout: Duration::from_secs(a.mysql_timeout.max(1)),
        step_timeout: Duration::from_secs(a.step_timeout.max(1)),
        remote_binary: a.remote_binary,
        push_binary: a.push_binary,
    };
    Ok((conf, o, a.json))
}

/// `check`.
pub(super) fn run(a: CheckArgs) -> u8 {
    let (conf, o, json) = match resolve(a) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("binlog-diff check: {e}");
            eprintln!("Replication health is NOT OK: the configuration cannot be read.");
            return CHECK_NOT_HEALTHY;
        }
    };
    let r = check(&o, &conf);
    if json {
        println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
    } else {
        print!("{}", r.text());
    }
    if r.healthy { CHECK_HEALTHY } else { CHECK_NOT_HEALTHY }
}

#[cfg(test)]
mod tests {
    use super::super::{Cli, Cmd};
    use super::*;
    use clap::Parser;

    fn args(a: &[&str]) -> CheckArgs {
        match Cli::try_parse_from([&["binlog-diff", "check"][..], a].concat()).unwrap().cmd {
            Cmd::Check(c) => c,
            _ => panic!("not check"),
        }
    }

    #[test]
    fn flags_defaults_and_an_unreadable_conf() {
        let d = tempfile::tempdir().unwrap();
        let app = d.path().join("app.cnf");
        std::fs::write(&app, "[server1]\nhostname=192.0.2.1\n").unwrap();
        let (conf, o, json) = resolve(args(&["--conf", app.to_str().unwrap()])).unwrap();
        assert_eq!(conf.servers.len(), 1);
        let d0 = CheckOptions::default();
        assert_eq!(
            (o.mysql_timeout, o.step_timeout, o.remote_binary, o.push_binary, json),
            (d0.mysql_timeout, d0.step_timeout, d0.remote_binary, false, false)
        );
        let (_, o, json) = resolve(args(&[
            "--conf",
            app.to_str().unwrap(),
            "--json",
            "--mysql-timeout",
            "3",
            "--step-timeout",
            "7",
            "--remote-binary",
            "/opt/bd",
            "--push-binary",
        ]))
        .unwrap();
        assert!(json && o.push_binary && o.remote_binary == "/opt/bd");
        assert_eq!((o.mysql_timeout, o.step_timeout), (Duration::from_secs(3), Duration::from_secs(7)));
        assert_eq!(run(args(&["--conf", d.path().join("missing.cnf").to_str().unwrap()])), CHECK_NOT_HEALTHY);
        assert!(Cli::try_parse_from(["binlog-diff", "check"]).is_err(), "--conf is required");
    }
}
