//! Phase 5, cleanup: the new master forgets the dead one (`RESET SLAVE
//! ALL`) and its GTID state says what it holds; the anti-flapping record;
//! the in-progress record removed; `report_script`; the final line, which
//! says what was not recovered.

use std::time::Instant;

use super::check::Checked;
use super::hooks;
use super::record::Record;
use super::repoint::NewMasterAt;
use super::{Run, label, promote};
use crate::error::Result;

impl Run<'_> {
    /// Phase 5.
    pub(super) fn cleanup(&mut self, c: &mut Checked, p: &NewMasterAt, t_all: Instant) -> Result<()> {
        let t = Instant::now();
        self.say("* Phase 5: New master cleanup phase..");
        self.note(|r| r.phase = "cleanup".into())?;
        let new_master = c.alive[p.idx].conf.clone();
        {
            let n = &mut c.alive[p.idx];
            let who = label(&new_master);
            n.srv.stop_replica()?;
            n.srv.reset_replica_all()?;
            // What it applied is in its slave position too: a later switch
            // that makes it a replica again must not fetch those twice.
            if let Some(g) = &p.at.gtid {
                n.srv.set_gtid_slave_pos(g)?;
                self.say(&format!("  {who}: gtid_slave_pos {g} (what it holds)"));
            }
        }
        self.report.new_master = Some(new_master.name.clone());
        let last = promote::last_failover_file(&self.conf.manager_workdir);
        if let Err(e) = promote::record_failover(&last, &c.dead.name, &new_master.name) {
            self.say(&format!("  Could not record this failover for anti-flapping: {e}"));
        }
        Record::remove(&self.conf.manager_workdir)?;
        self.record = None;
        super::run_folder::remove(c.opened_hosts(), &c.run_dir, false, self.o.step_timeout);
        let outcome = self.outcome_words();
        let subject = format!("MySQL Master failover {}", label(&c.dead));
        let body = format!("Master {} is down! Failover to {} {outcome}.", label(&c.dead), label(&new_master));
        if let Some(script) = &c.dead.report_script {
            let args =
                hooks::report_args(&c.dead, Some((&new_master, &self.new_slaves)), &self.conf.path, &subject, &body);
            self.say(&format!("  Executing report script: {}", hooks::shown(script, &args)));
            if let Err(e) = hooks::run_as("report_script", script, &args, self.o.hook_timeout) {
                self.say(&format!("  {e}"));
            }
        }
        self.phase_done(super::report::Phase::Cleanup, t);
        let per_phase: Vec<String> = self.phases.iter().map(|(p, s)| format!("{} {s:.2}s", p.name())).collect();
        self.say(&format!(
            "Master failover to {} {outcome} in {:.1}s ({}). Diffs: {}",
            label(&new_master),
            t_all.elapsed().as_secs_f64(),
            per_phase.join(", "),
            c.workdir.display()
        ));
        Ok(())
    }

    /// How the run ended, in words for the final line: a loss is always said.
    fn outcome_words(&self) -> String {
        let r = &self.report;
        let mut w = if r.ok() {
            "completed successfully".to_string()
        } else {
            "done, but recovery on some replicas failed".to_string()
        };
        if !r.unrecoverable.is_empty() {
            w = format!(
                "{w}, BUT NOT EVERYTHING WAS RECOVERED ({} item{} lost: {})",
                r.unrecoverable.len(),
                if r.unrecoverable.len() == 1 { "" } else { "s" },
                r.unrecoverable.join("; ")
            );
        }
        if !r.left_out.is_empty() {
            let l: Vec<String> = r.left_out.iter().map(|(n, why)| format!("{n}: {why}")).collect();
            w = format!("{w}; left out (ignore_fail), as they were: {}", l.join("; "));
        }
        w
    }
}
