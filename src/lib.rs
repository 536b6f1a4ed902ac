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
//! | [`position`] | typed coordinates, master cursor, master → relay mapping | `log`, `event`, `error` |
//! | [`diff`] | transaction-safe diff cutting, failover plans | `position` and below |
//! | [`server`] | MySQL connections (bounded), replica status, the SQL dialect by version: the only place replication SQL is spelled | `position`, `error` |
//! | [`apply`] | native applier over the MySQL protocol, verified | `diff` and below, [`server`] |
//! | [`remote`] | hosts: this machine or one ssh2 session (host key check, key auth); run our binary there, fetch and push files (MD5) | `error` |
//! | [`mha`] | MHA 0.58-compatible node tools (multi-call front) | everything |
//! | [`phase`] | failover driver across hosts reading MHA's `app.cnf` (hooks, detection, JSON report) | everything but `mha`, `cli` |
//! | [`cli`] | the `binlog-diff` command line: arguments → one library call | everything |
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
pub mod mha;
pub mod phase;
pub mod position;
pub mod remote;
pub mod server;

pub use error::{Error, Result};
