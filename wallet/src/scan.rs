//! Finding the wallet's addresses on the node: a gap-limit scan of both chains.
//!
//! For each chain the scan asks `GET /addresses/{a}` for index 0, 1, … and stops after
//! [`GAP_LIMIT`] unused addresses in a row beyond both the last used one and the
//! addresses already handed out (the wallet file's counters). Lookups of one batch run
//! concurrently.

use crate::error::WalletError;
use crate::keys::{Chain, KeyPath, Keychain, GAP_LIMIT};
use crate::node::{is_used, NodeClient};
use ferro::primitives::Address;
use ferro::wire::AddressSummary;
use tokio::task::JoinSet;

/// A wallet address and what the node knows about it.
#[derive(Clone, Debug)]
pub struct ScannedAddress {
    pub path: KeyPath,
    pub address: Address,
    pub summary: AddressSummary,
}

/// What a scan found.
#[derive(Clone, Debug, Default)]
pub struct Scan {
    /// Every used address, receive chain first, by index.
    pub used: Vec<ScannedAddress>,
    /// First receive index after the last used one (0 if none is used).
    pub next_unused_receive: u32,
    /// First change index after the last used one.
    pub next_unused_change: u32,
}

impl Scan {
    pub fn next_unused(&self, chain: Chain) -> u32 {
        match chain {
            Chain::Receive => self.next_unused_receive,
            Chain::Change => self.next_unused_change,
        }
    }
}

/// Scans both chains. `issued` gives, per chain, how many addresses the wallet has
/// already handed out; those are always looked at.
pub async fn scan(
    node: &NodeClient,
    keys: &Keychain,
    hrp: &str,
    issued_receive: u32,
    issued_change: u32,
) -> Result<Scan, WalletError> {
    let mut result = Scan::default();
    for chain in Chain::ALL {
        let issued = match chain {
            Chain::Receive => issued_receive,
            Chain::Change => issued_change,
        };
        let (used, next) = scan_chain(node, keys, hrp, chain, issued).await?;
        result.used.extend(used);
        match chain {
            Chain::Receive => result.next_unused_receive = next,
            Chain::Change => result.next_unused_change = next,
        }
    }
    Ok(result)
}

/// Lookups in flight at once.
const BATCH: u32 = 32;

async fn scan_chain(
    node: &NodeClient,
    keys: &Keychain,
    hrp: &str,
    chain: Chain,
    issued: u32,
) -> Result<(Vec<ScannedAddress>, u32), WalletError> {
    let mut used = Vec::new();
    let mut next_unused = 0u32;
    let mut index = 0u32;
    loop {
        let end = issued
            .max(next_unused)
            .saturating_add(GAP_LIMIT)
            .min(u32::MAX >> 1);
        if index >= end {
            break;
        }
        // At most BATCH lookups in flight: a wallet with many addresses handed out must
        // not open thousands of connections at once.
        let end = end.min(index.saturating_add(BATCH));
        let mut batch = JoinSet::new();
        for i in index..end {
            let path = KeyPath { chain, index: i };
            let address = keys.address(hrp, path)?;
            let node = node.clone();
            batch.spawn(async move {
                let summary = node.address(&address).await;
                (path, address, summary)
            });
        }
        let mut found = Vec::new();
        while let Some(joined) = batch.join_next().await {
            let (path, address, summary) = joined
                .map_err(|e| WalletError::NodeProtocol(format!("lookup task failed: {e}")))?;
            let summary = summary?;
            if is_used(&summary) {
                next_unused = next_unused.max(path.index + 1);
                found.push(ScannedAddress {
                    path,
                    address,
                    summary,
                });
            }
        }
        found.sort_by_key(|a| a.path);
        used.extend(found);
        index = end;
    }
    Ok((used, next_unused))
}
