//! Arbitrary bytes as a binlog file: drain `EventIter` (CRC on and off),
//! check the walk invariants and run every typed view on every event,
//! including the inner events of TRANSACTION_PAYLOAD events.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    binlog_diff_fuzz::run(|| binlog_diff_fuzz::event_walk(data));
});
