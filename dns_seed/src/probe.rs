//! Probing nodes: one `GET /info` with a timeout, and the background task that
//! re-probes every listed node on an interval.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ferro::http::{ClientError, HttpClient};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::GenesisHash;
use crate::registry::FailureOutcome;
use crate::state::{period_ticker, unix_now, Shared};

/// A node's `/info` answer: the one type every client parses it into.
pub use ferro::wire::Info as NodeInfo;

impl Shared {
    /// Probes the node at `address` with this seed's timeout and network.
    pub(crate) async fn probe_node(&self, address: SocketAddr) -> Result<NodeInfo, ProbeError> {
        let config = &self.config;
        probe(
            &self.client,
            address,
            config.probe_timeout,
            config.genesis_hash.as_ref(),
        )
        .await
    }
}

/// Why a probe failed.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// No usable answer (refused, timed out, non-2xx, not the `/info` shape).
    #[error("node at {address} did not answer GET /info: {source}")]
    Unreachable {
        address: SocketAddr,
        source: ClientError,
    },
    /// Answered, but with something that is not a genesis hash.
    #[error("node at {address} answered GET /info with an invalid genesis_hash: {reason}")]
    BadInfo { address: SocketAddr, reason: String },
    /// A node of another network.
    #[error("node at {address} is on another network: genesis hash {got}, expected {expected}")]
    WrongNetwork {
        address: SocketAddr,
        expected: GenesisHash,
        got: GenesisHash,
    },
}

impl ProbeError {
    /// Whether the node answered in a way an honest node never does (PROTOCOL.md section
    /// 9: a 2xx answer that does not decode or is larger than asked for). Such a node is
    /// discouraged for 24 hours; timeouts, refusals and error answers are not punished.
    pub fn is_punishable(&self) -> bool {
        match self {
            ProbeError::BadInfo { .. } => true,
            ProbeError::Unreachable { source, .. } => is_dishonest_answer(source),
            ProbeError::WrongNetwork { .. } => false,
        }
    }
}

/// Whether a failed request to a node got an answer no honest node gives: 2xx that does
/// not decode, or larger than asked for (PROTOCOL.md section 9).
pub fn is_dishonest_answer(error: &ClientError) -> bool {
    matches!(
        error,
        ClientError::BadJson { .. } | ClientError::TooLarge { .. }
    )
}

/// Asks the node at `address` for `/info` and checks it belongs to the network
/// (when `expected` is set).
pub async fn probe(
    client: &HttpClient,
    address: SocketAddr,
    timeout: Duration,
    expected: Option<&GenesisHash>,
) -> Result<NodeInfo, ProbeError> {
    let url = format!("http://{address}/info");
    let info: NodeInfo = client
        .get_json(&url, timeout)
        .await
        .map_err(|source| ProbeError::Unreachable { address, source })?;
    let got: GenesisHash =
        info.genesis_hash
            .parse()
            .map_err(|e: crate::config::GenesisHashError| ProbeError::BadInfo {
                address,
                reason: e.to_string(),
            })?;
    match expected {
        Some(expected) if *expected != got => Err(ProbeError::WrongNetwork {
            address,
            expected: expected.clone(),
            got,
        }),
        _ => Ok(info),
    }
}

/// Re-probes every listed node each `probe_interval` until `stop`. Nodes were probed
/// when they registered, so the first round waits a period; stopping drops an unfinished
/// round, which aborts its probes.
pub(crate) async fn run_prober(shared: Arc<Shared>, stop: CancellationToken) {
    let mut ticker = period_ticker(shared.config.probe_interval);
    while stop.run_until_cancelled(ticker.tick()).await.is_some() {
        if stop
            .run_until_cancelled(probe_round(&shared))
            .await
            .is_none()
        {
            return;
        }
    }
}

/// One pass over the list with at most `probe_concurrency` probes in flight.
async fn probe_round(shared: &Arc<Shared>) {
    let config = &shared.config;
    let mut pending = shared
        .registry()
        .entries()
        .into_iter()
        .map(|view| view.address);
    let mut in_flight = JoinSet::new();
    let (mut ok, mut failed, mut dropped) = (0usize, 0usize, 0usize);
    loop {
        while in_flight.len() < config.probe_concurrency.max(1) {
            let Some(address) = pending.next() else { break };
            let shared = Arc::clone(shared);
            in_flight.spawn(async move {
                let result = shared.probe_node(address).await;
                (address, result)
            });
        }
        let Some(done) = in_flight.join_next().await else {
            break;
        };
        let Ok((address, result)) = done else {
            continue;
        };
        match result {
            Ok(info) => {
                if shared
                    .registry()
                    .record_success(address, info.height, unix_now())
                {
                    ok += 1;
                }
            }
            Err(e) if e.is_punishable() => {
                failed += 1;
                dropped += 1;
                shared.discourage(address, &e.to_string());
            }
            Err(e) => {
                failed += 1;
                let outcome = shared
                    .registry()
                    .record_failure(address, config.max_failures);
                match outcome {
                    FailureOutcome::Kept(failures) => {
                        tracing::info!(%address, failures, error = %e, "probe failed")
                    }
                    FailureOutcome::Dropped => {
                        dropped += 1;
                        tracing::info!(%address, error = %e, "dropped node after {} failed probes in a row", config.max_failures)
                    }
                    FailureOutcome::Unknown => {}
                }
            }
        }
    }
    if ok + failed > 0 {
        shared.mark_changed();
        tracing::debug!(ok, failed, dropped, "probe round done");
    }
}
