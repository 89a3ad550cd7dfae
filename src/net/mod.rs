//! Peers: the peer set with one relay task per peer, discovery through seeds and peers,
//! and headers-first sync. Every peer is untrusted (PROTOCOL.md section 9): what it says
//! about itself is a claim, and a node acts on what it checked.
//!
//! - [`peers`]: [`PeerSet`], the peer table bucketed by network group, per-peer bounded
//!   queues and relay tasks.
//! - [`group`]: network groups (/16, /32, each loopback address).
//! - [`discourage`]: who misbehaved, for 24 hours.
//! - [`discovery`]: seeds, `--peer`, and learning peers' peers.
//! - [`bootstrap`]: DNS seeds (`--dns-seed`): `SRV`, then `A`/`AAAA` on the default port.
//! - [`sync`]: headers first by locator, checked before anything is stored, blocks by
//!   hash, a deadline per round.

pub mod bootstrap;
pub mod discourage;
pub mod discovery;
pub mod group;
pub mod peers;
pub mod sync;

pub use discourage::BanKey;
pub use discovery::{discovery_loop, probe_peer};
pub use peers::{Delivery, PeerSet, PeerSummary};
pub use sync::{sync_loop, sync_once};

use serde::Deserialize;

/// Optional endpoints this node offers, listed in `GET /info` `features` (API.md, second
/// round). Sync needs a peer to offer both; one that does not is not synced from (never
/// punished).
pub const FEATURES: &[&str] = &[FEATURE_HEADERS_LOCATOR, FEATURE_BLOCKS_BY_HASH];
/// `GET /headers?locator=H1,H2,…`.
pub const FEATURE_HEADERS_LOCATOR: &str = "headers-locator";
/// `GET /blocks?hashes=H1,H2,…`.
pub const FEATURE_BLOCKS_BY_HASH: &str = "blocks-by-hash";

/// The fields of a peer's `GET /info` that peering and sync need: claims, all of them.
#[derive(Deserialize, Debug, Clone)]
pub struct PeerInfo {
    pub genesis_hash: String,
    pub height: u64,
    pub chain_work: String,
    #[serde(default)]
    pub features: Vec<String>,
}

impl PeerInfo {
    /// Whether the peer says it offers what headers-first sync needs.
    pub fn can_serve_sync(&self) -> bool {
        [FEATURE_HEADERS_LOCATOR, FEATURE_BLOCKS_BY_HASH]
            .iter()
            .all(|f| self.features.iter().any(|g| g == f))
    }
}
