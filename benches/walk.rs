//! Walk throughput over a large synthetic MariaDB binlog and a real corpus file.
//!
//! Setup builds, in memory (never on disk), a ~256 MiB MariaDB 10.11 binlog
//! with CRC32: magic, FDE, GTID_LIST, BINLOG_CHECKPOINT, then a repeating mix
//! of realistic event groups, and a ROTATE at the end:
//! - 80 %: GTID(trans) ANNOTATE_ROWS TABLE_MAP WRITE_ROWS_V1×1..3 XID
//! - 15 %: GTID QUERY(BEGIN) ANNOTATE_ROWS TABLE_MAP WRITE_ROWS_V1 QUERY(COMMIT)
//! - 5 %:  GTID(standalone, DDL) QUERY(CREATE TABLE …)
//!
//! WRITE_ROWS events are 100–8000 bytes and carry one valid row of
//! `(id INT, v VARCHAR(8000))`. Every benchmark asserts the expected
//! event (and transaction) count inside the timed closure, so a walk that
//! stops early cannot look fast.
//!
//! `BENCH_SYNTH_MIB` overrides the size (default 256).
//!
//! Run: `cargo bench --bench walk` (about 2 minutes).

use std::hint::black_box;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use binlog_diff::event::checksum::compute_crc32;
use binlog_diff::event::{EventIter, Step, TrxGrouper, WalkOptions, classify};
use binlog_diff::inspect::{DumpOptions, dump};
use binlog_diff::log::{LogFile, Tail};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

// ---------------------------------------------------------------------------
// synthetic binlog

/// Post-header lengths from a real MariaDB 10.11 FDE (171 entries).
const MARIADB_1011_POST_HEADER: [u8; 171] = {
    let mut t = [0u8; 171];
    let head: [u8; 41] = [
        56, 13, 0, 8, 0, 18, 0, 4, 4, 4, 4, 18, 0, 0, 228, 0, 4, 26, 8, 0, 0, 0, 8, 8, 8, 2, 0, 0, 0, 10, 10, 10, 0, 0,
        0, 0, 0, 0, 10, 10, 10,
    ];
    let tail: [u8; 11] = [4, 19, 4, 0, 13, 8, 8, 8, 10, 10, 10];
    let mut i = 0;
    while i < head.len() {
        t[i] = head[i];
        i += 1;
    }
    let mut j = 0;
    while j < tail.len() {
        t[160 + j] = tail[j];
        j += 1;
    }
    t
};

struct Writer {
    buf: Vec<u8>,
    events: u64,
    trx: u64,
    ts: u32,
    rng: u64,
}

impl Writer {
    fn rand(&mut self, lo: usize, hi: usize) -> usize {
        // xorshift64*: deterministic, good enough for sizes.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        let r = self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D);
        lo + (r % (hi - lo + 1) as u64) as usize
    }

    /// Appends one event (header, `body`, CRC32) with a correct log_pos.
    fn event(&mut self, ty: u8, flags: u16, body: &[u8]) {
        let start = self.buf.len();
        let size = 19 + body.len() + 4;
        self.buf.extend_from_slice(&self.ts.to_le_bytes());
        self.buf.push(ty);
        self.buf.extend_from_slice(&1u32.to_le_bytes());
        self.buf.extend_from_slice(&(size as u32).to_le_bytes());
        self.buf.extend_from_slice(&((start + size) as u32).to_le_bytes());
        self.buf.extend_from_slice(&flags.to_le_bytes());
        self.buf.extend_from_slice(body);
        let crc = compute_crc32(&self.buf[start..]);
        self.buf.extend_from_slice(&crc.to_le_bytes());
        self.events += 1;
    }

    fn fde(&mut self) {
        let mut b = Vec::new();
        b.extend_from_slice(&4u16.to_le_bytes());
        let mut sv = [0u8; 50];
        let v = b"10.11.19-MariaDB-log";
        sv[..v.len()].copy_from_slice(v);
        b.extend_from_slice(&sv);
        b.extend_from_slice(&self.ts.to_le_bytes()); // create_timestamp
        b.push(19);
        b.extend_from_slice(&MARIADB_1011_POST_HEADER);
        b.push(1); // CRC32
        self.event(15, 0, &b);
    }

    fn gtid(&mut self, seq: u64, flags: u8) {
        let mut b = Vec::with_capacity(21);
        b.extend_from_slice(&seq.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes()); // domain
        if seq % 4 == 0 {
            b.push(flags | 2); // FL_GROUP_COMMIT_ID
            b.extend_from_slice(&(seq - seq % 4).to_le_bytes());
        } else {
            b.push(flags);
            b.extend_from_slice(&[0; 6]);
        }
        self.event(162, 0, &b);
    }

    fn query(&mut self, sql: &[u8]) {
        let mut sv = Vec::new();
        sv.push(0); // Q_FLAGS2
        sv.extend_from_slice(&0u32.to_le_bytes());
        sv.push(1); // Q_SQL_MODE
        sv.extend_from_slice(&0x5000_0000u64.to_le_bytes());
        sv.extend_from_slice(&[6, 3]); // Q_CATALOG_NZ "std"
        sv.extend_from_slice(b"std");
        sv.push(4); // Q_CHARSET
        for v in [33u16, 8, 8] {
            sv.extend_from_slice(&v.to_le_bytes());
        }
        let db = b"bench";
        let mut b = Vec::with_capacity(13 + sv.len() + db.len() + 1 + sql.len());
        b.extend_from_slice(&7u32.to_le_bytes()); // thread id
        b.extend_from_slice(&0u32.to_le_bytes()); // exec time
        b.push(db.len() as u8);
        b.extend_from_slice(&0u16.to_le_bytes()); // error code
        b.extend_from_slice(&(sv.len() as u16).to_le_bytes());
        b.extend_from_slice(&sv);
        b.extend_from_slice(db);
        b.push(0);
        b.extend_from_slice(sql);
        self.event(2, 0, &b);
    }

    fn annotate(&mut self, id: u64) {
        let sql = format!(
            "INSERT INTO bench.t (id, v) SELECT id + {id}, REPEAT('x', 1 + id % 7000) FROM bench.t WHERE id < 1000"
        );
        self.event(160, 0, sql.as_bytes());
    }

    fn table_map(&mut self, table_id: u64) {
        let mut b = Vec::new();
        b.extend_from_slice(&table_id.to_le_bytes()[..6]);
        b.extend_from_slice(&1u16.to_le_bytes());
        b.push(5);
        b.extend_from_slice(b"bench\0");
        b.push(1);
        b.extend_from_slice(b"t\0");
        b.push(2); // columns
        b.extend_from_slice(&[3, 15]); // LONG, VARCHAR
        b.push(2); // metadata length
        b.extend_from_slice(&8000u16.to_le_bytes());
        b.push(0b10); // v nullable
        self.event(19, 0, &b);
    }

    fn write_rows(&mut self, table_id: u64, id: u32, stmt_end: bool) {
        // size = 19 + 8 + 1 + 1 + 1 + 4 + 2 + L + 4 = 40 + L, 100..=8000
        let l = self.rand(60, 7960);
        let mut b = Vec::with_capacity(21 + l);
        b.extend_from_slice(&table_id.to_le_bytes()[..6]);
        b.extend_from_slice(&(stmt_end as u16).to_le_bytes());
        b.push(2); // column count
        b.push(0b11); // columns present
        b.push(0); // null bitmap
        b.extend_from_slice(&id.to_le_bytes());
        b.extend_from_slice(&(l as u16).to_le_bytes());
        let start = b.len();
        b.resize(start + l, 0);
        for (i, c) in b[start..].iter_mut().enumerate() {
            *c = b'a' + ((i + id as usize) % 26) as u8;
        }
        self.event(23, 0, &b);
    }

    fn xid(&mut self, x: u64) {
        self.event(16, 0, &x.to_le_bytes());
    }
}

/// A synthetic binlog of about `target` bytes, with its event and
/// transaction counts.
struct Synth {
    bytes: Vec<u8>,
    events: u64,
    trx: u64,
}

fn synth(target: usize) -> Synth {
    let mut w = Writer {
        buf: Vec::with_capacity(target + 64 * 1024),
        events: 0,
        trx: 0,
        ts: 1_700_000_000,
        rng: 0x9E37_79B9_7F4A_7C15,
    };
    w.buf.extend_from_slice(&[0xfe, b'b', b'i', b'n']);
    w.fde();
    let mut gl = Vec::new();
    gl.extend_from_slice(&1u32.to_le_bytes());
    gl.extend_from_slice(&0u32.to_le_bytes());
    gl.extend_from_slice(&1u32.to_le_bytes());
    gl.extend_from_slice(&0u64.to_le_bytes());
    w.event(163, 0, &gl);
    let name = b"mysql-bin.000001";
    let mut cp = (name.len() as u32).to_le_bytes().to_vec();
    cp.extend_from_slice(name);
    w.event(161, 0, &cp);

    let mut seq = 0u64;
    let mut id = 0u32;
    while w.buf.len() < target {
        seq += 1;
        w.ts += (seq % 3 == 0) as u32;
        let table_id = 70 + seq % 5;
        match w.rand(0, 99) {
            0..=79 => {
                w.gtid(seq, 4 | 8); // TRANSACTIONAL | ALLOW_PARALLEL
                w.annotate(seq);
                w.table_map(table_id);
                let n = w.rand(1, 3);
                for i in 0..n {
                    id += 1;
                    w.write_rows(table_id, id, i + 1 == n);
                }
                w.xid(seq * 10);
            }
            80..=94 => {
                w.gtid(seq, 0);
                w.query(b"BEGIN");
                w.annotate(seq);
                w.table_map(table_id);
                id += 1;
                w.write_rows(table_id, id, true);
                w.query(b"COMMIT");
            }
            _ => {
                w.gtid(seq, 1 | 32); // STANDALONE | DDL
                let ddl = format!(
                    "CREATE TABLE IF NOT EXISTS bench.t{} (id INT PRIMARY KEY, v VARCHAR(8000)) ENGINE=InnoDB",
                    seq % 100
                );
                w.query(ddl.as_bytes());
            }
        }
        w.trx += 1;
    }
    let mut rot = 4u64.to_le_bytes().to_vec();
    rot.extend_from_slice(b"mysql-bin.000002");
    w.event(4, 0, &rot);
    Synth { bytes: w.buf, events: w.events, trx: w.trx }
}

// ---------------------------------------------------------------------------
// measured work

fn walk_count(data: &[u8], verify_checksums: bool) -> u64 {
    let mut n = 0u64;
    let mut it = EventIter::new(data, WalkOptions { verify_checksums });
    while let Some(step) = it.next_step().expect("clean walk") {
        match step {
            Step::Event(ev) => {
                black_box(ev.event_type());
                n += 1;
            }
            Step::Incomplete(i) => panic!("incomplete tail {i:?}"),
        }
    }
    n
}

/// Events and closed transactions, walking without CRC and classifying.
fn classify_group(data: &[u8]) -> (u64, u64) {
    let mut n = 0u64;
    let mut trx = 0u64;
    let mut g = TrxGrouper::new();
    let mut it = EventIter::new(data, WalkOptions { verify_checksums: false });
    while let Some(step) = it.next_step().expect("clean walk") {
        let Step::Event(ev) = step else { panic!("incomplete tail") };
        let fmt = it.format().expect("format");
        let role = g.feed(classify(&ev, fmt).expect("classify"));
        trx += role.boundary.closes() as u64;
        n += 1;
    }
    (n, trx)
}

/// `io::Write` that discards everything but counts lines.
struct LineCounter(u64);
impl Write for LineCounter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.iter().filter(|&&b| b == b'\n').count() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn dump_lines(file: &LogFile, no_verify: bool) -> u64 {
    let mut out = LineCounter(0);
    let opts = DumpOptions { no_verify, ..Default::default() };
    let tail = dump(&mut out, file, &opts).expect("dump");
    assert_eq!(tail, Tail::Clean);
    out.0
}

// ---------------------------------------------------------------------------
// benchmarks

fn synthetic(c: &mut Criterion) {
    let mib: usize = std::env::var("BENCH_SYNTH_MIB").ok().and_then(|s| s.parse().ok()).unwrap_or(256);
    let t = std::time::Instant::now();
    let s = synth(mib << 20);
    eprintln!(
        "synthetic MariaDB binlog: {} bytes, {} events, {} transactions (built in {:.2?})",
        s.bytes.len(),
        s.events,
        s.trx,
        t.elapsed()
    );
    // Sanity outside the timing: the walk and the grouper agree with the generator.
    assert_eq!(walk_count(&s.bytes, true), s.events);
    assert_eq!(classify_group(&s.bytes), (s.events, s.trx));
    let file = LogFile::from_bytes("synthetic-mariadb.bin", s.bytes.clone());

    let mut g = c.benchmark_group("synthetic_256MiB");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(8))
        .throughput(Throughput::Bytes(s.bytes.len() as u64));
    g.bench_function("walk", |b| b.iter(|| assert_eq!(walk_count(black_box(&s.bytes), false), s.events)));
    g.bench_function("walk_crc", |b| b.iter(|| assert_eq!(walk_count(black_box(&s.bytes), true), s.events)));
    g.bench_function("classify+group", |b| {
        b.iter(|| assert_eq!(classify_group(black_box(&s.bytes)), (s.events, s.trx)))
    });
    g.measurement_time(Duration::from_secs(15));
    g.bench_function("dump", |b| b.iter(|| assert_eq!(dump_lines(black_box(&file), false), s.events)));
    g.bench_function("dump_no_verify", |b| b.iter(|| assert_eq!(dump_lines(black_box(&file), true), s.events)));
    g.finish();
}

fn real_file(c: &mut Criterion) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/testdata/public/mysql-binlog-connector-java/mysql-bin.sakila");
    let Ok(data) = std::fs::read(&path) else {
        eprintln!("{} not present: skipping the real-file benchmarks", path.display());
        return;
    };
    let events = walk_count(&data, true);
    eprintln!("{}: {} bytes, {events} events", path.display(), data.len());
    let mut g = c.benchmark_group("mysql-bin.sakila");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("walk", |b| b.iter(|| assert_eq!(walk_count(black_box(&data), false), events)));
    g.bench_function("walk_crc", |b| b.iter(|| assert_eq!(walk_count(black_box(&data), true), events)));
    g.finish();
}

criterion_group!(benches, synthetic, real_file);
criterion_main!(benches);
