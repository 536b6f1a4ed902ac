//! Row images decoded into values, the way `mysqlbinlog -v` prints them.
//! (Placeholder: filled in with mysql_common's decoders.)

use crate::event::{Format, ParseError, RawEvent};

/// Keeps the table maps and FDE needed to decode row events.
#[derive(Default)]
pub struct RowPrinter {}

impl RowPrinter {
    /// A printer with no table maps yet.
    pub fn new() -> Self {
        RowPrinter {}
    }

    /// Records FDEs and table maps; call for every event, in order.
    ///
    /// # Errors
    /// A malformed TABLE_MAP.
    pub fn observe(&mut self, _ev: &RawEvent<'_>, _fmt: &Format) -> Result<(), ParseError> {
        Ok(())
    }

    /// Appends `### …` lines for a rows event (nothing for other events).
    ///
    /// # Errors
    /// A row image that cannot be decoded.
    pub fn print(&mut self, _out: &mut String, _ev: &RawEvent<'_>, _fmt: &Format) -> Result<(), ParseError> {
        Ok(())
    }
}
