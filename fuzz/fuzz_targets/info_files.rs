//! A `relay-log.info` and a `master.info` text (split at the first NUL
//! byte): read-back equality, and `relay_log_path` agreeing with the parser.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    binlog_diff_fuzz::run(|| binlog_diff_fuzz::info_files(data));
});
