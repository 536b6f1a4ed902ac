//! A replica's replication state: what its IO thread has read and what its
//! SQL thread has executed, in master coordinates, plus where that is in its
//! own relay logs. From a live server (`SHOW SLAVE STATUS`, or the
//! `SHOW REPLICA STATUS` names of MySQL 8.0.22+), from `relay-log.info` and
//! `master.info`, or from a JSON file for offline use.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::log::LogName;
use crate::log::info::{read_master_info, read_relay_log_info};

use super::columns;
use super::coords::{MasterPos, RelayPos};
use super::gtid::Executed;

/// One replica's replication state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaState {
    /// A label (host:port, or a name).
    pub name: String,
    /// `Master_Log_File` / `Read_Master_Log_Pos`: what the IO thread has read.
    pub read: MasterPos,
    /// `Relay_Master_Log_File` / `Exec_Master_Log_Pos`: what the SQL thread has executed.
    pub exec: MasterPos,
    /// `Relay_Log_File` / `Relay_Log_Pos`: where `exec` is in its relay logs.
    pub relay_exec: Option<RelayPos>,
    /// Folder of its relay logs.
    pub relay_dir: Option<PathBuf>,
    /// Its server id, when known.
    pub server_id: Option<u32>,
    /// Where its server listens (a live replica), for `apply --plan`.
    pub host: Option<String>,
    /// Its TCP port.
    pub port: Option<u16>,
    /// What its SQL thread has executed, by GTID: MariaDB `Gtid_Slave_Pos`,
    /// MySQL `Executed_Gtid_Set` (see [`super::gtid::Executed`]).
    pub gtid_executed: Option<String>,
    /// What its IO thread has received, by GTID, in a GTID topology only
    /// (MariaDB `Gtid_IO_Pos` with `Using_Gtid` not `No`, MySQL
    /// `Retrieved_Gtid_Set` with `Auto_Position` 1): elsewhere it may be stale.
    pub gtid_received: Option<String>,
}

fn name(s: &str, what: &str) -> Result<LogName> {
    LogName::from_path_str(s.trim()).map_err(|e| Error::bad_input(what, e.to_string()))
}

impl ReplicaState {
    /// From `relay-log.info` (SQL thread) and `master.info` (IO thread).
    ///
    /// # Errors
    /// Unreadable or malformed files.
    pub fn from_info_files(label: &str, relay_log_info: &Path, master_info: &Path) -> Result<ReplicaState> {
        let r = read_relay_log_info(relay_log_info)?;
        let m = read_master_info(master_info)?;
        let relay_name = r
            .relay_log_file
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| Error::bad_input("relay-log.info", "no relay log name").with_file(relay_log_info))?;
        Ok(ReplicaState {
            name: label.to_string(),
            read: MasterPos::new(name(&m.master_log_file, "master.info")?, m.read_master_log_pos),
            exec: MasterPos::new(name(&r.master_log_file, "relay-log.info")?, r.master_log_pos),
            relay_exec: Some(RelayPos::new(name(relay_name, "relay-log.info")?, r.relay_log_pos)),
            relay_dir: r.relay_log_file.parent().map(Path::to_path_buf),
            server_id: None,
            host: None,
            port: None,
            gtid_executed: None,
            gtid_received: None,
        })
    }

    /// From one row of `SHOW SLAVE STATUS` / `SHOW REPLICA STATUS`, given as
    /// a column lookup. Both naming schemes are accepted: each column is
    /// asked for by its old name, then by its new one
    /// ([`columns::RENAMED_STATUS_COLUMNS`]).
    ///
    /// # Errors
    /// A missing or malformed column.
    pub fn from_status(label: &str, get: impl Fn(&str) -> Option<String>) -> Result<ReplicaState> {
        let get = |k: &str| columns::lookup(k, &get);
        let col = |k: &str| -> Result<String> {
            get(k).ok_or_else(|| {
                let also = columns::other_name(k).map(|o| format!("/{o}")).unwrap_or_default();
                Error::bad_input("replica status", format!("no {k}{also}"))
            })
        };
        let num = |k: &str| -> Result<u64> {
            col(k)?.trim().parse().map_err(|_| Error::bad_input("replica status", format!("bad {k}")))
        };
        let relay_file = col("Relay_Log_File").ok();
        Ok(ReplicaState {
            name: label.to_string(),
            read: MasterPos::new(name(&col("Master_Log_File")?, "Master_Log_File")?, num("Read_Master_Log_Pos")?),
            exec: MasterPos::new(
                name(&col("Relay_Master_Log_File")?, "Relay_Master_Log_File")?,
                num("Exec_Master_Log_Pos")?,
            ),
            relay_exec: match relay_file {
                Some(f) if !f.is_empty() => Some(RelayPos::new(name(&f, "Relay_Log_File")?, num("Relay_Log_Pos")?)),
                _ => None,
            },
            relay_dir: None,
            server_id: None,
            host: None,
            port: None,
            gtid_executed: get("Gtid_Slave_Pos")
                .or_else(|| get("Executed_Gtid_Set"))
                .map(|s| s.split_whitespace().collect::<String>())
                .filter(|s| !s.is_empty()),
            gtid_received: {
                let gtid_mode = get("Using_Gtid").is_some_and(|u| !u.is_empty() && !u.eq_ignore_ascii_case("no"))
                    || get("Auto_Position").is_some_and(|a| a == "1");
                get("Gtid_IO_Pos")
                    .or_else(|| get("Retrieved_Gtid_Set"))
                    .map(|s| s.split_whitespace().collect::<String>())
                    .filter(|s| gtid_mode && !s.is_empty())
            },
        })
    }

    /// From JSON: `{"name", "master_log_file", "read_master_log_pos",
    /// "relay_master_log_file", "exec_master_log_pos", "relay_log_file"?,
    /// "relay_log_pos"?, "relay_dir"?, "server_id"?, "host"?, "port"?}`.
    ///
    /// # Errors
    /// Missing or mistyped fields.
    pub fn from_json(v: &serde_json::Value) -> Result<ReplicaState> {
        let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
        let label = s("name").unwrap_or_else(|| "replica".into());
        let mut st = ReplicaState::from_status(&label, |k| {
            let key = k.to_ascii_lowercase();
            v.get(&key).and_then(|x| match x {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Null => None,
                other => Some(other.to_string()),
            })
        })?;
        st.relay_dir = s("relay_dir").map(PathBuf::from);
        // Out of range is an error, never a value cut to fit (a wrong server_id
        // would keep the wrong events out of a diff).
        let num = |k: &str| v.get(k).and_then(|x| x.as_u64());
        st.server_id = match num("server_id") {
            Some(x) => Some(
                u32::try_from(x).map_err(|_| Error::bad_input(format!("{label}: server_id {x}"), "out of range"))?,
            ),
            None => None,
        };
        st.host = s("host");
        st.port = match num("port") {
            Some(x) => {
                Some(u16::try_from(x).map_err(|_| Error::bad_input(format!("{label}: port {x}"), "out of range"))?)
            }
            None => None,
        };
        st.gtid_executed = s("gtid_executed").filter(|g| !g.is_empty());
        st.gtid_received = s("gtid_received").filter(|g| !g.is_empty());
        Ok(st)
    }

    /// The JSON form read by [`ReplicaState::from_json`].
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "name": self.name,
            "master_log_file": self.read.file.to_string(),
            "read_master_log_pos": self.read.pos,
            "relay_master_log_file": self.exec.file.to_string(),
            "exec_master_log_pos": self.exec.pos,
            "relay_log_file": self.relay_exec.as_ref().map(|r| r.file.to_string()),
            "relay_log_pos": self.relay_exec.as_ref().map(|r| r.pos),
            "relay_dir": self.relay_dir.as_ref().map(|d| d.display().to_string()),
            "server_id": self.server_id,
            "host": self.host,
            "port": self.port,
            "gtid_executed": self.gtid_executed,
            "gtid_received": self.gtid_received,
        })
    }
}

/// The forms a plan's inputs come in besides a live server: a replica's data
/// directory, and the JSON that `diff --state` reads.
impl ReplicaState {
    /// From a replica's data directory: its `relay-log.info` and
    /// `master.info`; its relay logs are where `relay-log.info` says, else in
    /// `dir` itself.
    ///
    /// # Errors
    /// Unreadable or malformed files.
    pub fn from_datadir(label: &str, dir: &Path) -> Result<ReplicaState> {
        let mut st = ReplicaState::from_info_files(label, &dir.join("relay-log.info"), &dir.join("master.info"))?;
        st.relay_dir.get_or_insert_with(|| dir.to_path_buf());
        Ok(st)
    }

    /// Every state of a JSON array of [`from_json`](Self::from_json) objects
    /// (what the failover driver sends to `diff --state -`), read from
    /// `source`, which errors name.
    ///
    /// # Errors
    /// Not JSON, not an array, or an element [`from_json`](Self::from_json) refuses.
    pub fn list_from_json(text: &str, source: &Path) -> Result<Vec<ReplicaState>> {
        let v: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| Error::bad_input("replica states", e.to_string()).with_file(source))?;
        v.as_array()
            .ok_or_else(|| Error::bad_input("replica states", "expected a JSON array").with_file(source))?
            .iter()
            .map(|r| ReplicaState::from_json(r).map_err(|e| e.with_file(source)))
            .collect()
    }
}

/// Index of the latest replica: in a GTID topology, among those whose
/// received GTIDs hold every other's, the one that read the most (a replica
/// stopped inside a transaction has its GTID but not all of it); else the
/// one that read the most (`Master_Log_File`, `Read_Master_Log_Pos`),
/// ordered numerically by file. Ties go to the first.
pub fn latest(replicas: &[ReplicaState]) -> Option<usize> {
    let by_read =
        |ix: &mut dyn Iterator<Item = usize>| ix.reduce(|a, b| if replicas[b].read > replicas[a].read { b } else { a });
    match gtid_maximal(replicas) {
        Some(top) if !top.is_empty() => by_read(&mut top.into_iter()),
        _ => by_read(&mut (0..replicas.len())),
    }
}

/// In a GTID topology (every replica has `gtid_received`), the replicas
/// whose received GTIDs hold every other's; `None` otherwise.
fn gtid_maximal(replicas: &[ReplicaState]) -> Option<Vec<usize>> {
    let sets: Vec<Executed> = replicas
        .iter()
        .map(|r| r.gtid_received.as_deref().and_then(|g| Executed::parse(g).ok()))
        .collect::<Option<_>>()?;
    Some((0..sets.len()).filter(|&i| sets.iter().all(|o| sets[i].covers(o) == Some(true))).collect())
}

/// Where master coordinates and GTIDs disagree on the latest replica (a
/// GTID topology), what each says.
pub fn latest_note(replicas: &[ReplicaState]) -> Option<String> {
    let top = gtid_maximal(replicas)?;
    let by_pos = (0..replicas.len()).reduce(|a, b| if replicas[b].read > replicas[a].read { b } else { a })?;
    if top.contains(&by_pos) {
        return None;
    }
    Some(match top.first() {
        Some(&g) => format!(
            "master positions say {} (read {}) is the latest, GTIDs say {} ({}): going by GTID",
            replicas[by_pos].name,
            replicas[by_pos].read,
            replicas[g].name,
            replicas[g].gtid_received.as_deref().unwrap_or("")
        ),
        None => format!(
            "no replica has received every GTID another has; going by master positions: {}",
            replicas[by_pos].name
        ),
    })
}

/// Index of the replica that has read the least.
pub fn oldest(replicas: &[ReplicaState]) -> Option<usize> {
    (0..replicas.len()).reduce(|a, b| if replicas[b].read < replicas[a].read { b } else { a })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(f: &str, p: u64) -> ReplicaState {
        ReplicaState::from_status("r", |k| {
            Some(match k {
                "Master_Log_File" | "Relay_Master_Log_File" => f.to_string(),
                "Read_Master_Log_Pos" | "Exec_Master_Log_Pos" => p.to_string(),
                _ => return None,
            })
        })
        .unwrap()
    }

    #[test]
    fn latest_orders_files_numerically() {
        let v = [st("mysql-bin.999999", 900), st("mysql-bin.1000000", 4), st("mysql-bin.999999", 100)];
        assert_eq!(latest(&v), Some(1));
        assert_eq!(oldest(&v), Some(2));
    }

    #[test]
    fn replica_status_names_of_mysql_8() {
        let s = ReplicaState::from_status("r", |k| {
            Some(match k {
                "Source_Log_File" | "Relay_Source_Log_File" => "binlog.000003".into(),
                "Read_Source_Log_Pos" => "500".into(),
                "Exec_Source_Log_Pos" => "400".into(),
                "Relay_Log_File" => "relay.000002".into(),
                "Relay_Log_Pos" => "123".into(),
                _ => return None,
            })
        })
        .unwrap();
        assert_eq!(s.read.to_string(), "binlog.000003:500");
        assert_eq!(s.exec.pos, 400);
        assert_eq!(s.relay_exec.unwrap().to_string(), "relay.000002:123");
    }

    #[test]
    fn json_round_trip() {
        let a = st("mysql-bin.000007", 1234);
        let b = ReplicaState::from_json(&a.to_json()).unwrap();
        assert_eq!(a.read, b.read);
        assert_eq!(a.exec, b.exec);
        let mut c = a.clone();
        c.host = Some("127.0.0.1".into());
        c.port = Some(3307);
        let d = ReplicaState::from_json(&c.to_json()).unwrap();
        assert_eq!((d.host.as_deref(), d.port), (Some("127.0.0.1"), Some(3307)));
    }

    fn gst(f: &str, p: u64, received: &str) -> ReplicaState {
        let mut s = st(f, p);
        s.gtid_received = Some(received.to_string());
        s
    }

    #[test]
    fn latest_by_gtid_in_a_gtid_topology() {
        // Positions and GTIDs agree.
        let v = [gst("b.000002", 100, "0-1-10"), gst("b.000002", 300, "0-1-12"), gst("b.000002", 200, "0-1-11")];
        assert_eq!(latest(&v), Some(1));
        assert_eq!(latest_note(&v), None);
        // One stopped inside transaction 0-1-12 has its GTID, not all of it: the one that read more wins the tie.
        let v = [gst("b.000002", 280, "0-1-12"), gst("b.000002", 300, "0-1-12")];
        assert_eq!(latest(&v), Some(1));
        // They disagree (a position from another coordinate system): GTIDs win, and it is said.
        let v = [gst("b.000009", 4, "0-1-10"), gst("b.000002", 300, "0-1-12")];
        assert_eq!(latest(&v), Some(1));
        assert!(latest_note(&v).unwrap().contains("GTIDs say r (0-1-12)"), "{:?}", latest_note(&v));
        // Not every replica has GTIDs: positions.
        let v = [st("b.000009", 4), gst("b.000002", 300, "0-1-12")];
        assert_eq!(latest(&v), Some(0));
        assert_eq!(latest_note(&v), None);
        // MySQL sets: containment, not numbers.
        let u = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
        let v = [gst("b.000002", 900, &format!("{u}:1-5")), gst("b.000002", 100, &format!("{u}:1-3:4-9"))];
        assert_eq!(latest(&v), Some(1));
        let v = [gst("b.000002", 900, &format!("{u}:1-5")), gst("b.000002", 100, &format!("{u}:1-3:6-9"))];
        assert_eq!(latest(&v), Some(0), "incomparable sets: positions");
        assert!(latest_note(&v).unwrap().contains("no replica has received every GTID"));
    }
}
