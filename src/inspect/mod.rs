//! Offline inspection: `dump`, `verify`, `stats`. Printers write to any
//! `io::Write`, so tests compare their output without spawning processes.

pub mod dump;
pub mod rows;
pub mod stats;
pub mod summary;
pub mod verify;

pub use dump::{DumpOptions, dump};
pub use stats::{Stats, StatsOptions};
pub use verify::{VerifyRecord, VerifyReport, verify, verify_files};
