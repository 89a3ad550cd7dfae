//! What connecting or disconnecting one block writes: the UTXO set, undo data, the txid,
//! spender and address indexes, the rich list and the totals. Both directions are exact
//! inverses, so a reorg leaves the same records a fresh replay of the winning branch does.

use super::pending::Pending;
use super::records::{
    addr_history_key, addr_utxo_key, encode_coin, encode_location, encode_spender, encode_undo,
    height_key, outpoint_key, rich_key, AddressStats, Totals, TxLocation, META_TIP, META_TOTALS,
};
use super::store::{ChainStore, StoreError, Table};
use crate::consensus::Coin;
use crate::primitives::{Block, BlockHash, OutPoint, PubkeyHash, Txid};
use std::collections::{BTreeMap, BTreeSet};

/// Signed changes to one address's counters within a block.
#[derive(Default)]
struct Delta {
    balance: i128,
    received: i128,
    sent: i128,
    tx_count: i128,
    utxo_count: i128,
    outputs_received: i128,
}

/// The undo entry for an input, which must spend exactly that input's outpoint.
fn undo_entry<'u>(
    entry: Option<&'u (OutPoint, Coin)>,
    prev: &OutPoint,
) -> Result<&'u (OutPoint, Coin), StoreError> {
    match entry {
        None => Err(StoreError(
            "undo data shorter than the block's inputs".into(),
        )),
        Some(e) if e.0 != *prev => Err(StoreError(
            "undo data does not match the block's inputs".into(),
        )),
        Some(e) => Ok(e),
    }
}

fn apply(old: u64, delta: i128, what: &str) -> Result<u64, StoreError> {
    u64::try_from(i128::from(old) + delta)
        .map_err(|_| StoreError(format!("index underflow or overflow in {what}")))
}

pub struct BlockIndexer<'p, 'a, S: ?Sized> {
    pending: &'p mut Pending<'a, S>,
}

impl<'p, 'a, S: ChainStore + ?Sized> BlockIndexer<'p, 'a, S> {
    pub fn new(pending: &'p mut Pending<'a, S>) -> Self {
        BlockIndexer { pending }
    }

    /// Records `block` (already validated, `spent` from `connect_block` or undo data) as
    /// the new tip of the active chain.
    pub fn connect(
        &mut self,
        block: &Block,
        hash: BlockHash,
        txids: &[Txid],
        spent: &[(OutPoint, Coin)],
    ) -> Result<(), StoreError> {
        let height = block.header.height;
        let mut deltas: BTreeMap<PubkeyHash, Delta> = BTreeMap::new();
        let mut totals = self.totals()?;
        let mut supply = i128::from(totals.circulating_supply);
        let mut spent_iter = spent.iter();
        for (position, (tx, txid)) in block.transactions.iter().zip(txids).enumerate() {
            let position = position as u32;
            let mut touched = BTreeSet::new();
            for input in &tx.inputs {
                let (op, coin) = undo_entry(spent_iter.next(), &input.prev)?;
                let pkh = coin.output.pubkey_hash;
                self.pending.delete(Table::Utxo, outpoint_key(op));
                self.pending
                    .delete(Table::AddrUtxo, addr_utxo_key(&pkh, op));
                self.pending.put_new(
                    Table::SpentBy,
                    outpoint_key(op),
                    encode_spender(txid, height),
                );
                let value = i128::from(coin.output.value.to_base_units());
                let d = deltas.entry(pkh).or_default();
                d.balance -= value;
                d.sent += value;
                d.utxo_count -= 1;
                supply -= value;
                touched.insert(pkh);
            }
            for (vout, out) in tx.outputs.iter().enumerate() {
                let op = OutPoint {
                    txid: *txid,
                    vout: vout as u32,
                };
                let coin = Coin {
                    output: *out,
                    height,
                    coinbase: tx.is_coinbase(),
                };
                // Outpoints are unique (txids commit to the height through the coinbase
                // or to spent outpoints), so these keys are new.
                self.pending
                    .put_new(Table::Utxo, outpoint_key(&op), encode_coin(&coin));
                self.pending.put_new(
                    Table::AddrUtxo,
                    addr_utxo_key(&out.pubkey_hash, &op),
                    encode_coin(&coin),
                );
                let value = i128::from(out.value.to_base_units());
                let d = deltas.entry(out.pubkey_hash).or_default();
                d.balance += value;
                d.received += value;
                d.utxo_count += 1;
                d.outputs_received += 1;
                supply += value;
                touched.insert(out.pubkey_hash);
            }
            for pkh in touched {
                self.pending.put_new(
                    Table::AddrHistory,
                    addr_history_key(&pkh, height, position),
                    txid.0.to_vec(),
                );
                deltas.entry(pkh).or_default().tx_count += 1;
            }
            self.pending.put_new(
                Table::TxIndex,
                txid.0.to_vec(),
                encode_location(&TxLocation {
                    block_hash: hash,
                    height,
                    position,
                }),
            );
        }
        if spent_iter.next().is_some() {
            return Err(StoreError(
                "undo data longer than the block's inputs".into(),
            ));
        }
        totals.transactions += block.transactions.len() as u64;
        totals.circulating_supply = u64::try_from(supply)
            .map_err(|_| StoreError("circulating supply went negative".into()))?;
        self.update_addresses(deltas, &mut totals)?;
        self.pending
            .put(Table::Undo, hash.0.to_vec(), encode_undo(spent));
        self.pending
            .put(Table::Active, height_key(height), hash.0.to_vec());
        self.pending
            .put(Table::Meta, META_TIP.to_vec(), hash.0.to_vec());
        self.pending
            .put(Table::Meta, META_TOTALS.to_vec(), totals.encode());
        Ok(())
    }

    /// Removes the active tip `block` (whose parent becomes the tip), restoring the coins
    /// in its undo data.
    pub fn disconnect(
        &mut self,
        block: &Block,
        txids: &[Txid],
        spent: &[(OutPoint, Coin)],
    ) -> Result<(), StoreError> {
        let height = block.header.height;
        let mut deltas: BTreeMap<PubkeyHash, Delta> = BTreeMap::new();
        let mut totals = self.totals()?;
        let mut supply = i128::from(totals.circulating_supply);
        let mut spent_rev = spent.iter().rev();
        for (position, (tx, txid)) in block.transactions.iter().zip(txids).enumerate().rev() {
            let position = position as u32;
            let mut touched = BTreeSet::new();
            for (vout, out) in tx.outputs.iter().enumerate().rev() {
                let op = OutPoint {
                    txid: *txid,
                    vout: vout as u32,
                };
                self.pending.delete(Table::Utxo, outpoint_key(&op));
                self.pending
                    .delete(Table::AddrUtxo, addr_utxo_key(&out.pubkey_hash, &op));
                let value = i128::from(out.value.to_base_units());
                let d = deltas.entry(out.pubkey_hash).or_default();
                d.balance -= value;
                d.received -= value;
                d.utxo_count -= 1;
                d.outputs_received -= 1;
                supply -= value;
                touched.insert(out.pubkey_hash);
            }
            for input in tx.inputs.iter().rev() {
                let (op, coin) = undo_entry(spent_rev.next(), &input.prev)?;
                let pkh = coin.output.pubkey_hash;
                self.pending
                    .put(Table::Utxo, outpoint_key(op), encode_coin(coin));
                self.pending
                    .put(Table::AddrUtxo, addr_utxo_key(&pkh, op), encode_coin(coin));
                self.pending.delete(Table::SpentBy, outpoint_key(op));
                let value = i128::from(coin.output.value.to_base_units());
                let d = deltas.entry(pkh).or_default();
                d.balance += value;
                d.sent -= value;
                d.utxo_count += 1;
                supply += value;
                touched.insert(pkh);
            }
            for pkh in touched {
                self.pending
                    .delete(Table::AddrHistory, addr_history_key(&pkh, height, position));
                deltas.entry(pkh).or_default().tx_count -= 1;
            }
            self.pending.delete(Table::TxIndex, txid.0.to_vec());
        }
        totals.transactions = totals
            .transactions
            .checked_sub(block.transactions.len() as u64)
            .ok_or_else(|| StoreError("transaction total went negative".into()))?;
        totals.circulating_supply = u64::try_from(supply)
            .map_err(|_| StoreError("circulating supply went negative".into()))?;
        self.update_addresses(deltas, &mut totals)?;
        self.pending.delete(Table::Active, height_key(height));
        self.pending.put(
            Table::Meta,
            META_TIP.to_vec(),
            block.header.prev_hash.0.to_vec(),
        );
        self.pending
            .put(Table::Meta, META_TOTALS.to_vec(), totals.encode());
        Ok(())
    }

    fn totals(&self) -> Result<Totals, StoreError> {
        match self.pending.get(Table::Meta, META_TOTALS)? {
            Some(v) => Totals::decode(&v),
            None => Ok(Totals::default()),
        }
    }

    /// Applies per-address deltas (already signed for the direction), keeping the rich
    /// list and the address total in step.
    fn update_addresses(
        &mut self,
        deltas: BTreeMap<PubkeyHash, Delta>,
        totals: &mut Totals,
    ) -> Result<(), StoreError> {
        for (pkh, d) in deltas {
            let old = match self.pending.get(Table::AddrStats, &pkh.0)? {
                Some(v) => AddressStats::decode(&v)?,
                None => AddressStats::default(),
            };
            let new = AddressStats {
                balance: apply(old.balance, d.balance, "balance")?,
                received: apply(old.received, d.received, "received")?,
                sent: apply(old.sent, d.sent, "sent")?,
                tx_count: apply(old.tx_count, d.tx_count, "tx_count")?,
                utxo_count: apply(old.utxo_count, d.utxo_count, "utxo_count")?,
                outputs_received: apply(old.outputs_received, d.outputs_received, "outputs")?,
            };
            if old.balance != new.balance {
                if old.balance > 0 {
                    self.pending
                        .delete(Table::Rich, rich_key(old.balance, &pkh));
                }
                // An address has one rich-list key below this batch, that of its balance
                // there (D). The new key differs from the old one; it can equal D's only
                // if the balance went away from D and came back, and then going away
                // deleted D's key, leaving a delete that the put lands on and keeps (a put
                // over a delete is never fresh). So the put is fresh in every other case,
                // and a balance that moves several times between flushes leaves one
                // delete and one put, not one delete per move.
                if new.balance > 0 {
                    self.pending
                        .put_new(Table::Rich, rich_key(new.balance, &pkh), pkh.0.to_vec());
                }
            }
            match (old.outputs_received > 0, new.outputs_received > 0) {
                (false, true) => totals.addresses += 1,
                (true, false) => {
                    totals.addresses = totals
                        .addresses
                        .checked_sub(1)
                        .ok_or_else(|| StoreError("address total went negative".into()))?
                }
                _ => {}
            }
            if new.is_empty() {
                self.pending.delete(Table::AddrStats, pkh.0.to_vec());
            } else {
                self.pending
                    .put(Table::AddrStats, pkh.0.to_vec(), new.encode());
            }
        }
        Ok(())
    }
}
