//! Master coordinates along a relay log (or a binlog).
//!
//! A relay log interleaves three kinds of events: the replica's own (its FDE,
//! its rotates to the next relay file), the master's header events (fake
//! ROTATE naming the master file, the master's FDE), and the master's data
//! events, whose `log_pos` is the end position in the master's binlog.
//! [`MasterCursor`] follows the master coordinate through them.

use crate::event::views::Rotate;
use crate::event::{EventType, Format, ParseError, RawEvent};
use crate::log::LogName;

/// What an event is, seen from the master's side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Written by the replica itself (its FDE, rotates, stop): not master data.
    Own,
    /// The master's format description.
    MasterFde,
    /// A master ROTATE (fake or real): moves the coordinate to another file.
    MasterRotate,
    /// Master per-file metadata (GTID_LIST, BINLOG_CHECKPOINT, PREVIOUS_GTIDS).
    MasterMeta,
    /// A master data event (part of a transaction).
    Data,
}

impl Origin {
    /// Whether the event is copied into a diff.
    pub fn is_data(self) -> bool {
        self == Origin::Data
    }
}

/// Tracks the master coordinate after each event.
#[derive(Clone, Debug)]
pub struct MasterCursor {
    own_server_id: Option<u32>,
    file: Option<LogName>,
    pos: Option<u64>,
    relay: bool,
}

impl MasterCursor {
    /// A cursor for a relay log written by a replica with `own_server_id`
    /// (learned from the first FDE when `None`), starting in master file `file`
    /// when known (inherited from the previous relay file).
    pub fn relay(own_server_id: Option<u32>, file: Option<LogName>) -> Self {
        MasterCursor { own_server_id, file, pos: None, relay: true }
    }

    /// A cursor for a master's own binlog `file`: every event is the master's.
    pub fn binlog(file: LogName) -> Self {
        MasterCursor { own_server_id: None, file: Some(file), pos: Some(4), relay: false }
    }

    /// The replica's server id, once known.
    pub fn own_server_id(&self) -> Option<u32> {
        self.own_server_id
    }

    /// Master file of the coordinate, once known.
    pub fn file(&self) -> Option<&LogName> {
        self.file.as_ref()
    }

    /// Master position after the last event, once known.
    pub fn pos(&self) -> Option<u64> {
        self.pos
    }

    /// Advances over one event and says what it was.
    ///
    /// # Errors
    /// A malformed ROTATE body, or a rotate naming something that is not a log file.
    pub fn advance(&mut self, ev: &RawEvent<'_>, fmt: &Format) -> Result<Origin, ParseError> {
        let t = ev.event_type();
        let sid = ev.server_id();
        if self.relay {
            if t == EventType::FORMAT_DESCRIPTION && self.own_server_id.is_none() {
                // The first FDE of a relay log is the replica's own.
                self.own_server_id = Some(sid);
                return Ok(Origin::Own);
            }
            let own = Some(sid) == self.own_server_id;
            let own_control = matches!(
                t,
                EventType::FORMAT_DESCRIPTION
                    | EventType::ROTATE
                    | EventType::STOP
                    | EventType::PREVIOUS_GTIDS
                    | EventType::MARIA_GTID_LIST
                    | EventType::MARIA_BINLOG_CHECKPOINT
            );
            // A ROTATE with the replica's id is its own switch to the next relay
            // file, unless it is artificial (MySQL 8 writes the master's
            // position rotate with server_id 0, which is never our id).
            if own && own_control && !(t == EventType::ROTATE && ev.is_fake_rotate() && sid == 0) {
                return Ok(Origin::Own);
            }
        }
        if !self.relay && t != EventType::ROTATE {
            // In the master's own binlog the coordinate is the file offset.
            self.pos = Some(ev.end_offset());
        }
        Ok(match t {
            EventType::FORMAT_DESCRIPTION => Origin::MasterFde,
            EventType::ROTATE => {
                let r = Rotate::parse(ev, fmt)?;
                let name = std::str::from_utf8(r.next_file).ok().and_then(|s| LogName::from_path_str(s).ok()).ok_or(
                    ParseError {
                        kind: crate::event::ParseErrorKind::BadValue("rotate file name"),
                        at: ev.offset(),
                        event_type: Some(t),
                    },
                )?;
                self.file = Some(name);
                self.pos = Some(r.position);
                Origin::MasterRotate
            }
            EventType::PREVIOUS_GTIDS
            | EventType::MARIA_GTID_LIST
            | EventType::MARIA_BINLOG_CHECKPOINT
            | EventType::STOP
            | EventType::HEARTBEAT
            | EventType::HEARTBEAT_V2 => {
                if self.relay && ev.log_pos() != 0 && self.pos.is_some_and(|p| u64::from(ev.log_pos()) > p) {
                    self.pos = Some(ev.log_pos().into());
                }
                Origin::MasterMeta
            }
            _ => {
                if self.relay && ev.log_pos() != 0 {
                    self.pos = Some(ev.log_pos().into());
                }
                Origin::Data
            }
        })
    }
}
