//! The peer set: one tokio task per peer with a bounded queue. Accepted transactions and
//! newly active blocks are queued to every peer once; a full queue drops the item (the
//! peer catches up by sync), so a slow or dead peer never blocks the node. A peer that
//! fails repeatedly backs off and is dropped.

use crate::http::HttpClient;
use crate::primitives::{Block, Encode, Transaction};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// Items waiting for one peer. Items are shared pointers, so a deep queue is cheap; it
/// absorbs bursts (thousands of transactions a second) that a peer answers a little
/// slower than we accept them. Delivery is sequential so a parent always reaches the
/// peer before its child. Past this bound items are dropped: blocks come back by sync,
/// transactions are lost for that peer.
const QUEUE_CAPACITY: usize = 50_000;
/// Consecutive failed deliveries after which a peer is dropped.
const MAX_FAILURES: u32 = 5;
const BACKOFF_START: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

#[derive(Clone)]
enum Relay {
    Transaction(Arc<Transaction>),
    Block(Arc<Block>),
}

/// What we know about a peer, shared with its task.
#[derive(Default)]
struct PeerState {
    height: AtomicU64,
    last_seen: AtomicU64,
    failures: AtomicU32,
}

struct Peer {
    queue: mpsc::Sender<Relay>,
    state: Arc<PeerState>,
    task: JoinHandle<()>,
}

/// One peer as `GET /nodes` shows it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct PeerSummary {
    pub address: String,
    pub height: u64,
    pub last_seen: u64,
}

pub struct PeerSet {
    max: usize,
    peers: Mutex<HashMap<String, Peer>>,
    client: HttpClient,
    /// Time one delivery to a peer may take.
    timeout: Duration,
    stop: watch::Sender<bool>,
}

impl PeerSet {
    pub fn new(max: usize, timeout: Duration) -> PeerSet {
        PeerSet {
            max,
            peers: Mutex::new(HashMap::new()),
            client: HttpClient::new(),
            timeout,
            stop: watch::channel(false).0,
        }
    }

    pub fn client(&self) -> &HttpClient {
        &self.client
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Peer>> {
        let mut peers = self.peers.lock().unwrap_or_else(|e| e.into_inner());
        // Peers whose task ended (dropped after failures) leave the set.
        peers.retain(|_, p| !p.task.is_finished());
        peers
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
                .store(crate::node::unix_now(), Ordering::Relaxed);
            p.state.failures.store(0, Ordering::Relaxed);
        }
    }

    /// Adds a peer (already probed) and starts its relay task. `false` when it is known
    /// or the set is full. Must be called inside the tokio runtime.
    pub fn add(&self, address: &str, height: u64) -> bool {
        let mut peers = self.lock();
        if peers.contains_key(address) || peers.len() >= self.max {
            return false;
        }
        let (queue, rx) = mpsc::channel(QUEUE_CAPACITY);
        let state = Arc::new(PeerState::default());
        state.height.store(height, Ordering::Relaxed);
        state
            .last_seen
            .store(crate::node::unix_now(), Ordering::Relaxed);
        let task = tokio::spawn(relay_task(
            address.to_string(),
            rx,
            state.clone(),
            self.client.clone(),
            self.timeout,
            self.stop.subscribe(),
        ));
        peers.insert(address.to_string(), Peer { queue, state, task });
        tracing::info!(peer = %address, "peer added");
        true
    }

    pub fn relay_transaction(&self, tx: Arc<Transaction>) {
        self.relay(Relay::Transaction(tx));
    }

    pub fn relay_block(&self, block: Arc<Block>) {
        self.relay(Relay::Block(block));
    }

    fn relay(&self, item: Relay) {
        for (address, peer) in self.lock().iter() {
            if peer.queue.try_send(item.clone()).is_err() {
                tracing::debug!(peer = %address, "relay queue full; peer will catch up by sync");
            }
        }
    }

    /// Stops every relay task.
    pub fn shutdown(&self) {
        let _ = self.stop.send(true);
    }
}

/// Delivers queued items to one peer until shutdown or too many failures.
async fn relay_task(
    address: String,
    mut rx: mpsc::Receiver<Relay>,
    state: Arc<PeerState>,
    client: HttpClient,
    timeout: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let base = format!("http://{address}");
    let mut backoff = BACKOFF_START;
    loop {
        let item = tokio::select! {
            item = rx.recv() => item,
            _ = stop.changed() => return,
        };
        let Some(item) = item else { return };
        let result = match &item {
            Relay::Transaction(tx) => {
                client
                    .post_bytes::<serde_json::Value>(
                        &format!("{base}/transactions"),
                        tx.to_bytes().into(),
                        timeout,
                    )
                    .await
            }
            Relay::Block(block) => {
                client
                    .post_bytes::<serde_json::Value>(
                        &format!("{base}/blocks"),
                        block.to_bytes().into(),
                        timeout,
                    )
                    .await
            }
        };
        match result {
            // An answer, even a refusal (already known, unknown parent, invalid), means
            // the peer is alive: a refusal is the peer's verdict, not a delivery failure.
            Ok(_) => {
                state.failures.store(0, Ordering::Relaxed);
                state
                    .last_seen
                    .store(crate::node::unix_now(), Ordering::Relaxed);
                backoff = BACKOFF_START;
            }
            Err(e) if e.status().is_some() => {
                tracing::debug!(peer = %address, error = %e, "peer refused a relayed item");
                state
                    .last_seen
                    .store(crate::node::unix_now(), Ordering::Relaxed);
                backoff = BACKOFF_START;
            }
            Err(e) => {
                let failures = state.failures.fetch_add(1, Ordering::Relaxed) + 1;
                if failures >= MAX_FAILURES {
                    tracing::warn!(peer = %address, error = %e, "peer dropped after {failures} failures in a row");
                    return;
                }
                tracing::debug!(peer = %address, error = %e, ?backoff, "relay failed; backing off");
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    _ = stop.changed() => return,
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}
