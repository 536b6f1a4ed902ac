//! Event checksums (WL#2540).
//!
//! CRC-32 (the zlib/IEEE polynomial) over everything but the last four bytes,
//! stored little-endian in those four bytes. Two rules that readers get wrong:
//! - the FDE is hashed with `LOG_EVENT_BINLOG_IN_USE_F` cleared, because the
//!   server clears that flag in place on close without rewriting the CRC;
//! - events inside a `TRANSACTION_PAYLOAD_EVENT` carry no checksum (WL#3549).

use super::header::HEADER_LEN;
use super::types::{EventType, flags};

/// Checksum algorithm from the FDE's `checksum_alg` byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChecksumAlg {
    /// No checksum (alg byte 0, or a pre-5.6.1 FDE with no alg byte).
    Off,
    /// CRC-32 (alg byte 1).
    Crc32,
}

impl ChecksumAlg {
    /// Decodes the FDE alg byte; `None` for values the servers never write.
    pub const fn from_byte(b: u8) -> Option<ChecksumAlg> {
        match b {
            0 => Some(ChecksumAlg::Off),
            1 => Some(ChecksumAlg::Crc32),
            _ => None,
        }
    }

    /// Bytes the checksum takes at the end of each event.
    #[allow(clippy::len_without_is_empty)] // a size, not a container
    pub const fn len(self) -> usize {
        match self {
            ChecksumAlg::Off => 0,
            ChecksumAlg::Crc32 => 4,
        }
    }

    /// The name `mysqlbinlog` and `SHOW VARIABLES` use.
    pub const fn name(self) -> &'static str {
        match self {
            ChecksumAlg::Off => "NONE",
            ChecksumAlg::Crc32 => "CRC32",
        }
    }
}

/// Stored and computed CRC of a whole event (header to checksum inclusive).
/// Returns `None` if the event is shorter than a header plus four bytes.
pub fn crc32_of_event(event: &[u8]) -> Option<(u32, u32)> {
    if event.len() < HEADER_LEN + 4 {
        return None;
    }
    let (data, stored) = event.split_at(event.len() - 4);
    let stored = u32::from_le_bytes([stored[0], stored[1], stored[2], stored[3]]);
    let computed = if data[4] == EventType::FORMAT_DESCRIPTION.0 && data[17] & (flags::BINLOG_IN_USE as u8) != 0 {
        // Hash a copy of the header with IN_USE cleared, then the rest in place.
        let mut h = crc32fast::Hasher::new();
        let mut hdr = [0u8; HEADER_LEN];
        hdr.copy_from_slice(&data[..HEADER_LEN]);
        hdr[17] &= !(flags::BINLOG_IN_USE as u8);
        h.update(&hdr);
        h.update(&data[HEADER_LEN..]);
        h.finalize()
    } else {
        crc32fast::hash(data)
    };
    Some((stored, computed))
}

/// Computes the CRC a writer must store for `event_without_crc` (an event's bytes
/// up to but excluding the checksum), with the FDE rule applied.
pub fn compute_crc32(event_without_crc: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    if event_without_crc.len() >= HEADER_LEN && event_without_crc[4] == EventType::FORMAT_DESCRIPTION.0 {
        let mut hdr = [0u8; HEADER_LEN];
        hdr.copy_from_slice(&event_without_crc[..HEADER_LEN]);
        hdr[17] &= !(flags::BINLOG_IN_USE as u8);
        h.update(&hdr);
        h.update(&event_without_crc[HEADER_LEN..]);
    } else {
        h.update(event_without_crc);
    }
    h.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(ty: u8, flags: u16, body: &[u8]) -> Vec<u8> {
        let size = (HEADER_LEN + body.len() + 4) as u32;
        let mut v = Vec::new();
        v.extend_from_slice(&0u32.to_le_bytes());
        v.push(ty);
        v.extend_from_slice(&1u32.to_le_bytes());
        v.extend_from_slice(&size.to_le_bytes());
        v.extend_from_slice(&(4 + size).to_le_bytes());
        v.extend_from_slice(&flags.to_le_bytes());
        v.extend_from_slice(body);
        let crc = compute_crc32(&v);
        v.extend_from_slice(&crc.to_le_bytes());
        v
    }

    #[test]
    fn plain_event_crc_round_trips() {
        let e = event(2, 0, b"hello");
        let (s, c) = crc32_of_event(&e).unwrap();
        assert_eq!(s, c);
        assert_eq!(c, crc32fast::hash(&e[..e.len() - 4]));
    }

    #[test]
    fn fde_crc_ignores_in_use_flag() {
        // Written while open (IN_USE set), CRC computed as if cleared.
        let e = event(15, flags::BINLOG_IN_USE, b"fde-body");
        let (s, c) = crc32_of_event(&e).unwrap();
        assert_eq!(s, c, "IN_USE must be masked for the FDE");
        // The raw bytes do not hash to the stored value.
        assert_ne!(crc32fast::hash(&e[..e.len() - 4]), s);
        // Clearing the flag in place (as the server does on close) keeps it valid.
        let mut closed = e.clone();
        closed[17] &= !1;
        let (s2, c2) = crc32_of_event(&closed).unwrap();
        assert_eq!(s2, c2);
    }

    #[test]
    fn in_use_flag_is_not_masked_on_other_events() {
        let mut e = event(2, 0, b"q");
        e[17] |= 1;
        let (s, c) = crc32_of_event(&e).unwrap();
        assert_ne!(s, c);
    }

    #[test]
    fn too_short_has_no_crc() {
        assert!(crc32_of_event(&[0u8; 22]).is_none());
    }
}
