//! Relay endpoints between nodes (docs/relay.md, PROTOCOL.md section 8): announcements
//! of txids and block hashes, several mempool transactions at once in binary, and
//! compact blocks. Each is named in `/info`'s `features`; a peer without them is fallen
//! back from (whole items pushed to `POST /transactions` and `POST /blocks`).

use super::views::parse_txid;
use super::{binary, blocking_relay, ApiError};
use crate::error::Code;
use crate::http::{ApiPath, Encoding, Payload};
use crate::net::relay_compact::CompactBlock;
use crate::node::relay::{decode_txids, MAX_FETCH_RESPONSE};
use crate::node::Node;
use crate::primitives::encoding::put_u32;
use crate::primitives::{BlockHash, Encode, Txid};
use crate::wire::{
    ErrorBody, RelayAnnounce, RelayAnnounced, RelayFetch, MAX_ANNOUNCE_BLOCKS, MAX_ANNOUNCE_TXIDS,
    MAX_FETCH_TXIDS,
};
use axum::extract::{ConnectInfo, State};
use axum::response::Response;
use axum::Json;
use std::net::SocketAddr;
use std::sync::Arc;

/// `POST /relay/announce`: a peer has these transactions and blocks.
#[utoipa::path(post, path = "/relay/announce", tag = "relay",
    request_body = RelayAnnounce,
    responses(
        (status = 200, description = "how many txids were taken, and how many will be fetched", body = RelayAnnounced),
        (status = 400, description = "malformed or source-mismatch (`from`'s host is not the request's source)", body = ErrorBody),
        (status = 403, description = "discouraged", body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody),
    ))]
pub async fn announce(
    State(node): State<Arc<Node>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    payload: Payload,
) -> Result<Json<RelayAnnounced>, ApiError> {
    let body: RelayAnnounce = payload.json()?;
    let excerpt: String = body.from.chars().take(100).collect();
    let from: SocketAddr = body
        .from
        .parse()
        .map_err(|_| ApiError::malformed(format!("from must be ip:port, got {excerpt:?}")))?;
    let source = remote.ip().to_canonical();
    if from.ip().to_canonical() != source {
        return Err(ApiError::new(
            Code::SourceMismatch,
            format!(
                "from's host {} is not the request's source address {source}",
                from.ip()
            ),
        ));
    }
    let from = from.to_string();
    if node.peers.is_discouraged(&from) || node.peers.is_discouraged_source(source) {
        return Err(ApiError::new(
            Code::Discouraged,
            format!("{from} misbehaved recently and is discouraged"),
        ));
    }
    if node.config.public_address.as_deref() == Some(from.as_str()) {
        return Err(ApiError::malformed(format!(
            "{from} is this node's own address"
        )));
    }
    if body.txids.len() > MAX_ANNOUNCE_TXIDS || body.blocks.len() > MAX_ANNOUNCE_BLOCKS {
        return Err(ApiError::malformed(format!(
            "at most {MAX_ANNOUNCE_TXIDS} txids and {MAX_ANNOUNCE_BLOCKS} blocks per announcement"
        )));
    }
    let txids: Vec<Txid> = body
        .txids
        .iter()
        .map(|t| parse_txid(t))
        .collect::<Result<_, _>>()?;
    let blocks: Vec<BlockHash> = body
        .blocks
        .iter()
        .map(|h| {
            BlockHash::from_hex(h).map_err(|e| ApiError::malformed(format!("block hash: {e}")))
        })
        .collect::<Result<_, _>>()?;
    // The mempool and chain locks may wait behind a block being connected: off the
    // runtime's workers (block fetches are spawned from there onto the runtime).
    let shared = node.clone();
    blocking_relay(node, move |_| {
        let (taken, wanted) = shared.relay_announced(&from, &txids, &blocks);
        Ok(Json(RelayAnnounced {
            taken: taken as u64,
            wanted: wanted as u64,
        }))
    })
    .await
}

/// `POST /relay/transactions`: the mempool transactions among the txids asked, parents
/// first, as a `u32` count and their binary encodings, stopping once the answer passes
/// 8 MiB (the asker asks again for the rest). The body is JSON
/// (`{"txids": [...]}`) or binary (a `u32` count and 32-byte txids).
#[utoipa::path(post, path = "/relay/transactions", tag = "relay",
    request_body(content(
        (RelayFetch = "application/json"),
        (Vec<u8> = "application/octet-stream"),
    )),
    responses(
        (status = 200, description = "a u32 count, then the transactions found, parents first", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 400, description = "malformed (1 to 1 000 txids)", body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody),
    ))]
pub async fn transactions(
    State(node): State<Arc<Node>>,
    payload: Payload,
) -> Result<Response, ApiError> {
    let txids: Vec<Txid> = match payload.encoding {
        Encoding::Binary => decode_txids(&payload.bytes)?,
        Encoding::Json => {
            let body: RelayFetch = payload.json()?;
            if body.txids.len() > MAX_FETCH_TXIDS {
                return Err(too_many());
            }
            body.txids
                .iter()
                .map(|t| parse_txid(t))
                .collect::<Result<_, _>>()?
        }
    };
    if txids.is_empty() || txids.len() > MAX_FETCH_TXIDS {
        return Err(too_many());
    }
    blocking_relay(node, move |node| {
        let pool = node.mempool();
        let order = pool.ancestors_first(&txids);
        // Stops past MAX_FETCH_RESPONSE bytes (the asker asks again for the rest).
        let mut body = Vec::new();
        let mut count = 0u32;
        for txid in &order {
            if let Some(tx) = pool.get(txid) {
                if count > 0 && body.len() >= MAX_FETCH_RESPONSE {
                    break;
                }
                tx.encode_to(&mut body);
                count += 1;
            }
        }
        let mut out = Vec::with_capacity(body.len() + 4);
        put_u32(&mut out, count);
        out.extend_from_slice(&body);
        Ok(binary(out))
    })
    .await
}

fn too_many() -> ApiError {
    ApiError::malformed(format!("ask for 1 to {MAX_FETCH_TXIDS} txids"))
}

/// `GET /relay/compact/{hash}`: a block as its header, a random salt, 6-byte short ids
/// and the coinbase (docs/relay.md).
#[utoipa::path(get, path = "/relay/compact/{hash}", tag = "relay",
    params(("hash" = String, Path, description = "block hash, 64 hex digits")),
    responses(
        (status = 200, description = "the compact block", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 400, description = "malformed hash", body = ErrorBody),
        (status = 404, description = "no such block", body = ErrorBody),
    ))]
pub async fn compact(
    State(node): State<Arc<Node>>,
    ApiPath(text): ApiPath<String>,
) -> Result<Response, ApiError> {
    let hash =
        BlockHash::from_hex(&text).map_err(|e| ApiError::malformed(format!("block hash: {e}")))?;
    blocking_relay(node, move |node| {
        let block = node
            .chain()
            .block(&hash)?
            .ok_or_else(|| ApiError::not_found(format!("no block {hash}")))?;
        let compact = CompactBlock::new(&block, rand::random())
            .ok_or_else(|| ApiError::internal(format!("stored block {hash} has no coinbase")))?;
        Ok(binary(compact.to_bytes()))
    })
    .await
}
