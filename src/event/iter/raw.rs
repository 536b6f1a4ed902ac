//! What the walk yields: a whole event borrowed from the file, or the
//! short tail the file ends on.

use crate::event::error::{ParseError, ParseErrorKind};
use crate::event::header::{HEADER_LEN, Header};
use crate::event::types::{EventType, flags};

/// One event, borrowed from the mapped file: header through checksum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawEvent<'a> {
    pub(super) offset: u64,
    pub(super) bytes: &'a [u8],
    pub(super) crc: bool,
}

impl<'a> RawEvent<'a> {
    /// Wraps bytes already known to hold one whole event (header included).
    /// `has_crc` says whether the last four bytes are a checksum.
    ///
    /// # Errors
    /// `EventTooSmall` when `bytes` cannot hold a header (and checksum).
    pub fn new(offset: u64, bytes: &'a [u8], has_crc: bool) -> Result<Self, ParseError> {
        let min = HEADER_LEN + if has_crc { 4 } else { 0 };
        if bytes.len() < min {
            return Err(ParseError::new(ParseErrorKind::EventTooSmall(bytes.len() as u32), offset, None));
        }
        Ok(RawEvent { offset, bytes, crc: has_crc })
    }

    /// Byte offset of the event in its file.
    #[inline]
    pub fn offset(&self) -> u64 {
        self.offset
    }
    /// Offset just past the event.
    #[inline]
    pub fn end_offset(&self) -> u64 {
        self.offset + self.bytes.len() as u64
    }
    /// The whole event, header to checksum: what a diff writer copies.
    #[inline]
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }
    /// The decoded common header.
    #[inline]
    pub fn header(&self) -> Header {
        Header::decode(self.bytes.first_chunk::<HEADER_LEN>().expect("RawEvent holds a header"))
    }
    /// Event type code.
    #[inline]
    pub fn event_type(&self) -> EventType {
        EventType(self.bytes[4])
    }
    /// Writer's server id.
    #[inline]
    pub fn server_id(&self) -> u32 {
        u32::from_le_bytes([self.bytes[5], self.bytes[6], self.bytes[7], self.bytes[8]])
    }
    /// `log_pos`: end position in the originating binlog (master coordinate in a relay log).
    #[inline]
    pub fn log_pos(&self) -> u32 {
        u32::from_le_bytes([self.bytes[13], self.bytes[14], self.bytes[15], self.bytes[16]])
    }
    /// Header flags.
    #[inline]
    pub fn flags(&self) -> u16 {
        u16::from_le_bytes([self.bytes[17], self.bytes[18]])
    }
    /// Header timestamp.
    #[inline]
    pub fn timestamp(&self) -> u32 {
        u32::from_le_bytes([self.bytes[0], self.bytes[1], self.bytes[2], self.bytes[3]])
    }
    /// Whole event length.
    #[inline]
    pub fn size(&self) -> usize {
        self.bytes.len()
    }
    /// Whether the last four bytes are a checksum.
    #[inline]
    pub fn has_checksum(&self) -> bool {
        self.crc
    }
    /// The stored checksum, if any.
    pub fn checksum(&self) -> Option<u32> {
        self.crc.then(|| {
            let n = self.bytes.len();
            u32::from_le_bytes([self.bytes[n - 4], self.bytes[n - 3], self.bytes[n - 2], self.bytes[n - 1]])
        })
    }
    /// Post-header and body, without header and checksum.
    #[inline]
    pub fn body(&self) -> &'a [u8] {
        &self.bytes[HEADER_LEN..self.bytes.len() - if self.crc { 4 } else { 0 }]
    }
    /// True for a ROTATE the master generated rather than logged: timestamp 0
    /// or log_pos 0, or the ARTIFICIAL flag.
    pub fn is_fake_rotate(&self) -> bool {
        self.event_type() == EventType::ROTATE
            && (self.flags() & flags::ARTIFICIAL != 0 || self.log_pos() == 0 || self.timestamp() == 0)
    }
}

/// A short tail: the file ends inside an event (or its header).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Incomplete {
    /// Offset where the unfinished event starts.
    pub at: u64,
    /// Bytes present from `at` to the end of the file.
    pub available: u64,
    /// Bytes the event needs (19 when even the header is cut short).
    pub needed: u64,
}

/// What the walk yields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step<'a> {
    /// A whole event.
    Event(RawEvent<'a>),
    /// The file ends inside an event; the walk is over.
    Incomplete(Incomplete),
}
