//! HTTP plumbing shared by the node and the seed server, on axum, tower and hyper-util.
//!
//! - [`server`]: the accept loop ([`server::serve`]): per-source and total connection
//!   caps, a reserved share for favoured peers, header-read and idle timeouts, graceful
//!   drain on a `CancellationToken`.
//! - [`layers`]: [`harden`], the tower layers of every API router: tracing span, error
//!   shape, per-source request rate, load shedding, request timeout, body limit.
//! - [`extract`]: extractors whose rejections are API errors: [`ApiQuery`], [`ApiPath`],
//!   [`Payload`] / [`JsonBody`] (bounded size and arrival rate).
//! - [`error`]: [`ApiError`], the `{"error": {"code", "message"}}` answer.
//! - [`client`]: a small JSON client with a per-request timeout and a size bound, for
//!   talking to other nodes.

pub mod client;
pub mod error;
pub mod extract;
pub mod layers;
pub mod server;

pub use client::{ClientError, HttpClient};
pub use error::ApiError;
pub use extract::{ApiPath, ApiQuery, Encoding, JsonBody, Payload};
pub use layers::{harden, harden_with_metrics, RequestLimits, DEFAULT_BODY_LIMIT};
pub use server::{Favoured, ServerLimits};

/// The `application/json` media type.
pub const JSON: &str = "application/json";

/// The `application/octet-stream` media type (binary encodings of PROTOCOL.md).
pub const OCTET_STREAM: &str = "application/octet-stream";

/// A page size from `?limit=`: `default` when absent, values above `max` lowered to
/// `max`, 0 refused (`malformed`).
pub fn page_size(limit: Option<i64>, default: usize, max: usize) -> Result<usize, ApiError> {
    match limit {
        None => Ok(default.min(max)),
        Some(n) if n < 1 => Err(ApiError::malformed(format!(
            "query parameter `limit` must be a positive integer, got `{n}`"
        ))),
        Some(n) => Ok(usize::try_from(n).unwrap_or(usize::MAX).min(max)),
    }
}

/// A height from a query (`from`): not negative.
pub fn query_height(from: Option<i64>) -> Result<u64, ApiError> {
    let from = from.unwrap_or(0);
    u64::try_from(from).map_err(|_| {
        ApiError::malformed(format!(
            "query parameter `from` must be a block height, got `{from}`"
        ))
    })
}
