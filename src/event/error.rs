//! The parser's error: small, `Copy`, no allocation (gimli's model).
//! File names are attached one layer up, in [`crate::error::Error`].

use std::fmt;

use super::types::EventType;

/// What went wrong while decoding. Offsets live in [`ParseError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// The file does not start with `\xfebin`.
    BadMagic,
    /// A v1 (3.23) or v3 (4.0/4.1) binlog; only v4 is supported.
    UnsupportedBinlogVersion(u16),
    /// The first event is not a FORMAT_DESCRIPTION_EVENT.
    NoFormatDescription,
    /// `event_size` is smaller than the header (and checksum) it must hold.
    EventTooSmall(u32),
    /// The FDE names a checksum algorithm the servers never write.
    UnknownChecksumAlg(u8),
    /// The FDE gives a common-header length other than 19.
    BadHeaderLen(u8),
    /// Stored and computed CRC32 differ.
    ChecksumMismatch {
        /// CRC found in the event's last four bytes.
        stored: u32,
        /// CRC computed over the event.
        computed: u32,
    },
    /// A type code unknown to MySQL and MariaDB without the IGNORABLE flag.
    UnknownEventType(u8),
    /// A body field runs past the end of the event.
    Truncated(&'static str),
    /// A field holds a value that cannot be right.
    BadValue(&'static str),
    /// A compressed body could not be decompressed.
    Decompress(&'static str),
    /// A TRANSACTION_PAYLOAD_EVENT inside another.
    NestedPayload,
    /// Events after a START_ENCRYPTION_EVENT are encrypted (MariaDB `encrypt_binlog`).
    Encrypted,
    /// An event's `event_size` disagrees with what its `log_pos` (and the
    /// events before it) say: a damaged length field. Raised for an event
    /// that runs past the end of the file, which is a torn end only when
    /// nothing contradicts it, and then names the event whose header is
    /// contradicted (see [`super::EventIter`]).
    LengthContradictsLogPos {
        /// The `event_size` in the header.
        event_size: u32,
        /// The `log_pos` in the header.
        log_pos: u32,
        /// The length `log_pos` gives the event: `log_pos` minus the
        /// event's offset in a binlog, minus the previous event's `log_pos`
        /// in a relay log.
        by_log_pos: i64,
    },
    /// The file ends before its FORMAT_DESCRIPTION_EVENT is whole (0 bytes,
    /// the magic number only, a torn FDE): not a binlog. Only a file a
    /// crashed server had just created looks like this.
    EndsBeforeFormatDescription {
        /// The file's length.
        len: u64,
    },
}

/// A decoding error at a byte offset, with the event type when known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// What went wrong.
    pub kind: ParseErrorKind,
    /// Byte offset of the event (or of the field, for magic and header errors).
    pub at: u64,
    /// Type of the event being decoded, if the header was readable.
    pub event_type: Option<EventType>,
}

impl ParseError {
    pub(crate) const fn new(kind: ParseErrorKind, at: u64, event_type: Option<EventType>) -> Self {
        ParseError { kind, at, event_type }
    }
}

impl fmt::Display for ParseErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ParseErrorKind::BadMagic => f.write_str("not a binlog file (bad magic number)"),
            ParseErrorKind::UnsupportedBinlogVersion(v) => {
                write!(f, "binlog format v{v} (MySQL < 5.0) is not supported; only v4 is")
            }
            ParseErrorKind::NoFormatDescription => f.write_str("first event is not a FORMAT_DESCRIPTION_EVENT"),
            ParseErrorKind::EventTooSmall(s) => {
                write!(f, "event_size {s} is too small for an event")
            }
            ParseErrorKind::UnknownChecksumAlg(a) => write!(f, "unknown checksum algorithm {a}"),
            ParseErrorKind::BadHeaderLen(l) => write!(f, "unsupported common header length {l}"),
            ParseErrorKind::ChecksumMismatch { stored, computed } => {
                write!(f, "checksum mismatch: stored 0x{stored:08x}, computed 0x{computed:08x}")
            }
            ParseErrorKind::UnknownEventType(t) => {
                write!(f, "unknown event type {t} without the IGNORABLE flag")
            }
            ParseErrorKind::Truncated(what) => write!(f, "event body too short for {what}"),
            ParseErrorKind::BadValue(what) => write!(f, "invalid {what}"),
            ParseErrorKind::Decompress(what) => write!(f, "cannot decompress {what}"),
            ParseErrorKind::NestedPayload => f.write_str("TRANSACTION_PAYLOAD_EVENT nested in another"),
            ParseErrorKind::Encrypted => {
                f.write_str("encrypted binlog: events after START_ENCRYPTION_EVENT cannot be read")
            }
            ParseErrorKind::LengthContradictsLogPos { event_size, log_pos, by_log_pos } => write!(
                f,
                "event_size {event_size} contradicts log_pos {log_pos}, which makes the event {by_log_pos} bytes long: \
                 a damaged length, not a torn end"
            ),
            ParseErrorKind::EndsBeforeFormatDescription { len } => write!(
                f,
                "not a binlog: the file ({len} bytes) ends before its FORMAT_DESCRIPTION_EVENT \
                 (a binlog holds at least the 4-byte magic number and one)"
            ),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.event_type {
            Some(t) => write!(f, "at {} ({}): {}", self.at, t, self.kind),
            None => write!(f, "at {}: {}", self.at, self.kind),
        }
    }
}

impl std::error::Error for ParseError {}
