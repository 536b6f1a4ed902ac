//! Where a log's bytes come from: a read-only memory map, or a plain read
//! into a buffer, behind one slice API.
//!
//! The length is snapshotted at open: relay logs and a live master's binlog
//! grow while we read, and we look only at what was there when we opened.
//!
//! # Mapping and files that shrink
//!
//! A mapped file that another process truncates raises SIGBUS when a lost
//! page is touched: the process dies. A restarting mysqld may trim its last
//! binlog, `purge_relay_logs` or a restarting replica may cut a relay log.
//! So the files of a live or restartable server (the dead master's binlogs
//! that `save_binary_logs` saves, the latest replica's relay logs that the
//! cut and the mapping read) are read, never mapped ([`Access::Read`], the
//! default everywhere but the offline inspectors), in windows of at most a
//! few MiB ([`Windows`], reused buffers: a multi-GB relay set is never held
//! whole): a file that shrinks while it is read is an error naming it and
//! both lengths, and one that shrinks after a window was read leaves us with
//! the bytes it had then, never a signal. Mapping ([`Access::Mmap`]) is kept
//! for `dump`, `verify` and `stats` on files a user names (`--no-mmap`
//! reads) and for our own diffs.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};

/// How to get at a file's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Access {
    /// Memory-map; fall back to reading if the map fails. Only for files no
    /// other process truncates while we hold them (see the module doc).
    Mmap,
    /// Read into memory, checking that the file did not shrink meanwhile:
    /// for a live or restartable server's files.
    #[default]
    Read,
}

/// A file's bytes, mapped or read, up to the length seen at open.
pub struct Source {
    inner: Arc<Inner>,
    len: usize,
}

/// A handle on a [`Source`]'s bytes that may outlive it and cross threads
/// (a diff's copier writes runs of them while the walk moves on).
#[derive(Clone)]
pub struct SharedBytes {
    inner: Arc<Inner>,
    len: usize,
}

impl SharedBytes {
    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        self.inner.slice(self.len)
    }
}

enum Inner {
    Mmap(memmap2::Mmap),
    Buf(Vec<u8>),
    Empty,
}

impl Inner {
    fn slice(&self, len: usize) -> &[u8] {
        match self {
            Inner::Mmap(m) => &m[..len],
            Inner::Buf(b) => &b[..len],
            Inner::Empty => &[],
        }
    }
}

impl Source {
    /// Opens `path` read-only.
    ///
    /// # Safety of mapping
    /// With [`Access::Mmap`] the map is read-only and private to this
    /// process, but if another process truncates the file while it is
    /// mapped, touching the lost pages raises SIGBUS. Map only files nobody
    /// trims while we hold them (see the module doc); [`Access::Read`] is for
    /// the others.
    ///
    /// # Errors
    /// The file cannot be opened or read; read, it is shorter afterwards
    /// than when it was opened (it shrank while being read).
    pub fn open(path: &Path, access: Access) -> Result<Source> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        let len = usize::try_from(len).map_err(|_| {
            Error::io(path, std::io::Error::new(std::io::ErrorKind::FileTooLarge, "file too large for this platform"))
        })?;
        test_hook("source-opened");
        if len == 0 {
            return Ok(Source { inner: Arc::new(Inner::Empty), len: 0 });
        }
        if access == Access::Mmap {
            // SAFETY: a read-only map of a file we never write. The caller
            // chose Mmap for a file no other process truncates while we hold
            // it: one truncated under the map would raise SIGBUS (module doc).
            match unsafe { memmap2::MmapOptions::new().len(len).map(&file) } {
                Ok(m) => {
                    #[cfg(unix)]
                    let _ = m.advise(memmap2::Advice::Sequential);
                    return Ok(Source { inner: Arc::new(Inner::Mmap(m)), len });
                }
                Err(_) => { /* fall back to reading */ }
            }
        }
        let buf = read_checked(path, &file, len, len as u64, true)?;
        Ok(Source { inner: Arc::new(Inner::Buf(buf)), len })
    }

    /// Reads at most the first `max` bytes of `path` (never mapped); also
    /// returns the file's length at open.
    ///
    /// # Errors
    /// As [`Source::open`] with [`Access::Read`].
    pub fn open_prefix(path: &Path, max: usize) -> Result<(Source, u64)> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        let n = usize::try_from(len).unwrap_or(usize::MAX).min(max);
        let buf = read_checked(path, &file, n, len, false)?;
        Ok((Source::from_vec(buf), len))
    }

    /// Wraps bytes already in memory.
    pub fn from_vec(buf: Vec<u8>) -> Source {
        let len = buf.len();
        Source { inner: Arc::new(Inner::Buf(buf)), len }
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        self.inner.slice(self.len)
    }

    /// Whether the bytes are memory-mapped.
    pub fn is_mapped(&self) -> bool {
        matches!(*self.inner, Inner::Mmap(_))
    }

    /// A handle on the same bytes (no copy).
    pub fn shared(&self) -> SharedBytes {
        SharedBytes { inner: Arc::clone(&self.inner), len: self.len }
    }
}

/// The first window of a [`Windows`] read; each next one is twice as big,
/// up to [`WINDOW_MAX`]: a header costs 64 KiB, a long walk few reads.
const WINDOW_FIRST: usize = 64 << 10;
/// The largest window (an event longer than this gets a window its size).
const WINDOW_MAX: usize = 8 << 20;
/// Buffers kept for reuse (reading into pages already faulted in).
const SPARE_MAX: usize = 8;

/// A file read in windows of at most a few MiB ([`Access::Read`]), or
/// mapped whole ([`Access::Mmap`]): a live server's file walked without
/// holding it whole in memory. Its length is taken at open; every window
/// read is checked against the file's length afterwards (it shrank while
/// being read: an error naming the file and both lengths).
pub struct Windows {
    path: PathBuf,
    file: File,
    len: u64,
    whole: Option<Source>,
    next_size: usize,
    max_size: usize,
    spare: Vec<Arc<Inner>>,
}

impl Windows {
    /// Opens `path` read-only and takes its length.
    ///
    /// # Errors
    /// The file cannot be opened (or mapped and read).
    pub fn open(path: &Path, access: Access) -> Result<Windows> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        let whole = match access {
            Access::Mmap => Some(Source::open(path, Access::Mmap)?),
            Access::Read => {
                test_hook("source-opened");
                None
            }
        };
        let len = whole.as_ref().map_or(len, |w| w.as_slice().len() as u64);
        Ok(Windows {
            path: path.to_path_buf(),
            file,
            len,
            whole,
            next_size: WINDOW_FIRST,
            max_size: WINDOW_MAX,
            spare: Vec::new(),
        })
    }

    /// Tests: windows of `first` bytes, doubling up to `max`.
    #[cfg(test)]
    pub(crate) fn with_sizes(mut self, first: usize, max: usize) -> Windows {
        (self.next_size, self.max_size) = (first, max);
        self
    }

    /// The file's length at open.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the file was empty at open.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The file's bytes from `off` on, at least `min` of them (or to the
    /// end), and the file offset of the first (mapped: the whole file, 0).
    ///
    /// # Errors
    /// A read error, or the file shrank below what was to be read.
    pub fn read(&mut self, off: u64, min: usize) -> Result<(Source, u64)> {
        if let Some(w) = &self.whole {
            return Ok((Source { inner: Arc::clone(&w.inner), len: w.len }, 0));
        }
        let off = off.min(self.len);
        let want = min.max(self.next_size);
        self.next_size = (self.next_size * 2).min(self.max_size);
        let n = usize::try_from((self.len - off).min(want as u64)).unwrap_or(usize::MAX);
        let mut inner = match self.spare.iter().position(|a| Arc::strong_count(a) == 1) {
            Some(i) => self.spare.swap_remove(i),
            None => Arc::new(Inner::Buf(Vec::new())),
        };
        let Some(Inner::Buf(buf)) = Arc::get_mut(&mut inner) else { unreachable!("a spare buffer is ours alone") };
        buf.clear();
        buf.reserve(n);
        let path = &self.path;
        (&self.file).seek(SeekFrom::Start(off)).map_err(|e| Error::io(path, e))?;
        (&self.file).take(n as u64).read_to_end(buf).map_err(|e| Error::io(path, e))?;
        test_hook("source-read");
        check_len(path, &self.file, self.len, off + buf.len() as u64, off + n as u64)?;
        let len = buf.len();
        if self.spare.len() < SPARE_MAX {
            self.spare.push(Arc::clone(&inner));
        }
        Ok((Source { inner, len }, off))
    }
}

/// After reading up to `got` of the `want` bytes expected: an error when the
/// file (`len` bytes at open) is now shorter than that.
fn check_len(path: &Path, file: &File, len: u64, got: u64, want: u64) -> Result<()> {
    let now = file.metadata().map_err(|e| Error::io(path, e))?.len();
    if got < want || now < want {
        let msg = format!(
            "shrank while being read: {len} bytes when opened, {} now (a restarting server trimmed it?)",
            now.min(got)
        );
        return Err(Error::io(path, std::io::Error::new(std::io::ErrorKind::UnexpectedEof, msg)));
    }
    Ok(())
}

/// Reads the first `len` bytes of `file` (`at_open` bytes long when
/// opened); an error naming the file and both lengths when it is shorter
/// than that during or after the read. `hook`: a whole-file read, where
/// tests may stop ([`test_hook`]).
fn read_checked(path: &Path, file: &File, len: usize, at_open: u64, hook: bool) -> Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(len);
    file.take(len as u64).read_to_end(&mut buf).map_err(|e| Error::io(path, e))?;
    if hook {
        test_hook("source-read");
    }
    check_len(path, file, at_open, buf.len() as u64, len as u64)?;
    Ok(buf)
}

/// A step tests may stop at (fail-rs failpoints: compiled in only when the
/// `failpoints` feature is on, as in `cargo test` builds, and configured by
/// the `FAILPOINTS` environment variable, e.g.
/// `FAILPOINTS=source-opened=1*return(/tmp/x/fifo)`): with an argument, waits
/// until whoever holds that FIFO open for writing closes it, so a test can
/// change the file at exactly this step without sleeping.
fn test_hook(name: &str) {
    fn wait(name: &str) -> Option<()> {
        let _ = name; // unused when the failpoints are not compiled in
        fail::fail_point!(name, |arg: Option<String>| {
            if let Some(fifo) = arg {
                let _ = std::fs::read(fifo);
            }
            Some(())
        });
        None
    }
    let _ = wait(name);
}
