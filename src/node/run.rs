//! Starting and stopping a node: the HTTP server, peer discovery, the sync loop and the
//! miner, all stopped together on shutdown.

use super::{Node, NodeConfig, NodeError};
use crate::api;
use crate::chain::{ChainState, RedbStore};
use crate::net;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// A node running on the current tokio runtime.
pub struct RunningNode {
    /// The bound listen address (useful with port 0).
    pub addr: SocketAddr,
    pub node: Arc<Node>,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl RunningNode {
    /// `http://addr`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A future that completes when shutdown is requested.
    pub fn stop_signal(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        stopped(self.stop.subscribe())
    }

    /// Stops every task: the server finishes in-flight requests, the miner abandons its
    /// search, sync stops after the block it is connecting; then the chain state cache is
    /// flushed (after a crash instead, the next start connects the stored blocks again).
    pub async fn shutdown(mut self) {
        self.node.stopping.store(true, Ordering::SeqCst);
        self.node.peers.shutdown();
        let _ = self.stop.send(true);
        while let Some(done) = self.tasks.join_next().await {
            if let Err(e) = done {
                if e.is_panic() {
                    tracing::error!(error = %e, "a node task panicked");
                }
            }
        }
        let node = self.node.clone();
        let flushed = tokio::task::spawn_blocking(move || node.flush_chain()).await;
        if let Ok(Err(e)) | Err(e) = flushed.map_err(|e| NodeError::Internal(e.to_string())) {
            tracing::error!(error = %e, "chain state flush at shutdown failed");
        }
        tracing::info!("node stopped");
    }
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    while !*rx.borrow() {
        if rx.changed().await.is_err() {
            return;
        }
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
    let chain = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let store = RedbStore::open(&db)?;
        let chain = ChainState::open_with_cache(store, network, cache)?;
        // Crash tests only: make every chain state flush wait before it commits.
        if let Some(ms) = std::env::var("FULL_NODE_TEST_FLUSH_PAUSE_MS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
        {
            chain
                .store()
                .pause_flushes(std::time::Duration::from_millis(ms));
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
    let (stop, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    {
        let node = node.clone();
        let limits = node.config.server.clone();
        let shutdown = stopped(stop_rx.clone());
        tasks.spawn(async move {
            let handler = api::Api::new(node);
            crate::http::server::run(listener, handler, limits, shutdown).await;
        });
    }
    tasks.spawn(net::discovery_loop(node.clone(), stopped(stop_rx.clone())));
    tasks.spawn(net::sync_loop(node.clone(), stopped(stop_rx.clone())));
    if let Some(reward_to) = node.config.miner_address {
        tasks.spawn(mining_loop(
            node.clone(),
            reward_to,
            stopped(stop_rx.clone()),
        ));
    }
    Ok(RunningNode {
        addr,
        node,
        stop,
        tasks,
    })
}

/// Mines on the tip forever, each search on a blocking thread. Sync never pauses it
/// (PROTOCOL.md section 9): a search on a tip that sync moves is abandoned at once.
async fn mining_loop(
    node: Arc<Node>,
    reward_to: crate::primitives::PubkeyHash,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        let n = node.clone();
        let search = tokio::task::spawn_blocking(move || n.mine_one(reward_to));
        tokio::select! {
            () = &mut shutdown => {
                node.stopping.store(true, Ordering::SeqCst);
                return;
            }
            found = search => match found {
                Ok(Ok(Some(hash))) => tracing::info!(%hash, "mined a block"),
                Ok(Ok(None)) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "mined block refused");
                    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                }
                Err(e) => {
                    tracing::error!(error = %e, "mining task failed");
                    return;
                }
            },
        }
    }
}
