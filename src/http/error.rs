//! [`ApiError`]: the error answer of every handler, turned into the
//! `{"error": {"code", "message"}}` body (API.md) by [`IntoResponse`].
//!
//! The status comes from the code ([`crate::wire::status`], one exhaustive match), so a
//! handler cannot pair a code with the wrong status. Library rejections convert with `?`
//! through [`From`] for anything implementing [`ErrorCode`].

use std::fmt;
use std::time::Duration;

use axum::response::{IntoResponse, Response};
use http::header::{HeaderValue, ALLOW, CONTENT_TYPE, RETRY_AFTER};
use http::StatusCode;

use crate::error::{Code, ErrorCode};
use crate::wire::{self, ErrorBody, ErrorDetail};

/// An error answer: a stable code, a message, and for some codes a header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    code: Code,
    message: String,
    /// `Retry-After` seconds (429, 503).
    retry_after: Option<u64>,
    /// `Allow` (405).
    allow: Option<String>,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

impl<E: ErrorCode + fmt::Display> From<E> for ApiError {
    fn from(e: E) -> ApiError {
        match e.code() {
            // A local failure (storage): the detail goes to the log, not to the client.
            Code::Internal => ApiError::internal(e.to_string()),
            code => ApiError::new(code, e.to_string()),
        }
    }
}

impl ApiError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after: None,
            allow: None,
        }
    }

    /// 400 `malformed`: not parseable, wrong types, unknown fields.
    pub fn malformed(message: impl Into<String>) -> Self {
        Self::new(Code::Malformed, message)
    }

    /// 404 `not-found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(Code::NotFound, message)
    }

    /// 500 `internal`: the server failed, not the request. The detail is logged; the
    /// client gets a generic message (API.md: "logged with detail").
    pub fn internal(message: impl Into<String>) -> Self {
        let detail = message.into();
        tracing::error!(%detail, "internal error");
        Self::new(
            Code::Internal,
            "the server failed to answer; the failure is in its log",
        )
    }

    /// 413 `body-too-large`.
    pub fn body_too_large(limit: usize) -> Self {
        Self::new(
            Code::BodyTooLarge,
            format!("request body exceeds the limit of {limit} bytes"),
        )
    }

    /// 429 `rate-limited` with `Retry-After`.
    pub fn rate_limited(message: impl Into<String>, retry_after: Duration) -> Self {
        Self::new(Code::RateLimited, message).with_retry_after(retry_after)
    }

    /// Adds `Retry-After` (whole seconds, at least 1).
    pub fn with_retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after.as_secs().max(1));
        self
    }

    /// 405 `method-not-allowed` with `Allow: allowed`.
    pub fn method_not_allowed(method: &http::Method, path: &str, allowed: &str) -> Self {
        let mut e = Self::new(
            Code::MethodNotAllowed,
            format!("method {method} is not allowed on {path}; allowed: {allowed}"),
        );
        e.allow = Some(allowed.to_owned());
        e
    }

    pub fn code(&self) -> Code {
        self.code
    }

    pub fn status(&self) -> StatusCode {
        wire::status(self.code)
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// The JSON body.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code.as_str().to_owned(),
                message: self.message.clone(),
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status(), axum::Json(self.body())).into_response();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(super::JSON));
        if let Some(secs) = self.retry_after {
            headers.insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(allow) = self
            .allow
            .as_deref()
            .and_then(|a| HeaderValue::from_str(a).ok())
        {
            headers.insert(ALLOW, allow);
        }
        response
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    async fn body_of(response: Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn error_body_has_the_api_shape() {
        let response = ApiError::malformed("address must be host:port").into_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
        assert_eq!(
            body_of(response).await,
            serde_json::json!({"error": {"code": "malformed", "message": "address must be host:port"}})
        );
    }

    #[tokio::test]
    async fn headers_go_with_their_codes() {
        let limited =
            ApiError::rate_limited("slow down", Duration::from_millis(10)).into_response();
        assert_eq!(limited.status(), 429);
        assert_eq!(limited.headers()[RETRY_AFTER], "1");
        let not_allowed =
            ApiError::method_not_allowed(&http::Method::PUT, "/nodes", "GET,POST").into_response();
        assert_eq!(not_allowed.status(), 405);
        assert_eq!(not_allowed.headers()[ALLOW], "GET,POST");
        let v = body_of(not_allowed).await;
        assert_eq!(v["error"]["code"], "method-not-allowed");
    }

    #[test]
    fn library_rejections_keep_their_code_and_message() {
        let e: ApiError = crate::json::JsonError::Malformed("bad hex".into()).into();
        assert_eq!(e.code(), Code::Malformed);
        assert_eq!(e.status(), 400);
        assert_eq!(e.to_string(), "malformed: malformed: bad hex");
    }
}
