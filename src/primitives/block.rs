//! Block headers and blocks (PROTOCOL.md section 4).

use super::encoding::{decode_list, encode_list, put_u32, Decode, DecodeError, Encode, Reader};
use super::hash::{sha256d, BlockHash, Hash256};
use super::height::Height;
use super::transaction::Transaction;
use super::u256::Target;

/// Bytes of an encoded header.
pub const HEADER_SIZE: usize = 124;
/// The only header version this protocol accepts.
pub const HEADER_VERSION: u32 = 1;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Header {
    pub version: u32,
    /// Committed in the header so a header alone tells where it belongs.
    pub height: Height,
    pub prev_hash: BlockHash,
    pub merkle_root: Hash256,
    /// Unix seconds.
    pub timestamp: u64,
    pub target: Target,
    pub nonce: u64,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Block {
    pub header: Header,
    pub transactions: Vec<Transaction>,
}

impl Header {
    pub fn hash(&self) -> BlockHash {
        BlockHash(sha256d(&self.to_array()).0)
    }

    /// The encoding as a fixed array (no allocation: the miner hashes this in a loop).
    pub fn to_array(&self) -> [u8; HEADER_SIZE] {
        let mut out = [0u8; HEADER_SIZE];
        out[0..4].copy_from_slice(&self.version.to_le_bytes());
        out[4..12].copy_from_slice(&self.height.0.to_le_bytes());
        out[12..44].copy_from_slice(self.prev_hash.as_bytes());
        out[44..76].copy_from_slice(self.merkle_root.as_bytes());
        out[76..84].copy_from_slice(&self.timestamp.to_le_bytes());
        out[84..116].copy_from_slice(&self.target.to_be_bytes());
        out[116..124].copy_from_slice(&self.nonce.to_le_bytes());
        out
    }
}

impl Block {
    pub fn hash(&self) -> BlockHash {
        self.header.hash()
    }

    /// Length of the block encoding in bytes.
    pub fn size(&self) -> usize {
        HEADER_SIZE
            + 4
            + self
                .transactions
                .iter()
                .map(Transaction::size)
                .sum::<usize>()
    }
}

impl Encode for Header {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_array());
    }
}

impl Decode for Header {
    const MIN_SIZE: usize = HEADER_SIZE;
    fn decode_from(r: &mut Reader<'_>) -> Result<Header, DecodeError> {
        Ok(Header {
            version: r.read_u32()?,
            height: Height(r.read_u64()?),
            prev_hash: BlockHash(r.read_array()?),
            merkle_root: Hash256(r.read_array()?),
            timestamp: r.read_u64()?,
            target: Target::from_be_bytes(r.read_array()?),
            nonce: r.read_u64()?,
        })
    }
}

impl Encode for Block {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.reserve(self.size());
        self.header.encode_to(out);
        encode_list(&self.transactions, out);
    }
}

impl Decode for Block {
    const MIN_SIZE: usize = HEADER_SIZE + 4;
    fn decode_from(r: &mut Reader<'_>) -> Result<Block, DecodeError> {
        Ok(Block {
            header: Header::decode_from(r)?,
            transactions: decode_list(r)?,
        })
    }
}

/// Encodes `(header, hash)` pairs as served by `GET /headers` in binary form.
pub fn encode_header_list(headers: &[Header], out: &mut Vec<u8>) {
    put_u32(out, headers.len() as u32);
    for h in headers {
        h.encode_to(out);
        out.extend_from_slice(h.hash().as_bytes());
    }
}

/// Decodes a `GET /headers` binary list, checking each carried hash.
pub fn decode_header_list(bytes: &[u8]) -> Result<Vec<Header>, DecodeError> {
    let mut r = Reader::new(bytes);
    let count = r.read_count(HEADER_SIZE + 32)?;
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let offset = r.position();
        let header = Header::decode_from(&mut r)?;
        let hash = BlockHash(r.read_array()?);
        if hash != header.hash() {
            return Err(DecodeError::HashMismatch { offset });
        }
        out.push(header);
    }
    r.finish()?;
    Ok(out)
}
