//! Relay, the receiving side (PROTOCOL.md sections 8 and 9, docs/relay.md): what peers
//! announce to us, fetching what we lack, the orphan pool, compact blocks and mempool
//! sync.
//!
//! - An announcement (`POST /relay/announce`) is a claim. Its txids go in a table of
//!   wanted transactions, bounded per source, all its ports together
//!   ([`MAX_WANTED_PER_SOURCE`]), per network group ([`MAX_WANTED_PER_GROUP`]), in total
//!   ([`MAX_WANTED`]) and in announcing peers ([`MAX_ANNOUNCING_PEERS`]); what does not
//!   fit is not taken (the answer's `taken` says how many were), so the announcer
//!   announces it again later: nothing is lost. Announcers that do not fit a txid's
//!   slots leave a fallback, asked when every listed announcer failed.
//! - [`relay_loop`] fetches wanted transactions in batches of up to
//!   [`MAX_FETCH_TXIDS`] (`POST /relay/transactions`, binary), one request in flight per
//!   peer, [`MAX_FETCHES_PER_SOURCE`] per source, [`MAX_FETCHES_PER_GROUP`] per network
//!   group and [`MAX_FETCHES`] in all. A txid is asked of one peer at a time; when that
//!   peer times out ([`FETCH_TIMEOUT`]) or leaves it out, it is asked of the next peer
//!   that announced it, so a peer that announces and never delivers blocks nothing.
//! - A fetched transaction is validated like any other. One whose parent has not arrived
//!   waits in the bounded [`OrphanPool`] and is retried when the parent is accepted. A
//!   txid refused for a reason that does not depend on our state (a bad signature…) is
//!   remembered, so it is not fetched again; one refused for a state-dependent reason is
//!   not.
//! - A block hash announced is fetched as a compact block (`GET /relay/compact/{hash}`)
//!   and rebuilt from the mempool; on a miss, a short-id collision or a peer without the
//!   endpoint, the full block is fetched (`GET /blocks?hashes=`), without penalty. The
//!   compact block's hash, target, proof of work and short-id count are checked first
//!   (a lie is punished), and answers are read with bounds from `max_block_size`.
//! - No node lock is taken inside a rayon closure (see [`Node::prewarm_signatures`]).
//! - Mempool sync: each peer, when it joins our table (at start, or when it comes back),
//!   is asked for its mempool's txids (`GET /mempool?limit&after`, at most
//!   [`MAX_SYNC_TXIDS`]); those we lack are wanted from it as if announced.
//! - Punished (section 9): an answer that does not decode or holds more than, or other
//!   than, what we asked for; a transaction failing a rule that only a broken or hostile
//!   sender breaks. Never: 404, 408, 409, 429, 5xx, a timeout, a failed rebuild.

use super::{Node, NodeError};
use crate::chain::{AcceptStatus, ChainError};
use crate::consensus::validation::verify_signatures_parallel;
use crate::error::{Code, ErrorCode};
use crate::http::server::source_key;
use crate::http::ClientError;
use crate::mempool::orphans::OrphanPool;
use crate::net::discourage::{punishes_block, punishes_relayed_tx};
use crate::net::group::{ip_of, NetGroup};
use crate::net::peers::GROUP_CAP;
use crate::net::relay::RelaySource;
use crate::net::relay_compact::{max_compact_size, CompactBlock};
use crate::net::Delivery;
use crate::primitives::encoding::{decode_list, put_u32};
use crate::primitives::{Block, BlockHash, Decode, Reader, Transaction, Txid};
use crate::wire::{
    Info, MempoolView, FEATURE_MEMPOOL_PAGES, FEATURE_RELAY_TRANSACTIONS, MAX_FETCH_TXIDS,
};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Txids queued from one source at most (all its ports together; announced or listed
/// by its mempool).
pub const MAX_WANTED_PER_SOURCE: usize = 20_000;
/// Txids queued from one network group at most (so one /16 cannot fill the table).
pub const MAX_WANTED_PER_GROUP: usize = 2 * MAX_WANTED_PER_SOURCE;
/// Distinct txids wanted at most, all peers together.
pub const MAX_WANTED: usize = 100_000;
/// Peers whose announcements are tracked at once (and at most
/// [`GROUP_CAP`] of one network group, so one source cannot take them all).
pub const MAX_ANNOUNCING_PEERS: usize = 128;
/// Peers remembered per wanted txid (to ask the next when one fails), besides one
/// fallback.
pub const MAX_ANNOUNCERS_PER_TX: usize = 8;
/// Of those, at most this many from one network group.
pub const MAX_ANNOUNCERS_PER_GROUP: usize = 2;
/// Fetch requests in flight at once, all peers together (one per peer).
pub const MAX_FETCHES: usize = 16;
/// Fetch requests in flight at once from one source (all its ports together).
pub const MAX_FETCHES_PER_SOURCE: usize = 2;
/// Fetch requests in flight at once from one network group.
pub const MAX_FETCHES_PER_GROUP: usize = 4;
/// How long one fetch may take before its txids are asked of another peer.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// `POST /relay/transactions` stops adding transactions once its answer passes this
/// many bytes (well under the peers' 32 MiB answer bound); an asker that gets an answer
/// this large asks the same peer again for what it left out.
pub const MAX_FETCH_RESPONSE: usize = 8 * 1024 * 1024;
/// A full block may take this many times the peer timeout (a compact block one).
const FULL_BLOCK_TIMEOUT_FACTOR: u32 = 3;
/// Blocks being fetched at once.
pub const MAX_BLOCK_FETCHES: usize = 16;
/// Blocks being fetched at once from one peer.
pub const MAX_BLOCK_FETCHES_PER_PEER: usize = 2;
/// Txids remembered as refused for a reason that does not depend on our state.
pub const MAX_REJECTED: usize = 50_000;
/// Mempool txids taken from one peer's listing at most per sync.
pub const MAX_SYNC_TXIDS: usize = MAX_WANTED_PER_SOURCE;
/// Page size of mempool sync (`GET /mempool?limit=`, the endpoint's maximum).
pub const SYNC_PAGE: usize = 5_000;
/// Mempool syncs running at once.
pub const MAX_SYNCS: usize = 4;
/// How long a mempool sync waits when our chain is behind the peer's.
const SYNC_RETRY: Duration = Duration::from_secs(1);
/// How often the relay loop looks for new peers and timed-out fetches.
const TICK: Duration = Duration::from_millis(250);

struct Want {
    /// Who announced it (at most [`MAX_ANNOUNCERS_PER_TX`], at most
    /// [`MAX_ANNOUNCERS_PER_GROUP`] of one network group), first asked first.
    announcers: Vec<String>,
    /// The latest announcer that did not fit in `announcers`: asked when every one of
    /// them failed, so a txid taken from an announcement is never silently dropped.
    fallback: Option<String>,
    in_flight: bool,
}

#[derive(Default)]
struct PeerWants {
    queue: VecDeque<Txid>,
    fetching: bool,
}

/// What the want table bounds shares by: the announcer's source (IPv4 address, IPv6
/// /64; a host name as itself) and its network group.
fn shares_of(peer: &str) -> (String, NetGroup) {
    let source = ip_of(peer).map_or_else(|| peer.to_string(), |ip| source_key(ip).to_string());
    (source, NetGroup::of_address(peer))
}

/// Transactions we lack and who offered them.
#[derive(Default)]
pub struct WantTable {
    txs: HashMap<Txid, Want>,
    peers: HashMap<String, PeerWants>,
}

impl WantTable {
    /// Txids queued from `peer`'s source and from its network group.
    fn queued_shares(&self, source: &str, group: &NetGroup) -> (usize, usize) {
        let (mut by_source, mut by_group) = (0, 0);
        for (p, wants) in &self.peers {
            let (s, g) = shares_of(p);
            if s == source {
                by_source += wants.queue.len();
            }
            if &g == group {
                by_group += wants.queue.len();
            }
        }
        (by_source, by_group)
    }

    /// Notes that `peer` has `txids`; those `have` does not cover become wanted. Returns
    /// how many, from the first, were taken (the rest did not fit) and how many of those
    /// are newly wanted. One source (all its ports) queues at most
    /// [`MAX_WANTED_PER_SOURCE`] txids, one network group [`MAX_WANTED_PER_GROUP`].
    pub fn announce(
        &mut self,
        peer: &str,
        txids: &[Txid],
        have: impl Fn(&Txid) -> bool,
    ) -> (usize, usize) {
        let (source, group) = shares_of(peer);
        if !self.peers.contains_key(peer) {
            // One source cannot take every slot: at most GROUP_CAP per network group.
            let same_group = self
                .peers
                .keys()
                .filter(|p| NetGroup::of_address(p) == group)
                .count();
            if self.peers.len() >= MAX_ANNOUNCING_PEERS || same_group >= GROUP_CAP {
                return (0, 0);
            }
        }
        let (mut by_source, mut by_group) = self.queued_shares(&source, &group);
        let mut taken = 0;
        let mut wanted = 0;
        for txid in txids {
            if have(txid) {
                taken += 1;
                continue;
            }
            let full = by_source >= MAX_WANTED_PER_SOURCE || by_group >= MAX_WANTED_PER_GROUP;
            match self.txs.get_mut(txid) {
                Some(want) => {
                    let listed = want.announcers.iter().any(|a| a == peer);
                    if !listed {
                        let same_group = want
                            .announcers
                            .iter()
                            .filter(|a| NetGroup::of_address(a) == group)
                            .count();
                        if want.announcers.len() >= MAX_ANNOUNCERS_PER_TX
                            || same_group >= MAX_ANNOUNCERS_PER_GROUP
                        {
                            // Not asked unless every listed announcer fails.
                            want.fallback = Some(peer.to_string());
                        } else {
                            if full {
                                break;
                            }
                            want.announcers.push(peer.to_string());
                            self.peers
                                .entry(peer.to_string())
                                .or_default()
                                .queue
                                .push_back(*txid);
                            by_source += 1;
                            by_group += 1;
                        }
                    }
                }
                None => {
                    if full || self.txs.len() >= MAX_WANTED {
                        break;
                    }
                    self.txs.insert(
                        *txid,
                        Want {
                            announcers: vec![peer.to_string()],
                            fallback: None,
                            in_flight: false,
                        },
                    );
                    self.peers
                        .entry(peer.to_string())
                        .or_default()
                        .queue
                        .push_back(*txid);
                    by_source += 1;
                    by_group += 1;
                    wanted += 1;
                }
            }
            taken += 1;
        }
        (taken, wanted)
    }

    /// Batches to fetch now: for each idle peer with wanted txids not in flight, up to
    /// [`MAX_FETCH_TXIDS`] of them, while fewer than [`MAX_FETCHES`] are in flight, at
    /// most [`MAX_FETCHES_PER_SOURCE`] from one source and [`MAX_FETCHES_PER_GROUP`]
    /// from one network group.
    fn next_batches(&mut self, skip: &HashSet<String>) -> Vec<(String, Vec<Txid>)> {
        let mut busy = 0;
        let mut by_source: HashMap<String, usize> = HashMap::new();
        let mut by_group: HashMap<NetGroup, usize> = HashMap::new();
        for (peer, wants) in &self.peers {
            if wants.fetching {
                let (s, g) = shares_of(peer);
                busy += 1;
                *by_source.entry(s).or_default() += 1;
                *by_group.entry(g).or_default() += 1;
            }
        }
        let mut out = Vec::new();
        let txs = &mut self.txs;
        for (peer, wants) in self.peers.iter_mut() {
            if busy >= MAX_FETCHES {
                break;
            }
            if wants.fetching || wants.queue.is_empty() || skip.contains(peer) {
                continue;
            }
            let (source, group) = shares_of(peer);
            if by_source.get(&source).copied().unwrap_or(0) >= MAX_FETCHES_PER_SOURCE
                || by_group.get(&group).copied().unwrap_or(0) >= MAX_FETCHES_PER_GROUP
            {
                continue;
            }
            let mut batch = Vec::new();
            while batch.len() < MAX_FETCH_TXIDS {
                let Some(txid) = wants.queue.pop_front() else {
                    break;
                };
                // Not wanted any more, or asked of another peer now: this peer stays
                // among its announcers, so it is handed back here if that fails.
                if let Some(want) = txs.get_mut(&txid) {
                    if !want.in_flight {
                        want.in_flight = true;
                        batch.push(txid);
                    }
                }
            }
            if !batch.is_empty() {
                wants.fetching = true;
                busy += 1;
                *by_source.entry(source).or_default() += 1;
                *by_group.entry(group).or_default() += 1;
                out.push((peer.clone(), batch));
            }
        }
        self.peers.retain(|_, p| p.fetching || !p.queue.is_empty());
        out
    }

    /// Ends a fetch from `peer`: `delivered` txids are no longer wanted; the others are
    /// handed to the next peer that announced them (or forgotten).
    fn finish(&mut self, peer: &str, asked: &[Txid], delivered: &HashSet<Txid>) {
        self.finish_keeping(peer, asked, delivered, false);
    }

    /// [`WantTable::finish`]; with `keep`, what `peer` left out stays wanted from it
    /// first (its answer was cut at [`MAX_FETCH_RESPONSE`]).
    fn finish_keeping(
        &mut self,
        peer: &str,
        asked: &[Txid],
        delivered: &HashSet<Txid>,
        keep: bool,
    ) {
        // In reverse, so what goes back in front keeps its order.
        for txid in asked.iter().rev() {
            if delivered.contains(txid) {
                self.txs.remove(txid);
                continue;
            }
            let Some(want) = self.txs.get_mut(txid) else {
                continue;
            };
            want.in_flight = false;
            if !keep {
                want.announcers.retain(|a| a != peer);
                if want.fallback.as_deref() == Some(peer) {
                    want.fallback = None;
                }
            }
            if want.announcers.is_empty() {
                // Every listed announcer failed: the fallback is asked last.
                if let Some(f) = want.fallback.take() {
                    want.announcers.push(f);
                }
            }
            // Hand it to the next announcer with room in its queue (a hand-back may
            // pass the source's share by what was in flight: bounded by MAX_FETCHES
            // batches).
            let mut handed = false;
            while let Some(next) = want.announcers.first().cloned() {
                let queue = &mut self.peers.entry(next).or_default().queue;
                if queue.len() < MAX_WANTED_PER_SOURCE {
                    queue.push_front(*txid);
                    handed = true;
                    break;
                }
                want.announcers.remove(0);
            }
            if !handed {
                self.txs.remove(txid);
            }
        }
        if let Some(p) = self.peers.get_mut(peer) {
            p.fetching = false;
        }
        self.peers.retain(|_, p| p.fetching || !p.queue.is_empty());
    }

    /// Drops everything wanted from `peer` (it was discouraged): txids it alone offered
    /// are forgotten, the others stay with their other announcers.
    pub fn forget_peer(&mut self, peer: &str) {
        let Some(wants) = self.peers.remove(peer) else {
            return;
        };
        for txid in wants.queue {
            if let Some(want) = self.txs.get_mut(&txid) {
                want.announcers.retain(|a| a != peer);
                if want.fallback.as_deref() == Some(peer) {
                    want.fallback = None;
                }
                if want.announcers.is_empty() && !want.in_flight {
                    match want.fallback.take() {
                        Some(f) => {
                            want.announcers.push(f.clone());
                            self.peers.entry(f).or_default().queue.push_back(txid);
                        }
                        None => {
                            self.txs.remove(&txid);
                        }
                    }
                }
            }
        }
    }

    /// Wanted txids (tests and the log).
    pub fn len(&self) -> usize {
        self.txs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.txs.is_empty()
    }

    /// Txids wanted from `peer` and not asked yet.
    pub fn queued_for(&self, peer: &str) -> usize {
        self.peers.get(peer).map_or(0, |p| p.queue.len())
    }
}

/// Txids refused for reasons that do not depend on our state, oldest forgotten first.
#[derive(Default)]
struct Rejected {
    set: HashSet<Txid>,
    order: VecDeque<Txid>,
}

impl Rejected {
    fn insert(&mut self, txid: Txid) {
        if self.set.insert(txid) {
            self.order.push_back(txid);
            while self.order.len() > MAX_REJECTED {
                if let Some(old) = self.order.pop_front() {
                    self.set.remove(&old);
                }
            }
        }
    }
}

/// One announced block being fetched.
struct BlockFetch {
    /// Asked now.
    peer: String,
    /// Also announced it (at most [`MAX_ANNOUNCERS_PER_TX`]): asked in turn if `peer`
    /// does not deliver it.
    others: Vec<String>,
}

/// Blocks in flight per peer.
fn fetch_counts(fetching: &HashMap<BlockHash, BlockFetch>) -> HashMap<&str, usize> {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for f in fetching.values() {
        *counts.entry(f.peer.as_str()).or_default() += 1;
    }
    counts
}

/// The node's relay state (receiving side).
pub struct RelayState {
    wanted: Mutex<WantTable>,
    orphans: Mutex<OrphanPool>,
    rejected: Mutex<Rejected>,
    /// Blocks being fetched, each with the peer it is fetched from and the others that
    /// announced it meanwhile.
    blocks_in_flight: Mutex<HashMap<BlockHash, BlockFetch>>,
    /// Peer → the generation of its addition whose mempool we fetched.
    synced: Mutex<HashMap<String, u64>>,
    syncs: Arc<tokio::sync::Semaphore>,
    wake: Notify,
    /// Fetches and mempool syncs: [`relay_loop`] waits for them at shutdown, so none
    /// runs after the mempool is saved.
    tasks: TaskTracker,
    /// Announced blocks rebuilt from a compact block (tests, the log).
    pub compact_rebuilt: AtomicU64,
    /// Announced blocks fetched whole (no compact form, or it could not be rebuilt).
    pub full_fetched: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Default for RelayState {
    fn default() -> Self {
        RelayState::new()
    }
}

impl RelayState {
    pub fn new() -> RelayState {
        RelayState {
            wanted: Mutex::default(),
            orphans: Mutex::default(),
            rejected: Mutex::default(),
            blocks_in_flight: Mutex::default(),
            synced: Mutex::default(),
            syncs: Arc::new(tokio::sync::Semaphore::new(MAX_SYNCS)),
            wake: Notify::new(),
            tasks: TaskTracker::new(),
            compact_rebuilt: AtomicU64::new(0),
            full_fetched: AtomicU64::new(0),
        }
    }

    pub fn wanted(&self) -> MutexGuard<'_, WantTable> {
        lock(&self.wanted)
    }

    pub fn orphans(&self) -> MutexGuard<'_, OrphanPool> {
        lock(&self.orphans)
    }
}

impl RelaySource for Node {
    fn mempool_transaction(&self, txid: &Txid) -> Option<Transaction> {
        self.mempool().get(txid).cloned()
    }

    fn still_in_mempool(&self, txids: &[Txid]) -> Vec<Txid> {
        self.mempool().ancestors_first(txids)
    }

    fn arrival(&self, txid: &Txid) -> Option<u64> {
        self.mempool().arrival(txid)
    }

    fn mempool_arrived_since(&self, seq: u64) -> Vec<(u64, Txid)> {
        self.mempool().arrived_since(seq)
    }
}

impl Node {
    /// Whether a relayed txid needs no fetching: in the mempool, waiting as an orphan, or
    /// refused for good.
    fn has_relayed(&self, txids: &[Txid]) -> HashSet<Txid> {
        let mut have: HashSet<Txid> = {
            let pool = self.mempool();
            txids.iter().filter(|t| pool.contains(t)).copied().collect()
        };
        {
            let orphans = self.relay.orphans();
            have.extend(txids.iter().filter(|t| orphans.contains(t)));
        }
        let rejected = lock(&self.relay.rejected);
        have.extend(txids.iter().filter(|t| rejected.set.contains(t)));
        have
    }

    /// Takes a peer's announcement (`from` already checked against the request's
    /// source). Returns `(taken, wanted)`: how many txids, from the first, were noted,
    /// and how many of those we will fetch. Block hashes we do not know are fetched now.
    pub fn relay_announced(
        self: &Arc<Self>,
        from: &str,
        txids: &[Txid],
        blocks: &[BlockHash],
    ) -> (usize, usize) {
        let have = self.has_relayed(txids);
        let (taken, wanted) = self
            .relay
            .wanted()
            .announce(from, txids, |t| have.contains(t));
        self.peers.note_known(from, &txids[..taken]);
        if wanted > 0 {
            self.relay.wake.notify_one();
        }
        for hash in blocks {
            if self.chain().knows_block(hash) {
                continue;
            }
            {
                let mut fetching = lock(&self.relay.blocks_in_flight);
                let from_peer = fetch_counts(&fetching).get(from).copied().unwrap_or(0);
                if let Some(f) = fetching.get_mut(hash) {
                    // Asked of another peer now: this one is asked if that one fails.
                    if f.peer != from
                        && !f.others.iter().any(|o| o == from)
                        && f.others.len() < MAX_ANNOUNCERS_PER_TX
                    {
                        f.others.push(from.to_string());
                    }
                    continue;
                }
                // A peer past its share waits: sync catches up on what it announced.
                if fetching.len() >= MAX_BLOCK_FETCHES || from_peer >= MAX_BLOCK_FETCHES_PER_PEER {
                    continue;
                }
                fetching.insert(
                    *hash,
                    BlockFetch {
                        peer: from.to_string(),
                        others: Vec::new(),
                    },
                );
            }
            if !spawn_tracked(self, fetch_block(self.clone(), from.to_string(), *hash)) {
                lock(&self.relay.blocks_in_flight).remove(hash);
            }
        }
        (taken, wanted)
    }

    /// Verifies the signatures of a fetched batch on every core and leaves the verdicts
    /// in the signature cache, so the accepts that follow (one at a time, parents first)
    /// find them there. A transaction whose inputs are not known yet (a child of one in
    /// the batch) is skipped here and verified when it is accepted. Blocking.
    ///
    /// The chain and mempool locks are taken here, on the calling thread, and released
    /// before the parallel part: a rayon closure never takes a node lock. (The block
    /// writer holds the chain write lock while it waits on rayon workers; a worker
    /// waiting on that lock would deadlock the node.)
    pub fn prewarm_signatures(&self, txs: &[Transaction]) {
        use rayon::prelude::*;
        let to_verify: Vec<(usize, Txid, _)> = {
            let chain = self.chain();
            let Ok(next) = Self::next_height(&chain) else {
                return;
            };
            let net = chain.network();
            let pool = self.mempool();
            txs.iter()
                .enumerate()
                .filter_map(|(i, tx)| {
                    pool.precheck(
                        tx,
                        &*chain,
                        next,
                        &net.params,
                        &net.genesis_hash,
                        chain.sig_cache(),
                    )
                    .ok()
                    .flatten()
                    .map(|(txid, sighash)| (i, txid, sighash))
                })
                .collect()
        };
        if to_verify.is_empty() {
            return;
        }
        // Pure verification, no lock.
        let verified: Vec<Txid> = to_verify
            .par_iter()
            .filter_map(|(i, txid, sighash)| {
                let tx = txs.get(*i)?;
                verify_signatures_parallel(tx, sighash).ok().map(|()| *txid)
            })
            .collect();
        let chain = self.chain();
        for txid in verified {
            chain.sig_cache().insert(txid);
        }
    }

    /// Validates a relayed transaction from `from` (blocking), then the orphans waiting
    /// for it. Punishes what section 9 punishes; keeps one whose parent is missing.
    pub fn accept_relayed(&self, tx: Transaction, from: &str) {
        self.accept_relayed_all(vec![(tx, from.to_string(), Instant::now())], false);
    }

    /// [`Node::accept_relayed`] for each of `work` (transaction, sender, first arrival).
    /// With `retry`, these are orphans tried again: a refusal is not counted in the
    /// metrics again, and one put back keeps its first arrival (so it still expires).
    fn accept_relayed_all(&self, mut work: Vec<(Transaction, String, Instant)>, retry: bool) {
        // Orphans freed by an accepted parent are retries too.
        let mut first = work.len();
        while let Some((tx, from, arrived)) = work.pop() {
            let is_retry = retry || work.len() >= first;
            first = first.min(work.len());
            let txid = tx.txid();
            let parents: Vec<Txid> = tx.inputs.iter().map(|i| i.prev.txid).collect();
            let size = crate::primitives::Encode::to_bytes(&tx).len();
            let result = if is_retry {
                let r = self.submit_transaction_unmetered(tx.clone());
                if matches!(r, Ok((_, false))) {
                    self.metrics.transactions_accepted.inc();
                }
                r
            } else {
                self.submit_transaction(tx.clone())
            };
            match result {
                Ok((_, known)) => {
                    if !known {
                        self.peers.credit_peer(&from, Delivery::Transaction);
                    }
                    work.extend(self.relay.orphans().take_children(&txid));
                }
                Err(e) => {
                    let code = e.code();
                    if punishes_relayed_tx(code) {
                        lock(&self.relay.rejected).insert(txid);
                        self.peers.discourage_peer(
                            &from,
                            &format!("it relayed an invalid transaction: {e}"),
                        );
                    } else if matches!(
                        code,
                        Code::MissingInput | Code::ImmatureCoinbase | Code::NonFinal
                    ) {
                        // Its parent has not arrived, or a block it waits for (one
                        // being fetched, say): kept and retried when the parent enters
                        // the mempool or the tip changes.
                        let waiting = code != Code::MissingInput || {
                            let pool = self.mempool();
                            parents.iter().any(|p| !pool.contains(p))
                        };
                        if waiting {
                            self.relay.orphans().insert(tx, size, &from, arrived);
                        }
                    } else if code == Code::TxTooLarge {
                        // Depends on the transaction alone.
                        lock(&self.relay.rejected).insert(txid);
                    }
                }
            }
        }
    }
}

/// Fetches wanted transactions and runs mempool sync until shutdown.
pub async fn relay_loop(node: Arc<Node>, stop: CancellationToken) {
    let mut last_sync_check = Instant::now() - Duration::from_secs(60);
    let mut tip = node.chain().tip_hash();
    loop {
        tokio::select! {
            () = node.relay.wake.notified() => {}
            () = tokio::time::sleep(TICK) => {}
            () = stop.cancelled() => {
                // Fetches end soon (their network part is cut short); the daemon saves
                // the mempool only after this returns.
                node.relay.tasks.close();
                node.relay.tasks.wait().await;
                return;
            }
        }
        // A peer's transactions wait while a block it announced is fetched: they may
        // spend the block's outputs, and the block may confirm some of them.
        let busy: HashSet<String> = lock(&node.relay.blocks_in_flight)
            .values()
            .map(|f| f.peer.clone())
            .collect();
        let batches = node.relay.wanted().next_batches(&busy);
        for (peer, batch) in batches {
            if node.peers.is_discouraged(&peer) {
                let mut wanted = node.relay.wanted();
                wanted.finish(&peer, &batch, &HashSet::new());
                wanted.forget_peer(&peer);
                continue;
            }
            spawn_tracked(&node, fetch_transactions(node.clone(), peer, batch));
        }
        if last_sync_check.elapsed() >= TICK {
            last_sync_check = Instant::now();
            start_mempool_syncs(&node);
            let now_tip = node.chain().tip_hash();
            retry_orphans(&node, now_tip != tip).await;
            tip = now_tip;
        }
    }
}

/// Retries orphans whose parent entered the mempool by another path (a wallet's
/// `POST /transactions`, a block's disconnection), all of them when the tip changed,
/// and drops expired ones.
async fn retry_orphans(node: &Arc<Node>, tip_changed: bool) {
    let ready: Vec<(Transaction, String, Instant)> = {
        let pool = node.mempool();
        let mut orphans = node.relay.orphans();
        orphans.expire(Instant::now());
        if tip_changed {
            // A block may have confirmed a parent, matured a coinbase or reached a
            // lock time: every orphan gets another try.
            orphans.take_all()
        } else {
            let parents: Vec<Txid> = orphans
                .parents()
                .filter(|p| pool.contains(p))
                .copied()
                .collect();
            parents
                .iter()
                .flat_map(|p| orphans.take_children(p))
                .collect()
        }
    };
    if ready.is_empty() {
        return;
    }
    let n = node.clone();
    let _ = tokio::task::spawn_blocking(move || n.accept_relayed_all(ready, true)).await;
}

/// The binary body of `POST /relay/transactions`: a `u32` count and 32-byte txids.
pub fn encode_txids(txids: &[Txid]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + 32 * txids.len());
    put_u32(&mut out, txids.len() as u32);
    for t in txids {
        out.extend_from_slice(t.as_bytes());
    }
    out
}

/// Decodes [`encode_txids`]'s form.
pub fn decode_txids(bytes: &[u8]) -> Result<Vec<Txid>, crate::primitives::DecodeError> {
    let mut reader = Reader::new(bytes);
    let count = reader.read_count(32)?;
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        out.push(Txid::from_bytes(reader.read_array::<32>()?));
    }
    reader.finish()?;
    Ok(out)
}

fn fetch_timeout(node: &Node) -> Duration {
    node.config.peer_timeout.min(FETCH_TIMEOUT)
}

/// Spawns relay work under [`RelayState`]'s task tracker; `false` (nothing spawned) once
/// the node is stopping.
fn spawn_tracked<F>(node: &Arc<Node>, work: F) -> bool
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    if node.shutdown.is_cancelled() {
        return false;
    }
    node.relay.tasks.spawn(work);
    true
}

/// Runs the network part of relay work until it ends or the node stops (`None`). Never
/// around a blocking part: that one always runs to its end.
async fn or_stop<T>(node: &Node, work: impl std::future::Future<Output = T>) -> Option<T> {
    tokio::select! {
        out = work => Some(out),
        () = node.shutdown.cancelled() => None,
    }
}

/// Fetches `asked` from `peer`, validates what came, and hands what did not come to the
/// next announcer.
async fn fetch_transactions(node: Arc<Node>, peer: String, asked: Vec<Txid>) {
    let url = format!("http://{peer}/relay/transactions");
    // An answer stops growing past MAX_FETCH_RESPONSE (plus the transaction that
    // passed it): read with that bound, not the 32 MiB one.
    let client = node.peers.client().limited(MAX_FETCH_RESPONSE + (1 << 20));
    let request =
        client.post_bytes_for_bytes(&url, encode_txids(&asked).into(), fetch_timeout(&node));
    let Some(answer) = or_stop(&node, request).await else {
        node.relay.wanted().finish(&peer, &asked, &HashSet::new());
        return;
    };
    let mut delivered = HashSet::new();
    let mut cut = false;
    match answer {
        Ok(bytes) => match check_fetched(&bytes, &asked) {
            Ok(txs) => {
                cut = bytes.len() >= MAX_FETCH_RESPONSE;
                delivered.extend(txs.iter().map(Transaction::txid));
                let n = node.clone();
                let from = peer.clone();
                let done = tokio::task::spawn_blocking(move || {
                    if txs.len() > 1 {
                        n.prewarm_signatures(&txs);
                    }
                    for tx in txs {
                        n.accept_relayed(tx, &from);
                    }
                })
                .await;
                if let Err(e) = done {
                    tracing::warn!(error = %e, "relayed transactions task failed");
                }
            }
            Err(why) => node.peers.discourage_peer(&peer, &why),
        },
        Err(e) => {
            tracing::debug!(peer = %peer, error = %e, asked = asked.len(), "fetch of announced transactions failed; asking other peers");
        }
    }
    node.relay
        .wanted()
        .finish_keeping(&peer, &asked, &delivered, cut);
    node.relay.wake.notify_one();
}

/// Decodes a `POST /relay/transactions` answer and checks it holds only what was asked,
/// each once. `Err` says why the peer is punished.
pub fn check_fetched(bytes: &[u8], asked: &[Txid]) -> Result<Vec<Transaction>, String> {
    let mut reader = Reader::new(bytes);
    let txs = decode_list::<Transaction>(&mut reader)
        .and_then(|txs| reader.finish().map(|()| txs))
        .map_err(|e| format!("its transactions answer does not decode: {e}"))?;
    let asked: HashSet<&Txid> = asked.iter().collect();
    let mut seen = HashSet::new();
    for tx in &txs {
        let txid = tx.txid();
        if !asked.contains(&txid) || !seen.insert(txid) {
            return Err(format!(
                "its transactions answer holds {txid}, which was not asked for (or twice)"
            ));
        }
    }
    Ok(txs)
}

/// Fetches an announced block: compact first, the full block when the compact one
/// cannot be rebuilt or the peer does not offer it.
/// When the peer does not deliver it, the next peer that announced it meanwhile is asked.
async fn fetch_block(node: Arc<Node>, peer: String, hash: BlockHash) {
    let mut peer = peer;
    loop {
        let delivered = match obtain_block(&node, &peer, hash).await {
            Ok(Some(block)) => {
                if let Err(why) = submit_announced(&node, &peer, hash, block).await {
                    node.peers.discourage_peer(&peer, &why);
                }
                true
            }
            Ok(None) => false,
            Err(why) => {
                node.peers.discourage_peer(&peer, &why);
                false
            }
        };
        let next = {
            let mut fetching = lock(&node.relay.blocks_in_flight);
            let next = if delivered || node.shutdown.is_cancelled() {
                None
            } else {
                let counts = fetch_counts(&fetching);
                fetching.get(&hash).and_then(|f| {
                    f.others
                        .iter()
                        .find(|o| {
                            counts.get(o.as_str()).copied().unwrap_or(0)
                                < MAX_BLOCK_FETCHES_PER_PEER
                                && !node.peers.is_discouraged(o)
                        })
                        .cloned()
                })
            };
            match &next {
                Some(p) => {
                    if let Some(f) = fetching.get_mut(&hash) {
                        f.others.retain(|o| o != p);
                        f.peer = p.clone();
                    }
                }
                None => {
                    fetching.remove(&hash);
                }
            }
            next
        };
        // Transactions from this peer waited for the block (they may spend its outputs).
        node.relay.wake.notify_one();
        match next {
            Some(p) => {
                tracing::debug!(block = %hash, from = %peer, next = %p, "announced block not delivered; asking another announcer");
                peer = p;
            }
            None => return,
        }
    }
}

/// The network part of [`fetch_block`]: the block `hash` from `peer`, rebuilt from its
/// compact form or whole; `None` when the peer did not deliver it. `Err` says why the
/// peer is punished.
async fn obtain_block(
    node: &Arc<Node>,
    peer: &str,
    hash: BlockHash,
) -> Result<Option<Block>, String> {
    let timeout = node.config.peer_timeout;
    let (pow_limit, max_block_size) = {
        let chain = node.chain();
        let params = &chain.network().params;
        (params.pow_limit, params.max_block_size)
    };
    let url = format!("http://{peer}/relay/compact/{hash}");
    // Answers are read with bounds derived from max_block_size, not the 32 MiB client's.
    let compact_client = node
        .peers
        .client()
        .limited(max_compact_size(max_block_size));
    let Some(answer) = or_stop(node, compact_client.get_bytes(&url, timeout)).await else {
        return Ok(None);
    };
    let rebuilt = match answer {
        Ok(bytes) => {
            let compact = CompactBlock::from_bytes(&bytes)
                .map_err(|e| format!("its compact block {hash} does not decode: {e}"))?;
            // Proof of work, target and size first: a lie costs us nothing.
            compact.check(&hash, &pow_limit, max_block_size)?;
            let n = node.clone();
            tokio::task::spawn_blocking(move || {
                // The mempool lock only to copy the txids and, after matching, to
                // look the matched transactions up one by one.
                let txids = n.mempool().txids_by_fee_rate();
                compact.rebuild(txids.iter(), |t| n.mempool().get(t).cloned())
            })
            .await
            .map_err(|e| tracing::warn!(error = %e, "rebuild task failed"))
            .ok()
            .and_then(|r| {
                r.map_err(|e| tracing::debug!(block = %hash, reason = %e, "compact block not rebuilt; fetching the full block"))
                    .ok()
            })
        }
        Err(e) => {
            tracing::debug!(peer = %peer, error = %e, "no compact block; fetching the full block");
            None
        }
    };
    let block = match rebuilt {
        Some(block) => {
            node.relay.compact_rebuilt.fetch_add(1, Ordering::Relaxed);
            block
        }
        None => {
            node.relay.full_fetched.fetch_add(1, Ordering::Relaxed);
            let url = format!("http://{peer}/blocks?hashes={hash}");
            let limit = usize::try_from(max_block_size)
                .unwrap_or(usize::MAX)
                .saturating_add(64);
            let client = node.peers.client().limited(limit);
            let request = client.get_bytes(&url, timeout * FULL_BLOCK_TIMEOUT_FACTOR);
            let Some(answer) = or_stop(node, request).await else {
                return Ok(None);
            };
            let bytes = match answer {
                Ok(bytes) => bytes,
                Err(e) => {
                    tracing::debug!(peer = %peer, error = %e, "announced block not fetched; sync will catch up");
                    return Ok(None);
                }
            };
            let mut reader = Reader::new(&bytes);
            let mut blocks = decode_list::<Block>(&mut reader)
                .and_then(|b| reader.finish().map(|()| b))
                .map_err(|e| format!("its blocks answer does not decode: {e}"))?;
            if blocks.len() > 1 {
                return Err(format!("it sent {} blocks for one asked", blocks.len()));
            }
            match blocks.pop() {
                Some(block) if block.hash() == hash => block,
                // A 2xx answer holding another block than the one asked for.
                Some(other) => {
                    return Err(format!(
                        "it answered block {} when asked for {hash}",
                        other.hash()
                    ))
                }
                None => return Ok(None),
            }
        }
    };
    Ok(Some(block))
}

/// Submits an announced block `peer` delivered. `Err` says why the peer is punished.
async fn submit_announced(
    node: &Arc<Node>,
    peer: &str,
    hash: BlockHash,
    block: Block,
) -> Result<(), String> {
    let n = node.clone();
    let from = peer.to_string();
    let result = tokio::task::spawn_blocking(move || {
        let parent = block.header.prev_hash;
        match n.submit_block(block, false) {
            Ok(status) => {
                // Credit only a block that became (part of) the active chain: a side
                // block, stored or not, is no useful delivery.
                if matches!(status, AcceptStatus::Connected | AcceptStatus::Reorganized) {
                    n.peers.credit_peer(&from, Delivery::Block);
                }
                Ok(())
            }
            Err(NodeError::Chain(ChainError::Block(rule))) => {
                let parent_valid = {
                    let chain = n.chain();
                    chain.knows_block(&parent) && !chain.is_invalid(&parent)
                };
                if parent_valid && punishes_block(&rule) {
                    Err(format!("it announced an invalid block {hash}: {rule}"))
                } else {
                    Ok(())
                }
            }
            Err(e) => {
                tracing::debug!(block = %hash, error = %e, "announced block not accepted");
                Ok(())
            }
        }
    })
    .await;
    match result {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "block task failed");
            Ok(())
        }
    }
}

/// Starts a mempool sync with each peer added since its last one (bounded by
/// [`MAX_SYNCS`] at once; the others wait for the next tick).
fn start_mempool_syncs(node: &Arc<Node>) {
    let peers = node.peers.generations();
    let mut synced = lock(&node.relay.synced);
    synced.retain(|a, _| peers.iter().any(|(p, _)| p == a));
    for (peer, generation) in peers {
        if synced.get(&peer) == Some(&generation) {
            continue;
        }
        let Ok(permit) = node.relay.syncs.clone().try_acquire_owned() else {
            return;
        };
        synced.insert(peer.clone(), generation);
        let n = node.clone();
        spawn_tracked(node, async move {
            let Some(outcome) = or_stop(&n, mempool_sync(&n, &peer)).await else {
                return;
            };
            drop(permit);
            match outcome {
                Ok(wanted) if wanted > 0 => {
                    tracing::info!(peer = %peer, wanted, "fetching the transactions of a peer's mempool that we lack");
                }
                Ok(_) => {}
                Err(SyncFailure::Punish(why)) => n.peers.discourage_peer(&peer, &why),
                Err(SyncFailure::Later) => {
                    // Our chain is behind the peer's: its transactions would not
                    // validate yet. Try again a little later.
                    tokio::time::sleep(SYNC_RETRY).await;
                    lock(&n.relay.synced).remove(&peer);
                }
                Err(SyncFailure::Skip(why)) => {
                    tracing::debug!(peer = %peer, reason = %why, "mempool sync skipped");
                }
            }
        });
    }
}

enum SyncFailure {
    Punish(String),
    Skip(String),
    Later,
}

/// Lists `peer`'s mempool and wants the txids we lack from it. Returns how many.
async fn mempool_sync(node: &Arc<Node>, peer: &str) -> Result<usize, SyncFailure> {
    let timeout = node.config.peer_timeout;
    let client = node.peers.small_client();
    let info: Info = client
        .get_json(&format!("http://{peer}/info"), timeout)
        .await
        .map_err(|e| SyncFailure::Skip(e.to_string()))?;
    if !(info.offers(FEATURE_MEMPOOL_PAGES) && info.offers(FEATURE_RELAY_TRANSACTIONS)) {
        return Err(SyncFailure::Skip(
            "the peer does not offer mempool sync".into(),
        ));
    }
    // Its height is a claim; a false one only delays its mempool sync (sync sets a
    // peer that does not deliver its claimed chain aside).
    if info.height > node.chain().height().get() {
        return Err(SyncFailure::Later);
    }
    let mut after: Option<String> = None;
    let mut listed = 0usize;
    let mut wanted = 0usize;
    while listed < MAX_SYNC_TXIDS {
        let mut url = format!("http://{peer}/mempool?limit={SYNC_PAGE}");
        if let Some(a) = &after {
            url.push_str(&format!("&after={a}"));
        }
        let page: MempoolView = client.get_json(&url, timeout).await.map_err(|e| match e {
            // A 2xx answer to our own request that does not decode (section 9). (Too
            // large an answer may be a non-2xx one: not punished.)
            ClientError::BadJson { .. } => SyncFailure::Punish(format!("its mempool page: {e}")),
            e => SyncFailure::Skip(e.to_string()),
        })?;
        if page.txids.len() > SYNC_PAGE {
            return Err(SyncFailure::Punish(format!(
                "its mempool page holds {} txids, more than the {SYNC_PAGE} asked for",
                page.txids.len()
            )));
        }
        let txids: Vec<Txid> = page
            .txids
            .iter()
            .map(|t| Txid::from_hex(t))
            .collect::<Result<_, _>>()
            .map_err(|e| SyncFailure::Punish(format!("its mempool page has a bad txid: {e}")))?;
        listed += txids.len();
        let have = node.has_relayed(&txids);
        let (taken, new) = node
            .relay
            .wanted()
            .announce(peer, &txids, |t| have.contains(t));
        wanted += new;
        if new > 0 {
            node.relay.wake.notify_one();
        }
        if taken < txids.len() || txids.len() < SYNC_PAGE {
            break;
        }
        after = txids.last().map(Txid::to_hex);
    }
    Ok(wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txid(n: u32) -> Txid {
        let mut b = [0u8; 32];
        b[..4].copy_from_slice(&n.to_le_bytes());
        Txid::from_bytes(b)
    }

    #[test]
    fn the_want_table_is_bounded_per_peer_and_in_total() {
        let mut table = WantTable::default();
        let many: Vec<Txid> = (0..MAX_WANTED_PER_SOURCE as u32 + 10).map(txid).collect();
        let (taken, wanted) = table.announce("p1", &many, |_| false);
        assert_eq!(
            (taken, wanted),
            (MAX_WANTED_PER_SOURCE, MAX_WANTED_PER_SOURCE)
        );
        assert_eq!(table.queued_for("p1"), MAX_WANTED_PER_SOURCE);
        // Others fill the total.
        let mut n = 1_000_000u32;
        let mut peer = 2;
        while table.len() < MAX_WANTED {
            let batch: Vec<Txid> = (n..n + MAX_WANTED_PER_SOURCE as u32).map(txid).collect();
            n += MAX_WANTED_PER_SOURCE as u32;
            table.announce(&format!("10.{peer}.0.1:8000"), &batch, |_| false);
            peer += 1;
        }
        assert_eq!(table.len(), MAX_WANTED);
        let (taken, _) = table.announce("late", &[txid(u32::MAX)], |_| false);
        assert_eq!(taken, 0, "the total bound holds");
        // Announcing peers are bounded too, in all and per network group.
        let mut table = WantTable::default();
        for p in 0..MAX_ANNOUNCING_PEERS as u32 {
            let peer = format!("10.{p}.0.1:8000");
            assert_eq!(table.announce(&peer, &[txid(p)], |_| false).0, 1);
        }
        assert_eq!(
            table
                .announce("10.200.0.1:8000", &[txid(7_777)], |_| false)
                .0,
            0
        );
        let mut table = WantTable::default();
        for port in 0..GROUP_CAP as u32 {
            let peer = format!("10.1.0.1:{}", 8000 + port);
            assert_eq!(table.announce(&peer, &[txid(port)], |_| false).0, 1);
        }
        assert_eq!(
            table.announce("10.1.9.9:8000", &[txid(7_777)], |_| false).0,
            0
        );
        assert_eq!(
            table.announce("10.2.0.1:8000", &[txid(7_777)], |_| false).0,
            1
        );
    }

    /// A peer that never delivers hands its txids to the next announcer.
    #[test]
    fn what_one_peer_does_not_deliver_is_asked_of_the_next() {
        let mut table = WantTable::default();
        let txids: Vec<Txid> = (0..10).map(txid).collect();
        table.announce("liar", &txids, |_| false);
        table.announce("honest", &txids, |_| false);
        let batches = table.next_batches(&HashSet::new());
        // Each txid is asked of one peer at a time.
        let asked: usize = batches.iter().map(|(_, b)| b.len()).sum();
        assert_eq!(asked, 10);
        let (first, batch) = batches[0].clone();
        assert!(
            table.next_batches(&HashSet::new()).is_empty(),
            "all in flight"
        );
        table.finish(&first, &batch, &HashSet::new());
        let again = table.next_batches(&HashSet::new());
        assert_eq!(again.len(), 1);
        assert_ne!(again[0].0, first);
        assert_eq!(again[0].1, batch);
        let delivered: HashSet<Txid> = batch.iter().copied().collect();
        table.finish(&again[0].0, &again[0].1, &delivered);
        assert!(table.is_empty());
        assert!(table.next_batches(&HashSet::new()).is_empty());
    }

    /// One source (any number of ports) and one network group (any number of
    /// sources) take a bounded share of the wanted txids and of the fetch slots.
    #[test]
    fn one_source_or_group_takes_only_its_share() {
        let mut table = WantTable::default();
        let mut n = 0u32;
        let mut batch = |count: usize| -> Vec<Txid> {
            let out = (n..n + count as u32).map(txid).collect();
            n += count as u32;
            out
        };
        // One IP, GROUP_CAP ports, each announcing a peer's worth.
        let mut taken = 0;
        for port in 0..GROUP_CAP {
            let peer = format!("10.1.0.1:{}", 8000 + port);
            taken += table
                .announce(&peer, &batch(MAX_WANTED_PER_SOURCE), |_| false)
                .0;
        }
        assert_eq!(taken, MAX_WANTED_PER_SOURCE, "one source, all its ports");
        // Other sources of that /16 fill the group's share, no more.
        for host in 2..2 + GROUP_CAP as u32 {
            let peer = format!("10.1.0.{host}:8000");
            taken += table
                .announce(&peer, &batch(MAX_WANTED_PER_SOURCE), |_| false)
                .0;
        }
        assert_eq!(taken, MAX_WANTED_PER_GROUP, "one network group");
        assert_eq!(table.len(), MAX_WANTED_PER_GROUP);
        // Another group is not crowded out.
        let other = batch(10);
        assert_eq!(table.announce("10.2.0.1:8000", &other, |_| false).0, 10);
        // Fetch slots: at most MAX_FETCHES_PER_SOURCE of one source, and
        // MAX_FETCHES_PER_GROUP of one group.
        let batches = table.next_batches(&HashSet::new());
        let from_source = batches
            .iter()
            .filter(|(p, _)| p.starts_with("10.1.0.1:"))
            .count();
        let from_group = batches
            .iter()
            .filter(|(p, _)| p.starts_with("10.1."))
            .count();
        assert!(from_source <= MAX_FETCHES_PER_SOURCE, "{from_source}");
        assert!(from_group <= MAX_FETCHES_PER_GROUP, "{from_group}");
        assert!(batches.iter().any(|(p, _)| p == "10.2.0.1:8000"));
    }

    /// A txid whose announcer slots are full keeps the latest other announcer as a
    /// fallback, asked when every listed one failed: nothing taken is dropped.
    #[test]
    fn a_txid_with_full_announcer_slots_is_not_lost() {
        let mut table = WantTable::default();
        let t = [txid(1)];
        let peers: Vec<String> = (0..MAX_ANNOUNCERS_PER_TX as u32 + 1)
            .map(|i| format!("10.{}.0.1:8000", 10 + i))
            .collect();
        for p in &peers {
            assert_eq!(table.announce(p, &t, |_| false).0, 1);
        }
        // Each listed announcer in turn fails.
        for _ in 0..MAX_ANNOUNCERS_PER_TX {
            let batches = table.next_batches(&HashSet::new());
            assert_eq!(batches.len(), 1, "one at a time");
            let (peer, batch) = &batches[0];
            assert_ne!(peer, &peers[MAX_ANNOUNCERS_PER_TX], "the fallback is last");
            table.finish(peer, batch, &HashSet::new());
        }
        let last = table.next_batches(&HashSet::new());
        assert_eq!(last.len(), 1);
        assert_eq!(last[0].0, peers[MAX_ANNOUNCERS_PER_TX]);
        table.finish(&last[0].0, &last[0].1, &HashSet::new());
        assert!(table.is_empty());
        // One network group holds at most MAX_ANNOUNCERS_PER_GROUP of the slots.
        let mut table = WantTable::default();
        for host in 1..=4 {
            table.announce(&format!("10.9.0.{host}:8000"), &t, |_| false);
        }
        assert_eq!(
            table.txs.get(&t[0]).map(|w| w.announcers.len()),
            Some(MAX_ANNOUNCERS_PER_GROUP)
        );
    }

    #[test]
    fn an_answer_with_more_or_other_than_asked_is_refused() {
        let tx = crate::net::relay_compact::tests::payment(1);
        let other = crate::net::relay_compact::tests::payment(2);
        let mut bytes = Vec::new();
        crate::primitives::encoding::encode_list(&[tx.clone(), other.clone()], &mut bytes);
        assert!(check_fetched(&bytes, &[tx.txid()]).is_err());
        assert!(check_fetched(&bytes, &[tx.txid(), other.txid()]).is_ok());
        let mut twice = Vec::new();
        crate::primitives::encoding::encode_list(&[tx.clone(), tx.clone()], &mut twice);
        assert!(check_fetched(&twice, &[tx.txid()]).is_err());
        assert!(check_fetched(&bytes[..bytes.len() - 1], &[tx.txid(), other.txid()]).is_err());
        assert_eq!(
            decode_txids(&encode_txids(&[tx.txid()])).ok(),
            Some(vec![tx.txid()])
        );
    }
}
