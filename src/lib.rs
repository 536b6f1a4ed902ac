//! binlog-diff: a binlog/relay-log diff engine and applier for MySQL and
//! MariaDB failover.
//!
//! # Layers
//!
//! Each layer may use only the layers listed before it; a lower layer never
//! imports a higher one.
//!
//! | module | what | may use |
//! |---|---|---|
//! | [`event`] | pure: header, checksum, FDE, typed views, fused walk, transaction grouping | nothing |
//! | [`error`] | library error: file + offset + event type | `event` |
//! | [`log`] | files: mmap or read sources, relay sets, index and info files | `event`, `error` |
//! | [`inspect`] | offline `dump` / `verify` / `stats` printers | `log`, `event`, `error` |
//!
//! Later layers (positions, diffs, applier, remote, MHA front, phase driver)
//! follow the same rule: `position` → `log`; `diff` → `position`; `apply`,
//! `remote` → `diff`; `mha`, `phase` → everything. `main.rs` only dispatches.

#![warn(missing_docs)]

pub mod apply;
pub mod cli;
pub mod diff;
pub mod error;
pub mod event;
pub mod inspect;
pub mod log;
pub mod position;
pub mod server;

pub use error::{Error, Result};
