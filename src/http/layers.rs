//! The tower layers every API router gets ([`harden`]): a tracing span per request, the
//! API error shape on every error answer (also those tower-http and axum make
//! themselves), a per-source request rate (429 with `Retry-After`), a concurrency limit
//! that sheds load at once (503) instead of queueing, a request timeout (408) and the
//! body limit (413); with [`harden_with_metrics`], a count of every answer by route
//! template, method and status.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::error_handling::HandleErrorLayer;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use http::header::{ALLOW, CONTENT_TYPE};
use http::StatusCode;
use std::net::SocketAddr;
use tower::ServiceBuilder;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use super::server::{is_exempt_loopback, source_key};
use super::ApiError;
use crate::error::Code;
use crate::metrics::{HttpMetrics, RouteLabel, UNMATCHED_ROUTE};

/// Default bound on a request body: enough for a 1 MB block as JSON (API.md).
pub const DEFAULT_BODY_LIMIT: usize = 4 * 1024 * 1024;

/// Bounds on each request.
#[derive(Debug, Clone)]
pub struct RequestLimits {
    /// Largest request body (413 `body-too-large` above it).
    pub body_limit: usize,
    /// Time a request has from its head to its answer (408 `request-timeout`).
    pub request_timeout: Duration,
    /// Time a body may take before it must arrive at `body_min_rate`.
    pub body_grace: Duration,
    /// Bytes per second a body must average after `body_grace` (408 below it).
    pub body_min_rate: u64,
    /// Requests handled at once; over it, 503 `not-ready` at once.
    pub concurrency: usize,
    /// Handlers' work running on blocking threads at once (it outlives a request whose
    /// client left); over it, 503 `not-ready` at once.
    pub blocking_work: usize,
    /// Requests per second per source (the bucket refills at this rate).
    pub rate_per_second: u32,
    /// Requests a source may make in a burst.
    pub rate_burst: u32,
    /// Sources tracked by the rate limiter at most.
    pub rate_sources: usize,
    /// Whether 127.0.0.1 and ::1 are exempt from the request rate.
    pub exempt_loopback: bool,
}

impl Default for RequestLimits {
    fn default() -> Self {
        Self {
            body_limit: DEFAULT_BODY_LIMIT,
            request_timeout: Duration::from_secs(30),
            body_grace: Duration::from_secs(5),
            body_min_rate: 16 * 1024,
            concurrency: 512,
            blocking_work: 64,
            rate_per_second: 100,
            rate_burst: 200,
            rate_sources: 10_000,
            exempt_loopback: true,
        }
    }
}

/// Wraps `router` in the layers of the module documentation.
///
/// The size and time bounds go on the routes; everything that must be one for the whole
/// server (the concurrency limit's semaphore, the rate limiter's table) and the error
/// shape (a 405 gets `Allow` only after the route's layers) wraps the router from
/// outside: `Router::layer` would give every route and method its own semaphore.
pub fn harden(router: Router, limits: &RequestLimits) -> Router {
    harden_with_metrics(router, limits, None)
}

/// [`harden`], also counting every answer in `metrics` (when given) by route template
/// (axum's [`MatchedPath`], never the raw path: [`UNMATCHED_ROUTE`] when no route
/// matched or the answer came before routing), method and status.
pub fn harden_with_metrics(
    router: Router,
    limits: &RequestLimits,
    metrics: Option<HttpMetrics>,
) -> Router {
    let limiter = Arc::new(RateLimiter::new(limits));
    let limits_ext = limits.clone();
    let routes = router
        .layer(axum::extract::DefaultBodyLimit::max(limits.body_limit))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.request_timeout,
        ));
    // Outside the route's own layers, so a route's 408 is counted under its template.
    let routes = match &metrics {
        Some(_) => routes.layer(middleware::from_fn(tag_route)),
        None => routes,
    };
    let server_wide = ServiceBuilder::new()
        .layer(middleware::from_fn(shape_errors))
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            count_request(metrics.clone(), req, next)
        }))
        .layer(middleware::from_fn(move |mut req: Request, next: Next| {
            req.extensions_mut().insert(limits_ext.clone());
            next.run(req)
        }))
        .layer(middleware::from_fn_with_state(limiter, rate_limit))
        .layer(HandleErrorLayer::new(|_: tower::BoxError| async {
            ApiError::new(
                Code::NotReady,
                "the server is overloaded; try again shortly",
            )
            .with_retry_after(Duration::from_secs(1))
        }))
        .load_shed()
        .concurrency_limit(limits.concurrency.max(1))
        .service(routes);
    Router::new().fallback_service(server_wide).layer(
        TraceLayer::new_for_http()
            .make_span_with(|req: &Request| {
                tracing::debug_span!("request", method = %req.method(), path = %req.uri().path())
            })
            .on_response(DefaultOnResponse::new().level(Level::DEBUG)),
    )
}

/// Whether `path` is one of the explorer's HTML pages (`/explorer`, `/explorer/…`): their
/// errors are HTML pages, never the API's JSON (API.md, second round).
pub fn is_html_path(path: &str) -> bool {
    path == "/explorer" || path.starts_with("/explorer/")
}

/// The error shape of the path: HTML under `/explorer/`, JSON everywhere else.
async fn shape_errors(req: Request, next: Next) -> Response {
    let html = is_html_path(req.uri().path());
    let response = next.run(req).await;
    if html {
        html_error_shape(response)
    } else {
        error_shape(response)
    }
}

/// An explorer error answer that is not HTML yet (a layer's 408, 429 or 503, axum's 405)
/// becomes a small HTML page naming the status; its headers (`Retry-After`, `Allow`) stay.
fn html_error_shape(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_html = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if is_html {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    let title = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error")
    );
    let body = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         </head><body><h1>{title}</h1><p><a href=\"/explorer/\">Back to the explorer</a></p>\
         </body></html>"
    );
    parts.headers.remove(http::header::CONTENT_LENGTH);
    parts.headers.insert(
        CONTENT_TYPE,
        http::HeaderValue::from_static("text/html; charset=utf-8"),
    );
    parts.headers.insert(
        http::header::CONTENT_SECURITY_POLICY,
        http::HeaderValue::from_static("default-src 'none'"),
    );
    Response::from_parts(parts, axum::body::Body::from(body))
}

/// Inside the router: marks the answer with the route template that produced it.
async fn tag_route(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let mut response = next.run(req).await;
    if let Some(route) = route {
        response.extensions_mut().insert(RouteLabel(route));
    }
    response
}

/// Outside the rate limit and load shedding: counts the answer (before [`error_shape`],
/// which rebuilds error answers without their extensions).
async fn count_request(metrics: Option<HttpMetrics>, req: Request, next: Next) -> Response {
    let Some(metrics) = metrics else {
        return next.run(req).await;
    };
    let method = req.method().clone();
    let response = next.run(req).await;
    let route = response
        .extensions()
        .get::<RouteLabel>()
        .map_or(UNMATCHED_ROUTE, |r| r.0.as_str());
    metrics.observe(route, &method, response.status());
    response
}

/// Gives every error answer that is not already JSON the API's error body: axum's own
/// 405 (keeping `Allow`) and rejections, tower-http's 408, overload answers.
fn error_shape(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(super::JSON));
    if is_json {
        return response;
    }
    let code = match status {
        StatusCode::NOT_FOUND => Code::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => Code::MethodNotAllowed,
        StatusCode::REQUEST_TIMEOUT => Code::RequestTimeout,
        StatusCode::PAYLOAD_TOO_LARGE => Code::BodyTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => Code::UnsupportedMediaType,
        StatusCode::TOO_MANY_REQUESTS => Code::RateLimited,
        StatusCode::SERVICE_UNAVAILABLE => Code::NotReady,
        s if s.is_client_error() => Code::Malformed,
        _ => Code::Internal,
    };
    // axum lists methods as `GET,HEAD,POST`; API.md's answers read `GET, POST`.
    let allow = response
        .headers()
        .get(ALLOW)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|m| *m != "HEAD")
                .collect::<Vec<_>>()
                .join(", ")
        });
    let message = match code {
        Code::MethodNotAllowed => {
            format!(
                "method not allowed here; allowed: {}",
                allow.as_deref().unwrap_or_default()
            )
        }
        Code::RequestTimeout => "the request did not complete in time".to_owned(),
        _ => status
            .canonical_reason()
            .unwrap_or("error")
            .to_ascii_lowercase(),
    };
    let (mut parts, _) = response.into_parts();
    let mut shaped = ApiError::new(code, message).into_response();
    // Keep the original's headers (Allow, Retry-After) under the new body's.
    parts.headers.remove(http::header::CONTENT_LENGTH);
    for (name, value) in shaped.headers() {
        parts.headers.insert(name.clone(), value.clone());
    }
    if let Some(value) = allow.and_then(|a| http::HeaderValue::from_str(&a).ok()) {
        parts.headers.insert(ALLOW, value);
    }
    *shaped.headers_mut() = parts.headers;
    *shaped.status_mut() = status;
    shaped
}

/// A token bucket per source ([`source_key`]: an IPv4 address or an IPv6 /64), in a table
/// bounded by [`RequestLimits::rate_sources`]. When the table is full, buckets that have
/// refilled are swept (at most once a second, so a flood of new sources cannot make
/// every request scan the table); if it is still full, new sources share one overflow
/// bucket rather than evict anyone's debt.
pub struct RateLimiter {
    table: Mutex<Table>,
    rate: f64,
    burst: f64,
    max_sources: usize,
    exempt_loopback: bool,
}

struct Table {
    buckets: HashMap<IpAddr, Bucket>,
    last_sweep: Option<Instant>,
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The key of the bucket new sources share while the table is full.
const OVERFLOW: IpAddr = IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED);
/// Least time between two sweeps of a full table.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

impl RateLimiter {
    pub fn new(limits: &RequestLimits) -> Self {
        Self {
            table: Mutex::new(Table {
                buckets: HashMap::new(),
                last_sweep: None,
            }),
            rate: f64::from(limits.rate_per_second.max(1)),
            burst: f64::from(limits.rate_burst.max(1)),
            max_sources: limits.rate_sources.max(1),
            exempt_loopback: limits.exempt_loopback,
        }
    }

    /// Takes a token for `source`, or says how long until one is free.
    pub fn check(&self, source: IpAddr, now: Instant) -> Result<(), Duration> {
        if self.exempt_loopback && is_exempt_loopback(source) {
            return Ok(());
        }
        let mut key = source_key(source);
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        if !table.buckets.contains_key(&key) && table.buckets.len() >= self.max_sources {
            self.sweep(&mut table, now);
            if table.buckets.len() >= self.max_sources {
                key = OVERFLOW;
            }
        }
        let bucket = table.buckets.entry(key).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate).min(self.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / self.rate))
        }
    }

    /// Forgets the buckets that have refilled (they hold no debt), at most once a second.
    fn sweep(&self, table: &mut Table, now: Instant) {
        if table
            .last_sweep
            .is_some_and(|at| now.saturating_duration_since(at) < SWEEP_EVERY)
        {
            return;
        }
        table.last_sweep = Some(now);
        let (rate, burst) = (self.rate, self.burst);
        table.buckets.retain(|_, b| {
            b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * rate < burst
        });
    }

    /// Sources tracked now (the overflow bucket included).
    pub fn tracked(&self) -> usize {
        self.table
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .buckets
            .len()
    }
}

async fn rate_limit(State(limiter): State<Arc<RateLimiter>>, req: Request, next: Next) -> Response {
    let source = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    if let Some(source) = source {
        if let Err(wait) = limiter.check(source, Instant::now()) {
            return ApiError::rate_limited(
                format!("too many requests from {source}; retry later"),
                wait,
            )
            .into_response();
        }
    }
    next.run(req).await
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn limiter(rate: u32, burst: u32, sources: usize) -> RateLimiter {
        RateLimiter::new(&RequestLimits {
            rate_per_second: rate,
            rate_burst: burst,
            rate_sources: sources,
            ..RequestLimits::default()
        })
    }

    /// Answers by route template, a route's own timeout under its template, and
    /// unknown paths under one fixed label.
    #[tokio::test]
    async fn answers_are_counted_by_route_template() {
        use tower::ServiceExt;
        let registry = prometheus::Registry::new();
        let metrics = HttpMetrics::new(&registry);
        let router = Router::new()
            .route("/items/{id}", axum::routing::get(|| async { "item" }))
            .route(
                "/slow",
                axum::routing::get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "late"
                }),
            );
        let limits = RequestLimits {
            request_timeout: Duration::from_millis(50),
            ..RequestLimits::default()
        };
        let app = harden_with_metrics(router, &limits, Some(metrics));
        for path in ["/items/1", "/items/2", "/slow", "/nope/1", "/nope/2"] {
            let req = Request::builder()
                .uri(path)
                .body(axum::body::Body::empty())
                .unwrap();
            let _ = app.clone().oneshot(req).await.unwrap();
        }
        let text = crate::metrics::render(&registry);
        for line in [
            "http_requests_total{method=\"GET\",route=\"/items/{id}\",status=\"200\"} 2",
            "http_requests_total{method=\"GET\",route=\"/slow\",status=\"408\"} 1",
            "http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"} 2",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }

    #[test]
    fn a_source_gets_its_burst_then_waits_for_the_rate() {
        let l = limiter(10, 3, 100);
        let ip: IpAddr = "127.0.0.2".parse().unwrap();
        let t = Instant::now();
        for _ in 0..3 {
            assert!(l.check(ip, t).is_ok());
        }
        let wait = l.check(ip, t).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_millis(100),
            "{wait:?}"
        );
        // Another source is not affected, and the first refills at the rate.
        assert!(l.check("127.0.0.3".parse().unwrap(), t).is_ok());
        assert!(l.check(ip, t + Duration::from_millis(100)).is_ok());
        assert!(l.check(ip, t + Duration::from_millis(100)).is_err());
    }

    #[test]
    fn an_ipv6_slash_64_is_one_source() {
        let l = limiter(1, 2, 100);
        let t = Instant::now();
        assert!(l.check("2001:db8:0:1::1".parse().unwrap(), t).is_ok());
        assert!(l.check("2001:db8:0:1::2".parse().unwrap(), t).is_ok());
        assert!(l.check("2001:db8:0:1:ffff::3".parse().unwrap(), t).is_err());
        assert!(l.check("2001:db8:0:2::1".parse().unwrap(), t).is_ok());
    }

    #[test]
    fn loopback_is_exempt_and_others_are_not() {
        let l = limiter(1, 1, 100);
        let t = Instant::now();
        for _ in 0..100 {
            assert!(l.check("127.0.0.1".parse().unwrap(), t).is_ok());
            assert!(l.check("::1".parse().unwrap(), t).is_ok());
        }
        assert!(l.check("::ffff:127.0.0.2".parse().unwrap(), t).is_ok());
        assert!(l.check("127.0.0.2".parse().unwrap(), t).is_err());
    }

    #[test]
    fn the_table_of_sources_stays_bounded_when_filled() {
        let l = limiter(1, 2, 64);
        let t = Instant::now();
        for i in 0..10_000u32 {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            // Each source spends its burst: none refills within the test.
            let _ = l.check(ip, t);
            let _ = l.check(ip, t);
            assert!(l.tracked() <= 65, "64 sources and the overflow bucket");
        }
        // The first 64 keep their debt: nobody was evicted to make room.
        let first = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000));
        assert!(l.check(first, t).is_err());
        // Newcomers share the overflow bucket, spent long ago by the flood.
        let newcomer = IpAddr::from(std::net::Ipv4Addr::from(0x0b00_0000));
        assert!(l.check(newcomer, t).is_err());
        // Once the debts are paid, a sweep makes room again.
        let later = t + Duration::from_secs(5);
        assert!(l.check(newcomer, later).is_ok());
        assert!(l.tracked() <= 2);
    }
}
