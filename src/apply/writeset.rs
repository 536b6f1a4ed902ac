//! What a transaction touches, for the parallel apply: its dependency
//! [`Info`] learnt from what the source recorded (MariaDB's group-commit id
//! and flags, MySQL's logical clock) and from its rows: a hash of every
//! primary and unique key value in the row images (MySQL's WRITESET
//! tracking), key columns looked up once per table in the target's
//! `information_schema`. Tables linked by foreign keys, and tables without
//! a key, count as a whole; anything that cannot be told (DDL, statements,
//! a table that is not InnoDB, an image that does not decode) makes the
//! transaction a barrier. [`depend`](super::depend) decides from it what may
//! overlap.

use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use mysql::prelude::Queryable;

use crate::event::EventType;
use crate::event::rows::{Cell, RowDecoder, RowImage, TableRef};
use crate::event::views::{MariaGtid, MysqlGtid, Query, QueryKind, maria_gtid_flags};

use super::depend::Info;
use super::group::Group;

/// What the dispatcher needs to know of a table to hash its keys.
#[derive(Debug)]
struct TableKeys {
    /// Hash of `db.table`.
    id: u64,
    /// Columns on the target (must match the table map).
    columns: usize,
    /// Column positions (from 0) of the primary key and every unique key.
    keys: Vec<Vec<usize>>,
    /// Tables linked to it by foreign keys: each side conflicts with the
    /// whole other table (a child row needs its parent row).
    related: Vec<u64>,
}

/// Learns each transaction's [`Info`]: GTID flags, logical clock, write set.
pub(crate) struct Analyzer {
    rows: RowDecoder,
    /// By [`table_name`]; `None`: the table cannot be tracked (not InnoDB,
    /// unknown): its transactions run alone.
    tables: HashMap<Vec<u8>, Option<Arc<TableKeys>>>,
    /// The key being looked up, reused (no allocation per look-up).
    name: Vec<u8>,
}

/// The key of [`Analyzer::tables`]: the database name's length, the
/// database and the table, as the table map names them.
fn table_name(out: &mut Vec<u8>, db: &[u8], table: &[u8]) {
    out.clear();
    out.extend_from_slice(&(db.len() as u32).to_le_bytes());
    out.extend_from_slice(db);
    out.extend_from_slice(table);
}

fn table_hash(db: &[u8], name: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    db.hash(&mut h);
    name.hash(&mut h);
    h.finish()
}

impl Analyzer {
    pub(crate) fn new() -> Analyzer {
        Analyzer { rows: RowDecoder::new(), tables: HashMap::new(), name: Vec::new() }
    }

    pub(crate) fn forget_tables(&mut self) {
        self.tables.clear();
    }

    pub(crate) fn analyze(&mut self, conn: &mut mysql::Conn, g: &Group<'_>) -> Info {
        let Some(mut info) = from_gtid_event(g) else { return Info::barrier() };
        let mut keys = Vec::new();
        let mut known = true;
        let Analyzer { rows, tables, name } = self;
        for e in &g.events[1..] {
            let t = e.ev.event_type();
            let fmt = &e.fde.fmt;
            match t {
                EventType::QUERY | EventType::MARIA_QUERY_COMPRESSED => {
                    let Ok(q) = Query::parse(&e.ev, fmt) else { return Info::barrier() };
                    let Ok(text) = q.sql_text() else { return Info::barrier() };
                    if !matches!(QueryKind::of(&text), QueryKind::Begin | QueryKind::Commit) {
                        return Info::barrier();
                    }
                }
                EventType::XID | EventType::MARIA_ANNOTATE_ROWS | EventType::ROWS_QUERY | EventType::IGNORABLE => {}
                EventType::TABLE_MAP => {
                    if rows.observe(&e.ev, fmt).is_err() {
                        return Info::barrier();
                    }
                }
                t if t.is_rows() => {
                    if rows.observe(&e.ev, fmt).is_err() {
                        return Info::barrier();
                    }
                    let mut usable = true;
                    // Every image of a rows event is of one table: looked up once.
                    let mut table: Option<Arc<TableKeys>> = None;
                    let r = rows.for_each_image(&e.ev, fmt, |tr, img| {
                        if !usable {
                            return;
                        }
                        if table.is_none() {
                            table = lookup(tables, name, conn, tr);
                        }
                        let Some(tk) = table.as_deref() else {
                            usable = false;
                            return;
                        };
                        if tk.keys.is_empty() || !tk.related.is_empty() {
                            keys.push(tk.id);
                            keys.extend_from_slice(&tk.related);
                            return;
                        }
                        // No whole key in this image (a minimal image): what it touches is unknown.
                        known &= key_hashes(tk, img, &mut keys);
                    });
                    if r.is_err() || !usable {
                        return Info::barrier();
                    }
                }
                _ => return Info::barrier(),
            }
        }
        if known {
            keys.sort_unstable();
            keys.dedup();
            info.keys = Some(keys);
        }
        info
    }
}

/// What a transaction's GTID event tells: its MariaDB commit group or MySQL
/// logical clock; `None`: it must run alone (not a GTID event, a
/// standalone, DDL or XA transaction, or one not transactional: a
/// rolled-back attempt would leave changes behind).
fn from_gtid_event(g: &Group<'_>) -> Option<Info> {
    let first = &g.events[0];
    let fmt = &first.fde.fmt;
    let mut info = Info::default();
    match first.ev.event_type() {
        EventType::MARIA_GTID => {
            let m = MariaGtid::parse(&first.ev, fmt).ok()?;
            let alone = maria_gtid_flags::STANDALONE
                | maria_gtid_flags::DDL
                | maria_gtid_flags::PREPARED_XA
                | maria_gtid_flags::COMPLETED_XA;
            if m.flags & alone != 0 || m.flags & maria_gtid_flags::TRANSACTIONAL == 0 {
                return None;
            }
            if m.flags & maria_gtid_flags::ALLOW_PARALLEL != 0 {
                info.group = m.commit_id;
            }
        }
        EventType::GTID | EventType::ANONYMOUS_GTID => {
            info.clock = MysqlGtid::parse(&first.ev, fmt).ok()?.logical_clock;
        }
        _ => return None,
    }
    Some(info)
}

/// Pushes the hash of every unique key `img` holds whole (table id, key
/// number, values); false when it holds none.
fn key_hashes(tk: &TableKeys, img: &RowImage<'_>, keys: &mut Vec<u64>) -> bool {
    let mut any = false;
    for (k, cols) in tk.keys.iter().enumerate() {
        let mut h = DefaultHasher::new();
        tk.id.hash(&mut h);
        k.hash(&mut h);
        let whole = cols.iter().all(|&c| match img.cell(c) {
            Cell::Value(v) => {
                v.hash(&mut h);
                true
            }
            _ => false, // NULLs never collide; absent: unknown
        });
        if whole {
            keys.push(h.finish());
            any = true;
        }
    }
    any
}

/// The keys of the table a rows event changes (asked of the target once);
/// `None` when it cannot be tracked or does not match the table map.
fn lookup(
    tables: &mut HashMap<Vec<u8>, Option<Arc<TableKeys>>>,
    name: &mut Vec<u8>,
    conn: &mut mysql::Conn,
    tr: &TableRef<'_>,
) -> Option<Arc<TableKeys>> {
    table_name(name, tr.db, tr.name);
    let tk = match tables.get(name.as_slice()) {
        Some(tk) => tk,
        None => tables.entry(name.clone()).or_insert_with(|| table_keys(conn, tr.db, tr.name).map(Arc::new)),
    };
    tk.as_ref().filter(|tk| tk.columns == tr.columns).cloned()
}

/// Looks a table up on the target: engine, column count, unique keys
/// (without prefix parts), foreign keys. `None` when it cannot be tracked.
fn table_keys(conn: &mut mysql::Conn, db: &[u8], name: &[u8]) -> Option<TableKeys> {
    let (dbs, names) = (std::str::from_utf8(db).ok()?, std::str::from_utf8(name).ok()?);
    let (engine, columns): (Option<String>, u64) = conn
        .exec_first(
            "SELECT t.ENGINE, (SELECT COUNT(*) FROM information_schema.COLUMNS c \
             WHERE c.TABLE_SCHEMA = t.TABLE_SCHEMA AND c.TABLE_NAME = t.TABLE_NAME) \
             FROM information_schema.TABLES t WHERE t.TABLE_SCHEMA = ? AND t.TABLE_NAME = ?",
            (dbs, names),
        )
        .ok()??;
    if !engine.is_some_and(|e| e.eq_ignore_ascii_case("InnoDB")) {
        return None;
    }
    let rows: Vec<(String, u64, Option<u64>)> = conn
        .exec(
            "SELECT s.INDEX_NAME, c.ORDINAL_POSITION, s.SUB_PART FROM information_schema.STATISTICS s \
             JOIN information_schema.COLUMNS c ON c.TABLE_SCHEMA = s.TABLE_SCHEMA AND c.TABLE_NAME = s.TABLE_NAME \
             AND c.COLUMN_NAME = s.COLUMN_NAME \
             WHERE s.TABLE_SCHEMA = ? AND s.TABLE_NAME = ? AND s.NON_UNIQUE = 0 ORDER BY s.INDEX_NAME, s.SEQ_IN_INDEX",
            (dbs, names),
        )
        .ok()?;
    let mut by_index: BTreeMap<String, Option<Vec<usize>>> = BTreeMap::new();
    for (index, pos, sub) in rows {
        let e = by_index.entry(index).or_insert_with(|| Some(Vec::new()));
        match (e.as_mut(), sub, pos.checked_sub(1)) {
            // A prefix of a column is not the value the row image holds.
            (Some(v), None, Some(p)) => v.push(p as usize),
            _ => *e = None,
        }
    }
    let keys: Vec<Vec<usize>> = by_index.into_values().flatten().filter(|v| !v.is_empty()).collect();
    let fks: Vec<(String, String, String, String)> = conn
        .exec(
            "SELECT TABLE_SCHEMA, TABLE_NAME, REFERENCED_TABLE_SCHEMA, REFERENCED_TABLE_NAME \
             FROM information_schema.KEY_COLUMN_USAGE WHERE REFERENCED_TABLE_NAME IS NOT NULL \
             AND ((TABLE_SCHEMA = ? AND TABLE_NAME = ?) OR (REFERENCED_TABLE_SCHEMA = ? AND REFERENCED_TABLE_NAME = ?))",
            (dbs, names, dbs, names),
        )
        .ok()?;
    let id = table_hash(db, name);
    let mut related = Vec::new();
    for (a, b, c, d) in fks {
        for h in [table_hash(a.as_bytes(), b.as_bytes()), table_hash(c.as_bytes(), d.as_bytes())] {
            if h != id && !related.contains(&h) {
                related.push(h);
            }
        }
        // A self-reference still makes the table one unit.
        if related.is_empty() {
            related.push(id);
        }
    }
    Some(TableKeys { id, columns: columns as usize, keys, related })
}
