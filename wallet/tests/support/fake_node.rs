//! An in-process stand-in for the full node: the endpoints the wallet uses (API.md),
//! over a real UTXO map, on 127.0.0.1:0, as an axum router answering with the API's own
//! types ([`ferro::wire`], [`ferro::json`]) through the node's accept loop.
//!
//! Posted transactions go through `ferro::consensus::check_transaction`, so a wrong
//! signature, sighash, key or amount really fails with the node's error code. An accepted
//! transaction is mined at once into the next block (no mempool), which keeps balances
//! simple to assert. The tests only use [`FakeNode::start`], [`FakeNode::url`] and the
//! read accessors.

use axum::extract::State;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use ferro::consensus::{check_transaction, subsidy, Coin, Network};
use ferro::error::Code;
use ferro::http::{page_size, ApiError, ApiPath, ApiQuery, JsonBody, ServerLimits};
use ferro::json::{address_string, TransactionJson, TxStatusJson};
use ferro::primitives::{Address, Amount, OutPoint, PubkeyHash, Transaction, Txid};
use ferro::wire::{
    AddressSummary, Fees, Info, OutputView, RichEntry, Spent, TxSubmitted, Utxo, UtxoQuery,
    NEXT_AFTER_HEADER, TIP_HASH_HEADER,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio_util::sync::CancellationToken;

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
        )?;
        let min_fee = MIN_FEE_RATE * tx.size() as u64;
        if spend.fee.to_base_units() < min_fee {
            return Err(ApiError::new(
                Code::FeeTooLow,
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

    /// The hash the fake reports for the block at `height` (it keeps no blocks).
    fn block_hash(height: u64) -> String {
        format!("{height:064x}")
    }

    /// `GET /info`: the network, the tip and totals over the ledger.
    fn info(&self) -> Info {
        let params = &self.network.params;
        let mut info = Info::bare(
            &params.name,
            &self.network.genesis_hash.to_hex(),
            self.height,
        );
        info.address_hrp = self.hrp();
        info.best_hash = Ledger::block_hash(self.height);
        info.chain_work = format!("{:064x}", self.height + 1);
        info.target = params.pow_limit.to_hex();
        info.block_time = params.target_block_time;
        info.block_reward = subsidy(params, (self.height + 1).into()).to_base_units();
        info.total_transactions = self.transactions.len() as u64;
        let mut balances: HashMap<PubkeyHash, u64> = HashMap::new();
        for coin in self.outputs.values() {
            balances.entry(coin.output.pubkey_hash).or_default();
        }
        info.total_addresses = balances.len() as u64;
        for coin in self.utxos.values() {
            *balances.entry(coin.output.pubkey_hash).or_default() +=
                coin.output.value.to_base_units();
        }
        info.circulating_supply = balances.values().sum();
        let mut rich: Vec<_> = balances.into_iter().filter(|(_, b)| *b > 0).collect();
        rich.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        info.rich_list = rich
            .into_iter()
            .take(10)
            .map(|(hash, balance)| RichEntry {
                address: address_string(&hash, &info.address_hrp),
                balance,
            })
            .collect();
        info.version = env!("CARGO_PKG_VERSION").to_owned();
        info
    }

    /// Where a transaction is: every transaction the fake knows is confirmed, at the
    /// height of its outputs.
    fn status(&self, txid: Txid) -> Option<TxStatusJson> {
        let height = self.outputs.get(&OutPoint { txid, vout: 0 })?.height.get();
        Some(TxStatusJson {
            confirmed: true,
            block_height: Some(height),
            block_hash: Some(Ledger::block_hash(height)),
            confirmations: Some(self.height.saturating_sub(height) + 1),
        })
    }

    /// The mined transaction spending `outpoint` and its height.
    fn spender(&self, outpoint: &OutPoint) -> Option<(Txid, u64)> {
        self.mined
            .iter()
            .find(|(tx, _, _)| tx.inputs.iter().any(|i| i.prev == *outpoint))
            .map(|(tx, height, _)| (tx.txid(), *height))
    }
}

/// A running fake node; stops when dropped.
pub struct FakeNode {
    url: String,
    ledger: Arc<Mutex<Ledger>>,
    stop: CancellationToken,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeNode {
    /// Starts a node on 127.0.0.1:0 serving the devnet with its premine unspent.
    pub fn start() -> FakeNode {
        FakeNode::start_with(Network::devnet())
    }

    pub fn start_with(network: Network) -> FakeNode {
        let ledger = Arc::new(Mutex::new(Ledger::new(network)));
        let stop = CancellationToken::new();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let app = router(Arc::clone(&ledger));
        let shutdown = stop.clone();
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
                ferro::http::server::serve(listener, app, ServerLimits::default(), None, shutdown)
                    .await;
            });
        });
        let addr = addr_rx.recv().expect("fake node reports its address");
        FakeNode {
            url: format!("http://{addr}"),
            ledger,
            stop,
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Read access to the ledger for assertions.
    pub fn ledger(&self) -> MutexGuard<'_, Ledger> {
        lock(&self.ledger)
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
        self.stop.cancel();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn lock(ledger: &Mutex<Ledger>) -> MutexGuard<'_, Ledger> {
    ledger.lock().expect("ledger lock")
}

type Shared = State<Arc<Mutex<Ledger>>>;

/// The endpoints the wallet uses; anything else is `not-found`.
fn router(ledger: Arc<Mutex<Ledger>>) -> Router {
    Router::new()
        .route("/info", get(info))
        .route("/fees", get(fees))
        .route("/addresses/{address}", get(address))
        .route("/addresses/{address}/utxos", get(address_utxos))
        .route("/addresses/{address}/transactions", get(address_history))
        .route("/transactions", post(submit))
        .route("/transactions/{txid}", get(transaction))
        .route("/outputs/{txid}/{vout}", get(output))
        .fallback(ferro::api::not_found)
        .with_state(ledger)
}

fn parse_txid(text: &str) -> Result<Txid, ApiError> {
    Txid::from_hex(text).map_err(|e| ApiError::malformed(format!("txid: {e}")))
}

/// `after=TXID:VOUT`.
fn parse_outpoint(text: &str) -> Result<OutPoint, ApiError> {
    let (txid, vout) = text
        .split_once(':')
        .ok_or_else(|| ApiError::malformed("after must be TXID:VOUT"))?;
    Ok(OutPoint {
        txid: parse_txid(txid)?,
        vout: vout.parse().map_err(|_| ApiError::malformed("bad vout"))?,
    })
}

async fn info(State(ledger): Shared) -> Json<Info> {
    Json(lock(&ledger).info())
}

async fn fees(State(ledger): Shared) -> Json<Fees> {
    let l = lock(&ledger);
    Json(Fees {
        min_fee_rate: l.lies.fee_rate.unwrap_or(MIN_FEE_RATE),
        recommended_fee_rate: l.lies.fee_rate.unwrap_or(RECOMMENDED_FEE_RATE),
    })
}

async fn address(
    State(ledger): Shared,
    ApiPath(text): ApiPath<String>,
) -> Result<Json<AddressSummary>, ApiError> {
    let l = lock(&ledger);
    let hrp = l.hrp();
    let hash = Address::parse(&text, &hrp)?.pubkey_hash();
    let history = l.history_of(hash);
    let utxos = l.utxos_of(hash);
    // Like a real index: an address never seen on chain is unknown.
    if history.is_empty() && utxos.is_empty() {
        return Err(ApiError::not_found(format!("address {text} has no record")));
    }
    let received: u64 = l
        .outputs
        .values()
        .filter(|c| c.output.pubkey_hash == hash)
        .map(|c| c.output.value.to_base_units())
        .sum();
    let balance = if l.lies.balance_follows_listing {
        utxos.iter().map(|(o, c)| l.listed_value(o, c)).sum()
    } else {
        l.balance_of(hash)
    };
    Ok(Json(AddressSummary {
        address: address_string(&hash, &hrp),
        balance,
        received,
        sent: received.saturating_sub(balance),
        tx_count: history.len().max(1) as u64,
        utxo_count: utxos.len() as u64,
        unconfirmed_balance: 0,
    }))
}

/// Paged like the real node: limit (default 1000, max 5000), `after=TXID:VOUT`, the tip
/// and the next cursor in headers.
async fn address_utxos(
    State(ledger): Shared,
    ApiPath(text): ApiPath<String>,
    ApiQuery(query): ApiQuery<UtxoQuery>,
) -> Result<Response, ApiError> {
    let limit = page_size(query.limit, 1_000, 5_000)?;
    let after = query.after.as_deref().map(parse_outpoint).transpose()?;
    let mut l = lock(&ledger);
    let hash = Address::parse(&text, &l.hrp())?.pubkey_hash();
    let all: Vec<_> = l
        .utxos_of(hash)
        .into_iter()
        .filter(|(o, _)| after.is_none_or(|a| *o > a))
        .collect();
    let more = all.len() > limit;
    let page = &all[..all.len().min(limit)];
    let list: Vec<Utxo> = page
        .iter()
        .map(|(o, c)| Utxo {
            txid: o.txid.to_hex(),
            vout: o.vout,
            value: l.listed_value(o, c),
            height: c.height.get(),
            coinbase: c.coinbase,
            spendable: l.is_spendable(c),
        })
        .collect();
    let served = l.utxo_pages_served;
    l.utxo_pages_served += 1;
    let tip = if l.lies.moving_tip {
        Ledger::block_hash(served as u64)
    } else {
        Ledger::block_hash(l.height)
    };
    let mut response = Json(list).into_response();
    let headers = response.headers_mut();
    headers.insert(
        TIP_HASH_HEADER,
        HeaderValue::from_str(&tip).expect("hex is a valid header"),
    );
    if let (true, Some((o, _))) = (more, page.last()) {
        headers.insert(
            NEXT_AFTER_HEADER,
            HeaderValue::from_str(&format!("{}:{}", o.txid, o.vout))
                .expect("hex is a valid header"),
        );
    }
    Ok(response)
}

async fn transaction(
    State(ledger): Shared,
    ApiPath(txid): ApiPath<String>,
) -> Result<Json<TransactionJson>, ApiError> {
    let txid = parse_txid(&txid)?;
    let l = lock(&ledger);
    let tx = l
        .transactions
        .get(&txid)
        .ok_or_else(|| ApiError::not_found(format!("no transaction {txid}")))?;
    let mut view = TransactionJson::from_transaction(tx, &l.hrp(), None);
    view.status = l.status(txid);
    if l.lies.transactions_follow_listing {
        for (vout, output) in view.outputs.iter_mut().enumerate() {
            let outpoint = OutPoint {
                txid,
                vout: vout as u32,
            };
            if let Some(lie) = l.lies.utxo_values.get(&outpoint) {
                output.value = *lie;
            }
        }
    }
    Ok(Json(view))
}

/// The address's transactions, newest first, each with its fee and status.
async fn address_history(
    State(ledger): Shared,
    ApiPath(text): ApiPath<String>,
) -> Result<Json<Vec<TransactionJson>>, ApiError> {
    let l = lock(&ledger);
    let hrp = l.hrp();
    let hash = Address::parse(&text, &hrp)?.pubkey_hash();
    let list = l
        .history_of(hash)
        .into_iter()
        .map(|(tx, _, fee)| {
            let mut view = TransactionJson::from_transaction(tx, &hrp, Some(*fee));
            view.status = l.status(tx.txid());
            view
        })
        .collect();
    Ok(Json(list))
}

async fn output(
    State(ledger): Shared,
    ApiPath((txid, vout)): ApiPath<(String, u32)>,
) -> Result<Json<OutputView>, ApiError> {
    let outpoint = OutPoint {
        txid: parse_txid(&txid)?,
        vout,
    };
    let l = lock(&ledger);
    let coin = l
        .outputs
        .get(&outpoint)
        .ok_or_else(|| ApiError::not_found(format!("no output {txid}:{vout}")))?;
    let spent = match l.spender(&outpoint) {
        Some((by, height)) => Spent::Confirmed {
            txid: by.to_hex(),
            height,
        },
        None => Spent::Unspent(false),
    };
    Ok(Json(OutputView {
        txid: outpoint.txid.to_hex(),
        vout,
        value: coin.output.value.to_base_units(),
        address: address_string(&coin.output.pubkey_hash, &l.hrp()),
        height: Some(coin.height.get()),
        coinbase: coin.coinbase,
        spent,
    }))
}

/// Validates and mines a posted transaction.
async fn submit(
    State(ledger): Shared,
    JsonBody(body): JsonBody<TransactionJson>,
) -> Result<Json<TxSubmitted>, ApiError> {
    let mut l = lock(&ledger);
    let tx = body.to_transaction(&l.hrp())?;
    let txid = l.accept(tx)?;
    Ok(Json(TxSubmitted {
        txid: txid.to_hex(),
        status: "accepted".to_owned(),
    }))
}
