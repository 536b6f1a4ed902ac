//! Decompression of MariaDB `log_bin_compress` bodies (zlib) and MySQL
//! TRANSACTION_PAYLOAD bodies (zstd). Output size is bounded by the declared
//! length, which is itself capped, so a hostile length cannot exhaust memory.

use std::io::Read;

use super::error::ParseErrorKind;

/// Largest decompressed body we accept (MySQL's max_allowed_packet ceiling).
pub const MAX_UNCOMPRESSED: u64 = 1 << 30;

/// MariaDB compressed body: `0x80 | lenlen`, the uncompressed length in
/// `lenlen` big-endian bytes, then a zlib stream.
pub(crate) fn maria_uncompress(buf: &[u8]) -> Result<Vec<u8>, ParseErrorKind> {
    let first = *buf.first().ok_or(ParseErrorKind::Truncated("compressed header"))?;
    if first & 0xe0 != 0x80 {
        return Err(ParseErrorKind::Decompress("compressed header byte"));
    }
    let lenlen = (first & 0x07) as usize;
    if lenlen == 0 || lenlen > 4 || buf.len() < 1 + lenlen {
        return Err(ParseErrorKind::Decompress("compressed length"));
    }
    let len = buf[1..1 + lenlen].iter().fold(0u64, |a, &b| (a << 8) | b as u64);
    if len > MAX_UNCOMPRESSED {
        return Err(ParseErrorKind::Decompress("compressed length"));
    }
    let mut out = Vec::with_capacity(len as usize);
    flate2::read::ZlibDecoder::new(&buf[1 + lenlen..])
        .take(len + 1)
        .read_to_end(&mut out)
        .map_err(|_| ParseErrorKind::Decompress("zlib stream"))?;
    if out.len() as u64 != len {
        return Err(ParseErrorKind::Decompress("zlib stream length"));
    }
    Ok(out)
}

/// zstd frame to bytes, expecting exactly `expected` bytes.
pub(crate) fn zstd_uncompress(buf: &[u8], expected: u64) -> Result<Vec<u8>, ParseErrorKind> {
    if expected > MAX_UNCOMPRESSED {
        return Err(ParseErrorKind::Decompress("payload uncompressed_size"));
    }
    let mut out = Vec::with_capacity(expected as usize);
    let dec = zstd::stream::read::Decoder::with_buffer(buf).map_err(|_| ParseErrorKind::Decompress("zstd frame"))?;
    dec.take(expected + 1).read_to_end(&mut out).map_err(|_| ParseErrorKind::Decompress("zstd frame"))?;
    if out.len() as u64 != expected {
        return Err(ParseErrorKind::Decompress("payload length"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn maria_round_trip() {
        let text = b"INSERT INTO t VALUES (1),(2),(3),(4),(5),(6),(7),(8)";
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(text).unwrap();
        let mut buf = vec![0x80 | 1, text.len() as u8];
        buf.extend(z.finish().unwrap());
        assert_eq!(maria_uncompress(&buf).unwrap(), text);
        // Wrong declared length is an error, not a short result.
        buf[1] += 1;
        assert!(maria_uncompress(&buf).is_err());
        assert!(maria_uncompress(&[0x81]).is_err());
        assert!(maria_uncompress(&[]).is_err());
    }
}
