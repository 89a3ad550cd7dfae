//! Estimates of the heap memory the pool's data structures hold, after Bitcoin Core's
//! `memusage.h`: what an allocation of `n` bytes really costs malloc, what a `Vec` of a
//! given capacity, a `HashMap` of a given capacity and a `BTreeSet` of a given length hold.
//!
//! These are estimates of the layout of today's std collections (hashbrown tables,
//! B-trees with 11 keys a node) on a 64-bit target with glibc's malloc; the test
//! `tests/mempool_memory.rs` checks them against a counting allocator.

use std::mem::{align_of, size_of};

/// What malloc really takes for a request of `bytes`: a header word, rounded up to
/// 16 bytes (Bitcoin Core's `MallocUsage` for 64-bit glibc). Zero bytes take nothing (an
/// empty `Vec` or map does not allocate).
pub fn malloc_usage(bytes: usize) -> usize {
    if bytes == 0 {
        0
    } else {
        (bytes.saturating_add(31) >> 4) << 4
    }
}

/// The heap a `Vec<T>` of `capacity` holds.
pub fn vec_usage<T>(capacity: usize) -> usize {
    malloc_usage(capacity.saturating_mul(size_of::<T>()))
}

/// SIMD group width of hashbrown's control bytes (SSE2).
const GROUP_WIDTH: usize = 16;

/// Buckets of a hashbrown table that reports `capacity` (a power of two; the capacity is
/// 7/8 of it, or one less than it below 8 buckets).
fn buckets_for_capacity(capacity: usize) -> usize {
    if capacity == 0 {
        0
    } else if capacity < 8 {
        (capacity + 1).next_power_of_two()
    } else {
        (capacity.saturating_mul(8) / 7).next_power_of_two()
    }
}

/// The heap a `HashMap<K, V>` (or `HashSet<K>` with `V = ()`) of `capacity` holds: one
/// slot of `(K, V)` and one control byte a bucket, plus a group of trailing control bytes.
pub fn hash_map_usage<K, V>(capacity: usize) -> usize {
    let buckets = buckets_for_capacity(capacity);
    if buckets == 0 {
        return 0;
    }
    let slots = buckets.saturating_mul(size_of::<(K, V)>());
    let aligned = slots.next_multiple_of(GROUP_WIDTH.max(align_of::<(K, V)>()));
    malloc_usage(aligned + buckets + GROUP_WIDTH)
}

/// The capacity a hashbrown table of `capacity` holding `len` items will have after
/// `more` insertions of new keys: unchanged while they fit, else at least doubled.
pub fn hash_map_capacity_after(len: usize, capacity: usize, more: usize) -> usize {
    let wanted = len.saturating_add(more);
    if wanted <= capacity {
        return capacity;
    }
    let want = wanted.max(capacity.saturating_add(1));
    let buckets = if want < 4 {
        4
    } else if want < 8 {
        8
    } else {
        (want.saturating_mul(8) / 7).next_power_of_two()
    };
    if buckets < 8 {
        buckets - 1
    } else {
        buckets / 8 * 7
    }
}

/// Keys a B-tree node holds at most (std's `B = 6`, `CAPACITY = 2 * B - 1`).
const BTREE_CAPACITY: usize = 11;
/// Keys a B-tree node is assumed to hold on average: splits leave nodes half full
/// (5 keys) and they fill up to 11; 6 leans to the full-of-splits side.
const BTREE_AVERAGE_FILL: usize = 6;

/// The heap a `BTreeSet<T>` (a `BTreeMap<T, ()>`) of `len` keys holds: a root leaf
/// sized for 11 keys, then leaves of 6 keys on average and one internal node (a leaf plus
/// 12 edge pointers) per 6 nodes below it.
pub fn btree_set_usage<T>(len: usize) -> usize {
    if len == 0 {
        return 0;
    }
    // keys, parent pointer, parent index and length (u16 each), padded.
    let leaf = (BTREE_CAPACITY * size_of::<T>() + size_of::<usize>() + 4)
        .next_multiple_of(align_of::<T>().max(align_of::<usize>()));
    let internal = leaf + (BTREE_CAPACITY + 1) * size_of::<usize>();
    if len <= BTREE_CAPACITY {
        return malloc_usage(leaf);
    }
    let leaves = len.div_ceil(BTREE_AVERAGE_FILL);
    let mut internals = 0;
    let mut level = leaves;
    while level > 1 {
        level = level.div_ceil(BTREE_AVERAGE_FILL);
        internals += level;
    }
    leaves * malloc_usage(leaf) + internals * malloc_usage(internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malloc_rounds_up_with_a_header_word() {
        assert_eq!(malloc_usage(0), 0);
        assert_eq!(malloc_usage(1), 32);
        assert_eq!(malloc_usage(16), 32);
        assert_eq!(malloc_usage(17), 48);
        assert_eq!(vec_usage::<u64>(0), 0);
        assert_eq!(vec_usage::<u64>(4), 48);
    }

    #[test]
    fn hash_capacity_follows_hashbrown() {
        let mut map: std::collections::HashMap<u64, u64> = std::collections::HashMap::new();
        for i in 0..10_000u64 {
            let predicted = hash_map_capacity_after(map.len(), map.capacity(), 1);
            map.insert(i, i);
            assert_eq!(map.capacity(), predicted, "after {} items", map.len());
        }
        assert!(hash_map_usage::<u64, u64>(map.capacity()) >= 16 * map.len());
    }

    #[test]
    fn btree_grows_with_its_length() {
        assert_eq!(btree_set_usage::<u64>(0), 0);
        let one = btree_set_usage::<u64>(1);
        assert_eq!(one, btree_set_usage::<u64>(11));
        assert!(btree_set_usage::<u64>(1000) > 1000 * 8);
        assert!(btree_set_usage::<u64>(1000) < 1000 * 8 * 4);
        assert!(one < btree_set_usage::<u64>(12));
    }
}
