//! The `binlog-diff` command line: argument parsing and printing only; every
//! decision is a library call.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::error::{Error, ErrorKind};
use crate::inspect::{DumpOptions, Stats, StatsOptions, dump, verify_files};
use crate::log::{Access, LogFile, RecoveryMode, Tail};

/// Exit status: success.
pub const EXIT_OK: u8 = 0;
/// Exit status: the input is damaged (corrupt, truncated, not a binlog).
pub const EXIT_DAMAGED: u8 = 1;
/// Exit status: usage or I/O error.
pub const EXIT_ERROR: u8 = 2;

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

#[derive(Args, Debug, Clone)]
struct ReadArgs {
    /// Read files into memory instead of memory-mapping them.
    #[arg(long)]
    no_mmap: bool,
    /// Accept a file that ends inside an event (report it, exit 0).
    #[arg(long)]
    allow_truncated: bool,
}

impl ReadArgs {
    fn access(&self) -> Access {
        if self.no_mmap { Access::Read } else { Access::Mmap }
    }
    fn recovery(&self) -> RecoveryMode {
        if self.allow_truncated { RecoveryMode::TolerateTruncatedTail } else { RecoveryMode::AbsoluteConsistency }
    }
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Print one line per event (offset, type, server_id, size, log_pos, flags, summary).
    Dump {
        /// Binlog or relay-log files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
        /// Start at the first event at or after this offset.
        #[arg(long)]
        start_position: Option<u64>,
        /// Stop before the first event at or after this offset.
        #[arg(long)]
        stop_position: Option<u64>,
        /// Decode row events into values (as `mysqlbinlog -v`).
        #[arg(long)]
        rows: bool,
        /// Do not verify checksums.
        #[arg(long)]
        no_verify: bool,
        #[command(flatten)]
        read: ReadArgs,
    },
    /// Check structure and checksums; exit 0 when clean, 1 on damage.
    Verify {
        /// Binlog or relay-log files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Verify files in parallel (one worker per core).
        #[arg(long, short = 'j')]
        parallel: bool,
        #[command(flatten)]
        read: ReadArgs,
    },
    /// Plan (and with --write, cut) every replica's diff after a master failure.
    Diff(DiffArgs),
    /// Map a master position to the relay position where a replica's missing events start.
    Map {
        /// The latest replica's relay logs: its relay-bin.index, relay-log.info, one of them, or the folder holding them.
        #[arg(long)]
        relay: PathBuf,
        /// The target's master position, FILE:POS (its Exec_Master_Log_Pos, or Read_Master_Log_Pos).
        #[arg(long)]
        target: String,
        /// The latest replica's read position, FILE:POS (enables the verified fast path).
        #[arg(long)]
        latest: Option<String>,
        /// The latest replica's server id (else its relay log's first FDE).
        #[arg(long)]
        server_id: Option<u32>,
        /// Also verify checksums of the events read while mapping.
        #[arg(long)]
        verify: bool,
    },
    /// Events and bytes by type, transactions, partial tail, GTID ranges, timestamps.
    Stats {
        /// Files, read as one stream in the order given.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        /// Do not verify checksums.
        #[arg(long)]
        no_verify: bool,
        #[command(flatten)]
        read: ReadArgs,
    },
    /// Apply diff logs to a live server over the MySQL protocol, one whole
    /// transaction at a time (no mysqlbinlog | mysql). Exit 0 only on a
    /// verified full apply.
    Apply(ApplyArgs),
    /// Dead-master failover on MHA's `app.cnf`: check, stop IO threads, wait for SQL threads, plan and cut every
    /// replica's diff, apply them all natively, re-point the replicas at the new master.
    Failover(FailoverArgs),
    /// Planned switch of a live master on MHA's `app.cnf` (MHA's `--master_state=alive`): reject updates on
    /// it, let the new master catch up, move every replica to it; rolled back on failure before the new master
    /// takes writes.
    Switch(SwitchArgs),
    /// MHA's masterha_manager: ping the master of an `app.cnf` every ping_interval; when it is dead (as the
    /// replicas see it too), fail over; honours the anti-flapping block; exits after (or `--continue`).
    Monitor(MonitorArgs),
    /// Benchmarks on throwaway MariaDB servers.
    Bench {
        #[command(subcommand)]
        what: BenchCmd,
    },
    /// Acknowledge the last failover of an `app.cnf`'s cluster: lifts the block on another
    /// (last_failover_minute, MHA's 8 h by default).
    Ack {
        /// MHA application configuration.
        #[arg(long)]
        conf: PathBuf,
        /// MHA global configuration, read before `--conf`.
        #[arg(long)]
        global_conf: Option<PathBuf>,
    },
    /// Register a promotion rule for a server of an `app.cnf` (kept in its manager_workdir), which the next
    /// `failover` ranks by: must_not, prefer_not, neutral or prefer.
    RegisterCandidate(RegisterArgs),
    /// MHA-compatible node tools: `mha <save_binary_logs|apply_diff_relay_logs|purge_relay_logs|filter_mysqlbinlog> ARGS…`,
    /// or `mha install DIR` (symlinks named after the tools).
    #[command(disable_help_flag = true)]
    Mha {
        /// The tool and its arguments, or `install DIR`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
        args: Vec<std::ffi::OsString>,
    },
}

#[derive(Args, Debug)]
struct ApplyArgs {
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

/// Exit status of an apply stopped by SIGINT or SIGTERM: 128 + the signal.
fn exit_interrupted(signal: usize) -> u8 {
    u8::try_from(128 + signal).unwrap_or(EXIT_ERROR)
}

/// SIGINT and SIGTERM set the returned flag (and record which came); a
/// second one ends the process at once.
fn watch_signals()
-> std::io::Result<(std::sync::Arc<std::sync::atomic::AtomicBool>, std::sync::Arc<std::sync::atomic::AtomicUsize>)> {
    use std::sync::Arc;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let which = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // Registered first, it sees the flag of an earlier signal only.
        signal_hook::flag::register_conditional_shutdown(sig, 128 + sig, Arc::clone(&stop))?;
        signal_hook::flag::register_usize(sig, Arc::clone(&which), sig as usize)?;
        signal_hook::flag::register(sig, Arc::clone(&stop))?;
    }
    Ok((stop, which))
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
fn say_stopped(prefix: &str, f: &crate::apply::ApplyFailure, resume: &str) {
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

fn apply_options(a: &ApplyArgs) -> crate::apply::ApplyOptions {
    crate::apply::ApplyOptions {
        expect_server_id: a.expect_server_id,
        expect_gtid_pos: a.expect_gtid_pos.clone(),
        force: a.force,
        disable_log_bin: a.disable_log_bin,
        resume: a.resume,
        skip_applied: a.skip_applied,
        allow_partial_tail: a.allow_partial_tail,
        verify_checksums: !a.no_verify,
        access: if a.no_mmap { Access::Read } else { Access::Mmap },
        state_file: a.state_file.clone(),
        no_state_file: a.no_state_file,
        parallel: a.parallel as usize,
        no_batch: a.no_batch,
        deadline: a.deadline.map(std::time::Duration::from_secs),
        again: a.again,
        in_doubt: if a.resume_assume_committed {
            Some(crate::apply::InDoubtWas::Committed)
        } else if a.resume_assume_rolled_back {
            Some(crate::apply::InDoubtWas::RolledBack)
        } else {
            None
        },
        ..Default::default()
    }
}

fn run_apply(a: ApplyArgs) -> u8 {
    if let Some(plan) = a.plan.clone() {
        return run_apply_plan(&a, &plan);
    }
    if a.print_sql {
        let opts = crate::apply::ApplyOptions {
            verify_checksums: !a.no_verify,
            access: if a.no_mmap { Access::Read } else { Access::Mmap },
            ..Default::default()
        };
        return match crate::apply::render_sql(&a.files, &opts) {
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
                exit_for(&e)
            }
        };
    }
    let spec = crate::server::ConnSpec {
        host: a.host.clone(),
        port: a.port,
        socket: a.socket.clone(),
        user: a.user.clone(),
        password: None,
        timeout: Some(std::time::Duration::from_secs(a.mysql_timeout)),
    };
    let spec = match spec.with_password(a.defaults_file.as_deref(), a.ask_password) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("binlog-diff: {e}");
            return EXIT_ERROR;
        }
    };
    let (stop, which) = match watch_signals() {
        Ok(x) => x,
        Err(e) => {
            eprintln!("binlog-diff: cannot watch for signals: {e}");
            return EXIT_ERROR;
        }
    };
    let opts = crate::apply::ApplyOptions { interrupt: Some(stop), ..apply_options(&a) };
    let print = |r: &crate::apply::ApplyReport| {
        if a.json {
            println!("{}", r.to_json());
        } else {
            print!("{}", r.to_text());
        }
    };
    match crate::apply::apply(&spec, &a.files, &opts) {
        Ok(r) => {
            print(&r);
            EXIT_OK
        }
        Err(f) => {
            print(&f.report);
            eprintln!("binlog-diff: apply failed: {}", f.error);
            say_stopped("binlog-diff: ", &f, &resume_command());
            if matches!(f.error.kind(), ErrorKind::Interrupted(_)) {
                exit_interrupted(which.load(std::sync::atomic::Ordering::Relaxed))
            } else if f.report.failure.is_none() && f.report.left_out.is_some() {
                EXIT_DAMAGED
            } else {
                exit_for(&f.error)
            }
        }
    }
}

/// `apply --plan`: every replica at once, a progress bar each on a terminal.
fn run_apply_plan(a: &ApplyArgs, path: &std::path::Path) -> u8 {
    use std::sync::Arc;
    use std::sync::atomic::Ordering::Relaxed;
    let setup = || -> crate::error::Result<_> {
        let stdin = path.as_os_str() == "-";
        let text = if stdin {
            let mut t = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut t).map_err(|e| Error::io(path, e))?;
            t
        } else {
            std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?
        };
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| Error::invalid(e.to_string()).with_file(path))?;
        let targets = crate::apply::plan_targets(&v, path)?;
        let mut base = crate::server::ConnSpec {
            user: a.user.clone(),
            timeout: Some(std::time::Duration::from_secs(a.mysql_timeout)),
            ..Default::default()
        };
        // Only from standard input: a password is never read from a plan file someone left around.
        if let (true, Some(p)) = (stdin, v["password"].as_str()) {
            base.password = Some(crate::server::Secret::new(p));
        }
        let base = base.with_password(a.defaults_file.as_deref(), a.ask_password)?;
        Ok((targets, base))
    };
    let (targets, base) = match setup() {
        Ok(x) => x,
        Err(e) => {
            eprintln!("binlog-diff: {e}");
            return exit_for(&e);
        }
    };
    // (--plan conflicts with the per-target options: they stay unset.)
    let (stop, which) = match watch_signals() {
        Ok(x) => x,
        Err(e) => {
            eprintln!("binlog-diff: cannot watch for signals: {e}");
            return EXIT_ERROR;
        }
    };
    let opts = crate::apply::ApplyOptions { interrupt: Some(stop), ..apply_options(a) };
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
        if a.progress {
            // For whoever runs us over ssh (the failover driver): one line per
            // target and tick, on standard error.
            loop {
                let finished = h.is_finished();
                let mut err = std::io::stderr().lock();
                for (t, c) in targets.iter().zip(&counters) {
                    let (done, total) = (c.done.load(Relaxed), c.total.load(Relaxed));
                    let _ = writeln!(err, "progress\t{}\t{done}\t{total}", t.name);
                }
                drop(err);
                if finished {
                    break; // the last lines say where each ended
                }
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
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
    let mut json = Vec::new();
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
                code = code.max(if matches!(f.error.kind(), ErrorKind::Interrupted(_)) {
                    exit_interrupted(which.load(Relaxed))
                } else {
                    exit_for(&f.error)
                });
                (&*f.report, Some(&f.error))
            }
        };
        if a.json {
            json.push(serde_json::json!({
                "name": t.name, "host": t.host, "port": t.port, "file": t.file.display().to_string(),
                "ok": ok, "error": err.map(|e| e.to_string()),
                // What the failover driver branches on: a target this host cannot reach.
                "error_kind": err.map(|e| match e.kind() {
                    ErrorKind::Connect(_) => "connect",
                    ErrorKind::Timeout { .. } => "timeout",
                    ErrorKind::Interrupted(_) => "interrupted",
                    _ => "other",
                }),
                "report": report.to_json(),
            }));
        } else {
            println!("== {} ({}:{}, {})", t.name, t.host, t.port, t.file.display());
            for l in report.to_text().lines() {
                println!("   {l}");
            }
        }
    }
    if a.json {
        println!("{}", serde_json::Value::Array(json));
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

#[derive(Args, Debug)]
struct DiffArgs {
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

fn split_named(s: &str) -> crate::error::Result<(&str, &str)> {
    s.split_once('=').ok_or_else(|| Error::invalid(format!("expected NAME=VALUE, got {s:?}")))
}

/// `binlog-diff failover` arguments.
#[derive(clap::Args, Debug)]
struct FailoverArgs {
    /// MHA application configuration (`[server default]`, `[serverN]`).
    #[arg(long)]
    conf: PathBuf,
    /// MHA global configuration, read before `--conf`.
    #[arg(long)]
    global_conf: Option<PathBuf>,
    /// The dead master's hostname or ip.
    #[arg(long)]
    dead_master_host: String,
    /// The dead master's port (when several servers share its host).
    #[arg(long)]
    dead_master_port: Option<u16>,
    #[command(flatten)]
    run: RunArgs,
}

/// How a failover runs (for `failover` and `monitor`).
#[derive(Args, Debug)]
struct RunArgs {
    /// The new master, HOST or HOST:PORT (default: the first candidate_master, else the latest replica).
    #[arg(long)]
    new_master: Option<String>,
    /// Folder for the diffs (default: manager_workdir/failover-<time>).
    #[arg(long)]
    workdir: Option<PathBuf>,
    /// Print the plan only; change nothing on any server.
    #[arg(long)]
    dry_run: bool,
    /// Seconds to wait for SQL threads and for replication to start.
    #[arg(long, default_value_t = 600)]
    wait_timeout: u64,
    /// Apply each replica's diff on N connections (see `apply --parallel`: independent transactions side
    /// by side, commits in source order, DDL alone). 0 (default): 4 for a diff of 1 MiB or more, one for
    /// a smaller one (opening connections costs more than they save there).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u16).range(0..=64))]
    parallel: u16,
    /// Fail over although some replica still replicates from the master (it is unreachable from here, not dead).
    #[arg(long)]
    force: bool,
    /// Fail over even when the dead master's host answers but its binlog tail cannot be saved (a wrong
    /// master_binlog_dir, damage): what only it committed is then lost, and the run says so (exit 11).
    #[arg(long)]
    accept_loss: bool,
    /// Continue the failover that stopped part-way (its in-progress record in manager_workdir): the same
    /// workdir and new master; hooks that ran are not run again; each apply resumes from its state file.
    #[arg(long)]
    resume: bool,
    /// Seconds to wait for every replica's IO thread to lose the master.
    #[arg(long, default_value_t = 30)]
    detect_wait: u64,
    /// Seconds bounding each MySQL control connection's connect, read and write.
    #[arg(long, default_value_t = 30)]
    mysql_timeout: u64,
    /// Seconds bounding each step on a remote host (a cut, a save, a fetch, a remote apply) as a whole (a
    /// deadline, however much progress the step prints; the remote command is then killed), and each
    /// replica's apply (a target that answers but makes no progress, e.g. behind a lock, ends there).
    #[arg(long, default_value_t = 600)]
    step_timeout: u64,
    /// Seconds for each hook script (master_ip_failover_script, shutdown_script, report_script); one still
    /// running then is killed with its process group, and fails.
    #[arg(long, value_name = "SECS", default_value_t = 180)]
    hook_timeout: u64,
    /// binlog-diff on the remote hosts (a path, or a name on their PATH); its version must equal ours.
    #[arg(long, default_value = "binlog-diff")]
    remote_binary: String,
    /// Copy this binary to each remote host's workdir (remote_workdir) and run that copy.
    #[arg(long)]
    push_binary: bool,
    /// Where the relay diffs are applied from: `latest`, the latest replica's host, straight to each
    /// replica over MySQL (the bytes cross the network once; the default when all replicas take one
    /// account), or `here`, after bringing them to this host.
    #[arg(long, value_parser = ["latest", "here"], default_value = "latest")]
    apply_from: String,
    /// Write a JSON report of the run here (phases and timings, positions, new master, diffs, results, losses).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum BenchCmd {
    /// Relay-log catch-up: time each applier (the SQL thread, MariaDB parallel replication,
    /// `mariadb-binlog | mariadb`, `binlog-diff apply`) on the same logs and starting state.
    Catchup(CatchupArgs),
}

#[derive(Args, Debug)]
struct CatchupArgs {
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
fn parse_size(s: &str) -> crate::error::Result<u64> {
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
        .ok_or_else(|| Error::invalid(format!("bad size {s:?} (a number with K, M or G)")))
}

fn run_catchup(a: CatchupArgs) -> crate::error::Result<bool> {
    use crate::bench::{CatchupOptions, Durability, Mix, Mode, Start, WorkloadSpec};
    let logs = match a.logs.as_slice() {
        [one] if one.is_dir() || one.extension().is_some_and(|x| x == "index") => {
            let kind = if a.relay { crate::log::LogKind::Relay } else { crate::log::LogKind::Binlog };
            let set = if one.is_dir() {
                crate::log::LogSet::discover(one, kind)?
            } else {
                crate::log::LogSet::from_index(one)?
            };
            set.files().iter().map(|(_, p)| p.clone()).collect()
        }
        files => files.to_vec(),
    };
    let mix = match a.workload.as_str() {
        "seeded" => Mix::Seeded,
        "sysbench" => Mix::Sysbench,
        w => return Err(Error::invalid(format!("unknown workload {w:?} (seeded or sysbench)"))),
    };
    let durability = match a.durability.as_str() {
        "relaxed" => Durability::Relaxed,
        "full" => Durability::Full,
        d => return Err(Error::invalid(format!("unknown durability {d:?} (relaxed or full)"))),
    };
    let modes = a.modes.split(',').map(|m| Mode::parse(m.trim())).collect::<crate::error::Result<Vec<_>>>()?;
    let threads = a
        .threads
        .split(',')
        .map(|t| t.trim().parse::<usize>().ok().filter(|&n| n > 0))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| Error::invalid(format!("bad --threads {:?} (e.g. 1,2,4,8)", a.threads)))?;
    let workdir = a.workdir.unwrap_or_else(|| std::env::temp_dir().join("binlog-diff-bench"));
    let start = match (a.datadir, a.dump) {
        (Some(d), _) => Start::Datadir(d),
        (None, Some(f)) => Start::Dump(f),
        (None, None) => Start::Empty,
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
        target: match &a.target {
            None => None,
            Some(t) => {
                let (host, port) = match t.rsplit_once(':') {
                    Some((h, p)) => (
                        h.to_string(),
                        p.parse::<u16>().map_err(|_| Error::invalid(format!("bad --target {t:?} (HOST:PORT)")))?,
                    ),
                    None => (t.clone(), 3306),
                };
                let spec = crate::server::ConnSpec {
                    host: Some(host),
                    port: Some(port),
                    user: Some(a.user.clone()),
                    ..Default::default()
                };
                Some(spec.with_password(None, a.ask_password)?)
            }
        },
    };
    let report = crate::bench::catchup::run(&opts)?;
    let chart = a.chart.unwrap_or_else(|| workdir.join("catchup.svg"));
    let drawn = crate::bench::chart::write_svg(&report, &chart);
    if a.json {
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

#[derive(Args, Debug)]
struct MonitorArgs {
    /// MHA application configuration.
    #[arg(long)]
    conf: PathBuf,
    /// MHA global configuration, read before `--conf`.
    #[arg(long)]
    global_conf: Option<PathBuf>,
    /// Seconds between pings of the master (default: app.cnf ping_interval, else 3).
    #[arg(long)]
    ping_interval: Option<u64>,
    /// Failed pings in a row before failing over.
    #[arg(long, default_value_t = 3)]
    ping_failures: u32,
    /// After a failover, watch the new master instead of exiting.
    #[arg(long = "continue")]
    continue_after: bool,
    #[command(flatten)]
    run: RunArgs,
}

fn run_monitor(a: MonitorArgs) -> u8 {
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;
    let Some(conf) = app_conf(&a.conf, a.global_conf.as_deref(), "monitor") else { return 1 };
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        if let Err(e) = signal_hook::flag::register(sig, Arc::clone(&stop)) {
            eprintln!("binlog-diff monitor: cannot watch for signals: {e}");
            return 1;
        }
    }
    let o = crate::phase::monitor::MonitorOptions {
        ping_interval: a.ping_interval.map(std::time::Duration::from_secs),
        ping_failures: a.ping_failures.max(1),
        continue_after: a.continue_after,
        failover: a.run.options(String::new(), None),
    };
    match crate::phase::monitor::monitor(&o, &conf, &stop) {
        Ok(_) => 0,
        Err(e) => {
            tracing::error!("binlog-diff monitor: {e}");
            1
        }
    }
}

#[derive(Args, Debug)]
struct SwitchArgs {
    /// MHA application configuration.
    #[arg(long)]
    conf: PathBuf,
    /// MHA global configuration, read before `--conf`.
    #[arg(long)]
    global_conf: Option<PathBuf>,
    /// The new master, HOST or HOST:PORT (default: the best candidate by the promotion rules).
    #[arg(long)]
    new_master: Option<String>,
    /// The old master replicates from the new one afterwards.
    #[arg(long)]
    orig_master_is_new_slave: bool,
    /// Refuse when a statement has run this many seconds on the master (MHA's running_updates_limit).
    #[arg(long, default_value_t = 1)]
    running_updates_limit: u64,
    /// Seconds for the write lock, each position wait and replication start.
    #[arg(long, default_value_t = 60)]
    wait_timeout: u64,
    /// Seconds for each master_ip_online_change_script run; one still running then is killed with its
    /// process group, and fails (the switch rolls back). (`--step-timeout`: its former name.)
    #[arg(long, alias = "step-timeout", value_name = "SECS", default_value_t = 180)]
    hook_timeout: u64,
    /// Check and plan only.
    #[arg(long)]
    dry_run: bool,
    /// Write a JSON report here.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn run_switch(a: SwitchArgs) -> u8 {
    let conf = match crate::phase::AppConf::read(&a.conf, a.global_conf.as_deref())
        .and_then(|c| crate::phase::log_to(c.manager_log.as_deref()).map(|()| c))
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("binlog-diff switch: {e}");
            return 1;
        }
    };
    let o = crate::phase::switch::SwitchOptions {
        new_master: a.new_master.map(|n| match n.rsplit_once(':') {
            Some((h, p)) if p.parse::<u16>().is_ok() => (h.to_string(), p.parse().ok()),
            _ => (n, None),
        }),
        orig_master_is_new_slave: a.orig_master_is_new_slave,
        running_updates_limit: std::time::Duration::from_secs(a.running_updates_limit),
        wait_timeout: std::time::Duration::from_secs(a.wait_timeout),
        hook_timeout: std::time::Duration::from_secs(a.hook_timeout),
        dry_run: a.dry_run,
        json: a.json,
    };
    match crate::phase::switch::switch(&o, &conf) {
        Ok(_) => 0,
        Err(e) => {
            tracing::error!("binlog-diff switch: {e}");
            1
        }
    }
}

#[derive(Args, Debug)]
struct RegisterArgs {
    /// MHA application configuration.
    #[arg(long)]
    conf: PathBuf,
    /// MHA global configuration, read before `--conf`.
    #[arg(long)]
    global_conf: Option<PathBuf>,
    /// The server: HOST or HOST:PORT as in the configuration.
    host: String,
    /// must_not, prefer_not, neutral or prefer.
    #[arg(long, value_parser = ["must_not", "prefer_not", "neutral", "prefer"])]
    rule: String,
    /// For how long (e.g. 1h, 30m, 2d); without it, until replaced.
    #[arg(long)]
    expire: Option<String>,
}

fn run_register(a: RegisterArgs) -> u8 {
    use crate::phase::promote;
    let r = (|| -> crate::error::Result<String> {
        let conf = crate::phase::AppConf::read(&a.conf, a.global_conf.as_deref())?;
        let (h, p) = match a.host.rsplit_once(':') {
            Some((h, p)) if p.parse::<u16>().is_ok() => (h.to_string(), p.parse().ok()),
            _ => (a.host.clone(), None),
        };
        let s = conf.find(&h, p)?;
        let rule = promote::Rule::parse(&a.rule)?;
        let expire = a.expire.as_deref().map(promote::parse_duration).transpose()?;
        let file = promote::rules_file(&conf.manager_workdir);
        promote::register(&file, &s.name, rule, expire)?;
        let until = expire.map(|e| format!(" for {e} s")).unwrap_or_default();
        Ok(format!("{} ({}:{}): {}{until}, in {}", s.name, s.hostname, s.port, rule.name(), file.display()))
    })();
    match r {
        Ok(line) => {
            println!("{line}");
            0
        }
        Err(e) => {
            eprintln!("binlog-diff register-candidate: {e}");
            1
        }
    }
}

impl RunArgs {
    fn options(self, dead_master_host: String, dead_master_port: Option<u16>) -> crate::phase::FailoverOptions {
        let a = self;
        let new_master = a.new_master.map(|n| match n.rsplit_once(':') {
            Some((h, p)) if p.parse::<u16>().is_ok() => (h.to_string(), p.parse().ok()),
            _ => (n, None),
        });
        crate::phase::FailoverOptions {
            dead_master_host,
            dead_master_port,
            new_master,
            workdir: a.workdir,
            dry_run: a.dry_run,
            wait_timeout: std::time::Duration::from_secs(a.wait_timeout),
            parallel: a.parallel as usize,
            force: a.force,
            accept_loss: a.accept_loss,
            resume: a.resume,
            detect_wait: std::time::Duration::from_secs(a.detect_wait),
            mysql_timeout: std::time::Duration::from_secs(a.mysql_timeout),
            step_timeout: std::time::Duration::from_secs(a.step_timeout),
            hook_timeout: std::time::Duration::from_secs(a.hook_timeout),
            remote_binary: a.remote_binary,
            push_binary: a.push_binary,
            json: a.json,
            apply_on_latest: a.apply_from == "latest",
        }
    }
}

/// The configuration, with the log going where it says (MHA's manager_log).
fn app_conf(conf: &std::path::Path, global: Option<&std::path::Path>, what: &str) -> Option<crate::phase::AppConf> {
    match crate::phase::AppConf::read(conf, global)
        .and_then(|c| crate::phase::log_to(c.manager_log.as_deref()).map(|()| c))
    {
        Ok(c) => Some(c),
        Err(e) => {
            eprintln!("binlog-diff {what}: {e}");
            None
        }
    }
}

fn run_failover(a: FailoverArgs) -> u8 {
    let Some(conf) = app_conf(&a.conf, a.global_conf.as_deref(), "failover") else { return 1 };
    let o = a.run.options(a.dead_master_host, a.dead_master_port);
    // The exit codes: src/phase/outcome.rs (README "Exit codes").
    match crate::phase::failover(&o, &conf) {
        Ok(r) => r.exit_code(),
        Err(e) => {
            // Through the log: standard error, and MHA's manager_log.
            tracing::error!("binlog-diff failover: {e}");
            crate::phase::outcome::of_error(&e)
        }
    }
}

fn run_diff(a: DiffArgs) -> crate::error::Result<()> {
    use crate::diff::{CutOptions, Plan, PlanInput};
    use crate::position::ReplicaState;
    let mut replicas = Vec::new();
    if let Some(f) = &a.state {
        // `-`: the states on standard input (how the phase driver sends them to a remote host).
        let text = if f.as_os_str() == "-" {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).map_err(|e| Error::io(f, e))?;
            s
        } else {
            std::fs::read_to_string(f).map_err(|e| Error::io(f, e))?
        };
        replicas.extend(ReplicaState::list_from_json(&text, f)?);
    }
    for d in &a.datadirs {
        let (name, dir) = split_named(d)?;
        replicas.push(ReplicaState::from_datadir(name, std::path::Path::new(dir))?);
    }
    if !a.lives.is_empty() {
        // One login for all (asked once); the address stays the one given.
        let login = crate::server::ConnSpec { user: a.user.clone(), ..Default::default() }
            .with_password(a.defaults_file.as_deref(), a.ask_password)?;
        let mut live = Vec::new();
        for l in &a.lives {
            let (name, addr) = split_named(l)?;
            let (host, port) =
                addr.rsplit_once(':').ok_or_else(|| Error::invalid(format!("expected HOST:PORT, got {addr:?}")))?;
            let spec = crate::server::ConnSpec {
                host: Some(host.to_string()),
                port: Some(port.parse().map_err(|_| Error::invalid(format!("bad port in {addr:?}")))?),
                user: login.user.clone(),
                password: login.password.clone(),
                ..Default::default()
            };
            live.push((name.to_string(), spec));
        }
        replicas.extend(crate::server::live::replica_states(&live)?);
    }
    let master_binlogs = a
        .master_binlogs
        .as_deref()
        .map(|p| crate::log::LogSet::discover(p, crate::log::LogKind::Binlog))
        .transpose()?;
    let opts = CutOptions { verify_checksums: !a.no_verify, ..CutOptions::default() };
    let mut plan = Plan::make(PlanInput { replicas, master_binlogs, opts, count: a.write.is_none() })?;
    if let Some(dir) = &a.write {
        plan.write(dir)?;
    }
    if a.json {
        println!("{}", plan.to_json());
    } else {
        print!("{}", plan.to_text());
    }
    Ok(())
}

fn master_pos(s: &str) -> crate::error::Result<crate::position::MasterPos> {
    s.parse()
}

fn run_map(
    relay: &std::path::Path,
    target: &str,
    latest: Option<&str>,
    server_id: Option<u32>,
    verify: bool,
) -> crate::error::Result<()> {
    use crate::position::{MapOptions, Mapping, find_start};
    let set = crate::log::LogSet::discover(relay, crate::log::LogKind::Relay)?;
    let target = master_pos(target)?;
    let latest = latest.map(master_pos).transpose()?;
    let opts = MapOptions { own_server_id: server_id, verify_checksums: verify, ..MapOptions::default() };
    let t0 = std::time::Instant::now();
    let m = find_start(&set, &target, latest.as_ref(), &opts)?;
    let took = t0.elapsed();
    match m {
        Mapping::Found { start, fast } => println!(
            "master {target} -> relay {start} ({}, {:.3} ms)",
            if fast { "fast path, verified" } else { "scan" },
            took.as_secs_f64() * 1e3
        ),
        Mapping::AlreadyComplete => {
            println!("master {target}: the target already has everything ({:.3} ms)", took.as_secs_f64() * 1e3)
        }
    }
    Ok(())
}

/// Progress over many files, shown only on a terminal.
struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    fn new(files: &[PathBuf]) -> Self {
        if !std::io::stderr().is_terminal() || files.len() < 2 {
            return Progress(None);
        }
        let total: u64 = files.iter().filter_map(|f| std::fs::metadata(f).ok()).map(|m| m.len()).sum();
        let pb = indicatif::ProgressBar::new(total);
        pb.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Progress(Some(pb))
    }
    fn done(&self, bytes: u64) {
        if let Some(p) = &self.0 {
            p.inc(bytes);
        }
    }
    fn finish(&self) {
        if let Some(p) = &self.0 {
            p.finish_and_clear();
        }
    }
}

fn exit_for(e: &Error) -> u8 {
    if e.is_damage() { EXIT_DAMAGED } else { EXIT_ERROR }
}

fn is_broken_pipe(e: &Error) -> bool {
    matches!(e.kind(), ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::BrokenPipe)
}

/// Runs `binlog-diff` with these arguments (argv[0] included).
pub fn main(args: Vec<std::ffi::OsString>) -> ExitCode {
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_ERROR } else { EXIT_OK });
        }
    };
    let code = match cli.cmd {
        Cmd::Dump { files, json, start_position, stop_position, rows, no_verify, read } => {
            let opts = DumpOptions { json, start_position, stop_position, rows, no_verify, recovery: read.recovery() };
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
            let mut code = EXIT_OK;
            for f in &files {
                let r = LogFile::open(f, read.access()).and_then(|lf| {
                    if files.len() > 1 && !json {
                        writeln!(out, "# {}", f.display()).map_err(|e| Error::io(f, e))?;
                    }
                    dump(&mut out, &lf, &opts)
                });
                if let Err(e) = r {
                    let _ = out.flush();
                    if is_broken_pipe(&e) {
                        return ExitCode::SUCCESS;
                    }
                    eprintln!("binlog-diff: {e}");
                    code = code.max(exit_for(&e));
                    break;
                }
            }
            if let Err(e) = out.flush() {
                if e.kind() != std::io::ErrorKind::BrokenPipe {
                    eprintln!("binlog-diff: {e}");
                    code = EXIT_ERROR;
                }
            }
            code
        }
        Cmd::Verify { files, parallel, read } => {
            let progress = Progress::new(&files);
            let results = verify_files(&files, read.access(), read.recovery(), parallel, &|n| progress.done(n));
            progress.finish();
            let mut code = EXIT_OK;
            for (f, r) in files.iter().zip(results) {
                match r {
                    Ok(rep) => println!("{}", rep.line_at(f)),
                    Err(e) => {
                        println!("{e}");
                        code = code.max(exit_for(&e));
                    }
                }
            }
            code
        }
        Cmd::Diff(a) => match run_diff(a) {
            Ok(()) => EXIT_OK,
            Err(e) => {
                eprintln!("binlog-diff: {e}");
                exit_for(&e)
            }
        },
        Cmd::Map { relay, target, latest, server_id, verify } => {
            match run_map(&relay, &target, latest.as_deref(), server_id, verify) {
                Ok(()) => EXIT_OK,
                Err(e) => {
                    eprintln!("binlog-diff: {e}");
                    exit_for(&e)
                }
            }
        }
        Cmd::Stats { files, json, no_verify, read } => {
            let progress = Progress::new(&files);
            let mut st = Stats::new();
            let opts = StatsOptions { no_verify, recovery: read.recovery() };
            let code = match st.add_files(&files, read.access(), opts, &mut |n| progress.done(n)) {
                Ok(()) => EXIT_OK,
                Err(e) => {
                    progress.finish();
                    eprintln!("binlog-diff: {e}");
                    exit_for(&e)
                }
            };
            progress.finish();
            if json {
                println!("{}", st.to_json());
            } else {
                print!("{}", st.to_text());
            }
            code
        }
        Cmd::Apply(a) => run_apply(a),
        Cmd::Failover(a) => run_failover(a),
        Cmd::RegisterCandidate(a) => run_register(a),
        Cmd::Switch(a) => run_switch(a),
        Cmd::Monitor(a) => run_monitor(a),
        Cmd::Bench { what: BenchCmd::Catchup(a) } => match run_catchup(a) {
            Ok(true) => 0,
            Ok(false) => {
                eprintln!("binlog-diff: some runs are invalid (see the table)");
                EXIT_ERROR
            }
            Err(e) => {
                eprintln!("binlog-diff: {e}");
                exit_for(&e)
            }
        },
        Cmd::Ack { conf, global_conf } => {
            let r = crate::phase::AppConf::read(&conf, global_conf.as_deref()).and_then(|c| {
                let f = crate::phase::promote::last_failover_file(&c.manager_workdir);
                match std::fs::read_to_string(&f) {
                    Ok(t) => {
                        std::fs::remove_file(&f).map_err(|e| Error::io(&f, e))?;
                        Ok(format!("acknowledged: {}", t.trim()))
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok("no failover to acknowledge".into()),
                    Err(e) => Err(Error::io(&f, e)),
                }
            });
            match r {
                Ok(l) => {
                    println!("{l}");
                    0
                }
                Err(e) => {
                    eprintln!("binlog-diff ack: {e}");
                    1
                }
            }
        }
        Cmd::Mha { args } => crate::mha::subcommand(&args),
    };
    ExitCode::from(code)
}

/// Prints a tail report for callers that tolerate truncated tails.
pub fn describe_tail(t: Tail) -> Option<String> {
    match t {
        Tail::Incomplete(i) => Some(format!("incomplete event at {}: {} of {} bytes", i.at, i.available, i.needed)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn interrupted_exit_status() {
        assert_eq!(exit_interrupted(2), 130);
        assert_eq!(exit_interrupted(15), 143);
        assert_eq!(exit_interrupted(1000), EXIT_ERROR);
    }
}
