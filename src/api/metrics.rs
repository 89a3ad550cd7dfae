//! `GET /metrics`: the node's Prometheus metrics ([`crate::metrics`]), the gauges read
//! from its state at each scrape.

use super::blocking;
use crate::http::ApiError;
use crate::metrics::CONTENT_TYPE;
use crate::node::Node;
use axum::extract::State;
use axum::http::header::{HeaderValue, CONTENT_TYPE as CONTENT_TYPE_HEADER};
use axum::response::{IntoResponse, Response};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// `GET /metrics`.
#[utoipa::path(get, path = "/metrics", tag = "node",
    responses((status = 200, description = "Prometheus text exposition (format 0.0.4): height, peers by state, mempool, blocks and transactions accepted and rejected by code, validation and commit latency histograms, sync progress, HTTP requests by route template and status", content_type = "text/plain", body = String)))]
pub async fn serve_metrics(State(node): State<Arc<Node>>) -> Result<Response, ApiError> {
    let text = blocking(node, |node| Ok(scrape(node))).await?;
    Ok((
        [(CONTENT_TYPE_HEADER, HeaderValue::from_static(CONTENT_TYPE))],
        text,
    )
        .into_response())
}

/// Sets the gauges from the node's state and renders every metric.
pub fn scrape(node: &Node) -> String {
    let m = &node.metrics;
    let height = node.chain().height().get();
    m.height.set(height as i64);
    {
        let pool = node.mempool();
        m.mempool_transactions.set(pool.len() as i64);
        m.mempool_bytes.set(pool.bytes() as i64);
        m.mempool_usage_bytes.set(pool.usage() as i64);
        m.mempool_min_fee_rate
            .set(i64::try_from(pool.min_fee_rate()).unwrap_or(i64::MAX));
    }
    let addresses = node.peers.addresses();
    let set_aside = addresses
        .iter()
        .filter(|a| node.peers.is_set_aside(a))
        .count();
    m.peers
        .with_label_values(&["connected"])
        .set(addresses.len() as i64);
    m.peers
        .with_label_values(&["set_aside"])
        .set(set_aside as i64);
    m.peers
        .with_label_values(&["discouraged"])
        .set(node.peers.discouraged_len() as i64);
    m.syncing
        .set(i64::from(node.syncing.load(Ordering::Relaxed)));
    let target = m.sync_header_height.get();
    let progress = if target > 0 {
        (height as f64 / target as f64).min(1.0)
    } else {
        1.0
    };
    m.sync_progress.set(progress);
    m.render()
}
