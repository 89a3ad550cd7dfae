//! Reading requests: bounded bodies, JSON, content types and query strings.
//!
//! Every helper fails with an [`ApiError`] that can be sent as it is, so a
//! handler reads its input with `?` and a bad request never reaches its logic.

use std::error::Error as StdError;
use std::str::FromStr;

use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Body as HttpBody;
use hyper::header::{HeaderMap, CONTENT_LENGTH, CONTENT_TYPE};
use serde::de::DeserializeOwned;

use super::{ApiError, JSON};

/// Default bound on a request body: enough for a 1 MB block as JSON (API.md).
pub const DEFAULT_BODY_LIMIT: usize = 4 * 1024 * 1024;

/// Reads the whole body of `req`, refusing more than `limit` bytes with 413
/// `body-too-large`. A `Content-Length` above the limit is refused before
/// anything is read.
pub async fn read_body<B>(req: hyper::Request<B>, limit: usize) -> Result<Bytes, ApiError>
where
    B: HttpBody,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
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
    match Limited::new(req.into_body(), limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            Err(ApiError::body_too_large(limit))
        }
        Err(e) => Err(ApiError::malformed(format!(
            "could not read request body: {e}"
        ))),
    }
}

/// Parses a JSON body into `T`; any failure is 400 `malformed` with serde's
/// explanation (missing or unknown field, wrong type, position). Whether unknown
/// fields are refused is `T`'s choice (`#[serde(deny_unknown_fields)]`).
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::malformed(
            "request body is empty; expected a json document",
        ));
    }
    serde_json::from_slice(body).map_err(|e| ApiError::malformed(format!("invalid json body: {e}")))
}

/// Checks the content type is JSON (or absent), reads at most `limit` bytes and
/// parses them into `T`.
pub async fn read_json<T, B>(req: hyper::Request<B>, limit: usize) -> Result<T, ApiError>
where
    T: DeserializeOwned,
    B: HttpBody,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    require_json(req.headers())?;
    let body = read_body(req, limit).await?;
    parse_json(&body)
}

/// Picks which of the `accepted` media types the request's `Content-Type` is
/// (parameters such as `; charset=utf-8` and case are ignored). A request
/// without a `Content-Type` gets the first accepted type, the endpoint's default;
/// anything else is 415 `unsupported-media-type`.
pub fn negotiate_content_type<'a>(
    headers: &HeaderMap,
    accepted: &[&'a str],
) -> Result<&'a str, ApiError> {
    let expected = || accepted.join(" or ");
    let Some(value) = headers.get(CONTENT_TYPE) else {
        return accepted
            .first()
            .copied()
            .ok_or_else(|| ApiError::unsupported_media_type("this endpoint takes no body"));
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
            ApiError::unsupported_media_type(format!(
                "content type `{}` is not supported; expected {}",
                String::from_utf8_lossy(value.as_bytes()),
                expected()
            ))
        })
}

/// [`negotiate_content_type`] for endpoints that only take JSON.
pub fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    negotiate_content_type(headers, &[JSON]).map(|_| ())
}

/// A decoded query string (`?limit=8&from=12`).
///
/// Names and values are percent-decoded (`+` is a space). Reading a parameter
/// that appears twice is an error rather than a silent pick of one of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Decodes a raw query string (`None` or `""` is an empty query).
    pub fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        let mut pairs = Vec::new();
        for part in raw.unwrap_or_default().split('&') {
            if part.is_empty() {
                continue;
            }
            let (name, value) = part.split_once('=').unwrap_or((part, ""));
            pairs.push((percent_decode(name)?, percent_decode(value)?));
        }
        Ok(Self { pairs })
    }

    /// Decodes the query string of `uri`.
    pub fn from_uri(uri: &hyper::Uri) -> Result<Self, ApiError> {
        Self::parse(uri.query())
    }

    /// The value of `name`, if present; 400 `malformed` if it is given twice.
    pub fn get(&self, name: &str) -> Result<Option<&str>, ApiError> {
        let mut values = self.pairs.iter().filter(|(n, _)| n == name);
        let first = values.next();
        if values.next().is_some() {
            return Err(ApiError::malformed(format!(
                "query parameter `{name}` is given more than once"
            )));
        }
        Ok(first.map(|(_, v)| v.as_str()))
    }

    /// Parses `name` with [`FromStr`]; `expected` completes the error message
    /// ("query parameter `from` must be {expected}, got `x`").
    pub fn parse_opt<T: FromStr>(&self, name: &str, expected: &str) -> Result<Option<T>, ApiError> {
        match self.get(name)? {
            None => Ok(None),
            Some(raw) => raw.parse().map(Some).map_err(|_| {
                ApiError::malformed(format!(
                    "query parameter `{name}` must be {expected}, got `{raw}`"
                ))
            }),
        }
    }

    /// A page size: `default` when absent, at least 1, values above `max` are
    /// lowered to `max`.
    pub fn limit(&self, name: &str, default: usize, max: usize) -> Result<usize, ApiError> {
        match self.parse_opt::<usize>(name, "a positive integer")? {
            None => Ok(default.min(max)),
            Some(0) => Err(ApiError::malformed(format!(
                "query parameter `{name}` must be a positive integer, got `0`"
            ))),
            Some(n) => Ok(n.min(max)),
        }
    }

    /// Refuses parameters other than `known` (for endpoints that want to be strict).
    pub fn deny_unknown(&self, known: &[&str]) -> Result<(), ApiError> {
        match self
            .pairs
            .iter()
            .find(|(n, _)| !known.contains(&n.as_str()))
        {
            None => Ok(()),
            Some((name, _)) => Err(ApiError::malformed(format!(
                "unknown query parameter `{name}`; expected one of: {}",
                known.join(", ")
            ))),
        }
    }
}

fn percent_decode(raw: &str) -> Result<String, ApiError> {
    let bad = || ApiError::malformed(format!("invalid percent-encoding in query string: `{raw}`"));
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).ok_or_else(bad)?;
                let hex = std::str::from_utf8(hex).map_err(|_| bad())?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| bad())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use http_body_util::Full;
    use hyper::body::Frame;

    fn request(body: &'static [u8], content_type: Option<&str>) -> hyper::Request<Full<Bytes>> {
        let mut builder = hyper::Request::post("/x");
        if let Some(ct) = content_type {
            builder = builder.header(CONTENT_TYPE, ct);
        }
        builder.body(Full::new(Bytes::from_static(body))).unwrap()
    }

    #[derive(Debug, serde::Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Announce {
        address: String,
    }

    #[tokio::test]
    async fn body_within_limit_is_read() {
        let body = read_body(request(b"hello", None), 5).await.unwrap();
        assert_eq!(&body[..], b"hello");
    }

    #[tokio::test]
    async fn body_over_limit_is_413() {
        let error = read_body(request(b"hello!", None), 5).await.unwrap_err();
        assert_eq!(error.status(), 413);
        assert_eq!(error.code(), "body-too-large");
    }

    /// A body delivered in chunks with no size hint, like a chunked upload.
    struct Chunks(std::collections::VecDeque<Bytes>);

    impl HttpBody for Chunks {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            std::task::Poll::Ready(self.0.pop_front().map(|b| Ok(Frame::data(b))))
        }
    }

    #[tokio::test]
    async fn body_over_limit_without_content_length_is_413() {
        let chunks = (0..10).map(|_| Bytes::from_static(b"0123456789")).collect();
        let req = hyper::Request::post("/x").body(Chunks(chunks)).unwrap();
        let error = read_body(req, 50).await.unwrap_err();
        assert_eq!(error.code(), "body-too-large");

        let chunks = (0..5).map(|_| Bytes::from_static(b"0123456789")).collect();
        let req = hyper::Request::post("/x").body(Chunks(chunks)).unwrap();
        assert_eq!(read_body(req, 50).await.unwrap().len(), 50);
    }

    #[tokio::test]
    async fn declared_length_over_limit_is_413_before_reading() {
        let req = hyper::Request::post("/x")
            .header(CONTENT_LENGTH, "1000000")
            .body(Full::new(Bytes::from_static(b"{}")))
            .unwrap();
        assert_eq!(read_body(req, 10).await.unwrap_err().status(), 413);
    }

    #[tokio::test]
    async fn json_is_parsed_into_the_type() {
        let parsed: Announce = read_json(
            request(
                br#"{"address": "127.0.0.1:8000"}"#,
                Some("application/json; charset=utf-8"),
            ),
            1024,
        )
        .await
        .unwrap();
        assert_eq!(parsed.address, "127.0.0.1:8000");
    }

    #[test]
    fn malformed_json_is_400_with_a_clear_message() {
        let error = parse_json::<Announce>(b"{\"address\": ").unwrap_err();
        assert_eq!(error.status(), 400);
        assert_eq!(error.code(), "malformed");
        assert!(
            error.message().starts_with("invalid json body:"),
            "{}",
            error.message()
        );

        let error = parse_json::<Announce>(br#"{"address": "a", "extra": 1}"#).unwrap_err();
        assert!(
            error.message().contains("unknown field `extra`"),
            "{}",
            error.message()
        );

        let error = parse_json::<Announce>(br#"{"address": 5}"#).unwrap_err();
        assert!(
            error.message().contains("invalid type"),
            "{}",
            error.message()
        );

        let error = parse_json::<Announce>(b"  ").unwrap_err();
        assert!(error.message().contains("empty"), "{}", error.message());
    }

    #[tokio::test]
    async fn wrong_content_type_is_415() {
        let error = read_json::<Announce, _>(request(b"{}", Some("text/plain")), 1024)
            .await
            .unwrap_err();
        assert_eq!(error.status(), 415);
        assert_eq!(error.code(), "unsupported-media-type");
        assert!(error.message().contains("text/plain"));
    }

    #[test]
    fn content_type_negotiation() {
        let accepted = [JSON, super::super::OCTET_STREAM];
        let mut headers = HeaderMap::new();
        assert_eq!(negotiate_content_type(&headers, &accepted).unwrap(), JSON);
        headers.insert(CONTENT_TYPE, "Application/Octet-Stream".parse().unwrap());
        assert_eq!(
            negotiate_content_type(&headers, &accepted).unwrap(),
            "application/octet-stream"
        );
        headers.insert(
            CONTENT_TYPE,
            "application/x-www-form-urlencoded".parse().unwrap(),
        );
        assert_eq!(
            negotiate_content_type(&headers, &accepted)
                .unwrap_err()
                .status(),
            415
        );
    }

    #[test]
    fn query_parsing() {
        let query = Query::parse(Some("limit=5&name=a%20b+c&flag")).unwrap();
        assert_eq!(query.get("limit").unwrap(), Some("5"));
        assert_eq!(query.get("name").unwrap(), Some("a b c"));
        assert_eq!(query.get("flag").unwrap(), Some(""));
        assert_eq!(query.get("missing").unwrap(), None);
        assert_eq!(query.limit("limit", 8, 100).unwrap(), 5);
        assert_eq!(query.limit("other", 8, 100).unwrap(), 8);
        assert!(query.deny_unknown(&["limit", "name", "flag"]).is_ok());
        assert_eq!(
            query.deny_unknown(&["limit"]).unwrap_err().code(),
            "malformed"
        );
    }

    #[test]
    fn query_limit_rules() {
        let limit = |raw: &str| Query::parse(Some(raw)).unwrap().limit("limit", 8, 100);
        assert_eq!(limit("limit=1000").unwrap(), 100);
        let error = limit("limit=abc").unwrap_err();
        assert_eq!(error.code(), "malformed");
        assert_eq!(
            error.message(),
            "query parameter `limit` must be a positive integer, got `abc`"
        );
        assert!(limit("limit=0").is_err());
        assert!(limit("limit=-1").is_err());
        assert!(limit("limit=1&limit=2")
            .unwrap_err()
            .message()
            .contains("more than once"));
    }

    #[test]
    fn bad_percent_encoding_is_malformed() {
        assert!(Query::parse(Some("a=%zz")).is_err());
        assert!(Query::parse(Some("a=%4")).is_err());
        assert!(Query::parse(Some("a=%ff")).is_err()); // not utf-8
        assert_eq!(Query::parse(None).unwrap(), Query::default());
    }
}
