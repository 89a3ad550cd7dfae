//! Mempool policy tests over a tiny network with a premine to test keys and a `HashMap`
//! as the confirmed UTXO set.

use super::*;
use crate::consensus::validation::verify_signatures;
use crate::consensus::{Network, NetworkParams};
use crate::primitives::{DecodeError, Header, SecretKey, Signature, Target, TxIn, TxOut, COIN};

/// Premined outputs per key, each `PREMINE` coins.
const OUTPUTS_PER_KEY: u32 = 4;
const PREMINE: u64 = 10 * COIN;
const MATURITY: u64 = 2;
const NEXT: Height = Height(10);

fn key(n: u8) -> SecretKey {
    SecretKey::from_bytes(&[n; 32]).expect("a valid test key")
}

fn pkh(n: u8) -> PubkeyHash {
    key(n).public_key().pubkey_hash()
}

fn units(u: u64) -> Amount {
    Amount::from_base_units(u).expect("in range")
}

struct Fixture {
    net: Network,
    chain: HashMap<OutPoint, Coin>,
    sigs: SigCache,
    /// Every output of every transaction built by [`Fixture::tx_locked`], so a child can
    /// sign over its unconfirmed parent's outputs (sighash v2).
    made: std::cell::RefCell<HashMap<OutPoint, TxOut>>,
}

impl Fixture {
    /// Keys 1-3 each own `OUTPUTS_PER_KEY` premined coins of `PREMINE`, mature at `NEXT`.
    fn new() -> Fixture {
        let params = NetworkParams {
            coinbase_maturity: MATURITY,
            pow_limit: Target::with_leading_zeros(1),
            ..Network::devnet().params
        };
        let premine: Vec<TxOut> = (1..=3u8)
            .flat_map(|k| {
                (0..OUTPUTS_PER_KEY).map(move |_| TxOut {
                    value: units(PREMINE),
                    pubkey_hash: pkh(k),
                })
            })
            .collect();
        let net = Network::create(params, premine, 1_800_000_000).expect("valid test network");
        let coinbase = &net.genesis.transactions[0];
        let txid = coinbase.txid();
        let chain = coinbase
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
                        height: Height::GENESIS,
                        coinbase: true,
                    },
                )
            })
            .collect();
        Fixture {
            net,
            chain,
            sigs: SigCache::new(1000),
            made: Default::default(),
        }
    }

    /// Premined output `i` of key `k`.
    fn premined(&self, k: u8, i: u32) -> OutPoint {
        OutPoint {
            txid: self.net.genesis.transactions[0].txid(),
            vout: u32::from(k - 1) * OUTPUTS_PER_KEY + i,
        }
    }

    /// A transaction spending `inputs` (each signed by its key) paying `outputs`.
    fn tx(&self, inputs: &[(OutPoint, u8)], outputs: &[(u8, u64)]) -> Transaction {
        self.tx_locked(inputs, outputs, 0)
    }

    fn tx_locked(
        &self,
        inputs: &[(OutPoint, u8)],
        outputs: &[(u8, u64)],
        lock_time: u32,
    ) -> Transaction {
        let mut tx = Transaction {
            version: 1,
            inputs: inputs
                .iter()
                .map(|(prev, k)| TxIn {
                    prev: *prev,
                    pubkey: key(*k).public_key(),
                    signature: Signature([0; 64]),
                })
                .collect(),
            outputs: outputs
                .iter()
                .map(|(k, v)| TxOut {
                    value: units(*v),
                    pubkey_hash: pkh(*k),
                })
                .collect(),
            lock_time,
        };
        let sighash = tx.sighash(&self.net.genesis_hash, &self.spent_outputs(&tx));
        for (input, (_, k)) in tx.inputs.iter_mut().zip(inputs) {
            input.signature = key(*k).sign(&sighash);
        }
        let txid = tx.txid();
        let mut made = self.made.borrow_mut();
        for (vout, output) in tx.outputs.iter().enumerate() {
            made.insert(
                OutPoint {
                    txid,
                    vout: vout as u32,
                },
                *output,
            );
        }
        tx
    }

    /// The outputs `tx` spends: premined, or made by an earlier [`Fixture::tx_locked`]. An
    /// unknown outpoint (a test of `missing-input`) is signed over as a zero output.
    fn spent_outputs(&self, tx: &Transaction) -> Vec<TxOut> {
        let made = self.made.borrow();
        tx.inputs
            .iter()
            .map(|i| match self.chain.get(&i.prev) {
                Some(coin) => coin.output,
                None => made.get(&i.prev).copied().unwrap_or(TxOut {
                    value: Amount::ZERO,
                    pubkey_hash: PubkeyHash([0; 20]),
                }),
            })
            .collect()
    }

    /// One input of `value` owned by key `k` at `prev`, paying `value - fee` to key `to`.
    fn pay(&self, prev: OutPoint, k: u8, value: u64, fee: u64, to: u8) -> Transaction {
        self.tx(&[(prev, k)], &[(to, value - fee)])
    }

    fn accept(&self, pool: &mut Mempool, tx: &Transaction) -> Result<Accepted, MempoolError> {
        self.accept_at(pool, tx, NEXT)
    }

    fn accept_at(
        &self,
        pool: &mut Mempool,
        tx: &Transaction,
        height: Height,
    ) -> Result<Accepted, MempoolError> {
        pool.accept(
            tx.clone(),
            &self.chain,
            height,
            &self.net.params,
            &self.net.genesis_hash,
            &self.sigs,
        )
    }

    /// The usage of a roomy pool after accepting `txs` in order: a limit they exactly fill.
    fn usage_of(&self, txs: &[&Transaction]) -> usize {
        let mut pool = Mempool::default();
        for tx in txs {
            self.accept(&mut pool, tx).expect("valid");
        }
        pool.usage()
    }

    fn code(&self, pool: &mut Mempool, tx: &Transaction) -> &'static str {
        match self.accept(pool, tx) {
            Ok(_) => "ok",
            Err(e) => e.code().as_str(),
        }
    }
}

/// One input, one output.
const SIZE_1_1: u64 = 177;

fn block(txs: Vec<Transaction>) -> Block {
    let mut transactions = vec![Transaction::coinbase(
        NEXT.get() as u32,
        vec![TxOut {
            value: units(COIN),
            pubkey_hash: pkh(9),
        }],
    )];
    transactions.extend(txs);
    Block {
        header: Header {
            version: 1,
            height: NEXT,
            prev_hash: BlockHash::default(),
            merkle_root: Default::default(),
            timestamp: 0,
            target: Target::with_leading_zeros(1),
            nonce: 0,
        },
        transactions,
    }
}

#[test]
fn accepts_then_reports_already_known() {
    let f = Fixture::new();
    let mut pool = Mempool::default();
    let tx = f.pay(f.premined(1, 0), 1, PREMINE, 1000, 2);
    assert_eq!(tx.size() as u64, SIZE_1_1);
    let txid = tx.txid();
    let first = f.accept(&mut pool, &tx).expect("valid");
    assert_eq!(
        first,
        Accepted {
            txid,
            fee: units(1000),
            already_known: false,
            evicted: vec![],
        }
    );
    assert_eq!((pool.len(), pool.bytes()), (1, tx.size()));
    assert!(pool.contains(&txid));
    assert_eq!(pool.get(&txid), Some(&tx));
    assert_eq!(pool.fee(&txid), Some(units(1000)));
    assert_eq!(pool.spender(&f.premined(1, 0)), Some(txid));
    let again = f.accept(&mut pool, &tx).expect("idempotent");
    assert!(again.already_known);
    assert_eq!(again.fee, units(1000));
    assert_eq!((pool.len(), pool.bytes()), (1, tx.size()));
}

#[test]
fn each_rejection_has_its_code() {
    let f = Fixture::new();
    let mut pool = Mempool::new(MempoolConfig {
        max_tx_size: 300,
        ..MempoolConfig::default()
    });
    let coinbase = Transaction::coinbase(
        3,
        vec![TxOut {
            value: units(1),
            pubkey_hash: pkh(1),
        }],
    );
    assert_eq!(f.code(&mut pool, &coinbase), "coinbase-not-allowed");

    let inputs: Vec<_> = (0..3).map(|i| (f.premined(1, i), 1)).collect();
    let large = f.tx(&inputs, &[(2, 3 * PREMINE - 10_000)]);
    assert!(large.size() > 300);
    assert_eq!(f.code(&mut pool, &large), "tx-too-large");

    // Fee one unit below one per byte.
    let cheap = f.pay(f.premined(1, 0), 1, PREMINE, SIZE_1_1 - 1, 2);
    let err = f
        .accept(&mut pool, &cheap)
        .expect_err("below the minimum rate");
    assert_eq!(err.code(), "fee-too-low");
    assert!(err.to_string().contains("minimum fee rate of 1"));
    // Exactly one per byte is enough.
    let exact = f.pay(f.premined(1, 0), 1, PREMINE, SIZE_1_1, 2);
    assert_eq!(f.code(&mut pool, &exact), "ok");

    let mut bad_sig = f.pay(f.premined(1, 1), 1, PREMINE, 1000, 2);
    bad_sig.inputs[0].signature = key(1).sign(&Default::default());
    assert_eq!(f.code(&mut pool, &bad_sig), "bad-signature");

    let wrong_key = f.tx(&[(f.premined(1, 1), 2)], &[(2, PREMINE - 1000)]);
    assert_eq!(f.code(&mut pool, &wrong_key), "pubkey-mismatch");

    let unknown = OutPoint {
        txid: Txid([7; 32]),
        vout: 0,
    };
    assert_eq!(
        f.code(&mut pool, &f.pay(unknown, 1, PREMINE, 1000, 2)),
        "missing-input"
    );

    let overspend = f.pay(f.premined(1, 1), 1, PREMINE + 1000, 0, 2);
    assert_eq!(f.code(&mut pool, &overspend), "outputs-exceed-inputs");

    // The premine is a coinbase at height 0: immature below height MATURITY.
    let early = f.pay(f.premined(1, 1), 1, PREMINE, 1000, 2);
    let err = f
        .accept_at(&mut pool, &early, Height(MATURITY - 1))
        .expect_err("immature");
    assert_eq!(err.code(), "immature-coinbase");

    let locked = f.tx_locked(
        &[(f.premined(1, 1), 1)],
        &[(2, PREMINE - 1000)],
        NEXT.get() as u32 + 1,
    );
    assert_eq!(f.code(&mut pool, &locked), "non-final");

    assert_eq!(pool.len(), 1, "only the exact-fee transaction got in");
}

#[test]
fn conflicts_with_the_pool_are_refused() {
    let f = Fixture::new();
    let mut pool = Mempool::default();
    let first = f.pay(f.premined(1, 0), 1, PREMINE, 1000, 2);
    f.accept(&mut pool, &first).expect("valid");
    // Pays more, still refused: no replacement.
    let second = f.pay(f.premined(1, 0), 1, PREMINE, 50_000, 3);
    let err = f.accept(&mut pool, &second).expect_err("conflict");
    assert_eq!(err.code(), "double-spend");
    assert_eq!(
        err,
        MempoolError::DoubleSpend {
            outpoint: f.premined(1, 0),
            by: first.txid(),
        }
    );
    assert!(!pool.contains(&second.txid()));
    // Spending the pool transaction's output twice is a conflict too.
    let out = OutPoint {
        txid: first.txid(),
        vout: 0,
    };
    let child = f.pay(out, 2, PREMINE - 1000, 1000, 3);
    f.accept(&mut pool, &child)
        .expect("spends an unconfirmed parent");
    let other = f.pay(out, 2, PREMINE - 1000, 2000, 1);
    assert_eq!(f.code(&mut pool, &other), "double-spend");
}

#[test]
fn unconfirmed_chain_is_templated_parents_first() {
    let f = Fixture::new();
    let mut pool = Mempool::default();
    // a (rate ~1) -> b (rate ~2) -> c (rate ~100); d independent at rate ~10.
    let a = f.pay(f.premined(1, 0), 1, PREMINE, SIZE_1_1, 2);
    let a_out = OutPoint {
        txid: a.txid(),
        vout: 0,
    };
    let b = f.pay(a_out, 2, PREMINE - SIZE_1_1, 2 * SIZE_1_1, 3);
    let b_out = OutPoint {
        txid: b.txid(),
        vout: 0,
    };
    let c = f.pay(b_out, 3, PREMINE - 3 * SIZE_1_1, 100 * SIZE_1_1, 1);
    let d = f.pay(f.premined(2, 0), 2, PREMINE, 10 * SIZE_1_1, 3);
    // A child cannot come before its parent.
    assert_eq!(f.code(&mut pool, &b), "missing-input");
    for tx in [&a, &b, &c, &d] {
        f.accept(&mut pool, tx).expect("valid");
    }
    assert_eq!(
        pool.txids_by_fee_rate(),
        vec![c.txid(), d.txid(), b.txid(), a.txid()]
    );
    let template = pool.block_template(1_000_000);
    let order: Vec<Txid> = template.iter().map(|(tx, _)| tx.txid()).collect();
    assert_eq!(order, vec![d.txid(), a.txid(), b.txid(), c.txid()]);
    let fees: Vec<u64> = template
        .iter()
        .map(|(_, fee)| fee.to_base_units())
        .collect();
    assert_eq!(
        fees,
        vec![10 * SIZE_1_1, SIZE_1_1, 2 * SIZE_1_1, 100 * SIZE_1_1]
    );
    // Room for two: d, then a; b and c wait for a later block.
    let small = pool.block_template(2 * SIZE_1_1 as usize);
    let order: Vec<Txid> = small.iter().map(|(tx, _)| tx.txid()).collect();
    assert_eq!(order, vec![d.txid(), a.txid()]);
    // Room for one: d, never a child without its parent.
    let one = pool.block_template(SIZE_1_1 as usize);
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].0.txid(), d.txid());
}

#[test]
fn fee_rate_order_is_exact() {
    let f = Fixture::new();
    let mut pool = Mempool::default();
    // Rates 1000/177 vs 1130/205 (two outputs): 5.649.. vs 5.512..
    let one_out = f.pay(f.premined(1, 0), 1, PREMINE, 1000, 2);
    let two_out = f.tx(
        &[(f.premined(1, 1), 1)],
        &[(2, 1000), (3, PREMINE - 1000 - 1130)],
    );
    assert_eq!(two_out.size(), 205);
    // Same rate as one_out but later: ties go to the older.
    let tie = f.pay(f.premined(2, 0), 2, PREMINE, 1000, 3);
    let top = f.pay(f.premined(3, 0), 3, PREMINE, 5000, 1);
    for tx in [&two_out, &one_out, &tie, &top] {
        f.accept(&mut pool, tx).expect("valid");
    }
    assert_eq!(
        pool.txids_by_fee_rate(),
        vec![top.txid(), one_out.txid(), tie.txid(), two_out.txid()]
    );
    assert!(FeeRate::new(units(1), 2) == FeeRate::new(units(2), 4));
    assert!(FeeRate::new(units(1000), 177) > FeeRate::new(units(1130), 205));
    assert!(FeeRate::new(Amount::MAX, usize::MAX) < FeeRate::new(units(1), 1));
}

#[test]
fn newest_and_fee_rate_histogram_for_the_explorer() {
    let f = Fixture::new();
    let mut pool = Mempool::default();
    let a = f.pay(f.premined(1, 0), 1, PREMINE, 1000, 2);
    let b = f.pay(f.premined(2, 0), 2, PREMINE, 5000, 3);
    let c = f.pay(f.premined(3, 0), 3, PREMINE, 100_000, 1);
    for tx in [&a, &b, &c] {
        f.accept(&mut pool, tx).expect("valid");
    }
    let newest: Vec<Txid> = pool.newest(2).into_iter().map(|(t, _, _)| t).collect();
    assert_eq!(newest, vec![c.txid(), b.txid()]);
    assert_eq!(pool.newest(10).len(), 3);
    assert!(pool.newest(0).is_empty());
    // Rates: a about 5/B, b about 28/B, c about 565/B.
    let hist = pool.fee_rate_histogram(&[1, 10, 100]);
    assert_eq!(
        hist.iter().map(|b| b.0).collect::<Vec<_>>(),
        vec![1, 1, 1],
        "{hist:?}"
    );
    assert_eq!(hist.iter().map(|b| b.1).sum::<u64>(), pool.bytes() as u64);
}

#[test]
fn full_pool_evicts_lowest_rate_with_descendants() {
    let f = Fixture::new();
    let size = SIZE_1_1 as usize;
    // low (rate 1) with a high-rate child, and mid (rate 5): the pool is full.
    let low = f.pay(f.premined(1, 0), 1, PREMINE, SIZE_1_1, 2);
    let low_out = OutPoint {
        txid: low.txid(),
        vout: 0,
    };
    let child = f.pay(low_out, 2, PREMINE - SIZE_1_1, 50 * SIZE_1_1, 3);
    let mid = f.pay(f.premined(2, 0), 2, PREMINE, 5 * SIZE_1_1, 3);
    let limit = f.usage_of(&[&low, &child, &mid]);
    let mut pool = Mempool::new(MempoolConfig {
        max_usage: limit,
        min_fee_rate: 1,
        max_tx_size: size,
        ..MempoolConfig::default()
    });
    for tx in [&low, &child, &mid] {
        f.accept(&mut pool, tx).expect("room");
    }
    assert_eq!(pool.bytes(), 3 * size);
    assert_eq!(pool.usage(), limit);
    // Entering now needs more than the lowest rate (1 per byte).
    assert_eq!(pool.min_fee_rate(), 2);

    // Rate 1 is not above the lowest: refused, nothing evicted.
    let poor = f.pay(f.premined(3, 0), 3, PREMINE, SIZE_1_1, 1);
    let err = f.accept(&mut pool, &poor).expect_err("full");
    assert_eq!(err.code(), "mempool-full");
    assert!(err.to_string().contains("about 2 base units per byte"));
    assert_eq!(pool.len(), 3);

    // Rate 3 displaces low and, with it, its child (which paid 50 per byte).
    let newcomer = f.pay(f.premined(3, 0), 3, PREMINE, 3 * SIZE_1_1, 1);
    let accepted = f.accept(&mut pool, &newcomer).expect("evicts");
    assert_eq!(accepted.evicted, vec![low.txid(), child.txid()]);
    assert!(!pool.contains(&low.txid()) && !pool.contains(&child.txid()));
    assert_eq!(pool.spender(&f.premined(1, 0)), None);
    assert_eq!(pool.spender(&low_out), None);
    assert_eq!(pool.len(), 2);
    assert_eq!(pool.bytes(), 2 * size);
    assert!(pool.usage() < limit);
    // Still no room for a largest transaction (4 bytes of memory a byte): the lowest
    // rate, the newcomer's 3, sets the entry rate.
    assert_eq!(pool.min_fee_rate(), 4);

    // Fill it: the lowest rate is still the newcomer's 3.
    let filler = f.pay(f.premined(3, 1), 3, PREMINE, 4 * SIZE_1_1, 1);
    f.accept(&mut pool, &filler).expect("room");
    assert_eq!(pool.min_fee_rate(), 4);
    // An equal rate does not displace it.
    let equal = f.pay(f.premined(3, 2), 3, PREMINE, 3 * SIZE_1_1, 1);
    assert_eq!(f.code(&mut pool, &equal), "mempool-full");
    // The advertised entry rate does.
    let enough = f.pay(f.premined(3, 2), 3, PREMINE, 4 * SIZE_1_1, 1);
    let accepted = f
        .accept(&mut pool, &enough)
        .expect("evicts the rate-3 newcomer");
    assert_eq!(accepted.evicted, vec![newcomer.txid()]);
    assert_eq!(pool.len(), 3);
    assert_eq!(pool.bytes(), 3 * size);
    assert!(pool.usage() <= limit);
    assert_eq!(pool.heap, pool.heap_from_scratch());
}

#[test]
fn with_room_for_a_largest_transaction_the_configured_minimum_applies() {
    let f = Fixture::new();
    let low = f.pay(f.premined(1, 0), 1, PREMINE, SIZE_1_1, 2);
    let mid = f.pay(f.premined(2, 0), 2, PREMINE, 5 * SIZE_1_1, 3);
    let full = f.usage_of(&[&low, &mid]);
    let room = SIZE_1_1 as usize * LARGEST_TX_USAGE_PER_BYTE;
    for (limit, expected) in [(full, 2), (full + room - 1, 2), (full + room, 1)] {
        let mut pool = Mempool::new(MempoolConfig {
            max_usage: limit,
            min_fee_rate: 1,
            max_tx_size: SIZE_1_1 as usize,
            ..MempoolConfig::default()
        });
        for tx in [&low, &mid] {
            f.accept(&mut pool, tx).expect("room");
        }
        assert_eq!(pool.min_fee_rate(), expected, "limit {limit}");
    }
}

#[test]
fn usage_counts_memory_not_serialized_bytes() {
    let f = Fixture::new();
    let mut pool = Mempool::default();
    assert_eq!((pool.bytes(), pool.usage()), (0, 0));
    let a = f.pay(f.premined(1, 0), 1, PREMINE, 1000, 2);
    let b = f.pay(
        OutPoint {
            txid: a.txid(),
            vout: 0,
        },
        2,
        PREMINE - 1000,
        1000,
        3,
    );
    let two_outputs = f.tx(
        &[(f.premined(2, 0), 2)],
        &[(1, COIN), (3, PREMINE - COIN - 1000)],
    );
    for tx in [&a, &b, &two_outputs] {
        f.accept(&mut pool, tx).expect("valid");
        assert_eq!(pool.heap, pool.heap_from_scratch());
    }
    // Small transactions take several times their size in memory.
    assert!(
        pool.usage() > 3 * pool.bytes(),
        "{} vs {}",
        pool.usage(),
        pool.bytes()
    );
    // Removal gives back what the entries held (the tables keep their capacity).
    let before = pool.usage();
    pool.remove_for_block(&block(vec![a.clone()]));
    assert_eq!(pool.heap, pool.heap_from_scratch());
    assert!(pool.usage() < before);
    assert_eq!(
        pool.transactions_for(&pkh(2)),
        vec![b.txid(), two_outputs.txid()]
    );
    pool.remove_for_block(&block(vec![b, two_outputs]));
    assert!(pool.is_empty());
    assert_eq!(pool.heap, 0);
    assert_eq!(pool.bytes(), 0);
}

#[test]
fn eviction_never_takes_the_newcomers_own_parent() {
    let f = Fixture::new();
    let size = SIZE_1_1 as usize;
    let parent = f.pay(f.premined(1, 0), 1, PREMINE, SIZE_1_1, 2);
    let mut pool = Mempool::new(MempoolConfig {
        max_usage: f.usage_of(&[&parent]),
        min_fee_rate: 1,
        max_tx_size: size,
        ..MempoolConfig::default()
    });
    f.accept(&mut pool, &parent).expect("room");
    let out = OutPoint {
        txid: parent.txid(),
        vout: 0,
    };
    let child = f.pay(out, 2, PREMINE - SIZE_1_1, 10 * SIZE_1_1, 3);
    assert_eq!(f.code(&mut pool, &child), "mempool-full");
    assert!(pool.contains(&parent.txid()));
}

#[test]
fn block_removes_confirmed_and_conflicting_with_descendants() {
    let f = Fixture::new();
    let mut pool = Mempool::default();
    let a = f.pay(f.premined(1, 0), 1, PREMINE, 1000, 2);
    let a_out = OutPoint {
        txid: a.txid(),
        vout: 0,
    };
    let b = f.pay(a_out, 2, PREMINE - 1000, 1000, 3);
    let x = f.pay(f.premined(2, 0), 2, PREMINE, 1000, 3);
    let x_out = OutPoint {
        txid: x.txid(),
        vout: 0,
    };
    let xc = f.pay(x_out, 3, PREMINE - 1000, 1000, 1);
    let unrelated = f.pay(f.premined(3, 0), 3, PREMINE, 1000, 1);
    for tx in [&a, &b, &x, &xc, &unrelated] {
        f.accept(&mut pool, tx).expect("valid");
    }
    // The block confirms a and spends x's input differently.
    let y = f.pay(f.premined(2, 0), 2, PREMINE, 2000, 1);
    let conflicts = pool.remove_for_block(&block(vec![a.clone(), y]));
    assert_eq!(conflicts, vec![x.txid(), xc.txid()]);
    assert!(!pool.contains(&a.txid()));
    assert!(pool.contains(&b.txid()) && pool.contains(&unrelated.txid()));
    assert_eq!(pool.len(), 2);
    assert_eq!(pool.bytes(), b.size() + unrelated.size());
    // b's parent is confirmed now: b alone is minable.
    let template = pool.block_template(b.size());
    assert_eq!(template.len(), 1);
    assert_eq!(template[0].0.txid(), b.txid());
    assert_eq!(pool.spender(&f.premined(2, 0)), None);
}

#[test]
fn reorg_readmits_valid_and_revalidate_drops_invalid() {
    let mut f = Fixture::new();
    let mut pool = Mempool::default();
    // Transactions of a disconnected block: a and its child b are still valid on the new
    // chain; gone spends an output the new chain no longer has.
    let a = f.pay(f.premined(1, 0), 1, PREMINE, 1000, 2);
    let b = f.pay(
        OutPoint {
            txid: a.txid(),
            vout: 0,
        },
        2,
        PREMINE - 1000,
        1000,
        3,
    );
    let gone_out = OutPoint {
        txid: Txid([9; 32]),
        vout: 0,
    };
    let gone = f.pay(gone_out, 1, PREMINE, 1000, 2);

    // A pool transaction spending a coinbase output created at height 8 on the old chain:
    // mature at 10, and its child.
    let young = OutPoint {
        txid: Txid([8; 32]),
        vout: 0,
    };
    f.chain.insert(
        young,
        Coin {
            output: TxOut {
                value: units(PREMINE),
                pubkey_hash: pkh(3),
            },
            height: Height(8),
            coinbase: true,
        },
    );
    let spends_young = f.pay(young, 3, PREMINE, 1000, 1);
    let grandchild = f.pay(
        OutPoint {
            txid: spends_young.txid(),
            vout: 0,
        },
        1,
        PREMINE - 1000,
        1000,
        2,
    );
    let steady = f.pay(f.premined(3, 0), 3, PREMINE, 1000, 1);
    for tx in [&spends_young, &grandchild, &steady] {
        f.accept(&mut pool, tx).expect("valid on the old chain");
    }

    // The new chain: its coinbase at (8,0) is now at height 9, immature at NEXT.
    f.chain.insert(
        young,
        Coin {
            output: TxOut {
                value: units(PREMINE),
                pubkey_hash: pkh(3),
            },
            height: Height(9),
            coinbase: true,
        },
    );
    let readmitted = pool.reinsert_after_reorg(
        vec![a.clone(), b.clone(), gone],
        &f.chain,
        NEXT,
        &f.net.params,
        &f.net.genesis_hash,
        &f.sigs,
    );
    assert_eq!(readmitted, vec![a.txid(), b.txid()]);
    assert!(!pool.contains(&spends_young.txid()));
    assert!(!pool.contains(&grandchild.txid()));
    assert!(pool.contains(&steady.txid()));
    assert_eq!(pool.len(), 3);

    // A later tip makes the premine output a spends disappear: a and b go.
    f.chain.remove(&f.premined(1, 0));
    let removed = pool.revalidate(&f.chain, Height(11), &f.net.params);
    assert_eq!(removed, vec![a.txid(), b.txid()]);
    assert_eq!(pool.len(), 1);
    assert_eq!(pool.bytes(), steady.size());
}

#[test]
fn reinserted_parent_links_to_children_admitted_meanwhile() {
    let mut f = Fixture::new();
    let mut pool = Mempool::default();
    // p was confirmed; c, spending p's output, entered the pool then.
    let p = f.pay(f.premined(1, 0), 1, PREMINE, 1000, 2);
    let p_out = OutPoint {
        txid: p.txid(),
        vout: 0,
    };
    let confirmed = f.chain.remove(&f.premined(1, 0)).expect("premined");
    f.chain.insert(
        p_out,
        Coin {
            output: p.outputs[0],
            height: Height(9),
            coinbase: false,
        },
    );
    let c = f.pay(p_out, 2, PREMINE - 1000, 1000, 3);
    f.accept(&mut pool, &c).expect("valid");
    // p's block is disconnected: the chain has the premine output again, not p's.
    f.chain.remove(&p_out);
    f.chain.insert(f.premined(1, 0), confirmed);
    let readmitted = pool.reinsert_after_reorg(
        vec![p.clone()],
        &f.chain,
        Height(9),
        &f.net.params,
        &f.net.genesis_hash,
        &f.sigs,
    );
    assert_eq!(readmitted, vec![p.txid()]);
    assert!(
        pool.contains(&c.txid()),
        "c is valid on top of p in the pool"
    );
    let order: Vec<Txid> = pool
        .block_template(1_000_000)
        .iter()
        .map(|(tx, _)| tx.txid())
        .collect();
    assert_eq!(order, vec![p.txid(), c.txid()]);
    // Removing p (e.g. conflict) takes c along.
    let conflict = f.pay(f.premined(1, 0), 1, PREMINE, 5000, 3);
    assert_eq!(
        pool.remove_for_block(&block(vec![conflict])),
        vec![p.txid(), c.txid()]
    );
    assert!(pool.is_empty());
}

#[test]
fn signature_cache_is_filled_on_success_only() {
    let f = Fixture::new();
    let mut pool = Mempool::default();
    let good = f.pay(f.premined(1, 0), 1, PREMINE, 1000, 2);
    let mut bad = f.pay(f.premined(1, 1), 1, PREMINE, 1000, 2);
    bad.inputs[0].signature =
        key(2).sign(&bad.sighash(&f.net.genesis_hash, &f.spent_outputs(&bad)));
    f.accept(&mut pool, &good).expect("valid");
    assert_eq!(f.code(&mut pool, &bad), "bad-signature");
    assert!(f.sigs.contains(&good.txid()));
    assert!(!f.sigs.contains(&bad.txid()));
    assert_eq!(f.sigs.len(), 1);
}

#[test]
fn address_delta_counts_pool_outputs_and_spends() {
    let f = Fixture::new();
    let mut pool = Mempool::default();
    // Key 1 pays 3 coins to key 2, 6.99999 back to itself.
    let pay = f.tx(
        &[(f.premined(1, 0), 1)],
        &[(2, 3 * COIN), (1, 7 * COIN - 1000)],
    );
    f.accept(&mut pool, &pay).expect("valid");
    assert_eq!(
        pool.address_delta(&pkh(1), &f.chain),
        -3 * i128::from(COIN) - 1000
    );
    assert_eq!(pool.address_delta(&pkh(2), &f.chain), 3 * i128::from(COIN));
    assert_eq!(pool.address_delta(&pkh(3), &f.chain), 0);
    // Key 2 spends its unconfirmed 3 coins to key 3: found among pool outputs.
    let out = OutPoint {
        txid: pay.txid(),
        vout: 0,
    };
    let on = f.pay(out, 2, 3 * COIN, 1000, 3);
    f.accept(&mut pool, &on).expect("valid");
    assert_eq!(pool.address_delta(&pkh(2), &f.chain), 0);
    assert_eq!(
        pool.address_delta(&pkh(3), &f.chain),
        3 * i128::from(COIN) - 1000
    );
    assert_eq!(pool.transactions_for(&pkh(2)), vec![pay.txid(), on.txid()]);
    assert_eq!(pool.transactions_for(&pkh(3)), vec![on.txid()]);
    assert_eq!(
        pool.coin(&out).map(|c| c.output.value),
        Some(units(3 * COIN))
    );
    assert_eq!(pool.spender(&out), Some(on.txid()));
}

#[test]
fn recommended_fee_rate_follows_the_next_block() {
    let f = Fixture::new();
    let mut pool = Mempool::default();
    assert_eq!(pool.recommended_fee_rate(1_000_000), 1);
    let high = f.pay(f.premined(1, 0), 1, PREMINE, 20 * SIZE_1_1, 2);
    let mid = f.pay(f.premined(2, 0), 2, PREMINE, 7 * SIZE_1_1 + 3, 3);
    let low = f.pay(f.premined(3, 0), 3, PREMINE, 2 * SIZE_1_1, 1);
    for tx in [&high, &mid, &low] {
        f.accept(&mut pool, tx).expect("valid");
    }
    // Everything fits: the minimum.
    assert_eq!(pool.recommended_fee_rate(1_000_000), 1);
    // Room for two: just above mid's rate of 7 and a bit.
    assert_eq!(pool.recommended_fee_rate(2 * SIZE_1_1 as usize), 8);
}

/// The node's path: `precheck` under the lock, signatures outside it, `accept` under the
/// lock again. Whatever changed in between is re-checked: a conflict admitted meanwhile
/// wins, and precheck itself changes nothing.
#[test]
fn precheck_then_accept_rechecks_conflicts_under_the_lock() {
    let f = Fixture::new();
    let mut pool = Mempool::default();
    let first = f.pay(f.premined(1, 0), 1, PREMINE, 1000, 2);
    let precheck = |pool: &Mempool, tx: &Transaction| {
        pool.precheck(
            tx,
            &f.chain,
            NEXT,
            &f.net.params,
            &f.net.genesis_hash,
            &f.sigs,
        )
    };
    let (txid, sighash) = precheck(&pool, &first)
        .expect("passes the cheap checks")
        .expect("signatures still to verify");
    assert_eq!(txid, first.txid());
    assert_eq!(
        sighash,
        first.sighash(&f.net.genesis_hash, &f.spent_outputs(&first))
    );
    assert!(
        pool.is_empty() && f.sigs.is_empty(),
        "precheck changes nothing"
    );
    // Verified outside the lock; meanwhile a conflicting transaction got in.
    verify_signatures_parallel(&first, &sighash).expect("valid signatures");
    let rival = f.pay(f.premined(1, 0), 1, PREMINE, 2000, 3);
    f.accept(&mut pool, &rival).expect("valid");
    f.sigs.insert(txid);
    assert_eq!(f.code(&mut pool, &first), "double-spend");
    assert!(pool.contains(&rival.txid()) && !pool.contains(&first.txid()));
    // Cheap failures are found by precheck already; a cached txid needs no verifying.
    assert_eq!(
        precheck(&pool, &first)
            .map(|_| ())
            .expect_err("conflict")
            .code(),
        "double-spend"
    );
    let other = f.pay(f.premined(2, 0), 2, PREMINE, 1000, 1);
    f.sigs.insert(other.txid());
    assert_eq!(precheck(&pool, &other), Ok(None));
    assert_eq!(precheck(&pool, &rival), Ok(None), "already in the pool");
}

/// A transaction's inputs are verified across the cores; the first bad input in order is
/// the one reported, as with the sequential check.
#[test]
fn parallel_signature_check_reports_the_first_bad_input() {
    let f = Fixture::new();
    let inputs: Vec<(OutPoint, u8)> = (0..OUTPUTS_PER_KEY)
        .map(|i| (f.premined(1, i), 1))
        .chain((0..OUTPUTS_PER_KEY).map(|i| (f.premined(2, i), 2)))
        .collect();
    let mut tx = f.tx(&inputs, &[(3, PREMINE)]);
    let sighash = tx.sighash(&f.net.genesis_hash, &f.spent_outputs(&tx));
    assert_eq!(verify_signatures_parallel(&tx, &sighash), Ok(()));
    for bad in [6, 2] {
        tx.inputs[bad].signature.0[5] ^= 1;
    }
    assert_eq!(
        verify_signatures_parallel(&tx, &sighash),
        Err(TxError::BadSignature { index: 2 })
    );
    assert_eq!(
        verify_signatures(&tx, &sighash),
        Err(TxError::BadSignature { index: 2 })
    );
}

/// Relay (issue 16): a fetch answer lists parents before children whatever order they
/// were asked in, and the paged txid listing continues after its cursor.
#[test]
fn relay_order_and_pages() {
    let f = Fixture::new();
    let mut pool = Mempool::default();
    let parent = f.pay(f.premined(1, 0), 1, PREMINE, 1_000, 2);
    f.accept(&mut pool, &parent).expect("valid");
    let child = f.pay(
        OutPoint {
            txid: parent.txid(),
            vout: 0,
        },
        2,
        PREMINE - 1_000,
        50_000,
        3,
    );
    f.accept(&mut pool, &child).expect("valid");
    let other = f.pay(f.premined(1, 1), 1, PREMINE, 2_000, 2);
    f.accept(&mut pool, &other).expect("valid");
    let unknown = Txid::from_bytes([9; 32]);
    let order = pool.ancestors_first(&[child.txid(), unknown, other.txid(), parent.txid()]);
    let at = |t: Txid| order.iter().position(|x| *x == t);
    assert_eq!(order.len(), 3, "the unknown txid is left out");
    assert!(at(parent.txid()) < at(child.txid()));

    let all = pool.txids_by_fee_rate();
    let first = pool.txids_by_fee_rate_page(None, 2).expect("a page");
    assert_eq!(first, all[..2].to_vec());
    let rest = pool
        .txids_by_fee_rate_page(first.last(), 2)
        .expect("the cursor is in the pool");
    assert_eq!(rest, all[2..].to_vec());
    assert_eq!(pool.txids_by_fee_rate_page(Some(&unknown), 2), None);
}

#[test]
fn outputs_below_the_dust_limit_are_refused_as_dust() {
    let f = Fixture::new();
    let mut pool = Mempool::default();
    let limit = MempoolConfig::default().dust_limit;
    assert_eq!(limit, 500);
    // One output exactly at the limit passes, one just below it does not.
    let below = f.tx(
        &[(f.premined(1, 0), 1)],
        &[(2, PREMINE - 10_000), (3, limit - 1)],
    );
    assert_eq!(f.code(&mut pool, &below), "dust");
    match f.accept(&mut pool, &below) {
        Err(MempoolError::Dust { vout, value, limit }) => {
            assert_eq!((vout, value, limit), (1, 499, 500));
        }
        other => panic!("expected dust, got {other:?}"),
    }
    assert!(pool.is_empty(), "nothing of a dust transaction is kept");
    let at = f.tx(
        &[(f.premined(1, 0), 1)],
        &[(2, PREMINE - 10_000), (3, limit)],
    );
    assert_eq!(f.code(&mut pool, &at), "ok");
    // The limit is a setting: zero turns the policy off (consensus still refuses 0).
    let mut lax = Mempool::new(MempoolConfig {
        dust_limit: 1,
        ..MempoolConfig::default()
    });
    let tiny = f.tx(&[(f.premined(2, 0), 2)], &[(2, PREMINE - 10_000), (3, 1)]);
    assert_eq!(f.code(&mut lax, &tiny), "ok");
    // Dust is a policy code: never punished when relayed (PROTOCOL.md section 9).
    assert!(!crate::net::discourage::punishes_relayed_tx(Code::Dust));
}

/// A pool on a clock the test moves, with `expiry` seconds of expiry.
fn pool_with_clock(expiry: u64) -> (Mempool, crate::clock::ManualClock) {
    let clock = crate::clock::ManualClock::new(1_900_000_000);
    let pool = Mempool::with_clock(
        MempoolConfig {
            expiry_secs: expiry,
            ..MempoolConfig::default()
        },
        clock.clock(),
    );
    (pool, clock)
}

#[test]
fn expiry_drops_old_transactions_with_their_descendants() {
    let f = Fixture::new();
    let (mut pool, clock) = pool_with_clock(DEFAULT_EXPIRY_SECS);
    let parent = f.pay(f.premined(1, 0), 1, PREMINE, 1000, 2);
    let out = OutPoint {
        txid: parent.txid(),
        vout: 0,
    };
    f.accept(&mut pool, &parent).expect("valid");
    // A day later a child arrives, and an unrelated transaction.
    clock.advance(86_400);
    let child = f.pay(out, 2, PREMINE - 1000, 1000, 3);
    let other = f.pay(f.premined(3, 0), 3, PREMINE, 1000, 1);
    f.accept(&mut pool, &child).expect("valid");
    f.accept(&mut pool, &other).expect("valid");
    assert_eq!(pool.entered(&parent.txid()), Some(1_900_000_000));
    // One second short of 14 days for the parent: nothing leaves.
    clock.advance(DEFAULT_EXPIRY_SECS - 86_400 - 1);
    assert!(pool.expire().is_empty());
    assert_eq!(pool.len(), 3);
    // At 14 days the parent leaves with its child (younger, but it cannot stay without
    // its input); the unrelated one, a day younger, stays.
    clock.advance(1);
    assert_eq!(pool.expire(), vec![parent.txid(), child.txid()]);
    assert_eq!(pool.len(), 1);
    assert!(pool.contains(&other.txid()));
    assert_eq!(pool.bytes(), other.size());
    assert!(pool.spender(&f.premined(1, 0)).is_none());
    // Its turn a day later.
    clock.advance(86_400);
    assert_eq!(pool.expire(), vec![other.txid()]);
    assert!(pool.is_empty());
    assert_eq!(pool.bytes(), 0);
}

#[test]
fn restored_entry_times_are_kept_but_never_in_the_future() {
    let f = Fixture::new();
    let (mut pool, clock) = pool_with_clock(100);
    let now = clock.now();
    let old = f.pay(f.premined(1, 0), 1, PREMINE, 1000, 2);
    let future = f.pay(f.premined(2, 0), 2, PREMINE, 1000, 3);
    for (tx, entered) in [(&old, now - 60), (&future, now + 1_000_000)] {
        pool.accept_entered(
            tx.clone(),
            &f.chain,
            NEXT,
            &f.net.params,
            &f.net.genesis_hash,
            &f.sigs,
            entered,
        )
        .expect("valid");
    }
    assert_eq!(pool.entered(&old.txid()), Some(now - 60));
    assert_eq!(pool.entered(&future.txid()), Some(now));
    clock.advance(40);
    assert_eq!(pool.expire(), vec![old.txid()]);
    clock.advance(60);
    assert_eq!(pool.expire(), vec![future.txid()]);
}

#[test]
fn snapshot_round_trips_through_the_file_format_parents_first() {
    let f = Fixture::new();
    let mut pool = Mempool::default();
    // The child pays a higher rate than its parent: by rate it would come first.
    let parent = f.pay(f.premined(1, 0), 1, PREMINE, 1000, 2);
    let out = OutPoint {
        txid: parent.txid(),
        vout: 0,
    };
    let child = f.pay(out, 2, PREMINE - 1000, 50_000, 3);
    let other = f.pay(f.premined(3, 0), 3, PREMINE, 5000, 1);
    for tx in [&parent, &child, &other] {
        f.accept(&mut pool, tx).expect("valid");
    }
    let snapshot = pool.snapshot();
    let order: Vec<Txid> = snapshot.iter().map(|(t, _)| t.txid()).collect();
    let at = |t: &Txid| order.iter().position(|x| x == t).expect("saved");
    assert!(at(&parent.txid()) < at(&child.txid()));
    assert_eq!(order.len(), 3);
    let bytes = persist::encode(&snapshot);
    assert_eq!(persist::decode(&bytes).expect("round trip"), snapshot);
    // Re-admitted in file order into a fresh pool: everything comes back.
    let mut again = Mempool::default();
    for (tx, _) in persist::decode(&bytes).expect("round trip") {
        f.accept(&mut again, &tx).expect("still valid");
    }
    assert_eq!(again.len(), 3);
    assert_eq!(again.bytes(), pool.bytes());
}

#[test]
fn damaged_saved_pools_are_refused_whole() {
    let f = Fixture::new();
    let tx = f.pay(f.premined(1, 0), 1, PREMINE, 1000, 2);
    let good = persist::encode(&[(tx.clone(), 7)]);
    // Every flipped byte (magic, count, entry, checksum) is caught.
    for i in 0..good.len() {
        let mut bad = good.clone();
        bad[i] ^= 0x40;
        assert!(persist::decode(&bad).is_err(), "flip at {i} passed");
    }
    // Truncations, trailing bytes, empty input, another file.
    for cut in [0, 5, 12, good.len() - 1] {
        assert!(persist::decode(&good[..cut]).is_err(), "cut at {cut}");
    }
    let mut longer = good.clone();
    longer.push(0);
    assert!(persist::decode(&longer).is_err());
    assert!(persist::decode(b"{\"not\":\"a mempool\"}").is_err());
    // A hostile count with a valid checksum cannot make the decoder allocate for it.
    let mut hostile = b"FERROMP1".to_vec();
    hostile.extend_from_slice(&u32::MAX.to_le_bytes());
    hostile.extend_from_slice(&[0; 40]);
    let sum = {
        use sha2::Digest;
        sha2::Sha256::digest(&hostile)
    };
    hostile.extend_from_slice(&sum);
    assert!(matches!(
        persist::decode(&hostile),
        Err(persist::PersistError::Decode(
            DecodeError::CountTooLarge { .. }
        ))
    ));
}

#[test]
fn saved_pool_files_are_written_atomically_and_read_within_a_bound() {
    let f = Fixture::new();
    let dir = tempfile::tempdir().expect("temp dir");
    assert!(persist::load(dir.path(), 1 << 20)
        .expect("no file")
        .is_none());
    let tx = f.pay(f.premined(1, 0), 1, PREMINE, 1000, 2);
    persist::save(dir.path(), &[(tx.clone(), 42)]).expect("saved");
    assert!(!dir.path().join("mempool.dat.tmp").exists());
    let loaded = persist::load(dir.path(), 1 << 20)
        .expect("read")
        .expect("a file");
    assert_eq!(loaded, vec![(tx, 42)]);
    // A file over the bound is refused without being read whole.
    assert!(matches!(
        persist::load(dir.path(), 10),
        Err(persist::PersistError::TooLarge { limit: 10 })
    ));
    std::fs::write(dir.path().join(persist::FILE_NAME), b"garbage").expect("write");
    assert!(persist::load(dir.path(), 1 << 20).is_err());
}
