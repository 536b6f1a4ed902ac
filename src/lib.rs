//! binlog-diff: a binlog/relay-log diff engine and applier for MySQL and
//! MariaDB failover.
//!
//! # Layers
//!
//! Each module may use only the modules its row names; a lower layer never
//! imports a higher one. The unit test at the end of this file checks every
//! module's `crate::` imports against this table.
//!
//! | module | what | may use |
//! |---|---|---|
//! | [`event`] | pure: header, checksum, FDE, typed views, row images (TABLE_MAP decoding), fused walk, transaction grouping | nothing |
//! | [`secret`] | the passwords this process was given, for redacting what it prints | nothing |
//! | [`error`] | library error: file + offset + event type, and the kinds callers branch on; its text redacted | `event`, `secret` |
//! | [`log`] | files: mmap or read sources, relay sets, index and info files, atomic writes | `event`, `error` |
//! | [`inspect`] | offline `dump` / `verify` / `stats` printers | `log`, `event`, `error` |
//! | [`position`] | typed coordinates, master cursor, master → relay mapping, torn relay tails, GTID sets (executed, errant, a start by GTID) | `log`, `event`, `error` |
//! | [`diff`] | transaction-safe diff cutting, failover plans | `position`, `log`, `event`, `error` |
//! | [`server`] | MySQL connections (bounded), replica status, the SQL dialect by version: the only place replication SQL is spelled | `position`, `error` |
//! | [`apply`] | native applier over the MySQL protocol, verified | `diff`, `position`, `log`, `event`, `error`, `server` |
//! | [`remote`] | hosts: this machine or one ssh2 session (host key check, key auth); run our binary there, fetch and push files | `error` |
//! | [`node`] | node operations (cut, save a tail, apply), typed and versioned: in this process on this machine, our binary over ssh elsewhere | `apply`, `diff`, `server`, `remote`, `position`, `log`, `event`, `error` |
//! | [`mha`] | MHA 0.58-compatible node tools (multi-call front) | the layers above |
//! | [`bench`] | `bench catchup`: catch-up timed per applier on throwaway servers, generated workloads, chart | `apply`, `server`, `inspect`, `log`, `event`, `error` |
//! | [`phase`] | failover / switch / monitor driver across hosts reading MHA's `app.cnf` (hooks, detection, GTID modes, records, JSON report) | `node`, `apply`, `diff`, `server`, `remote`, `position`, `log`, `event`, `error`, `secret` |
//! | [`cli`] | the `binlog-diff` command line: arguments → one library call | everything |
//!
//! `main.rs` only dispatches (on argv[0] for the MHA names, else to [`cli`]).

#![warn(missing_docs)]

pub mod apply;
pub mod bench;
pub mod cli;
pub mod diff;
pub mod error;
pub mod event;
pub mod inspect;
pub mod log;
pub mod mha;
pub mod node;
pub mod phase;
pub mod position;
pub mod remote;
pub mod secret;
pub mod server;

pub use error::{Error, Result};

#[cfg(test)]
mod layers {
    use std::collections::BTreeSet;
    use std::path::Path;

    /// The `crate::x` modules named outside comments in `text`.
    fn crate_uses(text: &str, out: &mut BTreeSet<String>) {
        for line in text.lines() {
            let line = line.trim_start();
            if line.starts_with("//") {
                continue;
            }
            for (i, _) in line.match_indices("crate::") {
                let rest = &line[i + "crate::".len()..];
                let names: Vec<&str> = match rest.strip_prefix('{') {
                    Some(group) => group.split([',', '}']).map(str::trim).collect(),
                    None => vec![rest],
                };
                for n in names {
                    let end = n.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(n.len());
                    // `crate::Error` and `crate::Result` are the root's re-exports of `error`.
                    match &n[..end] {
                        "" => {}
                        "Error" | "Result" => {
                            out.insert("error".to_string());
                        }
                        m => {
                            out.insert(m.to_string());
                        }
                    }
                }
            }
        }
    }

    fn walk(p: &Path, out: &mut BTreeSet<String>) {
        if p.is_dir() {
            for e in std::fs::read_dir(p).unwrap() {
                walk(&e.unwrap().path(), out);
            }
        } else if p.extension().is_some_and(|x| x == "rs") {
            crate_uses(&std::fs::read_to_string(p).unwrap(), out);
        }
    }

    #[test]
    fn imports_follow_the_layer_table() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let lower: &[&str] =
            &["event", "secret", "error", "log", "inspect", "position", "diff", "server", "apply", "remote"];
        let table: &[(&str, &[&str])] = &[
            ("event", &[]),
            ("secret", &[]),
            ("error", &["event", "secret"]),
            ("log", &["event", "error"]),
            ("inspect", &["log", "event", "error"]),
            ("position", &["log", "event", "error"]),
            ("diff", &["position", "log", "event", "error"]),
            ("server", &["position", "error", "secret"]),
            ("apply", &["diff", "position", "log", "event", "error", "server"]),
            ("remote", &["error"]),
            ("node", &["apply", "diff", "server", "remote", "position", "log", "event", "error"]),
            ("mha", lower),
            ("bench", &["apply", "server", "inspect", "log", "event", "error", "position", "diff"]),
            ("phase", &["node", "apply", "diff", "server", "remote", "position", "log", "event", "error", "secret"]),
            (
                "cli",
                &[
                    "event", "secret", "error", "log", "inspect", "position", "diff", "server", "apply", "remote",
                    "node", "mha", "bench", "phase",
                ],
            ),
        ];
        // Every module of the crate has a row.
        let declared: BTreeSet<String> = std::fs::read_to_string(src.join("lib.rs"))
            .unwrap()
            .lines()
            .filter_map(|l| l.strip_prefix("pub mod ").map(|m| m.trim_end_matches(';').to_string()))
            .collect();
        let rows: BTreeSet<String> = table.iter().map(|(m, _)| m.to_string()).collect();
        assert_eq!(declared, rows, "every module of lib.rs has a row in the layer table");
        for (module, allowed) in table {
            let mut used = BTreeSet::new();
            let dir = src.join(module);
            let path = if dir.is_dir() { dir } else { src.join(format!("{module}.rs")) };
            walk(&path, &mut used);
            used.remove(*module);
            let bad: Vec<_> = used.iter().filter(|u| !allowed.contains(&u.as_str())).collect();
            assert!(bad.is_empty(), "{module} uses {bad:?}; the layer table allows {allowed:?}");
        }
    }
}
