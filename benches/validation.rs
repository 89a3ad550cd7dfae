//! Validation benchmarks: signature verification (libsecp256k1, the default backend, and
//! k256), a 1-in/2-out and a 10-in transaction, and a 2 000-transaction block verified in
//! parallel, next to raw single-thread libsecp256k1 and k256 verify loops over the same
//! inputs measured in the same run. At the end, goal 1's ratio from this run's medians:
//! block validation on all cores over cores x the single-core libsecp256k1 loop.
//!
//! Run: `cargo bench --bench validation`. Figures go to BENCHMARKS.md.

use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use ferro::consensus::validation::{check_block, check_transaction, connect_block, Coin};
use ferro::consensus::{merkle_root, subsidy, Network, NetworkParams};
use ferro::primitives::verify;
use ferro::primitives::{
    Amount, Block, BlockHash, Header, Height, OutPoint, SecretKey, Signature, Target, Transaction,
    TxIn, TxOut, Txid, COIN,
};
use k256::ecdsa::signature::hazmat::PrehashVerifier;
use std::collections::HashMap;
use std::hint::black_box;

const HEIGHT: Height = Height(1_000);

struct Fixture {
    params: NetworkParams,
    genesis: BlockHash,
    keys: Vec<SecretKey>,
    view: HashMap<OutPoint, Coin>,
    next_coin: u32,
}

impl Fixture {
    fn new() -> Fixture {
        let net = Network::devnet();
        let keys = (1..=16u8)
            .map(|i| SecretKey::from_bytes(&[i; 32]).expect("valid key"))
            .collect();
        Fixture {
            params: NetworkParams {
                pow_limit: Target::with_leading_zeros(1),
                max_block_size: 10_000_000,
                ..net.params
            },
            genesis: net.genesis_hash,
            keys,
            view: HashMap::new(),
            next_coin: 0,
        }
    }

    /// Adds a 1-coin UTXO owned by key `k` and returns its outpoint.
    fn fund(&mut self, k: usize) -> OutPoint {
        self.next_coin += 1;
        let mut txid = [0u8; 32];
        txid[..4].copy_from_slice(&self.next_coin.to_le_bytes());
        let outpoint = OutPoint {
            txid: Txid(txid),
            vout: 0,
        };
        let coin = Coin {
            output: TxOut {
                value: Amount::from_base_units(COIN).expect("in range"),
                pubkey_hash: self.keys[k].public_key().pubkey_hash(),
            },
            height: Height(1),
            coinbase: false,
        };
        self.view.insert(outpoint, coin);
        outpoint
    }

    /// A signed transaction spending `inputs` fresh coins of one key into `outputs` outputs.
    fn transaction(&mut self, inputs: usize, outputs: usize, k: usize) -> Transaction {
        let key = self.keys[k % self.keys.len()].clone();
        let prevs: Vec<OutPoint> = (0..inputs).map(|_| self.fund(k % 16)).collect();
        let total = inputs as u64 * COIN - 10_000;
        let each = total / outputs as u64;
        let mut tx = Transaction {
            version: 1,
            inputs: prevs
                .into_iter()
                .map(|prev| TxIn {
                    prev,
                    pubkey: key.public_key(),
                    signature: Signature([0; 64]),
                })
                .collect(),
            outputs: (0..outputs)
                .map(|i| TxOut {
                    value: Amount::from_base_units(each).expect("in range"),
                    pubkey_hash: self.keys[(k + i + 1) % 16].public_key().pubkey_hash(),
                })
                .collect(),
            lock_time: 0,
        };
        let sighash = tx.sighash(&self.genesis, &self.spent(&tx));
        for input in &mut tx.inputs {
            input.signature = key.sign(&sighash);
        }
        tx
    }

    /// The outputs `tx` spends, from the fixture's UTXO view.
    fn spent(&self, tx: &Transaction) -> Vec<TxOut> {
        tx.inputs
            .iter()
            .map(|i| self.view[&i.prev].output)
            .collect()
    }

    fn block(&mut self, txs: usize) -> Block {
        let mut transactions: Vec<Transaction> =
            (0..txs).map(|i| self.transaction(1, 2, i)).collect();
        let fees = Amount::from_base_units(10_000 * txs as u64).expect("in range");
        let reward = subsidy(&self.params, HEIGHT)
            .checked_add(fees)
            .expect("in range");
        transactions.insert(
            0,
            Transaction::coinbase(
                HEIGHT.get() as u32,
                vec![TxOut {
                    value: reward,
                    pubkey_hash: self.keys[0].public_key().pubkey_hash(),
                }],
            ),
        );
        let txids: Vec<Txid> = transactions.iter().map(Transaction::txid).collect();
        Block {
            header: Header {
                version: 1,
                height: HEIGHT,
                prev_hash: BlockHash([1; 32]),
                merkle_root: merkle_root(&txids),
                timestamp: 2_000_000_000,
                target: self.params.pow_limit,
                nonce: 0,
            },
            transactions,
        }
    }
}

fn signatures(c: &mut Criterion) {
    let mut f = Fixture::new();
    let tx = f.transaction(1, 2, 0);
    let sighash = tx.sighash(&f.genesis, &f.spent(&tx));
    let input = &tx.inputs[0];
    c.bench_function("signature/verify", |b| {
        b.iter(|| assert!(black_box(&input.pubkey).verify(black_box(&sighash), &input.signature)))
    });
    c.bench_function("signature/verify-k256", |b| {
        b.iter(|| {
            assert!(verify::pure_rust::verify(
                black_box(&input.pubkey.0),
                black_box(&sighash.0),
                &input.signature.0
            ))
        })
    });
}

fn transactions(c: &mut Criterion) {
    let mut group = c.benchmark_group("transaction");
    for (name, inputs, outputs) in [("1-in-2-out", 1, 2), ("10-in-2-out", 10, 2)] {
        let mut f = Fixture::new();
        let tx = f.transaction(inputs, outputs, 3);
        group.throughput(Throughput::Elements(inputs as u64));
        group.bench_with_input(BenchmarkId::new("validate", name), &tx, |b, tx| {
            b.iter(|| check_transaction(tx, &f.view, HEIGHT, &f.params, &f.genesis).expect("valid"))
        });
    }
    group.finish();
}

fn block(c: &mut Criterion) {
    const TXS: usize = 2_000;
    let mut f = Fixture::new();
    let block = f.block(TXS);
    let txids = check_block(&block, &f.params).expect("valid block");
    let inputs = TXS as u64;
    let mut group = c.benchmark_group("block-2000tx");
    group.sample_size(20);
    group.throughput(Throughput::Elements(inputs));
    group.bench_function("validate-parallel", |b| {
        b.iter(|| {
            let txids = check_block(&block, &f.params).expect("valid");
            connect_block(&block, &txids, &f.view, &f.params, &f.genesis, &|_| false)
                .expect("valid")
        })
    });
    group.bench_function("validate-without-signatures", |b| {
        b.iter(|| {
            let txids = check_block(&block, &f.params).expect("valid");
            connect_block(&block, &txids, &f.view, &f.params, &f.genesis, &|_| true).expect("valid")
        })
    });
    // The raw single-thread loops over the same inputs: parse key and signature, verify
    // the prehash. The libsecp256k1 one is goal 1's yardstick.
    let jobs: Vec<([u8; 33], [u8; 64], [u8; 32])> = block.transactions[1..]
        .iter()
        .map(|tx| {
            let sighash = tx.sighash(&f.genesis, &f.spent(tx));
            (tx.inputs[0].pubkey.0, tx.inputs[0].signature.0, sighash.0)
        })
        .collect();
    let secp = secp256k1::Secp256k1::verification_only();
    group.bench_function("raw-libsecp256k1-verify-loop-single-thread", |b| {
        b.iter(|| {
            for (pk, sig, msg) in &jobs {
                let key = secp256k1::PublicKey::from_slice(pk).expect("valid key");
                let sig = secp256k1::ecdsa::Signature::from_compact(sig).expect("valid sig");
                let msg = secp256k1::Message::from_digest(*msg);
                secp.verify_ecdsa(msg, &sig, &key).expect("verifies");
            }
        })
    });
    group.bench_function("raw-k256-verify-loop-single-thread", |b| {
        b.iter(|| {
            for (pk, sig, msg) in &jobs {
                let key = k256::ecdsa::VerifyingKey::from_sec1_bytes(pk).expect("valid key");
                let sig = k256::ecdsa::Signature::from_slice(sig).expect("valid signature");
                key.verify_prehash(msg, &sig).expect("verifies");
            }
        })
    });
    group.finish();
    drop(txids);
}

/// The median time of a benchmark of this run, from criterion's estimates, in seconds.
fn median_secs(id: &str) -> Option<f64> {
    let dir = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    let path = format!("{dir}/criterion/{id}/new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    Some(v["median"]["point_estimate"].as_f64()? / 1e9)
}

/// Goal 1 from this run's medians.
fn summary() {
    let parallel = median_secs("block-2000tx/validate-parallel");
    let single = median_secs("block-2000tx/raw-libsecp256k1-verify-loop-single-thread");
    let k256 = median_secs("block-2000tx/raw-k256-verify-loop-single-thread");
    if let (Some(p), Some(s), Some(k)) = (parallel, single, k256) {
        let cores = rayon::current_num_threads() as f64;
        println!(
            "goal 1: block validation {:.0} inputs/s on {cores} cores; single-core libsecp256k1 loop {:.0}/s (k256 {:.0}/s, libsecp256k1 {:.2} x k256); ratio {:.2} (goal >= 0.8)",
            2_000.0 / p,
            2_000.0 / s,
            2_000.0 / k,
            k / s,
            s / p / cores
        );
    }
}

criterion_group!(benches, signatures, transactions, block);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    summary();
}
