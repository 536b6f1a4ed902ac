//! A series of log files (a replica's relay logs, a server's binlogs) in
//! order, and how a series is found from what a user or a server names.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

use super::index::read_index;
use super::info::relay_log_path;
use super::name::LogName;

/// Which series [`LogSet::discover`] looks for in a folder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogKind {
    /// A server's binary logs: an index without `relay` in its name; by
    /// default `mysql-bin`.
    Binlog,
    /// A replica's relay logs: an index with `relay` in its name; by default
    /// `relay-bin`.
    Relay,
}

impl LogKind {
    /// The series name a server uses when none is configured.
    pub fn default_base(self) -> &'static str {
        match self {
            LogKind::Binlog => "mysql-bin",
            LogKind::Relay => "relay-bin",
        }
    }

    /// Whether a series name (`<base>` of `<base>.index`) is of this kind.
    fn names(self, base: &str) -> bool {
        base.contains("relay") == (self == LogKind::Relay)
    }
}

/// Relay-log (or binlog) files of one series, in sequence order.
#[derive(Clone, Debug)]
pub struct LogSet {
    files: Vec<(LogName, PathBuf)>,
}

impl LogSet {
    /// From explicit files (sorted by name).
    ///
    /// # Errors
    /// A file name that is not `<base>.<number>`, or files of different series.
    pub fn from_files(paths: impl IntoIterator<Item = PathBuf>) -> Result<LogSet> {
        let mut files = Vec::new();
        for p in paths {
            let n = p
                .file_name()
                .and_then(|n| n.to_str())
                .ok_or_else(|| Error::bad_input("log file name", "not UTF-8").with_file(&p))?
                .parse::<LogName>()
                .map_err(|e| Error::from(e).with_file(&p))?;
            files.push((n, p));
        }
        files.sort_by(|a, b| a.0.cmp(&b.0));
        if files.windows(2).any(|w| !w[0].0.same_series(&w[1].0)) {
            return Err(Error::bad_input("log files", "from more than one series"));
        }
        Ok(LogSet { files })
    }

    /// From an `.index` file (order as listed; entries resolved against its folder).
    ///
    /// # Errors
    /// The index cannot be read or lists a bad name.
    pub fn from_index(index: &Path) -> Result<LogSet> {
        let mut set = LogSet::from_files(read_index(index)?)?;
        set.files.dedup_by(|a, b| a.0 == b.0);
        Ok(set)
    }

    /// Every `<base>.<digits>` file in `dir` (the index is preferred when present).
    ///
    /// # Errors
    /// The folder cannot be read.
    pub fn from_dir(dir: &Path, base: &str) -> Result<LogSet> {
        let index = dir.join(format!("{base}.index"));
        if index.exists() {
            return LogSet::from_index(&index);
        }
        let mut paths = Vec::new();
        for e in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
            let p = e.map_err(|e| Error::io(dir, e))?.path();
            let Some(name) = p.file_name().and_then(|n| n.to_str()) else { continue };
            if let Ok(n) = name.parse::<LogName>() {
                if n.base() == base {
                    paths.push(p);
                }
            }
        }
        LogSet::from_files(paths)
    }

    /// Finds a series from what a user or a server names:
    /// - a log file `<base>.<digits>`: its series in its folder (as [`LogSet::from_dir`]);
    /// - a `.info` file (`relay-log.info`): the series of the relay log it
    ///   names (see [`relay_log_path`]; relative names against its folder,
    ///   and a path that does not exist, as from another machine, taken as
    ///   that name in its folder);
    /// - any other file: an index (as [`LogSet::from_index`]);
    /// - a folder: its one `<base>.index` of `kind`; with several, the
    ///   default series' (`mysql-bin.index`, `relay-bin.index`); with none,
    ///   the default series' files (`mysql-bin.NNNNNN`, `relay-bin.NNNNNN`).
    ///
    /// When the series name is known (a relay-log name from the server or
    /// an info file, MHA's `--current_relay_log`), [`LogSet::from_dir`] is the
    /// way.
    ///
    /// # Errors
    /// `path` or a file it leads to cannot be read, an info file names no
    /// relay log, several indexes of `kind` and none the default's, or (as
    /// [`LogSet::from_files`]) a bad name in an index.
    pub fn discover(path: &Path, kind: LogKind) -> Result<LogSet> {
        let parent = || path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let name = path.file_name().and_then(|n| n.to_str());
        if !path.is_dir() {
            if let Some(n) = name.and_then(|n| n.parse::<LogName>().ok()) {
                return LogSet::from_dir(parent(), n.base());
            }
            if name.is_some_and(|n| n.ends_with(".info")) {
                let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
                let mut file = relay_log_path(&text, parent())
                    .ok_or_else(|| Error::bad_input("relay-log.info", "no relay log name").with_file(path))?;
                // A path from another machine (a copied data folder): the relay logs are beside the info file.
                if !file.exists() {
                    if let Some(n) = file.file_name() {
                        file = parent().join(n);
                    }
                }
                let base =
                    file.file_name().and_then(|n| n.to_str()).and_then(|n| n.parse::<LogName>().ok()).ok_or_else(
                        || Error::bad_input(file.display().to_string(), "not a relay log name").with_file(path),
                    )?;
                let dir = file.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
                return LogSet::from_dir(dir, base.base());
            }
            return LogSet::from_index(path);
        }
        let mut indexes = Vec::new();
        for e in std::fs::read_dir(path).map_err(|e| Error::io(path, e))? {
            let p = e.map_err(|e| Error::io(path, e))?.path();
            let base = p.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".index"));
            if base.is_some_and(|b| kind.names(b)) && p.is_file() {
                indexes.push(p);
            }
        }
        let default = path.join(format!("{}.index", kind.default_base()));
        match indexes.as_slice() {
            [one] => LogSet::from_index(one),
            [] => LogSet::from_dir(path, kind.default_base()),
            several if several.contains(&default) => LogSet::from_index(&default),
            several => {
                let mut names: Vec<String> = several.iter().map(|p| p.display().to_string()).collect();
                names.sort();
                Err(Error::bad_input("log folder", format!("several log indexes, name one: {}", names.join(", ")))
                    .with_file(path))
            }
        }
    }

    /// The files, oldest first.
    pub fn files(&self) -> &[(LogName, PathBuf)] {
        &self.files
    }

    /// Files from `name` (inclusive) to the end.
    pub fn from_name(&self, name: &LogName) -> &[(LogName, PathBuf)] {
        let i = self.files.partition_point(|(n, _)| n < name);
        &self.files[i..]
    }

    /// The path of a file by name.
    pub fn path(&self, name: &LogName) -> Option<&Path> {
        self.files.binary_search_by(|(n, _)| n.cmp(name)).ok().map(|i| self.files[i].1.as_path())
    }

    /// The newest file.
    pub fn last(&self) -> Option<&(LogName, PathBuf)> {
        self.files.last()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(set: &LogSet) -> Vec<String> {
        set.files().iter().map(|(n, _)| n.to_string()).collect()
    }

    fn touch(dir: &Path, files: &[&str]) {
        for f in files {
            std::fs::write(dir.join(f), b"").unwrap();
        }
    }

    #[test]
    fn discover_by_folder_file_index_and_info() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        touch(d, &["mysql-bin.000001", "mysql-bin.000002", "host-relay-bin.000007", "host-relay-bin.000008"]);
        std::fs::write(d.join("mysql-bin.index"), "./mysql-bin.000001\n./mysql-bin.000002\n").unwrap();
        std::fs::write(d.join("host-relay-bin.index"), "./host-relay-bin.000007\n./host-relay-bin.000008\n").unwrap();
        std::fs::write(d.join("relay-log.info"), "7\n./host-relay-bin.000008\n4\nmysql-bin.000002\n120\n").unwrap();

        let bin = ["mysql-bin.000001", "mysql-bin.000002"];
        let relay = ["host-relay-bin.000007", "host-relay-bin.000008"];
        assert_eq!(names(&LogSet::discover(d, LogKind::Binlog).unwrap()), bin);
        assert_eq!(names(&LogSet::discover(d, LogKind::Relay).unwrap()), relay);
        assert_eq!(names(&LogSet::discover(&d.join("mysql-bin.index"), LogKind::Relay).unwrap()), bin);
        assert_eq!(names(&LogSet::discover(&d.join("host-relay-bin.000007"), LogKind::Binlog).unwrap()), relay);
        assert_eq!(names(&LogSet::discover(&d.join("relay-log.info"), LogKind::Relay).unwrap()), relay);
        std::fs::write(d.join("relay-log.info"), "/elsewhere/data/host-relay-bin.000008\n4\nmysql-bin.000002\n120\n")
            .unwrap();
        assert_eq!(names(&LogSet::discover(&d.join("relay-log.info"), LogKind::Relay).unwrap()), relay);

        // Several relay indexes: the default series', else a refusal naming them.
        std::fs::write(d.join("other-relay.index"), "").unwrap();
        let e = LogSet::discover(d, LogKind::Relay).unwrap_err().to_string();
        assert!(e.contains("several log indexes") && e.contains("other-relay.index"), "{e}");
        touch(d, &["relay-bin.000003"]);
        std::fs::write(d.join("relay-bin.index"), "relay-bin.000003\n").unwrap();
        assert_eq!(names(&LogSet::discover(d, LogKind::Relay).unwrap()), ["relay-bin.000003"]);
    }

    #[test]
    fn discover_without_an_index_takes_the_default_series() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        touch(d, &["mysql-bin.000010", "mysql-bin.000009", "relay-bin.000001", "other.000001"]);
        assert_eq!(names(&LogSet::discover(d, LogKind::Binlog).unwrap()), ["mysql-bin.000009", "mysql-bin.000010"]);
        assert_eq!(names(&LogSet::discover(d, LogKind::Relay).unwrap()), ["relay-bin.000001"]);
        std::fs::write(d.join("relay-log.info"), "\n").unwrap();
        assert!(LogSet::discover(&d.join("relay-log.info"), LogKind::Relay).is_err());
    }
}
