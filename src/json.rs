//! JSON forms of transactions and blocks (API.md "JSON shapes").
//!
//! Conversion is strict: unknown fields, bad hex, floats or negative amounts are
//! `malformed`; an address of another network is `wrong-network`; a `txid` or `hash`
//! that is present must match what the node computes. `size`, `fee`, `reward`, `fees` and
//! `transaction_count` are computed by the node and ignored on input.

use crate::error::{Code, ErrorCode};
use crate::primitives::hash::HexError;
use crate::primitives::{
    Address, AddressError, Amount, Block, BlockHash, Hash256, Header, Height, OutPoint, PubkeyHash,
    PublicKey, Signature, Target, Transaction, TxIn, TxOut, Txid,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Why a JSON document is not a valid transaction or block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    #[error("malformed: {0}")]
    Malformed(String),
    #[error(transparent)]
    WrongNetwork(AddressError),
    #[error("output value {0} is above MAX_MONEY")]
    ValueOutOfRange(u64),
}

impl ErrorCode for JsonError {
    fn code(&self) -> Code {
        match self {
            JsonError::Malformed(_) => Code::Malformed,
            JsonError::WrongNetwork(_) => Code::WrongNetwork,
            JsonError::ValueOutOfRange(_) => Code::ValueOutOfRange,
        }
    }
}

impl From<HexError> for JsonError {
    fn from(e: HexError) -> JsonError {
        JsonError::Malformed(e.to_string())
    }
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct InputJson {
    pub txid: String,
    pub vout: u32,
    pub public_key: String,
    pub signature: String,
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct OutputJson {
    pub value: u64,
    pub address: String,
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TransactionJson {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub txid: Option<String>,
    pub version: u32,
    pub inputs: Vec<InputJson>,
    pub outputs: Vec<OutputJson>,
    pub lock_time: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fee: Option<u64>,
    /// Where the transaction is, in `GET /transactions/{txid}` and address history.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<TxStatusJson>,
}

/// Whether a transaction is confirmed and where (computed by the node, ignored on input).
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TxStatusJson {
    pub confirmed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_height: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmations: Option<u64>,
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HeaderJson {
    pub version: u32,
    pub height: u64,
    pub prev_hash: String,
    pub merkle_root: String,
    pub timestamp: u64,
    pub target: String,
    pub nonce: u64,
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BlockJson {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    pub header: HeaderJson,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reward: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fees: Option<u64>,
    /// In `GET /blocks/{id}`: confirmations (0 off the active chain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmations: Option<u64>,
    /// In `GET /blocks/{id}`: whether the block is on the active chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_active_chain: Option<bool>,
    pub transactions: Vec<TransactionJson>,
}

/// Parses JSON text into `T`, mapping every serde error to `malformed`.
pub fn parse<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, JsonError> {
    serde_json::from_slice(bytes).map_err(|e| JsonError::Malformed(e.to_string()))
}

fn parse_address(text: &str, hrp: &str) -> Result<Address, JsonError> {
    Address::parse(text, hrp).map_err(|e| match e {
        AddressError::WrongNetwork { .. } => JsonError::WrongNetwork(e),
        other => JsonError::Malformed(other.to_string()),
    })
}

/// The address text of a pubkey hash on the network with `hrp`.
pub fn address_string(pubkey_hash: &PubkeyHash, hrp: &str) -> String {
    match Address::new(hrp, *pubkey_hash) {
        Ok(a) => a.to_string(),
        // Only reachable with an hrp that NetworkParams::validate refuses.
        Err(_) => pubkey_hash.to_hex(),
    }
}

impl TransactionJson {
    /// The JSON form; `fee` is given by the caller, who knows the spent outputs.
    pub fn from_transaction(tx: &Transaction, hrp: &str, fee: Option<Amount>) -> TransactionJson {
        TransactionJson {
            txid: Some(tx.txid().to_hex()),
            version: tx.version,
            inputs: tx
                .inputs
                .iter()
                .map(|i| InputJson {
                    txid: i.prev.txid.to_hex(),
                    vout: i.prev.vout,
                    public_key: i.pubkey.to_hex(),
                    signature: i.signature.to_hex(),
                })
                .collect(),
            outputs: tx
                .outputs
                .iter()
                .map(|o| OutputJson {
                    value: o.value.to_base_units(),
                    address: address_string(&o.pubkey_hash, hrp),
                })
                .collect(),
            lock_time: tx.lock_time,
            size: Some(tx.size() as u64),
            fee: if tx.is_coinbase() {
                None
            } else {
                fee.map(Amount::to_base_units)
            },
            status: None,
        }
    }

    /// The transaction this JSON describes, checked against a present `txid`.
    pub fn to_transaction(&self, hrp: &str) -> Result<Transaction, JsonError> {
        let mut inputs = Vec::with_capacity(self.inputs.len());
        for i in &self.inputs {
            inputs.push(TxIn {
                prev: OutPoint {
                    txid: Txid::from_hex(&i.txid)?,
                    vout: i.vout,
                },
                pubkey: PublicKey::from_hex(&i.public_key)?,
                signature: Signature::from_hex(&i.signature)?,
            });
        }
        let mut outputs = Vec::with_capacity(self.outputs.len());
        for o in &self.outputs {
            outputs.push(TxOut {
                value: Amount::from_base_units(o.value)
                    .map_err(|_| JsonError::ValueOutOfRange(o.value))?,
                pubkey_hash: parse_address(&o.address, hrp)?.pubkey_hash(),
            });
        }
        let tx = Transaction {
            version: self.version,
            inputs,
            outputs,
            lock_time: self.lock_time,
        };
        if let Some(claimed) = &self.txid {
            let actual = tx.txid();
            if Txid::from_hex(claimed)? != actual {
                return Err(JsonError::Malformed(format!(
                    "txid {claimed} does not match the transaction, whose txid is {actual}"
                )));
            }
        }
        Ok(tx)
    }
}

impl HeaderJson {
    pub fn from_header(h: &Header) -> HeaderJson {
        HeaderJson {
            version: h.version,
            height: h.height.get(),
            prev_hash: h.prev_hash.to_hex(),
            merkle_root: h.merkle_root.to_hex(),
            timestamp: h.timestamp,
            target: h.target.to_hex(),
            nonce: h.nonce,
        }
    }

    pub fn to_header(&self) -> Result<Header, JsonError> {
        Ok(Header {
            version: self.version,
            height: Height(self.height),
            prev_hash: BlockHash::from_hex(&self.prev_hash)?,
            merkle_root: Hash256::from_hex(&self.merkle_root)?,
            timestamp: self.timestamp,
            target: Target::from_hex(&self.target)?,
            nonce: self.nonce,
        })
    }
}

impl BlockJson {
    /// The JSON form. `tx_fees`, when known, holds the fee of each non-coinbase
    /// transaction in block order.
    pub fn from_block(block: &Block, hrp: &str, tx_fees: Option<&[Amount]>) -> BlockJson {
        let reward = block
            .transactions
            .first()
            .filter(|t| t.is_coinbase())
            .and_then(Transaction::output_sum);
        let mut fee_iter = tx_fees.map(|f| f.iter());
        let transactions = block
            .transactions
            .iter()
            .map(|tx| {
                let fee = if tx.is_coinbase() {
                    None
                } else {
                    fee_iter.as_mut().and_then(|it| it.next().copied())
                };
                TransactionJson::from_transaction(tx, hrp, fee)
            })
            .collect();
        BlockJson {
            hash: Some(block.hash().to_hex()),
            header: HeaderJson::from_header(&block.header),
            transaction_count: Some(block.transactions.len() as u64),
            size: Some(block.size() as u64),
            reward: reward.map(Amount::to_base_units),
            fees: tx_fees
                .and_then(|f| Amount::checked_sum(f.iter().copied()))
                .map(Amount::to_base_units),
            confirmations: None,
            in_active_chain: None,
            transactions,
        }
    }

    /// The block this JSON describes, checked against a present `hash` and txids.
    pub fn to_block(&self, hrp: &str) -> Result<Block, JsonError> {
        let header = self.header.to_header()?;
        let transactions = self
            .transactions
            .iter()
            .map(|t| t.to_transaction(hrp))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(claimed) = &self.hash {
            let actual = header.hash();
            if BlockHash::from_hex(claimed)? != actual {
                return Err(JsonError::Malformed(format!(
                    "hash {claimed} does not match the header, whose hash is {actual}"
                )));
            }
        }
        Ok(Block {
            header,
            transactions,
        })
    }
}
