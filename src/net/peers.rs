//! The peer set: one tokio task per peer relaying to it ([`super::relay`]): accepted
//! transactions are announced by txid in batches, the peer fetches what it lacks; newly
//! active blocks are announced by hash. Nothing a full queue cannot hold is dropped: it is
//! announced later. A peer that fails repeatedly backs off and is dropped, so a slow or
//! dead peer never blocks the node.
//!
//! The table is bucketed by network group (PROTOCOL.md section 9): at most
//! [`GROUP_CAP`] entries per group, and eviction that keeps peers which delivered valid
//! blocks or transactions, so announcements from one source cannot fill it or push out
//! proven peers. Discouraged peers are disconnected and kept out for 24 hours.

use super::discourage::{BanKey, Discouraged};
use super::group::NetGroup;
use super::relay::{relay_task, PeerRelay, RelayContext, RelaySource};
use crate::http::client::DEFAULT_MAX_RESPONSE_BYTES;
use crate::http::HttpClient;
use crate::primitives::{Block, Txid};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// What we know about a peer, shared with its task.
#[derive(Default)]
struct PeerState {
    height: AtomicU64,
    last_seen: AtomicU64,
    failures: Arc<AtomicU32>,
    /// Unix time of the last valid block or transaction it delivered (0: never).
    last_delivery: AtomicU64,
    /// Unix time of the last valid block it delivered (0: never).
    last_block: AtomicU64,
}

struct Peer {
    relay: Arc<PeerRelay>,
    /// Distinct for every addition: a peer that left and came back has a new one (its
    /// mempool is fetched again).
    generation: u64,
    state: Arc<PeerState>,
    task: JoinHandle<()>,
    group: NetGroup,
    /// Its IP when the address is an IP literal (inbound deliveries are credited by it).
    ip: Option<IpAddr>,
    /// Unix time it joined the table (ties of eviction: the newest goes first).
    added: u64,
}

/// A peer as `GET /nodes` lists it.
pub type PeerSummary = crate::wire::NodeEntry;

/// What [`PeerSet::add`] did with a candidate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AddOutcome {
    Added,
    /// Added in place of an entry that had delivered nothing useful for longer.
    AddedEvicting(String),
    Known,
    Discouraged,
    /// Its group (or the table) is full of peers that all delivered a valid block in the
    /// last [`PROTECT_BLOCK_DELIVERY`].
    Full,
}

impl AddOutcome {
    pub fn added(&self) -> bool {
        matches!(self, AddOutcome::Added | AddOutcome::AddedEvicting(_))
    }
}

/// What a peer delivered that counts as useful (eviction keeps useful peers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    Block,
    Transaction,
}

/// Policy: entries one network group may hold (PROTOCOL.md section 9).
pub const GROUP_CAP: usize = 8;
/// A peer that delivered a valid block this recently cannot be evicted.
pub const PROTECT_BLOCK_DELIVERY: Duration = Duration::from_secs(10 * 60);
/// Set-aside entries kept at most.
const MAX_SET_ASIDE: usize = 1_024;
/// How long a source that delivered something valid keeps its share of reserved
/// connection slots.
pub const FAVOUR_DELIVERERS_FOR: Duration = Duration::from_secs(10 * 60);
/// Delivering sources remembered at most.
pub const MAX_DELIVERERS: usize = 1_024;
/// Bound on a peer's answers to our small requests (`/info`, `/nodes`, `/headers`:
/// 2 000 headers with hashes are 312 000 bytes).
pub const SMALL_RESPONSE_BYTES: usize = 1 << 20;

pub struct PeerSet {
    max: usize,
    peers: Mutex<HashMap<String, Peer>>,
    discouraged: Mutex<Discouraged>,
    /// Peers not chosen for sync until the instant given.
    set_aside: Mutex<HashMap<String, Instant>>,
    client: HttpClient,
    small_client: HttpClient,
    /// Time one delivery to a peer may take.
    timeout: Duration,
    /// Sources that delivered something valid, with when (unix seconds).
    deliverers: Mutex<HashMap<IpAddr, u64>>,
    /// Cancelled when the node shuts down: every relay task ends.
    stop: CancellationToken,
    /// Our address and the mempool, for the relay tasks.
    relay: Arc<RelayContext>,
    generations: AtomicU64,
}

impl PeerSet {
    /// A table of at most `max` peers; requests to peers time out after `timeout` and
    /// leave from `local` when given.
    /// A table of at most `max` peers whose relay tasks end when `stop` is cancelled.
    pub fn new(
        max: usize,
        timeout: Duration,
        local: Option<IpAddr>,
        stop: CancellationToken,
    ) -> PeerSet {
        PeerSet {
            max,
            peers: Mutex::new(HashMap::new()),
            discouraged: Mutex::new(Discouraged::default()),
            set_aside: Mutex::new(HashMap::new()),
            client: HttpClient::with_options(DEFAULT_MAX_RESPONSE_BYTES, local),
            small_client: HttpClient::with_options(SMALL_RESPONSE_BYTES, local),
            timeout,
            stop,
            deliverers: Mutex::new(HashMap::new()),
            relay: Arc::new(RelayContext::default()),
            generations: AtomicU64::new(0),
        }
    }

    /// Gives the relay tasks our public address (announcements name it as `from`; without
    /// one, whole items are pushed) and the mempool they announce from.
    pub fn set_relay_source(
        &self,
        own_address: Option<String>,
        source: Weak<dyn RelaySource>,
        outbox_cap: usize,
    ) {
        self.relay.set(own_address, source);
        self.relay.set_outbox_cap(outbox_cap);
    }

    /// The client for block downloads (answers up to 32 MiB).
    pub fn client(&self) -> &HttpClient {
        &self.client
    }

    /// The client for `/info`, `/nodes` and `/headers` (answers up to 1 MiB).
    pub fn small_client(&self) -> &HttpClient {
        &self.small_client
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Peer>> {
        let mut peers = self.peers.lock().unwrap_or_else(|e| e.into_inner());
        // Peers whose task ended (dropped after failures) leave the set.
        peers.retain(|_, p| !p.task.is_finished());
        peers
    }

    fn banned(&self) -> std::sync::MutexGuard<'_, Discouraged> {
        self.discouraged.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Discouraged sources and peers remembered now (metrics).
    pub fn discouraged_len(&self) -> usize {
        self.banned().len()
    }

    pub fn is_full(&self) -> bool {
        self.len() >= self.max
    }

    pub fn contains(&self, address: &str) -> bool {
        self.lock().contains_key(address)
    }

    pub fn addresses(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    pub fn summaries(&self) -> Vec<PeerSummary> {
        let mut out: Vec<PeerSummary> = self
            .lock()
            .iter()
            .map(|(a, p)| PeerSummary {
                address: a.clone(),
                height: p.state.height.load(Ordering::Relaxed),
                last_seen: p.state.last_seen.load(Ordering::Relaxed),
            })
            .collect();
        out.sort_by(|a, b| a.address.cmp(&b.address));
        out
    }

    /// Records a successful contact with a peer (from sync or probes).
    pub fn seen(&self, address: &str, height: u64) {
        if let Some(p) = self.lock().get(address) {
            p.state.height.store(height, Ordering::Relaxed);
            p.state
                .last_seen
                .store(crate::clock::unix_now(), Ordering::Relaxed);
            p.state.failures.store(0, Ordering::Relaxed);
        }
    }

    /// Keeps `address` out of sync for `how_long` (a round with it made no progress).
    pub fn set_aside(&self, address: &str, how_long: Duration) {
        let now = Instant::now();
        let mut aside = self.set_aside.lock().unwrap_or_else(|e| e.into_inner());
        aside.retain(|_, until| *until > now);
        if aside.len() < MAX_SET_ASIDE {
            aside.insert(address.to_string(), now + how_long);
        }
    }

    /// Whether `address` is set aside from sync now.
    pub fn is_set_aside(&self, address: &str) -> bool {
        let aside = self.set_aside.lock().unwrap_or_else(|e| e.into_inner());
        aside.get(address).is_some_and(|u| *u > Instant::now())
    }

    /// Whether a peer at `address` is discouraged (not to be dialled or listed).
    pub fn is_discouraged(&self, address: &str) -> bool {
        self.banned().covers_address(address, Instant::now())
    }

    /// Whether requests from `ip` come from a discouraged source.
    pub fn is_discouraged_source(&self, ip: IpAddr) -> bool {
        self.banned().covers_source(ip, Instant::now())
    }

    /// Discourages `key` for 24 hours and disconnects every peer it covers. Logs once
    /// per discouragement, so a peer that keeps misbehaving cannot flood the log.
    pub fn discourage(&self, key: BanKey, why: &str) {
        let new = self.banned().insert(key.clone(), Instant::now());
        let removed: Vec<String> = {
            let mut peers = self.lock();
            let gone: Vec<String> = peers.keys().filter(|a| key.covers(a)).cloned().collect();
            for address in &gone {
                if let Some(peer) = peers.remove(address) {
                    peer.task.abort();
                }
            }
            gone
        };
        if new {
            tracing::warn!(peer = ?key, reason = %why, dropped = removed.len(), "peer discouraged for 24 h");
        }
    }

    /// Discourages the peer we talk to at `address`.
    pub fn discourage_peer(&self, address: &str, why: &str) {
        self.discourage(BanKey::for_peer(address), why);
    }

    /// Records a useful delivery by every peer at `ip` (an inbound request's source).
    pub fn credit_source(&self, ip: IpAddr, what: Delivery) {
        self.note_deliverer(crate::http::server::source_key(ip));
        let ip = ip.to_canonical();
        for peer in self.lock().values() {
            if peer.ip == Some(ip) {
                credit(&peer.state, what);
            }
        }
    }

    /// Whether `ip` delivered a valid block or transaction within
    /// [`FAVOUR_DELIVERERS_FOR`] (inbound or fetched): such sources keep a reserved share
    /// of the server's connection slots.
    pub fn delivered_recently(&self, ip: IpAddr) -> bool {
        let ip = crate::http::server::source_key(ip);
        let now = crate::clock::unix_now();
        self.deliverers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&ip)
            .is_some_and(|&at| now.saturating_sub(at) < FAVOUR_DELIVERERS_FOR.as_secs())
    }

    /// Remembers that `ip` delivered something valid now, in a table bounded by
    /// [`MAX_DELIVERERS`] (the oldest entry goes first).
    fn note_deliverer(&self, ip: IpAddr) {
        let now = crate::clock::unix_now();
        let mut table = self.deliverers.lock().unwrap_or_else(|e| e.into_inner());
        if !table.contains_key(&ip) && table.len() >= MAX_DELIVERERS {
            if let Some(oldest) = table.iter().min_by_key(|(_, at)| **at).map(|(ip, _)| *ip) {
                table.remove(&oldest);
            }
        }
        table.insert(ip, now);
    }

    /// Records a useful delivery by the peer at `address` (sync fetched from it).
    pub fn credit_peer(&self, address: &str, what: Delivery) {
        let ip = self.lock().get(address).and_then(|peer| {
            credit(&peer.state, what);
            peer.ip
        });
        if let Some(ip) = ip {
            self.note_deliverer(crate::http::server::source_key(ip));
        }
    }

    /// Adds a peer (already probed) and starts its relay task. A full network group (or
    /// a full table: then the largest group) makes room by evicting the entry with the
    /// oldest useful delivery, never-delivered entries first; the newcomer is refused
    /// only when every candidate delivered a valid block within the last 10 minutes.
    /// Must be called inside the tokio runtime.
    pub fn add(&self, address: &str, height: u64) -> AddOutcome {
        if self.is_discouraged(address) {
            return AddOutcome::Discouraged;
        }
        let now = crate::clock::unix_now();
        let group = NetGroup::of_address(address);
        let mut peers = self.lock();
        if peers.contains_key(address) {
            return AddOutcome::Known;
        }
        let in_group = peers.values().filter(|p| p.group == group).count();
        let crowded = if in_group >= GROUP_CAP.min(self.max) {
            Some(group.clone())
        } else if peers.len() >= self.max {
            largest_group(&peers)
        } else {
            None
        };
        let mut evicted = None;
        if let Some(crowded) = crowded {
            let Some(victim) = eviction_candidate(&peers, &crowded, now) else {
                return AddOutcome::Full;
            };
            if let Some(peer) = peers.remove(&victim) {
                peer.task.abort();
            }
            evicted = Some(victim);
        }
        let relay = Arc::new(PeerRelay::new(self.relay.outbox_cap()));
        let state = Arc::new(PeerState::default());
        state.height.store(height, Ordering::Relaxed);
        state.last_seen.store(now, Ordering::Relaxed);
        let seen = state.clone();
        let task = tokio::spawn(relay_task(
            address.to_string(),
            relay.clone(),
            state.failures.clone(),
            move || {
                seen.last_seen
                    .store(crate::clock::unix_now(), Ordering::Relaxed)
            },
            self.relay.clone(),
            // Relay answers are small (counts, a txid, a status): 1 MiB bound.
            self.small_client.clone(),
            self.timeout,
            self.stop.clone(),
        ));
        let generation = self.generations.fetch_add(1, Ordering::Relaxed) + 1;
        peers.insert(
            address.to_string(),
            Peer {
                relay,
                generation,
                state,
                task,
                group,
                ip: super::group::ip_of(address),
                added: now,
            },
        );
        drop(peers);
        match evicted {
            Some(victim) => {
                tracing::info!(peer = %address, evicted = %victim, "peer added in place of one that delivered nothing recently");
                AddOutcome::AddedEvicting(victim)
            }
            None => {
                tracing::info!(peer = %address, "peer added");
                AddOutcome::Added
            }
        }
    }

    /// Announces a newly accepted transaction to every peer not known to have it.
    pub fn relay_txid(&self, txid: Txid) {
        let overflowed: Vec<Arc<PeerRelay>> = self
            .lock()
            .values()
            .filter(|peer| !peer.relay.queue_txid(txid))
            .map(|peer| peer.relay.clone())
            .collect();
        if overflowed.is_empty() {
            return;
        }
        // Those outboxes refill from the mempool, from this transaction's arrival on
        // (looked up outside the peer table's lock).
        if let Some(seq) = self.relay.arrival(&txid) {
            for relay in overflowed {
                relay.overflowed_at(seq);
            }
        }
    }

    /// Announces a block that became the active tip to every peer.
    pub fn relay_block(&self, block: Arc<Block>) {
        for peer in self.lock().values() {
            peer.relay.queue_block(block.clone());
        }
    }

    /// Records that the peer at `address` has `txids` (it announced them to us), so we
    /// do not announce them back.
    pub fn note_known(&self, address: &str, txids: &[Txid]) {
        let relay = self.lock().get(address).map(|p| p.relay.clone());
        if let Some(relay) = relay {
            relay.note_known(txids);
        }
    }

    /// Each peer with the generation of its addition (distinct for every addition, so a
    /// peer that left and came back shows a new one).
    pub fn generations(&self) -> Vec<(String, u64)> {
        self.lock()
            .iter()
            .map(|(a, p)| (a.clone(), p.generation))
            .collect()
    }

    /// The relay state of the peer at `address` (tests and diagnostics).
    pub fn relay_state(&self, address: &str) -> Option<Arc<PeerRelay>> {
        self.lock().get(address).map(|p| p.relay.clone())
    }

    /// Stops every relay task.
    pub fn shutdown(&self) {
        self.stop.cancel();
    }
}

fn credit(state: &PeerState, what: Delivery) {
    let now = crate::clock::unix_now();
    state.last_delivery.store(now, Ordering::Relaxed);
    if what == Delivery::Block {
        state.last_block.store(now, Ordering::Relaxed);
    }
}

/// The group with the most entries (ties: the first in group order, for determinism).
fn largest_group(peers: &HashMap<String, Peer>) -> Option<NetGroup> {
    let mut counts: HashMap<&NetGroup, usize> = HashMap::new();
    for p in peers.values() {
        *counts.entry(&p.group).or_default() += 1;
    }
    counts
        .into_iter()
        .max_by(|(ga, a), (gb, b)| a.cmp(b).then_with(|| gb.cmp(ga)))
        .map(|(g, _)| g.clone())
}

/// The entry of `group` to evict: among those without a valid block in the last
/// [`PROTECT_BLOCK_DELIVERY`], the one whose last useful delivery is oldest (never
/// first), the most recently added on a tie. `None` when every entry is protected.
fn eviction_candidate(peers: &HashMap<String, Peer>, group: &NetGroup, now: u64) -> Option<String> {
    let protect = PROTECT_BLOCK_DELIVERY.as_secs();
    peers
        .iter()
        .filter(|(_, p)| &p.group == group)
        .filter(|(_, p)| {
            let block = p.state.last_block.load(Ordering::Relaxed);
            block == 0 || now.saturating_sub(block) >= protect
        })
        .min_by_key(|(_, p)| {
            (
                p.state.last_delivery.load(Ordering::Relaxed),
                std::cmp::Reverse(p.added),
            )
        })
        .map(|(a, _)| a.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(max: usize) -> PeerSet {
        PeerSet::new(max, Duration::from_secs(1), None, CancellationToken::new())
    }

    /// Marks `address` as having delivered a block `ago` seconds ago.
    fn delivered_block(peers: &PeerSet, address: &str, ago: u64) {
        let at = crate::clock::unix_now() - ago;
        if let Some(p) = peers.lock().get(address) {
            p.state.last_block.store(at, Ordering::Relaxed);
            p.state.last_delivery.store(at, Ordering::Relaxed);
        }
    }

    #[tokio::test]
    async fn one_group_holds_at_most_its_cap_and_evicts_never_delivered_first() {
        let peers = set(32);
        for port in 1..=GROUP_CAP as u16 {
            assert_eq!(
                peers.add(&format!("10.1.0.{port}:8000"), 0),
                AddOutcome::Added
            );
        }
        // Every entry but one delivered a block recently.
        for port in 2..=GROUP_CAP as u16 {
            delivered_block(&peers, &format!("10.1.0.{port}:8000"), 5);
        }
        let outcome = peers.add("10.1.9.9:8000", 0);
        assert_eq!(outcome, AddOutcome::AddedEvicting("10.1.0.1:8000".into()));
        assert_eq!(peers.len(), GROUP_CAP);
        // Another group is not affected by this one's cap.
        assert!(peers.add("10.2.0.1:8000", 0).added());
    }

    #[tokio::test]
    async fn a_group_of_recent_block_deliverers_refuses_newcomers() {
        let peers = set(32);
        for port in 1..=GROUP_CAP as u16 {
            let a = format!("10.1.0.{port}:8000");
            peers.add(&a, 0);
            delivered_block(&peers, &a, 60);
        }
        assert_eq!(peers.add("10.1.9.9:8000", 0), AddOutcome::Full);
        // Once their blocks are older than 10 minutes, the oldest goes.
        delivered_block(
            &peers,
            "10.1.0.3:8000",
            PROTECT_BLOCK_DELIVERY.as_secs() + 100,
        );
        assert_eq!(
            peers.add("10.1.9.9:8000", 0),
            AddOutcome::AddedEvicting("10.1.0.3:8000".into())
        );
    }

    #[tokio::test]
    async fn a_full_table_makes_room_in_its_largest_group() {
        let peers = set(6);
        for port in 1..=4u16 {
            peers.add(&format!("10.1.0.{port}:8000"), 0);
        }
        peers.add("10.2.0.1:8000", 0);
        peers.add("10.3.0.1:8000", 0);
        let outcome = peers.add("10.4.0.1:8000", 0);
        assert!(
            matches!(&outcome, AddOutcome::AddedEvicting(v) if v.starts_with("10.1.")),
            "{outcome:?}"
        );
        assert!(peers.contains("10.2.0.1:8000") && peers.contains("10.3.0.1:8000"));
    }

    #[tokio::test]
    async fn discouraged_peers_are_dropped_and_kept_out() {
        let peers = set(8);
        peers.add("10.1.0.1:8000", 0);
        peers.add("10.1.0.1:9000", 0);
        peers.add("127.0.0.1:8001", 0);
        peers.add("127.0.0.1:8002", 0);
        peers.discourage_peer("10.1.0.1:8000", "test");
        // Keyed by IP off loopback: both ports go.
        assert!(!peers.contains("10.1.0.1:8000") && !peers.contains("10.1.0.1:9000"));
        assert_eq!(peers.add("10.1.0.1:7000", 0), AddOutcome::Discouraged);
        // Keyed by host:port on loopback: only that entry.
        peers.discourage_peer("127.0.0.1:8001", "test");
        assert!(!peers.contains("127.0.0.1:8001") && peers.contains("127.0.0.1:8002"));
        assert_eq!(peers.add("127.0.0.1:8001", 0), AddOutcome::Discouraged);
    }
}
