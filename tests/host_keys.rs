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

mod support;

use std::path::Path;
use std::time::Duration;

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
