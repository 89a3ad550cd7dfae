//! The storage trait under the chain state: named tables of ordered byte keys, read one key
//! or one key range at a time, written only through atomic batches.
//!
//! The chain logic is written once against this trait; [`MemoryStore`] serves tests and
//! [`RedbStore`](super::redb_store::RedbStore) is the on-disk store. Every change that
//! connecting or disconnecting blocks makes goes into one [`Batch`], committed in one
//! database transaction, so a crash leaves either all of it or none of it.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Mutex;

/// The tables of the chain database. See `docs/chain.md` for each key and value layout.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Table {
    /// block hash -> block encoding, for every stored block (active and side branches).
    Blocks,
    /// block hash -> header, chain work.
    Headers,
    /// height (u64 BE) -> block hash of the active chain.
    Active,
    /// outpoint -> coin: the UTXO set.
    Utxo,
    /// block hash -> the coins the block spent, in order (undo data).
    Undo,
    /// txid -> block hash, height, position (active chain only).
    TxIndex,
    /// outpoint -> spending txid and height (active chain only).
    SpentBy,
    /// pubkey hash || outpoint -> coin.
    AddrUtxo,
    /// pubkey hash || height (BE) || position (BE) -> txid.
    AddrHistory,
    /// pubkey hash -> balance, received, sent, tx count, utxo count, outputs received.
    AddrStats,
    /// (u64::MAX - balance) (BE) || address -> pubkey hash: the rich list, in order.
    Rich,
    /// small named records: the tip, the totals.
    Meta,
}

impl Table {
    pub const ALL: [Table; 12] = [
        Table::Blocks,
        Table::Headers,
        Table::Active,
        Table::Utxo,
        Table::Undo,
        Table::TxIndex,
        Table::SpentBy,
        Table::AddrUtxo,
        Table::AddrHistory,
        Table::AddrStats,
        Table::Rich,
        Table::Meta,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Table::Blocks => "blocks",
            Table::Headers => "headers",
            Table::Active => "active",
            Table::Utxo => "utxo",
            Table::Undo => "undo",
            Table::TxIndex => "tx_index",
            Table::SpentBy => "spent_by",
            Table::AddrUtxo => "addr_utxo",
            Table::AddrHistory => "addr_history",
            Table::AddrStats => "addr_stats",
            Table::Rich => "rich",
            Table::Meta => "meta",
        }
    }
}

/// A failure of the store itself (I/O, corruption), never of the data's validity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("chain store: {0}")]
pub struct StoreError(pub String);

/// Writes to apply atomically: the last write to a key wins.
#[derive(Default, Debug, Clone)]
pub struct Batch {
    ops: BTreeMap<(Table, Vec<u8>), Option<Vec<u8>>>,
}

impl Batch {
    pub fn put(&mut self, table: Table, key: Vec<u8>, value: Vec<u8>) {
        self.ops.insert((table, key), Some(value));
    }

    pub fn delete(&mut self, table: Table, key: Vec<u8>) {
        self.ops.insert((table, key), None);
    }

    /// `Some(Some(v))` written, `Some(None)` deleted, `None` untouched by this batch.
    pub fn pending(&self, table: Table, key: &[u8]) -> Option<Option<&[u8]>> {
        self.ops.get(&(table, key.to_vec())).map(|v| v.as_deref())
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    pub fn len(&self) -> usize {
        self.ops.len()
    }

    pub fn ops(&self) -> impl Iterator<Item = (Table, &[u8], Option<&[u8]>)> {
        self.ops
            .iter()
            .map(|((t, k), v)| (*t, k.as_slice(), v.as_deref()))
    }

    /// Adds `later`'s writes after this batch's.
    pub fn extend(&mut self, later: Batch) {
        self.ops.extend(later.ops);
    }
}

/// Key-value pairs returned by a scan, in scan order.
pub type Entries = Vec<(Vec<u8>, Vec<u8>)>;

type Tables = BTreeMap<Table, BTreeMap<Vec<u8>, Vec<u8>>>;

/// How to walk a key range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Forward,
    Reverse,
}

/// An ordered key-value store with atomic batches.
pub trait ChainStore: Send + Sync {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// Up to `limit` entries whose key starts with `prefix`, walking in `direction` and
    /// starting strictly after (forward) or before (reverse) `after` when given.
    fn scan(
        &self,
        table: Table,
        prefix: &[u8],
        after: Option<&[u8]>,
        direction: Direction,
        limit: usize,
    ) -> Result<Entries, StoreError>;

    /// Applies every write of `batch` in one atomic, durable transaction.
    fn commit(&self, batch: Batch) -> Result<(), StoreError>;
}

/// The smallest key above every key starting with `prefix`; `None` when there is none.
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// The key bounds of a scan as [`ChainStore::scan`] describes it.
pub fn scan_bounds(
    prefix: &[u8],
    after: Option<&[u8]>,
    direction: Direction,
) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    let mut lower = Bound::Included(prefix.to_vec());
    let mut upper = match prefix_end(prefix) {
        Some(end) => Bound::Excluded(end),
        None => Bound::Unbounded,
    };
    if let Some(after) = after {
        match direction {
            Direction::Forward => lower = Bound::Excluded(after.to_vec()),
            Direction::Reverse => upper = Bound::Excluded(after.to_vec()),
        }
    }
    (lower, upper)
}

/// An in-memory store for tests and benchmarks.
#[derive(Default)]
pub struct MemoryStore {
    tables: Mutex<Tables>,
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// Every entry of `table`, for comparing stores in tests.
    pub fn dump(&self, table: Table) -> Entries {
        let tables = self.tables.lock().unwrap_or_else(|e| e.into_inner());
        tables
            .get(&table)
            .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    }
}

impl ChainStore for MemoryStore {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let tables = self.tables.lock().unwrap_or_else(|e| e.into_inner());
        Ok(tables.get(&table).and_then(|t| t.get(key)).cloned())
    }

    fn scan(
        &self,
        table: Table,
        prefix: &[u8],
        after: Option<&[u8]>,
        direction: Direction,
        limit: usize,
    ) -> Result<Entries, StoreError> {
        let tables = self.tables.lock().unwrap_or_else(|e| e.into_inner());
        let Some(t) = tables.get(&table) else {
            return Ok(Vec::new());
        };
        let range = t.range(scan_bounds(prefix, after, direction));
        let pick = |(k, v): (&Vec<u8>, &Vec<u8>)| (k.clone(), v.clone());
        Ok(match direction {
            Direction::Forward => range.take(limit).map(pick).collect(),
            Direction::Reverse => range.rev().take(limit).map(pick).collect(),
        })
    }

    fn commit(&self, batch: Batch) -> Result<(), StoreError> {
        let mut tables = self.tables.lock().unwrap_or_else(|e| e.into_inner());
        for ((table, key), value) in batch.ops {
            let t = tables.entry(table).or_default();
            match value {
                Some(v) => {
                    t.insert(key, v);
                }
                None => {
                    t.remove(&key);
                }
            }
        }
        Ok(())
    }
}

impl<S: ChainStore + ?Sized> ChainStore for std::sync::Arc<S> {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        (**self).get(table, key)
    }

    fn scan(
        &self,
        table: Table,
        prefix: &[u8],
        after: Option<&[u8]>,
        direction: Direction,
        limit: usize,
    ) -> Result<Entries, StoreError> {
        (**self).scan(table, prefix, after, direction, limit)
    }

    fn commit(&self, batch: Batch) -> Result<(), StoreError> {
        (**self).commit(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_respect_prefix_direction_and_cursor() {
        let store = MemoryStore::new();
        let mut b = Batch::default();
        for k in [[1u8, 1], [1, 2], [1, 3], [2, 0], [0, 9]] {
            b.put(Table::Meta, k.to_vec(), vec![k[1]]);
        }
        b.put(Table::Utxo, vec![1, 1], vec![]);
        store.commit(b).expect("memory commit");
        let keys = |v: Vec<(Vec<u8>, Vec<u8>)>| v.into_iter().map(|(k, _)| k).collect::<Vec<_>>();
        let fwd = store.scan(Table::Meta, &[1], None, Direction::Forward, 10);
        assert_eq!(
            keys(fwd.expect("scan")),
            vec![vec![1, 1], vec![1, 2], vec![1, 3]]
        );
        let rev = store.scan(Table::Meta, &[1], None, Direction::Reverse, 2);
        assert_eq!(keys(rev.expect("scan")), vec![vec![1, 3], vec![1, 2]]);
        let after = store.scan(Table::Meta, &[1], Some(&[1, 3]), Direction::Reverse, 10);
        assert_eq!(keys(after.expect("scan")), vec![vec![1, 2], vec![1, 1]]);
        let after = store.scan(Table::Meta, &[1], Some(&[1, 1]), Direction::Forward, 10);
        assert_eq!(keys(after.expect("scan")), vec![vec![1, 2], vec![1, 3]]);
        assert_eq!(prefix_end(&[1, 255]), Some(vec![2]));
        assert_eq!(prefix_end(&[255]), None);
    }

    #[test]
    fn last_write_in_a_batch_wins() {
        let store = MemoryStore::new();
        let mut b = Batch::default();
        b.put(Table::Utxo, vec![1], vec![1]);
        b.delete(Table::Utxo, vec![1]);
        b.put(Table::Utxo, vec![2], vec![2]);
        store.commit(b).expect("memory commit");
        assert_eq!(store.get(Table::Utxo, &[1]), Ok(None));
        assert_eq!(store.get(Table::Utxo, &[2]), Ok(Some(vec![2])));
    }
}
