//! Host keys against a real sshd on loopback (issue 21):
//!
//! - `a_revoked_key_is_refused_under_every_policy`: a `@revoked` line
//!   holding the host's key refuses the connection under
//!   `StrictHostKeyChecking=yes`, `accept-new` and `no`, even beside a line
//!   that matches; the error names the file and the line.
//! - `accept_new_records_the_key_and_the_next_connect_matches`: on a
//!   missing known_hosts, `accept-new` connects, says so, and writes the key
//!   (`[host]:port type key`, file 0600, folder 0700); the next connection
//!   matches it without a word, even under `yes`.
//! - `an_unverified_host_never_gets_the_password`: a host whose key was let
//!   in only by `StrictHostKeyChecking=no` (changed, or new) gets no node
//!   apply carrying a password (refused before anything runs there, naming
//!   the host and the fix), while password-free commands work; a verified
//!   host gets the same request.
//! - `a_failover_keeps_the_password_from_an_unverified_latest_host`
//!   (network namespaces, one failover): the latest replica's host is let
//!   in only by `StrictHostKeyChecking=no` (a changed key): its relay diff
//!   for the other replica is fetched and applied from the driver, the
//!   password never sent there, and nothing is lost.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use binlog_diff::error::ErrorKind;
use binlog_diff::node::{ApplyRequest, ApplyTarget, Node};
use binlog_diff::remote::{Host, SshOptions};
use support::sshd::{Sshd, public_key, whoami};

/// Connects with `StrictHostKeyChecking=policy` and `known_hosts`; the log
/// lines it wrote.
fn connect(sshd: &Sshd, known_hosts: &Path, policy: &str) -> (binlog_diff::Result<Host>, Vec<String>) {
    let opts = SshOptions::parse(&format!(
        "-i {} -o UserKnownHostsFile={} -o StrictHostKeyChecking={policy}",
        sshd.key().display(),
        known_hosts.display()
    ));
    let mut said = Vec::new();
    let h = Host::ssh(
        &whoami(),
        "127.0.0.1",
        sshd.port,
        &opts,
        Duration::from_secs(5),
        Duration::from_secs(30),
        &mut |m| said.push(m.to_string()),
    );
    (h, said)
}

/// `type key` of the sshd's host key.
fn host_key(sshd: &Sshd) -> String {
    public_key(&sshd.dir.path().join("ssh_host_ed25519_key.pub"))
}

#[test]
fn a_revoked_key_is_refused_under_every_policy() {
    let dir = tempfile::tempdir().unwrap();
    let Some(sshd) = Sshd::start(dir.path()) else { return };
    let kh = dir.path().join("revoking_known_hosts");
    let good = std::fs::read_to_string(sshd.known_hosts()).unwrap();
    std::fs::write(&kh, format!("{good}@revoked * {}\n", host_key(&sshd))).unwrap();
    for policy in ["yes", "accept-new", "no"] {
        let (h, _) = connect(&sshd, &kh, policy);
        let e = h.err().unwrap_or_else(|| panic!("connected under {policy} to a host with a revoked key")).to_string();
        assert!(e.contains("REVOKED") && e.contains(&format!("{} line 2", kh.display())), "{policy}: {e}");
    }
}

#[test]
fn accept_new_records_the_key_and_the_next_connect_matches() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let Some(sshd) = Sshd::start(dir.path()) else { return };
    let kh = dir.path().join("home/.ssh/known_hosts");
    let (h, said) = connect(&sshd, &kh, "accept-new");
    let h = h.unwrap();
    assert!(h.key_verified(), "accept-new trusts on first use");
    let added = said.iter().find(|l| l.contains("Permanently added")).unwrap_or_else(|| panic!("{said:?}"));
    assert!(added.contains(&kh.display().to_string()), "{added}");
    let text = std::fs::read_to_string(&kh).unwrap();
    assert_eq!(text, format!("[127.0.0.1]:{} {}\n", sshd.port, host_key(&sshd)));
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!((mode(&kh), mode(kh.parent().unwrap())), (0o600, 0o700));
    drop(h);
    for policy in ["accept-new", "yes"] {
        let (h, said) = connect(&sshd, &kh, policy);
        assert!(h.unwrap().key_verified(), "{policy}");
        assert!(said.is_empty(), "{policy}: a known key, nothing to say: {said:?}");
    }
    assert_eq!(std::fs::read_to_string(&kh).unwrap(), text, "recorded once");
}

/// A stand-in for our binary on the host: keeps what its standard input
/// got in `got`, then fails.
fn recorder(dir: &Path) -> (String, std::path::PathBuf) {
    let got = dir.join("request-received");
    let script = dir.join("fake-node");
    std::fs::write(&script, format!("#!/bin/sh\ncat > {}\nexit 3\n", got.display())).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    (script.display().to_string(), got)
}

fn apply_with_password(h: &Host, bin: &str) -> binlog_diff::Result<binlog_diff::node::ApplyReply> {
    let req = ApplyRequest {
        targets: vec![ApplyTarget {
            name: "server2".into(),
            host: "127.0.0.1".into(),
            port: 1,
            file: "/nonexistent/diff".into(),
        }],
        user: "root".into(),
        password: Some("s3cret-21".into()),
        parallel: 1,
        mysql_timeout_secs: 5,
        deadline_secs: 5,
        resume: false,
    };
    Node { host: h, bin, timeout: Duration::from_secs(20) }.apply(req, &[Arc::default()])
}

#[test]
fn an_unverified_host_never_gets_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let Some(sshd) = Sshd::start(dir.path()) else { return };
    let (fake, got) = recorder(dir.path());
    let ours = env!("CARGO_BIN_EXE_binlog-diff");
    let changed = dir.path().join("changed_known_hosts");
    // Another ed25519 key for this host.
    let other = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBERERERERERERERERERERERERERERERERERERERERER";
    std::fs::write(&changed, format!("[127.0.0.1]:{} {other}\n", sshd.port)).unwrap();
    let fresh = dir.path().join("fresh_known_hosts");
    for (kh, why) in [(&changed, "does NOT match"), (&fresh, "not verified")] {
        let (h, said) = connect(&sshd, kh, "no");
        let h = h.unwrap();
        assert!(said.iter().any(|l| l.contains(why) && l.contains("UNVERIFIED")), "{said:?}");
        assert!(!h.key_verified());
        let e = apply_with_password(&h, &fake).expect_err("refused");
        let msg = e.to_string();
        eprintln!("{msg}");
        assert!(matches!(e.kind(), ErrorKind::Refused(_)), "{msg}");
        assert!(msg.contains(&format!("127.0.0.1:{}", sshd.port)) && msg.contains("password"), "{msg}");
        assert!(msg.contains("StrictHostKeyChecking=accept-new"), "the fix: {msg}");
        assert!(!got.exists(), "nothing ran on the host, no request was sent");
        // What needs no password works.
        let o = h.run("t", &["true".to_string()], b"", Duration::from_secs(10)).unwrap();
        assert_eq!(o.status, 0);
        assert_eq!(h.node(ours, None, Duration::from_secs(20)).unwrap(), ours, "the version check");
    }
    // `no` recorded the new key, as OpenSSH does: the next connection matches it.
    let (h, said) = connect(&sshd, &fresh, "no");
    assert!(h.unwrap().key_verified() && said.is_empty(), "{said:?}");
    // A verified host gets the request, password and all.
    let (h, _) = connect(&sshd, &sshd.known_hosts(), "no");
    let h = h.unwrap();
    assert!(h.key_verified());
    let e = apply_with_password(&h, &fake).expect_err("the stand-in fails").to_string();
    assert!(e.contains("exit 3"), "{e}");
    assert!(std::fs::read_to_string(&got).unwrap().contains("s3cret-21"), "the request reached the host");
}

#[test]
fn a_failover_keeps_the_password_from_an_unverified_latest_host() {
    use support::drive::{hidden_failover, kill_master_as_a_crash};
    use support::topology::{MASTER, Stop, Topology, TopologyConfig};
    if !support::netns::usable() {
        return;
    }
    // Our binary on the hosts' PATH (pushing a debug build costs half a minute).
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_binlog-diff")).parent().unwrap().to_path_buf();
    let topo = Topology::start(TopologyConfig {
        replicas: 2,
        max_binlog_size: 16 << 10,
        netns: true,
        ssh_path: vec![bin_dir],
        ..Default::default()
    });
    let work = tempfile::tempdir().unwrap();
    // Replica 1 (server2) will be the latest: its host is known by another key.
    let changed = work.path().join("changed_known_hosts");
    let other = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBERERERERERERERERERERERERERERERERERERERERER";
    std::fs::write(&changed, format!("{} {other}\n", topo.host_ip(1))).unwrap();
    let unverified = topo
        .ssh_args()
        .iter()
        .map(|a| match a.split_once('=') {
            Some(("UserKnownHostsFile", _)) => format!("UserKnownHostsFile={}", changed.display()),
            Some(("StrictHostKeyChecking", _)) => "StrictHostKeyChecking=no".into(),
            _ => a.clone(),
        })
        .collect::<Vec<_>>()
        .join(" ");
    let conf = topo.app_cnf(work.path(), "", &|s| {
        if s == 1 { format!("ssh_options={unverified}\n") } else { String::new() }
    });
    let mut w = topo.workload(21);
    topo.run_with_stops(&mut w, &[20, 15, 10], &[Stop::After(1), Stop::After(0)], |_, _| {});
    let (want_seq, want_sum) = (topo.committed_seq(MASTER), topo.checksum_tables(MASTER, "bd"));
    kill_master_as_a_crash(&topo);
    let nm = format!("--new-master={}:3306", topo.host_ip(1));
    let (code, out) = hidden_failover(&topo, &conf, &[&nm]);
    eprintln!("{out}");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("does NOT match") && out.contains("UNVERIFIED"), "{out}");
    assert!(out.contains("refused to send the MySQL password there"), "{out}");
    assert!(!out.contains("straight to each replica"), "{out}");
    let line = out.lines().find(|l| l.starts_with("  server3(") && l.contains("applied")).unwrap_or("");
    assert!(line.contains("its diff fetched in"), "server3 applied from here: {out}");
    for r in topo.replicas() {
        assert_eq!(topo.committed_seq(r), want_seq, "{} committed sequence", topo.name(r));
        assert_eq!(topo.checksum_tables(r, "bd"), want_sum, "{} checksums", topo.name(r));
    }
}
