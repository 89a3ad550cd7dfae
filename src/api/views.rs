//! Read endpoints: views of chain state, mempool and peers, each a [`crate::wire`] type.

use super::{binary, blocking, wants_binary, ApiError};
use crate::chain::{ChainState, DiskStore};
use crate::http::{page_size, query_height, ApiPath, ApiQuery};
use crate::json::{address_string, BlockJson, HeaderJson, TransactionJson, TxStatusJson};
use crate::node::Node;
use crate::primitives::block::encode_header_list;
use crate::primitives::encoding::put_u32;
use crate::primitives::{
    Address, Block, BlockHash, Encode, Height, OutPoint, PubkeyHash, Transaction, Txid,
};
use crate::wire::{
    AddressSummary, BlocksQuery, ErrorBody, Fees, HeaderItem, HeadersQuery, Health, HistoryQuery,
    Info, LimitQuery, MempoolQuery, MempoolSummary, MempoolView, NodeEntry, OutputView, RichEntry,
    RichRank, Spent, Utxo, UtxoQuery, NEXT_AFTER_HEADER, TIP_HASH_HEADER,
};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::sync::Arc;

type Shared = State<Arc<Node>>;

/// `GET /blocks` stops adding blocks past this many response bytes (API.md).
const MAX_BLOCKS_RESPONSE: usize = 16 * 1024 * 1024;
/// Most hashes one `GET /blocks?hashes=` or `GET /headers?locator=` names.
pub const MAX_HASHES_PER_REQUEST: usize = 128;
/// Default and largest page of `GET /addresses/{a}/utxos`.
pub const UTXO_PAGE_DEFAULT: usize = 1_000;
pub const UTXO_PAGE_MAX: usize = 5_000;

/// `GET /health`.
#[utoipa::path(get, path = "/health", tag = "node", responses((status = 200, body = Health)))]
pub async fn health(State(node): Shared) -> Result<Json<Health>, ApiError> {
    // The chain lock may be held while a large block connects: wait for it off the
    // runtime's workers.
    blocking(node, |node| {
        Ok(Json(Health {
            status: "ok".to_owned(),
            height: node.chain().height().get(),
        }))
    })
    .await
}

/// `GET /info`.
#[utoipa::path(get, path = "/info", tag = "node", responses((status = 200, body = Info)))]
pub async fn info(State(node): Shared) -> Result<Json<Info>, ApiError> {
    blocking(node, |node| Ok(Json(info_of(node)?))).await
}

fn info_of(node: &Node) -> Result<Info, ApiError> {
    let chain = node.chain();
    let net = chain.network();
    let params = &net.params;
    let tip = chain.tip_entry();
    let totals = chain.totals()?;
    let rich_list = chain
        .rich_list(10)?
        .into_iter()
        .map(|(pkh, balance)| RichEntry {
            address: address_string(&pkh, &params.address_hrp),
            balance: balance.to_base_units(),
        })
        .collect();
    let difficulty = params
        .pow_limit
        .0
        .div_rem(tip.header.target.0)
        .map(|(q, _)| q.low_u64().max(1))
        .unwrap_or(1);
    let next_height = chain.height().next().unwrap_or(chain.height());
    let mempool = {
        let pool = node.mempool();
        MempoolSummary {
            count: pool.len() as u64,
            bytes: pool.bytes() as u64,
            usage: pool.usage() as u64,
        }
    };
    Ok(Info {
        name: params.name.clone(),
        genesis_hash: net.genesis_hash.to_hex(),
        address_hrp: params.address_hrp.clone(),
        height: chain.height().get(),
        best_hash: chain.tip_hash().to_hex(),
        chain_work: tip.chain_work.to_hex(),
        target: tip.header.target.to_hex(),
        difficulty,
        block_time: params.target_block_time,
        average_block_time: chain.average_block_time(),
        block_reward: crate::consensus::subsidy(params, next_height).to_base_units(),
        total_transactions: totals.transactions,
        total_addresses: totals.addresses,
        circulating_supply: totals.circulating_supply,
        mempool,
        peers: node.peers.len() as u64,
        syncing: node.syncing.load(std::sync::atomic::Ordering::Relaxed),
        features: crate::wire::FEATURES
            .iter()
            .map(|f| (*f).to_owned())
            .collect(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        rich_list,
    })
}

/// `GET /richlist?limit=N` (default 100, at most 1 000).
#[utoipa::path(get, path = "/richlist", tag = "chain", params(LimitQuery),
    responses((status = 200, body = Vec<RichRank>), (status = 400, body = ErrorBody)))]
pub async fn rich_list(
    State(node): Shared,
    ApiQuery(q): ApiQuery<LimitQuery>,
) -> Result<Json<Vec<RichRank>>, ApiError> {
    let limit = page_size(q.limit, 100, 1_000)?;
    blocking(node, move |node| {
        let chain = node.chain();
        let hrp = &chain.network().params.address_hrp;
        let list = chain.rich_list(limit)?;
        Ok(Json(
            list.into_iter()
                .enumerate()
                .map(|(i, (pkh, balance))| RichRank {
                    rank: i as u64 + 1,
                    address: address_string(&pkh, hrp),
                    balance: balance.to_base_units(),
                })
                .collect(),
        ))
    })
    .await
}

/// A block's JSON, with fees when it is on the active chain.
fn block_json(node: &Node, hash: &BlockHash, block: &Block) -> Result<BlockJson, ApiError> {
    let chain = node.chain();
    let fees = if chain.is_active(hash) {
        chain.block_fees(hash, block)?
    } else {
        None
    };
    Ok(BlockJson::from_block(
        block,
        &chain.network().params.address_hrp,
        fees.as_deref(),
    ))
}

fn load_block(node: &Node, hash: &BlockHash) -> Result<Block, ApiError> {
    node.chain()
        .block(hash)?
        .ok_or_else(|| ApiError::not_found(format!("no block {hash}")))
}

/// A block id from a path: `last`, a height, or a 64-hex hash.
///
/// Any all-digit id that is not 64 characters long is a height: one above the tip, or one
/// too large for a `u64`, names no block and answers `not-found`, never `malformed`. A
/// 64-character id is always read as a hash.
pub(crate) fn resolve_block(node: &Node, id: &str) -> Result<BlockHash, ApiError> {
    let chain = node.chain();
    if id == "last" {
        return Ok(chain.tip_hash());
    }
    if !id.is_empty() && id.len() != 64 && id.bytes().all(|b| b.is_ascii_digit()) {
        let height = id
            .parse::<u64>()
            .map_err(|_| ApiError::not_found(format!("no block at height {id}")))?;
        return chain
            .block_hash_at(Height(height))
            .ok_or_else(|| ApiError::not_found(format!("no block at height {height}")));
    }
    let hash = BlockHash::from_hex(id).map_err(|e| {
        ApiError::malformed(format!("block id must be last, a height or a hash: {e}"))
    })?;
    if chain.knows_block(&hash) {
        Ok(hash)
    } else {
        Err(ApiError::not_found(format!("no block {hash}")))
    }
}

/// `GET /blocks/{id}`: `last`, a height or a hash; binary with
/// `Accept: application/octet-stream`.
#[utoipa::path(get, path = "/blocks/{id}", tag = "blocks",
    params(("id" = String, Path, description = "`last`, a height, or a block hash")),
    responses(
        (status = 200, content((BlockJson = "application/json"), (Vec<u8> = "application/octet-stream"))),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn block(
    State(node): Shared,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let binary_wanted = wants_binary(&headers);
    blocking(node, move |node| {
        let hash = resolve_block(node, &id)?;
        let block = load_block(node, &hash)?;
        if binary_wanted {
            return Ok(binary(block.to_bytes()));
        }
        let mut view = block_json(node, &hash, &block)?;
        let chain = node.chain();
        let active = chain.is_active(&hash);
        view.confirmations = Some(if active {
            chain.height().get() - block.header.height.get() + 1
        } else {
            0
        });
        view.in_active_chain = Some(active);
        Ok(Json(view).into_response())
    })
    .await
}

/// A comma-separated list of block hashes from a query parameter, at most
/// [`MAX_HASHES_PER_REQUEST`].
fn parse_hash_list(text: &str, what: &str) -> Result<Vec<BlockHash>, ApiError> {
    let hashes: Vec<&str> = text.split(',').filter(|s| !s.is_empty()).collect();
    if hashes.is_empty() || hashes.len() > MAX_HASHES_PER_REQUEST {
        return Err(ApiError::malformed(format!(
            "{what} must name 1 to {MAX_HASHES_PER_REQUEST} block hashes"
        )));
    }
    hashes
        .into_iter()
        .map(|h| BlockHash::from_hex(h).map_err(|e| ApiError::malformed(format!("{what}: {e}"))))
        .collect()
}

/// `GET /blocks`: active-chain blocks from a height (`from`, `limit` up to 500), or the
/// blocks named by hash (`hashes=H1,H2,…`, any branch, in the order asked, stopping at
/// the first one not stored). Either way at most about 16 MiB.
#[utoipa::path(get, path = "/blocks", tag = "blocks", params(BlocksQuery),
    responses(
        (status = 200, content((Vec<BlockJson> = "application/json"), (Vec<u8> = "application/octet-stream"))),
        (status = 400, body = ErrorBody)))]
pub async fn blocks(
    State(node): Shared,
    ApiQuery(q): ApiQuery<BlocksQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let binary_wanted = wants_binary(&headers);
    blocking(node, move |node| {
        let hashes: Vec<BlockHash> = if let Some(list) = &q.hashes {
            if q.from.is_some() || q.limit.is_some() {
                return Err(ApiError::malformed(
                    "hashes cannot be combined with from or limit",
                ));
            }
            let asked = parse_hash_list(list, "hashes")?;
            let chain = node.chain();
            asked
                .into_iter()
                .take_while(|h| chain.knows_block(h))
                .collect()
        } else {
            let from = query_height(q.from)?;
            let limit = page_size(q.limit, 100, 500)?;
            let chain = node.chain();
            (0..limit as u64)
                .map_while(|i| {
                    from.checked_add(i)
                        .and_then(|h| chain.block_hash_at(Height(h)))
                })
                .collect()
        };
        let mut size = 0usize;
        if binary_wanted {
            let mut items = Vec::new();
            for hash in &hashes {
                let bytes = load_block(node, hash)?.to_bytes();
                if size > 0 && size + bytes.len() > MAX_BLOCKS_RESPONSE {
                    break;
                }
                size += bytes.len();
                items.push(bytes);
            }
            let mut out = Vec::with_capacity(size + 4);
            put_u32(&mut out, items.len() as u32);
            for item in items {
                out.extend_from_slice(&item);
            }
            return Ok(binary(out));
        }
        let mut out = Vec::new();
        for hash in &hashes {
            let block = load_block(node, hash)?;
            // JSON is roughly three times the binary size.
            size += block.size() * 3;
            if !out.is_empty() && size > MAX_BLOCKS_RESPONSE {
                break;
            }
            out.push(block_json(node, hash, &block)?);
        }
        Ok(Json(out).into_response())
    })
    .await
}

/// `GET /headers`: active-chain headers from a height (`from`), or after the first hash
/// of `locator=H1,H2,…` that is on our active chain (genesis when none is), so a peer on
/// a fork is answered from the fork point. At most `limit` (2 000).
#[utoipa::path(get, path = "/headers", tag = "blocks", params(HeadersQuery),
    responses(
        (status = 200, content((Vec<HeaderItem> = "application/json"), (Vec<u8> = "application/octet-stream"))),
        (status = 400, body = ErrorBody)))]
pub async fn headers(
    State(node): Shared,
    ApiQuery(q): ApiQuery<HeadersQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let binary_wanted = wants_binary(&headers);
    let limit = page_size(q.limit, 2_000, 2_000)?;
    blocking(node, move |node| {
        let chain = node.chain();
        let from: u64 = if let Some(list) = &q.locator {
            if q.from.is_some() {
                return Err(ApiError::malformed("locator cannot be combined with from"));
            }
            let locator = parse_hash_list(list, "locator")?;
            chain.locate(&locator).get() + 1
        } else {
            query_height(q.from)?
        };
        let headers: Vec<crate::primitives::Header> = (0..limit as u64)
            .map_while(|i| {
                let hash = chain.block_hash_at(Height(from.checked_add(i)?))?;
                chain.header_entry(&hash).map(|e| e.header)
            })
            .collect();
        if binary_wanted {
            let mut out = Vec::new();
            encode_header_list(&headers, &mut out);
            return Ok(binary(out));
        }
        let out: Vec<HeaderItem> = headers
            .iter()
            .map(|h| HeaderItem {
                hash: h.hash().to_hex(),
                header: HeaderJson::from_header(h),
            })
            .collect();
        Ok(Json(out).into_response())
    })
    .await
}

/// `GET /blocks/{id}/transactions/{index}`.
#[utoipa::path(get, path = "/blocks/{id}/transactions/{index}", tag = "blocks",
    params(("id" = String, Path, description = "`last`, a height, or a block hash"),
           ("index" = String, Path, description = "position in the block, 0 is the coinbase")),
    responses((status = 200, body = TransactionJson), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn block_transaction(
    State(node): Shared,
    ApiPath((id, index)): ApiPath<(String, String)>,
) -> Result<Json<TransactionJson>, ApiError> {
    let index: usize = index.parse().map_err(|_| {
        let excerpt: String = index.chars().take(40).collect();
        ApiError::malformed(format!(
            "transaction index must be a number, got {excerpt:?}"
        ))
    })?;
    blocking(node, move |node| {
        let hash = resolve_block(node, &id)?;
        let block = load_block(node, &hash)?;
        transaction_in_block(&node.chain(), &hash, &block, index)?
            .map(Json)
            .ok_or_else(|| ApiError::not_found(format!("block {hash} has no transaction {index}")))
    })
    .await
}

/// Transaction `index` of `block` (stored under `hash`) as JSON, with its fee when the
/// block is on the active chain (fees come from the block's undo data).
fn transaction_in_block(
    chain: &ChainState<DiskStore>,
    hash: &BlockHash,
    block: &Block,
    index: usize,
) -> Result<Option<TransactionJson>, ApiError> {
    let Some(tx) = block.transactions.get(index) else {
        return Ok(None);
    };
    let fee = if index == 0 || !chain.is_active(hash) {
        None
    } else {
        chain
            .block_fees(hash, block)?
            .and_then(|f| f.get(index - 1).copied())
    };
    let hrp = &chain.network().params.address_hrp;
    Ok(Some(TransactionJson::from_transaction(tx, hrp, fee)))
}

pub(crate) fn parse_txid(text: &str) -> Result<Txid, ApiError> {
    Txid::from_hex(text).map_err(|e| ApiError::malformed(format!("txid: {e}")))
}

/// A transaction's JSON with its `status`, confirmed or in the mempool.
fn transaction_view(node: &Node, txid: &Txid) -> Result<Option<TransactionJson>, ApiError> {
    let chain = node.chain();
    let hrp = &chain.network().params.address_hrp;
    if let Some(loc) = chain.tx_location(txid)? {
        let block = chain.block(&loc.block_hash)?.ok_or_else(|| {
            ApiError::internal(format!("indexed block {} is missing", loc.block_hash))
        })?;
        let mut tx = transaction_in_block(&chain, &loc.block_hash, &block, loc.position as usize)?
            .ok_or_else(|| {
                ApiError::internal(format!("tx index of {txid} points past its block"))
            })?;
        tx.status = Some(TxStatusJson {
            confirmed: true,
            block_height: Some(loc.height.get()),
            block_hash: Some(loc.block_hash.to_hex()),
            confirmations: Some(chain.height().get() - loc.height.get() + 1),
        });
        return Ok(Some(tx));
    }
    let pool = node.mempool();
    Ok(pool.get(txid).map(|tx| {
        let mut view = TransactionJson::from_transaction(tx, hrp, pool.fee(txid));
        view.status = Some(TxStatusJson {
            confirmed: false,
            block_height: None,
            block_hash: None,
            confirmations: None,
        });
        view
    }))
}

/// `GET /transactions/{txid}`.
#[utoipa::path(get, path = "/transactions/{txid}", tag = "transactions",
    params(("txid" = String, Path)),
    responses((status = 200, body = TransactionJson), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn transaction(
    State(node): Shared,
    ApiPath(txid): ApiPath<String>,
) -> Result<Json<TransactionJson>, ApiError> {
    let txid = parse_txid(&txid)?;
    blocking(node, move |node| {
        transaction_view(node, &txid)?
            .map(Json)
            .ok_or_else(|| ApiError::not_found(format!("no transaction {txid}")))
    })
    .await
}

fn parse_address(node: &Node, text: &str) -> Result<PubkeyHash, ApiError> {
    Ok(Address::parse(text, &node.network().params.address_hrp)?.pubkey_hash())
}

/// `GET /addresses/{address}`.
#[utoipa::path(get, path = "/addresses/{address}", tag = "addresses",
    params(("address" = String, Path)),
    responses((status = 200, body = AddressSummary), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn address(
    State(node): Shared,
    ApiPath(text): ApiPath<String>,
) -> Result<Json<AddressSummary>, ApiError> {
    blocking(node, move |node| {
        let pkh = parse_address(node, &text)?;
        let chain = node.chain();
        let stats = chain.address_stats(&pkh)?;
        let delta = node.mempool().address_delta(&pkh, &*chain);
        if stats.is_empty() && delta == 0 {
            return Err(ApiError::not_found(format!(
                "address {text} has no history"
            )));
        }
        Ok(Json(AddressSummary {
            address: address_string(&pkh, &chain.network().params.address_hrp),
            balance: stats.balance,
            received: stats.received,
            sent: stats.sent,
            tx_count: stats.tx_count,
            utxo_count: stats.utxo_count,
            unconfirmed_balance: i64::try_from(delta).unwrap_or(if delta < 0 {
                i64::MIN
            } else {
                i64::MAX
            }),
        }))
    })
    .await
}

/// `TXID:VOUT`, the cursor of the UTXO listing.
fn parse_outpoint(text: &str) -> Result<OutPoint, ApiError> {
    let bad = || {
        let excerpt: String = text.chars().take(140).collect();
        ApiError::malformed(format!("after must be TXID:VOUT, got {excerpt:?}"))
    };
    let (txid, vout) = text.split_once(':').ok_or_else(bad)?;
    Ok(OutPoint {
        txid: parse_txid(txid)?,
        vout: vout.parse().map_err(|_| bad())?,
    })
}

/// `GET /addresses/{address}/utxos?limit=N&after=TXID:VOUT`: one page of the address's
/// confirmed unspent outputs in outpoint order, with the tip it was read at and the
/// cursor of the next page in headers (`ferro-tip-hash`, `ferro-next-after`).
#[utoipa::path(get, path = "/addresses/{address}/utxos", tag = "addresses",
    params(("address" = String, Path), UtxoQuery),
    responses((status = 200, body = Vec<Utxo>, headers(
                  ("ferro-tip-hash" = String, description = "the tip the page was read at"),
                  ("ferro-next-after" = String, description = "`after` of the next page, when there may be one"))),
              (status = 400, body = ErrorBody)))]
pub async fn address_utxos(
    State(node): Shared,
    ApiPath(text): ApiPath<String>,
    ApiQuery(q): ApiQuery<UtxoQuery>,
) -> Result<Response, ApiError> {
    let limit = page_size(q.limit, UTXO_PAGE_DEFAULT, UTXO_PAGE_MAX)?;
    let after = q.after.as_deref().map(parse_outpoint).transpose()?;
    blocking(node, move |node| {
        let pkh = parse_address(node, &text)?;
        // One read guard for the page and the tip, so the tip is the one the page reflects.
        let chain = node.chain();
        let tip = chain.tip_hash();
        let next = chain.height().get() + 1;
        let maturity = chain.network().params.coinbase_maturity;
        // One more than asked, to know whether a next page exists.
        let mut utxos = chain.address_utxos_after(&pkh, after.as_ref(), limit + 1)?;
        let more = utxos.len() > limit;
        utxos.truncate(limit);
        let pool = node.mempool();
        let page: Vec<Utxo> = utxos
            .iter()
            .map(|(op, coin)| {
                let mature = !coin.coinbase || coin.height.get().saturating_add(maturity) <= next;
                Utxo {
                    txid: op.txid.to_hex(),
                    vout: op.vout,
                    value: coin.output.value.to_base_units(),
                    height: coin.height.get(),
                    coinbase: coin.coinbase,
                    spendable: mature && pool.spender(op).is_none(),
                }
            })
            .collect();
        let mut response = Json(page).into_response();
        let headers = response.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&tip.to_hex()) {
            headers.insert(TIP_HASH_HEADER, v);
        }
        if let (true, Some((op, _))) = (more, utxos.last()) {
            if let Ok(v) = HeaderValue::from_str(&format!("{}:{}", op.txid, op.vout)) {
                headers.insert(NEXT_AFTER_HEADER, v);
            }
        }
        Ok(response)
    })
    .await
}

/// `GET /addresses/{address}/transactions?limit=N&before=TXID`: mempool transactions
/// first (on the first page), then confirmed ones, newest first.
#[utoipa::path(get, path = "/addresses/{address}/transactions", tag = "addresses",
    params(("address" = String, Path), HistoryQuery),
    responses((status = 200, body = Vec<TransactionJson>), (status = 400, body = ErrorBody)))]
pub async fn address_history(
    State(node): Shared,
    ApiPath(text): ApiPath<String>,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> Result<Json<Vec<TransactionJson>>, ApiError> {
    let limit = page_size(q.limit, 50, 500)?;
    let before = q.before.as_deref().map(parse_txid).transpose()?;
    blocking(node, move |node| {
        let pkh = parse_address(node, &text)?;
        let mut txids: Vec<Txid> = Vec::new();
        if before.is_none() {
            txids.extend(node.mempool().transactions_for(&pkh));
        }
        let confirmed = node.chain().address_history(&pkh, before.as_ref(), limit)?;
        txids.extend(confirmed.into_iter().map(|(t, _)| t));
        txids.truncate(limit);
        let mut out = Vec::with_capacity(txids.len());
        for txid in txids {
            if let Some(v) = transaction_view(node, &txid)? {
                out.push(v);
            }
        }
        Ok(Json(out))
    })
    .await
}

/// `GET /outputs/{txid}/{vout}`.
#[utoipa::path(get, path = "/outputs/{txid}/{vout}", tag = "transactions",
    params(("txid" = String, Path), ("vout" = String, Path)),
    responses((status = 200, body = OutputView), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn output(
    State(node): Shared,
    ApiPath((txid, vout)): ApiPath<(String, String)>,
) -> Result<Json<OutputView>, ApiError> {
    let txid = parse_txid(&txid)?;
    let vout: u32 = vout.parse().map_err(|_| {
        let excerpt: String = vout.chars().take(40).collect();
        ApiError::malformed(format!("vout must be a number, got {excerpt:?}"))
    })?;
    blocking(node, move |node| {
        let outpoint = OutPoint { txid, vout };
        let chain = node.chain();
        let hrp = &chain.network().params.address_hrp;
        let (tx, height): (Transaction, Option<Height>) = match chain.transaction(&txid)? {
            Some((tx, loc)) => (tx, Some(loc.height)),
            None => match node.mempool().get(&txid) {
                Some(tx) => (tx.clone(), None),
                None => return Err(ApiError::not_found(format!("no transaction {txid}"))),
            },
        };
        let out = tx.outputs.get(vout as usize).ok_or_else(|| {
            ApiError::not_found(format!("transaction {txid} has no output {vout}"))
        })?;
        let spent = match chain.spender(&outpoint)? {
            Some((by, h)) => Spent::Confirmed {
                txid: by.to_hex(),
                height: h.get(),
            },
            None => match node.mempool().spender(&outpoint) {
                Some(by) => Spent::Mempool {
                    txid: by.to_hex(),
                    mempool: true,
                },
                None => Spent::Unspent(false),
            },
        };
        Ok(Json(OutputView {
            txid: txid.to_hex(),
            vout,
            value: out.value.to_base_units(),
            address: address_string(&out.pubkey_hash, hrp),
            height: height.map(|h| h.get()),
            coinbase: tx.is_coinbase(),
            spent,
        }))
    })
    .await
}

/// Default and largest page of `GET /mempool`.
pub const MEMPOOL_PAGE_DEFAULT: usize = 1_000;
pub const MEMPOOL_PAGE_MAX: usize = 5_000;

/// `GET /mempool?limit=N&after=TXID`: totals and one page of txids, highest fee rate
/// first, with the tip it was read at (`tip_hash`, also the `ferro-tip-hash` header) and,
/// when more follow, the next page's `after` (`ferro-next-after`).
#[utoipa::path(get, path = "/mempool", tag = "mempool", params(MempoolQuery),
    responses(
        (status = 200, body = MempoolView, headers(
            ("ferro-tip-hash" = String, description = "the tip the page was read at"),
            ("ferro-next-after" = String, description = "`after` of the next page, when there may be one"))),
        (status = 400, description = "malformed limit or after", body = ErrorBody),
        (status = 404, description = "`after` is not in the mempool (any more): start over", body = ErrorBody),
    ))]
pub async fn mempool(
    State(node): Shared,
    ApiQuery(q): ApiQuery<MempoolQuery>,
) -> Result<Response, ApiError> {
    let limit = page_size(q.limit, MEMPOOL_PAGE_DEFAULT, MEMPOOL_PAGE_MAX)?;
    let after = q.after.as_deref().map(parse_txid).transpose()?;
    blocking(node, move |node| {
        let tip = node.chain().tip_hash();
        let pool = node.mempool();
        let mut page = pool
            .txids_by_fee_rate_page(after.as_ref(), limit + 1)
            .ok_or_else(|| {
                ApiError::not_found("after: that txid is not in the mempool (any more); start over")
            })?;
        let more = page.len() > limit;
        page.truncate(limit);
        let view = MempoolView {
            count: pool.len() as u64,
            bytes: pool.bytes() as u64,
            usage: pool.usage() as u64,
            min_fee_rate: pool.min_fee_rate(),
            txids: page.iter().map(Txid::to_hex).collect(),
            tip_hash: tip.to_hex(),
        };
        drop(pool);
        let mut response = Json(view).into_response();
        let headers = response.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&tip.to_hex()) {
            headers.insert(TIP_HASH_HEADER, v);
        }
        if let (true, Some(last)) = (more, page.last()) {
            if let Ok(v) = HeaderValue::from_str(&last.to_hex()) {
                headers.insert(NEXT_AFTER_HEADER, v);
            }
        }
        Ok(response)
    })
    .await
}

/// `GET /fees`.
#[utoipa::path(get, path = "/fees", tag = "mempool", responses((status = 200, body = Fees)))]
pub async fn fees(State(node): Shared) -> Result<Json<Fees>, ApiError> {
    blocking(node, |node| {
        let pool = node.mempool();
        Ok(Json(Fees {
            min_fee_rate: pool.min_fee_rate(),
            recommended_fee_rate: pool
                .recommended_fee_rate(node.network().params.max_block_size as usize),
        }))
    })
    .await
}

/// `GET /nodes`: this node's peers.
#[utoipa::path(get, path = "/nodes", tag = "peers", responses((status = 200, body = Vec<NodeEntry>)))]
pub async fn nodes(State(node): Shared) -> Json<Vec<NodeEntry>> {
    Json(node.peers.summaries())
}
