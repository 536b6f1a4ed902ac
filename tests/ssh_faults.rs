//! `remote::Host` over ssh when things go wrong: files fetched are private
//! (0600) and leave nothing behind.

mod common;

use std::path::Path;
use std::time::Duration;

use binlog_diff::remote::{Host, SshOptions};
use common::node::{Sshd, whoami};

fn loopback_host(sshd: &Sshd, extra: &str, step: Duration) -> Host {
    let opts = SshOptions::parse(&format!(
        "-i {} -o UserKnownHostsFile={} -o StrictHostKeyChecking=yes {extra}",
        sshd.key().display(),
        sshd.known_hosts().display()
    ));
    Host::ssh(&whoami(), "127.0.0.1", sshd.port, &opts, Duration::from_secs(5), step, &mut |_| {}).unwrap()
}

fn names(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect()
}

/// A fetched file holds data (rows, topology details): mode 0600 whatever
/// the umask; neither a good nor a failed fetch leaves a temporary file.
#[test]
fn fetched_files_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let Some(sshd) = Sshd::start(dir.path()) else { return };
    let h = loopback_host(&sshd, "", Duration::from_secs(30));
    let src = dir.path().join("diff.binlog");
    std::fs::write(&src, vec![7u8; 100_000]).unwrap();
    let here = tempfile::tempdir().unwrap();
    let got = h.fetch(&src, here.path()).unwrap();
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&got).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{mode:o}");
    assert!(h.fetch(&dir.path().join("missing.binlog"), here.path()).is_err());
    assert_eq!(names(here.path()), ["diff.binlog"]);
}
