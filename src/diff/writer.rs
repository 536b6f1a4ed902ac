//! Writes a diff as a valid binlog: magic, the FDE that governs the copied
//! events, the events copied verbatim, a new FDE wherever the format changes.
//! The file is built under a temporary name, cut back to the last
//! transaction boundary, fsynced and renamed into place: a reader never sees
//! a half-written diff, and a diff never ends inside a transaction.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::event::{Format, MAGIC, RawEvent, flags};

/// A diff being written.
pub struct DiffWriter {
    path: PathBuf,
    tmp: PathBuf,
    /// `None` when counting only (a plan's dry run).
    out: Option<BufWriter<File>>,
    len: u64,
    committed_len: u64,
    events: u64,
    committed_events: u64,
    fmt: Option<Format>,
    done: bool,
}

/// What a finished diff holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Written {
    /// Bytes in the file (magic and FDEs included).
    pub bytes: u64,
    /// Events copied (FDEs written by us not counted).
    pub events: u64,
}

impl DiffWriter {
    /// Starts a diff that will be renamed to `path` on [`DiffWriter::finish`].
    ///
    /// # Errors
    /// The temporary file cannot be created.
    pub fn create(path: &Path) -> Result<DiffWriter> {
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let name = path.file_name().ok_or_else(|| Error::invalid("diff path has no file name").with_file(path))?;
        let tmp = dir.join(format!(".{}.tmp.{}", name.to_string_lossy(), std::process::id()));
        let f =
            OpenOptions::new().write(true).create(true).truncate(true).open(&tmp).map_err(|e| Error::io(&tmp, e))?;
        let mut w = DiffWriter {
            path: path.to_path_buf(),
            tmp,
            out: Some(BufWriter::with_capacity(1 << 20, f)),
            len: 0,
            committed_len: 0,
            events: 0,
            committed_events: 0,
            fmt: None,
            done: false,
        };
        w.put(&MAGIC)?;
        w.committed_len = w.len;
        Ok(w)
    }

    /// A writer that only counts: nothing touches the disk.
    pub fn counting() -> DiffWriter {
        DiffWriter {
            path: PathBuf::new(),
            tmp: PathBuf::new(),
            out: None,
            len: 4,
            committed_len: 4,
            events: 0,
            committed_events: 0,
            fmt: None,
            done: true,
        }
    }

    fn put(&mut self, b: &[u8]) -> Result<()> {
        if let Some(out) = self.out.as_mut() {
            out.write_all(b).map_err(|e| Error::io(&self.tmp, e))?;
        }
        self.len += b.len() as u64;
        Ok(())
    }

    /// The format of the events copied so far.
    pub fn format(&self) -> Option<&Format> {
        self.fmt.as_ref()
    }

    /// Declares the format of the events that follow, given the FDE event
    /// that describes them. Writes it only when the encoding changes. The
    /// copy has IN_USE cleared (its CRC does not cover that bit), so readers
    /// do not warn about an unclosed file.
    ///
    /// # Errors
    /// A write error.
    pub fn set_format(&mut self, fde: &RawEvent<'_>, fmt: &Format) -> Result<()> {
        if self.fmt.as_ref().is_some_and(|f| f.same_encoding(fmt)) {
            return Ok(());
        }
        let mut b = fde.as_bytes().to_vec();
        let orig = fde.flags();
        let fl = orig & !(flags::BINLOG_IN_USE | flags::RELAY_LOG);
        b[17..19].copy_from_slice(&fl.to_le_bytes());
        if orig & flags::RELAY_LOG != 0 && fde.has_checksum() {
            // RELAY_LOG, unlike IN_USE, is covered by the CRC: recompute.
            let n = b.len();
            let c = crate::event::checksum::compute_crc32(&b[..n - 4]);
            b[n - 4..].copy_from_slice(&c.to_le_bytes());
        }
        self.put(&b)?;
        if self.committed_len == self.len - b.len() as u64 {
            // A format change between transactions is itself a safe cut point.
            self.committed_len = self.len;
        }
        self.fmt = Some(fmt.clone());
        Ok(())
    }

    /// Copies one event verbatim.
    ///
    /// # Errors
    /// No format declared yet, or a write error.
    #[inline]
    pub fn copy(&mut self, ev: &RawEvent<'_>) -> Result<()> {
        if self.fmt.is_none() {
            return Err(Error::invalid("diff: event copied before any format description").with_file(&self.path));
        }
        self.put(ev.as_bytes())?;
        self.events += 1;
        Ok(())
    }

    /// Everything written so far ends on a transaction boundary.
    pub fn commit_point(&mut self) {
        self.committed_len = self.len;
        self.committed_events = self.events;
    }

    /// Drops everything written after the last commit point (a trailing
    /// incomplete transaction), so another source can follow.
    ///
    /// # Errors
    /// An I/O error.
    pub fn rollback_to_commit_point(&mut self) -> Result<u64> {
        let dropped = self.len - self.committed_len;
        if dropped > 0 {
            if let Some(out) = self.out.as_mut() {
                let tmp = self.tmp.clone();
                out.flush().map_err(|e| Error::io(&tmp, e))?;
                let f = out.get_mut();
                f.set_len(self.committed_len).map_err(|e| Error::io(&tmp, e))?;
                f.seek(SeekFrom::Start(self.committed_len)).map_err(|e| Error::io(&tmp, e))?;
            }
            self.len = self.committed_len;
            self.events = self.committed_events;
        }
        Ok(dropped)
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Cuts the file back to the last commit point, fsyncs and renames it.
    ///
    /// # Errors
    /// An I/O error; the temporary file is removed.
    pub fn finish(mut self) -> Result<Written> {
        let r = self.finish_inner();
        if r.is_err() {
            let _ = std::fs::remove_file(&self.tmp);
        }
        self.done = true;
        r
    }

    fn finish_inner(&mut self) -> Result<Written> {
        self.rollback_to_commit_point()?;
        let Some(out) = self.out.as_mut() else {
            return Ok(Written { bytes: self.committed_len, events: self.committed_events });
        };
        let tmp = self.tmp.clone();
        out.flush().map_err(|e| Error::io(&tmp, e))?;
        let f = out.get_mut();
        f.sync_all().map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| Error::io(&self.path, e))?;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(Written { bytes: self.committed_len, events: self.committed_events })
    }
}

impl Drop for DiffWriter {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}
