//! The `binlog-diff` command line: argument parsing and printing only; every
//! decision is a library call.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::error::{Error, ErrorKind};
use crate::inspect::{DumpOptions, Stats, StatsOptions, dump, verify};
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
    match e.kind() {
        ErrorKind::Parse(_) | ErrorKind::Truncated { .. } => EXIT_DAMAGED,
        _ => EXIT_ERROR,
    }
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
            let run = |f: &PathBuf| -> (Result<String, Error>, u64) {
                match LogFile::open(f, read.access()) {
                    Ok(lf) => {
                        let n = lf.bytes().len() as u64;
                        (verify(&lf, read.recovery()).map(|r| r.line(&lf)), n)
                    }
                    Err(e) => (Err(e), 0),
                }
            };
            let results: Vec<(Result<String, Error>, u64)> = if parallel {
                use rayon::prelude::*;
                files
                    .par_iter()
                    .map(|f| {
                        let r = run(f);
                        progress.done(r.1);
                        r
                    })
                    .collect()
            } else {
                files
                    .iter()
                    .map(|f| {
                        let r = run(f);
                        progress.done(r.1);
                        r
                    })
                    .collect()
            };
            progress.finish();
            let mut code = EXIT_OK;
            for (r, _) in results {
                match r {
                    Ok(line) => println!("{line}"),
                    Err(e) => {
                        println!("{e}");
                        code = code.max(exit_for(&e));
                    }
                }
            }
            code
        }
        Cmd::Stats { files, json, no_verify, read } => {
            let progress = Progress::new(&files);
            let mut st = Stats::new();
            let opts = StatsOptions { no_verify, recovery: read.recovery() };
            let mut code = EXIT_OK;
            for f in &files {
                let r = LogFile::open(f, read.access()).and_then(|lf| {
                    st.add_file(&lf, opts)?;
                    progress.done(lf.bytes().len() as u64);
                    Ok(())
                });
                if let Err(e) = r {
                    progress.finish();
                    eprintln!("binlog-diff: {e}");
                    code = exit_for(&e);
                    break;
                }
            }
            progress.finish();
            if json {
                println!("{}", st.to_json());
            } else {
                print!("{}", st.to_text());
            }
            code
        }
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
