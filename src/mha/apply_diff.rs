//! `apply_diff_relay_logs`: everything MHA does with the latest replica's
//! relay logs and on a target replica.
//!
//! - `test`: the relay logs are found and readable, `super_read_only` is
//!   handled (absent on MariaDB: fine), and a write test runs on the replica
//!   with `sql_log_bin=0`, like MHA's;
//! - `find`: the target's read position is in the latest replica's relay logs;
//! - `generate` / `generate_and_send`: the relay-log diff from the target's
//!   read position to the end, then (`_and_send`) pushed to the target host
//!   over SSH with an MD5 check;
//! - `apply`: `--apply_files` applied as one stream by the native applier,
//!   verified; exit 22 on any failure ([`super::exit`]).

use std::path::PathBuf;

use mysql::prelude::Queryable;

use super::getopt::{Kind, Opts, Spec};
use super::logs::{Logs, cut, show_dir};
use super::{Croak, Res, out};
use crate::diff::{CutOptions, Start};
use crate::log::LogName;
use crate::position::{MapOptions, Mapping, MasterPos, RelayPos, find_start};
use crate::remote::{MHA_SSH_OPT_ALIVE, SshOptions};
use crate::server::{ConnSpec, Secret};

const SPECS: &[Spec] = &[
    ("help", Kind::Flag),
    ("version", Kind::Flag),
    ("command", Kind::Str),
    ("datadir", Kind::Str),
    ("relay_log_info", Kind::Str),
    ("relay_dir", Kind::Str),
    ("current_relay_log", Kind::Str),
    ("scp_user", Kind::Str),
    ("scp_host", Kind::Str),
    ("scp_port", Kind::Int),
    ("ssh_options", Kind::Str),
    ("slave_user", Kind::Str),
    ("slave_pass", Kind::Str),
    ("slave_host", Kind::Str),
    ("slave_ip", Kind::Str),
    ("slave_port", Kind::Int),
    ("master_server_id", Kind::Int),
    ("server_id", Kind::Int),
    ("latest_mlf", Kind::Str),
    ("latest_rmlp", Kind::Int),
    ("target_mlf", Kind::Str),
    ("target_rmlp", Kind::Int),
    ("target_version", Kind::Str),
    ("workdir", Kind::Str),
    ("diff_file_readtolatest", Kind::Str),
    ("apply_files", Kind::Str),
    ("timestamp", Kind::Str),
    ("handle_raw_binlog", Kind::Int),
    ("disable_log_bin", Kind::Int),
    ("no_apply", Kind::Flag),
    ("manager_version", Kind::Str),
    ("client_bindir", Kind::Str),
    ("client_libdir", Kind::Str),
    ("debug", Kind::Flag),
];

const USAGE: &str = "Usage:
    # Checking a replica (MHA Manager's check_repl)
    apply_diff_relay_logs --command=test --target_version=10.11.6
    --relay_log_info=s --slave_user=s --slave_host=s --slave_ip=s
    --slave_port=i --workdir=s

    # Generating the relay-log diff for a target (and sending it)
    apply_diff_relay_logs --command=generate_and_send --scp_user=s
    --scp_host=s --latest_mlf=s --latest_rmlp=i --target_mlf=s
    --target_rmlp=i --relay_log_info=s --server_id=i
    --diff_file_readtolatest=s --workdir=s --timestamp=s

    # Applying diff files (in order, as one stream)
    apply_diff_relay_logs --command=apply --target_version=10.11.6
    --slave_user=s --slave_host=s --slave_ip=s --slave_port=i
    --apply_files=file1,file2.. --workdir=s --timestamp=s --slave_pass=xxx

    (binlog-diff: raw mode only; --handle_raw_binlog=0 is refused.)
";

/// The options, resolved once: MHA's `||=` defaults applied (an absent,
/// empty or `0` value takes the default), values Perl sees as false are
/// `None`, numbers typed. Every command reads only this.
struct Args {
    command: String,
    raw: bool,
    target_version: Option<String>,
    manager_version: Option<String>,
    client_dirs: bool,
    debug: bool,
    workdir: PathBuf,
    // Relay logs: a folder plus the current file, or relay-log.info.
    relay_dir: Option<PathBuf>,
    current_relay_log: Option<String>,
    relay_log_info: Option<PathBuf>,
    datadir: Option<PathBuf>,
    // The target replica.
    slave_host: String,
    slave_ip: Option<String>,
    slave_port: u16,
    slave_user: String,
    slave_pass: String,
    // Positions (`find`, `generate`).
    server_id: Option<u32>,
    latest_mlf: Option<String>,
    latest_rmlp: Option<u64>,
    target_mlf: Option<String>,
    target_rmlp: Option<u64>,
    // `generate_and_send`.
    diff_file: Option<PathBuf>,
    scp_user: String,
    scp_host: Option<String>,
    scp_port: u16,
    ssh: SshOptions,
    // `apply`.
    apply_files: Option<String>,
    timestamp: Option<String>,
    disable_log_bin: bool,
    no_apply: bool,
}

impl Args {
    fn from_opts(o: &Opts) -> Args {
        let text = |k: &str| o.truthy(k).map(str::to_string);
        let path = |k: &str| o.truthy(k).map(PathBuf::from);
        let port = |k: &str, d: u16| o.int(k).filter(|&p| p != 0).and_then(|p| u16::try_from(p).ok()).unwrap_or(d);
        let pos = |k: &str| o.int(k).filter(|&p| p != 0).and_then(|p| u64::try_from(p).ok());
        Args {
            command: o.get("command").unwrap_or("").to_string(),
            raw: o.int("handle_raw_binlog").is_none_or(|v| v != 0),
            target_version: text("target_version"),
            manager_version: text("manager_version"),
            client_dirs: o.has("client_bindir") || o.has("client_libdir"),
            debug: o.has("debug"),
            workdir: PathBuf::from(o.or("workdir", "/var/tmp")),
            relay_dir: path("relay_dir"),
            current_relay_log: text("current_relay_log"),
            relay_log_info: path("relay_log_info"),
            // Perl: `$opt{datadir} ||= $opt{relay_dir}`.
            datadir: path("datadir").or_else(|| path("relay_dir")),
            slave_host: o.or("slave_host", "127.0.0.1"),
            slave_ip: text("slave_ip"),
            slave_port: port("slave_port", 3306),
            slave_user: o.or("slave_user", "root"),
            slave_pass: o.or("slave_pass", ""),
            server_id: o.int("server_id").filter(|&s| s != 0).and_then(|s| u32::try_from(s).ok()),
            latest_mlf: text("latest_mlf"),
            latest_rmlp: pos("latest_rmlp"),
            target_mlf: text("target_mlf"),
            target_rmlp: pos("target_rmlp"),
            diff_file: path("diff_file_readtolatest"),
            scp_user: o.or("scp_user", "root"),
            scp_host: text("scp_host"),
            scp_port: port("scp_port", 22),
            ssh: SshOptions::parse(o.truthy("ssh_options").unwrap_or(MHA_SSH_OPT_ALIVE)),
            apply_files: text("apply_files"),
            timestamp: text("timestamp"),
            disable_log_bin: o.int("disable_log_bin").unwrap_or(0) != 0,
            no_apply: o.has("no_apply"),
        }
    }
}

/// Runs `apply_diff_relay_logs` with `args`; returns the exit status.
pub fn main(args: &[String]) -> u8 {
    let o = match super::parse_or_usage(SPECS, args, USAGE) {
        Ok(o) => o,
        Err(code) => return code,
    };
    if o.has("version") {
        out(&format!("apply_diff_relay_logs version {}.\n", super::VERSION));
        return super::exit::OK;
    }
    match run(&Args::from_opts(&o)) {
        Ok(()) => super::exit::OK,
        Err(c) => {
            let msg = if c.msg.ends_with('\n') { c.msg } else { format!("{}\n", c.msg) };
            eprint!("{msg}");
            c.code
        }
    }
}

fn run(a: &Args) -> Res<()> {
    if let Some(v) = &a.manager_version {
        super::check_manager_version(v)?;
    }
    let command = a.command.as_str();
    if !a.raw || command == "test" || command == "apply" {
        if a.target_version.is_none() {
            return Err(Croak::new("--target_version=<mysql_version> must be set.\n"));
        }
        if !a.raw {
            return Err(Croak::new(
                "--handle_raw_binlog=0 (mysqlbinlog text output) is not supported by this node (binlog-diff): \
                 diffs are binlog files applied by its own applier. Set handle_raw_binlog=1 for this server in \
                 the MHA configuration.\n",
            ));
        }
    }
    if a.client_dirs {
        debug(a, "--client_bindir/--client_libdir ignored: no client binaries are run");
    }
    super::create_dir_if(&a.workdir)?;
    match command {
        "test" => check(a),
        "generate" | "generate_and_send" => generate_and_send(a, command == "generate_and_send"),
        "find" => {
            let logs = relay_logs(a)?;
            match find_starting(a, &logs)? {
                Found::Start(_) | Found::HasAll => {}
            }
            out("Target relay log FOUND!\n");
            Ok(())
        }
        "apply" => {
            let ip = slave_ip(a)?;
            apply(a, &ip)?;
            out("Applying log files succeeded.\n");
            Ok(())
        }
        other => Err(Croak::new(format!(
            "Invalid command {other}. Either [test|find|generate|generate_and_send|apply] command must be set.\n"
        ))),
    }
}

fn debug(a: &Args, s: &str) {
    if a.debug {
        out(&format!("  [debug] {s}\n"));
    }
}

/// MHA's `check_set_relay_dir_endlog`.
fn relay_logs(a: &Args) -> Res<Logs> {
    let logs = match (&a.relay_dir, &a.current_relay_log, &a.relay_log_info) {
        (Some(dir), Some(cur), _) => Logs::from_dir_file(dir, cur)?,
        (_, _, Some(rinfo)) => {
            out(&format!("    Opening {} ...", rinfo.display()));
            let l = Logs::from_relay_log_info(rinfo, a.datadir.as_deref())?;
            out(" ok.\n");
            l
        }
        _ => {
            return Err(Croak::new(
                "ERROR: Either (--relay_dir=s, --current_relay_log=s) or (--relay_log_info=s) must be set.\n",
            ));
        }
    };
    out(&format!("    Relay log found at {}, up to {}\n", show_dir(&logs.dir), logs.end()));
    Ok(logs)
}

/// MHA's `check_slave_host`: the target's IP (`--slave_ip` or resolved).
fn slave_ip(a: &Args) -> Res<String> {
    match &a.slave_ip {
        Some(ip) => Ok(ip.clone()),
        None => super::get_ip(&a.slave_host),
    }
}

/// The target replica's account, unescaped as MHA does.
fn conn_spec(a: &Args, ip: &str) -> ConnSpec {
    let user = super::shell::account_value(&a.slave_user);
    let pass = super::shell::account_value(&a.slave_pass);
    ConnSpec {
        host: Some(ip.trim_start_matches('[').trim_end_matches(']').to_string()),
        port: Some(a.slave_port),
        socket: None,
        user: Some(user),
        password: Some(Secret::new(pass)),
        timeout: None,
    }
}

fn mlf(v: Option<&str>, name: &str) -> Res<LogName> {
    v.unwrap_or("").parse().map_err(|e: crate::log::name::BadLogName| Croak::new(format!("--{name}: {e}\n")))
}

enum Found {
    Start(RelayPos),
    HasAll,
}

/// MHA's `find_starting_relay_log`.
fn find_starting(a: &Args, logs: &Logs) -> Res<Found> {
    let Some(latest_mlf) = a.latest_mlf.as_deref() else {
        return Err(Croak::new("--latest_mlf (my latest master log file name) must be set.\n"));
    };
    let Some(target_mlf) = a.target_mlf.as_deref() else {
        return Err(Croak::new("--target_mlf (target master log file name) must be set.\n"));
    };
    let Some(target_rmlp) = a.target_rmlp else {
        return Err(Croak::new("--target_rmlp (target master read log pos) must be set.\n"));
    };
    let Some(latest_rmlp) = a.latest_rmlp else {
        return Err(Croak::new("--latest_rmlp (latest master read log pos) must be set.\n"));
    };
    let Some(server_id) = a.server_id else {
        return Err(Croak::new("--server_id (my server id) must be set.\n"));
    };
    let target = MasterPos::new(mlf(Some(target_mlf), "target_mlf")?, target_rmlp);
    let latest = MasterPos::new(mlf(Some(latest_mlf), "latest_mlf")?, latest_rmlp);
    let opts = MapOptions { own_server_id: Some(server_id), ..MapOptions::default() };
    let t0 = std::time::Instant::now();
    let m = find_start(&logs.set, &target, Some(&latest), &opts).map_err(|e| {
        out("Target pos NOT found!\n");
        Croak::new(format!("{e}\n"))
    })?;
    match m {
        Mapping::AlreadyComplete => {
            // MHA's fast path lands at the end of the newest relay log when both read the same file.
            if target.file == latest.file {
                out(" Fast relay log position search succeeded.\n");
            } else {
                out(" Fast relay log position search failed. Reading relay logs to find..\n");
            }
            debug(a, &format!("mapping took {:.3} ms", t0.elapsed().as_secs_f64() * 1e3));
            Ok(Found::HasAll)
        }
        Mapping::Found { start, fast } => {
            if fast {
                out(" Fast relay log position search succeeded.\n");
            } else {
                out(" Fast relay log position search failed. Reading relay logs to find..\n");
            }
            // MHA names the next file, position 4, for "the end of a file".
            let mut shown = start.clone();
            if let Some(p) = logs.set.path(&start.file) {
                let size = std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
                let next = start.file.next();
                if start.pos == size && &start.file != logs.end() && logs.set.path(&next).is_some() {
                    shown = RelayPos::new(next, 4);
                }
            }
            out(&format!(
                " Target relay log file/position found. start_file:{}, start_pos:{}.\n",
                shown.file, shown.pos
            ));
            debug(
                a,
                &format!(
                    "mapping took {:.3} ms ({})",
                    t0.elapsed().as_secs_f64() * 1e3,
                    if fast { "fast path, verified" } else { "scan" }
                ),
            );
            Ok(Found::Start(shown))
        }
    }
}

fn generate_and_send(a: &Args, send: bool) -> Res<()> {
    if send && a.scp_host.is_none() {
        return Err(Croak::new("ERROR: --scp_user and --scp_host must be set.\n"));
    }
    let diff = a
        .diff_file
        .clone()
        .ok_or_else(|| Croak::new("ERROR: --diff_file_readtolatest=<Diff file name> must be set.\n"))?;
    super::create_dir_if(&super::dirname(&diff.to_string_lossy()))?;
    super::drop_file_if(&diff)?;
    let logs = relay_logs(a)?;
    let start = match find_starting(a, &logs)? {
        Found::HasAll => {
            out("Target slave has received all relay logs.\n");
            return Ok(());
        }
        Found::Start(s) => s,
    };
    out(&format!(
        " Concat binary/relay logs from {} pos {} to {} EOF into {} ..\n",
        start.file,
        start.pos,
        logs.end(),
        diff.display()
    ));
    let opts = CutOptions { own_server_id: a.server_id, ..CutOptions::default() };
    let cutres = cut(&logs.set, &Start::Relay(start), &diff, &opts)?;
    // find_starting has checked both.
    let latest = MasterPos::new(mlf(a.latest_mlf.as_deref(), "latest_mlf")?, a.latest_rmlp.unwrap_or(0));
    if let Err(e) = super::save::refuse_torn(&cutres, Some(&latest)) {
        let _ = std::fs::remove_file(&diff);
        return Err(e);
    }
    super::save::print_cut(&cutres, &diff);
    if cutres.events == 0 {
        // MHA fails here ("has no effective data events", exit 1); an empty
        // diff only means the target lacks nothing the relay logs hold.
        out(&format!(" {} has no data events: the target lacks nothing the relay logs hold.\n", diff.display()));
    }
    out(" Concat succeeded.\n");
    out(&format!(" Generating diff relay log succeeded. Saved at {} .\n", diff.display()));
    if !send {
        return Ok(());
    }
    let (user, host, port) = (a.scp_user.as_str(), a.scp_host.as_deref().unwrap_or(""), a.scp_port);
    let me = super::hostname();
    let me = if me.contains(':') { format!("[{me}]") } else { me };
    let mut log = |s: &str| out(&format!(" {s}\n"));
    match crate::remote::push_file(user, host, port, &a.ssh, &diff, &diff, &mut log) {
        Ok(()) => {
            out(&format!(" scp {me}:{} to {user}@{host}({port}) succeeded.\n", diff.display()));
            Ok(())
        }
        Err(e) => Err(Croak::new(format!("ERROR: scp {me}:{} to {user}@{host}({port}) failed! {e}\n", diff.display()))),
    }
}

/// `super_read_only` handling of MHA's `check_if_super_read_only` /
/// `disable_super_read_only` / `enable_super_read_only`, tolerant of servers
/// without the variable (MariaDB), where MHA dies.
struct SuperReadOnly {
    was_on: bool,
}

impl SuperReadOnly {
    fn check(conn: &mut mysql::Conn) -> SuperReadOnly {
        SuperReadOnly { was_on: crate::server::status::super_read_only(conn) == Some(true) }
    }
    fn disable(&self, conn: &mut mysql::Conn) -> Res<()> {
        if self.was_on {
            out("    Disabling super_read_only (read_only stays ON)..");
            crate::server::status::set_super_read_only(conn, false)
                .map_err(|e| Croak::new(format!("disabling super_read_only failed: {e}\n")))?;
            out(" done.\n");
        }
        Ok(())
    }
    fn restore(&self, conn: &mut mysql::Conn) {
        if self.was_on {
            out("    Enabling super_read_only again..");
            match crate::server::status::set_super_read_only(conn, true) {
                Ok(()) => out(" done.\n"),
                Err(e) => out(&format!(" FAILED: {e}\n")),
            }
        }
    }
}

/// MHA's `check`.
fn check(a: &Args) -> Res<()> {
    out("  Checking slave recovery environment settings..\n");
    let logs = relay_logs(a)?;
    out(&format!("    Temporary relay log file is {}/{}\n", show_dir(&logs.dir), logs.end()));
    let ip = slave_ip(a)?;
    let spec = conn_spec(a, &ip);
    let (host, port) = (&a.slave_host, a.slave_port);
    out("    Checking if super_read_only is defined and turned on..");
    let mut conn = spec.connect().map_err(|e| Croak::new(format!("{e}\n")))?;
    let sro = SuperReadOnly::check(&mut conn);
    if sro.was_on {
        out(" on.\n");
        sro.disable(&mut conn)?;
    } else {
        out(" not present or turned off, ignoring.\n");
    }
    out("    Testing mysql connection and privileges..");
    let r = (|| -> mysql::Result<()> {
        conn.query_drop("SET sql_log_bin=0")?;
        conn.query_drop("CREATE TABLE IF NOT EXISTS mysql.apply_diff_relay_logs_test(id int)")?;
        conn.query_drop("INSERT INTO mysql.apply_diff_relay_logs_test VALUES(1)")?;
        conn.query_drop("UPDATE mysql.apply_diff_relay_logs_test SET id=id+1 WHERE id=1")?;
        conn.query_drop("DELETE FROM mysql.apply_diff_relay_logs_test")?;
        conn.query_drop("DROP TABLE mysql.apply_diff_relay_logs_test")?;
        conn.query_drop("SET sql_log_bin=1")?;
        Ok(())
    })();
    sro.restore(&mut conn);
    if let Err(e) = r {
        return Err(Croak::new(format!("mysql command failed on {host}:{port}: {e}\n")));
    }
    out(" done.\n");
    out("    Testing relay log reading..");
    let (lf, _) = crate::log::LogFile::open_prefix(logs.end_path(), 64 << 10)?;
    let mut it = lf.events(crate::event::WalkOptions { verify_checksums: true });
    match it.next_step() {
        Ok(Some(crate::event::Step::Event(_))) | Ok(None) | Ok(Some(crate::event::Step::Incomplete(_))) => {}
        Err(e) => return Err(Croak::from(crate::Error::parse(Some(logs.end_path()), e))),
    }
    out(" done.\n");
    if let Some(shost) = &a.scp_host {
        let (user, sport) = (&a.scp_user, a.scp_port);
        out(&format!("    Testing connecting to remote slave {shost}({sport}) via ssh.."));
        let mut log = |s: &str| out(&format!("\n    {s}"));
        let r = crate::remote::Remote::connect(user, shost, sport, &a.ssh, &mut log)
            .and_then(|r| {
                // `exit 0` over a live session: seconds; never unbounded.
                r.set_timeout(std::time::Duration::from_secs(30));
                r.exec("exit 0")
            })
            .map_err(|e| Croak::new(format!("ssh failed: {e}\n")))?;
        if r.status != 0 {
            return Err(Croak::new(format!("ssh failed with rc {}:0!\n", r.status)));
        }
        out(" done.\n\n");
    }
    Ok(())
}

/// MHA's `apply`: the files, in order, as one stream, on the target.
fn apply(a: &Args, ip: &str) -> Res<()> {
    let files = a.apply_files.as_deref().ok_or_else(|| Croak::new("ERROR: --apply_files must be set.\n"))?;
    let files: Vec<PathBuf> = files.split(',').filter(|f| !f.is_empty()).map(PathBuf::from).collect();
    if files.is_empty() {
        return Err(Croak::new("ERROR: --apply_files must be set.\n"));
    }
    for f in &files {
        if !f.is_file() {
            return Err(Croak::new(format!("ERROR: {} not found!\n", f.display())));
        }
    }
    if a.no_apply {
        return Ok(());
    }
    let (host, port) = (&a.slave_host, a.slave_port);
    let date = match &a.timestamp {
        Some(t) => t.clone(),
        None => super::current_time().replace(['-', ' ', ':'], ""),
    };
    let workdir = &a.workdir;
    let err_log = workdir.join(format!("relay_log_apply_for_{host}_{port}_{date}_err.log"));
    let state = workdir.join(format!("relay_log_apply_for_{host}_{port}_{date}.apply-state"));
    let spec = conn_spec(a, ip);
    let fail = |msg: String, report: Option<String>| -> Croak {
        if let Some(r) = &report {
            let _ = std::fs::write(&err_log, r);
        }
        out(&format!("FATAL: applying log files failed: {msg}\n"));
        if let Some(r) = report {
            out(&format!("Error logs from {}:{} (the last 200 lines)..\n", super::hostname(), err_log.display()));
            let lines: Vec<&str> = r.lines().collect();
            for l in &lines[lines.len().saturating_sub(200)..] {
                out(&format!("{l}\n"));
            }
        }
        Croak { msg: format!("applying log files failed: {msg}\n"), code: super::exit::APPLY_DIFF_FAILED }
    };
    let mut conn = spec.connect().map_err(|e| fail(e.to_string(), None))?;
    let sro = SuperReadOnly::check(&mut conn);
    sro.disable(&mut conn).map_err(|e| fail(e.msg.trim().to_string(), None))?;
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    out(&format!(
        "Applying differential binary/relay log files {} on {host}:{port}. This may take long time...\n",
        names.join(",")
    ));
    let opts = crate::apply::ApplyOptions {
        disable_log_bin: a.disable_log_bin,
        // A trailing incomplete transaction never committed anywhere we can
        // see (MHA's mysql client rolls it back too): reported, not applied.
        allow_partial_tail: true,
        state_file: Some(state),
        ..Default::default()
    };
    let r = crate::apply::apply(&spec, &files, &opts);
    sro.restore(&mut conn);
    match r {
        Ok(rep) => {
            let text = rep.to_text();
            let _ = std::fs::write(&err_log, &text);
            out(&text);
            Ok(())
        }
        Err(f) => Err(fail(f.error.to_string(), Some(f.report.to_text()))),
    }
}
