//! The Ferro seed server: a list of live nodes of one network.
//!
//! Nodes announce themselves with `POST /nodes`; the seed probes their
//! `GET /info` before listing them, re-probes every listed node on an interval,
//! drops those that fail several times in a row, and hands out random samples
//! with `GET /nodes`. The list is saved atomically to a data file and survives
//! restarts. See `docs/dns_seed.md` for flags and endpoints.
//!
//! # Layout
//! - [`config`]: the seed's settings ([`Config`]) and the [`GenesisHash`] type.
//! - [`registry`]: the in-memory list and its rules (source address, bounds,
//!   failure counting, sampling); no I/O.
//! - [`probe`]: one `GET /info` probe, and the background re-probe task.
//! - [`store`]: the data file: atomic save, tolerant load, and the task that
//!   saves after changes.
//! - [`api`]: the HTTP endpoints and the mapping of refusals to API codes.
//! - `state`: what the handlers and tasks share.
//!
//! [`run`] wires them together; `main.rs` only parses the command line.

pub mod api;
pub mod config;
pub mod probe;
pub mod registry;
mod state;
pub mod store;

use std::sync::Arc;

use ferro::http::RequestLimits;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::{Config, GenesisHash};
pub use store::StoreError;

use registry::Registry;
use state::Shared;

/// Serves the seed on `listener` until `shutdown` is cancelled, then stops
/// accepting, finishes in-flight requests, stops probing and saves the list.
///
/// Fails only when the data file cannot be read (other than missing or
/// corrupt, which start an empty list) or the final save fails.
pub async fn run(
    listener: TcpListener,
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
        ..RequestLimits::default()
    };
    let data_file = config.data_file.clone();
    let shared = Arc::new(Shared::new(config, registry));

    // The prober and the persister stop after the server has drained.
    let stop = CancellationToken::new();
    let prober = tokio::spawn(probe::run_prober(Arc::clone(&shared), stop.clone()));
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
    if let Err(e) = prober.await {
        tracing::error!(error = %e, "the prober task failed");
    }
    if let Some(persister) = persister {
        match persister.await {
            Ok(result) => result?,
            Err(e) => tracing::error!(error = %e, "the persister task failed"),
        }
    }
    Ok(())
}
