//! A policy, a host, a host key and a known_hosts text: what
//! `remote::check_known_host` accepts (a strict check only keys in the
//! file; a host's own key line always).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    binlog_diff_fuzz::run(|| binlog_diff_fuzz::known_hosts(data));
});
