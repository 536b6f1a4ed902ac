//! The event walk: a fused iterator of zero-copy [`RawEvent`]s over a file's
//! bytes. This is the hot loop: no allocation per event, one bounds check for
//! the header, one for the body, an optional CRC.
//!
//! The walk goes by `event_size`, never by `log_pos` (a master coordinate in
//! relay logs, transaction-relative in some 5.0 files). A short tail is a
//! result, [`Step::Incomplete`], not an EOF and not an error (csv-core's
//! `InputEmpty`): a relay log being written or a crashed master ends that way.
//!
//! # Torn end or damage
//!
//! An event that runs past the end of the file is a torn end only when
//! nothing contradicts it; this walk is the one place that decides, so every
//! reader (inspection, mapping, cutting, applying) says the same of the same
//! bytes. A bit flipped in a length field in the middle of a file also makes
//! an event "run past the end", with whole events after it. What counts as
//! evidence:
//! - fewer than 19 bytes of header: none; torn.
//! - a header whose type is no event type (or not an FDE first): damage.
//! - `log_pos` 0: none (fake rotates, some relay-log events); torn.
//! - the file's own coordinates: in a binlog (its events so far end where
//!   their `log_pos` say) and for the file's own events (the first FDE; in
//!   a relay log, events with the relay log's own server id), `log_pos` must
//!   be `offset + event_size`, beyond the end of the file; and no earlier
//!   event of such a file may have broken that rule.
//! - master coordinates otherwise (a relay log, a diff): when the previous
//!   master event's `log_pos` is known and chained (it is its predecessor's
//!   plus its own size), `log_pos - previous log_pos` may not be smaller than
//!   `event_size`. Larger is not evidence: a master leaves out events a
//!   replica does not ask for (MariaDB's ANNOTATE_ROWS), and a size made
//!   *smaller* by damage still runs past the end only if the real one does.
//!   ROTATEs, `log_pos` 0 and the replica's own events break the chain.
//!
//! Anything else is damage: [`ParseErrorKind::LengthContradictsLogPos`]. That
//! a torn event may only end the *newest* file of a set is for the caller
//! (`log::RecoveryMode::for_file`).
//!
//! # Layout
//!
//! `walk.rs`: the fused iterator ([`EventIter`]); `raw.rs`: what it yields;
//! `end_rule.rs`: the evidence and the torn-or-damaged judgement above;
//! `window.rs`: a walk over a file read in pieces ([`Suspended`]).
//!
//! [`ParseErrorKind::LengthContradictsLogPos`]: super::ParseErrorKind::LengthContradictsLogPos

mod end_rule;
mod raw;
#[cfg(test)]
mod tests;
mod walk;
mod window;

pub use raw::{Incomplete, RawEvent, Step};
pub use walk::{EventIter, WalkOptions};
pub use window::Suspended;

/// The four bytes every binlog and relay log starts with.
pub const MAGIC: [u8; 4] = [0xfe, b'b', b'i', b'n'];
