//! Log files on disk: sources (mmap or read), whole-file walks with errors
//! that name the file, index files.

pub mod file;
pub mod index;
pub mod source;

pub use file::{LogFile, RecoveryMode, Tail};
pub use source::{Access, Source};
