//! The Ferro wallet: BIP39 keys in an encrypted file, transactions built and signed
//! locally and sent through a node's HTTP API.
//!
//! # Layout
//! - [`keys`]: BIP39 mnemonics and BIP32 derivation (`m/44'/1'/0'/{0,1}/i`), addresses.
//! - [`file`]: the wallet file: Argon2id + XChaCha20-Poly1305 encryption of the mnemonic,
//!   versioned JSON, atomic 0600 writes.
//! - [`select`]: fees, coin selection with change and dust handling, building and
//!   signing a transaction.
//! - [`guard`]: what is checked before signing: fee limits, and the node's coins against
//!   its balances and previous transactions.
//! - [`node`]: the typed client of the node endpoints the wallet uses.
//! - [`scan`]: finding the wallet's used addresses with a gap limit of 20.
//! - [`prompt`]: password, mnemonic and confirmation input.
//! - [`cli`]: the command line; [`commands`]: what each command does.
//! - [`error`]: [`WalletError`], one variant per failure, each with a stable code.

pub mod cli;
pub mod commands;
pub mod error;
pub mod file;
pub mod guard;
pub mod keys;
pub mod node;
pub mod prompt;
pub mod scan;
pub mod select;

pub use error::WalletError;
