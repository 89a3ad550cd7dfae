//! Consensus rules as pure functions (PROTOCOL.md sections 3-7).
//!
//! Nothing here reads a clock, a lock or a database: callers pass in the UTXOs being
//! spent, the parent's facts and the network parameters. Each rule has one error variant
//! whose [`ErrorCode`](crate::error::ErrorCode) is the API code.

pub mod merkle;
pub mod params;
pub mod pow;
pub mod validation;

pub use merkle::merkle_root;
pub use params::{GenesisError, Network, NetworkDefaults, NetworkParams, RULES_VERSION};
pub use pow::{median_time_past, next_target, subsidy, MTP_WINDOW};
pub use validation::{
    check_block, check_header, check_transaction, connect_block, BlockError, BlockUndo, Coin,
    ParentInfo, TxError, UtxoView,
};
