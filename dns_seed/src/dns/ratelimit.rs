//! The per-source query budget of the DNS side: a token bucket per source, in a table
//! bounded in entries (and so in bytes), whose overflow shares one bucket.
//!
//! A source is an IPv4 address or the /64 of an IPv6 address (one host usually owns a
//! whole /64, so counting its addresses one by one would give it 2^64 budgets). UDP sources
//! can be spoofed: the table is the part an attacker can try to fill, so it never grows past
//! `capacity` entries. When it is full, entries whose bucket has refilled (a source idle long
//! enough to be indistinguishable from a new one) are swept, at most once per
//! [`SWEEP_EVERY`]; if it is still full, new sources share one overflow bucket until room
//! appears. Sources already in the table keep their own budget, so a flood of spoofed
//! addresses cannot reset the budget of a source that is being limited.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How often a full table may be swept (a sweep walks every entry).
pub const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// Who a query is charged to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceKey {
    V4(u32),
    /// The /64 prefix of an IPv6 address.
    V6(u64),
}

impl SourceKey {
    /// The key of `ip`; IPv4-mapped IPv6 addresses count as their IPv4 address.
    pub fn of(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(v4) => SourceKey::V4(u32::from(v4)),
            IpAddr::V6(v6) => SourceKey::V6((u128::from(v6) >> 64) as u64),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn full(burst: f64, now: Instant) -> Self {
        Bucket {
            tokens: burst,
            last: now,
        }
    }

    /// Refills for the time since the last query, then takes one token if there is one.
    fn take(&mut self, rate: f64, burst: f64, now: Instant) -> bool {
        self.refill(rate, burst, now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn refill(&mut self, rate: f64, burst: f64, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(burst);
        self.last = self.last.max(now);
    }

    /// Whether the bucket would be full now, i.e. the entry carries no information.
    fn is_idle(&self, rate: f64, burst: f64, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens + elapsed * rate >= burst
    }
}

#[derive(Debug)]
struct Table {
    buckets: HashMap<SourceKey, Bucket>,
    /// Shared by new sources while the table is full.
    overflow: Bucket,
    last_sweep: Option<Instant>,
}

/// Token buckets per source; see the module documentation.
#[derive(Debug)]
pub struct RateLimiter {
    /// Queries per second a source may sustain.
    rate: f64,
    /// Queries a source may send at once after being idle.
    burst: f64,
    capacity: usize,
    /// A `std` mutex: held for one map operation, never across an `.await`.
    table: Mutex<Table>,
}

impl RateLimiter {
    /// `rate` queries per second per source, bursts of `burst`, at most `capacity` sources
    /// tracked (at least 1).
    pub fn new(rate: f64, burst: u32, capacity: usize) -> Self {
        let burst = f64::from(burst.max(1));
        let rate = if rate.is_finite() && rate > 0.0 {
            rate
        } else {
            0.0
        };
        RateLimiter {
            rate,
            burst,
            capacity: capacity.max(1),
            table: Mutex::new(Table {
                buckets: HashMap::new(),
                overflow: Bucket::full(burst, Instant::now()),
                last_sweep: None,
            }),
        }
    }

    /// Whether a query from `ip` at `now` is within its budget (and charges it if so).
    pub fn check(&self, ip: IpAddr, now: Instant) -> bool {
        let key = SourceKey::of(ip);
        let (rate, burst) = (self.rate, self.burst);
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(bucket) = table.buckets.get_mut(&key) {
            return bucket.take(rate, burst, now);
        }
        if table.buckets.len() >= self.capacity {
            let due = table
                .last_sweep
                .is_none_or(|last| now.saturating_duration_since(last) >= SWEEP_EVERY);
            if due {
                table.last_sweep = Some(now);
                table.buckets.retain(|_, b| !b.is_idle(rate, burst, now));
            }
            if table.buckets.len() >= self.capacity {
                return table.overflow.take(rate, burst, now);
            }
        }
        let mut bucket = Bucket::full(burst, now);
        let allowed = bucket.take(rate, burst, now);
        table.buckets.insert(key, bucket);
        allowed
    }

    /// Sources tracked now.
    pub fn tracked(&self) -> usize {
        self.table
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .buckets
            .len()
    }

    /// Most sources ever tracked at once.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Upper bound on the table's memory: entries times their size, doubled for the hash
    /// map's spare room.
    pub fn max_bytes(&self) -> usize {
        self.capacity
            .saturating_mul(std::mem::size_of::<(SourceKey, Bucket)>() + 1)
            .saturating_mul(2)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn v4(n: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(n))
    }

    #[test]
    fn a_source_gets_its_burst_then_its_rate() {
        let limiter = RateLimiter::new(2.0, 5, 100);
        let t0 = Instant::now();
        let ip = v4(1);
        let allowed = (0..20).filter(|_| limiter.check(ip, t0)).count();
        assert_eq!(allowed, 5, "the burst, then nothing");
        // Half a second refills one token at 2 per second.
        let t1 = t0 + Duration::from_millis(500);
        assert!(limiter.check(ip, t1));
        assert!(!limiter.check(ip, t1));
        // Another source is not affected.
        assert!(limiter.check(v4(2), t1));
        // Idle long enough: the burst again, never more.
        let t2 = t1 + Duration::from_secs(3600);
        assert_eq!((0..20).filter(|_| limiter.check(ip, t2)).count(), 5);
    }

    #[test]
    fn ipv6_sources_are_counted_by_their_64() {
        let limiter = RateLimiter::new(1.0, 3, 100);
        let now = Instant::now();
        let base = u128::from("2001:db8:1:2::".parse::<Ipv6Addr>().unwrap());
        let allowed = (0..30u128)
            .filter(|i| limiter.check(IpAddr::V6(Ipv6Addr::from(base + i)), now))
            .count();
        assert_eq!(allowed, 3, "every address of one /64 shares a budget");
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert!(limiter.check(other, now));
        // A mapped IPv4 address is the IPv4 source.
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        let plain: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(SourceKey::of(mapped), SourceKey::of(plain));
    }

    /// Spoofed sources by the hundred thousand: the table stays at its capacity, tracked
    /// sources keep their budget, and new ones share the overflow bucket.
    #[test]
    fn a_flood_of_sources_fills_the_table_and_no_more() {
        let capacity = 1000;
        let limiter = RateLimiter::new(1.0, 2, capacity);
        let t0 = Instant::now();
        let limited = v4(u32::MAX);
        assert!(limiter.check(limited, t0));
        assert!(limiter.check(limited, t0));
        assert!(!limiter.check(limited, t0), "out of budget");
        let allowed = (0..100_000u32)
            .filter(|n| limiter.check(v4(*n), t0))
            .count();
        assert_eq!(limiter.tracked(), capacity);
        assert_eq!(
            allowed,
            (capacity - 1) + 2,
            "each tracked source gets its budget, those past the capacity share one bucket"
        );
        assert!(
            !limiter.check(limited, t0),
            "the flood did not reset a limited source"
        );
        // Bytes: bounded by the entry count.
        assert!(limiter.max_bytes() < 100 * capacity);

        // Once the entries are idle (refilled), a sweep makes room for new sources.
        let later = t0 + Duration::from_secs(10);
        assert!(limiter.check(v4(5_000_000), later));
        assert!(limiter.tracked() <= capacity);
        assert!(limiter.check(v4(5_000_001), later));
    }

    #[test]
    fn odd_settings_do_not_panic() {
        let now = Instant::now();
        for (rate, burst, capacity) in [(0.0, 0, 0), (f64::NAN, 1, 1), (f64::INFINITY, 1, 1)] {
            let limiter = RateLimiter::new(rate, burst, capacity);
            assert!(limiter.check(v4(1), now), "the burst is at least 1");
            let _ = limiter.check(v4(2), now + Duration::from_secs(u32::MAX.into()));
            let _ = limiter.check(v4(1), now - Duration::from_secs(1).min(now.elapsed()));
        }
    }
}
