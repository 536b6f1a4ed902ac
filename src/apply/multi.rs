//! Applying a whole failover plan: every replica's diff (from the JSON of
//! `binlog-diff diff --json --write DIR`) to that replica, each on its own
//! thread. A failure on one replica never stops the others.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::error::{Error, Result};
use crate::server::ConnSpec;

use super::counters::Counters;
use super::{ApplyFailure, ApplyOptions, ApplyReport, apply};

/// One replica of a plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanTarget {
    /// Its name in the plan.
    pub name: String,
    /// Where its server listens.
    pub host: String,
    /// Its TCP port.
    pub port: u16,
    /// Its diff.
    pub file: PathBuf,
    /// Transactions the diff holds (as the plan says).
    pub transactions: u64,
}

/// The replicas of a plan (the JSON of `binlog-diff diff --json --write DIR`).
///
/// # Errors
/// Not a plan, or a replica without a written diff or without host and port
/// (a plan made from `--live` replicas has them).
pub fn plan_targets(plan: &serde_json::Value, path: &Path) -> Result<Vec<PlanTarget>> {
    let bad = |m: String| Error::bad_input("plan", m).with_file(path);
    let list = plan["replicas"].as_array().ok_or_else(|| bad("no \"replicas\" array: not a plan".into()))?;
    let mut out = Vec::new();
    for r in list {
        let st = &r["state"];
        let name = st["name"].as_str().unwrap_or("?").to_string();
        let host = st["host"].as_str().ok_or_else(|| {
            bad(format!("replica {name}: no host in the plan (make it with `diff --live NAME=HOST:PORT`)"))
        })?;
        let port = st["port"]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .ok_or_else(|| bad(format!("replica {name}: no port in the plan")))?;
        let file = r["file"].as_str().ok_or_else(|| {
            bad(format!("replica {name}: no diff file in the plan (make it with `diff --write DIR`)"))
        })?;
        out.push(PlanTarget {
            name,
            host: host.to_string(),
            port,
            file: PathBuf::from(file),
            transactions: r["diff"]["transactions"].as_u64().unwrap_or(0),
        });
    }
    if out.is_empty() {
        return Err(bad("the plan has no replicas".into()));
    }
    Ok(out)
}

/// Applies every target's diff to it, each on its own thread, with `base`'s
/// user and password. `counters[i]` (if given) follows target `i`.
/// Returns one result per target, in order; a failing target does not
/// stop the others.
pub fn apply_plan(
    targets: &[PlanTarget],
    base: &ConnSpec,
    opts: &ApplyOptions,
    counters: &[Arc<Counters>],
) -> Vec<Result<ApplyReport, ApplyFailure>> {
    std::thread::scope(|sc| {
        let handles: Vec<_> = targets
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let spec = ConnSpec {
                    host: Some(t.host.clone()),
                    port: Some(t.port),
                    socket: None,
                    user: base.user.clone(),
                    password: base.password.clone(),
                    timeout: base.timeout,
                };
                // Each diff keeps its own resume state (next to it).
                let o = ApplyOptions { state_file: None, counters: counters.get(i).cloned(), ..opts.clone() };
                let file = t.file.clone();
                sc.spawn(move || apply(&spec, &[file], &o))
            })
            .collect();
        handles
            .into_iter()
            .zip(targets)
            .map(|(h, t)| {
                h.join().unwrap_or_else(|_| {
                    Err(ApplyFailure {
                        error: Error::invalid(format!("{}: the apply thread panicked", t.name)),
                        report: Box::new(ApplyReport::new(std::slice::from_ref(&t.file))),
                    })
                })
            })
            .collect()
    })
}

/// A progress bar per apply on standard error, drawn only when it is a
/// terminal (piped output stays quiet), following each apply's [`Counters`].
pub struct Bars {
    bars: Vec<indicatif::ProgressBar>,
    _mp: indicatif::MultiProgress,
}

impl Bars {
    /// One bar per `(name, expected transactions)`; `None` off a terminal.
    pub fn new(items: &[(String, u64)]) -> Option<Bars> {
        use std::io::IsTerminal;
        if !std::io::stderr().is_terminal() {
            return None;
        }
        let mp = indicatif::MultiProgress::new();
        let style = indicatif::ProgressStyle::with_template("{prefix:>12} {bar:40} {pos}/{len} trx {per_sec} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
        let bars = items
            .iter()
            .map(|(name, n)| {
                let b = mp.add(indicatif::ProgressBar::new(*n).with_style(style.clone()));
                b.set_prefix(name.clone());
                b
            })
            .collect();
        Some(Bars { bars, _mp: mp })
    }

    /// Redraws from the counters (display only) every 100 ms until `done()`.
    pub fn follow(&self, counters: &[Arc<Counters>], done: impl Fn() -> bool) {
        while !done() {
            self.update(counters);
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    fn update(&self, counters: &[Arc<Counters>]) {
        for (b, c) in self.bars.iter().zip(counters) {
            let total = c.total.load(Ordering::Relaxed);
            if total > 0 {
                b.set_length(total);
            }
            b.set_position(c.done.load(Ordering::Relaxed));
        }
    }

    /// Ends bar `i` with `ok` or `FAILED`.
    pub fn finish(&self, i: usize, counters: &[Arc<Counters>], ok: bool) {
        if let (Some(b), Some(c)) = (self.bars.get(i), counters.get(i)) {
            b.set_position(c.done.load(Ordering::Relaxed));
            b.finish_with_message(if ok { "ok" } else { "FAILED" });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_from_plan_json() {
        let v = serde_json::json!({"replicas": [
            {"state": {"name": "a", "host": "127.0.0.1", "port": 3307}, "file": "/d/a.diff.binlog", "diff": {"transactions": 5}},
            {"state": {"name": "b", "host": "h", "port": 3308}, "file": "/d/b.diff.binlog", "diff": {"transactions": 0}},
        ]});
        let t = plan_targets(&v, Path::new("p.json")).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!((t[0].host.as_str(), t[0].port, t[0].transactions), ("127.0.0.1", 3307, 5));
        assert_eq!(t[1].file, PathBuf::from("/d/b.diff.binlog"));
        let no_host = serde_json::json!({"replicas": [{"state": {"name": "a"}, "file": "x"}]});
        let e = plan_targets(&no_host, Path::new("p.json")).unwrap_err().to_string();
        assert!(e.contains("no host") && e.contains("p.json"), "{e}");
        let no_file = serde_json::json!({"replicas": [{"state": {"name": "a", "host": "h", "port": 1}}]});
        assert!(plan_targets(&no_file, Path::new("p")).unwrap_err().to_string().contains("--write"));
        assert!(plan_targets(&serde_json::json!({}), Path::new("p")).is_err());
    }
}
