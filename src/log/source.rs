//! Where a log's bytes come from: a read-only memory map, or a plain read
//! into a buffer, behind one slice API.
//!
//! The length is snapshotted at open: relay logs and a live master's binlog
//! grow while we read, and we look only at what was there when we opened.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use crate::error::{Error, Result};

/// How to get at a file's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Access {
    /// Memory-map; fall back to reading if the map fails.
    #[default]
    Mmap,
    /// Read into memory (for filesystems where mapping is unwise).
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
    /// Mapping safety: the map is read-only and private to this process, but
    /// if another process truncates the file while it is mapped (a server
    /// purging relay logs), touching the lost pages raises SIGBUS. Callers
    /// that read files a live server may purge should use [`Access::Read`].
    ///
    /// # Errors
    /// The file cannot be opened or read.
    pub fn open(path: &Path, access: Access) -> Result<Source> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        let len =
            usize::try_from(len).map_err(|_| Error::invalid("file too large for this platform").with_file(path))?;
        if len == 0 {
            return Ok(Source { inner: Arc::new(Inner::Empty), len: 0 });
        }
        if access == Access::Mmap {
            // SAFETY: read-only map of a file we never write; see the SIGBUS note above.
            match unsafe { memmap2::MmapOptions::new().len(len).map(&file) } {
                Ok(m) => {
                    #[cfg(unix)]
                    let _ = m.advise(memmap2::Advice::Sequential);
                    return Ok(Source { inner: Arc::new(Inner::Mmap(m)), len });
                }
                Err(_) => { /* fall back to reading */ }
            }
        }
        let mut buf = Vec::with_capacity(len);
        file.take(len as u64).read_to_end(&mut buf).map_err(|e| Error::io(path, e))?;
        let len = buf.len();
        Ok(Source { inner: Arc::new(Inner::Buf(buf)), len })
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
