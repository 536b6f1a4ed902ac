//! The in-progress record of a failover (MHA's `failover.error`, made
//! useful): written before the first change (phase 2), updated as replicas
//! are applied and re-pointed, removed when the run ends. A run that stops
//! part-way (an error, a kill, a lost host) leaves it, and then:
//!
//! - a plain rerun (and `monitor`) is refused while it exists, saying what
//!   the record holds and how to go on;
//! - `failover --resume` continues it: the same workdir and run folder (so
//!   every replica's apply state file is found again), the same new master,
//!   hooks that already ran are not run again, replicas already re-pointed
//!   are left alone, and each apply resumes from its state: nothing is
//!   applied twice, also where the target cannot tell by GTID.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The record's format; a record of another version is refused, not guessed at.
pub const VERSION: u32 = 1;

/// Where a cluster's record lives.
pub fn path(manager_workdir: &Path) -> PathBuf {
    manager_workdir.join("binlog-diff-failover-in-progress.json")
}

/// How far one replica got.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplicaStep {
    /// Nothing recorded yet: apply (resuming from its state file) and re-point.
    #[default]
    Pending,
    /// Its diffs are applied: re-point it.
    Applied,
    /// It replicates from the new master: leave it alone.
    Repointed,
}

/// Where the new master was when it took writes: the others start there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Promoted {
    /// Its binlog file.
    pub file: String,
    /// Its binlog position.
    pub pos: u64,
    /// What it held then, by GTID, per domain (GTID topologies): where the
    /// others start.
    pub gtid: Option<String>,
}

/// A failover in progress.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// [`VERSION`].
    pub version: u32,
    /// When the run began (Unix seconds).
    pub started: u64,
    /// The driver's process.
    pub pid: u32,
    /// The dead master's section name.
    pub dead_master: String,
    /// Where its diffs and state files are on this host.
    pub workdir: PathBuf,
    /// The run folder's name on the remote hosts.
    pub run_dir: String,
    /// The last phase begun.
    pub phase: String,
    /// Phase 2's hooks ran (`master_ip_failover_script --command=stop`, `shutdown_script`).
    pub hooks_done: bool,
    /// The new master, once chosen.
    pub new_master: Option<String>,
    /// The new master's coordinates when it took writes.
    pub promoted: Option<Promoted>,
    /// Each replica's step, by section name.
    pub replicas: BTreeMap<String, ReplicaStep>,
    /// Why the run stopped, once it did.
    pub stopped: Option<String>,
}

impl Record {
    /// A new record for a run beginning now.
    pub fn new(dead_master: &str, workdir: &Path, run_dir: &str) -> Record {
        Record {
            version: VERSION,
            started: super::now_secs(),
            pid: std::process::id(),
            dead_master: dead_master.to_string(),
            workdir: workdir.to_path_buf(),
            run_dir: run_dir.to_string(),
            phase: "dead master shutdown".into(),
            hooks_done: false,
            new_master: None,
            promoted: None,
            replicas: BTreeMap::new(),
            stopped: None,
        }
    }

    /// The step recorded for `name`.
    pub fn step(&self, name: &str) -> ReplicaStep {
        self.replicas.get(name).copied().unwrap_or_default()
    }

    /// Reads the record in `manager_workdir`; `Ok(None)` when there is none.
    ///
    /// # Errors
    /// Unreadable, malformed, or of another version.
    pub fn load(manager_workdir: &Path) -> Result<Option<Record>> {
        let p = path(manager_workdir);
        let text = match std::fs::read(&p) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(&p, e)),
        };
        let r: Record = serde_json::from_slice(&text).map_err(|e| {
            Error::bad_input("the in-progress record", format!("{e}: check the servers by hand")).with_file(&p)
        })?;
        if r.version != VERSION {
            return Err(Error::bad_input(
                "the in-progress record",
                format!("the in-progress record is of version {}, this binary reads {VERSION}", r.version),
            )
            .with_file(&p));
        }
        Ok(Some(r))
    }

    /// Writes it atomically (fsynced, 0600).
    ///
    /// # Errors
    /// An I/O error.
    pub fn save(&self, manager_workdir: &Path) -> Result<()> {
        let p = path(manager_workdir);
        let text = serde_json::to_string_pretty(self).map_err(|e| Error::invalid(e.to_string()))? + "\n";
        crate::log::write_atomically(&p, text.as_bytes())
    }

    /// Removes the record: the run ended.
    ///
    /// # Errors
    /// An I/O error other than its absence.
    pub fn remove(manager_workdir: &Path) -> Result<()> {
        let p = path(manager_workdir);
        match std::fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(&p, e)),
        }
    }

    /// One paragraph for a refusal: what the record says.
    pub fn describe(&self) -> String {
        let steps: Vec<String> = self.replicas.iter().map(|(n, s)| format!("{n}: {s:?}")).collect();
        format!(
            "a failover of {} began {} s ago (pid {}) and did not finish: last phase {}{}{}{}",
            self.dead_master,
            super::now_secs().saturating_sub(self.started),
            self.pid,
            self.phase,
            self.new_master.as_ref().map(|n| format!(", new master {n}")).unwrap_or_default(),
            if steps.is_empty() { String::new() } else { format!(", replicas {}", steps.join(", ")) },
            self.stopped.as_ref().map(|s| format!("; it stopped: {s}")).unwrap_or_default(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_version() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(Record::load(d.path()).unwrap(), None);
        let mut r = Record::new("server1", Path::new("/w"), "binlog-diff-1-2");
        r.replicas.insert("server3".into(), ReplicaStep::Applied);
        r.promoted = Some(Promoted { file: "mysql-bin.000002".into(), pos: 400, gtid: None });
        r.save(d.path()).unwrap();
        assert_eq!(Record::load(d.path()).unwrap(), Some(r.clone()));
        assert!(r.describe().contains("server3: Applied"), "{}", r.describe());
        let text = std::fs::read_to_string(path(d.path())).unwrap().replace("\"version\": 1", "\"version\": 9");
        std::fs::write(path(d.path()), text).unwrap();
        assert!(Record::load(d.path()).unwrap_err().to_string().contains("version 9"));
        Record::remove(d.path()).unwrap();
        Record::remove(d.path()).unwrap();
    }
}
