//! In-process nodes for tests: each listens on `127.0.0.1:0` with its own temporary
//! data dir, and compares chains and looks for peers every 300 ms.

use super::chain::TestNet;
use super::http::Http;
use super::{eventually, until, SETTLE};
use ferro::consensus::ParentInfo;
use ferro::daemon::RunningNode;
use ferro::mempool::MempoolConfig;
use ferro::node::NodeConfig;
use ferro::primitives::{BlockHash, OutPoint, Txid};
use serde_json::{json, Value};
use std::time::Duration;
use tempfile::TempDir;

/// A running node, its data dir and a client for its API.
pub struct TestNode {
    pub name: &'static str,
    pub running: RunningNode,
    pub dir: TempDir,
    pub url: String,
    pub http: Http,
}

/// How to start a node; [`NodeBuilder::start`] does it.
pub struct NodeBuilder<'a> {
    net: &'a TestNet,
    name: &'static str,
    peers: Vec<String>,
    allow_generate: bool,
    mempool: Option<MempoolConfig>,
    dir: Option<TempDir>,
    listen: Option<std::net::IpAddr>,
    sync_deadline: Option<Duration>,
    max_peers: Option<usize>,
    max_connections: Option<usize>,
    blocking_work: Option<usize>,
    max_event_streams: Option<usize>,
    short_timeouts: Option<Duration>,
    relay_outbox: Option<usize>,
}

impl<'a> NodeBuilder<'a> {
    pub fn new(net: &'a TestNet, name: &'static str) -> NodeBuilder<'a> {
        NodeBuilder {
            net,
            name,
            peers: Vec::new(),
            allow_generate: true,
            mempool: None,
            dir: None,
            listen: None,
            sync_deadline: None,
            max_peers: None,
            max_connections: None,
            blocking_work: None,
            max_event_streams: None,
            short_timeouts: None,
            relay_outbox: None,
        }
    }

    /// Bounds each peer's relay outbox to `txids` (a small queue, to test overflow).
    pub fn relay_outbox(mut self, txids: usize) -> Self {
        self.relay_outbox = Some(txids);
        self
    }

    /// Listens on `ip` (port 0) instead of 127.0.0.1: another host for per-source
    /// rules, since a node talks from the IP it listens on.
    pub fn listen(mut self, ip: &str) -> Self {
        self.listen = ip.parse().ok();
        self
    }

    /// `--sync-deadline`.
    pub fn sync_deadline(mut self, deadline: Duration) -> Self {
        self.sync_deadline = Some(deadline);
        self
    }

    /// `--max-peers`.
    /// Caps the API work running on blocking threads at once (its default is 64).
    pub fn blocking_work(mut self, jobs: usize) -> Self {
        self.blocking_work = Some(jobs);
        self
    }

    /// Caps the node's open connections (its default is 1 024).
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = Some(max);
        self
    }

    /// Sets the request timeout and the connections' idle timeout to `timeout`.
    pub fn short_timeouts(mut self, timeout: Duration) -> Self {
        self.short_timeouts = Some(timeout);
        self
    }

    /// Caps concurrent `GET /events` streams.
    pub fn max_event_streams(mut self, max: usize) -> Self {
        self.max_event_streams = Some(max);
        self
    }

    pub fn max_peers(mut self, max: usize) -> Self {
        self.max_peers = Some(max);
        self
    }

    /// Connects to `node` at start.
    pub fn peer(mut self, node: &TestNode) -> Self {
        self.peers.push(node.addr());
        self
    }

    /// Connects to `host:port` at start.
    pub fn peer_addr(mut self, addr: String) -> Self {
        self.peers.push(addr);
        self
    }

    /// Without `--allow-generate`.
    pub fn no_generate(mut self) -> Self {
        self.allow_generate = false;
        self
    }

    pub fn mempool(mut self, config: MempoolConfig) -> Self {
        self.mempool = Some(config);
        self
    }

    /// Reuses the data dir of a stopped node.
    pub fn data_dir(mut self, dir: TempDir) -> Self {
        self.dir = Some(dir);
        self
    }

    pub async fn start(self) -> anyhow::Result<TestNode> {
        let dir = match self.dir {
            Some(dir) => dir,
            None => tempfile::tempdir()?,
        };
        let mut cfg = NodeConfig::new(
            self.net.network.clone(),
            dir.path().join("data"),
            std::net::SocketAddr::new(self.listen.unwrap_or([127, 0, 0, 1].into()), 0),
        );
        if let Some(deadline) = self.sync_deadline {
            cfg.sync_deadline = deadline;
        }
        if let Some(max) = self.max_peers {
            cfg.max_peers = max;
        }
        if let Some(timeout) = self.short_timeouts {
            cfg.requests.request_timeout = timeout;
            cfg.server.idle_timeout = timeout;
        }
        if let Some(max) = self.max_event_streams {
            cfg.max_event_streams = max;
        }
        if let Some(jobs) = self.blocking_work {
            cfg.requests.blocking_work = jobs;
        }
        if let Some(max) = self.max_connections {
            cfg.server.max_connections = max;
            cfg.server.reserved_connections = max / 8;
        }
        if let Some(txids) = self.relay_outbox {
            cfg.relay_outbox_txids = txids;
        }
        cfg.allow_generate = self.allow_generate;
        cfg.sync_interval = Duration::from_millis(300);
        cfg.peer_timeout = Duration::from_secs(5);
        cfg.peers = self.peers;
        if let Some(mempool) = self.mempool {
            cfg.mempool = mempool;
        }
        let running = ferro::daemon::run(cfg).await?;
        Ok(TestNode {
            name: self.name,
            url: running.url(),
            running,
            dir,
            http: Http::new(),
        })
    }
}

impl TestNode {
    /// `host:port`, as peers know it.
    pub fn addr(&self) -> String {
        self.running.addr.to_string()
    }

    /// `{url}{path}`.
    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    pub fn height(&self) -> u64 {
        self.running.node.chain().height().get()
    }

    pub fn tip(&self) -> BlockHash {
        self.running.node.chain().tip_hash()
    }

    pub fn parent_info(&self) -> ParentInfo {
        self.running.node.chain().tip_parent_info()
    }

    /// What a child of the stored block `hash` is checked against.
    pub fn parent_info_of(&self, hash: &BlockHash) -> anyhow::Result<ParentInfo> {
        self.running
            .node
            .chain()
            .parent_info(hash)
            .ok_or_else(|| anyhow::anyhow!("{}: no block {hash}", self.name))
    }

    /// The first output of the coinbase of block `hash` (given as hex).
    pub async fn coinbase_output(&self, hash: &str) -> anyhow::Result<OutPoint> {
        let tx = self
            .get(&format!("/blocks/{hash}/transactions/0"))
            .await?
            .ok()?;
        let txid = tx["txid"].as_str().unwrap_or_default();
        Ok(OutPoint {
            txid: Txid::from_hex(txid)?,
            vout: 0,
        })
    }

    pub fn in_mempool(&self, txid: &Txid) -> bool {
        self.running.node.mempool().contains(txid)
    }

    pub fn mempool_len(&self) -> usize {
        self.running.node.mempool().len()
    }

    pub fn peer_count(&self) -> usize {
        self.running.node.peers.len()
    }

    /// Block headers stored (active and side branches).
    pub fn stored_headers(&self) -> usize {
        self.running.node.chain().header_count()
    }

    /// Whether this node discouraged the peer at `address`.
    pub fn discouraged(&self, address: &str) -> bool {
        self.running.node.peers.is_discouraged(address)
    }

    /// Whether this node set the peer at `address` aside from sync.
    pub fn set_aside(&self, address: &str) -> bool {
        self.running.node.peers.is_set_aside(address)
    }

    pub fn knows_block(&self, hash: &BlockHash) -> bool {
        self.running.node.chain().knows_block(hash)
    }

    /// `POST /mining/generate` of `blocks` blocks paying `address`; their hashes.
    pub async fn generate_to(&self, blocks: u32, address: &str) -> anyhow::Result<Vec<String>> {
        let body = self
            .http
            .post_json(
                &self.at("/mining/generate"),
                &json!({"blocks": blocks, "address": address}),
            )
            .await?
            .ok()?;
        let hashes: Vec<String> = serde_json::from_value(body["hashes"].clone())?;
        anyhow::ensure!(
            hashes.len() == blocks as usize,
            "{}: asked for {blocks} blocks, got {}",
            self.name,
            hashes.len()
        );
        Ok(hashes)
    }

    /// Mines `blocks` blocks to the test network's miner key.
    pub async fn generate(&self, net: &TestNet, blocks: u32) -> anyhow::Result<Vec<String>> {
        self.generate_to(blocks, &net.address(&net.miner)).await
    }

    /// `POST /transactions` as JSON; the answer body on success.
    pub async fn submit_tx(
        &self,
        net: &TestNet,
        tx: &ferro::primitives::Transaction,
    ) -> anyhow::Result<Value> {
        self.http
            .post_json(&self.at("/transactions"), &net.tx_json(tx))
            .await?
            .ok()
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<super::http::Reply> {
        self.http.get(&self.at(path)).await
    }

    /// Waits until this node has at least `n` peers.
    pub async fn wait_peers(&self, n: usize) -> anyhow::Result<()> {
        let what = format!("{} has {n} peers", self.name);
        until(SETTLE, &what, || self.peer_count() >= n).await
    }

    /// Waits until this node's tip is `other`'s tip.
    pub async fn wait_same_tip(&self, other: &TestNode) -> anyhow::Result<()> {
        let what = format!("{} has the tip of {}", self.name, other.name);
        until(SETTLE, &what, || self.tip() == other.tip())
            .await
            .map_err(|e| {
                e.context(format!(
                    "{} at height {} vs {} at height {}",
                    self.name,
                    self.height(),
                    other.name,
                    other.height()
                ))
            })
    }

    /// Waits until `txid` is in this node's mempool.
    pub async fn wait_in_mempool(&self, txid: &Txid) -> anyhow::Result<()> {
        let what = format!("{} has {txid} in its mempool", self.name);
        until(SETTLE, &what, || self.in_mempool(txid)).await
    }

    /// Waits until `GET /health` answers (the server is up).
    pub async fn wait_healthy(&self) -> anyhow::Result<()> {
        let what = format!("{} answers /health", self.name);
        eventually(SETTLE, &what, || async {
            self.get("/health")
                .await
                .is_ok_and(|r| r.status.is_success())
        })
        .await
    }

    /// Stops the node and hands back its data dir (for a restart).
    pub async fn stop(self) -> TempDir {
        self.running.shutdown().await;
        self.dir
    }
}

/// Stops every node (in order), so their tasks end before the runtime does.
pub async fn stop_all(nodes: Vec<TestNode>) {
    for node in nodes {
        node.stop().await;
    }
}
