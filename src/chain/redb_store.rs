//! The on-disk store: two redb database files, one redb table per [`Table`]: the chain
//! state (UTXO set, explorer indexes, tip) in `chain.redb`, the blocks, their headers and
//! the best block's hash in `chain.blocks.redb` beside it. Two files, so a block can be
//! stored durably while the chain state cache is flushed on another thread (redb has
//! one writer per database); the chain state never gets ahead of the stored blocks
//! (chain/state.rs replays what it lags behind at open).
//!
//! redb is pure Rust with ACID, copy-on-write transactions: a commit is durable when it
//! returns and a crash at any moment leaves the last committed state. Commits use
//! two-phase commit (redb's recommendation when written data can come from untrusted
//! peers) and quick repair (a clean-enough restart after a crash stays fast).

use super::records::META_BEST;
use super::store::{scan_bounds, Batch, ChainStore, Direction, Entries, StoreError, Table};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
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

/// redb's page cache of the chain state file: part of the node's memory beyond
/// `--db-cache` (docs/chain.md).
pub const REDB_CACHE_BYTES: usize = 256 * 1024 * 1024;
/// redb's page cache of the blocks file (written once, read for the explorer and peers).
pub const REDB_BLOCKS_CACHE_BYTES: usize = 32 * 1024 * 1024;

/// Entries moved per pair of commits when a data directory from before the split is
/// converted (3 in unit tests, so they cross chunk boundaries).
const MIGRATION_CHUNK: usize = if cfg!(test) { 3 } else { 2_000 };

/// Whether a key of `table` lives in the blocks file.
fn in_blocks_file(table: Table, key: &[u8]) -> bool {
    match table {
        Table::Blocks | Table::Headers => true,
        Table::Meta => key == META_BEST,
        _ => false,
    }
}

/// The tables each file holds (the Meta table exists in both: the best block's hash in
/// the blocks file, the tip and the totals in the chain state file).
fn tables_of(blocks_file: bool) -> impl Iterator<Item = Table> {
    Table::ALL.into_iter().filter(move |t| {
        *t == Table::Meta || matches!(t, Table::Blocks | Table::Headers) == blocks_file
    })
}

pub struct RedbStore {
    /// The chain state file.
    db: Database,
    /// The blocks file.
    blocks: Database,
    /// Test hook (crash tests): milliseconds to wait inside a commit that writes the
    /// UTXO set (a chain state flush or a reorg), after every write is staged in the redb
    /// transaction and before it commits, so a test can kill the process mid-flush.
    flush_pause_ms: AtomicU64,
    /// Where commit times are recorded (`ferro_store_commit_seconds`), once set.
    commit_seconds: std::sync::OnceLock<prometheus::Histogram>,
}

impl RedbStore {
    /// Opens (or creates) the chain state file at `path` and the blocks file beside it
    /// (`chain.redb` → `chain.blocks.redb`), with page caches of [`REDB_CACHE_BYTES`] and
    /// [`REDB_BLOCKS_CACHE_BYTES`], and moves the blocks of a data directory made before
    /// the split (one file) into the blocks file.
    pub fn open(path: &Path) -> Result<RedbStore, StoreError> {
        Self::open_with_page_cache(path, REDB_CACHE_BYTES)
    }

    /// The blocks file that goes with the chain state file at `path`.
    pub fn blocks_path(path: &Path) -> std::path::PathBuf {
        path.with_extension("blocks.redb")
    }

    /// [`RedbStore::open`] with a redb page cache of `cache_bytes` for the chain state
    /// file (redb's own default is 1 GiB, which would dwarf the chain state cache
    /// `--db-cache` sizes).
    pub fn open_with_page_cache(path: &Path, cache_bytes: usize) -> Result<RedbStore, StoreError> {
        let open = |path: &Path, cache: usize, blocks_file: bool| -> Result<Database, StoreError> {
            let create = || redb::Builder::new().set_cache_size(cache).create(path);
            let db = match create() {
                Err(redb::DatabaseError::UpgradeRequired(_)) => {
                    upgrade_file_format(path)?;
                    create()
                }
                opened => opened,
            }
            .map_err(|e| StoreError(format!("cannot open {}: {e}", path.display())))?;
            let txn = db.begin_write().map_err(err)?;
            for table in tables_of(blocks_file) {
                txn.open_table(definition(table)).map_err(err)?;
            }
            txn.commit().map_err(err)?;
            Ok(db)
        };
        let db = open(path, cache_bytes, false)?;
        let blocks = open(&Self::blocks_path(path), REDB_BLOCKS_CACHE_BYTES, true)?;
        let store = RedbStore {
            db,
            blocks,
            flush_pause_ms: AtomicU64::new(0),
            commit_seconds: std::sync::OnceLock::new(),
        };
        store.move_blocks_out_of_state_file()?;
        Ok(store)
    }

    /// A data directory made before the split keeps its blocks, headers and best block
    /// in the chain state file: copies them into the blocks file and then removes them
    /// from the chain state file, [`MIGRATION_CHUNK`] entries per pair of commits (a big
    /// directory is never held in memory at once). A crash in between repeats the copy
    /// of what is left at the next start, which writes the same entries again.
    fn move_blocks_out_of_state_file(&self) -> Result<(), StoreError> {
        let read = self.db.begin_read().map_err(err)?;
        let mut moved_any = false;
        let mut chunk = Batch::default();
        let flush = |chunk: &mut Batch| -> Result<(), StoreError> {
            if chunk.is_empty() {
                return Ok(());
            }
            let mut removed = Batch::default();
            for (table, key, _) in chunk.ops() {
                removed.delete(table, key.to_vec());
            }
            Self::write(&self.blocks, chunk.ops().collect(), None)?;
            Self::write(&self.db, removed.ops().collect(), None)?;
            *chunk = Batch::default();
            Ok(())
        };
        for table in [Table::Blocks, Table::Headers] {
            let Ok(t) = read.open_table(definition(table)) else {
                continue; // a chain state file made after the split has no such table
            };
            for item in t.iter().map_err(err)? {
                let (k, v) = item.map_err(err)?;
                if !moved_any {
                    tracing::info!(
                        "moving the stored blocks into their own file (chain.blocks.redb)"
                    );
                    moved_any = true;
                }
                chunk.put(table, k.value().to_vec(), v.value().to_vec());
                if chunk.len() >= MIGRATION_CHUNK {
                    flush(&mut chunk)?;
                }
            }
        }
        let meta = read.open_table(definition(Table::Meta)).map_err(err)?;
        if let Some(best) = meta.get(META_BEST).map_err(err)? {
            chunk.put(Table::Meta, META_BEST.to_vec(), best.value().to_vec());
        }
        flush(&mut chunk)
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
        let db = if in_blocks_file(table, key) {
            &self.blocks
        } else {
            &self.db
        };
        let txn = db.begin_read().map_err(err)?;
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
        // Scans of the Meta table see the chain state file's records (nothing scans it).
        let db = if matches!(table, Table::Blocks | Table::Headers) {
            &self.blocks
        } else {
            &self.db
        };
        let txn = db.begin_read().map_err(err)?;
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

    /// Writes the blocks file's part of `batch` first, then the chain state file's: the
    /// chain state never gets ahead of the stored blocks. (The chain state writes a
    /// batch that spans both only where that order is the one it needs.)
    fn commit(&self, batch: &Batch) -> Result<(), StoreError> {
        let _timer = self.commit_seconds.get().map(|h| h.start_timer());
        let (blocks, state): (Vec<Write<'_>>, Vec<Write<'_>>) = batch
            .ops()
            .partition(|(table, key, _)| in_blocks_file(*table, key));
        if !blocks.is_empty() {
            Self::write(&self.blocks, blocks, None)?;
        }
        if !state.is_empty() {
            Self::write(&self.db, state, Some(&self.flush_pause_ms))?;
        }
        Ok(())
    }
}

/// Converts a database file written by redb 2 (file format v2, every data directory made
/// before the node moved to redb 4) to the format redb 4 reads, in place, with redb 2.6's
/// own upgrade (its last step rewrites the header, so a crash leaves the old format,
/// upgraded again at the next start).
fn upgrade_file_format(path: &Path) -> Result<(), StoreError> {
    tracing::info!(file = %path.display(), "upgrading the database file to redb's current file format");
    let fail = |e: &dyn std::fmt::Display| {
        StoreError(format!(
            "cannot upgrade {} to redb's current file format: {e}",
            path.display()
        ))
    };
    let mut db = redb2::Database::open(path).map_err(|e| fail(&e))?;
    db.upgrade().map_err(|e| fail(&e))?;
    Ok(())
}

/// One write of a batch: table, key, value (`None`: delete).
type Write<'a> = (Table, &'a [u8], Option<&'a [u8]>);

/// A table's writes in one transaction: the table, open, and its keys in order.
type TableWrites<'t, 'a> = (
    Table,
    redb::Table<'t, &'static [u8], &'static [u8]>,
    Vec<(&'a [u8], Option<&'a [u8]>)>,
);

/// Threads writing the tables of one commit at once: one a core, at most four (a flush
/// writes seven large tables; more threads than that would wait on the smaller ones).
fn write_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, 4))
}

fn write_table(group: &mut TableWrites<'_, '_>) -> Result<(), StoreError> {
    let (_, table, writes) = group;
    for (key, value) in writes.iter() {
        match value {
            Some(v) => {
                table.insert(*key, *v).map_err(err)?;
            }
            None => {
                table.remove(*key).map_err(err)?;
            }
        }
    }
    Ok(())
}

impl RedbStore {
    /// One durable redb transaction writing `ops` (in table order) into `db`; `pause`:
    /// the crash tests' hook (see [`RedbStore::flush_pause_ms`]), applied to writes of
    /// the UTXO set. The tables are written on up to one thread a core (at most four) at once
    /// (redb 4 lets separate tables of one transaction be written concurrently; a flush
    /// writes nine tables of similar size), and committed together.
    fn write(
        db: &Database,
        ops: Vec<Write<'_>>,
        pause: Option<&AtomicU64>,
    ) -> Result<(), StoreError> {
        let mut txn = db.begin_write().map_err(err)?;
        txn.set_two_phase_commit(true);
        txn.set_quick_repair(true);
        let writes_utxo = ops.iter().any(|(t, _, _)| *t == Table::Utxo);
        let count = ops.len();
        {
            let mut groups: Vec<TableWrites<'_, '_>> = Vec::new();
            for (table, key, value) in ops {
                match groups.last_mut() {
                    Some(group) if group.0 == table => group.2.push((key, value)),
                    _ => {
                        let open = txn.open_table(definition(table)).map_err(err)?;
                        groups.push((table, open, vec![(key, value)]));
                    }
                }
            }
            let threads = groups.len().min(write_threads()).max(1);
            if threads == 1 {
                for group in &mut groups {
                    write_table(group)?;
                }
            } else {
                // Largest tables first, each to the thread with the least to write so far.
                groups.sort_by_key(|g| std::cmp::Reverse(g.2.len()));
                let mut shares: Vec<(usize, Vec<TableWrites<'_, '_>>)> =
                    (0..threads).map(|_| (0, Vec::new())).collect();
                for group in groups {
                    if let Some(share) = shares.iter_mut().min_by_key(|s| s.0) {
                        share.0 += group.2.len();
                        share.1.push(group);
                    }
                }
                std::thread::scope(|scope| {
                    let workers: Vec<_> = shares
                        .into_iter()
                        .map(|(_, mut share)| {
                            scope.spawn(move || share.iter_mut().try_for_each(write_table))
                        })
                        .collect();
                    workers.into_iter().try_for_each(|w| {
                        w.join()
                            .unwrap_or_else(|_| Err(StoreError("a table writer panicked".into())))
                    })
                })?;
            }
        }
        let pause = pause.map_or(0, |p| p.load(Ordering::SeqCst));
        if pause > 0 && writes_utxo {
            tracing::warn!(
                entries = count,
                ms = pause,
                "test hook: chain state commit staged, pausing before it is written"
            );
            std::thread::sleep(Duration::from_millis(pause));
        }
        txn.commit().map_err(err)
    }
}
