//! Value types of the ledger and their binary encoding (PROTOCOL.md sections 1-4).
//!
//! Everything here is parsed at the edge and trusted afterwards: an [`Amount`] never
//! exceeds `MAX_MONEY`, a [`Txid`] cannot be passed where a [`BlockHash`] is expected.

pub mod address;
pub mod amount;
pub mod block;
pub mod encoding;
pub mod hash;
pub mod height;
pub mod keys;
pub mod transaction;
pub mod u256;
pub mod verify;

pub use address::{Address, AddressError};
pub use amount::{Amount, AmountError, COIN, MAX_MONEY};
pub use block::{Block, Header, HEADER_SIZE};
pub use encoding::{Decode, DecodeError, Encode, Reader};
pub use hash::{hash160, sha256d, BlockHash, Hash256, PubkeyHash, Sighash, Txid};
pub use height::Height;
pub use keys::{PublicKey, SecretKey, Signature};
pub use transaction::{OutPoint, Transaction, TxIn, TxOut};
pub use u256::{Target, Work, U256};

#[cfg(test)]
pub(crate) mod proptests;
