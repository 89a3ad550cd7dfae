//! The node client: the few endpoints of API.md the wallet uses, typed with the API
//! contract itself ([`ferro::wire`] and [`ferro::json`]), so the wallet parses exactly
//! what the node serves.
//!
//! Built on [`ferro::http::HttpClient`]. Connection failures and timeouts become
//! [`WalletError::NodeUnreachable`]; a rejected transaction keeps the node's error code.
//! The views of [`ferro::wire`] ignore fields they do not know, since API.md allows
//! nodes to add fields; transaction bodies ([`TransactionJson`]) are parsed as strictly
//! as the node parses them.

use crate::error::WalletError;
use ferro::http::{ClientError, HttpClient};
use ferro::json::TransactionJson;
use ferro::primitives::{Address, Txid};
use ferro::wire::{
    AddressSummary, Fees, Info, OutputView, TxSubmitted, Utxo, NEXT_AFTER_HEADER, TIP_HASH_HEADER,
};
use serde::de::DeserializeOwned;
use std::time::Duration;

/// How long one request may take, connect to last byte.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// The hrp of the built-in devnet, used when a node's `/info` does not name one.
pub const DEVNET_HRP: &str = "fdev";

/// Coins asked for per page (the node's default page).
pub const UTXO_PAGE: usize = 1_000;

/// A node at a base URL such as `http://127.0.0.1:8000`. Cheap to clone.
#[derive(Clone, Debug)]
pub struct NodeClient {
    base: String,
    http: HttpClient,
}

/// The address hrp the node's `/info` names, or the devnet's when it names none.
pub fn hrp_of(info: &Info) -> &str {
    if info.address_hrp.is_empty() {
        DEVNET_HRP
    } else {
        &info.address_hrp
    }
}

/// What the node reports for an address it has never seen (its 404): all zeros.
fn unseen(address: &Address) -> AddressSummary {
    AddressSummary {
        address: address.to_string(),
        balance: 0,
        received: 0,
        sent: 0,
        tx_count: 0,
        utxo_count: 0,
        unconfirmed_balance: 0,
    }
}

/// Whether the address ever appeared on chain or in the mempool.
pub fn is_used(summary: &AddressSummary) -> bool {
    summary.tx_count > 0
        || summary.received > 0
        || summary.utxo_count > 0
        || summary.balance > 0
        || summary.unconfirmed_balance != 0
}

/// Height of the block holding a transaction of the history, `None` while in the
/// mempool.
pub fn confirmed_height(tx: &TransactionJson) -> Option<u64> {
    tx.status
        .as_ref()
        .and_then(|s| if s.confirmed { s.block_height } else { None })
}

/// One page of `GET /addresses/{a}/utxos`: the coins, the tip they were read at and the
/// `after` cursor of the next page (both from headers; `None` from a node that does not
/// page, whose one answer is then the whole list).
#[derive(Clone, Debug, Default)]
pub struct UtxoPage {
    pub utxos: Vec<Utxo>,
    pub tip_hash: Option<String>,
    pub next: Option<String>,
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

    pub async fn info(&self) -> Result<Info, WalletError> {
        self.get("/info").await
    }

    /// The address record; an address the node has never seen (404) is all zeros.
    pub async fn address(&self, address: &Address) -> Result<AddressSummary, WalletError> {
        Ok(self
            .get_found(&format!("/addresses/{address}"))
            .await?
            .unwrap_or_else(|| unseen(address)))
    }

    pub async fn utxos(&self, address: &Address) -> Result<Vec<Utxo>, WalletError> {
        Ok(self
            .get_found(&format!("/addresses/{address}/utxos"))
            .await?
            .unwrap_or_default())
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
            Err(e) if is_not_found(&e) => Ok(UtxoPage::default()),
            Err(e) => Err(self.map_error(e)),
        }
    }

    /// A transaction, confirmed or in the mempool.
    pub async fn transaction(&self, txid: &str) -> Result<TransactionJson, WalletError> {
        self.get(&format!("/transactions/{txid}")).await
    }

    /// The address's transactions, each with its `status`, newest first.
    pub async fn history(
        &self,
        address: &Address,
        limit: usize,
    ) -> Result<Vec<TransactionJson>, WalletError> {
        Ok(self
            .get_found(&format!("/addresses/{address}/transactions?limit={limit}"))
            .await?
            .unwrap_or_default())
    }

    pub async fn output(&self, txid: &str, vout: u32) -> Result<OutputView, WalletError> {
        self.get(&format!("/outputs/{txid}/{vout}")).await
    }

    pub async fn fees(&self) -> Result<Fees, WalletError> {
        self.get("/fees").await
    }

    /// Submits a transaction; a refusal keeps the node's error code.
    pub async fn submit(&self, tx: &TransactionJson) -> Result<TxSubmitted, WalletError> {
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

    /// `GET path`; `None` when the node answers 404 (it knows nothing of the thing).
    async fn get_found<T: DeserializeOwned>(&self, path: &str) -> Result<Option<T>, WalletError> {
        let url = format!("{}{path}", self.base);
        match self.http.get_json(&url, REQUEST_TIMEOUT).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if is_not_found(&e) => Ok(None),
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

fn is_not_found(e: &ClientError) -> bool {
    e.status().map(|s| s.as_u16()) == Some(404)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use ferro::json::TxStatusJson;

    #[test]
    fn an_info_naming_no_hrp_means_the_devnet() {
        let mut info = Info::bare("devnet", &"00".repeat(32), 0);
        assert_eq!(hrp_of(&info), DEVNET_HRP);
        info.address_hrp = "fmain".into();
        assert_eq!(hrp_of(&info), "fmain");
    }

    #[test]
    fn an_unseen_address_is_unused_and_any_activity_uses_it() {
        let address = Address::new(DEVNET_HRP, ferro::primitives::PubkeyHash([1; 20])).unwrap();
        let zero = unseen(&address);
        assert_eq!(zero.address, address.to_string());
        assert!(!is_used(&zero));
        let pending_spend = AddressSummary {
            unconfirmed_balance: -5,
            ..zero.clone()
        };
        assert!(is_used(&pending_spend));
        assert!(is_used(&AddressSummary {
            tx_count: 1,
            ..zero
        }));
    }

    #[test]
    fn only_a_confirmed_status_gives_a_height() {
        let mut tx = TransactionJson {
            txid: None,
            version: 1,
            inputs: Vec::new(),
            outputs: Vec::new(),
            lock_time: 0,
            size: None,
            fee: None,
            status: None,
        };
        assert_eq!(confirmed_height(&tx), None);
        let status = |confirmed, block_height| TxStatusJson {
            confirmed,
            block_height,
            block_hash: None,
            confirmations: None,
        };
        tx.status = Some(status(false, Some(7)));
        assert_eq!(confirmed_height(&tx), None);
        tx.status = Some(status(true, Some(7)));
        assert_eq!(confirmed_height(&tx), Some(7));
    }
}
