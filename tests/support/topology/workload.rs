//! The seeded workload a test writes on the master ([`Workload`]): random
//! multi-statement transactions, non-transactional (MyISAM) writes, DDL and
//! big transactions, each tracked group numbered so that
//! [`Topology::committed_seq`] tells which a server has.

use std::fmt;

use mysql::Conn;
use mysql::prelude::Queryable;

use super::{MASTER, Topology, sql_quote};

/// Database used by [`Workload`].
pub const WORKLOAD_DB: &str = "bd";

/// xorshift64* -- small, seeded, deterministic (the library's, shared with
/// the generated workloads of `bench catchup`).
pub use binlog_diff::bench::workload::XorShift;

/// A failed workload group.  `maybe_committed` is true when the error came
/// from COMMIT itself (e.g. the master was killed): the outcome is unknown.
#[derive(Debug)]
pub struct WorkloadError {
    pub seq: u64,
    pub maybe_committed: bool,
    pub error: mysql::Error,
}

impl fmt::Display for WorkloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "workload group {} failed (maybe committed: {}): {}", self.seq, self.maybe_committed, self.error)
    }
}

/// Seeded writes to database `bd` on one server (normally the master):
///
/// * `bd.t`   InnoDB: INT AUTO_INCREMENT PK, VARCHAR(200) utf8mb4 (multi-byte
///   and 4-byte characters), DECIMAL(12,2), DATETIME(6), BLOB, JSON, seq_n
/// * `bd.m`   MyISAM (non-transactional): id, seq_n UNIQUE, note, hits
/// * `bd.seq` InnoDB `(n INT PRIMARY KEY)`: every transactional group inserts
///   its own sequence number in the same transaction
/// * `bd.big` InnoDB `(id, seq_n, chunk MEDIUMBLOB)`: big transactions
///   (kept apart so that random updates of `t` stay small)
///
/// Sequence numbers count 1, 2, 3, ... per tracked event group; a server
/// has group k iff k is in `bd.seq` or `bd.m.seq_n`
/// ([`Topology::committed_seq`]).  Untracked groups (DDL, and the MyISAM
/// UPDATE that [`non_transactional`](Self::non_transactional) runs before
/// its tracked INSERT) always come right before a tracked one is written,
/// so "has k" still implies "has everything written before k".
///
/// Statements are deterministic (client-generated literals; no NOW(), RAND(),
/// LIMIT without ORDER BY), so STATEMENT and MIXED formats replicate them
/// faithfully.
pub struct Workload {
    conn: Conn,
    rng: XorShift,
    next_seq: u64,
    committed: Vec<u64>,
    max_id: u64,
    extra_column: bool,
}

const TEXT_PIECES: &[&str] = &[
    "a", "b", "c", "k", "x", "y", "z", "Q", "0", "7", " ", " ", "-", "_", ".", "é", "ß", "ñ", "Ω", "ж", "✓", "€", "日",
    "本", "語", "😀", "🚀",
];

impl Workload {
    /// Create the schema (idempotent) and continue numbering after what the
    /// server already has.
    pub fn new(mut conn: Conn, seed: u64) -> Workload {
        let db = WORKLOAD_DB;
        let ddl = [
            format!("CREATE DATABASE IF NOT EXISTS {db} CHARACTER SET utf8mb4"),
            format!(
                "CREATE TABLE IF NOT EXISTS {db}.t (
                   id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
                   name VARCHAR(200) CHARACTER SET utf8mb4 NOT NULL,
                   amount DECIMAL(12,2) NULL,
                   created DATETIME(6) NULL,
                   payload BLOB NULL,
                   doc JSON NULL,
                   seq_n INT NOT NULL
                 ) ENGINE=InnoDB"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {db}.m (
                   id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
                   seq_n INT NULL UNIQUE,
                   note VARCHAR(100) CHARACTER SET utf8mb4 NULL,
                   hits INT NOT NULL DEFAULT 0
                 ) ENGINE=MyISAM"
            ),
            format!("CREATE TABLE IF NOT EXISTS {db}.seq (n INT NOT NULL PRIMARY KEY) ENGINE=InnoDB"),
            format!(
                "CREATE TABLE IF NOT EXISTS {db}.big (
                   id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
                   seq_n INT NOT NULL,
                   chunk MEDIUMBLOB NOT NULL
                 ) ENGINE=InnoDB"
            ),
        ];
        for q in &ddl {
            conn.query_drop(q).unwrap_or_else(|e| panic!("workload schema: {e}\n{q}"));
        }
        let num = |conn: &mut Conn, q: String| -> u64 {
            conn.query_first::<Option<u64>, _>(q).unwrap_or_else(|e| panic!("workload: {e}")).flatten().unwrap_or(0)
        };
        let max_seq =
            num(&mut conn, format!("SELECT MAX(n) FROM (SELECT n FROM {db}.seq UNION ALL SELECT seq_n FROM {db}.m) x"));
        let max_id = num(&mut conn, format!("SELECT MAX(id) FROM {db}.t"));
        let extra = num(
            &mut conn,
            format!(
                "SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = '{db}' \
                 AND table_name = 't' AND column_name = 'extra'"
            ),
        );
        Workload {
            conn,
            rng: XorShift::new(seed),
            next_seq: max_seq + 1,
            committed: Vec::new(),
            max_id,
            extra_column: extra > 0,
        }
    }

    /// Every sequence number this workload committed, in order.
    pub fn committed(&self) -> &[u64] {
        &self.committed
    }
    /// The number the next group will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }
    pub fn rng(&mut self) -> &mut XorShift {
        &mut self.rng
    }
    /// The workload's connection (e.g. to run extra statements in order).
    pub fn conn(&mut self) -> &mut Conn {
        &mut self.conn
    }

    fn text(&mut self, max_chars: u64) -> String {
        let n = self.rng.range(1, max_chars);
        (0..n).map(|_| TEXT_PIECES[self.rng.below(TEXT_PIECES.len() as u64) as usize]).collect()
    }
    fn hex(&mut self, n: usize) -> String {
        let b = self.rng.bytes(n);
        let mut s = String::with_capacity(2 * n + 3);
        s.push_str("x'");
        for x in b {
            s.push_str(&format!("{x:02x}"));
        }
        s.push('\'');
        s
    }
    fn decimal(&mut self) -> String {
        // DECIMAL(12,2): |v| <= 9999999999.99
        let cents = self.rng.below(2_000_000_000_000) as i64 - 999_999_999_999;
        let sign = if cents < 0 { "-" } else { "" };
        format!("{sign}{}.{:02}", cents.unsigned_abs() / 100, cents.unsigned_abs() % 100)
    }
    fn datetime(&mut self) -> String {
        let r = &mut self.rng;
        format!(
            "'{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:06}'",
            r.range(2000, 2030),
            r.range(1, 12),
            r.range(1, 28),
            r.below(24),
            r.below(60),
            r.below(60),
            r.below(1_000_000)
        )
    }

    fn random_statements(&mut self, k: u64) -> Vec<String> {
        let db = WORKLOAD_DB;
        let n = self.rng.range(1, 5);
        let mut v = Vec::new();
        for _ in 0..n {
            let op = self.rng.below(100);
            if op < 50 || self.max_id == 0 {
                let name = sql_quote(&self.text(40));
                let amount = if self.rng.chance(10) { "NULL".into() } else { self.decimal() };
                let created = if self.rng.chance(10) { "NULL".into() } else { self.datetime() };
                let payload = if self.rng.chance(25) {
                    "NULL".into()
                } else {
                    let len = self.rng.below(300) as usize;
                    self.hex(len)
                };
                let doc = if self.rng.chance(20) {
                    "NULL".into()
                } else {
                    let s = self.text(12);
                    let (a, b) = (self.rng.below(1000), self.rng.below(1000));
                    sql_quote(&format!(r#"{{"seq": {k}, "s": "{s}", "a": [{a}, {b}], "f": true}}"#))
                };
                v.push(format!(
                    "INSERT INTO {db}.t (name, amount, created, payload, doc, seq_n) \
                     VALUES ({name}, {amount}, {created}, {payload}, {doc}, {k})"
                ));
                self.max_id += 1;
            } else if op < 80 {
                let id = self.rng.range(1, self.max_id);
                let name = sql_quote(&self.text(60));
                let amount = self.decimal();
                v.push(format!(
                    "UPDATE {db}.t SET name = {name}, amount = {amount}, seq_n = {k}, \
                     doc = JSON_SET(COALESCE(doc, '{{}}'), '$.u', {k}) WHERE id = {id}"
                ));
            } else {
                let id = self.rng.range(1, self.max_id);
                v.push(format!("DELETE FROM {db}.t WHERE id = {id}"));
            }
        }
        v
    }

    /// START TRANSACTION; stmts; INSERT INTO bd.seq VALUES (k); COMMIT.
    fn commit_group(&mut self, stmts: Vec<String>) -> Result<u64, WorkloadError> {
        let k = self.next_seq;
        self.next_seq += 1;
        let err = |e, maybe_committed| WorkloadError { seq: k, maybe_committed, error: e };
        let body = (|| -> mysql::Result<()> {
            self.conn.query_drop("START TRANSACTION")?;
            for s in &stmts {
                self.conn.query_drop(s)?;
            }
            self.conn.query_drop(format!("INSERT INTO {WORKLOAD_DB}.seq (n) VALUES ({k})"))
        })();
        if let Err(e) = body {
            let _ = self.conn.query_drop("ROLLBACK");
            return Err(err(e, false));
        }
        self.conn.query_drop("COMMIT").map_err(|e| err(e, true))?;
        self.committed.push(k);
        Ok(k)
    }

    /// One random multi-statement transaction (1-5 INSERT/UPDATE/DELETE on
    /// `t` + the seq insert).
    pub fn try_trx(&mut self) -> Result<u64, WorkloadError> {
        let k = self.next_seq;
        let stmts = self.random_statements(k);
        self.commit_group(stmts)
    }

    pub fn trx(&mut self) -> u64 {
        self.try_trx().unwrap_or_else(|e| panic!("{e}"))
    }

    /// `n_trx` random transactions; returns their sequence numbers.
    pub fn run(&mut self, n_trx: usize) -> Vec<u64> {
        (0..n_trx).map(|_| self.trx()).collect()
    }

    /// `n` steps, each a random transaction (85%), a non-transactional MyISAM
    /// write (10%) or a DDL (5%); returns the tracked sequence numbers.
    pub fn run_mixed(&mut self, n: usize) -> Vec<u64> {
        let mut out = Vec::new();
        for _ in 0..n {
            let r = self.rng.below(100);
            if r < 85 {
                out.push(self.trx());
            } else if r < 95 {
                out.push(self.non_transactional());
            } else {
                self.ddl();
            }
        }
        out
    }

    /// One transaction of at least `bytes` bytes of binlog (16 KiB random
    /// chunks into `bd.big`, one statement each: a rows event per chunk in
    /// ROW format, a Query event with the hex literal in STATEMENT format).
    pub fn big_transaction(&mut self, bytes: usize) -> u64 {
        const CHUNK: usize = 16 << 10;
        let k = self.next_seq;
        let n = bytes.div_ceil(CHUNK).max(1);
        let stmts: Vec<String> = (0..n)
            .map(|_| {
                let h = self.hex(CHUNK);
                format!("INSERT INTO {WORKLOAD_DB}.big (seq_n, chunk) VALUES ({k}, {h})")
            })
            .collect();
        self.commit_group(stmts).unwrap_or_else(|e| panic!("{e}"))
    }

    /// An ALTER TABLE on `bd.t` (alternately adds and drops column `extra`).
    /// Not tracked by a sequence number (DDL commits implicitly).
    pub fn ddl(&mut self) {
        let q = if self.extra_column {
            format!("ALTER TABLE {WORKLOAD_DB}.t DROP COLUMN extra")
        } else {
            format!("ALTER TABLE {WORKLOAD_DB}.t ADD COLUMN extra INT NOT NULL DEFAULT 7")
        };
        self.conn.query_drop(&q).unwrap_or_else(|e| panic!("workload ddl `{q}`: {e}"));
        self.extra_column = !self.extra_column;
    }

    /// Non-transactional writes to the MyISAM table `bd.m`: an untracked
    /// autocommit UPDATE, then the tracked autocommit INSERT carrying the
    /// sequence number in `m.seq_n`.  Returns that number.
    pub fn non_transactional(&mut self) -> u64 {
        let k = self.next_seq;
        self.next_seq += 1;
        let r = self.rng.below(4);
        let note = sql_quote(&self.text(30));
        let up = format!("UPDATE {WORKLOAD_DB}.m SET hits = hits + 1 WHERE id % 4 = {r}");
        let ins = format!("INSERT INTO {WORKLOAD_DB}.m (seq_n, note) VALUES ({k}, {note})");
        for q in [up, ins] {
            self.conn.query_drop(&q).unwrap_or_else(|e| panic!("workload `{q}`: {e}"));
        }
        self.committed.push(k);
        k
    }
}

impl Topology {
    /// Make a [`Workload`] on the master (creates database `bd`).
    pub fn workload(&self, seed: u64) -> Workload {
        Workload::new(self.conn(MASTER), seed)
    }

    /// A large lag: ~4 MiB transactions through `w` (~10 MiB of binlog
    /// each: hex literals) until the master's binlogs have grown by `bytes`.
    pub fn write_big_lag(&self, w: &mut Workload, bytes: usize) {
        let size = || self.binary_logs(MASTER).iter().map(|(_, b)| *b as usize).sum::<usize>();
        let before = size();
        while size() - before < bytes {
            w.big_transaction(4 << 20);
        }
    }
}
