//! Fixtures shared by the chain, network and growth benchmarks: a test network whose
//! premine funds many keys, a long chain of full blocks built offline, and the reference
//! rates every goal is a ratio of.

// Each benchmark uses a different part of this module.
#![allow(dead_code)]

use ferro::consensus::{Network, NetworkParams, ParentInfo};
use ferro::miner;
use ferro::primitives::{
    sha256d, Amount, Block, BlockHash, Height, OutPoint, PubkeyHash, SecretKey, Signature, Target,
    Transaction, TxIn, TxOut, COIN,
};
use rayon::prelude::*;

/// The allocator the node runs with (src/bin/full_node.rs), so the figures are the node's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `count` deterministic keys.
pub fn keys(count: usize) -> Vec<SecretKey> {
    (0..count)
        .map(|i| {
            let mut b = [7u8; 32];
            b[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
            SecretKey::from_bytes(&b).expect("valid key")
        })
        .collect()
}

/// A network with instant proof of work, no retarget, maturity 1, and 1 000 coins of
/// premine per output: `outputs_per_key` outputs for each key.
pub fn network(name: &str, keys: &[SecretKey], outputs_per_key: usize, timestamp: u64) -> Network {
    let params = NetworkParams {
        name: name.into(),
        address_hrp: "fbench".into(),
        initial_reward: Amount::from_coins(50).expect("in range"),
        halving_interval: 210_000,
        target_block_time: 10,
        retarget_interval: 1_000_000,
        pow_limit: Target::with_leading_zeros(1),
        coinbase_maturity: 1,
        max_block_size: 1_000_000,
    };
    let premine = (0..outputs_per_key)
        .flat_map(|_| keys.iter())
        .map(|k| TxOut {
            value: Amount::from_coins(1_000).expect("in range"),
            pubkey_hash: k.public_key().pubkey_hash(),
        })
        .collect();
    Network::create(params, premine, timestamp).expect("valid network")
}

/// A signed 1-in-2-out payment: `value - fee - pay` back to `key`, `pay` to `payee`.
pub fn payment(
    net: &Network,
    key: &SecretKey,
    prev: OutPoint,
    value: u64,
    payee: PubkeyHash,
    pay: u64,
    fee: u64,
) -> Transaction {
    let mut tx = Transaction {
        version: 1,
        inputs: vec![TxIn {
            prev,
            pubkey: key.public_key(),
            signature: Signature([0; 64]),
        }],
        outputs: vec![
            TxOut {
                value: Amount::from_base_units(pay).expect("in range"),
                pubkey_hash: payee,
            },
            TxOut {
                value: Amount::from_base_units(value - pay - fee).expect("in range"),
                pubkey_hash: key.public_key().pubkey_hash(),
            },
        ],
        lock_time: 0,
    };
    let spent = TxOut {
        value: Amount::from_base_units(value).expect("in range"),
        pubkey_hash: key.public_key().pubkey_hash(),
    };
    let sighash = tx.sighash(&net.genesis_hash, &[spent]);
    tx.inputs[0].signature = key.sign(&sighash);
    tx
}

/// A fresh pubkey hash per `n`.
pub fn payee(n: u64) -> PubkeyHash {
    PubkeyHash(
        sha256d(&n.to_le_bytes()).0[..20]
            .try_into()
            .expect("20 bytes"),
    )
}

/// `blocks` blocks on the genesis of `net`; in each block, transaction `j` spends key
/// `j`'s change from the block before (first the premine output `j`), pays a fresh
/// address and returns change to key `j`. Timestamps are one second apart after genesis.
pub fn build_chain(net: &Network, keys: &[SecretKey], blocks: usize) -> Vec<Block> {
    let mut builder = ChainBuilder::new(net, keys);
    (0..blocks).map(|_| builder.next_block()).collect()
}

/// A block at `height` on `prev` with `txs` and a coinbase paying the subsidy (fees are
/// left unclaimed), mined; timestamps are one second apart after genesis.
pub fn seal(
    net: &Network,
    keys: &[SecretKey],
    prev: BlockHash,
    height: Height,
    txs: Vec<Transaction>,
) -> Block {
    let parent = ParentInfo {
        hash: prev,
        height: Height(height.get() - 1),
        median_time_past: net.genesis.header.timestamp + height.get() - 1,
        next_target: net.params.pow_limit,
    };
    let txs = txs.into_iter().map(|t| (t, Amount::ZERO)).collect();
    let reward_to = keys[0].public_key().pubkey_hash();
    let now = net.genesis.header.timestamp + height.get();
    let mut block = miner::block_template(&net.params, &parent, txs, reward_to, now);
    assert!(miner::solve(&mut block, &|| false));
    block
}

/// The yardsticks every goal of BENCHMARKS.md is a ratio of, measured in the same run as
/// the figure compared with them: a single-core libsecp256k1 verify loop (parse key and
/// signature, verify) and block validation on all cores (`check_block` and
/// `connect_block` over a 2 000-transaction block of 1-in-2-out payments, signatures
/// verified in parallel). Each is the median of several passes.
#[derive(Clone, Copy, Debug)]
pub struct Reference {
    pub cores: usize,
    /// Verifications per second on one core, libsecp256k1.
    pub single_core_verify: f64,
    /// The same loop through k256 (for the record).
    pub single_core_verify_k256: f64,
    /// Inputs per second of block validation on all cores (goal 1's rate).
    pub block_validation: f64,
}

impl Reference {
    /// Goal 1: block validation over `cores x` the single-core verify loop.
    pub fn goal1(&self) -> f64 {
        self.block_validation / (self.cores as f64 * self.single_core_verify)
    }

    pub fn print(&self) {
        println!(
            "reference: {} cores; single-core libsecp256k1 verify loop {:.0}/s ({:.1} µs), k256 {:.0}/s ({:.1} µs); block validation on all cores {:.0} inputs/s = {:.2} x cores x single-core (goal 1: >= 0.8)",
            self.cores,
            self.single_core_verify,
            1e6 / self.single_core_verify,
            self.single_core_verify_k256,
            1e6 / self.single_core_verify_k256,
            self.block_validation,
            self.goal1()
        );
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Measures [`Reference`] (about 3 s).
pub fn reference() -> Reference {
    use ferro::consensus::validation::{check_block, connect_block, Coin};
    use std::collections::HashMap;
    use std::time::Instant;
    const TXS: usize = 2_000;
    let keys = keys(TXS);
    let net = network("reference", &keys, 1, 1_000_000);
    let block = build_chain(&net, &keys, 1).remove(0);
    let coinbase = &net.genesis.transactions[0];
    let txid = coinbase.txid();
    let view: HashMap<OutPoint, Coin> = coinbase
        .outputs
        .iter()
        .enumerate()
        .map(|(vout, output)| {
            (
                OutPoint {
                    txid,
                    vout: vout as u32,
                },
                Coin {
                    output: *output,
                    height: Height(0),
                    coinbase: true,
                },
            )
        })
        .collect();
    let jobs: Vec<([u8; 33], [u8; 64], [u8; 32])> = block.transactions[1..]
        .iter()
        .map(|tx| {
            let spent = view[&tx.inputs[0].prev].output;
            let sighash = tx.sighash(&net.genesis_hash, &[spent]);
            (tx.inputs[0].pubkey.0, tx.inputs[0].signature.0, sighash.0)
        })
        .collect();
    let inputs = jobs.len() as f64;
    let passes = 7;
    let secp = secp256k1::Secp256k1::verification_only();
    let libsecp = median(
        (0..passes)
            .map(|_| {
                let start = Instant::now();
                for (pk, sig, msg) in &jobs {
                    let key = secp256k1::PublicKey::from_slice(pk).expect("valid key");
                    let sig = secp256k1::ecdsa::Signature::from_compact(sig).expect("valid sig");
                    let msg = secp256k1::Message::from_digest(*msg);
                    secp.verify_ecdsa(msg, &sig, &key).expect("verifies");
                }
                inputs / start.elapsed().as_secs_f64()
            })
            .collect(),
    );
    let k256 = median(
        (0..3)
            .map(|_| {
                use k256::ecdsa::signature::hazmat::PrehashVerifier;
                let start = Instant::now();
                for (pk, sig, msg) in &jobs {
                    let key = k256::ecdsa::VerifyingKey::from_sec1_bytes(pk).expect("valid key");
                    let sig = k256::ecdsa::Signature::from_slice(sig).expect("valid sig");
                    key.verify_prehash(msg, &sig).expect("verifies");
                }
                inputs / start.elapsed().as_secs_f64()
            })
            .collect(),
    );
    let parallel = median(
        (0..passes)
            .map(|_| {
                let start = Instant::now();
                let txids = check_block(&block, &net.params).expect("valid");
                connect_block(
                    &block,
                    &txids,
                    &view,
                    &net.params,
                    &net.genesis_hash,
                    &|_| false,
                )
                .expect("valid");
                inputs / start.elapsed().as_secs_f64()
            })
            .collect(),
    );
    Reference {
        cores: rayon::current_num_threads(),
        single_core_verify: libsecp,
        single_core_verify_k256: k256,
        block_validation: parallel,
    }
}

/// Builds the chain of [`build_chain`] one block at a time, for chains too long to hold.
pub struct ChainBuilder<'a> {
    net: &'a Network,
    keys: &'a [SecretKey],
    coins: Vec<(OutPoint, u64)>,
    prev: BlockHash,
    height: u64,
}

impl<'a> ChainBuilder<'a> {
    pub fn new(net: &'a Network, keys: &'a [SecretKey]) -> ChainBuilder<'a> {
        let genesis_txid = net.genesis.transactions[0].txid();
        ChainBuilder {
            net,
            keys,
            coins: (0..keys.len())
                .map(|j| {
                    (
                        OutPoint {
                            txid: genesis_txid,
                            vout: j as u32,
                        },
                        1_000 * COIN,
                    )
                })
                .collect(),
            prev: net.genesis_hash,
            height: 0,
        }
    }

    /// The next block: one payment per key, each to a fresh address.
    pub fn next_block(&mut self) -> Block {
        self.height += 1;
        let b = self.height - 1;
        let (net, keys) = (self.net, self.keys);
        let txs: Vec<Transaction> = self
            .coins
            .par_iter()
            .enumerate()
            .map(|(j, (op, value))| {
                let n = b * keys.len() as u64 + j as u64;
                payment(net, &keys[j], *op, *value, payee(n), 1_000 + b, 1_000)
            })
            .collect();
        self.coins = txs
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
        let block = seal(net, keys, self.prev, Height(self.height), txs);
        self.prev = block.hash();
        block
    }
}

/// Microseconds per `/info`-style read: the totals and the top-10 rich list.
pub fn info_read_micros<S: ferro::chain::ChainStore>(chain: &ferro::chain::ChainState<S>) -> f64 {
    const READS: u32 = 2_000;
    let start = std::time::Instant::now();
    for _ in 0..READS {
        let t = chain.totals().expect("reads");
        let rich = chain.rich_list(10).expect("reads");
        std::hint::black_box((t, rich));
    }
    start.elapsed().as_secs_f64() / f64::from(READS) * 1e6
}

/// This process's resident set size in bytes (Linux), if it can be read.
pub fn rss_bytes() -> Option<u64> {
    status_bytes("self", "VmRSS:")
}

/// A memory figure (`VmRSS:`, `VmHWM:`, ...) of process `pid` (a number, or `self`) from
/// `/proc/PID/status`, in bytes (Linux), if it can be read.
pub fn status_bytes(pid: &str, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
