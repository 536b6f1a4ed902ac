//! Node operations: what a host does for a failover, one typed interface
//! whatever the host. Cut every replica's diff from given states (a
//! [`PlanDoc`](crate::diff::PlanDoc)), save a binlog tail from a position
//! (a [`SaveReply`]), apply a plan's targets (an [`ApplyReply`], with
//! progress).
//!
//! On this machine ([`Host::Local`]) they run in this process: no
//! subprocess, no JSON. On another ([`Host::Ssh`]) our binary runs
//! `binlog-diff node cut|save|apply` there, the request on its standard
//! input and the reply on its standard output, both versioned
//! ([`protocol`]): the same structs on both ends.

pub mod local;
pub mod protocol;

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::apply::Counters;
use crate::error::{Error, Result};
use crate::remote::Host;
pub use protocol::{
    ApplyFailureKind, ApplyOutcome, ApplyReply, ApplyRequest, ApplyTarget, CutReply, CutRequest, Envelope, PROTOCOL,
    SaveReply, SaveRequest,
};

/// A host and our binary there.
pub struct Node<'a> {
    /// The host.
    pub host: &'a Host,
    /// Our binary on it (unused on this machine).
    pub bin: &'a str,
    /// Bound of each operation over SSH (a deadline for the whole step).
    pub timeout: Duration,
}

impl Node<'_> {
    /// Plans, and with `write` cuts, every replica's diff.
    ///
    /// # Errors
    /// As [`local::cut`]; over SSH also a failed or timed-out step, or a
    /// reply of another protocol.
    pub fn cut(&self, req: CutRequest) -> Result<CutReply> {
        match self.host {
            Host::Local => local::cut(req),
            Host::Ssh(_) => self.remote("cut", "cut the diffs", &req, false, &mut |_| {}),
        }
    }

    /// Saves a binlog tail on the host.
    ///
    /// # Errors
    /// As [`local::save`]; over SSH also a failed or timed-out step.
    pub fn save(&self, req: SaveRequest) -> Result<SaveReply> {
        match self.host {
            Host::Local => local::save(req),
            Host::Ssh(_) => self.remote("save", "save the dead master's binlog tail", &req, false, &mut |_| {}),
        }
    }

    /// Applies every target's diff from the host; `counters[i]` follows target `i`.
    ///
    /// # Errors
    /// Over SSH: a request carrying a password to a host whose SSH key was
    /// not verified is refused before anything is sent
    /// ([`Host::may_receive_secret`]); the step failed or timed out, or its
    /// reply is unreadable (a target's own failure is in its [`ApplyOutcome`]).
    pub fn apply(&self, req: ApplyRequest, counters: &[Arc<Counters>]) -> Result<ApplyReply> {
        match self.host {
            Host::Local => Ok(local::apply(req, counters)),
            Host::Ssh(_) => {
                let names: Vec<String> = req.targets.iter().map(|t| t.name.clone()).collect();
                let mut follow = |l: &str| {
                    if let Some((name, done, total)) = parse_progress(l) {
                        if let Some(c) = names.iter().position(|n| *n == name).and_then(|i| counters.get(i)) {
                            c.total.store(total, std::sync::atomic::Ordering::Relaxed);
                            c.done.store(done, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                };
                let secret = req.password.is_some();
                self.remote("apply", "apply the relay diffs from the latest replica's host", &req, secret, &mut follow)
            }
        }
    }

    /// Runs `binlog-diff node OP` on the host with `req`, following its
    /// standard error line by line, and reads its reply. A request holding
    /// a `secret` goes only to a host whose key was verified.
    fn remote<Q: Serialize, R: DeserializeOwned>(
        &self,
        op: &str,
        step: &str,
        req: &Q,
        secret: bool,
        follow: &mut dyn FnMut(&str),
    ) -> Result<R> {
        if secret {
            self.host.may_receive_secret(step)?;
        }
        let input = serde_json::to_vec(&Envelope::new(req)).map_err(|e| Error::invalid(e.to_string()))?;
        let argv = vec![self.bin.to_string(), "node".into(), op.into()];
        let o = self.host.run_following(step, &argv, &input, self.timeout, follow)?;
        let label = self.host.label();
        if o.status != 0 {
            let why = o.stderr.lines().rev().find(|l| !l.trim().is_empty() && parse_progress(l).is_none());
            return Err(Error::remote(
                &label,
                step,
                format!("exit {}: {}", o.status, why.unwrap_or("no message").trim()),
            ));
        }
        let env: Envelope<R> = serde_json::from_str(o.stdout.trim())
            .map_err(|e| Error::remote(&label, step, format!("its reply is unreadable: {e}")))?;
        env.open(&label)
    }
}

/// A progress line of `node apply`: `progress<TAB>NAME<TAB>DONE<TAB>TOTAL`.
pub fn progress_line(name: &str, done: u64, total: u64) -> String {
    format!("progress\t{name}\t{done}\t{total}")
}

fn parse_progress(l: &str) -> Option<(String, u64, u64)> {
    let mut f = l.split('\t');
    match (f.next(), f.next(), f.next(), f.next()) {
        (Some("progress"), Some(n), Some(d), Some(t)) => Some((n.to_string(), d.parse().ok()?, t.parse().ok()?)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_lines_round_trip() {
        assert_eq!(parse_progress(&progress_line("server2", 3, 9)), Some(("server2".into(), 3, 9)));
        assert_eq!(parse_progress("binlog-diff: oops"), None);
    }

    #[test]
    fn another_protocol_is_refused() {
        let e = Envelope { protocol: PROTOCOL + 1, body: () }.open("root@db2:22").unwrap_err().to_string();
        assert!(e.contains("root@db2:22") && e.contains("same release"), "{e}");
        assert_eq!(Envelope::new(7).open("x").unwrap(), 7);
    }
}
