//! A fake peer that records what a node relays to it.
//!
//! It answers `GET /info` with the test network's genesis (and no chain work, so nobody
//! syncs from it), `GET /nodes` with an empty list, and takes every `POST /blocks` and
//! `POST /transactions`, remembering the block hashes and txids in arrival order. Its
//! answers are the API's own types ([`ferro::wire`]).

use super::chain::TestNet;
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use ferro::http::{ApiError, ServerLimits};
use ferro::primitives::{Block, BlockHash, Decode, Transaction, Txid};
use ferro::wire::{AnnounceStatus, BlockSubmitted, Info, NodeEntry, TxSubmitted};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

/// What the spy was sent, in order.
#[derive(Default, Debug)]
pub struct Seen {
    pub blocks: Vec<BlockHash>,
    pub transactions: Vec<Txid>,
}

pub struct SpyPeer {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Seen>>,
    stop: CancellationToken,
}

type Shared = (Arc<Mutex<Seen>>, Arc<Info>);

impl SpyPeer {
    pub async fn start(net: &TestNet) -> anyhow::Result<SpyPeer> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let seen = Arc::new(Mutex::new(Seen::default()));
        let genesis = net.genesis_hash().to_hex();
        let mut info = Info::bare(&net.network.params.name, &genesis, 0);
        info.best_hash = genesis;
        info.address_hrp = net.network.params.address_hrp.clone();
        let info = Arc::new(info);
        let app = Router::new()
            .route(
                "/info",
                get(|State((_, info)): State<Shared>| async move { Json((*info).clone()) }),
            )
            .route(
                "/nodes",
                get(|| async { Json(Vec::<NodeEntry>::new()) }).post(|| async {
                    Json(AnnounceStatus {
                        status: "added".into(),
                    })
                }),
            )
            .route("/blocks", post(take_block))
            .route("/transactions", post(take_transaction))
            .with_state((seen.clone(), info));
        let stop = CancellationToken::new();
        tokio::spawn(ferro::http::server::serve(
            listener,
            app,
            ServerLimits::default(),
            None,
            stop.clone(),
        ));
        Ok(SpyPeer { addr, seen, stop })
    }

    /// Runs `f` on what was seen so far.
    pub fn seen<T>(&self, f: impl FnOnce(&Seen) -> T) -> T {
        f(&self.seen.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn stop(self) {
        self.stop.cancel();
    }
}

fn record(seen: &Mutex<Seen>, f: impl FnOnce(&mut Seen)) {
    f(&mut seen.lock().unwrap_or_else(|e| e.into_inner()));
}

async fn take_block(
    State((seen, _)): State<Shared>,
    body: Bytes,
) -> Result<Json<BlockSubmitted>, ApiError> {
    let hash = Block::from_bytes(&body)?.hash();
    record(&seen, |s| s.blocks.push(hash));
    Ok(Json(BlockSubmitted {
        hash: hash.to_hex(),
        status: "connected".into(),
    }))
}

async fn take_transaction(
    State((seen, _)): State<Shared>,
    body: Bytes,
) -> Result<Json<TxSubmitted>, ApiError> {
    let txid = Transaction::from_bytes(&body)?.txid();
    record(&seen, |s| s.transactions.push(txid));
    Ok(Json(TxSubmitted {
        txid: txid.to_hex(),
        status: "accepted".into(),
    }))
}
