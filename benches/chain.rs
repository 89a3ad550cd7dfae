//! Chain-state benchmark: connecting blocks to the on-disk redb store with every explorer
//! index, as ratios of the same run's block validation rate (goal 1's, measured first):
//!
//! - a run of blocks as sync connects them (`connect_run`, 50 blocks a call, the chain
//!   state cache at the node's default `--db-cache`, the final flush included): 1 000
//!   blocks of 100 one-in-two-out payments, each block spending the change of the block
//!   before and paying 100 new addresses;
//! - the same blocks one block per commit with no cache (how every block was connected
//!   before the cache), for comparison;
//! - full-size blocks (about 1 MB, 4 700 payments) one at a time, as a node following
//!   the tip connects them;
//! - `/info`-style totals and the top-10 rich list read at the end.
//!
//! Run: `cargo bench --bench chain` (a plain harness: each figure is one pass over its
//! workload, too long for criterion's repeated sampling).

mod common;

use ferro::chain::{ChainState, ChainStore, DiskStore};
use ferro::consensus::Network;
use ferro::node::config::DEFAULT_DB_CACHE_MB;
use ferro::primitives::Block;
use std::time::Instant;

const BLOCKS: usize = 1_000;
const TXS_PER_BLOCK: usize = 100;
const RUN: usize = 50;
const FULL_BLOCKS: usize = 12;
const FULL_TXS: usize = 4_700;
const NOW: u64 = 4_000_000_000;

/// Connects `blocks` in runs of [`RUN`] and flushes; returns the seconds taken.
fn connect_runs<S: ChainStore>(chain: &mut ChainState<S>, blocks: &[Block]) -> f64 {
    let runs: Vec<Vec<Block>> = blocks.chunks(RUN).map(<[Block]>::to_vec).collect();
    let start = Instant::now();
    for run in runs {
        let (_, rest, failure) = chain.connect_run(run, NOW);
        assert!(rest.is_empty() && failure.is_none(), "valid run");
    }
    let (bytes, entries) = chain.cache_usage();
    let flush_start = Instant::now();
    chain.flush().expect("flushes");
    eprintln!(
        "final flush: {entries} entries, {} MB estimated, {:.2} s",
        bytes / 1_000_000,
        flush_start.elapsed().as_secs_f64()
    );
    start.elapsed().as_secs_f64()
}

fn open(net: &Network, cache: usize) -> (ChainState<DiskStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = DiskStore::open(&dir.path().join("chain.redb")).expect("db");
    let chain = ChainState::open_with_cache(store, net.clone(), cache).expect("opens");
    (chain, dir)
}

/// Inputs (non-coinbase) of `blocks`.
fn inputs(blocks: &[Block]) -> usize {
    blocks
        .iter()
        .flat_map(|b| &b.transactions[1..])
        .map(|t| t.inputs.len())
        .sum()
}

fn report(what: &str, blocks: &[Block], secs: f64, reference: f64) -> f64 {
    let txs: usize = blocks.iter().map(|b| b.transactions.len()).sum();
    let rate = inputs(blocks) as f64 / secs;
    println!(
        "{what}: {} blocks, {txs} transactions in {secs:.2} s = {:.1} blocks/s, {:.0} tx/s, {rate:.0} inputs/s = {:.2} x block validation",
        blocks.len(),
        blocks.len() as f64 / secs,
        txs as f64 / secs,
        rate / reference
    );
    rate / reference
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` probes harnesses; nothing to list here.
    }
    let reference = common::reference();
    reference.print();
    let cache = DEFAULT_DB_CACHE_MB * 1024 * 1024;

    let keys = common::keys(TXS_PER_BLOCK);
    let net = common::network("chainbench", &keys, 1, 1_000_000);
    let t = Instant::now();
    let blocks = common::build_chain(&net, &keys, BLOCKS);
    eprintln!(
        "built {BLOCKS} blocks of {TXS_PER_BLOCK} payments in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    // Sync's way: runs of 50 blocks, chain state cache, flushed at the end.
    let (mut chain, _dir) = open(&net, cache);
    let secs = connect_runs(&mut chain, &blocks);
    let goal2a = report(
        "connect runs of 50 (sync), cache flushed at the end",
        &blocks,
        secs,
        reference.block_validation,
    );

    // The same on fjall, an LSM store, for the comparison (`--features store-comparison`).
    #[cfg(feature = "store-comparison")]
    {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = ferro::chain::fjall_store::FjallStore::open(&dir.path().join("chain.fjall"))
            .expect("fjall");
        let mut lsm = ChainState::open_with_cache(store, net.clone(), cache).expect("opens");
        let secs = connect_runs(&mut lsm, &blocks);
        report(
            "fjall: connect runs of 50 (sync), cache flushed at the end",
            &blocks,
            secs,
            reference.block_validation,
        );
        println!(
            "fjall: totals + top-10 rich list read: {:.1} µs per read",
            common::info_read_micros(&lsm)
        );
    }
    if std::env::var_os("CHAIN_BENCH_ONLY_RUN").is_some() {
        return;
    }
    // Before the cache: one block per commit, every index written each time.
    // (CHAIN_BENCH_SKIP_PLAIN=1 skips this minute-long pass, for profiling.)
    let skip_plain = std::env::var_os("CHAIN_BENCH_SKIP_PLAIN").is_some();
    let (mut plain, _dir2) = open(&net, 0);
    let start = Instant::now();
    for b in blocks.iter().filter(|_| !skip_plain) {
        plain.accept_block(b.clone(), NOW).expect("valid block");
    }
    let secs = start.elapsed().as_secs_f64();
    if !skip_plain {
        report(
            "connect one block per commit, no cache",
            &blocks,
            secs,
            reference.block_validation,
        );
    }
    drop(plain);

    let totals = chain.totals().expect("reads");
    let per = common::info_read_micros(&chain) / 1e6;
    println!(
        "totals + top-10 rich list read: {:.1} µs per read ({} transactions, {} funded addresses)",
        per * 1e6,
        totals.transactions,
        totals.addresses
    );
    drop(chain);

    // A tip follower: full-size blocks one at a time.
    let keys = common::keys(FULL_TXS);
    let net = common::network("fullblocks", &keys, 1, 1_000_000);
    let t = Instant::now();
    let full = common::build_chain(&net, &keys, FULL_BLOCKS);
    let size = full.iter().map(Block::size).max().unwrap_or(0);
    eprintln!(
        "built {FULL_BLOCKS} blocks of {FULL_TXS} payments ({size} bytes each at most) in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let (mut follower, _dir3) = open(&net, cache);
    let start = Instant::now();
    for b in &full {
        follower.accept_block(b.clone(), NOW).expect("valid block");
    }
    let secs = start.elapsed().as_secs_f64();
    let goal2b = report(
        "tip follower, full-size blocks one at a time",
        &full,
        secs,
        reference.block_validation,
    );
    println!(
        "ratios: goal 1 {:.2} (>= 0.8), goal 2 run {goal2a:.2} (>= 0.6), goal 2 tip follower {goal2b:.2} (>= 0.5)",
        reference.goal1()
    );
}
