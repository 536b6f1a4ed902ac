//! Log files on disk: sources (mmap or read), whole-file walks with errors
//! that name the file, typed log names, relay/binlog sets, index and info files.

pub mod file;
pub mod index;
pub mod info;
pub mod modes;
pub mod name;
pub mod relay;
pub mod source;

pub use file::{LiveFile, LogFile, RecoveryMode, Tail};
pub use name::LogName;
pub use relay::{LogKind, LogSet};
pub use source::{Access, SharedBytes, Source, Windows};

/// Writes `bytes` to `path` through a temporary file in the same folder,
/// fsynced and renamed over it, then the folder fsynced: a reader sees the
/// old file or the whole new one, never a half-written one, and after a
/// crash the rename is on disk too.
///
/// The file is created mode 0600 (data files hold rows and topology
/// details). The temporary name is unique (`.NAME.tmp.PID.N`, created with
/// `O_EXCL`), so writers of the same path, in this process or another, never
/// share one; the last rename wins.
///
/// # Errors
/// Creating, writing, syncing or renaming fails (the temporary file is
/// removed), or the folder cannot be synced after the rename (the new file
/// is in place, its rename perhaps not yet durable).
pub fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> crate::error::Result<()> {
    use std::io::Write;
    let (tmp, mut f) = create_temp_beside(path).map_err(|e| crate::error::Error::io(path, e))?;
    let mut write = || -> std::io::Result<()> {
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_file(&tmp);
        return Err(crate::error::Error::io(path, e));
    }
    sync_parent(path).map_err(|e| crate::error::Error::io(path, e))
}

/// Creates a new, empty, mode-0600 file with a unique hidden name
/// (`.NAME.tmp.PID.N`, `O_EXCL`) in `path`'s folder, for a write that ends
/// with a rename onto `path`.
///
/// # Errors
/// The file cannot be created.
pub fn create_temp_beside(path: &std::path::Path) -> std::io::Result<(std::path::PathBuf, std::fs::File)> {
    use std::os::unix::fs::OpenOptionsExt;
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let tmp = path.with_file_name(format!(".{name}.tmp.{}.{n}", std::process::id()));
        match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            // Left by a dead process with our pid: take the next number.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// fsyncs `path`'s folder, so that a rename into it survives a crash.
///
/// # Errors
/// The folder cannot be opened or synced.
pub fn sync_parent(path: &std::path::Path) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn temps(dir: &std::path::Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp."))
            .collect()
    }

    #[test]
    fn atomic_write_is_0600_and_leaves_no_temp_on_failure() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("report.json");
        write_atomically(&p, b"one").unwrap();
        write_atomically(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{mode:o}");
        // The rename fails (a non-empty folder is in the way): an error naming
        // the path, and no temporary file left.
        let blocked = d.path().join("blocked");
        std::fs::create_dir_all(blocked.join("inside")).unwrap();
        let e = write_atomically(&blocked, b"x").unwrap_err().to_string();
        assert!(e.contains("blocked"), "{e}");
        assert!(temps(d.path()).is_empty(), "{:?}", temps(d.path()));
    }

    #[test]
    fn concurrent_atomic_writes_never_share_a_temp_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("state.json");
        let bodies: Vec<Vec<u8>> = (0..4u8).map(|t| vec![b'a' + t; 64 << 10]).collect();
        std::thread::scope(|s| {
            for b in &bodies {
                let p = &p;
                s.spawn(move || {
                    for _ in 0..50 {
                        write_atomically(p, b).unwrap();
                    }
                });
            }
        });
        let got = std::fs::read(&p).unwrap();
        assert!(bodies.contains(&got), "a whole body, not a mix ({} bytes)", got.len());
        assert!(temps(d.path()).is_empty(), "{:?}", temps(d.path()));
    }
}
