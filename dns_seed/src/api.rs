//! The seed's HTTP endpoints (API.md, "Seed server").
//!
//! - `POST /nodes` `{"address": "ip:port"}`: probe, then list.
//! - `GET /nodes?limit=N`: a random sample of live nodes.
//! - `GET /health`.
//!
//! Every failure goes through [`RegisterError`] → [`ApiError`] in one function
//! ([`to_api_error`]), so codes and statuses are chosen in one place.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use axum::routing::get;
use axum::{Json, Router};
use ferro::api::openapi::LayerAnswers;
use ferro::error::Code;
use ferro::http::{harden_with_metrics, page_size, ApiError, ApiQuery, JsonBody, RequestLimits};
use ferro::wire::{Announce, AnnounceStatus, ErrorBody, LimitQuery, NodeEntry, SeedHealth};
use utoipa::OpenApi;

use crate::probe::ProbeError;
use crate::registry::{check_source, AdmissionError};
use crate::state::{unix_now, Shared};

/// Nodes served by `GET /nodes` without `limit`.
pub const DEFAULT_SAMPLE: usize = 8;
/// Most nodes one `GET /nodes` serves.
pub const MAX_SAMPLE: usize = 100;

/// Why a registration was refused.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// The announced address is not `ip:port`.
    #[error("{0}")]
    BadAddress(String),
    #[error(transparent)]
    Admission(#[from] AdmissionError),
    #[error(transparent)]
    Probe(#[from] ProbeError),
    #[error("node at {0} misbehaved recently and is discouraged for 24 hours")]
    Discouraged(SocketAddr),
}

/// The one place where a refusal gets its code (and so its status).
pub fn to_api_error(error: &RegisterError) -> ApiError {
    let code = match error {
        RegisterError::BadAddress(_) => Code::Malformed,
        RegisterError::Admission(AdmissionError::SourceMismatch { .. }) => Code::SourceMismatch,
        RegisterError::Admission(AdmissionError::SourceFull { .. }) => Code::TooManyNodes,
        RegisterError::Admission(AdmissionError::Full { .. }) => Code::SeedFull,
        RegisterError::Probe(ProbeError::WrongNetwork { .. }) => Code::WrongNetwork,
        RegisterError::Discouraged(_) => Code::Discouraged,
        RegisterError::Probe(ProbeError::Unreachable { .. } | ProbeError::BadInfo { .. }) => {
            Code::Unreachable
        }
    };
    ApiError::new(code, error.to_string())
}

/// The seed's routes, with the layers every API router gets.
pub(crate) fn router(shared: Arc<Shared>, limits: &RequestLimits) -> Router {
    let routes = Router::new()
        .route("/health", get(health))
        .route("/nodes", get(list).post(register))
        .route("/openapi.json", get(openapi))
        .route("/metrics", get(crate::metrics::serve_metrics))
        .fallback(|uri: axum::http::Uri| async move {
            ApiError::not_found(format!(
                "no such path: {}; the seed serves /nodes, /health, /metrics and /openapi.json",
                excerpt(uri.path())
            ))
        })
        .with_state(Arc::clone(&shared));
    shared.metrics.watch_dns(Arc::clone(&shared.dns_stats));
    harden_with_metrics(routes, limits, Some(shared.metrics.http.clone()))
}

/// The seed's OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(title = "Ferro seed API", description = "The HTTP API of a Ferro seed server (API.md, \"Seed server\")."),
    paths(health, list, register, openapi, crate::metrics::serve_metrics),
    components(schemas(ErrorBody)),
    modifiers(&LayerAnswers),
)]
pub struct SeedApi;

/// `GET /openapi.json`.
#[utoipa::path(get, path = "/openapi.json",
    responses((status = 200, description = "this document", content_type = "application/json")))]
async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(SeedApi::openapi())
}

/// `GET /health`.
#[utoipa::path(get, path = "/health", responses((status = 200, body = SeedHealth)))]
async fn health(State(shared): State<Arc<Shared>>) -> Json<SeedHealth> {
    let registry = shared.registry();
    Json(SeedHealth {
        status: "ok".to_owned(),
        nodes: registry.len() as u64,
        live: registry.live_count() as u64,
    })
}

/// `GET /nodes?limit=N`: a random sample (default 8, at most 100) of live nodes.
#[utoipa::path(get, path = "/nodes", params(LimitQuery),
    responses((status = 200, body = Vec<NodeEntry>), (status = 400, body = ErrorBody)))]
async fn list(
    State(shared): State<Arc<Shared>>,
    ApiQuery(q): ApiQuery<LimitQuery>,
) -> Result<Json<Vec<NodeEntry>>, ApiError> {
    let limit = page_size(q.limit, DEFAULT_SAMPLE, MAX_SAMPLE)?;
    let sample = shared.registry().sample(limit, &mut rand::thread_rng());
    Ok(Json(
        sample
            .into_iter()
            .map(|n| NodeEntry {
                address: n.address.to_string(),
                height: n.height,
                last_seen: n.last_seen,
            })
            .collect(),
    ))
}

/// `POST /nodes` `{"address": "ip:port"}`: probe the node, then list it.
#[utoipa::path(post, path = "/nodes", request_body = Announce,
    responses(
        (status = 200, description = "registered", body = AnnounceStatus),
        (status = 400, description = "malformed, source-mismatch, too-many-nodes, unreachable or wrong-network", body = ErrorBody),
        (status = 403, description = "discouraged", body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody),
    ))]
async fn register(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    JsonBody(body): JsonBody<Announce>,
) -> Result<Json<AnnounceStatus>, ApiError> {
    admit(&shared, &body.address, remote.ip())
        .await
        .map_err(|e| {
            tracing::info!(%remote, address = %excerpt(&body.address), error = %e, "registration refused");
            to_api_error(&e)
        })?;
    Ok(Json(AnnounceStatus {
        status: "registered".to_owned(),
    }))
}

/// Checks, probes and lists a node.
async fn admit(shared: &Shared, announced: &str, source: IpAddr) -> Result<(), RegisterError> {
    let address = parse_address(announced)?;
    check_source(address, source)?;
    // Refuse early what could not be listed anyway, before probing.
    shared.registry().check_admission(address)?;
    if shared.is_discouraged(address) {
        return Err(RegisterError::Discouraged(address));
    }
    let info = shared.probe_node(address).await.inspect_err(|e| {
        if e.is_punishable() {
            shared.discourage(address, &e.to_string());
        }
    })?;
    let new = shared
        .registry()
        .register(address, info.height, unix_now())?;
    shared.mark_changed();
    if new {
        tracing::info!(%address, height = info.height, "registered node");
    } else {
        tracing::debug!(%address, height = info.height, "refreshed node");
    }
    Ok(())
}

/// Parses an announced `ip:port` (hosts are IP literals: the host must equal
/// the request's source address anyway).
fn parse_address(raw: &str) -> Result<SocketAddr, RegisterError> {
    let address: SocketAddr = raw.trim().parse().map_err(|_| {
        RegisterError::BadAddress(format!(
            "address must be ip:port, e.g. 203.0.113.5:8000 or [2001:db8::1]:8000, got {:?}",
            excerpt(raw)
        ))
    })?;
    if address.port() == 0 {
        return Err(RegisterError::BadAddress(format!(
            "address must have a non-zero port, got {:?}",
            excerpt(raw)
        )));
    }
    Ok(address)
}

/// At most 100 characters of client input, for messages and logs.
fn excerpt(raw: &str) -> String {
    raw.chars().take(100).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_ip_and_port() {
        assert_eq!(parse_address("127.0.0.1:8000").unwrap().port(), 8000);
        assert!(parse_address("[::1]:8000").is_ok());
        for bad in [
            "localhost:8000",
            "127.0.0.1",
            "127.0.0.1:0",
            "127.0.0.1:70000",
            "",
            "::1:80",
        ] {
            let error = parse_address(bad).unwrap_err();
            assert_eq!(to_api_error(&error).code(), "malformed", "{bad}");
        }
        let long = "x".repeat(10_000);
        let message = parse_address(&long).unwrap_err().to_string();
        assert!(message.len() < 300);
    }
}
