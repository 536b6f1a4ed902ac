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
//!   verified; exit 22 on any failure.

use std::path::{Path, PathBuf};

use mysql::prelude::Queryable;

use super::getopt::{Kind, Opts, Spec};
use super::logs::{Logs, cut, show_dir};
use super::{Croak, Res, out};
use crate::diff::{CutOptions, Start};
use crate::log::LogName;
use crate::position::{MapOptions, Mapping, MasterPos, RelayPos, find_start};
use crate::remote::{MHA_SSH_OPT_ALIVE, SshOptions};
use crate::server::{ConnSpec, Secret};

/// Applying the files failed (`$MHA::NodeConst::Applying_SQL_File_Failed`).
pub const EXIT_APPLY_FAILED: u8 = 22;

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

struct Ctx {
    o: Opts,
    ssh: SshOptions,
}

/// Runs `apply_diff_relay_logs` with `args`; returns the exit status.
pub fn main(args: &[String]) -> u8 {
    let mut o = match super::parse_or_usage(SPECS, args, USAGE) {
        Ok(o) => o,
        Err(code) => return code,
    };
    for (k, d) in [
        ("command", ""),
        ("scp_user", "root"),
        ("scp_port", "22"),
        ("slave_user", "root"),
        ("slave_pass", ""),
        ("slave_host", "127.0.0.1"),
        ("slave_port", "3306"),
        ("target_rmlp", "0"),
        ("workdir", "/var/tmp"),
        ("timestamp", "0"),
    ] {
        let v = o.or(k, d);
        o.set(k, v);
    }
    if o.truthy("datadir").is_none() {
        if let Some(r) = o.get("relay_dir").map(str::to_string) {
            o.set("datadir", r);
        }
    }
    let ssh = SshOptions::parse(o.truthy("ssh_options").unwrap_or(MHA_SSH_OPT_ALIVE));
    if o.has("version") {
        out(&format!("apply_diff_relay_logs version {}.\n", super::VERSION));
        return 0;
    }
    let ctx = Ctx { o, ssh };
    match run(&ctx) {
        Ok(()) => 0,
        Err(c) => {
            let msg = if c.msg.ends_with('\n') { c.msg } else { format!("{}\n", c.msg) };
            eprint!("{msg}");
            c.code
        }
    }
}

fn run(c: &Ctx) -> Res<()> {
    let o = &c.o;
    if let Some(v) = o.truthy("manager_version") {
        super::check_manager_version(v)?;
    }
    let raw = o.int("handle_raw_binlog").is_none_or(|v| v != 0);
    let command = o.get("command").unwrap_or("");
    if !raw || command == "test" || command == "apply" {
        if o.truthy("target_version").is_none() {
            return Err(Croak::new("--target_version=<mysql_version> must be set.\n"));
        }
        if !raw {
            return Err(Croak::new(
                "--handle_raw_binlog=0 (mysqlbinlog text output) is not supported by this node (binlog-diff): \
                 diffs are binlog files applied by its own applier. Set handle_raw_binlog=1 for this server in \
                 the MHA configuration.\n",
            ));
        }
    }
    if o.has("client_bindir") || o.has("client_libdir") {
        debug(o, "--client_bindir/--client_libdir ignored: no client binaries are run");
    }
    super::create_dir_if(Path::new(o.get("workdir").unwrap_or("/var/tmp")))?;
    match command {
        "test" => check(c),
        "generate" | "generate_and_send" => generate_and_send(c, command == "generate_and_send"),
        "find" => {
            let logs = relay_logs(o)?;
            match find_starting(o, &logs)? {
                Found::Start(_) | Found::HasAll => {}
            }
            out("Target relay log FOUND!\n");
            Ok(())
        }
        "apply" => {
            let (host, ip) = slave_host(o)?;
            apply(c, &host, &ip)?;
            out("Applying log files succeeded.\n");
            Ok(())
        }
        other => Err(Croak::new(format!(
            "Invalid command {other}. Either [test|find|generate|generate_and_send|apply] command must be set.\n"
        ))),
    }
}

fn debug(o: &Opts, s: &str) {
    if o.has("debug") {
        out(&format!("  [debug] {s}\n"));
    }
}

/// MHA's `check_set_relay_dir_endlog`.
fn relay_logs(o: &Opts) -> Res<Logs> {
    let logs = match (o.truthy("relay_dir"), o.truthy("current_relay_log"), o.truthy("relay_log_info")) {
        (Some(dir), Some(cur), _) => Logs::from_dir_file(Path::new(dir), cur)?,
        (_, _, Some(rinfo)) => {
            out(&format!("    Opening {rinfo} ..."));
            let l = Logs::from_relay_log_info(Path::new(rinfo), o.truthy("datadir").map(Path::new))?;
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

/// MHA's `check_slave_host`: the host, and its IP (`--slave_ip` or resolved).
fn slave_host(o: &Opts) -> Res<(String, String)> {
    let host = o.truthy("slave_host").ok_or_else(|| Croak::new("--slave_host must be set.\n"))?.to_string();
    let ip = match o.truthy("slave_ip") {
        Some(ip) => ip.to_string(),
        None => super::get_ip(&host)?,
    };
    Ok((host, ip))
}

/// The target replica's account, unescaped as MHA does.
fn conn_spec(o: &Opts, ip: &str) -> ConnSpec {
    let user = super::shell::account_value(o.get("slave_user").unwrap_or("root"));
    let pass = super::shell::account_value(o.get("slave_pass").unwrap_or(""));
    ConnSpec {
        host: Some(ip.trim_start_matches('[').trim_end_matches(']').to_string()),
        port: o.int("slave_port").and_then(|p| u16::try_from(p).ok()).or(Some(3306)),
        socket: None,
        user: Some(user),
        password: Some(Secret::new(pass)),
    }
}

fn mlf(o: &Opts, name: &str) -> Res<LogName> {
    let v = o.get(name).unwrap_or("");
    v.parse().map_err(|e: crate::log::name::BadLogName| Croak::new(format!("--{name}: {e}\n")))
}

enum Found {
    Start(RelayPos),
    HasAll,
}

/// MHA's `find_starting_relay_log`.
fn find_starting(o: &Opts, logs: &Logs) -> Res<Found> {
    if o.truthy("latest_mlf").is_none() {
        return Err(Croak::new("--latest_mlf (my latest master log file name) must be set.\n"));
    }
    if o.truthy("target_mlf").is_none() {
        return Err(Croak::new("--target_mlf (target master log file name) must be set.\n"));
    }
    if o.truthy("target_rmlp").is_none() {
        return Err(Croak::new("--target_rmlp (target master read log pos) must be set.\n"));
    }
    if o.truthy("latest_rmlp").is_none() {
        return Err(Croak::new("--latest_rmlp (latest master read log pos) must be set.\n"));
    }
    let server_id = o.int("server_id").filter(|&s| s != 0);
    let Some(server_id) = server_id else {
        return Err(Croak::new("--server_id (my server id) must be set.\n"));
    };
    let num = |n: &str| o.int(n).and_then(|v| u64::try_from(v).ok()).unwrap_or(0);
    let target = MasterPos::new(mlf(o, "target_mlf")?, num("target_rmlp"));
    let latest = MasterPos::new(mlf(o, "latest_mlf")?, num("latest_rmlp"));
    let opts = MapOptions { own_server_id: u32::try_from(server_id).ok(), ..MapOptions::default() };
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
            debug(o, &format!("mapping took {:.3} ms", t0.elapsed().as_secs_f64() * 1e3));
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
                o,
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

fn generate_and_send(c: &Ctx, send: bool) -> Res<()> {
    let o = &c.o;
    let (scp_user, scp_host) = (o.truthy("scp_user"), o.truthy("scp_host"));
    if send && (scp_user.is_none() || scp_host.is_none()) {
        return Err(Croak::new("ERROR: --scp_user and --scp_host must be set.\n"));
    }
    let diff = o
        .truthy("diff_file_readtolatest")
        .ok_or_else(|| Croak::new("ERROR: --diff_file_readtolatest=<Diff file name> must be set.\n"))?;
    let diff = PathBuf::from(diff);
    super::create_dir_if(&super::dirname(&diff.to_string_lossy()))?;
    super::drop_file_if(&diff)?;
    let logs = relay_logs(o)?;
    let start = match find_starting(o, &logs)? {
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
    let opts =
        CutOptions { own_server_id: o.int("server_id").and_then(|s| u32::try_from(s).ok()), ..CutOptions::default() };
    let cutres = cut(&logs.set, &Start::Relay(start), &diff, &opts)?;
    let num = |n: &str| o.int(n).and_then(|v| u64::try_from(v).ok()).unwrap_or(0);
    let latest = MasterPos::new(mlf(o, "latest_mlf")?, num("latest_rmlp"));
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
    let (user, host) = (scp_user.unwrap_or("root"), scp_host.unwrap_or(""));
    let port = o.int("scp_port").and_then(|p| u16::try_from(p).ok()).unwrap_or(22);
    let me = super::hostname();
    let me = if me.contains(':') { format!("[{me}]") } else { me };
    let mut log = |s: &str| out(&format!(" {s}\n"));
    match crate::remote::push_file(user, host, port, &c.ssh, &diff, &diff, &mut log) {
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
fn check(c: &Ctx) -> Res<()> {
    let o = &c.o;
    out("  Checking slave recovery environment settings..\n");
    let logs = relay_logs(o)?;
    out(&format!("    Temporary relay log file is {}/{}\n", show_dir(&logs.dir), logs.end()));
    let (host, ip) = slave_host(o)?;
    let spec = conn_spec(o, &ip);
    let port = spec.port.unwrap_or(3306);
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
    let lf = crate::log::LogFile::open(logs.end_path(), crate::log::Access::Read)?;
    let mut it = lf.events(crate::event::WalkOptions { verify_checksums: true });
    match it.next_step() {
        Ok(Some(crate::event::Step::Event(_))) | Ok(None) | Ok(Some(crate::event::Step::Incomplete(_))) => {}
        Err(e) => return Err(Croak::from(crate::Error::parse(Some(logs.end_path()), e))),
    }
    out(" done.\n");
    if let (Some(user), Some(shost)) = (o.truthy("scp_user"), o.truthy("scp_host")) {
        let sport = o.int("scp_port").and_then(|p| u16::try_from(p).ok()).unwrap_or(22);
        out(&format!("    Testing connecting to remote slave {shost}({sport}) via ssh.."));
        let mut log = |s: &str| out(&format!("\n    {s}"));
        let r = crate::remote::Remote::connect(user, shost, sport, &c.ssh, &mut log)
            .and_then(|r| r.exec("exit 0"))
            .map_err(|e| Croak::new(format!("ssh failed: {e}\n")))?;
        if r.status != 0 {
            return Err(Croak::new(format!("ssh failed with rc {}:0!\n", r.status)));
        }
        out(" done.\n\n");
    }
    Ok(())
}

/// MHA's `apply`: the files, in order, as one stream, on the target.
fn apply(c: &Ctx, host: &str, ip: &str) -> Res<()> {
    let o = &c.o;
    let files = o.truthy("apply_files").ok_or_else(|| Croak::new("ERROR: --apply_files must be set.\n"))?;
    let files: Vec<PathBuf> = files.split(',').filter(|f| !f.is_empty()).map(PathBuf::from).collect();
    if files.is_empty() {
        return Err(Croak::new("ERROR: --apply_files must be set.\n"));
    }
    for f in &files {
        if !f.is_file() {
            return Err(Croak::new(format!("ERROR: {} not found!\n", f.display())));
        }
    }
    if o.has("no_apply") {
        return Ok(());
    }
    let port = o.get("slave_port").unwrap_or("3306");
    let date = match o.truthy("timestamp") {
        Some(t) => t.to_string(),
        None => super::current_time().replace(['-', ' ', ':'], ""),
    };
    let workdir = PathBuf::from(o.get("workdir").unwrap_or("/var/tmp"));
    let err_log = workdir.join(format!("relay_log_apply_for_{host}_{port}_{date}_err.log"));
    let state = workdir.join(format!("relay_log_apply_for_{host}_{port}_{date}.apply-state"));
    let spec = conn_spec(o, ip);
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
        Croak { msg: format!("applying log files failed: {msg}\n"), code: EXIT_APPLY_FAILED }
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
        disable_log_bin: o.int("disable_log_bin").unwrap_or(0) != 0,
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
