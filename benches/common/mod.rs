//! Fixtures shared by the chain and network benchmarks: a test network whose premine
//! funds many keys, and a long chain of full blocks built offline.

use ferro::consensus::{Network, NetworkParams, ParentInfo};
use ferro::miner;
use ferro::primitives::{
    sha256d, Amount, Block, BlockHash, Height, OutPoint, PubkeyHash, SecretKey, Signature, Target,
    Transaction, TxIn, TxOut, COIN,
};
use rayon::prelude::*;

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
    let genesis_txid = net.genesis.transactions[0].txid();
    let mut coins: Vec<(OutPoint, u64)> = (0..keys.len())
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
    let mut out = Vec::with_capacity(blocks);
    let mut prev = net.genesis_hash;
    for b in 0..blocks {
        let height = Height(b as u64 + 1);
        let txs: Vec<Transaction> = coins
            .par_iter()
            .enumerate()
            .map(|(j, (op, value))| {
                let n = (b * keys.len() + j) as u64;
                payment(
                    net,
                    &keys[j],
                    *op,
                    *value,
                    payee(n),
                    1_000 + b as u64,
                    1_000,
                )
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
        let block = seal(net, keys, prev, height, txs);
        prev = block.hash();
        out.push(block);
    }
    out
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
