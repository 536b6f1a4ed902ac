//! Live progress of one apply, shared with whoever displays it (the
//! plan's bars in [`super::multi`], a node's reply stream): counted by the
//! serial and parallel appliers as they commit or skip.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters of a running apply, for progress displays.
#[derive(Debug, Default)]
pub struct Counters {
    /// Complete transactions in the input (known after the pre-scan).
    pub total: AtomicU64,
    /// Transactions committed or skipped so far.
    pub done: AtomicU64,
}

impl Counters {
    pub(crate) fn set_total(c: &Option<Arc<Counters>>, n: u64) {
        if let Some(c) = c {
            c.total.store(n, Ordering::Relaxed);
        }
    }

    pub(crate) fn tick(c: &Option<Arc<Counters>>) {
        if let Some(c) = c {
            c.done.fetch_add(1, Ordering::Relaxed);
        }
    }
}
