//! [`ChainState`]: accepts blocks, chooses the most-work chain, reorganises through undo
//! data, holds orphans, and answers the read side's questions from the indexes.

use super::index::BlockIndexer;
use super::pending::layered_get;
use super::pending::Pending;
use super::records::{
    addr_history_key, addr_utxo_key, decode_coin, decode_location, decode_outpoint_key,
    decode_rich_key, decode_spender, decode_undo, height_key, outpoint_key, AddressStats,
    HeaderEntry, Totals, TxLocation, META_BEST, META_TIP, META_TOTALS,
};
use super::sigcache::SigCache;
use super::store::{merged_scan, Batch, ChainStore, Direction, Entries, Mark, StoreError, Table};
use crate::consensus::pow::{median_time_past, next_target};
use crate::consensus::validation::{
    check_block, check_header, connect_block_deferred, BlockSignatures,
};
use crate::consensus::{BlockError, BlockUndo, Coin, Network, ParentInfo};
use crate::error::{Code, ErrorCode};
use crate::primitives::{
    Amount, Block, BlockHash, Decode, Encode, Header, Height, OutPoint, PubkeyHash, Transaction,
    Txid, Work,
};
use rand::seq::IteratorRandom;
use rayon::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;

/// Policy: orphan blocks kept at most (PROTOCOL.md sections 8 and 9).
pub const MAX_ORPHANS: usize = 64;
/// Policy: the orphans' encoded sizes sum to at most this many times `max_block_size`
/// (PROTOCOL.md section 9).
pub const MAX_ORPHAN_BLOCKS_OF_BYTES: u64 = 8;
/// Policy: a side branch is stored only while within this many tip blocks' work.
pub const SIDE_BRANCH_WINDOW: u64 = 6;
/// Stored blocks connected again per batch when the chain state is replayed at open.
const REPLAY_RUN: usize = 50;
/// Transactions remembered as signature-checked.
pub const SIG_CACHE_SIZE: usize = 200_000;

/// Why a block was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error(transparent)]
    Block(#[from] BlockError),
    #[error("parent {parent} of block {hash} is not known yet; kept as an orphan")]
    UnknownParent { hash: BlockHash, parent: BlockHash },
    #[error("orphan block {0} refused: its own proof of work does not hold or its target is above pow_limit")]
    BadOrphan(BlockHash),
    #[error(
        "the chain database belongs to another network: {0}. If it was made by an older \
         version of this node (before consensus rules version 2 re-made the devnet genesis), \
         delete or move the data directory and start again; otherwise point --data-dir at \
         this network's own directory"
    )]
    WrongNetwork(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ErrorCode for ChainError {
    fn code(&self) -> Code {
        match self {
            ChainError::Block(e) => e.code(),
            ChainError::UnknownParent { .. } => Code::UnknownParent,
            ChainError::BadOrphan(_) => Code::BadPow,
            ChainError::WrongNetwork(_) => Code::WrongNetwork,
            ChainError::Store(_) => Code::Internal,
        }
    }
}

/// What accepting a block did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AcceptStatus {
    /// Extended the active chain.
    Connected,
    AlreadyKnown,
    /// Stored on a side branch with less work than the active chain.
    SideChain,
    /// Made a side branch the active chain.
    Reorganized,
}

impl AcceptStatus {
    /// The `status` word of `POST /blocks`.
    pub fn as_str(self) -> &'static str {
        match self {
            AcceptStatus::Connected => "connected",
            AcceptStatus::AlreadyKnown => "already-known",
            AcceptStatus::SideChain => "side-chain",
            AcceptStatus::Reorganized => "reorganized",
        }
    }
}

/// The outcome of [`ChainState::accept_block`], including orphans it let connect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockAccepted {
    pub status: AcceptStatus,
    /// Blocks that joined the active chain, in order (for relay and the mempool).
    pub connected: Vec<Block>,
    /// Blocks that left the active chain, tip first (their transactions go back to the
    /// mempool).
    pub disconnected: Vec<Block>,
}

impl BlockAccepted {
    fn new(status: AcceptStatus) -> BlockAccepted {
        BlockAccepted {
            status,
            connected: Vec::new(),
            disconnected: Vec::new(),
        }
    }

    fn absorb(&mut self, later: BlockAccepted) {
        if later.status == AcceptStatus::Reorganized {
            self.status = AcceptStatus::Reorganized;
        }
        self.disconnected.extend(later.disconnected);
        self.connected.extend(later.connected);
    }
}

pub struct ChainState<S: ChainStore + 'static> {
    store: Arc<S>,
    network: Network,
    /// Every stored block's header and chain work, active and side branches.
    headers: HashMap<BlockHash, HeaderEntry>,
    /// The active chain by height.
    active: Vec<BlockHash>,
    /// Blocks whose parent is unknown, each with its encoded size.
    orphans: HashMap<BlockHash, (Block, usize)>,
    /// Sum of the orphans' encoded sizes.
    orphan_bytes: usize,
    /// Blocks found invalid, with why (not persisted: they are judged again after restart).
    invalid: HashMap<BlockHash, BlockError>,
    sig_cache: SigCache,
    /// The chain state cache: every change to the UTXO set and the explorer indexes since
    /// the last flush, in memory (Bitcoin Core's `dbcache`). Reads go through it. An
    /// output created and spent between flushes never reaches the store.
    cache: Batch,
    /// Flush once the cache's estimated bytes pass this (half of it with a flush on
    /// another thread, so the cache and the batch being flushed fit in it together).
    cache_budget: usize,
    /// The cache as it was when a flush started on another thread: read through, under
    /// the cache, until that flush is done.
    flushing: Option<Flushing>,
}

/// A chain state flush running on its own thread.
struct Flushing {
    /// What it writes: the cache, frozen.
    batch: Arc<Batch>,
    thread: std::thread::JoinHandle<Result<(), StoreError>>,
    height: Height,
    started: std::time::Instant,
}

/// A store seen through the frozen layer of writes of a flush in progress, if any: what
/// lies below the cache for merged scans. Never written to.
struct Overlay<'a, S: ?Sized> {
    store: &'a S,
    layer: Option<&'a Batch>,
}

impl<S: ChainStore + ?Sized> ChainStore for Overlay<'_, S> {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        layered_get(self.store, self.layer.as_slice(), table, key)
    }

    fn scan(
        &self,
        table: Table,
        prefix: &[u8],
        after: Option<&[u8]>,
        direction: Direction,
        limit: usize,
    ) -> Result<Entries, StoreError> {
        merged_scan(
            self.store,
            self.layer.and_then(|l| l.table(table)),
            table,
            prefix,
            after,
            direction,
            limit,
        )
    }

    fn commit(&self, _batch: &Batch) -> Result<(), StoreError> {
        Err(StoreError("a flush in progress is read-only".into()))
    }
}

/// Remembers a block as invalid. Time-too-new is a "not yet", never a verdict.
fn record_invalid(invalid: &mut HashMap<BlockHash, BlockError>, hash: BlockHash, e: &BlockError) {
    if !matches!(e, BlockError::TimeTooNew { .. }) {
        invalid.insert(hash, e.clone());
    }
}

/// Drops `batch` (hundreds of thousands of allocations after a flush: a good part of a
/// second) on another thread, while this one goes on.
fn free_elsewhere<T: Send + 'static>(batch: T) {
    if std::thread::Builder::new()
        .name("cache-free".into())
        .spawn(move || drop(batch))
        .is_err()
    {
        tracing::debug!("no thread to free the flushed cache; freed here");
    }
}

fn txids_of(block: &Block) -> Vec<Txid> {
    block.transactions.iter().map(Transaction::txid).collect()
}

impl<S: ChainStore + 'static> ChainState<S> {
    /// Opens the chain in `store`, writing the genesis block of `network` into an empty one,
    /// with no chain state cache: every block's changes are flushed at once.
    pub fn open(store: S, network: Network) -> Result<ChainState<S>, ChainError> {
        Self::open_with_cache(store, network, 0)
    }

    /// Opens the chain in `store` with a chain state cache of `cache_bytes` (estimated
    /// heap bytes, [`Batch::bytes`]): changes to the UTXO set and the indexes are flushed
    /// in one commit once they pass that. Blocks the stored chain state had not caught up
    /// with (a crash before a flush) are connected again from the stored blocks first.
    pub fn open_with_cache(
        store: S,
        network: Network,
        cache_bytes: usize,
    ) -> Result<ChainState<S>, ChainError> {
        if store.get(Table::Meta, META_TIP)?.is_none() {
            let genesis = &network.genesis;
            let hash = network.genesis_hash;
            let mut pending = Pending::new(&store);
            pending.put(Table::Blocks, hash.0.to_vec(), genesis.to_bytes());
            let entry = HeaderEntry {
                header: genesis.header,
                chain_work: genesis.header.target.work(),
            };
            pending.put(Table::Headers, hash.0.to_vec(), entry.encode());
            BlockIndexer::new(&mut pending).connect(genesis, hash, &txids_of(genesis), &[])?;
            pending.put(Table::Meta, META_BEST.to_vec(), hash.0.to_vec());
            store.commit(&pending.batch)?;
        }
        let mut headers = HashMap::new();
        for (k, v) in store.scan(Table::Headers, &[], None, Direction::Forward, usize::MAX)? {
            let hash = BlockHash(
                k.as_slice()
                    .try_into()
                    .map_err(|_| StoreError("corrupt header key".into()))?,
            );
            headers.insert(hash, HeaderEntry::decode(&v)?);
        }
        let mut active = Vec::new();
        for (i, (k, v)) in store
            .scan(Table::Active, &[], None, Direction::Forward, usize::MAX)?
            .into_iter()
            .enumerate()
        {
            if k != height_key(Height(i as u64)) {
                return Err(StoreError(format!("active chain has a gap at height {i}")).into());
            }
            let hash = BlockHash(
                v.as_slice()
                    .try_into()
                    .map_err(|_| StoreError("corrupt active chain entry".into()))?,
            );
            if !headers.contains_key(&hash) {
                return Err(StoreError(format!("active block {hash} has no header")).into());
            }
            active.push(hash);
        }
        if active.first() != Some(&network.genesis_hash) {
            return Err(ChainError::WrongNetwork(format!(
                "its genesis is {}, this network's is {}",
                active.first().map(|h| h.to_hex()).unwrap_or_default(),
                network.genesis_hash
            )));
        }
        let tip = store.get(Table::Meta, META_TIP)?;
        if tip.as_deref() != active.last().map(|h| h.0.as_slice()) {
            return Err(StoreError("stored tip is not the last active block".into()).into());
        }
        let best = match store.get(Table::Meta, META_BEST)? {
            Some(v) => {
                Some(BlockHash(v.as_slice().try_into().map_err(|_| {
                    StoreError("corrupt best block record".into())
                })?))
            }
            None => None,
        };
        let mut chain = ChainState {
            store: Arc::new(store),
            network,
            headers,
            active,
            orphans: HashMap::new(),
            orphan_bytes: 0,
            invalid: HashMap::new(),
            sig_cache: SigCache::new(SIG_CACHE_SIZE),
            cache: Batch::default(),
            cache_budget: cache_bytes,
            flushing: None,
        };
        if let Some(best) = best {
            if chain.descends_from_tip(&best) {
                chain.replay_to(best)?;
            } else {
                chain.settle_best(best)?;
            }
        }
        Ok(chain)
    }

    /// Whether `best` is the tip or one of its descendants (by the stored headers).
    fn descends_from_tip(&self, best: &BlockHash) -> bool {
        let tip = self.tip_hash();
        let mut cursor = *best;
        loop {
            if cursor == tip {
                return true;
            }
            match self.headers.get(&cursor) {
                Some(e) if e.header.height > self.height() => cursor = e.header.prev_hash,
                _ => return false,
            }
        }
    }

    /// The best block recorded is on another branch than the chain state's tip: a crash
    /// came between a reorganisation's two commits (the chain state first, then the
    /// best block, which live in different files). The chain state is whole at its
    /// tip; the heavier of the two wins.
    fn settle_best(&mut self, best: BlockHash) -> Result<(), ChainError> {
        let work = |h: &BlockHash| self.headers.get(h).map(|e| e.chain_work);
        let tip = self.tip_hash();
        tracing::warn!(%best, %tip, "the best block and the chain state's tip differ; settling");
        if work(&best) > work(&tip) {
            self.reorganize(best)?;
        } else {
            let mut record = Batch::default();
            record.put(Table::Meta, META_BEST.to_vec(), tip.0.to_vec());
            self.store.commit(&record)?;
        }
        Ok(())
    }

    /// Connects again the stored blocks from the chain state's tip to `best`, the last
    /// block answered connected (a crash came before the chain state cache was flushed),
    /// and flushes. These blocks passed every rule before they were stored as the best
    /// chain, so their signatures are not verified again; everything else is.
    fn replay_to(&mut self, best: BlockHash) -> Result<(), ChainError> {
        let tip = self.tip_hash();
        let mut path = Vec::new();
        let mut cursor = best;
        while cursor != tip {
            let entry = self
                .headers
                .get(&cursor)
                .ok_or_else(|| StoreError(format!("best block {cursor} has no header")))?;
            if entry.header.height <= self.height() {
                return Err(StoreError(format!(
                    "best block {best} does not descend from the chain state's tip {tip}"
                ))
                .into());
            }
            path.push(cursor);
            cursor = entry.header.prev_hash;
        }
        if path.is_empty() {
            return Ok(());
        }
        tracing::info!(
            blocks = path.len(),
            from = %self.height(),
            "connecting stored blocks the chain state had not flushed"
        );
        path.reverse();
        for hashes in path.chunks(REPLAY_RUN) {
            let mut blocks = Vec::with_capacity(hashes.len());
            for hash in hashes {
                let block = self.load_block(&Pending::new(&*self.store), hash)?;
                check_block(&block, &self.network.params)
                    .map_err(|e| StoreError(format!("stored best block {hash}: {e}")))?;
                blocks.push(block);
            }
            let state = self.reindex(&blocks)?;
            self.active.extend_from_slice(hashes);
            self.stage(state);
        }
        self.flush()
    }

    /// Writes the chain state cache to the store in one commit, after the flush running
    /// on another thread, if any, is done. On failure the cache is kept (still
    /// consistent with memory) and the next flush tries again.
    pub fn flush(&mut self) -> Result<(), ChainError> {
        self.finish_flush(true)?;
        if self.cache.is_empty() {
            return Ok(());
        }
        let started = std::time::Instant::now();
        tracing::info!(
            height = %self.height(),
            entries = self.cache.len(),
            bytes = self.cache.bytes(),
            "flushing chain state"
        );
        self.store.commit(&self.cache)?;
        tracing::info!(
            height = %self.height(),
            ms = started.elapsed().as_millis() as u64,
            "chain state flushed"
        );
        free_elsewhere(std::mem::take(&mut self.cache));
        Ok(())
    }

    /// Starts writing the cache to the store on another thread; the cache starts empty
    /// and reads go through the frozen batch until [`ChainState::finish_flush`]. The
    /// blocks are in their own file, so storing the next blocks does not wait for it.
    fn start_flush(&mut self) {
        let batch = Arc::new(std::mem::take(&mut self.cache));
        tracing::info!(
            height = %self.height(),
            entries = batch.len(),
            bytes = batch.bytes(),
            "flushing chain state on another thread"
        );
        let store = Arc::clone(&self.store);
        let frozen = Arc::clone(&batch);
        let spawned = std::thread::Builder::new()
            .name("chain-flush".into())
            .spawn(move || store.commit(&frozen));
        match spawned {
            Ok(thread) => {
                self.flushing = Some(Flushing {
                    batch,
                    thread,
                    height: self.height(),
                    started: std::time::Instant::now(),
                })
            }
            Err(e) => {
                tracing::warn!(error = %e, "no thread for the flush; flushing here");
                self.cache = Arc::try_unwrap(batch).unwrap_or_else(|b| (*b).clone());
                if let Err(e) = self.flush() {
                    tracing::error!(error = %e, "chain state flush failed; kept in memory");
                }
            }
        }
    }

    /// Ends the flush running on another thread, waiting for it when `wait` (else only
    /// if it is already done). A failed flush's batch goes back under the cache, to be
    /// written by the next flush.
    fn finish_flush(&mut self, wait: bool) -> Result<(), StoreError> {
        let Some(flushing) = self.flushing.take() else {
            return Ok(());
        };
        if !wait && !flushing.thread.is_finished() {
            self.flushing = Some(flushing);
            return Ok(());
        }
        let result = flushing
            .thread
            .join()
            .unwrap_or_else(|_| Err(StoreError("the flush thread panicked".into())));
        match result {
            Ok(()) => {
                tracing::info!(
                    height = %flushing.height,
                    ms = flushing.started.elapsed().as_millis() as u64,
                    "chain state flushed"
                );
                free_elsewhere(flushing.batch);
                Ok(())
            }
            Err(e) => {
                let mut older = Arc::try_unwrap(flushing.batch).unwrap_or_else(|b| (*b).clone());
                older.extend(std::mem::take(&mut self.cache));
                self.cache = older;
                Err(e)
            }
        }
    }

    /// The layers of staged writes over the store, newest first: the cache, and the
    /// batch a flush in progress writes.
    fn layers(&self) -> Vec<&Batch> {
        let mut layers = vec![&self.cache];
        if let Some(f) = &self.flushing {
            layers.push(&f.batch);
        }
        layers
    }

    /// The chain state cache's estimated heap bytes and entries (not yet flushed).
    pub fn cache_usage(&self) -> (usize, usize) {
        let flushing = self.flushing.as_ref().map(|f| &*f.batch);
        (
            self.cache.bytes() + flushing.map_or(0, Batch::bytes),
            self.cache.len() + flushing.map_or(0, Batch::len),
        )
    }

    /// Whether a flush is running on another thread (tests).
    #[cfg(test)]
    pub(crate) fn flush_in_progress(&self) -> bool {
        self.flushing.is_some()
    }

    /// The cache's pending write of `key`, if any (tests).
    #[cfg(test)]
    pub(crate) fn cached(&self, table: Table, key: &[u8]) -> Option<Option<&[u8]>> {
        self.cache.pending(table, key)
    }

    /// The configured chain state cache size in bytes.
    pub fn cache_budget(&self) -> usize {
        self.cache_budget
    }

    /// Stages `state` (the chain state changes of blocks already stored durably) in the
    /// cache, and flushes when the cache passes its budget. A failed flush is logged and
    /// retried at the next one: the blocks are stored and memory is consistent, so the
    /// caller's block still counts as connected.
    fn stage(&mut self, state: Batch) {
        if self.cache.is_empty() {
            // Right after a flush (or with no cache): nothing to merge into.
            self.cache = state;
        } else {
            self.cache.extend(state);
        }
        self.after_staging();
    }

    /// Flushes when the cache has passed its budget (see [`ChainState::stage`]): at
    /// once without a cache; with one, on another thread once the cache holds half the
    /// budget (the frozen half and the growing half fit in it together), after the
    /// previous flush is done.
    fn after_staging(&mut self) {
        if self.cache_budget == 0 {
            if let Err(e) = self.flush() {
                tracing::error!(error = %e, "chain state flush failed; kept in memory");
            }
            return;
        }
        if let Err(e) = self.finish_flush(false) {
            tracing::error!(error = %e, "chain state flush failed; kept in memory");
        }
        if self.cache.bytes() > self.cache_budget / 2 {
            if let Err(e) = self.finish_flush(true) {
                tracing::error!(error = %e, "chain state flush failed; kept in memory");
            }
            self.start_flush();
        }
    }

    // ---- write side ------------------------------------------------------------------

    /// Validates and stores `block`, connecting it (and any orphans waiting on it) and
    /// reorganising when a side branch becomes heavier. `now` is local unix time, for the
    /// time-too-new policy.
    ///
    /// Side blocks far behind the tip (more than [`SIDE_BRANCH_WINDOW`] tip blocks' work)
    /// are not stored; use [`ChainState::accept_synced_block`] for a branch whose headers
    /// already showed more work than the active chain.
    pub fn accept_block(&mut self, block: Block, now: u64) -> Result<BlockAccepted, ChainError> {
        self.accept(block, now, true)
    }

    /// Like [`ChainState::accept_block`], but stores side blocks however far behind the tip
    /// they are: for sync, which fetches a branch only after its headers' proof of work
    /// showed more chain work than ours.
    pub fn accept_synced_block(
        &mut self,
        block: Block,
        now: u64,
    ) -> Result<BlockAccepted, ChainError> {
        self.accept(block, now, false)
    }

    fn accept(
        &mut self,
        block: Block,
        now: u64,
        side_window: bool,
    ) -> Result<BlockAccepted, ChainError> {
        let hash = block.hash();
        if self.headers.contains_key(&hash) {
            return Ok(BlockAccepted::new(AcceptStatus::AlreadyKnown));
        }
        if let Some(e) = self.invalid.get(&hash) {
            return Err(ChainError::Block(e.clone()));
        }
        let parent = block.header.prev_hash;
        if !self.headers.contains_key(&parent) {
            self.add_orphan(hash, block)?;
            return Err(ChainError::UnknownParent { hash, parent });
        }
        let mut result = self.accept_with_parent(block, hash, now, side_window)?;
        // Orphans whose parent just arrived, recursively.
        let mut arrived = vec![hash];
        while let Some(parent) = arrived.pop() {
            let children: Vec<BlockHash> = self
                .orphans
                .iter()
                .filter(|(_, (b, _))| b.header.prev_hash == parent)
                .map(|(h, _)| *h)
                .collect();
            for child in children {
                let Some(orphan) = self.take_orphan(&child) else {
                    continue;
                };
                match self.accept_with_parent(orphan, child, now, side_window) {
                    Ok(more) => {
                        result.absorb(more);
                        arrived.push(child);
                    }
                    Err(e) => tracing::debug!(block = %child, error = %e, "orphan refused"),
                }
            }
        }
        Ok(result)
    }

    /// Connects a run of blocks that extend the tip one after another, committing them in
    /// one store transaction (sync: fewer, larger commits). Stops at the first block that
    /// does not extend the previous one (returned unprocessed, with the rest) or breaks a
    /// rule (its error is returned; the blocks before it are still committed). Every
    /// commit is a consistent chain state.
    pub fn connect_run(
        &mut self,
        mut blocks: Vec<Block>,
        now: u64,
    ) -> (BlockAccepted, Vec<Block>, Option<ChainError>) {
        // Checks that need no context, for the whole run at once across the cores; the
        // txids they return outlive the signature checks that borrow them.
        let params = &self.network.params;
        let checked: Vec<Result<Vec<Txid>, BlockError>> =
            blocks.par_iter().map(|b| check_block(b, params)).collect();
        // The run's chain state changes go straight into the cache (no second copy to
        // merge), journaled so that a block that fails, and every block after it, can be
        // taken back out.
        let mut cache = std::mem::take(&mut self.cache);
        cache.start_journal();
        // Per block that passed every rule but its signatures: the cache before it, and
        // its hash and header entry.
        let mut marks = Vec::new();
        let mut added: Vec<(BlockHash, HeaderEntry)> = Vec::new();
        // Where the run stopped before its end, and why (`None`: the block does not
        // extend the tip and is left over; `Some`: it broke a rule or a read failed).
        let mut stop: Option<(usize, Option<ChainError>)> = None;
        // A block found invalid by the rules checked on this thread, condemned only if
        // no earlier block's signatures fail.
        let mut condemned: Option<(BlockHash, BlockError)> = None;
        let verdicts: Vec<std::sync::OnceLock<Result<(), BlockError>>> =
            blocks.iter().map(|_| std::sync::OnceLock::new()).collect();
        // This thread connects block after block (rules 6-7, UTXO look-ups, index
        // changes) while the pool verifies the signatures of the blocks before: no
        // barrier per block. A panic in there (a bug: nothing from the network should
        // panic) would leave the cache half-written or lost with the run's headers in
        // memory: the chain state in memory could not be trusted, so the process stops
        // rather than go on from it. What is on disk is consistent and replayed at start.
        let connected = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            rayon::scope(|scope| {
                for (i, block) in blocks.iter().enumerate() {
                    let hash = block.hash();
                    let tip = self.tip_hash();
                    if block.header.prev_hash != tip || self.headers.contains_key(&hash) {
                        stop = Some((i, None));
                        break;
                    }
                    let Some(parent) = self.parent_info(&tip) else {
                        stop = Some((i, None));
                        break;
                    };
                    if let Err(e) = check_header(&block.header, &parent, now) {
                        condemned = Some((hash, e.clone()));
                        stop = Some((i, Some(e.into())));
                        break;
                    }
                    // Body failures do not condemn the hash (see accept_with_parent).
                    let txids = match &checked[i] {
                        Ok(t) => t,
                        Err(e) => {
                            stop = Some((i, Some(e.clone().into())));
                            break;
                        }
                    };
                    let mark = cache.mark();
                    let frozen = self.flushing.as_ref().map(|f| &*f.batch);
                    let mut pending = Pending::over(&*self.store, frozen.into_iter().collect());
                    pending.batch = std::mem::take(&mut cache);
                    let outcome = self.connect_deferred(&mut pending, block, hash, txids);
                    cache = std::mem::take(&mut pending.batch);
                    drop(pending);
                    let signatures = match outcome {
                        Ok(Ok(signatures)) => signatures,
                        Ok(Err(e)) => {
                            cache.rollback(mark);
                            condemned = Some((hash, e.clone()));
                            stop = Some((i, Some(e.into())));
                            break;
                        }
                        Err(e) => {
                            cache.rollback(mark);
                            stop = Some((i, Some(e.into())));
                            break;
                        }
                    };
                    let verdict = &verdicts[i];
                    if signatures.is_empty() {
                        let _ = verdict.set(Ok(()));
                    } else {
                        scope.spawn(move |_| {
                            let _ = verdict.set(signatures.verify());
                        });
                    }
                    let entry = HeaderEntry {
                        header: block.header,
                        chain_work: self.headers[&tip]
                            .chain_work
                            .saturating_add(block.header.target.work()),
                    };
                    // Tentatively in memory so the next block sees its parent; taken back
                    // below if its signatures fail or the commit does.
                    self.headers.insert(hash, entry);
                    self.active.push(hash);
                    marks.push(mark);
                    added.push((hash, entry));
                }
            });
        }));
        if connected.is_err() {
            tracing::error!(
                "panic while connecting a run of blocks: the chain state in memory cannot be \
                 trusted; stopping (the stored chain is consistent and is replayed at start)"
            );
            std::process::abort();
        }
        // The first block whose signatures fail ends the run there, before any failure
        // the rules found later on this thread. (Every spawned check has finished when
        // the scope returns; an unset verdict would be a bug, refused as a failure.)
        let first_bad = verdicts
            .iter()
            .take(added.len())
            .enumerate()
            .find_map(|(i, v)| match v.get() {
                Some(Ok(())) => None,
                Some(Err(e)) => Some((i, Some(e.clone()))),
                None => Some((i, None)),
            });
        let passed = first_bad.as_ref().map_or(added.len(), |(i, _)| *i);
        if let Some((i, e)) = first_bad {
            condemned = e.clone().map(|e| (added[i].0, e));
            stop = Some((
                i,
                Some(match e {
                    Some(e) => e.into(),
                    None => StoreError("a signature check did not run".into()).into(),
                }),
            ));
        }
        self.take_back(&mut cache, &marks, &mut added, passed);
        if let Some((hash, e)) = condemned {
            record_invalid(&mut self.invalid, hash, &e);
        }
        // The blocks themselves, stored durably before anything is answered.
        let mut blocks_batch = Batch::default();
        for (block, (hash, entry)) in blocks.iter().zip(&added) {
            blocks_batch.put(Table::Blocks, hash.0.to_vec(), block.to_bytes());
            blocks_batch.put(Table::Headers, hash.0.to_vec(), entry.encode());
            blocks_batch.put(Table::Meta, META_BEST.to_vec(), hash.0.to_vec());
        }
        let mut failure = None;
        if !added.is_empty() {
            if let Err(e) = self.store.commit(&blocks_batch) {
                self.take_back(&mut cache, &marks, &mut added, 0);
                failure = Some(e.into());
            }
        }
        cache.end_journal();
        self.cache = cache;
        // What follows the connected blocks: the block that stopped the run (when it
        // was only left over) and everything after it; a failed block is dropped.
        let mut accepted = BlockAccepted::new(AcceptStatus::Connected);
        let connected = added.len();
        let mut rest = blocks.split_off(connected);
        accepted.connected = blocks;
        match stop {
            _ if failure.is_some() => {}
            Some((i, None)) => {
                rest.drain(..i - connected);
            }
            Some((i, Some(e))) => {
                rest.drain(..=i - connected);
                failure = Some(e);
            }
            None => {}
        }
        if connected > 0 {
            self.after_staging();
        }
        (accepted, rest, failure)
    }

    /// Takes the run's blocks from `from` on back out: their writes from the cache and
    /// their headers from memory.
    fn take_back(
        &mut self,
        cache: &mut Batch,
        marks: &[Mark],
        added: &mut Vec<(BlockHash, HeaderEntry)>,
        from: usize,
    ) {
        if let Some(mark) = marks.get(from) {
            cache.rollback(*mark);
        }
        for (hash, _) in added.drain(from..) {
            self.headers.remove(&hash);
            self.active.pop();
        }
    }

    /// Keeps a block whose parent is unknown, if it is no larger than `max_block_size`
    /// (else `block-too-large`, checked first, and nothing is kept) and its own proof of
    /// work holds against a target `<= pow_limit` (else `bad-pow`). Random orphans are evicted until
    /// both bounds hold with it: at most [`MAX_ORPHANS`] blocks and
    /// [`MAX_ORPHAN_BLOCKS_OF_BYTES`] × `max_block_size` encoded bytes.
    fn add_orphan(&mut self, hash: BlockHash, block: Block) -> Result<(), ChainError> {
        let params = &self.network.params;
        let size = block.size();
        if size as u64 > params.max_block_size {
            return Err(ChainError::Block(BlockError::BlockTooLarge {
                size,
                max: params.max_block_size,
            }));
        }
        let header = &block.header;
        if header.target > params.pow_limit || !header.target.is_met_by(&hash.0) {
            return Err(ChainError::BadOrphan(hash));
        }
        let max_bytes = usize::try_from(
            params
                .max_block_size
                .saturating_mul(MAX_ORPHAN_BLOCKS_OF_BYTES),
        )
        .unwrap_or(usize::MAX);
        let mut rng = rand::thread_rng();
        while !self.orphans.is_empty()
            && (self.orphans.len() >= MAX_ORPHANS
                || self.orphan_bytes.saturating_add(size) > max_bytes)
        {
            let Some(victim) = self.orphans.keys().copied().choose(&mut rng) else {
                break;
            };
            self.take_orphan(&victim);
        }
        self.orphan_bytes += size;
        self.orphans.insert(hash, (block, size));
        Ok(())
    }

    /// Removes an orphan, keeping the byte total in step.
    fn take_orphan(&mut self, hash: &BlockHash) -> Option<Block> {
        let (block, size) = self.orphans.remove(hash)?;
        self.orphan_bytes -= size;
        Some(block)
    }

    fn mark_invalid(&mut self, hash: BlockHash, e: &BlockError) {
        record_invalid(&mut self.invalid, hash, e);
    }

    fn accept_with_parent(
        &mut self,
        block: Block,
        hash: BlockHash,
        now: u64,
        side_window: bool,
    ) -> Result<BlockAccepted, ChainError> {
        let prev = block.header.prev_hash;
        if self.invalid.contains_key(&prev) {
            let e = BlockError::BadPrev(format!("parent {prev} is invalid"));
            self.mark_invalid(hash, &e);
            return Err(e.into());
        }
        let parent = self
            .parent_info(&prev)
            .ok_or_else(|| StoreError(format!("parent {prev} has no header")))?;
        // A header failure condemns the hash. A body failure does not: the hash commits
        // only to the header, and a peer can pair a valid header with a tampered body
        // (the real block must still be accepted later). Once the merkle root matches,
        // the body is the one the header commits to, and connect failures condemn it.
        if let Err(e) = check_header(&block.header, &parent, now) {
            self.mark_invalid(hash, &e);
            return Err(e.into());
        }
        let txids = check_block(&block, &self.network.params)?;
        let parent_work = self.headers[&prev].chain_work;
        let entry = HeaderEntry {
            header: block.header,
            chain_work: parent_work.saturating_add(block.header.target.work()),
        };
        if prev == self.tip_hash() {
            return self.extend_tip(block, hash, txids, entry);
        }
        // A side branch: store it while it is close enough to matter.
        let tip = self.tip_entry();
        let window = Work(
            tip.header
                .target
                .work()
                .0
                .mul_div_u64(SIDE_BRANCH_WINDOW, 1)
                .unwrap_or(crate::primitives::U256::MAX),
        );
        if side_window && entry.chain_work.saturating_add(window) < tip.chain_work {
            tracing::debug!(block = %hash, "side block too far behind the tip; not stored");
            return Ok(BlockAccepted::new(AcceptStatus::SideChain));
        }
        let mut side = Batch::default();
        side.put(Table::Blocks, hash.0.to_vec(), block.to_bytes());
        side.put(Table::Headers, hash.0.to_vec(), entry.encode());
        self.store.commit(&side)?;
        self.headers.insert(hash, entry);
        if entry.chain_work > tip.chain_work {
            self.reorganize(hash)
        } else {
            Ok(BlockAccepted::new(AcceptStatus::SideChain))
        }
    }

    fn extend_tip(
        &mut self,
        block: Block,
        hash: BlockHash,
        txids: Vec<Txid>,
        entry: HeaderEntry,
    ) -> Result<BlockAccepted, ChainError> {
        let mut pending = Pending::over(&*self.store, self.layers());
        if let Err(e) = self.connect_and_index(&mut pending, &block, hash, &txids)? {
            self.mark_invalid(hash, &e);
            return Err(e.into());
        }
        let state = pending.batch;
        // The block is on disk before it counts as connected; its chain state changes
        // go to the cache (replayed from the stored block after a crash).
        let mut blocks_batch = Batch::default();
        blocks_batch.put(Table::Blocks, hash.0.to_vec(), block.to_bytes());
        blocks_batch.put(Table::Headers, hash.0.to_vec(), entry.encode());
        blocks_batch.put(Table::Meta, META_BEST.to_vec(), hash.0.to_vec());
        self.store.commit(&blocks_batch)?;
        self.headers.insert(hash, entry);
        self.active.push(hash);
        self.stage(state);
        Ok(BlockAccepted {
            status: AcceptStatus::Connected,
            connected: vec![block],
            disconnected: Vec::new(),
        })
    }

    /// Makes the stored branch ending at `new_tip` active: disconnects back to the fork
    /// point and connects the branch, all in one atomic commit. If a block of the branch
    /// breaks a rule, it and its descendants are marked invalid and nothing changes.
    fn reorganize(&mut self, new_tip: BlockHash) -> Result<BlockAccepted, ChainError> {
        let mut path = Vec::new();
        let mut cursor = new_tip;
        while !self.is_active(&cursor) {
            path.push(cursor);
            cursor = self
                .headers
                .get(&cursor)
                .map(|e| e.header.prev_hash)
                .ok_or_else(|| StoreError(format!("branch block {cursor} has no header")))?;
        }
        path.reverse();
        // A reorg is rare: it works on the flushed store and commits the whole change
        // (chain state and the best block) at once, as without a cache.
        self.flush()?;
        let fork_height = self.headers[&cursor].header.height;
        let mut pending = Pending::new(&*self.store);
        let mut disconnected = Vec::new();
        for hash in self.active[(fork_height.get() as usize + 1)..].iter().rev() {
            let block = self.load_block(&pending, hash)?;
            let undo = match pending.get(Table::Undo, &hash.0)? {
                Some(v) => decode_undo(&v)?,
                None => return Err(StoreError(format!("no undo data for {hash}")).into()),
            };
            BlockIndexer::new(&mut pending).disconnect(&block, &txids_of(&block), &undo)?;
            disconnected.push(block);
        }
        let mut connected = Vec::new();
        for (i, hash) in path.iter().enumerate() {
            let block = self.load_block(&pending, hash)?;
            let txids = txids_of(&block);
            let undo = match self.connect_rules(&pending, &block, &txids)? {
                Ok(undo) => undo,
                Err(e) => {
                    for bad in &path[i..] {
                        self.mark_invalid(*bad, &e);
                    }
                    return Err(e.into());
                }
            };
            BlockIndexer::new(&mut pending).connect(&block, *hash, &txids, &undo.spent)?;
            connected.push(block);
        }
        // The chain state first, then the best block (another file): a crash between
        // the two leaves a whole chain state that open settles (`settle_best`).
        self.store.commit(&pending.batch)?;
        let mut best = Batch::default();
        best.put(Table::Meta, META_BEST.to_vec(), new_tip.0.to_vec());
        if let Err(e) = self.store.commit(&best) {
            // The chain state is committed: memory follows it; open settles the record.
            tracing::error!(error = %e, "best block record not written after a reorganisation");
        }
        self.active.truncate(fork_height.get() as usize + 1);
        self.active.extend(path);
        tracing::info!(
            fork = %fork_height,
            disconnected = disconnected.len(),
            connected = connected.len(),
            tip = %self.tip_hash(),
            "reorganized to a chain with more work"
        );
        Ok(BlockAccepted {
            status: AcceptStatus::Reorganized,
            connected,
            disconnected,
        })
    }

    /// Rules 6-7 of a block against `pending` (signatures the cache vouches for are
    /// skipped). The outer error is a store failure, which says nothing about the block;
    /// the inner one is a broken rule.
    fn connect_rules(
        &self,
        pending: &Pending<'_, S>,
        block: &Block,
        txids: &[Txid],
    ) -> Result<Result<BlockUndo, BlockError>, StoreError> {
        Ok(self
            .rules_deferred(pending, block, txids)?
            .and_then(|(undo, signatures)| signatures.verify().map(|()| undo)))
    }

    /// Rules 6-7 of `block` against `pending`, and, while its signatures are verified
    /// on the other cores, its index changes written into `pending` (which the caller
    /// discards when a rule fails). The outer error is a store failure, the inner one a
    /// broken rule.
    fn connect_and_index(
        &self,
        pending: &mut Pending<'_, S>,
        block: &Block,
        hash: BlockHash,
        txids: &[Txid],
    ) -> Result<Result<(), BlockError>, StoreError> {
        let (undo, signatures) = match self.rules_deferred(pending, block, txids)? {
            Ok(d) => d,
            Err(e) => return Ok(Err(e)),
        };
        let index = |pending: &mut Pending<'_, S>| {
            BlockIndexer::new(pending).connect(block, hash, txids, &undo.spent)
        };
        let (verdict, indexed) = if signatures.is_empty() {
            (Ok(()), index(pending))
        } else {
            rayon::join(|| signatures.verify(), || index(pending))
        };
        indexed?;
        Ok(verdict)
    }

    /// Rules 6-7 of `block` against `pending`, its signatures left to verify (the ones
    /// the signature cache vouches for are skipped). The outer error is a store failure,
    /// the inner one a broken rule.
    fn rules_deferred<'b>(
        &self,
        pending: &Pending<'_, S>,
        block: &'b Block,
        txids: &'b [Txid],
    ) -> Result<Result<(BlockUndo, BlockSignatures<'b>), BlockError>, StoreError> {
        let cache = &self.sig_cache;
        let deferred = connect_block_deferred(
            block,
            txids,
            pending,
            &self.network.params,
            &self.network.genesis_hash,
            &|t| cache.contains(t),
        );
        match pending.take_failure() {
            Some(failure) => Err(failure),
            None => Ok(deferred),
        }
    }

    /// Rules 6-7 of `block` against `pending` and its index changes written into
    /// `pending`, with its signatures left to verify (the caller takes the changes back
    /// out if they fail). The outer error is a store failure, the inner one a broken rule.
    fn connect_deferred<'b>(
        &self,
        pending: &mut Pending<'_, S>,
        block: &'b Block,
        hash: BlockHash,
        txids: &'b [Txid],
    ) -> Result<Result<BlockSignatures<'b>, BlockError>, StoreError> {
        let (undo, signatures) = match self.rules_deferred(pending, block, txids)? {
            Ok(d) => d,
            Err(e) => return Ok(Err(e)),
        };
        BlockIndexer::new(pending).connect(block, hash, txids, &undo.spent)?;
        Ok(Ok(signatures))
    }

    /// The chain state changes of `blocks` (which passed every rule, connected one after
    /// another on the tip) over the cache: rebuilds a run's batch after a later block of
    /// the run failed once its changes were written.
    fn reindex(&self, blocks: &[Block]) -> Result<Batch, StoreError> {
        let mut pending = Pending::over(&*self.store, self.layers());
        for block in blocks {
            let hash = block.hash();
            let txids = txids_of(block);
            let deferred = connect_block_deferred(
                block,
                &txids,
                &pending,
                &self.network.params,
                &self.network.genesis_hash,
                &|_| true,
            );
            if let Some(failure) = pending.take_failure() {
                return Err(failure);
            }
            let (undo, _) = deferred
                .map_err(|e| StoreError(format!("block {hash} connected before, now: {e}")))?;
            BlockIndexer::new(&mut pending).connect(block, hash, &txids, &undo.spent)?;
        }
        Ok(pending.batch)
    }

    fn load_block(&self, pending: &Pending<'_, S>, hash: &BlockHash) -> Result<Block, ChainError> {
        let bytes = pending
            .get(Table::Blocks, &hash.0)?
            .ok_or_else(|| StoreError(format!("block {hash} is not stored")))?;
        Block::from_bytes(&bytes)
            .map_err(|e| StoreError(format!("stored block {hash} does not decode: {e}")).into())
    }

    // ---- consensus context -------------------------------------------------------------

    /// `MTP` of a stored block.
    pub fn median_time_past(&self, hash: &BlockHash) -> u64 {
        let mut times = Vec::with_capacity(crate::consensus::MTP_WINDOW);
        let mut cursor = Some(*hash);
        while let Some(h) = cursor {
            let Some(entry) = self.headers.get(&h) else {
                break;
            };
            times.push(entry.header.timestamp);
            if times.len() == crate::consensus::MTP_WINDOW || entry.header.height.get() == 0 {
                break;
            }
            cursor = Some(entry.header.prev_hash);
        }
        times.reverse();
        median_time_past(&times)
    }

    /// The ancestor of `hash` at `height` (on whatever branch `hash` is).
    fn ancestor(&self, hash: &BlockHash, height: Height) -> Option<BlockHash> {
        if self.is_active(hash) {
            return self.active.get(height.get() as usize).copied();
        }
        let mut cursor = *hash;
        loop {
            let entry = self.headers.get(&cursor)?;
            if entry.header.height == height {
                return Some(cursor);
            }
            if entry.header.height < height {
                return None;
            }
            cursor = entry.header.prev_hash;
        }
    }

    /// What a child of the stored block `parent` is checked against.
    pub fn parent_info(&self, parent: &BlockHash) -> Option<ParentInfo> {
        let entry = self.headers.get(parent)?;
        let height = entry.header.height.next()?;
        let params = &self.network.params;
        let mtp = self.median_time_past(parent);
        let target = next_target(params, height, entry.header.target, || {
            let start = height
                .checked_sub(params.retarget_interval)
                .and_then(|h| self.ancestor(parent, h));
            let start_mtp = start.map(|h| self.median_time_past(&h)).unwrap_or(mtp);
            mtp.saturating_sub(start_mtp)
        });
        Some(ParentInfo {
            hash: *parent,
            height: entry.header.height,
            median_time_past: mtp,
            next_target: target,
        })
    }

    /// What a child of the last of `extra` is checked against, where `extra` are headers
    /// not stored (sync's presync) that link one after another onto the stored block
    /// `base`. With no `extra`, [`ChainState::parent_info`] of `base`.
    pub fn header_context(&self, base: &BlockHash, extra: &[Header]) -> Option<ParentInfo> {
        let Some(last) = extra.last() else {
            return self.parent_info(base);
        };
        let base_height = self.headers.get(base)?.header.height.get();
        let parent_height = base_height.checked_add(extra.len() as u64)?;
        let timestamp = |h: u64| -> Option<u64> {
            if h > base_height {
                extra
                    .get(usize::try_from(h - base_height - 1).ok()?)
                    .map(|x| x.timestamp)
            } else {
                let a = self.ancestor(base, Height(h))?;
                self.headers.get(&a).map(|e| e.header.timestamp)
            }
        };
        let mtp_at = |h: u64| -> u64 {
            let low = h.saturating_sub(crate::consensus::MTP_WINDOW as u64 - 1);
            let times: Vec<u64> = (low..=h).filter_map(timestamp).collect();
            median_time_past(&times)
        };
        let params = &self.network.params;
        let height = Height(parent_height).next()?;
        let mtp = mtp_at(parent_height);
        let target = next_target(params, height, last.target, || {
            let start_mtp = height
                .get()
                .checked_sub(params.retarget_interval)
                .map(mtp_at)
                .unwrap_or(mtp);
            mtp.saturating_sub(start_mtp)
        });
        Some(ParentInfo {
            hash: last.hash(),
            height: Height(parent_height),
            median_time_past: mtp,
            next_target: target,
        })
    }

    /// A block locator of the active chain: the tip, the 10 blocks below it, then
    /// exponentially sparser ancestors, and genesis last (as Bitcoin Core's).
    pub fn locator(&self) -> Vec<BlockHash> {
        let mut out = Vec::new();
        let mut height = self.active.len() as u64 - 1;
        let mut step = 1u64;
        loop {
            if let Some(h) = self.active.get(height as usize) {
                out.push(*h);
            }
            if height == 0 {
                break;
            }
            if out.len() >= 10 {
                step = step.saturating_mul(2);
            }
            height = height.saturating_sub(step);
        }
        out
    }

    /// The height of the first `locator` hash on the active chain (0, genesis, when none
    /// is): a peer's headers request is answered from there.
    pub fn locate(&self, locator: &[BlockHash]) -> Height {
        locator
            .iter()
            .find(|h| self.is_active(h))
            .and_then(|h| self.headers.get(h))
            .map(|e| e.header.height)
            .unwrap_or(Height(0))
    }

    /// Block headers stored, active and side branches (each with its block).
    pub fn header_count(&self) -> usize {
        self.headers.len()
    }

    /// Whether `hash` was found invalid (since start).
    pub fn is_invalid(&self, hash: &BlockHash) -> bool {
        self.invalid.contains_key(hash)
    }

    /// The context of the next block on the active tip (miner, mempool).
    pub fn tip_parent_info(&self) -> ParentInfo {
        self.parent_info(&self.tip_hash())
            .expect("the tip always has a stored header")
    }

    // ---- read side ---------------------------------------------------------------------

    pub fn network(&self) -> &Network {
        &self.network
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn sig_cache(&self) -> &SigCache {
        &self.sig_cache
    }

    pub fn tip_hash(&self) -> BlockHash {
        *self
            .active
            .last()
            .expect("the active chain always holds genesis")
    }

    pub fn tip_entry(&self) -> HeaderEntry {
        self.headers[&self.tip_hash()]
    }

    pub fn height(&self) -> Height {
        Height(self.active.len() as u64 - 1)
    }

    pub fn is_active(&self, hash: &BlockHash) -> bool {
        self.headers
            .get(hash)
            .is_some_and(|e| self.active.get(e.header.height.get() as usize) == Some(hash))
    }

    pub fn block_hash_at(&self, height: Height) -> Option<BlockHash> {
        self.active
            .get(usize::try_from(height.get()).ok()?)
            .copied()
    }

    pub fn header_entry(&self, hash: &BlockHash) -> Option<&HeaderEntry> {
        self.headers.get(hash)
    }

    pub fn knows_block(&self, hash: &BlockHash) -> bool {
        self.headers.contains_key(hash)
    }

    pub fn orphan_count(&self) -> usize {
        self.orphans.len()
    }

    /// Sum of the encoded sizes of the orphans kept (at most
    /// [`MAX_ORPHAN_BLOCKS_OF_BYTES`] × `max_block_size`).
    pub fn orphan_bytes(&self) -> usize {
        self.orphan_bytes
    }

    /// What lies below the cache: the batch a flush in progress writes (if any) over
    /// the store.
    fn below_cache(&self) -> Overlay<'_, S> {
        Overlay {
            store: &*self.store,
            layer: self.flushing.as_ref().map(|f| &*f.batch),
        }
    }

    /// A chain state record as of the in-memory tip: the cache, then the store.
    fn read(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        layered_get(&self.below_cache(), &[&self.cache], table, key)
    }

    /// [`ChainStore::scan`] as of the in-memory tip: the cache laid over the store.
    fn read_scan(
        &self,
        table: Table,
        prefix: &[u8],
        after: Option<&[u8]>,
        direction: Direction,
        limit: usize,
    ) -> Result<Entries, StoreError> {
        merged_scan(
            &self.below_cache(),
            self.cache.table(table),
            table,
            prefix,
            after,
            direction,
            limit,
        )
    }

    pub fn block(&self, hash: &BlockHash) -> Result<Option<Block>, ChainError> {
        match self.store.get(Table::Blocks, &hash.0)? {
            None => Ok(None),
            Some(bytes) => Block::from_bytes(&bytes).map(Some).map_err(|e| {
                StoreError(format!("stored block {hash} does not decode: {e}")).into()
            }),
        }
    }

    /// The fee of each non-coinbase transaction of an active block, from its undo data.
    pub fn block_fees(
        &self,
        hash: &BlockHash,
        block: &Block,
    ) -> Result<Option<Vec<Amount>>, ChainError> {
        let Some(v) = self.read(Table::Undo, &hash.0)? else {
            return Ok(None);
        };
        let spent = decode_undo(&v)?;
        let mut coins = spent.iter();
        let mut fees = Vec::new();
        for tx in block.transactions.iter().filter(|t| !t.is_coinbase()) {
            let inputs = Amount::checked_sum(
                coins
                    .by_ref()
                    .take(tx.inputs.len())
                    .map(|(_, c)| c.output.value),
            );
            match (inputs, tx.output_sum()) {
                (Some(i), Some(o)) => fees.push(i.checked_sub(o).unwrap_or(Amount::ZERO)),
                _ => return Ok(None),
            }
        }
        Ok(Some(fees))
    }

    pub fn coin(&self, outpoint: &OutPoint) -> Result<Option<Coin>, ChainError> {
        match self.read(Table::Utxo, &outpoint_key(outpoint))? {
            Some(v) => Ok(Some(decode_coin(&v)?)),
            None => Ok(None),
        }
    }

    pub fn tx_location(&self, txid: &Txid) -> Result<Option<TxLocation>, ChainError> {
        match self.read(Table::TxIndex, &txid.0)? {
            Some(v) => Ok(Some(decode_location(&v)?)),
            None => Ok(None),
        }
    }

    /// A confirmed transaction and where it is.
    pub fn transaction(
        &self,
        txid: &Txid,
    ) -> Result<Option<(Transaction, TxLocation)>, ChainError> {
        let Some(loc) = self.tx_location(txid)? else {
            return Ok(None);
        };
        let block = self
            .block(&loc.block_hash)?
            .ok_or_else(|| StoreError(format!("indexed block {} is missing", loc.block_hash)))?;
        let tx = block
            .transactions
            .into_iter()
            .nth(loc.position as usize)
            .ok_or_else(|| StoreError(format!("tx index of {txid} points past its block")))?;
        Ok(Some((tx, loc)))
    }

    /// The confirmed transaction that spent `outpoint`, with its height.
    pub fn spender(&self, outpoint: &OutPoint) -> Result<Option<(Txid, Height)>, ChainError> {
        match self.read(Table::SpentBy, &outpoint_key(outpoint))? {
            Some(v) => Ok(Some(decode_spender(&v)?)),
            None => Ok(None),
        }
    }

    pub fn address_stats(&self, pkh: &PubkeyHash) -> Result<AddressStats, ChainError> {
        match self.read(Table::AddrStats, &pkh.0)? {
            Some(v) => Ok(AddressStats::decode(&v)?),
            None => Ok(AddressStats::default()),
        }
    }

    /// Up to `limit` unspent outputs of an address, in outpoint order.
    pub fn address_utxos(
        &self,
        pkh: &PubkeyHash,
        limit: usize,
    ) -> Result<Vec<(OutPoint, Coin)>, ChainError> {
        self.address_utxos_after(pkh, None, limit)
    }

    /// Up to `limit` of an address's unspent outputs in outpoint order (txid bytes, then
    /// vout), starting after `after`: one page of a listing that a client walks to the end.
    pub fn address_utxos_after(
        &self,
        pkh: &PubkeyHash,
        after: Option<&OutPoint>,
        limit: usize,
    ) -> Result<Vec<(OutPoint, Coin)>, ChainError> {
        let cursor = after.map(|op| addr_utxo_key(pkh, op));
        self.read_scan(
            Table::AddrUtxo,
            &pkh.0,
            cursor.as_deref(),
            Direction::Forward,
            limit,
        )?
        .into_iter()
        .map(|(k, v)| Ok((decode_outpoint_key(&k[20..])?, decode_coin(&v)?)))
        .collect()
    }

    /// Txids of an address's confirmed history, newest first, starting below `before`.
    pub fn address_history(
        &self,
        pkh: &PubkeyHash,
        before: Option<&Txid>,
        limit: usize,
    ) -> Result<Vec<(Txid, Height)>, ChainError> {
        let cursor = match before {
            Some(txid) => match self.tx_location(txid)? {
                Some(loc) => Some(addr_history_key(pkh, loc.height, loc.position)),
                None => return Ok(Vec::new()),
            },
            None => None,
        };
        self.read_scan(
            Table::AddrHistory,
            &pkh.0,
            cursor.as_deref(),
            Direction::Reverse,
            limit,
        )?
        .into_iter()
        .map(|(k, v)| {
            let txid = Txid(
                v.as_slice()
                    .try_into()
                    .map_err(|_| StoreError("corrupt history entry".into()))?,
            );
            let mut h = [0u8; 8];
            h.copy_from_slice(
                k.get(20..28)
                    .ok_or_else(|| StoreError("corrupt history key".into()))?,
            );
            Ok((txid, Height(u64::from_be_bytes(h))))
        })
        .collect()
    }

    /// The top `limit` addresses by balance (ties by address), read in order from the
    /// rich-list index.
    pub fn rich_list(&self, limit: usize) -> Result<Vec<(PubkeyHash, Amount)>, ChainError> {
        self.read_scan(Table::Rich, &[], None, Direction::Forward, limit)?
            .into_iter()
            .map(|(k, _)| decode_rich_key(&k).map(|(b, a)| (a, b)).map_err(Into::into))
            .collect()
    }

    pub fn totals(&self) -> Result<Totals, ChainError> {
        match self.read(Table::Meta, META_TOTALS)? {
            Some(v) => Ok(Totals::decode(&v)?),
            None => Ok(Totals::default()),
        }
    }

    /// Mean seconds per block over the last retarget window (or the chain so far).
    pub fn average_block_time(&self) -> Option<u64> {
        let tip = self.tip_entry().header;
        let span = self.network.params.retarget_interval.min(tip.height.get());
        if span == 0 {
            return None;
        }
        let start = self.block_hash_at(Height(tip.height.get() - span))?;
        let start_time = self.headers.get(&start)?.header.timestamp;
        Some(tip.timestamp.saturating_sub(start_time) / span)
    }
}

/// The confirmed UTXO set at the tip, for the mempool. A store failure reads as a missing
/// coin here; it is logged, and the transaction is refused rather than wrongly accepted.
impl<S: ChainStore + 'static> crate::consensus::UtxoView for ChainState<S> {
    fn coin(&self, outpoint: &OutPoint) -> Option<Coin> {
        match ChainState::coin(self, outpoint) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "utxo read failed");
                None
            }
        }
    }
}

/// A clean shutdown writes the chain state cache out; after a crash the stored blocks are
/// connected again at the next open instead.
impl<S: ChainStore + 'static> Drop for ChainState<S> {
    fn drop(&mut self) {
        if let Err(e) = self.flush() {
            tracing::error!(error = %e, "chain state flush at shutdown failed");
        }
    }
}
