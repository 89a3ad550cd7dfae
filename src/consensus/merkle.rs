//! Merkle root over txids (PROTOCOL.md section 4): pairs hashed with SHA256d, an odd last
//! hash carried up unchanged.

use crate::primitives::{sha256d, Hash256, Txid};

/// The merkle root of `txids` in block order. One txid is its own root; an empty list
/// (never a valid block) gives the zero hash.
pub fn merkle_root(txids: &[Txid]) -> Hash256 {
    let mut level: Vec<Hash256> = txids.iter().map(|t| Hash256(t.0)).collect();
    if level.is_empty() {
        return Hash256::default();
    }
    let mut buf = [0u8; 64];
    while level.len() > 1 {
        let mut next = Vec::with_capacity(level.len().div_ceil(2));
        for pair in level.chunks(2) {
            match pair {
                [a, b] => {
                    buf[..32].copy_from_slice(&a.0);
                    buf[32..].copy_from_slice(&b.0);
                    next.push(sha256d(&buf));
                }
                [odd] => next.push(*odd),
                _ => unreachable!("chunks(2) yields one or two items"),
            }
        }
        level = next;
    }
    level[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(a: Hash256, b: Hash256) -> Hash256 {
        let mut buf = a.0.to_vec();
        buf.extend_from_slice(&b.0);
        sha256d(&buf)
    }

    #[test]
    fn odd_hash_is_carried_not_duplicated() {
        let t: Vec<Txid> = (1..=3u8).map(|i| Txid([i; 32])).collect();
        let h = |i: usize| Hash256(t[i].0);
        assert_eq!(merkle_root(&t[..1]), h(0));
        assert_eq!(merkle_root(&t[..2]), pair(h(0), h(1)));
        assert_eq!(merkle_root(&t), pair(pair(h(0), h(1)), h(2)));
        assert_ne!(merkle_root(&t), pair(pair(h(0), h(1)), pair(h(2), h(2))));
    }
}
