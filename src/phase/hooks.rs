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

use std::time::Duration;

use super::config::ServerConf;
use crate::remote::{Host, sh_quote};

/// What a hook run said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HookExit {
    /// Exit 0.
    Ok,
    /// Exit 10 (meaning depends on the hook).
    Ten,
    /// Anything else, with what it printed.
    Failed(String),
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

/// Runs `script args…` through `sh -c` on this host, within `timeout`.
pub fn run(script: &str, args: &[String], timeout: Duration) -> HookExit {
    let mut line = script.to_string();
    for a in args {
        line.push(' ');
        line.push_str(&sh_quote(a));
    }
    match Host::Local.run("hook", &["sh".into(), "-c".into(), line], b"", timeout) {
        Ok(o) if o.status == 0 => HookExit::Ok,
        Ok(o) if o.status == 10 => HookExit::Ten,
        Ok(o) => HookExit::Failed(format!("exit {}: {}{}", o.status, o.stdout.trim(), o.stderr.trim())),
        Err(e) => HookExit::Failed(e.to_string()),
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

    #[test]
    fn exit_meanings() {
        let t = Duration::from_secs(10);
        assert_eq!(run("true", &[], t), HookExit::Ok);
        assert_eq!(run("exit 10; :", &[], t), HookExit::Ten);
        assert!(
            matches!(run("echo no; exit 3; :", &["--a=b c".into()], t), HookExit::Failed(m) if m.contains("exit 3"))
        );
    }
}
