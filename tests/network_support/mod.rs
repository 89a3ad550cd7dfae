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

use std::time::{Duration, Instant};

/// How long a condition that depends on discovery, relay or sync may take to hold.
pub const SETTLE: Duration = Duration::from_secs(30);
/// How often a condition is checked again.
pub const POLL: Duration = Duration::from_millis(50);

/// Calls `check` every `poll` until it returns `Ok(Some(value))`; an `Err` counts as
/// "not yet" (a node that is still starting) and is shown if the deadline passes.
pub fn eventually<T>(
    timeout: Duration,
    poll: Duration,
    what: &str,
    mut check: impl FnMut() -> anyhow::Result<Option<T>>,
) -> anyhow::Result<T> {
    let deadline = Instant::now() + timeout;
    let mut last = String::from("condition never held");
    loop {
        match check() {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => {}
            Err(e) => last = format!("last error: {e:#}"),
        }
        if Instant::now() >= deadline {
            anyhow::bail!("timed out after {timeout:?} waiting until {what} ({last})");
        }
        std::thread::sleep(poll);
    }
}

/// [`eventually`] for a yes/no condition.
pub fn until(
    timeout: Duration,
    what: &str,
    mut check: impl FnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    eventually(timeout, POLL, what, || Ok(check()?.then_some(())))
}
