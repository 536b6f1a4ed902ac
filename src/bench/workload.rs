//! Generated logs for a catch-up benchmark when the user brings none: a
//! throwaway master runs a seeded write mix until its binlog reaches the
//! asked size; the datadir as it was before the mix is the starting state.
//!
//! Two mixes:
//! - **seeded**: the project's test workload in small (1–5 random
//!   INSERT/UPDATE/DELETE on `bd.t` plus a sequence row per transaction),
//!   from one client. Commits never overlap on the master, so its binlog
//!   carries no group-commit parallelism; only write sets find any.
//! - **sysbench**: sysbench's `oltp_write_only` (UPDATE by key, UPDATE of a
//!   non-key column, DELETE + INSERT of one row) on four 10,000-row tables,
//!   from several clients on a durable master (`sync_binlog=1`), so
//!   commits group and the binlog's commit ids show parallelism.
//!
//! Everything is cached under `<cache>/gen-<mix>-<bytes>-s<seed>-c<clients>`
//! and reused by a later run with the same settings.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use mysql::prelude::Queryable;

use crate::error::{Error, Result};
use crate::server::Server;
use crate::server::embedded::{self, Embedded};

/// Which write mix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mix {
    /// The project's seeded workload, one client.
    Seeded,
    /// sysbench `oltp_write_only`, several clients.
    Sysbench,
}

impl Mix {
    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Mix::Seeded => "seeded",
            Mix::Sysbench => "sysbench",
        }
    }
}

/// What to generate.
#[derive(Clone, Debug)]
pub struct WorkloadSpec {
    /// The mix.
    pub mix: Mix,
    /// Binlog bytes to write (the run stops at the first check past it).
    pub bytes: u64,
    /// Random seed.
    pub seed: u64,
    /// Client connections (0: 1 for seeded, 8 for sysbench).
    pub clients: usize,
}

impl WorkloadSpec {
    fn clients(&self) -> usize {
        match (self.clients, self.mix) {
            (0, Mix::Seeded) => 1,
            (0, Mix::Sysbench) => 8,
            (n, _) => n,
        }
    }
}

/// Generated logs and the starting state they apply to.
#[derive(Clone, Debug)]
pub struct Generated {
    /// The binlog files, in order.
    pub logs: Vec<PathBuf>,
    /// A cleanly shut down datadir holding the schema and the seed rows.
    pub snapshot: PathBuf,
}

/// xorshift64*: small, seeded, deterministic (the test workloads use it too).
#[derive(Clone, Debug)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator; small seeds give unrelated streams (splitmix64).
    pub fn new(seed: u64) -> Self {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        XorShift((z ^ (z >> 31)) | 1)
    }
    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform-ish in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
    /// In `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    /// `n` random bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(n + 8);
        while v.len() < n {
            v.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        v.truncate(n);
        v
    }
}

const SB_TABLES: u64 = 4;
const SB_ROWS: u64 = 10_000;
const SEEDED_ROWS: u64 = 2_000;

/// sysbench's `c`/`pad` values: groups of 11 digits joined by '-'.
fn sb_string(r: &mut XorShift, groups: usize) -> String {
    let mut s = String::with_capacity(groups * 12);
    for g in 0..groups {
        if g > 0 {
            s.push('-');
        }
        let _ = write!(s, "{:011}", r.next_u64() % 100_000_000_000);
    }
    s
}

fn schema(mix: Mix, r: &mut XorShift) -> Vec<String> {
    let mut v = Vec::new();
    match mix {
        Mix::Sysbench => {
            v.push("CREATE DATABASE sbtest".into());
            for t in 1..=SB_TABLES {
                v.push(format!(
                    "CREATE TABLE sbtest.sbtest{t} (id INT NOT NULL, k INT NOT NULL DEFAULT 0, \
                     c CHAR(120) NOT NULL DEFAULT '', pad CHAR(60) NOT NULL DEFAULT '', \
                     PRIMARY KEY (id), KEY k_{t} (k)) ENGINE=InnoDB"
                ));
                for chunk in (1..=SB_ROWS).collect::<Vec<_>>().chunks(1000) {
                    let mut q = format!("INSERT INTO sbtest.sbtest{t} (id, k, c, pad) VALUES ");
                    for (i, id) in chunk.iter().enumerate() {
                        if i > 0 {
                            q.push(',');
                        }
                        let k = r.range(1, SB_ROWS);
                        let _ = write!(q, "({id},{k},'{}','{}')", sb_string(r, 10), sb_string(r, 5));
                    }
                    v.push(q);
                }
            }
        }
        Mix::Seeded => {
            v.push("CREATE DATABASE bd".into());
            v.push(
                "CREATE TABLE bd.t (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, name VARCHAR(64) NOT NULL, \
                 amount DECIMAL(12,2) NOT NULL, created DATETIME(6) NOT NULL, payload VARBINARY(512), \
                 seq_n BIGINT NOT NULL, KEY (seq_n)) ENGINE=InnoDB"
                    .into(),
            );
            v.push("CREATE TABLE bd.seq (n BIGINT NOT NULL PRIMARY KEY) ENGINE=InnoDB".into());
            for chunk in (1..=SEEDED_ROWS).collect::<Vec<_>>().chunks(500) {
                let mut q = "INSERT INTO bd.t (name, amount, created, payload, seq_n) VALUES ".to_string();
                for (i, _) in chunk.iter().enumerate() {
                    if i > 0 {
                        q.push(',');
                    }
                    q.push_str(&seeded_row(r, 0));
                }
                v.push(q);
            }
        }
    }
    v
}

fn seeded_row(r: &mut XorShift, k: u64) -> String {
    let len = r.range(0, 400) as usize;
    let mut hex = String::with_capacity(len * 2);
    for _ in 0..len {
        let _ = write!(hex, "{:02x}", r.next_u64() as u8);
    }
    format!(
        "('n{}', {}.{:02}, '2026-{:02}-{:02} {:02}:{:02}:{:02}.{:06}', x'{hex}', {k})",
        r.next_u64() % 1_000_000,
        r.range(0, 999_999),
        r.range(0, 99),
        r.range(1, 12),
        r.range(1, 28),
        r.range(0, 23),
        r.range(0, 59),
        r.range(0, 59),
        r.range(0, 999_999),
    )
}

/// One transaction's statements (without BEGIN/COMMIT).
fn transaction(mix: Mix, r: &mut XorShift, k: u64) -> Vec<String> {
    match mix {
        Mix::Sysbench => {
            let t = |r: &mut XorShift| r.range(1, SB_TABLES);
            let id = |r: &mut XorShift| r.range(1, SB_ROWS);
            let (t1, i1) = (t(r), id(r));
            let (t2, i2) = (t(r), id(r));
            let (t3, i3) = (t(r), id(r));
            let k3 = r.range(1, SB_ROWS);
            vec![
                format!("UPDATE sbtest.sbtest{t1} SET k = k + 1 WHERE id = {i1}"),
                format!("UPDATE sbtest.sbtest{t2} SET c = '{}' WHERE id = {i2}", sb_string(r, 10)),
                format!("DELETE FROM sbtest.sbtest{t3} WHERE id = {i3}"),
                format!(
                    "INSERT INTO sbtest.sbtest{t3} (id, k, c, pad) VALUES ({i3}, {k3}, '{}', '{}')",
                    sb_string(r, 10),
                    sb_string(r, 5)
                ),
            ]
        }
        Mix::Seeded => {
            let mut v = Vec::new();
            for _ in 0..r.range(1, 5) {
                let id = r.range(1, SEEDED_ROWS + k);
                match r.range(0, 9) {
                    0..=4 => v.push(format!(
                        "INSERT INTO bd.t (name, amount, created, payload, seq_n) VALUES {}",
                        seeded_row(r, k)
                    )),
                    5..=8 => v.push(format!(
                        "UPDATE bd.t SET name = 'u{}', amount = amount + 1, seq_n = {k} WHERE id = {id}",
                        r.next_u64() % 1_000_000
                    )),
                    _ => v.push(format!("DELETE FROM bd.t WHERE id = {id}")),
                }
            }
            v.push(format!("INSERT INTO bd.seq (n) VALUES ({k})"));
            v
        }
    }
}

/// A statement of the workload that `server` (the generating server's
/// datadir) failed.
fn sql_err<'a>(server: &'a Embedded, what: &'a str) -> impl Fn(mysql::Error) -> Error + 'a {
    move |e| Error::server(server.datadir().display().to_string(), format!("workload: {what}: {e}"))
}

/// Bytes of the binlog files from `first` on (the logs being generated).
fn binlog_bytes(srv: &mut Server, first: &str) -> Result<u64> {
    Ok(srv.binary_logs()?.iter().filter(|(n, _)| n.as_str() >= first).map(|(_, size)| size).sum())
}

/// Generates (or finds in `cache`) the logs and starting state of `spec`.
/// `tick` is called with the binlog bytes written so far.
///
/// # Errors
/// The server cannot be installed or started, or a statement fails.
pub fn generate(spec: &WorkloadSpec, cache: &Path, tick: &dyn Fn(u64)) -> Result<Generated> {
    let clients = spec.clients();
    let dir = cache.join(format!("gen-{}-{}-s{}-c{}", spec.mix.name(), spec.bytes, spec.seed, clients));
    let done = dir.join(".complete");
    let logs_dir = dir.join("logs");
    let snapshot = dir.join("snapshot");
    if done.is_file() {
        return Ok(Generated { logs: list_logs(&logs_dir)?, snapshot });
    }
    let _ = fs::remove_dir_all(&dir);
    let template = embedded::template(cache)?;
    let data = dir.join("master/data");
    embedded::copy_dir(&template, &data)?;
    let options = vec![
        "--server-id=1".to_string(),
        format!("--log-bin={}/gen-bin", data.display()),
        "--binlog-format=ROW".into(),
        "--binlog-checksum=CRC32".into(),
        "--max-binlog-size=256M".into(),
        // Durable, as a production master: concurrent commits group.
        "--sync-binlog=1".into(),
        "--innodb-flush-log-at-trx-commit=1".into(),
        "--innodb-buffer-pool-size=512M".into(),
        "--max-connections=100".into(),
    ];
    let mut rng = XorShift::new(spec.seed);
    let mut master = Embedded::start(&dir.join("master"), &data, &options)?;
    let mut srv = Server::connect(&master.spec())?;
    for q in schema(spec.mix, &mut rng) {
        srv.conn().query_drop(&q).map_err(sql_err(&master, "schema"))?;
    }
    // The starting state ends here: a new binlog file begins the logs.
    srv.flush_binary_logs()?;
    let (first, _) = srv
        .binlog_coords()?
        .ok_or_else(|| Error::server(master.datadir().display().to_string(), "workload: binary log is off"))?;
    drop(srv);
    master.stop()?;
    embedded::copy_dir(&data, &snapshot)?;
    for e in fs::read_dir(&snapshot).map_err(|e| Error::io(&snapshot, e))? {
        let p = e.map_err(|e| Error::io(&snapshot, e))?.path();
        if p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("gen-bin.")) {
            fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
        }
    }
    let mut master = Embedded::start(&dir.join("master"), &data, &options)?;
    run_mix(spec, clients, &master, &first, tick)?;
    master.stop()?;
    fs::create_dir_all(&logs_dir).map_err(|e| Error::io(&logs_dir, e))?;
    let index = fs::read_to_string(data.join("gen-bin.index")).map_err(|e| Error::io(&data, e))?;
    for line in index.lines() {
        let name = Path::new(line.trim()).file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        if name.as_str() >= first.as_str() {
            fs::rename(data.join(&name), logs_dir.join(&name)).map_err(|e| Error::io(&data, e))?;
        }
    }
    let _ = fs::remove_dir_all(dir.join("master"));
    fs::write(&done, b"").map_err(|e| Error::io(&done, e))?;
    Ok(Generated { logs: list_logs(&logs_dir)?, snapshot })
}

fn list_logs(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|x| x.len() == 6 && x.to_string_lossy().bytes().all(|b| b.is_ascii_digit()))
        })
        .collect();
    v.sort();
    Ok(v)
}

fn one_trx(c: &mut mysql::Conn, stmts: &[String]) -> std::result::Result<(), mysql::Error> {
    let mut t = c.start_transaction(mysql::TxOpts::default())?;
    for q in stmts {
        t.query_drop(q)?;
    }
    t.commit()
}

fn run_mix(spec: &WorkloadSpec, clients: usize, master: &Embedded, first: &str, tick: &dyn Fn(u64)) -> Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    let next_k = Arc::new(AtomicU64::new(1));
    let mut monitor = Server::connect(&master.spec())?;
    std::thread::scope(|s| -> Result<()> {
        let handles: Vec<_> = (0..clients)
            .map(|i| {
                let (stop, next_k, mspec) = (stop.clone(), next_k.clone(), master.spec());
                s.spawn(move || -> Result<()> {
                    let mut c = mspec.connect()?;
                    let mut r = XorShift::new(spec.seed.wrapping_add(1 + i as u64));
                    while !stop.load(Ordering::Relaxed) {
                        let k = next_k.fetch_add(1, Ordering::Relaxed);
                        let stmts = transaction(spec.mix, &mut r, k);
                        // Clients collide on rows as sysbench's do: a deadlock
                        // or lock wait timeout is retried, as sysbench retries.
                        for attempt in 0.. {
                            match one_trx(&mut c, &stmts) {
                                Ok(()) => break,
                                Err(mysql::Error::MySqlError(e)) if matches!(e.code, 1205 | 1213) && attempt < 100 => {}
                                Err(e) => return Err(sql_err(master, "transaction")(e)),
                            }
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        let watch = (|| -> Result<()> {
            loop {
                let b = binlog_bytes(&mut monitor, first)?;
                tick(b);
                if b >= spec.bytes || handles.iter().any(|h| h.is_finished()) {
                    return Ok(());
                }
                // Polled: the server reports its binlog size only when asked.
                std::thread::sleep(Duration::from_millis(50));
            }
        })();
        stop.store(true, Ordering::Relaxed);
        for h in handles {
            h.join().map_err(|_| Error::invalid("workload: a client thread panicked"))??;
        }
        watch
    })
}
