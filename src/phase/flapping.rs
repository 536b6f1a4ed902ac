//! The anti-flapping record (MHA's `last_failover_minute`): after a
//! failover, another on the same cluster is refused for a while unless
//! acknowledged (`binlog-diff ack`) or forced. The record also keeps where
//! the failover left things, for whoever looks at it later.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The last failover of a cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastFailover {
    /// When it ended (Unix seconds).
    pub at: u64,
    /// The dead master's section name.
    pub dead_master: String,
    /// The new master's section name.
    pub new_master: String,
}

/// The record's file in the manager's workdir.
pub fn last_failover_file(manager_workdir: &Path) -> PathBuf {
    manager_workdir.join("binlog-diff-last-failover.json")
}

/// Records a failover now ([`crate::log::write_atomically`]: temporary file,
/// fsync, rename, folder fsync).
///
/// # Errors
/// The file cannot be written.
pub fn record_failover(file: &Path, dead: &str, new: &str) -> Result<()> {
    if let Some(d) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
    }
    let r = LastFailover { at: super::now_secs(), dead_master: dead.to_string(), new_master: new.to_string() };
    let text = serde_json::to_string(&r).map_err(|e| Error::invalid(e.to_string()))?;
    crate::log::write_atomically(file, text.as_bytes())
}

/// The record, when there is one.
///
/// # Errors
/// It exists but cannot be read or parsed.
pub fn last_failover(file: &Path) -> Result<Option<LastFailover>> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(file, e)),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| Error::bad_input("the anti-flapping record", e.to_string()).with_file(file))
}

/// Why another failover is blocked now (a failover within `window_secs`
/// that nobody acknowledged), or `None`.
///
/// # Errors
/// The record exists but cannot be read.
pub fn blocked_by_last_failover(file: &Path, window_secs: u64) -> Result<Option<String>> {
    let Some(r) = last_failover(file)? else { return Ok(None) };
    let age = super::now_secs().saturating_sub(r.at);
    if age >= window_secs {
        return Ok(None);
    }
    Ok(Some(format!(
        "a failover ran on this cluster {} min ago ({} -> {}); another is blocked for {} min after one \
         (last_failover_minute): run `binlog-diff ack --conf …` once it is looked at, or --force",
        age / 60,
        r.dead_master,
        r.new_master,
        window_secs / 60
    )))
}

/// `binlog-diff ack`: lifts the block by removing the record; returns what
/// it said (`None`: there was none).
///
/// # Errors
/// It exists but cannot be read or removed.
pub fn acknowledge(file: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(file) {
        Ok(t) => {
            std::fs::remove_file(file).map_err(|e| Error::io(file, e))?;
            Ok(Some(t.trim().to_string()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(file, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_within_the_window_only() {
        let d = tempfile::tempdir().unwrap();
        let f = last_failover_file(d.path());
        assert_eq!(blocked_by_last_failover(&f, 60).unwrap(), None);
        record_failover(&f, "server1", "server2").unwrap();
        let why = blocked_by_last_failover(&f, 600).unwrap().unwrap();
        assert!(why.contains("0 min ago (server1 -> server2)"), "{why}");
        assert_eq!(blocked_by_last_failover(&f, 0).unwrap(), None);
        std::fs::write(&f, "{").unwrap();
        assert!(blocked_by_last_failover(&f, 60).is_err());
    }
}
