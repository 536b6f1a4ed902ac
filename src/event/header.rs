//! The 19-byte v4 common header.

use super::types::EventType;

/// Length of the v4 common header.
pub const HEADER_LEN: usize = 19;

/// The common header of every v4 event, decoded. All fields little-endian on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Seconds since the epoch when the statement began.
    pub timestamp: u32,
    /// Event type code.
    pub event_type: EventType,
    /// Server that wrote the event originally (the master's id in a relay log).
    pub server_id: u32,
    /// Whole event length: header, post-header, body and checksum.
    pub event_size: u32,
    /// End position of this event in the binlog that first held it. In a relay
    /// log this is a *master* coordinate, so it is data, never a file offset.
    pub log_pos: u32,
    /// `LOG_EVENT_*_F` bits, see [`super::flags`].
    pub flags: u16,
}

impl Header {
    /// Decodes a header from exactly 19 bytes.
    #[inline]
    pub(crate) fn decode(b: &[u8; HEADER_LEN]) -> Header {
        Header {
            timestamp: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            event_type: EventType(b[4]),
            server_id: u32::from_le_bytes([b[5], b[6], b[7], b[8]]),
            event_size: u32::from_le_bytes([b[9], b[10], b[11], b[12]]),
            log_pos: u32::from_le_bytes([b[13], b[14], b[15], b[16]]),
            flags: u16::from_le_bytes([b[17], b[18]]),
        }
    }

    /// Decodes the header at the start of `bytes`, or `None` if fewer than 19 bytes.
    pub fn parse(bytes: &[u8]) -> Option<Header> {
        bytes.first_chunk::<HEADER_LEN>().map(Header::decode)
    }
}
