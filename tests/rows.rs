//! `dump --rows`: row images printed as `mysqlbinlog -v` / `mariadb-binlog -v`
//! print them, checked against those tools' own output.
//!
//! * zalora-binlog-parser fixtures (public corpus): `plaintext-mysql-bin.NN`
//!   is `mysqlbinlog -vv` output (MySQL 5.6 tool; type comments included) for
//!   `mysql-bin.NN`. Our `-vv` lines must equal the file's `###` lines
//!   exactly, and our `-v` lines (what `dump --rows` prints) must equal them
//!   with the trailing ` /* … */` type comment removed.
//! * MariaDB fixtures (`testdata/mariadb/**/X.mariadb-binlog-v.txt`, output
//!   of `mariadb-binlog -v` for `X`): exact, byte for byte, through
//!   `RowPrinter::print_raw`. `dump` writes through a `String`, which cannot
//!   hold the raw non-UTF-8 bytes the tool writes for binary columns; there
//!   the expected lines are compared after the one documented transformation
//!   (`\xNN` for bytes that are not UTF-8), nothing else.
//! * Robustness: every rows event in every file of the corpus' `rust_mysql_common/`
//!   and `mysql-binlog-connector-java/` decodes or gives a `ParseError`, never
//!   a panic.

mod support;

use std::path::{Path, PathBuf};

use binlog_diff::event::payload::Payload;
use binlog_diff::event::rows::RowDecoder;
use binlog_diff::event::{EventIter, EventType, Format, RawEvent, Step, WalkOptions};
use binlog_diff::inspect::rows::{RowPrinter, RowStyle};
use binlog_diff::inspect::{DumpOptions, dump};
use binlog_diff::log::{LogFile, RecoveryMode};
use support::{corpus_dir, testdata_dir};

fn open(path: &Path) -> LogFile {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    LogFile::from_bytes(path, bytes)
}

/// Lines starting with `###`, as bytes, without the newline.
fn hash_lines(text: &[u8]) -> Vec<Vec<u8>> {
    text.split(|&b| b == b'\n')
        .filter(|l| l.starts_with(b"###"))
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l).to_vec())
        .collect()
}

/// `###   @1=1 /* INT meta=0 nullable=0 is_null=0 */` → `###   @1=1`: the
/// `-vv` comment is the only difference between `-vv` and `-v` lines.
fn strip_type_comment(line: &[u8]) -> Vec<u8> {
    if line.ends_with(b"*/") {
        if let Some(p) = line.windows(4).rposition(|w| w == b" /* ") {
            return line[..p].to_vec();
        }
    }
    line.to_vec()
}

fn show(lines: &[Vec<u8>]) -> String {
    lines.iter().map(|l| String::from_utf8_lossy(l).into_owned() + "\n").collect()
}

/// Compares line lists and reports the first difference.
fn assert_lines_eq(what: &str, got: &[Vec<u8>], want: &[Vec<u8>]) {
    if got == want {
        return;
    }
    let i = got.iter().zip(want).position(|(a, b)| a != b).unwrap_or(got.len().min(want.len()));
    panic!(
        "{what}: {} lines printed, {} expected; first difference at line {}:\n  got:  {:?}\n  want: {:?}\n--- got ---\n{}--- want ---\n{}",
        got.len(),
        want.len(),
        i + 1,
        got.get(i).map(|l| String::from_utf8_lossy(l).into_owned()),
        want.get(i).map(|l| String::from_utf8_lossy(l).into_owned()),
        show(got),
        show(want)
    );
}

/// Everything `printer` prints for `file`, through `print_raw`, including
/// events inside TRANSACTION_PAYLOADs. Errors are collected, not fatal.
fn print_file(file: &LogFile, printer: &mut RowPrinter) -> (Vec<u8>, Vec<String>) {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    let walk = file.walk(WalkOptions::default(), RecoveryMode::TolerateTruncatedTail, |ev, fmt| {
        one_event(printer, &ev, fmt, &mut out, &mut errors);
        if ev.event_type() == EventType::TRANSACTION_PAYLOAD {
            match Payload::parse(&ev, fmt).map(|p| p.decompress()) {
                Ok(Ok(data)) => {
                    let mut it = EventIter::inner(&data, fmt.clone());
                    while let Ok(Some(Step::Event(inner))) = it.next_step() {
                        one_event(printer, &inner, fmt, &mut out, &mut errors);
                    }
                }
                Ok(Err(e)) => errors.push(format!("payload at {}: {e}", ev.offset())),
                Err(e) => errors.push(format!("payload: {e}")),
            }
        }
        Ok(true)
    });
    if let Err(e) = walk {
        errors.push(format!("walk: {e}"));
    }
    (out, errors)
}

fn one_event(printer: &mut RowPrinter, ev: &RawEvent<'_>, fmt: &Format, out: &mut Vec<u8>, errors: &mut Vec<String>) {
    if let Err(e) = printer.observe(ev, fmt) {
        errors.push(format!("observe: {e}"));
    }
    if let Err(e) = printer.print_raw(out, ev, fmt) {
        errors.push(format!("print: {e}"));
    }
}

fn dump_rows(file: &LogFile) -> Vec<u8> {
    let mut out = Vec::new();
    let opts = DumpOptions { rows: true, recovery: RecoveryMode::TolerateTruncatedTail, ..DumpOptions::default() };
    dump(&mut out, file, &opts).unwrap_or_else(|e| panic!("dump {}: {e}", file.path().display()));
    out
}

/// `dump` of `file` with `threads` threads in chunks of about `chunk` bytes:
/// what it wrote, and its error.
fn dump_with(file: &LogFile, json: bool, recovery: RecoveryMode, threads: usize, chunk: usize) -> (Vec<u8>, String) {
    let opts = DumpOptions { rows: true, json, recovery, threads, chunk_bytes: chunk, ..DumpOptions::default() };
    dump_opts(file, &opts)
}

fn dump_opts(file: &LogFile, opts: &DumpOptions) -> (Vec<u8>, String) {
    let mut out = Vec::new();
    let res = dump(&mut out, file, opts);
    (out, res.err().map(|e| e.to_string()).unwrap_or_default())
}

/// `(binary, expected text)` for the zalora fixtures that have both.
fn zalora_pairs(corpus: &Path) -> Vec<(PathBuf, PathBuf)> {
    let dir = corpus.join("zalora-binlog-parser");
    let mut pairs = Vec::new();
    for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if let Some(bin) = name.strip_prefix("plaintext-") {
            let bin = dir.join(bin);
            if bin.exists() {
                pairs.push((bin, p));
            }
        }
    }
    pairs.sort();
    pairs
}

#[test]
fn zalora_vv_lines_match_mysqlbinlog_exactly() {
    let Some(corpus) = corpus_dir() else { return };
    let pairs = zalora_pairs(&corpus);
    assert!(pairs.len() >= 6, "expected the zalora fixtures, found {pairs:?}");
    let mut total = 0;
    for (bin, txt) in pairs {
        let file = open(&bin);
        let mut p = RowPrinter::new().with_type_comments(true);
        let (out, errors) = print_file(&file, &mut p);
        assert!(errors.is_empty(), "{}: {errors:?}", bin.display());
        let want = hash_lines(&std::fs::read(&txt).unwrap());
        let got = hash_lines(&out);
        assert_lines_eq(&bin.display().to_string(), &got, &want);
        total += want.len();
    }
    assert!(total > 100, "only {total} ### lines compared");
}

#[test]
fn zalora_dump_rows_matches_mysqlbinlog_v() {
    let Some(corpus) = corpus_dir() else { return };
    for (bin, txt) in zalora_pairs(&corpus) {
        let file = open(&bin);
        let got = hash_lines(&dump_rows(&file));
        let want: Vec<Vec<u8>> =
            hash_lines(&std::fs::read(&txt).unwrap()).iter().map(|l| strip_type_comment(l)).collect();
        assert_lines_eq(&format!("dump --rows {}", bin.display()), &got, &want);
    }
}

/// `(binary, mariadb-binlog -v text)` under `testdata/mariadb`.
fn mariadb_pairs() -> Vec<(PathBuf, PathBuf)> {
    fn walk(dir: &Path, out: &mut Vec<(PathBuf, PathBuf)>) {
        let Ok(rd) = std::fs::read_dir(dir) else { return };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if let Some(name) = p.file_name().and_then(|n| n.to_str()) {
                if let Some(bin) = name.strip_suffix(".mariadb-binlog-v.txt") {
                    let bin = p.with_file_name(bin);
                    if bin.exists() {
                        out.push((bin, p.clone()));
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(&testdata_dir().join("mariadb"), &mut out);
    out.sort();
    out
}

#[test]
fn mariadb_lines_match_mariadb_binlog_v() {
    let pairs = mariadb_pairs();
    if pairs.is_empty() {
        eprintln!("\n!!!!!!!! SKIPPED: no testdata/mariadb/**/*.mariadb-binlog-v.txt fixtures !!!!!!!!\n");
        return;
    }
    for (bin, txt) in pairs {
        let file = open(&bin);
        let want = hash_lines(&std::fs::read(&txt).unwrap());

        let mut p = RowPrinter::new();
        let (out, errors) = print_file(&file, &mut p);
        assert!(errors.is_empty(), "{}: {errors:?}", bin.display());
        assert_lines_eq(&bin.display().to_string(), &hash_lines(&out), &want);

        // `dump --rows` writes the exact bytes too.
        let got = hash_lines(&dump_rows(&file));
        assert_lines_eq(&format!("dump --rows {}", bin.display()), &got, &want);
    }
}

/// The style follows the file's server unless forced.
#[test]
fn style_can_be_forced() {
    let Some(corpus) = corpus_dir() else { return };
    let bin = corpus.join("zalora-binlog-parser/mysql-bin.01");
    let file = open(&bin);
    let (a, _) = print_file(&file, &mut RowPrinter::new());
    let (b, _) = print_file(&file, &mut RowPrinter::new().with_style(RowStyle::MySql));
    assert_eq!(a, b);
    assert!(!a.is_empty());
}

/// A rows event whose TABLE_MAP was never seen is reported, not an error.
#[test]
fn unknown_table_is_reported() {
    let Some(corpus) = corpus_dir() else { return };
    let file = open(&corpus.join("zalora-binlog-parser/mysql-bin.01"));
    let mut p = RowPrinter::new();
    let mut out = Vec::new();
    let mut rows_events = 0;
    file.walk(WalkOptions::default(), RecoveryMode::TolerateTruncatedTail, |ev, fmt| {
        if ev.event_type() != EventType::TABLE_MAP {
            p.observe(&ev, fmt).unwrap();
        }
        if ev.event_type().is_rows() {
            rows_events += 1;
        }
        p.print_raw(&mut out, &ev, fmt).unwrap();
        Ok(true)
    })
    .unwrap();
    let lines = hash_lines(&out);
    assert!(rows_events > 0);
    assert_eq!(lines.len(), rows_events, "{}", show(&lines));
    for l in &lines {
        assert!(l.starts_with(b"### Row event for unknown table #"), "{}", String::from_utf8_lossy(l));
    }
}

/// Table maps are forgotten after the statement (STMT_END_F), so memory does
/// not grow with the file.
#[test]
fn table_maps_do_not_accumulate() {
    let Some(corpus) = corpus_dir() else { return };
    let file = open(&corpus.join("mysql-binlog-connector-java/mysql-bin.sakila"));
    let mut p = RowPrinter::new();
    let mut max = 0;
    let mut out = Vec::new();
    file.walk(WalkOptions::default(), RecoveryMode::TolerateTruncatedTail, |ev, fmt| {
        p.observe(&ev, fmt).unwrap();
        out.clear();
        p.print_raw(&mut out, &ev, fmt).unwrap();
        max = max.max(p.known_tables());
        Ok(true)
    })
    .unwrap();
    assert!(max <= 4, "{max} table maps kept at once");
}

/// Every rows event of the corpus decodes or gives a ParseError; nothing panics.
#[test]
fn corpus_rows_never_panic() {
    let Some(corpus) = corpus_dir() else { return };
    let mut files = Vec::new();
    for sub in ["rust_mysql_common", "mysql-binlog-connector-java"] {
        let dir = corpus.join(sub);
        for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            files.push(e.unwrap().path());
        }
    }
    files.sort();
    assert!(files.len() > 30, "{files:?}");
    let mut printed = 0usize;
    let mut failed = Vec::new();
    for path in &files {
        let file = open(path);
        for style in [None, Some(RowStyle::MySql), Some(RowStyle::MariaDb)] {
            let mut p = RowPrinter::new().with_type_comments(true);
            if let Some(s) = style {
                p = p.with_style(s);
            }
            let (out, errors) = print_file(&file, &mut p);
            if style.is_none() {
                printed += hash_lines(&out).len();
                failed.extend(
                    errors.into_iter().filter(|e| !e.starts_with("walk:")).map(|e| format!("{}: {e}", path.display())),
                );
            }
        }
        // Through dump: an Ok or an Err, never a panic.
        let mut sink = Vec::new();
        let opts = DumpOptions { rows: true, recovery: RecoveryMode::TolerateTruncatedTail, ..DumpOptions::default() };
        let _ = dump(&mut sink, &file, &opts);
    }
    eprintln!("corpus: {printed} ### lines; decode errors: {failed:#?}");
    assert!(printed > 1000, "only {printed} ### lines printed");
}

/// Damaged TABLE_MAP and rows events (bytes flipped, bodies cut short) give
/// a `ParseError` or some output, never a panic, a hang or a huge allocation.
#[test]
fn damaged_rows_events_never_panic() {
    let Some(corpus) = corpus_dir() else { return };
    let mut files = Vec::new();
    for sub in ["rust_mysql_common", "mysql-binlog-connector-java", "zalora-binlog-parser"] {
        for e in std::fs::read_dir(corpus.join(sub)).unwrap() {
            let p = e.unwrap().path();
            if p.is_file() {
                files.push(p);
            }
        }
    }
    files.extend(mariadb_pairs().into_iter().map(|(b, _)| b));
    files.sort();
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let (mut tried, mut rejected) = (0usize, 0usize);
    for path in &files {
        let file = open(path);
        let mut p = RowPrinter::new().with_type_comments(true);
        let mut out = Vec::new();
        let mut mutated_events = 0;
        let _ = file.walk(WalkOptions::default(), RecoveryMode::TolerateTruncatedTail, |ev, fmt| {
            let ty = ev.event_type();
            let target = ty == EventType::TABLE_MAP || ty.is_rows();
            if target && mutated_events < 150 {
                mutated_events += 1;
                let bytes = ev.as_bytes();
                let end = bytes.len() - if ev.has_checksum() { 4 } else { 0 };
                for k in 0..12 {
                    let mut m = bytes[..end].to_vec();
                    let body = m.len() - 19;
                    if body == 0 {
                        break;
                    }
                    match k % 3 {
                        0 => {
                            for _ in 0..1 + next() % 3 {
                                let i = 19 + (next() as usize) % body;
                                m[i] ^= 1 << (next() % 8);
                            }
                        }
                        1 => m.truncate(19 + (next() as usize) % body),
                        _ => {
                            let i = 19 + (next() as usize) % body;
                            m[i] = if next() % 2 == 0 { 0xff } else { 0xfe };
                        }
                    }
                    let mutant = RawEvent::new(ev.offset(), &m, false).unwrap();
                    out.clear();
                    tried += 1;
                    let r = if ty == EventType::TABLE_MAP {
                        p.observe(&mutant, fmt)
                    } else {
                        p.print_raw(&mut out, &mutant, fmt)
                    };
                    rejected += r.is_err() as usize;
                    assert!(out.len() < 64 << 20, "{}: {} bytes printed", path.display(), out.len());
                }
            }
            let _ = p.observe(&ev, fmt);
            out.clear();
            let _ = p.print_raw(&mut out, &ev, fmt);
            Ok(true)
        });
    }
    eprintln!("damaged events: {tried} tried, {rejected} rejected with a ParseError");
    assert!(tried > 1000 && rejected > 0, "{tried} tried, {rejected} rejected");
}

fn event(ty: u8, body: &[u8]) -> Vec<u8> {
    let mut e = vec![0u8; 19];
    e[4] = ty;
    e[9..13].copy_from_slice(&((19 + body.len()) as u32).to_le_bytes());
    e.extend_from_slice(body);
    e
}

/// Hand-made events: a DECIMAL whose scale exceeds its precision (mysql_common
/// panics on it in debug builds; the panic must come back as a ParseError),
/// and a plain one that prints.
#[test]
fn handmade_events() {
    let Some(corpus) = corpus_dir() else { return };
    // The governing format of a 5.6 file (ROWS v2).
    let file = open(&corpus.join("zalora-binlog-parser/mysql-bin.01"));
    let mut fmt = None;
    file.walk(WalkOptions::default(), RecoveryMode::TolerateTruncatedTail, |_, f| {
        fmt = Some(f.clone());
        Ok(false)
    })
    .unwrap();
    let fmt = fmt.unwrap();

    let table_map = |precision: u8, scale: u8| {
        let mut b = vec![7, 0, 0, 0, 0, 0, 0, 0]; // table id 7, flags
        b.extend_from_slice(b"\x01d\0\x01t\0");
        b.extend_from_slice(&[1, 246, 2, precision, scale, 0]); // 1 column NEWDECIMAL, nullable no
        event(19, &b)
    };
    let write_rows = |row: &[u8]| {
        let mut b = vec![7, 0, 0, 0, 0, 0, 1, 0, 2, 0, 1, 1]; // id, STMT_END, no extra, width 1, bitmap
        b.extend_from_slice(row);
        event(30, &b)
    };

    let mut p = RowPrinter::new().with_type_comments(true);
    let tm = table_map(5, 2);
    p.observe(&RawEvent::new(100, &tm, false).unwrap(), &fmt).unwrap();
    // 123.45 as DECIMAL(5,2): 3 integer digits in 2 bytes, 2 fraction digits in 1 byte, sign bit set.
    let wr = write_rows(&[0, 0x80, 0x7b, 0x2d]);
    let mut out = Vec::new();
    p.print_raw(&mut out, &RawEvent::new(200, &wr, false).unwrap(), &fmt).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out),
        "### INSERT INTO `d`.`t`\n### SET\n###   @1=123.45 /* DECIMAL(5,2) meta=1282 nullable=0 is_null=0 */\n"
    );

    let tm = table_map(1, 5);
    p.observe(&RawEvent::new(300, &tm, false).unwrap(), &fmt).unwrap();
    let wr = write_rows(&[0, 0x80, 0, 0, 0, 0, 0]);
    let mut out = Vec::new();
    let err = p.print_raw(&mut out, &RawEvent::new(400, &wr, false).unwrap(), &fmt).unwrap_err();
    assert_eq!(err.at, 400);
    assert_eq!(err.event_type, Some(EventType::WRITE_ROWS));
    assert!(out.is_empty());

    // The first map again, in each of two statements: the second time it is
    // taken from the last statement's maps, not parsed, and reads the same.
    for at in [600, 800] {
        p.observe(&RawEvent::new(at, &table_map(5, 2), false).unwrap(), &fmt).unwrap();
        let wr = write_rows(&[0, 0x80, 0x7b, 0x2d]);
        let wr = RawEvent::new(at + 100, &wr, false).unwrap();
        p.observe(&wr, &fmt).unwrap();
        let mut out = Vec::new();
        p.print_raw(&mut out, &wr, &fmt).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out),
            "### INSERT INTO `d`.`t`\n### SET\n###   @1=123.45 /* DECIMAL(5,2) meta=1282 nullable=0 is_null=0 */\n"
        );
    }
    // After the statement the map is forgotten all the same.
    let mut forgotten = Vec::new();
    p.observe(&RawEvent::new(1000, &event(2, &[0; 13]), false).unwrap(), &fmt).unwrap();
    let wr = write_rows(&[0, 0x80, 0x7b, 0x2d]);
    p.print_raw(&mut forgotten, &RawEvent::new(1100, &wr, false).unwrap(), &fmt).unwrap();
    assert_eq!(String::from_utf8_lossy(&forgotten), "### Row event for unknown table #7\n");
    let mut out = Vec::new();

    // Unknown table id.
    let mut q = RowPrinter::new();
    q.print_raw(&mut out, &RawEvent::new(500, &write_rows(&[0, 0x80, 0x7b, 0x2d]), false).unwrap(), &fmt).unwrap();
    assert_eq!(String::from_utf8_lossy(&out), "### Row event for unknown table #7\n");
}

/// Every MariaDB fixture (binlogs and relay logs, whose several FDEs govern
/// in turn) prints its rows events without a decoding error.
#[test]
fn mariadb_fixtures_decode_cleanly() {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else { return };
        for e in rd.flatten() {
            let p = e.path();
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if p.is_dir() {
                walk(&p, out);
            } else if is_log_name(name) {
                out.push(p);
            }
        }
    }
    fn is_log_name(name: &str) -> bool {
        name.rsplit_once('.').is_some_and(|(_, n)| n.len() == 6 && n.bytes().all(|b| b.is_ascii_digit()))
    }
    let mut files = Vec::new();
    walk(&testdata_dir().join("mariadb"), &mut files);
    if files.is_empty() {
        eprintln!("\n!!!!!!!! SKIPPED: no testdata/mariadb binlogs !!!!!!!!\n");
        return;
    }
    let mut lines = 0;
    for path in &files {
        let file = open(path);
        let (out, errors) = print_file(&file, &mut RowPrinter::new());
        let errors: Vec<_> = errors.into_iter().filter(|e| !e.starts_with("walk:")).collect();
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
        lines += hash_lines(&out).len();
    }
    eprintln!("{} MariaDB files, {lines} ### lines", files.len());
}

/// The write-set walk skips values by their stored length without decoding
/// them: on every rows event of the corpus and the MariaDB fixtures, that
/// length equals what decoding the value uses (every column type there).
#[test]
fn value_lengths_match_decoding() {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else { return };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if !p.extension().is_some_and(|x| x == "txt" || x == "md" || x == "index" || x == "info") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(&testdata_dir().join("mariadb"), &mut files);
    let corpus = corpus_dir();
    if let Some(c) = &corpus {
        walk(c, &mut files);
    }
    files.sort();
    let (mut values, mut mismatches) = (0usize, Vec::new());
    for path in &files {
        let Ok(bytes) = std::fs::read(path) else { continue };
        let file = LogFile::from_bytes(path, bytes);
        let mut rows = RowDecoder::new();
        let mut one = |ev: &RawEvent<'_>, fmt: &Format| {
            let _ = rows.observe(ev, fmt);
            match rows.check_value_lengths(ev, fmt) {
                Ok(n) => values += n,
                Err(e) if e.to_string().contains("value length") => mismatches.push(format!("{}: {e}", path.display())),
                Err(_) => {} // not decodable either way (unknown table, damaged fixture)
            }
        };
        let _ = file.walk(WalkOptions::default(), RecoveryMode::TolerateTruncatedTail, |ev, fmt| {
            one(&ev, fmt);
            if ev.event_type() == EventType::TRANSACTION_PAYLOAD {
                if let Ok(Ok(data)) = Payload::parse(&ev, fmt).map(|p| p.decompress()) {
                    let mut it = EventIter::inner(&data, fmt.clone());
                    while let Ok(Some(Step::Event(inner))) = it.next_step() {
                        one(&inner, fmt);
                    }
                }
            }
            Ok(true)
        });
    }
    eprintln!("{} files, {values} values measured both ways", files.len());
    assert!(mismatches.is_empty(), "{mismatches:#?}");
    // The MariaDB fixtures alone have a few hundred values; the corpus has every type.
    let least = if corpus.is_some() { 10_000 } else { 100 };
    assert!(values > least, "only {values} values measured");
}

/// `dump --rows` on several threads writes what the serial dump writes,
/// byte for byte, text and JSON, and stops at the same place with the same
/// error on a damaged file. Chunks of one event (`chunk` 1: every event is
/// cut off from the one before) show that each chunk starts from the FDE and
/// table maps seen before it.
#[test]
fn parallel_dump_equals_serial() {
    let mut files: Vec<(PathBuf, RecoveryMode)> =
        mariadb_pairs().into_iter().map(|(b, _)| (b, RecoveryMode::TolerateTruncatedTail)).collect();
    if let Some(corpus) = corpus_dir() {
        files.extend(zalora_pairs(&corpus).into_iter().map(|(b, _)| (b, RecoveryMode::TolerateTruncatedTail)));
    }
    // Damaged: a tail cut inside an event is an error here.
    let torn = testdata_dir().join("mariadb/crashed-master/master/mysql-bin.000002.truncated");
    files.push((torn, RecoveryMode::AbsoluteConsistency));
    let mut rows_lines = 0;
    for (bin, recovery) in files {
        let file = open(&bin);
        for json in [false, true] {
            let (serial, serial_err) = dump_with(&file, json, recovery, 1, 0);
            rows_lines += hash_lines(&serial).len();
            for (threads, chunk) in [(2, 1), (3, 300), (2, 0)] {
                let (par, par_err) = dump_with(&file, json, recovery, threads, chunk);
                let what = format!("{} json={json} threads={threads} chunk={chunk}", bin.display());
                let lines = |b: &[u8]| b.split(|&c| c == b'\n').map(<[u8]>::to_vec).collect::<Vec<_>>();
                assert_lines_eq(&what, &lines(&par), &lines(&serial));
                assert_eq!(par_err, serial_err, "{what}");
            }
        }
        // --start-position and --stop-position inside the file: the table
        // maps before the start are still read.
        let len = std::fs::metadata(&bin).unwrap().len();
        let mut opts = DumpOptions { rows: true, recovery, start_position: Some(len / 3), ..DumpOptions::default() };
        opts.stop_position = Some(len - len / 4);
        let serial = dump_opts(&file, &opts);
        let par = dump_opts(&file, &DumpOptions { threads: 2, chunk_bytes: 1, ..opts.clone() });
        assert!(par == serial, "{} with start/stop positions: parallel differs", bin.display());
    }
    assert!(rows_lines > 100, "only {rows_lines} ### lines compared");
}

/// The installed `mariadb-binlog -v`, run now on every MariaDB fixture,
/// prints the same `###` lines as `dump --rows` on two threads (the stored
/// references above could be stale; the tool on this machine cannot).
#[test]
fn dump_rows_matches_installed_mariadb_binlog() {
    let Ok(probe) = std::process::Command::new("mariadb-binlog").arg("--version").output() else {
        eprintln!("\n!!!!!!!! SKIPPED: mariadb-binlog is not installed !!!!!!!!\n");
        return;
    };
    assert!(probe.status.success(), "mariadb-binlog --version failed");
    let mut compared = 0;
    for (bin, _) in mariadb_pairs() {
        let tool = std::process::Command::new("mariadb-binlog").arg("-v").arg(&bin).output().unwrap();
        assert!(
            tool.status.success(),
            "mariadb-binlog -v {}: {}",
            bin.display(),
            String::from_utf8_lossy(&tool.stderr)
        );
        let want = hash_lines(&tool.stdout);
        let (ours, err) = dump_with(&open(&bin), false, RecoveryMode::TolerateTruncatedTail, 2, 0);
        assert_eq!(err, "", "{}", bin.display());
        assert_lines_eq(&format!("dump --rows {} vs mariadb-binlog -v", bin.display()), &hash_lines(&ours), &want);
        compared += want.len();
    }
    assert!(compared > 100, "only {compared} ### lines compared");
}
