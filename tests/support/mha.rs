//! MHA's real manager (Debian's `mha4mysql-manager` 0.58) for the tests
//! that drive it: whether it is installed, the private copy of its Perl
//! modules patched for this machine, running its scripts, and the
//! benchmark's node-tool wrappers (timings, `client_bindir`). Shared by
//! tests/mha_manager.rs, tests/trials.rs, tests/phase_switch.rs (loopback
//! sshd: `Topology::app_cnf_via_sshd`) and tests/hosts_compare.rs (netns
//! hosts); and MHA's Perl node tools, which tests/mha_node.rs and
//! tests/mha_mapping.rs compare ours with.
//!
//! The manager's own Perl is patched in a private copy on `PERL5LIB` (the
//! system files are never touched): `MHA::NodeUtil`'s version parsing dies
//! on current Perl ("Redundant argument in sprintf":
//! `sprintf('%03d%03d%03d', @all_numbers_of_the_version)`), so the copy
//! takes only the first three (two) numbers; and `MHA::SlaveUtil`'s
//! `SELECT @@global.super_read_only` (absent on MariaDB) is wrapped so that
//! an error means "off". MHA's Perl node tools need the same copy (they load
//! `MHA::NodeUtil` and `MHA::BinlogManager`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use super::node::Bin;
use super::process::{all_text, write_script};
use super::sshd::Sshd;
use super::topology::{MASTER, Topology};

/// True when the manager is installed; false (with a loud message) when it
/// is not and `CI` is unset; panics when it is not and `CI` is set.
pub fn manager_installed() -> bool {
    let ok = ["/usr/bin/masterha_master_switch", "/usr/share/perl5/MHA/MasterFailover.pm"]
        .iter()
        .all(|p| Path::new(p).exists());
    // CI installs it (scripts/test.sh): there, its absence is a failure.
    assert!(ok || std::env::var_os("CI").is_none(), "mha4mysql-manager is not installed (CI)");
    if !ok {
        eprintln!("\n!!!!!!!! SKIPPED: mha4mysql-manager not installed (scripts/test.sh installs it) !!!!!!!!\n");
    }
    ok
}

/// `MHA::NodeUtil`'s version parsing, for current Perl (node and manager).
const NODE_UTIL: (&str, &[(&str, &str)]) = (
    "NodeUtil.pm",
    &[
        ("sprintf( '%03d%03d%03d', $str =~ m/(\\d+)/g )", "sprintf( '%03d%03d%03d', ( $str =~ m/(\\d+)/g )[0,1,2] )"),
        ("sprintf( '%03d%03d', $str =~ m/(\\d+)/g )", "sprintf( '%03d%03d', ( $str =~ m/(\\d+)/g )[0,1] )"),
    ],
);
/// `MHA::BinlogManager`'s version parsing (manager).
const BINLOG_MANAGER: (&str, &[(&str, &str)]) = (
    "BinlogManager.pm",
    &[("sprintf( '%03d%03d', $str =~ m/(\\d+)/g )", "sprintf( '%03d%03d', ( $str =~ m/(\\d+)/g )[0,1] )")],
);
/// `MHA::SlaveUtil`'s `SELECT @@global.super_read_only`, absent on MariaDB (manager).
const SLAVE_UTIL: (&str, &[(&str, &str)]) = (
    "SlaveUtil.pm",
    &[(
        "  $sth->execute();\n  my $href = $sth->fetchrow_hashref;\n  if ( $href->{Value} == '1' ) {",
        "  # MariaDB has no super_read_only: an error means off.\n  eval { $sth->execute(); };\n  return (0, 0) if ($@);\n  my $href = $sth->fetchrow_hashref;\n  if ( $href->{Value} == '1' ) {",
    )],
);

/// `dir/perl5` with private copies of `modules` (from
/// `/usr/share/perl5/MHA/`), each with its edits; panics if a line to patch
/// is gone.  Put it first on `PERL5LIB`.
fn patched_modules(dir: &Path, modules: &[(&str, &[(&str, &str)])]) -> PathBuf {
    let lib = dir.join("perl5");
    std::fs::create_dir_all(lib.join("MHA")).unwrap();
    for (module, edits) in modules {
        let text = std::fs::read_to_string(format!("/usr/share/perl5/MHA/{module}")).unwrap();
        let mut fixed = text.clone();
        for (from, to) in *edits {
            assert!(fixed.contains(from), "MHA/{module} no longer has the line this test patches: {from}");
            fixed = fixed.replace(from, to);
        }
        std::fs::write(lib.join("MHA").join(module), fixed).unwrap();
    }
    lib
}

/// Private copies of the manager-side Perl modules that do not survive this
/// machine (see the module docs), first on `PERL5LIB`.
pub fn patched_manager_perl5lib(dir: &Path) -> PathBuf {
    patched_modules(dir, &[NODE_UTIL, BINLOG_MANAGER, SLAVE_UTIL])
}

/// The private `MHA::NodeUtil` MHA's Perl node tools need here, when they
/// are installed; `None`, with a loud message, when they are not.
pub fn mha_node_perl5lib(dir: &Path) -> Option<PathBuf> {
    if Command::new("apply_diff_relay_logs").arg("--version").output().is_err() {
        eprintln!("\n!!!!!!!! SKIPPED: mha4mysql-node (apply_diff_relay_logs) not installed !!!!!!!!\n");
        return None;
    }
    if !Path::new("/usr/share/perl5/MHA/NodeUtil.pm").exists() {
        eprintln!("\n!!!!!!!! SKIPPED: /usr/share/perl5/MHA/NodeUtil.pm not found !!!!!!!!\n");
        return None;
    }
    Some(patched_modules(dir, &[NODE_UTIL]))
}

/// Runs a manager script with the patched modules; PATH puts the node tools
/// under test first, as on the database hosts (the manager runs
/// `apply_diff_relay_logs --version` locally too).
pub fn manager(script: &str, args: &[String], perl5lib: &Path, tools: &Path) -> (Output, Duration) {
    let path = format!("{}:{}", tools.display(), std::env::var("PATH").unwrap_or_default());
    let t0 = Instant::now();
    let o = Command::new(format!("/usr/bin/{script}"))
        .args(args)
        .env("PERL5LIB", perl5lib)
        .env("PATH", path)
        .output()
        .unwrap();
    (o, t0.elapsed())
}

/// `masterha_master_switch --master_state=dead --interactive=0` of
/// `topo`'s master (by its address and port) with `conf`, an app.cnf whose
/// `manager_log` is `manager/manager.log` beside it (as
/// [`Topology::app_cnf`] writes it): the manager's output, how long it
/// took, and that output followed by its log.
pub fn master_switch_dead(topo: &Topology, conf: &Path, perl5lib: &Path, tools: &Path) -> (Output, Duration, String) {
    let ip = topo.host_ip(MASTER);
    let args = [
        "--master_state=dead".to_string(),
        "--interactive=0".into(),
        format!("--dead_master_host={ip}"),
        format!("--dead_master_ip={ip}"),
        format!("--dead_master_port={}", topo.port(MASTER)),
        format!("--conf={}", conf.display()),
    ];
    let (o, took) = manager("masterha_master_switch", &args, perl5lib, tools);
    let log = std::fs::read_to_string(conf.with_file_name("manager").join("manager.log")).unwrap_or_default();
    let report = format!("{}\n--- manager.log ---\n{log}", all_text(&o));
    (o, took, report)
}

/// MHA's manager as the tests run it on a plain topology: our node tools
/// (`bin`) first on the `PATH` of a loopback sshd's sessions (the manager
/// checks them there), and its Perl patched for this machine.
pub struct Manager {
    pub bin: Bin,
    pub sshd: Sshd,
    pub perl5lib: PathBuf,
    _dir: tempfile::TempDir,
}

impl Manager {
    /// `None` when the manager ([`manager_installed`]) or sshd is not
    /// installed.
    pub fn new() -> Option<Manager> {
        if !manager_installed() {
            return None;
        }
        let bin = Bin::new();
        let sshd = Sshd::start(bin.dir.path())?;
        let dir = tempfile::tempdir().unwrap();
        let perl5lib = patched_manager_perl5lib(dir.path());
        Some(Manager { bin, sshd, perl5lib, _dir: dir })
    }

    /// [`master_switch_dead`] of `topo`'s master, its app.cnf written to
    /// `work`; `Ok` with its output and log when it reports success.
    pub fn failover(&self, topo: &Topology, work: &Path) -> Result<String, String> {
        let conf = topo.app_cnf_via_sshd(work, &self.sshd, "");
        let (o, _, out) = master_switch_dead(topo, &conf, &self.perl5lib, self.bin.dir.path());
        if o.status.success() && out.contains("completed successfully.") {
            Ok(out)
        } else {
            Err(format!("masterha_master_switch exited {:?}:\n{out}", o.status.code()))
        }
    }
}

/// Wrappers under the node tools' names that run `real(tool)` and append
/// "<tool> <command> <ms> <exit code>" to `timing` (never the arguments:
/// they hold a password).
pub fn timed_tools(dir: &Path, timing: &Path, real: &dyn Fn(&str) -> String) {
    std::fs::create_dir_all(dir).unwrap();
    for t in super::node::TOOLS {
        let script = format!(
            "#!/bin/sh\ncmd=version\nfor a in \"$@\"; do case \"$a\" in --command=*) cmd=${{a#--command=}};; esac; done\n\
             t0=$(date +%s%N)\n{real} \"$@\"\nrc=$?\nt1=$(date +%s%N)\n\
             echo \"{t} $cmd $(( (t1 - t0) / 1000000 )) $rc\" >> '{timing}'\nexit $rc\n",
            real = real(t),
            timing = timing.display(),
        );
        write_script(&dir.join(t), &script);
    }
}

/// `mysql` and `mysqlbinlog` for the Perl tools' `client_bindir`; with
/// `skip_strict`, mariadb-binlog without its GTID strict mode (as packaged,
/// the Perl apply loses transactions after a master rotation in a diff).
pub fn client_bindir(dir: &Path, skip_strict: bool) {
    std::fs::create_dir_all(dir).unwrap();
    let flag = if skip_strict { " --skip-gtid-strict-mode" } else { "" };
    for (name, body) in
        [("mysql", "exec mariadb \"$@\"".to_string()), ("mysqlbinlog", format!("exec mariadb-binlog{flag} \"$@\""))]
    {
        write_script(&dir.join(name), &format!("#!/bin/sh\n{body}\n"));
    }
}

/// Per "tool --command=X": (calls, total ms, failures).
pub type Timings = std::collections::BTreeMap<String, (u32, u64, u32)>;

/// Sums the wrappers' timing lines.
pub fn timings(path: &Path) -> Timings {
    let mut m = std::collections::BTreeMap::new();
    for l in std::fs::read_to_string(path).unwrap_or_default().lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if let [tool, cmd, ms, rc] = f[..] {
            let e = m.entry(format!("{tool} --command={cmd}")).or_insert((0, 0, 0));
            e.0 += 1;
            e.1 += ms.parse::<u64>().unwrap_or(0);
            e.2 += u32::from(rc != "0");
        }
    }
    m
}
