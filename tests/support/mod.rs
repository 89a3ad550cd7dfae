//! Shared helpers of the node integration tests (`tests/node.rs`), ripgrep style: one
//! test binary, helpers in this folder.
//!
//! - [`chain`]: a test network (instant proof of work, premined keys), signed
//!   transactions and hand-built blocks.
//! - [`cluster`]: in-process nodes on `127.0.0.1:0`, each with its own data dir.
//! - [`http`]: a raw HTTP client that returns status and JSON for any answer, and
//!   assertions on API error codes.
//! - [`spy`]: a fake peer recording what a node relays to it.
//! - [`eventually`]: polling with a deadline instead of fixed sleeps.

pub mod chain;
pub mod cluster;
pub mod hostile;
pub mod http;
pub mod spy;

use std::future::Future;
use std::time::{Duration, Instant};

/// How long a condition that depends on relay or sync may take to hold.
pub const SETTLE: Duration = Duration::from_secs(20);
/// How often a condition is checked again.
const POLL: Duration = Duration::from_millis(50);

/// Polls `check` every 50 ms until it returns `true`; fails naming `what` after
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

/// [`eventually`] for a condition that needs no `.await` (in-process node state).
pub async fn until(
    timeout: Duration,
    what: &str,
    mut check: impl FnMut() -> bool,
) -> anyhow::Result<()> {
    eventually(timeout, what, || std::future::ready(check())).await
}
