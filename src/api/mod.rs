//! The node's HTTP API (API.md): routing, JSON views, and the one place errors become
//! statuses ([`to_api_error`]).
//!
//! Handlers read chain state through the node's read side. Anything that may wait on the
//! chain lock or burn CPU (validation, mining, block reads) runs on a blocking thread, so
//! the async runtime keeps accepting and answering while a big block connects.

mod views;

use crate::chain::{AcceptStatus, ChainError};
use crate::consensus::BlockError;
use crate::error::ErrorCode;
use crate::http::request::{negotiate_content_type, read_body};
use crate::http::{ApiError, Handler, Query, Request, Response, JSON, OCTET_STREAM};
use crate::json::{self, BlockJson, TransactionJson};
use crate::net::Delivery;
use crate::node::{Node, NodeError};
use crate::primitives::{Block, BlockHash, Decode, Height};
use bytes::Bytes;
use hyper::header::{HeaderValue, ACCEPT, CONTENT_TYPE};
use hyper::{Method, StatusCode};
use serde::Deserialize;
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;

/// Maps any typed rejection to its API error: code, status (from the code) and message.
pub fn to_api_error<E: ErrorCode + std::fmt::Display>(e: &E) -> ApiError {
    ApiError::from_code(e.code(), e.to_string())
}

/// The parts of a request a handler needs, with the body already read.
pub struct ApiRequest {
    pub method: Method,
    pub path: String,
    pub query: Query,
    pub wants_binary: bool,
    pub content_type: Option<&'static str>,
    pub body: Bytes,
    pub remote: SocketAddr,
}

pub struct Api {
    node: Arc<Node>,
}

impl Api {
    pub fn new(node: Arc<Node>) -> Api {
        Api { node }
    }

    async fn answer(&self, req: Request, remote: SocketAddr) -> Result<Response, ApiError> {
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        let query = Query::from_uri(req.uri())?;
        let wants_binary = req
            .headers()
            .get(ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains(OCTET_STREAM));
        let content_type = if method == Method::POST {
            Some(negotiate_content_type(
                req.headers(),
                &[JSON, OCTET_STREAM],
            )?)
        } else {
            None
        };
        let body = read_body(req, self.node.config.body_limit).await?;
        let request = ApiRequest {
            method,
            path,
            query,
            wants_binary,
            content_type,
            body,
            remote,
        };
        if request.method == Method::POST && request.path == "/nodes" {
            return views::announce_peer(&self.node, &request).await;
        }
        let node = self.node.clone();
        tokio::task::spawn_blocking(move || route(&node, &request))
            .await
            .map_err(|e| ApiError::internal(format!("handler failed: {e}")))?
    }
}

impl Handler for Api {
    async fn handle(&self, req: Request, remote: SocketAddr) -> Response {
        match self.answer(req, remote).await {
            Ok(response) => response,
            Err(e) => e.to_response(),
        }
    }
}

fn segments(path: &str) -> Vec<&str> {
    path.trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect()
}

/// Dispatches a request to its handler.
fn route(node: &Node, req: &ApiRequest) -> Result<Response, ApiError> {
    let parts = segments(&req.path);
    let get = req.method == Method::GET;
    let post = req.method == Method::POST;
    match (parts.as_slice(), get, post) {
        (["info"], true, _) => views::info(node),
        (["health"], true, _) => Ok(ok(
            &json!({"status": "ok", "height": node.chain().height().get()}),
        )),
        (["richlist"], true, _) => views::rich_list(node, req),
        (["blocks"], true, _) => views::blocks(node, req),
        (["blocks"], _, true) => submit_block(node, req),
        (["blocks", "last"], true, _) => views::block(node, "last", req),
        (["blocks", id], true, _) => views::block(node, id, req),
        (["blocks", id, "transactions", index], true, _) => {
            views::block_transaction(node, id, index)
        }
        (["headers"], true, _) => views::headers(node, req),
        (["transactions"], _, true) => submit_transaction(node, req),
        (["transactions", txid], true, _) => views::transaction(node, txid),
        (["addresses", a], true, _) => views::address(node, a),
        (["addresses", a, "utxos"], true, _) => views::address_utxos(node, a, req),
        (["addresses", a, "transactions"], true, _) => views::address_history(node, a, req),
        (["outputs", txid, vout], true, _) => views::output(node, txid, vout),
        (["mempool"], true, _) => views::mempool(node),
        (["fees"], true, _) => views::fees(node),
        (["nodes"], true, _) => Ok(ok(&node.peers.summaries())),
        (["mining", "generate"], _, true) => generate(node, req),
        (
            ["info"]
            | ["health"]
            | ["richlist"]
            | ["blocks", ..]
            | ["headers"]
            | ["transactions", ..]
            | ["addresses", ..]
            | ["outputs", ..]
            | ["mempool"]
            | ["fees"]
            | ["nodes"]
            | ["mining", "generate"],
            _,
            _,
        ) => Err(ApiError::method_not_allowed(format!(
            "{} is not allowed on {}",
            req.method, req.path
        ))),
        _ => Err(ApiError::not_found(format!(
            "no such endpoint: {}",
            req.path
        ))),
    }
}

pub(crate) fn ok<T: serde::Serialize + ?Sized>(value: &T) -> Response {
    crate::http::response::ok_json(value)
}

pub(crate) fn binary(bytes: Vec<u8>) -> Response {
    let mut response = hyper::Response::new(crate::http::Body::new(Bytes::from(bytes)));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(OCTET_STREAM));
    *response.status_mut() = StatusCode::OK;
    response
}

fn parse_body<T: Decode, J: serde::de::DeserializeOwned>(
    req: &ApiRequest,
    from_json: impl FnOnce(J) -> Result<T, json::JsonError>,
) -> Result<T, ApiError> {
    if req.content_type == Some(OCTET_STREAM) {
        T::from_bytes(&req.body).map_err(|e| to_api_error(&e))
    } else {
        let parsed: J = json::parse(&req.body).map_err(|e| to_api_error(&e))?;
        from_json(parsed).map_err(|e| to_api_error(&e))
    }
}

/// Transaction rejections that only a broken or hostile sender causes (PROTOCOL.md
/// section 9); everything else depends on our own state and is never punished.
const PUNISHED_TX_CODES: &[&str] = &[
    "malformed",
    "bad-version",
    "no-inputs",
    "no-outputs",
    "coinbase-not-allowed",
    "duplicate-input",
    "pubkey-mismatch",
    "bad-signature",
    "value-out-of-range",
    "outputs-exceed-inputs",
];

/// Discourages the request's source for `why` (127.0.0.1 and ::1 are exempt).
fn punish_source(node: &Node, req: &ApiRequest, why: &str) {
    if let Some(key) = crate::net::BanKey::for_source(req.remote.ip()) {
        node.peers.discourage(key, why);
    }
}

fn submit_transaction(node: &Node, req: &ApiRequest) -> Result<Response, ApiError> {
    let hrp = node.network().params.address_hrp.clone();
    let result = parse_body(req, |j: TransactionJson| j.to_transaction(&hrp))
        .and_then(|tx| node.submit_transaction(tx).map_err(|e| to_api_error(&e)));
    let (txid, known) = match result {
        Ok(done) => done,
        Err(e) => {
            if PUNISHED_TX_CODES.contains(&e.code()) {
                punish_source(node, req, &format!("it sent an invalid transaction: {e}"));
            }
            return Err(e);
        }
    };
    if !known {
        node.peers
            .credit_source(req.remote.ip(), Delivery::Transaction);
    }
    let status = if known { "already-known" } else { "accepted" };
    Ok(ok(&json!({"txid": txid.to_hex(), "status": status})))
}

fn submit_block(node: &Node, req: &ApiRequest) -> Result<Response, ApiError> {
    let hrp = node.network().params.address_hrp.clone();
    let block: Block = match parse_body(req, |j: BlockJson| j.to_block(&hrp)) {
        Ok(block) => block,
        Err(e) => {
            punish_source(
                node,
                req,
                &format!("it sent a block that does not parse: {e}"),
            );
            return Err(e);
        }
    };
    let hash = block.hash();
    let parent = block.header.prev_hash;
    let status = match node.submit_block(block, false) {
        Ok(status) => status,
        Err(e) => {
            // A block whose parent we hold as valid and that breaks a consensus rule
            // (other than time-too-new) is punished; an unknown or invalid parent is not.
            if let NodeError::Chain(ChainError::Block(rule)) = &e {
                let parent_valid = {
                    let chain = node.chain();
                    chain.knows_block(&parent) && !chain.is_invalid(&parent)
                };
                if parent_valid && !matches!(rule, BlockError::TimeTooNew { .. }) {
                    punish_source(
                        node,
                        req,
                        &format!("it sent an invalid block {hash}: {rule}"),
                    );
                }
            }
            return Err(to_api_error(&e));
        }
    };
    if status != AcceptStatus::AlreadyKnown {
        node.peers.credit_source(req.remote.ip(), Delivery::Block);
    }
    Ok(ok(
        &json!({"hash": hash.to_hex(), "status": status.as_str()}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GenerateRequest {
    blocks: u32,
    address: String,
}

/// Most blocks one `/mining/generate` call mines.
const MAX_GENERATE: u32 = 1_000;

fn generate(node: &Node, req: &ApiRequest) -> Result<Response, ApiError> {
    if !node.config.allow_generate {
        return Err(ApiError::from_code(
            "generate-disabled",
            "POST /mining/generate needs the node started with --allow-generate",
        ));
    }
    let body: GenerateRequest = json::parse(&req.body).map_err(|e| to_api_error(&e))?;
    if body.blocks == 0 || body.blocks > MAX_GENERATE {
        return Err(ApiError::malformed(format!(
            "blocks must be between 1 and {MAX_GENERATE}"
        )));
    }
    let hrp = &node.network().params.address_hrp;
    let address =
        crate::primitives::Address::parse(&body.address, hrp).map_err(|e| to_api_error(&e))?;
    let mut hashes: Vec<String> = Vec::with_capacity(body.blocks as usize);
    while hashes.len() < body.blocks as usize {
        if node.stopping.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(ApiError::from_code(
                "not-ready",
                "the node is shutting down",
            ));
        }
        match node.mine_one(address.pubkey_hash()) {
            Ok(Some(hash)) => hashes.push(hash.to_hex()),
            // The tip moved under the search (a peer's block): mine on the new tip.
            Ok(None) => continue,
            Err(e) => return Err(to_api_error(&e)),
        }
    }
    Ok(ok(&json!({"hashes": hashes})))
}

/// A block id from a path: `last`, a height, or a 64-hex hash.
///
/// Any all-digit id that is not 64 characters long is a height: one above the tip, or one
/// too large for a `u64` (`18446744073709551616`), names no block and answers
/// `not-found`, never `malformed`. A 64-character id is always read as a hash.
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
