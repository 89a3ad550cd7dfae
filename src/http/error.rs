//! The error body of every non-2xx answer.
//!
//! API.md fixes the shape: `{"error": {"code": "<kebab-case>", "message": "<human text>"}}`.
//! An [`ApiError`] carries the status with the code, so that a handler returns
//! `Result<Response, ApiError>` and turns the error into a response in one place
//! ([`ApiError::to_response`]). Domain crates map their own typed errors to an
//! `ApiError` in one function each (code and status chosen together there); the
//! constructors below cover the transport-level codes every server shares.

use std::borrow::Cow;

use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::StatusCode;
use serde::{Deserialize, Serialize};

use super::{Body, Response, JSON};

/// Stable error codes used by this module (the full list is in API.md).
pub mod codes {
    /// Not parseable, wrong types, unknown fields, bad query parameters.
    pub const MALFORMED: &str = "malformed";
    /// No such path or resource.
    pub const NOT_FOUND: &str = "not-found";
    /// The path exists but not with this method.
    pub const METHOD_NOT_ALLOWED: &str = "method-not-allowed";
    /// Request body over the limit.
    pub const BODY_TOO_LARGE: &str = "body-too-large";
    /// Content type not accepted by the endpoint.
    pub const UNSUPPORTED_MEDIA_TYPE: &str = "unsupported-media-type";
    /// A bug or an unexpected local failure; never caused by the request.
    pub const INTERNAL: &str = "internal";
}

/// The HTTP status of each API error code (the table at the end of API.md):
/// the one place where codes meet statuses. Every code not listed is a rule
/// the request broke, hence 400.
pub fn status_for_code(code: &str) -> StatusCode {
    match code {
        codes::NOT_FOUND => StatusCode::NOT_FOUND,
        codes::METHOD_NOT_ALLOWED => StatusCode::METHOD_NOT_ALLOWED,
        codes::BODY_TOO_LARGE => StatusCode::PAYLOAD_TOO_LARGE,
        codes::UNSUPPORTED_MEDIA_TYPE => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        codes::INTERNAL => StatusCode::INTERNAL_SERVER_ERROR,
        "unknown-parent" | "time-too-new" | "stale-branch" => StatusCode::CONFLICT,
        "generate-disabled" | "discouraged" => StatusCode::FORBIDDEN,
        "request-timeout" => StatusCode::REQUEST_TIMEOUT,
        "rate-limited" => StatusCode::TOO_MANY_REQUESTS,
        "not-ready" => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// An error answer: HTTP status, stable kebab-case code and a lower-case message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    status: StatusCode,
    code: Cow<'static, str>,
    message: String,
}

/// Wire shape of an error body; also used by the client to read peers' errors.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ErrorBody<'a> {
    #[serde(borrow)]
    pub(crate) error: ErrorDetail<'a>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ErrorDetail<'a> {
    #[serde(borrow)]
    pub(crate) code: Cow<'a, str>,
    #[serde(borrow)]
    pub(crate) message: Cow<'a, str>,
}

impl ApiError {
    /// An error with an explicit status and code.
    pub fn new(
        status: StatusCode,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
        }
    }

    /// An error whose status follows from its code by [`status_for_code`], e.g.
    /// `ApiError::from_code(rejection.code(), rejection.to_string())` for a
    /// library error implementing `crate::error::ErrorCode`.
    pub fn from_code(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(status_for_code(code), code, message)
    }

    /// 400 `malformed`: the request could not be parsed or has wrong types.
    pub fn malformed(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, codes::MALFORMED, message)
    }

    /// 404 `not-found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, codes::NOT_FOUND, message)
    }

    /// 405 `method-not-allowed`. Prefer [`super::response::method_not_allowed`],
    /// which also sets the `Allow` header.
    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            codes::METHOD_NOT_ALLOWED,
            message,
        )
    }

    /// 413 `body-too-large`.
    pub fn body_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            codes::BODY_TOO_LARGE,
            format!("request body exceeds the limit of {limit} bytes"),
        )
    }

    /// 415 `unsupported-media-type`.
    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            codes::UNSUPPORTED_MEDIA_TYPE,
            message,
        )
    }

    /// 500 `internal`: the server failed, not the request.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, codes::INTERNAL, message)
    }

    /// The HTTP status of the answer.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable kebab-case code.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The human-readable detail.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The JSON body `{"error": {"code": …, "message": …}}`.
    pub fn to_body(&self) -> bytes::Bytes {
        let body = ErrorBody {
            error: ErrorDetail {
                code: Cow::Borrowed(&self.code),
                message: Cow::Borrowed(&self.message),
            },
        };
        // Serializing two strings into a Vec cannot fail; fall back to a fixed
        // body rather than panicking if it ever did.
        match serde_json::to_vec(&body) {
            Ok(bytes) => bytes.into(),
            Err(_) => bytes::Bytes::from_static(
                br#"{"error":{"code":"internal","message":"could not encode error"}}"#,
            ),
        }
    }

    /// The complete response: status, `Content-Type: application/json`, body.
    pub fn to_response(&self) -> Response {
        let mut response = Response::new(Body::new(self.to_body()));
        *response.status_mut() = self.status;
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(JSON));
        response
    }
}

impl From<ApiError> for Response {
    fn from(error: ApiError) -> Self {
        error.to_response()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn error_body_has_the_api_shape() {
        let error = ApiError::malformed("address must be host:port");
        let response = error.to_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"error": {"code": "malformed", "message": "address must be host:port"}})
        );
    }

    #[test]
    fn messages_are_escaped() {
        let error = ApiError::new(StatusCode::CONFLICT, "unknown-parent", "quote \" and \n");
        let value: serde_json::Value = serde_json::from_slice(&error.to_body()).unwrap();
        assert_eq!(value["error"]["message"], "quote \" and \n");
        assert_eq!(value["error"]["code"], "unknown-parent");
        assert_eq!(error.status(), StatusCode::CONFLICT);
    }

    #[test]
    fn codes_map_to_the_statuses_of_api_md() {
        for (code, status) in [
            ("malformed", 400),
            ("bad-signature", 400),
            ("wrong-network", 400),
            ("unknown-parent", 409),
            ("time-too-new", 409),
            ("generate-disabled", 403),
            ("not-found", 404),
            ("body-too-large", 413),
            ("unsupported-media-type", 415),
        ] {
            assert_eq!(ApiError::from_code(code, "x").status(), status, "{code}");
        }
    }

    #[test]
    fn transport_codes_have_their_statuses() {
        assert_eq!(ApiError::body_too_large(1).status(), 413);
        assert_eq!(ApiError::body_too_large(1).code(), "body-too-large");
        assert_eq!(ApiError::unsupported_media_type("x").status(), 415);
        assert_eq!(ApiError::not_found("x").status(), 404);
        assert_eq!(ApiError::method_not_allowed("x").status(), 405);
        assert_eq!(ApiError::internal("x").status(), 500);
        assert_eq!(ApiError::malformed("bad").to_string(), "malformed: bad");
    }
}
