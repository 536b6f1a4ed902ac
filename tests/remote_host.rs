//! `remote::Host` over a real sshd on loopback (key-only, own host key):
//! running our commands with input, fetching files back, the errors named by
//! host and step, and host-key verification.

mod support;

use std::time::Duration;

use binlog_diff::remote::{Host, SshOptions};
use support::sshd::{Sshd, whoami};

fn host(sshd: &Sshd, known_hosts: &std::path::Path) -> binlog_diff::Result<Host> {
    let opts = SshOptions::parse(&format!(
        "-i {} -o UserKnownHostsFile={} -o StrictHostKeyChecking=yes",
        sshd.key().display(),
        known_hosts.display()
    ));
    Host::ssh(&whoami(), "127.0.0.1", sshd.port, &opts, Duration::from_secs(5), Duration::from_secs(30), &mut |_| {})
}

#[test]
fn run_fetch_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let Some(sshd) = Sshd::start(dir.path()) else { return };
    let h = host(&sshd, &sshd.known_hosts()).unwrap();

    // A command with input, quoted words.
    let o = h
        .run(
            "t",
            &["sh".into(), "-c".into(), "cat; echo \"$0\"".into(), "a b'c".into()],
            b"in\n",
            Duration::from_secs(10),
        )
        .unwrap();
    assert_eq!((o.status, o.stdout.as_str()), (0, "in\na b'c\n"));

    // A file comes back whole, fsynced under its own name.
    let src = dir.path().join("src.bin");
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i.wrapping_mul(2654435761) >> 24) as u8).collect();
    std::fs::write(&src, &data).unwrap();
    let here = tempfile::tempdir().unwrap();
    let got = h.fetch(&src, here.path()).unwrap();
    assert_eq!(got, here.path().join("src.bin"));
    assert_eq!(std::fs::read(&got).unwrap(), data);

    // A missing file: an error naming the file and the host, no file left.
    let e = h.fetch(&dir.path().join("nope.bin"), here.path()).unwrap_err().to_string();
    assert!(e.contains("nope.bin") && e.contains("127.0.0.1"), "{e}");
    let left: Vec<_> = std::fs::read_dir(here.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left.len(), 1, "only the good fetch is there: {left:?}");

    // An unknown host key is refused.
    let empty = dir.path().join("empty_known_hosts");
    std::fs::write(&empty, "").unwrap();
    let e = host(&sshd, &empty).err().expect("refused").to_string();
    assert!(e.contains("host key verification failed"), "{e}");
}
