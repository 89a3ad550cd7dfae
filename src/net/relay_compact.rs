//! Compact blocks (after BIP 152): a block as its header, a salt and one 6-byte short id
//! per transaction, with the coinbase carried whole (no peer has it yet). A peer whose
//! mempool holds every other transaction rebuilds the block without downloading it; a
//! missing transaction or two mempool transactions with the same short id make it fetch
//! the full block instead, without penalty (PROTOCOL.md section 9).
//!
//! Short ids are salted per block, so an attacker cannot grind transactions that
//! collide with a future block's short ids: the key is `SHA-256(header || nonce)`, where
//! `nonce` is chosen by the sender, and a short id is the first 6 bytes of
//! `SHA-256(key || txid)` (BIP 152 uses SipHash-2-4 keyed the same way; SHA-256 is
//! already linked and fast enough for a mempool of 100 000 transactions).
//!
//! Encoding (little-endian, PROTOCOL.md primitives): header (124 bytes), nonce `u64`,
//! `u32` count then 6-byte short ids of transactions 1.., then the coinbase.

use crate::consensus::merkle::merkle_root;
use crate::primitives::encoding::{put_u32, put_u64};
use crate::primitives::{
    Block, BlockHash, Decode, DecodeError, Encode, Header, Reader, Target, Transaction, Txid,
    HEADER_SIZE,
};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// Bytes of one short id.
pub const SHORT_ID_SIZE: usize = 6;

pub type ShortId = [u8; SHORT_ID_SIZE];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompactBlock {
    pub header: Header,
    pub nonce: u64,
    /// Short ids of the transactions after the coinbase, in block order.
    pub short_ids: Vec<ShortId>,
    pub coinbase: Transaction,
}

/// Why a compact block could not be rebuilt; each means "fetch the full block".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RebuildError {
    #[error("{0} transactions are not in the mempool")]
    Missing(usize),
    #[error("two mempool transactions share a short id")]
    Collision,
    #[error("the rebuilt transactions do not match the header's merkle root")]
    MerkleMismatch,
}

/// The salt of a block's short ids.
fn key(header: &Header, nonce: u64) -> [u8; 16] {
    let mut h = Sha256::new();
    h.update(header.to_array());
    h.update(nonce.to_le_bytes());
    let digest = h.finalize();
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest[..16]);
    key
}

fn short_id(key: &[u8; 16], txid: &Txid) -> ShortId {
    let mut h = Sha256::new();
    h.update(key);
    h.update(txid.as_bytes());
    let digest = h.finalize();
    let mut id = [0u8; SHORT_ID_SIZE];
    id.copy_from_slice(&digest[..SHORT_ID_SIZE]);
    id
}

/// Short ids a compact block may carry at most: a block of `max_block_size` bytes holds
/// at most `max_block_size / Transaction::MIN_SIZE` transactions, the coinbase among
/// them. More cannot be a valid block: the sender is punished (PROTOCOL.md section 9).
pub fn max_short_ids(max_block_size: u64) -> usize {
    let max = usize::try_from(max_block_size).unwrap_or(usize::MAX);
    (max / Transaction::MIN_SIZE).saturating_sub(1)
}

/// Bytes of the largest compact block for `max_block_size` (the body bound its fetch
/// reads with): header, nonce, count, the short ids and a coinbase of at most a block.
pub fn max_compact_size(max_block_size: u64) -> usize {
    let max = usize::try_from(max_block_size).unwrap_or(usize::MAX);
    (HEADER_SIZE + 8 + 4)
        .saturating_add(SHORT_ID_SIZE.saturating_mul(max_short_ids(max_block_size)))
        .saturating_add(max)
}

impl CompactBlock {
    /// Checks what can be checked before rebuilding, so a lie costs nothing: the header
    /// hashes to the announced `hash`, its target is at most `pow_limit` and the hash
    /// meets it, and the short ids fit a block of `max_block_size`. `Err` says why the
    /// sender is punished (section 9: headers failing proof of work or target, an
    /// answer holding more than asked for).
    pub fn check(
        &self,
        hash: &BlockHash,
        pow_limit: &Target,
        max_block_size: u64,
    ) -> Result<(), String> {
        if self.header.hash() != *hash {
            return Err(format!("it answered another block than {hash}"));
        }
        if self.header.target.0 > pow_limit.0 {
            return Err(format!(
                "its compact block {hash} has a target above pow_limit"
            ));
        }
        if !self.header.target.is_met_by(&hash.0) {
            return Err(format!("its compact block {hash} fails proof of work"));
        }
        let max = max_short_ids(max_block_size);
        if self.short_ids.len() > max {
            return Err(format!(
                "its compact block {hash} has {} short ids, more than a block of {max_block_size} bytes holds",
                self.short_ids.len()
            ));
        }
        Ok(())
    }

    /// The compact form of `block` with the salt `nonce`. `None` for a block without a
    /// coinbase (never stored: every valid block has one).
    pub fn new(block: &Block, nonce: u64) -> Option<CompactBlock> {
        let coinbase = block.transactions.first()?.clone();
        let key = key(&block.header, nonce);
        let short_ids = block
            .transactions
            .iter()
            .skip(1)
            .map(|tx| short_id(&key, &tx.txid()))
            .collect();
        Some(CompactBlock {
            header: block.header,
            nonce,
            short_ids,
            coinbase,
        })
    }

    /// Rebuilds the block from the transactions `pool` offers (the mempool's txids and a
    /// lookup). Checks the merkle root, so a block it returns is the one the header
    /// commits to.
    pub fn rebuild<'a>(
        &self,
        pool_txids: impl Iterator<Item = &'a Txid>,
        lookup: impl Fn(&Txid) -> Option<Transaction>,
    ) -> Result<Block, RebuildError> {
        let key = key(&self.header, self.nonce);
        let wanted: HashMap<ShortId, usize> = self
            .short_ids
            .iter()
            .enumerate()
            .map(|(i, id)| (*id, i))
            .collect();
        if wanted.len() != self.short_ids.len() {
            // Two of the block's own transactions share a short id.
            return Err(RebuildError::Collision);
        }
        let mut found: Vec<Option<Txid>> = vec![None; self.short_ids.len()];
        for txid in pool_txids {
            if let Some(&i) = wanted.get(&short_id(&key, txid)) {
                if found[i].is_some() {
                    return Err(RebuildError::Collision);
                }
                found[i] = Some(*txid);
            }
        }
        let missing = found.iter().filter(|f| f.is_none()).count();
        if missing > 0 {
            return Err(RebuildError::Missing(missing));
        }
        let mut transactions = Vec::with_capacity(self.short_ids.len() + 1);
        transactions.push(self.coinbase.clone());
        for txid in found.into_iter().flatten() {
            transactions.push(lookup(&txid).ok_or(RebuildError::Missing(1))?);
        }
        let txids: Vec<Txid> = transactions.iter().map(Transaction::txid).collect();
        if merkle_root(&txids) != self.header.merkle_root {
            return Err(RebuildError::MerkleMismatch);
        }
        Ok(Block {
            header: self.header,
            transactions,
        })
    }
}

impl Encode for CompactBlock {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.header.encode_to(out);
        put_u64(out, self.nonce);
        put_u32(out, self.short_ids.len() as u32);
        for id in &self.short_ids {
            out.extend_from_slice(id);
        }
        self.coinbase.encode_to(out);
    }
}

impl Decode for CompactBlock {
    const MIN_SIZE: usize = Header::MIN_SIZE + 8 + 4 + Transaction::MIN_SIZE;

    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let header = Header::decode_from(reader)?;
        let nonce = reader.read_u64()?;
        let count = reader.read_count(SHORT_ID_SIZE)?;
        let mut short_ids = Vec::with_capacity(count);
        for _ in 0..count {
            short_ids.push(reader.read_array::<SHORT_ID_SIZE>()?);
        }
        let coinbase = Transaction::decode_from(reader)?;
        Ok(CompactBlock {
            header,
            nonce,
            short_ids,
            coinbase,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::primitives::TxOut;
    use crate::primitives::{Amount, Height, OutPoint, PubkeyHash, PublicKey, Signature, TxIn};

    pub(crate) fn payment(n: u32) -> Transaction {
        Transaction {
            version: 1,
            inputs: vec![TxIn {
                prev: OutPoint {
                    txid: Txid::from_bytes([(n % 251) as u8; 32]),
                    vout: n,
                },
                pubkey: PublicKey([2; 33]),
                signature: Signature([7; 64]),
            }],
            outputs: vec![
                TxOut {
                    value: Amount::from_base_units(100_000).expect("amount"),
                    pubkey_hash: PubkeyHash::from_bytes([1; 20]),
                },
                TxOut {
                    value: Amount::from_base_units(50_000).expect("amount"),
                    pubkey_hash: PubkeyHash::from_bytes([2; 20]),
                },
            ],
            lock_time: 0,
        }
    }

    fn block(n: u32) -> Block {
        let mut transactions = vec![Transaction::coinbase(
            5,
            vec![TxOut {
                value: Amount::from_base_units(5_000).expect("amount"),
                pubkey_hash: PubkeyHash::from_bytes([9; 20]),
            }],
        )];
        transactions.extend((0..n).map(payment));
        let txids: Vec<Txid> = transactions.iter().map(Transaction::txid).collect();
        Block {
            header: Header {
                version: 1,
                height: Height(5),
                prev_hash: BlockHash::from_bytes([3; 32]),
                merkle_root: merkle_root(&txids),
                timestamp: 1_700_000_000,
                target: Target(crate::primitives::U256::MAX),
                nonce: 42,
            },
            transactions,
        }
    }

    fn pool(block: &Block) -> HashMap<Txid, Transaction> {
        block
            .transactions
            .iter()
            .skip(1)
            .map(|t| (t.txid(), t.clone()))
            .collect()
    }

    #[test]
    fn a_block_whose_transactions_are_known_is_rebuilt_from_a_fifth_of_its_bytes() {
        let block = block(1_000);
        let compact = CompactBlock::new(&block, 77).expect("has a coinbase");
        let bytes = compact.to_bytes();
        let full = block.to_bytes().len();
        let ratio = bytes.len() as f64 / full as f64;
        // Deterministic: the figure BENCHMARKS.md reports.
        println!(
            "compact block of 1 000 transactions: {} bytes of {full} = {:.1} %",
            bytes.len(),
            ratio * 100.0
        );
        assert!(ratio < 0.2, "{ratio}");
        let decoded = CompactBlock::from_bytes(&bytes).expect("decodes");
        assert_eq!(decoded, compact);
        let pool = pool(&block);
        let rebuilt = decoded
            .rebuild(pool.keys(), |t| pool.get(t).cloned())
            .expect("rebuilds");
        assert_eq!(rebuilt, block);
    }

    #[test]
    fn a_missing_transaction_or_a_short_id_collision_asks_for_the_full_block() {
        let block = block(10);
        let compact = CompactBlock::new(&block, 1).expect("has a coinbase");
        let mut pool = pool(&block);
        let gone = block.transactions[3].txid();
        pool.remove(&gone);
        assert_eq!(
            compact.rebuild(pool.keys(), |t| pool.get(t).cloned()),
            Err(RebuildError::Missing(1))
        );
        // A forged compact block whose short ids repeat one another.
        let mut twice = compact.clone();
        twice.short_ids[1] = twice.short_ids[0];
        let pool = super::tests::pool(&block);
        assert_eq!(
            twice.rebuild(pool.keys(), |t| pool.get(t).cloned()),
            Err(RebuildError::Collision)
        );
        // Known transactions in another order than the header commits to: refused.
        let mut lying = compact.clone();
        lying.short_ids.swap(0, 1);
        assert_eq!(
            lying.rebuild(pool.keys(), |t| pool.get(t).cloned()),
            Err(RebuildError::MerkleMismatch)
        );
        // Truncated or padded encodings do not decode.
        let bytes = compact.to_bytes();
        assert!(CompactBlock::from_bytes(&bytes[..bytes.len() - 1]).is_err());
        let mut padded = bytes.clone();
        padded.push(0);
        assert!(CompactBlock::from_bytes(&padded).is_err());
    }

    /// A compact block whose header lies (another hash, a target above pow_limit,
    /// failed proof of work) or whose short ids cannot fit a block is refused before
    /// any rebuild, and a body bound follows from max_block_size.
    #[test]
    fn a_lying_or_oversized_compact_block_is_refused_before_rebuilding() {
        let block = block(10);
        let hash = block.hash();
        let compact = CompactBlock::new(&block, 1).expect("has a coinbase");
        let limit = Target(crate::primitives::U256::MAX);
        let max_size = 1_000_000;
        assert!(compact.check(&hash, &limit, max_size).is_ok());
        assert!(compact
            .check(&BlockHash::from_bytes([0; 32]), &limit, max_size)
            .is_err());
        let low = Target(crate::primitives::U256::ONE);
        assert!(
            compact.check(&hash, &low, max_size).is_err(),
            "target above pow_limit"
        );
        let mut hard = block.clone();
        hard.header.target = Target(crate::primitives::U256::ONE);
        let hard_compact = CompactBlock::new(&hard, 1).expect("has a coinbase");
        assert!(
            hard_compact.check(&hard.hash(), &limit, max_size).is_err(),
            "proof of work"
        );
        // Too many short ids for a block of max_block_size.
        let mut huge = compact.clone();
        huge.short_ids = vec![[1; SHORT_ID_SIZE]; max_short_ids(max_size) + 1];
        assert!(huge.check(&hash, &limit, max_size).is_err());
        huge.short_ids.pop();
        assert!(huge.check(&hash, &limit, max_size).is_ok());
        // The largest acceptable compact block fits the body bound its fetch uses.
        huge.coinbase = block.transactions[0].clone();
        assert!(huge.to_bytes().len() <= max_compact_size(max_size));
        assert!(max_compact_size(max_size) < 2 * max_size as usize);
    }
}
