//! Transaction grouping on real files: STATEMENT, ROW, MariaDB GTID, MySQL
//! GTID, compressed payloads, relay logs. Each group is shown as its event
//! offsets; the expectations were checked by reading the dumps.

mod support;

use binlog_diff::event::{Boundary, TrxGrouper, WalkOptions, classify};
use binlog_diff::log::{Access, LogFile, RecoveryMode};

/// Groups as "first..last" event offsets; a trailing open group as "partial first..".
fn groups(rel: &str) -> Option<Vec<String>> {
    let p = support::corpus_dir()?.join(rel);
    let lf = LogFile::open(&p, Access::Mmap).unwrap();
    let mut g = TrxGrouper::new();
    let mut out = Vec::new();
    let mut first = None;
    lf.walk(WalkOptions::default(), RecoveryMode::TolerateTruncatedTail, |ev, fmt| {
        let r = g.feed(classify(&ev, fmt).unwrap());
        assert!(!r.abandons, "{rel}: group abandoned at {}", ev.offset());
        if r.boundary.opens() {
            first = Some(ev.offset());
        }
        if r.boundary.closes() {
            out.push(format!("{}..{}", first.take().unwrap(), ev.offset()));
        }
        if r.boundary == Boundary::Continue {
            assert!(first.is_some(), "{rel}: continue outside a group at {}", ev.offset());
        }
        Ok(true)
    })
    .unwrap();
    if let Some(f) = first {
        out.push(format!("partial {f}.."));
    }
    Some(out)
}

fn check(rel: &str, expected: &[&str]) {
    if let Some(g) = groups(rel) {
        assert_eq!(g, expected, "{rel}");
    }
}

#[test]
fn statement_format_5_0() {
    // DDL alone; BEGIN … XID; BEGIN … COMMIT (MyISAM); BEGIN … ROLLBACK (mixed engines).
    check(
        "rust_mysql_common/binlog_transaction.000001",
        &[
            "98..98",
            "198..198",
            "299..553",
            "580..580",
            "680..680",
            "781..1035",
            "1107..1107",
            "1204..1204",
            "1302..1556",
        ],
    );
}

#[test]
fn savepoints_stay_inside_their_transaction_in_a_relay_style_file() {
    check("rust_mysql_common/binlog_savepoint.000001", &["252..987"]);
}

#[test]
fn mysql_gtid_ddl_groups() {
    check("rust_mysql_common/rpl_atomic_ddl_rollback_full.000001", &["154..219", "316..381", "501..566", "752..817"]);
}

#[test]
fn compressed_payloads_are_whole_groups() {
    check("mysql-binlog-connector-rust/mysql-bin.000057", &["197..274", "378..457", "651..730"]);
}

#[test]
fn mariadb_gtid_groups() {
    check("zalora-binlog-parser/mysql-bin.07", &["326..364", "627..857"]);
    check("rust_mysql_common/mariadb-bin.000001", &["330..671", "702..1043"]);
}

#[test]
fn row_events_pre_statement_events_and_load_data() {
    check(
        "rust_mysql_common/ver_5_1_23.001",
        &[
            "106..106",
            "220..220",
            "334..334",
            "425..469",
            "516..560",
            "626..670",
            "708..1017",
            "1044..1086",
            "1183..1218",
            "1331..1359",
            "1480..150262",
        ],
    );
}

#[test]
fn mysql_8_relay_log() {
    // Replica FDE, PREVIOUS_GTIDS, fake ROTATE, master FDE and ROTATE are control events.
    check("rust_mysql_common/rpl_unfiltered_hidden_gcol.000001", &["371..448", "574..651", "770..1022"]);
}
