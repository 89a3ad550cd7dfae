//! Connection floods from one source address (PROTOCOL.md section 9, inbound
//! connections), run on a thread and runtime of their own so the attacker does not
//! share the victim's scheduler.
//!
//! - [`Kind::SlowBody`]: a request announcing a 4 MB body, then one byte every 5 s.
//! - [`Kind::Idle`]: a connection that sends nothing.
//!
//! Every attacking connection reconnects when the server cuts it (after a short pause,
//! as a determined attacker would), until the flood is stopped.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// What each attacking connection does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `POST` with `Content-Length: 4000000`, then one byte every 5 s.
    SlowBody,
    /// Connects and sends nothing.
    Idle,
}

/// Counters of a running flood.
#[derive(Debug, Default)]
pub struct Stats {
    /// Connections opened.
    pub connects: AtomicU64,
    /// Connections the server ended (closed, reset or answered).
    pub cut: AtomicU64,
}

/// A running flood; stops when dropped.
pub struct Flood {
    stop: Arc<AtomicBool>,
    pub stats: Arc<Stats>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Pause before reconnecting after a cut.
const RECONNECT_PAUSE: Duration = Duration::from_millis(100);

impl Flood {
    /// Starts `connections` attacking connections of `kind` from `source` to `target`.
    pub fn start(source: IpAddr, target: SocketAddr, kind: Kind, connections: usize) -> Flood {
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(Stats::default());
        let (s, st) = (Arc::clone(&stop), Arc::clone(&stats));
        let thread = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                let mut tasks = Vec::with_capacity(connections);
                for _ in 0..connections {
                    let (s, st) = (Arc::clone(&s), Arc::clone(&st));
                    tasks.push(tokio::spawn(attacker(source, target, kind, s, st)));
                }
                for t in tasks {
                    let _ = t.await;
                }
            });
        });
        Flood {
            stop,
            stats,
            thread: Some(thread),
        }
    }

    pub fn connects(&self) -> u64 {
        self.stats.connects.load(Ordering::Relaxed)
    }

    pub fn cuts(&self) -> u64 {
        self.stats.cut.load(Ordering::Relaxed)
    }
}

impl Drop for Flood {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn connect(source: IpAddr, target: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = if target.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.bind(SocketAddr::new(source, 0))?;
    socket.connect(target).await
}

async fn attacker(
    source: IpAddr,
    target: SocketAddr,
    kind: Kind,
    stop: Arc<AtomicBool>,
    stats: Arc<Stats>,
) {
    while !stop.load(Ordering::Relaxed) {
        if let Ok(mut stream) = connect(source, target).await {
            stats.connects.fetch_add(1, Ordering::Relaxed);
            hold(&mut stream, kind, &stop).await;
            stats.cut.fetch_add(1, Ordering::Relaxed);
        }
        tokio::time::sleep(RECONNECT_PAUSE).await;
    }
}

/// Keeps one connection busy the `kind` way until the server ends it or the flood stops.
async fn hold(stream: &mut TcpStream, kind: Kind, stop: &AtomicBool) {
    if kind == Kind::SlowBody {
        let head = "POST /transactions HTTP/1.1\r\nhost: victim\r\n\
                    content-type: application/octet-stream\r\ncontent-length: 4000000\r\n\r\n";
        if stream.write_all(head.as_bytes()).await.is_err() {
            return;
        }
    }
    let mut buf = [0u8; 1024];
    loop {
        let step = Duration::from_millis(250);
        let mut waited = Duration::ZERO;
        // Any answer or close from the server ends this connection.
        while waited < Duration::from_secs(5) {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            match tokio::time::timeout(step, stream.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return,
                Ok(Ok(_)) => {
                    // An answer (429, 408): drain until the server closes.
                    continue;
                }
                Err(_) => waited += step,
            }
        }
        if kind == Kind::SlowBody && stream.write_all(b"x").await.is_err() {
            return;
        }
    }
}
