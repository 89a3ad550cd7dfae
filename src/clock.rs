//! The wall clock, read in one place: unix seconds (0 if the clock is before 1970).
//!
//! Code that must be testable across long spans (mempool expiry) reads the time through
//! a [`Clock`], which tests replace with one they move ([`ManualClock`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Local unix time in seconds.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A source of unix seconds.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The system clock ([`unix_now`]).
pub fn system() -> Clock {
    Arc::new(unix_now)
}

/// A clock that only moves when told to (tests).
#[derive(Clone, Debug, Default)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    pub fn new(now: u64) -> ManualClock {
        ManualClock(Arc::new(AtomicU64::new(now)))
    }

    pub fn now(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }

    pub fn advance(&self, secs: u64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }

    /// This clock as a [`Clock`].
    pub fn clock(&self) -> Clock {
        let inner = self.0.clone();
        Arc::new(move || inner.load(Ordering::SeqCst))
    }
}
