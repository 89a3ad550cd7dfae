//! Sync by height: find the peer with the most chain work, find the fork point by
//! comparing header hashes walking back exponentially, then fetch headers and blocks in
//! batches and connect them.

use super::PeerInfo;
use crate::node::Node;
use crate::primitives::block::decode_header_list;
use crate::primitives::encoding::decode_list;
use crate::primitives::{Block, BlockHash, Header, Height, Reader, Work, U256};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

/// Blocks fetched per request (API.md: at most 500).
pub const BLOCK_BATCH: u64 = 500;
/// Blocks connected per store commit during sync.
pub const SYNC_COMMIT_BLOCKS: usize = 50;
/// Headers fetched in the headers-first check (API.md: at most 2 000).
const MAX_HEADERS: u64 = 2_000;

/// Resets the `syncing` flag when a sync round ends, however it ends.
struct SyncingGuard<'a>(&'a Node);

impl Drop for SyncingGuard<'_> {
    fn drop(&mut self) {
        self.0.syncing.store(false, Ordering::SeqCst);
    }
}

fn parse_work(hex: &str) -> Option<Work> {
    U256::from_hex(hex).ok().map(Work)
}

/// Up to `limit` headers of the peer's active chain from height `from` (binary
/// `GET /headers`; each carried hash is checked against its header).
async fn fetch_headers(
    node: &Node,
    peer: &str,
    from: u64,
    limit: u64,
) -> Result<Vec<Header>, String> {
    let url = format!("http://{peer}/headers?from={from}&limit={limit}");
    let bytes = node
        .peers
        .client()
        .get_bytes(&url, node.config.peer_timeout)
        .await
        .map_err(|e| e.to_string())?;
    decode_header_list(&bytes).map_err(|e| format!("bad headers from {peer}: {e}"))
}

/// The peer hash of the block at `height` on its active chain.
async fn peer_hash_at(node: &Node, peer: &str, height: u64) -> Result<Option<BlockHash>, String> {
    let headers = fetch_headers(node, peer, height, 1).await?;
    Ok(headers.first().map(Header::hash))
}

/// The highest height at which our active chain and the peer's agree, found by walking
/// back 1, 2, 4, 8, ... blocks from the lower of the two tips.
async fn find_fork(node: &Node, peer: &str, peer_height: u64) -> Result<u64, String> {
    let ours = node.chain().height().get();
    let mut height = ours.min(peer_height);
    let mut step = 1u64;
    loop {
        let theirs = peer_hash_at(node, peer, height).await?;
        let mine = node.chain().block_hash_at(Height(height));
        if theirs.is_some() && theirs == mine {
            return Ok(height);
        }
        if height == 0 {
            return Err("peer disagrees about genesis".into());
        }
        height = height.saturating_sub(step);
        step = step.saturating_mul(2);
    }
}

/// Picks the peer with the most chain work above ours, with its info.
async fn best_peer(node: &Node) -> Option<(String, PeerInfo)> {
    let ours = node.chain().tip_entry().chain_work;
    let mut best: Option<(String, PeerInfo, Work)> = None;
    for peer in node.peers.addresses() {
        let url = format!("http://{peer}/info");
        let Ok(info) = node
            .peers
            .client()
            .get_json::<PeerInfo>(&url, node.config.peer_timeout)
            .await
        else {
            continue;
        };
        node.peers.seen(&peer, info.height);
        let Some(work) = parse_work(&info.chain_work) else {
            continue;
        };
        if work > ours && best.as_ref().is_none_or(|(_, _, w)| work > *w) {
            best = Some((peer, info, work));
        }
    }
    best.map(|(p, i, _)| (p, i))
}

/// One sync round: catches up with the best peer if it has more work. Returns the number
/// of blocks connected.
pub async fn sync_once(node: &Arc<Node>) -> Result<u64, String> {
    let Some((peer, info)) = best_peer(node).await else {
        return Ok(0);
    };
    node.syncing.store(true, Ordering::SeqCst);
    let _guard = SyncingGuard(node);
    let fork = find_fork(node, &peer, info.height).await?;
    let start_height = node.chain().height().get();
    tracing::info!(%peer, fork, ours = start_height, target = info.height, "syncing");
    check_headers(node, &peer, fork, info.height).await?;
    let started = Instant::now();
    let mut from = fork + 1;
    let mut connected = 0u64;
    while from <= info.height {
        let limit = BLOCK_BATCH.min(info.height - from + 1);
        let url = format!("http://{peer}/blocks?from={from}&limit={limit}");
        let bytes = node
            .peers
            .client()
            .get_bytes(&url, node.config.peer_timeout * 6)
            .await
            .map_err(|e| e.to_string())?;
        // A binary `GET /blocks` answer: a `u32` count, then the blocks.
        let mut reader = Reader::new(&bytes);
        let blocks = decode_list::<Block>(&mut reader)
            .and_then(|blocks| reader.finish().map(|()| blocks))
            .map_err(|e| format!("bad block list from {peer}: {e}"))?;
        if blocks.is_empty() {
            break;
        }
        let count = blocks.len() as u64;
        let n = node.clone();
        // Commit in runs of SYNC_COMMIT_BLOCKS: fewer fsyncs, each commit consistent.
        let result = tokio::task::spawn_blocking(move || -> Result<(), String> {
            let mut blocks = blocks;
            while !blocks.is_empty() {
                let rest = blocks.split_off(blocks.len().min(SYNC_COMMIT_BLOCKS));
                n.submit_synced_blocks(blocks).map_err(|e| e.to_string())?;
                blocks = rest;
            }
            Ok(())
        })
        .await
        .map_err(|e| e.to_string())?;
        result?;
        connected += count;
        from += count;
        let elapsed = started.elapsed().as_secs_f64().max(1e-3);
        tracing::info!(
            height = %node.chain().height(),
            target = info.height,
            blocks_per_sec = format!("{:.1}", connected as f64 / elapsed),
            "sync progress"
        );
    }
    Ok(connected)
}

/// Headers first: fetches the peer's headers above the fork point (one request, up to
/// 2 000) and checks that they link to our block at the fork, each meets its own target
/// (at most `pow_limit`), and, when they leave our active chain and reach the peer's tip,
/// that they add up to more chain work than ours. Only then are blocks downloaded.
async fn check_headers(node: &Node, peer: &str, fork: u64, peer_height: u64) -> Result<(), String> {
    let headers = fetch_headers(node, peer, fork + 1, MAX_HEADERS).await?;
    let chain = node.chain();
    let pow_limit = chain.network().params.pow_limit;
    let mut prev = chain
        .block_hash_at(Height(fork))
        .ok_or_else(|| format!("fork point {fork} is not on our chain"))?;
    let mut work = chain
        .header_entry(&prev)
        .map(|e| e.chain_work)
        .ok_or("fork block has no header")?;
    for (i, header) in headers.iter().enumerate() {
        if header.prev_hash != prev || header.height.get() != fork + 1 + i as u64 {
            return Err(format!(
                "headers from {peer} do not link at height {}",
                header.height
            ));
        }
        let hash = header.hash();
        if header.target > pow_limit || !header.target.is_met_by(&hash.0) {
            return Err(format!(
                "header {hash} from {peer} has no valid proof of work"
            ));
        }
        work = work.saturating_add(header.target.work());
        prev = hash;
    }
    let reaches_tip = fork + headers.len() as u64 == peer_height;
    let leaves_our_chain = fork < chain.height().get();
    if leaves_our_chain && reaches_tip && work <= chain.tip_entry().chain_work {
        return Err(format!("{peer}'s branch does not have more work than ours"));
    }
    Ok(())
}

/// Syncs at start, every sync interval, and whenever a pushed block had an unknown parent.
pub async fn sync_loop(node: Arc<Node>, shutdown: impl std::future::Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            result = sync_once(&node) => match result {
                Ok(0) => {}
                Ok(n) => tracing::info!(blocks = n, height = %node.chain().height(), "sync round done"),
                Err(e) => tracing::warn!(error = %e, "sync round failed"),
            },
        }
        tokio::select! {
            () = &mut shutdown => return,
            () = tokio::time::sleep(node.config.sync_interval) => {}
            () = node.sync_wanted.notified() => {}
        }
    }
}
