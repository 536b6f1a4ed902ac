//! What the latest replica's host says after applying the relay diffs
//! ([`crate::node::ApplyReply`]): per replica, applied (with its last
//! GTIDs), unreachable from there (its diff then comes here), or failed.

use crate::error::Result;
use crate::node::{ApplyFailureKind, ApplyReply};

/// A relay diff applied from the latest replica's host.
#[derive(Clone, Debug)]
pub(super) struct RemoteDone {
    pub line: String,
    pub last_gtids: Vec<String>,
}

#[derive(Clone, Debug)]
pub(super) enum RemoteErr {
    /// That host cannot reach the target's MySQL: the diff comes here instead.
    CannotConnect(String),
    Failed(String),
}

/// What happened to `name`'s diff.
pub(super) fn remote_result(
    reply: &Result<ApplyReply>,
    name: &str,
    secs: f64,
) -> std::result::Result<RemoteDone, RemoteErr> {
    let reply = reply.as_ref().map_err(|e| RemoteErr::Failed(e.to_string()))?;
    let Some(t) = reply.targets.iter().find(|t| t.name == name) else {
        return Err(RemoteErr::Failed("no result for it in the reply".into()));
    };
    match &t.failure {
        None => {
            let skipped = if t.skipped > 0 { format!(", skipped {} it already had", t.skipped) } else { String::new() };
            Ok(RemoteDone {
                line: format!(
                    "applied {} transactions ({} events){skipped} from the latest replica's host in {secs:.2}s",
                    t.transactions, t.events
                ),
                last_gtids: t.last_gtids.clone(),
            })
        }
        Some((ApplyFailureKind::Connect, m)) => Err(RemoteErr::CannotConnect(m.clone())),
        Some((_, m)) => Err(RemoteErr::Failed(m.clone())),
    }
}
