//! The judgement, the table and the mode names, without servers.

use super::report::{judge, median, table};
use super::*;
use crate::apply::MariaState;

fn run(mode: Mode, threads: usize, secs: Option<f64>, sum: u64, gtid: &str) -> Run {
    Run {
        mode,
        threads,
        round: 0,
        seconds: secs,
        problem: secs.is_none().then(|| "failed".to_string()),
        checksums: [("d.t".to_string(), Some(sum))].into(),
        gtid: gtid.into(),
        valid: false,
    }
}

#[test]
fn judged_against_the_sql_thread_and_the_logs_end() {
    let end = MariaState::parse("0-1-10").unwrap();
    let mut runs = vec![
        run(Mode::Pipe, 1, Some(5.0), 7, "0-1-10"),
        run(Mode::Sql, 1, Some(1.0), 7, "0-1-10"),
        run(Mode::Apply, 2, Some(2.0), 8, "0-1-10"),
        run(Mode::Apply, 4, Some(2.0), 7, "0-1-9"),
        run(Mode::Optimistic, 2, None, 0, ""),
    ];
    judge(&mut runs, &end);
    let valid: Vec<bool> = runs.iter().map(|r| r.valid).collect();
    assert_eq!(valid, [true, true, false, false, false]);
    assert!(runs[2].problem.as_deref().unwrap().contains("checksums differ"));
    assert!(runs[3].problem.as_deref().unwrap().contains("0-1-9"));
    assert_eq!(runs[4].problem.as_deref(), Some("failed"));

    let logs = LogsInfo {
        files: vec![],
        names: vec![],
        bytes: 10_000_000,
        transactions: 1000,
        end_gtid: "0-1-10".into(),
        cut: None,
        free_server_id: 3_999_999_999,
    };
    let configs = [(Mode::Sql, 1), (Mode::Pipe, 1), (Mode::Apply, 2)];
    let t = table(&runs, &configs, &logs);
    assert_eq!(t[0].speedup, Some(1.0));
    assert_eq!(t[1].seconds, Some(5.0));
    assert_eq!(t[1].trx_per_s, Some(200.0));
    assert_eq!(t[1].mb_per_s, Some(2.0));
    assert_eq!(t[1].speedup, Some(0.2));
    assert!(t[2].seconds.is_none() && !t[2].valid, "an invalid run has no time");
}

#[test]
fn median_of_valid_times() {
    assert_eq!(median(vec![]), None);
    assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
    assert_eq!(median(vec![4.0, 1.0]), Some(2.5));
}

#[test]
fn modes_by_name() {
    for m in Mode::ALL {
        assert_eq!(Mode::parse(m.name()).unwrap(), m);
    }
    assert!(Mode::parse("fast").unwrap_err().to_string().contains("optimistic"));
}
