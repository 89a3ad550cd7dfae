//! The storage trait under the chain state: named tables of ordered byte keys, read one key
//! or one key range at a time, written only through atomic batches.
//!
//! The chain logic is written once against this trait; [`MemoryStore`] serves tests and
//! [`DiskStore`](super::disk_store::DiskStore) is the on-disk store. Every change that
//! connecting or disconnecting blocks makes goes into one [`Batch`], committed in one
//! database transaction, so a crash leaves either all of it or none of it.

use rayon::prelude::*;
use std::collections::{BTreeMap, HashMap};
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

    /// Tables the read side scans in key order (through the chain state cache).
    pub fn scanned(self) -> bool {
        matches!(self, Table::AddrUtxo | Table::AddrHistory | Table::Rich)
    }

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

/// One pending write of a [`Batch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Write `value`. `fresh`: the key is known to be absent from every layer below the
    /// batch (the store, and the chain state cache when the batch goes there), so
    /// deleting it again before the batch is written needs no write at all.
    Put {
        value: Vec<u8>,
        fresh: bool,
    },
    Delete,
}

/// One table's writes in a [`Batch`]: ordered for the tables the read side scans (the
/// address indexes and the rich list), hashed for the rest (point lookups only: a hash
/// probe instead of a B-tree descent comparing keys all the way down), sorted when the
/// batch is written.
#[derive(Debug, Clone)]
pub enum TableOps {
    Ordered(BTreeMap<Vec<u8>, Op>),
    Hashed(HashMap<Vec<u8>, Op>),
}

impl TableOps {
    fn new(table: Table) -> TableOps {
        if table.scanned() {
            TableOps::Ordered(BTreeMap::new())
        } else {
            TableOps::Hashed(HashMap::new())
        }
    }

    fn get(&self, key: &[u8]) -> Option<&Op> {
        match self {
            TableOps::Ordered(m) => m.get(key),
            TableOps::Hashed(m) => m.get(key),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            TableOps::Ordered(m) => m.len(),
            TableOps::Hashed(m) => m.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every write in key order.
    pub fn sorted(&self) -> Vec<(&Vec<u8>, &Op)> {
        match self {
            TableOps::Ordered(m) => m.iter().collect(),
            TableOps::Hashed(m) => {
                let mut v: Vec<_> = m.iter().collect();
                v.par_sort_unstable_by(|a, b| a.0.cmp(b.0));
                v
            }
        }
    }

    /// The writes as an ordered map (borrowed for ordered tables; a sorted copy for
    /// hashed ones, which nothing scans in practice).
    pub fn ordered(&self) -> std::borrow::Cow<'_, BTreeMap<Vec<u8>, Op>> {
        match self {
            TableOps::Ordered(m) => std::borrow::Cow::Borrowed(m),
            TableOps::Hashed(m) => {
                std::borrow::Cow::Owned(m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            }
        }
    }

    fn into_iter_any(self) -> Box<dyn Iterator<Item = (Vec<u8>, Op)>> {
        match self {
            TableOps::Ordered(m) => Box::new(m.into_iter()),
            TableOps::Hashed(m) => Box::new(m.into_iter()),
        }
    }
}

/// One table's writes in key order.
type SortedOps<'a> = Vec<(&'a Vec<u8>, &'a Op)>;

/// Writes to apply atomically: the last write to a key wins. A store applies them table
/// by table in key order.
#[derive(Default, Debug, Clone)]
pub struct Batch {
    tables: BTreeMap<Table, TableOps>,
    /// Estimated heap bytes held ([`Batch::bytes`]).
    bytes: usize,
    entries: usize,
    /// While on ([`Batch::start_journal`]): every write's previous state of its key, oldest
    /// first, so the writes since a [`Mark`] can be taken back ([`Batch::rollback`]).
    journal: Option<Vec<Undone>>,
}

/// A key's state before one journaled write: its previous op, or `None` when the batch
/// did not hold it.
#[derive(Debug, Clone)]
struct Undone {
    table: Table,
    key: Vec<u8>,
    previous: Option<Op>,
}

/// A point in a journaled batch's history to roll back to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    journal: usize,
    bytes: usize,
    entries: usize,
}

/// Estimated heap bytes of one batch entry besides its key and value bytes: the map slot
/// (key and op, 56 bytes) with the map's spare room, and the allocator's rounding.
pub const ENTRY_OVERHEAD: usize = 96;

fn entry_bytes(key: &[u8], op: &Op) -> usize {
    let value = match op {
        Op::Put { value, .. } => value.capacity(),
        Op::Delete => 0,
    };
    ENTRY_OVERHEAD + key.len() + value
}

/// A put into one table's map through its entry (one lookup): returns the change in
/// estimated bytes and in entries. A key this batch deletes may exist below, so a put
/// over a delete must reach the store however new the caller says the key is.
macro_rules! write_entry {
    ($entry:expr, $value:expr, $fresh:expr, $kind:ident, $journal:expr) => {
        match $entry {
            std::collections::$kind::Entry::Occupied(mut e) => {
                let fresh = matches!(e.get(), Op::Put { fresh: true, .. });
                let op = Op::Put {
                    value: $value,
                    fresh,
                };
                let delta =
                    entry_bytes(e.key(), &op) as isize - entry_bytes(e.key(), e.get()) as isize;
                let previous = e.insert(op);
                let undo = $journal.then(|| (e.key().clone(), Some(previous)));
                (delta, 0, undo)
            }
            std::collections::$kind::Entry::Vacant(e) => {
                let op = Op::Put {
                    value: $value,
                    fresh: $fresh,
                };
                let bytes = entry_bytes(e.key(), &op) as isize;
                let undo = $journal.then(|| (e.key().clone(), None));
                e.insert(op);
                (bytes, 1, undo)
            }
        }
    };
}

/// A delete through one table's entry: a fresh put never reached any layer below and
/// simply goes; anything else becomes a delete.
macro_rules! delete_entry {
    ($entry:expr, $kind:ident, $journal:expr) => {
        match $entry {
            std::collections::$kind::Entry::Occupied(e)
                if matches!(e.get(), Op::Put { fresh: true, .. }) =>
            {
                let bytes = entry_bytes(e.key(), e.get()) as isize;
                let (key, previous) = e.remove_entry();
                (-bytes, -1, $journal.then(|| (key, Some(previous))))
            }
            std::collections::$kind::Entry::Occupied(mut e) => {
                let delta = entry_bytes(e.key(), &Op::Delete) as isize
                    - entry_bytes(e.key(), e.get()) as isize;
                let previous = e.insert(Op::Delete);
                (
                    delta,
                    0,
                    $journal.then(|| (e.key().clone(), Some(previous))),
                )
            }
            std::collections::$kind::Entry::Vacant(e) => {
                let bytes = entry_bytes(e.key(), &Op::Delete) as isize;
                let undo = $journal.then(|| (e.key().clone(), None));
                e.insert(Op::Delete);
                (bytes, 1, undo)
            }
        }
    };
}

impl Batch {
    pub fn put(&mut self, table: Table, key: Vec<u8>, value: Vec<u8>) {
        self.write(table, key, value, false);
    }

    /// Like [`Batch::put`] for a key known to exist in no layer below (a new outpoint,
    /// txid or history entry): if it is deleted again before the batch is written, the
    /// entry goes away instead of becoming a delete.
    pub fn put_new(&mut self, table: Table, key: Vec<u8>, value: Vec<u8>) {
        self.write(table, key, value, true);
    }

    fn write(&mut self, table: Table, key: Vec<u8>, value: Vec<u8>, fresh: bool) {
        let map = self
            .tables
            .entry(table)
            .or_insert_with(|| TableOps::new(table));
        let journal = self.journal.is_some();
        let (bytes, entries, undo) = match map {
            TableOps::Ordered(m) => write_entry!(m.entry(key), value, fresh, btree_map, journal),
            TableOps::Hashed(m) => write_entry!(m.entry(key), value, fresh, hash_map, journal),
        };
        self.apply(bytes, entries);
        self.record(table, undo);
    }

    pub fn delete(&mut self, table: Table, key: Vec<u8>) {
        let map = self
            .tables
            .entry(table)
            .or_insert_with(|| TableOps::new(table));
        let journal = self.journal.is_some();
        let (bytes, entries, undo) = match map {
            TableOps::Ordered(m) => delete_entry!(m.entry(key), btree_map, journal),
            TableOps::Hashed(m) => delete_entry!(m.entry(key), hash_map, journal),
        };
        self.apply(bytes, entries);
        self.record(table, undo);
    }

    fn apply(&mut self, bytes: isize, entries: isize) {
        self.bytes = self.bytes.saturating_add_signed(bytes);
        self.entries = self.entries.saturating_add_signed(entries);
    }

    fn record(&mut self, table: Table, undo: Option<(Vec<u8>, Option<Op>)>) {
        if let (Some(journal), Some((key, previous))) = (self.journal.as_mut(), undo) {
            journal.push(Undone {
                table,
                key,
                previous,
            });
        }
    }

    /// Starts recording every write's previous state, so writes can be taken back to a
    /// [`Mark`]. Costs a key copy per write until [`Batch::end_journal`].
    pub fn start_journal(&mut self) {
        self.journal = Some(Vec::new());
    }

    /// Stops recording and forgets the journal: the writes since it started stay.
    pub fn end_journal(&mut self) {
        self.journal = None;
    }

    /// The batch's state now, to [`Batch::rollback`] to (journal on).
    pub fn mark(&self) -> Mark {
        Mark {
            journal: self.journal.as_ref().map_or(0, Vec::len),
            bytes: self.bytes,
            entries: self.entries,
        }
    }

    /// Takes back every journaled write made since `mark`, newest first, so the batch
    /// holds exactly what it held at `mark`.
    pub fn rollback(&mut self, mark: Mark) {
        let Some(mut journal) = self.journal.take() else {
            return;
        };
        while journal.len() > mark.journal {
            let Some(undone) = journal.pop() else { break };
            let map = self
                .tables
                .entry(undone.table)
                .or_insert_with(|| TableOps::new(undone.table));
            match (map, undone.previous) {
                (TableOps::Ordered(m), None) => {
                    m.remove(&undone.key);
                }
                (TableOps::Hashed(m), None) => {
                    m.remove(&undone.key);
                }
                (TableOps::Ordered(m), Some(op)) => {
                    m.insert(undone.key, op);
                }
                (TableOps::Hashed(m), Some(op)) => {
                    m.insert(undone.key, op);
                }
            }
        }
        self.journal = Some(journal);
        self.bytes = mark.bytes;
        self.entries = mark.entries;
    }

    /// `Some(Some(v))` written, `Some(None)` deleted, `None` untouched by this batch.
    pub fn pending(&self, table: Table, key: &[u8]) -> Option<Option<&[u8]>> {
        self.tables.get(&table)?.get(key).map(|op| match op {
            Op::Put { value, .. } => Some(value.as_slice()),
            Op::Delete => None,
        })
    }

    /// This batch's writes to `table`.
    pub fn table(&self, table: Table) -> Option<&TableOps> {
        self.tables.get(&table)
    }

    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// Entries (puts and deletes) held.
    pub fn len(&self) -> usize {
        self.entries
    }

    /// Estimated heap bytes held: key and value bytes plus [`ENTRY_OVERHEAD`] per entry.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Every write, by table then key.
    pub fn ops(&self) -> impl Iterator<Item = (Table, &[u8], Option<&[u8]>)> {
        // The hashed tables are sorted first, all at once across the cores (a flush
        // sorts hundreds of thousands of keys; the store then inserts them in order).
        let sorted: Vec<(Table, SortedOps<'_>)> = self
            .tables
            .par_iter()
            .map(|(t, map)| (*t, map.sorted()))
            .collect();
        sorted.into_iter().flat_map(|(t, ops)| {
            ops.into_iter().map(move |(k, op)| {
                let value = match op {
                    Op::Put { value, .. } => Some(value.as_slice()),
                    Op::Delete => None,
                };
                (t, k.as_slice(), value)
            })
        })
    }

    /// Adds `later`'s writes after this batch's (a fresh put of `later` deleted here
    /// stays a put that must reach the store; a delete of a fresh put here cancels it).
    pub fn extend(&mut self, later: Batch) {
        for (table, map) in later.tables {
            for (key, op) in map.into_iter_any() {
                match op {
                    Op::Put { value, fresh } => self.write(table, key, value, fresh),
                    Op::Delete => self.delete(table, key),
                }
            }
        }
    }

    /// Moves `table`'s writes out into their own batch.
    pub fn split_off(&mut self, table: Table) -> Batch {
        let mut out = Batch::default();
        if let Some(map) = self.tables.remove(&table) {
            for (key, op) in map.sorted() {
                let b = entry_bytes(key, op);
                self.bytes -= b;
                self.entries -= 1;
                out.bytes += b;
                out.entries += 1;
            }
            out.tables.insert(table, map);
        }
        out
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

    /// Applies every write of `batch` in one atomic, durable transaction. On failure
    /// nothing of the chain state is written and the caller still has the batch (a batch
    /// that also stores blocks may have stored them: blocks are written first, and a
    /// stored block is only a candidate until the chain state says otherwise). A store
    /// that cannot promise this for a failure part way (`DiskStore`) refuses every later
    /// call instead.
    fn commit(&self, batch: &Batch) -> Result<(), StoreError>;
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

/// [`ChainStore::scan`] over `store` with `overlay` (a batch's writes to `table`, not yet
/// in the store) laid on top: an overlay put replaces or adds an entry, an overlay delete
/// hides one. The store is read in chunks while the merge needs more, so a scan for the
/// top 10 reads about 10 entries, however large the overlay.
pub fn merged_scan<S: ChainStore + ?Sized>(
    store: &S,
    overlay: Option<&TableOps>,
    table: Table,
    prefix: &[u8],
    after: Option<&[u8]>,
    direction: Direction,
    limit: usize,
) -> Result<Entries, StoreError> {
    let Some(overlay) = overlay.filter(|o| !o.is_empty()) else {
        return store.scan(table, prefix, after, direction, limit);
    };
    let overlay = overlay.ordered();
    let bounds = scan_bounds(prefix, after, direction);
    if bounds_empty(&bounds) || limit == 0 {
        return Ok(Vec::new());
    }
    let mut layer: Box<dyn Iterator<Item = (&Vec<u8>, &Op)>> = match direction {
        Direction::Forward => Box::new(overlay.range(bounds)),
        Direction::Reverse => Box::new(overlay.range(bounds).rev()),
    };
    // Keys sort before others in scan order.
    let before = |a: &[u8], b: &[u8]| match direction {
        Direction::Forward => a < b,
        Direction::Reverse => a > b,
    };
    let chunk = limit.clamp(16, 1024);
    let mut below: std::collections::VecDeque<(Vec<u8>, Vec<u8>)> = Default::default();
    let mut cursor: Option<Vec<u8>> = after.map(<[u8]>::to_vec);
    let mut below_done = false;
    let mut next_layer = layer.next();
    let mut out = Vec::new();
    while out.len() < limit {
        if below.is_empty() && !below_done {
            let got = store.scan(table, prefix, cursor.as_deref(), direction, chunk)?;
            below_done = got.len() < chunk;
            if let Some((k, _)) = got.last() {
                cursor = Some(k.clone());
            }
            below.extend(got);
        }
        match (next_layer, below.front()) {
            (None, None) => break,
            (Some((k, op)), front) => {
                let store_first = front.is_some_and(|(sk, _)| before(sk, k));
                if store_first {
                    out.extend(below.pop_front());
                    continue;
                }
                if front.is_some_and(|(sk, _)| sk == k) {
                    below.pop_front();
                }
                if let Op::Put { value, .. } = op {
                    out.push((k.clone(), value.clone()));
                }
                next_layer = layer.next();
            }
            (None, Some(_)) => out.extend(below.pop_front()),
        }
    }
    Ok(out)
}

/// Whether bounds from [`scan_bounds`] hold no key at all (a cursor outside the prefix):
/// `BTreeMap::range` panics on such bounds.
pub fn bounds_empty(bounds: &(Bound<Vec<u8>>, Bound<Vec<u8>>)) -> bool {
    match bounds {
        (Bound::Included(l), Bound::Excluded(u)) | (Bound::Excluded(l), Bound::Excluded(u)) => {
            l >= u
        }
        (Bound::Excluded(l), Bound::Included(u)) => l >= u,
        (Bound::Included(l), Bound::Included(u)) => l > u,
        _ => false,
    }
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
        let bounds = scan_bounds(prefix, after, direction);
        if bounds_empty(&bounds) {
            return Ok(Vec::new());
        }
        let range = t.range(bounds);
        let pick = |(k, v): (&Vec<u8>, &Vec<u8>)| (k.clone(), v.clone());
        Ok(match direction {
            Direction::Forward => range.take(limit).map(pick).collect(),
            Direction::Reverse => range.rev().take(limit).map(pick).collect(),
        })
    }

    fn commit(&self, batch: &Batch) -> Result<(), StoreError> {
        let mut tables = self.tables.lock().unwrap_or_else(|e| e.into_inner());
        for (table, key, value) in batch.ops() {
            let t = tables.entry(table).or_default();
            match value {
                Some(v) => {
                    t.insert(key.to_vec(), v.to_vec());
                }
                None => {
                    t.remove(key);
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

    fn commit(&self, batch: &Batch) -> Result<(), StoreError> {
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
        store.commit(&b).expect("memory commit");
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

    /// A scan through an overlay equals the scan of the store after the overlay is
    /// committed, in both directions, with cursors and limits, whatever the chunking.
    #[test]
    fn merged_scan_equals_scan_after_commit() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..40 {
            let store = MemoryStore::new();
            let mut base = Batch::default();
            for _ in 0..rng.gen_range(0..3000) {
                let k = vec![rng.gen_range(0..4u8), rng.gen(), rng.gen()];
                base.put(Table::Rich, k.clone(), k);
            }
            store.commit(&base).expect("memory commit");
            let mut overlay = Batch::default();
            for _ in 0..rng.gen_range(0..500) {
                let k = vec![rng.gen_range(0..4u8), rng.gen(), rng.gen()];
                if rng.gen_bool(0.5) {
                    overlay.delete(Table::Rich, k);
                } else {
                    overlay.put(Table::Rich, k, vec![9]);
                }
            }
            let after_commit = MemoryStore::new();
            after_commit.commit(&base).expect("memory commit");
            after_commit.commit(&overlay).expect("memory commit");
            for _ in 0..20 {
                let prefix: Vec<u8> = if rng.gen_bool(0.5) {
                    vec![rng.gen_range(0..4u8)]
                } else {
                    vec![]
                };
                let direction = if rng.gen_bool(0.5) {
                    Direction::Forward
                } else {
                    Direction::Reverse
                };
                let after: Option<Vec<u8>> = rng
                    .gen_bool(0.3)
                    .then(|| vec![rng.gen_range(0..4u8), rng.gen(), rng.gen()]);
                let limit = [0usize, 1, 10, 100, 5000][rng.gen_range(0..5)];
                let merged = merged_scan(
                    &store,
                    overlay.table(Table::Rich),
                    Table::Rich,
                    &prefix,
                    after.as_deref(),
                    direction,
                    limit,
                )
                .expect("scan");
                let expected = after_commit
                    .scan(Table::Rich, &prefix, after.as_deref(), direction, limit)
                    .expect("scan");
                assert_eq!(merged, expected);
            }
        }
    }

    #[test]
    fn fresh_puts_deleted_again_leave_nothing() {
        let mut b = Batch::default();
        b.put_new(Table::Utxo, vec![1], vec![1]);
        b.delete(Table::Utxo, vec![1]);
        assert!(b.is_empty() && b.bytes() == 0);
        // A put over a delete must reach the store even when the key is said to be new.
        b.delete(Table::Utxo, vec![2]);
        b.put_new(Table::Utxo, vec![2], vec![2]);
        b.delete(Table::Utxo, vec![2]);
        assert_eq!(b.pending(Table::Utxo, &[2]), Some(None));
        // Merging: a later delete of an earlier fresh put cancels both.
        let mut cache = Batch::default();
        cache.put_new(Table::Utxo, vec![3], vec![3]);
        let mut later = Batch::default();
        later.delete(Table::Utxo, vec![3]);
        later.put(Table::Utxo, vec![4], vec![4]);
        cache.extend(later);
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.pending(Table::Utxo, &[3]), None);
        assert_eq!(
            cache.bytes(),
            ENTRY_OVERHEAD + 1 + vec![4u8].capacity(),
            "bytes follow the entries"
        );
    }

    #[test]
    fn last_write_in_a_batch_wins() {
        let store = MemoryStore::new();
        let mut b = Batch::default();
        b.put(Table::Utxo, vec![1], vec![1]);
        b.delete(Table::Utxo, vec![1]);
        b.put(Table::Utxo, vec![2], vec![2]);
        store.commit(&b).expect("memory commit");
        assert_eq!(store.get(Table::Utxo, &[1]), Ok(None));
        assert_eq!(store.get(Table::Utxo, &[2]), Ok(Some(vec![2])));
    }

    /// Everything a batch holds, with its fresh flags, its size and its entry count.
    type Snapshot = (Vec<(Table, Vec<u8>, Op)>, usize, usize);

    fn snapshot(b: &Batch) -> Snapshot {
        let mut ops = Vec::new();
        for (t, map) in &b.tables {
            for (k, op) in map.sorted() {
                ops.push((*t, k.clone(), op.clone()));
            }
        }
        (ops, b.bytes(), b.len())
    }

    /// Random puts, fresh puts and deletes after a mark, taken back, leave the batch
    /// exactly as it was at the mark (ops, fresh flags, bytes, entries), in hashed and
    /// ordered tables, over keys written before the mark and new ones; rolling back to
    /// an inner mark and then to an outer one works too.
    #[test]
    fn rollback_restores_the_batch_exactly() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let write = |b: &mut Batch, rng: &mut rand::rngs::StdRng| {
            let table = [Table::Utxo, Table::Rich][rng.gen_range(0..2)];
            let key = vec![rng.gen_range(0..40u8)];
            let value = vec![0u8; rng.gen_range(0..9)];
            match rng.gen_range(0..3) {
                0 => b.put(table, key, value),
                1 => b.put_new(table, key, value),
                _ => b.delete(table, key),
            }
        };
        for _ in 0..200 {
            let mut b = Batch::default();
            for _ in 0..rng.gen_range(0..60) {
                write(&mut b, &mut rng);
            }
            b.start_journal();
            let outer = b.mark();
            let at_outer = snapshot(&b);
            for _ in 0..rng.gen_range(0..60) {
                write(&mut b, &mut rng);
            }
            let inner = b.mark();
            let at_inner = snapshot(&b);
            for _ in 0..rng.gen_range(0..60) {
                write(&mut b, &mut rng);
            }
            b.rollback(inner);
            assert_eq!(snapshot(&b), at_inner);
            b.rollback(outer);
            assert_eq!(snapshot(&b), at_outer);
            // After the journal ends, writes stay and nothing is recorded.
            b.end_journal();
            write(&mut b, &mut rng);
            let kept = snapshot(&b);
            b.rollback(outer);
            assert_eq!(snapshot(&b), kept);
        }
    }
}
