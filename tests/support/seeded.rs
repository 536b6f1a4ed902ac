//! Runs drawn from seeds (tests/trials.rs, tests/chained_trials.rs): how
//! many and from which seed come from the environment; each run is caught
//! if it panics, so a failing seed is named and the others still run; the
//! test fails at the end, naming every failed seed.

use std::any::Any;
use std::fmt::Debug;
use std::time::Instant;

/// The environment variable `name` as a number, or `default`.
pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// What a caught panic said.
pub fn panic_text(e: &Box<dyn Any + Send>) -> String {
    e.downcast_ref::<String>().cloned().or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default()
}

/// For every seed of `first..first + n`: `run(&draw(seed))`, a panic
/// counted as a failure; prints `<what> <seed>: ok in <s>: <Ok text>;
/// <draw>` or `<what> <seed>: FAILED in <s>; <draw>` and the error, then a
/// summary; panics at the end if any failed, naming their seeds.
pub fn run_seeds<D: Debug>(
    what: &str,
    first: u64,
    n: u64,
    draw: impl Fn(u64) -> D,
    mut run: impl FnMut(&D) -> Result<String, String>,
) {
    let mut failed = Vec::new();
    for seed in first..first + n {
        let d = draw(seed);
        let t = Instant::now();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&d)))
            .unwrap_or_else(|e| Err(format!("panicked: {}", panic_text(&e))));
        match r {
            Ok(s) => eprintln!("{what} {seed}: ok in {:.1}s: {s}; {d:?}", t.elapsed().as_secs_f64()),
            Err(e) => {
                eprintln!("{what} {seed}: FAILED in {:.1}s; {d:?}\n{e}", t.elapsed().as_secs_f64());
                failed.push(seed);
            }
        }
    }
    eprintln!("{what}s: {n} run from seed {first}, {} failed {failed:?}", failed.len());
    assert!(failed.is_empty(), "failed {what}s (seeds): {failed:?}");
}

/// Prints the draws of the seeds `first..first + n`, without running them.
pub fn print_draws<D: Debug>(first: u64, n: u64, draw: impl Fn(u64) -> D) {
    for seed in first..first + n {
        eprintln!("{:?}", draw(seed));
    }
}
