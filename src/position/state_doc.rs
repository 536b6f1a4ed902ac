//! A replica's state as it crosses a process or host boundary: the typed,
//! serde form of [`ReplicaState`] (the same fields and names as
//! `ReplicaState::to_json`, which `diff --state` files use).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::ReplicaState;
use super::coords::{MasterPos, RelayPos};
use crate::error::{Error, Result};
use crate::log::LogName;

/// [`ReplicaState`] on the wire.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaStateDoc {
    /// A label (host:port, or a name).
    pub name: String,
    /// What its IO thread read: file.
    pub master_log_file: String,
    /// What its IO thread read: position.
    pub read_master_log_pos: u64,
    /// What its SQL thread executed: file.
    pub relay_master_log_file: String,
    /// What its SQL thread executed: position.
    pub exec_master_log_pos: u64,
    /// Where that is in its relay logs: file.
    #[serde(default)]
    pub relay_log_file: Option<String>,
    /// Where that is in its relay logs: position.
    #[serde(default)]
    pub relay_log_pos: Option<u64>,
    /// Folder of its relay logs.
    #[serde(default)]
    pub relay_dir: Option<PathBuf>,
    /// Its server id.
    #[serde(default)]
    pub server_id: Option<u32>,
    /// Where its server listens.
    #[serde(default)]
    pub host: Option<String>,
    /// Its TCP port.
    #[serde(default)]
    pub port: Option<u16>,
    /// What its SQL thread executed, by GTID.
    #[serde(default)]
    pub gtid_executed: Option<String>,
    /// What its IO thread received, by GTID (GTID topologies).
    #[serde(default)]
    pub gtid_received: Option<String>,
}

impl From<&ReplicaState> for ReplicaStateDoc {
    fn from(s: &ReplicaState) -> Self {
        ReplicaStateDoc {
            name: s.name.clone(),
            master_log_file: s.read.file.to_string(),
            read_master_log_pos: s.read.pos,
            relay_master_log_file: s.exec.file.to_string(),
            exec_master_log_pos: s.exec.pos,
            relay_log_file: s.relay_exec.as_ref().map(|r| r.file.to_string()),
            relay_log_pos: s.relay_exec.as_ref().map(|r| r.pos),
            relay_dir: s.relay_dir.clone(),
            server_id: s.server_id,
            host: s.host.clone(),
            port: s.port,
            gtid_executed: s.gtid_executed.clone(),
            gtid_received: s.gtid_received.clone(),
        }
    }
}

impl TryFrom<ReplicaStateDoc> for ReplicaState {
    type Error = Error;

    /// # Errors
    /// A log name that is not one.
    fn try_from(d: ReplicaStateDoc) -> Result<ReplicaState> {
        let name = |s: &str, what: &str| -> Result<LogName> {
            LogName::from_path_str(s.trim()).map_err(|e| Error::bad_input(format!("{}: {what}", d.name), e.to_string()))
        };
        let relay_exec = match (&d.relay_log_file, d.relay_log_pos) {
            (Some(f), Some(p)) if !f.is_empty() => Some(RelayPos::new(name(f, "relay_log_file")?, p)),
            _ => None,
        };
        Ok(ReplicaState {
            read: MasterPos::new(name(&d.master_log_file, "master_log_file")?, d.read_master_log_pos),
            exec: MasterPos::new(name(&d.relay_master_log_file, "relay_master_log_file")?, d.exec_master_log_pos),
            relay_exec,
            relay_dir: d.relay_dir,
            server_id: d.server_id,
            host: d.host,
            port: d.port,
            gtid_executed: d.gtid_executed.filter(|g| !g.is_empty()),
            gtid_received: d.gtid_received.filter(|g| !g.is_empty()),
            name: d.name,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_equals_the_json_form() {
        let v = serde_json::json!({
            "name": "r1", "master_log_file": "mysql-bin.000002", "read_master_log_pos": 120,
            "relay_master_log_file": "mysql-bin.000001", "exec_master_log_pos": 4, "relay_log_file": "relay-bin.000003",
            "relay_log_pos": 555, "relay_dir": "/d", "server_id": 7, "host": "h", "port": 3307,
            "gtid_executed": "0-1-5", "gtid_received": null,
        });
        let st = ReplicaState::from_json(&v).unwrap();
        let doc = ReplicaStateDoc::from(&st);
        assert_eq!(serde_json::to_value(&doc).unwrap(), st.to_json());
        assert_eq!(ReplicaState::try_from(doc).unwrap(), st);
        let bad = ReplicaStateDoc { master_log_file: "no-dot".into(), ..Default::default() };
        assert!(ReplicaState::try_from(bad).is_err());
    }
}
