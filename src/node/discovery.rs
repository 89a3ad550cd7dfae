//! Finding peers: `--peer` addresses, seed servers (register, then ask for nodes), DNS
//! seeds (`--dns-seed`, see [`crate::net::bootstrap`]), and the peers of our peers
//! (`GET /nodes`), up to `--max-peers`. Each candidate is probed
//! (`GET /info`, same genesis hash) before it is added, and then told about us
//! (`POST /nodes`).

use super::Node;
use crate::net::bootstrap::DnsSeeds;
use crate::net::{PeerInfo, PeerSummary};
use std::sync::Arc;

/// Why a candidate peer was not added.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("{0} did not answer GET /info: {1}")]
    Unreachable(String, String),
    #[error("{address} is on another network (genesis {theirs}, ours {ours})")]
    WrongNetwork {
        address: String,
        theirs: String,
        ours: String,
    },
}

impl crate::error::ErrorCode for ProbeError {
    fn code(&self) -> crate::error::Code {
        match self {
            ProbeError::Unreachable(..) => crate::error::Code::Unreachable,
            ProbeError::WrongNetwork { .. } => crate::error::Code::WrongNetwork,
        }
    }
}

/// Probes `address` and returns its `/info` if it is a node of our network.
pub async fn probe_peer(node: &Node, address: &str) -> Result<PeerInfo, ProbeError> {
    let url = format!("http://{address}/info");
    let info: PeerInfo = node
        .peers
        .small_client()
        .get_json(&url, node.config.peer_timeout)
        .await
        .map_err(|e| ProbeError::Unreachable(address.to_string(), e.to_string()))?;
    let ours = node.network().genesis_hash.to_hex();
    if info.genesis_hash != ours {
        return Err(ProbeError::WrongNetwork {
            address: address.to_string(),
            theirs: info.genesis_hash,
            ours,
        });
    }
    Ok(info)
}

fn own_address(node: &Node) -> String {
    node.config.public_address.clone().unwrap_or_default()
}

/// Probes and adds a candidate, then announces ourselves to it. `true` when added.
pub async fn try_add_peer(node: &Arc<Node>, address: &str) -> bool {
    if address == own_address(node)
        || node.peers.contains(address)
        || node.peers.is_full()
        || node.peers.is_discouraged(address)
    {
        return false;
    }
    match probe_peer(node, address).await {
        Ok(info) => {
            if !node.peers.add(address, info.height).added() {
                return false;
            }
            let body = crate::wire::Announce {
                address: own_address(node),
            };
            let url = format!("http://{address}/nodes");
            if let Err(e) = node
                .peers
                .client()
                .post_json::<_, crate::wire::AnnounceStatus>(&url, &body, node.config.peer_timeout)
                .await
            {
                tracing::debug!(peer = %address, error = %e, "peer did not take our announcement");
            }
            true
        }
        Err(e) => {
            tracing::debug!(candidate = %address, error = %e, "candidate peer refused");
            false
        }
    }
}

/// Candidates taken from one seed's or peer's list per round at most: a list is a claim,
/// and a long one must not keep discovery probing strangers for ever.
pub const CANDIDATES_PER_SOURCE: usize = 16;

/// Tries up to [`CANDIDATES_PER_SOURCE`] addresses of `listed`, picked at random among
/// those not known or discouraged yet.
async fn try_listed(node: &Arc<Node>, listed: Vec<PeerSummary>) {
    try_candidates(node, listed.into_iter().map(|n| n.address)).await;
}

/// Tries up to [`CANDIDATES_PER_SOURCE`] of `addresses` (one source's list), picked at
/// random among those not known or discouraged yet.
async fn try_candidates(node: &Arc<Node>, addresses: impl IntoIterator<Item = String>) {
    use rand::seq::SliceRandom;
    let mut fresh: Vec<String> = addresses
        .into_iter()
        .filter(|a| !node.peers.contains(a) && !node.peers.is_discouraged(a))
        .collect();
    fresh.sort();
    fresh.dedup();
    fresh.shuffle(&mut rand::thread_rng());
    for address in fresh.into_iter().take(CANDIDATES_PER_SOURCE) {
        if node.peers.is_full() {
            return;
        }
        try_add_peer(node, &address).await;
    }
}

/// One round: configured peers, seeds, DNS seeds when due, then peers' peers.
pub async fn discover(node: &Arc<Node>, dns_seeds: Option<&mut DnsSeeds>) {
    for peer in node.config.peers.clone() {
        try_add_peer(node, &peer).await;
    }
    let client = node.peers.small_client().clone();
    let timeout = node.config.peer_timeout;
    for seed in node.config.seeds.clone() {
        let seed = seed.trim_end_matches('/');
        let body = crate::wire::Announce {
            address: own_address(node),
        };
        if let Err(e) = client
            .post_json::<_, crate::wire::AnnounceStatus>(&format!("{seed}/nodes"), &body, timeout)
            .await
        {
            tracing::warn!(%seed, error = %e, "seed registration failed");
        }
        match client
            .get_json::<Vec<PeerSummary>>(&format!("{seed}/nodes?limit=100"), timeout)
            .await
        {
            Ok(nodes) => try_listed(node, nodes).await,
            Err(e) => tracing::warn!(%seed, error = %e, "seed did not list nodes"),
        }
    }
    if let Some(dns_seeds) = dns_seeds {
        let peers = node.peers.len();
        if dns_seeds.is_due(peers, node.config.max_peers, std::time::Instant::now()) {
            let found = dns_seeds.candidates().await;
            tracing::debug!(found = found.len(), peers, "asked the dns seeds");
            try_candidates(node, found.iter().map(ToString::to_string)).await;
        }
    }
    for peer in node.peers.addresses() {
        if node.peers.is_full() {
            break;
        }
        if let Ok(theirs) = client
            .get_json::<Vec<PeerSummary>>(&format!("http://{peer}/nodes"), timeout)
            .await
        {
            try_listed(node, theirs).await;
        }
    }
}

/// Discovers at start and then every sync interval until shutdown.
pub async fn discovery_loop(node: Arc<Node>, shutdown: impl std::future::Future<Output = ()>) {
    tokio::pin!(shutdown);
    let mut dns_seeds = dns_seeds_of(&node);
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            () = discover(&node, dns_seeds.as_mut()) => {}
        }
        tokio::select! {
            () = &mut shutdown => return,
            () = tokio::time::sleep(node.config.sync_interval) => {}
        }
    }
}

/// The node's DNS seeds, if it has any (a resolver that cannot be set up is logged and
/// skipped: the node still has its other ways to find peers).
fn dns_seeds_of(node: &Node) -> Option<DnsSeeds> {
    let config = &node.config;
    if config.dns_seeds.is_empty() {
        return None;
    }
    let default_port = node
        .network()
        .defaults
        .default_port
        .unwrap_or(crate::net::bootstrap::DEFAULT_PORT);
    match DnsSeeds::new(
        &config.dns_seeds,
        config.dns_server,
        default_port,
        config.peer_timeout,
    ) {
        Ok(seeds) => {
            tracing::info!(seeds = ?config.dns_seeds, server = ?config.dns_server, default_port, "dns seeds");
            Some(seeds)
        }
        Err(error) => {
            tracing::warn!(%error, "dns seeds not used");
            None
        }
    }
}
