//! Property checks for the fuzz targets. The code lives in `checks.rs` so
//! that `tests/fuzz_regressions.rs` (stable, no nightly) can include the same
//! file with `#[path]` and replay crashes and seeds through identical checks.

mod checks;
pub use checks::*;

use std::backtrace::Backtrace;
use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

thread_local! {
    /// The last panic of this exec, and the first overflow panic of it.
    static LAST_PANIC: RefCell<Option<(String, Backtrace)>> = const { RefCell::new(None) };
    static OVERFLOW: RefCell<Option<(String, Backtrace)>> = const { RefCell::new(None) };
}

/// Runs `f` as a fuzz target body where only panics that ESCAPE `f` are bugs.
///
/// binlog-diff guards mysql_common (row images, table maps, tagged GTIDs)
/// with `catch_unwind` and turns its panics into parse errors, by design.
/// libfuzzer-sys's panic hook aborts on every panic, caught or not, so such
/// a guarded dependency panic would stop the fuzzer as a "crash". Unless
/// `BINLOG_FUZZ_STRICT_PANICS=1` is set, the first call replaces that hook
/// with one that only records the message and location; a panic that
/// escapes `f` is then printed and the process aborts (a crash, as usual).
/// Set `BINLOG_FUZZ_STRICT_PANICS=1` to find (and minimize) the guarded
/// panics too. A caught arithmetic-overflow panic is a crash in either mode
/// (see [`is_overflow_panic`]).
pub fn run(f: impl FnOnce()) {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        if std::env::var_os("BINLOG_FUZZ_STRICT_PANICS").is_some_and(|v| v == "1") {
            return;
        }
        std::panic::set_hook(Box::new(|info| {
            // Unresolved capture: cheap; symbolized only if printed.
            let msg = format!("{info}");
            if is_overflow_panic(&msg) {
                OVERFLOW.with(|o| {
                    let mut o = o.borrow_mut();
                    if o.is_none() {
                        *o = Some((msg.clone(), Backtrace::force_capture()));
                    }
                });
            }
            LAST_PANIC.with(|p| *p.borrow_mut() = Some((msg, Backtrace::force_capture())));
        }));
    });
    LAST_PANIC.with(|p| *p.borrow_mut() = None);
    OVERFLOW.with(|o| *o.borrow_mut() = None);
    let r = catch_unwind(AssertUnwindSafe(f));
    if let Some((msg, bt)) = OVERFLOW.with(|o| o.borrow_mut().take()) {
        eprintln!("arithmetic overflow (caught inside the library; wraps in release builds): {msg}\n{bt}");
        std::process::abort();
    }
    if let Err(e) = r {
        match LAST_PANIC.with(|p| p.borrow_mut().take()) {
            Some((msg, bt)) => eprintln!("panic escaped the fuzz target: {msg}\n{bt}"),
            None => eprintln!("panic escaped the fuzz target (no message recorded)"),
        }
        resume_unwind(e);
    }
}
