//! Processes the tests start and wait for: finding a system tool, scripts
//! to run, what a command printed, signals (by pid, only to processes a test
//! started or verified through /proc), whether a pid still runs, a
//! parent-death signal for servers, and bounded polling.

use std::path::{Path, PathBuf};
use std::process::{Child, Output};
use std::time::{Duration, Instant};

/// How often [`poll_until`] looks.
pub const POLL: Duration = Duration::from_millis(20);

/// Poll `f` every 20 ms until it returns `Some`, or `None` after `timeout`.
pub fn poll_until<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(POLL);
    }
}

/// `kill(pid, sig)`; true if the signal was sent.
pub fn signal(pid: u32, sig: i32) -> bool {
    // SAFETY: kill(2) on a pid the caller started or verified through /proc.
    unsafe { libc::kill(pid as libc::pid_t, sig) == 0 }
}

/// In a forked child before exec: die with SIGKILL when the parent
/// (thread) dies.  Async-signal-safe.
#[cfg(target_os = "linux")]
pub fn set_parent_death_signal() -> std::io::Result<()> {
    // SAFETY: prctl(PR_SET_PDEATHSIG, sig) only sets a process attribute.
    if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
pub fn set_parent_death_signal() -> std::io::Result<()> {
    Ok(())
}

/// True if `pid` exists and is not a zombie (Linux /proc; falls back to kill 0).
pub fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // "pid (comm) S ..." -- comm may contain spaces/parens: take the last ')'
        Ok(stat) => stat.rsplit_once(')').map(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X'])).unwrap_or(true),
        Err(_) if Path::new("/proc/self/stat").exists() => false,
        Err(_) => signal(pid, 0),
    }
}

/// A system tool: `PATH`, then `/usr/local/sbin`, `/usr/local/bin`,
/// `/usr/sbin`, `/usr/bin`, `/sbin`, `/bin`.  `None` if it is in none.
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> =
        std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
    dirs.extend(["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"].map(PathBuf::from));
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

/// Absolute path of a system tool ([`find_tool`]); panics if missing.
pub fn tool(name: &str) -> PathBuf {
    find_tool(name).unwrap_or_else(|| {
        panic!("`{name}` not found (PATH, /usr/local/sbin, /usr/local/bin, /usr/sbin, /usr/bin, /sbin, /bin)")
    })
}

/// stdout then stderr, as text.
pub fn all_text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// (stdout, stderr), as text.
pub fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

/// Writes an executable (0755) file.
pub fn write_script(p: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(p, text).unwrap();
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// The pid of the child in `slot` while it runs.
pub fn running_pid(slot: &mut Option<Child>) -> Option<u32> {
    let c = slot.as_mut()?;
    match c.try_wait() {
        Ok(None) => Some(c.id()),
        _ => None,
    }
}

/// SIGCONTs a process (a server frozen with SIGSTOP) when dropped, also
/// when the test fails: a test never leaves it stopped.
pub struct Thaw(pub u32);

impl Drop for Thaw {
    fn drop(&mut self) {
        signal(self.0, libc::SIGCONT);
    }
}
