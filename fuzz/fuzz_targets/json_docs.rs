//! `data[0]` selects a JSON document binlog-diff reads back (node protocol
//! requests and replies, plan, replica states, in-progress record, resume
//! state + journal); the rest is its text: accepted documents re-serialize
//! and read back equal.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    binlog_diff_fuzz::run(|| binlog_diff_fuzz::json_docs(data));
});
