//! The accept loop shared by the node and the seed: hyper-util connections serving an
//! axum [`Router`], with the per-source bounds of PROTOCOL.md section 9.
//!
//! `axum::serve` has no header-read timeout and no per-connection hook, so this loop
//! accepts itself and decides per connection before any byte is read:
//! - at most [`ServerLimits::per_source_connections`] open connections per source IP
//!   (127.0.0.1 and ::1 exempt by default); over it the connection is answered
//!   `429 rate-limited` with `Retry-After` and closed;
//! - at most [`ServerLimits::max_connections`] in all, of which
//!   [`ServerLimits::reserved_connections`] are kept for exempt and favoured sources
//!   (peers that delivered valid blocks or transactions recently); over it: `503`;
//! - a deadline for each request's headers (hyper's header-read timeout) and an idle
//!   timeout between requests, which never ends a response still being sent.
//!
//! Request-level bounds (body rate, request rate, timeouts, concurrency) are layers on
//! the router: see [`super::layers`]. Shutdown is one [`CancellationToken`]: the loop
//! stops accepting, every connection finishes its in-flight request and closes, and the
//! loop returns once all have ended or [`ServerLimits::shutdown_grace`] has passed.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// Bounds that protect the server from too many, too slow or too idle clients.
#[derive(Debug, Clone)]
pub struct ServerLimits {
    /// Open connections in all.
    pub max_connections: usize,
    /// Open connections per source IP (PROTOCOL.md section 9: 8).
    pub per_source_connections: usize,
    /// Of `max_connections`, how many only exempt and favoured sources may take.
    pub reserved_connections: usize,
    /// Time a client has to send a complete request head.
    pub header_read_timeout: Duration,
    /// A connection with no request in flight for this long is closed. Between requests
    /// on a kept-alive connection the header deadline applies too (hyper starts it as
    /// soon as it waits for the next head), so the shorter of the two wins.
    pub idle_timeout: Duration,
    /// A connection whose answer could not be written for this long (a client that
    /// does not read) is dropped.
    pub write_stall_timeout: Duration,
    /// How long shutdown waits for in-flight connections before dropping them.
    pub shutdown_grace: Duration,
    /// Whether 127.0.0.1 and ::1 are exempt from the per-source bounds.
    pub exempt_loopback: bool,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            per_source_connections: 8,
            reserved_connections: 128,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            write_stall_timeout: Duration::from_secs(20),
            shutdown_grace: Duration::from_secs(10),
            exempt_loopback: true,
        }
    }
}

impl ServerLimits {
    /// Whether `ip` is exempt from the per-source bounds.
    pub fn is_exempt(&self, ip: IpAddr) -> bool {
        self.exempt_loopback && is_exempt_loopback(ip)
    }
}

/// 127.0.0.1 and ::1: the addresses a wallet, a browser and local peers share
/// (PROTOCOL.md section 9). Other 127/8 addresses are not exempt, so tests of the caps
/// can use them.
pub fn is_exempt_loopback(ip: IpAddr) -> bool {
    let ip = ip.to_canonical();
    ip == IpAddr::V4(Ipv4Addr::LOCALHOST) || ip == IpAddr::V6(Ipv6Addr::LOCALHOST)
}

/// What per-source bounds count by: an IPv4 address, or the /64 of an IPv6 address
/// (one subscriber commonly gets a whole /64, so counting single IPv6 addresses would
/// give one attacker 2^64 sources). IPv4-mapped addresses count as IPv4.
pub fn source_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let mut segments = v6.segments();
            segments[4..].fill(0);
            IpAddr::V6(Ipv6Addr::from(segments))
        }
        v4 => v4,
    }
}

/// Sources that keep the reserved share of connection slots (peers that delivered
/// valid blocks or transactions recently).
pub type Favoured = Arc<dyn Fn(IpAddr) -> bool + Send + Sync>;

/// Completes on Ctrl-C or SIGTERM: what the binaries cancel their shutdown token on.
pub async fn os_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

/// First and largest pause after a failed `accept`.
const ACCEPT_BACKOFF_START: Duration = Duration::from_millis(10);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Open connections, in all and per source.
#[derive(Default)]
struct Slots {
    total: usize,
    per_source: HashMap<IpAddr, usize>,
}

/// Why a connection was turned away before being served.
enum Refusal {
    /// Too many from this source: 429.
    Source,
    /// The server is full (for this source): 503.
    Full,
}

struct SlotTable {
    slots: Mutex<Slots>,
    limits: ServerLimits,
    favoured: Option<Favoured>,
}

impl SlotTable {
    fn lock(&self) -> std::sync::MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a slot for a connection from `ip`, counted under its [`source_key`], or
    /// says why not.
    fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<SlotGuard, Refusal> {
        let limits = &self.limits;
        let exempt = limits.is_exempt(ip);
        let source = source_key(ip);
        let mut slots = self.lock();
        let mine = slots.per_source.get(&source).copied().unwrap_or(0);
        if !exempt && mine >= limits.per_source_connections.max(1) {
            return Err(Refusal::Source);
        }
        let max = limits.max_connections.max(1);
        if slots.total >= max {
            return Err(Refusal::Full);
        }
        let open_to_all = max.saturating_sub(limits.reserved_connections);
        if slots.total >= open_to_all && !exempt {
            // Only favoured sources may take the reserved share; ask outside no lock
            // of theirs (the predicate takes the peer table's own lock).
            drop(slots);
            let favoured = self.favoured.as_ref().is_some_and(|f| f(ip));
            if !favoured {
                return Err(Refusal::Full);
            }
            slots = self.lock();
            if slots.total >= max {
                return Err(Refusal::Full);
            }
        }
        slots.total += 1;
        *slots.per_source.entry(source).or_insert(0) += 1;
        Ok(SlotGuard {
            table: Arc::clone(self),
            source,
        })
    }
}

/// Gives the slot back when the connection ends.
struct SlotGuard {
    table: Arc<SlotTable>,
    source: IpAddr,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        let mut slots = self.table.lock();
        slots.total = slots.total.saturating_sub(1);
        if let Some(n) = slots.per_source.get_mut(&self.source) {
            *n -= 1;
            if *n == 0 {
                slots.per_source.remove(&self.source);
            }
        }
    }
}

/// Serves `app` on `listener` until `shutdown` is cancelled, then shuts down gracefully
/// (see the module documentation), after raising the process's open-file limit to fit
/// `limits`. `favoured` names the sources that may use the
/// reserved share of slots. The listener is closed when this returns.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ServerLimits,
    favoured: Option<Favoured>,
    shutdown: CancellationToken,
) {
    raise_open_file_limit(&limits);
    let table = Arc::new(SlotTable {
        slots: Mutex::new(Slots::default()),
        limits: limits.clone(),
        favoured,
    });
    let connections = TaskTracker::new();
    // Cancelled when the shutdown grace has passed: connections still open are dropped.
    let abort = CancellationToken::new();
    let refusals = Arc::new(tokio::sync::Semaphore::new(MAX_LINGERING_REFUSALS));
    let mut backoff = ACCEPT_BACKOFF_START;
    loop {
        let (stream, remote) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => {
                    backoff = ACCEPT_BACKOFF_START;
                    accepted
                }
                Err(e) => {
                    // Out of file descriptors, typically: pause rather than spin.
                    tracing::warn!(error = %e, ?backoff, "accept failed; backing off");
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                    continue;
                }
            },
        };
        let source = remote.ip().to_canonical();
        let guard = match table.admit(source) {
            Ok(guard) => guard,
            Err(refusal) => {
                refuse(stream, refusal, source, &refusals);
                continue;
            }
        };
        let app = app.clone();
        let stop = shutdown.clone();
        let abort = abort.clone();
        let limits = limits.clone();
        connections.spawn(async move {
            tokio::select! {
                () = serve_connection(stream, remote, app, &limits, stop) => {}
                () = abort.cancelled() => {}
            }
            drop(guard);
        });
    }
    // Stop accepting: close the socket so new clients are refused at once.
    drop(listener);
    connections.close();
    if !connections.is_empty() {
        tracing::debug!(
            open = connections.len(),
            "waiting for connections to finish"
        );
    }
    if tokio::time::timeout(limits.shutdown_grace, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            remaining = connections.len(),
            grace = ?limits.shutdown_grace,
            "connections still open after the shutdown grace period; dropping them"
        );
        abort.cancel();
        connections.wait().await;
    }
}

/// Raises the soft open-file limit to fit the connection caps (PROTOCOL.md section 9):
/// each connection is a descriptor, and the database, peers and logs need some more.
fn raise_open_file_limit(limits: &ServerLimits) {
    let wanted = limits.max_connections as u64 + 256;
    match rlimit::increase_nofile_limit(wanted) {
        Ok(got) if got < wanted => tracing::warn!(
            wanted,
            got,
            "the open-file limit is below what the connection caps need; lower --max-connections or raise the hard limit"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "could not raise the open-file limit"),
    }
}

/// Refused connections answered at once by lingering tasks at most; past it a refusal
/// is one non-blocking write and a close.
const MAX_LINGERING_REFUSALS: usize = 64;
/// How long a lingering refusal waits for the client to stop sending.
const REFUSAL_LINGER: Duration = Duration::from_secs(1);

/// Answers a refused connection with its error and closes it. The answer is far smaller
/// than a socket buffer, so one write sends it; then the write side is shut and what the
/// client still sends is read and dropped for a moment, so the close is not a reset that
/// could destroy the answer before the client reads it. Lingering tasks are bounded
/// ([`MAX_LINGERING_REFUSALS`]); over the bound the connection is just closed.
fn refuse(
    stream: TcpStream,
    refusal: Refusal,
    source: IpAddr,
    lingering: &Arc<tokio::sync::Semaphore>,
) {
    let (status, code, message) = match refusal {
        Refusal::Source => (
            "429 Too Many Requests",
            "rate-limited",
            "too many connections from this address",
        ),
        Refusal::Full => (
            "503 Service Unavailable",
            "not-ready",
            "the server has no free connection slot",
        ),
    };
    tracing::debug!(%source, code, "connection refused");
    let body = format!(r#"{{"error":{{"code":"{code}","message":"{message}"}}}}"#);
    let answer = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\nretry-after: 1\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.try_write(answer.as_bytes());
    let Ok(permit) = Arc::clone(lingering).try_acquire_owned() else {
        return;
    };
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = stream;
        let _ = tokio::time::timeout(REFUSAL_LINGER, async {
            let _ = stream.shutdown().await;
            let mut sink = [0u8; 4096];
            while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
        })
        .await;
        drop(permit);
    });
}

/// When a connection last finished a request, and how many are in flight.
#[derive(Default)]
struct Activity {
    in_flight: AtomicUsize,
    /// Milliseconds since `start` of the last request end (or of the connection start).
    last_ms: AtomicU64,
    /// 1 + milliseconds since `start` when a write began waiting for the client to
    /// read; 0 while writes go through.
    write_blocked_ms: AtomicU64,
}

impl Activity {
    /// How long the current write has waited for the client to read, if one is waiting.
    fn write_stalled_for(&self, start: Instant) -> Option<Duration> {
        match self.write_blocked_ms.load(Ordering::Acquire) {
            0 => None,
            since => Some(
                start
                    .elapsed()
                    .saturating_sub(Duration::from_millis(since - 1)),
            ),
        }
    }

    fn idle_for(&self, start: Instant) -> Option<Duration> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let last = Duration::from_millis(self.last_ms.load(Ordering::Acquire));
        Some(start.elapsed().saturating_sub(last))
    }
}

/// Ends a request's activity when its response body is done or dropped, so a streaming
/// response is never idle.
struct InFlight {
    activity: Arc<Activity>,
    start: Instant,
}

impl InFlight {
    fn begin(activity: &Arc<Activity>, start: Instant) -> Self {
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        Self {
            activity: Arc::clone(activity),
            start,
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let now = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.activity.last_ms.store(now, Ordering::Release);
        self.activity.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that holds its request's [`InFlight`] until it is sent.
struct TrackedBody {
    inner: axum::body::Body,
    _in_flight: InFlight,
}

impl HttpBody for TrackedBody {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The connection's socket, noting when a write has to wait for the client to read.
struct Watched {
    io: TokioIo<TcpStream>,
    activity: Arc<Activity>,
    start: Instant,
}

impl hyper::rt::Read for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl Watched {
    fn note_write<T>(&self, poll: &Poll<std::io::Result<T>>) {
        let blocked = &self.activity.write_blocked_ms;
        match poll {
            Poll::Pending => {
                if blocked.load(Ordering::Relaxed) == 0 {
                    let now = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
                    blocked.store(now.saturating_add(1), Ordering::Release);
                }
            }
            Poll::Ready(_) => blocked.store(0, Ordering::Release),
        }
    }
}

impl hyper::rt::Write for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.io).poll_write(cx, buf);
        self.note_write(&poll);
        poll
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let poll = Pin::new(&mut self.io).poll_flush(cx);
        self.note_write(&poll);
        poll
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.note_write(&poll);
        poll
    }
}

async fn serve_connection(
    stream: TcpStream,
    remote: SocketAddr,
    app: Router,
    limits: &ServerLimits,
    stop: CancellationToken,
) {
    let _ = stream.set_nodelay(true);
    let start = Instant::now();
    let activity = Arc::new(Activity::default());
    let tracked = Arc::clone(&activity);
    let service = service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(remote));
        let in_flight = InFlight::begin(&tracked, start);
        let call = app.clone().oneshot(req.map(axum::body::Body::new));
        async move {
            let response = match call.await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            Ok::<_, Infallible>(response.map(|inner| TrackedBody {
                inner,
                _in_flight: in_flight,
            }))
        }
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .serve_connection(
            Watched {
                io: TokioIo::new(stream),
                activity: Arc::clone(&activity),
                start,
            },
            service,
        );
    tokio::pin!(connection);
    let tick = (limits.idle_timeout / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
    let mut closing = false;
    let result = loop {
        tokio::select! {
            result = connection.as_mut() => break result,
            () = stop.cancelled(), if !closing => {
                // Finish the request in progress (if any), then close.
                connection.as_mut().graceful_shutdown();
                closing = true;
            }
            () = tokio::time::sleep(tick) => {
                if activity
                    .write_stalled_for(start)
                    .is_some_and(|stalled| stalled >= limits.write_stall_timeout)
                {
                    // A client that does not read its answer: drop the connection.
                    tracing::debug!(%remote, "dropping a connection whose client stopped reading");
                    return;
                }
                if !closing
                    && activity.idle_for(start).is_some_and(|idle| idle >= limits.idle_timeout)
                {
                    tracing::trace!(%remote, "closing an idle connection");
                    connection.as_mut().graceful_shutdown();
                    closing = true;
                }
            }
        }
    };
    if let Err(e) = result {
        // Client-side trouble (reset, timeout, garbage): nothing to do but log.
        tracing::debug!(%remote, error = %e, "connection ended with an error");
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::http::{harden, JsonBody, RequestLimits};
    use axum::routing::{get, post};
    use std::future::Future;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpSocket;
    use tokio::sync::Notify;

    const DEADLINE: Duration = Duration::from_secs(10);

    fn app() -> Router {
        Router::new().route("/x", get(|| async { "x" })).route(
            "/echo",
            post(|JsonBody(v): JsonBody<serde_json::Value>| async move { axum::Json(v) }),
        )
    }

    async fn start(
        app: Router,
        limits: ServerLimits,
        favoured: Option<Favoured>,
    ) -> (SocketAddr, CancellationToken, tokio::task::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let task = tokio::spawn(serve(listener, app, limits, favoured, stop.clone()));
        (addr, stop, task)
    }

    async fn connect_from(source: &str, to: SocketAddr) -> TcpStream {
        let socket = TcpSocket::new_v4().unwrap();
        socket
            .bind(SocketAddr::new(source.parse().unwrap(), 0))
            .unwrap();
        socket.connect(to).await.unwrap()
    }

    /// Sends `request` and reads until the server closes, or `DEADLINE`.
    async fn exchange(stream: &mut TcpStream, request: &[u8]) -> String {
        stream.write_all(request).await.unwrap();
        read_all(stream).await
    }

    async fn read_all(stream: &mut TcpStream) -> String {
        let mut out = Vec::new();
        let _ = tokio::time::timeout(DEADLINE, stream.read_to_end(&mut out)).await;
        String::from_utf8_lossy(&out).into_owned()
    }

    const GET_X: &[u8] = b"GET /x HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n";

    #[tokio::test]
    async fn a_source_over_its_cap_gets_429_and_others_are_served() {
        let limits = ServerLimits {
            per_source_connections: 2,
            ..ServerLimits::default()
        };
        let (addr, stop, task) = start(app(), limits, None).await;
        let _held: Vec<TcpStream> = vec![
            connect_from("127.0.0.2", addr).await,
            connect_from("127.0.0.2", addr).await,
        ];
        let mut third = connect_from("127.0.0.2", addr).await;
        let answer = read_all(&mut third).await;
        assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
        assert!(answer.contains("retry-after: 1"), "{answer}");
        assert!(answer.contains(r#""code":"rate-limited""#), "{answer}");
        let answer = exchange(&mut connect_from("127.0.0.3", addr).await, GET_X).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        // 127.0.0.1 is exempt from the per-source cap.
        let mut local = Vec::new();
        for _ in 0..4 {
            local.push(connect_from("127.0.0.1", addr).await);
        }
        let answer = exchange(&mut local[3], GET_X).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        stop.cancel();
        task.await.unwrap();
    }

    #[tokio::test]
    async fn the_reserved_share_is_kept_for_favoured_sources() {
        let limits = ServerLimits {
            max_connections: 3,
            reserved_connections: 1,
            per_source_connections: 10,
            ..ServerLimits::default()
        };
        let favoured: Favoured = Arc::new(|ip| ip == IpAddr::from([127, 0, 0, 4]));
        let (addr, stop, task) = start(app(), limits, Some(favoured)).await;
        let mut held = vec![
            connect_from("127.0.0.2", addr).await,
            connect_from("127.0.0.2", addr).await,
        ];
        // Two of three slots are taken: the last is only for favoured sources.
        let answer = read_all(&mut connect_from("127.0.0.3", addr).await).await;
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
        assert!(answer.contains(r#""code":"not-ready""#), "{answer}");
        let answer = exchange(&mut connect_from("127.0.0.4", addr).await, GET_X).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        // A slot given back is free for anyone again.
        held.pop();
        let mut answer = String::new();
        let deadline = Instant::now() + DEADLINE;
        while Instant::now() < deadline {
            answer = exchange(&mut connect_from("127.0.0.3", addr).await, GET_X).await;
            if answer.starts_with("HTTP/1.1 200") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        stop.cancel();
        task.await.unwrap();
    }

    #[tokio::test]
    async fn idle_connections_are_closed_but_streams_are_not() {
        let limits = ServerLimits {
            idle_timeout: Duration::from_millis(200),
            ..ServerLimits::default()
        };
        let slow_stream = Router::new().route(
            "/stream",
            get(|| async {
                // Five chunks 100 ms apart: 500 ms in all, past the idle timeout.
                axum::body::Body::new(SlowChunks::new())
            }),
        );
        let (addr, stop, task) = start(slow_stream, limits, None).await;
        let mut idle = connect_from("127.0.0.2", addr).await;
        let started = Instant::now();
        assert_eq!(read_all(&mut idle).await, "");
        assert!(started.elapsed() < DEADLINE);
        let answer = exchange(
            &mut connect_from("127.0.0.2", addr).await,
            b"GET /stream HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n",
        )
        .await;
        // Chunked: `1\r\n0\r\n` … `1\r\n4\r\n`, then the final `0\r\n\r\n`.
        let digits: String = answer
            .split("\r\n\r\n")
            .nth(1)
            .unwrap_or_default()
            .split("\r\n")
            .skip(1)
            .step_by(2)
            .collect();
        assert_eq!(digits, "01234", "{answer}");
        stop.cancel();
        task.await.unwrap();
    }

    #[tokio::test]
    async fn a_trickled_body_gets_408_and_a_prompt_one_is_read() {
        let requests = RequestLimits {
            body_grace: Duration::from_millis(300),
            body_min_rate: 1_000,
            ..RequestLimits::default()
        };
        let (addr, stop, task) =
            start(harden(app(), &requests), ServerLimits::default(), None).await;
        let mut slow = connect_from("127.0.0.2", addr).await;
        let answer = exchange(
            &mut slow,
            b"POST /echo HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\n\
              content-length: 100000\r\n\r\n[",
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains(r#""code":"request-timeout""#), "{answer}");
        let answer = exchange(
            &mut connect_from("127.0.0.2", addr).await,
            b"POST /echo HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\n\
              content-length: 7\r\nconnection: close\r\n\r\n[1,2,3]",
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("[1,2,3]"), "{answer}");
        stop.cancel();
        task.await.unwrap();
    }

    #[tokio::test]
    async fn a_request_head_that_never_completes_is_cut() {
        let limits = ServerLimits {
            header_read_timeout: Duration::from_millis(200),
            idle_timeout: Duration::from_secs(60),
            ..ServerLimits::default()
        };
        let (addr, stop, task) = start(app(), limits, None).await;
        let mut slow = connect_from("127.0.0.2", addr).await;
        let started = Instant::now();
        let answer = exchange(&mut slow, b"GET /x HTTP/1.1\r\nhost: t\r\n").await;
        assert!(!answer.contains("200 OK"), "{answer}");
        assert!(started.elapsed() < DEADLINE, "the half head was not cut");
        stop.cancel();
        task.await.unwrap();
    }

    #[tokio::test]
    async fn shutdown_finishes_the_request_in_flight_then_returns() {
        let entered = Arc::new(Notify::new());
        let release = Arc::new(Notify::new());
        let (e, r) = (Arc::clone(&entered), Arc::clone(&release));
        let slow = Router::new().route(
            "/slow",
            get(move || {
                let (e, r) = (Arc::clone(&e), Arc::clone(&r));
                async move {
                    e.notify_one();
                    r.notified().await;
                    "done"
                }
            }),
        );
        let (addr, stop, mut task) = start(slow, ServerLimits::default(), None).await;
        let mut client = connect_from("127.0.0.2", addr).await;
        client
            .write_all(b"GET /slow HTTP/1.1\r\nhost: t\r\n\r\n")
            .await
            .unwrap();
        entered.notified().await;
        stop.cancel();
        // The listener closes at once; `serve` waits for the request in flight.
        let refused = tokio::time::timeout(DEADLINE, async {
            loop {
                if TcpStream::connect(addr).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        assert!(refused.is_ok(), "the listener stayed open after shutdown");
        assert!(!task.is_finished());
        release.notify_one();
        let answer = read_all(&mut client).await;
        assert!(
            answer.starts_with("HTTP/1.1 200") && answer.ends_with("done"),
            "{answer}"
        );
        tokio::time::timeout(DEADLINE, &mut task)
            .await
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn shutdown_gives_up_on_a_hung_request_after_the_grace() {
        let hung = Router::new().route("/hang", get(std::future::pending::<&str>));
        let limits = ServerLimits {
            shutdown_grace: Duration::from_millis(100),
            ..ServerLimits::default()
        };
        let (addr, stop, task) = start(hung, limits, None).await;
        let mut client = connect_from("127.0.0.2", addr).await;
        client
            .write_all(b"GET /hang HTTP/1.1\r\nhost: t\r\n\r\n")
            .await
            .unwrap();
        stop.cancel();
        tokio::time::timeout(DEADLINE, task).await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn the_concurrency_limit_is_one_for_the_whole_server() {
        let entered = Arc::new(Notify::new());
        let release = Arc::new(Notify::new());
        let (e, r) = (Arc::clone(&entered), Arc::clone(&release));
        let routes = Router::new()
            .route(
                "/hold",
                get(move || {
                    let (e, r) = (Arc::clone(&e), Arc::clone(&r));
                    async move {
                        e.notify_one();
                        r.notified().await;
                        "held"
                    }
                }),
            )
            .route("/other", post(|| async { "other" }));
        let requests = RequestLimits {
            concurrency: 1,
            ..RequestLimits::default()
        };
        let (addr, stop, task) =
            start(harden(routes, &requests), ServerLimits::default(), None).await;
        let mut holder = connect_from("127.0.0.2", addr).await;
        holder
            .write_all(b"GET /hold HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        entered.notified().await;
        // Another route and method: still the one permit, taken, so shed at once.
        let answer = exchange(
            &mut connect_from("127.0.0.3", addr).await,
            b"POST /other HTTP/1.1\r\nhost: t\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
        assert!(answer.contains(r#""code":"not-ready""#), "{answer}");
        assert!(answer.contains("retry-after: 1"), "{answer}");
        release.notify_one();
        assert!(read_all(&mut holder).await.ends_with("held"));
        stop.cancel();
        task.await.unwrap();
    }

    #[tokio::test]
    async fn a_client_that_does_not_read_its_answer_is_dropped() {
        let big = Router::new().route("/big", get(|| async { vec![b'x'; 16 << 20] }));
        let limits = ServerLimits {
            per_source_connections: 1,
            write_stall_timeout: Duration::from_millis(300),
            ..ServerLimits::default()
        };
        let (addr, stop, task) = start(big, limits, None).await;
        let mut stalled = connect_from("127.0.0.2", addr).await;
        stalled
            .write_all(b"GET /big HTTP/1.1\r\nhost: t\r\n\r\n")
            .await
            .unwrap();
        // It never reads. Once the server gives up on it, its one slot is free again.
        let deadline = Instant::now() + DEADLINE;
        let mut answer = String::new();
        while Instant::now() < deadline {
            answer = exchange(&mut connect_from("127.0.0.2", addr).await, GET_X).await;
            if !answer.starts_with("HTTP/1.1 429") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            answer.starts_with("HTTP/1.1 404"),
            "the stalled connection kept its slot: {answer}"
        );
        drop(stalled);
        stop.cancel();
        task.await.unwrap();
    }

    /// A response body of `0`..`4`, one chunk every 100 ms.
    struct SlowChunks {
        next: u8,
        sleep: Pin<Box<tokio::time::Sleep>>,
    }

    impl SlowChunks {
        fn new() -> Self {
            Self {
                next: 0,
                sleep: Box::pin(tokio::time::sleep(Duration::from_millis(100))),
            }
        }
    }

    impl HttpBody for SlowChunks {
        type Data = bytes::Bytes;
        type Error = std::io::Error;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
            if self.next == 5 {
                return Poll::Ready(None);
            }
            match self.sleep.as_mut().poll(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(()) => {
                    let n = self.next;
                    self.next += 1;
                    let at = tokio::time::Instant::now() + Duration::from_millis(100);
                    self.sleep.as_mut().reset(at);
                    Poll::Ready(Some(Ok(Frame::data(bytes::Bytes::from(n.to_string())))))
                }
            }
        }
    }
}
