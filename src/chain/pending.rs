//! A batch of writes being built, readable through: the view the chain logic connects and
//! disconnects blocks against before committing them all at once. Reads see the batch,
//! then the chain state cache (writes staged in memory, not yet flushed), then the store.

use super::records::{decode_coin, outpoint_key};
use super::store::{Batch, ChainStore, StoreError, Table};
use crate::consensus::{Coin, UtxoView};
use crate::primitives::OutPoint;
use std::cell::RefCell;

pub struct Pending<'a, S: ?Sized> {
    store: &'a S,
    /// Batches not yet in the store, newest first (a run's earlier blocks, the cache).
    layers: Vec<&'a Batch>,
    pub batch: Batch,
    /// A store failure met while serving [`UtxoView::coin`], which cannot return it: the
    /// caller checks this before judging a block invalid for a "missing" input.
    failure: RefCell<Option<StoreError>>,
}

impl<'a, S: ChainStore + ?Sized> Pending<'a, S> {
    pub fn new(store: &'a S) -> Pending<'a, S> {
        Pending::over(store, Vec::new())
    }

    /// A batch over `layers` (staged writes, newest first) over `store`.
    pub fn over(store: &'a S, layers: Vec<&'a Batch>) -> Pending<'a, S> {
        Pending {
            store,
            layers,
            batch: Batch::default(),
            failure: RefCell::new(None),
        }
    }

    pub fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(v) = self.batch.pending(table, key) {
            return Ok(v.map(<[u8]>::to_vec));
        }
        layered_get(self.store, &self.layers, table, key)
    }

    pub fn put(&mut self, table: Table, key: Vec<u8>, value: Vec<u8>) {
        self.batch.put(table, key, value);
    }

    /// A put of a key that exists in no layer below (see [`Batch::put_new`]).
    pub fn put_new(&mut self, table: Table, key: Vec<u8>, value: Vec<u8>) {
        self.batch.put_new(table, key, value);
    }

    pub fn delete(&mut self, table: Table, key: Vec<u8>) {
        self.batch.delete(table, key);
    }

    /// The store failure hidden behind a `None` from [`UtxoView::coin`], if any.
    pub fn take_failure(&self) -> Option<StoreError> {
        self.failure.borrow_mut().take()
    }
}

/// `key` read through `layers` (newest first) and then `store`.
pub fn layered_get<S: ChainStore + ?Sized>(
    store: &S,
    layers: &[&Batch],
    table: Table,
    key: &[u8],
) -> Result<Option<Vec<u8>>, StoreError> {
    match layers.iter().find_map(|l| l.pending(table, key)) {
        Some(v) => Ok(v.map(<[u8]>::to_vec)),
        None => store.get(table, key),
    }
}

impl<S: ChainStore + ?Sized> UtxoView for Pending<'_, S> {
    fn coin(&self, outpoint: &OutPoint) -> Option<Coin> {
        let found = self
            .get(Table::Utxo, &outpoint_key(outpoint))
            .and_then(|v| v.map(|v| decode_coin(&v)).transpose());
        match found {
            Ok(coin) => coin,
            Err(e) => {
                self.failure.borrow_mut().get_or_insert(e);
                None
            }
        }
    }
}
