//! The applier under faults (issue 20: no silent loss, no divergence, no
//! hang), on real MariaDB servers.
//!
//! - Apply connections have no read timeout (the apply's watchdog judges a
//!   long statement); control connections have the MySQL timeout.

mod support;

use std::time::Duration;

use binlog_diff::server::{ConnSpec, Secret};
use support::topology::{ADMIN_PASSWORD, ADMIN_USER, MASTER, Topology, TopologyConfig};

fn spec(topo: &Topology, server: usize) -> ConnSpec {
    ConnSpec {
        host: Some("127.0.0.1".into()),
        port: Some(topo.port(server)),
        user: Some(ADMIN_USER.into()),
        password: Some(Secret::new(ADMIN_PASSWORD)),
        ..Default::default()
    }
}

/// Apply connections have no read timeout (a long statement is the
/// watchdog's to judge); control connections have the MySQL timeout.
#[test]
fn connection_bounds() {
    use std::os::fd::{AsRawFd, BorrowedFd};
    let topo = Topology::start(TopologyConfig { replicas: 0, ..Default::default() });
    let mut s = spec(&topo, MASTER);
    s.timeout = Some(Duration::from_secs(7));
    let read_timeout = |c: &mysql::Conn| {
        // SAFETY: the connection is open while its descriptor is duplicated.
        let fd = unsafe { BorrowedFd::borrow_raw(c.as_raw_fd()) }.try_clone_to_owned().unwrap();
        std::net::TcpStream::from(fd).read_timeout().unwrap()
    };
    assert_eq!(read_timeout(&s.connect().unwrap()), Some(Duration::from_secs(7)));
    assert_eq!(read_timeout(&s.connect_apply().unwrap()), None);
}
