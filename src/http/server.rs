//! The accept loop shared by the node and the seed (mini-redis style).
//!
//! [`run`] accepts TCP connections while a [`Semaphore`] has permits (one per
//! open connection), serves each on its own task with hyper's HTTP/1 connection,
//! and backs off when `accept` fails (e.g. out of file descriptors) instead of
//! spinning or giving up. When the `shutdown` future completes it stops
//! accepting, asks every connection to finish its in-flight request and close
//! (hyper's `graceful_shutdown`), and returns once they have all ended, or once
//! [`ServerLimits::shutdown_grace`] has passed, whichever is first.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use super::{Request, Response};

/// Answers requests. Implemented for any
/// `Fn(Request, SocketAddr) -> impl Future<Output = Response>` closure, or by a
/// type holding the server's state:
///
/// ```
/// use ferro::http::{Handler, Request, Response, response};
/// use std::net::SocketAddr;
///
/// struct Api { name: String }
///
/// impl Handler for Api {
///     async fn handle(&self, _req: Request, _remote: SocketAddr) -> Response {
///         response::ok_json(&serde_json::json!({ "name": self.name }))
///     }
/// }
/// ```
///
/// The handler always produces a response: errors are turned into their
/// [`super::ApiError`] response by the handler itself, so nothing about a bad
/// request reaches the connection layer. `remote` is the peer's socket address
/// (the seed and the node check announced addresses against it).
pub trait Handler: Send + Sync + 'static {
    /// Answers one request.
    fn handle(&self, req: Request, remote: SocketAddr) -> impl Future<Output = Response> + Send;
}

impl<F, Fut> Handler for F
where
    F: Fn(Request, SocketAddr) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response> + Send,
{
    fn handle(&self, req: Request, remote: SocketAddr) -> impl Future<Output = Response> + Send {
        self(req, remote)
    }
}

/// Bounds that protect the server from too many or too slow clients.
#[derive(Debug, Clone)]
pub struct ServerLimits {
    /// Connections served at once; further clients wait in the listen backlog.
    pub max_connections: usize,
    /// Time a client has to send a complete request head (slow-loris guard).
    pub header_read_timeout: Duration,
    /// How long shutdown waits for in-flight connections before dropping them.
    pub shutdown_grace: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            max_connections: 256,
            header_read_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// First and largest pause after a failed `accept`.
const ACCEPT_BACKOFF_START: Duration = Duration::from_millis(10);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Serves `handler` on `listener` until `shutdown` completes, then shuts down
/// gracefully (see the module documentation). The listener is closed when this
/// returns.
pub async fn run<H: Handler>(
    listener: TcpListener,
    handler: H,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()>,
) {
    let handler = Arc::new(handler);
    // At least one connection, or the server could never answer anything;
    // at most what a semaphore can count.
    let permits = Arc::new(Semaphore::new(
        limits.max_connections.clamp(1, Semaphore::MAX_PERMITS),
    ));
    // `true` once shutdown starts; every connection task watches it.
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut backoff = ACCEPT_BACKOFF_START;
    tokio::pin!(shutdown);

    loop {
        // Reap finished connections so the set only holds open ones.
        while let Some(done) = connections.try_join_next() {
            log_connection_end(done);
        }
        // Wait for a free connection slot first, so a full server stops
        // accepting and clients queue in the kernel's backlog.
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                // The semaphore is never closed; stop rather than spin if it were.
                Err(_) => break,
            },
        };
        let (stream, remote) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => {
                    backoff = ACCEPT_BACKOFF_START;
                    accepted
                }
                Err(e) => {
                    tracing::warn!(error = %e, ?backoff, "accept failed; backing off");
                    drop(permit);
                    tokio::select! {
                        () = &mut shutdown => break,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                    continue;
                }
            },
        };
        let handler = Arc::clone(&handler);
        let stop = stop_rx.clone();
        let header_timeout = limits.header_read_timeout;
        connections.spawn(async move {
            serve_connection(stream, remote, handler, header_timeout, stop).await;
            drop(permit);
        });
    }

    // Stop accepting: close the socket so new clients are refused at once.
    drop(listener);
    let _ = stop_tx.send(true);
    let open = connections.len();
    if open > 0 {
        tracing::debug!(open, "waiting for connections to finish");
    }
    let drained = tokio::time::timeout(limits.shutdown_grace, async {
        while let Some(done) = connections.join_next().await {
            log_connection_end(done);
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            remaining = connections.len(),
            grace = ?limits.shutdown_grace,
            "connections still open after the shutdown grace period; closing them"
        );
        connections.shutdown().await;
    }
}

async fn serve_connection<H: Handler>(
    stream: TcpStream,
    remote: SocketAddr,
    handler: Arc<H>,
    header_timeout: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let service = service_fn(move |req| {
        let handler = Arc::clone(&handler);
        async move { Ok::<_, Infallible>(handler.handle(req, remote).await) }
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = stopped(&mut stop) => {
            // Finish the request in progress (if any), then close.
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(e) = result {
        // Client-side trouble (reset, timeout, garbage): nothing to do but log.
        tracing::debug!(%remote, error = %e, "connection ended with an error");
    }
}

/// Completes once shutdown has started (or the server is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is not `Send`; drop it before going on.
    let _ = stop.wait_for(|stopping| *stopping).await.map(|_| ());
}

fn log_connection_end(done: Result<(), tokio::task::JoinError>) {
    if let Err(e) = done {
        if e.is_panic() {
            tracing::error!(error = %e, "a connection task panicked");
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::http::{response, ApiError, HttpClient};
    use tokio::sync::{oneshot, Notify};

    async fn start<H: Handler>(
        handler: H,
        limits: ServerLimits,
    ) -> (SocketAddr, oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(run(listener, handler, limits, async {
            let _ = rx.await;
        }));
        (addr, tx, task)
    }

    #[tokio::test]
    async fn serves_requests_and_passes_the_remote_address() {
        let (addr, stop, task) = start(
            |req: Request, remote: SocketAddr| async move {
                if req.uri().path() == "/who" {
                    response::ok_json(&serde_json::json!({"ip": remote.ip().to_string()}))
                } else {
                    ApiError::not_found("no such path").to_response()
                }
            },
            ServerLimits::default(),
        )
        .await;
        let client = HttpClient::new();
        let who: serde_json::Value = client
            .get_json(&format!("http://{addr}/who"), Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(who["ip"], "127.0.0.1");
        let missing = client
            .get_json::<serde_json::Value>(&format!("http://{addr}/nope"), Duration::from_secs(5))
            .await
            .unwrap_err();
        assert_eq!(missing.code(), Some("not-found"));
        stop.send(()).unwrap();
        task.await.unwrap();
        // The listener is closed once `run` returns.
        assert!(TcpStream::connect(addr).await.is_err());
    }

    #[tokio::test]
    async fn shutdown_waits_for_in_flight_requests() {
        let entered = Arc::new(Notify::new());
        let release = Arc::new(Notify::new());
        let (e, r) = (Arc::clone(&entered), Arc::clone(&release));
        let (addr, stop, task) = start(
            move |_req: Request, _remote: SocketAddr| {
                let (e, r) = (Arc::clone(&e), Arc::clone(&r));
                async move {
                    e.notify_one();
                    r.notified().await;
                    response::ok_json(&serde_json::json!({"done": true}))
                }
            },
            ServerLimits::default(),
        )
        .await;
        let request = tokio::spawn(async move {
            HttpClient::new()
                .get_json::<serde_json::Value>(
                    &format!("http://{addr}/slow"),
                    Duration::from_secs(10),
                )
                .await
        });
        entered.notified().await;
        stop.send(()).unwrap();
        // `run` must not return while the request is in flight.
        let mut task = task;
        assert!(tokio::time::timeout(Duration::from_millis(200), &mut task)
            .await
            .is_err());
        release.notify_one();
        let answer = request.await.unwrap().unwrap();
        assert_eq!(answer["done"], true);
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn shutdown_gives_up_after_the_grace_period() {
        let (addr, stop, task) = start(
            |_req: Request, _remote: SocketAddr| async move {
                std::future::pending::<()>().await;
                response::ok_json(&())
            },
            ServerLimits {
                shutdown_grace: Duration::from_millis(100),
                ..ServerLimits::default()
            },
        )
        .await;
        let request = tokio::spawn(async move {
            HttpClient::new()
                .get_json::<serde_json::Value>(
                    &format!("http://{addr}/hang"),
                    Duration::from_secs(10),
                )
                .await
        });
        // Let the request reach the handler.
        tokio::time::sleep(Duration::from_millis(100)).await;
        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .unwrap()
            .unwrap();
        // The dropped connection surfaces as an error, not a hang.
        let outcome = tokio::time::timeout(Duration::from_secs(5), request)
            .await
            .unwrap()
            .unwrap();
        assert!(outcome.is_err());
    }

    #[tokio::test]
    async fn connections_beyond_the_limit_wait_for_a_slot() {
        let release = Arc::new(Notify::new());
        let r = Arc::clone(&release);
        let (addr, stop, task) = start(
            move |req: Request, _remote: SocketAddr| {
                let r = Arc::clone(&r);
                async move {
                    if req.uri().path() == "/block" {
                        r.notified().await;
                    }
                    response::ok_json(&serde_json::json!({"path": req.uri().path()}))
                }
            },
            ServerLimits {
                max_connections: 1,
                ..ServerLimits::default()
            },
        )
        .await;
        let blocked = tokio::spawn(async move {
            HttpClient::new()
                .get_json::<serde_json::Value>(
                    &format!("http://{addr}/block"),
                    Duration::from_secs(10),
                )
                .await
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        // The only slot is taken: a second client is not served yet.
        let second = HttpClient::new()
            .get_json::<serde_json::Value>(
                &format!("http://{addr}/other"),
                Duration::from_millis(300),
            )
            .await;
        assert!(
            matches!(second, Err(crate::http::ClientError::Timeout { .. })),
            "{second:?}"
        );
        release.notify_one();
        blocked.await.unwrap().unwrap();
        stop.send(()).unwrap();
        task.await.unwrap();
    }
}
