//! State shared by the HTTP handlers, the prober and the persister.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use ferro::http::HttpClient;
use tokio::sync::{watch, Notify};

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
    /// Pooled client for probes; answers are tiny, so its body bound is small.
    pub(crate) client: HttpClient,
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
            client: HttpClient::with_max_response_bytes(MAX_INFO_BYTES),
        }
    }

    /// Locks the list. A panic while it was held cannot leave it half-updated
    /// (each method changes one map entry), so a poisoned lock is still usable.
    pub(crate) fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Marks the list as changed and wakes the persister.
    pub(crate) fn mark_changed(&self) {
        self.dirty.store(true, Ordering::Release);
        self.changed.notify_one();
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
}

/// Completes once the stop flag is raised, or its sender is gone.
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is not `Send`; drop it at once.
    let _ = stop.wait_for(|stopping| *stopping).await.map(|_| ());
}

/// Unix seconds now (0 if the clock is before 1970).
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
