//! The run's folder on each remote host (`remote_workdir/<run>`): our
//! pushed binary, the diffs cut there, the saved tail, the remote applies'
//! state files. It holds rows, so:
//!
//! - its name cannot be guessed (`binlog-diff-<secs>-<64 random bits>`),
//!   and a new run makes it with `mkdir` (mode 0700), never reusing one
//!   that exists: a folder already there (planted, or a link) is refused,
//!   and that host is not used;
//! - it is removed on every way out: success, a dry run, a refusal in
//!   phase 1, and a failure after changes began. After changes began, the
//!   remote applies' state files (positions only, no rows) are kept, so
//!   that `--resume` continues each apply exactly; everything else goes.
//!
//! Two servers of `app.cnf` may share one host and `remote_workdir`: the
//! folder is made once per (host, path), by whichever opens it first.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use super::ServerConf;
use crate::remote::Host;

/// The bound of removing the run's folders: they are not worth waiting for.
const CLEANUP_BOUND: Duration = Duration::from_secs(10);

/// A new run's folder name: the time, then 64 bits from the kernel's
/// random source, so that nobody on a remote host can make it beforehand.
pub(super) fn new_name() -> String {
    let mut b = [0u8; 8];
    let random = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b));
    if random.is_err() {
        // No /dev/urandom: the clock's nanoseconds and our pid, still not
        // known in advance; `mkdir` refusing an existing folder is the guard.
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        b = (u64::from(t.subsec_nanos()) << 32 | u64::from(std::process::id())).to_le_bytes();
    }
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("binlog-diff-{}-{hex}", super::now_secs())
}

/// The folders made by this run, one entry per (host, path): the threads
/// that open hosts share it.
#[derive(Clone, Default)]
pub(super) struct Made(Arc<Mutex<HashMap<String, Arc<Once>>>>);

/// One folder's making: done once, its result kept for every server there.
type Once = OnceLock<Result<(), String>>;

impl Made {
    /// Makes `dir` on `h` once for this run: a new run refuses one that
    /// exists; a resumed run takes its own earlier folder (a folder, not a
    /// link, owned by this account) or makes it again.
    ///
    /// # Errors
    /// The folder exists (new run), is not ours (resumed), or cannot be
    /// made; the text names the host and the folder.
    pub(super) fn make(&self, h: &Host, dir: &Path, resumed: bool, t: Duration) -> Result<(), String> {
        let key = format!("{}\0{}", h.label(), dir.display());
        let once = {
            let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
            m.entry(key).or_default().clone()
        };
        once.get_or_init(|| make_on(h, dir, resumed, t)).clone()
    }
}

fn make_on(h: &Host, dir: &Path, resumed: bool, t: Duration) -> Result<(), String> {
    let d = dir.to_string_lossy().into_owned();
    let parent = dir.parent().map(|p| p.to_string_lossy().into_owned()).unwrap_or_else(|| "/".into());
    // `mkdir` without -p fails on an existing name: that is the refusal.
    let script = if resumed {
        r#"mkdir -p -- "$1" && { [ -d "$2" ] && [ ! -L "$2" ] && [ -O "$2" ] || mkdir -m 700 -- "$2"; }"#
    } else {
        r#"mkdir -p -- "$1" && mkdir -m 700 -- "$2""#
    };
    let argv = ["sh", "-c", script, "sh", &parent, &d].map(String::from).to_vec();
    let o = h.run("make the run folder", &argv, b"", t).map_err(|e| e.to_string())?;
    if o.status == 0 {
        return Ok(());
    }
    let said = o.stderr.trim();
    Err(if !resumed && said.contains("File exists") {
        format!(
            "the run folder {d} already exists on {}: not ours (a new run's name is random), so this host is not \
             used; remove it after checking who made it",
            h.label()
        )
    } else {
        format!("cannot make the run folder {d} on {} ({said}): check remote_workdir in app.cnf", h.label())
    })
}

/// Removes this run's folder from every remote host, in parallel, within
/// [`CLEANUP_BOUND`]. With `keep_state`, the remote applies' state files
/// stay (and so does the folder that holds them): `--resume` needs them.
pub(super) fn remove<'a>(
    hosts: impl Iterator<Item = (&'a Host, &'a ServerConf)>,
    run: &str,
    keep_state: bool,
    t: Duration,
) {
    let t = t.min(CLEANUP_BOUND);
    std::thread::scope(|sc| {
        for (h, s) in hosts {
            if let Host::Ssh(_) = h {
                let d = s.remote_workdir.join(run).to_string_lossy().into_owned();
                let script = if keep_state {
                    r#"[ -d "$1" ] || exit 0; find "$1" -type f ! -name '*.apply-state' ! -name '*.apply-state.journal' -delete"#
                } else {
                    r#"rm -rf -- "$1""#
                };
                let argv = ["sh", "-c", script, "sh", &d].map(String::from).to_vec();
                sc.spawn(move || h.run("remove the run folder", &argv, b"", t));
            }
        }
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_differ_and_say_nothing_guessable() {
        let (a, b) = (super::new_name(), super::new_name());
        assert_ne!(a, b);
        let random = a.rsplit('-').next().unwrap();
        assert_eq!(random.len(), 16, "{a}");
        assert!(!a.ends_with(&format!("-{}", std::process::id())), "{a}");
    }
}
