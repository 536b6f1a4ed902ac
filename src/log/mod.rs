//! Log files on disk: sources (mmap or read), whole-file walks with errors
//! that name the file, typed log names, relay/binlog sets, index and info files.

pub mod file;
pub mod index;
pub mod info;
pub mod name;
pub mod relay;
pub mod source;

pub use file::{LogFile, RecoveryMode, Tail};
pub use name::LogName;
pub use relay::LogSet;
pub use source::{Access, SharedBytes, Source};
