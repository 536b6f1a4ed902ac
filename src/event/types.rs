//! Event type codes and header flags, named as in MySQL's `binlog_event.h`
//! and MariaDB's `sql/log_event.h`.

use std::fmt;

/// An event type code. A newtype rather than an enum so that unknown codes
/// (Aurora's 100, future types) survive a round trip and can be reported.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventType(pub u8);

macro_rules! event_types {
    ($($name:ident = $code:expr, $label:expr;)*) => {
        impl EventType {
            $(#[doc = $label] pub const $name: EventType = EventType($code);)*

            /// The server's name for this type (`QUERY_EVENT`, `GTID_EVENT`…),
            /// or `None` when the code is not known to MySQL or MariaDB.
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($code => Some($label),)*
                    _ => None,
                }
            }
        }
    };
}

event_types! {
    START_V3 = 1, "START_EVENT_V3";
    QUERY = 2, "QUERY_EVENT";
    STOP = 3, "STOP_EVENT";
    ROTATE = 4, "ROTATE_EVENT";
    INTVAR = 5, "INTVAR_EVENT";
    LOAD = 6, "LOAD_EVENT";
    SLAVE = 7, "SLAVE_EVENT";
    CREATE_FILE = 8, "CREATE_FILE_EVENT";
    APPEND_BLOCK = 9, "APPEND_BLOCK_EVENT";
    EXEC_LOAD = 10, "EXEC_LOAD_EVENT";
    DELETE_FILE = 11, "DELETE_FILE_EVENT";
    NEW_LOAD = 12, "NEW_LOAD_EVENT";
    RAND = 13, "RAND_EVENT";
    USER_VAR = 14, "USER_VAR_EVENT";
    FORMAT_DESCRIPTION = 15, "FORMAT_DESCRIPTION_EVENT";
    XID = 16, "XID_EVENT";
    BEGIN_LOAD_QUERY = 17, "BEGIN_LOAD_QUERY_EVENT";
    EXECUTE_LOAD_QUERY = 18, "EXECUTE_LOAD_QUERY_EVENT";
    TABLE_MAP = 19, "TABLE_MAP_EVENT";
    PRE_GA_WRITE_ROWS = 20, "PRE_GA_WRITE_ROWS_EVENT";
    PRE_GA_UPDATE_ROWS = 21, "PRE_GA_UPDATE_ROWS_EVENT";
    PRE_GA_DELETE_ROWS = 22, "PRE_GA_DELETE_ROWS_EVENT";
    WRITE_ROWS_V1 = 23, "WRITE_ROWS_EVENT_V1";
    UPDATE_ROWS_V1 = 24, "UPDATE_ROWS_EVENT_V1";
    DELETE_ROWS_V1 = 25, "DELETE_ROWS_EVENT_V1";
    INCIDENT = 26, "INCIDENT_EVENT";
    HEARTBEAT = 27, "HEARTBEAT_LOG_EVENT";
    IGNORABLE = 28, "IGNORABLE_LOG_EVENT";
    ROWS_QUERY = 29, "ROWS_QUERY_LOG_EVENT";
    WRITE_ROWS = 30, "WRITE_ROWS_EVENT";
    UPDATE_ROWS = 31, "UPDATE_ROWS_EVENT";
    DELETE_ROWS = 32, "DELETE_ROWS_EVENT";
    GTID = 33, "GTID_LOG_EVENT";
    ANONYMOUS_GTID = 34, "ANONYMOUS_GTID_LOG_EVENT";
    PREVIOUS_GTIDS = 35, "PREVIOUS_GTIDS_LOG_EVENT";
    TRANSACTION_CONTEXT = 36, "TRANSACTION_CONTEXT_EVENT";
    VIEW_CHANGE = 37, "VIEW_CHANGE_EVENT";
    XA_PREPARE = 38, "XA_PREPARE_LOG_EVENT";
    PARTIAL_UPDATE_ROWS = 39, "PARTIAL_UPDATE_ROWS_EVENT";
    TRANSACTION_PAYLOAD = 40, "TRANSACTION_PAYLOAD_EVENT";
    HEARTBEAT_V2 = 41, "HEARTBEAT_LOG_EVENT_V2";
    GTID_TAGGED = 42, "GTID_TAGGED_LOG_EVENT";
    MARIA_ANNOTATE_ROWS = 160, "ANNOTATE_ROWS_EVENT";
    MARIA_BINLOG_CHECKPOINT = 161, "BINLOG_CHECKPOINT_EVENT";
    MARIA_GTID = 162, "GTID_EVENT";
    MARIA_GTID_LIST = 163, "GTID_LIST_EVENT";
    MARIA_START_ENCRYPTION = 164, "START_ENCRYPTION_EVENT";
    MARIA_QUERY_COMPRESSED = 165, "QUERY_COMPRESSED_EVENT";
    MARIA_WRITE_ROWS_COMPRESSED_V1 = 166, "WRITE_ROWS_COMPRESSED_EVENT_V1";
    MARIA_UPDATE_ROWS_COMPRESSED_V1 = 167, "UPDATE_ROWS_COMPRESSED_EVENT_V1";
    MARIA_DELETE_ROWS_COMPRESSED_V1 = 168, "DELETE_ROWS_COMPRESSED_EVENT_V1";
    MARIA_WRITE_ROWS_COMPRESSED = 169, "WRITE_ROWS_COMPRESSED_EVENT";
    MARIA_UPDATE_ROWS_COMPRESSED = 170, "UPDATE_ROWS_COMPRESSED_EVENT";
    MARIA_DELETE_ROWS_COMPRESSED = 171, "DELETE_ROWS_COMPRESSED_EVENT";
    MARIA_PARTIAL_ROW_DATA = 172, "PARTIAL_ROW_DATA_EVENT";
}

impl EventType {
    /// True when the type is known to MySQL or MariaDB.
    pub const fn is_known(self) -> bool {
        self.name().is_some()
    }

    /// Row-change events (any version, MySQL or MariaDB, compressed or not).
    pub const fn is_rows(self) -> bool {
        matches!(self.0, 20..=25 | 30..=32 | 39 | 166..=171)
    }

    /// MariaDB's compressed rows events map back to the plain type:
    /// "type − WRITE_ROWS_COMPRESSED + WRITE_ROWS".
    pub const fn uncompressed_rows(self) -> EventType {
        match self.0 {
            166..=168 => EventType(self.0 - 166 + 23),
            169..=171 => EventType(self.0 - 169 + 30),
            _ => self,
        }
    }

    /// Query-like events whose body starts with the QUERY post-header.
    pub const fn is_query_like(self) -> bool {
        matches!(self.0, 2 | 18 | 165)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.pad(n),
            None => f.pad(&format!("UNKNOWN_EVENT({})", self.0)),
        }
    }
}

impl fmt::Debug for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Header flag bits (`LOG_EVENT_*_F`).
pub mod flags {
    /// Set in the FDE while the file is open; cleared in place on clean close.
    pub const BINLOG_IN_USE: u16 = 0x1;
    /// Obsolete.
    pub const FORCED_ROTATE: u16 = 0x2;
    /// Event depends on the thread (temporary tables).
    pub const THREAD_SPECIFIC: u16 = 0x4;
    /// Do not write `USE db` before the query.
    pub const SUPPRESS_USE: u16 = 0x8;
    /// Obsolete (5.1).
    pub const UPDATE_TABLE_MAP_VERSION: u16 = 0x10;
    /// Generated, not written by a client statement (fake ROTATE).
    pub const ARTIFICIAL: u16 = 0x20;
    /// Written by the replica's IO thread into its relay log.
    pub const RELAY_LOG: u16 = 0x40;
    /// An unknown type carrying this flag may be skipped.
    pub const IGNORABLE: u16 = 0x80;
    /// Not filtered by replication filters.
    pub const NO_FILTER: u16 = 0x100;
    /// Multi-threaded applier isolation.
    pub const MTS_ISOLATE: u16 = 0x200;
    /// MariaDB: apply even if the server_id is our own.
    pub const ACCEPT_OWN: u16 = 0x4000;
    /// MariaDB: `@@skip_replication` was set.
    pub const SKIP_REPLICATION: u16 = 0x8000;
}
