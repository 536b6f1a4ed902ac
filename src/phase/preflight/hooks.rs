//! The hook scripts app.cnf names exist on this host and can be run: a
//! failover runs them from here ([`crate::phase::hooks`]).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::finding::{Check, Finding, Severity};
use crate::phase::AppConf;
use crate::phase::config::ServerConf;

/// The script keys, and how bad a script that cannot run is: one a
/// failover needs fails it; the others only warn.
const SCRIPTS: [(&str, Severity); 5] = [
    ("master_ip_failover_script", Severity::Error),
    ("shutdown_script", Severity::Error),
    ("master_ip_online_change_script", Severity::Warning),
    ("report_script", Severity::Warning),
    ("secondary_check_script", Severity::Warning),
];

fn script<'a>(s: &'a ServerConf, key: &str) -> Option<&'a str> {
    match key {
        "master_ip_failover_script" => s.master_ip_failover_script.as_deref(),
        "shutdown_script" => s.shutdown_script.as_deref(),
        "master_ip_online_change_script" => s.master_ip_online_change_script.as_deref(),
        "report_script" => s.report_script.as_deref(),
        "secondary_check_script" => s.secondary_check_script.as_deref(),
        _ => None,
    }
}

/// Every script named (each command once).
pub(super) fn check(conf: &AppConf, f: &mut Vec<Finding>) {
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for (key, severity) in SCRIPTS {
        for s in &conf.servers {
            let Some(cmd) = script(s, key).filter(|c| !c.trim().is_empty()) else { continue };
            if seen.contains(&(key, cmd)) {
                continue;
            }
            seen.push((key, cmd));
            if let Some((what, fix)) = problem(cmd) {
                f.push(Finding::at("this host", Check::Hooks, severity, format!("{key}={cmd}: {what}"), fix));
            }
        }
    }
}

/// What keeps the command's program from running, with the fix.
pub(super) fn problem(cmd: &str) -> Option<(String, String)> {
    let words = crate::remote::split_words(cmd);
    let prog = words.first()?;
    let path = if prog.contains('/') {
        PathBuf::from(prog)
    } else {
        match on_path(prog) {
            Some(p) => p,
            None => {
                return Some((
                    format!("{prog} is not on this host's PATH"),
                    format!("install {prog}, or give its full path in app.cnf"),
                ));
            }
        }
    };
    match std::fs::metadata(&path) {
        Err(e) => Some((
            format!("{} cannot be found: {e}", path.display()),
            "install the script there, or correct the path in app.cnf".into(),
        )),
        Ok(m) if !m.is_file() => {
            Some((format!("{} is not a file", path.display()), "correct the path in app.cnf".into()))
        }
        Ok(_) if !executable(&path) => {
            Some((format!("{} is not executable by this user", path.display()), format!("chmod +x {}", path.display())))
        }
        Ok(_) => None,
    }
}

fn executable(p: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(p.as_os_str().as_bytes()) else { return false };
    // SAFETY: `c` is a valid NUL-terminated path; access(2) only reads it.
    let ok = unsafe { libc::access(c.as_ptr(), libc::X_OK) } == 0;
    ok && std::fs::metadata(p).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

fn on_path(prog: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(prog)).find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_not_executable_scripts_are_named_with_their_fix() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("ip.sh");
        std::fs::write(&p, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let (what, fix) = problem(&format!("{} --extra", p.display())).unwrap();
        assert!(what.ends_with("is not executable by this user"), "{what}");
        assert_eq!(fix, format!("chmod +x {}", p.display()));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(problem(&p.display().to_string()), None);
        assert!(problem("/nonexistent/x.sh").unwrap().0.contains("cannot be found"));
        assert!(problem("no-such-program-here").unwrap().0.contains("not on this host's PATH"));
        assert_eq!(problem("sh -c true"), None);
    }
}
