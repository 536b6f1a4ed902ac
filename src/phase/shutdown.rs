//! Phase 2, dead master shutdown: the first change. The in-progress record
//! is written before it; then MHA's hooks with MHA's arguments and exit
//! codes (a failing hook stops the run here, with the record saying so),
//! then every replica's IO thread stopped.

use std::time::Instant;

use super::Run;
use super::check::Checked;
use super::hooks::{self, HookExit};
use super::record::Record;
use crate::error::{Error, Result};

impl Run<'_> {
    /// Phase 2.
    pub(super) fn shutdown(&mut self, c: &mut Checked) -> Result<()> {
        let t = Instant::now();
        self.say("* Phase 2: Dead Master Shutdown Phase..");
        let fresh = c.resumed.is_none();
        let rec = match c.resumed.take() {
            Some(mut r) => {
                r.pid = std::process::id();
                r.stopped = None;
                r
            }
            None => Record::new(&c.dead.name, &c.workdir, &c.run_dir),
        };
        let hooks_done = rec.hooks_done;
        rec.save(&self.conf.manager_workdir)?;
        self.say(&format!(
            "  In-progress record: {} (a run that stops part-way is continued with --resume).",
            super::record::path(&self.conf.manager_workdir).display()
        ));
        c.resumed = Some(rec.clone());
        self.record = Some(rec);
        if hooks_done {
            self.say("  The hooks ran in the earlier run: not again.");
        } else if let Err(e) = self.shutdown_hooks(c) {
            // The servers are as they were: no record to resume, a plain rerun once the hook is mended.
            if fresh {
                Record::remove(&self.conf.manager_workdir)?;
                self.record = None;
                return Err(Error::refused(format!("{e}: nothing was changed on the servers")));
            }
            return Err(e);
        } else {
            self.note(|r| r.hooks_done = true)?;
        }
        for r in &mut c.alive {
            if r.status.get("Master_Host").is_empty() {
                continue; // the new master of a resumed run: no longer a replica
            }
            r.srv.stop_io_thread()?;
        }
        self.phase_done(super::report::Phase::DeadMasterShutdown, t);
        Ok(())
    }

    fn shutdown_hooks(&mut self, c: &mut Checked) -> Result<()> {
        let (o, dead) = (self.o, &c.dead);
        let dead_ssh = c.dead_host.is_ok();
        if let Some(script) = &dead.master_ip_failover_script {
            let args = hooks::ip_stop_args(dead, dead_ssh);
            self.say(&format!("  Executing master IP deactivation script: {}", hooks::shown(script, &args)));
            match hooks::run_as("master_ip_failover_script --command=stop", script, &args, o.hook_timeout)? {
                HookExit::Ten => self.say("  It exited 10: proceeding (as MHA)."),
                _ => self.say("  done."),
            }
        } else {
            self.say("  master_ip_failover_script is not set: fence the dead master's address yourself.");
        }
        if let Some(script) = &dead.shutdown_script {
            let args = hooks::shutdown_args(dead, dead_ssh);
            self.say(&format!("  Executing SHUTDOWN script: {}", hooks::shown(script, &args)));
            match hooks::run_as("shutdown_script", script, &args, o.hook_timeout)? {
                HookExit::Ten => self.say("  SSH reachable. Shutting down mysqld done."),
                _ => {
                    self.say("  Power off done: the dead master's host is gone, its binlogs with it.");
                    c.dead_ssh = false;
                }
            }
        } else {
            self.say("  shutdown_script is not set.");
        }
        Ok(())
    }
}
