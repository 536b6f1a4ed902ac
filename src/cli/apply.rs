//! `binlog-diff apply`: the native applier ([`crate::apply`]) on one
//! target, on every replica of a plan (`--plan`), or printing the
//! statements (`--print-sql`); SIGINT and SIGTERM stop it at a clean point,
//! and it says where it stopped and how to resume.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use clap::Args;

use super::exit::{EXIT_ERROR, EXIT_OK, of_apply, of_error};
use crate::apply::{ApplyFailure, ApplyOptions, ApplyReport, InDoubtWas, PlanTarget};
use crate::error::{Error, ErrorKind, Result};
use crate::log::Access;
use crate::server::ConnSpec;

/// `binlog-diff apply` arguments.
#[derive(Args, Debug)]
pub(super) struct ApplyArgs {
    /// Diff logs (or binlogs), applied in the order given as one stream.
    #[arg(required_unless_present = "plan")]
    files: Vec<PathBuf>,
    /// Apply every replica's diff of a plan (the JSON of `diff --live NAME=HOST:PORT … --write DIR --json`)
    /// to that replica, all at once; a failing replica does not stop the others. `-`: the plan on standard
    /// input, which may also hold the password (`"password"`: how the failover driver passes it to a host).
    #[arg(long, conflicts_with_all = ["files", "host", "port", "socket", "state_file", "print_sql", "expect_server_id", "expect_gtid_pos"])]
    plan: Option<PathBuf>,
    /// Target host (TCP).
    #[arg(long)]
    host: Option<String>,
    /// Target port.
    #[arg(long, short = 'P')]
    port: Option<u16>,
    /// User (an admin: the applier sets server_id, gtid_seq_no, pseudo_slave_mode, runs BINLOG).
    /// The password comes from MYSQL_PWD or --defaults-file, never from the command line.
    #[arg(long, short = 'u')]
    user: Option<String>,
    /// Unix socket instead of host and port.
    #[arg(long, short = 'S')]
    socket: Option<PathBuf>,
    /// MySQL defaults file with a [client] password (and user, host, port, socket).
    #[arg(long)]
    defaults_file: Option<PathBuf>,
    /// Ask for the password on the terminal when MYSQL_PWD and --defaults-file give none.
    #[arg(long, short = 'p')]
    ask_password: bool,
    /// SET sql_log_bin=0 for the apply session. The target's GTID state then cannot say what was applied:
    /// the resume state is kept exact instead (a journal entry fsynced before each COMMIT).
    #[arg(long)]
    disable_log_bin: bool,
    /// Apply even while replication threads run on the target, or across server flavors.
    #[arg(long)]
    force: bool,
    /// Continue after the last committed transaction (state file + the target's GTID state).
    #[arg(long)]
    resume: bool,
    /// Skip, rather than fail on, transactions whose GTID the target already has (a rerun); unlike
    /// --resume no state is needed, and transactions without a GTID are applied.
    #[arg(long)]
    skip_applied: bool,
    /// A trailing incomplete transaction is reported but does not fail the run.
    #[arg(long)]
    allow_partial_tail: bool,
    /// Refuse unless the target's @@server_id is this.
    #[arg(long)]
    expect_server_id: Option<u32>,
    /// Refuse unless the target's GTID position is this.
    #[arg(long)]
    expect_gtid_pos: Option<String>,
    /// Resume state file (default: FIRST_FILE.apply-state).
    #[arg(long)]
    state_file: Option<PathBuf>,
    /// Write no resume state.
    #[arg(long, conflicts_with = "resume")]
    no_state_file: bool,
    /// Machine-readable report.
    #[arg(long)]
    json: bool,
    /// Do not verify checksums.
    #[arg(long)]
    no_verify: bool,
    /// Read files into memory instead of memory-mapping them.
    #[arg(long)]
    no_mmap: bool,
    /// Print the statements instead of applying them (a dry run: no connection).
    #[arg(long)]
    print_sql: bool,
    /// With --plan: print `progress<TAB>NAME<TAB>DONE<TAB>TOTAL` lines on standard error while applying,
    /// instead of progress bars (how the failover driver follows an apply it runs on another host).
    #[arg(long, requires = "plan")]
    progress: bool,
    /// Worker connections: independent transactions (write sets, the source's group commits) run side by
    /// side, commits stay in source order; DDL and statements run alone.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    parallel: u16,
    /// Send every transaction on its own. By default, on MariaDB, runs of row transactions with GTIDs go
    /// many to a round trip, each still committing on its own (a compound statement).
    #[arg(long)]
    no_batch: bool,
    /// Bound of every MySQL wait, in seconds: connecting, and a target that stops answering (while no
    /// transaction commits for this long it is probed on another connection; a frozen or unreachable server
    /// ends the apply, a long statement on a live one does not); TCP keepalive within it.
    #[arg(long, value_name = "SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    mysql_timeout: u64,
    /// End the apply (of each target) after SECS seconds, a clear error (--resume continues); lock waits of
    /// the apply sessions end by then too.
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    deadline: Option<u64>,
    /// When the target cannot say what it has (--disable-log-bin, no binary log, transactions without GTIDs):
    /// apply files the resume state records as applied once more, from their start (refused otherwise).
    #[arg(long, conflicts_with = "resume")]
    again: bool,
    /// Resume past the transaction the resume state says was being committed when the last run stopped:
    /// its changes are on the target.
    #[arg(long, conflicts_with = "resume_assume_rolled_back")]
    resume_assume_committed: bool,
    /// Resume with the transaction the resume state says was being committed when the last run stopped:
    /// its changes are not on the target.
    #[arg(long)]
    resume_assume_rolled_back: bool,
}

/// SIGINT and SIGTERM set the returned flag (and record which came); a
/// second one ends the process at once.
fn watch_signals() -> std::io::Result<(Arc<AtomicBool>, Arc<AtomicUsize>)> {
    let stop = Arc::new(AtomicBool::new(false));
    let which = Arc::new(AtomicUsize::new(0));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // Registered first, it sees the flag of an earlier signal only.
        signal_hook::flag::register_conditional_shutdown(sig, 128 + sig, Arc::clone(&stop))?;
        signal_hook::flag::register_usize(sig, Arc::clone(&which), sig as usize)?;
        signal_hook::flag::register(sig, Arc::clone(&stop))?;
    }
    Ok((stop, which))
}

/// `opts` stopped by SIGINT or SIGTERM ([`watch_signals`]), and which
/// signal came; `None` (said on standard error) when they cannot be watched.
fn interruptible(opts: ApplyOptions) -> Option<(ApplyOptions, Arc<AtomicUsize>)> {
    match watch_signals() {
        Ok((stop, which)) => Some((ApplyOptions { interrupt: Some(stop), ..opts }, which)),
        Err(e) => {
            eprintln!("binlog-diff: cannot watch for signals: {e}");
            None
        }
    }
}

/// This command line again, with `--resume` (and without the options that
/// only the first run needs), quoted for a POSIX shell.
fn resume_command() -> String {
    resume_command_from(std::env::args_os().map(|a| a.to_string_lossy().into_owned()).collect())
}

fn resume_command_from(args: Vec<String>) -> String {
    let drop = ["--again", "--resume-assume-committed", "--resume-assume-rolled-back", "--resume"];
    let (head, rest) = args.split_at(1.min(args.len()));
    let mut out: Vec<String> = head.to_vec();
    let mut rest: Vec<String> = rest.iter().filter(|a| !drop.contains(&a.as_str())).cloned().collect();
    // After the subcommand: `apply --resume …`.
    let at = rest.iter().position(|a| a == "apply").map_or(0, |i| i + 1);
    rest.insert(at, "--resume".into());
    out.extend(rest);
    out.iter().map(|a| shell_quote(a)).collect::<Vec<_>>().join(" ")
}

fn shell_quote(a: &str) -> String {
    let plain = !a.is_empty() && a.chars().all(|c| c.is_ascii_alphanumeric() || "_./:=@%+,-".contains(c));
    if plain { a.to_string() } else { format!("'{}'", a.replace('\'', "'\\''")) }
}

/// After a failed apply: where it stands and, when the stop was an interrupt
/// or a bound (resumable as is), how to resume.
fn say_stopped(prefix: &str, f: &ApplyFailure, resume: &str) {
    let resumable = matches!(f.error.kind(), ErrorKind::Interrupted(_) | ErrorKind::Timeout { .. });
    let Some(r) = &f.report.resume else { return };
    if !resumable && r.in_doubt.is_none() {
        return;
    }
    eprintln!(
        "{prefix}stopped at {} @ {}: {} transactions of these files committed ({} in this run){}",
        r.file.display(),
        r.offset,
        r.transactions,
        f.report.transactions,
        r.last_gtid.as_deref().map(|g| format!(", last GTID {g}")).unwrap_or_default()
    );
    if let Some(d) = &r.in_doubt {
        eprintln!(
            "{prefix}in doubt: {d}: its COMMIT was sent, its outcome is unknown; look on the target, then resume \
             with --resume-assume-committed or --resume-assume-rolled-back"
        );
    }
    if !r.saved {
        eprintln!("{prefix}no resume state was written (--no-state-file)");
    } else if resumable && r.in_doubt.is_none() {
        eprintln!("{prefix}to resume: {resume}");
    }
}

/// `apply`, resolved: what to run, on what, with which options.
#[derive(Debug)]
enum Apply {
    /// `--print-sql`: the statements of the files, no connection.
    PrintSql { files: Vec<PathBuf>, opts: ApplyOptions },
    /// One target (its password not yet filled in).
    Target { spec: ConnSpec, files: Vec<PathBuf>, opts: ApplyOptions },
    /// `--plan`: every replica of a plan, each on its own connection made
    /// from `base` (user, bound; the password not yet filled in).
    Plan { plan: PathBuf, base: ConnSpec, opts: ApplyOptions, progress: bool },
}

/// Where the password comes from besides MYSQL_PWD (and, for a plan on
/// standard input, the plan).
#[derive(Debug)]
struct Login {
    defaults_file: Option<PathBuf>,
    ask_password: bool,
}

fn resolve(a: ApplyArgs) -> (Apply, Login, bool) {
    let access = if a.no_mmap { Access::Read } else { Access::Mmap };
    let login = Login { defaults_file: a.defaults_file.clone(), ask_password: a.ask_password };
    let timeout = Some(Duration::from_secs(a.mysql_timeout));
    let what = if let Some(plan) = a.plan.clone() {
        // (--plan conflicts with the per-target options: they stay unset.)
        let base = ConnSpec { user: a.user.clone(), timeout, ..Default::default() };
        Apply::Plan { plan, base, opts: apply_options(&a, access), progress: a.progress }
    } else if a.print_sql {
        let opts = ApplyOptions { verify_checksums: !a.no_verify, access, ..Default::default() };
        Apply::PrintSql { files: a.files.clone(), opts }
    } else {
        let spec = ConnSpec {
            host: a.host.clone(),
            port: a.port,
            socket: a.socket.clone(),
            user: a.user.clone(),
            password: None,
            timeout,
        };
        Apply::Target { spec, files: a.files.clone(), opts: apply_options(&a, access) }
    };
    (what, login, a.json)
}

fn apply_options(a: &ApplyArgs, access: Access) -> ApplyOptions {
    ApplyOptions {
        expect_server_id: a.expect_server_id,
        expect_gtid_pos: a.expect_gtid_pos.clone(),
        force: a.force,
        disable_log_bin: a.disable_log_bin,
        resume: a.resume,
        skip_applied: a.skip_applied,
        allow_partial_tail: a.allow_partial_tail,
        verify_checksums: !a.no_verify,
        access,
        state_file: a.state_file.clone(),
        no_state_file: a.no_state_file,
        parallel: a.parallel as usize,
        no_batch: a.no_batch,
        deadline: a.deadline.map(Duration::from_secs),
        again: a.again,
        in_doubt: if a.resume_assume_committed {
            Some(InDoubtWas::Committed)
        } else if a.resume_assume_rolled_back {
            Some(InDoubtWas::RolledBack)
        } else {
            None
        },
        ..Default::default()
    }
}

/// `apply`.
pub(super) fn run(a: ApplyArgs) -> u8 {
    let (what, login, json) = resolve(a);
    match what {
        Apply::PrintSql { files, opts } => print_sql(&files, &opts),
        Apply::Target { spec, files, opts } => {
            let spec = match spec.with_password(login.defaults_file.as_deref(), login.ask_password) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("binlog-diff: {e}");
                    return EXIT_ERROR;
                }
            };
            run_target(&spec, &files, opts, json)
        }
        Apply::Plan { plan, base, opts, progress } => run_plan(&plan, base, &login, opts, json, progress),
    }
}

/// `--print-sql`: the statements on standard output (a closed pipe is fine).
fn print_sql(files: &[PathBuf], opts: &ApplyOptions) -> u8 {
    match crate::apply::render_sql(files, opts) {
        Ok(b) => match std::io::stdout().lock().write_all(&b) {
            Ok(()) => EXIT_OK,
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => EXIT_OK,
            Err(e) => {
                eprintln!("binlog-diff: {e}");
                EXIT_ERROR
            }
        },
        Err(e) => {
            eprintln!("binlog-diff: {e}");
            of_error(&e)
        }
    }
}

/// One target: its report (text or JSON), and on a failure where it stopped.
fn run_target(spec: &ConnSpec, files: &[PathBuf], opts: ApplyOptions, json: bool) -> u8 {
    let Some((opts, which)) = interruptible(opts) else { return EXIT_ERROR };
    let print = |r: &ApplyReport| {
        if json {
            println!("{}", r.to_json());
        } else {
            print!("{}", r.to_text());
        }
    };
    match crate::apply::apply(spec, files, &opts) {
        Ok(r) => {
            print(&r);
            EXIT_OK
        }
        Err(f) => {
            print(&f.report);
            eprintln!("binlog-diff: apply failed: {}", f.error);
            say_stopped("binlog-diff: ", &f, &resume_command());
            let left_out_only = f.report.failure.is_none() && f.report.left_out.is_some();
            of_apply(&f.error, left_out_only, which.load(Relaxed))
        }
    }
}

/// The plan's targets and the connection settings shared by all: the
/// password from `--defaults-file`, MYSQL_PWD or the terminal, or from the
/// plan itself when it came on standard input.
fn plan_inputs(path: &Path, base: ConnSpec, login: &Login) -> Result<(Vec<crate::apply::PlanTarget>, ConnSpec)> {
    let stdin = path.as_os_str() == "-";
    let text = super::read_input(path)?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| Error::bad_input("plan", format!("not JSON: {e}")).with_file(path))?;
    let targets = crate::apply::plan_targets(&v, path)?;
    let mut base = base;
    // Only from standard input: a password is never read from a plan file someone left around.
    if let (true, Some(p)) = (stdin, v["password"].as_str()) {
        base.password = Some(crate::server::Secret::new(p));
    }
    let base = base.with_password(login.defaults_file.as_deref(), login.ask_password)?;
    Ok((targets, base))
}

/// `apply --plan`: every replica at once, a progress bar each on a terminal
/// (or `progress` lines on standard error), then each one's report.
fn run_plan(path: &Path, base: ConnSpec, login: &Login, opts: ApplyOptions, json: bool, progress: bool) -> u8 {
    let (targets, base) = match plan_inputs(path, base, login) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("binlog-diff: {e}");
            return of_error(&e);
        }
    };
    let Some((opts, which)) = interruptible(opts) else { return EXIT_ERROR };
    let counters: Vec<Arc<crate::apply::Counters>> = targets.iter().map(|_| Arc::default()).collect();
    let items: Vec<(String, u64)> = targets.iter().map(|t| (t.name.clone(), t.transactions)).collect();
    let bars = crate::apply::Bars::new(&items);
    if bars.is_none() {
        for t in &targets {
            eprintln!(
                "{}: applying {} to {}:{} ({} transactions)",
                t.name,
                t.file.display(),
                t.host,
                t.port,
                t.transactions
            );
        }
    }
    let results = std::thread::scope(|sc| {
        let h = sc.spawn(|| crate::apply::apply_plan(&targets, &base, &opts, &counters));
        if progress {
            progress_lines(&targets, &counters, || h.is_finished());
        } else if let Some(b) = &bars {
            b.follow(&counters, || h.is_finished());
        }
        h.join()
    });
    let Ok(results) = results else {
        eprintln!("binlog-diff: the plan's apply threads panicked");
        return EXIT_ERROR;
    };
    let mut code = EXIT_OK;
    let mut out = Vec::new();
    for (i, (t, r)) in targets.iter().zip(&results).enumerate() {
        let ok = r.is_ok();
        if let Some(b) = &bars {
            b.finish(i, &counters, ok);
        } else {
            eprintln!("{}: {}", t.name, if ok { "done" } else { "FAILED" });
        }
        let (report, err) = match r {
            Ok(rep) => (rep, None),
            Err(f) => {
                code = code.max(of_apply(&f.error, false, which.load(Relaxed)));
                (&*f.report, Some(&f.error))
            }
        };
        if json {
            out.push(target_json(t, report, err));
        } else {
            println!("== {} ({}:{}, {})", t.name, t.host, t.port, t.file.display());
            for l in report.to_text().lines() {
                println!("   {l}");
            }
        }
    }
    if json {
        println!("{}", serde_json::Value::Array(out));
    } else {
        println!("== summary");
        for (t, r) in targets.iter().zip(&results) {
            match r {
                Ok(rep) => {
                    println!("{}: ok: {} transactions applied, {} skipped", t.name, rep.transactions, rep.skipped)
                }
                Err(f) => println!("{}: FAILED: {}", t.name, f.error),
            }
        }
    }
    let resume = resume_command();
    for (t, r) in targets.iter().zip(&results) {
        if let Err(f) = r {
            say_stopped(&format!("{}: ", t.name), f, &resume);
        }
    }
    if path.as_os_str() == "-" && results.iter().any(|r| r.as_ref().is_err_and(|f| f.report.resume.is_some())) {
        eprintln!("(the plan came on standard input: give it again to a resume)");
    }
    code
}

/// For whoever runs us over ssh (the failover driver): one line per target
/// and tick on standard error, until `finished`; the last lines say where
/// each ended.
fn progress_lines(targets: &[PlanTarget], counters: &[Arc<crate::apply::Counters>], finished: impl Fn() -> bool) {
    loop {
        let finished = finished();
        let mut err = std::io::stderr().lock();
        for (t, c) in targets.iter().zip(counters) {
            let (done, total) = (c.done.load(Relaxed), c.total.load(Relaxed));
            let _ = writeln!(err, "progress\t{}\t{done}\t{total}", t.name);
        }
        drop(err);
        if finished {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// One target's outcome in `apply --plan --json`.
fn target_json(t: &PlanTarget, report: &ApplyReport, err: Option<&Error>) -> serde_json::Value {
    serde_json::json!({
        "name": t.name, "host": t.host, "port": t.port, "file": t.file.display().to_string(),
        "ok": err.is_none(), "error": err.map(|e| e.to_string()),
        // What the failover driver branches on: a target this host cannot reach.
        "error_kind": err.map(|e| match e.kind() {
            ErrorKind::Connect(_) => "connect",
            ErrorKind::Timeout { .. } => "timeout",
            ErrorKind::Interrupted(_) => "interrupted",
            _ => "other",
        }),
        "report": report.to_json(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::{Cli, Cmd};
    use super::*;
    use clap::Parser;

    fn parsed(args: &[&str]) -> std::result::Result<ApplyArgs, clap::Error> {
        Cli::try_parse_from([&["binlog-diff", "apply"][..], args].concat()).map(|c| match c.cmd {
            Cmd::Apply(a) => a,
            _ => panic!(),
        })
    }

    fn resolved(args: &[&str]) -> (Apply, Login, bool) {
        resolve(parsed(args).unwrap())
    }

    #[test]
    fn one_target() {
        let (what, login, json) = resolved(&[
            "--host",
            "db2",
            "-P",
            "3307",
            "-u",
            "admin",
            "--defaults-file",
            "/etc/my.cnf",
            "--resume",
            "--parallel",
            "4",
            "--mysql-timeout",
            "5",
            "--deadline",
            "60",
            "--expect-server-id",
            "2",
            "--no-mmap",
            "--json",
            "d1.binlog",
            "d2.binlog",
        ]);
        let Apply::Target { spec, files, opts } = what else { panic!("{what:?}") };
        assert_eq!(spec.label(), "db2:3307");
        assert_eq!((spec.user.as_deref(), spec.timeout), (Some("admin"), Some(Duration::from_secs(5))));
        assert!(spec.password.is_none(), "filled in when it runs");
        assert_eq!(files, [PathBuf::from("d1.binlog"), PathBuf::from("d2.binlog")]);
        assert!(opts.resume && !opts.again && !opts.skip_applied && opts.verify_checksums);
        assert_eq!((opts.parallel, opts.deadline), (4, Some(Duration::from_secs(60))));
        assert_eq!((opts.expect_server_id, opts.access, opts.in_doubt), (Some(2), Access::Read, None));
        assert!(opts.interrupt.is_none(), "set when it runs");
        assert_eq!(login.defaults_file, Some(PathBuf::from("/etc/my.cnf")));
        assert!(!login.ask_password && json);
    }

    #[test]
    fn defaults() {
        let (what, login, json) = resolved(&["d.binlog"]);
        let Apply::Target { spec, opts, .. } = what else { panic!() };
        assert_eq!(spec.label(), "localhost:3306");
        assert_eq!(spec.timeout, Some(Duration::from_secs(30)));
        assert_eq!((opts.parallel, opts.deadline, opts.access), (1, None, Access::Mmap));
        assert!(!opts.resume && !opts.no_batch && !opts.disable_log_bin && !opts.force && opts.verify_checksums);
        assert_eq!(opts.retries, ApplyOptions::default().retries);
        assert!(login.defaults_file.is_none() && !login.ask_password && !json);
    }

    #[test]
    fn settling_a_transaction_in_doubt() {
        let (Apply::Target { opts, .. }, ..) = resolved(&["--resume", "--resume-assume-committed", "d"]) else {
            panic!()
        };
        assert_eq!(opts.in_doubt, Some(InDoubtWas::Committed));
        let (Apply::Target { opts, .. }, ..) = resolved(&["--resume", "--resume-assume-rolled-back", "d"]) else {
            panic!()
        };
        assert_eq!(opts.in_doubt, Some(InDoubtWas::RolledBack));
    }

    #[test]
    fn print_sql_takes_only_how_to_read() {
        let (what, ..) = resolved(&["--print-sql", "--no-verify", "--parallel", "8", "d"]);
        let Apply::PrintSql { files, opts } = what else { panic!() };
        assert_eq!(files, [PathBuf::from("d")]);
        assert!(!opts.verify_checksums);
        assert_eq!(opts.parallel, 1, "no connection: the apply options do not apply");
    }

    #[test]
    fn a_plan() {
        let (what, login, json) =
            resolved(&["--plan", "-", "-u", "root", "--progress", "--mysql-timeout", "7", "--deadline", "9", "--json"]);
        let Apply::Plan { plan, base, opts, progress } = what else { panic!() };
        assert_eq!(plan, PathBuf::from("-"));
        assert_eq!((base.user.as_deref(), base.timeout), (Some("root"), Some(Duration::from_secs(7))));
        assert!(base.host.is_none() && base.port.is_none() && base.password.is_none());
        assert_eq!(opts.deadline, Some(Duration::from_secs(9)));
        assert!(progress && json && !login.ask_password);
    }

    #[test]
    fn conflicts() {
        use clap::error::ErrorKind as K;
        for (args, kind) in [
            (&[][..], K::MissingRequiredArgument),
            (&["--plan", "p.json", "--host", "h"], K::ArgumentConflict),
            (&["--plan", "p.json", "d"], K::ArgumentConflict),
            (&["--plan", "p.json", "--print-sql"], K::ArgumentConflict),
            (&["--resume", "--again", "d"], K::ArgumentConflict),
            (&["--resume", "--no-state-file", "d"], K::ArgumentConflict),
            (&["--resume-assume-committed", "--resume-assume-rolled-back", "d"], K::ArgumentConflict),
            (&["--parallel", "0", "d"], K::ValueValidation),
            (&["--parallel", "65", "d"], K::ValueValidation),
            (&["--mysql-timeout", "0", "d"], K::ValueValidation),
            (&["--deadline", "0", "d"], K::ValueValidation),
        ] {
            assert_eq!(parsed(args).unwrap_err().kind(), kind, "{args:?}");
        }
    }

    #[test]
    fn resume_command_is_this_one_with_resume() {
        let args = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            resume_command_from(args(&[
                "/usr/bin/binlog-diff",
                "apply",
                "--again",
                "-u",
                "root",
                "--state-file",
                "/tmp/my state.json",
                "d'1.bin"
            ])),
            "/usr/bin/binlog-diff apply --resume -u root --state-file '/tmp/my state.json' 'd'\\''1.bin'"
        );
        // Not twice, and the settling of a doubt is not repeated.
        assert_eq!(
            resume_command_from(args(&["bd", "apply", "--resume", "--resume-assume-committed", "f"])),
            "bd apply --resume f"
        );
    }
}
