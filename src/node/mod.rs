//! The full node: wiring of chain state, mempool, miner, peers and the HTTP API.
//!
//! [`Node`] holds the shared state; the only paths that write chain state are
//! [`Node::submit_block`] (blocks from the API, peers, sync and the miner) and the
//! mempool updates it makes. Lock order is always chain, then mempool; neither lock is
//! held across an `.await`.

pub mod config;
pub mod discovery;
pub mod events;
pub mod relay;
pub mod sync;

pub use config::NodeConfig;
pub use discovery::{discovery_loop, probe_peer};
pub use events::{EventBus, NodeEvent};
pub use sync::{sync_loop, sync_once};

use crate::chain::{AcceptStatus, BlockAccepted, ChainError, ChainState, DiskStore};
use crate::consensus::validation::verify_signatures_parallel;
use crate::consensus::{BlockError, Network};
use crate::error::{Code, ErrorCode};
use crate::json::JsonError;
use crate::mempool::{persist, Mempool, MempoolError};
use crate::metrics::NodeMetrics;
use crate::miner;
use crate::net::PeerSet;
use crate::primitives::{Block, BlockHash, DecodeError, Height, PubkeyHash, Transaction, Txid};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;

/// Why the node refused something.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error(transparent)]
    Mempool(#[from] MempoolError),
    #[error(transparent)]
    Json(#[from] JsonError),
    #[error("malformed: {0}")]
    Decode(#[from] DecodeError),
    #[error("{0}")]
    Internal(String),
}

impl ErrorCode for NodeError {
    fn code(&self) -> Code {
        match self {
            NodeError::Chain(e) => e.code(),
            NodeError::Mempool(e) => e.code(),
            NodeError::Json(e) => e.code(),
            NodeError::Decode(e) => e.code(),
            NodeError::Internal(_) => Code::Internal,
        }
    }
}

pub use crate::clock::unix_now;

/// Relay requests (`/relay/*`) handled on blocking threads at once; more get 503 at once
/// (never punished: the peer retries or asks another).
pub const RELAY_WORK: usize = 16;

/// What [`Node::restore_mempool`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RestoredMempool {
    /// Transactions back in the pool.
    pub restored: usize,
    /// Transactions that failed a check now (spent, conflicting, invalid).
    pub refused: usize,
    /// Transactions past `--mempool-expiry`, skipped.
    pub expired: usize,
    /// Why the file was ignored as a whole (damaged, too large, unreadable).
    pub error: Option<String>,
}

/// Shared state of a running node.
pub struct Node {
    pub config: NodeConfig,
    chain: RwLock<ChainState<DiskStore>>,
    mempool: Mutex<Mempool>,
    pub peers: PeerSet,
    /// The active tip; miners and sync watch it.
    tip: watch::Sender<BlockHash>,
    /// Bumped on every tip change, so a running nonce search knows it is stale.
    tip_generation: AtomicU64,
    pub syncing: AtomicBool,
    /// Wakes the sync task early (a pushed block had an unknown parent).
    pub sync_wanted: Notify,
    /// Cancelled once shutdown starts: every task of the node ends, long CPU work
    /// (mining) gives up. The node's one shutdown signal.
    pub shutdown: CancellationToken,
    /// Permits for API work on blocking threads (`RequestLimits::blocking_work`).
    pub api_work: Arc<tokio::sync::Semaphore>,
    /// Permits for peers' relay requests on blocking threads ([`RELAY_WORK`]), apart from
    /// `api_work` so explorer or API load cannot starve relay.
    pub relay_work: Arc<tokio::sync::Semaphore>,
    /// Blocks and transactions as they happen, for `GET /events` and the explorer.
    events: EventBus,
    /// Permits for open event streams (`NodeConfig::max_event_streams`).
    pub event_streams: Arc<tokio::sync::Semaphore>,
    /// Relay, receiving side: wanted transactions, orphans, block fetches, mempool sync.
    pub relay: relay::RelayState,
    /// What `GET /metrics` reports.
    pub metrics: NodeMetrics,
}

impl Node {
    pub fn new(config: NodeConfig, chain: ChainState<DiskStore>) -> Arc<Node> {
        let tip = chain.tip_hash();
        let mempool = Mempool::new(config.mempool.clone());
        let metrics = NodeMetrics::new();
        chain
            .store()
            .observe_commits(metrics.commit_seconds.clone());
        // A node listening on a specific IP talks from it (PROTOCOL.md section 9).
        let local = Some(config.listen.ip()).filter(|ip| !ip.is_unspecified());
        let shutdown = CancellationToken::new();
        let peers = PeerSet::new(
            config.max_peers,
            config.peer_timeout,
            local,
            shutdown.child_token(),
        );
        let api_work = Arc::new(tokio::sync::Semaphore::new(
            config.requests.blocking_work.max(1),
        ));
        let event_streams = Arc::new(tokio::sync::Semaphore::new(config.max_event_streams));
        Arc::new_cyclic(|me: &std::sync::Weak<Node>| {
            // The relay tasks announce from the mempool and name our public address.
            let source: std::sync::Weak<dyn crate::net::relay::RelaySource> = me.clone();
            peers.set_relay_source(
                config.public_address.clone(),
                source,
                config.relay_outbox_txids,
            );
            Node {
                config,
                chain: RwLock::new(chain),
                mempool: Mutex::new(mempool),
                peers,
                tip: watch::channel(tip).0,
                tip_generation: AtomicU64::new(0),
                syncing: AtomicBool::new(false),
                sync_wanted: Notify::new(),
                shutdown,
                api_work,
                relay_work: Arc::new(tokio::sync::Semaphore::new(RELAY_WORK)),
                relay: relay::RelayState::new(),
                events: EventBus::default(),
                event_streams,
                metrics,
            }
        })
    }

    pub fn network(&self) -> &Network {
        &self.config.network
    }

    /// Read access to chain state (a poisoned lock is still consistent: writes commit
    /// atomically before memory changes).
    pub fn chain(&self) -> RwLockReadGuard<'_, ChainState<DiskStore>> {
        self.chain.read().unwrap_or_else(|e| e.into_inner())
    }

    fn chain_mut(&self) -> RwLockWriteGuard<'_, ChainState<DiskStore>> {
        self.chain.write().unwrap_or_else(|e| e.into_inner())
    }

    pub fn mempool(&self) -> MutexGuard<'_, Mempool> {
        self.mempool.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The event bus (`GET /events`).
    pub fn events(&self) -> &EventBus {
        &self.events
    }

    pub fn subscribe_tip(&self) -> watch::Receiver<BlockHash> {
        self.tip.subscribe()
    }

    /// Validates a transaction against the tip and the mempool and keeps it; relays it to
    /// every peer when it is new. Returns `(txid, already_known)`.
    ///
    /// Signatures are verified with no lock held, so concurrent submissions verify in
    /// parallel (and a transaction's inputs spread over the cores): the cheap checks run
    /// under the locks ([`Mempool::precheck`]), the signatures outside them, and then
    /// [`Mempool::accept`] re-checks everything under the locks (the pool or the tip may
    /// have changed: a conflict that arrived meanwhile is refused) and finds the
    /// signatures vouched for by the signature cache. A transaction's signatures depend
    /// only on itself and the outputs it spends, which its outpoints fix, so a verdict
    /// reached outside the lock stays true.
    pub fn submit_transaction(&self, tx: Transaction) -> Result<(Txid, bool), NodeError> {
        let result = self.submit_transaction_unmetered(tx);
        match &result {
            Ok((_, false)) => self.metrics.transactions_accepted.inc(),
            Ok((_, true)) => {}
            Err(e) => self.metrics.transaction_rejected(e.code()),
        }
        result
    }

    /// [`Node::submit_transaction`] without the metrics (orphan retries are not counted
    /// as refusals again).
    pub(crate) fn submit_transaction_unmetered(
        &self,
        tx: Transaction,
    ) -> Result<(Txid, bool), NodeError> {
        let to_verify = {
            let chain = self.chain();
            let next = Self::next_height(&chain)?;
            let net = chain.network();
            let pool = self.mempool();
            pool.precheck(
                &tx,
                &*chain,
                next,
                &net.params,
                &net.genesis_hash,
                chain.sig_cache(),
            )?
        };
        let verified = match to_verify {
            Some((txid, sighash)) => {
                verify_signatures_parallel(&tx, &sighash).map_err(MempoolError::from)?;
                Some(txid)
            }
            None => None,
        };
        let accepted = {
            let chain = self.chain();
            let next = Self::next_height(&chain)?;
            let net = chain.network();
            if let Some(txid) = verified {
                chain.sig_cache().insert(txid);
            }
            let mut pool = self.mempool();
            let accepted = pool.accept(
                tx.clone(),
                &*chain,
                next,
                &net.params,
                &net.genesis_hash,
                chain.sig_cache(),
            )?;
            // Under the locks, so its event comes before that of a block confirming it.
            if !accepted.already_known {
                let fee = accepted.fee.to_base_units();
                self.events
                    .emit(NodeEvent::tx(&accepted.txid, fee, tx.size()));
            }
            accepted
        };
        if !accepted.already_known {
            tracing::debug!(txid = %accepted.txid, fee = %accepted.fee, "transaction accepted");
            self.peers.relay_txid(accepted.txid);
        }
        Ok((accepted.txid, accepted.already_known))
    }

    fn next_height(chain: &ChainState<DiskStore>) -> Result<Height, NodeError> {
        chain
            .height()
            .next()
            .ok_or_else(|| NodeError::Internal("chain height overflow".into()))
    }

    /// Validates and stores a block (CPU-heavy: call from a blocking thread). Updates the
    /// mempool, wakes miners, and relays newly active blocks unless `from_sync`.
    pub fn submit_block(&self, block: Block, from_sync: bool) -> Result<AcceptStatus, NodeError> {
        let result = self.submit_block_unmetered(block, from_sync);
        match &result {
            Ok(AcceptStatus::AlreadyKnown) => {}
            Ok(status) => self
                .metrics
                .blocks_accepted
                .with_label_values(&[status.as_str()])
                .inc(),
            Err(e) => self.metrics.block_rejected(e.code()),
        }
        result
    }

    fn submit_block_unmetered(
        &self,
        block: Block,
        from_sync: bool,
    ) -> Result<AcceptStatus, NodeError> {
        let now = unix_now();
        let mut chain = self.chain_mut();
        let started = std::time::Instant::now();
        let result = if from_sync {
            chain.accept_synced_block(block, now)
        } else {
            chain.accept_block(block, now)
        };
        if result
            .as_ref()
            .is_ok_and(|a| a.status != AcceptStatus::AlreadyKnown)
        {
            self.metrics.block_validated(started.elapsed());
        }
        let accepted = match result {
            Ok(a) => a,
            Err(e) => {
                drop(chain);
                if matches!(e, ChainError::UnknownParent { .. }) {
                    self.sync_wanted.notify_one();
                }
                return Err(e.into());
            }
        };
        if accepted.connected.is_empty() {
            return Ok(accepted.status);
        }
        let (tip, height) = self.follow_tip(chain, &accepted);
        // Blocks connected while catching up in a sync are not relayed (PROTOCOL.md
        // section 8); everything else is, syncing or not (section 9).
        if !from_sync {
            for b in accepted.connected {
                self.peers.relay_block(Arc::new(b));
            }
        }
        tracing::info!(%height, %tip, status = accepted.status.as_str(), "new tip");
        Ok(accepted.status)
    }

    /// Brings the mempool and the tip's watchers (miner, sync) up to date after `accepted`
    /// changed the active chain, releasing the chain lock before waking anyone: confirmed
    /// and conflicting transactions leave the pool, transactions of disconnected blocks
    /// come back where still valid. Returns the new tip and height.
    fn follow_tip(
        &self,
        chain: RwLockWriteGuard<'_, ChainState<DiskStore>>,
        accepted: &BlockAccepted,
    ) -> (BlockHash, Height) {
        {
            let mut pool = self.mempool();
            for b in &accepted.connected {
                pool.remove_for_block(b);
            }
            let expired = pool.expire();
            if !expired.is_empty() {
                self.metrics.mempool_expired.inc_by(expired.len() as u64);
                tracing::info!(
                    count = expired.len(),
                    "expired transactions left the mempool"
                );
            }
            if !accepted.disconnected.is_empty() {
                let net = chain.network();
                let next = chain.height().next().unwrap_or(chain.height());
                let returning: Vec<Transaction> = accepted
                    .disconnected
                    .iter()
                    .rev()
                    .flat_map(|b| b.transactions.iter().skip(1).cloned())
                    .collect();
                // reinsert_after_reorg also revalidates the pool against the new tip.
                let back = pool.reinsert_after_reorg(
                    returning,
                    &*chain,
                    next,
                    &net.params,
                    &net.genesis_hash,
                    chain.sig_cache(),
                );
                tracing::info!(
                    returned = back.len(),
                    "transactions of the losing branch back in the mempool"
                );
            }
        }
        let tip = chain.tip_hash();
        let height = chain.height();
        // Under the chain lock, so events of concurrent chain changes stay in chain order.
        self.events
            .chain_changed(&accepted.disconnected, &accepted.connected);
        drop(chain);
        self.tip_generation.fetch_add(1, Ordering::SeqCst);
        self.tip.send_replace(tip);
        (tip, height)
    }

    /// Connects blocks fetched by sync: runs that extend the tip are committed together,
    /// anything else goes through [`Node::submit_block`]. Returns how many blocks joined
    /// the active chain. Blocking: run off the runtime.
    pub fn submit_synced_blocks(&self, mut blocks: Vec<Block>) -> Result<usize, NodeError> {
        let mut total = 0;
        while !blocks.is_empty() {
            if self.shutdown.is_cancelled() {
                return Err(NodeError::Internal("shutting down".into()));
            }
            let mut chain = self.chain_mut();
            let started = std::time::Instant::now();
            let (accepted, rest, failure) = chain.connect_run(blocks, unix_now());
            let joined = accepted.connected.len();
            if joined > 0 {
                let per_block = started.elapsed() / joined as u32;
                for _ in 0..joined {
                    self.metrics.block_validated(per_block);
                }
                self.metrics
                    .blocks_accepted
                    .with_label_values(&[AcceptStatus::Connected.as_str()])
                    .inc_by(joined as u64);
            }
            if accepted.connected.is_empty() {
                drop(chain);
            } else {
                total += accepted.connected.len();
                self.follow_tip(chain, &accepted);
            }
            if let Some(e) = failure {
                let e = NodeError::from(e);
                self.metrics.block_rejected(e.code());
                return Err(e);
            }
            blocks = rest;
            // The run stopped at a block that does not extend the tip: a side branch,
            // a reorg, or one we already have.
            if !blocks.is_empty() {
                let block = blocks.remove(0);
                if self.chain().knows_block(&block.hash()) {
                    continue;
                }
                let status = self.submit_block(block, true)?;
                if status != AcceptStatus::SideChain {
                    total += 1;
                }
            }
        }
        Ok(total)
    }

    /// Drops transactions past `--mempool-expiry` with their descendants; returns how
    /// many left. Also done on every tip change; the daemon calls this once a minute.
    pub fn expire_mempool(&self) -> usize {
        let expired = self.mempool().expire();
        if !expired.is_empty() {
            self.metrics.mempool_expired.inc_by(expired.len() as u64);
            tracing::info!(
                count = expired.len(),
                "expired transactions left the mempool"
            );
        }
        expired.len()
    }

    /// Saves the mempool to `mempool.dat` in the data dir (clean shutdown, PROTOCOL.md
    /// section 8). Returns how many transactions were saved. Blocking.
    pub fn save_mempool(&self) -> Result<usize, persist::PersistError> {
        let entries = self.mempool().snapshot();
        persist::save(&self.config.data_dir, &entries)?;
        Ok(entries.len())
    }

    /// Re-admits the transactions of a saved mempool, parents first, each through every
    /// check a new submission gets (signatures included); keeps their entry times, so
    /// expiry still counts from when they first arrived, and skips those already past
    /// it. A damaged or oversized file is reported and ignored. Nothing is relayed.
    /// Blocking: run before serving, off the runtime.
    pub fn restore_mempool(&self) -> RestoredMempool {
        let max = persist::max_file_bytes(self.config.mempool.max_usage);
        let entries = match persist::load(&self.config.data_dir, max) {
            Ok(Some(entries)) => entries,
            Ok(None) => return RestoredMempool::default(),
            Err(e) => {
                tracing::warn!(error = %e, "saved mempool ignored");
                return RestoredMempool {
                    error: Some(e.to_string()),
                    ..RestoredMempool::default()
                };
            }
        };
        let mut report = RestoredMempool::default();
        let now = unix_now();
        let expiry = self.config.mempool.expiry_secs;
        let chain = self.chain();
        let Ok(next) = Self::next_height(&chain) else {
            return report;
        };
        let net = chain.network();
        Self::preverify_saved(&chain, &entries);
        let mut pool = self.mempool();
        for (tx, entered) in entries {
            if now.saturating_sub(entered) >= expiry {
                report.expired += 1;
                continue;
            }
            match pool.accept_entered(
                tx,
                &*chain,
                next,
                &net.params,
                &net.genesis_hash,
                chain.sig_cache(),
                entered,
            ) {
                Ok(a) if !a.already_known => report.restored += 1,
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(error = %e, "saved transaction refused");
                    report.refused += 1;
                }
            }
        }
        self.metrics.mempool_restored.inc_by(report.restored as u64);
        tracing::info!(
            restored = report.restored,
            refused = report.refused,
            expired = report.expired,
            "saved mempool loaded"
        );
        report
    }

    /// Verifies the signatures of saved transactions on every core and records those that
    /// hold in the signature cache, so the one-by-one admission that follows does not
    /// verify them again. Each spent output comes from the chain or from an earlier entry
    /// of the file; an outpoint names its transaction by txid, which commits to that
    /// transaction's outputs, so a verdict reached here is the one admission would reach.
    /// Entries spending anything else are left to admission (which refuses them).
    fn preverify_saved(chain: &ChainState<DiskStore>, entries: &[(Transaction, u64)]) {
        use crate::consensus::UtxoView;
        use crate::primitives::{OutPoint, TxOut};
        use rayon::prelude::*;
        let outputs: std::collections::HashMap<OutPoint, TxOut> = entries
            .iter()
            .flat_map(|(tx, _)| {
                let txid = tx.txid();
                tx.outputs.iter().enumerate().map(move |(vout, out)| {
                    let outpoint = OutPoint {
                        txid,
                        vout: vout as u32,
                    };
                    (outpoint, *out)
                })
            })
            .collect();
        let genesis = chain.network().genesis_hash;
        let verified: Vec<Txid> = entries
            .par_iter()
            .filter_map(|(tx, _)| {
                let spent: Option<Vec<TxOut>> = tx
                    .inputs
                    .iter()
                    .map(|i| {
                        UtxoView::coin(chain, &i.prev)
                            .map(|c| c.output)
                            .or_else(|| outputs.get(&i.prev).copied())
                    })
                    .collect();
                let sighash = tx.sighash(&genesis, &spent?);
                crate::consensus::validation::verify_signatures(tx, &sighash)
                    .ok()
                    .map(|()| tx.txid())
            })
            .collect();
        for txid in verified {
            chain.sig_cache().insert(txid);
        }
    }

    /// Writes the chain state cache to disk (shutdown). Blocking: run off the runtime.
    pub fn flush_chain(&self) -> Result<(), NodeError> {
        Ok(self.chain_mut().flush()?)
    }

    /// Mines one block on the current tip paying `reward_to`; `None` when the tip moved or
    /// the node is stopping before a solution was found. Blocking: run off the runtime.
    pub fn mine_one(&self, reward_to: PubkeyHash) -> Result<Option<BlockHash>, NodeError> {
        let generation = self.tip_generation.load(Ordering::SeqCst);
        let mut block = {
            let chain = self.chain();
            let parent = chain.tip_parent_info();
            let params = &chain.network().params;
            let txs = self.mempool().block_template(miner::template_space(params));
            miner::block_template(params, &parent, txs, reward_to, unix_now())
        };
        let stale = || {
            self.tip_generation.load(Ordering::SeqCst) != generation || self.shutdown.is_cancelled()
        };
        if !miner::solve(&mut block, &stale) {
            return Ok(None);
        }
        let hash = block.hash();
        match self.submit_block(block, false) {
            Ok(_) => Ok(Some(hash)),
            // Lost a race with a block from a peer: not an error of the miner.
            Err(NodeError::Chain(ChainError::Block(BlockError::BadPrev(_)))) => Ok(None),
            Err(e) => Err(e),
        }
    }
}
