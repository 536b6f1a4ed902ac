//! Phase 4, apply: every replica gets its relay diff, then the dead
//! master's tail, natively and all at once, each verified. The relay diffs
//! go from the latest replica's host straight to each target when it is
//! remote (our binary there, `apply --plan -`); the rest from here. Each
//! replica's apply state file is in the run's folder, so a resumed run
//! continues each apply where it stopped.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use super::check::Checked;
use super::record::ReplicaStep;
use super::recover::Recovered;
use super::remote_apply::{RemoteErr, remote_result};
use super::report::StepDoc;
use super::{Run, label, spec};
use crate::apply::{ApplyOptions, apply};
use crate::error::{Error, Result};
use crate::node::{ApplyReply, ApplyRequest, ApplyTarget, Node};
use crate::remote::Host;

/// What phase 4's apply did, per replica (in the order of `Checked::alive`).
pub(super) struct ApplyResults {
    /// What happened (`Ok`: a line to say), or why it failed.
    pub results: Vec<std::result::Result<String, String>>,
    /// The GTIDs each applied last, per domain (for its GTID state).
    pub gtids: Vec<Vec<String>>,
    /// When phase 4 began (its time includes the re-pointing).
    pub started: Instant,
}

/// What one replica applies: its relay diff on the latest replica's host, the master's tail here.
type ApplyInput<'a> = (Option<&'a Path>, Option<&'a Path>);

/// Parallel apply only where it pays: below this, opening the extra
/// connections costs more than they save.
const PARALLEL_FROM_BYTES: u64 = 1 << 20;

impl Run<'_> {
    fn workers(&self, bytes: u64) -> usize {
        match self.o.parallel {
            0 if bytes >= PARALLEL_FROM_BYTES => 4,
            0 => 1,
            n => n,
        }
    }

    /// Phase 4, its first half: every replica applies its diffs.
    pub(super) fn apply(&mut self, c: &mut Checked, r: &Recovered) -> Result<ApplyResults> {
        let t = Instant::now();
        self.say("* Phase 4: Applying every replica's diff (in parallel) and re-pointing..");
        self.note(|rec| rec.phase = "apply".into())?;
        let lr = &c.alive[r.latest];
        let lhost = lr.host.as_ref().map_err(|e| Error::remote(label(&lr.conf), "open its host", e.clone()))?;
        let lbin = lr.bin.clone().unwrap_or_default();
        let tail_file = r.tail.as_ref().map(|(f, _)| f.clone());
        let tail_bytes = tail_file.as_ref().and_then(|f| std::fs::metadata(f).ok()).map(|m| m.len()).unwrap_or(0);
        let resumed = c.resumed.clone();
        let inputs = apply_inputs(r, tail_file.as_deref());
        // A bar per replica on a terminal (quiet when piped); totals come from the applier's own count.
        let counters: Vec<std::sync::Arc<crate::apply::Counters>> =
            c.alive.iter().map(|_| Default::default()).collect();
        let bars = crate::apply::Bars::new(&c.alive.iter().map(|r| (r.conf.name.clone(), 0)).collect::<Vec<_>>());
        let applied_files: Vec<Mutex<Vec<PathBuf>>> = c.alive.iter().map(|_| Mutex::new(Vec::new())).collect();
        let applied_gtids: Vec<Mutex<Vec<String>>> = c.alive.iter().map(|_| Mutex::new(Vec::new())).collect();
        // The relay diffs, from the latest replica's host straight to each
        // target (one remote process for all, each target on its thread),
        // when that host is remote and every replica takes one account (the
        // password goes on that process's standard input only).
        // A password goes only to a host whose SSH key was verified: when
        // only StrictHostKeyChecking=no let it in, the diffs come here instead.
        let refused = match &c.alive[0].conf.password {
            Some(_) => lhost.may_receive_secret("apply the relay diffs from the latest replica's host").err(),
            None => None,
        };
        let same = same_account(c);
        let on_latest = self.o.apply_on_latest && matches!(lhost, Host::Ssh(_)) && same && refused.is_none();
        if let Some(e) = refused.filter(|_| self.o.apply_on_latest && same) {
            self.say(&format!("  {e}; its relay diffs are fetched and applied from here instead."));
        }
        let remote_targets = remote_targets(c, &inputs);
        let remote: std::sync::OnceLock<(Result<ApplyReply>, f64)> = std::sync::OnceLock::new();
        let remote_stage = || {
            let req = self.remote_request(c, r, &remote_targets, resumed.is_some());
            // Its progress moves each replica's bar.
            let followed: Vec<_> = remote_targets.iter().map(|&(i, _)| counters[i].clone()).collect();
            let t = Instant::now();
            let reply = Node { host: lhost, bin: &lbin, timeout: self.o.step_timeout }.apply(req, &followed);
            (reply, t.elapsed().as_secs_f64())
        };
        if on_latest && !remote_targets.is_empty() {
            self.say(&format!(
                "  Relay diffs applied from {} straight to each replica (one pass over the network).",
                lhost.label()
            ));
        }
        let workdir = c.workdir.clone();
        // Each replica on its own: its relay diff (from the latest replica's
        // host, or streamed here first), then the master's tail from here;
        // a small diff does not wait for a big one.
        let results: Vec<std::result::Result<String, String>> = std::thread::scope(|sc| {
            let hs: Vec<_> = c
                .alive
                .iter()
                .enumerate()
                .map(|(i, x)| {
                    let one = One {
                        run: self,
                        name: &x.conf.name,
                        spec: crate::server::ConnSpec { timeout: Some(self.o.mysql_timeout), ..spec(&x.conf) },
                        input: inputs[i].clone(),
                        counters: &counters[i],
                        keep: &applied_files[i],
                        gtids: &applied_gtids[i],
                        relay_bytes: r.relay_bytes[i],
                        tail_bytes,
                        on_latest,
                        lhost,
                        workdir: &workdir,
                        resumed: resumed.is_some(),
                    };
                    let (remote, remote_stage) = (&remote, &remote_stage);
                    sc.spawn(move || one.go(|| remote.get_or_init(remote_stage)))
                })
                .collect();
            if let Some(b) = &bars {
                b.follow(&counters, || hs.iter().all(|h| h.is_finished()));
            }
            hs.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("apply panicked".into()))).collect()
        });
        if let Some(b) = &bars {
            for (i, res) in results.iter().enumerate() {
                b.finish(i, &counters, res.is_ok());
            }
        }
        let files: Vec<Vec<PathBuf>> =
            applied_files.into_iter().map(|m| m.into_inner().unwrap_or_else(|p| p.into_inner())).collect();
        self.record_applied(c, &results, files)?;
        let gtids = applied_gtids.into_iter().map(|m| m.into_inner().unwrap_or_else(|p| p.into_inner())).collect();
        Ok(ApplyResults { results, gtids, started: t })
    }

    /// The one request for the latest replica's host: every remote target's
    /// relay diff, bounded as ours are.
    fn remote_request(
        &self,
        c: &Checked,
        r: &Recovered,
        targets: &[(usize, ApplyTarget)],
        resume: bool,
    ) -> ApplyRequest {
        let max_relay = r.relay_bytes.iter().copied().max().unwrap_or(0);
        ApplyRequest {
            targets: targets.iter().map(|(_, t)| t.clone()).collect(),
            user: c.alive[0].conf.user.clone(),
            password: c.alive[0].conf.password.as_ref().map(|p| p.expose().to_string()),
            parallel: self.workers(max_relay),
            // Its connections and each target's apply bounded as ours are.
            mysql_timeout_secs: self.o.mysql_timeout.as_secs().max(1),
            deadline_secs: self.o.step_timeout.as_secs().max(1),
            resume,
        }
    }

    /// Says each replica's result, records the ones applied (a resumed run
    /// does not apply them again) and keeps the report's account.
    fn record_applied(
        &mut self,
        c: &Checked,
        results: &[std::result::Result<String, String>],
        files: Vec<Vec<PathBuf>>,
    ) -> Result<()> {
        for (x, res) in c.alive.iter().zip(results) {
            match res {
                Ok(m) => self.say(&format!("  {}: {m}", label(&x.conf))),
                Err(m) => self.say(&format!("  {}: FAILED: {m}", label(&x.conf))),
            }
            if res.is_ok() {
                let n = x.conf.name.clone();
                self.note(|rec| {
                    rec.replicas.insert(n, ReplicaStep::Applied);
                })?;
            }
        }
        self.doc.applied = c
            .alive
            .iter()
            .zip(results)
            .zip(files)
            .map(|((x, res), f)| StepDoc {
                replica: x.conf.name.clone(),
                files: Some(f),
                ok: res.is_ok(),
                result: match res {
                    Ok(m) | Err(m) => m.clone(),
                },
            })
            .collect();
        Ok(())
    }
}

/// What each replica applies: its cut relay diff, then the dead master's
/// tail; or why it cannot be recovered.
fn apply_inputs<'a>(r: &'a Recovered, tail_file: Option<&'a Path>) -> Vec<std::result::Result<ApplyInput<'a>, String>> {
    let boundary: Option<crate::position::MasterPos> = r.relay_end.parse().ok();
    r.states
        .iter()
        .zip(&r.cut_files)
        .map(|(st, cf)| match (tail_file, &boundary) {
            // It executed past where the tail starts (the latest replica's
            // relay log torn shorter than what was executed from it). With
            // GTIDs the tail's apply skips what it has; without, fail it
            // rather than apply twice or leave a gap.
            (Some(_), Some(b)) if st.exec > *b && st.gtid_executed.is_none() => Err(format!(
                "executed {} past the boundary {} where the dead master's tail starts: not recovered",
                st.exec, r.relay_end
            )),
            _ => Ok((cf.as_deref(), tail_file)),
        })
        .collect()
}

/// Every replica logs in with the first one's user and password: one
/// remote process can apply to them all.
fn same_account(c: &Checked) -> bool {
    let Some(first) = c.alive.first().map(|x| &x.conf) else { return true };
    c.alive.iter().all(|x| {
        x.conf.user == first.user
            && x.conf.password.as_ref().map(crate::server::Secret::expose)
                == first.password.as_ref().map(crate::server::Secret::expose)
    })
}

/// Who gets a relay diff from the latest replica's host, with the index of
/// its counters.
fn remote_targets(c: &Checked, inputs: &[std::result::Result<ApplyInput<'_>, String>]) -> Vec<(usize, ApplyTarget)> {
    c.alive
        .iter()
        .zip(inputs)
        .enumerate()
        .filter_map(|(i, (x, input))| {
            let cut = input.as_ref().ok()?.0?;
            let t = ApplyTarget {
                name: x.conf.name.clone(),
                host: x.conf.ip.clone(),
                port: x.conf.port,
                file: cut.to_path_buf(),
            };
            Some((i, t))
        })
        .collect()
}

/// One replica's apply.
struct One<'r, 'a> {
    run: &'r Run<'a>,
    name: &'r str,
    spec: crate::server::ConnSpec,
    input: std::result::Result<ApplyInput<'r>, String>,
    counters: &'r std::sync::Arc<crate::apply::Counters>,
    keep: &'r Mutex<Vec<PathBuf>>,
    gtids: &'r Mutex<Vec<String>>,
    relay_bytes: u64,
    tail_bytes: u64,
    on_latest: bool,
    lhost: &'r Host,
    workdir: &'r Path,
    resumed: bool,
}

impl One<'_, '_> {
    fn go<'m>(self, remote: impl FnOnce() -> &'m (Result<ApplyReply>, f64)) -> std::result::Result<String, String> {
        let (cut, tail) = self.input.clone()?;
        let t = Instant::now();
        let mut files = Vec::new();
        let mut done: Vec<String> = Vec::new();
        let mut gt: Vec<String> = Vec::new();
        let mut cut = cut;
        if let (true, Some(_)) = (self.on_latest, cut) {
            let (reply, secs) = remote();
            match remote_result(reply, self.name, *secs) {
                Ok(x) => {
                    done.push(x.line);
                    gt.extend(x.last_gtids);
                    cut = None;
                }
                // The latest replica's host cannot reach it: bring the diff here.
                Err(RemoteErr::CannotConnect(m)) => {
                    done.push(format!("the latest replica's host cannot reach it ({m}): from here"));
                }
                Err(RemoteErr::Failed(m)) => return Err(format!("apply failed on the latest replica's host: {m}")),
            }
        }
        if let Some(cf) = cut {
            files.push(self.lhost.fetch(cf, self.workdir).map_err(|e| e.to_string())?);
        } else if !done.is_empty() {
            // The bar follows the tail now.
            self.counters.done.store(0, std::sync::atomic::Ordering::Relaxed);
        }
        files.extend(tail.map(Path::to_path_buf));
        *self.keep.lock().unwrap_or_else(|p| p.into_inner()) = files.clone();
        if files.is_empty() {
            *self.gtids.lock().unwrap_or_else(|p| p.into_inner()) = gt;
            return Ok(if done.is_empty() { "nothing to apply".to_string() } else { done.join("; ") });
        }
        let fetched = t.elapsed().as_secs_f64();
        // Its own state file: the master's tail is one file that several
        // replicas apply at once, and the default state path sits beside the
        // first input. In the run's folder, so a resumed run finds it again.
        let state_file = self.workdir.join(format!("{}.apply-state", self.name.replace('/', "_")));
        let here = self.tail_bytes + if cut.is_some() { self.relay_bytes } else { 0 };
        let opts = ApplyOptions {
            parallel: self.run.workers(here),
            counters: Some(self.counters.clone()),
            // A resumed run continues from the state its apply left.
            resume: self.resumed && state_file.exists(),
            state_file: Some(state_file),
            // What an earlier, interrupted run committed is also in the target's GTID state.
            skip_applied: true,
            // A target that answers but makes no progress (a lock held on it) ends at the step bound.
            deadline: Some(self.run.o.step_timeout),
            ..Default::default()
        };
        let t = Instant::now();
        match apply(&self.spec, &files, &opts) {
            Ok(r) => {
                gt.extend(r.last_gtids.iter().cloned());
                *self.gtids.lock().unwrap_or_else(|p| p.into_inner()) = gt;
                let skipped =
                    if r.skipped > 0 { format!(", skipped {} it already had", r.skipped) } else { String::new() };
                let fetched = if cut.is_some() && !matches!(self.lhost, Host::Local) {
                    format!(" (its diff fetched in {fetched:.2}s)")
                } else {
                    String::new()
                };
                done.push(format!(
                    "applied {} transactions ({} events){skipped} in {:.2}s{fetched}",
                    r.transactions,
                    r.events,
                    t.elapsed().as_secs_f64(),
                ));
                Ok(done.join("; then "))
            }
            Err(e) => Err(format!("apply failed: {}", e.error)),
        }
    }
}
