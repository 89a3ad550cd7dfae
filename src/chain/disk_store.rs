//! The on-disk store, three parts in the data directory:
//!
//! - `chain.blocks.redb` (redb): the blocks, their headers and the best block's hash;
//! - `chain.state/` (fjall, an LSM): the chain state but the rich list: UTXO set, undo
//!   data, the explorer's indexes, the active chain, the tip and the totals;
//! - `chain.redb` (redb): the rich list.
//!
//! Why two engines (docs/chain.md, BENCHMARKS.md "Third round"): the chain state's large
//! tables are keyed by txid, outpoint or address hash, and a copy-on-write B-tree rewrites
//! a page for each of those random keys, so a flush of redb costs in proportion to the
//! whole chain state once it is large; an LSM writes what changed. The rich list is the
//! exception: every balance change moves its key, and a range read over an LSM walks the
//! tombstones of the moved keys, right at the top of the list; in redb the top-10 read
//! stays in microseconds.
//!
//! Order and crash safety. A commit writes the blocks file first: the chain state never
//! gets ahead of the stored blocks (chain/state.rs replays what it lags behind at open).
//! Then one fjall batch, durable when it returns, holds the chain state's writes *and* a
//! redo record of the rich list's writes; then the rich list is written to redb. A crash
//! before fjall's commit leaves the old chain state (replayed from the blocks at open); a
//! crash after it leaves the redo record, whose writes the next open makes where redb
//! lacks them, before anything reads (the same puts and deletes: writing them twice
//! changes nothing). Each later fjall batch replaces the record of the one before, whose
//! redb write had returned.
//!
//! A chain state commit that fails part way (an error or a panic in fjall's commit, or in
//! redb's after it) stops the store: every later read and write fails until the node
//! restarts (the `full_node` process aborts), and the restart repairs it as after a crash;
//! nothing goes on over two parts that may disagree.
//!
//! redb commits use two-phase commit (redb's recommendation when written data can come
//! from untrusted peers) and quick repair; fjall batches are journalled and fsynced
//! (`PersistMode::SyncAll`) before they return.

use super::records::META_BEST;
use super::store::{
    bounds_empty, scan_bounds, Batch, ChainStore, Direction, Entries, StoreError, Table,
};
use fjall::{Keyspace, KeyspaceCreateOptions, PersistMode};
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
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

/// redb's page cache of the rich list file: part of the node's memory beyond
/// `--db-cache` (docs/chain.md).
pub const REDB_CACHE_BYTES: usize = 64 * 1024 * 1024;
/// redb's page cache of the blocks file (written once, read for the explorer and peers).
pub const REDB_BLOCKS_CACHE_BYTES: usize = 32 * 1024 * 1024;
/// fjall's block cache of the chain state.
pub const FJALL_CACHE_BYTES: u64 = 64 * 1024 * 1024;
/// The size at which a chain state keyspace's memtable is sealed and written out.
pub const FJALL_MEMTABLE_BYTES: u64 = 8 * 1024 * 1024;
/// fjall's journals past this size make it write sealed memtables out (and hold writes
/// until it has): with [`FJALL_MEMTABLE_BYTES`], what bounds fjall's memtables in memory.
/// fjall's minimum.
pub const FJALL_JOURNAL_BYTES: u64 = 64 * 1024 * 1024;

/// Entries moved per pair of commits when a data directory of an older layout is
/// converted (3 in unit tests, so they cross chunk boundaries), and the most bytes
/// (estimated) such a chunk holds: old blocks are up to `max_block_size` each.
const MIGRATION_CHUNK: usize = if cfg!(test) { 3 } else { 10_000 };
const MIGRATION_CHUNK_BYTES: usize = 64 * 1024 * 1024;

/// The layout marker in `chain.redb`: a table named like the old `meta` table but typed
/// differently, so a node of an earlier release refuses this data directory (its open of
/// `meta` fails with a type mismatch before it writes anything) instead of taking the
/// rich list file for an empty chain state. Its one record is the layout's version.
const LAYOUT: TableDefinition<'static, u64, u64> = TableDefinition::new("meta");
/// The layout this module writes: the chain state in fjall (3; 2 was everything in redb
/// with the blocks in their own file, 1 everything in one file).
const LAYOUT_VERSION: u64 = 3;

/// The fjall keyspace of the rich list's redo record.
const REDO_KEYSPACE: &str = "rich_redo";
/// The largest chunk of the redo record (a value of its own in fjall).
const REDO_CHUNK_BYTES: usize = 1 << 20;

/// Which part of the store holds a key.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Home {
    Blocks,
    Rich,
    State,
}

fn home(table: Table, key: &[u8]) -> Home {
    match table {
        Table::Blocks | Table::Headers => Home::Blocks,
        Table::Meta if key == META_BEST => Home::Blocks,
        Table::Rich => Home::Rich,
        _ => Home::State,
    }
}

/// The tables in fjall.
fn state_tables() -> impl Iterator<Item = Table> {
    Table::ALL
        .into_iter()
        .filter(|t| home(*t, b"") == Home::State)
}

/// The chain state in fjall: a keyspace per table, and the redo record's.
struct State {
    db: fjall::Database,
    keyspaces: Vec<(Table, Keyspace)>,
    redo: Keyspace,
}

impl State {
    fn open(path: &Path) -> Result<State, StoreError> {
        let fail = |e: fjall::Error| StoreError(format!("cannot open {}: {e}", path.display()));
        let db = fjall::Database::builder(path)
            .cache_size(FJALL_CACHE_BYTES)
            .max_journaling_size(FJALL_JOURNAL_BYTES)
            .open()
            .map_err(fail)?;
        let options = || KeyspaceCreateOptions::default().max_memtable_size(FJALL_MEMTABLE_BYTES);
        let keyspaces = state_tables()
            .map(|t| db.keyspace(t.name(), options).map(|k| (t, k)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(fail)?;
        let redo = db.keyspace(REDO_KEYSPACE, options).map_err(fail)?;
        Ok(State {
            db,
            keyspaces,
            redo,
        })
    }

    fn keyspace(&self, table: Table) -> Result<&Keyspace, StoreError> {
        self.keyspaces
            .iter()
            .find(|(t, _)| *t == table)
            .map(|(_, k)| k)
            .ok_or_else(|| StoreError(format!("table {} is not in the chain state", table.name())))
    }
}

pub struct DiskStore {
    /// The rich list file (`chain.redb`).
    rich: Database,
    /// The blocks file.
    blocks: Database,
    /// The chain state (fjall).
    state: State,
    /// Chunks of the redo record in fjall, replaced by the next commit; the lock makes
    /// chain state commits one at a time (the redo record is the last commit's).
    redo_chunks: Mutex<usize>,
    /// Test hook (crash tests): milliseconds to wait inside a commit that writes the
    /// UTXO set (a chain state flush or a reorg), after its writes are staged and before
    /// anything of the chain state is committed, so a test can kill the process mid-flush.
    flush_pause_ms: AtomicU64,
    /// Test hook (crash tests): milliseconds to wait after fjall's commit of the chain
    /// state and before the rich list's redb write, so a test can kill the process between
    /// the two.
    rich_pause_ms: AtomicU64,
    /// Test hook: the rich list's redb write fails after fjall's commit, as if the process
    /// had died between the two.
    fail_rich_writes: AtomicBool,
    /// Abort the process when a commit fails part way (the node sets this: a supervisor
    /// restarts it, and the restart repairs the store), rather than only stop the store.
    abort_when_stopped: AtomicBool,
    /// A chain state commit failed part way (fjall's commit, or redb's rich list after
    /// it): the two parts may disagree until the redo record is written at the next open,
    /// so every later read and write fails until the node restarts.
    stopped: AtomicBool,
    /// Where commit times are recorded (`ferro_store_commit_seconds`), once set.
    commit_seconds: std::sync::OnceLock<prometheus::Histogram>,
}

impl DiskStore {
    /// Opens (or creates) the store whose rich list file is at `path` (`chain.redb`), with
    /// the blocks file (`chain.blocks.redb`) and the chain state folder (`chain.state`)
    /// beside it. A data directory of an older layout is converted first: redb 2 files
    /// are upgraded, and whatever `chain.redb` still holds besides the rich list (the
    /// blocks of the one-file layout, the chain state of the redb-only one) moves to its
    /// new place. Then the rich list's redo record, if a crash left one, is written.
    pub fn open(path: &Path) -> Result<DiskStore, StoreError> {
        Self::open_with_page_cache(path, REDB_CACHE_BYTES)
    }

    /// The blocks file that goes with the rich list file at `path`.
    pub fn blocks_path(path: &Path) -> PathBuf {
        path.with_extension("blocks.redb")
    }

    /// The chain state folder that goes with the rich list file at `path`.
    pub fn state_path(path: &Path) -> PathBuf {
        path.with_extension("state")
    }

    /// [`DiskStore::open`] with a redb page cache of `cache_bytes` for the rich list file.
    pub fn open_with_page_cache(path: &Path, cache_bytes: usize) -> Result<DiskStore, StoreError> {
        let open = |path: &Path, cache: usize, tables: &[Table]| -> Result<Database, StoreError> {
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
            for table in tables {
                txn.open_table(definition(*table)).map_err(err)?;
            }
            txn.commit().map_err(err)?;
            Ok(db)
        };
        let rich = open(path, cache_bytes, &[Table::Rich])?;
        let blocks = open(
            &Self::blocks_path(path),
            REDB_BLOCKS_CACHE_BYTES,
            &[Table::Blocks, Table::Headers, Table::Meta],
        )?;
        let state = State::open(&Self::state_path(path))?;
        let mut store = DiskStore {
            rich,
            blocks,
            state,
            redo_chunks: Mutex::new(0),
            flush_pause_ms: AtomicU64::new(0),
            rich_pause_ms: AtomicU64::new(0),
            fail_rich_writes: AtomicBool::new(false),
            abort_when_stopped: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
            commit_seconds: std::sync::OnceLock::new(),
        };
        store.move_out_of_rich_file()?;
        if store.mark_layout()? {
            // The first open after a conversion: give the moved pages back to the file
            // system.
            if let Err(e) = store.rich.compact() {
                tracing::warn!(error = %e, "chain.redb not compacted after the conversion");
            }
        }
        store.redo_rich_list()?;
        Ok(store)
    }

    /// Writes the layout marker (see [`LAYOUT`]), replacing the old `meta` table once the
    /// conversion has emptied it; refuses a directory of a later layout. Whether it
    /// replaced the old table (the first open after a conversion).
    fn mark_layout(&self) -> Result<bool, StoreError> {
        let mut txn = self.rich.begin_write().map_err(err)?;
        txn.set_two_phase_commit(true);
        txn.set_quick_repair(true);
        let replaced = match txn.open_table(LAYOUT) {
            Ok(mut t) => {
                let version = t.get(0).map_err(err)?.map(|v| v.value());
                match version {
                    Some(v) if v == LAYOUT_VERSION => return Ok(false),
                    Some(v) if v > LAYOUT_VERSION => {
                        return Err(StoreError(format!(
                            "this data directory has layout {v}, written by a later release; this release reads layout {LAYOUT_VERSION}"
                        )))
                    }
                    _ => {}
                }
                t.insert(0, LAYOUT_VERSION).map_err(err)?;
                false
            }
            Err(redb::TableError::TableTypeMismatch { .. }) => {
                {
                    let old = txn.open_table(definition(Table::Meta)).map_err(err)?;
                    if old.len().map_err(err)? > 0 {
                        return Err(StoreError(
                            "chain.redb still holds chain state records after its conversion"
                                .into(),
                        ));
                    }
                }
                txn.delete_table(definition(Table::Meta)).map_err(err)?;
                let mut t = txn.open_table(LAYOUT).map_err(err)?;
                t.insert(0, LAYOUT_VERSION).map_err(err)?;
                true
            }
            Err(e) => return Err(err(e)),
        };
        txn.commit().map_err(err)?;
        Ok(replaced)
    }

    /// A data directory of an older layout keeps more than the rich list in
    /// `chain.redb`: everything (before the blocks got their own file), or the chain
    /// state (before it moved to fjall). Copies each entry to its place and then removes
    /// it from `chain.redb`, [`MIGRATION_CHUNK`] entries per pair of commits (a big
    /// directory is never held in memory at once). A crash in between repeats the copy of
    /// what is left at the next start, which writes the same entries again; nothing reads
    /// the chain before this is done.
    fn move_out_of_rich_file(&self) -> Result<(), StoreError> {
        let read = self.rich.begin_read().map_err(err)?;
        let mut chunk = Batch::default();
        let mut moved_any = false;
        for table in Table::ALL.into_iter().filter(|t| *t != Table::Rich) {
            let t = match read.open_table(definition(table)) {
                Ok(t) => t,
                // Absent, or the layout marker (named `meta`, typed otherwise).
                Err(redb::TableError::TableDoesNotExist(_))
                | Err(redb::TableError::TableTypeMismatch { .. }) => continue,
                Err(e) => return Err(err(e)),
            };
            for item in t.iter().map_err(err)? {
                let (k, v) = item.map_err(err)?;
                if !moved_any {
                    tracing::info!(
                        "converting the data directory: moving what chain.redb holds besides the rich list to chain.blocks.redb and chain.state"
                    );
                    moved_any = true;
                }
                chunk.put(table, k.value().to_vec(), v.value().to_vec());
                if chunk.len() >= MIGRATION_CHUNK || chunk.bytes() >= MIGRATION_CHUNK_BYTES {
                    self.move_chunk(&mut chunk)?;
                }
            }
        }
        self.move_chunk(&mut chunk)?;
        if moved_any {
            tracing::info!("data directory converted");
        }
        Ok(())
    }

    /// Writes `chunk` to the blocks file and the chain state, durably, then deletes it
    /// from the rich list file.
    fn move_chunk(&self, chunk: &mut Batch) -> Result<(), StoreError> {
        if chunk.is_empty() {
            return Ok(());
        }
        let (blocks, state): (Vec<Write<'_>>, Vec<Write<'_>>) = chunk
            .ops()
            .partition(|(table, key, _)| home(*table, key) == Home::Blocks);
        if !blocks.is_empty() {
            Self::write(&self.blocks, blocks)?;
        }
        if !state.is_empty() {
            let mut out = self.state.db.batch().durability(Some(PersistMode::SyncAll));
            for (table, key, value) in state {
                if let Some(v) = value {
                    out.insert(self.state.keyspace(table)?, key, v);
                }
            }
            out.commit().map_err(err)?;
        }
        let removed: Vec<Write<'_>> = chunk.ops().map(|(t, k, _)| (t, k, None)).collect();
        Self::write(&self.rich, removed)?;
        *chunk = Batch::default();
        Ok(())
    }

    /// Writes the redo record of the last chain state commit to the rich list file where
    /// it is not there yet (a crash came between fjall's commit and redb's). The record
    /// stays until the next commit replaces it, so every open finds one; only a write that
    /// redb lacks is written again, and logged.
    fn redo_rich_list(&self) -> Result<(), StoreError> {
        let mut writes: Vec<(Vec<u8>, Option<Vec<u8>>)> = Vec::new();
        let mut chunks = 0;
        for guard in self.state.redo.iter() {
            let (_, value) = guard.into_inner().map_err(err)?;
            decode_redo(&value, &mut writes)?;
            chunks += 1;
        }
        let recorded = writes.len();
        {
            let txn = self.rich.begin_read().map_err(err)?;
            let rich = txn.open_table(definition(Table::Rich)).map_err(err)?;
            let mut missing = Vec::new();
            for (key, value) in writes {
                let stored = rich.get(key.as_slice()).map_err(err)?;
                if stored.as_ref().map(|v| v.value()) != value.as_deref() {
                    missing.push((key, value));
                }
            }
            writes = missing;
        }
        if !writes.is_empty() {
            tracing::warn!(
                missing = writes.len(),
                recorded,
                "rich list repaired from the redo record (the node stopped between the chain state's commit and the rich list's)"
            );
            let ops = writes
                .iter()
                .map(|(k, v)| (Table::Rich, k.as_slice(), v.as_deref()))
                .collect();
            Self::write(&self.rich, ops)?;
        }
        *self
            .redo_chunks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = chunks;
        Ok(())
    }

    /// Records the time of every later commit in `histogram` (the first call wins).
    pub fn observe_commits(&self, histogram: prometheus::Histogram) {
        let _ = self.commit_seconds.set(histogram);
    }

    /// Test hook: see [`DiskStore::flush_pause_ms`]. Zero (the default) turns it off.
    pub fn pause_flushes(&self, pause: Duration) {
        set_pause(&self.flush_pause_ms, pause);
    }

    /// Test hook: see [`DiskStore::rich_pause_ms`]. Zero (the default) turns it off.
    pub fn pause_between_commits(&self, pause: Duration) {
        set_pause(&self.rich_pause_ms, pause);
    }

    /// Makes a commit that fails part way abort the process (see
    /// [`DiskStore::abort_when_stopped`]).
    pub fn abort_when_stopped(&self) {
        self.abort_when_stopped.store(true, Ordering::SeqCst);
    }

    /// Test hook: see [`DiskStore::fail_rich_writes`].
    #[cfg(test)]
    pub(crate) fn fail_rich_writes(&self, fail: bool) {
        self.fail_rich_writes.store(fail, Ordering::SeqCst);
    }

    /// Writes the chain state part of a commit: fjall's batch with the redo record of
    /// `rich`, then `rich` to redb.
    fn commit_state(&self, state: Vec<Write<'_>>, rich: Vec<Write<'_>>) -> Result<(), StoreError> {
        // A commit that panicked part way has stopped the store already (its guard); one
        // that panicked before writing anything left nothing to repair.
        let mut redo_chunks = self
            .redo_chunks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Checked again under the lock: a commit that failed while this one waited must
        // not have its redo record replaced.
        self.check_running()?;
        // The crash tests' hooks pause flushes and reorgs: commits that write the UTXO set.
        let writes_utxo = state.iter().any(|(t, _, _)| *t == Table::Utxo);
        if writes_utxo {
            pause_here(
                &self.flush_pause_ms,
                "test hook: chain state commit staged, pausing before it is written",
            );
        }
        let chunks = encode_redo(&rich)?;
        let mut out = self.state.db.batch().durability(Some(PersistMode::SyncAll));
        for (table, key, value) in &state {
            let keyspace = self.state.keyspace(*table)?;
            match value {
                Some(v) => out.insert(keyspace, *key, *v),
                None => out.remove(keyspace, *key),
            }
        }
        let before = *redo_chunks;
        for (i, chunk) in chunks.iter().enumerate() {
            out.insert(&self.state.redo, redo_key(i), chunk.as_slice());
        }
        for i in chunks.len()..before {
            out.remove(&self.state.redo, redo_key(i));
        }
        // From here until both parts are written, an error or a panic stops the store.
        let guard = StopOnDrop(self);
        out.commit().map_err(err)?;
        *redo_chunks = chunks.len();
        if !rich.is_empty() {
            if writes_utxo {
                pause_here(
                    &self.rich_pause_ms,
                    "test hook: chain state committed, pausing before the rich list is written",
                );
            }
            if self.fail_rich_writes.load(Ordering::SeqCst) {
                return Err(StoreError("test hook: the rich list's write failed".into()));
            }
            Self::write(&self.rich, rich)?;
        }
        std::mem::forget(guard);
        Ok(())
    }

    /// Stops the store after a commit failed part way; see [`DiskStore::stopped`].
    fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        tracing::error!(
            "a chain state commit failed part way: the chain store refuses every read and write until the node restarts, which repairs it"
        );
        if self.abort_when_stopped.load(Ordering::SeqCst) {
            tracing::error!("aborting the node so that it restarts");
            std::process::abort();
        }
    }

    /// Refuses to go on after a commit failed part way (see [`DiskStore::stopped`]).
    fn check_running(&self) -> Result<(), StoreError> {
        if self.stopped.load(Ordering::SeqCst) {
            return Err(StoreError(
                "a chain state commit failed part way; restart the node to repair the chain store"
                    .into(),
            ));
        }
        Ok(())
    }
}

/// Sets a test hook's pause (zero: off).
fn set_pause(hook: &AtomicU64, pause: Duration) {
    hook.store(
        u64::try_from(pause.as_millis()).unwrap_or(u64::MAX),
        Ordering::SeqCst,
    );
}

/// Waits as long as the test hook `hook` says, saying why.
fn pause_here(hook: &AtomicU64, why: &str) {
    let ms = hook.load(Ordering::SeqCst);
    if ms > 0 {
        tracing::warn!(ms, "{why}");
        std::thread::sleep(Duration::from_millis(ms));
    }
}

/// Stops the store when dropped: armed while a chain state commit is part written, so an
/// error returned or a panic unwinding from there stops it, and forgotten once both parts
/// are written.
struct StopOnDrop<'a>(&'a DiskStore);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.stop();
    }
}

/// Converts a database file written by redb 2 (file format v2, every data directory made
/// before the node moved to redb 4) to the format redb 4 reads, in place, with redb 2.6's
/// own upgrade.
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

fn redo_key(i: usize) -> [u8; 8] {
    (i as u64).to_be_bytes()
}

/// The redo record of the rich list's writes: for each, a tag (1: put, 0: delete), the key
/// and, for a put, the value, each length-prefixed (u32, little-endian); in chunks of at
/// most about [`REDO_CHUNK_BYTES`].
fn encode_redo(writes: &[Write<'_>]) -> Result<Vec<Vec<u8>>, StoreError> {
    let mut chunks = Vec::new();
    let mut chunk: Vec<u8> = Vec::new();
    let push = |out: &mut Vec<u8>, bytes: &[u8]| -> Result<(), StoreError> {
        let len = u32::try_from(bytes.len())
            .map_err(|_| StoreError("a rich list entry too large to record".into()))?;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(bytes);
        Ok(())
    };
    for (_, key, value) in writes {
        if chunk.len() >= REDO_CHUNK_BYTES {
            chunks.push(std::mem::take(&mut chunk));
        }
        chunk.push(u8::from(value.is_some()));
        push(&mut chunk, key)?;
        if let Some(v) = value {
            push(&mut chunk, v)?;
        }
    }
    if !chunk.is_empty() {
        chunks.push(chunk);
    }
    Ok(chunks)
}

/// Reads one chunk of a redo record into `out`.
fn decode_redo(
    mut bytes: &[u8],
    out: &mut Vec<(Vec<u8>, Option<Vec<u8>>)>,
) -> Result<(), StoreError> {
    fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Result<&'a [u8], StoreError> {
        if bytes.len() < n {
            return Err(StoreError("the rich list's redo record is corrupt".into()));
        }
        let (head, rest) = bytes.split_at(n);
        *bytes = rest;
        Ok(head)
    }
    fn field<'a>(bytes: &mut &'a [u8]) -> Result<&'a [u8], StoreError> {
        let len = take(bytes, 4)?;
        let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]);
        take(bytes, len as usize)
    }
    while !bytes.is_empty() {
        let tag = take(&mut bytes, 1)?[0];
        let key = field(&mut bytes)?.to_vec();
        let value = match tag {
            1 => Some(field(&mut bytes)?.to_vec()),
            0 => None,
            _ => return Err(StoreError("the rich list's redo record is corrupt".into())),
        };
        out.push((key, value));
    }
    Ok(())
}

/// A scan of one fjall keyspace (see [`ChainStore::scan`]).
pub(crate) fn fjall_scan(
    keyspace: &Keyspace,
    prefix: &[u8],
    after: Option<&[u8]>,
    direction: Direction,
    limit: usize,
) -> Result<Entries, StoreError> {
    let bounds = scan_bounds(prefix, after, direction);
    if bounds_empty(&bounds) || limit == 0 {
        return Ok(Vec::new());
    }
    let iter = keyspace.range::<Vec<u8>, _>(bounds);
    let pick = |g: fjall::Guard| -> Result<(Vec<u8>, Vec<u8>), StoreError> {
        let (k, v) = g.into_inner().map_err(err)?;
        Ok((k.to_vec(), v.to_vec()))
    };
    match direction {
        Direction::Forward => iter.take(limit).map(pick).collect(),
        Direction::Reverse => iter.rev().take(limit).map(pick).collect(),
    }
}

/// A scan of one redb table (see [`ChainStore::scan`]).
fn redb_scan(
    db: &Database,
    table: Table,
    prefix: &[u8],
    after: Option<&[u8]>,
    direction: Direction,
    limit: usize,
) -> Result<Entries, StoreError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
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

impl ChainStore for DiskStore {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.check_running()?;
        let db = match home(table, key) {
            Home::State => {
                let value = self.state.keyspace(table)?.get(key).map_err(err)?;
                return Ok(value.map(|v| v.to_vec()));
            }
            Home::Blocks => &self.blocks,
            Home::Rich => &self.rich,
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
        self.check_running()?;
        // Scans of the Meta table see the chain state's records (nothing scans it).
        match home(table, b"") {
            Home::Blocks => redb_scan(&self.blocks, table, prefix, after, direction, limit),
            Home::Rich => redb_scan(&self.rich, table, prefix, after, direction, limit),
            Home::State => fjall_scan(self.state.keyspace(table)?, prefix, after, direction, limit),
        }
    }

    /// Writes the blocks file's part of `batch` first, then the chain state (fjall, with
    /// the redo record of the rich list's part), then the rich list (module docs).
    fn commit(&self, batch: &Batch) -> Result<(), StoreError> {
        self.check_running()?;
        let _timer = self.commit_seconds.get().map(|h| h.start_timer());
        let mut blocks = Vec::new();
        let mut rich = Vec::new();
        let mut state = Vec::new();
        for write in batch.ops() {
            match home(write.0, write.1) {
                Home::Blocks => blocks.push(write),
                Home::Rich => rich.push(write),
                Home::State => state.push(write),
            }
        }
        if !blocks.is_empty() {
            Self::write(&self.blocks, blocks)?;
        }
        if state.is_empty() && rich.is_empty() {
            return Ok(());
        }
        self.commit_state(state, rich)
    }
}

/// One write of a batch: table, key, value (`None`: delete).
type Write<'a> = (Table, &'a [u8], Option<&'a [u8]>);

impl DiskStore {
    /// One durable redb transaction writing `ops` (in table order) into `db`.
    fn write(db: &Database, ops: Vec<Write<'_>>) -> Result<(), StoreError> {
        let mut txn = db.begin_write().map_err(err)?;
        txn.set_two_phase_commit(true);
        txn.set_quick_repair(true);
        for writes in ops.chunk_by(|a, b| a.0 == b.0) {
            let mut t = txn.open_table(definition(writes[0].0)).map_err(err)?;
            for (_, key, value) in writes {
                match value {
                    Some(v) => {
                        t.insert(*key, *v).map_err(err)?;
                    }
                    None => {
                        t.remove(*key).map_err(err)?;
                    }
                }
            }
        }
        txn.commit().map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The redo record reads back exactly what was written, in order, across chunks.
        #[test]
        fn redo_records_round_trip(
            writes in proptest::collection::vec(
                (
                    proptest::collection::vec(any::<u8>(), 0..64),
                    proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300_000)),
                ),
                0..12,
            )
        ) {
            let ops: Vec<Write<'_>> = writes
                .iter()
                .map(|(k, v)| (Table::Rich, k.as_slice(), v.as_deref()))
                .collect();
            let chunks = encode_redo(&ops).expect("encodes");
            prop_assert!(chunks.iter().all(|c| c.len() <= REDO_CHUNK_BYTES + 300_000 + 72));
            let mut back = Vec::new();
            for chunk in &chunks {
                decode_redo(chunk, &mut back).expect("decodes");
            }
            prop_assert_eq!(back, writes);
        }

        /// Any bytes decode to writes or to an error, never a panic.
        #[test]
        fn redo_records_of_any_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut out = Vec::new();
            let _ = decode_redo(&bytes, &mut out);
        }
    }

    #[test]
    fn a_truncated_redo_record_is_an_error() {
        let ops: Vec<Write<'_>> = vec![(Table::Rich, b"key", Some(b"value"))];
        let chunk = encode_redo(&ops).expect("encodes").remove(0);
        for cut in 1..chunk.len() {
            assert!(
                decode_redo(&chunk[..cut], &mut Vec::new()).is_err(),
                "cut at {cut}"
            );
        }
    }
}
