//! MySQL TRANSACTION_PAYLOAD_EVENT (40): a whole transaction (minus its GTID)
//! compressed. Body: TLV fields (type and length as packed integers), then
//! the payload. Inner events carry no checksum (WL#3549) and take their
//! positions from the outer event.

use super::bytes::Cursor;
use super::compress::zstd_uncompress;
use super::error::{ParseError, ParseErrorKind};
use super::fde::Format;
use super::iter::RawEvent;
use super::types::EventType;
use super::views::at;

/// Compression of a payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayloadCompression {
    /// zstd (0).
    Zstd,
    /// Stored uncompressed (255).
    None,
}

/// A TRANSACTION_PAYLOAD_EVENT's header fields and payload bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Payload<'a> {
    /// Compression.
    pub compression: PayloadCompression,
    /// Declared uncompressed size.
    pub uncompressed_size: u64,
    /// Payload bytes as stored.
    pub data: &'a [u8],
}

impl<'a> Payload<'a> {
    /// # Errors
    /// Wrong type, malformed TLV header, unknown compression.
    pub fn parse(ev: &RawEvent<'a>, _fmt: &Format) -> Result<Self, ParseError> {
        if ev.event_type() != EventType::TRANSACTION_PAYLOAD {
            return at(ev, Err(ParseErrorKind::BadValue("event type for this view")));
        }
        at(
            ev,
            (|| {
                let mut c = Cursor::new(ev.body());
                let mut size = None;
                let mut comp = None;
                let mut unc = None;
                loop {
                    let ty = c.packed("payload field type")?;
                    if ty == 0 {
                        break; // END_MARK
                    }
                    let len = c.packed("payload field length")? as usize;
                    let v = c.take(len, "payload field")?;
                    let mut vc = Cursor::new(v);
                    match ty {
                        1 => size = Some(vc.packed("payload_size")?),
                        2 => comp = Some(vc.packed("compression_type")?),
                        3 => unc = Some(vc.packed("uncompressed_size")?),
                        _ => {} // unknown fields are skipped by length
                    }
                }
                let compression = match comp.unwrap_or(255) {
                    0 => PayloadCompression::Zstd,
                    255 => PayloadCompression::None,
                    _ => return Err(ParseErrorKind::BadValue("payload compression type")),
                };
                let rest = c.rest();
                let n = size.map(|s| s as usize).unwrap_or(rest.len());
                if n > rest.len() {
                    return Err(ParseErrorKind::Truncated("payload"));
                }
                let data = &rest[..n];
                Ok(Payload { compression, uncompressed_size: unc.unwrap_or(data.len() as u64), data })
            })(),
        )
    }

    /// The inner events' bytes (decompressed), ready for [`super::EventIter::inner`].
    ///
    /// # Errors
    /// `Decompress` when the frame is damaged or its size differs from the declared one.
    pub fn decompress(&self) -> Result<std::borrow::Cow<'a, [u8]>, ParseErrorKind> {
        match self.compression {
            PayloadCompression::None => Ok(std::borrow::Cow::Borrowed(self.data)),
            PayloadCompression::Zstd => zstd_uncompress(self.data, self.uncompressed_size).map(std::borrow::Cow::Owned),
        }
    }
}
