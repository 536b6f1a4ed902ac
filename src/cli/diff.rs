//! `binlog-diff diff`: every replica's diff after a master failure, planned
//! (and with `--write`, cut) in one pass ([`crate::diff::Plan`]), from
//! replica states given as JSON, read from data directories, or read from
//! live servers ([`crate::server::live`]).

use std::path::PathBuf;

use clap::Args;

use super::exit::{EXIT_OK, of_error};
use crate::diff::{CutOptions, Plan, PlanInput};
use crate::error::{Error, Result};
use crate::position::ReplicaState;
use crate::server::ConnSpec;

/// `binlog-diff diff` arguments.
#[derive(Args, Debug)]
pub(super) struct DiffArgs {
    /// A replica from its data directory (relay-log.info, master.info, relay logs): NAME=DIR.
    #[arg(long = "datadir", value_name = "NAME=DIR")]
    datadirs: Vec<String>,
    /// A replica on a live server (SHOW SLAVE STATUS): NAME=HOST:PORT. Its relay
    /// logs are read from the folder the server reports (this host only).
    #[arg(long = "live", value_name = "NAME=HOST:PORT")]
    lives: Vec<String>,
    /// Replica states from a JSON file (an array of objects, see `--json` output); `-`: standard input.
    #[arg(long)]
    state: Option<PathBuf>,
    /// User for --live (password from MYSQL_PWD or --defaults-file; never on the command line).
    #[arg(long, short = 'u')]
    user: Option<String>,
    /// MySQL defaults file with a [client] password for --live.
    #[arg(long)]
    defaults_file: Option<PathBuf>,
    /// Ask for the password on the terminal when MYSQL_PWD and --defaults-file give none.
    #[arg(long, short = 'p')]
    ask_password: bool,
    /// The dead master's binlogs: an .index file, one of them, or a folder.
    #[arg(long)]
    master_binlogs: Option<PathBuf>,
    /// Write every replica's diff into this folder.
    #[arg(long)]
    write: Option<PathBuf>,
    /// Machine-readable plan.
    #[arg(long)]
    json: bool,
    /// Do not verify checksums.
    #[arg(long)]
    no_verify: bool,
}

/// `diff`, resolved: where each replica's state comes from, and the plan's
/// options.
#[derive(Debug)]
struct Diff {
    /// `--state`: a JSON array of states (`-`: standard input).
    state: Option<PathBuf>,
    /// `--datadir NAME=DIR`.
    datadirs: Vec<(String, PathBuf)>,
    /// `--live NAME=HOST:PORT`, the password not yet filled in.
    live: Vec<(String, ConnSpec)>,
    /// Where the `--live` password comes from (besides MYSQL_PWD).
    defaults_file: Option<PathBuf>,
    ask_password: bool,
    master_binlogs: Option<PathBuf>,
    cut: CutOptions,
    write: Option<PathBuf>,
    json: bool,
}

/// `NAME=VALUE`, the value of `option`.
fn split_named<'s>(option: &str, s: &'s str) -> Result<(&'s str, &'s str)> {
    s.split_once('=').ok_or_else(|| Error::config(Some(option), format!("expected NAME=VALUE, got {s:?}")))
}

fn resolve(a: DiffArgs) -> Result<Diff> {
    let datadirs = a
        .datadirs
        .iter()
        .map(|d| split_named("--datadir", d).map(|(name, dir)| (name.to_string(), PathBuf::from(dir))))
        .collect::<Result<_>>()?;
    let live = a
        .lives
        .iter()
        .map(|l| {
            let (name, addr) = split_named("--live", l)?;
            let bad = |why: String| Error::config(Some("--live"), why);
            let (host, port) = addr.rsplit_once(':').ok_or_else(|| bad(format!("expected HOST:PORT, got {addr:?}")))?;
            let port = port.parse().map_err(|_| bad(format!("bad port in {addr:?}")))?;
            let spec =
                ConnSpec { host: Some(host.to_string()), port: Some(port), user: a.user.clone(), ..Default::default() };
            Ok((name.to_string(), spec))
        })
        .collect::<Result<_>>()?;
    Ok(Diff {
        state: a.state,
        datadirs,
        live,
        defaults_file: a.defaults_file,
        ask_password: a.ask_password,
        master_binlogs: a.master_binlogs,
        cut: CutOptions { verify_checksums: !a.no_verify, ..CutOptions::default() },
        write: a.write,
        json: a.json,
    })
}

impl Diff {
    /// Every replica's state: those of `--state`, then `--datadir`, then
    /// `--live` (the password asked once for all of them).
    fn replicas(&self) -> Result<Vec<ReplicaState>> {
        let mut replicas = Vec::new();
        if let Some(f) = &self.state {
            // `-`: the states on standard input (how the phase driver sends them to a remote host).
            replicas.extend(ReplicaState::list_from_json(&super::read_input(f)?, f)?);
        }
        for (name, dir) in &self.datadirs {
            replicas.push(ReplicaState::from_datadir(name, dir)?);
        }
        if !self.live.is_empty() {
            replicas.extend(crate::server::live::replica_states(&self.live_logins()?)?);
        }
        Ok(replicas)
    }

    /// The `--live` replicas with the user and password filled in: from
    /// `-u`, the defaults file, MYSQL_PWD or the terminal, asked once for
    /// all of them. The address stays the one given (a defaults file's
    /// host, port or socket does not replace it).
    fn live_logins(&self) -> Result<Vec<(String, ConnSpec)>> {
        let Some((_, first)) = self.live.first() else { return Ok(Vec::new()) };
        let login = ConnSpec { user: first.user.clone(), ..Default::default() }
            .with_password(self.defaults_file.as_deref(), self.ask_password)?;
        Ok(self
            .live
            .iter()
            .map(|(name, spec)| {
                (name.clone(), ConnSpec { user: login.user.clone(), password: login.password.clone(), ..spec.clone() })
            })
            .collect())
    }
}

/// `diff`: the plan (text, or JSON with `--json`), every diff written with
/// `--write`.
pub(super) fn run(a: DiffArgs) -> u8 {
    let r = resolve(a).and_then(|d| {
        let replicas = d.replicas()?;
        let master_binlogs = d
            .master_binlogs
            .as_deref()
            .map(|p| crate::log::LogSet::discover(p, crate::log::LogKind::Binlog))
            .transpose()?;
        let mut plan = Plan::make(PlanInput { replicas, master_binlogs, opts: d.cut, count: d.write.is_none() })?;
        if let Some(dir) = &d.write {
            plan.write(dir)?;
        }
        Ok((plan, d.json))
    });
    match r {
        Ok((plan, json)) => {
            if json {
                println!("{}", plan.to_json());
            } else {
                print!("{}", plan.to_text());
            }
            EXIT_OK
        }
        Err(e) => {
            eprintln!("binlog-diff: {e}");
            of_error(&e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Cli, Cmd};
    use super::*;
    use clap::Parser;

    fn resolved(args: &[&str]) -> Result<Diff> {
        let Cmd::Diff(a) = Cli::try_parse_from([&["binlog-diff", "diff"][..], args].concat()).unwrap().cmd else {
            panic!()
        };
        resolve(a)
    }

    #[test]
    fn replicas_from_every_source() {
        let d = resolved(&[
            "--datadir",
            "r1=/var/lib/r1",
            "--live",
            "r2=db2:3307",
            "--live",
            "r3=10.0.0.3:3306",
            "-u",
            "admin",
            "--state",
            "-",
            "--master-binlogs",
            "/m/mysql-bin.index",
            "--write",
            "/out",
            "--json",
        ])
        .unwrap();
        assert_eq!(d.datadirs, [("r1".to_string(), PathBuf::from("/var/lib/r1"))]);
        let live: Vec<_> = d.live.iter().map(|(n, s)| (n.as_str(), s.label(), s.user.as_deref())).collect();
        assert_eq!(
            live,
            [("r2", "db2:3307".to_string(), Some("admin")), ("r3", "10.0.0.3:3306".to_string(), Some("admin"))]
        );
        assert!(d.live.iter().all(|(_, s)| s.password.is_none() && s.socket.is_none() && s.timeout.is_none()));
        assert_eq!(d.state, Some(PathBuf::from("-")));
        assert_eq!(d.master_binlogs, Some(PathBuf::from("/m/mysql-bin.index")));
        assert_eq!(d.write, Some(PathBuf::from("/out")));
        assert!(d.json && d.cut.verify_checksums);
        assert!(!d.cut.keep_partial_tail && !d.cut.allow_mid_transaction_start);
    }

    #[test]
    fn defaults() {
        let d = resolved(&["--no-verify"]).unwrap();
        assert!(d.datadirs.is_empty() && d.live.is_empty() && d.state.is_none());
        assert!(!d.cut.verify_checksums && !d.json && d.write.is_none() && !d.ask_password);
    }

    #[test]
    fn malformed_replicas_are_refused_before_any_connection() {
        for (args, why) in [
            (&["--live", "db2:3307"][..], "expected NAME=VALUE"),
            (&["--live", "r2=db2"], "expected HOST:PORT"),
            (&["--live", "r2=db2:port"], "bad port"),
            (&["--live", "r2=db2:70000"], "bad port"),
            (&["--datadir", "/var/lib/r1"], "expected NAME=VALUE"),
        ] {
            let e = resolved(args).unwrap_err();
            assert!(e.to_string().contains(why), "{args:?}: {e}");
            assert!(e.to_string().starts_with(args[0]), "the option is named: {args:?}: {e}");
            assert_eq!(of_error(&e), super::super::exit::EXIT_ERROR);
        }
    }

    /// The password is resolved once for every `--live` replica, and a
    /// defaults file's host, port or socket never replaces the address given.
    #[test]
    fn one_login_for_every_live_replica() {
        let dir = tempfile::tempdir().unwrap();
        let cnf = dir.path().join("my.cnf");
        std::fs::write(&cnf, "[client]\nuser=repl\npassword=s3cret\nsocket=/run/mysqld/mysqld.sock\nport=3999\n")
            .unwrap();
        let d = resolved(&["--live", "r2=db2:3307", "--live", "r3=db3:3308", "--defaults-file", cnf.to_str().unwrap()])
            .unwrap();
        let live = d.live_logins().unwrap();
        let got: Vec<_> = live
            .iter()
            .map(|(n, s)| (n.as_str(), s.label(), s.user.as_deref(), s.password.as_ref().map(|p| p.expose())))
            .collect();
        assert_eq!(
            got,
            [
                ("r2", "db2:3307".to_string(), Some("repl"), Some("s3cret")),
                ("r3", "db3:3308".to_string(), Some("repl"), Some("s3cret"))
            ]
        );
        // -u wins over the defaults file's user.
        let d = resolved(&["--live", "r2=db2:3307", "-u", "admin", "--defaults-file", cnf.to_str().unwrap()]).unwrap();
        assert_eq!(d.live_logins().unwrap()[0].1.user.as_deref(), Some("admin"));
    }
}
