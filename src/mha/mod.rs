//! MHA-compatible node tools: `save_binary_logs`, `apply_diff_relay_logs`,
//! `purge_relay_logs` and `filter_mysqlbinlog`, with the command-line
//! contract of mha4mysql-node 0.58 (options, defaults, output lines, exit
//! codes), so an unmodified MHA manager can drive them over SSH, on our
//! engine underneath: positions mapped by [`crate::position::find_start`],
//! diffs cut by [`crate::diff`], applied natively by [`crate::apply`] with a
//! verified end state (never `mysqlbinlog | mysql`).
//!
//! # One binary, several names
//!
//! The `binlog-diff` binary looks at the file name it was run as
//! ([`tool_for_argv0`]), as uutils' coreutils does: installed (or symlinked,
//! `binlog-diff mha install DIR`) as `save_binary_logs` etc. it is that tool;
//! otherwise `binlog-diff mha <tool> ARGS…` runs one.
//!
//! # The contract kept
//!
//! - Options are parsed as Perl's `GetOptions` does ([`getopt`]); an unknown
//!   option prints usage and exits 1; defaults follow MHA's `||=` (a `0` or
//!   empty value means the default) and `defined` rules.
//! - `--version` prints `<tool> version 0.58.`; `--manager_version` below
//!   0.54 is refused with MHA's message.
//! - `--slave_user`/`--slave_pass` arrive shell-escaped by the manager and
//!   are unescaped exactly as MHA does ([`shell`]). Passwords are never printed.
//! - Exit codes ([`exit`]): `save_binary_logs` 0 saved, 10 nothing to save,
//!   1 error; `apply_diff_relay_logs` 0, 1, 22 (applying failed); "the
//!   target has all relay logs" exits 0 without a file.
//! - The human-readable lines MHA prints are printed (the manager parses
//!   only the version line; people read the rest in the manager log).
//!
//! # Where it differs from MHA, and why
//!
//! - Raw mode only (`--handle_raw_binlog=1`, MHA's default). Text mode
//!   (`=0`: `mysqlbinlog` text output, also used by MHA's binlog-server
//!   path) is refused with a clear error: the diffs are binlogs that our
//!   applier executes itself. `--client_bindir`/`--client_libdir` are
//!   accepted and ignored (no client binaries are run).
//! - Diffs hold only the master's data events (no copy of the relay log's
//!   header), cut on event boundaries; a relay piece keeps a trailing
//!   incomplete transaction (its end is in the next apply file, as in MHA),
//!   a master binlog piece leaves it out (it never committed).
//! - `apply` applies `--apply_files` as one stream with the native applier:
//!   a transaction split across the pieces is stitched, each transaction is
//!   applied whole or not at all, and the end state is verified; any failure
//!   is exit 22 with the failing transaction named.
//! - `test` does MHA's checks over the MySQL protocol and works on MariaDB
//!   (no `super_read_only` there: treated as "not present").
//! - `generate_and_send` pushes with the `ssh2` crate ([`crate::remote`]),
//!   host key checked, then compares MD5s as MHA does.
//! - `purge_relay_logs` runs the hard-link path MHA meant to run (its
//!   `use_hardlink`/`use_hard_link` typo disables it) and polls for the SQL
//!   thread's purge instead of sleeping 3 s.

pub mod apply_diff;
pub mod exit;
pub mod filter;
pub mod getopt;
pub mod logs;
pub mod purge;
pub mod save;
pub mod shell;

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

/// MHA node version we implement.
pub const VERSION: &str = "0.58";
/// Oldest manager accepted (`$MHA::NodeConst::MGR_MIN_VERSION`).
pub const MGR_MIN_VERSION: f64 = 0.54;

/// The MHA node tools.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    /// `save_binary_logs`.
    SaveBinaryLogs,
    /// `apply_diff_relay_logs`.
    ApplyDiffRelayLogs,
    /// `purge_relay_logs`.
    PurgeRelayLogs,
    /// `filter_mysqlbinlog`.
    FilterMysqlbinlog,
}

impl Tool {
    /// Every tool.
    pub const ALL: [Tool; 4] =
        [Tool::SaveBinaryLogs, Tool::ApplyDiffRelayLogs, Tool::PurgeRelayLogs, Tool::FilterMysqlbinlog];

    /// The command name.
    pub fn name(self) -> &'static str {
        match self {
            Tool::SaveBinaryLogs => "save_binary_logs",
            Tool::ApplyDiffRelayLogs => "apply_diff_relay_logs",
            Tool::PurgeRelayLogs => "purge_relay_logs",
            Tool::FilterMysqlbinlog => "filter_mysqlbinlog",
        }
    }

    /// The tool of a command name.
    pub fn from_name(s: &str) -> Option<Tool> {
        Tool::ALL.into_iter().find(|t| t.name() == s)
    }

    /// Runs the tool with `args` (argv[0] excluded); returns the exit status.
    pub fn run(self, args: &[String]) -> u8 {
        match self {
            Tool::SaveBinaryLogs => save::main(args),
            Tool::ApplyDiffRelayLogs => apply_diff::main(args),
            Tool::PurgeRelayLogs => purge::main(args),
            Tool::FilterMysqlbinlog => filter::main(args),
        }
    }
}

/// The tool an argv[0] names: its file stem (`/usr/bin/save_binary_logs`,
/// `./apply_diff_relay_logs.exe`), or `None` for anything else.
pub fn tool_for_argv0(argv0: &std::ffi::OsStr) -> Option<Tool> {
    let stem = Path::new(argv0).file_stem()?.to_str()?;
    Tool::from_name(stem)
}

/// Runs a tool with OS arguments (argv[0] excluded). Arguments that are not
/// UTF-8 are taken lossily (MHA's options are text).
pub fn run_os(tool: Tool, args: &[OsString]) -> u8 {
    // The saved tail and the applied diffs hold rows: 0600, as ours are.
    crate::log::modes::restrict_umask();
    let args: Vec<String> = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
    tool.run(&args)
}

/// `binlog-diff mha …`: `install DIR`, or a tool's name and its arguments.
pub fn subcommand(args: &[OsString]) -> u8 {
    let first = args.first().and_then(|a| a.to_str());
    match first {
        Some("install") => {
            let Some(dir) = args.get(1) else {
                eprintln!("binlog-diff mha install: missing DIR");
                return exit::FRONT_USAGE;
            };
            let exe = match std::env::current_exe() {
                Ok(e) => e,
                Err(e) => {
                    eprintln!("binlog-diff mha install: cannot find this executable: {e}");
                    return exit::FRONT_USAGE;
                }
            };
            match install(Path::new(dir), &exe) {
                Ok(made) => {
                    for m in made {
                        println!("{} -> {}", m.display(), exe.display());
                    }
                    exit::OK
                }
                Err(e) => {
                    eprintln!("binlog-diff mha install: {e}");
                    exit::FRONT_USAGE
                }
            }
        }
        Some(name) if Tool::from_name(name).is_some() => run_os(Tool::from_name(name).expect("checked"), &args[1..]),
        _ => {
            eprintln!(
                "usage: binlog-diff mha <save_binary_logs|apply_diff_relay_logs|purge_relay_logs|filter_mysqlbinlog> ARGS...\n       binlog-diff mha install DIR"
            );
            exit::FRONT_USAGE
        }
    }
}

/// `binlog-diff mha install DIR`: symlinks named after every tool, pointing
/// at `exe`, in `dir` (created). An existing symlink is replaced; any other
/// existing file is left alone and reported.
///
/// # Errors
/// The folder cannot be created, or a name is taken by a regular file.
pub fn install(dir: &Path, exe: &Path) -> crate::Result<Vec<PathBuf>> {
    if !dir.is_dir() {
        std::fs::create_dir_all(dir).map_err(|e| crate::Error::io(dir, e))?;
        // A folder of programs, not of data: others may run them (the
        // private umask made it 0700).
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).map_err(|e| crate::Error::io(dir, e))?;
    }
    let mut made = Vec::new();
    for t in Tool::ALL {
        let link = dir.join(t.name());
        if let Ok(m) = std::fs::symlink_metadata(&link) {
            if m.file_type().is_symlink() {
                std::fs::remove_file(&link).map_err(|e| crate::Error::io(&link, e))?;
            } else {
                let taken =
                    std::io::Error::new(std::io::ErrorKind::AlreadyExists, "exists and is not a symlink; not replaced");
                return Err(crate::Error::io(&link, taken));
            }
        }
        #[cfg(unix)]
        std::os::unix::fs::symlink(exe, &link).map_err(|e| crate::Error::io(&link, e))?;
        #[cfg(not(unix))]
        std::fs::copy(exe, &link).map_err(|e| crate::Error::io(&link, e))?;
        made.push(link);
    }
    Ok(made)
}

/// A tool's failure: the message MHA would `croak`, and the exit status.
#[derive(Debug)]
pub(crate) struct Croak {
    pub msg: String,
    pub code: u8,
}

impl Croak {
    pub fn new(msg: impl Into<String>) -> Croak {
        Croak { msg: msg.into(), code: exit::FAILED }
    }
}

impl From<crate::Error> for Croak {
    fn from(e: crate::Error) -> Croak {
        Croak::new(e.to_string())
    }
}

pub(crate) type Res<T> = std::result::Result<T, Croak>;

/// Prints to stdout at once (MHA sets `$| = 1`).
pub(crate) fn out(s: &str) {
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(s.as_bytes());
    let _ = o.flush();
}

/// Parses options; on errors prints them (stderr) and the usage (stdout),
/// as `GetOptions(...) or pod2usage(1)`.
pub(crate) fn parse_or_usage(specs: &[getopt::Spec], args: &[String], usage: &str) -> Result<getopt::Opts, u8> {
    match getopt::parse(specs, args) {
        Ok(o) => {
            if o.has("help") {
                out(usage);
                return Err(exit::OK);
            }
            Ok(o)
        }
        Err(errs) => {
            for e in errs {
                eprintln!("{e}");
            }
            out(usage);
            Err(exit::FAILED)
        }
    }
}

/// MHA's `check_manager_version` (numeric compare, as Perl's `<`).
pub(crate) fn check_manager_version(v: &str) -> Res<()> {
    if perl_num(v) < MGR_MIN_VERSION {
        return Err(Croak::new(format!("MHA Manager version is {v}, but must be {MGR_MIN_VERSION:.2} or higher.\n")));
    }
    Ok(())
}

/// Perl's numeric value of a string: its leading number, else 0.
pub(crate) fn perl_num(s: &str) -> f64 {
    let t = s.trim_start();
    let mut end = 0;
    let b = t.as_bytes();
    if end < b.len() && (b[end] == b'+' || b[end] == b'-') {
        end += 1;
    }
    let mut seen_dot = false;
    while end < b.len() && (b[end].is_ascii_digit() || (b[end] == b'.' && !seen_dot)) {
        seen_dot |= b[end] == b'.';
        end += 1;
    }
    t[..end].parse().unwrap_or(0.0)
}

/// MHA's `create_dir_if`.
pub(crate) fn create_dir_if(dir: &Path) -> Res<()> {
    if !dir.is_dir() {
        out(&format!("Creating directory {}.. ", dir.display()));
        match std::fs::create_dir_all(dir) {
            Ok(()) => out("done.\n"),
            Err(_) if dir.is_dir() => out("ok. already exists.\n"),
            Err(e) => return Err(Croak::new(format!("failed to create dir:{}:{e}\n", dir.display()))),
        }
    }
    Ok(())
}

/// MHA's `drop_file_if`.
pub(crate) fn drop_file_if(f: &Path) -> Res<()> {
    if f.is_file() {
        std::fs::remove_file(f).map_err(|e| Croak::new(format!("{e}:{}\n", f.display())))?;
    }
    Ok(())
}

/// The parent folder as Perl's `dirname` gives it (`.` for a bare name).
pub(crate) fn dirname(p: &str) -> PathBuf {
    match Path::new(p).parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// This host's name (`Sys::Hostname::hostname`).
pub(crate) fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates when it fits.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".into();
    }
    let n = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// Local time as MHA's `current_time` prints it: `2024-01-31 12:34:56`.
pub(crate) fn current_time() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as libc::time_t)
        .unwrap_or(0);
    // SAFETY: localtime_r writes into the zeroed struct we own.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&now, &mut tm).is_null() };
    if !ok {
        return now.to_string();
    }
    format!(
        "{}-{:02}-{:02} {:02}:{:02}:{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

/// MHA's `get_ip`: the first address `host` resolves to.
pub(crate) fn get_ip(host: &str) -> Res<String> {
    use std::net::ToSocketAddrs;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let mut it = (bare, 0u16)
        .to_socket_addrs()
        .map_err(|e| Croak::new(format!("Failed to get IP address on host {host}: {e}\n")))?;
    it.next()
        .map(|a| a.ip().to_string())
        .ok_or_else(|| Croak::new(format!("Failed to get IP address on host {host}: no address\n")))
}

/// Usage and exit for a wrong `--command` (MHA's `pod2usage(1)`).
pub(crate) fn usage_exit(usage: &str) -> u8 {
    out(usage);
    exit::FAILED
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn dispatch_by_argv0_stem() {
        assert_eq!(tool_for_argv0(OsStr::new("save_binary_logs")), Some(Tool::SaveBinaryLogs));
        assert_eq!(tool_for_argv0(OsStr::new("/usr/local/bin/apply_diff_relay_logs")), Some(Tool::ApplyDiffRelayLogs));
        assert_eq!(tool_for_argv0(OsStr::new("./purge_relay_logs")), Some(Tool::PurgeRelayLogs));
        assert_eq!(tool_for_argv0(OsStr::new("filter_mysqlbinlog.exe")), Some(Tool::FilterMysqlbinlog));
        assert_eq!(tool_for_argv0(OsStr::new("binlog-diff")), None);
        assert_eq!(tool_for_argv0(OsStr::new("/x/save_binary_logs_old")), None);
        assert_eq!(tool_for_argv0(OsStr::new("")), None);
        for t in Tool::ALL {
            assert_eq!(Tool::from_name(t.name()), Some(t));
        }
    }

    #[test]
    fn manager_version_is_numeric_like_perl() {
        assert!(check_manager_version("0.58").is_ok());
        assert!(check_manager_version("0.54").is_ok());
        assert!(check_manager_version("1.0").is_ok());
        let e = check_manager_version("0.53").unwrap_err();
        assert_eq!(e.msg, "MHA Manager version is 0.53, but must be 0.54 or higher.\n");
        assert!(check_manager_version("abc").is_err(), "a non-number is 0 in Perl");
        assert_eq!(perl_num("0.58-deb"), 0.58);
    }

    #[test]
    fn install_makes_symlinks() {
        let d = tempfile::tempdir().unwrap();
        let exe = d.path().join("binlog-diff");
        std::fs::write(&exe, b"").unwrap();
        let made = install(&d.path().join("bin"), &exe).unwrap();
        assert_eq!(made.len(), 4);
        // Again: links are replaced.
        install(&d.path().join("bin"), &exe).unwrap();
        for t in Tool::ALL {
            assert_eq!(std::fs::read_link(d.path().join("bin").join(t.name())).unwrap(), exe);
        }
    }
}
