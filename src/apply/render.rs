//! A dry run: the statements an apply would run, as a script (no server).
//!
//! The output uses mysqlbinlog's `DELIMITER /*!*/;` convention, so it can be
//! read, diffed against `mysqlbinlog` output, or fed to the `mysql` client
//! for debugging. Without a server, collation names for string user
//! variables come from a built-in table of common collations.

use std::collections::{HashMap, HashSet};
use std::io::Write as _;
use std::path::PathBuf;

use crate::error::{Error, Result};

use super::convert::{End, Stmt, convert};
use super::group::Kind;
use super::options::ApplyOptions;
use super::prescan::{check_group_start, open_files};
use super::session::{SessionCtx, TargetInfo};
use super::stream::{Item, Stream};
use super::target;
use super::unapplied::abandoned_error;

/// Common collations (id, character set, collation) of MySQL and MariaDB.
const COLLATIONS: &[(u16, &str, &str)] = &[
    (8, "latin1", "latin1_swedish_ci"),
    (11, "ascii", "ascii_general_ci"),
    (28, "gbk", "gbk_chinese_ci"),
    (33, "utf8mb3", "utf8mb3_general_ci"),
    (35, "ucs2", "ucs2_general_ci"),
    (45, "utf8mb4", "utf8mb4_general_ci"),
    (46, "utf8mb4", "utf8mb4_bin"),
    (47, "latin1", "latin1_bin"),
    (48, "latin1", "latin1_general_ci"),
    (63, "binary", "binary"),
    (65, "ascii", "ascii_bin"),
    (83, "utf8mb3", "utf8mb3_bin"),
    (192, "utf8mb3", "utf8mb3_unicode_ci"),
    (224, "utf8mb4", "utf8mb4_unicode_ci"),
    (255, "utf8mb4", "utf8mb4_0900_ai_ci"),
];

fn put(out: &mut Vec<u8>, s: &Stmt) {
    out.extend_from_slice(&s.sql);
    out.extend_from_slice(b"/*!*/;\n");
}

/// The statements applying `files` would run, in order, as a script.
///
/// # Errors
/// A damaged file, or an event the applier refuses (with its location).
pub fn render_sql(files: &[PathBuf], opts: &ApplyOptions) -> Result<Vec<u8>> {
    let lfs = open_files(files, opts)?;
    let vars: HashSet<String> = target::SESSION_VARS.iter().map(|s| s.to_string()).collect();
    let collations: HashMap<u16, (String, String)> =
        COLLATIONS.iter().map(|&(id, cs, co)| (id, (cs.to_string(), co.to_string()))).collect();
    let info = TargetInfo { vars: &vars, collations: &collations };
    let mut ctx = SessionCtx::default();
    let mut out = b"DELIMITER /*!*/;\n".to_vec();
    let mut stream = Stream::new(&lfs, opts.verify_checksums);
    let path = |i: usize| lfs[i].path().display().to_string();
    while let Some(item) = stream.next_item()? {
        match item {
            Item::Group(g) => {
                check_group_start(&lfs, &g)?;
                let plan = convert(&g, &mut ctx, &info).map_err(|(src, e)| {
                    Error::refused(e.0).with_file(lfs[src.file].path()).at(src.offset, Some(src.ty))
                })?;
                let _ = writeln!(out, "# {} @ {}: {}", path(plan.first.file), plan.first.offset, plan.id);
                for s in &plan.pre {
                    put(&mut out, s);
                }
                match &plan.kind {
                    Kind::Trx => out.extend_from_slice(b"BEGIN/*!*/;\n"),
                    Kind::Xa(Some(x)) => {
                        let _ = writeln!(out, "XA START {x}/*!*/;");
                    }
                    _ => {}
                }
                for s in &plan.body {
                    put(&mut out, s);
                }
                match &plan.end {
                    End::Commit(_) => out.extend_from_slice(b"COMMIT/*!*/;\n"),
                    End::Rollback(_) => out.extend_from_slice(b"ROLLBACK/*!*/;\n"),
                    End::XaPrepare(_, x) => {
                        let _ = writeln!(out, "XA END {x}/*!*/;\nXA PREPARE {x}/*!*/;");
                    }
                    End::XaOnePhase(_, x) => {
                        let _ = writeln!(out, "XA END {x}/*!*/;\nXA COMMIT {x} ONE PHASE/*!*/;");
                    }
                    End::None if plan.kind == Kind::Trx => out.extend_from_slice(b"COMMIT/*!*/;\n"),
                    End::None => {}
                }
                if plan.sets_gtid_next {
                    out.extend_from_slice(b"SET @@SESSION.GTID_NEXT='AUTOMATIC'/*!*/;\n");
                }
            }
            Item::Refetched(g) => {
                let (f, o) = g.start();
                let _ = writeln!(
                    out,
                    "# {} @ {}: re-fetched copy of the next transaction, cut short: not applied",
                    path(f),
                    o
                );
            }
            Item::Abandoned(g) => return Err(abandoned_error(&lfs, &g)),
            Item::Incident(ge) => {
                return Err(Error::refused("INCIDENT event: the master reports lost events")
                    .with_file(lfs[ge.file].path())
                    .at(ge.ev.offset(), Some(ge.ev.event_type())));
            }
            Item::Partial { group, incomplete } => {
                let (f, o) = if group.events.is_empty() {
                    incomplete.map(|(f, i)| (f, i.at)).unwrap_or((0, 0))
                } else {
                    group.start()
                };
                if !group.events.is_empty() || incomplete.is_some() {
                    let _ = writeln!(out, "# {} @ {}: incomplete transaction at the end, NOT applied", path(f), o);
                }
            }
        }
    }
    out.extend_from_slice(b"DELIMITER ;\n");
    Ok(out)
}
