//! Chain-state benchmark (issue "Chain state on disk"): connects 1 000 blocks of 100
//! transactions each from memory into the on-disk redb store, then reads `/info`-style
//! totals and the top-10 rich list with 100 000+ funded addresses.
//!
//! Run: `cargo bench --bench chain` (a plain harness: each figure is measured once over
//! the whole workload, which is too long for criterion's repeated sampling).

use ferro::chain::{ChainState, RedbStore};
use ferro::consensus::{merkle_root, subsidy, Network, NetworkParams};
use ferro::primitives::{
    sha256d, Amount, Block, BlockHash, Header, Height, OutPoint, PubkeyHash, SecretKey, Signature,
    Target, Transaction, TxIn, TxOut, Txid, COIN,
};
use rayon::prelude::*;
use std::time::Instant;

const BLOCKS: usize = 1_000;
const TXS_PER_BLOCK: usize = 100;
const NOW: u64 = 4_000_000_000;

fn network(keys: &[SecretKey]) -> Network {
    let params = NetworkParams {
        name: "chainbench".into(),
        address_hrp: "fbench".into(),
        initial_reward: Amount::from_coins(50).expect("in range"),
        halving_interval: 210_000,
        target_block_time: 10,
        retarget_interval: 1_000_000,
        pow_limit: Target::with_leading_zeros(1),
        coinbase_maturity: 1,
        max_block_size: 1_000_000,
    };
    let premine = keys
        .iter()
        .map(|k| TxOut {
            value: Amount::from_coins(1_000).expect("in range"),
            pubkey_hash: k.public_key().pubkey_hash(),
        })
        .collect();
    Network::create(params, premine, 1_000_000).expect("valid network")
}

/// 1 000 blocks; in block `b`, transaction `j` spends key `j`'s change from block `b - 1`,
/// pays a fresh address and returns change to key `j`.
fn build_chain(net: &Network, keys: &[SecretKey]) -> Vec<Block> {
    let genesis_txid = net.genesis.transactions[0].txid();
    let mut coins: Vec<(OutPoint, u64)> = (0..TXS_PER_BLOCK)
        .map(|j| {
            (
                OutPoint {
                    txid: genesis_txid,
                    vout: j as u32,
                },
                1_000 * COIN,
            )
        })
        .collect();
    let mut blocks = Vec::with_capacity(BLOCKS);
    let mut prev = net.genesis_hash;
    for b in 0..BLOCKS {
        let height = Height(b as u64 + 1);
        let txs: Vec<Transaction> = coins
            .par_iter()
            .enumerate()
            .map(|(j, (op, value))| {
                let payee = PubkeyHash(
                    sha256d(&((b * TXS_PER_BLOCK + j) as u64).to_le_bytes()).0[..20]
                        .try_into()
                        .expect("20 bytes"),
                );
                let key = &keys[j];
                let mut tx = Transaction {
                    version: 1,
                    inputs: vec![TxIn {
                        prev: *op,
                        pubkey: key.public_key(),
                        signature: Signature([0; 64]),
                    }],
                    outputs: vec![
                        TxOut {
                            value: Amount::from_base_units(1_000 + b as u64).expect("ok"),
                            pubkey_hash: payee,
                        },
                        TxOut {
                            value: Amount::from_base_units(value - 2_000 - b as u64).expect("ok"),
                            pubkey_hash: key.public_key().pubkey_hash(),
                        },
                    ],
                    lock_time: 0,
                };
                let sighash = tx.sighash(&net.genesis_hash);
                tx.inputs[0].signature = key.sign(&sighash);
                tx
            })
            .collect();
        coins = txs
            .iter()
            .map(|t| {
                (
                    OutPoint {
                        txid: t.txid(),
                        vout: 1,
                    },
                    t.outputs[1].value.to_base_units(),
                )
            })
            .collect();
        let mut transactions = vec![Transaction::coinbase(
            height.get() as u32,
            vec![TxOut {
                value: subsidy(&net.params, height),
                pubkey_hash: keys[0].public_key().pubkey_hash(),
            }],
        )];
        transactions.extend(txs);
        let txids: Vec<Txid> = transactions.iter().map(Transaction::txid).collect();
        let mut block = Block {
            header: Header {
                version: 1,
                height,
                prev_hash: prev,
                merkle_root: merkle_root(&txids),
                timestamp: 1_000_000 + height.get(),
                target: net.params.pow_limit,
                nonce: 0,
            },
            transactions,
        };
        while !block.header.target.is_met_by(&block.hash().0) {
            block.header.nonce += 1;
        }
        prev = block.hash();
        blocks.push(block);
    }
    blocks
}

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
    let keys: Vec<SecretKey> = (0..TXS_PER_BLOCK)
        .map(|i| {
            let mut b = [7u8; 32];
            b[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
            SecretKey::from_bytes(&b).expect("valid key")
        })
        .collect();
    let net = network(&keys);
    let t = Instant::now();
    let blocks = build_chain(&net, &keys);
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
    let _ = BlockHash::default();
}
