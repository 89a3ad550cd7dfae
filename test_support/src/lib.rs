//! Helpers shared by the tests of every crate of the workspace (the node's, the seed's
//! and the wallet's): one way to wait, one way to attack.
//!
//! - [`eventually`] / [`until`]: poll a condition with a deadline, never a fixed sleep.
//! - [`http`]: the one HTTP client of the tests (raw HTTP/1.1, any request, every
//!   answer's status, head and JSON), async and blocking.
//! - [`flood`]: the connection floods of PROTOCOL.md section 9 (slow bodies, idle
//!   connections that reconnect when cut), from a chosen source address, on their own
//!   thread and runtime as a separate attacker would be.

pub mod flood;
pub mod http;
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

/// Polls `check` every [`POLL`] until it returns `Some(value)`; fails naming `what`
/// after `timeout`.
pub async fn eventually_some<T, F, Fut>(
    timeout: Duration,
    what: &str,
    mut check: F,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return Ok(value);
        }
        if Instant::now() >= deadline {
            anyhow::bail!("timed out after {timeout:?} waiting until {what}");
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Polling for tests without an async runtime (process tests).
pub mod blocking {
    use super::POLL;
    use std::time::{Duration, Instant};

    /// Calls `check` every `poll` until it returns `Ok(Some(value))`; an `Err` counts as
    /// "not yet" (a process that is still starting) and is shown if the deadline passes.
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
}
