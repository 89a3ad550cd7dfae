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

pub use crate::wire::{
    Info as PeerInfo, FEATURES, FEATURE_BLOCKS_BY_HASH, FEATURE_HEADERS_LOCATOR,
};
