//! Arbitrary bytes as a whole file through `inspect::dump` (rows off/on,
//! text/JSON), `inspect::verify` and `Stats::add_file`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    binlog_diff_fuzz::run(|| binlog_diff_fuzz::dump_target(data));
});
