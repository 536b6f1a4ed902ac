//! The failover driver's commands on MHA's `app.cnf` ([`crate::phase`]):
//! `failover`, `switch`, `monitor`, `ack`, `register-candidate`. Each reads
//! the configuration and turns its flags into the driver's options, then
//! makes one call; the exit codes are the failover's
//! ([`crate::phase::outcome`], through [`super::exit`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use clap::Args;

use super::exit::{DRIVER_OK, DRIVER_REFUSED, of_driver_error, of_failover};
use crate::error::Result;
use crate::phase::monitor::MonitorOptions;
use crate::phase::promote;
use crate::phase::switch::SwitchOptions;
use crate::phase::{AppConf, FailoverOptions};

/// `binlog-diff failover` arguments.
#[derive(Args, Debug)]
pub(super) struct FailoverArgs {
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
pub(super) struct RunArgs {
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

/// `binlog-diff monitor` arguments.
#[derive(Args, Debug)]
pub(super) struct MonitorArgs {
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

/// `binlog-diff switch` arguments.
#[derive(Args, Debug)]
pub(super) struct SwitchArgs {
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
    /// Refuse when a statement has run this many seconds on the master (MHA's running_updates_limit); a
    /// replica further behind (or with MASTER_DELAY) is not chosen as the new master.
    #[arg(long, default_value_t = 1)]
    running_updates_limit: u64,
    /// End the master's open transactions (KILL CONNECTION) just before the write lock; without it they
    /// refuse the switch, each named.
    #[arg(long)]
    kill_open_transactions: bool,
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

/// `binlog-diff register-candidate` arguments.
#[derive(Args, Debug)]
pub(super) struct RegisterArgs {
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

/// `binlog-diff ack` arguments.
#[derive(Args, Debug)]
pub(super) struct AckArgs {
    /// MHA application configuration.
    #[arg(long)]
    conf: PathBuf,
    /// MHA global configuration, read before `--conf`.
    #[arg(long)]
    global_conf: Option<PathBuf>,
}

/// A driver's command, resolved: the cluster's configuration (`--conf`,
/// after `--global-conf`) and the command's options.
#[derive(Debug)]
struct Resolved<O> {
    conf: AppConf,
    opts: O,
}

/// `HOST` or `HOST:PORT` (a part after the last `:` that is not a port
/// stays in the host).
fn host_port(s: &str) -> (String, Option<u16>) {
    match s.rsplit_once(':') {
        Some((h, p)) if p.parse::<u16>().is_ok() => (h.to_string(), p.parse().ok()),
        _ => (s.to_string(), None),
    }
}

impl RunArgs {
    fn options(self, dead_master_host: String, dead_master_port: Option<u16>) -> FailoverOptions {
        let a = self;
        FailoverOptions {
            dead_master_host,
            dead_master_port,
            new_master: a.new_master.as_deref().map(host_port),
            workdir: a.workdir,
            dry_run: a.dry_run,
            wait_timeout: Duration::from_secs(a.wait_timeout),
            parallel: a.parallel as usize,
            force: a.force,
            accept_loss: a.accept_loss,
            resume: a.resume,
            detect_wait: Duration::from_secs(a.detect_wait),
            mysql_timeout: Duration::from_secs(a.mysql_timeout),
            step_timeout: Duration::from_secs(a.step_timeout),
            hook_timeout: Duration::from_secs(a.hook_timeout),
            remote_binary: a.remote_binary,
            push_binary: a.push_binary,
            json: a.json,
            apply_on_latest: a.apply_from == "latest",
        }
    }
}

fn resolve_failover(a: FailoverArgs) -> Result<Resolved<FailoverOptions>> {
    let conf = AppConf::read(&a.conf, a.global_conf.as_deref())?;
    Ok(Resolved { conf, opts: a.run.options(a.dead_master_host, a.dead_master_port) })
}

fn resolve_switch(a: SwitchArgs) -> Result<Resolved<SwitchOptions>> {
    let conf = AppConf::read(&a.conf, a.global_conf.as_deref())?;
    let opts = SwitchOptions {
        new_master: a.new_master.as_deref().map(host_port),
        orig_master_is_new_slave: a.orig_master_is_new_slave,
        running_updates_limit: Duration::from_secs(a.running_updates_limit),
        kill_open_transactions: a.kill_open_transactions,
        wait_timeout: Duration::from_secs(a.wait_timeout),
        hook_timeout: Duration::from_secs(a.hook_timeout),
        dry_run: a.dry_run,
        json: a.json,
    };
    Ok(Resolved { conf, opts })
}

/// The ping interval is the flag's, else `app.cnf`'s `ping_interval` (at
/// least a second); at least one failed ping fails over.
fn resolve_monitor(a: MonitorArgs) -> Result<Resolved<MonitorOptions>> {
    let conf = AppConf::read(&a.conf, a.global_conf.as_deref())?;
    let opts = MonitorOptions {
        ping_interval: Some(Duration::from_secs(a.ping_interval.unwrap_or(conf.ping_interval.max(1)))),
        ping_failures: a.ping_failures.max(1),
        continue_after: a.continue_after,
        failover: a.run.options(String::new(), None),
    };
    Ok(Resolved { conf, opts })
}

/// A promotion rule to register: for which server, in which file.
#[derive(Debug, PartialEq, Eq)]
struct Registration {
    /// The rules file in the manager's workdir.
    file: PathBuf,
    /// The server's section name, and where it listens.
    name: String,
    hostname: String,
    port: u16,
    rule: promote::Rule,
    /// For how long, in seconds; `None`: until replaced.
    expire: Option<u64>,
}

fn resolve_register(a: RegisterArgs) -> Result<Registration> {
    let conf = AppConf::read(&a.conf, a.global_conf.as_deref())?;
    let (h, p) = host_port(&a.host);
    let s = conf.find(&h, p)?;
    Ok(Registration {
        file: promote::rules_file(&conf.manager_workdir),
        name: s.name.clone(),
        hostname: s.hostname.clone(),
        port: s.port,
        rule: promote::Rule::parse(&a.rule)?,
        expire: a.expire.as_deref().map(promote::parse_duration).transpose()?,
    })
}

/// The anti-flapping record `ack` removes.
fn resolve_ack(a: AckArgs) -> Result<PathBuf> {
    let conf = AppConf::read(&a.conf, a.global_conf.as_deref())?;
    Ok(promote::last_failover_file(&conf.manager_workdir))
}

/// The configuration read, then the log sent where it says (MHA's
/// manager_log); else the error, printed.
fn with_log<O>(r: Result<Resolved<O>>, what: &str) -> Option<Resolved<O>> {
    match r.and_then(|x| crate::phase::log_to(x.conf.manager_log.as_deref()).map(|()| x)) {
        Ok(x) => Some(x),
        Err(e) => {
            eprintln!("binlog-diff {what}: {e}");
            None
        }
    }
}

/// `failover`.
pub(super) fn run_failover(a: FailoverArgs) -> u8 {
    let Some(Resolved { conf, opts }) = with_log(resolve_failover(a), "failover") else { return DRIVER_REFUSED };
    match crate::phase::failover(&opts, &conf) {
        Ok(r) => of_failover(&r),
        Err(e) => {
            // Through the log: standard error, and MHA's manager_log.
            tracing::error!("binlog-diff failover: {e}");
            of_driver_error(&e)
        }
    }
}

/// `switch`.
pub(super) fn run_switch(a: SwitchArgs) -> u8 {
    let Some(Resolved { conf, opts }) = with_log(resolve_switch(a), "switch") else { return DRIVER_REFUSED };
    match crate::phase::switch::switch(&opts, &conf) {
        Ok(_) => DRIVER_OK,
        Err(e) => {
            tracing::error!("binlog-diff switch: {e}");
            of_driver_error(&e)
        }
    }
}

/// `monitor`: until SIGTERM or SIGINT, or a failover (with `--continue`, on).
pub(super) fn run_monitor(a: MonitorArgs) -> u8 {
    let Some(Resolved { conf, opts }) = with_log(resolve_monitor(a), "monitor") else { return DRIVER_REFUSED };
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        if let Err(e) = signal_hook::flag::register(sig, Arc::clone(&stop)) {
            eprintln!("binlog-diff monitor: cannot watch for signals: {e}");
            return DRIVER_REFUSED;
        }
    }
    match crate::phase::monitor::monitor(&opts, &conf, &stop) {
        Ok(crate::phase::monitor::Ended::FailedOver { exit, .. }) => exit,
        Ok(crate::phase::monitor::Ended::Stopped) => DRIVER_OK,
        Err(e) => {
            tracing::error!("binlog-diff monitor: {e}");
            of_driver_error(&e)
        }
    }
}

/// `register-candidate`.
pub(super) fn run_register(a: RegisterArgs) -> u8 {
    let r = resolve_register(a).and_then(|g| promote::register(&g.file, &g.name, g.rule, g.expire).map(|()| g));
    match r {
        Ok(g) => {
            let until = g.expire.map(|e| format!(" for {e} s")).unwrap_or_default();
            println!("{} ({}:{}): {}{until}, in {}", g.name, g.hostname, g.port, g.rule.name(), g.file.display());
            DRIVER_OK
        }
        Err(e) => {
            eprintln!("binlog-diff register-candidate: {e}");
            DRIVER_REFUSED
        }
    }
}

/// `ack`.
pub(super) fn run_ack(a: AckArgs) -> u8 {
    match resolve_ack(a).and_then(|f| crate::phase::flapping::acknowledge(&f)) {
        Ok(Some(record)) => {
            println!("acknowledged: {record}");
            DRIVER_OK
        }
        Ok(None) => {
            println!("no failover to acknowledge");
            DRIVER_OK
        }
        Err(e) => {
            eprintln!("binlog-diff ack: {e}");
            DRIVER_REFUSED
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Cli, Cmd};
    use super::*;
    use clap::Parser;

    /// A three-server `app.cnf` (and a global one) in a temp dir.
    struct Conf {
        dir: tempfile::TempDir,
    }

    impl Conf {
        fn new(app_extra: &str) -> Conf {
            let dir = tempfile::tempdir().unwrap();
            let work = dir.path().join("work");
            std::fs::write(
                dir.path().join("app.cnf"),
                format!(
                    "[server default]\nuser=root\npassword=secret\nmanager_workdir={}\n{app_extra}\n\
                     [server1]\nhostname=192.0.2.1\n\n\
                     [server2]\nhostname=192.0.2.2\nport=3307\ncandidate_master=1\n\n\
                     [server3]\nhostname=192.0.2.2\nport=3308\n",
                    work.display()
                ),
            )
            .unwrap();
            std::fs::write(dir.path().join("global.cnf"), "[server default]\nping_interval=9\n").unwrap();
            Conf { dir }
        }
        fn app(&self) -> String {
            self.dir.path().join("app.cnf").display().to_string()
        }
        fn global(&self) -> String {
            self.dir.path().join("global.cnf").display().to_string()
        }
        fn work(&self) -> PathBuf {
            self.dir.path().join("work")
        }
    }

    fn parse(args: &[&str]) -> std::result::Result<Cmd, clap::Error> {
        Cli::try_parse_from([&["binlog-diff"][..], args].concat()).map(|c| c.cmd)
    }

    fn failover(args: &[&str]) -> Result<Resolved<FailoverOptions>> {
        let Cmd::Failover(a) = parse(&[&["failover"][..], args].concat()).unwrap() else { panic!() };
        resolve_failover(a)
    }

    #[test]
    fn failover_defaults_are_the_drivers() {
        let c = Conf::new("");
        let r = failover(&["--conf", &c.app(), "--dead-master-host", "192.0.2.1"]).unwrap();
        assert_eq!(r.conf.servers.len(), 3);
        assert_eq!(r.conf.manager_workdir, c.work());
        let (o, d) = (r.opts, FailoverOptions::default());
        assert_eq!((o.dead_master_host.as_str(), o.dead_master_port), ("192.0.2.1", None));
        assert_eq!((o.new_master, o.workdir, o.json), (None, None, None));
        assert_eq!(
            (o.wait_timeout, o.detect_wait, o.mysql_timeout, o.step_timeout, o.hook_timeout),
            (d.wait_timeout, d.detect_wait, d.mysql_timeout, d.step_timeout, d.hook_timeout)
        );
        assert_eq!((o.parallel, o.remote_binary.as_str(), o.apply_on_latest), (0, "binlog-diff", true));
        assert!(!o.dry_run && !o.force && !o.accept_loss && !o.resume && !o.push_binary);
    }

    #[test]
    fn failover_flags() {
        let c = Conf::new("");
        let r = failover(&[
            "--conf",
            &c.app(),
            "--dead-master-host",
            "db1",
            "--dead-master-port",
            "3306",
            "--new-master",
            "192.0.2.2:3307",
            "--workdir",
            "/w",
            "--dry-run",
            "--wait-timeout",
            "5",
            "--parallel",
            "4",
            "--accept-loss",
            "--resume",
            "--detect-wait",
            "6",
            "--mysql-timeout",
            "7",
            "--step-timeout",
            "8",
            "--hook-timeout",
            "9",
            "--remote-binary",
            "/opt/bd",
            "--push-binary",
            "--apply-from",
            "here",
            "--json",
            "/r.json",
        ])
        .unwrap();
        let o = r.opts;
        assert_eq!((o.dead_master_host.as_str(), o.dead_master_port), ("db1", Some(3306)));
        assert_eq!(o.new_master, Some(("192.0.2.2".to_string(), Some(3307))));
        assert_eq!((o.workdir, o.json), (Some(PathBuf::from("/w")), Some(PathBuf::from("/r.json"))));
        let secs = Duration::from_secs;
        assert_eq!(
            (o.wait_timeout, o.detect_wait, o.mysql_timeout, o.step_timeout, o.hook_timeout),
            (secs(5), secs(6), secs(7), secs(8), secs(9))
        );
        assert_eq!((o.parallel, o.remote_binary.as_str(), o.apply_on_latest), (4, "/opt/bd", false));
        assert!(o.dry_run && o.accept_loss && o.resume && o.push_binary && !o.force);
    }

    #[test]
    fn new_master_host_and_port() {
        assert_eq!(host_port("db2"), ("db2".to_string(), None));
        assert_eq!(host_port("db2:3307"), ("db2".to_string(), Some(3307)));
        assert_eq!(host_port("db2:x"), ("db2:x".to_string(), None), "not a port: part of the host");
        assert_eq!(host_port("db2:70000"), ("db2:70000".to_string(), None));
    }

    #[test]
    fn failover_usage_and_configuration_errors() {
        use clap::error::ErrorKind as K;
        let c = Conf::new("");
        let app = c.app();
        for (args, kind) in [
            (&["failover", "--conf", &app][..], K::MissingRequiredArgument),
            (&["failover", "--dead-master-host", "h"], K::MissingRequiredArgument),
            (&["failover", "--conf", &app, "--dead-master-host", "h", "--apply-from", "there"], K::InvalidValue),
            (&["failover", "--conf", &app, "--dead-master-host", "h", "--parallel", "65"], K::ValueValidation),
            (&["failover", "--conf", &app, "--dead-master-host", "h", "--dead-master-port", "0x"], K::ValueValidation),
        ] {
            assert_eq!(parse(args).unwrap_err().kind(), kind, "{args:?}");
        }
        // An app.cnf that cannot be read, or is not one: refused before anything (exit 1).
        let missing = c.dir.path().join("nonexistent.cnf");
        let Cmd::Failover(a) =
            parse(&["failover", "--conf", missing.to_str().unwrap(), "--dead-master-host", "h"]).unwrap()
        else {
            panic!()
        };
        assert_eq!(run_failover(a), DRIVER_REFUSED);
        std::fs::write(c.dir.path().join("empty.cnf"), "[server default]\nuser=root\n").unwrap();
        let e = failover(&["--conf", c.dir.path().join("empty.cnf").to_str().unwrap(), "--dead-master-host", "h"])
            .unwrap_err();
        assert!(e.to_string().contains("no [serverN] section"), "{e}");
        assert_eq!(of_driver_error(&e), DRIVER_REFUSED);
    }

    #[test]
    fn switch_flags_and_defaults() {
        let c = Conf::new("");
        let switch = |args: &[&str]| {
            let Cmd::Switch(a) = parse(&[&["switch", "--conf", &c.app()][..], args].concat()).unwrap() else {
                panic!()
            };
            resolve_switch(a).unwrap()
        };
        let (o, d) = (switch(&[]).opts, SwitchOptions::default());
        assert_eq!(
            (o.new_master, o.running_updates_limit, o.wait_timeout, o.hook_timeout, o.json),
            (None, d.running_updates_limit, d.wait_timeout, d.hook_timeout, None)
        );
        assert!(!o.dry_run && !o.orig_master_is_new_slave && !o.kill_open_transactions);
        let r = switch(&[
            "--new-master",
            "192.0.2.2:3308",
            "--orig-master-is-new-slave",
            "--kill-open-transactions",
            "--running-updates-limit",
            "3",
            "--wait-timeout",
            "4",
            "--step-timeout",
            "5",
            "--dry-run",
            "--json",
            "/s.json",
        ]);
        assert_eq!(r.conf.servers[2].port, 3308);
        let o = r.opts;
        assert_eq!(o.new_master, Some(("192.0.2.2".to_string(), Some(3308))));
        let secs = Duration::from_secs;
        assert_eq!((o.running_updates_limit, o.wait_timeout, o.hook_timeout), (secs(3), secs(4), secs(5)));
        assert!(o.dry_run && o.orig_master_is_new_slave && o.kill_open_transactions);
        assert_eq!(o.json, Some(PathBuf::from("/s.json")));
        assert_eq!(switch(&["--hook-timeout", "6"]).opts.hook_timeout, secs(6));
    }

    #[test]
    fn monitor_takes_the_ping_interval_from_app_cnf() {
        let monitor = |c: &Conf, args: &[&str]| {
            let Cmd::Monitor(a) = parse(&[&["monitor", "--conf", &c.app()][..], args].concat()).unwrap() else {
                panic!()
            };
            resolve_monitor(a).unwrap().opts
        };
        let secs = |s| Some(Duration::from_secs(s));
        // MHA's default, app.cnf's, the global's under app.cnf's, the flag over both.
        let plain = Conf::new("");
        assert_eq!(monitor(&plain, &[]).ping_interval, secs(3));
        let own = Conf::new("ping_interval=5");
        assert_eq!(monitor(&own, &[]).ping_interval, secs(5));
        assert_eq!(monitor(&plain, &["--global-conf", &plain.global()]).ping_interval, secs(9));
        assert_eq!(monitor(&own, &["--global-conf", &own.global()]).ping_interval, secs(5));
        assert_eq!(monitor(&own, &["--ping-interval", "2"]).ping_interval, secs(2));
        assert_eq!(monitor(&Conf::new("ping_interval=0"), &[]).ping_interval, secs(1));
        let o = monitor(&plain, &["--ping-failures", "0", "--continue", "--accept-loss", "--new-master", "192.0.2.2"]);
        assert_eq!((o.ping_failures, o.continue_after), (1, true));
        assert_eq!(o.failover.new_master, Some(("192.0.2.2".to_string(), None)));
        assert!(o.failover.accept_loss && o.failover.dead_master_host.is_empty());
        let o = monitor(&plain, &[]);
        assert_eq!((o.ping_failures, o.continue_after), (3, false));
        let e = Conf::new("ping_interval=often");
        let Cmd::Monitor(a) = parse(&["monitor", "--conf", &e.app()]).unwrap() else { panic!() };
        assert!(resolve_monitor(a).unwrap_err().to_string().contains("ping_interval: "));
    }

    #[test]
    fn register_candidate_finds_the_server() {
        let c = Conf::new("");
        let register = |args: &[&str]| {
            let Cmd::RegisterCandidate(a) =
                parse(&[&["register-candidate", "--conf", &c.app()][..], args].concat()).unwrap()
            else {
                panic!()
            };
            resolve_register(a)
        };
        let g = register(&["192.0.2.2:3308", "--rule", "prefer", "--expire", "1h"]).unwrap();
        assert_eq!(
            g,
            Registration {
                file: promote::rules_file(&c.work()),
                name: "server3".into(),
                hostname: "192.0.2.2".into(),
                port: 3308,
                rule: promote::Rule::Prefer,
                expire: Some(3600),
            }
        );
        let g = register(&["192.0.2.1", "--rule", "must_not"]).unwrap();
        assert_eq!((g.name.as_str(), g.rule, g.expire), ("server1", promote::Rule::MustNot, None));
        let e = register(&["192.0.2.2", "--rule", "prefer"]).unwrap_err();
        assert!(e.to_string().contains("several servers match"), "{e}");
        let e = register(&["192.0.2.9", "--rule", "prefer"]).unwrap_err();
        assert!(e.to_string().contains("no server 192.0.2.9"), "{e}");
        let e = register(&["192.0.2.1", "--rule", "prefer", "--expire", "soon"]).unwrap_err();
        assert!(e.to_string().contains("duration"), "{e}");
        let e = parse(&["register-candidate", "--conf", &c.app(), "192.0.2.1", "--rule", "always"]).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::InvalidValue);
        let e = parse(&["register-candidate", "--conf", &c.app(), "--rule", "prefer"]).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::MissingRequiredArgument);
    }

    #[test]
    fn ack_removes_the_last_failover_record() {
        let c = Conf::new("");
        let Cmd::Ack(a) = parse(&["ack", "--conf", &c.app()]).unwrap() else { panic!() };
        let file = resolve_ack(a).unwrap();
        assert_eq!(file, promote::last_failover_file(&c.work()));
        assert_eq!(crate::phase::flapping::acknowledge(&file).unwrap(), None);
        promote::record_failover(&file, "server1", "server2").unwrap();
        let said = crate::phase::flapping::acknowledge(&file).unwrap().unwrap();
        assert!(said.contains("\"dead_master\":\"server1\""), "{said}");
        assert!(!file.exists());
        assert_eq!(crate::phase::flapping::acknowledge(&file).unwrap(), None);
    }
}
