//! Helpers of the multi-process network test (`tests/network.rs`): real `dns_seed`,
//! `full_node` and `wallet` processes on `127.0.0.1:0`, talked to over HTTP.
//!
//! - [`bins`]: where the three binaries are (building `dns_seed` and `wallet` once if
//!   they are missing, since they belong to other crates of the workspace).
//! - [`process`]: a child process that is killed when dropped, started and read back
//!   from its `listening on ADDR` line.
//! - [`http`]: a tiny blocking HTTP/1.1 client over `std::net::TcpStream`.
//! - [`net`]: the test network (fast genesis file, seed, nodes, wallets).
//! - [`eventually`]: polling with a deadline instead of fixed sleeps.

pub mod bins;
pub mod http;
pub mod net;
pub mod process;

use std::time::Duration;

pub use test_support::blocking::{eventually, until};
#[allow(unused_imports)]
pub use test_support::POLL;

/// How long a condition that depends on discovery, relay or sync may take to hold.
pub const SETTLE: Duration = Duration::from_secs(30);
