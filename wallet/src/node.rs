//! The node client: the few endpoints of API.md the wallet uses, typed.
//!
//! Built on [`ferro::http::HttpClient`]. Connection failures and timeouts become
//! [`WalletError::NodeUnreachable`]; a rejected transaction keeps the node's error code.
//! Answers are parsed leniently (unknown fields ignored), since API.md allows nodes to
//! add fields.

use crate::error::WalletError;
use ferro::http::{ClientError, HttpClient};
use ferro::json::TransactionJson;
use ferro::primitives::{Address, Txid};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::time::Duration;

/// How long one request may take, connect to last byte.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// The hrp of the built-in devnet, used when a node's `/info` does not name one.
pub const DEVNET_HRP: &str = "fdev";

/// A node at a base URL such as `http://127.0.0.1:8000`. Cheap to clone.
#[derive(Clone, Debug)]
pub struct NodeClient {
    base: String,
    http: HttpClient,
}

/// `GET /info`, the fields the wallet needs.
#[derive(Deserialize, Clone, Debug)]
pub struct NodeInfo {
    pub genesis_hash: String,
    #[serde(default)]
    pub address_hrp: Option<String>,
    #[serde(default)]
    pub height: Option<u64>,
}

impl NodeInfo {
    /// The node's address hrp, or the devnet's when the node does not say.
    pub fn hrp(&self) -> &str {
        self.address_hrp.as_deref().unwrap_or(DEVNET_HRP)
    }
}

/// `GET /addresses/{a}`.
#[derive(Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AddressSummary {
    #[serde(default)]
    pub balance: u64,
    #[serde(default)]
    pub received: u64,
    #[serde(default)]
    pub sent: u64,
    #[serde(default)]
    pub tx_count: u64,
    #[serde(default)]
    pub utxo_count: u64,
    /// The mempool's effect on the balance; negative while a spend is pending.
    #[serde(default)]
    pub unconfirmed_balance: i64,
}

impl AddressSummary {
    /// Whether the address ever appeared on chain or in the mempool.
    pub fn is_used(&self) -> bool {
        self.tx_count > 0
            || self.received > 0
            || self.utxo_count > 0
            || self.balance > 0
            || self.unconfirmed_balance != 0
    }
}

/// One entry of `GET /addresses/{a}/utxos`.
#[derive(Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct UtxoJson {
    pub txid: String,
    pub vout: u32,
    pub value: u64,
    #[serde(default)]
    pub height: Option<u64>,
    #[serde(default)]
    pub coinbase: bool,
    #[serde(default)]
    pub spendable: bool,
}

/// `GET /fees`.
#[derive(Deserialize, Clone, Copy, Debug)]
pub struct Fees {
    pub min_fee_rate: u64,
    pub recommended_fee_rate: u64,
}

/// `POST /transactions` success.
#[derive(Deserialize, Clone, Debug)]
pub struct Submitted {
    pub txid: String,
    pub status: String,
}

/// One entry of `GET /addresses/{a}/transactions`: a transaction in its JSON form plus
/// where it is. Only what the history view needs is read.
#[derive(Deserialize, Clone, Debug)]
pub struct HistoryEntry {
    pub txid: String,
    #[serde(default)]
    pub inputs: Vec<HistoryInput>,
    #[serde(default)]
    pub outputs: Vec<HistoryOutput>,
    #[serde(default)]
    pub fee: Option<u64>,
    /// `{"confirmed": true, "block_height", …}` or `{"confirmed": false}`, as in
    /// `GET /transactions/{txid}`.
    #[serde(default)]
    pub status: Option<TxStatus>,
    #[serde(default)]
    pub block_height: Option<u64>,
}

impl HistoryEntry {
    /// Height of the block holding it, `None` while in the mempool.
    pub fn height(&self) -> Option<u64> {
        self.status
            .as_ref()
            .and_then(|s| if s.confirmed { s.block_height } else { None })
            .or(self.block_height)
    }
}

#[derive(Deserialize, Clone, Debug)]
pub struct TxStatus {
    #[serde(default)]
    pub confirmed: bool,
    #[serde(default)]
    pub block_height: Option<u64>,
}

#[derive(Deserialize, Clone, Debug)]
pub struct HistoryInput {
    pub txid: String,
    pub vout: u32,
    #[serde(default)]
    pub public_key: String,
}

#[derive(Deserialize, Clone, Debug)]
pub struct HistoryOutput {
    pub value: u64,
    pub address: String,
}

/// One page of `GET /addresses/{a}/utxos`: the coins, the tip they were read at and the
/// `after` cursor of the next page (both from headers; `None` from a node that does not
/// page, whose one answer is then the whole list).
#[derive(Clone, Debug, Default)]
pub struct UtxoPage {
    pub utxos: Vec<UtxoJson>,
    pub tip_hash: Option<String>,
    pub next: Option<String>,
}

/// Header names of a paged answer (the node's `api::views` documents them).
pub const TIP_HASH_HEADER: &str = "ferro-tip-hash";
pub const NEXT_AFTER_HEADER: &str = "ferro-next-after";
/// Coins asked for per page (the node's default page).
pub const UTXO_PAGE: usize = 1_000;

/// `GET /transactions/{txid}`: its outputs are all the wallet reads.
#[derive(Deserialize, Clone, Debug)]
pub struct TransactionOutputs {
    #[serde(default)]
    pub outputs: Vec<HistoryOutput>,
}

/// `GET /outputs/{txid}/{vout}`, the value is all the wallet reads.
#[derive(Deserialize, Clone, Debug)]
pub struct OutputInfo {
    pub value: u64,
}

impl NodeClient {
    /// A client for the node at `url` (`http://host:port`, a trailing `/` is ignored).
    pub fn new(url: &str) -> Result<NodeClient, WalletError> {
        let base = url.trim_end_matches('/').to_string();
        if !base.starts_with("http://") || base.len() <= "http://".len() {
            return Err(WalletError::BadNodeUrl {
                url: url.into(),
                reason: "only http:// urls are supported".into(),
            });
        }
        Ok(NodeClient {
            base,
            http: HttpClient::new(),
        })
    }

    pub fn url(&self) -> &str {
        &self.base
    }

    pub async fn info(&self) -> Result<NodeInfo, WalletError> {
        self.get("/info").await
    }

    /// The address record; an address the node has never seen (404) is all zeros.
    pub async fn address(&self, address: &Address) -> Result<AddressSummary, WalletError> {
        self.get_or_default(&format!("/addresses/{address}")).await
    }

    pub async fn utxos(&self, address: &Address) -> Result<Vec<UtxoJson>, WalletError> {
        self.get_or_default(&format!("/addresses/{address}/utxos"))
            .await
    }

    /// One page of the address's coins, after `after` (`TXID:VOUT`).
    pub async fn utxos_page(
        &self,
        address: &Address,
        after: Option<&str>,
        limit: usize,
    ) -> Result<UtxoPage, WalletError> {
        let mut path = format!("/addresses/{address}/utxos?limit={limit}");
        if let Some(after) = after {
            path.push_str("&after=");
            path.push_str(after);
        }
        let url = format!("{}{path}", self.base);
        match self.http.get_json_with_headers(&url, REQUEST_TIMEOUT).await {
            Ok((utxos, headers)) => {
                let header = |name: &str| {
                    headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string)
                };
                Ok(UtxoPage {
                    utxos,
                    tip_hash: header(TIP_HASH_HEADER),
                    next: header(NEXT_AFTER_HEADER),
                })
            }
            Err(e) if e.status().map(|s| s.as_u16()) == Some(404) => Ok(UtxoPage::default()),
            Err(e) => Err(self.map_error(e)),
        }
    }

    /// A transaction's outputs, confirmed or in the mempool.
    pub async fn transaction_outputs(&self, txid: &str) -> Result<TransactionOutputs, WalletError> {
        self.get(&format!("/transactions/{txid}")).await
    }

    pub async fn history(
        &self,
        address: &Address,
        limit: usize,
    ) -> Result<Vec<HistoryEntry>, WalletError> {
        self.get_or_default(&format!("/addresses/{address}/transactions?limit={limit}"))
            .await
    }

    pub async fn output(&self, txid: &str, vout: u32) -> Result<OutputInfo, WalletError> {
        self.get(&format!("/outputs/{txid}/{vout}")).await
    }

    pub async fn fees(&self) -> Result<Fees, WalletError> {
        self.get("/fees").await
    }

    /// Submits a transaction; a refusal keeps the node's error code.
    pub async fn submit(&self, tx: &TransactionJson) -> Result<Submitted, WalletError> {
        let url = format!("{}/transactions", self.base);
        self.http
            .post_json(&url, tx, REQUEST_TIMEOUT)
            .await
            .map_err(|e| match e {
                ClientError::Status {
                    code: Some(code),
                    message,
                    ..
                } => WalletError::Rejected { code, message },
                other => self.map_error(other),
            })
    }

    /// Parses the txid a node answered with.
    pub fn parse_txid(text: &str) -> Result<Txid, WalletError> {
        Txid::from_hex(text)
            .map_err(|e| WalletError::NodeProtocol(format!("bad txid in the answer: {e}")))
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, WalletError> {
        let url = format!("{}{path}", self.base);
        self.http
            .get_json(&url, REQUEST_TIMEOUT)
            .await
            .map_err(|e| self.map_error(e))
    }

    async fn get_or_default<T: DeserializeOwned + Default>(
        &self,
        path: &str,
    ) -> Result<T, WalletError> {
        let url = format!("{}{path}", self.base);
        match self.http.get_json(&url, REQUEST_TIMEOUT).await {
            Ok(v) => Ok(v),
            Err(e) if e.status().map(|s| s.as_u16()) == Some(404) => Ok(T::default()),
            Err(e) => Err(self.map_error(e)),
        }
    }

    fn map_error(&self, e: ClientError) -> WalletError {
        match e {
            ClientError::Unreachable { reason, .. } => WalletError::NodeUnreachable {
                url: self.base.clone(),
                reason,
            },
            ClientError::Timeout { timeout, .. } => WalletError::NodeUnreachable {
                url: self.base.clone(),
                reason: format!("no answer within {} seconds", timeout.as_secs()),
            },
            ClientError::InvalidUrl { url, reason } => WalletError::BadNodeUrl { url, reason },
            other => WalletError::NodeProtocol(other.to_string()),
        }
    }
}
