//! Log files on disk: sources (mmap or read), whole-file walks with errors
//! that name the file, typed log names, relay/binlog sets, index and info files.

pub mod file;
pub mod index;
pub mod info;
pub mod name;
pub mod relay;
pub mod source;

pub use file::{LiveFile, LogFile, RecoveryMode, Tail};
pub use name::LogName;
pub use relay::{LogKind, LogSet};
pub use source::{Access, SharedBytes, Source, Windows};

/// Writes `bytes` to `path` through a temporary file in the same folder,
/// fsynced and renamed over it: a reader sees the old file or the whole new
/// one, never a half-written one.
///
/// # Errors
/// Creating, writing, syncing or renaming fails (the temporary file is removed).
pub fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> crate::error::Result<()> {
    use std::io::Write;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp.{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        crate::error::Error::io(path, e)
    })
}
