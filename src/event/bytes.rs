//! A bounds-checked little-endian cursor over an event body. Every read
//! returns `Err(Truncated(field))` instead of panicking: `take` checks the
//! length once, and byteorder's `LittleEndian` reads then get a slice of
//! exactly their width (their own slicing is a check LLVM folds away).

use byteorder::{ByteOrder, LittleEndian};

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
        Ok(LittleEndian::read_u16(self.take(2, what)?))
    }

    pub(crate) fn u32(&mut self, what: &'static str) -> R<u32> {
        Ok(LittleEndian::read_u32(self.take(4, what)?))
    }

    pub(crate) fn u48(&mut self, what: &'static str) -> R<u64> {
        Ok(LittleEndian::read_u48(self.take(6, what)?))
    }

    pub(crate) fn u64(&mut self, what: &'static str) -> R<u64> {
        Ok(LittleEndian::read_u64(self.take(8, what)?))
    }

    /// MySQL's length-encoded integer (`net_field_length_ll`).
    pub(crate) fn packed(&mut self, what: &'static str) -> R<u64> {
        let first = self.u8(what)?;
        Ok(match first {
            0..=250 => first as u64,
            251 => return Err(ParseErrorKind::BadValue(what)), // NULL marker: not valid here
            252 => self.u16(what)? as u64,
            253 => LittleEndian::read_u24(self.take(3, what)?) as u64,
            _ => self.u64(what)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn little_endian_reads_and_truncation() {
        let b = [1u8, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21];
        let mut c = Cursor::new(&b);
        assert_eq!(c.u8("a"), Ok(0x01));
        assert_eq!(c.u16("b"), Ok(0x0302));
        assert_eq!(c.u32("c"), Ok(0x0706_0504));
        assert_eq!(c.u48("d"), Ok(0x0d0c_0b0a_0908));
        assert_eq!(c.u64("e"), Ok(0x1514_1312_1110_0f0e));
        assert_eq!(c.remaining(), 0);
        assert_eq!(c.u16("f"), Err(ParseErrorKind::Truncated("f")));

        let mut c = Cursor::new(&[0xff, 1, 2, 3, 4, 5, 6]);
        assert_eq!(c.u64("short"), Err(ParseErrorKind::Truncated("short")));
        assert_eq!(c.remaining(), 7, "a failed read consumes nothing");
    }

    #[test]
    fn packed_integers() {
        let p = |b: &[u8]| Cursor::new(b).packed("n");
        assert_eq!(p(&[250]), Ok(250));
        assert_eq!(p(&[251]), Err(ParseErrorKind::BadValue("n")));
        assert_eq!(p(&[252, 0x34, 0x12]), Ok(0x1234));
        assert_eq!(p(&[253, 0x56, 0x34, 0x12]), Ok(0x12_3456));
        assert_eq!(p(&[253, 0x56, 0x34]), Err(ParseErrorKind::Truncated("n")));
        assert_eq!(p(&[254, 1, 2, 3, 4, 5, 6, 7, 0x80]), Ok(0x8007_0605_0403_0201));
        assert_eq!(p(&[]), Err(ParseErrorKind::Truncated("n")));
    }
}
