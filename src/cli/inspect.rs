//! The inspection commands: `dump`, `verify`, `stats` (offline readers of
//! binlogs and relay logs, [`crate::inspect`]) and `map` (one master
//! position on a replica's relay logs, [`crate::position::find_start`]).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use super::exit::{EXIT_ERROR, EXIT_OK, of_error};
use crate::error::{Error, ErrorKind, Result};
use crate::inspect::{DumpOptions, Stats, StatsOptions, VerifyRecord, dump, verify_files};
use crate::log::{Access, LogFile, LogKind, LogSet, RecoveryMode};
use crate::position::{MapOptions, Mapping, MasterPos, RelayPos, find_start};

/// How the files are read (`dump`, `verify`, `stats`).
#[derive(Args, Debug, Clone)]
pub(super) struct ReadArgs {
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

/// `binlog-diff dump` arguments.
#[derive(Args, Debug)]
pub(super) struct DumpArgs {
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
    /// Threads formatting row values with --rows (default: the available cores; 1: serial).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
    threads: Option<u16>,
    #[command(flatten)]
    read: ReadArgs,
}

/// `binlog-diff verify` arguments.
#[derive(Args, Debug)]
pub(super) struct VerifyArgs {
    /// Binlog or relay-log files.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Verify files in parallel (one worker per core).
    #[arg(long, short = 'j')]
    parallel: bool,
    /// One JSON object per file and line: file, ok, events, bytes, checksums, verified, ignorable,
    /// incomplete_tail {at, available, needed}, error {message, damaged, offset, event_type}.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    read: ReadArgs,
}

/// `binlog-diff stats` arguments.
#[derive(Args, Debug)]
pub(super) struct StatsArgs {
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
}

/// `binlog-diff map` arguments.
#[derive(Args, Debug)]
pub(super) struct MapArgs {
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
    /// One JSON object: target {file, pos}, start {file, pos} (null when the target has everything),
    /// fast_path, already_complete, millis.
    #[arg(long)]
    json: bool,
}

/// `dump`, resolved.
struct Dump {
    files: Vec<PathBuf>,
    access: Access,
    opts: DumpOptions,
}

fn resolve_dump(a: DumpArgs) -> Dump {
    let opts = DumpOptions {
        json: a.json,
        start_position: a.start_position,
        stop_position: a.stop_position,
        rows: a.rows,
        no_verify: a.no_verify,
        recovery: a.read.recovery(),
        threads: a
            .threads
            .map(usize::from)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        chunk_bytes: 0,
    };
    Dump { files: a.files, access: a.read.access(), opts }
}

fn is_broken_pipe(e: &Error) -> bool {
    matches!(e.kind(), ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::BrokenPipe)
}

/// `dump`: every file in turn (a `# FILE` line before each when there are
/// several and the output is text); stops at the first error. A closed
/// standard output (`| head`) ends it quietly, exit 0.
pub(super) fn run_dump(a: DumpArgs) -> u8 {
    let Dump { files, access, opts } = resolve_dump(a);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut code = EXIT_OK;
    for f in &files {
        let r = LogFile::open(f, access).and_then(|lf| {
            if files.len() > 1 && !opts.json {
                writeln!(out, "# {}", f.display()).map_err(|e| Error::io(f, e))?;
            }
            dump(&mut out, &lf, &opts)
        });
        if let Err(e) = r {
            let _ = out.flush();
            if is_broken_pipe(&e) {
                return EXIT_OK;
            }
            eprintln!("binlog-diff: {e}");
            code = code.max(of_error(&e));
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

/// `verify`: one line per file, in the order given (text, or a
/// [`VerifyRecord`] with `--json`); the worst file's exit code.
pub(super) fn run_verify(a: VerifyArgs) -> u8 {
    let progress = Progress::new(&a.files);
    let results = verify_files(&a.files, a.read.access(), a.read.recovery(), a.parallel, &|n| progress.done(n));
    progress.finish();
    let mut code = EXIT_OK;
    for (f, r) in a.files.iter().zip(&results) {
        if a.json {
            println!("{}", json_line(&VerifyRecord::new(f, r)));
        } else {
            match r {
                Ok(rep) => println!("{}", rep.line_at(f)),
                Err(e) => println!("{e}"),
            }
        }
        if let Err(e) = r {
            code = code.max(of_error(e));
        }
    }
    code
}

/// `stats`: the files as one stream; on an error, it and the counts so far.
pub(super) fn run_stats(a: StatsArgs) -> u8 {
    let progress = Progress::new(&a.files);
    let mut st = Stats::new();
    let opts = StatsOptions { no_verify: a.no_verify, recovery: a.read.recovery() };
    let r = st.add_files(&a.files, a.read.access(), opts, &mut |n| progress.done(n));
    progress.finish();
    let code = match r {
        Ok(()) => EXIT_OK,
        Err(e) => {
            eprintln!("binlog-diff: {e}");
            of_error(&e)
        }
    };
    if a.json {
        println!("{}", st.to_json());
    } else {
        print!("{}", st.to_text());
    }
    code
}

/// `map`, resolved.
#[derive(Debug, PartialEq, Eq)]
struct Map {
    relay: PathBuf,
    target: MasterPos,
    latest: Option<MasterPos>,
    server_id: Option<u32>,
    verify: bool,
    json: bool,
}

impl Map {
    fn opts(&self) -> MapOptions {
        MapOptions { own_server_id: self.server_id, verify_checksums: self.verify, ..MapOptions::default() }
    }
}

fn resolve_map(a: MapArgs) -> Result<Map> {
    Ok(Map {
        target: a.target.parse()?,
        latest: a.latest.as_deref().map(str::parse).transpose()?,
        relay: a.relay,
        server_id: a.server_id,
        verify: a.verify,
        json: a.json,
    })
}

/// `map --json`: one object per mapping.
#[derive(Debug, Serialize)]
struct MapRecord {
    /// The target's master position, as given.
    target: Coord,
    /// The relay position where the target's missing events start; `null`
    /// when it already has everything the relay logs hold.
    start: Option<Coord>,
    /// Found by MHA's fast path (and verified there), rather than by a scan.
    fast_path: bool,
    /// The target already has everything the latest replica has.
    already_complete: bool,
    /// How long the mapping took, in milliseconds (to the microsecond).
    millis: f64,
}

/// A log coordinate: the file's name and a byte offset in it.
#[derive(Debug, Serialize)]
struct Coord {
    file: String,
    pos: u64,
}

impl From<&MasterPos> for Coord {
    fn from(p: &MasterPos) -> Coord {
        Coord { file: p.file.to_string(), pos: p.pos }
    }
}

impl From<&RelayPos> for Coord {
    fn from(p: &RelayPos) -> Coord {
        Coord { file: p.file.to_string(), pos: p.pos }
    }
}

impl MapRecord {
    fn new(target: &MasterPos, m: &Mapping, took: std::time::Duration) -> MapRecord {
        let (start, fast_path) = match m {
            Mapping::Found { start, fast } => (Some(Coord::from(start)), *fast),
            Mapping::AlreadyComplete => (None, false),
        };
        let already_complete = start.is_none();
        MapRecord {
            target: target.into(),
            start,
            fast_path,
            already_complete,
            millis: (took.as_secs_f64() * 1e6).round() / 1e3,
        }
    }
}

/// `map`: one line (or object) for the target's position.
pub(super) fn run_map(a: MapArgs) -> u8 {
    let r = resolve_map(a).and_then(|m| {
        let set = LogSet::discover(&m.relay, LogKind::Relay)?;
        let t0 = std::time::Instant::now();
        let mapping = find_start(&set, &m.target, m.latest.as_ref(), &m.opts())?;
        Ok((m, mapping, t0.elapsed()))
    });
    let (m, mapping, took) = match r {
        Ok(x) => x,
        Err(e) => {
            eprintln!("binlog-diff: {e}");
            return of_error(&e);
        }
    };
    let target = &m.target;
    if m.json {
        println!("{}", json_line(&MapRecord::new(target, &mapping, took)));
        return EXIT_OK;
    }
    match mapping {
        Mapping::Found { start, fast } => println!(
            "master {target} -> relay {start} ({}, {:.3} ms)",
            if fast { "fast path, verified" } else { "scan" },
            took.as_secs_f64() * 1e3
        ),
        Mapping::AlreadyComplete => {
            println!("master {target}: the target already has everything ({:.3} ms)", took.as_secs_f64() * 1e3)
        }
    }
    EXIT_OK
}

/// One JSON line. Our records hold only strings, numbers, booleans and
/// nulls, which always serialize.
fn json_line(v: &impl Serialize) -> String {
    serde_json::to_string(v).unwrap_or_else(|e| format!("{{\"error\":\"cannot print JSON: {e}\"}}"))
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

#[cfg(test)]
mod tests {
    use super::super::{Cli, Cmd};
    use super::*;
    use clap::Parser;

    fn cmd(args: &[&str]) -> Cmd {
        Cli::try_parse_from([&["binlog-diff"][..], args].concat()).unwrap().cmd
    }

    #[test]
    fn dump_flags_become_dump_options() {
        let Cmd::Dump(a) = cmd(&["dump", "--json", "--rows", "--start-position", "330", "--no-mmap", "a", "b"]) else {
            panic!()
        };
        let d = resolve_dump(a);
        assert_eq!(d.files, [PathBuf::from("a"), PathBuf::from("b")]);
        assert_eq!(d.access, Access::Read);
        assert!(d.opts.json && d.opts.rows && !d.opts.no_verify);
        assert_eq!((d.opts.start_position, d.opts.stop_position), (Some(330), None));
        assert_eq!(d.opts.recovery, RecoveryMode::AbsoluteConsistency);
        // Defaults: mapped, strict, checksums verified.
        let Cmd::Dump(a) = cmd(&["dump", "--allow-truncated", "--no-verify", "a"]) else { panic!() };
        let d = resolve_dump(a);
        assert_eq!(d.access, Access::Mmap);
        assert_eq!(d.opts.recovery, RecoveryMode::TolerateTruncatedTail);
        assert!(d.opts.no_verify && !d.opts.json);
    }

    #[test]
    fn inspection_commands_need_files() {
        for c in ["dump", "verify", "stats"] {
            let e = Cli::try_parse_from(["binlog-diff", c]).unwrap_err();
            assert_eq!(e.kind(), clap::error::ErrorKind::MissingRequiredArgument, "{c}");
        }
    }

    #[test]
    fn verify_and_stats_flags() {
        let Cmd::Verify(a) = cmd(&["verify", "-j", "--json", "--allow-truncated", "f"]) else { panic!() };
        assert!(a.parallel && a.json);
        assert_eq!((a.read.access(), a.read.recovery()), (Access::Mmap, RecoveryMode::TolerateTruncatedTail));
        let Cmd::Verify(a) = cmd(&["verify", "f"]) else { panic!() };
        assert!(!a.parallel && !a.json);
        let Cmd::Stats(a) = cmd(&["stats", "--json", "--no-verify", "--no-mmap", "f", "g"]) else { panic!() };
        assert!(a.json && a.no_verify);
        assert_eq!(a.read.access(), Access::Read);
    }

    #[test]
    fn map_positions_are_typed() {
        let Cmd::Map(a) = cmd(&[
            "map",
            "--relay",
            "/r/relay-bin.index",
            "--target",
            "mysql-bin.000002:4",
            "--latest",
            "mysql-bin.000003:120",
            "--server-id",
            "7",
            "--json",
        ]) else {
            panic!()
        };
        let m = resolve_map(a).unwrap();
        assert_eq!(m.target, "mysql-bin.000002:4".parse().unwrap());
        assert_eq!(m.latest, Some("mysql-bin.000003:120".parse().unwrap()));
        assert_eq!(m.relay, PathBuf::from("/r/relay-bin.index"));
        assert!(m.json && !m.verify);
        let o = m.opts();
        assert_eq!((o.own_server_id, o.verify_checksums, o.access), (Some(7), false, Access::Read));
        // A position that is not FILE:POS is refused before anything is read.
        let Cmd::Map(a) = cmd(&["map", "--relay", "/nonexistent", "--target", "mysql-bin.000002"]) else { panic!() };
        let e = resolve_map(a).unwrap_err();
        assert_eq!(of_error(&e), EXIT_ERROR, "{e}");
        let e = Cli::try_parse_from(["binlog-diff", "map", "--target", "x:4"]).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::MissingRequiredArgument);
    }

    #[test]
    fn map_json_fields() {
        let target: MasterPos = "mysql-bin.000002:4".parse().unwrap();
        let found = Mapping::Found { start: RelayPos::new("relay-bin.000003".parse().unwrap(), 1234), fast: true };
        let v = serde_json::to_value(MapRecord::new(&target, &found, std::time::Duration::from_micros(1500))).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "target": {"file": "mysql-bin.000002", "pos": 4},
                "start": {"file": "relay-bin.000003", "pos": 1234},
                "fast_path": true, "already_complete": false, "millis": 1.5
            })
        );
        let v = serde_json::to_value(MapRecord::new(&target, &Mapping::AlreadyComplete, Default::default())).unwrap();
        assert_eq!(
            (&v["start"], &v["already_complete"], &v["fast_path"]),
            (&serde_json::Value::Null, &true.into(), &false.into())
        );
    }
}
