//! A small HTTP/1.1 JSON client for talking to other nodes.
//!
//! Built on hyper-util's pooled client; every call takes a timeout that covers
//! connecting, sending and reading the whole answer, and a bound on the answer's
//! size, so a slow or hostile peer can neither hang a caller nor exhaust memory.
//! Only `http://` URLs are supported (nodes speak plain HTTP on loopback/LAN).

use std::error::Error as StdError;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::header::{HeaderValue, ACCEPT, CONTENT_TYPE, USER_AGENT};
use hyper::{Method, StatusCode, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{JSON, OCTET_STREAM};
use crate::wire::ErrorBody;

/// Default bound on an answer: a page of blocks as JSON is at most ~16 MiB (API.md).
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 32 * 1024 * 1024;

/// Why a request did not produce the expected JSON answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The URL is not an absolute `http://host:port/path` URL.
    #[error("invalid url `{url}`: {reason}")]
    InvalidUrl { url: String, reason: String },
    /// Could not connect, or the connection broke before a full answer.
    #[error("{url} is unreachable: {reason}")]
    Unreachable { url: String, reason: String },
    /// No complete answer within the timeout.
    #[error("{url} did not answer within {timeout:?}")]
    Timeout { url: String, timeout: Duration },
    /// A non-2xx answer; `code` is the API error code when the body had one.
    #[error("{url} answered {status} ({}): {message}", .code.as_deref().unwrap_or("no error code"))]
    Status {
        url: String,
        status: StatusCode,
        code: Option<String>,
        message: String,
    },
    /// A 2xx answer whose body is not the expected JSON.
    #[error("{url} answered with unexpected json: {reason}")]
    BadJson { url: String, reason: String },
    /// The answer is larger than the client's bound.
    #[error("{url} answered with more than {limit} bytes")]
    TooLarge { url: String, limit: usize },
}

impl ClientError {
    /// The API error code of a non-2xx answer (`"wrong-network"`, …).
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Status { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    /// The HTTP status of a non-2xx answer.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// A pooled JSON client. Cheap to clone; clones share the connection pool.
#[derive(Clone, Debug)]
pub struct HttpClient {
    inner: Client<HttpConnector, Full<Bytes>>,
    max_response_bytes: usize,
}

impl Default for HttpClient {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpClient {
    /// A client with [`DEFAULT_MAX_RESPONSE_BYTES`].
    pub fn new() -> Self {
        Self::with_max_response_bytes(DEFAULT_MAX_RESPONSE_BYTES)
    }

    /// A client refusing answers larger than `limit` bytes.
    pub fn with_max_response_bytes(limit: usize) -> Self {
        Self::with_options(limit, None)
    }

    /// A client refusing answers larger than `limit` bytes whose connections leave from
    /// `local` when given (a node listening on a specific IP talks from that IP, so the
    /// source check of its announcements holds on 127.0.0.x: PROTOCOL.md section 9).
    pub fn with_options(limit: usize, local: Option<std::net::IpAddr>) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_local_address(local);
        let inner = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            // Below the servers' 10 s header deadline between kept-alive requests, so a
            // pooled connection is not reused just as the server closes it.
            .pool_idle_timeout(Duration::from_secs(5))
            .pool_max_idle_per_host(4)
            .build(connector);
        Self {
            inner,
            max_response_bytes: limit,
        }
    }

    /// This client (sharing its connection pool) refusing answers larger than `limit`
    /// bytes (at most its own bound).
    pub fn limited(&self, limit: usize) -> HttpClient {
        HttpClient {
            inner: self.inner.clone(),
            max_response_bytes: limit.min(self.max_response_bytes),
        }
    }

    /// `GET url` and parse the JSON answer into `T`.
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        url: &str,
        timeout: Duration,
    ) -> Result<T, ClientError> {
        let body = self.send(Method::GET, url, None, timeout).await?;
        decode(url, &body)
    }

    /// `GET url` and parse the JSON answer into `T`, with the answer's headers (a paged
    /// answer carries its tip and next cursor there).
    pub async fn get_json_with_headers<T: DeserializeOwned>(
        &self,
        url: &str,
        timeout: Duration,
    ) -> Result<(T, hyper::HeaderMap), ClientError> {
        let (body, headers) = self.exchange(Method::GET, url, None, JSON, timeout).await?;
        Ok((decode(url, &body)?, headers))
    }

    /// `POST url` with `body` as JSON and parse the JSON answer into `T`.
    pub async fn post_json<B, T>(
        &self,
        url: &str,
        body: &B,
        timeout: Duration,
    ) -> Result<T, ClientError>
    where
        B: Serialize + ?Sized,
        T: DeserializeOwned,
    {
        let payload = serde_json::to_vec(body).map_err(|e| ClientError::BadJson {
            url: url.to_owned(),
            reason: format!("could not encode the request body: {e}"),
        })?;
        let answer = self
            .send(Method::POST, url, Some(payload.into()), timeout)
            .await?;
        decode(url, &answer)
    }

    /// `GET url` asking for `application/octet-stream`; returns the raw answer.
    pub async fn get_bytes(&self, url: &str, timeout: Duration) -> Result<Bytes, ClientError> {
        self.send_typed(Method::GET, url, None, OCTET_STREAM, timeout)
            .await
    }

    /// `POST url` with a binary body (`application/octet-stream`), parsing a JSON answer.
    pub async fn post_bytes<T: DeserializeOwned>(
        &self,
        url: &str,
        body: Bytes,
        timeout: Duration,
    ) -> Result<T, ClientError> {
        let answer = self
            .send_typed(Method::POST, url, Some(body), OCTET_STREAM, timeout)
            .await?;
        decode(url, &answer)
    }

    /// `POST url` with a binary body, returning the binary answer's bytes.
    pub async fn post_bytes_for_bytes(
        &self,
        url: &str,
        body: Bytes,
        timeout: Duration,
    ) -> Result<Bytes, ClientError> {
        self.send_typed(Method::POST, url, Some(body), OCTET_STREAM, timeout)
            .await
    }

    /// Sends one JSON request and returns the body of a 2xx answer.
    async fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<Bytes>,
        timeout: Duration,
    ) -> Result<Bytes, ClientError> {
        self.send_typed(method, url, body, JSON, timeout).await
    }

    /// Sends one request whose body (and preferred answer) is `media_type`.
    async fn send_typed(
        &self,
        method: Method,
        url: &str,
        body: Option<Bytes>,
        media_type: &'static str,
        timeout: Duration,
    ) -> Result<Bytes, ClientError> {
        self.exchange(method, url, body, media_type, timeout)
            .await
            .map(|(bytes, _)| bytes)
    }

    /// Sends one request; returns the body and headers of a 2xx answer.
    async fn exchange(
        &self,
        method: Method,
        url: &str,
        body: Option<Bytes>,
        media_type: &'static str,
        timeout: Duration,
    ) -> Result<(Bytes, hyper::HeaderMap), ClientError> {
        let uri = parse_url(url)?;
        let mut request = hyper::Request::new(Full::new(body.clone().unwrap_or_default()));
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        let headers = request.headers_mut();
        headers.insert(ACCEPT, HeaderValue::from_static(media_type));
        headers.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("ferro/", env!("CARGO_PKG_VERSION"))),
        );
        if body.is_some() {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(media_type));
        }
        let exchange = async {
            let response =
                self.inner
                    .request(request)
                    .await
                    .map_err(|e| ClientError::Unreachable {
                        url: url.to_owned(),
                        reason: error_chain(&e),
                    })?;
            let status = response.status();
            let headers = response.headers().clone();
            let bytes = match Limited::new(response.into_body(), self.max_response_bytes)
                .collect()
                .await
            {
                Ok(collected) => collected.to_bytes(),
                Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
                    return Err(ClientError::TooLarge {
                        url: url.to_owned(),
                        limit: self.max_response_bytes,
                    })
                }
                Err(e) => {
                    return Err(ClientError::Unreachable {
                        url: url.to_owned(),
                        reason: format!(
                            "connection broke while reading the answer: {}",
                            error_chain(&*e)
                        ),
                    })
                }
            };
            Ok((status, headers, bytes))
        };
        let (status, headers, bytes) =
            tokio::time::timeout(timeout, exchange)
                .await
                .map_err(|_| ClientError::Timeout {
                    url: url.to_owned(),
                    timeout,
                })??;
        if status.is_success() {
            Ok((bytes, headers))
        } else {
            Err(status_error(url, status, &bytes))
        }
    }
}

fn parse_url(url: &str) -> Result<Uri, ClientError> {
    let invalid = |reason: &str| ClientError::InvalidUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let uri: Uri = url
        .parse()
        .map_err(|e: hyper::http::uri::InvalidUri| invalid(&e.to_string()))?;
    if uri.scheme_str() != Some("http") {
        return Err(invalid("only http:// urls are supported"));
    }
    if uri.authority().is_none() {
        return Err(invalid("missing host"));
    }
    Ok(uri)
}

fn decode<T: DeserializeOwned>(url: &str, body: &[u8]) -> Result<T, ClientError> {
    serde_json::from_slice(body).map_err(|e| ClientError::BadJson {
        url: url.to_owned(),
        reason: e.to_string(),
    })
}

fn status_error(url: &str, status: StatusCode, body: &[u8]) -> ClientError {
    let (code, message) = match serde_json::from_slice::<ErrorBody>(body) {
        Ok(parsed) => (Some(parsed.error.code), parsed.error.message),
        Err(_) => {
            // Not an API error body: keep a short, printable excerpt.
            let text = String::from_utf8_lossy(body);
            let excerpt: String = text.chars().take(200).collect();
            (None, excerpt)
        }
    };
    ClientError::Status {
        url: url.to_owned(),
        status,
        code,
        message,
    }
}

/// `error: cause: cause…`, since hyper's top-level messages alone are vague
/// ("client error (Connect)").
fn error_chain(error: &(dyn StdError + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::error::Code;
    use crate::http::server::{self, ServerLimits};
    use crate::http::{ApiError, JsonBody};
    use axum::response::IntoResponse;
    use axum::routing::{get, post};
    use tokio::net::TcpListener;
    use tokio_util::sync::CancellationToken;

    /// Starts a test server; it stops when the returned guard is dropped.
    async fn serve() -> (String, tokio_util::sync::DropGuard) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let app = axum::Router::new()
            .route(
                "/ok",
                get(|| async { axum::Json(serde_json::json!({"height": 7})) }),
            )
            .route(
                "/echo",
                post(|JsonBody(v): JsonBody<serde_json::Value>| async move { axum::Json(v) }),
            )
            .route(
                "/text",
                get(|| async { ([(CONTENT_TYPE, JSON)], "not json").into_response() }),
            )
            .route("/big", get(|| async { axum::Json("x".repeat(10_000)) }))
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(10)).await;
                    axum::Json(())
                }),
            )
            .route(
                "/plain-error",
                get(|| async { (StatusCode::BAD_GATEWAY, "upstream down").into_response() }),
            )
            .fallback(|| async { ApiError::new(Code::WrongNetwork, "other genesis") });
        tokio::spawn(server::serve(
            listener,
            app,
            ServerLimits::default(),
            None,
            stop.clone(),
        ));
        (format!("http://{addr}"), stop.drop_guard())
    }

    #[derive(Debug, serde::Deserialize)]
    struct Info {
        height: u64,
    }

    const T: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn get_and_post_json() {
        let (base, _stop) = serve().await;
        let client = HttpClient::new();
        let info: Info = client.get_json(&format!("{base}/ok"), T).await.unwrap();
        assert_eq!(info.height, 7);
        let echoed: serde_json::Value = client
            .post_json(
                &format!("{base}/echo"),
                &serde_json::json!({"a": [1, 2]}),
                T,
            )
            .await
            .unwrap();
        assert_eq!(echoed, serde_json::json!({"a": [1, 2]}));
    }

    #[tokio::test]
    async fn api_errors_are_parsed() {
        let (base, _stop) = serve().await;
        let error = HttpClient::new()
            .get_json::<Info>(&format!("{base}/other"), T)
            .await
            .unwrap_err();
        assert_eq!(error.status(), Some(StatusCode::BAD_REQUEST));
        assert_eq!(error.code(), Some("wrong-network"));
        assert!(error.to_string().contains("other genesis"), "{error}");

        let error = HttpClient::new()
            .get_json::<Info>(&format!("{base}/plain-error"), T)
            .await
            .unwrap_err();
        assert_eq!(error.status(), Some(StatusCode::BAD_GATEWAY));
        assert_eq!(error.code(), None);
        assert!(error.to_string().contains("upstream down"), "{error}");
    }

    #[tokio::test]
    async fn bad_json_and_wrong_shape() {
        let (base, _stop) = serve().await;
        let client = HttpClient::new();
        let error = client
            .get_json::<Info>(&format!("{base}/text"), T)
            .await
            .unwrap_err();
        assert!(matches!(error, ClientError::BadJson { .. }), "{error:?}");
        let error = client
            .get_json::<Info>(&format!("{base}/big"), T)
            .await
            .unwrap_err();
        assert!(matches!(error, ClientError::BadJson { .. }), "{error:?}");
    }

    #[tokio::test]
    async fn oversized_answers_are_refused() {
        let (base, _stop) = serve().await;
        let error = HttpClient::with_max_response_bytes(1000)
            .get_json::<String>(&format!("{base}/big"), T)
            .await
            .unwrap_err();
        assert!(
            matches!(error, ClientError::TooLarge { limit: 1000, .. }),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn timeout_is_reported() {
        let (base, _stop) = serve().await;
        let error = HttpClient::new()
            .get_json::<Info>(&format!("{base}/slow"), Duration::from_millis(100))
            .await
            .unwrap_err();
        assert!(matches!(error, ClientError::Timeout { .. }), "{error:?}");
    }

    #[tokio::test]
    async fn closed_port_is_unreachable() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let error = HttpClient::new()
            .get_json::<Info>(&format!("http://{addr}/info"), T)
            .await
            .unwrap_err();
        assert!(
            matches!(error, ClientError::Unreachable { .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains("is unreachable"), "{error}");
    }

    #[tokio::test]
    async fn invalid_urls_are_refused() {
        let client = HttpClient::new();
        for url in ["not a url", "https://127.0.0.1:1/x", "/relative"] {
            let error = client.get_json::<Info>(url, T).await.unwrap_err();
            assert!(
                matches!(error, ClientError::InvalidUrl { .. }),
                "{url}: {error:?}"
            );
        }
    }
}
