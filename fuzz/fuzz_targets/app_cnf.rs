//! Bytes as MHA's `app.cnf` (`AppConf::from_text`): typed errors naming the
//! file, each server once, `find` agreeing with the server list.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    binlog_diff_fuzz::run(|| binlog_diff_fuzz::app_cnf(data));
});
