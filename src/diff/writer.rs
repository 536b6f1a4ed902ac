//! Writes a diff as a valid binlog: magic, the FDE that governs the copied
//! events, the events copied verbatim, a new FDE wherever the format changes.
//! The file is built under a temporary name, cut back to the last
//! transaction boundary, fsynced and renamed into place: a reader never sees
//! a half-written diff, and a diff never ends inside a transaction.
//!
//! Copied events that lie back to back in the source are written as one run
//! ([`DiffWriter::copy_from`]), in-kernel from the source file
//! (`copy_file_range`) when it is mapped, else from its bytes: no copy
//! through a user buffer. Writeback to the device is started as the file
//! grows, so the final fsync has little left to flush.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::event::{Format, MAGIC, RawEvent, flags};
use crate::log::LogFile;

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
    /// Copied events not yet written: a range of the source passed to
    /// `copy_from`, whose address is `run_src`. `len` counts them already.
    run: Range<usize>,
    run_src: usize,
    /// Bytes of the file handed to the kernel's writeback so far.
    writeback_from: u64,
    writeback: Option<Writeback>,
    /// `copy_file_range` works between the sources and this file (until it fails once).
    in_kernel_copy: bool,
}

/// Starts the kernel's writeback of ranges of the file from a helper thread,
/// so the device works while the diff is still being copied. Issued from the
/// copying thread itself, `sync_file_range` does the filesystem's block
/// allocation there and slows the copy down; on another core it is free.
/// The fsync in [`DiffWriter::finish`] is still what makes the file durable.
struct Writeback {
    tx: Option<std::sync::mpsc::Sender<(u64, u64)>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Writeback {
    #[cfg(target_os = "linux")]
    fn start(f: &File) -> Option<Writeback> {
        use std::os::fd::AsRawFd;
        if std::env::var_os("BD_NO_SFR").is_some() {
            return None;
        }
        let f = f.try_clone().ok()?;
        let (tx, rx) = std::sync::mpsc::channel::<(u64, u64)>();
        let thread = std::thread::Builder::new()
            .name("diff-writeback".into())
            .spawn(move || {
                for (from, n) in rx {
                    let (Ok(from), Ok(n)) = (libc::off64_t::try_from(from), libc::off64_t::try_from(n)) else {
                        continue;
                    };
                    // SAFETY: a plain syscall on an fd this thread owns; failure only loses the head start.
                    let _ = unsafe { libc::sync_file_range(f.as_raw_fd(), from, n, libc::SYNC_FILE_RANGE_WRITE) };
                }
            })
            .ok()?;
        Some(Writeback { tx: Some(tx), thread: Some(thread) })
    }

    #[cfg(not(target_os = "linux"))]
    fn start(_: &File) -> Option<Writeback> {
        None
    }

    fn request(&self, from: u64, n: u64) {
        if let Some(tx) = &self.tx {
            let _ = tx.send((from, n));
        }
    }
}

impl Drop for Writeback {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A run longer than this is written out: large enough for few syscalls,
/// small enough that writeback starts early.
const RUN_MAX: usize = 8 << 20;

/// Piece size for `write`s straight from a source's bytes: the kernel copies
/// from a mapped source much faster in pieces of this size than of 8 MiB
/// (measured: about 0.6 s vs 0.9-2.9 s per GiB).
const WRITE_PIECE: usize = 1 << 20;

/// Writeback is started every this many bytes written.
const WRITEBACK_STEP: u64 = 32 << 20;

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
            run: 0..0,
            run_src: 0,
            writeback_from: 0,
            writeback: None,
            in_kernel_copy: cfg!(target_os = "linux") && std::env::var_os("BD_NO_CFR").is_none(),
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
            run: 0..0,
            run_src: 0,
            writeback_from: 0,
            writeback: None,
            in_kernel_copy: false,
        }
    }

    fn put(&mut self, b: &[u8]) -> Result<()> {
        if !self.run.is_empty() {
            return Err(self.unflushed());
        }
        self.len += b.len() as u64;
        if let Some(out) = self.out.as_mut() {
            out.write_all(b).map_err(|e| Error::io(&self.tmp, e))?;
            self.start_writeback();
        }
        Ok(())
    }

    fn unflushed(&self) -> Error {
        Error::invalid("diff: copied events not flushed from their source before another write").with_file(&self.path)
    }

    /// Hands what reached the file to writeback, every [`WRITEBACK_STEP`] bytes.
    fn start_writeback(&mut self) {
        let Some(out) = self.out.as_ref() else { return };
        // `len` counts the run not yet written and the buffer not yet flushed.
        let on_disk = self.len.saturating_sub(self.run.len() as u64 + out.buffer().len() as u64);
        if on_disk.saturating_sub(self.writeback_from) >= WRITEBACK_STEP {
            if self.writeback.is_none() {
                self.writeback = Writeback::start(out.get_ref());
            }
            if let Some(wb) = &self.writeback {
                wb.request(self.writeback_from, on_disk - self.writeback_from);
            }
            self.writeback_from = on_disk;
        }
    }

    /// Writes the pending run (bytes of `src`) to the file, emptying it.
    fn write_run(&mut self, src: &LogFile) -> Result<()> {
        let Some(out) = self.out.as_mut() else {
            self.run.start = self.run.end;
            return Ok(());
        };
        #[cfg(target_os = "linux")]
        if self.in_kernel_copy {
            if let Some(f) = src.mapped_file() {
                use std::os::fd::AsRawFd;
                out.flush().map_err(|e| Error::io(&self.tmp, e))?; // buffered bytes go first
                let (from, to) = (f.as_raw_fd(), out.get_ref().as_raw_fd());
                while !self.run.is_empty() {
                    let mut off = self.run.start as libc::loff_t;
                    // SAFETY: both fds are open for the call and `off` is a valid in/out
                    // pointer; the output offset is the file's own (NULL), which buffered writes share.
                    let n =
                        unsafe { libc::copy_file_range(from, &mut off, to, std::ptr::null_mut(), self.run.len(), 0) };
                    if n > 0 {
                        self.run.start += n as usize;
                        self.start_writeback();
                        continue;
                    }
                    let e = std::io::Error::last_os_error();
                    match (n, e.raw_os_error()) {
                        (0, _) => {}
                        (_, Some(libc::EINTR)) => continue,
                        (_, Some(libc::EXDEV | libc::ENOSYS | libc::EOPNOTSUPP | libc::EINVAL | libc::EBADF)) => {}
                        _ => return Err(Error::io(&self.tmp, e)),
                    }
                    // Not supported between these files (or nothing copied): plain writes from now on.
                    self.in_kernel_copy = false;
                    break;
                }
            }
        }
        while !self.run.is_empty() {
            let piece = self.run.start..self.run.end.min(self.run.start + WRITE_PIECE);
            let Some(bytes) = src.bytes().get(piece.clone()) else {
                return Err(
                    Error::invalid("diff: copied events lie past the end of their source").with_file(src.path())
                );
            };
            let Some(out) = self.out.as_mut() else { break };
            out.write_all(bytes).map_err(|e| Error::io(&self.tmp, e))?;
            self.run.start = piece.end;
            self.start_writeback();
        }
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

    /// Copies one event verbatim from `src`, the file it was read from (`ev`
    /// lies in `src.bytes()` at `ev.offset()`). Events that follow each other
    /// in `src` are gathered into one run and written together; call
    /// [`DiffWriter::flush_from`] with the same `src` before `src` goes away
    /// or anything else is written.
    ///
    /// # Errors
    /// No format declared yet, `ev` not at its offset in `src`, a run from
    /// another source still pending, or a write error.
    #[inline]
    pub fn copy_from(&mut self, src: &LogFile, ev: &RawEvent<'_>) -> Result<()> {
        if self.fmt.is_none() {
            return Err(Error::invalid("diff: event copied before any format description").with_file(&self.path));
        }
        let bytes = src.bytes();
        let at = usize::try_from(ev.offset()).unwrap_or(usize::MAX);
        let end = at.saturating_add(ev.size());
        if bytes.get(at..end).map(<[u8]>::as_ptr) != Some(ev.as_bytes().as_ptr()) {
            return Err(Error::invalid("diff: event copied from a source it is not in").with_file(&self.path));
        }
        let src_id = bytes.as_ptr() as usize;
        if !self.run.is_empty() {
            if self.run_src != src_id {
                return Err(self.unflushed());
            }
            if self.run.end != at || self.run.len() >= RUN_MAX {
                self.write_run(src)?;
            }
        }
        if self.run.is_empty() {
            self.run = at..end;
            self.run_src = src_id;
        } else {
            self.run.end = end;
        }
        self.len += ev.size() as u64;
        self.events += 1;
        Ok(())
    }

    /// Writes the pending run of copied events out of `src` (the source
    /// given to [`DiffWriter::copy_from`]).
    ///
    /// # Errors
    /// `src` is not that source, or a write error.
    pub fn flush_from(&mut self, src: &LogFile) -> Result<()> {
        if self.run.is_empty() {
            return Ok(());
        }
        if self.run_src != src.bytes().as_ptr() as usize {
            return Err(self.unflushed());
        }
        self.write_run(src)
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
            // Not yet written: cut the pending run instead of the file, as far as it goes.
            let pending = self.run.len() as u64;
            let written = self.len - pending;
            if self.committed_len >= written {
                self.run.end = self.run.start + (self.committed_len - written) as usize;
                self.len = self.committed_len;
                self.events = self.committed_events;
                return Ok(dropped);
            }
            self.run = self.run.start..self.run.start;
            self.writeback_from = self.writeback_from.min(self.committed_len);
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
        if !self.run.is_empty() {
            return Err(self.unflushed());
        }
        let Some(out) = self.out.as_mut() else {
            return Ok(Written { bytes: self.committed_len, events: self.committed_events });
        };
        let tmp = self.tmp.clone();
        out.flush().map_err(|e| Error::io(&tmp, e))?;
        self.writeback = None; // let its last requests finish first
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
