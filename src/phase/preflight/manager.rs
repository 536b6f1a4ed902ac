//! The manager's side of a failover: its workdir, a failover that stopped
//! part-way, the anti-flapping block.

use super::finding::{Check, Finding, Severity};
use crate::phase::AppConf;
use crate::phase::{flapping, record};

/// `manager_workdir` usable, no unfinished failover, no block.
pub(super) fn check(conf: &AppConf, f: &mut Vec<Finding>) {
    let wd = &conf.manager_workdir;
    let place = wd.display().to_string();
    if let Some(why) = unwritable(wd) {
        f.push(Finding::at(
            &place,
            Check::Manager,
            Severity::Error,
            format!("manager_workdir cannot be written: {why}; a failover keeps its record and diffs there"),
            format!("mkdir -p {place} and give it to the user that runs the manager, or correct manager_workdir"),
        ));
        return;
    }
    match record::Record::load(wd) {
        Ok(None) => {}
        Ok(Some(r)) => f.push(Finding::at(
            record::path(wd).display().to_string(),
            Check::Manager,
            Severity::Error,
            format!("{}: a new failover is refused while it exists", r.describe()),
            "check the servers, then finish it with binlog-diff failover ... --resume (or, once every server is \
             mended by hand, remove the record)",
        )),
        Err(e) => f.push(Finding::at(
            record::path(wd).display().to_string(),
            Check::Manager,
            Severity::Error,
            format!("an in-progress failover record that cannot be read: {e}"),
            "look at it, check the servers by hand, then remove it",
        )),
    }
    let last = flapping::last_failover_file(wd);
    match flapping::blocked_by_last_failover(&last, conf.last_failover_minute.saturating_mul(60)) {
        Ok(None) => {}
        Ok(Some(why)) => f.push(Finding::at(
            last.display().to_string(),
            Check::Manager,
            Severity::Error,
            format!("a failover now would be refused: {why}"),
            format!("once the last failover is looked at: binlog-diff ack --conf {}", conf.path.display()),
        )),
        Err(e) => f.push(Finding::at(
            last.display().to_string(),
            Check::Manager,
            Severity::Error,
            format!("the last failover's record cannot be read: {e}"),
            format!("binlog-diff ack --conf {} removes it", conf.path.display()),
        )),
    }
}

/// Why a file cannot be made in `dir` (or in the nearest folder above it
/// that exists, where a failover would create it), if it cannot.
fn unwritable(dir: &std::path::Path) -> Option<String> {
    let mut d = dir;
    while !d.exists() {
        d = d.parent()?;
    }
    if !d.is_dir() {
        return Some(format!("{} is not a folder", d.display()));
    }
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(d.as_os_str().as_bytes()).ok()?;
    // SAFETY: `c` is a valid NUL-terminated path; access(2) only reads it.
    if unsafe { libc::access(c.as_ptr(), libc::W_OK | libc::X_OK) } == 0 {
        None
    } else {
        Some(format!("{}: {}", d.display(), std::io::Error::last_os_error()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(dir: &std::path::Path) -> AppConf {
        let p = dir.join("app.cnf");
        let wd = dir.join("manager");
        std::fs::write(
            &p,
            format!("[server default]\nmanager_workdir={}\n[server1]\nhostname=192.0.2.2\n", wd.display()),
        )
        .unwrap();
        AppConf::read(&p, None).unwrap()
    }

    #[test]
    fn an_unfinished_failover_and_the_anti_flapping_block_are_errors_with_their_fix() {
        let d = tempfile::tempdir().unwrap();
        let c = conf(d.path());
        let mut f = Vec::new();
        check(&c, &mut f);
        assert!(f.is_empty(), "a workdir a failover would create is fine: {f:?}");
        std::fs::create_dir_all(&c.manager_workdir).unwrap();
        record::Record::new("server1", &c.manager_workdir, "run").save(&c.manager_workdir).unwrap();
        flapping::record_failover(&flapping::last_failover_file(&c.manager_workdir), "server0", "server1").unwrap();
        check(&c, &mut f);
        let got: Vec<_> = f.iter().map(|x| (x.check, x.severity)).collect();
        assert_eq!(got, [(Check::Manager, Severity::Error), (Check::Manager, Severity::Error)]);
        assert!(f[0].fix.contains("--resume"), "{:?}", f[0]);
        assert_eq!(
            f[1].fix,
            format!("once the last failover is looked at: binlog-diff ack --conf {}", c.path.display())
        );
    }
}
