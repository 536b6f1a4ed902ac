//! The server a run catches up on: a throwaway server of ours started from
//! the snapshot, or the user's scratch server emptied before every run.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use mysql::prelude::Queryable;

use super::report::table;
use super::timed::{one_run, timed_run};
use super::{CatchupOptions, CatchupReport, Durability, LogsInfo, StartingState, rounds};
use crate::apply::MariaState;
use crate::error::{Error, Result};
use crate::server::embedded::{self, Embedded};
use crate::server::{ConnSpec, Server};

/// The runs on the user's scratch server.
pub(super) fn run_on_target(opts: &CatchupOptions, spec: &ConnSpec, logs: LogsInfo) -> Result<CatchupReport> {
    let expected = MariaState::parse(&logs.end_gtid)?;
    let facts = Server::connect(spec)?.promotion_facts()?;
    let version = facts.version;
    if !facts.log_bin {
        return Err(Error::server(
            spec.label(),
            "binary logging is off: the end state is checked by gtid_binlog_pos (start it with log_bin, as a \
             replica MHA promotes)",
        ));
    }
    let srv = Srv::Target(spec);
    let (configs, runs) = rounds(opts, &expected, |mode, threads, round| {
        one_run(opts, mode, threads, round, |label| {
            restore_target(spec, &opts.start)?;
            timed_run(opts, &srv, &logs, mode, threads, label)
        })
    });
    let lines = table(&runs, &configs, &logs);
    Ok(CatchupReport { logs, server_version: version, server_options: Vec::new(), runs, lines })
}

/// Empties the scratch server: every database but the system ones
/// dropped, the dump loaded, the binary log and replica GTID position reset.
fn restore_target(spec: &ConnSpec, start: &StartingState) -> Result<()> {
    let mut srv = Server::connect(spec)?;
    let c = srv.conn();
    let q =
        |c: &mut mysql::Conn, s: &str| c.query_drop(s).map_err(|e| Error::server(spec.label(), format!("{s}: {e}")));
    let dbs: Vec<String> =
        c.query("SHOW DATABASES").map_err(|e| Error::server(spec.label(), format!("SHOW DATABASES: {e}")))?;
    for d in dbs.iter().filter(|d| !matches!(d.as_str(), "mysql" | "information_schema" | "performance_schema" | "sys"))
    {
        q(c, &format!("DROP DATABASE `{}`", d.replace('`', "``")))?;
    }
    if let StartingState::Dump(f) = start {
        let client = embedded::find_program(&["mariadb", "mysql"])?;
        let input = fs::File::open(f).map_err(|e| Error::io(f, e))?;
        let mut cmd = Command::new(&client);
        Srv::Target(spec).client_args(&mut cmd);
        let out = cmd
            .stdin(input)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| Error::io(&client, e))?;
        if !out.status.success() {
            return Err(tool_failed(&spec.label(), &client, &format!("loading the dump {}", f.display()), &out.stderr));
        }
    }
    srv.reset_binary_logs()?;
    srv.set_gtid_slave_pos("")
}

/// Where a run's server is.
pub(super) enum Srv<'a> {
    /// A throwaway server of ours.
    Embedded(&'a Embedded),
    /// The user's scratch server.
    Target(&'a ConnSpec),
}

impl Srv<'_> {
    pub(super) fn spec(&self) -> ConnSpec {
        match self {
            Srv::Embedded(e) => e.spec(),
            Srv::Target(s) => (*s).clone(),
        }
    }

    /// What errors call it: the user's server's `host:port`, or our
    /// throwaway server's datadir.
    pub(super) fn label(&self) -> String {
        match self {
            Srv::Embedded(e) => e.datadir().display().to_string(),
            Srv::Target(s) => s.label(),
        }
    }

    /// Connection options for the `mariadb` client; the password goes in
    /// its environment (`MYSQL_PWD`), never on its command line.
    pub(super) fn client_args(&self, cmd: &mut Command) {
        let spec = self.spec();
        cmd.arg("--no-defaults").arg("--binary-mode");
        cmd.arg(format!("--user={}", spec.user.as_deref().unwrap_or("root")));
        match (&spec.socket, &spec.host) {
            (Some(s), _) => {
                cmd.arg(format!("--socket={}", s.display()));
            }
            (None, h) => {
                cmd.arg(format!("--host={}", h.as_deref().unwrap_or("127.0.0.1")));
                cmd.arg(format!("--port={}", spec.port.unwrap_or(3306)));
                cmd.arg("--protocol=TCP");
            }
        }
        if let Some(p) = &spec.password {
            cmd.env("MYSQL_PWD", p.expose());
        }
    }
}

/// A program of the MariaDB packages that failed on `server` (its label, or
/// an embedded server's datadir) while `doing`: what it said, named.
pub(super) fn tool_failed(server: &str, tool: &Path, doing: &str, said: &[u8]) -> Error {
    let name = tool.file_name().map_or_else(|| tool.display().to_string(), |n| n.to_string_lossy().into_owned());
    Error::server(server, format!("{name} failed {doing}: {}", String::from_utf8_lossy(said).trim()))
}

pub(super) fn base_options(opts: &CatchupOptions, server_id: u32) -> Vec<String> {
    let (flush, sync) = match opts.durability {
        Durability::Relaxed => (2, 0),
        Durability::Full => (1, 1),
    };
    let mut v = vec![
        format!("--server-id={server_id}"),
        // A replica as MHA wants one: binary log on, replicated changes logged.
        "--log-bin=bench-bin".to_string(),
        "--log-slave-updates=ON".into(),
        "--relay-log=bench-relay".into(),
        "--skip-slave-start".into(),
        "--gtid-strict-mode=OFF".into(),
        "--max-allowed-packet=1G".into(),
        format!("--innodb-buffer-pool-size={}", opts.buffer_pool),
        format!("--innodb-flush-log-at-trx-commit={flush}"),
        format!("--sync-binlog={sync}"),
        "--max-connections=200".into(),
    ];
    v.extend(opts.server_options.iter().cloned());
    v
}

pub(super) fn load_dump(opts: &CatchupOptions, dump: &Path, work: &Path) -> Result<PathBuf> {
    let snap = work.join("snapshot");
    embedded::copy_dir(&embedded::template(&opts.workdir)?, &snap)?;
    let mut s = Embedded::start(&work.join("dump-server"), &snap, &base_options(opts, 1))?;
    let client = embedded::find_program(&["mariadb", "mysql"])?;
    let input = fs::File::open(dump).map_err(|e| Error::io(dump, e))?;
    let mut cmd = Command::new(&client);
    Srv::Embedded(&s).client_args(&mut cmd);
    let out =
        cmd.stdin(input).stdout(Stdio::null()).stderr(Stdio::piped()).output().map_err(|e| Error::io(&client, e))?;
    if !out.status.success() {
        let doing = format!("loading the dump {}", dump.display());
        return Err(tool_failed(&s.datadir().display().to_string(), &client, &doing, &out.stderr));
    }
    // The dump's own binlog is not part of the starting state.
    Server::connect(&s.spec())?.reset_binary_logs()?;
    s.stop()?;
    Ok(snap)
}
