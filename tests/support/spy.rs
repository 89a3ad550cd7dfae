//! A fake peer that records what a node relays to it.
//!
//! It answers `GET /info` with the test network's genesis (and no chain work, so nobody
//! syncs from it), `GET /nodes` with an empty list, and takes every `POST /blocks` and
//! `POST /transactions`, remembering the block hashes and txids in arrival order.

use super::chain::TestNet;
use ferro::http::{request, response, ApiError, Request, Response, ServerLimits};
use ferro::primitives::{Block, BlockHash, Decode, Transaction, Txid};
use serde_json::json;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// What the spy was sent, in order.
#[derive(Default, Debug)]
pub struct Seen {
    pub blocks: Vec<BlockHash>,
    pub transactions: Vec<Txid>,
}

pub struct SpyPeer {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Seen>>,
    stop: Option<oneshot::Sender<()>>,
}

impl SpyPeer {
    pub async fn start(net: &TestNet) -> anyhow::Result<SpyPeer> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let seen = Arc::new(Mutex::new(Seen::default()));
        let info = Arc::new(json!({
            "name": net.network.params.name,
            "genesis_hash": net.genesis_hash().to_hex(),
            "height": 0,
            "best_hash": net.genesis_hash().to_hex(),
            "chain_work": "00".repeat(32),
        }));
        let handler = {
            let seen = seen.clone();
            move |req: Request, _remote: SocketAddr| {
                let (seen, info) = (seen.clone(), info.clone());
                async move {
                    answer(req, &seen, &info)
                        .await
                        .unwrap_or_else(|e| e.to_response())
                }
            }
        };
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(ferro::http::server::run(
            listener,
            handler,
            ServerLimits::default(),
            async {
                let _ = stopped.await;
            },
        ));
        Ok(SpyPeer {
            addr,
            seen,
            stop: Some(stop),
        })
    }

    /// Runs `f` on what was seen so far.
    pub fn seen<T>(&self, f: impl FnOnce(&Seen) -> T) -> T {
        f(&self.seen.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn answer(
    req: Request,
    seen: &Mutex<Seen>,
    info: &serde_json::Value,
) -> Result<Response, ApiError> {
    let path = req.uri().path().to_string();
    let post = req.method() == hyper::Method::POST;
    let body = request::read_body(req, 8 << 20).await?;
    let malformed = |e: ferro::primitives::DecodeError| ApiError::malformed(e.to_string());
    let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
    Ok(match (post, path.as_str()) {
        (false, "/info") => response::ok_json(info),
        (false, "/nodes") => response::ok_json(&json!([])),
        (true, "/nodes") => response::ok_json(&json!({"status": "added"})),
        (true, "/blocks") => {
            let hash = Block::from_bytes(&body).map_err(malformed)?.hash();
            seen.blocks.push(hash);
            response::ok_json(&json!({"hash": hash.to_hex(), "status": "connected"}))
        }
        (true, "/transactions") => {
            let txid = Transaction::from_bytes(&body).map_err(malformed)?.txid();
            seen.transactions.push(txid);
            response::ok_json(&json!({"txid": txid.to_hex(), "status": "accepted"}))
        }
        _ => return Err(ApiError::not_found(format!("spy: no {path}"))),
    })
}
