//! `binlog-diff bench`: benchmarks on throwaway MariaDB servers
//! ([`crate::bench`]).

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::exit::{EXIT_ERROR, EXIT_OK, of_error};
use crate::bench::{CatchupOptions, Durability, Mix, Mode, StartingState, WorkloadSpec};
use crate::error::{Error, Result};
use crate::log::{LogKind, LogSet};
use crate::server::ConnSpec;

/// The benchmarks.
#[derive(Subcommand, Debug)]
pub(super) enum BenchCmd {
    /// Relay-log catch-up: time each applier (the SQL thread, MariaDB parallel replication,
    /// `mariadb-binlog | mariadb`, `binlog-diff apply`) on the same logs and starting state.
    Catchup(CatchupArgs),
}

/// `binlog-diff bench catchup` arguments.
#[derive(Args, Debug)]
pub(super) struct CatchupArgs {
    /// Binlog or relay-log files, or one folder or index file; none: generate a workload.
    logs: Vec<PathBuf>,
    /// A folder or index given in LOGS holds relay logs (default: binlogs).
    #[arg(long)]
    relay: bool,
    /// Starting state: a copy of this datadir (of a cleanly shut down server; never written).
    #[arg(long, conflicts_with = "dump")]
    datadir: Option<PathBuf>,
    /// Starting state: this SQL dump loaded into a fresh server.
    #[arg(long)]
    dump: Option<PathBuf>,
    /// Generated workload when no LOGS: seeded (one client, no group commit) or sysbench
    /// (oltp_write_only, several clients).
    #[arg(long, default_value = "sysbench")]
    workload: String,
    /// Generated binlog size (K, M, G suffixes).
    #[arg(long, default_value = "64M")]
    size: String,
    /// Seed of the generated workload.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Client connections of the generated workload (0: 1 for seeded, 8 for sysbench).
    #[arg(long, default_value_t = 0)]
    clients: usize,
    /// Modes, comma-separated: sql, conservative, optimistic, aggressive, pipe, apply.
    #[arg(long, default_value = "sql,conservative,optimistic,aggressive,pipe,apply")]
    modes: String,
    /// Thread counts for the threaded modes, comma-separated.
    #[arg(long, default_value = "1,2,4,8")]
    threads: String,
    /// Rounds; the table shows the median of each mode and thread count.
    #[arg(long, default_value_t = 1)]
    runs: usize,
    /// Work folder: servers, copies of the logs, cached generated workloads, the chart.
    #[arg(long)]
    workdir: Option<PathBuf>,
    /// Server durability: relaxed (flush at commit 2, sync_binlog 0) or full (1 and 1).
    #[arg(long, default_value = "relaxed")]
    durability: String,
    /// innodb_buffer_pool_size of every server.
    #[arg(long, default_value = "1G")]
    buffer_pool: String,
    /// An extra mariadbd option for every run's server (repeatable), e.g. --server-option=--slave-parallel-max-queued=1M.
    #[arg(long, allow_hyphen_values = true)]
    server_option: Vec<String>,
    /// The chart (SVG; default: catchup.svg in the work folder).
    #[arg(long)]
    chart: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// One line per run instead of progress bars.
    #[arg(long)]
    no_progress: bool,
    /// Your scratch server instead of throwaway ones (pipe and apply modes only; needs
    /// --wipe-target). The password comes from MYSQL_PWD or -p, never the command line.
    #[arg(long, value_name = "HOST:PORT", requires = "wipe_target")]
    target: Option<String>,
    /// User on --target.
    #[arg(long, short = 'u', default_value = "root")]
    user: String,
    /// Ask for the --target password on the terminal.
    #[arg(short = 'p', long = "ask-password")]
    ask_password: bool,
    /// Consent: before every run, drop every database of --target but the system ones,
    /// load --dump and RESET MASTER.
    #[arg(long)]
    wipe_target: bool,
}

/// `64M`, `1G`, `500000`.
fn parse_size(s: &str) -> Result<u64> {
    let t = s.trim();
    let (num, mul) = match t.chars().last().map(|c| c.to_ascii_uppercase()) {
        Some('K') => (&t[..t.len() - 1], 1u64 << 10),
        Some('M') => (&t[..t.len() - 1], 1 << 20),
        Some('G') => (&t[..t.len() - 1], 1 << 30),
        _ => (t, 1),
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mul))
        .filter(|&n| n > 0)
        .ok_or_else(|| Error::config(Some("--size"), format!("bad size {s:?} (a number with K, M or G)")))
}

/// `HOST:PORT`, or `HOST` (port 3306).
fn target(t: &str) -> Result<(String, u16)> {
    match t.rsplit_once(':') {
        Some((h, p)) => Ok((
            h.to_string(),
            p.parse::<u16>().map_err(|_| Error::config(Some("--target"), format!("bad value {t:?} (HOST:PORT)")))?,
        )),
        None => Ok((t.to_string(), 3306)),
    }
}

/// `bench catchup`, resolved: the options and where the chart goes.
#[derive(Debug)]
struct Catchup {
    opts: CatchupOptions,
    /// `--target`'s password is asked on the terminal.
    ask_password: bool,
    chart: PathBuf,
    json: bool,
}

/// The logs: the files given, or every file of the one folder or index
/// given (relay logs with `--relay`).
fn logs(given: &[PathBuf], relay: bool) -> Result<Vec<PathBuf>> {
    match given {
        [one] if one.is_dir() || one.extension().is_some_and(|x| x == "index") => {
            let kind = if relay { LogKind::Relay } else { LogKind::Binlog };
            let set = if one.is_dir() { LogSet::discover(one, kind)? } else { LogSet::from_index(one)? };
            Ok(set.files().iter().map(|(_, p)| p.clone()).collect())
        }
        files => Ok(files.to_vec()),
    }
}

fn resolve(a: CatchupArgs) -> Result<Catchup> {
    let logs = logs(&a.logs, a.relay)?;
    let mix = match a.workload.as_str() {
        "seeded" => Mix::Seeded,
        "sysbench" => Mix::Sysbench,
        w => return Err(Error::config(Some("--workload"), format!("unknown workload {w:?} (seeded or sysbench)"))),
    };
    let durability = match a.durability.as_str() {
        "relaxed" => Durability::Relaxed,
        "full" => Durability::Full,
        d => return Err(Error::config(Some("--durability"), format!("unknown durability {d:?} (relaxed or full)"))),
    };
    let modes = a.modes.split(',').map(|m| Mode::parse(m.trim())).collect::<Result<Vec<_>>>()?;
    let threads = a
        .threads
        .split(',')
        .map(|t| t.trim().parse::<usize>().ok().filter(|&n| n > 0))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| Error::config(Some("--threads"), format!("bad value {:?} (e.g. 1,2,4,8)", a.threads)))?;
    let workdir = a.workdir.unwrap_or_else(|| std::env::temp_dir().join("binlog-diff-bench"));
    let start = match (a.datadir, a.dump) {
        (Some(d), _) => StartingState::Datadir(d),
        (None, Some(f)) => StartingState::Dump(f),
        (None, None) => StartingState::Empty,
    };
    let target = match &a.target {
        None => None,
        Some(t) => {
            let (host, port) = target(t)?;
            Some(ConnSpec { host: Some(host), port: Some(port), user: Some(a.user.clone()), ..Default::default() })
        }
    };
    let opts = CatchupOptions {
        logs,
        start,
        workload: WorkloadSpec { mix, bytes: parse_size(&a.size)?, seed: a.seed, clients: a.clients },
        modes,
        threads,
        runs: a.runs,
        workdir: workdir.clone(),
        durability,
        buffer_pool: a.buffer_pool,
        server_options: a.server_option,
        progress: !a.no_progress,
        target,
    };
    let chart = a.chart.unwrap_or_else(|| workdir.join("catchup.svg"));
    Ok(Catchup { opts, ask_password: a.ask_password, chart, json: a.json })
}

/// `bench catchup`: the table (or JSON) and the chart; exit 2 when some run
/// is invalid.
fn run_catchup(a: CatchupArgs) -> Result<bool> {
    let Catchup { mut opts, ask_password, chart, json } = resolve(a)?;
    if let Some(t) = opts.target.take() {
        opts.target = Some(t.with_password(None, ask_password)?);
    }
    let report = crate::bench::catchup::run(&opts)?;
    let drawn = crate::bench::chart::write_svg(&report, &chart);
    if json {
        let mut j = report.to_json();
        j["chart"] = serde_json::json!(drawn.as_ref().ok().map(|_| chart.display().to_string()));
        println!("{j:#}");
    } else {
        print!("{}", report.to_text());
        match &drawn {
            Ok(()) => println!("chart: {}", chart.display()),
            Err(e) => eprintln!("binlog-diff: no chart: {e}"),
        }
    }
    Ok(report.all_valid())
}

/// `bench`.
pub(super) fn run(what: BenchCmd) -> u8 {
    match what {
        BenchCmd::Catchup(a) => match run_catchup(a) {
            Ok(true) => EXIT_OK,
            Ok(false) => {
                eprintln!("binlog-diff: some runs are invalid (see the table)");
                EXIT_ERROR
            }
            Err(e) => {
                eprintln!("binlog-diff: {e}");
                of_error(&e)
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Cli, Cmd};
    use super::*;
    use clap::Parser;

    fn parsed(args: &[&str]) -> std::result::Result<CatchupArgs, clap::Error> {
        Cli::try_parse_from([&["binlog-diff", "bench", "catchup"][..], args].concat()).map(|c| match c.cmd {
            Cmd::Bench { what: BenchCmd::Catchup(a) } => a,
            _ => panic!(),
        })
    }

    fn resolved(args: &[&str]) -> Result<Catchup> {
        resolve(parsed(args).unwrap())
    }

    #[test]
    fn defaults_generate_a_sysbench_workload() {
        let c = resolved(&[]).unwrap();
        let o = &c.opts;
        assert!(o.logs.is_empty() && o.target.is_none() && o.server_options.is_empty());
        assert!(matches!(o.start, StartingState::Empty) && matches!(o.durability, Durability::Relaxed));
        assert!(matches!(o.workload.mix, Mix::Sysbench));
        assert_eq!((o.workload.bytes, o.workload.seed, o.workload.clients), (64 << 20, 1, 0));
        assert_eq!(o.modes.len(), 6);
        assert_eq!((o.threads.as_slice(), o.runs), (&[1, 2, 4, 8][..], 1));
        assert_eq!(o.workdir, std::env::temp_dir().join("binlog-diff-bench"));
        assert_eq!(c.chart, o.workdir.join("catchup.svg"));
        assert!(o.progress && !c.json && !c.ask_password);
    }

    #[test]
    fn flags() {
        let c = resolved(&[
            "--workload",
            "seeded",
            "--size",
            "2G",
            "--seed",
            "7",
            "--clients",
            "3",
            "--modes",
            "sql, apply",
            "--threads",
            "2,4",
            "--runs",
            "3",
            "--workdir",
            "/w",
            "--durability",
            "full",
            "--server-option=--slave-parallel-max-queued=1M",
            "--dump",
            "/d.sql",
            "--no-progress",
            "--json",
            "--target",
            "db9:3310",
            "-u",
            "bench",
            "--wipe-target",
        ])
        .unwrap();
        let o = &c.opts;
        assert!(matches!(o.workload.mix, Mix::Seeded) && matches!(o.durability, Durability::Full));
        assert_eq!((o.workload.bytes, o.workload.seed, o.workload.clients), (2 << 30, 7, 3));
        assert_eq!(o.modes.len(), 2);
        assert_eq!((o.threads.as_slice(), o.runs), (&[2, 4][..], 3));
        assert!(matches!(&o.start, StartingState::Dump(d) if d == &PathBuf::from("/d.sql")));
        assert_eq!(o.server_options, ["--slave-parallel-max-queued=1M"]);
        assert_eq!(c.chart, PathBuf::from("/w/catchup.svg"));
        let t = o.target.as_ref().unwrap();
        assert_eq!((t.label(), t.user.as_deref()), ("db9:3310".to_string(), Some("bench")));
        assert!(!o.progress && c.json);
        assert_eq!(target("db9").unwrap(), ("db9".to_string(), 3306));
    }

    #[test]
    fn bad_values() {
        for (args, why) in [
            (&["--workload", "tpcc"][..], "unknown workload"),
            (&["--durability", "some"], "unknown durability"),
            (&["--threads", "1,0"], "--threads: bad value \"1,0\""),
            (&["--size", "12X"], "bad size"),
            (&["--size", "0"], "bad size"),
            (&["--target", "db9:x", "--wipe-target"], "--target: bad value \"db9:x\""),
        ] {
            let e = resolved(args).unwrap_err();
            assert!(e.to_string().contains(why), "{args:?}: {e}");
            assert!(matches!(e.kind(), crate::error::ErrorKind::Config { key: Some(_), .. }), "{args:?}: {e}");
            assert_eq!(of_error(&e), EXIT_ERROR);
        }
        let e = resolved(&["--modes", "sql,warp"]).unwrap_err();
        assert!(matches!(e.kind(), crate::error::ErrorKind::Config { key: Some(k), .. } if k == "--modes"), "{e}");
        use clap::error::ErrorKind as K;
        assert_eq!(parsed(&["--target", "db9:3310"]).unwrap_err().kind(), K::MissingRequiredArgument);
        assert_eq!(parsed(&["--datadir", "/d", "--dump", "/f"]).unwrap_err().kind(), K::ArgumentConflict);
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("500000").unwrap(), 500_000);
        assert_eq!(parse_size("64k").unwrap(), 64 << 10);
        assert_eq!(parse_size(" 1G ").unwrap(), 1 << 30);
        assert!(parse_size("99999999999999G").is_err(), "overflow");
    }
}
