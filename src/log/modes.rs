//! File modes: what we write holds rows (diffs, tails) or topology and
//! credentials' surroundings (reports, records, state files, logs), so it
//! is created 0600 and its folders 0700, whatever the user's umask.
//!
//! The fronts ([`crate::log::modes::restrict_umask`] at the start of the
//! `binlog-diff` command and of the MHA tools) set the process umask to
//! 077 once; every file and folder made after that, by us or by a library,
//! is private without each call site saying so. What the operator's own
//! programs create (hook scripts) is theirs: they run with the umask the
//! user had ([`user_umask`]).

use std::sync::OnceLock;

/// The umask this process was started with, saved by [`restrict_umask`].
static USER_UMASK: OnceLock<u32> = OnceLock::new();

/// The umask for everything this process creates.
pub const PRIVATE_UMASK: u32 = 0o077;

/// Sets the process umask to [`PRIVATE_UMASK`], saving the one the user had
/// (for [`user_umask`]). Idempotent: a second call changes nothing.
pub fn restrict_umask() {
    USER_UMASK.get_or_init(|| {
        // SAFETY: umask(2) cannot fail and touches no memory.
        let before = unsafe { libc::umask(PRIVATE_UMASK as libc::mode_t) };
        before as u32
    });
}

/// The umask the user started us with (the process's own when
/// [`restrict_umask`] was not called): for the programs we run on the
/// user's behalf, which create the user's files, not ours.
pub fn user_umask() -> u32 {
    if let Some(m) = USER_UMASK.get() {
        return *m;
    }
    // SAFETY: as above; read by setting and restoring.
    unsafe {
        let m = libc::umask(0o022);
        libc::umask(m);
        m as u32
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn files_and_folders_made_after_restricting_are_private() {
        let before = super::user_umask();
        super::restrict_umask();
        assert_eq!(super::user_umask(), before, "the user's umask is kept");
        let d = tempfile::tempdir().unwrap();
        let sub = d.path().join("a/b");
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(sub.join("f"), b"x").unwrap();
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&sub), 0o700);
        assert_eq!(mode(&d.path().join("a")), 0o700);
        assert_eq!(mode(&sub.join("f")), 0o600);
    }
}
