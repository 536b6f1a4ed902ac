//! The dead master's binlog tail: saved on its host by our binary
//! (`save_binary_logs --command=save`) from a master coordinate to the end,
//! then brought here. Phase 1 saves it before anything changes, from where
//! the replicas stopped reading; phase 3 saves it again only when the relay
//! logs end elsewhere.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{ServerConf, secs};
use crate::diff::tail::TailStart;
use crate::error::Result;
use crate::node::{Node, SaveRequest};
use crate::remote::Host;

/// A tail as saved on the dead master's host and brought here.
#[derive(Clone, Debug)]
pub(super) struct Saved {
    /// Where it starts (master coordinate).
    pub from: String,
    /// The local copy (`None`: the dead master has nothing after `from`).
    pub file: Option<PathBuf>,
    /// What the save printed about it.
    pub line: String,
    pub secs: f64,
}

/// Saves tails on the dead master's host.
pub(super) struct Saver<'a> {
    pub host: &'a Host,
    pub bin: &'a str,
    pub dead: &'a ServerConf,
    /// The run folder's name (remote hosts).
    pub run_dir: &'a str,
    /// This host's folder for the run.
    pub workdir: &'a Path,
    pub step_timeout: Duration,
}

impl Saver<'_> {
    /// The tail file on the dead master's host: in the run's folder (made
    /// when the host was opened, 0700).
    fn out_file(&self) -> PathBuf {
        match self.host {
            Host::Local => self.workdir.join("master-tail.binlog"),
            Host::Ssh(_) => self.dead.remote_workdir.join(self.run_dir).join("master-tail.binlog"),
        }
    }

    /// Saves the tail from `from` (`FILE:POS`; under
    /// [`TailStart::Transaction`], from the start of the transaction that
    /// holds it) and brings it here.
    ///
    /// # Errors
    /// The save fails on the dead master's host (its binlogs not where
    /// `master_binlog_dir` says, damaged, unreadable), or the fetch fails.
    pub fn save(&self, from: &str, start: TailStart) -> Result<Saved> {
        let t = Instant::now();
        let req = SaveRequest {
            from: from.to_string(),
            start,
            binlog_dirs: self.dead.master_binlog_dir.clone(),
            output: self.out_file(),
        };
        let node = Node { host: self.host, bin: self.bin, timeout: self.step_timeout };
        let reply = node.save(req)?;
        let from = reply.from;
        let Some(d) = reply.tail else {
            return Ok(Saved { from, file: None, line: String::new(), secs: secs(t.elapsed()) });
        };
        let range = match (&d.master_start, &d.master_end) {
            (Some(a), Some(b)) => format!(", master {a} .. {b}"),
            _ => String::new(),
        };
        let line =
            format!("Saved {} events ({} whole transactions, {} bytes){range}", d.events, d.transactions, d.bytes);
        let file = match self.host {
            Host::Local => reply.output,
            Host::Ssh(_) => self.host.fetch(&reply.output, self.workdir)?,
        };
        Ok(Saved { from, file: Some(file), line, secs: secs(t.elapsed()) })
    }
}
