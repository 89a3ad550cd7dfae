//! The node's HTTP API (API.md) as an axum [`Router`]: [`router`] lists every route,
//! [`views`] answers reads, [`submit`] takes transactions, blocks, announcements and
//! mining requests, and [`openapi`] describes them all from the same types.
//!
//! Anything that may wait on the chain lock or burn CPU (validation, mining, block
//! reads) runs on a blocking thread ([`blocking`]), so the runtime keeps answering while
//! a big block connects.

pub mod events;
pub mod metrics;
pub mod openapi;
pub mod relay;
pub mod submit;
pub mod views;

use crate::error::Code;
use crate::http::{harden_with_metrics, ApiError, RequestLimits, OCTET_STREAM};
use crate::node::Node;
use axum::http::header::{HeaderMap, HeaderValue, ACCEPT, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;

/// Every route of the node, with the layers of [`harden`].
pub fn router(node: Arc<Node>, limits: &RequestLimits) -> Router {
    let routes = Router::new()
        .route("/health", get(views::health))
        .route("/info", get(views::info))
        .route("/richlist", get(views::rich_list))
        .route("/blocks", get(views::blocks).post(submit::block))
        .route("/blocks/{id}", get(views::block))
        .route(
            "/blocks/{id}/transactions/{index}",
            get(views::block_transaction),
        )
        .route("/headers", get(views::headers))
        .route("/transactions", post(submit::transaction))
        .route("/transactions/{txid}", get(views::transaction))
        .route("/addresses/{address}", get(views::address))
        .route("/addresses/{address}/utxos", get(views::address_utxos))
        .route(
            "/addresses/{address}/transactions",
            get(views::address_history),
        )
        .route("/outputs/{txid}/{vout}", get(views::output))
        .route("/mempool", get(views::mempool))
        .route("/fees", get(views::fees))
        .route("/nodes", get(views::nodes).post(submit::announce))
        .route("/mining/generate", post(submit::generate))
        .route("/relay/announce", post(relay::announce))
        .route("/relay/transactions", post(relay::transactions))
        .route("/relay/compact/{hash}", get(relay::compact))
        .route("/openapi.json", get(openapi::serve_node))
        .route("/events", get(events::events))
        .route("/metrics", get(metrics::serve_metrics))
        .fallback(not_found)
        .with_state(Arc::clone(&node))
        // The explorer's HTML pages, all under /explorer/ (and `GET /`, a redirect).
        .merge(crate::explorer::router(node.clone()));
    harden_with_metrics(routes, limits, Some(node.metrics.http.clone()))
}

/// Answer for paths the API does not have.
pub async fn not_found(uri: axum::http::Uri) -> ApiError {
    let path: String = uri.path().chars().take(100).collect();
    ApiError::not_found(format!("no such endpoint: {path}"))
}

/// Runs `f` on a blocking thread with the node, within `RequestLimits::blocking_work`:
/// the work of a handler whose client left (or timed out) runs on to its end, so the
/// bound is on the work, not on the requests. A permit moves into the blocking closure
/// and is released only when it returns; without one the answer is 503 at once.
pub async fn blocking<T, F>(node: Arc<Node>, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&Node) -> Result<T, ApiError> + Send + 'static,
{
    let permits = Arc::clone(&node.api_work);
    blocking_within(permits, node, f).await
}

/// [`blocking`] within the relay's own permits (`Node::relay_work`): peers' relay
/// requests (`/relay/*`) never wait behind explorer or JSON API work, nor the reverse.
pub async fn blocking_relay<T, F>(node: Arc<Node>, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&Node) -> Result<T, ApiError> + Send + 'static,
{
    let permits = Arc::clone(&node.relay_work);
    blocking_within(permits, node, f).await
}

async fn blocking_within<T, F>(
    permits: Arc<tokio::sync::Semaphore>,
    node: Arc<Node>,
    f: F,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&Node) -> Result<T, ApiError> + Send + 'static,
{
    let permit = permits.try_acquire_owned().map_err(|_| {
        ApiError::new(Code::NotReady, "the node is busy; try again shortly")
            .with_retry_after(std::time::Duration::from_secs(1))
    })?;
    tokio::task::spawn_blocking(move || {
        let result = f(&node);
        drop(permit);
        result
    })
    .await
    .map_err(|e| ApiError::internal(format!("handler task failed: {e}")))?
}

/// Whether the client asked for the binary encoding (`Accept: application/octet-stream`).
pub fn wants_binary(headers: &HeaderMap) -> bool {
    headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains(OCTET_STREAM))
}

/// A 200 `application/octet-stream` answer.
pub fn binary(bytes: Vec<u8>) -> Response {
    (
        [(CONTENT_TYPE, HeaderValue::from_static(OCTET_STREAM))],
        bytes,
    )
        .into_response()
}
