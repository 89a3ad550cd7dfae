//! Discouragement (PROTOCOL.md section 9): a peer that sent something a node never sends
//! honestly is disconnected and, for 24 hours, not dialled, not relayed to, not handed out
//! in `GET /nodes`, and its announcements are refused. No scores to game (Bitcoin Core
//! since PR 29575): one punishable answer is enough, and nothing that depends on our own
//! state, clock or load is ever punished.
//!
//! Keyed by source IP, except on loopback where many test nodes share 127.0.0.1: there a
//! peer we dialled is keyed by its `host:port`, and an inbound offender by its IP unless
//! it is 127.0.0.1 or ::1 (a wallet, a browser and local peers share those; they are
//! exempt, as they are from the per-source connection caps).

use super::group::ip_of;
use crate::consensus::BlockError;
use crate::error::Code;
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// How long a discouraged peer stays discouraged.
pub const DISCOURAGE_FOR: Duration = Duration::from_secs(24 * 60 * 60);
/// Entries kept at most; past it the one expiring soonest goes. A stranger can spend
/// addresses to fill it, but each entry costs him a punishable act from that address.
pub const MAX_DISCOURAGED: usize = 10_000;

/// What a discouragement is keyed by.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum BanKey {
    Ip(IpAddr),
    /// `host:port` of a loopback or named peer.
    Endpoint(String),
}

impl BanKey {
    /// The key for a peer we talk to at `address` (`host:port`).
    pub fn for_peer(address: &str) -> BanKey {
        match ip_of(address) {
            Some(ip) if !ip.is_loopback() => BanKey::Ip(ip),
            _ => BanKey::Endpoint(address.to_string()),
        }
    }

    /// The key for an inbound request's source; `None` for the exempt 127.0.0.1 and ::1.
    pub fn for_source(ip: IpAddr) -> Option<BanKey> {
        let ip = ip.to_canonical();
        if is_exempt(ip) {
            None
        } else {
            Some(BanKey::Ip(ip))
        }
    }

    /// Whether a peer at `address` falls under this key.
    pub fn covers(&self, address: &str) -> bool {
        match self {
            BanKey::Ip(ip) => ip_of(address) == Some(*ip),
            BanKey::Endpoint(e) => e == address,
        }
    }
}

/// 127.0.0.1 and ::1: shared by everything local, exempt from per-source punishment.
pub fn is_exempt(ip: IpAddr) -> bool {
    crate::http::server::is_exempt_loopback(ip)
}

/// Whether a relayed transaction refused with `code` shows a broken or hostile sender
/// (PROTOCOL.md section 9: these ten codes). Everything else depends on our own state
/// (a spent input, a full mempool, a fee floor) and is never punished.
pub fn punishes_relayed_tx(code: Code) -> bool {
    matches!(
        code,
        Code::Malformed
            | Code::BadVersion
            | Code::NoInputs
            | Code::NoOutputs
            | Code::CoinbaseNotAllowed
            | Code::DuplicateInput
            | Code::PubkeyMismatch
            | Code::BadSignature
            | Code::ValueOutOfRange
            | Code::OutputsExceedInputs
    )
}

/// Whether a block that breaks `rule`, on a parent held as valid, shows a broken or
/// hostile sender: every consensus rule but `time-too-new`, which depends on our clock.
pub fn punishes_block(rule: &BlockError) -> bool {
    !matches!(rule, BlockError::TimeTooNew { .. })
}

/// The discouraged keys with when each expires.
#[derive(Default, Debug)]
pub struct Discouraged {
    until: HashMap<BanKey, Instant>,
}

impl Discouraged {
    /// Discourages `key` from `now` on. Returns `true` when it was not discouraged yet.
    pub fn insert(&mut self, key: BanKey, now: Instant) -> bool {
        self.until.retain(|_, until| *until > now);
        if self.until.len() >= MAX_DISCOURAGED && !self.until.contains_key(&key) {
            if let Some(first) = self
                .until
                .iter()
                .min_by_key(|(_, until)| **until)
                .map(|(k, _)| k.clone())
            {
                self.until.remove(&first);
            }
        }
        self.until.insert(key, now + DISCOURAGE_FOR).is_none()
    }

    /// Whether a peer at `address` (`host:port`) is discouraged at `now`.
    pub fn covers_address(&self, address: &str, now: Instant) -> bool {
        let live = |k: &BanKey| self.until.get(k).is_some_and(|u| *u > now);
        live(&BanKey::Endpoint(address.to_string()))
            || ip_of(address).is_some_and(|ip| live(&BanKey::Ip(ip)))
    }

    /// Whether requests from `ip` are discouraged at `now`.
    pub fn covers_source(&self, ip: IpAddr, now: Instant) -> bool {
        self.until
            .get(&BanKey::Ip(ip.to_canonical()))
            .is_some_and(|u| *u > now)
    }

    pub fn len(&self) -> usize {
        self.until.len()
    }

    pub fn is_empty(&self) -> bool {
        self.until.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_peers_are_keyed_by_endpoint_others_by_ip() {
        let now = Instant::now();
        let mut d = Discouraged::default();
        d.insert(BanKey::for_peer("127.0.0.1:8001"), now);
        assert!(d.covers_address("127.0.0.1:8001", now));
        assert!(!d.covers_address("127.0.0.1:8002", now));
        d.insert(BanKey::for_peer("10.0.0.5:8001"), now);
        assert!(d.covers_address("10.0.0.5:9999", now));
        assert!(d.covers_source("10.0.0.5".parse().expect("ip"), now));
    }

    #[test]
    fn exempt_sources_have_no_key_other_loopback_addresses_do() {
        assert_eq!(BanKey::for_source("127.0.0.1".parse().expect("ip")), None);
        assert_eq!(BanKey::for_source("::1".parse().expect("ip")), None);
        let key = BanKey::for_source("127.0.0.2".parse().expect("ip"));
        assert_eq!(key, Some(BanKey::Ip("127.0.0.2".parse().expect("ip"))));
        assert!(key.is_some_and(|k| k.covers("127.0.0.2:8000") && !k.covers("127.0.0.3:8000")));
    }

    #[test]
    fn discouragement_expires_after_a_day() {
        let now = Instant::now();
        let mut d = Discouraged::default();
        assert!(d.insert(BanKey::for_peer("10.0.0.5:1"), now));
        assert!(!d.insert(BanKey::for_peer("10.0.0.5:1"), now));
        assert!(d.covers_address("10.0.0.5:1", now + DISCOURAGE_FOR - Duration::from_secs(1)));
        assert!(!d.covers_address("10.0.0.5:1", now + DISCOURAGE_FOR));
    }

    #[test]
    fn the_table_is_bounded() {
        let now = Instant::now();
        let mut d = Discouraged::default();
        for i in 0..(MAX_DISCOURAGED as u32 + 500) {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            d.insert(BanKey::Ip(ip), now + Duration::from_millis(u64::from(i)));
        }
        assert_eq!(d.len(), MAX_DISCOURAGED);
        // The newest stays.
        let last = IpAddr::from(std::net::Ipv4Addr::from(
            0x0a00_0000 + MAX_DISCOURAGED as u32 + 499,
        ));
        assert!(d.covers_source(last, now + Duration::from_secs(1)));
    }
}
