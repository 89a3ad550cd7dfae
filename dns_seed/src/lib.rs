//! The Ferro seed server: a list of live nodes of one network.
//!
//! Nodes announce themselves with `POST /nodes`, and the crawler learns more from the
//! `GET /nodes` of listed nodes; the seed probes each one's `GET /info` before listing
//! it, re-probes every listed node on an interval, drops those that fail several times in
//! a row, and hands out random samples with `GET /nodes` and, when a DNS address and zone
//! are given, as DNS records (`A`, `AAAA`, `SRV`) over UDP and TCP. The list is saved
//! atomically to a data file and survives restarts. See `docs/dns_seed.md` for flags,
//! endpoints, records and policy.
//!
//! # Layout
//! - [`config`]: the seed's settings ([`Config`]) and the [`GenesisHash`] type.
//! - [`registry`]: the in-memory list and its rules (source address, bounds,
//!   failure counting, sampling); no I/O.
//! - [`probe`]: one `GET /info` probe, and the background re-probe task.
//! - [`crawl`]: learning addresses from listed nodes, within `--crawl-allow`.
//! - [`dns`]: the DNS server (hickory-server): answers, snapshot, rate limit, sockets.
//! - [`store`]: the data file: atomic save, tolerant load, and the task that
//!   saves after changes.
//! - [`api`]: the HTTP endpoints and the mapping of refusals to API codes.
//! - [`metrics`]: `GET /metrics` (Prometheus text: nodes by state, DNS queries, HTTP
//!   requests by route template and status).
//! - `state`: what the handlers and tasks share.
//!
//! [`run`] wires them together; `main.rs` only parses the command line.

pub mod api;
pub mod config;
pub mod crawl;
pub mod dns;
pub mod metrics;
pub mod probe;
pub mod registry;
mod state;
pub mod store;

use std::sync::Arc;

use ferro::http::RequestLimits;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

pub use config::{Config, GenesisHash};
pub use store::StoreError;

use registry::Registry;
use state::Shared;

/// Serves the seed's HTTP side on `listener` until `shutdown` is cancelled (no DNS); see
/// [`serve`].
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: CancellationToken,
) -> Result<(), StoreError> {
    serve(listener, None, config, shutdown).await
}

/// Serves the seed on `listener` (HTTP) and, when given with `config.dns` set, on the DNS
/// `dns` sockets, until `shutdown` is cancelled; then stops accepting, finishes in-flight
/// requests, stops probing and crawling and saves the list.
///
/// Fails only when the data file cannot be read (other than missing or
/// corrupt, which start an empty list) or the final save fails.
pub async fn serve(
    listener: TcpListener,
    dns: Option<dns::Sockets>,
    config: Config,
    shutdown: CancellationToken,
) -> Result<(), StoreError> {
    let saved = match config.data_file.clone() {
        Some(path) => tokio::task::spawn_blocking(move || store::load(&path))
            .await
            .map_err(|e| StoreError::Read {
                path: config.data_file.clone().unwrap_or_default(),
                source: std::io::Error::other(e),
            })??,
        None => {
            tracing::warn!("no --data-file: the node list is kept in memory only");
            Vec::new()
        }
    };
    let (registry, skipped) = Registry::restore(saved, config.max_nodes, config.max_per_source);
    if skipped > 0 {
        tracing::warn!(
            skipped,
            "saved entries beyond --max-nodes/--max-per-source were skipped"
        );
    }
    let server_limits = config.server.clone();
    let request_limits = RequestLimits {
        body_limit: config.max_body_bytes,
        rate_per_second: config.requests_per_source,
        rate_burst: config.requests_per_source.saturating_mul(2),
        ..RequestLimits::default()
    };
    let data_file = config.data_file.clone();
    let dns_config = config.dns.clone();
    let shared = Arc::new(Shared::new(config, registry));

    // The seed's tasks stop after the server has drained.
    let stop = CancellationToken::new();
    let mut tasks = vec![
        tokio::spawn(probe::run_prober(Arc::clone(&shared), stop.clone())),
        tokio::spawn(crawl::run_crawler(Arc::clone(&shared), stop.clone())),
    ];
    match (dns, dns_config) {
        (Some(sockets), Some(dns_config)) => {
            tasks.extend(start_dns(&shared, sockets, dns_config, &stop));
        }
        (Some(_), None) => tracing::warn!("dns sockets given without a dns config: dns off"),
        _ => {}
    }
    let persister = data_file.map(|path| {
        tokio::spawn(store::run_persister(
            Arc::clone(&shared),
            path,
            stop.clone(),
        ))
    });
    if let Ok(address) = listener.local_addr() {
        tracing::info!(%address, "seed serving");
    }

    ferro::http::server::serve(
        listener,
        api::router(Arc::clone(&shared), &request_limits),
        server_limits,
        None,
        shutdown,
    )
    .await;

    tracing::info!("shutting down");
    // Save once more even if nothing changed, so a cleanly stopped seed always
    // leaves a current file behind (the persister sees this before the stop).
    shared.mark_changed();
    stop.cancel();
    for task in tasks {
        if let Err(e) = task.await {
            tracing::error!(error = %e, "a seed task failed");
        }
    }
    if let Some(persister) = persister {
        match persister.await {
            Ok(result) => result?,
            Err(e) => tracing::error!(error = %e, "the persister task failed"),
        }
    }
    Ok(())
}

/// Starts the DNS side: the snapshot builder (with a first snapshot built now, so the
/// saved list is served at once) and the UDP and TCP servers.
fn start_dns(
    shared: &Arc<Shared>,
    sockets: dns::Sockets,
    config: dns::DnsConfig,
    stop: &CancellationToken,
) -> Vec<tokio::task::JoinHandle<()>> {
    let listen = sockets.local_addr().ok();
    let zone = match dns::answer::Zone::new(
        config.zone.clone(),
        config.ns.clone(),
        config.mbox.clone(),
        config.default_port,
        listen.map(|a| a.ip()),
    ) {
        Ok(zone) => zone,
        Err(error) => {
            tracing::error!(%error, "dns off: the zone cannot be served");
            return Vec::new();
        }
    };
    let first = dns::snapshot::current(shared, config.default_port);
    let (publish, snapshot) = watch::channel(Arc::new(first));
    let limiter =
        dns::ratelimit::RateLimiter::new(config.rate_limit, config.rate_burst, config.max_sources);
    let responder = Arc::new(dns::Responder::new(
        zone,
        snapshot,
        limiter,
        Arc::clone(&shared.dns_stats),
    ));
    if let Some(address) = listen {
        tracing::info!(%address, zone = %config.zone, default_port = config.default_port, "dns serving");
    }
    vec![
        tokio::spawn(dns::snapshot::run_snapshotter(
            Arc::clone(shared),
            config.default_port,
            publish,
            stop.clone(),
        )),
        tokio::spawn(dns::serve(sockets, config, responder, stop.clone())),
    ]
}
