//! An in-process stand-in for the full node: the endpoints the wallet uses (API.md),
//! over a real UTXO map, on 127.0.0.1:0.
//!
//! Posted transactions go through `ferro::consensus::check_transaction`, so a wrong
//! signature, sighash, key or amount really fails with the node's error code. An accepted
//! transaction is mined at once into the next block (no mempool), which keeps balances
//! simple to assert. Swap this for the real node once it exists: the tests only use
//! [`FakeNode::start`], [`FakeNode::url`] and the read accessors.

use ferro::consensus::{check_transaction, Coin, Network};
use ferro::error::ErrorCode;
use ferro::http::{request, response, ApiError, Request, Response, ServerLimits};
use ferro::json::{address_string, TransactionJson};
use ferro::primitives::{Address, Amount, OutPoint, PubkeyHash, Transaction, Txid};
use hyper::StatusCode;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// The fee rates `/fees` reports (base units per byte).
pub const MIN_FEE_RATE: u64 = 1;
pub const RECOMMENDED_FEE_RATE: u64 = 2;
/// The chain height the fake node starts at: far past coinbase maturity of genesis.
pub const START_HEIGHT: u64 = 100;

/// The ledger the fake node serves.
pub struct Ledger {
    pub network: Network,
    pub height: u64,
    pub utxos: HashMap<OutPoint, Coin>,
    /// Every output ever created, spent or not (for `/outputs`).
    pub outputs: HashMap<OutPoint, Coin>,
    /// Accepted transactions with the height they were mined at, oldest first.
    pub mined: Vec<(Transaction, u64, Amount)>,
    /// Every transaction by txid (genesis, added and mined), for `/transactions/{txid}`.
    pub transactions: HashMap<Txid, Transaction>,
    /// What this node lies about.
    pub lies: Lies,
    /// Answers of `/addresses/{a}/utxos` served so far (to assert paging).
    pub utxo_pages_served: usize,
}

/// Lies a hostile node tells the wallet. The ledger itself stays true: posted
/// transactions are still checked against the real coins.
#[derive(Default)]
pub struct Lies {
    /// `/addresses/{a}/utxos` reports these coins with these values.
    pub utxo_values: HashMap<OutPoint, u64>,
    /// `/addresses/{a}` reports the balance as the sum of the (lied) listed coins.
    pub balance_follows_listing: bool,
    /// `/transactions/{txid}` reports outputs with the (lied) listed values too.
    pub transactions_follow_listing: bool,
    /// `/fees` reports this as both rates.
    pub fee_rate: Option<u64>,
    /// The tip hash header changes on every page (a chain that never stops moving).
    pub moving_tip: bool,
}

impl Ledger {
    fn new(network: Network) -> Ledger {
        let mut ledger = Ledger {
            network,
            height: START_HEIGHT,
            utxos: HashMap::new(),
            outputs: HashMap::new(),
            mined: Vec::new(),
            transactions: HashMap::new(),
            lies: Lies::default(),
            utxo_pages_served: 0,
        };
        let genesis = ledger.network.genesis.transactions[0].clone();
        ledger.add_outputs(&genesis, 0);
        ledger
    }

    /// Adds `count` confirmed outputs of `value` paying `to`, as outputs of one
    /// transaction served under `txid` (chosen by the test, e.g. one that sorts before
    /// every real txid: an attacker grinds for that).
    pub fn add_dust(&mut self, txid: Txid, to: PubkeyHash, count: u32, value: u64) {
        let output = ferro::primitives::TxOut {
            value: Amount::from_base_units(value).expect("dust is a valid amount"),
            pubkey_hash: to,
        };
        let tx = Transaction {
            version: 1,
            inputs: Vec::new(),
            outputs: vec![output; count as usize],
            lock_time: 0,
        };
        for vout in 0..count {
            let coin = Coin {
                output,
                height: self.height.into(),
                coinbase: false,
            };
            let outpoint = OutPoint { txid, vout };
            self.utxos.insert(outpoint, coin);
            self.outputs.insert(outpoint, coin);
        }
        self.transactions.insert(txid, tx);
    }

    /// The premine coin of the devnet faucet.
    pub fn premine_outpoint(&self) -> OutPoint {
        OutPoint {
            txid: self.network.genesis.transactions[0].txid(),
            vout: 0,
        }
    }

    /// The value the node reports for a coin: the lie if there is one.
    fn listed_value(&self, outpoint: &OutPoint, coin: &Coin) -> u64 {
        self.lies
            .utxo_values
            .get(outpoint)
            .copied()
            .unwrap_or(coin.output.value.to_base_units())
    }

    fn add_outputs(&mut self, tx: &Transaction, height: u64) {
        let txid = tx.txid();
        self.transactions.insert(txid, tx.clone());
        for (vout, output) in tx.outputs.iter().enumerate() {
            let outpoint = OutPoint {
                txid,
                vout: vout as u32,
            };
            let coin = Coin {
                output: *output,
                height: height.into(),
                coinbase: tx.is_coinbase(),
            };
            self.utxos.insert(outpoint, coin);
            self.outputs.insert(outpoint, coin);
        }
    }

    fn hrp(&self) -> String {
        self.network.params.address_hrp.clone()
    }

    /// Unspent outputs paying `hash`.
    pub fn utxos_of(&self, hash: PubkeyHash) -> Vec<(OutPoint, Coin)> {
        let mut list: Vec<_> = self
            .utxos
            .iter()
            .filter(|(_, c)| c.output.pubkey_hash == hash)
            .map(|(o, c)| (*o, *c))
            .collect();
        list.sort_by_key(|(o, _)| *o);
        list
    }

    pub fn balance_of(&self, hash: PubkeyHash) -> u64 {
        self.utxos_of(hash)
            .iter()
            .map(|(_, c)| c.output.value.to_base_units())
            .sum()
    }

    /// Transactions touching `hash`, newest first.
    fn history_of(&self, hash: PubkeyHash) -> Vec<&(Transaction, u64, Amount)> {
        self.mined
            .iter()
            .rev()
            .filter(|(tx, _, _)| {
                tx.outputs.iter().any(|o| o.pubkey_hash == hash)
                    || tx.inputs.iter().any(|i| i.pubkey.pubkey_hash() == hash)
            })
            .collect()
    }

    fn is_spendable(&self, coin: &Coin) -> bool {
        !coin.coinbase
            || coin
                .height
                .saturating_add(self.network.params.coinbase_maturity)
                <= (self.height + 1).into()
    }

    /// Validates and mines a posted transaction.
    fn accept(&mut self, tx: Transaction) -> Result<Txid, ApiError> {
        let bad = |code: &'static str, message: String| {
            ApiError::new(StatusCode::BAD_REQUEST, code, message)
        };
        let txid = tx.txid();
        if self.mined.iter().any(|(t, _, _)| t.txid() == txid) {
            return Ok(txid);
        }
        let next = self.height + 1;
        let spend = check_transaction(
            &tx,
            &self.utxos,
            next.into(),
            &self.network.params,
            &self.network.genesis_hash,
        )
        .map_err(|e| bad(e.code(), e.to_string()))?;
        let min_fee = MIN_FEE_RATE * tx.size() as u64;
        if spend.fee.to_base_units() < min_fee {
            return Err(bad(
                "fee-too-low",
                format!("fee {} is below the minimum {min_fee}", spend.fee),
            ));
        }
        for input in &tx.inputs {
            self.utxos.remove(&input.prev);
        }
        self.height = next;
        self.add_outputs(&tx, next);
        self.mined.push((tx, next, spend.fee));
        Ok(txid)
    }
}

/// A running fake node; stops when dropped.
pub struct FakeNode {
    url: String,
    ledger: Arc<Mutex<Ledger>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeNode {
    /// Starts a node on 127.0.0.1:0 serving the devnet with its premine unspent.
    pub fn start() -> FakeNode {
        FakeNode::start_with(Network::devnet())
    }

    pub fn start_with(network: Network) -> FakeNode {
        let ledger = Arc::new(Mutex::new(Ledger::new(network)));
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let shared = Arc::clone(&ledger);
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("test runtime starts");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind 127.0.0.1:0");
                addr_tx
                    .send(listener.local_addr().expect("bound address"))
                    .expect("test thread waits for the address");
                let handler = move |req: Request, _remote: SocketAddr| {
                    let ledger = Arc::clone(&shared);
                    async move {
                        route(req, &ledger)
                            .await
                            .unwrap_or_else(|e| e.to_response())
                    }
                };
                ferro::http::server::run(listener, handler, ServerLimits::default(), async {
                    let _ = stop_rx.await;
                })
                .await;
            });
        });
        let addr = addr_rx.recv().expect("fake node reports its address");
        FakeNode {
            url: format!("http://{addr}"),
            ledger,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Read access to the ledger for assertions.
    pub fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.ledger.lock().expect("ledger lock")
    }

    /// Txids of the accepted transactions, oldest first.
    pub fn accepted_txids(&self) -> Vec<Txid> {
        self.ledger()
            .mined
            .iter()
            .map(|(t, _, _)| t.txid())
            .collect()
    }
}

impl Drop for FakeNode {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn parse_address(text: &str, hrp: &str) -> Result<Address, ApiError> {
    Address::parse(text, hrp).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ferro::error::ErrorCode::code(&e),
            e.to_string(),
        )
    })
}

async fn route(req: Request, ledger: &Mutex<Ledger>) -> Result<Response, ApiError> {
    let method = req.method().clone();
    let uri = req.uri().clone();
    let path = req.uri().path().to_string();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    if method == hyper::Method::POST && path == "/transactions" {
        let body: TransactionJson = request::read_json(req, 1 << 20).await?;
        let mut l = ledger.lock().expect("ledger lock");
        let tx = body
            .to_transaction(&l.hrp())
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.code(), e.to_string()))?;
        let txid = l.accept(tx)?;
        return Ok(response::ok_json(
            &serde_json::json!({"txid": txid.to_hex(), "status": "accepted"}),
        ));
    }
    if method != hyper::Method::GET {
        return Err(ApiError::not_found(format!("no route {method} {path}")));
    }
    let mut l = ledger.lock().expect("ledger lock");
    let hrp = l.hrp();
    match segments.as_slice() {
        ["info"] => Ok(response::ok_json(&serde_json::json!({
            "name": l.network.params.name,
            "genesis_hash": l.network.genesis_hash.to_hex(),
            "address_hrp": hrp,
            "height": l.height,
        }))),
        ["fees"] => Ok(response::ok_json(&serde_json::json!({
            "min_fee_rate": l.lies.fee_rate.unwrap_or(MIN_FEE_RATE),
            "recommended_fee_rate": l.lies.fee_rate.unwrap_or(RECOMMENDED_FEE_RATE),
        }))),
        ["addresses", a] => {
            let hash = parse_address(a, &hrp)?.pubkey_hash();
            let history = l.history_of(hash);
            // Like a real index: an address never seen on chain is unknown.
            if history.is_empty() && l.utxos_of(hash).is_empty() {
                return Err(ApiError::not_found(format!("address {a} has no record")));
            }
            let received: u64 = l
                .outputs
                .values()
                .filter(|c| c.output.pubkey_hash == hash)
                .map(|c| c.output.value.to_base_units())
                .sum();
            let balance = if l.lies.balance_follows_listing {
                l.utxos_of(hash)
                    .iter()
                    .map(|(o, c)| l.listed_value(o, c))
                    .sum()
            } else {
                l.balance_of(hash)
            };
            Ok(response::ok_json(&serde_json::json!({
                "balance": balance,
                "received": received,
                "sent": received - balance,
                "tx_count": history.len().max(1),
                "utxo_count": l.utxos_of(hash).len(),
                "unconfirmed_balance": 0,
            })))
        }
        ["addresses", a, "utxos"] => {
            let hash = parse_address(a, &hrp)?.pubkey_hash();
            // Paged like the real node: limit (default 1000, max 5000), after=TXID:VOUT,
            // the tip and the next cursor in headers.
            let query = ferro::http::Query::from_uri(&uri)?;
            let limit = query.limit("limit", 1_000, 5_000)?;
            let after = match query.get("after")? {
                Some(text) => {
                    let (txid, vout) = text
                        .split_once(':')
                        .ok_or_else(|| ApiError::malformed("after must be TXID:VOUT"))?;
                    Some(OutPoint {
                        txid: Txid::from_hex(txid)
                            .map_err(|e| ApiError::malformed(e.to_string()))?,
                        vout: vout.parse().map_err(|_| ApiError::malformed("bad vout"))?,
                    })
                }
                None => None,
            };
            let all: Vec<_> = l
                .utxos_of(hash)
                .into_iter()
                .filter(|(o, _)| after.is_none_or(|a| *o > a))
                .collect();
            let more = all.len() > limit;
            let page = &all[..all.len().min(limit)];
            let list: Vec<_> = page
                .iter()
                .map(|(o, c)| {
                    serde_json::json!({
                        "txid": o.txid.to_hex(), "vout": o.vout,
                        "value": l.listed_value(o, c), "height": c.height.get(),
                        "coinbase": c.coinbase, "spendable": l.is_spendable(c),
                    })
                })
                .collect();
            let served = l.utxo_pages_served;
            l.utxo_pages_served += 1;
            let tip = if l.lies.moving_tip {
                format!("{:064x}", served)
            } else {
                format!("{:064x}", l.height)
            };
            let mut response = response::ok_json(&list);
            let headers = response.headers_mut();
            headers.insert(
                "ferro-tip-hash",
                hyper::header::HeaderValue::from_str(&tip).expect("hex is a valid header"),
            );
            if let (true, Some((o, _))) = (more, page.last()) {
                headers.insert(
                    "ferro-next-after",
                    hyper::header::HeaderValue::from_str(&format!("{}:{}", o.txid, o.vout))
                        .expect("hex is a valid header"),
                );
            }
            Ok(response)
        }
        ["transactions", txid] => {
            let txid = Txid::from_hex(txid).map_err(|e| ApiError::malformed(e.to_string()))?;
            let tx = l
                .transactions
                .get(&txid)
                .ok_or_else(|| ApiError::not_found("no such transaction"))?;
            let mut v = serde_json::to_value(TransactionJson::from_transaction(tx, &hrp, None))
                .expect("transaction json serializes");
            if l.lies.transactions_follow_listing {
                for vout in 0..tx.outputs.len() {
                    let outpoint = OutPoint {
                        txid,
                        vout: vout as u32,
                    };
                    if let Some(lie) = l.lies.utxo_values.get(&outpoint) {
                        v["outputs"][vout]["value"] = (*lie).into();
                    }
                }
            }
            Ok(response::ok_json(&v))
        }
        ["addresses", a, "transactions"] => {
            let hash = parse_address(a, &hrp)?.pubkey_hash();
            let list: Vec<_> = l
                .history_of(hash)
                .into_iter()
                .map(|(tx, height, fee)| {
                    let mut v = serde_json::to_value(TransactionJson::from_transaction(
                        tx,
                        &hrp,
                        Some(*fee),
                    ))
                    .expect("transaction json serializes");
                    v["status"] = serde_json::json!({"confirmed": true, "block_height": height});
                    v
                })
                .collect();
            Ok(response::ok_json(&list))
        }
        ["outputs", txid, vout] => {
            let outpoint = OutPoint {
                txid: Txid::from_hex(txid).map_err(|e| ApiError::malformed(e.to_string()))?,
                vout: vout
                    .parse()
                    .map_err(|_| ApiError::malformed("vout is not a number"))?,
            };
            let coin = l
                .outputs
                .get(&outpoint)
                .ok_or_else(|| ApiError::not_found("no such output"))?;
            Ok(response::ok_json(&serde_json::json!({
                "value": coin.output.value.to_base_units(),
                "address": address_string(&coin.output.pubkey_hash, &hrp),
                "height": coin.height.get(),
                "coinbase": coin.coinbase,
                "spent": !l.utxos.contains_key(&outpoint),
            })))
        }
        _ => Err(ApiError::not_found(format!("no route GET {path}"))),
    }
}
