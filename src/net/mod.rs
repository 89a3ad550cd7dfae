//! Peers: the peer table with one relay task per peer, discouragement, network groups and
//! DNS bootstrap lookups. Every peer is untrusted (PROTOCOL.md section 9): what it says
//! about itself is a claim, and a node acts on what it checked. The loops that drive a
//! node through its peers (discovery, sync) are in [`crate::node`], above this layer.
//!
//! - [`peers`]: [`PeerSet`], the peer table bucketed by network group, one relay task
//!   per peer.
//! - [`relay`]: what we announce to one peer (txids in batches, block hashes), its known
//!   set and bounded outbox, and the fallback to pushing whole items.
//! - [`relay_compact`]: compact blocks (header, salt and short ids, after BIP 152).
//! - [`group`]: network groups (/16, /32, each loopback address).
//! - [`discourage`]: who misbehaved, for 24 hours.
//! - [`bootstrap`]: DNS seeds (`--dns-seed`): `SRV`, then `A`/`AAAA` on the default port.

pub mod bootstrap;
pub mod discourage;
pub mod group;
pub mod peers;
pub mod relay;
pub mod relay_compact;

pub use discourage::BanKey;
pub use peers::{Delivery, PeerSet, PeerSummary};

pub use crate::wire::{
    Info as PeerInfo, FEATURES, FEATURE_BLOCKS_BY_HASH, FEATURE_HEADERS_LOCATOR,
};
