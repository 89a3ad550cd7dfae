//! Chain-state benchmark (issue "Chain state on disk"): connects 1 000 blocks of 100
//! transactions each from memory into the on-disk redb store, then reads `/info`-style
//! totals and the top-10 rich list with 100 000+ funded addresses.
//!
//! Run: `cargo bench --bench chain` (a plain harness: each figure is measured once over
//! the whole workload, which is too long for criterion's repeated sampling).

mod common;

use ferro::chain::{ChainState, RedbStore};
use ferro::consensus::Network;
use ferro::primitives::Block;
use std::time::Instant;

const BLOCKS: usize = 1_000;
const TXS_PER_BLOCK: usize = 100;
const NOW: u64 = 4_000_000_000;

fn connect_all(
    net: &Network,
    blocks: &[Block],
    cache_signatures: bool,
) -> (f64, ChainState<RedbStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = RedbStore::open(&dir.path().join("chain.redb")).expect("db");
    let mut chain = ChainState::open(store, net.clone()).expect("opens");
    if cache_signatures {
        for b in blocks {
            for t in &b.transactions[1..] {
                chain.sig_cache().insert(t.txid());
            }
        }
    }
    let start = Instant::now();
    for b in blocks {
        chain.accept_block(b.clone(), NOW).expect("valid block");
    }
    (start.elapsed().as_secs_f64(), chain, dir)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` probes harnesses; nothing to list here.
    }
    let keys = common::keys(TXS_PER_BLOCK);
    let net = common::network("chainbench", &keys, 1, 1_000_000);
    let t = Instant::now();
    let blocks = common::build_chain(&net, &keys, BLOCKS);
    let txs = BLOCKS * (TXS_PER_BLOCK + 1);
    eprintln!(
        "built {BLOCKS} blocks ({txs} transactions) in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let (full, chain, _dir) = connect_all(&net, &blocks, false);
    println!(
        "connect (signatures verified): {BLOCKS} blocks in {full:.2} s = {:.1} blocks/s, {:.0} tx/s",
        BLOCKS as f64 / full,
        txs as f64 / full
    );
    let (cached, _c2, _d2) = connect_all(&net, &blocks, true);
    println!(
        "connect (signatures cached):   {BLOCKS} blocks in {cached:.2} s = {:.1} blocks/s, {:.0} tx/s",
        BLOCKS as f64 / cached,
        txs as f64 / cached
    );
    println!(
        "share of connect time in signature checks: {:.1} %",
        100.0 * (full - cached) / full
    );

    let totals = chain.totals().expect("reads");
    println!(
        "state: height {}, {} transactions, {} addresses, supply {}",
        chain.height(),
        totals.transactions,
        totals.addresses,
        totals.circulating_supply
    );
    const READS: u32 = 2_000;
    let start = Instant::now();
    for _ in 0..READS {
        let t = chain.totals().expect("reads");
        let rich = chain.rich_list(10).expect("reads");
        std::hint::black_box((t, rich));
    }
    let per = start.elapsed().as_secs_f64() / f64::from(READS);
    println!(
        "totals + top-10 rich list read: {:.1} µs per read ({} funded addresses)",
        per * 1e6,
        totals.addresses
    );
}
