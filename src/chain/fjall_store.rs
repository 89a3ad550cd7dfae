//! Every table in fjall, an LSM, implementing [`ChainStore`]: built only with the
//! `store-comparison` feature, for the chain and growth benchmarks' comparisons with the
//! node's store ([`DiskStore`](super::disk_store::DiskStore), fjall with the rich list in
//! redb; BENCHMARKS.md has the figures). One fjall keyspace per [`Table`]; a [`Batch`] is
//! one atomic fjall write batch, journalled with `fsync` before `commit` returns. Not used
//! by the node.

use super::store::{Batch, ChainStore, Direction, Entries, StoreError, Table};
use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};
use std::path::Path;

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

pub struct FjallStore {
    db: Database,
    /// In [`Table::ALL`] order.
    keyspaces: Vec<Keyspace>,
}

impl FjallStore {
    /// Opens (or creates) the database folder at `path` with every table.
    pub fn open(path: &Path) -> Result<FjallStore, StoreError> {
        let db = Database::builder(path).open().map_err(err)?;
        let keyspaces = Table::ALL
            .iter()
            .map(|t| db.keyspace(t.name(), KeyspaceCreateOptions::default))
            .collect::<Result<Vec<_>, _>>()
            .map_err(err)?;
        Ok(FjallStore { db, keyspaces })
    }

    /// Compacts `table`'s keyspace fully (drops the tombstones a range read walks).
    pub fn major_compact(&self, table: Table) -> Result<(), StoreError> {
        self.keyspace(table).major_compact().map_err(err)
    }

    fn keyspace(&self, table: Table) -> &Keyspace {
        &self.keyspaces[table as usize]
    }
}

impl ChainStore for FjallStore {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .keyspace(table)
            .get(key)
            .map_err(err)?
            .map(|v| v.to_vec()))
    }

    fn scan(
        &self,
        table: Table,
        prefix: &[u8],
        after: Option<&[u8]>,
        direction: Direction,
        limit: usize,
    ) -> Result<Entries, StoreError> {
        super::disk_store::fjall_scan(self.keyspace(table), prefix, after, direction, limit)
    }

    fn commit(&self, batch: &Batch) -> Result<(), StoreError> {
        let mut out = self.db.batch().durability(Some(PersistMode::SyncAll));
        for (table, key, value) in batch.ops() {
            match value {
                Some(v) => out.insert(self.keyspace(table), key, v),
                None => out.remove(self.keyspace(table), key),
            }
        }
        out.commit().map_err(err)
    }
}
