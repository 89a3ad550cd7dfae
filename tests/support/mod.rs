//! Shared helpers of the node integration tests (`tests/node.rs`), ripgrep style: one
//! test binary, helpers in this folder.
//!
//! - [`chain`]: a test network (instant proof of work, premined keys), signed
//!   transactions and hand-built blocks.
//! - [`cluster`]: in-process nodes on `127.0.0.1:0`, each with its own data dir.
//! - [`http`]: the tests' HTTP client (`test_support::http`) and assertions on API
//!   error codes.
//! - [`spy`]: a fake peer recording what a node relays to it.
//! - [`eventually`] / [`until`]: polling with a deadline (from the `test_support` crate).

pub mod chain;
pub mod cluster;
pub mod hostile;
pub mod http;
pub mod spy;

pub use test_support::{eventually, until, SETTLE};
