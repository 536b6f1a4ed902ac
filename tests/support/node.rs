//! Our node tools under MHA's names (`binlog-diff mha install` into a temp
//! dir): what MHA's manager, or a test in its place, runs on a host.

use std::path::PathBuf;
use std::process::{Command, Output};

/// MHA's node command names, all answered by the one `binlog-diff` binary.
pub const TOOLS: [&str; 4] = ["save_binary_logs", "apply_diff_relay_logs", "purge_relay_logs", "filter_mysqlbinlog"];

/// A temp dir with our tools under MHA's names.
pub struct Bin {
    pub dir: tempfile::TempDir,
}

impl Bin {
    pub fn new() -> Bin {
        let dir = tempfile::tempdir().unwrap();
        let exe = env!("CARGO_BIN_EXE_binlog-diff");
        let out = Command::new(exe).args(["mha", "install"]).arg(dir.path()).output().unwrap();
        assert!(out.status.success(), "mha install: {}", String::from_utf8_lossy(&out.stderr));
        for t in TOOLS {
            assert!(dir.path().join(t).exists(), "{t} installed");
        }
        Bin { dir }
    }
    pub fn path(&self, tool: &str) -> PathBuf {
        self.dir.path().join(tool)
    }
    pub fn run(&self, tool: &str, args: &[String]) -> Output {
        Command::new(self.path(tool)).args(args).output().unwrap()
    }
    /// Runs a command line the way the manager's `ssh host "<cmd>"` does:
    /// a local shell takes the double quotes, a remote shell the rest.
    pub fn run_through_two_shells(&self, cmdline: &str) -> Output {
        let inner = format!("PATH={}:$PATH {cmdline}", self.dir.path().display());
        Command::new("sh").arg("-c").arg(format!("sh -c \"{inner}\"")).output().unwrap()
    }
}
