//! `remote::Host` over ssh when things go wrong (issue 20: no step may
//! hang, no remote process may outlive its step):
//!
//! - `a_step_ends_at_its_deadline_and_its_remote_processes_with_it`
//!   (loopback sshd): a remote command printing progress every 100 ms ends
//!   at the step's deadline, and its process group on the host is killed.
//! - `a_vanished_peer_fails_every_channel_within_the_keepalive_bound`
//!   (network namespaces): the host's link is cut while two commands run on
//!   its session; both fail within about ServerAliveInterval x
//!   ServerAliveCountMax, naming host and step; the remote command the
//!   driver could not reach is ended by its own bound there.
//! - `fetched_files_are_private`: a fetched file is mode 0600, nothing left
//!   behind.
//! - `what_a_remote_step_creates_is_private`: a folder and a file a remote
//!   step makes are 0700 and 0600 (issue 21).

mod support;

use std::path::Path;
use std::time::Duration;

use binlog_diff::remote::{Host, SshOptions};
use support::process::poll_until;
use support::sshd::{Sshd, whoami};

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

#[test]
fn a_silent_server_is_not_waited_for() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    // Accepts, then holds the connection without a word.
    std::thread::spawn(move || {
        let held: Vec<_> = l.incoming().take(8).collect();
        std::thread::sleep(Duration::from_secs(120));
        drop(held);
    });
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("x.binlog");
    std::fs::write(&f, b"x").unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let t0 = std::time::Instant::now();
        let opts = SshOptions::parse(binlog_diff::remote::MHA_SSH_OPT_ALIVE);
        let r = binlog_diff::remote::push_file("nobody", "127.0.0.1", port, &opts, &f, &f, &mut |_| {});
        let _ = tx.send((r, t0.elapsed()));
    });
    let (r, took) = rx.recv_timeout(Duration::from_secs(40)).expect("the push returned within 40 s");
    let e = r.expect_err("no SSH server there").to_string();
    assert!(e.contains("handshake") && e.contains(&format!("127.0.0.1:{port}")), "{e}");
    assert!(took < Duration::from_secs(20), "{took:?}");
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

/// What a remote step creates (a run folder, a diff cut there) is 0700 /
/// 0600 whatever the remote account's umask: the wrapper sets 077.
#[test]
fn what_a_remote_step_creates_is_private() {
    let dir = tempfile::tempdir().unwrap();
    let Some(sshd) = Sshd::start(dir.path()) else { return };
    let h = loopback_host(&sshd, "", Duration::from_secs(30));
    let run = dir.path().join("run");
    let (d, f) = (run.display().to_string(), run.join("diff").display().to_string());
    // The session's own umask (sshd's, here 022) would make them 0755 / 0644.
    let cmd = format!("mkdir {d} && echo x > {f}");
    let o = h.run("make", &["sh".into(), "-c".into(), cmd], b"", Duration::from_secs(20)).unwrap();
    assert_eq!(o.status, 0, "{}", o.stderr);
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!((mode(&run), mode(&run.join("diff"))), (0o700, 0o600));
}

/// (pid, process group) of the processes whose command line is `argv`.
fn processes(argv: &[&str]) -> Vec<(u32, u32)> {
    let want: Vec<u8> = argv.iter().flat_map(|a| a.bytes().chain([0])).collect();
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        if std::fs::read(e.path().join("cmdline")).ok().as_deref() != Some(&want[..]) {
            continue;
        }
        if let Some(g) = stat(pid).filter(|(state, _)| state != "Z").map(|(_, g)| g) {
            out.push((pid, g));
        }
    }
    out
}

/// (state, process group) of a process.
fn stat(pid: u32) -> Option<(String, u32)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let f: Vec<&str> = s[s.rfind(')')? + 1..].split_whitespace().collect();
    Some((f.first()?.to_string(), f.get(2)?.parse().ok()?))
}

/// Live processes of process group `g`.
fn group(g: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .filter(|&p| stat(p).is_some_and(|(st, pg)| pg == g && st != "Z"))
        .collect()
}

fn kill_group(g: u32) {
    let _ = std::process::Command::new("kill").args(["-KILL", "--", &format!("-{g}")]).status();
}

/// A command that prints a line every 100 ms forever.
const TICKER: &str = "while :; do echo tick >&2; sleep 0.1; done";

/// A step's timeout is a deadline for the whole step: a remote command that
/// prints progress every 100 ms still ends at it (an idle timeout never
/// fired: a failover hung 154 s+ on a remote `apply --plan` printing
/// progress), and its whole process group on the host is killed (sshd keeps
/// a command without a pty running when the channel goes).
#[test]
fn a_step_ends_at_its_deadline_and_its_remote_processes_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let Some(sshd) = Sshd::start(dir.path()) else { return };
    let h = loopback_host(&sshd, "", Duration::from_secs(60));
    let ticks = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (tx, rx) = std::sync::mpsc::channel();
    let t = ticks.clone();
    std::thread::spawn(move || {
        let t0 = std::time::Instant::now();
        let argv = ["sh".to_string(), "-c".into(), TICKER.into(), "ticker-3017".into()];
        let r = h.run_following("progress step", &argv, b"", Duration::from_secs(3), &mut |l| {
            if l == "tick" {
                t.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        });
        let _ = tx.send((r.map(|o| o.status), t0.elapsed()));
    });
    let started =
        poll_until(Duration::from_secs(10), || processes(&["sh", "-c", TICKER, "ticker-3017"]).first().copied());
    let (_, pgid) = started.expect("the remote ticker runs");
    let got = rx.recv_timeout(Duration::from_secs(30));
    let left = poll_until(Duration::from_secs(5), || group(pgid).is_empty().then_some(()));
    kill_group(pgid);
    let (r, took) = got.expect("the step ended within 30 s (its deadline is 3 s)");
    let e = r.expect_err("past its deadline").to_string();
    eprintln!("{e}");
    assert!(e.contains("progress step on") && e.contains("127.0.0.1") && e.contains("deadline"), "{e}");
    assert!(e.contains(&format!("process group {pgid} there was killed")), "{e}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(ticks.load(std::sync::atomic::Ordering::Relaxed) >= 10, "progress came all along");
    assert!(left.is_some(), "the remote command's group {pgid} is gone");
}

/// The host's link is cut while two commands run on one session (a `sleep`
/// that prints nothing, a ticker): with ServerAliveInterval=1 and
/// ServerAliveCountMax=3 both fail within a few seconds, naming the host and
/// the step (before: a blocked read waited for the step timeout, keepalives
/// were sent without asking for a reply and nobody counted them). The
/// `sleep`, which could not be killed over the dead link, is ended on the
/// host by its own bound (its step's 10 s + 5 s).
#[test]
fn a_vanished_peer_fails_every_channel_within_the_keepalive_bound() {
    if !support::netns::usable() {
        return;
    }
    use support::topology::{MASTER, Topology, TopologyConfig};
    let topo = Topology::start(TopologyConfig { replicas: 0, netns: true, ..Default::default() });
    let opts = SshOptions::parse(&format!("{} -o ServerAliveInterval=1 -o ServerAliveCountMax=3", topo.ssh_options()));
    let ip = topo.host_ip(MASTER);
    let h = Host::ssh(&topo.ssh_user(), &ip, 22, &opts, Duration::from_secs(5), Duration::from_secs(60), &mut |_| {})
        .unwrap();
    // Detached threads (not scoped): without the fix they stay blocked, and
    // the test must fail, not wait for them.
    let h = std::sync::Arc::new(h);
    let ticks = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (tx, rx) = std::sync::mpsc::channel();
    {
        let (h, tx) = (h.clone(), tx.clone());
        std::thread::spawn(move || {
            let argv = ["sleep".to_string(), "6017".into()];
            let r = h.run("sleeper", &argv, b"", Duration::from_secs(10));
            let _ = tx.send(("sleeper", r.map(|o| o.status), std::time::Instant::now()));
        });
    }
    {
        let (h, ticks) = (h.clone(), ticks.clone());
        std::thread::spawn(move || {
            let argv = ["sh".to_string(), "-c".into(), TICKER.into(), "ticker-6017".into()];
            let r = h.run_following("ticker", &argv, b"", Duration::from_secs(60), &mut |_| {
                ticks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            });
            let _ = tx.send(("ticker", r.map(|o| o.status), std::time::Instant::now()));
        });
    }
    let sleeping = poll_until(Duration::from_secs(10), || processes(&["sleep", "6017"]).first().copied());
    let ticking =
        poll_until(Duration::from_secs(10), || (ticks.load(std::sync::atomic::Ordering::Relaxed) > 0).then_some(()));
    assert!(sleeping.is_some() && ticking.is_some(), "both remote commands run");
    topo.cut_link(MASTER);
    let cut = std::time::Instant::now();
    let mut ended = Vec::new();
    for _ in 0..2 {
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(r) => ended.push(r),
            Err(_) => {
                let done: Vec<_> = ended.iter().map(|e| e.0).collect();
                panic!("a channel still blocked 30 s after the cut (ended: {done:?})");
            }
        }
    }
    for (step, r, at) in &ended {
        let e = r.as_ref().expect_err("the peer vanished").to_string();
        eprintln!("{step}: {e}");
        let took = at.duration_since(cut);
        assert!(e.contains(&format!("{step} on")) && e.contains(&ip), "{e}");
        assert!(e.contains("no answer from the server") || e.contains("the session is dead"), "{e}");
        assert!(took < Duration::from_secs(9), "{step} failed {took:?} after the cut (bound: 1 s x 3 + 1 s)");
    }
    topo.restore_link(MASTER);
    // Out of reach when it failed: its own bound there ends it.
    let (pid, _) = sleeping.unwrap();
    let gone = poll_until(Duration::from_secs(25), || stat(pid).is_none_or(|(st, _)| st == "Z").then_some(()));
    assert!(gone.is_some(), "the remote sleep (pid {pid}) ended by its own bound");
}
