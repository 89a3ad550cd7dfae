//! Read endpoints: JSON views of chain state, mempool and peers.

use super::{binary, ok, resolve_block, to_api_error, ApiRequest};
use crate::chain::{ChainState, RedbStore};
use crate::http::{ApiError, Response};
use crate::json::{address_string, BlockJson, HeaderJson, TransactionJson};
use crate::net::peers::AddOutcome;
use crate::net::probe_peer;
use crate::node::Node;
use crate::primitives::block::encode_header_list;
use crate::primitives::encoding::put_u32;
use crate::primitives::{
    Address, Block, BlockHash, Encode, Height, OutPoint, PubkeyHash, Transaction, Txid,
};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// `GET /blocks` stops adding blocks past this many response bytes (API.md).
const MAX_BLOCKS_RESPONSE: usize = 16 * 1024 * 1024;

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(e.to_string())
}

fn chain_err(e: crate::chain::ChainError) -> ApiError {
    to_api_error(&e)
}

pub fn info(node: &Node) -> Result<Response, ApiError> {
    let chain = node.chain();
    let net = chain.network();
    let params = &net.params;
    let tip = chain.tip_entry();
    let totals = chain.totals().map_err(chain_err)?;
    let rich: Vec<Value> = chain
        .rich_list(10)
        .map_err(chain_err)?
        .into_iter()
        .map(|(address, balance)| json!({"address": address, "balance": balance.to_base_units()}))
        .collect();
    let difficulty = params
        .pow_limit
        .0
        .div_rem(tip.header.target.0)
        .map(|(q, _)| q.low_u64().max(1))
        .unwrap_or(1);
    let next_height = chain.height().next().unwrap_or(chain.height());
    let (count, bytes, usage) = {
        let pool = node.mempool();
        (pool.len(), pool.bytes(), pool.usage())
    };
    Ok(ok(&json!({
        "name": params.name,
        "genesis_hash": net.genesis_hash.to_hex(),
        "address_hrp": params.address_hrp,
        "height": chain.height().get(),
        "best_hash": chain.tip_hash().to_hex(),
        "chain_work": tip.chain_work.to_hex(),
        "target": tip.header.target.to_hex(),
        "difficulty": difficulty,
        "block_time": params.target_block_time,
        "average_block_time": chain.average_block_time(),
        "block_reward": crate::consensus::subsidy(params, next_height).to_base_units(),
        "total_transactions": totals.transactions,
        "total_addresses": totals.addresses,
        "circulating_supply": totals.circulating_supply,
        "mempool": {"count": count, "bytes": bytes, "usage": usage},
        "peers": node.peers.len(),
        "syncing": node.syncing.load(std::sync::atomic::Ordering::Relaxed),
        "features": crate::net::FEATURES,
        "version": env!("CARGO_PKG_VERSION"),
        "rich_list": rich,
    })))
}

pub fn rich_list(node: &Node, req: &ApiRequest) -> Result<Response, ApiError> {
    req.query.deny_unknown(&["limit"])?;
    let limit = req.query.limit("limit", 100, 1_000)?;
    let list = node.chain().rich_list(limit).map_err(chain_err)?;
    let out: Vec<Value> = list
        .into_iter()
        .enumerate()
        .map(|(i, (address, balance))| {
            json!({"rank": i + 1, "address": address, "balance": balance.to_base_units()})
        })
        .collect();
    Ok(ok(&out))
}

/// A block's JSON, with fees when it is on the active chain.
fn block_json(node: &Node, hash: &BlockHash, block: &Block) -> Result<BlockJson, ApiError> {
    let chain = node.chain();
    let fees = if chain.is_active(hash) {
        chain.block_fees(hash, block).map_err(chain_err)?
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
        .block(hash)
        .map_err(chain_err)?
        .ok_or_else(|| ApiError::not_found(format!("no block {hash}")))
}

pub fn block(node: &Node, id: &str, req: &ApiRequest) -> Result<Response, ApiError> {
    let hash = resolve_block(node, id)?;
    let block = load_block(node, &hash)?;
    if req.wants_binary {
        return Ok(binary(block.to_bytes()));
    }
    let mut v = serde_json::to_value(block_json(node, &hash, &block)?).map_err(internal)?;
    let chain = node.chain();
    v["confirmations"] = json!(if chain.is_active(&hash) {
        chain.height().get() - block.header.height.get() + 1
    } else {
        0
    });
    v["in_active_chain"] = json!(chain.is_active(&hash));
    Ok(ok(&v))
}

/// Most hashes one `GET /blocks?hashes=` or `GET /headers?locator=` names.
pub const MAX_HASHES_PER_REQUEST: usize = 128;

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

/// `GET /blocks`: active-chain blocks from a height (`from`, `limit`), or the blocks
/// named by hash (`hashes=H1,H2,…`, any branch, in the order asked, stopping at the
/// first one not stored). Either way at most about 16 MiB.
pub fn blocks(node: &Node, req: &ApiRequest) -> Result<Response, ApiError> {
    req.query.deny_unknown(&["from", "limit", "hashes"])?;
    let hashes: Vec<BlockHash> = if let Some(list) = req.query.get("hashes")? {
        if req.query.get("from")?.is_some() || req.query.get("limit")?.is_some() {
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
        let from: u64 = req.query.parse_opt("from", "a block height")?.unwrap_or(0);
        let limit = req.query.limit("limit", 100, 500)?;
        let chain = node.chain();
        (0..limit as u64)
            .map_while(|i| {
                from.checked_add(i)
                    .and_then(|h| chain.block_hash_at(Height(h)))
            })
            .collect()
    };
    let mut size = 0usize;
    if req.wants_binary {
        let mut out = Vec::new();
        let mut items = Vec::new();
        for hash in &hashes {
            let block = load_block(node, hash)?;
            let bytes = block.to_bytes();
            if size > 0 && size + bytes.len() > MAX_BLOCKS_RESPONSE {
                break;
            }
            size += bytes.len();
            items.push(bytes);
        }
        put_u32(&mut out, items.len() as u32);
        for item in items {
            out.extend_from_slice(&item);
        }
        return Ok(binary(out));
    }
    let mut out = Vec::new();
    for hash in &hashes {
        let block = load_block(node, hash)?;
        let v = serde_json::to_value(block_json(node, hash, &block)?).map_err(internal)?;
        // JSON is roughly three times the binary size.
        size += block.size() * 3;
        if !out.is_empty() && size > MAX_BLOCKS_RESPONSE {
            break;
        }
        out.push(v);
    }
    Ok(ok(&out))
}

/// `GET /headers`: active-chain headers from a height (`from`), or after the first hash
/// of `locator=H1,H2,…` that is on our active chain (genesis when none is), so a peer on
/// a fork is answered from the fork point. At most `limit` (2 000).
pub fn headers(node: &Node, req: &ApiRequest) -> Result<Response, ApiError> {
    req.query.deny_unknown(&["from", "limit", "locator"])?;
    let limit = req.query.limit("limit", 2_000, 2_000)?;
    let chain = node.chain();
    let from: u64 = if let Some(list) = req.query.get("locator")? {
        if req.query.get("from")?.is_some() {
            return Err(ApiError::malformed("locator cannot be combined with from"));
        }
        let locator = parse_hash_list(list, "locator")?;
        chain.locate(&locator).get() + 1
    } else {
        req.query.parse_opt("from", "a block height")?.unwrap_or(0)
    };
    let headers: Vec<crate::primitives::Header> = (0..limit as u64)
        .map_while(|i| {
            let hash = chain.block_hash_at(Height(from.checked_add(i)?))?;
            chain.header_entry(&hash).map(|e| e.header)
        })
        .collect();
    if req.wants_binary {
        let mut out = Vec::new();
        encode_header_list(&headers, &mut out);
        return Ok(binary(out));
    }
    let out: Vec<Value> = headers
        .iter()
        .map(|h| json!({"hash": h.hash().to_hex(), "header": HeaderJson::from_header(h)}))
        .collect();
    Ok(ok(&out))
}

pub fn block_transaction(node: &Node, id: &str, index: &str) -> Result<Response, ApiError> {
    let hash = resolve_block(node, id)?;
    let index: usize = index.parse().map_err(|_| {
        ApiError::malformed(format!("transaction index must be a number, got {index:?}"))
    })?;
    let block = load_block(node, &hash)?;
    transaction_in_block(&node.chain(), &hash, &block, index)?
        .map(|tx| ok(&tx))
        .ok_or_else(|| ApiError::not_found(format!("block {hash} has no transaction {index}")))
}

/// Transaction `index` of `block` (stored under `hash`) as JSON, with its fee when the
/// block is on the active chain (fees come from the block's undo data).
fn transaction_in_block(
    chain: &ChainState<RedbStore>,
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
            .block_fees(hash, block)
            .map_err(chain_err)?
            .and_then(|f| f.get(index - 1).copied())
    };
    let hrp = &chain.network().params.address_hrp;
    Ok(Some(TransactionJson::from_transaction(tx, hrp, fee)))
}

fn parse_txid(text: &str) -> Result<Txid, ApiError> {
    Txid::from_hex(text).map_err(|e| ApiError::malformed(format!("txid: {e}")))
}

/// A transaction's JSON with its `status`, confirmed or in the mempool.
fn transaction_view(node: &Node, txid: &Txid) -> Result<Option<Value>, ApiError> {
    let chain = node.chain();
    let hrp = &chain.network().params.address_hrp;
    if let Some(loc) = chain.tx_location(txid).map_err(chain_err)? {
        let block = chain
            .block(&loc.block_hash)
            .map_err(chain_err)?
            .ok_or_else(|| {
                ApiError::internal(format!("indexed block {} is missing", loc.block_hash))
            })?;
        let tx = transaction_in_block(&chain, &loc.block_hash, &block, loc.position as usize)?
            .ok_or_else(|| {
                ApiError::internal(format!("tx index of {txid} points past its block"))
            })?;
        let mut v = serde_json::to_value(tx).map_err(internal)?;
        v["status"] = json!({
            "confirmed": true,
            "block_height": loc.height.get(),
            "block_hash": loc.block_hash.to_hex(),
            "confirmations": chain.height().get() - loc.height.get() + 1,
        });
        return Ok(Some(v));
    }
    let pool = node.mempool();
    if let Some(tx) = pool.get(txid) {
        let mut v =
            serde_json::to_value(TransactionJson::from_transaction(tx, hrp, pool.fee(txid)))
                .map_err(internal)?;
        v["status"] = json!({"confirmed": false});
        return Ok(Some(v));
    }
    Ok(None)
}

pub fn transaction(node: &Node, txid: &str) -> Result<Response, ApiError> {
    let txid = parse_txid(txid)?;
    transaction_view(node, &txid)?
        .map(|v| ok(&v))
        .ok_or_else(|| ApiError::not_found(format!("no transaction {txid}")))
}

fn parse_address(node: &Node, text: &str) -> Result<PubkeyHash, ApiError> {
    Address::parse(text, &node.network().params.address_hrp)
        .map(|a| a.pubkey_hash())
        .map_err(|e| to_api_error(&e))
}

pub fn address(node: &Node, text: &str) -> Result<Response, ApiError> {
    let pkh = parse_address(node, text)?;
    let chain = node.chain();
    let stats = chain.address_stats(&pkh).map_err(chain_err)?;
    let delta = node.mempool().address_delta(&pkh, &*chain);
    if stats.is_empty() && delta == 0 {
        return Err(ApiError::not_found(format!(
            "address {text} has no history"
        )));
    }
    Ok(ok(&json!({
        "address": address_string(&pkh, &chain.network().params.address_hrp),
        "balance": stats.balance,
        "received": stats.received,
        "sent": stats.sent,
        "tx_count": stats.tx_count,
        "utxo_count": stats.utxo_count,
        "unconfirmed_balance": delta,
    })))
}

/// Header of a paged answer: the tip the page was read at (API.md: paged answers that
/// depend on the tip carry `tip_hash`). The body stays the first round's JSON array, so
/// clients that never page see no change; see docs/api-changes.md.
pub const TIP_HASH_HEADER: &str = "ferro-tip-hash";
/// Header of a page that may have a successor: the `after` value of the next page.
pub const NEXT_AFTER_HEADER: &str = "ferro-next-after";
/// Default and largest page of `GET /addresses/{a}/utxos`.
pub const UTXO_PAGE_DEFAULT: usize = 1_000;
pub const UTXO_PAGE_MAX: usize = 5_000;

/// `TXID:VOUT`, the cursor of the UTXO listing.
fn parse_outpoint(text: &str) -> Result<OutPoint, ApiError> {
    let bad = || ApiError::malformed(format!("after must be TXID:VOUT, got {text:?}"));
    let (txid, vout) = text.split_once(':').ok_or_else(bad)?;
    Ok(OutPoint {
        txid: parse_txid(txid)?,
        vout: vout.parse().map_err(|_| bad())?,
    })
}

/// `GET /addresses/{a}/utxos?limit=N&after=TXID:VOUT`: one page of the address's
/// confirmed unspent outputs in outpoint order, with the tip it was read at and the
/// cursor of the next page in headers.
pub fn address_utxos(node: &Node, text: &str, req: &ApiRequest) -> Result<Response, ApiError> {
    req.query.deny_unknown(&["limit", "after"])?;
    let limit = req.query.limit("limit", UTXO_PAGE_DEFAULT, UTXO_PAGE_MAX)?;
    let after = req.query.get("after")?.map(parse_outpoint).transpose()?;
    let pkh = parse_address(node, text)?;
    // One read guard for the page and the tip, so the tip is the one the page reflects.
    let chain = node.chain();
    let tip = chain.tip_hash();
    let next = chain.height().get() + 1;
    let maturity = chain.network().params.coinbase_maturity;
    // One more than asked, to know whether a next page exists.
    let mut utxos = chain
        .address_utxos_after(&pkh, after.as_ref(), limit + 1)
        .map_err(chain_err)?;
    let more = utxos.len() > limit;
    utxos.truncate(limit);
    let pool = node.mempool();
    let out: Vec<Value> = utxos
        .iter()
        .map(|(op, coin)| {
            let mature = !coin.coinbase || coin.height.get().saturating_add(maturity) <= next;
            json!({
                "txid": op.txid.to_hex(),
                "vout": op.vout,
                "value": coin.output.value.to_base_units(),
                "height": coin.height.get(),
                "coinbase": coin.coinbase,
                "spendable": mature && pool.spender(op).is_none(),
            })
        })
        .collect();
    let mut response = ok(&out);
    let headers = response.headers_mut();
    if let Ok(v) = hyper::header::HeaderValue::from_str(&tip.to_hex()) {
        headers.insert(TIP_HASH_HEADER, v);
    }
    if let (true, Some((op, _))) = (more, utxos.last()) {
        if let Ok(v) = hyper::header::HeaderValue::from_str(&format!("{}:{}", op.txid, op.vout)) {
            headers.insert(NEXT_AFTER_HEADER, v);
        }
    }
    Ok(response)
}

pub fn address_history(node: &Node, text: &str, req: &ApiRequest) -> Result<Response, ApiError> {
    req.query.deny_unknown(&["limit", "before"])?;
    let limit = req.query.limit("limit", 50, 500)?;
    let before = match req.query.get("before")? {
        Some(t) => Some(parse_txid(t)?),
        None => None,
    };
    let pkh = parse_address(node, text)?;
    let mut txids: Vec<Txid> = Vec::new();
    if before.is_none() {
        txids.extend(node.mempool().transactions_for(&pkh));
    }
    let confirmed = node
        .chain()
        .address_history(&pkh, before.as_ref(), limit)
        .map_err(chain_err)?;
    txids.extend(confirmed.into_iter().map(|(t, _)| t));
    txids.truncate(limit);
    let mut out = Vec::with_capacity(txids.len());
    for txid in txids {
        if let Some(v) = transaction_view(node, &txid)? {
            out.push(v);
        }
    }
    Ok(ok(&out))
}

pub fn output(node: &Node, txid: &str, vout: &str) -> Result<Response, ApiError> {
    let txid = parse_txid(txid)?;
    let vout: u32 = vout
        .parse()
        .map_err(|_| ApiError::malformed(format!("vout must be a number, got {vout:?}")))?;
    let outpoint = OutPoint { txid, vout };
    let chain = node.chain();
    let hrp = &chain.network().params.address_hrp;
    let (tx, height): (Transaction, Option<Height>) =
        match chain.transaction(&txid).map_err(chain_err)? {
            Some((tx, loc)) => (tx, Some(loc.height)),
            None => match node.mempool().get(&txid) {
                Some(tx) => (tx.clone(), None),
                None => return Err(ApiError::not_found(format!("no transaction {txid}"))),
            },
        };
    let out = tx
        .outputs
        .get(vout as usize)
        .ok_or_else(|| ApiError::not_found(format!("transaction {txid} has no output {vout}")))?;
    let spent = match chain.spender(&outpoint).map_err(chain_err)? {
        Some((by, h)) => json!({"txid": by.to_hex(), "height": h.get()}),
        None => match node.mempool().spender(&outpoint) {
            Some(by) => json!({"txid": by.to_hex(), "mempool": true}),
            None => json!(false),
        },
    };
    Ok(ok(&json!({
        "txid": txid.to_hex(),
        "vout": vout,
        "value": out.value.to_base_units(),
        "address": address_string(&out.pubkey_hash, hrp),
        "height": height.map(|h| h.get()),
        "coinbase": tx.is_coinbase(),
        "spent": spent,
    })))
}

pub fn mempool(node: &Node) -> Result<Response, ApiError> {
    let pool = node.mempool();
    let txids: Vec<String> = pool.txids_by_fee_rate().iter().map(Txid::to_hex).collect();
    Ok(ok(&json!({
        "count": pool.len(),
        "bytes": pool.bytes(),
        "usage": pool.usage(),
        "min_fee_rate": pool.min_fee_rate(),
        "txids": txids,
    })))
}

pub fn fees(node: &Node) -> Result<Response, ApiError> {
    let pool = node.mempool();
    Ok(ok(&json!({
        "min_fee_rate": pool.min_fee_rate(),
        "recommended_fee_rate": pool.recommended_fee_rate(node.network().params.max_block_size as usize),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Announce {
    address: String,
}

/// `POST /nodes`: a node announces itself. The announced host must be the request's
/// source address; it is probed before it becomes a peer.
pub async fn announce_peer(node: &Arc<Node>, req: &ApiRequest) -> Result<Response, ApiError> {
    let body: Announce = crate::json::parse(&req.body).map_err(|e| to_api_error(&e))?;
    let addr: std::net::SocketAddr = body.address.parse().map_err(|_| {
        ApiError::malformed(format!("address must be ip:port, got {:?}", body.address))
    })?;
    let source = req.remote.ip().to_canonical();
    if addr.ip().to_canonical() != source {
        return Err(ApiError::from_code(
            "source-mismatch",
            format!(
                "announced host {} is not the request's source address {source}",
                addr.ip()
            ),
        ));
    }
    let address = addr.to_string();
    if node.peers.is_discouraged(&address) || node.peers.is_discouraged_source(source) {
        return Err(ApiError::from_code(
            "discouraged",
            format!("{address} misbehaved recently and is discouraged"),
        ));
    }
    if node.config.public_address.as_deref() == Some(address.as_str()) {
        return Err(ApiError::malformed(format!(
            "{address} is this node's own address"
        )));
    }
    if node.peers.contains(&address) {
        return Ok(ok(&json!({"status": "already-known"})));
    }
    let info = probe_peer(node, &address)
        .await
        .map_err(|e| to_api_error(&e))?;
    let status = match node.peers.add(&address, info.height) {
        AddOutcome::Added | AddOutcome::AddedEvicting(_) => "added",
        AddOutcome::Known => "already-known",
        AddOutcome::Discouraged | AddOutcome::Full => "not-added",
    };
    Ok(ok(&json!({"status": status})))
}
