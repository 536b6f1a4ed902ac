//! Structured: first byte = event type, rest = body; a valid header is built
//! around it and every typed view runs under a MySQL 8.0 and a MariaDB 10.11
//! format parsed from real FDE bytes.
#![no_main]

use std::sync::OnceLock;

use binlog_diff::event::Format;
use libfuzzer_sys::fuzz_target;

static FORMATS: OnceLock<[Format; 2]> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let formats = FORMATS.get_or_init(binlog_diff_fuzz::formats);
    binlog_diff_fuzz::run(|| binlog_diff_fuzz::views_target(data, formats));
});
