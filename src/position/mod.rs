//! Positions: typed master and relay coordinates, master coordinates along
//! relay logs, and the mapping from a target replica's master position to a
//! relay position on the latest replica.

pub mod columns;
pub mod coords;
pub mod cursor;
pub mod gtid;
pub mod relay_map;
pub mod replica;
pub mod state_doc;

pub use coords::{MasterPos, RelayPos};
pub use cursor::{MasterCursor, Origin};
pub use gtid::{Executed, GtidSet, GtidStart, MariaState, OwnState, errant, gtid_at, gtid_start};
pub use relay_map::{MapOptions, Mapping, TornTail, find_start, torn_tail};
pub use replica::{ReplicaState, latest, latest_note, oldest};
pub use state_doc::ReplicaStateDoc;
