//! The crawler: the seed learns addresses from the `GET /nodes` of the nodes it lists,
//! probes each (`GET /info`: answers in time, right network) and lists those that pass,
//! so the list does not depend on nodes registering themselves.
//!
//! Addresses learned this way come from strangers, so the seed must not become a scanner
//! of networks it was not meant to reach: it probes only addresses inside
//! `--crawl-allow` (public addresses by default; a devnet on loopback or a test subnet
//! allows its own range). Every round is bounded: a sample of listed nodes is asked, at
//! most [`CrawlConfig::per_source`] new addresses are taken from each answer and
//! [`CrawlConfig::max_new`] in all, at most [`CrawlConfig::concurrency`] requests are in
//! flight, and an address tried recently is not tried again before
//! [`CrawlConfig::retry_after`] (the memory of tries is itself bounded). Listed nodes keep
//! the registry's bounds (`--max-nodes`, `--max-per-source`) and its re-probe and drop
//! rules.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

use ferro::http::ClientError;
use ferro::wire::NodeEntry;
use ipnet::IpNet;
use rand::seq::SliceRandom;

use tokio::task::JoinSet;

use crate::probe::is_dishonest_answer;
use crate::state::{period_ticker, unix_now, Shared};

/// Which addresses learned from strangers may be probed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrawlAllow {
    /// Globally routable addresses (see [`is_public`]).
    pub public: bool,
    /// Extra ranges, e.g. `127.0.0.0/8` for a devnet on loopback.
    pub nets: Vec<IpNet>,
}

impl CrawlAllow {
    /// Public addresses only: the default.
    pub fn public() -> Self {
        CrawlAllow {
            public: true,
            nets: Vec::new(),
        }
    }

    /// Nothing: the crawler does not run.
    pub fn none() -> Self {
        CrawlAllow {
            public: false,
            nets: Vec::new(),
        }
    }

    /// The union of `--crawl-allow` values; empty means the default (public).
    pub fn from_rules(rules: &[AllowRule]) -> Self {
        if rules.is_empty() {
            return Self::public();
        }
        let mut allow = Self::none();
        for rule in rules {
            match rule {
                AllowRule::Public => allow.public = true,
                AllowRule::None => {}
                AllowRule::Net(net) => allow.nets.push(*net),
            }
        }
        allow
    }

    /// Whether nothing may be probed.
    pub fn is_empty(&self) -> bool {
        !self.public && self.nets.is_empty()
    }

    /// Whether the crawler may probe `ip`. Unspecified, multicast and broadcast addresses
    /// never are, whatever the ranges say.
    pub fn allows(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        let never = ip.is_unspecified()
            || ip.is_multicast()
            || matches!(ip, IpAddr::V4(v4) if v4.is_broadcast());
        !never && ((self.public && is_public(ip)) || self.nets.iter().any(|n| n.contains(&ip)))
    }
}

impl fmt::Display for CrawlAllow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        if self.public {
            parts.push("public".into());
        }
        parts.extend(self.nets.iter().map(ToString::to_string));
        if parts.is_empty() {
            parts.push("none".into());
        }
        f.write_str(&parts.join(","))
    }
}

/// One `--crawl-allow` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllowRule {
    /// `public`: globally routable addresses.
    Public,
    /// `none`: nothing (the crawler is off unless another value allows something).
    None,
    /// A CIDR range (`10.0.0.0/8`) or one address.
    Net(IpNet),
}

impl FromStr for AllowRule {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        match text {
            "public" => return Ok(AllowRule::Public),
            "none" => return Ok(AllowRule::None),
            _ => {}
        }
        if let Ok(net) = text.parse::<IpNet>() {
            return Ok(AllowRule::Net(net.trunc()));
        }
        if let Ok(ip) = text.parse::<IpAddr>() {
            return Ok(AllowRule::Net(IpNet::from(ip)));
        }
        Err(format!(
            "expected `public`, `none`, a CIDR range like 10.0.0.0/8 or an IP address, got {:?}",
            text.chars().take(100).collect::<String>()
        ))
    }
}

/// Whether `ip` is globally routable: not private, loopback, link-local, shared (CGNAT),
/// documentation, benchmarking, reserved, multicast, 6to4/Teredo or unique-local.
pub fn is_public(ip: IpAddr) -> bool {
    const V4_SPECIAL: [&str; 15] = [
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
    ];
    // Only global unicast (2000::/3) counts, minus documentation, 6to4, Teredo and the
    // other IETF protocol assignments.
    const V6_SPECIAL: [&str; 4] = ["2001::/23", "2001:db8::/32", "2002::/16", "3fff::/20"];
    let in_any = |list: &[&str], ip: IpAddr| {
        list.iter()
            .filter_map(|net| net.parse::<IpNet>().ok())
            .any(|net| net.contains(&ip))
    };
    match ip.to_canonical() {
        ip @ IpAddr::V4(_) => !in_any(&V4_SPECIAL, ip),
        ip @ IpAddr::V6(v6) => (v6.segments()[0] & 0xe000) == 0x2000 && !in_any(&V6_SPECIAL, ip),
    }
}

/// Settings of the crawler.
#[derive(Debug, Clone)]
pub struct CrawlConfig {
    /// Pause between two rounds.
    pub interval: Duration,
    /// What may be probed; nothing means the crawler is off.
    pub allow: CrawlAllow,
    /// Listed nodes asked for their peers per round.
    pub sources: usize,
    /// New addresses taken from one node's answer per round.
    pub per_source: usize,
    /// New addresses probed per round in all.
    pub max_new: usize,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// An address probed (with or without success) is not probed again before this.
    pub retry_after: Duration,
    /// Most addresses remembered as tried.
    pub max_tried: usize,
}

impl Default for CrawlConfig {
    fn default() -> Self {
        CrawlConfig {
            interval: Duration::from_secs(60),
            allow: CrawlAllow::public(),
            sources: 16,
            per_source: 8,
            max_new: 64,
            concurrency: 16,
            retry_after: Duration::from_secs(3600),
            max_tried: 16_384,
        }
    }
}

/// Addresses probed recently, bounded in count: when full, expired entries go first,
/// then the oldest.
#[derive(Debug)]
pub struct Tried {
    entries: HashMap<SocketAddr, Instant>,
    capacity: usize,
    retry_after: Duration,
}

impl Tried {
    pub fn new(capacity: usize, retry_after: Duration) -> Self {
        Tried {
            entries: HashMap::new(),
            capacity: capacity.max(1),
            retry_after,
        }
    }

    /// Whether `address` was tried less than `retry_after` before `now`.
    pub fn is_recent(&self, address: SocketAddr, now: Instant) -> bool {
        self.entries
            .get(&address)
            .is_some_and(|at| now.saturating_duration_since(*at) < self.retry_after)
    }

    /// Remembers that `address` was tried at `now`.
    pub fn insert(&mut self, address: SocketAddr, now: Instant) {
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&address) {
            let retry_after = self.retry_after;
            self.entries
                .retain(|_, at| now.saturating_duration_since(*at) < retry_after);
            if self.entries.len() >= self.capacity {
                let oldest = self
                    .entries
                    .iter()
                    .min_by_key(|(_, at)| **at)
                    .map(|(a, _)| *a);
                if let Some(oldest) = oldest {
                    self.entries.remove(&oldest);
                }
            }
        }
        self.entries.insert(address, now);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// What one round did, for the log and the tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RoundReport {
    /// Listed nodes whose `/nodes` answered.
    pub asked: usize,
    /// New addresses probed.
    pub probed: usize,
    /// Of those, newly listed.
    pub listed: usize,
}

/// Runs a crawl round every `crawl.interval` until `stop` (not at all when nothing is
/// allowed).
pub(crate) async fn run_crawler(shared: Arc<Shared>, stop: CancellationToken) {
    let config = shared.config.crawl.clone();
    if config.allow.is_empty() {
        tracing::info!("crawler off (--crawl-allow none)");
        return;
    }
    tracing::info!(allow = %config.allow, "crawler on");
    let mut ticker = period_ticker(config.interval);
    let mut tried = Tried::new(config.max_tried, config.retry_after);
    while stop.run_until_cancelled(ticker.tick()).await.is_some() {
        let Some(report) = stop
            .run_until_cancelled(crawl_round(&shared, &mut tried))
            .await
        else {
            return;
        };
        if report.probed > 0 {
            tracing::debug!(?report, tried = tried.len(), "crawl round done");
        }
    }
}

/// One round: ask a sample of listed nodes for their peers, probe the new addresses.
pub(crate) async fn crawl_round(shared: &Arc<Shared>, tried: &mut Tried) -> RoundReport {
    let config = &shared.config.crawl;
    let mut report = RoundReport::default();
    let sources: Vec<SocketAddr> = shared
        .registry()
        .sample(config.sources, &mut rand::thread_rng())
        .into_iter()
        .map(|view| view.address)
        .collect();
    let lists = bounded_all(config.concurrency, sources, |source| {
        let shared = Arc::clone(shared);
        async move { (source, ask_nodes(&shared, source).await) }
    })
    .await;

    let now = Instant::now();
    let mut seen = HashSet::new();
    let mut candidates = Vec::new();
    for (source, list) in lists {
        let list = match list {
            Ok(list) => list,
            Err(error) => {
                tracing::debug!(%source, %error, "listed node did not list its peers");
                continue;
            }
        };
        report.asked += 1;
        let mut fresh: Vec<SocketAddr> = list
            .iter()
            .filter_map(|entry| entry.address.trim().parse::<SocketAddr>().ok())
            .filter(|address| seen.insert(*address) && is_candidate(shared, tried, *address, now))
            .collect();
        fresh.shuffle(&mut rand::thread_rng());
        candidates.extend(fresh.into_iter().take(config.per_source));
    }
    candidates.shuffle(&mut rand::thread_rng());
    candidates.truncate(config.max_new);
    for address in &candidates {
        tried.insert(*address, now);
    }
    report.probed = candidates.len();

    let results = bounded_all(config.concurrency, candidates, |address| {
        let shared = Arc::clone(shared);
        async move {
            let result = shared.probe_node(address).await;
            (address, result)
        }
    })
    .await;
    for (address, result) in results {
        match result {
            Ok(info) => match shared.registry().register(address, info.height, unix_now()) {
                Ok(true) => {
                    report.listed += 1;
                    tracing::info!(%address, height = info.height, "crawler listed node");
                }
                Ok(false) => {}
                Err(error) => tracing::debug!(%address, %error, "crawled node not listed"),
            },
            Err(error) if error.is_punishable() => shared.discourage(address, &error.to_string()),
            Err(error) => tracing::debug!(%address, %error, "crawled address failed its probe"),
        }
    }
    if report.listed > 0 {
        shared.mark_changed();
    }
    report
}

/// Whether a learned address may be probed now.
fn is_candidate(shared: &Shared, tried: &Tried, address: SocketAddr, now: Instant) -> bool {
    address.port() != 0
        && shared.config.crawl.allow.allows(address.ip())
        && !tried.is_recent(address, now)
        && !shared.is_discouraged(address)
        && {
            let registry = shared.registry();
            registry.get(address).is_none() && registry.check_admission(address).is_ok()
        }
}

/// `GET http://source/nodes`: the source's peers, a claim like anything a node says.
async fn ask_nodes(shared: &Shared, source: SocketAddr) -> Result<Vec<NodeEntry>, ClientError> {
    let url = format!("http://{source}/nodes");
    let result = shared
        .client
        .get_json::<Vec<NodeEntry>>(&url, shared.config.probe_timeout)
        .await;
    if let Err(error) = &result {
        if is_dishonest_answer(error) {
            shared.discourage(source, &error.to_string());
        }
    }
    result
}

/// Runs `work` on every item with at most `limit` in flight; results in completion order
/// (a task that panicked is left out).
async fn bounded_all<I, F, Fut, T>(limit: usize, items: Vec<I>, mut work: F) -> Vec<T>
where
    F: FnMut(I) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let mut pending = items.into_iter();
    let mut in_flight = JoinSet::new();
    let mut done = Vec::new();
    loop {
        while in_flight.len() < limit.max(1) {
            let Some(item) = pending.next() else { break };
            in_flight.spawn(work(item));
        }
        match in_flight.join_next().await {
            Some(Ok(result)) => done.push(result),
            Some(Err(_)) => {}
            None => return done,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn public_means_globally_routable() {
        for public in ["8.8.8.8", "1.1.1.1", "2a00:1450::1", "::ffff:8.8.8.8"] {
            assert!(is_public(ip(public)), "{public}");
        }
        for private in [
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.1.1",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.1",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "fd12::1",
            "2001:db8::1",
            "2002:a00:1::1",
            "2001::1",
            "ff02::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_public(ip(private)), "{private}");
        }
    }

    #[test]
    fn allow_rules_parse_and_combine() {
        let rules: Vec<AllowRule> = ["127.0.0.0/8", "10.77.0.5"]
            .iter()
            .map(|r| r.parse().unwrap())
            .collect();
        let allow = CrawlAllow::from_rules(&rules);
        assert!(allow.allows(ip("127.0.0.9")));
        assert!(allow.allows(ip("10.77.0.5")));
        assert!(!allow.allows(ip("10.77.0.6")));
        assert!(
            !allow.allows(ip("8.8.8.8")),
            "public is not implied by a range"
        );
        assert_eq!(allow.to_string(), "127.0.0.0/8,10.77.0.5/32");

        let default = CrawlAllow::from_rules(&[]);
        assert!(default.allows(ip("8.8.8.8")));
        assert!(!default.allows(ip("127.0.0.1")));
        assert!(CrawlAllow::from_rules(&[AllowRule::None]).is_empty());
        // Never the unspecified or multicast addresses, whatever is allowed.
        let everything = CrawlAllow::from_rules(&["0.0.0.0/0".parse().unwrap()]);
        assert!(!everything.allows(ip("0.0.0.0")));
        assert!(!everything.allows(ip("224.0.0.1")));
        assert!(!everything.allows(ip("255.255.255.255")));
        assert!(everything.allows(ip("10.0.0.1")));
        // Host bits are dropped.
        assert_eq!(
            "10.1.2.3/8".parse::<AllowRule>().unwrap(),
            AllowRule::Net("10.0.0.0/8".parse().unwrap())
        );
        for bad in ["", "10.0.0.0/33", "everything", "10.0.0.0/8/8"] {
            assert!(bad.parse::<AllowRule>().is_err(), "{bad}");
        }
    }

    /// The memory of tries is bounded: filling it far past its capacity keeps it there,
    /// evicting the oldest entries first.
    #[test]
    fn tried_addresses_are_bounded() {
        let mut tried = Tried::new(100, Duration::from_secs(60));
        let t0 = Instant::now();
        let address = |n: u32| SocketAddr::from((u32::to_be_bytes(n), 8000));
        for n in 0..10_000u32 {
            tried.insert(address(n), t0 + Duration::from_millis(n.into()));
        }
        assert_eq!(tried.len(), 100);
        let last = t0 + Duration::from_millis(9_999);
        assert!(tried.is_recent(address(9_999), last));
        assert!(!tried.is_recent(address(0), last), "the oldest went first");
        // Expired entries stop counting as recent, and make room first.
        let later = last + Duration::from_secs(61);
        assert!(!tried.is_recent(address(9_999), later));
        tried.insert(address(20_000), later);
        assert_eq!(tried.len(), 1);
    }

    /// A stand-in node on 127.0.0.1: `/info` (counted) and `/nodes` listing `peers`.
    async fn fake_node(peers: Vec<String>) -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
        use axum::routing::get;
        use ferro::http::{ApiError, ServerLimits};
        use ferro::wire::{Info, NodeEntry};
        use std::sync::atomic::{AtomicUsize, Ordering};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let probes = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&probes);
        let list: Vec<NodeEntry> = peers
            .iter()
            .map(|a| NodeEntry {
                address: a.clone(),
                height: 1,
                last_seen: 0,
            })
            .collect();
        let app = axum::Router::new()
            .route(
                "/info",
                get(move || {
                    counter.fetch_add(1, Ordering::SeqCst);
                    async { axum::Json(Info::bare("fake", &"aa".repeat(32), 1)) }
                }),
            )
            .route("/nodes", get(move || async move { axum::Json(list) }))
            .fallback(|| async { ApiError::not_found("fake") });
        tokio::spawn(ferro::http::server::serve(
            listener,
            app,
            ServerLimits::default(),
            None,
            CancellationToken::new(),
        ));
        (address, probes)
    }

    /// One round takes at most `per_source` new addresses from each answer and `max_new`
    /// in all, and does not try them again in the next round.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_round_is_bounded_per_source_and_in_all() {
        use std::sync::atomic::Ordering;
        let mut hidden = Vec::new();
        for _ in 0..30 {
            hidden.push(fake_node(Vec::new()).await);
        }
        let addresses = |range: std::ops::Range<usize>| -> Vec<String> {
            hidden[range].iter().map(|(a, _)| a.to_string()).collect()
        };
        let (lister_a, _) = fake_node(addresses(0..15)).await;
        let (lister_b, _) = fake_node(addresses(15..30)).await;
        let config = crate::Config {
            max_per_source: 100,
            crawl: CrawlConfig {
                allow: CrawlAllow::from_rules(&["127.0.0.0/8".parse().unwrap()]),
                per_source: 4,
                max_new: 6,
                ..CrawlConfig::default()
            },
            ..crate::Config::default()
        };
        let mut registry = crate::registry::Registry::new(1000, 100);
        registry.register(lister_a, 1, 1).unwrap();
        registry.register(lister_b, 1, 1).unwrap();
        let shared = Arc::new(Shared::new(config, registry));
        let mut tried = Tried::new(1000, Duration::from_secs(3600));

        let report = crawl_round(&shared, &mut tried).await;
        assert_eq!(
            report,
            RoundReport {
                asked: 2,
                probed: 6,
                listed: 6
            }
        );
        let probed = |range: std::ops::Range<usize>| {
            hidden[range]
                .iter()
                .filter(|(_, p)| p.load(Ordering::SeqCst) > 0)
                .count()
        };
        assert_eq!(probed(0..30), 6);
        assert!(
            probed(0..15) <= 4 && probed(15..30) <= 4,
            "at most 4 per source"
        );
        assert_eq!(shared.registry().len(), 8);

        // The next round tries new addresses only: listed ones are skipped, tried ones too.
        let report = crawl_round(&shared, &mut tried).await;
        assert_eq!(report.probed, 6);
        assert_eq!(probed(0..30), 12);
        assert!(hidden.iter().all(|(_, p)| p.load(Ordering::SeqCst) <= 1));
        assert_eq!(tried.len(), 12);
    }
}
