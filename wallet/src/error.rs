//! The wallet's error type: one variant per failure a user can act on.
//!
//! Every variant has a stable kebab-case [`WalletError::code`] (printed by `--json`) and a
//! lower-case message that says what was expected or what to do. All of them exit with
//! code 1; usage errors (exit 2) are clap's and never reach this type.

use ferro::primitives::{AddressError, Amount};
use std::path::PathBuf;

/// A failure of a wallet command.
#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    #[error("wallet file {path} already exists; refusing to overwrite it (move it away or pick another file with --wallet / WALLET_FILE)")]
    WalletExists { path: PathBuf },

    #[error("no wallet file at {path}: create one with `wallet new` or `wallet restore`, or point --wallet / WALLET_FILE at an existing one")]
    NoWallet { path: PathBuf },

    #[error(
        "wrong password for wallet file {path} (or its key derivation parameters were altered)"
    )]
    WrongPassword { path: PathBuf },

    #[error("wallet file {path} was altered: its address counters or parameters do not match its authentication code; restore it from a backup, or from the mnemonic with `wallet restore`")]
    AlteredWallet { path: PathBuf },

    #[error("wallet file {path} is corrupted: {reason}")]
    CorruptWallet { path: PathBuf, reason: String },

    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{0}")]
    Password(String),

    #[error("invalid mnemonic: {0}")]
    BadMnemonic(String),

    #[error("{0}")]
    BadAddress(AddressError),

    #[error("invalid amount: {0}")]
    BadAmount(String),

    #[error("insufficient funds: {available_coins} coins spendable, {needed_coins} needed ({amount_coins} to send + {fee_coins} fee at {fee_rate} base units/byte){pending}",
        available_coins = .available.to_coins_string(),
        needed_coins = .needed.to_coins_string(),
        amount_coins = .amount.to_coins_string(),
        fee_coins = .fee.to_coins_string(),
        pending = if .unspendable.is_zero() { String::new() } else {
            format!("; another {} coins are not spendable yet (immature or spent by a pending transaction)", .unspendable.to_coins_string())
        })]
    InsufficientFunds {
        available: Amount,
        needed: Amount,
        amount: Amount,
        fee: Amount,
        fee_rate: u64,
        unspendable: Amount,
    },

    #[error(
        "node {url} is unreachable: {reason} (start a node or point --node / WALLET_NODE at one)"
    )]
    NodeUnreachable { url: String, reason: String },

    #[error("invalid node url {url:?}: {reason} (expected http://host:port)")]
    BadNodeUrl { url: String, reason: String },

    #[error("node {url} is on another network: its genesis hash is {found}, the network file says {expected}")]
    NodeWrongNetwork {
        url: String,
        expected: String,
        found: String,
    },

    #[error("the node rejected the transaction ({code}): {message}")]
    Rejected { code: String, message: String },

    #[error("unexpected answer from the node: {0}")]
    NodeProtocol(String),

    #[error("the node at {url} gave inconsistent answers: {detail}; not signing (use a node you trust with --node / WALLET_NODE)")]
    NodeInconsistent { url: String, detail: String },

    #[error("{0}")]
    FeeTooHigh(String),

    #[error("cannot read network file {path}: {reason}")]
    BadNetworkFile { path: PathBuf, reason: String },

    #[error("{0}")]
    NotConfirmed(String),

    #[error("key derivation failed: {0}")]
    Key(String),

    #[error("{0}")]
    Invalid(String),
}

impl WalletError {
    /// A stable kebab-case code for scripts (`--json` prints it).
    pub fn code(&self) -> String {
        match self {
            WalletError::WalletExists { .. } => "wallet-exists".into(),
            WalletError::NoWallet { .. } => "no-wallet".into(),
            WalletError::WrongPassword { .. } => "wrong-password".into(),
            WalletError::CorruptWallet { .. } => "corrupt-wallet".into(),
            WalletError::AlteredWallet { .. } => "altered-wallet".into(),
            WalletError::Io { .. } => "io".into(),
            WalletError::Password(_) => "no-password".into(),
            WalletError::BadMnemonic(_) => "bad-mnemonic".into(),
            WalletError::BadAddress(AddressError::WrongNetwork { .. }) => "wrong-network".into(),
            WalletError::BadAddress(_) => "invalid-address".into(),
            WalletError::BadAmount(_) => "invalid-amount".into(),
            WalletError::InsufficientFunds { .. } => "insufficient-funds".into(),
            WalletError::NodeUnreachable { .. } => "node-unreachable".into(),
            WalletError::BadNodeUrl { .. } => "invalid-node-url".into(),
            WalletError::NodeWrongNetwork { .. } => "node-wrong-network".into(),
            WalletError::Rejected { .. } => "rejected".into(),
            WalletError::NodeProtocol(_) => "node-error".into(),
            WalletError::NodeInconsistent { .. } => "node-inconsistent".into(),
            WalletError::FeeTooHigh(_) => "fee-too-high".into(),
            WalletError::BadNetworkFile { .. } => "bad-network-file".into(),
            WalletError::NotConfirmed(_) => "not-confirmed".into(),
            WalletError::Key(_) => "key-derivation".into(),
            WalletError::Invalid(_) => "invalid".into(),
        }
    }

    /// The node's own error code when the node rejected a transaction.
    pub fn node_code(&self) -> Option<&str> {
        match self {
            WalletError::Rejected { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The process exit code: every wallet error is one the user can fix (DESIGN.md).
    pub fn exit_code(&self) -> u8 {
        1
    }
}

impl From<AddressError> for WalletError {
    fn from(e: AddressError) -> WalletError {
        WalletError::BadAddress(e)
    }
}
