//! Builds synthetic events and files for tests: real layouts, computed CRCs.

use binlog_diff::event::checksum::compute_crc32;

/// One event: header fields + body; `crc` appends a CRC32.
pub fn event(ty: u8, server_id: u32, log_pos: u32, flags: u16, body: &[u8], crc: bool) -> Vec<u8> {
    let size = 19 + body.len() + if crc { 4 } else { 0 };
    let mut v = Vec::with_capacity(size);
    v.extend_from_slice(&1_700_000_000u32.to_le_bytes());
    v.push(ty);
    v.extend_from_slice(&server_id.to_le_bytes());
    v.extend_from_slice(&(size as u32).to_le_bytes());
    v.extend_from_slice(&log_pos.to_le_bytes());
    v.extend_from_slice(&flags.to_le_bytes());
    v.extend_from_slice(body);
    if crc {
        let c = compute_crc32(&v);
        v.extend_from_slice(&c.to_le_bytes());
    }
    v
}

/// A checksum-aware FDE (MariaDB 10.11 or MySQL 8.0 style) with alg 0/1.
/// The CRC field is always present; with alg OFF it is zero, as servers write it.
pub fn fde(server_id: u32, version: &str, crc32: bool, flags: u16) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&4u16.to_le_bytes());
    let mut sv = [0u8; 50];
    sv[..version.len()].copy_from_slice(version.as_bytes());
    body.extend_from_slice(&sv);
    body.extend_from_slice(&0u32.to_le_bytes());
    body.push(19);
    // v4 post-header lengths for types 1..=42 (MySQL 8.0 values); MariaDB's
    // table is longer but these are the ones our views read.
    let mut ph = vec![0u8; if version.contains("MariaDB") { 171 } else { 41 }];
    for (t, l) in [
        (1u8, 56u8),
        (2, 13),
        (4, 8),
        (15, 98),
        (17, 4),
        (18, 26),
        (19, 8),
        (23, 8),
        (24, 8),
        (25, 8),
        (30, 10),
        (31, 10),
        (32, 10),
        (33, 42),
        (34, 42),
    ] {
        ph[t as usize - 1] = l;
    }
    if ph.len() >= 171 {
        ph[161] = 19; // MariaDB GTID
        ph[160] = 4; // BINLOG_CHECKPOINT
        ph[162] = 4; // GTID_LIST
        ph[164] = 13; // QUERY_COMPRESSED
    }
    body.extend_from_slice(&ph);
    body.push(crc32 as u8);
    let mut v = event(15, server_id, 0, flags, &body, true);
    if !crc32 {
        let n = v.len();
        v[n - 4..].copy_from_slice(&[0, 0, 0, 0]);
    }
    let n = v.len() as u32;
    v[13..17].copy_from_slice(&(4 + n).to_le_bytes());
    if crc32 {
        // log_pos changed: recompute.
        let n = v.len();
        let c = compute_crc32(&v[..n - 4]);
        v[n - 4..].copy_from_slice(&c.to_le_bytes());
    }
    v
}

/// QUERY event body.
pub fn query_body(db: &str, sql: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&7u32.to_le_bytes()); // thread id
    b.extend_from_slice(&0u32.to_le_bytes()); // exec time
    b.push(db.len() as u8);
    b.extend_from_slice(&0u16.to_le_bytes()); // error code
    let sv: &[u8] = &[0, 0, 0, 0, 0]; // Q_FLAGS2 = 0
    b.extend_from_slice(&(sv.len() as u16).to_le_bytes());
    b.extend_from_slice(sv);
    b.extend_from_slice(db.as_bytes());
    b.push(0);
    b.extend_from_slice(sql);
    b
}

/// ROTATE body.
pub fn rotate_body(name: &str, pos: u64) -> Vec<u8> {
    let mut b = pos.to_le_bytes().to_vec();
    b.extend_from_slice(name.as_bytes());
    b
}

/// Concatenates magic and events.
pub fn file(events: &[Vec<u8>]) -> Vec<u8> {
    let mut v = vec![0xfe, b'b', b'i', b'n'];
    for e in events {
        v.extend_from_slice(e);
    }
    v
}
