//! Issue 22, items 4 and 5: what a planned `binlog-diff switch` must not
//! leave behind on real MariaDB servers.
//!
//! - A session that outlives the switch cannot write on the old master,
//!   even one `read_only` does not stop (root: SUPER, READ ONLY ADMIN): an
//!   open transaction refuses the switch, named, unless
//!   `--kill-open-transactions` ends it; an idle session is ended after the
//!   switch. Every server holds the same rows afterwards.
//! - A replica known to be behind (here `MASTER_DELAY`) is not chosen by
//!   itself, and asked for by name is refused before any lock, naming the
//!   delay: the write-blocked window never waits on it.

mod support;

use std::time::Duration;

use mysql::prelude::Queryable;
use support::drive::switch;
use support::topology::{MASTER, Topology, TopologyConfig, poll_until};

/// Every server of `topo` holds what `server` holds (`bd`'s checksums),
/// and no server has sequence number `absent`.
fn all_equal_to(topo: &Topology, server: usize, absent: u64) {
    let want = topo.checksum_tables(server, "bd");
    for s in topo.servers() {
        let got = poll_until(Duration::from_secs(60), || (topo.checksum_tables(s, "bd") == want).then_some(()));
        assert!(got.is_some(), "{}: {:?} vs {want:?}", topo.name(s), topo.checksum_tables(s, "bd"));
        assert!(!topo.committed_seq(s).contains(&absent), "{} has row {absent}", topo.name(s));
    }
}

/// A root session's open transaction (BEGIN; INSERT; idle) refuses the
/// switch, named by its thread; with `--kill-open-transactions` the switch
/// ends it, and its later COMMIT fails instead of landing on the old
/// master alone. (Without the check the first switch went through.)
#[test]
fn an_open_transaction_refuses_the_switch_unless_it_is_ended() {
    let topo = Topology::start(TopologyConfig { replicas: 2, ..Default::default() });
    let work = tempfile::tempdir().unwrap();
    let conf = topo.app_cnf(work.path(), "", &|_| String::new());
    topo.workload(221).run(10);
    topo.wait_replicas_caught_up_running();
    let mut open = topo.conn(MASTER);
    let thread = open.connection_id();
    open.query_drop("BEGIN").unwrap();
    open.query_drop("INSERT INTO bd.seq VALUES (999999)").unwrap();
    // Open for running_updates_limit (1 s): no longer traffic in flight.
    let age = format!(
        "SELECT TIMESTAMPDIFF(SECOND, trx_started, NOW()) >= 1 FROM information_schema.INNODB_TRX \
         WHERE trx_mysql_thread_id = {thread}"
    );
    let old =
        poll_until(Duration::from_secs(10), || (topo.query_value(MASTER, &age).as_deref() == Some("1")).then_some(()));
    assert!(old.is_some(), "the transaction is a second old");
    let nm = format!("127.0.0.1:{}", topo.port(1));

    let (code, out) = switch(&conf, &["--new-master", &nm, "--orig-master-is-new-slave"]);
    eprintln!("{out}");
    assert_eq!(code, 1, "{out}");
    let on =
        format!("transactions open for 1s or more (running_updates_limit) on server1(127.0.0.1:{})", topo.port(MASTER));
    assert!(out.contains(&on), "{out}");
    assert!(out.contains(&format!("thread {thread} (root@")) && out.contains("1 row(s) modified"), "{out}");
    assert!(out.contains("--kill-open-transactions") && !out.contains("Phase 2"), "refused before any lock: {out}");
    assert_eq!(topo.variable(MASTER, "read_only"), "0", "nothing changed");

    let (code, out) = switch(&conf, &["--new-master", &nm, "--orig-master-is-new-slave", "--kill-open-transactions"]);
    eprintln!("{out}");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("ended thread {thread} (root@")), "{out}");
    assert!(open.query_drop("COMMIT").is_err(), "the commit of an open transaction on the demoted master must fail");
    topo.sql(1, "INSERT INTO bd.seq VALUES (1000000)");
    all_equal_to(&topo, 1, 999999);
}

/// A root session, idle (no transaction) across the switch: its INSERT on
/// the old master afterwards fails (the switch ended it), where `read_only`
/// alone let it through. (Without ending every client session it succeeded.)
#[test]
fn an_idle_session_cannot_write_on_the_old_master_after_the_switch() {
    let topo = Topology::start(TopologyConfig { replicas: 2, ..Default::default() });
    let work = tempfile::tempdir().unwrap();
    let conf = topo.app_cnf(work.path(), "", &|_| String::new());
    topo.workload(222).run(10);
    topo.wait_replicas_caught_up_running();
    let mut idle = topo.conn(MASTER);
    let thread = idle.connection_id();
    idle.query_drop("SELECT 1").unwrap();
    let nm = format!("127.0.0.1:{}", topo.port(2));
    let json = work.path().join("switch.json");
    let (code, out) =
        switch(&conf, &["--new-master", &nm, "--orig-master-is-new-slave", "--json", json.to_str().unwrap()]);
    eprintln!("{out}");
    assert_eq!(code, 0, "{out}");
    assert!(
        idle.query_drop("INSERT INTO bd.seq VALUES (999999)").is_err(),
        "a write on the old master after the switch"
    );
    assert!(
        out.contains("client session(s) that outlived the switch") && out.contains(&format!("#{thread} root@")),
        "{out}"
    );
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(
        doc["sessions_ended"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s.as_str().unwrap().starts_with(&format!("#{thread} ")))
    );
    assert_eq!(topo.variable(MASTER, "read_only"), "1");
    topo.sql(2, "INSERT INTO bd.seq VALUES (1000000)");
    all_equal_to(&topo, 2, 999999);
}

/// A replica with `MASTER_DELAY=25`, first in app.cnf, with writes it has
/// yet to execute: `--new-master` at it is refused before any lock, naming
/// the delay; left to choose, the switch picks the other, and the writes
/// are blocked briefly, not for the delay. (Without the lag check the
/// delayed one was chosen and the writes blocked about 25 s.)
#[test]
fn a_delayed_replica_is_not_chosen_and_not_waited_on() {
    let topo = Topology::start(TopologyConfig { replicas: 2, ..Default::default() });
    let work = tempfile::tempdir().unwrap();
    let json = work.path().join("switch.json");
    let conf = topo.app_cnf(work.path(), "", &|_| String::new());
    let mut w = topo.workload(223);
    w.run(5);
    topo.wait_replicas_caught_up_running();
    topo.sql(1, "STOP SLAVE; CHANGE MASTER TO MASTER_DELAY=25; START SLAVE");
    w.run(5);
    // The other replica has it all; the delayed one executes it 25 s on.
    let want = topo.checksum_tables(MASTER, "bd");
    assert!(poll_until(Duration::from_secs(30), || (topo.checksum_tables(2, "bd") == want).then_some(())).is_some());

    let delayed = format!("127.0.0.1:{}", topo.port(1));
    let (code, out) = switch(&conf, &["--new-master", &delayed]);
    eprintln!("{out}");
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("server2 cannot be the new master now") && out.contains("MASTER_DELAY=25s"), "{out}");
    assert!(out.contains("server3 keeps up") && !out.contains("Phase 2"), "refused before any lock: {out}");
    assert_eq!(topo.variable(MASTER, "read_only"), "0", "nothing changed");

    let (code, out) = switch(&conf, &["--json", json.to_str().unwrap()]);
    eprintln!("{out}");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Switching master to server3"), "{out}");
    let last = out.lines().skip_while(|l| !l.contains("Candidates, best first:")).nth(2).unwrap_or("");
    assert!(last.contains("server2: ") && last.contains("behind: it is delayed on purpose: MASTER_DELAY=25s"), "{out}");
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let blocked = doc["writes_rejected_seconds"].as_f64().unwrap();
    assert!(blocked < 2.0, "writes blocked {blocked:.3}s: the lock waited on the delayed replica");
    // The delayed one follows the new master (once it executed what it had).
    let st = topo.slave_status(1);
    assert_eq!(st.raw.get("Master_Port").map(String::as_str), Some(&*topo.port(2).to_string()), "{st:?}");
}
