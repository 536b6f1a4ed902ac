//! Shared integration-test support: the one support root.  Include it from
//! a test file with
//!
//! ```ignore
//! mod support;
//! use support::topology::{Topology, TopologyConfig, MASTER};
//! ```
//!
//! * [`topology`]: real MariaDB master + replicas on 127.0.0.1 (temp
//!   datadirs, always torn down), replication helpers and a seeded workload.
//! * [`hosts`] and [`netns`]: `TopologyConfig { netns: true, .. }`, every
//!   server its own "host" (network namespaces, a bridge, an sshd per host).
//! * [`drive`]: our commands run as an operator would, and the checks after a failover.
//! * [`mha`]: MHA's real manager and Perl node tools; [`node`]: ours under
//!   MHA's names; [`sshd`]: OpenSSH keys, configs and a loopback sshd.
//! * [`vip`]: a virtual IP on netns hosts; [`app`]: an application
//!   writing through it, and what it saw across a switch or failover.
//! * [`fixtures`]: where the binlog fixtures and the public corpus are;
//!   [`build`]: synthetic events and files.
//! * [`process`]: tools, scripts, command output, signals, bounded polling;
//!   [`seeded`]: runs drawn from seeds (the randomized trials).
//!
//! Each test binary uses a part of it.
#![allow(dead_code)]

pub mod app;
pub mod build;
pub mod drive;
pub mod fixtures;
pub mod hosts;
pub mod mha;
pub mod netns;
pub mod node;
pub mod process;
pub mod seeded;
pub mod sshd;
pub mod topology;
pub mod vip;

// The fixture paths, as `support::testdata_dir()` etc.
#[allow(unused_imports)]
pub use fixtures::{corpus_dir, fixtures, testdata_dir};
