//! The DNS side of the seed: an authoritative server for one zone, over UDP and TCP, on
//! hickory-server. See `docs/dns_seed.md` for the records it serves and its policy.
//!
//! - [`answer`]: the zone's names and what each query gets (pure).
//! - [`snapshot`]: the live nodes as answers see them, rebuilt after the list changes and
//!   published through a `watch` channel.
//! - [`ratelimit`]: the per-source query budget.
//! - this module: the sockets. UDP goes through hickory-server's [`Server`]; TCP through
//!   our own accept loop (hickory-server has no bound on TCP connections), which decodes
//!   each length-prefixed message into the same [`Request`] and hands it to the same
//!   handler. Both bound what a stranger can hold: TCP connections in all and per source,
//!   an idle timeout per connection, a write timeout per answer.

pub mod answer;
pub mod ratelimit;
pub mod snapshot;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

use hickory_proto::op::{
    emit_message_parts, Edns, EmitAndCount, Header, HeaderCounts, Metadata, ResponseCode,
};
use hickory_proto::rr::{Name, Record};
use hickory_proto::serialize::binary::BinEncoder;
use hickory_proto::serialize::binary::NameEncoding;
use hickory_proto::ProtoError;
use hickory_server::net::runtime::Time;
use hickory_server::net::xfer::Protocol;
use hickory_server::net::NetError;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::{MessageResponse, MessageResponseBuilder, Queries};
use hickory_server::Server;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use answer::Zone;
use ratelimit::RateLimiter;
use snapshot::Snapshot;

/// Largest UDP answer the seed sends, whatever EDNS size a client offers (DNS flag day
/// 2020's 1232 bytes: no fragmentation, and little to gain for a reflection attack).
pub const MAX_UDP_PAYLOAD: u16 = 1232;
/// How often dropped queries are summed up in the log (at most one line per period).
pub const DROP_LOG_PERIOD: Duration = Duration::from_secs(10);

/// Settings of the DNS side.
#[derive(Debug, Clone)]
pub struct DnsConfig {
    /// The zone served, e.g. `seed.devnet.ferro.` (see [`answer::parse_zone`]).
    pub zone: Name,
    /// The port users assume when DNS gives only an address: apex `A`/`AAAA` list only
    /// nodes listening on it.
    pub default_port: u16,
    /// Name server of the zone (`NS`, SOA `MNAME`); `ns.<zone>` when `None`.
    pub ns: Option<Name>,
    /// SOA `RNAME` (the operator's mailbox, `@` written as `.`); `hostmaster.<zone>` when
    /// `None`.
    pub mbox: Option<Name>,
    /// Queries per second one source may sustain (over it: dropped).
    pub rate_limit: f64,
    /// Queries one source may send at once.
    pub rate_burst: u32,
    /// Sources the rate limiter tracks at once.
    pub max_sources: usize,
    /// TCP connections served at once; others are closed at once.
    pub max_tcp_connections: usize,
    /// TCP connections one source may hold.
    pub max_tcp_per_source: usize,
    /// A TCP connection is closed after this long without a complete query, and an answer
    /// must be taken by the client within it.
    pub tcp_timeout: Duration,
}

impl DnsConfig {
    /// Defaults for `zone`.
    pub fn new(zone: Name) -> Self {
        DnsConfig {
            zone,
            default_port: 8000,
            ns: None,
            mbox: None,
            rate_limit: 20.0,
            rate_burst: 40,
            max_sources: 65_536,
            max_tcp_connections: 128,
            max_tcp_per_source: 4,
            tcp_timeout: Duration::from_secs(5),
        }
    }
}

/// The DNS sockets, bound before the seed starts (so a busy port fails at once).
#[derive(Debug)]
pub struct Sockets {
    pub udp: UdpSocket,
    pub tcp: TcpListener,
}

impl Sockets {
    /// Binds UDP and TCP on `address`. With port 0, both get the same free port.
    pub async fn bind(address: SocketAddr) -> std::io::Result<Sockets> {
        let mut last_error = None;
        // Port 0: the UDP port picked may be taken for TCP; try a few.
        for _ in 0..16 {
            let udp = UdpSocket::bind(address).await?;
            let bound = udp.local_addr()?;
            match TcpListener::bind(bound).await {
                Ok(tcp) => return Ok(Sockets { udp, tcp }),
                Err(e) if address.port() == 0 => last_error = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last_error.unwrap_or_else(|| std::io::Error::other("no free port")))
    }

    /// The address both sockets are bound to.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.udp.local_addr()
    }
}

/// Counts of what the DNS side did, for the log and `GET /metrics`.
#[derive(Debug, Default)]
pub struct DnsStats {
    pub answered: AtomicU64,
    /// Queries over a source's rate limit (no answer sent).
    pub dropped: AtomicU64,
    /// TCP connections closed at once because of the connection bounds.
    pub tcp_refused: AtomicU64,
    /// Queries by transport ([`TRANSPORTS`]) and outcome ([`OUTCOMES`]).
    queries: [[AtomicU64; OUTCOMES.len()]; TRANSPORTS.len()],
}

/// The `transport` label of the DNS query counts.
pub const TRANSPORTS: [&str; 2] = ["udp", "tcp"];
/// The `result` label of the DNS query counts: the answer's response code, or
/// `dropped` (over the source's rate limit, no answer).
pub const OUTCOMES: [&str; 8] = [
    "noerror", "nxdomain", "refused", "notimp", "formerr", "servfail", "other", "dropped",
];

impl DnsStats {
    fn record(&self, protocol: Protocol, code: Option<ResponseCode>) {
        let transport = usize::from(!matches!(protocol, Protocol::Udp));
        let outcome = match code {
            Some(ResponseCode::NoError) => 0,
            Some(ResponseCode::NXDomain) => 1,
            Some(ResponseCode::Refused) => 2,
            Some(ResponseCode::NotImp) => 3,
            Some(ResponseCode::FormErr) => 4,
            Some(ResponseCode::ServFail) => 5,
            Some(_) => 6,
            None => 7,
        };
        self.queries[transport][outcome].fetch_add(1, Ordering::Relaxed);
    }

    /// Every `(transport, result, count)`.
    pub fn query_counts(&self) -> Vec<(&'static str, &'static str, u64)> {
        let mut out = Vec::with_capacity(TRANSPORTS.len() * OUTCOMES.len());
        for (t, row) in TRANSPORTS.iter().zip(&self.queries) {
            for (o, count) in OUTCOMES.iter().zip(row) {
                out.push((*t, *o, count.load(Ordering::Relaxed)));
            }
        }
        out
    }
}

/// Answers queries from the current snapshot, within each source's budget.
#[derive(Debug)]
pub struct Responder {
    zone: Zone,
    snapshot: watch::Receiver<Arc<Snapshot>>,
    limiter: RateLimiter,
    stats: Arc<DnsStats>,
}

impl Responder {
    pub fn new(
        zone: Zone,
        snapshot: watch::Receiver<Arc<Snapshot>>,
        limiter: RateLimiter,
        stats: Arc<DnsStats>,
    ) -> Self {
        Responder {
            zone,
            snapshot,
            limiter,
            stats,
        }
    }

    async fn respond<R: ResponseHandler>(&self, request: &Request, mut handle: R) -> ResponseInfo {
        let mut metadata = Metadata::response_from_request(&request.metadata);
        if !self.limiter.check(request.src().ip(), Instant::now()) {
            // Dropped: no answer at all, so a spoofed source gets nothing reflected.
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            self.stats.record(request.protocol(), None);
            return ResponseInfo::from(Header {
                metadata,
                counts: HeaderCounts::default(),
            });
        }
        // The watch's read lock is held only to clone the `Arc`.
        let snapshot = Arc::clone(&self.snapshot.borrow());
        let reply = answer::answer(&self.zone, &snapshot, request, &mut rand::thread_rng());
        metadata.response_code = reply.code;
        metadata.authoritative = reply.authoritative;
        // EDNS: answer with an OPT record when asked with one, offering at most our cap.
        let edns = request.edns.as_ref().map(|theirs| {
            let mut ours = Edns::new();
            ours.set_max_payload(theirs.max_payload().clamp(512, MAX_UDP_PAYLOAD));
            ours
        });
        let fit = match request.protocol() {
            Protocol::Udp => {
                let limit = edns.as_ref().map_or(512, Edns::max_payload);
                fit_udp(request, &metadata, &reply, limit, edns.is_some())
            }
            _ => None,
        };
        let (answers, authorities, additionals) = match fit {
            Some(fit) => {
                metadata.truncation = fit.cut;
                (fit.answers, fit.authorities, fit.additionals)
            }
            None => (
                reply.answers.len(),
                reply.authorities.len(),
                reply.additionals.len(),
            ),
        };
        let mut builder = MessageResponseBuilder::from_message_request(request);
        if let Some(edns) = &edns {
            builder.edns(edns);
        }
        let response = builder.build(
            metadata,
            reply.answers.iter().take(answers),
            reply.authorities.iter().take(authorities),
            std::iter::empty::<&Record>(),
            reply.additionals.iter().take(additionals),
        );
        self.stats.answered.fetch_add(1, Ordering::Relaxed);
        self.stats.record(request.protocol(), Some(reply.code));
        match handle.send_response(response).await {
            Ok(info) => info,
            Err(error) => {
                tracing::debug!(%error, src = %request.src(), "dns answer not sent");
                ResponseInfo::from(Header {
                    metadata,
                    counts: HeaderCounts::default(),
                })
            }
        }
    }
}

/// Bytes of the OPT record the seed adds to an EDNS answer (root name, type, class, TTL,
/// empty data).
const OPT_RECORD_LEN: u16 = 11;

/// How many records of each section of a UDP answer fit in `limit` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fit {
    answers: usize,
    authorities: usize,
    additionals: usize,
    /// Something was left out: the answer carries the TC bit.
    cut: bool,
}

/// Cuts a UDP answer to `limit` bytes at the last whole record (answers first, then
/// authorities, then additionals), leaving room for the OPT record so an EDNS client
/// always gets one (RFC 6891 6.1.1), even in a truncated answer. `None` if the trial
/// encoding fails (hickory then cuts on its own).
fn fit_udp(
    request: &Request,
    metadata: &Metadata,
    reply: &answer::Reply,
    limit: u16,
    with_opt: bool,
) -> Option<Fit> {
    let mut bytes = Vec::with_capacity(usize::from(limit));
    let mut encoder = BinEncoder::new(&mut bytes);
    encoder.set_max_size(limit.saturating_sub(if with_opt { OPT_RECORD_LEN } else { 0 }));
    let header = emit_message_parts(
        metadata,
        &mut RawQueries(&request.queries),
        &mut reply.answers.iter(),
        &mut reply.authorities.iter(),
        &mut reply.additionals.iter(),
        None,
        None,
        &mut encoder,
    )
    .ok()?;
    Some(Fit {
        answers: usize::from(header.counts.answers),
        authorities: usize::from(header.counts.authorities),
        additionals: usize::from(header.counts.additionals),
        cut: header.metadata.truncation,
    })
}

/// The question section as hickory-server writes it into the answer: the client's bytes,
/// with the name stored for compression. The trial encoding must match the real one byte
/// for byte, or a cut computed on it could overflow the real answer.
struct RawQueries<'q>(&'q Queries);

impl EmitAndCount for RawQueries<'_> {
    fn emit(&mut self, encoder: &mut BinEncoder<'_>) -> Result<usize, ProtoError> {
        let start = encoder.offset();
        encoder.emit_vec(self.0.as_bytes())?;
        if matches!(encoder.name_encoding(), NameEncoding::Compressed) && !self.0.is_empty() {
            encoder.store_label_pointer(start, start + self.0.as_bytes().len());
        }
        Ok(self.0.len())
    }
}

/// The [`RequestHandler`] both transports call.
#[derive(Debug, Clone)]
pub struct Handler(pub Arc<Responder>);

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        response_handle: R,
    ) -> ResponseInfo {
        self.0.respond(request, response_handle).await
    }
}

/// Serves DNS on `sockets` until `stop`: UDP through hickory-server, TCP through
/// [`serve_tcp`]. Also logs a summary of dropped queries now and then.
pub async fn serve(
    sockets: Sockets,
    config: DnsConfig,
    responder: Arc<Responder>,
    stop: CancellationToken,
) {
    let stats = Arc::clone(&responder.stats);
    let mut udp = Server::new(Handler(Arc::clone(&responder)));
    udp.register_socket(sockets.udp);
    let tcp = tokio::spawn(serve_tcp(
        sockets.tcp,
        Handler(responder),
        config.clone(),
        stop.clone(),
    ));
    let logger = tokio::spawn(log_drops(stats, config.rate_limit, stop.clone()));
    stop.cancelled().await;
    if let Err(error) = udp.shutdown_gracefully().await {
        tracing::warn!(%error, "the dns udp server stopped with an error");
    }
    for task in [tcp, logger] {
        if let Err(error) = task.await {
            tracing::error!(%error, "a dns task failed");
        }
    }
}

/// Logs dropped queries at most once per [`DROP_LOG_PERIOD`] (checked every second, so
/// the first drops show up at once), never one line per query.
async fn log_drops(stats: Arc<DnsStats>, rate: f64, stop: CancellationToken) {
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    let (mut logged_dropped, mut logged_refused) = (0u64, 0u64);
    let mut last_log: Option<Instant> = None;
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let dropped = stats.dropped.load(Ordering::Relaxed);
        let refused = stats.tcp_refused.load(Ordering::Relaxed);
        let pending = dropped > logged_dropped || refused > logged_refused;
        if pending && last_log.is_none_or(|t| t.elapsed() >= DROP_LOG_PERIOD) {
            tracing::warn!(
                dropped = dropped - logged_dropped,
                dropped_total = dropped,
                tcp_refused = refused - logged_refused,
                answered_total = stats.answered.load(Ordering::Relaxed),
                "dns: dropped queries over the per-source rate limit ({rate}/s)"
            );
            (logged_dropped, logged_refused) = (dropped, refused);
            last_log = Some(Instant::now());
        }
    }
}

/// Open TCP connections per source, bounded by the number of connections itself.
#[derive(Debug, Default)]
struct TcpSlots {
    per_source: Mutex<HashMap<IpAddr, usize>>,
}

impl TcpSlots {
    fn try_take(self: &Arc<Self>, ip: IpAddr, limit: usize) -> Option<TcpSlot> {
        let mut map = self
            .per_source
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let count = map.entry(ip).or_insert(0);
        if *count >= limit {
            return None;
        }
        *count += 1;
        Some(TcpSlot {
            slots: Arc::clone(self),
            ip,
        })
    }
}

/// One source's share, returned when the connection ends.
struct TcpSlot {
    slots: Arc<TcpSlots>,
    ip: IpAddr,
}

impl Drop for TcpSlot {
    fn drop(&mut self) {
        let mut map = self
            .slots
            .per_source
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = map.get_mut(&self.ip) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

/// Accepts DNS-over-TCP connections within the bounds until `stop`.
pub async fn serve_tcp(
    listener: TcpListener,
    handler: Handler,
    config: DnsConfig,
    stop: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(config.max_tcp_connections.max(1)));
    let slots = Arc::new(TcpSlots::default());
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        while connections.try_join_next().is_some() {}
        let (stream, src) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::debug!(%error, "dns tcp accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let permit = Arc::clone(&permits).try_acquire_owned().ok();
        let slot = slots.try_take(src.ip(), config.max_tcp_per_source.max(1));
        let (Some(permit), Some(slot)) = (permit, slot) else {
            handler.0.stats.tcp_refused.fetch_add(1, Ordering::Relaxed);
            drop(stream);
            continue;
        };
        let handler = handler.clone();
        let timeout = config.tcp_timeout;
        let stop = stop.clone();
        connections.spawn(async move {
            tokio::select! {
                () = stop.cancelled() => {}
                () = serve_connection(stream, src, &handler, timeout) => {}
            }
            drop((permit, slot));
        });
    }
    connections.shutdown().await;
}

/// Queries on one connection, each a 2-byte length and a message (RFC 1035 4.2.2), until
/// the client closes, stalls past `timeout`, or sends something that is not DNS.
async fn serve_connection(
    mut stream: TcpStream,
    src: SocketAddr,
    handler: &Handler,
    timeout: Duration,
) {
    let _ = stream.set_nodelay(true);
    loop {
        let mut length = [0u8; 2];
        match tokio::time::timeout(timeout, stream.read_exact(&mut length)).await {
            Ok(Ok(_)) => {}
            _ => return,
        }
        let length = usize::from(u16::from_be_bytes(length));
        // Shorter than a header is not a DNS message.
        if length < 12 {
            return;
        }
        let mut message = vec![0u8; length];
        match tokio::time::timeout(timeout, stream.read_exact(&mut message)).await {
            Ok(Ok(_)) => {}
            _ => return,
        }
        let Ok(request) = Request::from_bytes(message, src, Protocol::Tcp) else {
            return;
        };
        let out = TcpAnswer::default();
        handler
            .handle_request::<_, hickory_server::net::runtime::TokioTime>(&request, out.clone())
            .await;
        let Some(bytes) = out.take() else {
            // Rate limited: nothing to send, but the connection may go on.
            continue;
        };
        let Ok(prefix) = u16::try_from(bytes.len()) else {
            return;
        };
        let write = async {
            stream.write_all(&prefix.to_be_bytes()).await?;
            stream.write_all(&bytes).await
        };
        match tokio::time::timeout(timeout, write).await {
            Ok(Ok(())) => {}
            _ => return,
        }
    }
}

/// Receives the encoded answer of one TCP query.
#[derive(Clone, Default)]
struct TcpAnswer {
    bytes: Arc<Mutex<Option<Vec<u8>>>>,
}

impl TcpAnswer {
    fn take(&self) -> Option<Vec<u8>> {
        self.bytes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

#[async_trait::async_trait]
impl ResponseHandler for TcpAnswer {
    async fn send_response<'a>(
        &mut self,
        response: MessageResponse<
            '_,
            'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
        >,
    ) -> Result<ResponseInfo, NetError> {
        let mut bytes = Vec::with_capacity(512);
        let mut encoder = BinEncoder::new(&mut bytes);
        // A TCP message is at most 65535 bytes; a larger answer is cut (and says so).
        encoder.set_max_size(u16::MAX);
        let info = response.destructive_emit(&mut encoder)?;
        *self.bytes.lock().unwrap_or_else(PoisonError::into_inner) = Some(bytes);
        Ok(info)
    }
}
