//! A bounds-checked little-endian cursor over an event body. Every read
//! returns `Err(Truncated(field))` instead of panicking.

use super::error::ParseErrorKind;

pub(crate) type R<T> = Result<T, ParseErrorKind>;

#[derive(Clone, Copy)]
pub(crate) struct Cursor<'a> {
    pub(crate) buf: &'a [u8],
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Cursor { buf }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> R<&'a [u8]> {
        if self.buf.len() < n {
            return Err(ParseErrorKind::Truncated(what));
        }
        let (a, b) = self.buf.split_at(n);
        self.buf = b;
        Ok(a)
    }

    pub(crate) fn skip(&mut self, n: usize, what: &'static str) -> R<()> {
        self.take(n, what).map(|_| ())
    }

    pub(crate) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> R<u8> {
        Ok(self.take(1, what)?[0])
    }

    pub(crate) fn u16(&mut self, what: &'static str) -> R<u16> {
        let b = self.take(2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    pub(crate) fn u32(&mut self, what: &'static str) -> R<u32> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn u48(&mut self, what: &'static str) -> R<u64> {
        let b = self.take(6, what)?;
        Ok(u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], 0, 0]))
    }

    pub(crate) fn u64(&mut self, what: &'static str) -> R<u64> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    /// MySQL's length-encoded integer (`net_field_length_ll`).
    pub(crate) fn packed(&mut self, what: &'static str) -> R<u64> {
        let first = self.u8(what)?;
        Ok(match first {
            0..=250 => first as u64,
            251 => return Err(ParseErrorKind::BadValue(what)), // NULL marker: not valid here
            252 => self.u16(what)? as u64,
            253 => {
                let b = self.take(3, what)?;
                u32::from_le_bytes([b[0], b[1], b[2], 0]) as u64
            }
            _ => self.u64(what)?,
        })
    }
}
