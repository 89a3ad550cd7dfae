//! The on-disk store: one redb database file, one redb table per [`Table`].
//!
//! redb is pure Rust with ACID, copy-on-write transactions: a commit is durable when it
//! returns and a crash at any moment leaves the last committed state. Commits use
//! two-phase commit (redb's recommendation when written data can come from untrusted
//! peers) and quick repair (a clean-enough restart after a crash stays fast).

use super::store::{scan_bounds, Batch, ChainStore, Direction, Entries, StoreError, Table};
use redb::{Database, TableDefinition};
use std::ops::Bound;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

fn definition(table: Table) -> TableDefinition<'static, &'static [u8], &'static [u8]> {
    TableDefinition::new(table.name())
}

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

fn bound_ref(b: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match b {
        Bound::Included(v) => Bound::Included(v.as_slice()),
        Bound::Excluded(v) => Bound::Excluded(v.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

type RangeItem<'a> = Result<
    (
        redb::AccessGuard<'a, &'static [u8]>,
        redb::AccessGuard<'a, &'static [u8]>,
    ),
    redb::StorageError,
>;
type OpenTable<'t> = (Table, redb::Table<'t, &'static [u8], &'static [u8]>);

/// redb's page cache: part of the node's memory beyond `--db-cache` (docs/chain.md).
pub const REDB_CACHE_BYTES: usize = 256 * 1024 * 1024;

pub struct RedbStore {
    db: Database,
    /// Test hook (crash tests): milliseconds to wait inside a commit that writes the
    /// UTXO set (a chain state flush or a reorg), after every write is staged in the redb
    /// transaction and before it commits, so a test can kill the process mid-flush.
    flush_pause_ms: AtomicU64,
    /// Where commit times are recorded (`ferro_store_commit_seconds`), once set.
    commit_seconds: std::sync::OnceLock<prometheus::Histogram>,
}

impl RedbStore {
    /// Opens (or creates) the database file at `path` and makes sure every table exists,
    /// with a page cache of [`REDB_CACHE_BYTES`].
    pub fn open(path: &Path) -> Result<RedbStore, StoreError> {
        Self::open_with_page_cache(path, REDB_CACHE_BYTES)
    }

    /// [`RedbStore::open`] with a redb page cache of `cache_bytes` (redb's own default is
    /// 1 GiB, which would dwarf the chain state cache `--db-cache` sizes).
    pub fn open_with_page_cache(path: &Path, cache_bytes: usize) -> Result<RedbStore, StoreError> {
        let db = redb::Builder::new()
            .set_cache_size(cache_bytes)
            .create(path)
            .map_err(|e| StoreError(format!("cannot open {}: {e}", path.display())))?;
        let txn = db.begin_write().map_err(err)?;
        for table in Table::ALL {
            txn.open_table(definition(table)).map_err(err)?;
        }
        txn.commit().map_err(err)?;
        Ok(RedbStore {
            db,
            flush_pause_ms: AtomicU64::new(0),
            commit_seconds: std::sync::OnceLock::new(),
        })
    }

    /// Records the time of every later commit in `histogram` (the first call wins).
    pub fn observe_commits(&self, histogram: prometheus::Histogram) {
        let _ = self.commit_seconds.set(histogram);
    }

    /// Test hook: see [`RedbStore::flush_pause_ms`]. Zero (the default) turns it off.
    pub fn pause_flushes(&self, pause: Duration) {
        let ms = u64::try_from(pause.as_millis()).unwrap_or(u64::MAX);
        self.flush_pause_ms.store(ms, Ordering::SeqCst);
    }
}

impl ChainStore for RedbStore {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read().map_err(err)?;
        let t = txn.open_table(definition(table)).map_err(err)?;
        Ok(t.get(key).map_err(err)?.map(|v| v.value().to_vec()))
    }

    fn scan(
        &self,
        table: Table,
        prefix: &[u8],
        after: Option<&[u8]>,
        direction: Direction,
        limit: usize,
    ) -> Result<Entries, StoreError> {
        let txn = self.db.begin_read().map_err(err)?;
        let t = txn.open_table(definition(table)).map_err(err)?;
        let (lower, upper) = scan_bounds(prefix, after, direction);
        let range = t
            .range::<&[u8]>((bound_ref(&lower), bound_ref(&upper)))
            .map_err(err)?;
        let mut out = Vec::new();
        let mut push = |item: RangeItem<'_>| -> Result<bool, StoreError> {
            let (k, v) = item.map_err(err)?;
            out.push((k.value().to_vec(), v.value().to_vec()));
            Ok(out.len() < limit)
        };
        if limit == 0 {
            return Ok(Vec::new());
        }
        match direction {
            Direction::Forward => {
                for item in range {
                    if !push(item)? {
                        break;
                    }
                }
            }
            Direction::Reverse => {
                for item in range.rev() {
                    if !push(item)? {
                        break;
                    }
                }
            }
        }
        Ok(out)
    }

    fn commit(&self, batch: &Batch) -> Result<(), StoreError> {
        let _timer = self.commit_seconds.get().map(|h| h.start_timer());
        let mut txn = self.db.begin_write().map_err(err)?;
        txn.set_two_phase_commit(true);
        txn.set_quick_repair(true);
        {
            let mut tables: Vec<OpenTable<'_>> = Vec::new();
            for (table, key, value) in batch.ops() {
                let index = match tables.iter().position(|(t, _)| *t == table) {
                    Some(i) => i,
                    None => {
                        tables.push((table, txn.open_table(definition(table)).map_err(err)?));
                        tables.len() - 1
                    }
                };
                let t = &mut tables[index].1;
                match value {
                    Some(v) => {
                        t.insert(key, v).map_err(err)?;
                    }
                    None => {
                        t.remove(key).map_err(err)?;
                    }
                }
            }
        }
        let pause = self.flush_pause_ms.load(Ordering::SeqCst);
        if pause > 0 && batch.table(Table::Utxo).is_some() {
            tracing::warn!(
                entries = batch.len(),
                ms = pause,
                "test hook: chain state commit staged, pausing before it is written"
            );
            std::thread::sleep(Duration::from_millis(pause));
        }
        txn.commit().map_err(err)
    }
}
