//! Prometheus metrics (`GET /metrics`, API.md second round), for the node and the seed.
//!
//! Built on the `prometheus` crate (default features off: no protobuf), whose text
//! encoder writes the classic exposition format 0.0.4 that `promtool check metrics`
//! reads. (`prometheus-client` writes OpenMetrics, whose `counter` families are named
//! without `_total`: promtool's text parser and linter refuse that form.)
//!
//! Every label has a bounded set of values: HTTP requests are counted by route
//! *template* (axum's `MatchedPath`, [`UNMATCHED_ROUTE`] for anything no route matched,
//! so a flood of junk paths adds no series), method (four words) and status; rejections
//! by API error code (a closed enum); peers by a fixed list of states.
//!
//! Counters and histograms are updated where things happen; gauges (height, mempool,
//! peers, sync) are read from the node's state when `/metrics` is asked for.

use prometheus::{
    Gauge, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};
use std::time::Duration;

/// The content type of the exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The `route` label of requests no route matched (unknown paths, and requests answered
/// before routing: rate limits, overload).
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// The route template a response was produced by, put in the response's extensions by
/// the layer inside the router and read by the counting layer outside it.
#[derive(Clone, Debug)]
pub struct RouteLabel(pub String);

/// The registry's metrics as exposition text.
pub fn render(registry: &Registry) -> String {
    TextEncoder::new()
        .encode_to_string(&registry.gather())
        .unwrap_or_else(|e| format!("# encoding failed: {e}\n"))
}

/// Registers `metric` in `registry`. Names and labels are constants of this module,
/// checked by its tests: a failure here is a programming error, logged, never a panic.
fn register<M: prometheus::core::Collector + Clone + 'static>(registry: &Registry, metric: M) -> M {
    if let Err(e) = registry.register(Box::new(metric.clone())) {
        tracing::error!(error = %e, "metric not registered");
    }
    metric
}

// The constructors below fail only on an invalid metric or label name; every name is a
// constant of this module, exercised by its tests.
#[allow(clippy::expect_used)]
fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    register(
        registry,
        IntCounter::new(name, help).expect("a valid metric name"),
    )
}

#[allow(clippy::expect_used)]
fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let metric = IntCounterVec::new(Opts::new(name, help), labels).expect("a valid metric name");
    register(registry, metric)
}

#[allow(clippy::expect_used)]
fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    register(
        registry,
        IntGauge::new(name, help).expect("a valid metric name"),
    )
}

#[allow(clippy::expect_used)]
fn gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let metric = IntGaugeVec::new(Opts::new(name, help), labels).expect("a valid metric name");
    register(registry, metric)
}

#[allow(clippy::expect_used)]
fn float_gauge(registry: &Registry, name: &str, help: &str) -> Gauge {
    register(
        registry,
        Gauge::new(name, help).expect("a valid metric name"),
    )
}

#[allow(clippy::expect_used)]
fn histogram(registry: &Registry, name: &str, help: &str, buckets: Vec<f64>) -> Histogram {
    let opts = HistogramOpts::new(name, help).buckets(buckets);
    register(
        registry,
        Histogram::with_opts(opts).expect("a valid metric name"),
    )
}

/// Latency buckets, seconds: 0.5 ms to 30 s.
fn latency_buckets() -> Vec<f64> {
    vec![
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    ]
}

/// The method label: one of four words, whatever method the client sent.
fn method_label(method: &http::Method) -> &'static str {
    match *method {
        http::Method::GET => "GET",
        http::Method::POST => "POST",
        http::Method::HEAD => "HEAD",
        _ => "other",
    }
}

/// HTTP requests by route template, method and status (node and seed).
#[derive(Clone)]
pub struct HttpMetrics {
    requests: IntCounterVec,
}

impl HttpMetrics {
    pub fn new(registry: &Registry) -> HttpMetrics {
        HttpMetrics {
            requests: counter_vec(
                registry,
                "http_requests_total",
                "HTTP requests answered, by route template, method and status.",
                &["route", "method", "status"],
            ),
        }
    }

    /// Counts one answered request. `route` must be a route template or
    /// [`UNMATCHED_ROUTE`], never a raw path.
    pub fn observe(&self, route: &str, method: &http::Method, status: http::StatusCode) {
        self.requests
            .with_label_values(&[route, method_label(method), status.as_str()])
            .inc();
    }
}

/// The node's metrics. Names carry the `ferro_` prefix.
pub struct NodeMetrics {
    pub registry: Registry,
    pub http: HttpMetrics,
    /// Blocks that joined the node's store, by outcome (`connected`, `side-chain`,
    /// `reorganized`; `already-known` is not counted).
    pub blocks_accepted: IntCounterVec,
    pub blocks_rejected: IntCounterVec,
    pub transactions_accepted: IntCounter,
    pub transactions_rejected: IntCounterVec,
    /// Time to validate and store a block (sync runs: the run's time per block).
    pub block_validation_seconds: Histogram,
    /// Time of each store commit (blocks, chain state flushes).
    pub commit_seconds: Histogram,
    pub mempool_expired: IntCounter,
    pub mempool_restored: IntCounter,
    /// Renderings of the explorer's live pages (home, mempool); the clients that refetch
    /// them after an event share one.
    pub explorer_live_renders: IntCounter,
    // Gauges, set from the node's state at each scrape.
    pub height: IntGauge,
    pub peers: IntGaugeVec,
    pub mempool_transactions: IntGauge,
    pub mempool_bytes: IntGauge,
    pub mempool_usage_bytes: IntGauge,
    pub mempool_min_fee_rate: IntGauge,
    pub syncing: IntGauge,
    /// Height of the last header sync verified (0 before any sync round fetched blocks).
    pub sync_header_height: IntGauge,
    /// Connected height over verified header height, 0 to 1.
    pub sync_progress: Gauge,
}

impl Default for NodeMetrics {
    fn default() -> Self {
        NodeMetrics::new()
    }
}

impl NodeMetrics {
    pub fn new() -> NodeMetrics {
        let r = Registry::new_custom(Some("ferro".into()), None).unwrap_or_default();
        NodeMetrics {
            http: HttpMetrics::new(&r),
            blocks_accepted: counter_vec(&r, "blocks_accepted_total", "Blocks accepted, by outcome.", &["status"]),
            blocks_rejected: counter_vec(&r, "blocks_rejected_total", "Blocks refused, by API error code.", &["code"]),
            transactions_accepted: counter(&r, "transactions_accepted_total", "Transactions newly accepted into the mempool."),
            transactions_rejected: counter_vec(&r, "transactions_rejected_total", "Transactions refused, by API error code.", &["code"]),
            block_validation_seconds: histogram(&r, "block_validation_seconds", "Time to validate and store one block (sync runs: the run's time per block).", latency_buckets()),
            commit_seconds: histogram(&r, "store_commit_seconds", "Time of one chain store commit (blocks or a chain state flush).", latency_buckets()),
            mempool_expired: counter(&r, "mempool_expired_total", "Transactions dropped from the mempool by expiry (with their descendants)."),
            explorer_live_renders: counter(&r, "explorer_live_renders_total", "Renderings of the explorer's live pages (home, mempool)."),
            mempool_restored: counter(&r, "mempool_restored_total", "Transactions re-admitted from the saved mempool at start."),
            height: gauge(&r, "height", "Height of the active tip."),
            peers: gauge_vec(&r, "peers", "Peers by state: connected (in the peer table), set_aside (kept out of sync for a while), discouraged (banned sources and peers).", &["state"]),
            mempool_transactions: gauge(&r, "mempool_transactions", "Transactions in the mempool."),
            mempool_bytes: gauge(&r, "mempool_bytes", "Serialized size of the mempool's transactions."),
            mempool_usage_bytes: gauge(&r, "mempool_usage_bytes", "Estimated memory use of the mempool (what its limit bounds)."),
            mempool_min_fee_rate: gauge(&r, "mempool_min_fee_rate", "Fee rate (base units per byte) a transaction must pay to enter now."),
            syncing: gauge(&r, "syncing", "1 while a sync round is fetching blocks."),
            sync_header_height: gauge(&r, "sync_header_height", "Height of the last verified header a sync round fetched blocks for."),
            sync_progress: float_gauge(&r, "sync_progress_ratio", "Connected height over the verified header height of the last sync round (1 when caught up)."),
            registry: r,
        }
    }

    /// Counts a refused transaction.
    pub fn transaction_rejected(&self, code: crate::error::Code) {
        self.transactions_rejected
            .with_label_values(&[code.as_str()])
            .inc();
    }

    /// Counts a refused block.
    pub fn block_rejected(&self, code: crate::error::Code) {
        self.blocks_rejected
            .with_label_values(&[code.as_str()])
            .inc();
    }

    /// Records one block's validation time.
    pub fn block_validated(&self, took: Duration) {
        self.block_validation_seconds.observe(took.as_secs_f64());
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        render(&self.registry)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_node_metric_registers_under_its_own_name() {
        let m = NodeMetrics::new();
        m.http
            .observe("/info", &http::Method::GET, http::StatusCode::OK);
        m.transaction_rejected(crate::error::Code::Dust);
        m.block_rejected(crate::error::Code::BadPow);
        m.blocks_accepted.with_label_values(&["connected"]).inc();
        m.peers.with_label_values(&["connected"]).set(2);
        m.block_validated(Duration::from_millis(3));
        m.commit_seconds.observe(0.01);
        let text = m.render();
        for name in [
            "ferro_http_requests_total{method=\"GET\",route=\"/info\",status=\"200\"} 1",
            "ferro_transactions_rejected_total{code=\"dust\"} 1",
            "ferro_blocks_rejected_total{code=\"bad-pow\"} 1",
            "ferro_block_validation_seconds_bucket",
            "ferro_store_commit_seconds_count 1",
            "ferro_peers{state=\"connected\"} 2",
            "ferro_height 0",
            "ferro_sync_progress_ratio 0",
            "ferro_mempool_usage_bytes 0",
        ] {
            assert!(text.contains(name), "{name} missing from\n{text}");
        }
    }

    #[test]
    fn unknown_methods_share_one_label() {
        let registry = Registry::new();
        let m = HttpMetrics::new(&registry);
        for i in 0..100 {
            let method = http::Method::from_bytes(format!("X{i}").as_bytes()).unwrap();
            m.observe(UNMATCHED_ROUTE, &method, http::StatusCode::NOT_FOUND);
        }
        let text = render(&registry);
        assert_eq!(
            text.lines().filter(|l| !l.starts_with('#')).count(),
            1,
            "{text}"
        );
    }
}
