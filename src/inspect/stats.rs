//! `binlog-diff stats`: counts over one or more files read as one stream.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::event::views::{MariaGtid, MysqlGtid};
use crate::event::{EventType, TrxGrouper, WalkOptions, classify};
use crate::log::{Access, LogFile, RecoveryMode, Tail};

/// Options for [`Stats::add_file`].
#[derive(Clone, Copy, Debug, Default)]
pub struct StatsOptions {
    /// Skip CRC verification.
    pub no_verify: bool,
    /// What a truncated last event means.
    pub recovery: RecoveryMode,
}

/// Count and bytes of one event type.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TypeCount {
    /// Events.
    pub events: u64,
    /// Bytes.
    pub bytes: u64,
}

/// A transaction left open at the end of the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartialTrx {
    /// File where it starts.
    pub file: PathBuf,
    /// Offset of its first event.
    pub offset: u64,
    /// Events it holds up to the end of the stream.
    pub events: u64,
}

/// Statistics over a stream of files.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Files read.
    pub files: u64,
    /// Bytes read (whole files).
    pub bytes: u64,
    /// Events (outer).
    pub events: u64,
    /// Per event type.
    pub by_type: BTreeMap<EventType, TypeCount>,
    /// Complete transactions (event groups).
    pub transactions: u64,
    /// Groups abandoned (a new group began before the old one ended).
    pub abandoned: u64,
    /// A group open at the end.
    pub partial: Option<PartialTrx>,
    /// Truncated last event, if any: (file, offset, available, needed).
    pub incomplete_tail: Option<(PathBuf, u64, u64, u64)>,
    /// MySQL GTIDs: sid → (min gno, max gno, count).
    pub mysql_gtids: BTreeMap<String, (i64, i64, u64)>,
    /// MariaDB GTIDs: (domain, server) → (min seq, max seq, count).
    pub maria_gtids: BTreeMap<(u32, u32), (u64, u64, u64)>,
    /// First and last non-zero timestamps.
    pub first_timestamp: Option<u32>,
    /// Last non-zero timestamp.
    pub last_timestamp: Option<u32>,
    /// Server ids seen in headers.
    pub server_ids: BTreeSet<u32>,
    /// Server versions seen in FDEs.
    pub server_versions: BTreeSet<String>,
    grouper: Option<TrxGrouper>,
    open_at: Option<(PathBuf, u64, u64)>,
}

impl Stats {
    /// Empty statistics.
    pub fn new() -> Self {
        Stats::default()
    }

    /// Adds `files`, opened with `access`, as one stream in the order given:
    /// only the last may end torn (`opts.recovery` applies to it; the others
    /// must be whole). `done` is told each file's size as it is added (a
    /// progress bar). Stops at the first error; what was added before stays
    /// counted.
    ///
    /// # Errors
    /// The first file that cannot be opened, or [`add_file`](Self::add_file)'s.
    pub fn add_files(
        &mut self,
        files: &[PathBuf],
        access: Access,
        opts: StatsOptions,
        done: &mut dyn FnMut(u64),
    ) -> Result<()> {
        for (i, f) in files.iter().enumerate() {
            let lf = LogFile::open(f, access)?;
            let last = i + 1 == files.len();
            self.add_file(&lf, StatsOptions { recovery: opts.recovery.for_file(last), ..opts })?;
            done(lf.bytes().len() as u64);
        }
        Ok(())
    }

    /// Adds one file, continuing the transaction stream from the previous file.
    ///
    /// # Errors
    /// The first parse error, or a truncated tail under strict recovery.
    pub fn add_file(&mut self, file: &LogFile, opts: StatsOptions) -> Result<()> {
        self.files += 1;
        self.bytes += file.bytes().len() as u64;
        let mut g = self.grouper.take().unwrap_or_default();
        let path = file.path().to_path_buf();
        let perr = |e| Error::parse(Some(file.path()), e);
        let walk = WalkOptions { verify_checksums: !opts.no_verify };
        let tail = file.walk(walk, opts.recovery, |ev, fmt| {
            self.events += 1;
            let tc = self.by_type.entry(ev.event_type()).or_default();
            tc.events += 1;
            tc.bytes += ev.size() as u64;
            self.server_ids.insert(ev.server_id());
            let ts = ev.timestamp();
            if ts != 0 {
                self.first_timestamp.get_or_insert(ts);
                self.last_timestamp = Some(ts);
            }
            match ev.event_type() {
                EventType::FORMAT_DESCRIPTION => {
                    self.server_versions.insert(fmt.server_version().to_string());
                }
                EventType::GTID => {
                    let gt = MysqlGtid::parse(&ev, fmt).map_err(perr)?;
                    let e = self
                        .mysql_gtids
                        .entry(crate::event::views::format_uuid(&gt.sid))
                        .or_insert((gt.gno, gt.gno, 0));
                    e.0 = e.0.min(gt.gno);
                    e.1 = e.1.max(gt.gno);
                    e.2 += 1;
                }
                EventType::MARIA_GTID => {
                    let gt = MariaGtid::parse(&ev, fmt).map_err(perr)?;
                    let e = self.maria_gtids.entry((gt.domain_id, ev.server_id())).or_insert((gt.seq_no, gt.seq_no, 0));
                    e.0 = e.0.min(gt.seq_no);
                    e.1 = e.1.max(gt.seq_no);
                    e.2 += 1;
                }
                _ => {}
            }
            let role = g.feed(classify(&ev, fmt).map_err(perr)?);
            if role.abandons {
                self.abandoned += 1;
            }
            if role.boundary.opens() {
                self.open_at = Some((path.clone(), ev.offset(), 0));
            }
            if let Some(o) = self.open_at.as_mut() {
                if role.boundary != crate::event::Boundary::Control {
                    o.2 += 1;
                }
            }
            if role.boundary.closes() {
                self.transactions += 1;
                self.open_at = None;
            }
            Ok(true)
        })?;
        if let Tail::Incomplete(inc) = tail {
            self.incomplete_tail = Some((path.clone(), inc.at, inc.available, inc.needed));
        }
        self.partial = self.open_at.as_ref().filter(|_| g.in_group()).map(|(f, o, n)| PartialTrx {
            file: f.clone(),
            offset: *o,
            events: *n,
        });
        self.grouper = Some(g);
        Ok(())
    }

    /// Machine-readable form.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        let by_type: serde_json::Map<String, serde_json::Value> =
            self.by_type.iter().map(|(t, c)| (t.to_string(), json!({"events": c.events, "bytes": c.bytes}))).collect();
        json!({
            "files": self.files,
            "bytes": self.bytes,
            "events": self.events,
            "by_type": by_type,
            "transactions": self.transactions,
            "abandoned": self.abandoned,
            "partial_transaction": self.partial.as_ref().map(|p| json!({
                "file": p.file.display().to_string(), "offset": p.offset, "events": p.events})),
            "incomplete_tail": self.incomplete_tail.as_ref().map(|(f, at, a, n)| json!({
                "file": f.display().to_string(), "offset": at, "available": a, "needed": n})),
            "mysql_gtids": self.mysql_gtids.iter().map(|(s, (a, b, n))| json!({"sid": s, "first": a, "last": b, "count": n})).collect::<Vec<_>>(),
            "mariadb_gtids": self.maria_gtids.iter().map(|((d, s), (a, b, n))| json!({"domain_id": d, "server_id": s, "first": a, "last": b, "count": n})).collect::<Vec<_>>(),
            "first_timestamp": self.first_timestamp,
            "last_timestamp": self.last_timestamp,
            "server_ids": self.server_ids,
            "server_versions": self.server_versions,
        })
    }

    /// Human-readable form.
    pub fn to_text(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let _ = writeln!(s, "files: {}  bytes: {}  events: {}", self.files, self.bytes, self.events);
        let _ = writeln!(s, "transactions: {}  abandoned: {}", self.transactions, self.abandoned);
        match &self.partial {
            Some(p) => {
                let _ = writeln!(s, "partial transaction: {} @ {} ({} events)", p.file.display(), p.offset, p.events);
            }
            None => s.push_str("partial transaction: none\n"),
        }
        if let Some((f, at, a, n)) = &self.incomplete_tail {
            let _ = writeln!(s, "incomplete tail: {} @ {} ({a} of {n} bytes)", f.display(), at);
        }
        let _ = writeln!(
            s,
            "timestamps: {} .. {}",
            self.first_timestamp.map_or("-".into(), |t| t.to_string()),
            self.last_timestamp.map_or("-".into(), |t| t.to_string())
        );
        let ids: Vec<String> = self.server_ids.iter().map(u32::to_string).collect();
        let _ = writeln!(s, "server ids: {}", ids.join(","));
        let vs: Vec<&str> = self.server_versions.iter().map(String::as_str).collect();
        let _ = writeln!(s, "server versions: {}", vs.join(", "));
        for (sid, (a, b, n)) in &self.mysql_gtids {
            let _ = writeln!(s, "gtid {sid}:{a}-{b} ({n} transactions)");
        }
        for ((d, sv), (a, b, n)) in &self.maria_gtids {
            let _ = writeln!(s, "gtid {d}-{sv}-{a} .. {d}-{sv}-{b} ({n} transactions)");
        }
        s.push_str("by type:\n");
        for (t, c) in &self.by_type {
            let _ = writeln!(s, "  {:<32} {:>10} events {:>14} bytes", t.to_string(), c.events, c.bytes);
        }
        s
    }
}
