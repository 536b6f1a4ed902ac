//! Row images printed as values, the way `mysqlbinlog -v` (and
//! `mariadb-binlog -v`) print them:
//!
//! ```text
//! ### UPDATE `db`.`t`
//! ### WHERE
//! ###   @1=1
//! ### SET
//! ###   @1=2
//! ```
//!
//! # Decoding
//!
//! [`crate::event::rows`] decodes: it keeps the table maps, walks the row
//! images and hands each value's type, metadata and raw bytes (with
//! `mysql_common`'s [`BinlogValue`]) to the formatting here. Every call runs
//! under [`std::panic::catch_unwind`]; a panic becomes a [`ParseError`]. The
//! stored bytes of MariaDB's compressed column types (`VARCHAR`/`BLOB
//! COMPRESSED`) are printed quoted, as `mariadb-binlog` does.
//!
//! # Formatting
//!
//! Values are printed as `log_event_print_value` prints them: integers signed
//! with the unsigned reading in parentheses when negative (`-1 (255)`),
//! FLOAT as `%-20g`, DOUBLE as `%-.20g`, DECIMAL with its scale, DATE as
//! `'YYYY:MM:DD'`, DATETIME(n)/TIME(n) quoted with `n` fractional digits,
//! TIMESTAMP(n) as seconds since the epoch, BIT and SET as `b'0101'`, ENUM as
//! its index, strings and blobs quoted, JSON as its text quoted.
//!
//! The [`RowStyle`] follows the file's server (the FDE's flavor) unless set:
//! MySQL's `mysqlbinlog` (8.0 string escapes: `\n`, `\\`, `\'`, `\x01`…) or
//! MariaDB's `mariadb-binlog` (only control characters escaped, as `\xNN`;
//! old DATETIME quoted, old TIME signed, GEOMETRY printed as a string,
//! `### SET /* no columns */`). `-vv` type comments
//! (`/* INT meta=0 nullable=0 is_null=0 */`) are printed with
//! [`RowPrinter::with_type_comments`].
//!
//! Differences from the tools, on purpose:
//! * [`RowPrinter::print`] fills a `String`: bytes that are not UTF-8 are
//!   written as `\xNN` (the tools write them raw). [`RowPrinter::print_raw`]
//!   writes the tools' bytes exactly.
//! * `### Row event for unknown table #N` ends with a newline (the tools
//!   leave the line open), and so do `!! Unknown ENUM/BLOB packlen` notes.
//! * A column type the tool cannot print makes both tools stop printing the
//!   event; MariaDB's tool says so on stderr only, here the MySQL note
//!   `!! Don't know how to handle column type=…` is printed for both styles.
//!
//! Table maps are kept (and forgotten) by the [`RowDecoder`] inside the
//! printer; see [`crate::event::rows`].
//!
//! # Layout
//!
//! * `printer.rs`: [`RowPrinter`] and the walk over an event's row images;
//!   `extra.rs`: the v2 extra row info lines.
//! * `value/`: one column value, by type family (`number.rs`, `temporal.rs`,
//!   `string.rs`; JSON columns in `value/mod.rs`).
//! * `escape.rs`: every quoting and escaping loop; `float_fmt.rs`: every
//!   C-style number format (`%g`, `%e`, `my_gcvt`); `json.rs`: JSON text.
//!
//! [`BinlogValue`]: mysql_common::binlog::value::BinlogValue
//! [`ParseError`]: crate::event::ParseError
//! [`RowDecoder`]: crate::event::rows::RowDecoder

mod escape;
mod extra;
mod float_fmt;
mod json;
mod printer;
#[cfg(test)]
mod tests;
mod value;

pub use printer::RowPrinter;

/// Whose `-v` output to imitate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowStyle {
    /// Oracle MySQL's `mysqlbinlog -v` (8.0).
    MySql,
    /// MariaDB's `mariadb-binlog -v` (10.x, 11.x).
    MariaDb,
}

/// How to print: whose output, and whether with `-vv` type comments.
#[derive(Clone, Copy)]
struct Ctx {
    style: RowStyle,
    comments: bool,
}

/// Outcome of printing an image: go on, or stop printing this event (the
/// tools give up on a column they cannot print).
#[derive(PartialEq, Eq)]
enum Flow {
    Go(usize),
    Stop,
}

/// `std::fmt::Write` into a byte buffer.
struct TextSink<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for TextSink<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}
