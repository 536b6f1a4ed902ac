//! Benchmarks a user runs on their own logs: relay-log catch-up by the
//! server's SQL thread (single and parallel), MHA's `mariadb-binlog |
//! mariadb` and our applier, on throwaway MariaDB servers
//! ([`crate::server::embedded`]).

pub mod catchup;
pub mod chart;
pub mod workload;

pub use catchup::{CatchupOptions, CatchupReport, Durability, Mode, StartingState};
pub use workload::{Mix, WorkloadSpec};
