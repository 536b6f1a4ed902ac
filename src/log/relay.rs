//! A replica's relay-log set: its files in order.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

use super::index::read_index;
use super::name::LogName;

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
                .ok_or_else(|| Error::invalid("log file without a UTF-8 name").with_file(&p))?
                .parse::<LogName>()
                .map_err(|e| Error::invalid(e.to_string()).with_file(&p))?;
            files.push((n, p));
        }
        files.sort_by(|a, b| a.0.cmp(&b.0));
        if files.windows(2).any(|w| !w[0].0.same_series(&w[1].0)) {
            return Err(Error::invalid("log files from more than one series"));
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
