//! Shared helpers: fake nodes, an in-process seed (with or without DNS), the seed binary
//! as a process, a raw HTTP client, a DNS client, `dig`, and polling with a deadline.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

pub mod dig;
pub mod dns;
pub mod process;

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dns_seed::{Config, StoreError};
use ferro::http::{self, ApiError, ServerLimits};
use ferro::wire::{Info, NodeEntry};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub const GENESIS_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
pub const GENESIS_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

/// Generous bound for anything the tests wait for.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// A stand-in for a full node: answers `GET /info` with a chosen genesis hash
/// and a height the test can change, and `GET /nodes` with the addresses in `peers`,
/// until stopped.
pub struct FakeNode {
    pub address: SocketAddr,
    pub height: Arc<AtomicU64>,
    /// `/info` requests answered so far.
    pub probes: Arc<AtomicUsize>,
    /// What `GET /nodes` lists (`host:port` strings, not checked).
    pub peers: Arc<Mutex<Vec<String>>>,
    stop: Option<CancellationToken>,
    task: Option<JoinHandle<()>>,
}

impl FakeNode {
    pub async fn start(genesis: &str) -> Self {
        Self::start_on("127.0.0.1", genesis).await
    }

    pub async fn start_on(ip: &str, genesis: &str) -> Self {
        Self::start_at(SocketAddr::new(ip.parse().unwrap(), 0), genesis).await
    }

    /// Listens on exactly `address` (a chosen port: the network's default port).
    pub async fn start_at(address: SocketAddr, genesis: &str) -> Self {
        let listener = TcpListener::bind(address).await.unwrap();
        let address = listener.local_addr().unwrap();
        let height = Arc::new(AtomicU64::new(1));
        let probes = Arc::new(AtomicUsize::new(0));
        let peers = Arc::new(Mutex::new(Vec::<String>::new()));
        let (genesis, h, p) = (genesis.to_owned(), Arc::clone(&height), Arc::clone(&probes));
        let listed = Arc::clone(&peers);
        let app = axum::Router::new()
            .route(
                "/nodes",
                axum::routing::get(move || {
                    let listed = Arc::clone(&listed);
                    async move {
                        let peers: Vec<NodeEntry> = listed
                            .lock()
                            .unwrap()
                            .iter()
                            .map(|a| NodeEntry {
                                address: a.clone(),
                                height: 1,
                                last_seen: 0,
                            })
                            .collect();
                        axum::Json(peers)
                    }
                }),
            )
            .route(
                "/info",
                axum::routing::get(move || {
                    let (genesis, h, p) = (genesis.clone(), Arc::clone(&h), Arc::clone(&p));
                    async move {
                        p.fetch_add(1, Ordering::SeqCst);
                        axum::Json(Info::bare("fake", &genesis, h.load(Ordering::SeqCst)))
                    }
                }),
            )
            .fallback(|| async { ApiError::not_found("fake node") });
        let stop = CancellationToken::new();
        let task = tokio::spawn(http::server::serve(
            listener,
            app,
            ServerLimits::default(),
            None,
            stop.clone(),
        ));
        Self {
            address,
            height,
            probes,
            peers,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Makes `GET /nodes` list these addresses.
    pub fn list(&self, peers: &[String]) {
        *self.peers.lock().unwrap() = peers.to_vec();
    }

    /// `/info` requests answered so far.
    pub fn probe_count(&self) -> usize {
        self.probes.load(Ordering::SeqCst)
    }

    /// Stops answering; the port is closed when this returns.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop.cancel();
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }
}

/// A seed running in-process on 127.0.0.1:0, stopped by the test.
pub struct Seed {
    pub address: SocketAddr,
    /// Where it answers DNS (UDP and TCP), when started with a DNS config.
    pub dns: Option<SocketAddr>,
    stop: CancellationToken,
    task: JoinHandle<Result<(), StoreError>>,
}

impl Seed {
    pub async fn start(config: Config) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let task = tokio::spawn(dns_seed::run(listener, config, stop.clone()));
        Self {
            address,
            dns: None,
            stop,
            task,
        }
    }

    /// A seed that also answers DNS on 127.0.0.1 (a free port); `config.dns` must be set.
    pub async fn start_with_dns(config: Config) -> Self {
        assert!(config.dns.is_some(), "a dns config");
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let sockets = dns_seed::dns::Sockets::bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let dns = sockets.local_addr().unwrap();
        let stop = CancellationToken::new();
        let task = tokio::spawn(dns_seed::serve(
            listener,
            Some(sockets),
            config,
            stop.clone(),
        ));
        Self {
            address,
            dns: Some(dns),
            stop,
            task,
        }
    }

    /// Shuts down gracefully and returns what `run` returned.
    pub async fn stop(self) -> Result<(), StoreError> {
        self.stop.cancel();
        tokio::time::timeout(DEADLINE, self.task)
            .await
            .expect("seed stops in time")
            .unwrap()
    }

    pub async fn register(&self, node: SocketAddr) -> Answer {
        post_json(
            self.address,
            "/nodes",
            &serde_json::json!({"address": node.to_string()}),
        )
        .await
    }

    pub async fn nodes(&self, query: &str) -> Vec<Value> {
        let answer = get(self.address, &format!("/nodes{query}")).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        answer.json.as_array().cloned().unwrap()
    }

    pub async fn addresses(&self, query: &str) -> Vec<String> {
        self.nodes(query)
            .await
            .iter()
            .map(|n| n["address"].as_str().unwrap().to_owned())
            .collect()
    }

    pub async fn health(&self) -> Value {
        let answer = get(self.address, "/health").await;
        assert_eq!(answer.status, 200, "{answer:?}");
        answer.json
    }
}

/// A config for tests: short probe interval and timeout.
pub fn test_config() -> Config {
    Config {
        probe_interval: Duration::from_millis(100),
        probe_timeout: Duration::from_secs(2),
        ..Config::default()
    }
}

/// The zone the DNS tests serve.
pub const ZONE: &str = "seed.test.ferro.";

/// [`test_config`] with DNS for [`ZONE`] and nodes on `default_port` in apex answers.
pub fn dns_config(default_port: u16) -> Config {
    let zone = dns_seed::dns::answer::parse_zone(ZONE).unwrap();
    Config {
        dns: Some(dns_seed::dns::DnsConfig {
            default_port,
            ..dns_seed::dns::DnsConfig::new(zone)
        }),
        ..test_config()
    }
}

/// An answer as read off the wire.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub head: String,
    /// The body parsed as JSON (`Value::Null` if it is not JSON).
    pub json: Value,
}

impl Answer {
    /// The `error.code` of an error body.
    pub fn code(&self) -> &str {
        self.json["error"]["code"]
            .as_str()
            .unwrap_or("<no error code>")
    }

    pub fn message(&self) -> &str {
        self.json["error"]["message"]
            .as_str()
            .unwrap_or("<no message>")
    }
}

pub async fn get(seed: SocketAddr, path: &str) -> Answer {
    raw_request(None, seed, "GET", path, None, b"").await
}

pub async fn post_json(seed: SocketAddr, path: &str, body: &Value) -> Answer {
    let body = serde_json::to_vec(body).unwrap();
    raw_request(None, seed, "POST", path, Some("application/json"), &body).await
}

/// One HTTP/1.1 request on a fresh connection, optionally from a chosen local
/// IP (e.g. 127.0.0.2, to act as another host on loopback), through the tests' one
/// client (`test_support::http`).
pub async fn raw_request(
    from: Option<IpAddr>,
    to: SocketAddr,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> Answer {
    let reply = test_support::http::exchange(from, to, method, path, content_type, body)
        .await
        .unwrap();
    Answer {
        status: reply.status.as_u16(),
        head: reply.head,
        json: reply.body,
    }
}

/// Polls `check` until it returns `Some`, failing the test after [`DEADLINE`].
pub async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    test_support::eventually_some(DEADLINE, what, check)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A fresh, empty directory for one test.
pub fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dns_seed-test-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// An address where nothing listens (bound, then released).
pub async fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    address
}
