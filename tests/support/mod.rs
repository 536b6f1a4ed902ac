//! Shared integration-test support.  Include it from a test file with
//!
//! ```ignore
//! mod support;
//! use support::topology::{Topology, TopologyConfig, MASTER};
//! ```
//!
//! * [`topology`]: real MariaDB master + replicas on 127.0.0.1 (temp
//!   datadirs, always torn down), replication helpers and a seeded workload.
#![allow(dead_code)]

pub mod topology;
