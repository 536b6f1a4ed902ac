//! Pure event layer: no files, no I/O, no allocation on the walk.
//!
//! [`EventIter`] walks a file's bytes as zero-copy [`RawEvent`]s, tracking the
//! [`Format`] each FDE sets; typed views in [`views`] decode the bodies the
//! diff engine needs; [`trx`] groups events into transactions.

pub(crate) mod bytes;
pub mod checksum;
pub(crate) mod compress;
pub mod error;
pub mod fde;
pub mod header;
pub mod iter;
pub mod payload;
pub mod rows;
pub mod tagged;
pub mod trx;
pub mod types;
pub mod views;

pub use checksum::ChecksumAlg;
pub use error::{ParseError, ParseErrorKind};
pub use fde::{Flavor, Format};
pub use header::{HEADER_LEN, Header};
pub use iter::{EventIter, Incomplete, MAGIC, RawEvent, Step, Suspended, WalkOptions};
pub use trx::{Boundary, Class, Role, TrxGrouper, classify};
pub use types::{EventType, flags};
