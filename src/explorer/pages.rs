//! The explorer's pages: what each reads from the chain and the mempool, and its maud
//! template. Every function here runs on a blocking thread (see [`super::render`]).

use super::format::{self, ago, coins, short, thousands, utc};
use super::Explorer;
use crate::api::views::resolve_block;
use crate::chain::{ChainState, DiskStore};
use crate::clock::unix_now;
use crate::http::ApiError;
use crate::json::address_string;
use crate::node::Node;
use crate::primitives::{Address, Block, BlockHash, Height, OutPoint, Transaction, Txid};
use axum::http::StatusCode;
use maud::{html, Markup, DOCTYPE};
use std::sync::Arc;

/// Rows of the latest-blocks and latest-transactions tables on the home page.
const LATEST: usize = 10;
/// Blocks the home page's chart covers.
const CHART_BLOCKS: u64 = 300;
/// Transactions per page of a block.
const BLOCK_TXS_PER_PAGE: usize = 50;
/// Inputs and outputs per page of a transaction.
const TX_IO_PER_PAGE: usize = 100;
/// Transactions per page of an address's history.
const HISTORY_PER_PAGE: usize = 25;
/// UTXOs an address page lists.
const ADDRESS_UTXOS: usize = 50;
/// Rich-list rows per page, and the deepest rank it lists.
const RICH_PER_PAGE: usize = 50;
const RICH_MAX_RANK: usize = 1_000;
/// Newest mempool entries the mempool page lists.
const MEMPOOL_NEWEST: usize = 25;
/// Lower bounds of the mempool page's fee-rate buckets, base units per byte.
const FEE_BUCKETS: [u64; 11] = [0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000];
/// Longest search string looked at (and echoed).
const MAX_QUERY: usize = 200;

type Chain = ChainState<DiskStore>;

// ---- shared pieces ----------------------------------------------------------------

fn layout(title: &str, live: bool, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Ferro explorer" }
                link rel="stylesheet" href="/explorer/static/style.css";
                // No favicon request (it would be a 404 on every page).
                link rel="icon" href="data:,";
                script src="/explorer/static/app.js" defer {}
            }
            body {
                header.top {
                    a.brand href="/explorer/" { "Ferro explorer" }
                    nav {
                        a href="/explorer/" { "Home" }
                        a href="/explorer/mempool" { "Mempool" }
                        a href="/explorer/richlist" { "Rich list" }
                        a href="/explorer/peers" { "Peers" }
                    }
                    form.search action="/explorer/search" method="get" role="search" {
                        input #q type="search" name="q" maxlength="200"
                            placeholder="Height, block hash, txid or address" aria-label="Search";
                        button type="submit" { "Search" }
                    }
                    @if live {
                        span #live data-state="connecting" title="Live updates from /events" { "connecting…" }
                    }
                }
                main { (body) }
                footer { "Ferro node " (env!("CARGO_PKG_VERSION")) " · " a href="/openapi.json" { "API" } " · " a href="/events" { "events" } }
            }
        }
    }
}

/// A full hash with a copy button.
fn full_hash(full: &str) -> Markup {
    html! {
        code.full title=(full) { (full) }
        " "
        button.copy type="button" data-copy=(full) title="Copy to the clipboard" { "copy" }
    }
}

/// A link to a block, tx or address page showing a shortened value (full on hover).
fn link(kind: &str, full: &str) -> Markup {
    html! { a.hash href={ "/explorer/" (kind) "/" (full) } title=(full) { (short(full)) } }
}

fn when(timestamp: u64, now: u64) -> Markup {
    html! { time title=(utc(timestamp)) { (ago(timestamp, now)) } " " small { (utc(timestamp)) } }
}

fn amount(units: u64) -> Markup {
    html! { span.amount { (coins(units)) } }
}

fn pager(base: &str, page: u64, has_next: bool) -> Markup {
    html! {
        nav.pager {
            @if page > 1 { a rel="prev" href={ (base) "?page=" (page - 1) } { "← previous" } }
            span { "page " (page) }
            @if has_next { a rel="next" href={ (base) "?page=" (page + 1) } { "next →" } }
        }
    }
}

/// The error page, for any status.
pub fn error(status: StatusCode, message: &str) -> Markup {
    let message: String = message.chars().take(300).collect();
    let title = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("error")
    );
    layout(
        &title,
        false,
        html! {
            section.error {
                h1 { (title) }
                p { (message) }
                p { a href="/explorer/" { "Back to the explorer" } }
            }
        },
    )
}

/// The "nothing found" page of a search.
pub fn nothing_found(query: &str) -> Markup {
    let query: String = query.chars().take(MAX_QUERY).collect();
    layout(
        "Nothing found",
        false,
        html! {
            section.error #nothing-found {
                h1 { "Nothing found" }
                p { "No block, transaction or address matches " q { (query) } "." }
                p { "Search for a block height, a block hash, a txid or an address." }
            }
        },
    )
}

fn difficulty(chain: &Chain, target: &crate::primitives::Target) -> u64 {
    chain
        .network()
        .params
        .pow_limit
        .0
        .div_rem(target.0)
        .map(|(q, _)| q.low_u64().max(1))
        .unwrap_or(1)
}

fn hrp(chain: &Chain) -> String {
    chain.network().params.address_hrp.clone()
}

// ---- block summaries ---------------------------------------------------------------

/// A transaction as the latest-transactions table shows it.
pub struct TxBrief {
    pub txid: String,
    pub output_total: u64,
    pub coinbase: bool,
}

/// A block as a table row shows it.
pub struct BlockSummary {
    pub hash: String,
    pub height: u64,
    pub timestamp: u64,
    pub tx_count: usize,
    pub size: usize,
    pub reward: u64,
    /// The first transactions, coinbase last (newest-looking first).
    pub txs: Vec<TxBrief>,
}

fn output_total(tx: &Transaction) -> u64 {
    tx.output_sum().map_or(0, |a| a.to_base_units())
}

fn summarize(hash: &BlockHash, block: &Block) -> BlockSummary {
    let mut txs: Vec<TxBrief> = block
        .transactions
        .iter()
        .skip(1)
        .take(LATEST)
        .map(|tx| TxBrief {
            txid: tx.txid().to_hex(),
            output_total: output_total(tx),
            coinbase: false,
        })
        .collect();
    if let Some(cb) = block.transactions.first() {
        txs.push(TxBrief {
            txid: cb.txid().to_hex(),
            output_total: output_total(cb),
            coinbase: true,
        });
    }
    BlockSummary {
        hash: hash.to_hex(),
        height: block.header.height.get(),
        timestamp: block.header.timestamp,
        tx_count: block.transactions.len(),
        size: block.size(),
        reward: block.transactions.first().map_or(0, output_total),
        txs,
    }
}

fn summary(ex: &Explorer, chain: &Chain, hash: &BlockHash) -> Result<Arc<BlockSummary>, ApiError> {
    if let Some(s) = ex.summaries.get(hash) {
        return Ok(s);
    }
    let block = chain
        .block(hash)?
        .ok_or_else(|| ApiError::not_found(format!("no block {hash}")))?;
    let s = Arc::new(summarize(hash, &block));
    ex.summaries.put(*hash, Arc::clone(&s));
    Ok(s)
}

// ---- home --------------------------------------------------------------------------

/// `/explorer/`.
pub fn home(ex: &Explorer) -> Result<Markup, ApiError> {
    let node = &ex.node;
    let now = unix_now();
    let chain = node.chain();
    let params = &chain.network().params;
    let tip = chain.tip_entry();
    let height = chain.height().get();
    let totals = chain.totals()?;
    let supply = totals.circulating_supply;
    let (pool_count, pool_bytes, recommended, newest) = {
        let pool = node.mempool();
        (
            pool.len(),
            pool.bytes(),
            pool.recommended_fee_rate(params.max_block_size as usize),
            pool.newest(LATEST),
        )
    };
    let mut latest = Vec::with_capacity(LATEST);
    for i in 0..LATEST as u64 {
        let Some(h) = height.checked_sub(i) else {
            break;
        };
        let Some(hash) = chain.block_hash_at(Height(h)) else {
            break;
        };
        latest.push(summary(ex, &chain, &hash)?);
    }
    let rich = chain.rich_list(10)?;
    let hrp = hrp(&chain);
    let chart = chart(&chain, height);
    let stats = html! {
        dl.stats #stats data-live {
            div { dt { "Network" } dd { (params.name) } }
            div { dt { "Height" } dd #height { (thousands(height)) } }
            div.wide { dt { "Best block" } dd { a.hash href={ "/explorer/block/" (chain.tip_hash().to_hex()) } title=(chain.tip_hash().to_hex()) { (short(&chain.tip_hash().to_hex())) } } }
            div { dt { "Supply" } dd { (amount(supply)) } }
            div { dt { "Difficulty" } dd { (thousands(difficulty(&chain, &tip.header.target))) } }
            div { dt { "Block time" } dd {
                @match chain.average_block_time() {
                    Some(avg) => { (format::seconds(avg)) " average" },
                    None => { "—" },
                }
                " · " (format::seconds(params.target_block_time)) " target"
            } }
            div { dt { "Mempool" } dd { a href="/explorer/mempool" { (thousands(pool_count as u64)) " txs" } " · " (format::bytes(pool_bytes as u64)) } }
            div { dt { "Recommended fee" } dd { (thousands(recommended)) " units/B" } }
            div { dt { "Peers" } dd { a href="/explorer/peers" { (node.peers.len()) } } }
            div { dt { "Transactions" } dd { (thousands(totals.transactions)) } }
        }
    };
    let blocks = html! {
        section #latest-blocks data-live {
            h2 { "Latest blocks" }
            div.scroll { table {
                thead { tr { th { "Height" } th { "Hash" } th { "Time" } th.num { "Txs" } th.num { "Size" } th.num { "Reward" } } }
                tbody {
                    @for b in &latest {
                        tr data-height=(b.height) {
                            td { a href={ "/explorer/block/" (b.height) } { (thousands(b.height)) } }
                            td { (link("block", &b.hash)) }
                            td { time title=(utc(b.timestamp)) { (ago(b.timestamp, now)) } }
                            td.num { (b.tx_count) }
                            td.num { (format::bytes(b.size as u64)) }
                            td.num { (amount(b.reward)) }
                        }
                    }
                }
            } }
        }
    };
    let mut tx_rows: Vec<Markup> = newest
        .iter()
        .map(|(txid, size, fee)| {
            html! { tr { td { (link("tx", &txid.to_hex())) } td { span.badge { "mempool" } } td.num { (format::bytes(*size as u64)) } td.num { "fee " (amount(fee.to_base_units())) } } }
        })
        .collect();
    'outer: for b in &latest {
        for t in &b.txs {
            if tx_rows.len() >= LATEST {
                break 'outer;
            }
            tx_rows.push(html! { tr {
                td { (link("tx", &t.txid)) }
                td { a href={ "/explorer/block/" (b.height) } { "block " (thousands(b.height)) } @if t.coinbase { " " span.badge { "coinbase" } } }
                td.num { time title=(utc(b.timestamp)) { (ago(b.timestamp, now)) } }
                td.num { (amount(t.output_total)) }
            } });
        }
    }
    let txs = html! {
        section #latest-txs data-live {
            h2 { "Latest transactions" }
            div.scroll { table { tbody { @for row in &tx_rows { (row) } } } }
        }
    };
    let rich_table = html! {
        section #rich data-live {
            h2 { "Rich list " a.more href="/explorer/richlist" { "(more)" } }
            div.scroll { table {
                thead { tr { th.num { "#" } th { "Address" } th.num { "Balance" } th.num { "Share" } } }
                tbody { @for (i, (pkh, bal)) in rich.iter().enumerate() {
                    @let a = address_string(pkh, &hrp);
                    tr { td.num { (i + 1) } td { (link("address", &a)) } td.num { (amount(bal.to_base_units())) } td.num { (format::share(bal.to_base_units(), supply)) } }
                } }
            } }
        }
    };
    Ok(layout(
        "Home",
        true,
        html! {
            h1 { "Ferro " (params.name) }
            (stats)
            div.columns { (blocks) (txs) }
            div.columns { (rich_table) section #chart data-live { h2 { "Block interval and difficulty" } (chart) } }
        },
    ))
}

/// Two SVG line charts over the last [`CHART_BLOCKS`] blocks: seconds since the parent,
/// and difficulty. Headers only (in memory).
fn chart(chain: &Chain, height: u64) -> Markup {
    let from = height.saturating_sub(CHART_BLOCKS).max(1);
    let mut intervals = Vec::new();
    let mut difficulties = Vec::new();
    let mut prev_time = chain
        .block_hash_at(Height(from - 1))
        .and_then(|h| chain.header_entry(&h).map(|e| e.header.timestamp));
    for h in from..=height {
        let Some(entry) = chain
            .block_hash_at(Height(h))
            .and_then(|hash| chain.header_entry(&hash).cloned())
        else {
            break;
        };
        let t = entry.header.timestamp;
        intervals.push(prev_time.map_or(0, |p| t.saturating_sub(p)));
        difficulties.push(difficulty(chain, &entry.header.target));
        prev_time = Some(t);
    }
    if intervals.is_empty() {
        return html! { p { "No blocks yet." } };
    }
    html! {
        (line_chart("Seconds between blocks", &intervals, from))
        (line_chart("Difficulty", &difficulties, from))
    }
}

fn line_chart(label: &str, values: &[u64], first_height: u64) -> Markup {
    const W: f64 = 600.0;
    const H: f64 = 120.0;
    let max = values.iter().copied().max().unwrap_or(0).max(1);
    let min = values.iter().copied().min().unwrap_or(0);
    let n = values.len().max(2) - 1;
    let points: String = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let x = i as f64 * W / n as f64;
            let y = H - (*v as f64 / max as f64) * (H - 10.0);
            format!("{x:.1},{y:.1} ")
        })
        .collect();
    let last = first_height + values.len() as u64 - 1;
    html! {
        figure.chart {
            svg viewBox="0 0 600 120" preserveAspectRatio="none" role="img" aria-label=(label) {
                polyline points=(points) fill="none" stroke="currentColor" stroke-width="1.5" vector-effect="non-scaling-stroke" {}
            }
            figcaption { (label) ": max " (thousands(max)) ", min " (thousands(min)) ", blocks " (thousands(first_height)) "–" (thousands(last)) }
        }
    }
}

// ---- block ---------------------------------------------------------------------------

/// `/explorer/block/{height|hash}`.
pub fn block(ex: &Explorer, id: &str, page: u64) -> Result<Markup, ApiError> {
    let node = &ex.node;
    // Before taking the chain's read lock: resolve_block takes it too.
    let hash = resolve_block(node, id).map_err(|e| ApiError::not_found(e.message().to_owned()))?;
    let chain = node.chain();
    let block = chain
        .block(&hash)?
        .ok_or_else(|| ApiError::not_found(format!("no block {hash}")))?;
    let now = unix_now();
    let active = chain.is_active(&hash);
    let h = block.header.height.get();
    let confirmations = if active {
        chain.height().get() - h + 1
    } else {
        0
    };
    let fees = if active {
        chain.block_fees(&hash, &block)?
    } else {
        None
    };
    let total_fees: Option<u64> = fees
        .as_ref()
        .map(|f| f.iter().map(|a| a.to_base_units()).sum());
    let next = if active {
        chain.block_hash_at(Height(h + 1))
    } else {
        None
    };
    let hrp = hrp(&chain);
    let pages = block.transactions.len().div_ceil(BLOCK_TXS_PER_PAGE).max(1) as u64;
    let page = page.min(pages);
    let start = (page as usize - 1) * BLOCK_TXS_PER_PAGE;
    let hash_hex = hash.to_hex();
    let header = &block.header;
    Ok(layout(
        &format!("Block {h}"),
        false,
        html! {
            h1 { "Block " (thousands(h)) }
            @if !active { p.warn { "This block is not on the active chain." } }
            dl.fields {
                dt { "Hash" } dd { (full_hash(&hash_hex)) }
                dt { "Confirmations" } dd #confirmations { (thousands(confirmations)) }
                dt { "Time" } dd { (when(header.timestamp, now)) }
                dt { "Previous block" } dd { @if h > 0 { a.hash href={ "/explorer/block/" (header.prev_hash.to_hex()) } title=(header.prev_hash.to_hex()) { (short(&header.prev_hash.to_hex())) } } @else { "none (genesis)" } }
                dt { "Next block" } dd { @match next { Some(n) => { a.hash href={ "/explorer/block/" (n.to_hex()) } title=(n.to_hex()) { (short(&n.to_hex())) } }, None => { "none yet" } } }
                dt { "Transactions" } dd { (thousands(block.transactions.len() as u64)) }
                dt { "Size" } dd { (format::bytes(block.size() as u64)) " (" (thousands(block.size() as u64)) " bytes)" }
                dt { "Reward" } dd { (amount(block.transactions.first().map_or(0, output_total))) }
                dt { "Fees" } dd { @match total_fees { Some(f) => { (amount(f)) }, None => { "unknown (not on the active chain)" } } }
                dt { "Version" } dd { (header.version) }
                dt { "Merkle root" } dd { (full_hash(&header.merkle_root.to_hex())) }
                dt { "Target" } dd { code.full { (header.target.to_hex()) } }
                dt { "Difficulty" } dd { (thousands(difficulty(&chain, &header.target))) }
                dt { "Nonce" } dd { (header.nonce) }
            }
            h2 { "Transactions" }
            div.scroll { table {
                thead { tr { th.num { "#" } th { "Txid" } th.num { "Inputs" } th { "Paid to" } th.num { "Output total" } th.num { "Fee" } } }
                tbody {
                    @for (i, t) in block.transactions.iter().enumerate().skip(start).take(BLOCK_TXS_PER_PAGE) {
                        tr {
                            td.num { (i) }
                            td { (link("tx", &t.txid().to_hex())) }
                            td.num { @if t.is_coinbase() { "coinbase" } @else { (t.inputs.len()) } }
                            td { @if let Some(o) = t.outputs.first() { (link("address", &address_string(&o.pubkey_hash, &hrp))) @if t.outputs.len() > 1 { " +" (t.outputs.len() - 1) } } }
                            td.num { (amount(output_total(t))) }
                            td.num { @if i > 0 { @if let Some(f) = fees.as_ref().and_then(|f| f.get(i - 1)) { (amount(f.to_base_units())) } } }
                        }
                    }
                }
            } }
            (pager(&format!("/explorer/block/{hash_hex}"), page, page < pages))
        },
    ))
}

// ---- transaction -----------------------------------------------------------------------

/// `/explorer/tx/{txid}`: confirmed or in the mempool.
pub fn transaction(ex: &Explorer, text: &str, page: u64) -> Result<Markup, ApiError> {
    let node = &ex.node;
    let txid = Txid::from_hex(text).map_err(|_| ApiError::not_found("that is not a txid"))?;
    let chain = node.chain();
    let now = unix_now();
    let hrp = hrp(&chain);
    struct Found {
        tx: Transaction,
        fee: Option<u64>,
        block: Option<(BlockHash, u64, u64)>,
    }
    let found = match chain.tx_location(&txid)? {
        Some(loc) => {
            let block = chain.block(&loc.block_hash)?.ok_or_else(|| {
                ApiError::internal(format!("indexed block {} is missing", loc.block_hash))
            })?;
            let fee = if loc.position == 0 {
                None
            } else {
                chain
                    .block_fees(&loc.block_hash, &block)?
                    .and_then(|f| f.get(loc.position as usize - 1).map(|a| a.to_base_units()))
            };
            let timestamp = block.header.timestamp;
            let tx = block
                .transactions
                .into_iter()
                .nth(loc.position as usize)
                .ok_or_else(|| ApiError::internal("tx index points past its block"))?;
            Found {
                tx,
                fee,
                block: Some((loc.block_hash, loc.height.get(), timestamp)),
            }
        }
        None => {
            let pool = node.mempool();
            match pool.get(&txid) {
                Some(tx) => Found {
                    tx: tx.clone(),
                    fee: pool.fee(&txid).map(|a| a.to_base_units()),
                    block: None,
                },
                None => return Err(ApiError::not_found(format!("no transaction {txid}"))),
            }
        }
    };
    let tx = &found.tx;
    let size = tx.size();
    let per_page = TX_IO_PER_PAGE;
    let pages = tx
        .inputs
        .len()
        .max(tx.outputs.len())
        .div_ceil(per_page)
        .max(1) as u64;
    let page = page.min(pages);
    let start = (page as usize - 1) * per_page;
    // Spenders of the outputs on this page: confirmed, else in the mempool.
    let mut spenders = Vec::new();
    for vout in (start..tx.outputs.len()).take(per_page) {
        let op = OutPoint {
            txid,
            vout: vout as u32,
        };
        let by = match chain.spender(&op)? {
            Some((by, _)) => Some((by, true)),
            None => node.mempool().spender(&op).map(|by| (by, false)),
        };
        spenders.push(by);
    }
    let txid_hex = txid.to_hex();
    Ok(layout(
        "Transaction",
        false,
        html! {
            h1 { "Transaction" }
            dl.fields {
                dt { "Txid" } dd { (full_hash(&txid_hex)) }
                dt { "Status" } dd #status {
                    @match found.block {
                        Some((hash, h, _)) => {
                            "confirmed in block " a href={ "/explorer/block/" (hash.to_hex()) } title=(hash.to_hex()) { (thousands(h)) }
                            ", " (thousands(chain.height().get() - h + 1)) " confirmations"
                        },
                        None => { span.badge { "unconfirmed" } " in the mempool" },
                    }
                }
                @if let Some((_, _, t)) = found.block { dt { "Time" } dd { (when(t, now)) } }
                dt { "Size" } dd { (thousands(size as u64)) " bytes" }
                dt { "Fee" } dd { @match found.fee {
                    Some(f) => { (amount(f)) " (" (thousands(f / size.max(1) as u64)) " units/B)" },
                    None => { @if tx.is_coinbase() { "none (coinbase)" } @else { "unknown" } },
                } }
                dt { "Output total" } dd { (amount(output_total(tx))) }
            }
            div.columns {
                section #inputs {
                    h2 { "Inputs (" (tx.inputs.len()) ")" }
                    @if tx.is_coinbase() { p { "Coinbase: new coins and the block's fees." } }
                    @else {
                        ol start=(start + 1) {
                            @for input in tx.inputs.iter().skip(start).take(per_page) {
                                @let prev = input.prev.txid.to_hex();
                                @let from = address_string(&input.pubkey.pubkey_hash(), &hrp);
                                li {
                                    a.hash href={ "/explorer/tx/" (prev) "#out-" (input.prev.vout) } title={ (prev) ":" (input.prev.vout) } { (short(&prev)) ":" (input.prev.vout) }
                                    " from " (link("address", &from))
                                }
                            }
                        }
                    }
                }
                section #outputs {
                    h2 { "Outputs (" (tx.outputs.len()) ")" }
                    ol start=(start + 1) {
                        @for (k, out) in tx.outputs.iter().enumerate().skip(start).take(per_page) {
                            @let to = address_string(&out.pubkey_hash, &hrp);
                            li id={ "out-" (k) } {
                                a.address href={ "/explorer/address/" (to) } title=(to) { (short(&to)) }
                                " " (amount(out.value.to_base_units()))
                                @match spenders.get(k - start).copied().flatten() {
                                    Some((by, confirmed)) => { " · spent by " (link("tx", &by.to_hex())) @if !confirmed { " " span.badge { "mempool" } } },
                                    None => { " · " span.unspent { "unspent" } },
                                }
                            }
                        }
                    }
                }
            }
            @if pages > 1 { (pager(&format!("/explorer/tx/{txid_hex}"), page, page < pages)) }
        },
    ))
}

// ---- address -----------------------------------------------------------------------

/// `/explorer/address/{address}`; `before` is the history cursor (a txid).
pub fn address(ex: &Explorer, text: &str, before: Option<&str>) -> Result<Markup, ApiError> {
    let node = &ex.node;
    let chain = node.chain();
    let hrp = hrp(&chain);
    let pkh = Address::parse(text, &hrp)
        .map_err(|_| ApiError::not_found("that is not an address of this network"))?
        .pubkey_hash();
    let addr = address_string(&pkh, &hrp);
    let now = unix_now();
    let stats = chain.address_stats(&pkh)?;
    let before = match before {
        Some(b) => {
            Some(Txid::from_hex(b).map_err(|_| ApiError::malformed("before must be a txid"))?)
        }
        None => None,
    };
    let (delta, mut txids) = {
        let pool = node.mempool();
        let delta = pool.address_delta(&pkh, &*chain);
        let txids: Vec<(Txid, Option<u64>)> = if before.is_none() {
            pool.transactions_for(&pkh)
                .into_iter()
                .take(HISTORY_PER_PAGE)
                .map(|t| (t, None))
                .collect()
        } else {
            Vec::new()
        };
        (delta, txids)
    };
    let confirmed = chain.address_history(&pkh, before.as_ref(), HISTORY_PER_PAGE)?;
    let more = confirmed.len() == HISTORY_PER_PAGE;
    let cursor = confirmed.last().map(|(t, _)| *t);
    txids.extend(confirmed.into_iter().map(|(t, h)| (t, Some(h.get()))));
    let utxos = chain.address_utxos(&pkh, ADDRESS_UTXOS)?;
    let supply = chain.totals()?.circulating_supply;
    let rank = if stats.balance == 0 {
        None
    } else {
        chain
            .rich_list(RICH_MAX_RANK)?
            .iter()
            .position(|(p, _)| *p == pkh)
            .map(|i| i + 1)
    };
    let tip = chain.height().get();
    Ok(layout(
        "Address",
        false,
        html! {
            h1 { "Address" }
            dl.fields {
                dt { "Address" } dd { (full_hash(&addr)) }
                dt { "Balance" } dd #balance { (amount(stats.balance)) }
                dt { "Unconfirmed change" } dd #unconfirmed { (format::signed_coins(delta)) }
                dt { "Received" } dd { (amount(stats.received)) }
                dt { "Sent" } dd { (amount(stats.sent)) }
                dt { "Transactions" } dd { (thousands(stats.tx_count)) }
                dt { "Rich list" } dd { @match rank {
                    Some(r) => { "rank " (r) " · " (format::share(stats.balance, supply)) " of the supply" },
                    None => { @if stats.balance == 0 { "not ranked (empty)" } @else { "below rank " (RICH_MAX_RANK) } },
                } }
            }
            h2 { "Transactions" }
            div.scroll { table {
                thead { tr { th { "Txid" } th { "Block" } th { "Time" } } }
                tbody { @for (t, h) in &txids {
                    tr {
                        td { (link("tx", &t.to_hex())) }
                        @match h {
                            Some(h) => {
                                td { a href={ "/explorer/block/" (h) } { (thousands(*h)) } " (" (thousands(tip - h + 1)) " conf.)" }
                                td { @if let Some(e) = chain.block_hash_at(Height(*h)).and_then(|b| chain.header_entry(&b)) { time title=(utc(e.header.timestamp)) { (ago(e.header.timestamp, now)) } } }
                            },
                            None => { td { span.badge { "mempool" } } td {} },
                        }
                    }
                } }
            } }
            @if txids.is_empty() { p { "No transactions." } }
            nav.pager {
                @if before.is_some() { a href={ "/explorer/address/" (addr) } { "← newest" } }
                @if let (true, Some(c)) = (more, cursor) { a rel="next" href={ "/explorer/address/" (addr) "?before=" (c.to_hex()) } { "older →" } }
            }
            h2 { "Unspent outputs (" (thousands(stats.utxo_count)) ")" }
            div.scroll { table {
                thead { tr { th { "Output" } th.num { "Value" } th.num { "Height" } } }
                tbody { @for (op, coin) in &utxos {
                    tr {
                        td { a.hash href={ "/explorer/tx/" (op.txid.to_hex()) "#out-" (op.vout) } title={ (op.txid.to_hex()) ":" (op.vout) } { (short(&op.txid.to_hex())) ":" (op.vout) } @if coin.coinbase { " " span.badge { "coinbase" } } }
                        td.num { (amount(coin.output.value.to_base_units())) }
                        td.num { (thousands(coin.height.get())) }
                    }
                } }
            } }
            @if stats.utxo_count as usize > utxos.len() { p.note { "The first " (ADDRESS_UTXOS) " are shown; " a href={ "/addresses/" (addr) "/utxos" } { "GET /addresses/…/utxos" } " pages through all." } }
        },
    ))
}

// ---- rich list, mempool, peers ---------------------------------------------------------

/// `/explorer/richlist?page=N`.
pub fn rich_list(ex: &Explorer, page: u64) -> Result<Markup, ApiError> {
    let chain = ex.node.chain();
    let hrp = hrp(&chain);
    let pages = (RICH_MAX_RANK / RICH_PER_PAGE) as u64;
    let page = page.min(pages);
    let start = (page as usize - 1) * RICH_PER_PAGE;
    let list = chain.rich_list(start + RICH_PER_PAGE + 1)?;
    let supply = chain.totals()?.circulating_supply;
    let has_next = list.len() > start + RICH_PER_PAGE && page < pages;
    Ok(layout(
        "Rich list",
        false,
        html! {
            h1 { "Rich list" }
            p { "Addresses by balance; share of the circulating supply of " (amount(supply)) "." }
            div.scroll { table #richlist {
                thead { tr { th.num { "Rank" } th { "Address" } th.num { "Balance" } th.num { "Share" } } }
                tbody { @for (i, (pkh, bal)) in list.iter().enumerate().skip(start).take(RICH_PER_PAGE) {
                    @let a = address_string(pkh, &hrp);
                    tr { td.num { (i + 1) } td { (link("address", &a)) } td.num { (amount(bal.to_base_units())) } td.num { (format::share(bal.to_base_units(), supply)) } }
                } }
            } }
            (pager("/explorer/richlist", page, has_next))
        },
    ))
}

/// `/explorer/mempool`.
pub fn mempool(ex: &Explorer) -> Result<Markup, ApiError> {
    let node = &ex.node;
    let max_block = node.network().params.max_block_size as usize;
    let (count, bytes, usage, min_rate, recommended, histogram, newest) = {
        let pool = node.mempool();
        (
            pool.len(),
            pool.bytes(),
            pool.usage(),
            pool.min_fee_rate(),
            pool.recommended_fee_rate(max_block),
            pool.fee_rate_histogram(&FEE_BUCKETS),
            pool.newest(MEMPOOL_NEWEST),
        )
    };
    let most = histogram.iter().map(|b| b.1).max().unwrap_or(0).max(1);
    Ok(layout(
        "Mempool",
        true,
        html! {
            h1 { "Mempool" }
            dl.stats #mempool-stats data-live {
                div { dt { "Transactions" } dd #mempool-count { (thousands(count as u64)) } }
                div { dt { "Size" } dd { (format::bytes(bytes as u64)) } }
                div { dt { "Memory" } dd { (format::bytes(usage as u64)) } }
                div { dt { "Minimum fee" } dd { (thousands(min_rate)) " units/B" } }
                div { dt { "Recommended fee" } dd { (thousands(recommended)) " units/B" } }
            }
            section #histogram data-live {
                h2 { "Fee rates (units per byte)" }
                div.scroll { table.histogram {
                    thead { tr { th { "Rate" } th.num { "Txs" } th.num { "Bytes" } th { "" } } }
                    tbody { @for (i, (n, b)) in histogram.iter().enumerate() {
                        tr {
                            td { (thousands(FEE_BUCKETS[i])) @match FEE_BUCKETS.get(i + 1) {
                                Some(next) if next - 1 > FEE_BUCKETS[i] => { "–" (thousands(next - 1)) },
                                Some(_) => {},
                                None => { "+" },
                            } }
                            td.num { (thousands(*n)) }
                            td.num { (format::bytes(*b)) }
                            td.bar { svg viewBox="0 0 100 10" preserveAspectRatio="none" role="img" aria-label="share of bytes" { rect x="0" y="0" height="10" width=(format!("{:.1}", *b as f64 * 100.0 / most as f64)) fill="currentColor" {} } }
                        }
                    } }
                } }
            }
            section #mempool-newest data-live {
                h2 { "Newest transactions" }
                div.scroll { table {
                    thead { tr { th { "Txid" } th.num { "Size" } th.num { "Fee" } th.num { "Rate" } } }
                    tbody { @for (t, size, fee) in &newest {
                        tr { td { (link("tx", &t.to_hex())) } td.num { (thousands(*size as u64)) " B" } td.num { (amount(fee.to_base_units())) } td.num { (thousands(fee.to_base_units() / (*size).max(1) as u64)) " /B" } }
                    } }
                } }
                @if newest.is_empty() { p { "The mempool is empty." } }
            }
        },
    ))
}

/// `/explorer/peers`.
pub fn peers(ex: &Explorer) -> Result<Markup, ApiError> {
    let now = unix_now();
    let peers = ex.node.peers.summaries();
    Ok(layout(
        "Peers",
        false,
        html! {
            h1 { "Peers (" (peers.len()) ")" }
            div.scroll { table {
                thead { tr { th { "Address" } th.num { "Height" } th { "Last seen" } } }
                tbody { @for p in &peers {
                    tr { td { code { (p.address) } } td.num { (thousands(p.height)) } td { @if p.last_seen > 0 { time title=(utc(p.last_seen)) { (ago(p.last_seen, now)) } } @else { "never" } } }
                } }
            } }
            @if peers.is_empty() { p { "No peers." } }
        },
    ))
}

// ---- search ------------------------------------------------------------------------

/// Where a search goes: a block height, a block hash, a txid (confirmed or in the
/// mempool) or an address of this network; `None` when it names nothing.
pub fn search_target(node: &Node, query: &str) -> Option<String> {
    let q = query.trim();
    if q.is_empty() || q.len() > MAX_QUERY {
        return None;
    }
    let chain = node.chain();
    if q.len() != 64 && q.bytes().all(|b| b.is_ascii_digit()) {
        let h: u64 = q.parse().ok()?;
        chain.block_hash_at(Height(h))?;
        return Some(format!("/explorer/block/{h}"));
    }
    if q.len() == 64 {
        let lower = q.to_ascii_lowercase();
        if let Ok(hash) = BlockHash::from_hex(&lower) {
            if chain.knows_block(&hash) {
                return Some(format!("/explorer/block/{lower}"));
            }
        }
        if let Ok(txid) = Txid::from_hex(&lower) {
            if matches!(chain.tx_location(&txid), Ok(Some(_))) || node.mempool().contains(&txid) {
                return Some(format!("/explorer/tx/{lower}"));
            }
        }
        return None;
    }
    let hrp = hrp(&chain);
    Address::parse(q, &hrp).ok().map(|a| {
        format!(
            "/explorer/address/{}",
            address_string(&a.pubkey_hash(), &hrp)
        )
    })
}
