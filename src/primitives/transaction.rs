//! Transactions and their encoding, txid and sighash (PROTOCOL.md section 3).

use super::amount::Amount;
use super::encoding::{
    decode_list, encode_list, put_u32, put_u64, Decode, DecodeError, Encode, Reader,
};
use super::hash::{sha256d, BlockHash, PubkeyHash, Sighash, Txid};
use super::keys::{PublicKey, Signature, PUBLIC_KEY_SIZE, SIGNATURE_SIZE};
use sha2::{Digest, Sha256};

/// A reference to one output of an earlier transaction.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct OutPoint {
    pub txid: Txid,
    pub vout: u32,
}

/// An input: the output it spends and the key and signature that unlock it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TxIn {
    pub prev: OutPoint,
    pub pubkey: PublicKey,
    pub signature: Signature,
}

/// An output: a value paid to the holder of the key hashing to `pubkey_hash`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct TxOut {
    pub value: Amount,
    pub pubkey_hash: PubkeyHash,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Transaction {
    pub version: u32,
    pub inputs: Vec<TxIn>,
    pub outputs: Vec<TxOut>,
    pub lock_time: u32,
}

/// The only transaction version this protocol accepts.
pub const TX_VERSION: u32 = 1;
const INPUT_SIZE: usize = 32 + 4 + PUBLIC_KEY_SIZE + SIGNATURE_SIZE;
const OUTPUT_SIZE: usize = 8 + 20;

impl Transaction {
    /// A coinbase: no inputs, `lock_time` set to the block height.
    pub fn coinbase(height: u32, outputs: Vec<TxOut>) -> Transaction {
        Transaction {
            version: TX_VERSION,
            inputs: Vec::new(),
            outputs,
            lock_time: height,
        }
    }

    pub fn is_coinbase(&self) -> bool {
        self.inputs.is_empty()
    }

    pub fn txid(&self) -> Txid {
        Txid(sha256d(&self.to_bytes()).0)
    }

    /// Length of the encoding in bytes.
    pub fn size(&self) -> usize {
        4 + 4 + self.inputs.len() * INPUT_SIZE + 4 + self.outputs.len() * OUTPUT_SIZE + 4
    }

    /// Sighash v2 (PROTOCOL.md section 3): `SHA256d(genesis_hash || E || S)`, what every
    /// input signs. `E` is the encoding without signatures; `S` is, for each input in
    /// order, the output it spends (`value u64 || pubkey_hash`), so a signature commits to
    /// the values spent and a node that lies about them can only make it invalid.
    ///
    /// `spent` holds exactly one output per input, in input order, as found by rule 3.
    /// Passing another count is a caller bug; the hash then matches no honest signature.
    pub fn sighash(&self, genesis_hash: &BlockHash, spent: &[TxOut]) -> Sighash {
        debug_assert_eq!(spent.len(), self.inputs.len(), "one spent output per input");
        let mut hasher = Sha256::new();
        hasher.update(genesis_hash.as_bytes());
        let mut buf = Vec::with_capacity(self.size() + spent.len() * OUTPUT_SIZE);
        put_u32(&mut buf, self.version);
        put_u32(&mut buf, self.inputs.len() as u32);
        for input in &self.inputs {
            buf.extend_from_slice(input.prev.txid.as_bytes());
            put_u32(&mut buf, input.prev.vout);
            buf.extend_from_slice(&input.pubkey.0);
        }
        encode_list(&self.outputs, &mut buf);
        put_u32(&mut buf, self.lock_time);
        // S: no count prefix, 28 bytes per input.
        for output in spent {
            output.encode_to(&mut buf);
        }
        hasher.update(&buf);
        Sighash(Sha256::digest(hasher.finalize()).into())
    }

    /// Sum of output values; `None` when it passes `MAX_MONEY`.
    pub fn output_sum(&self) -> Option<Amount> {
        Amount::checked_sum(self.outputs.iter().map(|o| o.value))
    }
}

impl Encode for TxIn {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.prev.txid.as_bytes());
        put_u32(out, self.prev.vout);
        out.extend_from_slice(&self.pubkey.0);
        out.extend_from_slice(&self.signature.0);
    }
}

impl Decode for TxIn {
    const MIN_SIZE: usize = INPUT_SIZE;
    fn decode_from(r: &mut Reader<'_>) -> Result<TxIn, DecodeError> {
        Ok(TxIn {
            prev: OutPoint {
                txid: Txid(r.read_array()?),
                vout: r.read_u32()?,
            },
            pubkey: PublicKey(r.read_array()?),
            signature: Signature(r.read_array()?),
        })
    }
}

impl Encode for TxOut {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put_u64(out, self.value.to_base_units());
        out.extend_from_slice(self.pubkey_hash.as_bytes());
    }
}

impl Decode for TxOut {
    const MIN_SIZE: usize = OUTPUT_SIZE;
    fn decode_from(r: &mut Reader<'_>) -> Result<TxOut, DecodeError> {
        let units = r.read_u64()?;
        let value =
            Amount::from_base_units(units).map_err(|_| DecodeError::ValueOutOfRange(units))?;
        Ok(TxOut {
            value,
            pubkey_hash: PubkeyHash(r.read_array()?),
        })
    }
}

impl Encode for Transaction {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.reserve(self.size());
        put_u32(out, self.version);
        encode_list(&self.inputs, out);
        encode_list(&self.outputs, out);
        put_u32(out, self.lock_time);
    }
}

impl Decode for Transaction {
    /// version, two empty counts, lock_time.
    const MIN_SIZE: usize = 16;
    fn decode_from(r: &mut Reader<'_>) -> Result<Transaction, DecodeError> {
        Ok(Transaction {
            version: r.read_u32()?,
            inputs: decode_list(r)?,
            outputs: decode_list(r)?,
            lock_time: r.read_u32()?,
        })
    }
}
