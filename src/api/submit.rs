//! Write endpoints: transactions, blocks, announcements, and mining on request.
//!
//! A relayed transaction or block that only a broken or hostile sender makes discourages
//! its source (PROTOCOL.md section 9, [`crate::net::discourage`]); a valid one credits
//! it, which keeps it a share of the connection slots.

use super::{blocking, ApiError};
use crate::chain::{AcceptStatus, ChainError};
use crate::error::Code;
use crate::http::{Encoding, Payload};
use crate::json::{BlockJson, TransactionJson};
use crate::net::discourage::{punishes_block, punishes_relayed_tx};
use crate::net::peers::AddOutcome;
use crate::net::{BanKey, Delivery};
use crate::node::probe_peer;
use crate::node::{Node, NodeError};
use crate::primitives::{Address, Block, Decode, Transaction};
use crate::wire::{
    Announce, AnnounceStatus, BlockSubmitted, GenerateRequest, Generated, TxSubmitted,
};
use axum::extract::{ConnectInfo, State};
use axum::Json;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// Most blocks one `/mining/generate` call mines.
pub const MAX_GENERATE: u32 = 1_000;

/// Decodes a body into `T`: the binary encoding, or JSON through `J`.
fn decode<T: Decode, J: serde::de::DeserializeOwned>(
    payload: &Payload,
    from_json: impl FnOnce(J) -> Result<T, crate::json::JsonError>,
) -> Result<T, ApiError> {
    match payload.encoding {
        Encoding::Binary => Ok(T::from_bytes(&payload.bytes)?),
        Encoding::Json => Ok(from_json(payload.json()?)?),
    }
}

/// Discourages `source` for `why` (127.0.0.1 and ::1 are exempt).
fn punish(node: &Node, source: IpAddr, why: &str) {
    if let Some(key) = BanKey::for_source(source) {
        node.peers.discourage(key, why);
    }
}

/// `POST /transactions`.
#[utoipa::path(post, path = "/transactions", tag = "transactions",
    request_body(content(
        (TransactionJson = "application/json"),
        (Vec<u8> = "application/octet-stream"),
    )),
    responses(
        (status = 200, description = "accepted or already known", body = TxSubmitted),
        (status = 400, description = "refused by a rule (code says which)", body = crate::wire::ErrorBody),
        (status = 403, description = "discouraged", body = crate::wire::ErrorBody),
        (status = 413, body = crate::wire::ErrorBody),
        (status = 415, body = crate::wire::ErrorBody),
    ))]
pub async fn transaction(
    State(node): State<Arc<Node>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    payload: Payload,
) -> Result<Json<TxSubmitted>, ApiError> {
    blocking(node, move |node| {
        let hrp = node.network().params.address_hrp.clone();
        let result = decode(&payload, |j: TransactionJson| j.to_transaction(&hrp))
            .and_then(|tx: Transaction| Ok(node.submit_transaction(tx)?));
        let (txid, known) = result.inspect_err(|e| {
            if punishes_relayed_tx(e.code()) {
                punish(
                    node,
                    remote.ip(),
                    &format!("it sent an invalid transaction: {e}"),
                );
            }
        })?;
        if !known {
            node.peers.credit_source(remote.ip(), Delivery::Transaction);
        }
        let status = if known { "already-known" } else { "accepted" };
        Ok(Json(TxSubmitted {
            txid: txid.to_hex(),
            status: status.to_owned(),
        }))
    })
    .await
}

/// `POST /blocks`.
#[utoipa::path(post, path = "/blocks", tag = "blocks",
    request_body(content(
        (BlockJson = "application/json"),
        (Vec<u8> = "application/octet-stream"),
    )),
    responses(
        (status = 200, description = "connected, side-chain, reorganized or already-known", body = BlockSubmitted),
        (status = 400, description = "breaks a rule (code says which)", body = crate::wire::ErrorBody),
        (status = 403, description = "discouraged", body = crate::wire::ErrorBody),
        (status = 409, description = "unknown-parent, time-too-new or stale-branch", body = crate::wire::ErrorBody),
        (status = 413, body = crate::wire::ErrorBody),
        (status = 415, body = crate::wire::ErrorBody),
    ))]
pub async fn block(
    State(node): State<Arc<Node>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    payload: Payload,
) -> Result<Json<BlockSubmitted>, ApiError> {
    blocking(node, move |node| {
        let hrp = node.network().params.address_hrp.clone();
        let block: Block = decode(&payload, |j: BlockJson| j.to_block(&hrp)).inspect_err(|e| {
            punish(
                node,
                remote.ip(),
                &format!("it sent a block that does not parse: {e}"),
            );
        })?;
        let hash = block.hash();
        let parent = block.header.prev_hash;
        let status = node.submit_block(block, false).inspect_err(|e| {
            // A block on a parent held as valid that breaks a rule is punished; an
            // unknown or invalid parent is not (we may be the one behind).
            if let NodeError::Chain(ChainError::Block(rule)) = e {
                let parent_valid = {
                    let chain = node.chain();
                    chain.knows_block(&parent) && !chain.is_invalid(&parent)
                };
                if parent_valid && punishes_block(rule) {
                    punish(
                        node,
                        remote.ip(),
                        &format!("it sent an invalid block {hash}: {rule}"),
                    );
                }
            }
        })?;
        if status != AcceptStatus::AlreadyKnown {
            node.peers.credit_source(remote.ip(), Delivery::Block);
        }
        Ok(Json(BlockSubmitted {
            hash: hash.to_hex(),
            status: status.as_str().to_owned(),
        }))
    })
    .await
}

/// `POST /nodes`: a node announces itself. The announced host must be the request's
/// source address; it is probed before it becomes a peer.
#[utoipa::path(post, path = "/nodes", tag = "peers",
    request_body = Announce,
    responses(
        (status = 200, description = "added, already-known or not-added", body = AnnounceStatus),
        (status = 400, description = "malformed, source-mismatch, unreachable or wrong-network", body = crate::wire::ErrorBody),
        (status = 403, description = "discouraged", body = crate::wire::ErrorBody),
        (status = 415, body = crate::wire::ErrorBody),
    ))]
pub async fn announce(
    State(node): State<Arc<Node>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    payload: Payload,
) -> Result<Json<AnnounceStatus>, ApiError> {
    let body: Announce = payload.json()?;
    let excerpt: String = body.address.chars().take(100).collect();
    let addr: SocketAddr = body
        .address
        .parse()
        .map_err(|_| ApiError::malformed(format!("address must be ip:port, got {excerpt:?}")))?;
    let source = remote.ip().to_canonical();
    if addr.ip().to_canonical() != source {
        return Err(ApiError::new(
            Code::SourceMismatch,
            format!(
                "announced host {} is not the request's source address {source}",
                addr.ip()
            ),
        ));
    }
    let address = addr.to_string();
    if node.peers.is_discouraged(&address) || node.peers.is_discouraged_source(source) {
        return Err(ApiError::new(
            Code::Discouraged,
            format!("{address} misbehaved recently and is discouraged"),
        ));
    }
    if node.config.public_address.as_deref() == Some(address.as_str()) {
        return Err(ApiError::malformed(format!(
            "{address} is this node's own address"
        )));
    }
    let status = if node.peers.contains(&address) {
        "already-known"
    } else {
        let info = probe_peer(&node, &address).await?;
        match node.peers.add(&address, info.height) {
            AddOutcome::Added | AddOutcome::AddedEvicting(_) => "added",
            AddOutcome::Known => "already-known",
            AddOutcome::Discouraged | AddOutcome::Full => "not-added",
        }
    };
    Ok(Json(AnnounceStatus {
        status: status.to_owned(),
    }))
}

/// `POST /mining/generate` (with `--allow-generate`): mines `blocks` blocks paying
/// `address`, at most [`MAX_GENERATE`] a call.
#[utoipa::path(post, path = "/mining/generate", tag = "mining",
    request_body = GenerateRequest,
    responses(
        (status = 200, description = "the hashes of the mined blocks", body = Generated),
        (status = 400, body = crate::wire::ErrorBody),
        (status = 403, description = "generate-disabled", body = crate::wire::ErrorBody),
        (status = 415, body = crate::wire::ErrorBody),
    ))]
pub async fn generate(
    State(node): State<Arc<Node>>,
    payload: Payload,
) -> Result<Json<Generated>, ApiError> {
    if !node.config.allow_generate {
        return Err(ApiError::new(
            Code::GenerateDisabled,
            "POST /mining/generate needs the node started with --allow-generate",
        ));
    }
    let body: GenerateRequest = payload.json()?;
    if body.blocks == 0 || body.blocks > MAX_GENERATE {
        return Err(ApiError::malformed(format!(
            "blocks must be between 1 and {MAX_GENERATE}"
        )));
    }
    let address = Address::parse(&body.address, &node.network().params.address_hrp)?;
    blocking(node, move |node| {
        let mut hashes: Vec<String> = Vec::with_capacity(body.blocks as usize);
        while hashes.len() < body.blocks as usize {
            if node.shutdown.is_cancelled() {
                return Err(ApiError::new(Code::NotReady, "the node is shutting down"));
            }
            match node.mine_one(address.pubkey_hash()) {
                Ok(Some(hash)) => hashes.push(hash.to_hex()),
                // The tip moved under the search (a peer's block): mine on the new tip.
                Ok(None) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Json(Generated { hashes }))
    })
    .await
}
