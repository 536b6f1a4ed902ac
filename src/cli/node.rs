//! `binlog-diff node cut|save|apply`: the node operations, for a failover
//! driver on another host. The request is read from standard input and the
//! reply printed on standard output, both versioned
//! ([`crate::node::protocol`]); `apply` prints progress lines on standard
//! error while it runs. Errors: one line on standard error, exit code as
//! for any command.

use std::io::Read;
use std::sync::Arc;

use clap::Subcommand;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::apply::Counters;
use crate::error::{Error, Result};
use crate::node::{Envelope, local, progress_line};

/// Which operation.
#[derive(Subcommand, Debug)]
pub(super) enum NodeOp {
    /// Plan (and cut) every replica's diff: a `CutRequest` in, a `PlanDoc` out.
    Cut,
    /// Save a binlog tail: a `SaveRequest` in, a `SaveReply` out.
    Save,
    /// Apply every target's diff: an `ApplyRequest` in, an `ApplyReply` out.
    Apply,
}

fn request<Q: DeserializeOwned>() -> Result<Q> {
    let mut text = Vec::new();
    std::io::stdin()
        .read_to_end(&mut text)
        .map_err(|e| Error::from(std::io::Error::new(e.kind(), format!("reading the request: {e}"))))?;
    let env: Envelope<Q> =
        serde_json::from_slice(&text).map_err(|e| Error::bad_input("the request", format!("unreadable: {e}")))?;
    env.open("the driver")
}

fn reply<R: Serialize>(r: R) -> Result<()> {
    let text = serde_json::to_string(&Envelope::new(r)).map_err(|e| Error::invalid(e.to_string()))?;
    println!("{text}");
    Ok(())
}

pub(super) fn run(op: NodeOp) -> u8 {
    let r = match op {
        NodeOp::Cut => request().and_then(local::cut).and_then(reply),
        NodeOp::Save => request().and_then(local::save).and_then(reply),
        NodeOp::Apply => request().and_then(|q| reply(apply_following(q))),
    };
    match r {
        Ok(()) => super::exit::EXIT_OK,
        Err(e) => {
            eprintln!("binlog-diff: {e}");
            super::exit::of_error(&e)
        }
    }
}

/// The apply, with a progress line per target every 200 ms (and a last one each).
fn apply_following(req: crate::node::ApplyRequest) -> crate::node::ApplyReply {
    use std::sync::atomic::Ordering::Relaxed;
    let names: Vec<String> = req.targets.iter().map(|t| t.name.clone()).collect();
    let counters: Vec<Arc<Counters>> = names.iter().map(|_| Arc::default()).collect();
    std::thread::scope(|sc| {
        let h = sc.spawn(|| local::apply(req, &counters));
        loop {
            let finished = h.is_finished();
            let mut err = std::io::stderr().lock();
            for (n, c) in names.iter().zip(&counters) {
                let _ = std::io::Write::write_all(
                    &mut err,
                    format!("{}\n", progress_line(n, c.done.load(Relaxed), c.total.load(Relaxed))).as_bytes(),
                );
            }
            drop(err);
            if finished {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        h.join().unwrap_or_else(|_| crate::node::ApplyReply { targets: Vec::new() })
    })
}
