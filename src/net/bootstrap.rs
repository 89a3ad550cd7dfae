//! Bootstrapping through DNS seeds (`--dns-seed NAME`), the way Bitcoin nodes find their
//! first peers: resolve `SRV _ferro._tcp.NAME` (addresses with ports, the targets'
//! addresses in the additional section), then `A`/`AAAA` of `NAME` itself (addresses on
//! the network's default port). What comes back is a list of candidates like a seed
//! server's `GET /nodes`: each is probed before it becomes a peer, so a lying DNS answer
//! costs a probe, nothing more (PROTOCOL.md section 9).
//!
//! Lookups go to `--dns-server IP:PORT` when given, else to the system resolver
//! (`/etc/resolv.conf`). Everything is bounded: each name gets one deadline for all its
//! lookups, at most [`MAX_SRV`] `SRV` records are read, at most [`MAX_TARGET_LOOKUPS`]
//! targets missing from the additional section are resolved separately, and at most
//! [`MAX_CANDIDATES`] addresses are returned.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use hickory_resolver::config::{
    ConnectionConfig, LookupIpStrategy, NameServerConfig, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use hickory_resolver::Resolver;
use rand::seq::SliceRandom;

/// The port a node assumes for an address given without one when the network file names
/// none: `full_node`'s default `--listen` port.
pub const DEFAULT_PORT: u16 = 8000;
/// The service label of the `SRV` records (`_ferro._tcp.NAME`).
pub const SRV_SERVICE: &str = "_ferro._tcp";
/// Most `SRV` records read from one answer.
pub const MAX_SRV: usize = 100;
/// Most `SRV` targets resolved one by one when the answer did not carry their addresses.
pub const MAX_TARGET_LOOKUPS: usize = 16;
/// Most candidates one bootstrap returns.
pub const MAX_CANDIDATES: usize = 256;
/// The seeds are asked again at most this often while the node has peers (their answers
/// have a 60-second TTL, so asking sooner would get the same answer from a cache).
pub const RESEED_INTERVAL: Duration = Duration::from_secs(60);

/// Why the DNS seeds cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("--dns-seed {name:?} is not a valid domain name: {reason}")]
    BadName { name: String, reason: String },
    #[error("cannot set up the DNS resolver: {0}")]
    Resolver(String),
}

/// Parses a DNS seed name; it is taken as fully qualified (no search domains).
pub fn parse_seed_name(text: &str) -> Result<Name, BootstrapError> {
    let mut name = Name::from_ascii(text.trim()).map_err(|e| BootstrapError::BadName {
        name: text.chars().take(300).collect(),
        reason: e.to_string(),
    })?;
    if name.is_root() {
        return Err(BootstrapError::BadName {
            name: text.to_owned(),
            reason: "the root is not a seed".into(),
        });
    }
    name.set_fqdn(true);
    Ok(name)
}

/// The DNS seeds of a node and when they were last asked.
pub struct DnsSeeds {
    resolver: Resolver<TokioRuntimeProvider>,
    names: Vec<Name>,
    default_port: u16,
    timeout: Duration,
    last: Option<Instant>,
}

impl std::fmt::Debug for DnsSeeds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsSeeds")
            .field("names", &self.names)
            .field("default_port", &self.default_port)
            .finish_non_exhaustive()
    }
}

impl DnsSeeds {
    /// Seeds `names`, asked through `server` (or the system resolver), with addresses
    /// from `A`/`AAAA` answers on `default_port`; `timeout` bounds all lookups of a name.
    pub fn new(
        names: &[String],
        server: Option<SocketAddr>,
        default_port: u16,
        timeout: Duration,
    ) -> Result<DnsSeeds, BootstrapError> {
        let names = names
            .iter()
            .map(|n| parse_seed_name(n))
            .collect::<Result<Vec<_>, _>>()?;
        let mut options = ResolverOpts::default();
        options.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
        options.timeout = timeout.min(Duration::from_secs(5));
        options.attempts = 2;
        let builder = match server {
            Some(server) => {
                let connection = |mut c: ConnectionConfig| {
                    c.port = server.port();
                    c
                };
                let name_server = NameServerConfig::new(
                    server.ip(),
                    true,
                    vec![
                        connection(ConnectionConfig::udp()),
                        connection(ConnectionConfig::tcp()),
                    ],
                );
                Resolver::builder_with_config(
                    ResolverConfig::from_parts(None, Vec::new(), vec![name_server]),
                    TokioRuntimeProvider::default(),
                )
            }
            None => Resolver::builder_tokio().map_err(|e| {
                BootstrapError::Resolver(format!(
                    "cannot read the system resolver configuration ({e}); give --dns-server IP:PORT"
                ))
            })?,
        };
        let resolver = builder
            .with_options(options)
            .build()
            .map_err(|e| BootstrapError::Resolver(e.to_string()))?;
        Ok(DnsSeeds {
            resolver,
            names,
            default_port,
            timeout,
            last: None,
        })
    }

    /// Whether the seeds should be asked now: the peer table has room, and either the
    /// node has no peer at all or [`RESEED_INTERVAL`] passed since the last time.
    pub fn is_due(&self, peers: usize, max_peers: usize, now: Instant) -> bool {
        !self.names.is_empty()
            && peers < max_peers
            && (peers == 0
                || self
                    .last
                    .is_none_or(|last| now.saturating_duration_since(last) >= RESEED_INTERVAL))
    }

    /// Resolves every seed and returns up to [`MAX_CANDIDATES`] distinct addresses in
    /// random order.
    pub async fn candidates(&mut self) -> Vec<SocketAddr> {
        self.last = Some(Instant::now());
        let mut found = Vec::new();
        for name in &self.names {
            match tokio::time::timeout(self.timeout, self.resolve(name)).await {
                Ok(addresses) => {
                    tracing::debug!(seed = %name, found = addresses.len(), "dns seed answered");
                    found.extend(addresses);
                }
                Err(_) => tracing::warn!(seed = %name, "dns seed did not answer in time"),
            }
        }
        let mut seen = HashSet::new();
        found.retain(|a| seen.insert(*a));
        found.shuffle(&mut rand::thread_rng());
        found.truncate(MAX_CANDIDATES);
        found
    }

    /// `SRV` then `A`/`AAAA` of one seed.
    async fn resolve(&self, name: &Name) -> Vec<SocketAddr> {
        let mut found = self.resolve_srv(name).await;
        match self.resolver.lookup_ip(name.clone()).await {
            Ok(ips) => found.extend(ips.iter().map(|ip| SocketAddr::new(ip, self.default_port))),
            Err(error) => tracing::debug!(seed = %name, %error, "no A/AAAA from dns seed"),
        }
        found
    }

    async fn resolve_srv(&self, name: &Name) -> Vec<SocketAddr> {
        let srv_name = match Name::from_ascii(SRV_SERVICE).and_then(|s| s.append_domain(name)) {
            Ok(srv_name) => srv_name,
            Err(error) => {
                tracing::debug!(seed = %name, %error, "no SRV name for this seed");
                return Vec::new();
            }
        };
        let lookup = match self.resolver.lookup(srv_name, RecordType::SRV).await {
            Ok(lookup) => lookup,
            Err(error) => {
                tracing::debug!(seed = %name, %error, "no SRV from dns seed");
                return Vec::new();
            }
        };
        // Addresses of the targets, from the additional section.
        let mut addresses: HashMap<Name, Vec<IpAddr>> = HashMap::new();
        for record in lookup.additionals().iter().chain(lookup.answers()) {
            let ip = match &record.data {
                RData::A(a) => IpAddr::V4(a.0),
                RData::AAAA(a) => IpAddr::V6(a.0),
                _ => continue,
            };
            addresses
                .entry(record.name.to_lowercase())
                .or_default()
                .push(ip);
        }
        let mut found = Vec::new();
        let mut lookups_left = MAX_TARGET_LOOKUPS;
        let services = lookup
            .answers()
            .iter()
            .filter_map(|record| match &record.data {
                RData::SRV(srv) => Some((srv.target.to_lowercase(), srv.port)),
                _ => None,
            });
        for (target, port) in services.take(MAX_SRV) {
            if port == 0 {
                continue;
            }
            let ips = match addresses.get(&target) {
                Some(ips) => ips.clone(),
                None if lookups_left > 0 => {
                    lookups_left -= 1;
                    match self.resolver.lookup_ip(target.clone()).await {
                        Ok(ips) => ips.iter().collect(),
                        Err(_) => Vec::new(),
                    }
                }
                None => Vec::new(),
            };
            found.extend(ips.into_iter().map(|ip| SocketAddr::new(ip, port)));
        }
        found
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn seed_names_are_fully_qualified() {
        assert_eq!(
            parse_seed_name("seed.devnet.ferro").unwrap().to_ascii(),
            "seed.devnet.ferro."
        );
        assert!(parse_seed_name(".").is_err());
        assert!(parse_seed_name("a..b").is_err());
    }

    #[tokio::test]
    async fn seeds_are_asked_when_the_node_needs_peers() {
        let mut seeds = DnsSeeds::new(
            &["seed.test.ferro".to_owned()],
            Some("127.0.0.1:1".parse().unwrap()),
            8333,
            Duration::from_secs(1),
        )
        .unwrap();
        let now = Instant::now();
        assert!(seeds.is_due(0, 8, now));
        assert!(seeds.is_due(3, 8, now), "never asked yet");
        assert!(!seeds.is_due(8, 8, now), "the table is full");
        seeds.last = Some(now);
        assert!(seeds.is_due(0, 8, now), "no peer at all: ask every round");
        assert!(!seeds.is_due(3, 8, now));
        assert!(seeds.is_due(3, 8, now + RESEED_INTERVAL));
        let none = DnsSeeds::new(
            &[],
            Some("127.0.0.1:1".parse().unwrap()),
            1,
            Duration::from_secs(1),
        )
        .unwrap();
        assert!(!none.is_due(0, 8, now));
    }

    /// A hostile DNS server on 127.0.0.1: 500 `SRV` records without addresses, 1000 `A`
    /// records at the name itself (both only over TCP: UDP answers are cut), and an
    /// address for any target asked. Counts the distinct targets looked up.
    async fn hostile_dns() -> (SocketAddr, Arc<Mutex<HashSet<String>>>) {
        use hickory_resolver::proto::op::{Message, MessageType, OpCode};
        use hickory_resolver::proto::rr::rdata::{A, SRV};
        use hickory_resolver::proto::rr::Record;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        fn answer(query: &[u8], targets: &Mutex<HashSet<String>>, udp: bool) -> Option<Vec<u8>> {
            let request = Message::from_vec(query).ok()?;
            let question = request.queries.first()?.clone();
            let name = question.name().to_lowercase().to_ascii();
            let mut reply = Message::new(request.metadata.id, MessageType::Response, OpCode::Query);
            reply.add_query(question.clone());
            let records: Vec<Record> = match question.query_type() {
                RecordType::SRV => (0..500u16)
                    .map(|i| {
                        let target = Name::from_ascii(format!("t{i}.hostile.test.")).unwrap();
                        Record::from_rdata(
                            question.name().clone(),
                            60,
                            RData::SRV(SRV::new(1, 1, 1000 + i, target)),
                        )
                    })
                    .collect(),
                RecordType::A if name == "hostile.test." => (0..1000u32)
                    .map(|i| {
                        let ip = std::net::Ipv4Addr::from(0x0a00_0000 + i);
                        Record::from_rdata(question.name().clone(), 60, RData::A(A(ip)))
                    })
                    .collect(),
                RecordType::A => {
                    targets.lock().unwrap().insert(name);
                    vec![Record::from_rdata(
                        question.name().clone(),
                        60,
                        RData::A(A([10, 9, 9, 9].into())),
                    )]
                }
                _ => Vec::new(),
            };
            if udp && records.len() > 10 {
                reply.metadata.truncation = true;
            } else {
                reply.add_answers(records);
            }
            reply.to_vec().ok()
        }

        let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let address = udp.local_addr().unwrap();
        let tcp = tokio::net::TcpListener::bind(address).await.unwrap();
        let targets = Arc::new(Mutex::new(HashSet::new()));
        let seen = Arc::clone(&targets);
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            while let Ok((n, from)) = udp.recv_from(&mut buf).await {
                if let Some(bytes) = answer(&buf[..n], &seen, true) {
                    let _ = udp.send_to(&bytes, from).await;
                }
            }
        });
        let seen = Arc::clone(&targets);
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = tcp.accept().await {
                let seen = Arc::clone(&seen);
                tokio::spawn(async move {
                    let mut length = [0u8; 2];
                    while stream.read_exact(&mut length).await.is_ok() {
                        let mut query = vec![0u8; usize::from(u16::from_be_bytes(length))];
                        if stream.read_exact(&mut query).await.is_err() {
                            return;
                        }
                        let Some(bytes) = answer(&query, &seen, false) else {
                            return;
                        };
                        let prefix = u16::try_from(bytes.len()).unwrap().to_be_bytes();
                        if stream.write_all(&prefix).await.is_err()
                            || stream.write_all(&bytes).await.is_err()
                        {
                            return;
                        }
                    }
                });
            }
        });
        (address, targets)
    }

    /// A DNS server that answers far more than asked gets a bounded bootstrap: at most
    /// 100 `SRV` records read, 16 targets looked up, 256 candidates kept.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flooding_dns_answer_is_cut_to_the_bounds() {
        let (server, targets) = hostile_dns().await;
        let mut seeds = DnsSeeds::new(
            &["hostile.test".to_owned()],
            Some(server),
            8333,
            Duration::from_secs(20),
        )
        .unwrap();
        let found = seeds.candidates().await;
        assert_eq!(found.len(), MAX_CANDIDATES, "cut to the bound");
        let looked_up = targets.lock().unwrap().len();
        assert!(
            (1..=MAX_TARGET_LOOKUPS).contains(&looked_up),
            "{looked_up} targets looked up"
        );
        // Both sources made it in: targets (port 1000+) and the name's own A records on
        // the default port.
        assert!(found.iter().any(|a| a.port() == 8333));
        assert!(found.iter().any(|a| a.port() != 8333));
        assert_eq!(
            found.iter().collect::<HashSet<_>>().len(),
            found.len(),
            "no duplicates"
        );
    }
}
