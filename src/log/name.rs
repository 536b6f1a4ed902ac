//! Log file names, parsed once into `(base, sequence)` and ordered
//! numerically: `mysql-bin.999999` < `mysql-bin.1000000` (MHA compares the
//! strings and gets this wrong).

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// A binlog or relay-log file name: `<base>.<digits>`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LogName {
    base: Arc<str>,
    seq: u64,
    width: u8,
}

/// Why a string is not a log name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadLogName(pub String);

impl fmt::Display for BadLogName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not a log file name (expected <base>.<number>): {:?}", self.0)
    }
}

impl std::error::Error for BadLogName {}

/// A bad log name is a bad input ([`crate::error::ErrorKind::BadInput`]),
/// its text unchanged.
impl From<BadLogName> for crate::error::Error {
    fn from(e: BadLogName) -> Self {
        crate::error::Error::bad_input("not a log file name (expected <base>.<number>)", format!("{:?}", e.0))
    }
}

impl LogName {
    /// A name from parts; `width` is the zero-padded digit count (servers use 6).
    pub fn new(base: impl Into<Arc<str>>, seq: u64, width: u8) -> LogName {
        LogName { base: base.into(), seq, width }
    }

    /// The part before the last dot.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The sequence number.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The next file in sequence.
    pub fn next(&self) -> LogName {
        LogName { base: self.base.clone(), seq: self.seq + 1, width: self.width }
    }

    /// The previous file, if any.
    pub fn prev(&self) -> Option<LogName> {
        self.seq.checked_sub(1).map(|s| LogName { base: self.base.clone(), seq: s, width: self.width })
    }

    /// Same base name (same series of files).
    pub fn same_series(&self, other: &LogName) -> bool {
        self.base == other.base
    }

    /// Parses a name that may carry a directory (only the file name counts).
    ///
    /// # Errors
    /// When the name has no `.<digits>` suffix.
    pub fn from_path_str(s: &str) -> Result<LogName, BadLogName> {
        let name = s.rsplit('/').next().unwrap_or(s);
        name.parse()
    }
}

impl FromStr for LogName {
    type Err = BadLogName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadLogName(s.to_string());
        let (base, digits) = s.rsplit_once('.').ok_or_else(bad)?;
        if base.is_empty() || digits.is_empty() || digits.len() > 19 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let seq = digits.parse().map_err(|_| bad())?;
        Ok(LogName { base: base.into(), seq, width: digits.len() as u8 })
    }
}

impl fmt::Display for LogName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:0w$}", self.base, self.seq, w = self.width as usize)
    }
}

impl Ord for LogName {
    fn cmp(&self, other: &Self) -> Ordering {
        (&*self.base, self.seq).cmp(&(&*other.base, other.seq))
    }
}

impl PartialOrd for LogName {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_order_numerically() {
        let a: LogName = "mysql-bin.999999".parse().unwrap();
        let b: LogName = "mysql-bin.1000000".parse().unwrap();
        assert!(a < b, "numeric, not string, order");
        assert_eq!(a.next().to_string(), "mysql-bin.1000000");
        assert_eq!(b.to_string(), "mysql-bin.1000000");
        assert_eq!("relay-bin.000001".parse::<LogName>().unwrap().to_string(), "relay-bin.000001");
        assert_eq!(LogName::from_path_str("/var/lib/mysql/host.relay.000042").unwrap().base(), "host.relay");
    }

    #[test]
    fn rejects_non_names() {
        for s in ["", "mysql-bin", "mysql-bin.", ".000001", "mysql-bin.00a1", "x.99999999999999999999"] {
            assert!(s.parse::<LogName>().is_err(), "{s}");
        }
    }

    proptest::proptest! {
        #[test]
        fn round_trips(base in "[a-z][a-z0-9_.-]{0,20}", seq in 0u64..10_000_000, width in 1u8..10) {
            let n = LogName::new(base.as_str(), seq, width);
            let s = n.to_string();
            let back: LogName = s.parse().unwrap();
            proptest::prop_assert_eq!(back.to_string(), s);
            proptest::prop_assert_eq!(back.seq(), seq);
        }
    }
}
