//! Extractors with the API's error shape: queries with unknown fields refused, path
//! segments, and one body extractor for JSON and `application/octet-stream` that bounds
//! the body's size (413) and its arrival rate (408).

use std::time::{Duration, Instant};

use axum::extract::{FromRequest, FromRequestParts, Request};
use bytes::{Bytes, BytesMut};
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::request::Parts;
use http::HeaderMap;
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;

use super::{ApiError, RequestLimits, JSON, OCTET_STREAM};
use crate::error::Code;

/// Query parameters parsed into `T` (`#[serde(deny_unknown_fields)]` refuses unknown
/// names; a repeated name is refused too); any failure is 400 `malformed`.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|q| ApiQuery(q.0))
            .map_err(|e| ApiError::malformed(e.body_text()))
    }
}

/// Path parameters parsed into `T`; a failure is 400 `malformed`.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|e| ApiError::malformed(format!("path: {}", e.body_text())))
    }
}

/// Which encoding a body is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Json,
    Binary,
}

/// A request body, read whole within the bounds of [`RequestLimits`], in JSON (the
/// default when no `Content-Type` is given) or binary.
#[derive(Debug, Clone)]
pub struct Payload {
    pub encoding: Encoding,
    pub bytes: Bytes,
}

impl Payload {
    /// Parses a JSON body into `T`: empty bodies and serde errors are `malformed`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        parse_json(&self.bytes)
    }
}

/// A JSON-only body parsed into `T`.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync> FromRequest<S> for Payload {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        let encoding = match negotiate(req.headers(), &[JSON, OCTET_STREAM])? {
            OCTET_STREAM => Encoding::Binary,
            _ => Encoding::Json,
        };
        let limits = limits_of(&req);
        let bytes = read_body(req, &limits).await?;
        Ok(Payload { encoding, bytes })
    }
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        negotiate(req.headers(), &[JSON])?;
        let limits = limits_of(&req);
        let bytes = read_body(req, &limits).await?;
        parse_json(&bytes).map(JsonBody)
    }
}

fn limits_of(req: &Request) -> RequestLimits {
    req.extensions()
        .get::<RequestLimits>()
        .cloned()
        .unwrap_or_default()
}

fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::malformed(
            "request body is empty; expected a json document",
        ));
    }
    serde_json::from_slice(body).map_err(|e| ApiError::malformed(format!("invalid json body: {e}")))
}

/// Which of `accepted` the request's `Content-Type` is (parameters and case ignored);
/// no `Content-Type` means the first; anything else is 415.
fn negotiate(headers: &HeaderMap, accepted: &[&'static str]) -> Result<&'static str, ApiError> {
    let Some(value) = headers.get(CONTENT_TYPE) else {
        return Ok(accepted.first().copied().unwrap_or(JSON));
    };
    let media_type = value
        .to_str()
        .ok()
        .and_then(|s| s.split(';').next())
        .map(str::trim)
        .unwrap_or_default();
    accepted
        .iter()
        .copied()
        .find(|candidate| candidate.eq_ignore_ascii_case(media_type))
        .ok_or_else(|| {
            ApiError::new(
                Code::UnsupportedMediaType,
                format!(
                    "content type `{}` is not supported; expected {}",
                    String::from_utf8_lossy(value.as_bytes())
                        .chars()
                        .take(100)
                        .collect::<String>(),
                    accepted.join(" or ")
                ),
            )
        })
}

/// Reads the whole body: at most `limits.body_limit` bytes (413, refused up front when
/// `Content-Length` says so), arriving at least at `limits.body_min_rate` bytes a second
/// after a grace period (408), so a client trickling a large body cannot hold a slot.
async fn read_body(req: Request, limits: &RequestLimits) -> Result<Bytes, ApiError> {
    let limit = limits.body_limit;
    if let Some(length) = req.headers().get(CONTENT_LENGTH) {
        let declared = length
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .ok_or_else(|| ApiError::malformed("content-length header is not a number"))?;
        if declared > limit as u64 {
            return Err(ApiError::body_too_large(limit));
        }
    }
    let start = Instant::now();
    let mut body = req.into_body();
    let mut out = BytesMut::new();
    loop {
        // The body must have reached `rate * (elapsed - grace)` bytes; the next frame
        // is due when that line catches up with what was received.
        let due = limits.body_grace
            + Duration::from_secs_f64(out.len() as f64 / limits.body_min_rate.max(1) as f64);
        let wait = due.saturating_sub(start.elapsed());
        let frame = match tokio::time::timeout(wait, body.frame()).await {
            Err(_) => {
                return Err(ApiError::new(
                    Code::RequestTimeout,
                    format!(
                        "request body arrived slower than {} bytes per second",
                        limits.body_min_rate
                    ),
                ))
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                return Err(ApiError::malformed(format!(
                    "could not read request body: {e}"
                )))
            }
            Ok(Some(Ok(frame))) => frame,
        };
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > limit {
                return Err(ApiError::body_too_large(limit));
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(out.freeze())
}
