//! The judgement of the runs and the report: checksums, validity against
//! the reference run, medians, the table as text and JSON, and the
//! progress bar a run shows.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mysql::prelude::Queryable;
use serde_json::json;

use super::{CatchupReport, Line, LogsInfo, Mode, Run};
use crate::apply::MariaState;
use crate::error::{Error, Result};
use crate::server::Server;

/// `CHECKSUM TABLE` of every base table outside the system schemas.
pub(super) fn checksums(label: &str, c: &mut mysql::Conn) -> Result<BTreeMap<String, Option<u64>>> {
    let tables: Vec<(String, String)> = c
        .query(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' \
             AND table_schema NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys') \
             ORDER BY 1, 2",
        )
        .map_err(|e| Error::server(label, format!("listing tables: {e}")))?;
    let mut out = BTreeMap::new();
    for chunk in tables.chunks(50) {
        let list: Vec<String> =
            chunk.iter().map(|(s, t)| format!("`{}`.`{}`", s.replace('`', "``"), t.replace('`', "``"))).collect();
        let rows: Vec<(String, Option<u64>)> = c
            .query(format!("CHECKSUM TABLE {}", list.join(", ")))
            .map_err(|e| Error::server(label, format!("CHECKSUM TABLE: {e}")))?;
        out.extend(rows);
    }
    Ok(out)
}

/// Marks each run valid or not (see the module docs).
pub(super) fn judge(runs: &mut [Run], expected: &MariaState) {
    let reference = runs
        .iter()
        .filter(|r| r.seconds.is_some())
        .min_by_key(|r| (r.mode != Mode::Sql, r.round))
        .map(|r| r.checksums.clone());
    for r in runs.iter_mut() {
        if r.seconds.is_none() {
            continue;
        }
        let gtid_ok = MariaState::parse(&r.gtid).is_ok_and(|g| &g == expected);
        if !gtid_ok {
            r.problem = Some(format!("ended at GTID {:?}, the logs end at {:?}", r.gtid, expected.to_text()));
        } else if reference.as_ref() != Some(&r.checksums) {
            let differ: Vec<&String> = r
                .checksums
                .iter()
                .filter(|(t, v)| reference.as_ref().and_then(|m| m.get(*t)) != Some(*v))
                .map(|(t, _)| t)
                .collect();
            r.problem = Some(format!("checksums differ from the reference run's: {differ:?}"));
        } else {
            r.valid = true;
        }
    }
}

pub(super) fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 })
}

pub(super) fn table(runs: &[Run], configs: &[(Mode, usize)], logs: &LogsInfo) -> Vec<Line> {
    let med = |m: Mode, t: usize| {
        median(runs.iter().filter(|r| r.mode == m && r.threads == t && r.valid).filter_map(|r| r.seconds).collect())
    };
    let sql = med(Mode::Sql, 1);
    configs
        .iter()
        .map(|&(mode, threads)| {
            let seconds = med(mode, threads);
            Line {
                mode,
                threads,
                seconds,
                trx_per_s: seconds.map(|s| logs.transactions as f64 / s),
                mb_per_s: seconds.map(|s| logs.bytes as f64 / 1e6 / s),
                speedup: sql.zip(seconds).map(|(a, b)| a / b),
                valid: runs.iter().filter(|r| r.mode == mode && r.threads == threads).all(|r| r.valid),
            }
        })
        .collect()
}

impl CatchupReport {
    /// The table, as text.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "logs: {} files, {} bytes, {} transactions, ending at {}{}\nserver: {}\n\n",
            self.logs.files.len(),
            self.logs.bytes,
            self.logs.transactions,
            self.logs.end_gtid,
            self.logs.cut.as_ref().map(|c| format!(" (cut before {c})")).unwrap_or_default(),
            self.server_version,
        );
        s.push_str(&format!(
            "{:<13} {:>7} {:>10} {:>10} {:>8} {:>8}  {}\n",
            "mode", "threads", "seconds", "trx/s", "MB/s", "vs sql", "valid"
        ));
        let f = |v: Option<f64>, p: usize| v.map(|x| format!("{x:.p$}")).unwrap_or_else(|| "-".into());
        for l in &self.lines {
            s.push_str(&format!(
                "{:<13} {:>7} {:>10} {:>10} {:>8} {:>8}  {}\n",
                l.mode.name(),
                l.threads,
                f(l.seconds, 3),
                f(l.trx_per_s, 0),
                f(l.mb_per_s, 2),
                l.speedup.map(|x| format!("{x:.2}x")).unwrap_or_else(|| "-".into()),
                if l.valid { "yes" } else { "NO" }
            ));
        }
        for r in self.runs.iter().filter(|r| !r.valid) {
            s.push_str(&format!(
                "invalid: {} x{} round {}: {}\n",
                r.mode.name(),
                r.threads,
                r.round + 1,
                r.problem.as_deref().unwrap_or("?")
            ));
        }
        s
    }

    /// The report as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "logs": {
                "files": self.logs.files.len(),
                "bytes": self.logs.bytes,
                "transactions": self.logs.transactions,
                "end_gtid": self.logs.end_gtid,
                "cut": self.logs.cut,
            },
            "server_version": self.server_version,
            "server_options": self.server_options,
            "results": self.lines.iter().map(|l| json!({
                "mode": l.mode.name(),
                "threads": l.threads,
                "seconds": l.seconds,
                "trx_per_s": l.trx_per_s,
                "mb_per_s": l.mb_per_s,
                "speedup_vs_sql": l.speedup,
                "valid": l.valid,
            })).collect::<Vec<_>>(),
            "runs": self.runs.iter().map(|r| json!({
                "mode": r.mode.name(),
                "threads": r.threads,
                "round": r.round + 1,
                "seconds": r.seconds,
                "valid": r.valid,
                "problem": r.problem,
                "gtid_binlog_pos": r.gtid,
                "checksums": r.checksums,
            })).collect::<Vec<_>>(),
        })
    }

    /// All runs valid.
    pub fn all_valid(&self) -> bool {
        self.runs.iter().all(|r| r.valid)
    }
}

/// A progress bar for one run: transactions applied, read from the
/// server's `gtid_binlog_pos` by a thread of its own (every mode logs what
/// it applies).
pub(super) struct Bar {
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Bar {
    pub(super) fn start(on: bool, label: &str, spec: &crate::server::ConnSpec, logs: &LogsInfo) -> Result<Bar> {
        let stop = Arc::new(AtomicBool::new(false));
        if !on || !std::io::stderr().is_terminal() {
            return Ok(Bar { stop, handle: None });
        }
        let end = MariaState::parse(&logs.end_gtid)?;
        let mut srv = Server::connect(spec)?;
        let pb = indicatif::ProgressBar::new(logs.transactions);
        pb.set_style(
            indicatif::ProgressStyle::with_template("{prefix:>16} {bar:40} {pos}/{len} trx {per_sec} {elapsed}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        pb.set_prefix(label.to_string());
        let domains: Vec<u32> =
            end.domain_position().split(',').filter_map(|g| g.split('-').next()?.parse().ok()).collect();
        let total_seq: u64 = domains.iter().filter_map(|d| end.domain_seq(*d)).sum();
        let (s2, n) = (stop.clone(), logs.transactions);
        let handle = std::thread::spawn(move || {
            while !s2.load(Ordering::Relaxed) {
                if let Some(st) = srv.gtid_binlog_pos().ok().and_then(|t| MariaState::parse(&t).ok()) {
                    let seq: u64 = domains.iter().filter_map(|d| st.domain_seq(*d)).sum();
                    // Sequence numbers may start anywhere: count back from the end.
                    pb.set_position(n.saturating_sub(total_seq.saturating_sub(seq)));
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            pb.finish_and_clear();
        });
        Ok(Bar { stop, handle: Some(handle) })
    }

    pub(super) fn finish(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
