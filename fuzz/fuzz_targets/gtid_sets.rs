//! Two GTID texts (split at the first NUL byte), each read as a MariaDB GTID
//! list and a MySQL GTID set: read-back equality, and `minus` / `covers` /
//! `contains` / `errant` against a reference model.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    binlog_diff_fuzz::run(|| binlog_diff_fuzz::gtid_sets(data));
});
