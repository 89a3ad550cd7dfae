//! Cost growth (goal 5) and memory (goal 6): builds a chain of 1 000 000 one-in-two-out
//! payments, each paying a fresh address (1 000 blocks of 1 000; 1 000 000 funded
//! addresses at the end), connecting it as sync does (`connect_run`, 50 blocks a call,
//! the chain state cache at the node's default `--db-cache`), and compares:
//!
//! - the connect rate of the 100 blocks after 100 000 transactions with that of the 100
//!   blocks after 900 000 (each window starts on a flushed cache and includes its final
//!   flush);
//! - `/info`'s totals and top-10 rich list read at 1 000 000 addresses;
//! - the process's resident memory, sampled after every run, against the cache budget.
//!
//! Run: `cargo bench --bench growth` (minutes; never part of `cargo test`).
//! `GROWTH_BENCH_DB_CACHE_MB` and `GROWTH_BENCH_REDB_CACHE_MB` try other cache sizes than
//! the node's; with `--features store-comparison`, `GROWTH_BENCH_STORE=fjall` runs the same workload
//! on the LSM store (BENCHMARKS.md compares them).

mod common;

use ferro::chain::{ChainState, ChainStore, DiskStore};
use ferro::consensus::Network;
use ferro::node::config::DEFAULT_DB_CACHE_MB;
use ferro::primitives::Block;
use ferro::primitives::SecretKey;
use std::time::Instant;

const KEYS: usize = 1_000;
const BLOCKS: usize = 1_000;
const RUN: usize = 50;
const WINDOW: usize = 100;
const NOW: u64 = 4_000_000_000;

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let reference = common::reference();
    reference.print();
    let cache = env_mb("GROWTH_BENCH_DB_CACHE_MB").unwrap_or(DEFAULT_DB_CACHE_MB) * 1024 * 1024;
    let redb_cache = env_mb("GROWTH_BENCH_REDB_CACHE_MB")
        .map_or(ferro::chain::disk_store::REDB_CACHE_BYTES, |mb| {
            mb * 1024 * 1024
        });
    let keys = common::keys(KEYS);
    let net = common::network("growth", &keys, 1, 1_000_000);
    let dir = tempfile::tempdir().expect("temp dir");
    #[cfg(feature = "store-comparison")]
    if std::env::var("GROWTH_BENCH_STORE").as_deref() == Ok("fjall") {
        let store = ferro::chain::fjall_store::FjallStore::open(&dir.path().join("chain.fjall"))
            .expect("db");
        let mut chain = ChainState::open_with_cache(store, net.clone(), cache).expect("opens");
        run(&mut chain, &net, &keys, &reference, cache);
        let start = Instant::now();
        chain
            .store()
            .major_compact(ferro::chain::store::Table::Rich)
            .expect("compacts");
        println!(
            "fjall: rich list keyspace compacted in {:.2} s; totals + top-10 rich list read now in {:.1} µs",
            start.elapsed().as_secs_f64(),
            common::info_read_micros(&chain)
        );
        return;
    }
    let store =
        DiskStore::open_with_page_cache(&dir.path().join("chain.redb"), redb_cache).expect("db");
    let mut chain = ChainState::open_with_cache(store, net.clone(), cache).expect("opens");
    run(&mut chain, &net, &keys, &reference, cache)
}

/// A size in MB from the environment, for trying other cache sizes.
fn env_mb(name: &str) -> Option<usize> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// Builds and connects the chain, printing each figure.
fn run<S: ChainStore>(
    chain: &mut ChainState<S>,
    net: &Network,
    keys: &[SecretKey],
    reference: &common::Reference,
    cache: usize,
) {
    let rss_start = common::rss_bytes().unwrap_or(0);
    let mut rss_peak = rss_start;
    let mut builder = common::ChainBuilder::new(net, keys);
    // Windows measured: blocks [100, 200) and [900, 1000).
    let windows = [
        (100usize, "after 100 000 transactions"),
        (900, "after 900 000 transactions"),
    ];
    let mut rates = Vec::new();
    let mut height = 0usize;
    while height < BLOCKS {
        let window = windows.iter().find(|(start, _)| *start == height);
        let blocks_now = if window.is_some() {
            WINDOW
        } else {
            RUN.min(BLOCKS - height)
        };
        let blocks: Vec<Block> = (0..blocks_now).map(|_| builder.next_block()).collect();
        if let Some((_, what)) = window {
            chain.flush().expect("flushes");
            let txs: usize = blocks.iter().map(|b| b.transactions.len() - 1).sum();
            let start = Instant::now();
            for run in blocks.chunks(RUN) {
                let (_, rest, failure) = chain.connect_run(run.to_vec(), NOW);
                assert!(rest.is_empty() && failure.is_none(), "valid run");
            }
            chain.flush().expect("flushes");
            let secs = start.elapsed().as_secs_f64();
            let rate = txs as f64 / secs;
            println!(
                "{what}: {txs} payments in {secs:.2} s = {rate:.0} inputs/s = {:.2} x block validation",
                rate / reference.block_validation
            );
            rates.push(rate);
        } else {
            let (_, rest, failure) = chain.connect_run(blocks, NOW);
            assert!(rest.is_empty() && failure.is_none(), "valid run");
        }
        height += blocks_now;
        rss_peak = rss_peak.max(common::rss_bytes().unwrap_or(0));
    }
    chain.flush().expect("flushes");
    let totals = chain.totals().expect("reads");
    let per = common::info_read_micros(chain) / 1e6;
    println!(
        "at {} transactions and {} funded addresses: totals + top-10 rich list read in {:.1} µs (goal: under 1 000 µs)",
        totals.transactions,
        totals.addresses,
        per * 1e6
    );
    // A payer's address spent an output in every block: the address UTXO index holds a
    // deleted key (an LSM tombstone until compaction) per spent output under its prefix.
    let busiest = keys[0].public_key().pubkey_hash();
    const READS: u32 = 200;
    let start = Instant::now();
    for _ in 0..READS {
        let utxos = chain.address_utxos(&busiest, 100).expect("reads");
        let history = chain.address_history(&busiest, None, 25).expect("reads");
        std::hint::black_box((utxos, history));
    }
    println!(
        "the busiest address ({} outputs spent): its UTXOs and last 25 transactions read in {:.1} µs",
        BLOCKS - 1,
        start.elapsed().as_secs_f64() / f64::from(READS) * 1e6
    );
    if let [early, late] = rates[..] {
        println!(
            "growth: the rate after 900 000 transactions is {:.2} x the rate after 100 000 (goal: >= 0.8)",
            late / early
        );
    }
    println!(
        "memory: resident {} MB at start, peak {} MB; peak minus start {} MB against a {} MB chain state cache",
        rss_start / 1_000_000,
        rss_peak / 1_000_000,
        rss_peak.saturating_sub(rss_start) / 1_000_000,
        cache / 1_000_000
    );
}
