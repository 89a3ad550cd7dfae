//! Relay to one peer (PROTOCOL.md section 8, docs/relay.md): what we announce to it.
//!
//! Each peer has an [`Outbox`] of txids and blocks to tell it about and a bounded set of
//! txids it is known to have ([`KnownSet`]: what we announced to it, what it announced to
//! us). Its task wakes when something is queued, waits a short random delay (so a burst
//! goes out as one announcement and timing does not reveal the origin as sharply), then
//! sends `POST /relay/announce` with up to [`MAX_ANNOUNCE_TXIDS`] txids, parents first,
//! and the new tips' hashes. The peer fetches what it lacks (`POST /relay/transactions`,
//! `GET /relay/compact/{hash}`) from us.
//!
//! Nothing is dropped silently: the outbox holds txids only (the transactions stay in
//! the mempool), at most [`MAX_OUTBOX_TXIDS`]; past that it remembers only that it
//! overflowed and, once drained, re-reads the mempool and queues every txid the peer is
//! not known to have: the backlog is bounded by the mempool itself. A txid that left the
//! mempool meanwhile (mined, evicted) is not announced. A batch that failed to go out is
//! put back; what the peer's tables could not take (`taken` in its answer) is announced
//! again later.
//!
//! A peer that does not offer `/relay/announce` (404, an older node, or one that refuses
//! our `from`) is fallen back from, never punished: its transactions and blocks are
//! pushed whole (`POST /transactions`, `POST /blocks`) in the same order.

use crate::http::client::ClientError;
use crate::http::HttpClient;
use crate::primitives::{Block, Encode, Transaction, Txid};
use crate::wire::{RelayAnnounce, RelayAnnounced, MAX_ANNOUNCE_BLOCKS, MAX_ANNOUNCE_TXIDS};
use http::StatusCode;
use rand::Rng;
use std::collections::hash_map::RandomState;
use std::collections::{HashSet, VecDeque};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Txids one peer's outbox holds at most; past it the outbox only notes that it
/// overflowed and is refilled from the mempool once drained.
pub const MAX_OUTBOX_TXIDS: usize = 20_000;
/// Blocks one peer's outbox holds at most (the oldest go first: the peer catches up
/// on blocks by sync).
pub const MAX_OUTBOX_BLOCKS: usize = 32;
/// Txids remembered per peer as known to it (8 bytes each, salted per peer).
pub const MAX_KNOWN_TXIDS: usize = 50_000;
/// The announcement timer: a random delay in this range after the first queued item.
pub const ANNOUNCE_DELAY_MS: (u64, u64) = (2, 10);
/// How long a peer that refused announcements is pushed whole items before it is offered
/// announcements again (it may have been upgraded, or refused a transient `from`).
pub const LEGACY_RETRY: Duration = Duration::from_secs(600);
/// Consecutive failed deliveries after which a peer is dropped.
pub const MAX_FAILURES: u32 = 5;
const BACKOFF_START: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// What the relay tasks read from the node's mempool.
pub trait RelaySource: Send + Sync + 'static {
    /// The mempool transaction `txid`, if it is still there.
    fn mempool_transaction(&self, txid: &Txid) -> Option<Transaction>;
    /// The members of `txids` still in the mempool, parents first.
    fn still_in_mempool(&self, txids: &[Txid]) -> Vec<Txid>;
    /// The arrival number of a mempool transaction (increasing with each admission).
    fn arrival(&self, txid: &Txid) -> Option<u64>;
    /// The mempool txids that arrived at `seq` or later, in arrival order (parents
    /// first), with their arrival numbers.
    fn mempool_arrived_since(&self, seq: u64) -> Vec<(u64, Txid)>;
}

/// What every relay task shares: our address for `from`, and the mempool.
pub struct RelayContext {
    own_address: OnceLock<String>,
    source: OnceLock<Weak<dyn RelaySource>>,
    outbox_cap: AtomicUsize,
}

impl Default for RelayContext {
    fn default() -> Self {
        RelayContext {
            own_address: OnceLock::new(),
            source: OnceLock::new(),
            outbox_cap: AtomicUsize::new(MAX_OUTBOX_TXIDS),
        }
    }
}

impl RelayContext {
    /// Sets our public address and the mempool the tasks read (once; later calls are
    /// ignored).
    /// Announcements need an `ip:port` the receivers can check against the request's
    /// source: without one (none, a host name, `0.0.0.0`), whole items are pushed.
    pub fn set(&self, own_address: Option<String>, source: Weak<dyn RelaySource>) {
        match own_address.filter(|a| !a.is_empty()) {
            Some(a) if announceable(&a) => {
                let _ = self.own_address.set(a);
            }
            Some(a) => {
                tracing::info!(address = %a, "public address is not a specific ip:port; relaying by pushing whole transactions and blocks");
            }
            None => {}
        }
        let _ = self.source.set(source);
    }

    /// Bounds each peer's outbox (peers added later) to `cap` txids.
    pub fn set_outbox_cap(&self, cap: usize) {
        self.outbox_cap.store(cap.max(1), Ordering::Relaxed);
    }

    /// The outbox bound for a new peer.
    pub fn outbox_cap(&self) -> usize {
        self.outbox_cap.load(Ordering::Relaxed)
    }

    fn source(&self) -> Option<Arc<dyn RelaySource>> {
        self.source.get().and_then(Weak::upgrade)
    }

    fn own_address(&self) -> Option<&str> {
        self.own_address.get().map(String::as_str)
    }

    /// The arrival number of mempool transaction `txid`.
    pub fn arrival(&self, txid: &Txid) -> Option<u64> {
        self.source().and_then(|s| s.arrival(txid))
    }
}

/// Whether `address` can be announced as `from`: an `ip:port` with a specific IP and
/// port (a receiver refuses a host name or an unspecified address with 400).
pub fn announceable(address: &str) -> bool {
    address
        .parse::<std::net::SocketAddr>()
        .is_ok_and(|a| !a.ip().is_unspecified() && a.port() != 0)
}

/// Txids a peer is known to have, as salted 64-bit hashes, the oldest forgotten first.
pub struct KnownSet {
    salt: RandomState,
    set: HashSet<u64>,
    order: VecDeque<u64>,
    cap: usize,
}

impl KnownSet {
    pub fn new(cap: usize) -> KnownSet {
        KnownSet {
            salt: RandomState::new(),
            set: HashSet::new(),
            order: VecDeque::new(),
            cap: cap.max(1),
        }
    }

    fn key(&self, txid: &Txid) -> u64 {
        self.salt.hash_one(txid)
    }

    pub fn contains(&self, txid: &Txid) -> bool {
        self.set.contains(&self.key(txid))
    }

    pub fn insert(&mut self, txid: &Txid) {
        let key = self.key(txid);
        if self.set.insert(key) {
            self.order.push_back(key);
            while self.order.len() > self.cap {
                if let Some(old) = self.order.pop_front() {
                    self.set.remove(&old);
                }
            }
        }
    }

    pub fn len(&self) -> usize {
        self.set.len()
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }
}

/// What waits to be announced to one peer.
pub struct Outbox {
    /// Txids held at most ([`MAX_OUTBOX_TXIDS`] unless configured).
    cap: usize,
    txids: VecDeque<Txid>,
    queued: HashSet<Txid>,
    /// Some txids did not fit: once drained, refill from the mempool with what arrived
    /// at this arrival number or later (each refill moves it forward, so it ends).
    overflow_since: Option<u64>,
    blocks: VecDeque<Arc<Block>>,
}

impl Outbox {
    pub fn new(cap: usize) -> Outbox {
        Outbox {
            cap: cap.max(1),
            txids: VecDeque::new(),
            queued: HashSet::new(),
            overflow_since: None,
            blocks: VecDeque::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.txids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.txids.is_empty() && self.blocks.is_empty() && self.overflow_since.is_none()
    }

    /// Queues `txid`; `false` when it did not fit (the outbox is full).
    fn push_txid(&mut self, txid: Txid) -> bool {
        if self.queued.contains(&txid) {
            return true;
        }
        if self.txids.len() >= self.cap {
            return false;
        }
        self.queued.insert(txid);
        self.txids.push_back(txid);
        true
    }

    /// Notes that what arrived at `seq` or later may not all be queued.
    fn overflowed_at(&mut self, seq: u64) {
        self.overflow_since = Some(self.overflow_since.map_or(seq, |s| s.min(seq)));
    }

    /// Puts a batch that did not go out back in front, in its order. It was taken from
    /// this outbox, so the outbox holds at most its cap plus one batch.
    fn put_back(&mut self, txids: Vec<Txid>, blocks: Vec<Arc<Block>>) {
        for txid in txids.into_iter().rev() {
            if self.queued.insert(txid) {
                self.txids.push_front(txid);
            }
        }
        for block in blocks.into_iter().rev() {
            if self.blocks.len() < MAX_OUTBOX_BLOCKS {
                self.blocks.push_front(block);
            }
        }
    }
}

/// One peer's relay state, shared between the peer table and the peer's task.
pub struct PeerRelay {
    outbox: Mutex<Outbox>,
    known: Mutex<KnownSet>,
    wake: Notify,
    /// The peer does not take announcements: push whole items instead.
    legacy: AtomicBool,
}

impl Default for PeerRelay {
    fn default() -> Self {
        PeerRelay::new(MAX_OUTBOX_TXIDS)
    }
}

impl PeerRelay {
    /// A peer's relay state whose outbox holds at most `outbox_cap` txids.
    pub fn new(outbox_cap: usize) -> PeerRelay {
        PeerRelay {
            outbox: Mutex::new(Outbox::new(outbox_cap)),
            known: Mutex::new(KnownSet::new(MAX_KNOWN_TXIDS)),
            wake: Notify::new(),
            legacy: AtomicBool::new(false),
        }
    }
}

impl PeerRelay {
    fn outbox(&self) -> std::sync::MutexGuard<'_, Outbox> {
        self.outbox.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn known(&self) -> std::sync::MutexGuard<'_, KnownSet> {
        self.known.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `txid` unless the peer is known to have it. `false` when the outbox is
    /// full: the caller then tells [`PeerRelay::overflowed_at`] when `txid` arrived in
    /// the mempool, so a refill finds it.
    pub fn queue_txid(&self, txid: Txid) -> bool {
        if self.known().contains(&txid) {
            return true;
        }
        let fitted = self.outbox().push_txid(txid);
        if fitted {
            self.wake.notify_one();
        }
        fitted
    }

    /// A txid that arrived in the mempool as `seq` did not fit in the outbox.
    pub fn overflowed_at(&self, seq: u64) {
        self.outbox().overflowed_at(seq);
        self.wake.notify_one();
    }

    pub fn queue_block(&self, block: Arc<Block>) {
        {
            let mut outbox = self.outbox();
            if outbox.blocks.len() >= MAX_OUTBOX_BLOCKS {
                outbox.blocks.pop_front();
                tracing::debug!("relay outbox full of blocks; the peer catches up by sync");
            }
            outbox.blocks.push_back(block);
        }
        self.wake.notify_one();
    }

    /// Records that the peer has these transactions (it announced them, or sent them).
    pub fn note_known(&self, txids: &[Txid]) {
        let mut known = self.known();
        for t in txids {
            known.insert(t);
        }
    }

    pub fn is_known(&self, txid: &Txid) -> bool {
        self.known().contains(txid)
    }

    /// Whether the peer is relayed to by pushing whole items.
    pub fn is_legacy(&self) -> bool {
        self.legacy.load(Ordering::Relaxed)
    }

    /// Txids waiting in the outbox (for tests and the log).
    pub fn pending(&self) -> usize {
        self.outbox().len()
    }

    /// The next batch: up to `MAX_ANNOUNCE_TXIDS` txids still in the mempool, parents
    /// first, and up to `MAX_ANNOUNCE_BLOCKS` blocks. Refills an overflowed outbox from
    /// the mempool once it is drained.
    fn take_batch(&self, source: &dyn RelaySource) -> (Vec<Txid>, Vec<Arc<Block>>) {
        let refill = {
            let outbox = self.outbox();
            outbox.overflow_since.filter(|_| outbox.txids.is_empty())
        };
        if let Some(since) = refill {
            // Only what arrived since the overflow, in arrival order: each refill
            // queues up to the cap and moves the mark past it, so refills end even
            // when the pool is larger than the known set and the outbox together.
            let arrived = source.mempool_arrived_since(since);
            let known = self.known();
            let mut outbox = self.outbox();
            outbox.overflow_since = None;
            for (seq, txid) in arrived {
                if known.contains(&txid) {
                    continue;
                }
                if !outbox.push_txid(txid) {
                    outbox.overflowed_at(seq);
                    break;
                }
            }
        }
        let (txids, blocks) = {
            let mut outbox = self.outbox();
            let n = outbox.txids.len().min(MAX_ANNOUNCE_TXIDS);
            let txids: Vec<Txid> = outbox.txids.drain(..n).collect();
            for t in &txids {
                outbox.queued.remove(t);
            }
            let m = outbox.blocks.len().min(MAX_ANNOUNCE_BLOCKS);
            let blocks: Vec<Arc<Block>> = outbox.blocks.drain(..m).collect();
            (txids, blocks)
        };
        (source.still_in_mempool(&txids), blocks)
    }
}

/// How one batch went.
enum Sent {
    /// Delivered; `rest` (txids the peer could not take now) goes back in the outbox.
    Done { rest: Vec<Txid> },
    /// The peer does not take announcements: push whole items from now on.
    Legacy,
    /// The peer is alive but refused or could not take the batch now (429, 5xx, 408):
    /// try again after a pause.
    Later,
    /// The peer refuses us (403: it discouraged us); the batch is not for it.
    Refused,
    /// The peer did not answer.
    Failed(ClientError),
}

/// Delivers one peer's outbox until shutdown or [`MAX_FAILURES`] failures in a row.
#[allow(clippy::too_many_arguments)]
pub async fn relay_task(
    address: String,
    relay: Arc<PeerRelay>,
    failures: Arc<AtomicU32>,
    on_answer: impl Fn() + Send + 'static,
    ctx: Arc<RelayContext>,
    client: HttpClient,
    timeout: Duration,
    stop: CancellationToken,
) {
    let base = format!("http://{address}");
    let mut backoff = BACKOFF_START;
    let mut legacy_since: Option<std::time::Instant> = None;
    loop {
        tokio::select! {
            () = relay.wake.notified() => {}
            () = stop.cancelled() => return,
        }
        if !relay.is_legacy() {
            let delay = rand::thread_rng().gen_range(ANNOUNCE_DELAY_MS.0..=ANNOUNCE_DELAY_MS.1);
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(delay)) => {}
                () = stop.cancelled() => return,
            }
        }
        if legacy_since.is_some_and(|t| t.elapsed() >= LEGACY_RETRY) {
            // Offer announcements again; a refusal falls back for another period.
            legacy_since = None;
            relay.legacy.store(false, Ordering::Relaxed);
        }
        loop {
            let Some(source) = ctx.source() else { return };
            let (txids, blocks) = relay.take_batch(&*source);
            if txids.is_empty() && blocks.is_empty() {
                if relay.outbox().is_empty() {
                    break;
                }
                continue;
            }
            let sent = match (relay.is_legacy(), ctx.own_address()) {
                (false, Some(own)) => announce(&client, &base, own, &txids, &blocks, timeout).await,
                _ => push(&client, &base, &*source, &txids, &blocks, timeout).await,
            };
            drop(source);
            match sent {
                Sent::Done { rest } => {
                    failures.store(0, Ordering::Relaxed);
                    on_answer();
                    let delivered = txids.len() - rest.len();
                    relay.note_known(&txids[..delivered]);
                    if rest.is_empty() {
                        backoff = BACKOFF_START;
                    } else {
                        relay.outbox().put_back(rest, Vec::new());
                        // The peer's tables are full: give it time to fetch, longer
                        // each time it takes nothing more.
                        if pause(&stop, backoff).await {
                            return;
                        }
                        backoff = next_backoff(backoff, delivered == 0);
                    }
                }
                Sent::Legacy => {
                    tracing::info!(peer = %address, "peer does not take announcements; pushing whole transactions and blocks to it");
                    relay.legacy.store(true, Ordering::Relaxed);
                    legacy_since = Some(std::time::Instant::now());
                    relay.outbox().put_back(txids, blocks);
                }
                Sent::Refused => {
                    on_answer();
                    tracing::debug!(peer = %address, "peer refuses our relay (it discouraged us)");
                }
                Sent::Later => {
                    on_answer();
                    relay.outbox().put_back(txids, blocks);
                    if pause(&stop, backoff).await {
                        return;
                    }
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
                Sent::Failed(e) => {
                    relay.outbox().put_back(txids, blocks);
                    let n = failures.fetch_add(1, Ordering::Relaxed) + 1;
                    if n >= MAX_FAILURES {
                        tracing::warn!(peer = %address, error = %e, "peer dropped after {n} failures in a row");
                        return;
                    }
                    tracing::debug!(peer = %address, error = %e, ?backoff, "relay failed; backing off");
                    if pause(&stop, backoff).await {
                        return;
                    }
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
    }
}

/// The pause after a batch the peer took only `part` of (`nothing`: none of it):
/// grows, doubling when it took nothing, up to [`BACKOFF_MAX`].
fn next_backoff(backoff: Duration, nothing: bool) -> Duration {
    let grown = if nothing {
        backoff * 2
    } else {
        backoff * 3 / 2
    };
    grown.min(BACKOFF_MAX)
}

/// Sleeps `how_long`; `true` when the node stops meanwhile.
async fn pause(stop: &CancellationToken, how_long: Duration) -> bool {
    tokio::select! {
        () = tokio::time::sleep(how_long) => false,
        () = stop.cancelled() => true,
    }
}

/// What a non-2xx answer to a relay request means for the batch.
fn verdict(e: ClientError) -> Sent {
    match e.status() {
        None => Sent::Failed(e),
        Some(StatusCode::FORBIDDEN) => Sent::Refused,
        Some(s) if s == StatusCode::TOO_MANY_REQUESTS || s == StatusCode::REQUEST_TIMEOUT => {
            Sent::Later
        }
        Some(s) if s.is_server_error() => Sent::Later,
        // 404 (no such endpoint), 405, 400 (our `from` is refused), 415…: fall back.
        Some(_) => Sent::Legacy,
    }
}

async fn announce(
    client: &HttpClient,
    base: &str,
    own: &str,
    txids: &[Txid],
    blocks: &[Arc<Block>],
    timeout: Duration,
) -> Sent {
    let body = RelayAnnounce {
        from: own.to_string(),
        txids: txids.iter().map(Txid::to_hex).collect(),
        blocks: blocks.iter().map(|b| b.hash().to_hex()).collect(),
    };
    match client
        .post_json::<_, RelayAnnounced>(&format!("{base}/relay/announce"), &body, timeout)
        .await
    {
        Ok(answer) => {
            let taken = usize::try_from(answer.taken)
                .unwrap_or(usize::MAX)
                .min(txids.len());
            Sent::Done {
                rest: txids[taken..].to_vec(),
            }
        }
        Err(e) => verdict(e),
    }
}

/// Pushes whole transactions, then blocks, one request each (a peer without
/// `/relay/announce`). A refusal of one item is the peer's verdict on it, not a failure.
async fn push(
    client: &HttpClient,
    base: &str,
    source: &dyn RelaySource,
    txids: &[Txid],
    blocks: &[Arc<Block>],
    timeout: Duration,
) -> Sent {
    for txid in txids {
        let Some(tx) = source.mempool_transaction(txid) else {
            continue;
        };
        let result = client
            .post_bytes::<crate::wire::TxSubmitted>(
                &format!("{base}/transactions"),
                tx.to_bytes().into(),
                timeout,
            )
            .await;
        if let Err(e) = result {
            match verdict(e) {
                // The whole batch goes back (what was sent is answered idempotently).
                Sent::Failed(e) => return Sent::Failed(e),
                Sent::Later => return Sent::Later,
                _ => {}
            }
        }
    }
    for block in blocks {
        let result = client
            .post_bytes::<crate::wire::BlockSubmitted>(
                &format!("{base}/blocks"),
                block.to_bytes().into(),
                timeout,
            )
            .await;
        if let Err(e) = result {
            match verdict(e) {
                Sent::Failed(e) => return Sent::Failed(e),
                Sent::Later => return Sent::Later,
                _ => {}
            }
        }
    }
    Sent::Done { rest: Vec::new() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txid(n: u32) -> Txid {
        let mut b = [0u8; 32];
        b[..4].copy_from_slice(&n.to_le_bytes());
        Txid::from_bytes(b)
    }

    /// A mempool whose arrival numbers are the positions in the list.
    struct Pool(Vec<Txid>);

    impl RelaySource for Pool {
        fn mempool_transaction(&self, _: &Txid) -> Option<Transaction> {
            None
        }
        fn still_in_mempool(&self, txids: &[Txid]) -> Vec<Txid> {
            let set: HashSet<&Txid> = self.0.iter().collect();
            txids.iter().filter(|t| set.contains(t)).copied().collect()
        }
        fn arrival(&self, txid: &Txid) -> Option<u64> {
            self.0.iter().position(|t| t == txid).map(|p| p as u64)
        }
        fn mempool_arrived_since(&self, seq: u64) -> Vec<(u64, Txid)> {
            self.0
                .iter()
                .enumerate()
                .skip(seq as usize)
                .map(|(i, t)| (i as u64, *t))
                .collect()
        }
    }

    /// What `PeerSet::relay_txid` does for one peer: queue, or note the overflow.
    fn relay(relay: &PeerRelay, n: u32) {
        if !relay.queue_txid(txid(n)) {
            relay.overflowed_at(u64::from(n));
        }
    }

    /// Drains the outbox as the relay task would (the peer takes everything); panics if
    /// it takes more than `max_batches` batches.
    fn drain(relay: &PeerRelay, pool: &Pool, max_batches: usize) -> Vec<Txid> {
        let mut announced = Vec::new();
        for _ in 0..max_batches {
            let (txids, _) = relay.take_batch(pool);
            if txids.is_empty() && relay.outbox().is_empty() {
                return announced;
            }
            assert!(txids.len() <= MAX_ANNOUNCE_TXIDS);
            relay.note_known(&txids);
            announced.extend(txids);
        }
        panic!("the outbox did not drain in {max_batches} batches");
    }

    #[test]
    fn only_a_specific_ip_and_port_is_announced_as_from() {
        assert!(announceable("10.1.2.3:8333"));
        assert!(announceable("[2001:db8::1]:8333"));
        assert!(!announceable("0.0.0.0:8333"));
        assert!(!announceable("[::]:8333"));
        assert!(!announceable("node.example:8333"));
        assert!(!announceable("10.1.2.3:0"));
    }

    #[test]
    fn the_known_set_forgets_its_oldest_past_its_cap() {
        let mut known = KnownSet::new(100);
        for n in 0..1_000 {
            known.insert(&txid(n));
        }
        assert_eq!(known.len(), 100);
        assert!(known.contains(&txid(999)) && !known.contains(&txid(0)));
    }

    /// More txids than the outbox holds: nothing is lost, the overflow is refilled from
    /// the mempool, and what the peer already knows is not announced again.
    #[test]
    fn an_overflowing_outbox_loses_nothing_and_stays_bounded() {
        let total = MAX_OUTBOX_TXIDS as u32 * 2 + 123;
        let pool = Pool((0..total).map(txid).collect());
        let peer = PeerRelay::default();
        peer.note_known(&[txid(5)]);
        for n in 0..total {
            relay(&peer, n);
            assert!(peer.pending() <= MAX_OUTBOX_TXIDS);
        }
        let announced = drain(&peer, &pool, total as usize);
        let unique: HashSet<Txid> = announced.iter().copied().collect();
        assert_eq!(unique.len(), announced.len(), "announced twice");
        assert_eq!(unique.len(), total as usize - 1);
        assert!(!unique.contains(&txid(5)));
    }

    /// A pool larger than the known set and the outbox together: the refills end (each
    /// reads only what arrived since the overflow), each txid is announced once.
    #[test]
    fn refills_end_with_a_pool_larger_than_both_caps() {
        let total = (MAX_KNOWN_TXIDS + MAX_OUTBOX_TXIDS + 7_000) as u32;
        let pool = Pool((0..total).map(txid).collect());
        let peer = PeerRelay::default();
        for n in 0..total {
            relay(&peer, n);
        }
        assert!(peer.pending() <= MAX_OUTBOX_TXIDS);
        // Enough batches for every txid once, with room for partial ones at refills.
        let bound = total as usize / MAX_ANNOUNCE_TXIDS + 100;
        let announced = drain(&peer, &pool, bound);
        let unique: HashSet<Txid> = announced.iter().copied().collect();
        assert_eq!(unique.len(), announced.len(), "announced twice");
        assert_eq!(unique.len(), total as usize);
        // A batch the peer could not take goes back past the cap by one batch at most.
        let (batch, _) = {
            for n in total..total + MAX_OUTBOX_TXIDS as u32 {
                relay(&peer, n);
            }
            peer.take_batch(&pool)
        };
        let more: Vec<u32> = (total + MAX_OUTBOX_TXIDS as u32..)
            .take(MAX_ANNOUNCE_TXIDS)
            .collect();
        for n in more {
            relay(&peer, n);
        }
        peer.outbox().put_back(batch, Vec::new());
        assert!(peer.pending() <= MAX_OUTBOX_TXIDS + MAX_ANNOUNCE_TXIDS);
    }

    #[test]
    fn a_partly_taken_announcement_backs_off_longer() {
        let mut backoff = BACKOFF_START;
        for _ in 0..3 {
            let next = next_backoff(backoff, false);
            assert!(next > backoff);
            backoff = next;
        }
        assert_eq!(next_backoff(backoff, true), (backoff * 2).min(BACKOFF_MAX));
        assert_eq!(next_backoff(BACKOFF_MAX, true), BACKOFF_MAX);
    }

    #[test]
    fn a_txid_that_left_the_mempool_is_not_announced() {
        let pool = Pool(vec![txid(1), txid(3)]);
        let relay = PeerRelay::default();
        for n in 0..4 {
            relay.queue_txid(txid(n));
        }
        let (txids, _) = relay.take_batch(&pool);
        assert_eq!(txids, vec![txid(1), txid(3)]);
    }
}
