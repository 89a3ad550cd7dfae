//! Headers-first sync (PROTOCOL.md section 9): peers are chosen by the chain work they
//! claim, but a node follows only headers it checked itself and stores nothing of a
//! branch before those checked headers carry more work than its active chain.
//!
//! One round, with one peer at a time:
//! 1. **Presync.** `GET /headers?locator=…` with a locator of our own active chain, so a
//!    peer on a fork answers from the fork point; then again from the last header it
//!    sent. Each header must link to the one before it and meet the proof of work,
//!    target and `time-too-old` rules (computed from the headers themselves on top of
//!    the stored block they start from). Nothing is stored; at most
//!    [`MAX_PRESYNC_HEADERS`] are held.
//! 2. **Blocks by hash**, only when the checked headers carry more work than ours:
//!    `GET /blocks?hashes=…`, each answer matched against the checked headers, connected
//!    in runs of [`SYNC_COMMIT_BLOCKS`].
//!
//! A round must keep making verified progress (checked work rising toward more than ours,
//! or blocks connecting): after [`NodeConfig::sync_deadline`] without progress the peer is
//! set aside for [`SET_ASIDE_FOR`] (not discouraged: an honest peer may just be slow) and
//! the next peer is tried at once. What the spec punishes (an undecodable or oversized
//! answer, headers that do not link or fail their checks, an invalid block, headers that
//! stop short of the work the peer claimed) discourages the peer.
//!
//! [`NodeConfig::sync_deadline`]: super::NodeConfig::sync_deadline

use super::{unix_now, Node, NodeError};
use crate::chain::ChainError;
use crate::consensus::validation::check_header;
use crate::consensus::BlockError;
use crate::http::client::ClientError;
use crate::net::{Delivery, PeerInfo};
use crate::primitives::block::decode_header_list;
use crate::primitives::encoding::decode_list;
use crate::primitives::{Block, BlockHash, Header, Reader, Work, U256};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Headers asked for per request (API.md: at most 2 000).
pub const HEADERS_PER_REQUEST: usize = 2_000;
/// Unstored headers held for one peer at most (Bitcoin Core's presync idea).
pub const MAX_PRESYNC_HEADERS: usize = 100_000;
/// Blocks asked for per `GET /blocks?hashes=` request.
pub const BLOCKS_PER_REQUEST: usize = 64;
/// Blocks connected per store commit during sync.
pub const SYNC_COMMIT_BLOCKS: usize = 50;
/// How long a peer whose round made no progress is not chosen for sync.
pub const SET_ASIDE_FOR: Duration = Duration::from_secs(10 * 60);
/// Hashes in our locator at most (the exponential steps keep it near 40 for any chain).
const MAX_LOCATOR: usize = 64;
/// Least time between two sync progress lines in the log.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// Sync progress for the log: connected height against the verified headers' height,
/// as a percentage with the rate in blocks per second and an estimated time left. A line
/// is due at most every [`PROGRESS_EVERY`] (and at the end), however fast blocks come.
#[derive(Debug)]
pub struct Progress {
    started: Instant,
    start_height: u64,
    target: u64,
    last_line: Option<Instant>,
    every: Duration,
}

/// One progress line's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct ProgressLine {
    pub height: u64,
    pub target: u64,
    /// 0 to 100.
    pub percent: f64,
    pub blocks_per_sec: f64,
    /// `None` until a rate is known.
    pub eta: Option<Duration>,
}

impl Progress {
    /// A round that starts at `start_height` and whose checked headers reach `target`.
    pub fn new(start_height: u64, target: u64, now: Instant, every: Duration) -> Progress {
        Progress {
            started: now,
            start_height,
            target,
            last_line: None,
            every,
        }
    }

    /// The figures at `height`, if a line is due at `now` (always when `last`).
    pub fn line(&mut self, height: u64, now: Instant, last: bool) -> Option<ProgressLine> {
        let due = self
            .last_line
            .is_none_or(|at| now.saturating_duration_since(at) >= self.every);
        if !(due || last) {
            return None;
        }
        self.last_line = Some(now);
        Some(self.figures(height, now))
    }

    fn figures(&self, height: u64, now: Instant) -> ProgressLine {
        let percent = if self.target == 0 {
            100.0
        } else {
            (height as f64 / self.target as f64 * 100.0).min(100.0)
        };
        let elapsed = now.saturating_duration_since(self.started).as_secs_f64();
        let done = height.saturating_sub(self.start_height);
        let blocks_per_sec = if elapsed > 0.0 {
            done as f64 / elapsed
        } else {
            0.0
        };
        let left = self.target.saturating_sub(height);
        let eta = (blocks_per_sec > 0.0)
            .then(|| Duration::from_secs_f64((left as f64 / blocks_per_sec).min(1e9)));
        ProgressLine {
            height,
            target: self.target,
            percent,
            blocks_per_sec,
            eta,
        }
    }
}

fn log_progress(line: &ProgressLine) {
    tracing::info!(
        height = line.height,
        target = line.target,
        progress = format!("{:.1}%", line.percent),
        blocks_per_sec = format!("{:.1}", line.blocks_per_sec),
        eta = line
            .eta
            .map_or_else(|| "unknown".to_owned(), |d| format!("{}s", d.as_secs())),
        "sync progress"
    );
}

/// How a sync round with one peer ended badly.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Something the spec punishes: the peer is discouraged.
    #[error("{0}")]
    Misbehaved(String),
    /// No progress in time, an error answer, or an answer that did not match: the peer is
    /// set aside for a while, not punished.
    #[error("{0}")]
    Stalled(String),
    /// Our own failure (storage, shutdown).
    #[error("{0}")]
    Local(String),
}

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

/// Sorts a failed request: a 2xx answer too large for what we asked is punished; error
/// answers (408, 409, 429, 5xx, a 404 for a missing feature), time-outs and broken
/// connections are not.
fn request_failed(peer: &str, what: &str, e: ClientError) -> SyncError {
    match e {
        ClientError::TooLarge { .. } => {
            SyncError::Misbehaved(format!("{peer} answered {what} with more than asked: {e}"))
        }
        _ => SyncError::Stalled(format!("{peer} did not answer {what}: {e}")),
    }
}

/// A round's progress clock: every request must finish before the deadline, which moves
/// on whenever the round makes verified progress.
struct Deadline {
    window: Duration,
    at: Instant,
}

impl Deadline {
    fn new(window: Duration) -> Deadline {
        Deadline {
            window,
            at: Instant::now() + window,
        }
    }

    fn progressed(&mut self) {
        self.at = Instant::now() + self.window;
    }

    /// Time a request may take: its own timeout, but never past the deadline.
    fn budget(&self, per_request: Duration) -> Result<Duration, SyncError> {
        let left = self.at.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(SyncError::Stalled(format!(
                "no verified progress within {:?}",
                self.window
            )));
        }
        Ok(left.min(per_request))
    }
}

/// Headers checked in presync, not stored: they link one after another onto the stored
/// block `base`.
struct Presync {
    base: BlockHash,
    /// Chain work up to and including the last header (or `base`).
    work: Work,
    headers: Vec<Header>,
}

impl Presync {
    fn tip(&self) -> BlockHash {
        self.headers.last().map_or(self.base, Header::hash)
    }
}

/// Asks for headers after our locator (extended by what presync already holds).
async fn fetch_headers(
    node: &Node,
    peer: &str,
    presync: &Presync,
    deadline: &Deadline,
) -> Result<Vec<Header>, SyncError> {
    let mut locator: Vec<BlockHash> = Vec::with_capacity(MAX_LOCATOR);
    if !presync.headers.is_empty() {
        locator.push(presync.tip());
    }
    locator.extend(node.chain().locator());
    if locator.len() > MAX_LOCATOR {
        // Keep the newest and genesis.
        let genesis = locator.last().copied();
        locator.truncate(MAX_LOCATOR - 1);
        locator.extend(genesis);
    }
    let list: Vec<String> = locator.iter().map(BlockHash::to_hex).collect();
    let url = format!(
        "http://{peer}/headers?locator={}&limit={HEADERS_PER_REQUEST}",
        list.join(",")
    );
    let timeout = deadline.budget(node.config.peer_timeout)?;
    let bytes = node
        .peers
        .small_client()
        .get_bytes(&url, timeout)
        .await
        .map_err(|e| request_failed(peer, "GET /headers", e))?;
    let headers = decode_header_list(&bytes).map_err(|e| {
        SyncError::Misbehaved(format!("{peer} sent headers that do not decode: {e}"))
    })?;
    if headers.len() > HEADERS_PER_REQUEST {
        return Err(SyncError::Misbehaved(format!(
            "{peer} sent {} headers, more than the {HEADERS_PER_REQUEST} asked for",
            headers.len()
        )));
    }
    Ok(headers)
}

/// Checks a batch of headers and appends it to `presync`. Returns `false` when the batch
/// stopped at a header that is only too new for now (nothing more to take this round).
fn absorb_headers(
    node: &Node,
    peer: &str,
    presync: &mut Presync,
    batch: Vec<Header>,
) -> Result<bool, SyncError> {
    // Headers that do not link to each other are punished whatever their start.
    if let Some(i) = batch
        .windows(2)
        .position(|w| w[1].prev_hash != w[0].hash() || w[0].height.next() != Some(w[1].height))
    {
        return Err(SyncError::Misbehaved(format!(
            "{peer} sent headers that do not link to each other (at {})",
            i + 1
        )));
    }
    let chain = node.chain();
    let Some(first) = batch.first() else {
        return Ok(true);
    };
    if first.prev_hash != presync.tip() {
        // The peer answered from another point of our locator (its chain moved, or ours
        // did): start again from there if we hold that block; a parent we do not know is
        // not punished (PROTOCOL.md section 9), the round just ends.
        let Some(entry) = chain.header_entry(&first.prev_hash) else {
            return Err(SyncError::Stalled(format!(
                "{peer}'s headers start on a parent we do not know ({})",
                first.prev_hash
            )));
        };
        presync.base = first.prev_hash;
        presync.work = entry.chain_work;
        presync.headers.clear();
    }
    let now = unix_now();
    for header in batch {
        let hash = header.hash();
        if presync.headers.is_empty() {
            // Headers we store already (the peer's chain overlaps ours) move the base.
            if let Some(entry) = chain.header_entry(&hash) {
                if header.prev_hash == presync.base {
                    presync.base = hash;
                    presync.work = entry.chain_work;
                    continue;
                }
            }
        }
        if chain.is_invalid(&hash) {
            return Err(SyncError::Misbehaved(format!(
                "{peer} sent header {hash} of a block known to be invalid"
            )));
        }
        let Some(context) = chain.header_context(&presync.base, &presync.headers) else {
            return Err(SyncError::Local(format!(
                "no context for a header on {}",
                presync.base
            )));
        };
        match check_header(&header, &context, now) {
            Ok(()) => {}
            Err(BlockError::TimeTooNew { .. }) => return Ok(false),
            Err(e) => {
                return Err(SyncError::Misbehaved(format!(
                    "{peer} sent header {hash} that breaks a rule: {e}"
                )))
            }
        }
        presync.work = presync.work.saturating_add(header.target.work());
        presync.headers.push(header);
    }
    Ok(true)
}

/// Connecting blocks on a blocking thread: how many joined the active chain.
type Connecting = tokio::task::JoinHandle<Result<usize, NodeError>>;

/// Waits for a batch of blocks being connected and judges the outcome: an invalid block
/// discourages the peer, a store failure is ours. Returns how many blocks joined.
async fn connected_batch(node: &Node, peer: &str, batch: Connecting) -> Result<u64, SyncError> {
    let result = batch
        .await
        .map_err(|e| SyncError::Local(format!("connect task failed: {e}")))?;
    match result {
        Ok(joined) => {
            node.peers.credit_peer(peer, Delivery::Block);
            Ok(joined as u64)
        }
        Err(NodeError::Chain(ChainError::Block(e)))
            if crate::net::discourage::punishes_block(&e) =>
        {
            Err(SyncError::Misbehaved(format!(
                "{peer} sent an invalid block: {e}"
            )))
        }
        Err(e @ NodeError::Chain(ChainError::Store(_))) => {
            Err(SyncError::Local(format!("connecting failed: {e}")))
        }
        Err(e) => Err(SyncError::Stalled(format!(
            "{peer}'s blocks could not be connected now: {e}"
        ))),
    }
}

/// Fetches the checked headers' blocks by hash and connects them. Returns how many
/// blocks joined the active chain.
///
/// Pipelined: while one answer's blocks are connected on a blocking thread, the next
/// request is already on its way, so the network and the cores overlap. At most two
/// answers ([`BLOCKS_PER_REQUEST`] blocks each) are held at once.
async fn fetch_blocks(
    node: &Arc<Node>,
    peer: &str,
    headers: &[Header],
    deadline: &mut Deadline,
) -> Result<u64, SyncError> {
    let mut connected = 0u64;
    let target = headers.last().map_or(0, |h| h.height.get());
    node.metrics.sync_header_height.set(target as i64);
    let mut progress = Progress::new(
        node.chain().height().get(),
        target,
        Instant::now(),
        PROGRESS_EVERY,
    );
    let mut in_flight: Option<Connecting> = None;
    for chunk in headers.chunks(BLOCKS_PER_REQUEST) {
        let mut want: Vec<BlockHash> = chunk.iter().map(Header::hash).collect();
        {
            let chain = node.chain();
            want.retain(|h| !chain.knows_block(h));
        }
        while !want.is_empty() {
            let list: Vec<String> = want.iter().map(BlockHash::to_hex).collect();
            let url = format!("http://{peer}/blocks?hashes={}", list.join(","));
            let timeout = deadline.budget(node.config.peer_timeout * 6)?;
            let bytes = node
                .peers
                .client()
                .get_bytes(&url, timeout)
                .await
                .map_err(|e| request_failed(peer, "GET /blocks", e))?;
            let mut reader = Reader::new(&bytes);
            let blocks = decode_list::<Block>(&mut reader)
                .and_then(|blocks| reader.finish().map(|()| blocks))
                .map_err(|e| {
                    SyncError::Misbehaved(format!("{peer} sent blocks that do not decode: {e}"))
                })?;
            if blocks.len() > want.len() {
                return Err(SyncError::Misbehaved(format!(
                    "{peer} sent {} blocks, more than the {} asked for",
                    blocks.len(),
                    want.len()
                )));
            }
            if blocks.is_empty() {
                return Err(SyncError::Stalled(format!(
                    "{peer} does not have the blocks of the headers it sent"
                )));
            }
            if let Some((i, _)) = blocks
                .iter()
                .zip(&want)
                .enumerate()
                .find(|(_, (b, h))| b.hash() != **h)
            {
                return Err(SyncError::Stalled(format!(
                    "{peer}'s block {i} is not the one asked for"
                )));
            }
            let count = blocks.len();
            want.drain(..count);
            // Blocks connect in order: the previous answer's first.
            if let Some(batch) = in_flight.take() {
                connected += connected_batch(node, peer, batch).await?;
                deadline.progressed();
            }
            let n = node.clone();
            let batch = tokio::task::spawn_blocking(move || -> Result<usize, NodeError> {
                let mut blocks = blocks;
                let mut joined = 0;
                while !blocks.is_empty() {
                    let rest = blocks.split_off(blocks.len().min(SYNC_COMMIT_BLOCKS));
                    joined += n.submit_synced_blocks(blocks)?;
                    blocks = rest;
                }
                Ok(joined)
            });
            in_flight = Some(batch);
        }
        let height = node.chain().height().get();
        if let Some(line) = progress.line(height, Instant::now(), false) {
            log_progress(&line);
        }
    }
    if let Some(batch) = in_flight.take() {
        connected += connected_batch(node, peer, batch).await?;
        deadline.progressed();
    }
    let height = node.chain().height().get();
    if let Some(line) = progress.line(height, Instant::now(), true) {
        log_progress(&line);
    }
    Ok(connected)
}

/// One round with `peer`, whose `/info` claimed `claimed` work. Returns the number of
/// blocks that joined the active chain.
async fn sync_with(node: &Arc<Node>, peer: &str, claimed: Work) -> Result<u64, SyncError> {
    let mut deadline = Deadline::new(node.config.sync_deadline);
    let (base, work) = {
        let chain = node.chain();
        (chain.tip_hash(), chain.tip_entry().chain_work)
    };
    let mut presync = Presync {
        base,
        work,
        headers: Vec::new(),
    };
    let mut reached_end = false;
    loop {
        let batch = fetch_headers(node, peer, &presync, &deadline).await?;
        let full = batch.len() == HEADERS_PER_REQUEST;
        if batch.is_empty() {
            reached_end = true;
            break;
        }
        let before = presync.work;
        if !absorb_headers(node, peer, &mut presync, batch)? {
            break;
        }
        if presync.work > before {
            deadline.progressed();
        }
        if presync.headers.len() >= MAX_PRESYNC_HEADERS {
            break;
        }
        if !full {
            reached_end = true;
            break;
        }
    }
    let ours = node.chain().tip_entry().chain_work;
    if presync.work <= ours {
        if reached_end && presync.work < claimed {
            return Err(SyncError::Misbehaved(format!(
                "{peer}'s valid headers stop short of the chain work it claimed"
            )));
        }
        return Ok(0);
    }
    tracing::info!(
        %peer,
        headers = presync.headers.len(),
        from = %presync.base,
        "checked headers carry more work than ours; fetching blocks"
    );
    node.syncing.store(true, Ordering::SeqCst);
    let _guard = SyncingGuard(node);
    fetch_blocks(node, peer, &presync.headers, &mut deadline).await
}

/// Asks every eligible peer for its `/info` at once; returns those claiming more work
/// than ours, most first. A peer whose 2xx answer does not decode is discouraged.
async fn candidates(node: &Arc<Node>) -> Vec<(String, PeerInfo, Work)> {
    let mut asks = tokio::task::JoinSet::new();
    for peer in node.peers.addresses() {
        if node.peers.is_set_aside(&peer) {
            continue;
        }
        let n = node.clone();
        asks.spawn(async move {
            let url = format!("http://{peer}/info");
            let answer = n
                .peers
                .small_client()
                .get_json::<PeerInfo>(&url, n.config.peer_timeout)
                .await;
            (peer, answer)
        });
    }
    let ours = node.chain().tip_entry().chain_work;
    let mut out = Vec::new();
    while let Some(done) = asks.join_next().await {
        let Ok((peer, answer)) = done else { continue };
        let info = match answer {
            Ok(info) => info,
            Err(e @ (ClientError::BadJson { .. } | ClientError::TooLarge { .. })) => {
                node.peers
                    .discourage_peer(&peer, &format!("its /info answer is invalid: {e}"));
                continue;
            }
            Err(_) => continue,
        };
        node.peers.seen(&peer, info.height);
        let Some(work) = parse_work(&info.chain_work) else {
            node.peers
                .discourage_peer(&peer, "its /info chain_work is not 64 hex digits");
            continue;
        };
        if work > ours && info.can_serve_sync() {
            out.push((peer, info, work));
        }
    }
    out.sort_by_key(|c| std::cmp::Reverse(c.2));
    out
}

/// One sync round: tries the peers claiming more work than ours, most first, until one
/// brings us up to what it proved. Returns the number of blocks connected.
pub async fn sync_once(node: &Arc<Node>) -> Result<u64, String> {
    let mut connected = 0;
    for (peer, info, claimed) in candidates(node).await {
        if node.shutdown.is_cancelled() {
            break;
        }
        // Another peer may have brought us past this one's claim already.
        if claimed <= node.chain().tip_entry().chain_work {
            continue;
        }
        tracing::debug!(%peer, height = info.height, "syncing");
        match sync_with(node, &peer, claimed).await {
            Ok(n) => {
                connected += n;
                if n > 0 {
                    break;
                }
            }
            Err(SyncError::Misbehaved(why)) => node.peers.discourage_peer(&peer, &why),
            Err(SyncError::Stalled(why)) => {
                tracing::info!(%peer, reason = %why, "sync peer set aside for 10 minutes");
                node.peers.set_aside(&peer, SET_ASIDE_FOR);
            }
            Err(SyncError::Local(why)) => return Err(why),
        }
    }
    Ok(connected)
}

/// Syncs at start, every sync interval, and whenever a pushed block had an unknown parent.
pub async fn sync_loop(node: Arc<Node>, shutdown: impl std::future::Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            result = sync_once(&node) => match result {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(blocks = n, height = %node.chain().height(), "sync round done");
                    // More may be waiting (a peer's chain past our presync bound).
                    continue;
                }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_lines_are_rate_bounded_with_percent_rate_and_eta() {
        let t0 = Instant::now();
        let every = Duration::from_secs(5);
        let mut p = Progress::new(100, 1100, t0, every);
        // The first line is due at once; no rate yet, so no estimate.
        let first = p.line(100, t0, false).expect("first line");
        assert_eq!((first.height, first.target), (100, 1100));
        assert!((first.percent - 100.0 * 100.0 / 1100.0).abs() < 1e-9);
        assert_eq!(first.eta, None);
        // Thousands of batches within 5 s log nothing more.
        for ms in 1..5_000 {
            assert!(p
                .line(100 + ms / 10, t0 + Duration::from_millis(ms), false)
                .is_none());
        }
        // At 5 s: 500 blocks done, 100 per second, 500 left: 5 s to go, 54.5 %.
        let line = p.line(600, t0 + every, false).expect("due");
        assert!((line.blocks_per_sec - 100.0).abs() < 1e-9);
        assert_eq!(line.eta, Some(Duration::from_secs(5)));
        assert!((line.percent - 600.0 / 11.0).abs() < 1e-9);
        // The last line is always written, and never says more than 100 %.
        let last = p.line(1200, t0 + every + Duration::from_millis(1), true);
        let last = last.expect("the last line");
        assert_eq!(last.percent, 100.0);
        assert_eq!(last.eta, Some(Duration::ZERO));
    }
}
