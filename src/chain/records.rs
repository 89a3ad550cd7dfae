//! Byte layouts of the stored records and keys. Integers in keys are big-endian so keys
//! sort numerically; integers in values are little-endian like the wire encoding.

use super::store::StoreError;
use crate::consensus::Coin;
use crate::primitives::encoding::Reader;
use crate::primitives::{
    Amount, BlockHash, Decode, Encode, Header, Height, OutPoint, PubkeyHash, TxOut, Txid, Work,
    U256,
};

pub const META_TIP: &[u8] = b"tip";
pub const META_TOTALS: &[u8] = b"totals";
/// The last block connected to the active chain, written with the block itself (before it
/// is answered `connected`); `tip` is the block the flushed chain state is at.
pub const META_BEST: &[u8] = b"best";

fn corrupt(what: &str) -> StoreError {
    StoreError(format!("corrupt {what} record"))
}

pub fn outpoint_key(op: &OutPoint) -> Vec<u8> {
    let mut k = Vec::with_capacity(36);
    k.extend_from_slice(op.txid.as_bytes());
    k.extend_from_slice(&op.vout.to_be_bytes());
    k
}

pub fn decode_outpoint_key(k: &[u8]) -> Result<OutPoint, StoreError> {
    if k.len() != 36 {
        return Err(corrupt("outpoint key"));
    }
    let mut txid = [0u8; 32];
    txid.copy_from_slice(&k[..32]);
    let mut vout = [0u8; 4];
    vout.copy_from_slice(&k[32..]);
    Ok(OutPoint {
        txid: Txid(txid),
        vout: u32::from_be_bytes(vout),
    })
}

pub fn height_key(h: Height) -> Vec<u8> {
    h.get().to_be_bytes().to_vec()
}

pub fn encode_coin(c: &Coin) -> Vec<u8> {
    let mut v = Vec::with_capacity(37);
    c.output.encode_to(&mut v);
    v.extend_from_slice(&c.height.get().to_le_bytes());
    v.push(u8::from(c.coinbase));
    v
}

pub fn decode_coin(v: &[u8]) -> Result<Coin, StoreError> {
    let mut r = Reader::new(v);
    let coin = (|| {
        Ok::<_, crate::primitives::DecodeError>(Coin {
            output: TxOut::decode_from(&mut r)?,
            height: Height(r.read_u64()?),
            coinbase: r.read_array::<1>()?[0] == 1,
        })
    })()
    .map_err(|_| corrupt("coin"))?;
    r.finish().map_err(|_| corrupt("coin"))?;
    Ok(coin)
}

pub fn addr_utxo_key(pkh: &PubkeyHash, op: &OutPoint) -> Vec<u8> {
    let mut k = pkh.0.to_vec();
    k.extend_from_slice(&outpoint_key(op));
    k
}

pub fn addr_history_key(pkh: &PubkeyHash, height: Height, position: u32) -> Vec<u8> {
    let mut k = pkh.0.to_vec();
    k.extend_from_slice(&height.get().to_be_bytes());
    k.extend_from_slice(&position.to_be_bytes());
    k
}

/// Rich list key: descending balance, then ascending address text.
/// A rich-list key: the balance descending, then the pubkey hash (ties in pubkey-hash
/// order). The chain keeps keys in its own terms; addresses are the API's to format.
pub fn rich_key(balance: u64, pkh: &PubkeyHash) -> Vec<u8> {
    let mut k = (u64::MAX - balance).to_be_bytes().to_vec();
    k.extend_from_slice(&pkh.0);
    k
}

pub fn decode_rich_key(k: &[u8]) -> Result<(Amount, PubkeyHash), StoreError> {
    let (Some(b), Some(h)) = (k.get(..8), k.get(8..)) else {
        return Err(corrupt("rich list key"));
    };
    let b: [u8; 8] = b.try_into().map_err(|_| corrupt("rich list key"))?;
    let h: [u8; 20] = h.try_into().map_err(|_| corrupt("rich list key"))?;
    let balance = Amount::from_base_units(u64::MAX - u64::from_be_bytes(b))
        .map_err(|_| corrupt("rich list key"))?;
    Ok((balance, PubkeyHash(h)))
}

/// Where a transaction sits on the active chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxLocation {
    pub block_hash: BlockHash,
    pub height: Height,
    pub position: u32,
}

pub fn encode_location(l: &TxLocation) -> Vec<u8> {
    let mut v = l.block_hash.0.to_vec();
    v.extend_from_slice(&l.height.get().to_le_bytes());
    v.extend_from_slice(&l.position.to_le_bytes());
    v
}

pub fn decode_location(v: &[u8]) -> Result<TxLocation, StoreError> {
    let mut r = Reader::new(v);
    let loc = (|| {
        Ok::<_, crate::primitives::DecodeError>(TxLocation {
            block_hash: BlockHash(r.read_array()?),
            height: Height(r.read_u64()?),
            position: r.read_u32()?,
        })
    })()
    .map_err(|_| corrupt("tx location"))?;
    Ok(loc)
}

/// The transaction that spent an output, and the height of its block.
pub fn encode_spender(txid: &Txid, height: Height) -> Vec<u8> {
    let mut v = txid.0.to_vec();
    v.extend_from_slice(&height.get().to_le_bytes());
    v
}

pub fn decode_spender(v: &[u8]) -> Result<(Txid, Height), StoreError> {
    let mut r = Reader::new(v);
    (|| Ok::<_, crate::primitives::DecodeError>((Txid(r.read_array()?), Height(r.read_u64()?))))()
        .map_err(|_| corrupt("spender"))
}

/// Per-address counters kept on the active chain.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AddressStats {
    /// Sum of the address's unspent outputs.
    pub balance: u64,
    /// Sum of every output ever paid to it (a counter, not an amount).
    pub received: u64,
    /// Sum of every output of it ever spent.
    pub sent: u64,
    /// Transactions that paid it or spent from it.
    pub tx_count: u64,
    pub utxo_count: u64,
    /// Outputs ever paid to it: non-zero means the address counts in `total_addresses`.
    pub outputs_received: u64,
}

impl AddressStats {
    pub fn encode(&self) -> Vec<u8> {
        [
            self.balance,
            self.received,
            self.sent,
            self.tx_count,
            self.utxo_count,
            self.outputs_received,
        ]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect()
    }

    pub fn decode(v: &[u8]) -> Result<AddressStats, StoreError> {
        let f = read_u64s::<6>(v).ok_or_else(|| corrupt("address stats"))?;
        Ok(AddressStats {
            balance: f[0],
            received: f[1],
            sent: f[2],
            tx_count: f[3],
            utxo_count: f[4],
            outputs_received: f[5],
        })
    }

    pub fn is_empty(&self) -> bool {
        *self == AddressStats::default()
    }
}

/// Chain-wide totals of the active chain.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub transactions: u64,
    /// Distinct addresses that ever received an output.
    pub addresses: u64,
    /// Sum of all unspent output values.
    pub circulating_supply: u64,
}

impl Totals {
    pub fn encode(&self) -> Vec<u8> {
        [self.transactions, self.addresses, self.circulating_supply]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect()
    }

    pub fn decode(v: &[u8]) -> Result<Totals, StoreError> {
        let f = read_u64s::<3>(v).ok_or_else(|| corrupt("totals"))?;
        Ok(Totals {
            transactions: f[0],
            addresses: f[1],
            circulating_supply: f[2],
        })
    }
}

fn read_u64s<const N: usize>(v: &[u8]) -> Option<[u64; N]> {
    if v.len() != N * 8 {
        return None;
    }
    let mut out = [0u64; N];
    for (i, chunk) in v.chunks_exact(8).enumerate() {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        out[i] = u64::from_le_bytes(b);
    }
    Some(out)
}

/// A stored header with the chain work up to and including it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeaderEntry {
    pub header: Header,
    pub chain_work: Work,
}

impl HeaderEntry {
    pub fn encode(&self) -> Vec<u8> {
        let mut v = self.header.to_bytes();
        v.extend_from_slice(&self.chain_work.0.to_be_bytes());
        v
    }

    pub fn decode(v: &[u8]) -> Result<HeaderEntry, StoreError> {
        let mut r = Reader::new(v);
        let header = Header::decode_from(&mut r).map_err(|_| corrupt("header"))?;
        let work = r.read_array::<32>().map_err(|_| corrupt("header"))?;
        Ok(HeaderEntry {
            header,
            chain_work: Work(U256::from_be_bytes(work)),
        })
    }
}

/// Undo data: every `(outpoint, coin)` a block spent, in order.
pub fn encode_undo(spent: &[(OutPoint, Coin)]) -> Vec<u8> {
    let mut v = Vec::with_capacity(4 + spent.len() * 73);
    v.extend_from_slice(&(spent.len() as u32).to_le_bytes());
    for (op, coin) in spent {
        v.extend_from_slice(&outpoint_key(op));
        v.extend_from_slice(&encode_coin(coin));
    }
    v
}

pub fn decode_undo(v: &[u8]) -> Result<Vec<(OutPoint, Coin)>, StoreError> {
    let mut r = Reader::new(v);
    let count = r.read_count(73).map_err(|_| corrupt("undo"))?;
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let op = decode_outpoint_key(r.read_bytes(36).map_err(|_| corrupt("undo"))?)?;
        let coin = decode_coin(r.read_bytes(37).map_err(|_| corrupt("undo"))?)?;
        out.push((op, coin));
    }
    Ok(out)
}
