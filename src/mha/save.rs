//! `save_binary_logs`: the dead master's binlog tail (or a replica's own
//! relay logs from its SQL thread to what it has read) from a position to
//! the end, as one binlog file. `--command=test` only checks that the logs
//! and the output folder are there (the manager's SSH health check).
//!
//! Exit status ([`super::exit`]): 0 saved, 10 nothing to save ("Event not
//! exists."), 1 error (`Failed to save binary log: <why>` on stderr).

use std::path::{Path, PathBuf};

use super::getopt::{Kind, Opts, Spec};
use super::logs::{Logs, cut, find_binlog_dir, find_binlog_dir_from_prefix, is_relay_log, show_dir};
use super::{Croak, Res, out};
use crate::diff::{CutOptions, Start};
use crate::log::LogKind;

const SPECS: &[Spec] = &[
    ("help", Kind::Flag),
    ("version", Kind::Flag),
    ("command", Kind::Str),
    ("start_file", Kind::Str),
    ("start_pos", Kind::Int),
    ("binlog_prefix", Kind::Str),
    ("binlog_dir", Kind::Str),
    ("output_file", Kind::Str),
    ("datadir", Kind::Str),
    ("relay_log_info", Kind::Str),
    ("oldest_version", Kind::Str),
    ("handle_raw_binlog", Kind::Int),
    ("skip_filter", Kind::Int),
    ("disable_log_bin", Kind::Int),
    ("manager_version", Kind::Str),
    ("client_bindir", Kind::Str),
    ("client_libdir", Kind::Str),
    ("debug", Kind::Flag),
];

const USAGE: &str = "Usage:
    # Test (the binlog folder and the output folder are usable)

    $ save_binary_logs --command=test --binlog_dir=/var/lib/mysql
    --start_file=mysqld-bin.000002 --start_pos=4 --output_file=/var/tmp/t

    # Saving binary logs from a position to the end

    $ save_binary_logs --command=save --binlog_dir=/var/lib/mysql
    --start_file=mysqld-bin.000002 --start_pos=312
    --output_file=/var/tmp/aggregate.binlog

    # Saving relay logs (exec -> read part of a replica)

    $ save_binary_logs --command=save --start_file=mysqld-relay-bin.000002
    --start_pos=312 --relay_log_info=/var/lib/mysql/relay-log.info
    --output_file=/var/tmp/aggregate.binlog

    Concatenates binary or relay logs from the given file/position to the
    end into one binlog file. MHA Manager runs it during failover.
    (binlog-diff: raw mode only; --handle_raw_binlog=0 is refused.)
";

/// Runs `save_binary_logs` with `args`; returns the exit status.
pub fn main(args: &[String]) -> u8 {
    let mut o = match super::parse_or_usage(SPECS, args, USAGE) {
        Ok(o) => o,
        Err(code) => return code,
    };
    // Perl: datadir defaults to binlog_dir *before* binlog_dir gets its default.
    if o.truthy("datadir").is_none() {
        if let Some(b) = o.get("binlog_dir").map(str::to_string) {
            o.set("datadir", b);
        }
    }
    let binlog_dir = o.or("binlog_dir", "/var/lib/mysql");
    o.set("binlog_dir", binlog_dir);
    if o.has("version") {
        out(&format!("save_binary_logs version {}.\n", super::VERSION));
        return super::exit::OK;
    }
    match run(&o) {
        Ok(code) => code,
        Err(c) => {
            let msg = if c.msg.ends_with('\n') { c.msg } else { format!("{}\n", c.msg) };
            eprint!("Failed to save binary log: {msg}");
            c.code
        }
    }
}

fn run(o: &Opts) -> Res<u8> {
    if let Some(v) = o.truthy("manager_version") {
        super::check_manager_version(v)?;
    }
    let command = o.truthy("command").ok_or_else(|| Croak::new("Set --command=[test|save]\n"))?;
    if command == "test" {
        if o.truthy("start_file").is_none() && o.truthy("binlog_prefix").is_none() {
            return Err(Croak::new(
                "Set --start_file=<starting_binlog_filename> or --binlog_prefix=<binlog_file_prefix>\n",
            ));
        }
    } else if o.truthy("start_file").is_none() {
        return Err(Croak::new("Set --start_file=<starting_binlog_filename>\n"));
    }
    let start_pos = o.int("start_pos").ok_or_else(|| Croak::new("Set --start_pos=<starting_binlog_pos>\n"))?;
    let raw = o.int("handle_raw_binlog").is_none_or(|v| v != 0);
    if !raw {
        if o.truthy("oldest_version").is_none() {
            return Err(Croak::new("mysql version not found.\n"));
        }
        return Err(Croak::new(
            "--handle_raw_binlog=0 (mysqlbinlog text output) is not supported by this node (binlog-diff): \
             it saves binlog files that its applier executes. Set handle_raw_binlog=1 for this server in the \
             MHA configuration.\n",
        ));
    }
    let binlog_dirs = o.get("binlog_dir").unwrap_or("/var/lib/mysql").to_string();
    let logs = if let Some(rinfo) = o.truthy("relay_log_info") {
        let datadir = o.truthy("datadir").map(|d| PathBuf::from(d.split(',').next().unwrap_or(d)));
        let mut l = Logs::from_relay_log_info(Path::new(rinfo), datadir.as_deref())?;
        if let Some(sf) = o.truthy("start_file") {
            l.current = sf.parse().map_err(|e: crate::log::name::BadLogName| Croak::new(format!("{e}\n")))?;
        }
        l
    } else {
        let (dir, start_file) = match o.truthy("start_file") {
            Some(sf) => (find_binlog_dir(sf, &binlog_dirs), sf.to_string()),
            None => match find_binlog_dir_from_prefix(o.get("binlog_prefix").unwrap_or(""), &binlog_dirs) {
                Some((d, f)) => (Some(d), f),
                None => (None, String::new()),
            },
        };
        let dir = dir.ok_or_else(|| {
            Croak::new(format!(
                "Binlog not found from {binlog_dirs}! If you got this error at MHA Manager, please set \
                 \"master_binlog_dir=/path/to/binlog_directory_of_the_master\" correctly in the MHA Manager's \
                 configuration file and try again.\n"
            ))
        })?;
        Logs::from_dir_file(&dir, &start_file)?
    };
    let output = o.truthy("output_file").ok_or_else(|| Croak::new("Set --output_file=<output_file_path>\n"))?;
    let output = PathBuf::from(output);
    let out_dir = super::dirname(&output.to_string_lossy());
    out(&format!("  Creating {} if not exists.. ", out_dir.display()));
    super::create_dir_if(&out_dir)?;
    out("   ok.\n");
    match command {
        "test" => {
            out("  Checking output directory is accessible or not..\n");
            std::fs::File::create(&output).map_err(|e| Croak::new(format!("{e}:{}\n", output.display())))?;
            let _ = std::fs::remove_file(&output);
            out("   ok.\n");
            out(&format!("  Binlog found at {}, up to {}\n", show_dir(&logs.dir), logs.end()));
            Ok(super::exit::OK)
        }
        "save" => save(&logs, start_pos, &output, o.has("debug")),
        _ => Ok(super::usage_exit(USAGE)),
    }
}

fn save(logs: &Logs, start_pos: i64, output: &Path, debug: bool) -> Res<u8> {
    super::drop_file_if(output)?;
    let first = logs.current.clone();
    let first_path = logs
        .set
        .path(&first)
        .ok_or_else(|| Croak::new(format!("Target file {}/{} not found!\n", show_dir(&logs.dir), first)))?
        .to_path_buf();
    let size = std::fs::metadata(&first_path).map_err(|e| Croak::from(crate::Error::io(&first_path, e)))?.len();
    let start = u64::try_from(start_pos).unwrap_or(0);
    if start > size {
        // MHA skips the file and goes on; the binlog on disk is shorter than
        // what a replica read from it, which is worth failing loudly for.
        return Err(Croak::new(format!(
            "start position {start} is past the end of {} ({size} bytes): the log on disk is shorter than what \
             was read from it\n",
            first_path.display()
        )));
    }
    let kind = if is_relay_log(&first_path)? { LogKind::Relay } else { LogKind::Binlog };
    out(&format!(
        " Concat binary/relay logs from {first} pos {start_pos} to {} EOF into {} ..\n",
        logs.end(),
        output.display()
    ));
    if debug {
        out(&format!(
            "  Source: {} ({})\n",
            show_dir(&logs.dir),
            if kind == LogKind::Relay { "relay logs: the replica's own events are skipped" } else { "binary logs" }
        ));
    }
    let c = cut(&logs.set, &Start::new(kind, first, start), output, &CutOptions::default())?;
    print_cut(&c, output);
    if c.events == 0 {
        out(&format!(" {} has no effective data events.\n", output.display()));
        out("Event not exists.\n");
        return Ok(super::exit::SAVE_EVENT_NOT_EXIST);
    }
    out(" Concat succeeded.\n");
    Ok(super::exit::OK)
}

/// Refuses a relay-log cut whose source is torn: its last file ends inside
/// an event, or it ends inside a transaction short of what the replica
/// claims to have read (`latest`, its Read_Master_Log_Pos). The manager
/// saves the master's tail from that claimed position, so the rest of that
/// transaction would be in no file it applies: saying "its end follows"
/// would lose a committed transaction. Names the transaction and the
/// master range at risk.
///
/// # Errors
/// The croak, exit 1.
pub(crate) fn refuse_torn(c: &super::logs::Cut, latest: Option<&crate::position::MasterPos>) -> Res<()> {
    let r = &c.report;
    let short = match (&c.kept_tail, latest, &r.data_end) {
        (Some(_), Some(l), Some(end)) => end != l,
        _ => false,
    };
    if !(r.truncated_tail || short) {
        return Ok(());
    }
    let trx = c
        .kept_tail
        .as_ref()
        .or(r.left_out.as_ref())
        .map(|t| format!("the transaction starting at {} @ {} ({} bytes here)", t.file, t.offset, t.bytes))
        .unwrap_or_else(|| "the last transaction".into());
    let read = r.data_end.as_ref().map(|m| m.to_string()).unwrap_or_else(|| "?".into());
    let claimed = latest.map(|m| m.to_string()).unwrap_or_else(|| "?".into());
    Err(Croak::new(format!(
        "ERROR: the relay logs are torn: {}; their master data ends at {read} but the replica claims to have read \
         up to {claimed}. {trx} is at risk: the master's tail is saved from {claimed}, so its rest is in no file \
         that would be applied. Refusing to generate a diff that would lose it; take it from the dead master's \
         binlog from its start (binlog-diff failover does), or repair the relay log.\n",
        if r.truncated_tail { "the last file ends inside an event" } else { "they end inside a transaction" }
    )))
}

/// Prints what a cut holds (shared with `apply_diff_relay_logs`).
pub(crate) fn print_cut(c: &super::logs::Cut, output: &Path) {
    let r = &c.report;
    let range = match (&r.master_start, &r.master_end) {
        (Some(a), Some(b)) => format!(", master {a} .. {b}"),
        _ => String::new(),
    };
    out(&format!(
        "  Saved {} events ({} whole transactions, {} bytes){range} into {}.\n",
        c.events,
        r.transactions,
        c.bytes,
        output.display()
    ));
    if r.starts_mid_transaction {
        out(
            "  It starts inside a transaction: apply it after the file that holds the transaction's start (as MHA's --apply_files order does).\n",
        );
    }
    if let Some(t) = &c.kept_tail {
        out(&format!(
            "  It ends inside a transaction (from {} @ {}, {} bytes), kept: its end follows in the next apply file.\n",
            t.file, t.offset, t.bytes
        ));
    } else if let Some(t) = &r.left_out {
        out(&format!(
            "  An incomplete transaction at the end ({} @ {}, {} bytes) was left out: it never committed.\n",
            t.file, t.offset, t.bytes
        ));
    }
    if r.truncated_tail {
        out(
            "  The last log ends inside an event (a crashed server or a log being written): the cut event is left out.\n",
        );
    }
}
