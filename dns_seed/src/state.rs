//! State shared by the HTTP handlers, the prober, the crawler, the persister and the DNS
//! snapshot builder.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use ferro::http::HttpClient;
use ferro::net::discourage::{BanKey, Discouraged};
use std::net::SocketAddr;
use tokio::sync::Notify;

use crate::config::Config;
use crate::registry::Registry;

/// One per running seed, behind an `Arc`.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: Config,
    /// A `std` mutex is enough: it is never held across an `.await`, and every
    /// critical section is a few map operations (mini-redis `db.rs` explains
    /// why this beats an async mutex here).
    registry: Mutex<Registry>,
    /// Set when the list changed since the last save.
    dirty: AtomicBool,
    /// Wakes the persister after a change.
    changed: Notify,
    /// Wakes the DNS snapshot builder after a change (its own permit: the persister and
    /// the builder each see every change).
    snapshot_due: Notify,
    /// Pooled client for probes; answers are tiny, so its body bound is small.
    pub(crate) client: HttpClient,
    /// Nodes that answered a probe as no honest node does, for 24 hours: not listed,
    /// not served, their registrations refused (PROTOCOL.md section 9).
    discouraged: Mutex<Discouraged>,
    /// What the DNS side did (shared with its responder).
    pub(crate) dns_stats: std::sync::Arc<crate::dns::DnsStats>,
    /// What `GET /metrics` reports.
    pub(crate) metrics: crate::metrics::SeedMetrics,
}

/// `/info` answers are small JSON documents; refuse anything much bigger.
const MAX_INFO_BYTES: usize = 1024 * 1024;

impl Shared {
    pub(crate) fn new(config: Config, registry: Registry) -> Self {
        Self {
            config,
            registry: Mutex::new(registry),
            dirty: AtomicBool::new(false),
            changed: Notify::new(),
            snapshot_due: Notify::new(),
            client: HttpClient::with_max_response_bytes(MAX_INFO_BYTES),
            discouraged: Mutex::new(Discouraged::default()),
            dns_stats: std::sync::Arc::default(),
            metrics: crate::metrics::SeedMetrics::new(),
        }
    }

    /// Locks the list. A panic while it was held cannot leave it half-updated
    /// (each method changes one map entry), so a poisoned lock is still usable.
    pub(crate) fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Nodes discouraged now (metrics).
    pub(crate) fn discouraged_len(&self) -> usize {
        self.discouraged
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether the node at `address` is discouraged now.
    pub(crate) fn is_discouraged(&self, address: SocketAddr) -> bool {
        self.discouraged
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .covers_address(&address.to_string(), std::time::Instant::now())
    }

    /// Discourages the node at `address` for 24 hours and drops it from the list.
    pub(crate) fn discourage(&self, address: SocketAddr, why: &str) {
        let new = self
            .discouraged
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                BanKey::for_peer(&address.to_string()),
                std::time::Instant::now(),
            );
        if self.registry().remove(address) {
            self.mark_changed();
        }
        if new {
            tracing::warn!(%address, reason = %why, "node discouraged for 24 h");
        }
    }

    /// Marks the list as changed and wakes the persister.
    pub(crate) fn mark_changed(&self) {
        self.dirty.store(true, Ordering::Release);
        self.changed.notify_one();
        self.snapshot_due.notify_one();
    }

    /// Clears the changed mark, returning whether it was set.
    pub(crate) fn take_changed(&self) -> bool {
        self.dirty.swap(false, Ordering::AcqRel)
    }

    /// Completes at the next [`Shared::mark_changed`] (or at once if one
    /// happened since the last wake-up).
    pub(crate) async fn changed(&self) {
        self.changed.notified().await;
    }

    /// Completes at the next [`Shared::mark_changed`] (or at once if one happened since
    /// the last wake-up), for the DNS snapshot builder.
    pub(crate) async fn snapshot_due(&self) {
        self.snapshot_due.notified().await;
    }
}

/// A ticker for a task that runs a round every `period`: the first tick comes one period
/// from now (what it works on was just checked), ticks missed behind a slow round are
/// delayed rather than bunched, and the period is clamped to 1 ms .. 1 year (a zero period
/// would make `interval_at` panic; a huge one must not overflow).
pub(crate) fn period_ticker(period: std::time::Duration) -> tokio::time::Interval {
    let period = period.clamp(
        std::time::Duration::from_millis(1),
        std::time::Duration::from_secs(365 * 24 * 3600),
    );
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker
}

/// Unix seconds now (0 if the clock is before 1970).
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
