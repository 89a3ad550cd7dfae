//! The orphan pool: relayed transactions whose parent has not arrived yet (PROTOCOL.md
//! section 8). Each waits here, briefly, until the parent enters the mempool; then it is
//! retried. Bounded in count and in bytes; when full, random entries make room (an
//! attacker filling the pool cannot choose which honest orphan goes), and entries older
//! than [`ORPHAN_EXPIRY`] are dropped. A pure data structure: the caller passes `now`.

use crate::primitives::{Transaction, Txid};
use rand::Rng;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// Orphans kept at most.
pub const MAX_ORPHANS: usize = 2_000;
/// Sum of the orphans' encoded sizes kept at most.
pub const MAX_ORPHAN_BYTES: usize = 8 * 1024 * 1024;
/// How long an orphan waits for its parent.
pub const ORPHAN_EXPIRY: Duration = Duration::from_secs(20 * 60);

struct Orphan {
    tx: Transaction,
    size: usize,
    /// The peer it came from (for the log, and credit when it is accepted).
    from: String,
    added: Instant,
}

/// Transactions waiting for a parent, indexed by txid and by the txids they spend from.
pub struct OrphanPool {
    max_count: usize,
    max_bytes: usize,
    entries: HashMap<Txid, Orphan>,
    /// Parent txid → orphans spending one of its outputs.
    by_parent: HashMap<Txid, HashSet<Txid>>,
    /// Txids in insertion order of the map's keys, for O(1) random picks.
    order: Vec<Txid>,
    bytes: usize,
}

impl Default for OrphanPool {
    fn default() -> Self {
        OrphanPool::new(MAX_ORPHANS, MAX_ORPHAN_BYTES)
    }
}

impl OrphanPool {
    pub fn new(max_count: usize, max_bytes: usize) -> OrphanPool {
        OrphanPool {
            max_count: max_count.max(1),
            max_bytes,
            entries: HashMap::new(),
            by_parent: HashMap::new(),
            order: Vec::new(),
            bytes: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Sum of the kept orphans' encoded sizes.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn contains(&self, txid: &Txid) -> bool {
        self.entries.contains_key(txid)
    }

    /// Keeps `tx` (of encoded size `size`) from `from` until its parent arrives, evicting
    /// random entries while the pool is over its bounds. `false` when it is already kept
    /// or alone larger than the byte bound.
    pub fn insert(&mut self, tx: Transaction, size: usize, from: &str, now: Instant) -> bool {
        let txid = tx.txid();
        if self.entries.contains_key(&txid) || size > self.max_bytes {
            return false;
        }
        self.expire(now);
        let mut rng = rand::thread_rng();
        while !self.order.is_empty()
            && (self.entries.len() + 1 > self.max_count || self.bytes + size > self.max_bytes)
        {
            let victim = self.order[rng.gen_range(0..self.order.len())];
            self.remove(&victim);
        }
        for input in &tx.inputs {
            self.by_parent
                .entry(input.prev.txid)
                .or_default()
                .insert(txid);
        }
        self.bytes += size;
        self.order.push(txid);
        self.entries.insert(
            txid,
            Orphan {
                tx,
                size,
                from: from.to_string(),
                added: now,
            },
        );
        true
    }

    /// Takes out the orphans spending an output of `parent` (to retry them now that it
    /// arrived), each with the peer it came from and when it first arrived (kept when it
    /// is put back, so expiry still fires).
    pub fn take_children(&mut self, parent: &Txid) -> Vec<(Transaction, String, Instant)> {
        let Some(children) = self.by_parent.remove(parent) else {
            return Vec::new();
        };
        let mut children: Vec<Txid> = children.into_iter().collect();
        children.sort_unstable();
        children
            .into_iter()
            .filter_map(|c| self.remove(&c))
            .map(|o| (o.tx, o.from, o.added))
            .collect()
    }

    /// Takes out every orphan (to retry them all after the tip changed), oldest first.
    pub fn take_all(&mut self) -> Vec<(Transaction, String, Instant)> {
        self.by_parent.clear();
        self.order.clear();
        self.bytes = 0;
        let mut all: Vec<Orphan> = self.entries.drain().map(|(_, o)| o).collect();
        all.sort_by_key(|o| o.added);
        all.into_iter().map(|o| (o.tx, o.from, o.added)).collect()
    }

    /// The txids orphans wait for.
    pub fn parents(&self) -> impl Iterator<Item = &Txid> {
        self.by_parent.keys()
    }

    /// Drops `txid`; returns it when it was kept.
    fn remove(&mut self, txid: &Txid) -> Option<Orphan> {
        let orphan = self.entries.remove(txid)?;
        self.bytes -= orphan.size;
        if let Some(i) = self.order.iter().position(|t| t == txid) {
            self.order.swap_remove(i);
        }
        for input in &orphan.tx.inputs {
            if let Some(set) = self.by_parent.get_mut(&input.prev.txid) {
                set.remove(txid);
                if set.is_empty() {
                    self.by_parent.remove(&input.prev.txid);
                }
            }
        }
        Some(orphan)
    }

    /// Drops entries older than [`ORPHAN_EXPIRY`].
    pub fn expire(&mut self, now: Instant) {
        let old: Vec<Txid> = self
            .entries
            .iter()
            .filter(|(_, o)| now.saturating_duration_since(o.added) >= ORPHAN_EXPIRY)
            .map(|(t, _)| *t)
            .collect();
        for txid in old {
            self.remove(&txid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::primitives::{Amount, OutPoint, PubkeyHash, PublicKey, Signature, TxIn, TxOut};

    fn orphan(parent: u8, n: u32) -> Transaction {
        Transaction {
            version: 1,
            inputs: vec![TxIn {
                prev: OutPoint {
                    txid: Txid::from_bytes([parent; 32]),
                    vout: n,
                },
                pubkey: PublicKey([2; 33]),
                signature: Signature([0; 64]),
            }],
            outputs: vec![TxOut {
                value: Amount::from_base_units(1_000).expect("amount"),
                pubkey_hash: PubkeyHash::from_bytes([n as u8; 20]),
            }],
            lock_time: 0,
        }
    }

    #[test]
    fn the_pool_holds_at_most_its_count_and_bytes() {
        let now = Instant::now();
        let mut pool = OrphanPool::new(10, 1_000);
        for n in 0..100 {
            assert!(pool.insert(orphan(1, n), 50, "peer", now));
            assert!(pool.len() <= 10 && pool.bytes() <= 1_000);
        }
        assert_eq!(pool.len(), 10);
        // Bytes bind before the count does.
        for n in 100..200 {
            pool.insert(orphan(2, n), 300, "peer", now);
            assert!(pool.bytes() <= 1_000, "{}", pool.bytes());
        }
        assert!(pool.len() <= 3, "{}", pool.len());
        // Alone larger than the bound: refused.
        assert!(!pool.insert(orphan(3, 0), 1_001, "peer", now));
        // The index follows the evictions: no child of a parent that is gone.
        let left = pool.len();
        let taken = pool.take_children(&Txid::from_bytes([2; 32])).len()
            + pool.take_children(&Txid::from_bytes([1; 32])).len();
        assert_eq!(taken, left);
        assert!(pool.is_empty() && pool.bytes() == 0 && pool.by_parent.is_empty());
    }

    #[test]
    fn children_come_out_when_their_parent_arrives_and_old_ones_expire() {
        let now = Instant::now();
        let mut pool = OrphanPool::default();
        pool.insert(orphan(1, 0), 100, "a", now);
        pool.insert(orphan(1, 1), 100, "b", now);
        pool.insert(orphan(2, 0), 100, "c", now);
        assert!(!pool.insert(orphan(2, 0), 100, "c", now), "kept once");
        let children = pool.take_children(&Txid::from_bytes([1; 32]));
        assert_eq!(children.len(), 2);
        assert_eq!(pool.len(), 1);
        pool.expire(now + ORPHAN_EXPIRY);
        assert!(pool.is_empty());
    }

    /// An orphan retried and put back keeps its first arrival, so it still expires.
    #[test]
    fn a_retried_orphan_keeps_its_arrival_and_expires() {
        let mut pool = OrphanPool::new(10, 1_000_000);
        let start = Instant::now();
        let tx = crate::net::relay_compact::tests::payment(1);
        let parent = tx.inputs[0].prev.txid;
        assert!(pool.insert(tx, 200, "peer", start));
        let later = start + ORPHAN_EXPIRY / 2;
        for (tx, from, added) in pool.take_children(&parent) {
            assert_eq!(added, start);
            assert!(pool.insert(tx, 200, &from, added));
        }
        let (tx, from, added) = pool.take_all().remove(0);
        assert_eq!(added, start);
        pool.insert(tx, 200, &from, added);
        pool.expire(later);
        assert_eq!(pool.len(), 1);
        pool.expire(start + ORPHAN_EXPIRY);
        assert!(pool.is_empty());
    }
}
