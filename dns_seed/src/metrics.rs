//! The seed's `GET /metrics` (API.md second round): Prometheus text exposition of its
//! node list by state, its DNS queries by transport and result, and its HTTP requests by
//! route template, method and status. Names carry the `ferro_seed_` prefix. Every label
//! has a fixed set of values (see [`ferro::metrics`]).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header::{HeaderValue, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use ferro::metrics::{render, HttpMetrics};
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

use crate::dns::DnsStats;
use crate::state::Shared;

/// The seed's metrics.
pub struct SeedMetrics {
    registry: Registry,
    pub(crate) http: HttpMetrics,
    nodes: IntGaugeVec,
    discouraged: IntGauge,
}

impl std::fmt::Debug for SeedMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SeedMetrics")
    }
}

impl Default for SeedMetrics {
    fn default() -> Self {
        SeedMetrics::new()
    }
}

/// Registers `metric`; the names are constants of this module, checked by its tests.
fn register<M: Collector + Clone + 'static>(registry: &Registry, metric: M) -> M {
    if let Err(e) = registry.register(Box::new(metric.clone())) {
        tracing::error!(error = %e, "metric not registered");
    }
    metric
}

// Metric constructors fail only on invalid names, and every name here is a constant.
#[allow(clippy::expect_used)]
impl SeedMetrics {
    pub fn new() -> SeedMetrics {
        let registry = Registry::new_custom(Some("ferro_seed".into()), None).unwrap_or_default();
        let nodes = IntGaugeVec::new(
            Opts::new(
                "nodes",
                "Listed nodes by state: listed (all entries), live (answered their last probe).",
            ),
            &["state"],
        )
        .expect("a valid metric name");
        let discouraged = IntGauge::new(
            "discouraged_nodes",
            "Nodes discouraged for misbehaving (24 hours).",
        )
        .expect("a valid metric name");
        SeedMetrics {
            http: HttpMetrics::new(&registry),
            nodes: register(&registry, nodes),
            discouraged: register(&registry, discouraged),
            registry,
        }
    }

    /// Adds the DNS counts of `stats` (read at each scrape).
    pub fn watch_dns(&self, stats: Arc<DnsStats>) {
        if let Err(e) = self.registry.register(Box::new(DnsCollector::new(stats))) {
            tracing::error!(error = %e, "dns metrics not registered");
        }
    }
}

/// Exposes the DNS side's atomic counters as counter families. Each scrape copies them
/// into fresh vectors (the templates only describe the families), so concurrent scrapes
/// never see each other's half-filled copy.
struct DnsCollector {
    stats: Arc<DnsStats>,
    queries: IntCounterVec,
    tcp_refused: IntCounterVec,
}

const QUERIES: (&str, &str) = (
    "dns_queries_total",
    "DNS queries by transport and result (the answer's response code, or dropped: over the source's rate limit).",
);
const TCP_REFUSED: (&str, &str) = (
    "dns_tcp_refused_total",
    "DNS TCP connections closed at once by the connection bounds.",
);

// Fixed names and labels: the constructors cannot fail (checked by the tests).
#[allow(clippy::expect_used)]
fn queries_vec() -> IntCounterVec {
    IntCounterVec::new(Opts::new(QUERIES.0, QUERIES.1), &["transport", "result"])
        .expect("a valid metric name")
}

#[allow(clippy::expect_used)]
fn tcp_refused_vec() -> IntCounterVec {
    IntCounterVec::new(Opts::new(TCP_REFUSED.0, TCP_REFUSED.1), &[]).expect("a valid metric name")
}

impl DnsCollector {
    fn new(stats: Arc<DnsStats>) -> DnsCollector {
        DnsCollector {
            stats,
            queries: queries_vec(),
            tcp_refused: tcp_refused_vec(),
        }
    }
}

impl Collector for DnsCollector {
    fn desc(&self) -> Vec<&Desc> {
        let mut d = self.queries.desc();
        d.extend(self.tcp_refused.desc());
        d
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let queries = queries_vec();
        for (transport, result, count) in self.stats.query_counts() {
            queries
                .with_label_values(&[transport, result])
                .inc_by(count);
        }
        let tcp_refused = tcp_refused_vec();
        tcp_refused
            .with_label_values(&[] as &[&str])
            .inc_by(self.stats.tcp_refused.load(Ordering::Relaxed));
        let mut out = queries.collect();
        out.extend(tcp_refused.collect());
        out
    }
}

/// `GET /metrics`.
#[utoipa::path(get, path = "/metrics",
    responses((status = 200, description = "Prometheus text exposition (format 0.0.4): nodes by state, DNS queries by transport and result, HTTP requests by route template and status", content_type = "text/plain", body = String)))]
pub(crate) async fn serve_metrics(State(shared): State<Arc<Shared>>) -> Response {
    let m = &shared.metrics;
    {
        let registry = shared.registry();
        m.nodes
            .with_label_values(&["listed"])
            .set(registry.len() as i64);
        m.nodes
            .with_label_values(&["live"])
            .set(registry.live_count() as i64);
    }
    m.discouraged.set(shared.discouraged_len() as i64);
    (
        [(
            CONTENT_TYPE,
            HeaderValue::from_static(ferro::metrics::CONTENT_TYPE),
        )],
        render(&m.registry),
    )
        .into_response()
}
