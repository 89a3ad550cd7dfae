//! Node configuration, filled from the command line (or directly by tests).

use crate::consensus::Network;
use crate::http::{RequestLimits, ServerLimits};
use crate::mempool::MempoolConfig;
use crate::primitives::PubkeyHash;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct NodeConfig {
    pub listen: SocketAddr,
    /// `host:port` other nodes reach us at; the bound listen address when `None`.
    pub public_address: Option<String>,
    pub data_dir: PathBuf,
    /// Seed server base URLs (`http://127.0.0.1:7000`).
    pub seeds: Vec<String>,
    /// Peers to connect to at start (`host:port`).
    pub peers: Vec<String>,
    /// DNS seed names to bootstrap from (`SRV`, then `A`/`AAAA` on the default port).
    pub dns_seeds: Vec<String>,
    /// DNS server the seeds are asked through (`ip:port`); the system resolver when `None`.
    pub dns_server: Option<SocketAddr>,
    pub network: Network,
    /// Mine continuously, paying this key hash.
    pub miner_address: Option<PubkeyHash>,
    /// Enables `POST /mining/generate`.
    pub allow_generate: bool,
    pub max_peers: usize,
    pub mempool: MempoolConfig,
    /// How often to compare chains with peers and look for new peers.
    pub sync_interval: Duration,
    /// Time one request to a peer may take.
    pub peer_timeout: Duration,
    /// Time a sync round may go without verified progress before its peer is set aside.
    pub sync_deadline: Duration,
    /// Bounds on connections (PROTOCOL.md section 9).
    pub server: ServerLimits,
    /// Bounds on each request: body size and rate, timeout, per-source request rate.
    pub requests: RequestLimits,
    /// Chain state cache (`--db-cache`), bytes: UTXO set and index changes are kept in
    /// memory and flushed in one commit once they pass this.
    pub db_cache: usize,
    /// Event streams (`GET /events`) open at once (PROTOCOL.md section 9).
    pub max_event_streams: usize,
    /// Txids one peer's relay outbox holds before it falls back to re-reading the
    /// mempool (docs/relay.md).
    pub relay_outbox_txids: usize,
    /// Abort the process when a chain state commit fails part way, so that a supervisor
    /// restarts it and the restart repairs the store (the `full_node` binary); off, the
    /// store only refuses every later call (nodes run inside a test process).
    pub abort_on_store_failure: bool,
}

/// Default `--db-cache`, MB.
pub const DEFAULT_DB_CACHE_MB: usize = 100;

impl NodeConfig {
    /// Defaults for `network`, storing data in `data_dir`, listening on `listen`.
    pub fn new(network: Network, data_dir: PathBuf, listen: SocketAddr) -> NodeConfig {
        NodeConfig {
            listen,
            public_address: None,
            data_dir,
            seeds: Vec::new(),
            peers: Vec::new(),
            dns_seeds: Vec::new(),
            dns_server: None,
            network,
            miner_address: None,
            allow_generate: false,
            max_peers: 16,
            mempool: MempoolConfig::default(),
            sync_interval: Duration::from_secs(10),
            peer_timeout: Duration::from_secs(10),
            sync_deadline: Duration::from_secs(30),
            server: ServerLimits::default(),
            requests: RequestLimits::default(),
            db_cache: DEFAULT_DB_CACHE_MB * 1024 * 1024,
            max_event_streams: super::events::DEFAULT_MAX_EVENT_STREAMS,
            relay_outbox_txids: crate::net::relay::MAX_OUTBOX_TXIDS,
            abort_on_store_failure: false,
        }
    }
}
