//! Typed coordinates. A master coordinate (a position in the master's binlog,
//! what `Read_Master_Log_Pos` and `Exec_Master_Log_Pos` mean) and a relay
//! coordinate (a byte offset in one replica's relay-log file) are different
//! types, so MHA's `mlf/rmlp` can never be mixed up with `rlf/rlp`.

use std::fmt;

use crate::log::LogName;

/// A position in the master's binlog: file and byte offset.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MasterPos {
    /// Master binlog file.
    pub file: LogName,
    /// Byte offset in it.
    pub pos: u64,
}

/// A position in a replica's relay log: file and byte offset.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RelayPos {
    /// Relay-log file.
    pub file: LogName,
    /// Byte offset in it.
    pub pos: u64,
}

impl MasterPos {
    /// A master coordinate.
    pub fn new(file: LogName, pos: u64) -> Self {
        MasterPos { file, pos }
    }
}

impl std::str::FromStr for MasterPos {
    type Err = crate::error::Error;

    /// `FILE:POS`, e.g. `mysql-bin.000045:1006227`.
    fn from_str(s: &str) -> crate::error::Result<MasterPos> {
        use crate::error::Error;
        let (f, p) =
            s.rsplit_once(':').ok_or_else(|| Error::bad_input(format!("position {s:?}"), "expected FILE:POS"))?;
        let file = f.parse().map_err(|e: crate::log::name::BadLogName| Error::from(e))?;
        let pos = p.parse().map_err(|_| Error::bad_input(format!("position {s:?}"), "bad offset after FILE:"))?;
        Ok(MasterPos::new(file, pos))
    }
}

impl RelayPos {
    /// A relay coordinate.
    pub fn new(file: LogName, pos: u64) -> Self {
        RelayPos { file, pos }
    }
}

impl fmt::Display for MasterPos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.pos)
    }
}

impl fmt::Display for RelayPos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.pos)
    }
}
