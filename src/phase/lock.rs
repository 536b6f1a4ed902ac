//! One failover or switch of a cluster at a time: an exclusive `flock` on a
//! file in the manager's workdir, held for the run (the kernel drops it when
//! the process dies, so a crash never leaves the cluster locked). A second
//! run is refused at once, naming the holder: it changed nothing.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The lock file of a cluster.
pub fn path(manager_workdir: &Path) -> PathBuf {
    manager_workdir.join("binlog-diff.lock")
}

/// A held cluster lock; dropping it releases the lock.
#[derive(Debug)]
pub struct ClusterLock {
    _file: File,
}

impl ClusterLock {
    /// Takes the lock for `what` (`failover`, `switch`), or refuses.
    ///
    /// # Errors
    /// [`crate::error::ErrorKind::Refused`] when another run holds it (its
    /// pid and what it does are named); an I/O error on the lock file.
    pub fn take(manager_workdir: &Path, what: &str) -> Result<ClusterLock> {
        std::fs::create_dir_all(manager_workdir).map_err(|e| Error::io(manager_workdir, e))?;
        let p = path(manager_workdir);
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode_0600()
            .open(&p)
            .map_err(|e| Error::io(&p, e))?;
        // SAFETY: flock on a file descriptor we own, for as long as `f` lives.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let mut holder = String::new();
            let _ = f.read_to_string(&mut holder);
            return Err(Error::refused(format!(
                "another run holds this cluster ({}; lock {}): nothing was changed; wait for it to end",
                holder.trim(),
                p.display()
            )));
        }
        let _ = f.set_len(0);
        let _ = f.rewind();
        let _ = write!(f, "{what} by pid {}", std::process::id());
        let _ = f.flush();
        Ok(ClusterLock { _file: f })
    }
}

trait Mode0600 {
    fn mode_0600(&mut self) -> &mut Self;
}

impl Mode0600 for std::fs::OpenOptions {
    fn mode_0600(&mut self) -> &mut Self {
        std::os::unix::fs::OpenOptionsExt::mode(self, 0o600)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_run_is_refused_until_the_first_ends() {
        let d = tempfile::tempdir().unwrap();
        let first = ClusterLock::take(d.path(), "switch").unwrap();
        let e = ClusterLock::take(d.path(), "failover").unwrap_err();
        assert!(matches!(e.kind(), crate::error::ErrorKind::Refused(_)), "{e}");
        assert!(e.to_string().contains(&format!("switch by pid {}", std::process::id())), "{e}");
        drop(first);
        ClusterLock::take(d.path(), "failover").unwrap();
    }
}
