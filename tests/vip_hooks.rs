//! The shipped hook scripts (`samples/scripts/master_ip_failover`,
//! `master_ip_online_change`) moving a real virtual IP between netns hosts,
//! while an application (`support::app`) writes through it as a non-SUPER
//! user.
//!
//! - `switch_moves_the_vip_and_the_application`: `binlog-diff switch` with
//!   the online-change hook: the VIP is on the new master's host only, the
//!   application's account is locked on the old master and enabled on the
//!   new, every acknowledged write is on the new master, none twice; the
//!   outage is printed (bounded at 10 s); what the hooks said is in the
//!   driver's log.
//! - `failover_moves_the_vip_and_the_application`: the master's mysqld is
//!   SIGKILLed after writes only it has, `binlog-diff failover` with the
//!   failover hook: the VIP on the new master's host only, the application
//!   writes there within 10 s of the failover's end, every write
//!   acknowledged before the crash is there, none twice.

mod support;

use std::path::Path;
use std::time::Duration;

use support::app::{App, Outage, app_user_locked, create_app_user};
use support::drive::{hidden_failover, kill_master_as_a_crash, switch};
use support::topology::{MASTER, Topology, TopologyConfig};
use support::vip::VIP_SERVER_OPTION;

/// What the application must see come back after the event.
const ACKS_AFTER: u64 = 20;
/// The generous bound on the app-visible outage.
const OUTAGE_BOUND: Duration = Duration::from_secs(10);

fn topology() -> Option<Topology> {
    if !support::netns::usable() {
        return None;
    }
    let topo = Topology::start(TopologyConfig {
        replicas: 2,
        netns: true,
        extra_options: vec![VIP_SERVER_OPTION.into()],
        ..Default::default()
    });
    create_app_user(&topo);
    topo.add_vip(MASTER);
    Some(topo)
}

/// The application on the topology's VIP, once its writes are acknowledged.
fn app(topo: &Topology) -> App {
    let app = App::start(topo.vip(), 3306, topo.vip_client_fix());
    let ok = app.wait_acks(ACKS_AFTER, Duration::from_secs(30));
    assert!(ok, "the application never wrote through the VIP:\n{}", app.last_errors(5));
    app
}

/// Waits for the application's writes to come back, stops it, prints and
/// checks its report against `server`: nothing acknowledged lost, nothing
/// twice. Returns the report's outage: from the last acknowledged write
/// before `mark` to the first after (the first is `None` if they never
/// came back).
fn app_after(topo: &Topology, app: App, server: usize, mark: Duration, out: &str) -> Outage {
    let back = app.wait_acks(ACKS_AFTER, Duration::from_secs(30));
    if !back {
        eprintln!("the application's last errors:\n{}", app.last_errors(5));
    }
    let r = app.stop().report(topo, server, mark);
    eprintln!("{r}");
    assert!(back, "the application's writes never came back after the event:\n{r}\n{out}");
    assert!(r.missing.is_empty(), "acknowledged writes lost: {:?}\n{r}", r.missing);
    assert!(r.doubled.is_empty(), "writes applied twice: {:?}\n{r}", r.doubled);
    r.outage.clone().unwrap_or_else(|| panic!("no write failed across the event: the application never moved?\n{r}"))
}

fn hooks_conf(topo: &Topology, work: &Path) -> std::path::PathBuf {
    let (failover, online) = topo.install_vip_hooks(&work.join("hooks"), "app");
    let extra = format!(
        "master_ip_failover_script={}\nmaster_ip_online_change_script={}\n",
        failover.display(),
        online.display()
    );
    topo.app_cnf(work, &extra, &|_| String::new())
}

#[test]
fn switch_moves_the_vip_and_the_application() {
    let Some(topo) = topology() else { return };
    let work = tempfile::tempdir().unwrap();
    let conf = hooks_conf(&topo, work.path());
    let app = app(&topo);
    let new_master = 1;

    let mark = app.now();
    let target = format!("{}:3306", topo.host_ip(new_master));
    let (code, out) = switch(&conf, &["--new-master", &target, "--orig-master-is-new-slave"]);
    eprintln!("{out}");
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("bd-admin-pw"), "a password in the output");
    // What the hooks said is in the driver's log.
    assert!(out.contains(&format!("{} removed from eth0", topo.vip_cidr())), "the hook's output is logged: {out}");
    let outage = app_after(&topo, app, new_master, mark, &out).length().unwrap();
    assert!(outage < OUTAGE_BOUND, "the application's outage: {outage:?}");

    assert_eq!(topo.vip_holders(), [new_master], "the VIP is on the new master's host only");
    assert!(app_user_locked(&topo, MASTER), "the application's account is locked on the old master");
    assert!(!app_user_locked(&topo, new_master), "the application's account is enabled on the new master");
    assert!(matches!(topo.variable(MASTER, "read_only").as_str(), "1" | "ON"), "the old master is read-only");
}

#[test]
fn failover_moves_the_vip_and_the_application() {
    let Some(topo) = topology() else { return };
    let work = tempfile::tempdir().unwrap();
    let conf = hooks_conf(&topo, work.path());
    let app = app(&topo);

    // Writes only the master gets: the failover must save them from its
    // binlog (its host is alive).
    for r in topo.replicas() {
        topo.sql(r, "STOP SLAVE IO_THREAD");
    }
    assert!(app.wait_acks(ACKS_AFTER, Duration::from_secs(30)), "{}", app.last_errors(5));
    let mark = app.now();
    kill_master_as_a_crash(&topo);
    let (code, out) = hidden_failover(&topo, &conf, &["--push-binary"]);
    let done = app.now();
    eprintln!("{out}");
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("has nothing after the latest replica"), "the dead master had a tail to save: {out}");
    let new_master = topo
        .replicas()
        .find(|&r| topo.try_slave_status(r).unwrap().is_none())
        .unwrap_or_else(|| panic!("no replica was promoted:\n{out}"));
    // The failover's own time depends on the machine: the bound is on the
    // application's return once the failover has finished.
    let back = app_after(&topo, app, new_master, mark, &out).first_ack_after.unwrap();
    assert!(
        back.saturating_sub(done) < OUTAGE_BOUND,
        "the application came back {back:?}, the failover ended {done:?}"
    );

    assert_eq!(topo.vip_holders(), [new_master], "the VIP is on the new master's host only");
    assert!(!app_user_locked(&topo, new_master), "the application's account is enabled on the new master");
}
