//! Network groups (PROTOCOL.md section 9): the peer table caps how many entries one group
//! may hold, so one source (one /16, one ISP) cannot fill it.

use std::net::{IpAddr, SocketAddr};

/// The group a peer's address belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NetGroup {
    /// The /16 of an IPv4 address (IPv4-mapped IPv6 included).
    V4([u8; 2]),
    /// The /32 of an IPv6 address.
    V6([u16; 2]),
    /// Each loopback address is a group of its own, so 127.0.0.2 and 127.0.0.3 can stand
    /// in for two hosts in tests.
    Loopback(IpAddr),
    /// A host name (not resolved here): the name itself.
    Name(String),
}

/// The host part of `host:port` (brackets of an IPv6 literal removed).
fn host_of(address: &str) -> &str {
    let host = address.rsplit_once(':').map_or(address, |(h, _)| h);
    host.trim_start_matches('[').trim_end_matches(']')
}

/// The IP of a `host:port` address, when the host is an IP literal.
pub fn ip_of(address: &str) -> Option<IpAddr> {
    address
        .parse::<SocketAddr>()
        .map(|a| a.ip().to_canonical())
        .ok()
}

impl NetGroup {
    pub fn of_ip(ip: IpAddr) -> NetGroup {
        let ip = ip.to_canonical();
        if ip.is_loopback() {
            return NetGroup::Loopback(ip);
        }
        match ip {
            IpAddr::V4(v4) => {
                let o = v4.octets();
                NetGroup::V4([o[0], o[1]])
            }
            IpAddr::V6(v6) => {
                let s = v6.segments();
                NetGroup::V6([s[0], s[1]])
            }
        }
    }

    /// The group of a `host:port` peer address.
    pub fn of_address(address: &str) -> NetGroup {
        match ip_of(address) {
            Some(ip) => NetGroup::of_ip(ip),
            None => NetGroup::Name(host_of(address).to_ascii_lowercase()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_groups_by_slash_16() {
        assert_eq!(
            NetGroup::of_address("10.1.2.3:8000"),
            NetGroup::of_address("10.1.200.9:9000")
        );
        assert_ne!(
            NetGroup::of_address("10.1.2.3:8000"),
            NetGroup::of_address("10.2.2.3:8000")
        );
    }

    #[test]
    fn mapped_ipv6_is_ipv4_and_ipv6_groups_by_slash_32() {
        assert_eq!(
            NetGroup::of_address("[::ffff:10.1.2.3]:8000"),
            NetGroup::of_address("10.1.9.9:1")
        );
        assert_eq!(
            NetGroup::of_address("[2001:db8:1::1]:8000"),
            NetGroup::of_address("[2001:db8:ffff::2]:8000")
        );
        assert_ne!(
            NetGroup::of_address("[2001:db8::1]:8000"),
            NetGroup::of_address("[2001:db9::1]:8000")
        );
    }

    #[test]
    fn each_loopback_address_is_its_own_group() {
        assert_ne!(
            NetGroup::of_address("127.0.0.2:8000"),
            NetGroup::of_address("127.0.0.3:8000")
        );
        assert_eq!(
            NetGroup::of_address("127.0.0.2:8000"),
            NetGroup::of_address("127.0.0.2:9000")
        );
        assert_eq!(
            NetGroup::of_address("localhost:8000"),
            NetGroup::Name("localhost".into())
        );
    }
}
