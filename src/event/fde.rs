//! FORMAT_DESCRIPTION_EVENT (15) and the [`Format`] it sets up.
//!
//! Body: `binlog_version u16 | server_version char[50] | create_timestamp u32 |
//! header_len u8 | post_header_len[N]`, then `checksum_alg u8` and a 4-byte CRC
//! when the writer is checksum-aware (MySQL ≥ 5.6.1, MariaDB ≥ 5.3). Even with
//! alg OFF such an FDE keeps the CRC field.

use super::bytes::Cursor;
use super::checksum::ChecksumAlg;
use super::error::ParseErrorKind;
use super::header::HEADER_LEN;
use super::types::EventType;

/// Server family that wrote a file, from the FDE's server version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Flavor {
    /// Oracle MySQL (and Percona, Aurora…).
    MySql,
    /// MariaDB (`-MariaDB` in the version string).
    MariaDb,
}

/// What an FDE says about the events it governs. Built once per FDE and
/// borrowed by typed views; never cloned per event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Format {
    /// Binlog format version (4 for every supported file).
    pub binlog_version: u16,
    server_version: [u8; 50],
    server_version_len: u8,
    /// `(major, minor, patch)` parsed from the server version.
    pub version: (u16, u16, u16),
    /// MySQL or MariaDB.
    pub flavor: Flavor,
    /// `create_timestamp` (non-zero only in the first binlog after server start).
    pub create_timestamp: u32,
    /// Common header length (19).
    pub header_len: u8,
    post_header: [u8; 256],
    n_post_header: u16,
    /// Checksum algorithm of the events after this FDE.
    pub checksum: ChecksumAlg,
    /// Whether the FDE itself carried an alg byte (checksum-aware writer).
    pub checksum_aware: bool,
    /// `server_id` from the FDE's header.
    pub server_id: u32,
}

impl Format {
    /// The server version string, e.g. `10.11.6-MariaDB-log`.
    pub fn server_version(&self) -> &str {
        std::str::from_utf8(&self.server_version[..self.server_version_len as usize]).unwrap_or("?")
    }

    /// Post-header length for a type, from the FDE's table, else the
    /// v4 default for types the FDE predates.
    pub fn post_header_len(&self, t: EventType) -> usize {
        let i = t.0 as usize;
        if i >= 1 && i <= self.n_post_header as usize {
            self.post_header[i - 1] as usize
        } else {
            default_post_header_len(t)
        }
    }

    /// Whether events under `other` are encoded the same way (checksum,
    /// binlog version, post-header lengths): a diff needs a new FDE only
    /// where this changes.
    pub fn same_encoding(&self, other: &Format) -> bool {
        self.checksum == other.checksum
            && self.binlog_version == other.binlog_version
            && self.flavor == other.flavor
            && self.post_header[..self.n_post_header as usize] == other.post_header[..other.n_post_header as usize]
    }

    /// Number of entries in the FDE's post-header table.
    pub fn post_header_count(&self) -> usize {
        self.n_post_header as usize
    }

    /// Parses an FDE event (whole bytes, header included). `server_id` comes
    /// from its header. The checksum is not verified here.
    ///
    /// # Errors
    /// `Truncated` when the body is shorter than the fixed fields,
    /// `BadHeaderLen` for a header length other than 19, `UnknownChecksumAlg`
    /// for an alg byte other than 0 or 1, and `UnsupportedBinlogVersion` for
    /// a binlog version other than 4.
    pub fn from_fde_event(event: &[u8]) -> Result<Format, ParseErrorKind> {
        let server_id =
            u32::from_le_bytes(event.get(5..9).ok_or(ParseErrorKind::Truncated("header"))?.try_into().unwrap());
        let mut c = Cursor::new(event.get(HEADER_LEN..).ok_or(ParseErrorKind::Truncated("header"))?);
        let binlog_version = c.u16("binlog_version")?;
        if binlog_version != 4 {
            return Err(ParseErrorKind::UnsupportedBinlogVersion(binlog_version));
        }
        let sv = c.take(50, "server_version")?;
        let create_timestamp = c.u32("create_timestamp")?;
        let header_len = c.u8("header_len")?;
        if header_len as usize != HEADER_LEN {
            return Err(ParseErrorKind::BadHeaderLen(header_len));
        }
        let sv_len = sv.iter().position(|&b| b == 0).unwrap_or(50);
        let mut server_version = [0u8; 50];
        server_version[..sv_len].copy_from_slice(&sv[..sv_len]);
        let version = parse_version(&sv[..sv_len]);
        let flavor = if contains(&sv[..sv_len], b"MariaDB") { Flavor::MariaDb } else { Flavor::MySql };
        let checksum_aware = match flavor {
            Flavor::MariaDb => version >= (5, 3, 0),
            Flavor::MySql => version >= (5, 6, 1),
        };
        let rest = c.rest();
        let (table, checksum) = if checksum_aware {
            // table | alg u8 | crc u32
            if rest.len() < 5 {
                return Err(ParseErrorKind::Truncated("checksum_alg"));
            }
            let alg = rest[rest.len() - 5];
            let alg = ChecksumAlg::from_byte(alg).ok_or(ParseErrorKind::UnknownChecksumAlg(alg))?;
            (&rest[..rest.len() - 5], alg)
        } else {
            (rest, ChecksumAlg::Off)
        };
        let n = table.len().min(255);
        let mut post_header = [0u8; 256];
        post_header[..n].copy_from_slice(&table[..n]);
        Ok(Format {
            binlog_version,
            server_version,
            server_version_len: sv_len as u8,
            version,
            flavor,
            create_timestamp,
            header_len,
            post_header,
            n_post_header: n as u16,
            checksum,
            checksum_aware,
            server_id,
        })
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Leading `major.minor.patch` of a version string; missing parts are 0.
pub(crate) fn parse_version(s: &[u8]) -> (u16, u16, u16) {
    let mut parts = [0u16; 3];
    let mut i = 0;
    let mut any = false;
    for &b in s {
        match b {
            b'0'..=b'9' => {
                parts[i] = parts[i].saturating_mul(10).saturating_add((b - b'0') as u16);
                any = true;
            }
            b'.' if any && i < 2 => {
                i += 1;
                any = false;
            }
            _ => break,
        }
    }
    (parts[0], parts[1], parts[2])
}

/// v4 post-header lengths (`binlog_event.h` `*_HEADER_LEN`), for types newer
/// than the FDE that describes them.
pub(crate) const fn default_post_header_len(t: EventType) -> usize {
    match t.0 {
        2 => 13,               // QUERY
        4 => 8,                // ROTATE
        5 | 13 | 14 | 16 => 0, // INTVAR RAND USER_VAR XID
        15 => 57 + 41,         // FDE
        17 => 4,               // BEGIN_LOAD_QUERY
        18 => 13 + 13,         // EXECUTE_LOAD_QUERY
        19 => 8,               // TABLE_MAP
        20..=25 => 8,          // rows v1
        26 => 2,               // INCIDENT
        29 => 0,               // ROWS_QUERY
        30..=32 | 39 => 10,    // rows v2
        33 | 34 => 42,         // GTID
        35 => 0,
        38 => 0,
        40 => 0,
        160 => 0,
        161 => 4,
        162 => 19,
        163 => 4,
        164 => 0,
        165 => 13,
        166..=168 => 8,
        169..=171 => 10,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(parse_version(b"10.11.6-MariaDB-log"), (10, 11, 6));
        assert_eq!(parse_version(b"5.6.4-m7-debug"), (5, 6, 4));
        assert_eq!(parse_version(b"5.0.16-debug"), (5, 0, 16));
        assert_eq!(parse_version(b"8.0"), (8, 0, 0));
        assert_eq!(parse_version(b""), (0, 0, 0));
        assert_eq!(parse_version(b"99999999.1.2"), (u16::MAX, 1, 2));
    }
}
