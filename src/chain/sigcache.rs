//! A bounded set of transactions whose signatures are known to verify, so a block does not
//! verify again what the mempool already did. Keyed by txid: a txid commits to every key
//! and signature, and the sighash commits to the network, so an entry cannot vouch for a
//! different transaction.

use crate::primitives::Txid;
use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

pub struct SigCache {
    inner: Mutex<Inner>,
    capacity: usize,
}

struct Inner {
    set: HashSet<Txid>,
    order: VecDeque<Txid>,
}

impl SigCache {
    pub fn new(capacity: usize) -> SigCache {
        SigCache {
            inner: Mutex::new(Inner {
                set: HashSet::new(),
                order: VecDeque::new(),
            }),
            capacity,
        }
    }

    /// Remembers that every signature of `txid` verified; the oldest entry goes when full.
    pub fn insert(&self, txid: Txid) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if self.capacity == 0 || !inner.set.insert(txid) {
            return;
        }
        inner.order.push_back(txid);
        while inner.order.len() > self.capacity {
            if let Some(old) = inner.order.pop_front() {
                inner.set.remove(&old);
            }
        }
    }

    pub fn contains(&self, txid: &Txid) -> bool {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.set.contains(txid)
    }

    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .set
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_oldest_first() {
        let c = SigCache::new(2);
        for i in 0..3u8 {
            c.insert(Txid([i; 32]));
        }
        assert!(!c.contains(&Txid([0; 32])));
        assert!(c.contains(&Txid([1; 32])) && c.contains(&Txid([2; 32])));
        assert_eq!(c.len(), 2);
    }
}
