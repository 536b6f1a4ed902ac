//! The logs every run reads: generated or the user's, copied and cut at
//! their last complete transaction, and their relay-log form for the SQL
//! thread.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use super::{CatchupOptions, LogsInfo};
use crate::bench::workload;
use crate::error::{Error, Result};
use crate::inspect::stats::{Stats, StatsOptions};
use crate::log::RecoveryMode;
use crate::log::{Access, LogFile};

pub(super) fn generate(opts: &CatchupOptions) -> Result<workload::Generated> {
    let bar = opts.progress.then(|| {
        let b = indicatif::ProgressBar::new(opts.workload.bytes);
        b.set_style(
            indicatif::ProgressStyle::with_template("{prefix:>14} {bar:40} {bytes}/{total_bytes} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b.set_prefix(format!("generate {}", opts.workload.mix.name()));
        b
    });
    let g = workload::generate(&opts.workload, &opts.workdir, &|n| {
        if let Some(b) = &bar {
            b.set_position(n.min(opts.workload.bytes));
        }
    });
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    g
}

/// Copies the logs into `dir` (the runs never touch the originals), the
/// last one cut at the end of its last complete transaction, and reads
/// what they hold.
pub(super) fn prepare_logs(input: &[PathBuf], dir: &Path) -> Result<LogsInfo> {
    if input.is_empty() {
        return Err(Error::config(None, "no log files"));
    }
    let stats = scan(input)?;
    if !stats.mysql_gtids.is_empty() || stats.server_versions.iter().any(|v| !v.contains("MariaDB")) {
        return Err(Error::bad_input(
            "log files",
            format!(
                "the catch-up benchmark runs on MariaDB and needs MariaDB logs (server version {})",
                stats.server_versions.iter().cloned().collect::<Vec<_>>().join(", ")
            ),
        )
        .with_file(&input[0]));
    }
    // Cut at a partial transaction (it would never end) or a torn event.
    let cut: Option<(PathBuf, u64, String)> = match (&stats.partial, &stats.incomplete_tail) {
        (Some(p), _) => {
            Some((p.file.clone(), p.offset, format!("an open transaction at {}:{}", p.file.display(), p.offset)))
        }
        (None, Some((f, at, _, _))) => Some((f.clone(), *at, format!("a torn event at {}:{at}", f.display()))),
        (None, None) => None,
    };
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut files = Vec::new();
    for (i, f) in input.iter().enumerate() {
        let dst = dir.join(format!("catchup-src.{:06}", i + 1));
        match &cut {
            Some((cf, at, _)) if cf == f => {
                let src = LogFile::open(f, Access::Read)?;
                fs::write(&dst, &src.bytes()[..*at as usize]).map_err(|e| Error::io(&dst, e))?;
                files.push(dst);
                break;
            }
            _ => {
                fs::copy(f, &dst).map_err(|e| Error::io(f, e))?;
                files.push(dst);
            }
        }
    }
    let stats = scan(&files)?;
    let mut end: BTreeMap<u32, (u32, u64)> = BTreeMap::new();
    for (&(domain, server), &(_, max, _)) in &stats.maria_gtids {
        let e = end.entry(domain).or_insert((server, max));
        if max > e.1 {
            *e = (server, max);
        }
    }
    if end.is_empty() {
        let why = cut.as_ref().map(|c| format!(" before {} (cut there)", c.2)).unwrap_or_default();
        return Err(Error::bad_input("log files", format!("no GTID{why}: nothing to wait for")).with_file(&input[0]));
    }
    let end_gtid = end.iter().map(|(d, (s, n))| format!("{d}-{s}-{n}")).collect::<Vec<_>>().join(",");
    let names = input
        .iter()
        .take(files.len())
        .map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default())
        .collect();
    let ids = &stats.server_ids;
    let free_server_id = (1..).map(|i| 4_000_000_000 - i).find(|id| !ids.contains(id)).unwrap_or(4_000_000_000);
    Ok(LogsInfo {
        files,
        names,
        bytes: stats.bytes,
        transactions: stats.transactions,
        end_gtid,
        cut: cut.map(|c| c.2),
        free_server_id,
    })
}

fn scan(files: &[PathBuf]) -> Result<Stats> {
    let mut st = Stats::new();
    for f in files {
        let lf = LogFile::open(f, Access::Mmap)?;
        st.add_file(&lf, StatsOptions { no_verify: false, recovery: RecoveryMode::TolerateTruncatedTail })?;
    }
    Ok(st)
}

/// Copies a binlog as a relay log the SQL thread accepts: a ROTATE naming
/// the master's file follows the FDE, as the IO thread writes one. Without
/// it MariaDB 10.11's parallel applier compares an empty master log name
/// and crashes (`compare_log_name` from `inc_group_relay_log_pos`). A relay
/// log already has its ROTATE and is copied as it is.
pub(super) fn write_relay_copy(src: &Path, master_name: &str, dst: &Path) -> Result<()> {
    use crate::event::{ChecksumAlg, EventIter, EventType, Step, WalkOptions};
    let lf = LogFile::open(src, Access::Mmap)?;
    let bytes = lf.bytes();
    let mut it = EventIter::new(bytes, WalkOptions::default());
    let mut fde_end = None;
    let mut has_rotate = false;
    while let Ok(Some(Step::Event(ev))) = it.next_step() {
        match ev.event_type() {
            EventType::FORMAT_DESCRIPTION if fde_end.is_none() => fde_end = Some((ev.end_offset(), ev.server_id())),
            EventType::ROTATE => has_rotate = true,
            _ => {}
        }
        if fde_end.is_some() && ev.event_type() != EventType::FORMAT_DESCRIPTION || has_rotate {
            break;
        }
    }
    let crc = it.format().is_some_and(|f| f.checksum == ChecksumAlg::Crc32);
    let Some((end, server_id)) = fde_end.filter(|_| !has_rotate) else {
        fs::write(dst, bytes).map_err(|e| Error::io(dst, e))?;
        return Ok(());
    };
    let mut ev = Vec::with_capacity(64);
    let size = 19 + 8 + master_name.len() + if crc { 4 } else { 0 };
    ev.extend_from_slice(&0u32.to_le_bytes()); // timestamp 0 and log_pos 0: a fake ROTATE
    ev.push(EventType::ROTATE.0);
    ev.extend_from_slice(&server_id.to_le_bytes());
    ev.extend_from_slice(&(size as u32).to_le_bytes());
    ev.extend_from_slice(&0u32.to_le_bytes());
    ev.extend_from_slice(&crate::event::flags::ARTIFICIAL.to_le_bytes());
    ev.extend_from_slice(&4u64.to_le_bytes());
    ev.extend_from_slice(master_name.as_bytes());
    if crc {
        let c = crc32fast::hash(&ev);
        ev.extend_from_slice(&c.to_le_bytes());
    }
    let end = end as usize;
    let mut out = Vec::with_capacity(bytes.len() + ev.len());
    out.extend_from_slice(&bytes[..end]);
    out.extend_from_slice(&ev);
    out.extend_from_slice(&bytes[end..]);
    fs::write(dst, out).map_err(|e| Error::io(dst, e))
}
