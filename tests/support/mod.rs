//! Shared integration-test support.  Include it from a test file with
//!
//! ```ignore
//! mod support;
//! use support::topology::{Topology, TopologyConfig, MASTER};
//! ```
//!
//! * [`topology`]: real MariaDB master + replicas on 127.0.0.1 (temp
//!   datadirs, always torn down), replication helpers and a seeded workload.
//! * [`drive`]: our commands run as an operator would, and the checks after a failover.
//! * [`netns`]: network namespaces, a bridge and per-host sshd setup for
//!   `TopologyConfig { netns: true, .. }` (every server its own "host").
#![allow(dead_code)]

pub mod drive;
pub mod hosts;
pub mod netns;
pub mod process;
pub mod topology;
