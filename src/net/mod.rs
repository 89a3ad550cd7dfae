//! Peers: the peer set with one relay task per peer, discovery through seeds and peers,
//! and sync by height.
//!
//! - [`peers`]: [`PeerSet`], per-peer bounded queues and relay tasks.
//! - [`discovery`]: seeds, `--peer`, and learning peers' peers.
//! - [`sync`]: catching up with the peer that has the most chain work.

pub mod discovery;
pub mod peers;
pub mod sync;

pub use discovery::{discovery_loop, probe_peer};
pub use peers::{PeerSet, PeerSummary};
pub use sync::{sync_loop, sync_once};

use serde::Deserialize;

/// The fields of a peer's `GET /info` that peering and sync need.
#[derive(Deserialize, Debug, Clone)]
pub struct PeerInfo {
    pub genesis_hash: String,
    pub height: u64,
    pub chain_work: String,
}
