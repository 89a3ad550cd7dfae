//! The strict binary encoding: little-endian integers, fixed-size byte strings, `u32`
//! counts. Decoding refuses trailing bytes and never allocates for more items than the
//! remaining input could hold.

/// Why bytes are not a valid encoding. Every variant is a `malformed` input, except
/// [`DecodeError::ValueOutOfRange`], which is rule 6 (`value-out-of-range`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("unexpected end of input: needed {needed} more bytes at offset {offset}")]
    UnexpectedEnd { offset: usize, needed: usize },
    #[error("{0} trailing bytes after the encoded item")]
    TrailingBytes(usize),
    #[error(
        "count {count} at offset {offset} is larger than the remaining {remaining} bytes can hold"
    )]
    CountTooLarge {
        offset: usize,
        count: u32,
        remaining: usize,
    },
    #[error("header at offset {offset} does not match the hash that follows it")]
    HashMismatch { offset: usize },
    #[error("output value {0} is above MAX_MONEY")]
    ValueOutOfRange(u64),
}

/// A cursor over an input buffer.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn read_bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(DecodeError::UnexpectedEnd {
                offset: self.pos,
                needed: n - self.remaining(),
            });
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    pub fn read_array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.read_bytes(N)?);
        Ok(out)
    }

    pub fn read_u32(&mut self) -> Result<u32, DecodeError> {
        self.read_array().map(u32::from_le_bytes)
    }

    pub fn read_u64(&mut self) -> Result<u64, DecodeError> {
        self.read_array().map(u64::from_le_bytes)
    }

    /// Reads a `u32` item count and refuses it unless `count * min_item_size` bytes
    /// remain, so a hostile count cannot make the decoder allocate.
    pub fn read_count(&mut self, min_item_size: usize) -> Result<usize, DecodeError> {
        let offset = self.pos;
        let count = self.read_u32()?;
        let remaining = self.remaining();
        if (count as usize) > remaining / min_item_size.max(1) {
            return Err(DecodeError::CountTooLarge {
                offset,
                count,
                remaining,
            });
        }
        Ok(count as usize)
    }

    /// Fails unless the whole input was consumed.
    pub fn finish(self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(DecodeError::TrailingBytes(n)),
        }
    }
}

/// Types with a canonical binary encoding.
pub trait Encode {
    fn encode_to(&self, out: &mut Vec<u8>);

    fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_to(&mut out);
        out
    }
}

/// Types decodable from their binary encoding.
pub trait Decode: Sized {
    /// Smallest possible encoding, used to bound counts of this item.
    const MIN_SIZE: usize;

    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError>;

    /// Decodes a whole buffer; trailing bytes are an error.
    fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(bytes);
        let item = Self::decode_from(&mut reader)?;
        reader.finish()?;
        Ok(item)
    }
}

/// Encodes a list as a `u32` count followed by the items.
pub fn encode_list<T: Encode>(items: &[T], out: &mut Vec<u8>) {
    put_u32(out, items.len() as u32);
    for item in items {
        item.encode_to(out);
    }
}

/// Decodes a `u32`-counted list.
pub fn decode_list<T: Decode>(reader: &mut Reader<'_>) -> Result<Vec<T>, DecodeError> {
    let count = reader.read_count(T::MIN_SIZE)?;
    let mut items = Vec::with_capacity(count);
    for _ in 0..count {
        items.push(T::decode_from(reader)?);
    }
    Ok(items)
}

pub fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

pub fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_count_does_not_allocate() {
        let mut bytes = u32::MAX.to_le_bytes().to_vec();
        bytes.extend_from_slice(&[0; 100]);
        let mut r = Reader::new(&bytes);
        assert!(matches!(
            r.read_count(16),
            Err(DecodeError::CountTooLarge {
                count: u32::MAX,
                ..
            })
        ));
    }

    #[test]
    fn reads_little_endian_and_reports_short_input() {
        let mut r = Reader::new(&[1, 0, 0, 0, 2]);
        assert_eq!(r.read_u32(), Ok(1));
        assert_eq!(
            r.read_u32(),
            Err(DecodeError::UnexpectedEnd {
                offset: 4,
                needed: 3
            })
        );
        assert_eq!(
            Reader::new(&[0]).finish(),
            Err(DecodeError::TrailingBytes(1))
        );
    }
}
