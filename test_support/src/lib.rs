//! Helpers shared by the tests of every crate of the workspace (the node's, the seed's
//! and the wallet's): one way to wait, one way to attack.
//!
//! - [`eventually`] / [`until`]: poll a condition with a deadline, never a fixed sleep.
//! - [`flood`]: the connection floods of PROTOCOL.md section 9 (slow bodies, idle
//!   connections that reconnect when cut), from a chosen source address, on their own
//!   thread and runtime as a separate attacker would be.

pub mod flood;
pub mod tools;

use std::future::Future;
use std::time::{Duration, Instant};

/// How long a condition that depends on relay or sync may take to hold.
pub const SETTLE: Duration = Duration::from_secs(20);
/// How often a condition is checked again.
pub const POLL: Duration = Duration::from_millis(50);

/// Polls `check` every [`POLL`] until it returns `true`; fails naming `what` after
/// `timeout`.
pub async fn eventually<F, Fut>(timeout: Duration, what: &str, mut check: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if check().await {
            return Ok(());
        }
        if Instant::now() >= deadline {
            anyhow::bail!("timed out after {timeout:?} waiting until {what}");
        }
        tokio::time::sleep(POLL).await;
    }
}

/// [`eventually`] for a condition that needs no `.await`.
pub async fn until(
    timeout: Duration,
    what: &str,
    mut check: impl FnMut() -> bool,
) -> anyhow::Result<()> {
    eventually(timeout, what, || std::future::ready(check())).await
}

/// [`until`] for code without a runtime (process tests): polls on this thread.
pub fn until_blocking(
    timeout: Duration,
    what: &str,
    mut check: impl FnMut() -> bool,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if check() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            anyhow::bail!("timed out after {timeout:?} waiting until {what}");
        }
        std::thread::sleep(POLL);
    }
}
