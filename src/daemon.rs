//! Starting and stopping a node: the HTTP server, peer discovery, the sync loop and the
//! miner, all stopped together on shutdown. The top layer: it wires the node
//! ([`crate::node`]) to its API ([`crate::api`]).

use crate::api;
use crate::chain::{ChainState, DiskStore};
use crate::http::server::{self, Favoured};
use crate::node::{self, Node, NodeConfig, NodeError};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A node running on the current tokio runtime.
pub struct RunningNode {
    /// The bound listen address (useful with port 0).
    pub addr: SocketAddr,
    pub node: Arc<Node>,
    tasks: TaskTracker,
}

impl RunningNode {
    /// `http://addr`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The node's shutdown signal: cancel it to stop the node (see [`Self::shutdown`]).
    pub fn shutdown_token(&self) -> CancellationToken {
        self.node.shutdown.clone()
    }

    /// Stops every task and waits for them: the server finishes in-flight requests, the
    /// miner abandons its search, sync stops after the block it is connecting; then the
    /// chain state cache is flushed (after a crash instead, the next start connects the
    /// stored blocks again).
    pub async fn shutdown(self) {
        self.node.shutdown.cancel();
        self.stopped().await;
    }

    /// Waits until every task has ended (after the shutdown token was cancelled), then
    /// saves the mempool (`mempool.dat`, read back at the next start) and flushes the
    /// chain state cache.
    pub async fn stopped(self) {
        self.tasks.close();
        self.tasks.wait().await;
        let node = self.node.clone();
        match tokio::task::spawn_blocking(move || node.save_mempool()).await {
            Ok(Ok(count)) => tracing::info!(count, "mempool saved"),
            Ok(Err(e)) => tracing::error!(error = %e, "mempool save at shutdown failed"),
            Err(e) => tracing::error!(error = %e, "mempool save task failed"),
        }
        let node = self.node.clone();
        let flushed = tokio::task::spawn_blocking(move || node.flush_chain()).await;
        if let Ok(Err(e)) | Err(e) = flushed.map_err(|e| NodeError::Internal(e.to_string())) {
            tracing::error!(error = %e, "chain state flush at shutdown failed");
        }
        tracing::info!("node stopped");
    }
}

/// Opens the chain in `config.data_dir`, binds `config.listen` and starts every task.
pub async fn run(config: NodeConfig) -> anyhow::Result<RunningNode> {
    use anyhow::Context;
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data dir {}", config.data_dir.display()))?;
    let db = config.data_dir.join("chain.redb");
    let network = config.network.clone();
    let cache = config.db_cache;
    let abort_on_store_failure = config.abort_on_store_failure;
    let chain = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let store = DiskStore::open(&db)?;
        let chain = ChainState::open_with_cache(store, network, cache)?;
        // A commit failing part way aborts the node; its restart repairs the store.
        if abort_on_store_failure {
            chain.store().abort_when_stopped();
        }
        // Crash tests only: make every chain state flush wait before it commits, or
        // between the chain state's commit and the rich list's.
        let test_pause = |name: &str| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse::<u64>().ok())
                .map(std::time::Duration::from_millis)
        };
        if let Some(pause) = test_pause("FULL_NODE_TEST_FLUSH_PAUSE_MS") {
            chain.store().pause_flushes(pause);
        }
        if let Some(pause) = test_pause("FULL_NODE_TEST_RICH_PAUSE_MS") {
            chain.store().pause_between_commits(pause);
        }
        Ok(chain)
    })
    .await
    .context("chain open task failed")??;
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    let mut config = config;
    if config.public_address.is_none() {
        config.public_address = Some(addr.to_string());
    }
    let node = Node::new(config, chain);
    tracing::info!(
        %addr,
        network = %node.network().params.name,
        height = %node.chain().height(),
        "node started"
    );
    // The saved mempool, revalidated, before the API answers anything.
    {
        let n = node.clone();
        tokio::task::spawn_blocking(move || n.restore_mempool())
            .await
            .context("mempool restore task failed")?;
    }
    let stop = node.shutdown.clone();
    let tasks = TaskTracker::new();
    {
        let app = api::router(node.clone(), &node.config.requests);
        let limits = node.config.server.clone();
        let peers = node.clone();
        let favoured: Favoured = Arc::new(move |ip| peers.peers.delivered_recently(ip));
        tasks.spawn(server::serve(
            listener,
            app,
            limits,
            Some(favoured),
            stop.clone(),
        ));
    }
    tasks.spawn(node::discovery_loop(
        node.clone(),
        stop.clone().cancelled_owned(),
    ));
    tasks.spawn(node::relay::relay_loop(node.clone(), stop.clone()));
    tasks.spawn(node::sync_loop(
        node.clone(),
        stop.clone().cancelled_owned(),
    ));
    tasks.spawn(expiry_loop(node.clone(), stop.clone()));
    if let Some(reward_to) = node.config.miner_address {
        tasks.spawn(mining_loop(node.clone(), reward_to, stop.clone()));
    }
    Ok(RunningNode { addr, node, tasks })
}

/// How often the mempool is swept for expired transactions (besides every new tip).
const EXPIRY_SWEEP: std::time::Duration = std::time::Duration::from_secs(60);

/// Sweeps the mempool for expired transactions every [`EXPIRY_SWEEP`], or every
/// `--mempool-expiry` when that is shorter (tests).
async fn expiry_loop(node: Arc<Node>, shutdown: CancellationToken) {
    let expiry = std::time::Duration::from_secs(node.config.mempool.expiry_secs.max(1));
    let mut ticker = tokio::time::interval(EXPIRY_SWEEP.min(expiry));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticker.tick() => {
                let n = node.clone();
                if tokio::task::spawn_blocking(move || n.expire_mempool()).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Mines on the tip forever, each search on a blocking thread. Sync never pauses it
/// (PROTOCOL.md section 9): a search on a tip that sync moves is abandoned at once.
async fn mining_loop(
    node: Arc<Node>,
    reward_to: crate::primitives::PubkeyHash,
    shutdown: CancellationToken,
) {
    loop {
        let n = node.clone();
        let search = tokio::task::spawn_blocking(move || n.mine_one(reward_to));
        tokio::select! {
            () = shutdown.cancelled() => return,
            found = search => match found {
                Ok(Ok(Some(hash))) => tracing::info!(%hash, "mined a block"),
                Ok(Ok(None)) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "mined block refused");
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(std::time::Duration::from_millis(500)) => {}
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "mining task failed");
                    return;
                }
            },
        }
    }
}
