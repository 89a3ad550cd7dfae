//! Ferro: the core ledger library and the full node.
//!
//! # Layout
//! The layers are one-way: each uses only those listed before it.
//! - [`clock`]: the wall clock, read in one place.
//! - [`primitives`]: amounts, hashes, keys and signatures, addresses, transactions, blocks
//!   and their strict binary encoding.
//! - [`error`]: the stable API error codes ([`error::Code`]) every rejection maps to.
//! - [`consensus`]: network parameters, subsidy, targets and work, merkle roots, and
//!   transaction and block validation as pure functions over data passed in. No I/O,
//!   locks or clocks, and no API shapes.
//! - [`json`]: the JSON forms of transactions and blocks; [`wire`]: every other request
//!   and answer of the API, and the one `match` from error code to HTTP status;
//!   [`network_file`]: the network file (its genesis block is in the JSON form);
//!   [`metrics`]: the Prometheus metrics of `GET /metrics` (node and seed).
//! - [`chain`], [`mempool`], [`miner`]: chain state on disk (keyed in its own terms, no
//!   addresses), the transaction pool, block templates.
//! - [`http`]: the accept loop, tower layers, extractors, `ApiError` and the client,
//!   shared with the seed server.
//! - [`net`]: the peer table, discouragement, network groups, DNS bootstrap lookups.
//! - [`node`]: the node's shared state and write paths, and the loops that drive it
//!   through its peers (discovery, sync).
//! - [`api`]: the node's axum router, handlers and OpenAPI document, and `GET /events`;
//!   [`explorer`]: the HTML block explorer under `/explorer/`, on the same router.
//! - [`daemon`]: starting and stopping everything (server, discovery, sync, miner).

pub mod api;
pub mod chain;
pub mod clock;
pub mod consensus;
pub mod daemon;
pub mod error;
pub mod explorer;
pub mod http;
pub mod json;
pub mod mempool;
pub mod metrics;
pub mod miner;
pub mod net;
pub mod network_file;
pub mod node;
pub mod primitives;
pub mod wire;

#[cfg(test)]
mod test_vectors;
