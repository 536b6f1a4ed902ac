//! `relay-log.info` and `master.info` in the MySQL and MariaDB layouts.
//!
//! Both may start with a line count (5.6+ and MariaDB); relay paths may be
//! absolute or relative to the data directory. `master.info` holds the
//! replication password: it is read only for the coordinates and never kept.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// What `relay-log.info` records: the SQL thread's position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayLogInfo {
    /// Current relay-log file (resolved to a path).
    pub relay_log_file: PathBuf,
    /// Offset in it (`Relay_Log_Pos`).
    pub relay_log_pos: u64,
    /// Master file being executed (`Relay_Master_Log_File`).
    pub master_log_file: String,
    /// Master position executed (`Exec_Master_Log_Pos`).
    pub master_log_pos: u64,
}

/// What `master.info` records: the IO thread's position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MasterInfo {
    /// `Master_Log_File`.
    pub master_log_file: String,
    /// `Read_Master_Log_Pos`.
    pub read_master_log_pos: u64,
}

fn lines_after_count(text: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = text.lines().collect();
    // Trimmed, as every field is (and as `relay_log_path` reads it).
    if lines.first().map(|l| l.trim()).is_some_and(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit())) {
        lines.remove(0);
    }
    lines
}

/// Parses relay-log.info text; relative relay paths are resolved against `datadir`.
///
/// # Errors
/// Missing lines or non-numeric positions.
pub fn parse_relay_log_info(text: &str, datadir: &Path) -> Result<RelayLogInfo> {
    let l = lines_after_count(text);
    let get = |i: usize, what: &str| {
        l.get(i).map(|s| s.trim()).ok_or_else(|| Error::bad_input("relay-log.info", format!("no {what}")))
    };
    let num = |i: usize, what: &str| -> Result<u64> {
        get(i, what)?.parse().map_err(|_| Error::bad_input("relay-log.info", format!("bad {what}")))
    };
    let rl = get(0, "relay log name")?;
    let rl = rl.strip_prefix("./").unwrap_or(rl);
    if rl.is_empty() {
        // Not the data directory itself (as `relay_log_path` says: no name).
        return Err(Error::bad_input("relay-log.info", "no relay log name"));
    }
    let p = Path::new(rl);
    let relay_log_file = if p.is_absolute() { p.to_path_buf() } else { datadir.join(p) };
    Ok(RelayLogInfo {
        relay_log_file,
        relay_log_pos: num(1, "relay log position")?,
        master_log_file: get(2, "master log name")?.to_string(),
        master_log_pos: num(3, "master log position")?,
    })
}

/// The relay-log file a `relay-log.info` names, however the rest of it
/// reads (only the name is needed to find the series): the first line, or
/// the second when the first is a line count; `./` stripped, a relative
/// name resolved against `datadir`. `None` when there is no name.
pub fn relay_log_path(text: &str, datadir: &Path) -> Option<PathBuf> {
    let mut lines = text.lines();
    let mut first = lines.next().unwrap_or("").trim();
    if !first.is_empty() && first.bytes().all(|b| b.is_ascii_digit()) {
        first = lines.next().unwrap_or("").trim();
    }
    let first = first.strip_prefix("./").unwrap_or(first);
    if first.is_empty() {
        return None;
    }
    let p = Path::new(first);
    Some(if p.is_absolute() { p.to_path_buf() } else { datadir.join(p) })
}

/// Reads `relay-log.info` (relative names resolved against its folder).
///
/// # Errors
/// Unreadable or malformed file.
pub fn read_relay_log_info(path: &Path) -> Result<RelayLogInfo> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse_relay_log_info(&text, path.parent().unwrap_or(Path::new("."))).map_err(|e| e.with_file(path))
}

/// Parses master.info text (only the first two fields after the count).
///
/// # Errors
/// Missing lines or a non-numeric position.
pub fn parse_master_info(text: &str) -> Result<MasterInfo> {
    let l = lines_after_count(text);
    let file = l
        .first()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Error::bad_input("master.info", "no master log name"))?;
    let pos = l
        .get(1)
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| Error::bad_input("master.info", "bad master log position"))?;
    Ok(MasterInfo { master_log_file: file.to_string(), read_master_log_pos: pos })
}

/// Reads `master.info`.
///
/// # Errors
/// Unreadable or malformed file.
pub fn read_master_info(path: &Path) -> Result<MasterInfo> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse_master_info(&text).map_err(|e| e.with_file(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mariadb_relay_log_info_with_count_and_absolute_path() {
        let t = "5\n/data/node1/relay-bin.000137\n761586\nmysql-bin.000047\n761244\n0\n";
        let r = parse_relay_log_info(t, Path::new("/elsewhere")).unwrap();
        assert_eq!(r.relay_log_file, PathBuf::from("/data/node1/relay-bin.000137"));
        assert_eq!(
            (r.relay_log_pos, r.master_log_file.as_str(), r.master_log_pos),
            (761586, "mysql-bin.000047", 761244)
        );
    }

    #[test]
    fn old_layout_relative_path() {
        let t = "./relay-bin.000002\n4\nmysql-bin.000001\n120\n";
        let r = parse_relay_log_info(t, Path::new("/dd")).unwrap();
        assert_eq!(r.relay_log_file, PathBuf::from("/dd/relay-bin.000002"));
    }

    #[test]
    fn relay_log_name_only() {
        let d = Path::new("/dd");
        assert_eq!(relay_log_path("./relay-bin.000002\n4\n", d), Some(PathBuf::from("/dd/relay-bin.000002")));
        assert_eq!(relay_log_path("7\n/x/r.000009\ngarbage\n", d), Some(PathBuf::from("/x/r.000009")));
        assert_eq!(relay_log_path("7\n\n", d), None);
        assert_eq!(relay_log_path("", d), None);
    }

    #[test]
    fn master_info() {
        let m = parse_master_info("33\nmysql-bin.000003\n1234\n127.0.0.1\nrepl\nsecret\n3306\n").unwrap();
        assert_eq!(m, MasterInfo { master_log_file: "mysql-bin.000003".into(), read_master_log_pos: 1234 });
        let e = parse_master_info("").unwrap_err();
        assert!(matches!(e.kind(), crate::error::ErrorKind::BadInput { .. }), "{e}");
        assert_eq!(e.to_string(), "master.info: no master log name");
    }
}
