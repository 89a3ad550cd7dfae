//! The mempool's limit bounds real memory (PROTOCOL.md section 8, issue 10): a pool with a
//! 4 MB limit filled with the smallest transactions (the worst ratio of memory to
//! serialized bytes) keeps its accounted `usage` within the limit, and the process's
//! allocated memory, as a counting global allocator sees it (not RSS), grows by at most
//! 1.5 × the limit plus [`SLACK`].
//!
//! Its own test binary, so the counting allocator applies here only.

use ferro::chain::sigcache::SigCache;
use ferro::consensus::{Coin, Network, NetworkParams};
use ferro::mempool::{Mempool, MempoolConfig};
use ferro::primitives::{
    Amount, Height, OutPoint, SecretKey, Signature, Target, Transaction, TxIn, TxOut,
};
use std::alloc::System;
use std::collections::HashMap;

#[global_allocator]
static ALLOC: cap::Cap<System> = cap::Cap::new(System, usize::MAX);

/// The pool's limit.
const LIMIT: usize = 4 * 1024 * 1024;
/// What the process may allocate beyond 1.5 × the limit while filling the pool: the
/// transient allocations of admission (a signature check, the eviction plan's sets, the
/// `Accepted` answers) and the one moment a hash table holds both its old and its grown
/// allocation during a resize. 256 KiB; documented in docs/mempool.md.
const SLACK: usize = 256 * 1024;
/// Spendable premine outputs: more than the pool can hold.
const OUTPUTS: u32 = 12_000;
/// Each premine output's value, in base units.
const VALUE: u64 = 1_000_000;

fn key() -> SecretKey {
    SecretKey::from_bytes(&[7; 32]).expect("a valid test key")
}

fn units(u: u64) -> Amount {
    Amount::from_base_units(u).expect("in range")
}

/// One input, one output (177 bytes): the smallest transaction, so the most entries, and
/// the most per-entry overhead, per byte.
fn spend(net: &Network, prev: OutPoint, fee: u64) -> Transaction {
    let key = key();
    let mut tx = Transaction {
        version: 1,
        inputs: vec![TxIn {
            prev,
            pubkey: key.public_key(),
            signature: Signature([0; 64]),
        }],
        outputs: vec![TxOut {
            value: units(VALUE - fee),
            pubkey_hash: key.public_key().pubkey_hash(),
        }],
        lock_time: 0,
    };
    // Sighash v2 commits to the spent premine output: VALUE to the same key.
    let spent = TxOut {
        value: units(VALUE),
        pubkey_hash: key.public_key().pubkey_hash(),
    };
    let sighash = tx.sighash(&net.genesis_hash, &[spent]);
    tx.inputs[0].signature = key.sign(&sighash);
    tx
}

#[test]
fn a_full_pool_stays_within_its_memory_limit() {
    let owner = key().public_key().pubkey_hash();
    let params = NetworkParams {
        name: "mempoolmemory".into(),
        address_hrp: "ftest".into(),
        pow_limit: Target::with_leading_zeros(1),
        coinbase_maturity: 0,
        ..Network::devnet().params
    };
    let premine = (0..OUTPUTS)
        .map(|_| TxOut {
            value: units(VALUE),
            pubkey_hash: owner,
        })
        .collect();
    let net = Network::create(params, premine, 1_800_000_000).expect("valid test network");
    let coinbase = &net.genesis.transactions[0];
    let txid = coinbase.txid();
    let chain: HashMap<OutPoint, Coin> = coinbase
        .outputs
        .iter()
        .enumerate()
        .map(|(vout, output)| {
            let outpoint = OutPoint {
                txid,
                vout: vout as u32,
            };
            let coin = Coin {
                output: *output,
                height: Height::GENESIS,
                coinbase: true,
            };
            (outpoint, coin)
        })
        .collect();
    // A cache that remembers nothing, so it does not grow while the pool fills.
    let sigs = SigCache::new(0);
    let next = Height(1);

    let before = ALLOC.allocated();
    let mut peak = before;
    let mut pool = Mempool::new(MempoolConfig {
        max_usage: LIMIT,
        ..MempoolConfig::default()
    });
    let (mut refused, mut evicted) = (0usize, 0usize);
    for vout in 0..OUTPUTS {
        // Two thirds at 1 per byte (refused once the pool is full), then 2 per byte
        // (evicting the poorer ones).
        let fee = if vout < OUTPUTS * 2 / 3 { 177 } else { 2 * 177 };
        let tx = spend(&net, OutPoint { txid, vout }, fee);
        match pool.accept(tx, &chain, next, &net.params, &net.genesis_hash, &sigs) {
            Ok(accepted) => evicted += accepted.evicted.len(),
            Err(e) => {
                assert_eq!(ferro::error::ErrorCode::code(&e), "mempool-full");
                refused += 1;
            }
        }
        assert!(
            pool.usage() <= LIMIT,
            "usage {} above {LIMIT}",
            pool.usage()
        );
        peak = peak.max(ALLOC.allocated());
    }
    let after = ALLOC.allocated();
    let growth = after.saturating_sub(before);
    let peak_growth = peak.saturating_sub(before);
    eprintln!(
        "limit {LIMIT}: {} transactions, bytes {}, usage {}, allocator growth {growth} \
         ({:.2} x limit, peak {peak_growth}), {refused} refused, {evicted} evicted",
        pool.len(),
        pool.bytes(),
        pool.usage(),
        growth as f64 / LIMIT as f64,
    );
    // The pool was filled: it refused and evicted, and its usage is close to the limit.
    assert!(
        refused > 0 && evicted > 0,
        "{refused} refused, {evicted} evicted"
    );
    assert!(pool.usage() > LIMIT - LIMIT / 20, "usage {}", pool.usage());
    // Serialized bytes are a fraction of the memory the pool holds.
    assert!(pool.bytes() < pool.usage() / 3);
    // Real memory stays within 1.5 x the limit plus the documented slack.
    let bound = LIMIT + LIMIT / 2 + SLACK;
    assert!(growth <= bound, "allocator growth {growth} above {bound}");
    assert!(
        peak_growth <= bound,
        "allocator peak {peak_growth} above {bound}"
    );

    // The full pool saved and restored (PROTOCOL.md section 8): its file fits the bound
    // a node reads at start, and every transaction comes back through full admission
    // (signatures verified again: the cache remembers nothing).
    let started = std::time::Instant::now();
    let file = ferro::mempool::persist::encode(&pool.snapshot());
    let encoded = started.elapsed();
    assert!(file.len() as u64 <= ferro::mempool::persist::max_file_bytes(LIMIT));
    let started = std::time::Instant::now();
    let entries = ferro::mempool::persist::decode(&file).expect("a saved pool decodes");
    let mut restored = Mempool::new(MempoolConfig {
        max_usage: LIMIT,
        ..MempoolConfig::default()
    });
    for (tx, entered) in entries {
        restored
            .accept_entered(
                tx,
                &chain,
                next,
                &net.params,
                &net.genesis_hash,
                &sigs,
                entered,
            )
            .expect("a saved transaction is valid again");
    }
    let readmitted = started.elapsed();
    assert_eq!(
        (restored.len(), restored.bytes()),
        (pool.len(), pool.bytes())
    );
    eprintln!(
        "saved pool: {} transactions, file {} bytes (read bound {}), encoded in {encoded:?}, \
         decoded and re-admitted in {readmitted:?} ({:.0} transactions/s)",
        pool.len(),
        file.len(),
        ferro::mempool::persist::max_file_bytes(LIMIT),
        pool.len() as f64 / readmitted.as_secs_f64().max(1e-9),
    );
    drop(restored);
    drop(pool);
}
