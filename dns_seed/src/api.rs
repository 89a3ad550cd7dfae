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

use ferro::http::{request, response, ApiError, Handler, Query, Request, Response};
use hyper::{Method, StatusCode};
use serde::{Deserialize, Serialize};

use crate::probe::{probe, ProbeError};
use crate::registry::{check_source, AdmissionError};
use crate::state::{unix_now, Shared};

/// Nodes served by `GET /nodes` without `limit`.
pub const DEFAULT_SAMPLE: usize = 8;
/// Most nodes one `GET /nodes` serves.
pub const MAX_SAMPLE: usize = 100;

/// Body of `POST /nodes`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterRequest {
    address: String,
}

#[derive(Serialize)]
struct Registered {
    status: &'static str,
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    /// Listed nodes, including those whose last probe failed.
    nodes: usize,
    /// Listed nodes whose last probe succeeded (the ones `GET /nodes` serves).
    live: usize,
}

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

/// The one place where a refusal gets its code and status.
pub fn to_api_error(error: &RegisterError) -> ApiError {
    let message = error.to_string();
    match error {
        RegisterError::BadAddress(_) => ApiError::malformed(message),
        RegisterError::Admission(AdmissionError::SourceMismatch { .. }) => {
            ApiError::new(StatusCode::BAD_REQUEST, "source-mismatch", message)
        }
        RegisterError::Admission(AdmissionError::SourceFull { .. }) => {
            ApiError::new(StatusCode::BAD_REQUEST, "too-many-nodes", message)
        }
        RegisterError::Admission(AdmissionError::Full { .. }) => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "seed-full", message)
        }
        RegisterError::Probe(ProbeError::WrongNetwork { .. }) => {
            ApiError::new(StatusCode::BAD_REQUEST, "wrong-network", message)
        }
        RegisterError::Discouraged(_) => {
            ApiError::new(StatusCode::FORBIDDEN, "discouraged", message)
        }
        RegisterError::Probe(ProbeError::Unreachable { .. } | ProbeError::BadInfo { .. }) => {
            ApiError::new(StatusCode::BAD_REQUEST, "unreachable", message)
        }
    }
}

/// The seed's [`Handler`].
#[derive(Debug, Clone)]
pub(crate) struct Api {
    shared: Arc<Shared>,
}

impl Api {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    async fn route(&self, req: Request, remote: SocketAddr) -> Result<Response, ApiError> {
        let path = req.uri().path().to_owned();
        match (req.method(), path.as_str()) {
            (&Method::GET, "/health") => Ok(self.health()),
            (&Method::GET, "/nodes") => self.list(&req),
            (&Method::POST, "/nodes") => self.register(req, remote).await,
            (method, "/health") => Ok(response::method_not_allowed(method, &path, &[Method::GET])),
            (method, "/nodes") => Ok(response::method_not_allowed(
                method,
                &path,
                &[Method::GET, Method::POST],
            )),
            _ => Err(ApiError::not_found(format!(
                "no such path: {}; the seed serves /nodes and /health",
                excerpt(&path)
            ))),
        }
    }

    fn health(&self) -> Response {
        let registry = self.shared.registry();
        response::ok_json(&Health {
            status: "ok",
            nodes: registry.len(),
            live: registry.live_count(),
        })
    }

    fn list(&self, req: &Request) -> Result<Response, ApiError> {
        let query = Query::from_uri(req.uri())?;
        let limit = query.limit("limit", DEFAULT_SAMPLE, MAX_SAMPLE)?;
        let sample = self
            .shared
            .registry()
            .sample(limit, &mut rand::thread_rng());
        Ok(response::ok_json(&sample))
    }

    async fn register(&self, req: Request, remote: SocketAddr) -> Result<Response, ApiError> {
        let body: RegisterRequest =
            request::read_json(req, self.shared.config.max_body_bytes).await?;
        self.admit(&body.address, remote.ip()).await.map_err(|e| {
            tracing::info!(%remote, address = %excerpt(&body.address), error = %e, "registration refused");
            to_api_error(&e)
        })?;
        Ok(response::ok_json(&Registered {
            status: "registered",
        }))
    }

    /// Checks, probes and lists a node.
    async fn admit(&self, announced: &str, source: IpAddr) -> Result<(), RegisterError> {
        let address = parse_address(announced)?;
        check_source(address, source)?;
        // Refuse early what could not be listed anyway, before probing.
        self.shared.registry().check_admission(address)?;
        if self.shared.is_discouraged(address) {
            return Err(RegisterError::Discouraged(address));
        }
        let config = &self.shared.config;
        let info = probe(
            &self.shared.client,
            address,
            config.probe_timeout,
            config.genesis_hash.as_ref(),
        )
        .await
        .inspect_err(|e| {
            if e.is_punishable() {
                self.shared.discourage(address, &e.to_string());
            }
        })?;
        let new = self
            .shared
            .registry()
            .register(address, info.height, unix_now())?;
        self.shared.mark_changed();
        if new {
            tracing::info!(%address, height = info.height, "registered node");
        } else {
            tracing::debug!(%address, height = info.height, "refreshed node");
        }
        Ok(())
    }
}

impl Handler for Api {
    async fn handle(&self, req: Request, remote: SocketAddr) -> Response {
        self.route(req, remote)
            .await
            .unwrap_or_else(|e| e.to_response())
    }
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
