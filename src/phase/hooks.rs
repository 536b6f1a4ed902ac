//! MHA 0.58's hook scripts, called with its exact arguments and read with
//! its exit-code meanings (`MasterFailover.pm`):
//!
//! | script | when | arguments | exit |
//! |---|---|---|---|
//! | `master_ip_failover_script` | phase 2 | `--orig_master_host= --orig_master_ip= --orig_master_port= --command=stopssh --ssh_user=` (host answers ssh) or `--command=stop` | 0 done; 10 warned, go on; else abort |
//! | `shutdown_script` | phase 2 | `--command=stopssh --ssh_user=` or `--command=stop`, `--host= --ip= --port=` `[--pid_file=]` | 0 powered off (ssh gone); 10 ssh reachable, mysqld stopped; else abort |
//! | `master_ip_failover_script` | after the new master's apply | `--command=start --ssh_user= --orig_master_host= --orig_master_ip= --orig_master_port= --new_master_host= --new_master_ip= --new_master_port= --new_master_user= --new_master_password=` | 0 done; 10 warned, go on; else abort |
//! | `report_script` | the end | `--orig_master_host= [--new_master_host= --new_slave_hosts=] --conf= --subject= --body=` | logged only |
//!
//! As in MHA, `--ssh_host=`/`--ssh_ip=` (prefixed `orig_master_`,
//! `new_master_` or bare for the shutdown script) follow when they differ
//! from hostname/ip, and `--ssh_port=` when it is not 22. The script
//! setting is a shell command (it may carry its own arguments); ours are
//! appended, each quoted. The new master's password is passed only to the
//! start command, as MHA does (its scripts read it), and never logged.
//!
//! # Time and processes
//!
//! MHA waits for a hook without limit; here each runs within `--hook-timeout`
//! (default [`DEFAULT_TIMEOUT`]), in a process group of its own
//! ([`crate::remote::host::run_local_group`]). A hook has finished when its
//! main process (`sh -c …`) has exited; its output is read for at most
//! [`OUTPUT_GRACE`](crate::remote::host::OUTPUT_GRACE) more, so a child it
//! left in the background holding its stdout (`cmd &`, `ssh -f`) neither
//! hangs the run nor is killed: its pids are logged and it keeps running.
//! A hook still running at its timeout is killed with its whole group
//! (SIGTERM, then SIGKILL), and fails: the error names the script, the
//! timeout and the pids killed. (Being in its own group, a hook does not get
//! the terminal's Ctrl-C; the run's own handling decides.) What a hook
//! printed (standard output, then standard error) goes to the driver's log,
//! indented under the line that ran it, as MHA's manager logs it.

use std::time::Duration;

use super::config::ServerConf;
use crate::error::{Error, ErrorKind};
use crate::remote::host::run_local_group;
use crate::remote::sh_quote;

/// What a hook run said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HookExit {
    /// Exit 0.
    Ok,
    /// Exit 10 (meaning depends on the hook).
    Ten,
    /// Anything else: its exit code (`None`: killed, or it could not run)
    /// and what it printed, or why it did not finish.
    Failed {
        /// The exit code.
        code: Option<i32>,
        /// Its output, or why.
        why: String,
    },
}

impl HookExit {
    /// A failed hook as an error ([`ErrorKind::Hook`]) naming `what` (the
    /// hook's app.cnf key and command, not its arguments: they may hold
    /// passwords). `None` unless it failed.
    pub fn error(&self, what: &str) -> Option<Error> {
        match self {
            HookExit::Failed { code, why } => {
                Some(Error::new(ErrorKind::Hook { script: what.to_string(), code: *code, why: why.clone() }))
            }
            _ => None,
        }
    }
}

fn ssh_args(s: &ServerConf, head: &str) -> Vec<String> {
    let mut a = Vec::new();
    if s.ssh_host != s.hostname {
        a.push(format!("--{head}ssh_host={}", s.ssh_host));
        a.push(format!("--{head}ssh_ip={}", s.ssh_host));
    }
    if s.ssh_port != 22 {
        a.push(format!("--{head}ssh_port={}", s.ssh_port));
    }
    a
}

/// `master_ip_failover_script --command=stop|stopssh` for the dead master.
pub fn ip_stop_args(dead: &ServerConf, ssh_reachable: bool) -> Vec<String> {
    let mut a = vec![
        format!("--orig_master_host={}", dead.hostname),
        format!("--orig_master_ip={}", dead.ip),
        format!("--orig_master_port={}", dead.port),
    ];
    if ssh_reachable {
        a.push("--command=stopssh".into());
        a.push(format!("--ssh_user={}", dead.ssh_user));
    } else {
        a.push("--command=stop".into());
    }
    a.extend(ssh_args(dead, "orig_master_"));
    a
}

/// `shutdown_script` for the dead master.
pub fn shutdown_args(dead: &ServerConf, ssh_reachable: bool) -> Vec<String> {
    let mut a = if ssh_reachable {
        vec!["--command=stopssh".to_string(), format!("--ssh_user={}", dead.ssh_user)]
    } else {
        vec!["--command=stop".to_string()]
    };
    a.push(format!("--host={}", dead.hostname));
    a.push(format!("--ip={}", dead.ip));
    a.push(format!("--port={}", dead.port));
    if let Some(p) = &dead.master_pid_file {
        a.push(format!("--pid_file={p}"));
    }
    a.extend(ssh_args(dead, ""));
    a
}

/// `master_ip_failover_script --command=start` for the new master; the
/// password comes last, so [`shown`] can leave it out.
pub fn ip_start_args(dead: &ServerConf, new: &ServerConf, dead_ssh_reachable: bool) -> Vec<String> {
    let mut a = vec![
        "--command=start".to_string(),
        format!("--ssh_user={}", new.ssh_user),
        format!("--orig_master_host={}", dead.hostname),
        format!("--orig_master_ip={}", dead.ip),
        format!("--orig_master_port={}", dead.port),
        format!("--new_master_host={}", new.hostname),
        format!("--new_master_ip={}", new.ip),
        format!("--new_master_port={}", new.port),
        format!("--new_master_user={}", new.user),
    ];
    if dead_ssh_reachable {
        a.extend(ssh_args(dead, "orig_master_"));
    }
    a.extend(ssh_args(new, "new_master_"));
    a.push(format!("--new_master_password={}", new.password.as_ref().map(|p| p.expose()).unwrap_or("")));
    a
}

/// `master_ip_online_change_script --command=stop|start` (`switch`), as
/// MHA 0.58's `MasterRotate.pm` calls it; both passwords come last, so
/// [`shown`] can leave them out.
pub fn online_change_args(command: &str, orig: &ServerConf, new: &ServerConf, orig_is_new_slave: bool) -> Vec<String> {
    let mut a = vec![
        format!("--command={command}"),
        format!("--orig_master_host={}", orig.hostname),
        format!("--orig_master_ip={}", orig.ip),
        format!("--orig_master_port={}", orig.port),
        format!("--orig_master_user={}", orig.user),
        format!("--new_master_host={}", new.hostname),
        format!("--new_master_ip={}", new.ip),
        format!("--new_master_port={}", new.port),
        format!("--new_master_user={}", new.user),
        format!("--orig_master_ssh_user={}", orig.ssh_user),
        format!("--new_master_ssh_user={}", new.ssh_user),
    ];
    a.extend(ssh_args(orig, "orig_master_"));
    a.extend(ssh_args(new, "new_master_"));
    if orig_is_new_slave {
        a.push("--orig_master_is_new_slave".into());
    }
    a.push(format!("--orig_master_password={}", orig.password.as_ref().map(|p| p.expose()).unwrap_or("")));
    a.push(format!("--new_master_password={}", new.password.as_ref().map(|p| p.expose()).unwrap_or("")));
    a
}

/// `report_script`.
pub fn report_args(
    dead: &ServerConf,
    new: Option<(&ServerConf, &[String])>,
    conf: &std::path::Path,
    subject: &str,
    body: &str,
) -> Vec<String> {
    let mut a = vec![format!("--orig_master_host={}", dead.hostname)];
    if let Some((n, slaves)) = new {
        a.push(format!("--new_master_host={}", n.hostname));
        a.push(format!("--new_slave_hosts={}", slaves.join(",")));
    }
    a.push(format!("--conf={}", conf.display()));
    a.push(format!("--subject={subject}"));
    a.push(format!("--body={body}"));
    a
}

/// The command line as logged: a `--new_master_password=` argument shown as `xxx` (as MHA logs it).
pub fn shown(script: &str, args: &[String]) -> String {
    let mut s = script.to_string();
    for a in args {
        s.push(' ');
        if let Some(k) = ["--new_master_password=", "--orig_master_password="].iter().find(|k| a.starts_with(**k)) {
            s.push_str(k);
            s.push_str("xxx");
        } else {
            s.push_str(&sh_quote(a));
        }
    }
    s
}

/// The default `--hook-timeout`: MHA has none. Three minutes covers what
/// MHA's sample scripts do when a host is gone, one `ssh` to it (Linux gives
/// up a connect to a silent address after about 127 s of SYN retries) and a
/// power-off through IPMI, while a hook that never ends costs the run three
/// minutes, not the rest of the failover.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(180);

/// [`run`], with a failure as an error ([`ErrorKind::Hook`]) naming `what`.
///
/// # Errors
/// The hook failed, timed out, or could not run.
pub fn run_as(what: &str, script: &str, args: &[String], timeout: Duration) -> crate::error::Result<HookExit> {
    let r = run(script, args, timeout);
    match r.error(what) {
        Some(e) => Err(e),
        None => Ok(r),
    }
}

/// Runs `script args…` through `sh -c` on this host in a process group of
/// its own, within `timeout` (see the module doc: what is killed, what is
/// left running). Leftover background processes are logged.
pub fn run(script: &str, args: &[String], timeout: Duration) -> HookExit {
    // The operator's script makes the operator's files: with their umask,
    // not our private one.
    let mut line = format!("umask {:03o}; {script}", crate::log::modes::user_umask());
    for a in args {
        line.push(' ');
        line.push_str(&sh_quote(a));
    }
    // The step names the script only: its arguments may hold passwords.
    match run_local_group(&format!("hook {script}"), &["sh".into(), "-c".into(), line], b"", timeout) {
        Ok(r) => {
            if !r.left.is_empty() {
                let pids: Vec<String> = r.left.iter().map(u32::to_string).collect();
                tracing::warn!(
                    "  hook {script} exited {}, leaving processes {} of its group {} running (not waited for)",
                    r.output.status,
                    pids.join(" "),
                    r.pgid
                );
            }
            let o = r.output;
            // What the hook said goes to the driver's log, as MHA's manager
            // logs its hooks' output (a password in it is hidden).
            for l in o.stdout.lines().chain(o.stderr.lines()).filter(|l| !l.trim().is_empty()) {
                tracing::info!("    {}", crate::secret::redact(l));
            }
            match o.status {
                0 => HookExit::Ok,
                10 => HookExit::Ten,
                n => HookExit::Failed { code: Some(n), why: format!("{}{}", o.stdout.trim(), o.stderr.trim()) },
            }
        }
        Err(e) => HookExit::Failed { code: None, why: e.to_string() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::Secret;

    fn conf(name: &str, host: &str) -> ServerConf {
        ServerConf {
            name: name.into(),
            hostname: host.into(),
            ip: host.into(),
            port: 3306,
            user: "admin".into(),
            password: Some(Secret::new("s3cret")),
            repl_user: "repl".into(),
            repl_password: None,
            master_binlog_dir: vec![],
            candidate_master: false,
            no_master: false,
            ignore_fail: false,
            ssh_user: "root".into(),
            ssh_host: host.into(),
            ssh_port: 22,
            ssh_options: String::new(),
            ssh_connection_timeout: 5,
            remote_workdir: "/var/tmp".into(),
            master_pid_file: Some("/run/mysqld.pid".into()),
            master_ip_failover_script: None,
            master_ip_online_change_script: None,
            shutdown_script: None,
            report_script: None,
            secondary_check_script: None,
        }
    }

    #[test]
    fn mha_arguments() {
        let d = conf("server1", "db1");
        let mut n = conf("server2", "db2");
        n.ssh_port = 2222;
        assert_eq!(
            ip_stop_args(&d, true),
            [
                "--orig_master_host=db1",
                "--orig_master_ip=db1",
                "--orig_master_port=3306",
                "--command=stopssh",
                "--ssh_user=root"
            ]
        );
        assert_eq!(ip_stop_args(&d, false)[3], "--command=stop");
        assert_eq!(
            shutdown_args(&d, false),
            ["--command=stop", "--host=db1", "--ip=db1", "--port=3306", "--pid_file=/run/mysqld.pid"]
        );
        let s = ip_start_args(&d, &n, false);
        assert_eq!(s[0], "--command=start");
        assert!(s.contains(&"--new_master_ssh_port=2222".to_string()));
        assert_eq!(s.last().unwrap(), "--new_master_password=s3cret");
        let shown = shown("/x/ip.sh", &s);
        assert!(!shown.contains("s3cret") && shown.contains("--new_master_password=xxx"), "{shown}");
    }

    #[test]
    fn online_change_as_mha_calls_it() {
        let (o, n) = (conf("server1", "db1"), conf("server2", "db2"));
        let a = online_change_args("stop", &o, &n, true);
        assert_eq!(
            a[..11].join(" "),
            "--command=stop --orig_master_host=db1 --orig_master_ip=db1 --orig_master_port=3306 \
             --orig_master_user=admin --new_master_host=db2 --new_master_ip=db2 --new_master_port=3306 \
             --new_master_user=admin --orig_master_ssh_user=root --new_master_ssh_user=root"
        );
        assert_eq!(a[11], "--orig_master_is_new_slave");
        assert_eq!(a[12..], ["--orig_master_password=s3cret".to_string(), "--new_master_password=s3cret".into()]);
        let shown = shown("/bin/hook", &a);
        assert!(!shown.contains("s3cret") && shown.ends_with("--orig_master_password=xxx --new_master_password=xxx"));
    }

    fn alive(pid: u32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|s| s.rfind(')').is_some_and(|i| !s[i + 1..].trim_start().starts_with('Z')))
    }

    /// `run` in a thread, bounded by the test: a hang fails, it does not hang.
    fn run_bounded(script: String, timeout: Duration) -> (HookExit, Duration) {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let t0 = std::time::Instant::now();
            let r = run(&script, &[], timeout);
            let _ = tx.send((r, t0.elapsed()));
        });
        rx.recv_timeout(Duration::from_secs(30)).expect("the hook run returned within 30 s")
    }

    fn pids_in(f: &std::path::Path) -> Vec<u32> {
        std::fs::read_to_string(f).unwrap_or_default().split_whitespace().map(|p| p.parse().unwrap()).collect()
    }

    /// A hook still running at its timeout is killed with every process of
    /// its group (here `sh` and its `sleep`), and the error says so.
    #[test]
    fn a_hook_past_its_timeout_is_killed_with_its_group() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("pids");
        let script = format!("echo $$ >> {0}; sleep 300 & echo $! >> {0}; wait", f.display());
        let (r, took) = run_bounded(script, Duration::from_secs(1));
        let HookExit::Failed { why: m, .. } = r else { panic!("{r:?}") };
        assert!(m.contains("hook echo $$") && m.contains("within 1s") && m.contains("killed its process group"), "{m}");
        assert!(took < Duration::from_secs(10), "{took:?}");
        let pids = pids_in(&f);
        assert_eq!(pids.len(), 2, "{pids:?}");
        let t0 = std::time::Instant::now();
        while pids.iter().any(|&p| alive(p)) && t0.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let left: Vec<_> = pids.iter().filter(|&&p| alive(p)).collect();
        assert!(left.is_empty(), "still running: {left:?} ({m})");
    }

    /// A hook that leaves a child in the background holding its stdout and
    /// exits 0 has finished: no hang, exit 0; the child is left running.
    #[test]
    fn a_hook_leaving_a_background_child_does_not_hang() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("pids");
        let script = format!("sleep 300 & echo $! > {}; echo started; exit 0", f.display());
        let (tx, rx) = std::sync::mpsc::channel();
        let s2 = script.clone();
        std::thread::spawn(move || {
            let _ = tx.send(run(&s2, &[], Duration::from_secs(60)));
        });
        let r = rx.recv_timeout(Duration::from_secs(30));
        let pids = pids_in(&f);
        let child_alive = pids.iter().all(|&p| alive(p));
        for &p in &pids {
            // SAFETY: our own test's child, by pid.
            unsafe { libc::kill(p as libc::pid_t, libc::SIGKILL) };
        }
        assert_eq!(r.expect("the hook run returned within 30 s"), HookExit::Ok);
        assert!(pids.len() == 1 && child_alive, "the background child is left running: {pids:?}");
    }

    #[test]
    fn exit_meanings() {
        let t = Duration::from_secs(10);
        assert_eq!(run("true", &[], t), HookExit::Ok);
        assert_eq!(run("exit 10; :", &[], t), HookExit::Ten);
        assert!(
            matches!(run("echo no; exit 3; :", &["--a=b c".into()], t), HookExit::Failed { code: Some(3), why } if why.contains("no"))
        );
    }
}
