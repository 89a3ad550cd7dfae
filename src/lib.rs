//! Ferro: the core ledger library and the full node.
//!
//! # Layout
//! The layers are one-way: each uses only those above it.
//! - [`primitives`]: amounts, hashes, keys and signatures, addresses, transactions, blocks
//!   and their strict binary encoding.
//! - [`consensus`]: network parameters (the genesis file), subsidy, targets and work,
//!   merkle roots, and transaction and block validation as pure functions over data passed
//!   in. No I/O, locks or clocks.
//! - [`json`]: the JSON forms of transactions and blocks used by the HTTP API.
//! - [`http`]: HTTP server and client plumbing shared by the node and the seed server.
//! - [`error`]: the stable API error codes every rejection maps to.

pub mod api;
pub mod chain;
pub mod clock;
pub mod consensus;
pub mod error;
pub mod http;
pub mod json;
pub mod mempool;
pub mod miner;
pub mod net;
pub mod network_file;
pub mod node;
pub mod primitives;
pub mod wire;

#[cfg(test)]
mod test_vectors;
