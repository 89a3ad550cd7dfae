//! Settings of a running seed, independent of how they were given (flags,
//! environment, or a test building them directly).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use ferro::http::ServerLimits;

use crate::crawl::CrawlConfig;
use crate::dns::DnsConfig;

/// Everything [`crate::run`] needs besides the listener.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the node list is saved; `None` keeps it in memory only.
    pub data_file: Option<PathBuf>,
    /// Pause between two re-probe rounds over every listed node.
    pub probe_interval: Duration,
    /// Bound on one probe (connect, request, answer), at registration and re-probe.
    pub probe_timeout: Duration,
    /// Probes in flight at once during a re-probe round.
    pub probe_concurrency: usize,
    /// A node is dropped after this many failed re-probes in a row.
    pub max_failures: u32,
    /// Bound on the whole list, so the seed's memory and file stay small.
    pub max_nodes: usize,
    /// Bound on entries sharing one source address (PROTOCOL.md section 8: 32).
    pub max_per_source: usize,
    /// When set, only nodes whose `/info` reports this genesis hash are listed.
    pub genesis_hash: Option<GenesisHash>,
    /// Bound on a request body; a registration is a few dozen bytes.
    pub max_body_bytes: usize,
    /// Connection bounds of the HTTP server.
    pub server: ServerLimits,
    /// Requests per second one source address may average (bursts of twice that);
    /// 127.0.0.1 and ::1 are exempt.
    pub requests_per_source: u32,
    /// The DNS side; `None` serves HTTP only. Its sockets are passed to [`crate::serve`].
    pub dns: Option<DnsConfig>,
    /// The crawler (learning nodes from listed nodes' `GET /nodes`).
    pub crawl: CrawlConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_file: None,
            probe_interval: Duration::from_secs(60),
            probe_timeout: Duration::from_secs(5),
            probe_concurrency: 16,
            max_failures: 3,
            max_nodes: 10_000,
            max_per_source: 32,
            genesis_hash: None,
            max_body_bytes: 64 * 1024,
            server: ServerLimits::default(),
            requests_per_source: 50,
            dns: None,
            crawl: CrawlConfig::default(),
        }
    }
}

/// A genesis block hash: 64 lower-case hex digits (upper case is accepted and
/// lowered when parsing).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GenesisHash(String);

/// Why a string is not a genesis hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a genesis hash is 64 hex digits, got {0:?}")]
pub struct GenesisHashError(String);

impl FromStr for GenesisHash {
    type Err = GenesisHashError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Self(s.to_ascii_lowercase()))
        } else {
            Err(GenesisHashError(s.chars().take(80).collect()))
        }
    }
}

impl GenesisHash {
    /// The lower-case hex form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for GenesisHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn genesis_hash_parsing() {
        let upper = "AB".repeat(32);
        assert_eq!(
            upper.parse::<GenesisHash>().unwrap().as_str(),
            "ab".repeat(32)
        );
        assert!("ab".parse::<GenesisHash>().is_err());
        assert!("zz".repeat(32).parse::<GenesisHash>().is_err());
        assert!("é".repeat(32).parse::<GenesisHash>().is_err());
    }
}
