//! Chain state: the active chain, side branches, the UTXO set and the explorer indexes,
//! kept in a [`ChainStore`] (redb on disk, or memory in tests).
//!
//! - [`store`]: the storage trait (tables, atomic batches) and the in-memory store.
//! - [`redb_store`]: the on-disk store.
//! - [`records`]: byte layouts of keys and records.
//! - [`index`]: what connecting or disconnecting a block writes.
//! - [`state`]: [`ChainState`], fork choice by work, reorgs, orphans, and the read side.
//! - [`sigcache`]: signatures already verified by the mempool.

pub mod disk_store;
#[cfg(feature = "store-comparison")]
pub mod fjall_store;
pub mod index;
pub mod pending;
pub mod records;
pub mod sigcache;
pub mod state;
pub mod store;

pub use disk_store::DiskStore;
pub use records::{AddressStats, HeaderEntry, Totals, TxLocation};
pub use state::{AcceptStatus, BlockAccepted, ChainError, ChainState};
pub use store::{ChainStore, MemoryStore, StoreError};

#[cfg(test)]
mod tests;
