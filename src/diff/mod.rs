//! Diffs: per-replica diff logs, written as valid binlog files, cut only at
//! transaction boundaries.

pub mod doc;
pub mod generate;
pub mod plan;
pub mod tail;
pub mod writer;

pub use doc::{DiffDoc, LeftOutDoc, PlanDoc, TargetDoc};
pub use generate::{CutOptions, Cutter, DiffReport, Join, LeftOut, Start, relay_diff, save_binlog, shared_segment};
pub use plan::{Plan, PlanInput, TargetPlan};
pub use writer::{DiffWriter, Written};
