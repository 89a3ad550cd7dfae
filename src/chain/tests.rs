//! Chain state tests: connecting, reorgs against a fresh replay, the rich list against a
//! brute-force sum, reopening, simulated crashes, and orphans in any order.

use super::store::{Batch, ChainStore, Direction, MemoryStore, StoreError, Table};
use super::*;
use crate::consensus::{Network, NetworkParams};
use crate::error::ErrorCode;
use crate::primitives::{
    Amount, Block, BlockHash, OutPoint, PubkeyHash, SecretKey, Signature, Target, Transaction,
    TxIn, TxOut, COIN,
};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

const NOW: u64 = 2_000_000_000;

fn key(n: u8) -> SecretKey {
    SecretKey::from_bytes(&[n.max(1); 32]).expect("valid key")
}

fn pkh(n: u8) -> PubkeyHash {
    key(n).public_key().pubkey_hash()
}

/// A network where one hash in two meets the target, no retarget happens, coinbases
/// mature after 2 blocks, and key 1 holds a 1 000-coin premine.
fn network() -> Network {
    network_with_max_block_size(1_000_000)
}

/// [`network`] with blocks of at most `max_block_size` encoded bytes.
fn network_with_max_block_size(max_block_size: u64) -> Network {
    let params = NetworkParams {
        name: "chaintest".into(),
        address_hrp: "ftest".into(),
        initial_reward: Amount::from_coins(50).expect("in range"),
        halving_interval: 150,
        target_block_time: 10,
        retarget_interval: 1_000_000,
        pow_limit: Target::with_leading_zeros(1),
        coinbase_maturity: 2,
        max_block_size,
    };
    let premine = vec![TxOut {
        value: Amount::from_coins(1_000).expect("in range"),
        pubkey_hash: pkh(1),
    }];
    Network::create(params, premine, 1_000_000).expect("valid test network")
}

/// A payment of `amount` from `from` to `to`, spending `coins` (outpoint, value), change
/// back to `from`, fee 1 000.
fn pay(net: &Network, from: u8, coins: &[(OutPoint, Amount)], to: u8, amount: u64) -> Transaction {
    let total: u64 = coins.iter().map(|(_, v)| v.to_base_units()).sum();
    let change = total - amount - 1_000;
    let mut outputs = vec![TxOut {
        value: Amount::from_base_units(amount).expect("in range"),
        pubkey_hash: pkh(to),
    }];
    if change > 0 {
        outputs.push(TxOut {
            value: Amount::from_base_units(change).expect("in range"),
            pubkey_hash: pkh(from),
        });
    }
    let mut tx = Transaction {
        version: 1,
        inputs: coins
            .iter()
            .map(|(op, _)| TxIn {
                prev: *op,
                pubkey: key(from).public_key(),
                signature: Signature([0; 64]),
            })
            .collect(),
        outputs,
        lock_time: 0,
    };
    let spent: Vec<TxOut> = coins
        .iter()
        .map(|(_, value)| TxOut {
            value: *value,
            pubkey_hash: pkh(from),
        })
        .collect();
    let sighash = tx.sighash(&net.genesis_hash, &spent);
    for i in &mut tx.inputs {
        i.signature = key(from).sign(&sighash);
    }
    tx
}

/// A valid block on `parent` whose coinbase pays the subsidy to `miner`; `salt` varies
/// the timestamp so sibling blocks differ.
fn block_on<S: ChainStore>(
    chain: &ChainState<S>,
    parent: BlockHash,
    txs: Vec<Transaction>,
    miner: u8,
    salt: u64,
) -> Block {
    let info = chain.parent_info(&parent).expect("known parent");
    // Fees are not claimed (zero here), so the coinbase pays exactly the subsidy.
    let txs = txs.into_iter().map(|t| (t, Amount::ZERO)).collect();
    let now = info.median_time_past + 1 + salt;
    let mut block =
        crate::miner::block_template(&chain.network().params, &info, txs, pkh(miner), now);
    assert!(crate::miner::solve(&mut block, &|| false));
    block
}

fn memory_chain() -> ChainState<Arc<MemoryStore>> {
    ChainState::open(Arc::new(MemoryStore::new()), network()).expect("opens")
}

fn premine(net: &Network) -> (OutPoint, Amount) {
    (
        OutPoint {
            txid: net.genesis.transactions[0].txid(),
            vout: 0,
        },
        net.genesis.transactions[0].outputs[0].value,
    )
}

/// Extends the tip with `n` empty blocks mined by `miner`.
fn extend<S: ChainStore>(chain: &mut ChainState<S>, n: usize, miner: u8) {
    for _ in 0..n {
        let b = block_on(chain, chain.tip_hash(), vec![], miner, 0);
        chain.accept_block(b, NOW).expect("valid block");
    }
}

/// The index tables that must equal a fresh replay of the active chain.
const INDEX_TABLES: [Table; 9] = [
    Table::Active,
    Table::Utxo,
    Table::TxIndex,
    Table::SpentBy,
    Table::AddrUtxo,
    Table::AddrHistory,
    Table::AddrStats,
    Table::Rich,
    Table::Meta,
];

fn active_blocks<S: ChainStore>(chain: &ChainState<S>) -> Vec<Block> {
    (1..=chain.height().get())
        .map(|h| {
            let hash = chain
                .block_hash_at(crate::primitives::Height(h))
                .expect("active");
            chain.block(&hash).expect("store").expect("stored")
        })
        .collect()
}

/// Asserts the chain's indexes equal those of a fresh chain fed the active blocks.
fn assert_matches_replay(chain: &ChainState<Arc<MemoryStore>>) {
    let fresh = memory_chain();
    let mut fresh = fresh;
    for b in active_blocks(chain) {
        fresh.accept_block(b, NOW).expect("replays");
    }
    for table in INDEX_TABLES {
        assert_eq!(
            chain.store().dump(table),
            fresh.store().dump(table),
            "table {} differs from a fresh replay",
            table.name()
        );
    }
}

/// Asserts balances, the rich list and the supply equal brute-force sums over the UTXO set.
fn assert_indexes_match_utxos(chain: &ChainState<Arc<MemoryStore>>) {
    let mut balances: BTreeMap<PubkeyHash, u64> = BTreeMap::new();
    let mut supply = 0u64;
    for (_, v) in chain.store().dump(Table::Utxo) {
        let coin = records::decode_coin(&v).expect("coin");
        *balances.entry(coin.output.pubkey_hash).or_default() += coin.output.value.to_base_units();
        supply += coin.output.value.to_base_units();
    }
    let mut expected: Vec<(PubkeyHash, Amount)> = balances
        .iter()
        .filter(|(_, b)| **b > 0)
        .map(|(p, b)| (*p, Amount::from_base_units(*b).expect("in range")))
        .collect();
    expected.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    assert_eq!(chain.rich_list(usize::MAX).expect("reads"), expected);
    assert_eq!(chain.totals().expect("reads").circulating_supply, supply);
    for (p, b) in balances {
        assert_eq!(chain.address_stats(&p).expect("reads").balance, b);
    }
}

#[test]
fn genesis_premine_is_indexed() {
    let chain = memory_chain();
    let net = network();
    assert_eq!(chain.height().get(), 0);
    assert_eq!(chain.tip_hash(), net.genesis_hash);
    let totals = chain.totals().expect("reads");
    assert_eq!(totals.transactions, 1);
    assert_eq!(totals.addresses, 1);
    assert_eq!(totals.circulating_supply, 1_000 * COIN);
    let stats = chain.address_stats(&pkh(1)).expect("reads");
    assert_eq!(
        (stats.balance, stats.tx_count, stats.utxo_count),
        (1_000 * COIN, 1, 1)
    );
    assert_indexes_match_utxos(&chain);
}

#[test]
fn payments_update_every_index() {
    let net = network();
    let mut chain = memory_chain();
    extend(&mut chain, 2, 9); // premine matures at height 2
    let tx = pay(&net, 1, &[premine(&net)], 2, 10 * COIN);
    let txid = tx.txid();
    let b = block_on(&chain, chain.tip_hash(), vec![tx.clone()], 9, 0);
    let hash = b.hash();
    let accepted = chain.accept_block(b, NOW).expect("valid");
    assert_eq!(accepted.status, AcceptStatus::Connected);
    let loc = chain.tx_location(&txid).expect("reads").expect("indexed");
    assert_eq!(
        (loc.block_hash, loc.height.get(), loc.position),
        (hash, 3, 1)
    );
    assert_eq!(
        chain.transaction(&txid).expect("reads").map(|(t, _)| t),
        Some(tx)
    );
    assert_eq!(
        chain.spender(&premine(&net).0).expect("reads"),
        Some((txid, crate::primitives::Height(3)))
    );
    let to = chain.address_stats(&pkh(2)).expect("reads");
    assert_eq!(
        (to.balance, to.received, to.tx_count),
        (10 * COIN, 10 * COIN, 1)
    );
    let from = chain.address_stats(&pkh(1)).expect("reads");
    assert_eq!(from.sent, 1_000 * COIN);
    assert_eq!(from.tx_count, 2);
    let history = chain.address_history(&pkh(1), None, 10).expect("reads");
    assert_eq!(
        history.iter().map(|(t, _)| *t).collect::<Vec<_>>(),
        vec![txid, net.genesis.transactions[0].txid()]
    );
    let older = chain
        .address_history(&pkh(1), Some(&txid), 10)
        .expect("reads");
    assert_eq!(older.len(), 1);
    assert_eq!(chain.address_utxos(&pkh(2), 10).expect("reads").len(), 1);
    assert_eq!(
        chain
            .block_fees(&hash, &chain.block(&hash).expect("r").expect("s"))
            .expect("r"),
        Some(vec![Amount::from_base_units(1_000).expect("ok")])
    );
    // 50-coin subsidies minus the 1 000 base-unit fee the coinbase did not claim.
    assert_eq!(
        chain.totals().expect("reads").circulating_supply,
        1_000 * COIN + 3 * 50 * COIN - 1_000
    );
    assert_indexes_match_utxos(&chain);
    assert_matches_replay(&chain);
}

/// Builds a common chain with a payment, then two branches from `fork_depth` blocks below
/// the tip; the second is one block longer and wins.
fn reorg_of_depth(depth: usize) {
    let net = network();
    let mut chain = memory_chain();
    extend(&mut chain, 2, 9);
    let first = pay(&net, 1, &[premine(&net)], 2, 100 * COIN);
    let b = block_on(&chain, chain.tip_hash(), vec![first.clone()], 9, 0);
    chain.accept_block(b, NOW).expect("valid");
    let fork = chain.tip_hash();
    // Branch A: `depth` blocks, the first carrying a payment spending the change.
    let change = (
        OutPoint {
            txid: first.txid(),
            vout: 1,
        },
        first.outputs[1].value,
    );
    let a_tx = pay(&net, 1, &[change], 3, 5 * COIN);
    let mut a_blocks = Vec::new();
    let mut parent = fork;
    for i in 0..depth {
        let txs = if i == 0 { vec![a_tx.clone()] } else { vec![] };
        let b = block_on(&chain, parent, txs, 7, 0);
        parent = b.hash();
        a_blocks.push(b.clone());
        chain.accept_block(b, NOW).expect("valid");
    }
    assert_eq!(chain.tip_hash(), parent);
    // Branch B: depth + 1 blocks, spending the same change differently.
    let b_tx = pay(&net, 1, &[change], 4, 7 * COIN);
    let mut parent = fork;
    let mut last = None;
    for i in 0..=depth {
        let txs = if i == 1 { vec![b_tx.clone()] } else { vec![] };
        let b = block_on(&chain, parent, txs, 8, 1);
        parent = b.hash();
        // Branch B arrives as a sync delivers it: its early blocks are far behind the tip.
        let accepted = chain.accept_synced_block(b, NOW).expect("valid");
        last = Some(accepted);
    }
    let accepted = last.expect("at least one block");
    assert_eq!(accepted.status, AcceptStatus::Reorganized);
    assert_eq!(accepted.disconnected.len(), depth);
    assert_eq!(accepted.connected.len(), depth + 1);
    assert!(accepted
        .disconnected
        .iter()
        .any(|b| b.transactions.contains(&a_tx)));
    assert_eq!(chain.tip_hash(), parent);
    assert!(chain.tx_location(&a_tx.txid()).expect("reads").is_none());
    assert!(chain.tx_location(&b_tx.txid()).expect("reads").is_some());
    assert_eq!(
        chain.address_stats(&pkh(3)).expect("reads"),
        AddressStats::default()
    );
    assert_indexes_match_utxos(&chain);
    assert_matches_replay(&chain);
}

#[test]
fn reorg_of_depth_1_matches_fresh_replay() {
    reorg_of_depth(1);
}

#[test]
fn reorg_of_depth_10_matches_fresh_replay() {
    reorg_of_depth(10);
}

#[test]
fn pushed_side_blocks_far_behind_the_tip_are_not_stored() {
    let mut chain = memory_chain();
    extend(&mut chain, 9, 9);
    let old = chain
        .block_hash_at(crate::primitives::Height(1))
        .expect("active");
    let stale = block_on(&chain, old, vec![], 8, 5);
    let hash = stale.hash();
    assert_eq!(
        chain.accept_block(stale.clone(), NOW).map(|a| a.status),
        Ok(AcceptStatus::SideChain)
    );
    assert!(!chain.knows_block(&hash));
    assert_eq!(
        chain.accept_synced_block(stale, NOW).map(|a| a.status),
        Ok(AcceptStatus::SideChain)
    );
    assert!(chain.knows_block(&hash));
}

#[test]
fn equal_work_keeps_the_first_seen_tip() {
    let mut chain = memory_chain();
    extend(&mut chain, 2, 9);
    let parent = chain
        .block_hash_at(crate::primitives::Height(1))
        .expect("active");
    let tip = chain.tip_hash();
    let rival = block_on(&chain, parent, vec![], 8, 3);
    let accepted = chain.accept_block(rival, NOW).expect("valid");
    assert_eq!(accepted.status, AcceptStatus::SideChain);
    assert_eq!(chain.tip_hash(), tip);
}

#[test]
fn invalid_side_branch_does_not_take_over() {
    let net = network();
    let mut chain = memory_chain();
    extend(&mut chain, 3, 9);
    let tip = chain.tip_hash();
    let fork = chain
        .block_hash_at(crate::primitives::Height(2))
        .expect("active");
    // A side block whose payment is signed by the wrong key passes the context-free checks
    // and is stored; it fails only when the branch is connected.
    let mut bad = pay(&net, 1, &[premine(&net)], 2, COIN);
    let spent = [TxOut {
        value: premine(&net).1,
        pubkey_hash: pkh(1),
    }];
    bad.inputs[0].signature = key(5).sign(&bad.sighash(&net.genesis_hash, &spent));
    let b1 = block_on(&chain, fork, vec![bad], 8, 1);
    assert_eq!(
        chain.accept_block(b1.clone(), NOW).expect("stored").status,
        AcceptStatus::SideChain
    );
    let b2 = block_on(&chain, b1.hash(), vec![], 8, 1);
    let err = chain
        .accept_block(b2.clone(), NOW)
        .expect_err("branch is invalid");
    assert_eq!(err.code(), "bad-signature");
    assert_eq!(chain.tip_hash(), tip);
    assert_matches_replay(&chain);
    // Children of the invalid branch are refused at once.
    let b3 = block_on(&chain, b2.hash(), vec![], 8, 1);
    assert_eq!(
        chain.accept_block(b3, NOW).map_err(|e| e.code().as_str()),
        Err("bad-prev")
    );
}

#[test]
fn invalid_blocks_change_nothing() {
    let net = network();
    let mut chain = memory_chain();
    extend(&mut chain, 2, 9);
    let before: Vec<_> = INDEX_TABLES
        .iter()
        .map(|t| chain.store().dump(*t))
        .collect();
    // Coinbase claims more than subsidy plus fees.
    let mut b = block_on(&chain, chain.tip_hash(), vec![], 9, 0);
    b.transactions[0].outputs[0].value = Amount::from_coins(51).expect("ok");
    b.header.merkle_root = crate::consensus::merkle_root(&[b.transactions[0].txid()]);
    while !b.header.target.is_met_by(&b.hash().0) {
        b.header.nonce += 1;
    }
    assert_eq!(
        chain
            .accept_block(b.clone(), NOW)
            .map_err(|e| e.code().as_str()),
        Err("bad-coinbase-value")
    );
    // Known-invalid blocks are refused again without work.
    assert_eq!(
        chain.accept_block(b, NOW).map_err(|e| e.code().as_str()),
        Err("bad-coinbase-value")
    );
    // A double spend of the premine within one block.
    let t1 = pay(&net, 1, &[premine(&net)], 2, COIN);
    let t2 = pay(&net, 1, &[premine(&net)], 3, COIN);
    let b = block_on(&chain, chain.tip_hash(), vec![t1, t2], 9, 0);
    assert_eq!(
        chain.accept_block(b, NOW).map_err(|e| e.code().as_str()),
        Err("missing-input")
    );
    // Too far in the future: refused for now, not judged invalid.
    let mut b = block_on(&chain, chain.tip_hash(), vec![], 9, 0);
    b.header.timestamp = NOW + 3 * 3600;
    while !b.header.target.is_met_by(&b.hash().0) {
        b.header.nonce += 1;
    }
    assert_eq!(
        chain
            .accept_block(b.clone(), NOW)
            .map_err(|e| e.code().as_str()),
        Err("time-too-new")
    );
    assert_eq!(
        chain.accept_block(b, NOW + 3 * 3600).map(|a| a.status),
        Ok(AcceptStatus::Connected)
    );
    let after: Vec<_> = INDEX_TABLES
        .iter()
        .map(|t| chain.store().dump(*t))
        .collect();
    assert_ne!(before, after, "the late block did connect");
}

#[test]
fn orphans_connect_in_any_order() {
    let mut source = memory_chain();
    extend(&mut source, 6, 9);
    let blocks = active_blocks(&source);
    let orders: [[usize; 6]; 4] = [
        [5, 4, 3, 2, 1, 0],
        [1, 3, 5, 0, 2, 4],
        [2, 0, 1, 5, 4, 3],
        [0, 1, 2, 3, 4, 5],
    ];
    for order in orders {
        let mut chain = memory_chain();
        for i in order {
            match chain.accept_block(blocks[i].clone(), NOW) {
                Ok(_) => {}
                Err(e) => assert_eq!(e.code(), "unknown-parent"),
            }
        }
        assert_eq!(chain.tip_hash(), source.tip_hash(), "order {order:?}");
        assert_eq!((chain.orphan_count(), chain.orphan_bytes()), (0, 0));
        assert_matches_replay(&chain);
    }
}

#[test]
fn orphans_need_their_own_proof_of_work_and_are_bounded() {
    let mut source = memory_chain();
    extend(&mut source, 2, 9);
    let mut b = active_blocks(&source).pop().expect("two blocks");
    while b.header.target.is_met_by(&b.hash().0) {
        b.header.nonce += 1;
    }
    let mut chain = memory_chain();
    assert_eq!(
        chain.accept_block(b, NOW).map_err(|e| e.code().as_str()),
        Err("bad-pow")
    );
    assert_eq!(chain.orphan_count(), 0);
    for i in 0..(state::MAX_ORPHANS as u64 + 10) {
        let mut o = active_blocks(&source).pop().expect("block");
        o.header.prev_hash = BlockHash([i as u8; 32]);
        o.header.timestamp += i;
        while !o.header.target.is_met_by(&o.hash().0) {
            o.header.nonce += 1;
        }
        let _ = chain.accept_block(o, NOW);
    }
    assert_eq!(chain.orphan_count(), state::MAX_ORPHANS);
}

/// A block of at most `size` encoded bytes (and less than one output short of it) on the unknown parent
/// `BlockHash([salt; 32])`: a valid coinbase splitting the subsidy over many outputs,
/// the right merkle root, and its own proof of work solved.
fn sized_orphan<S: ChainStore>(chain: &ChainState<S>, size: usize, salt: u8) -> Block {
    let params = &chain.network().params;
    let info = chain.parent_info(&chain.tip_hash()).expect("tip");
    let mut block = crate::miner::block_template(params, &info, vec![], pkh(9), NOW);
    let one = Amount::from_base_units(1).expect("in range");
    let outputs = size.saturating_sub(block.size()) / 28;
    let coinbase = &mut block.transactions[0];
    let rest = coinbase.outputs[0].value.to_base_units() - outputs as u64;
    coinbase.outputs[0].value = Amount::from_base_units(rest).expect("in range");
    coinbase.outputs.extend((0..outputs).map(|_| TxOut {
        value: one,
        pubkey_hash: pkh(salt),
    }));
    block.header.merkle_root = crate::consensus::merkle_root(&[coinbase.txid()]);
    block.header.prev_hash = BlockHash([salt; 32]);
    assert!(crate::miner::solve(&mut block, &|| false));
    block
}

#[test]
fn oversized_orphans_are_refused_before_they_are_kept() {
    const MAX: u64 = 4_000;
    let mut chain = ChainState::open(
        Arc::new(MemoryStore::new()),
        network_with_max_block_size(MAX),
    )
    .expect("opens");
    for salt in 0..100u8 {
        let block = sized_orphan(&chain, MAX as usize + 28 * (1 + usize::from(salt)), salt);
        assert!(block.size() as u64 > MAX);
        assert_eq!(
            chain
                .accept_block(block, NOW)
                .map_err(|e| e.code().as_str()),
            Err("block-too-large")
        );
    }
    assert_eq!((chain.orphan_count(), chain.orphan_bytes()), (0, 0));
    // At the limit exactly, an orphan is kept.
    let fits = sized_orphan(&chain, MAX as usize, 200);
    let size = fits.size();
    assert!(size as u64 <= MAX && size as u64 > MAX - 28, "{size}");
    assert_eq!(
        chain.accept_block(fits, NOW).map_err(|e| e.code().as_str()),
        Err("unknown-parent")
    );
    assert_eq!((chain.orphan_count(), chain.orphan_bytes()), (1, size));
}

#[test]
fn orphans_are_bounded_in_bytes_as_well_as_count() {
    const MAX: u64 = 4_000;
    let bound = (state::MAX_ORPHAN_BLOCKS_OF_BYTES * MAX) as usize;
    let mut chain = ChainState::open(
        Arc::new(MemoryStore::new()),
        network_with_max_block_size(MAX),
    )
    .expect("opens");
    let mut most = 0;
    for salt in 0..100u8 {
        // Sizes from a tenth of the limit to all of it: the bytes bound binds first.
        let size = MAX as usize * (1 + usize::from(salt) % 10) / 10;
        let block = sized_orphan(&chain, size, salt);
        assert_eq!(
            chain
                .accept_block(block, NOW)
                .map_err(|e| e.code().as_str()),
            Err("unknown-parent")
        );
        assert!(chain.orphan_count() <= state::MAX_ORPHANS);
        assert!(
            chain.orphan_bytes() <= bound,
            "{} bytes",
            chain.orphan_bytes()
        );
        most = most.max(chain.orphan_bytes());
    }
    // The pool was used (not emptied by eviction) and never passed its bound.
    assert!(
        most > bound - MAX as usize,
        "at most {most} bytes of {bound}"
    );

    // Many small orphans: the count bound binds.
    for salt in 100..200u8 {
        let block = sized_orphan(&chain, 0, salt);
        let _ = chain.accept_block(block, NOW);
    }
    assert_eq!(chain.orphan_count(), state::MAX_ORPHANS);
    assert!(chain.orphan_bytes() <= bound);
}

#[test]
fn reopen_after_clean_shutdown_keeps_everything() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("chain.redb");
    let net = network();
    let (tip, totals, rich) = {
        let mut chain =
            ChainState::open(DiskStore::open(&path).expect("db"), net.clone()).expect("opens");
        extend(&mut chain, 3, 9);
        let tx = pay(&net, 1, &[premine(&net)], 2, 3 * COIN);
        let b = block_on(&chain, chain.tip_hash(), vec![tx], 9, 0);
        chain.accept_block(b, NOW).expect("valid");
        (
            chain.tip_hash(),
            chain.totals().expect("r"),
            chain.rich_list(10).expect("r"),
        )
    };
    let mut chain =
        ChainState::open(DiskStore::open(&path).expect("db"), net.clone()).expect("reopens");
    assert_eq!(chain.tip_hash(), tip);
    assert_eq!(chain.totals().expect("r"), totals);
    assert_eq!(chain.rich_list(10).expect("r"), rich);
    extend(&mut chain, 1, 9);
    assert_eq!(chain.height().get(), 5);
    drop(chain);
    // Another network's node refuses this database.
    let other = Network::devnet();
    let err = ChainState::open(DiskStore::open(&path).expect("db"), other)
        .err()
        .expect("another network's database is refused");
    assert!(matches!(err, ChainError::WrongNetwork(_)), "{err}");
    // The message says what to do about a database from before the devnet was re-made.
    let text = err.to_string();
    assert!(text.contains("delete or move the data directory"), "{text}");
}

/// A store that fails every commit after the first `allowed`, like a crash between writes.
struct CrashingStore {
    inner: Arc<MemoryStore>,
    allowed: AtomicUsize,
}

impl ChainStore for CrashingStore {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(table, key)
    }
    fn scan(
        &self,
        table: Table,
        prefix: &[u8],
        after: Option<&[u8]>,
        d: Direction,
        limit: usize,
    ) -> Result<store::Entries, StoreError> {
        self.inner.scan(table, prefix, after, d, limit)
    }
    fn commit(&self, batch: &Batch) -> Result<(), StoreError> {
        if self.allowed.load(Ordering::SeqCst) == 0 {
            return Err(StoreError("simulated crash".into()));
        }
        self.allowed.fetch_sub(1, Ordering::SeqCst);
        self.inner.commit(batch)
    }
}

#[test]
fn reopen_after_a_crash_between_writes_is_consistent() {
    let net = network();
    // Every possible crash point across 8 blocks with a payment and a reorg, with no
    // chain state cache (a flush after every block), a small one (a flush every few
    // blocks) and one that never fills (nothing flushed before the crash). A crash is
    // not a clean shutdown: the chain is forgotten, never dropped, so its cache is lost.
    for budget in [0, 3_000, 1 << 30] {
        for allowed in 1..24 {
            let inner = Arc::new(MemoryStore::new());
            let store = CrashingStore {
                inner: inner.clone(),
                allowed: AtomicUsize::new(allowed),
            };
            let mut chain = ChainState::open_with_cache(store, net.clone(), budget)
                .expect("genesis commit allowed");
            let mut parent = net.genesis_hash;
            let mut crashed = false;
            let mut answered = Vec::new();
            for i in 0..6 {
                let txs = if i == 3 {
                    vec![pay(&net, 1, &[premine(&net)], 2, COIN)]
                } else {
                    vec![]
                };
                let b = block_on(&chain, parent, txs, 9, 0);
                parent = b.hash();
                if chain.accept_block(b, NOW).is_err() {
                    crashed = true;
                    break;
                }
                answered.push(parent);
            }
            if !crashed {
                let fork = chain
                    .block_hash_at(crate::primitives::Height(4))
                    .expect("active");
                let mut p = fork;
                for _ in 0..3 {
                    let b = block_on(&chain, p, vec![], 8, 1);
                    p = b.hash();
                    if chain.accept_block(b, NOW).is_err() {
                        break;
                    }
                }
            }
            let tip_before = chain.tip_hash();
            std::mem::forget(chain);
            let reopened = ChainState::open(inner, net.clone()).expect("reopens after crash");
            // Every block answered connected is still there.
            for hash in &answered {
                assert!(
                    reopened.knows_block(hash),
                    "budget {budget}, crash {allowed}"
                );
            }
            if !crashed {
                assert!(reopened.is_active(&tip_before) || reopened.knows_block(&tip_before));
            }
            assert_indexes_match_utxos(&reopened);
            assert_matches_replay(&reopened);
        }
    }
}

/// Key 1 pays key `2 + i % 4` one coin per block from the change of the block before:
/// each block spends an output the previous one created.
fn payment_blocks<S: ChainStore>(chains: &mut [&mut ChainState<S>], net: &Network, blocks: usize) {
    let mut coin = premine(net);
    for i in 0..blocks {
        let tx = pay(net, 1, &[coin], 2 + (i % 4) as u8, COIN);
        coin = (
            OutPoint {
                txid: tx.txid(),
                vout: 1,
            },
            tx.outputs[1].value,
        );
        let b = block_on(chains[0], chains[0].tip_hash(), vec![tx], 9, 0);
        for chain in chains.iter_mut() {
            chain.accept_block(b.clone(), NOW).expect("valid block");
        }
    }
}

/// Everything the read side answers, for comparing two chains.
fn reads<S: ChainStore>(chain: &ChainState<S>) -> String {
    let mut out = format!(
        "{:?} {:?} {:?}",
        chain.tip_hash(),
        chain.totals().expect("reads"),
        chain.rich_list(usize::MAX).expect("reads")
    );
    for k in 1..=9 {
        out += &format!(
            "\n{:?} {:?} {:?}",
            chain.address_stats(&pkh(k)).expect("reads"),
            chain.address_utxos(&pkh(k), 1000).expect("reads"),
            chain.address_history(&pkh(k), None, 1000).expect("reads"),
        );
    }
    out
}

#[test]
fn reads_through_the_cache_equal_a_chain_without_one() {
    let net = network();
    let mut cached =
        ChainState::open_with_cache(Arc::new(MemoryStore::new()), net.clone(), 1 << 30)
            .expect("opens");
    let mut plain = memory_chain();
    let genesis_utxos = cached.store().dump(Table::Utxo);
    extend(&mut cached, 2, 9);
    extend(&mut plain, 2, 9);
    payment_blocks(&mut [&mut plain, &mut cached], &net, 12);
    assert_eq!(reads(&cached), reads(&plain));
    let (bytes, entries) = cached.cache_usage();
    assert!(bytes > 0 && entries > 0);
    // Nothing flushed yet: the store still has only the genesis outputs.
    assert_eq!(cached.store().dump(Table::Utxo), genesis_utxos);
    // The change outputs created and spent between flushes are not even in the cache.
    let first_change = cached
        .address_history(&pkh(1), None, 1000)
        .expect("reads")
        .iter()
        .rev()
        .nth(1)
        .map(|(t, _)| *t)
        .expect("key 1's first payment (after the premine)");
    let spent = OutPoint {
        txid: first_change,
        vout: 1,
    };
    assert_ne!(first_change, net.genesis.transactions[0].txid());
    assert_eq!(plain.coin(&spent).expect("reads"), None, "spent");
    assert_eq!(
        cached.cached(Table::Utxo, &records::outpoint_key(&spent)),
        None
    );
    cached.flush().expect("flushes");
    assert_eq!(cached.cache_usage(), (0, 0));
    assert_eq!(reads(&cached), reads(&plain));
    assert_matches_replay(&cached);
    assert_indexes_match_utxos(&cached);
}

/// The cache is bounded: after every block it and the batch a flush in progress writes
/// hold at most the budget plus two blocks' changes in estimated bytes (a flush starts on
/// another thread past half the budget, after the previous one is done), hence a bounded
/// number of entries, and it flushes when full.
#[test]
fn the_chain_state_cache_stays_within_its_budget() {
    let net = network();
    let budget = 6_000;
    let mut chain = ChainState::open_with_cache(Arc::new(MemoryStore::new()), net.clone(), budget)
        .expect("opens");
    extend(&mut chain, 2, 9);
    let mut flushes = 0;
    let mut largest_block = 0;
    let mut held = Vec::new();
    let mut stored_tip = chain.store().get(Table::Meta, records::META_TIP);
    let mut coin = premine(&net);
    for i in 0..40 {
        let tx = pay(&net, 1, &[coin], 2 + (i % 4) as u8, COIN);
        coin = (
            OutPoint {
                txid: tx.txid(),
                vout: 1,
            },
            tx.outputs[1].value,
        );
        let b = block_on(&chain, chain.tip_hash(), vec![tx], 9, 0);
        let before = chain.cache_usage().0;
        chain.accept_block(b, NOW).expect("valid");
        let (bytes, entries) = chain.cache_usage();
        largest_block = largest_block.max(bytes.saturating_sub(before));
        held.push((bytes, entries));
        // A flush writes the chain state's tip to the store (perhaps a block later, when
        // it ran on another thread).
        let stored = chain.store().get(Table::Meta, records::META_TIP);
        flushes += usize::from(stored != stored_tip);
        stored_tip = stored;
    }
    assert!(largest_block > 0);
    let bound = budget + 2 * largest_block;
    for (bytes, entries) in held {
        assert!(bytes <= bound, "{bytes} bytes held, bound {bound}");
        assert!(entries <= bound / store::ENTRY_OVERHEAD);
    }
    assert!(
        flushes >= 5,
        "the cache filled and flushed ({flushes} times)"
    );
    chain.flush().expect("flushes");
    assert_eq!(chain.cache_usage(), (0, 0));
    assert_matches_replay(&chain);
}

mod property {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Step {
        /// Extend the tip with a block paying from a random owned coin.
        Pay { to: u8, fraction: u8 },
        /// Mine a competing branch from `back` blocks below the tip, `extra` blocks longer.
        Fork { back: u8, extra: u8 },
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            3 => (1u8..6, 1u8..100).prop_map(|(to, fraction)| Step::Pay { to, fraction }),
            1 => (1u8..4, 0u8..2).prop_map(|(back, extra)| Step::Fork { back, extra }),
        ]
    }

    /// Spendable coins of key `k` on the active chain at the next height.
    fn spendable(chain: &ChainState<Arc<MemoryStore>>, k: u8) -> Vec<(OutPoint, Amount)> {
        let next = chain.height().get() + 1;
        chain
            .address_utxos(&pkh(k), 100)
            .expect("reads")
            .into_iter()
            .filter(|(_, c)| !c.coinbase || c.height.get() + 2 <= next)
            .map(|(op, c)| (op, c.output.value))
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        #[test]
        fn rich_list_equals_brute_force_after_random_chains(steps in prop::collection::vec(step(), 1..10)) {
            let net = network();
            let mut chain = memory_chain();
            extend(&mut chain, 2, 1);
            let mut salt = 10;
            for s in steps {
                match s {
                    Step::Pay { to, fraction } => {
                        let owner = (1..6).find(|k| !spendable(&chain, *k).is_empty());
                        let txs = match owner {
                            Some(k) => {
                                let coin = spendable(&chain, k)[0];
                                let amount = (coin.1.to_base_units() - 1_000) * u64::from(fraction) / 100;
                                if amount == 0 { vec![] } else { vec![pay(&net, k, &[coin], to, amount)] }
                            }
                            None => vec![],
                        };
                        let b = block_on(&chain, chain.tip_hash(), txs, to, 0);
                        chain.accept_block(b, NOW).expect("valid payment block");
                    }
                    Step::Fork { back, extra } => {
                        let h = chain.height().get().saturating_sub(u64::from(back));
                        let mut p = chain.block_hash_at(crate::primitives::Height(h)).expect("active");
                        salt += 1;
                        for _ in 0..(u64::from(back) + u64::from(extra)) {
                            let b = block_on(&chain, p, vec![], back, salt);
                            p = b.hash();
                            chain.accept_block(b, NOW).expect("valid fork block");
                        }
                    }
                }
                assert_indexes_match_utxos(&chain);
            }
            assert_matches_replay(&chain);
        }
    }
}

#[test]
fn connect_run_commits_a_run_and_stops_at_a_bad_block() {
    let net = network();
    let mut source = memory_chain();
    extend(&mut source, 3, 9);
    let tx = pay(&net, 1, &[premine(&net)], 2, COIN);
    let b = block_on(&source, source.tip_hash(), vec![tx], 9, 0);
    source.accept_block(b, NOW).expect("valid");
    extend(&mut source, 3, 9);
    let blocks = active_blocks(&source);
    // The whole run in one commit equals block-by-block connection.
    let mut chain = memory_chain();
    let (accepted, rest, failure) = chain.connect_run(blocks.clone(), NOW);
    assert_eq!(
        (accepted.connected.len(), rest.len(), failure),
        (7, 0, None)
    );
    assert_eq!(chain.tip_hash(), source.tip_hash());
    assert_matches_replay(&chain);
    // A bad block in the middle: the blocks before it are kept, it is reported.
    let mut broken = blocks.clone();
    broken[4].transactions[0].outputs[0].value = Amount::from_coins(60).expect("ok");
    broken[4].header.merkle_root = crate::consensus::merkle_root(
        &broken[4]
            .transactions
            .iter()
            .map(Transaction::txid)
            .collect::<Vec<_>>(),
    );
    while !broken[4].header.target.is_met_by(&broken[4].hash().0) {
        broken[4].header.nonce += 1;
    }
    let mut chain = memory_chain();
    let (accepted, _, failure) = chain.connect_run(broken, NOW);
    assert_eq!(accepted.connected.len(), 4);
    assert_eq!(
        failure.map(|e| e.code().as_str()),
        Some("bad-coinbase-value")
    );
    assert_eq!(chain.height().get(), 4);
    assert_matches_replay(&chain);
    // A failed commit changes nothing, in the store or in memory.
    let inner = Arc::new(MemoryStore::new());
    let store = CrashingStore {
        inner: inner.clone(),
        allowed: AtomicUsize::new(1),
    };
    let mut chain = ChainState::open(store, net.clone()).expect("genesis commit allowed");
    let (accepted, _, failure) = chain.connect_run(blocks, NOW);
    assert!(accepted.connected.is_empty());
    assert_eq!(failure.map(|e| e.code().as_str()), Some("internal"));
    assert_eq!(chain.height().get(), 0);
    let reopened = ChainState::open(inner, net).expect("reopens");
    assert_eq!(reopened.height().get(), 0);
}

/// A balance that leaves its flushed value and comes back to it between flushes, then
/// moves again: the rich-list key of the flushed balance must still be deleted on disk
/// (fresh rich-list puts never hide a key that is on disk).
#[test]
fn a_balance_back_at_its_flushed_value_keeps_the_rich_list_exact() {
    let net = network();
    let mut cached =
        ChainState::open_with_cache(Arc::new(MemoryStore::new()), net.clone(), 1 << 30)
            .expect("opens");
    let mut plain = memory_chain();
    let mut both = |txs: Vec<Transaction>, cached: &mut ChainState<Arc<MemoryStore>>| {
        let b = block_on(&plain, plain.tip_hash(), txs, 9, 0);
        plain.accept_block(b.clone(), NOW).expect("valid");
        cached.accept_block(b, NOW).expect("valid");
    };
    both(vec![], &mut cached);
    both(vec![], &mut cached);
    let out = |tx: &Transaction, vout: u32| {
        (
            OutPoint {
                txid: tx.txid(),
                vout,
            },
            tx.outputs[vout as usize].value,
        )
    };
    let to_2 = pay(&net, 1, &[premine(&net)], 2, 10 * COIN);
    let to_4 = pay(&net, 1, &[out(&to_2, 1)], 4, 5 * COIN);
    both(vec![to_2.clone(), to_4.clone()], &mut cached);
    cached.flush().expect("flushes");
    let flushed = cached.address_stats(&pkh(2)).expect("reads").balance;
    assert_eq!(flushed, 10 * COIN);
    // Key 2 pays 3 coins (fee 1 000), then key 4 pays it back 3 coins and the fee.
    let away = pay(&net, 2, &[out(&to_2, 0)], 3, 3 * COIN);
    both(vec![away.clone()], &mut cached);
    let back = pay(&net, 4, &[out(&to_4, 0)], 2, 3 * COIN + 1_000);
    both(vec![back], &mut cached);
    assert_eq!(
        cached.address_stats(&pkh(2)).expect("reads").balance,
        flushed
    );
    // And away again: the flushed balance's key must go from the store.
    let again = pay(&net, 2, &[out(&away, 1)], 5, COIN);
    both(vec![again], &mut cached);
    assert_eq!(reads(&cached), reads(&plain));
    cached.flush().expect("flushes");
    assert_matches_replay(&cached);
    assert_indexes_match_utxos(&cached);
}

/// A block of a run whose signature fails after its changes were written into the run's
/// batch: the run's earlier blocks are kept, exactly as if connected one by one.
#[test]
fn connect_run_drops_the_changes_of_a_block_whose_signature_fails() {
    let net = network();
    let mut source = memory_chain();
    extend(&mut source, 3, 9);
    let to_2 = pay(&net, 1, &[premine(&net)], 2, 10 * COIN);
    let b = block_on(&source, source.tip_hash(), vec![to_2.clone()], 9, 0);
    source.accept_block(b, NOW).expect("valid");
    let mut blocks = active_blocks(&source);
    let coin = (
        OutPoint {
            txid: to_2.txid(),
            vout: 0,
        },
        to_2.outputs[0].value,
    );
    let mut forged = pay(&net, 2, &[coin], 3, COIN);
    forged.inputs[0].signature.0[40] ^= 1;
    blocks.push(block_on(&source, source.tip_hash(), vec![forged], 9, 0));
    let mut chain = memory_chain();
    let (accepted, _, failure) = chain.connect_run(blocks, NOW);
    assert_eq!(accepted.connected.len(), 4);
    assert_eq!(failure.map(|e| e.code().as_str()), Some("bad-signature"));
    assert_eq!(chain.tip_hash(), source.tip_hash());
    assert_eq!(reads(&chain), reads(&source));
    assert_matches_replay(&chain);
}

/// A store whose chain state commits wait at a gate the test holds: a flush on another
/// thread stays in progress until the test lets it through.
struct GatedStore {
    inner: Arc<MemoryStore>,
    gate: std::sync::Mutex<()>,
    commits: AtomicUsize,
}

impl ChainStore for GatedStore {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(table, key)
    }
    fn scan(
        &self,
        table: Table,
        prefix: &[u8],
        after: Option<&[u8]>,
        d: Direction,
        limit: usize,
    ) -> Result<store::Entries, StoreError> {
        self.inner.scan(table, prefix, after, d, limit)
    }
    fn commit(&self, batch: &Batch) -> Result<(), StoreError> {
        if batch.table(Table::Utxo).is_some() {
            let _open = self.gate.lock().unwrap_or_else(|e| e.into_inner());
            self.commits.fetch_add(1, Ordering::SeqCst);
        }
        self.inner.commit(batch)
    }
}

/// While a flush runs on another thread (held at the gate), every read answers as a
/// chain without a cache does, blocks keep connecting on top of it (their own file is
/// not behind the flush), and the next flush waits for it; once through, the store
/// holds what a fresh replay makes.
#[test]
fn reads_and_blocks_go_on_during_a_flush_on_another_thread() {
    let net = network();
    let gated = Arc::new(GatedStore {
        inner: Arc::new(MemoryStore::new()),
        gate: std::sync::Mutex::new(()),
        commits: AtomicUsize::new(0),
    });
    let mut plain = memory_chain();
    let mut cached =
        ChainState::open_with_cache(gated.clone(), net.clone(), 20_000).expect("opens");
    extend(&mut plain, 2, 9);
    extend(&mut cached, 2, 9);
    let base = gated.commits.load(Ordering::SeqCst);
    let held = gated.gate.lock().expect("gate");
    let mut coin = premine(&net);
    let mut flushing_seen = false;
    for i in 0..12 {
        let tx = pay(&net, 1, &[coin], 2 + (i % 4) as u8, COIN);
        coin = (
            OutPoint {
                txid: tx.txid(),
                vout: 1,
            },
            tx.outputs[1].value,
        );
        let b = block_on(&plain, plain.tip_hash(), vec![tx], 9, 0);
        plain.accept_block(b.clone(), NOW).expect("valid block");
        cached.accept_block(b, NOW).expect("valid block");
        assert_eq!(reads(&cached), reads(&plain), "after block {i}");
        if cached.flush_in_progress() {
            flushing_seen = true;
            // The first flush is held: nothing of the chain state reached the store.
            assert_eq!(gated.commits.load(Ordering::SeqCst), base);
            break;
        }
    }
    assert!(
        flushing_seen,
        "the cache passed half its budget and a flush started"
    );
    // Blocks connect on top while the flush is held (their commits pass the gate), up
    // to the point where another flush would be due (a payment block's changes are a
    // fraction of the 10 000 bytes that start one).
    let tx = pay(&net, 1, &[coin], 5, COIN);
    let b = block_on(&plain, plain.tip_hash(), vec![tx], 9, 0);
    plain.accept_block(b.clone(), NOW).expect("valid block");
    cached.accept_block(b, NOW).expect("valid block");
    assert_eq!(reads(&cached), reads(&plain));
    assert!(gated.stored_tip_lags(&cached));
    drop(held);
    cached.flush().expect("flushes");
    assert!(!cached.flush_in_progress());
    assert_eq!(cached.cache_usage(), (0, 0));
    assert_eq!(reads(&cached), reads(&plain));
    for table in INDEX_TABLES {
        assert_eq!(
            gated.inner.dump(table),
            plain.store().dump(table),
            "table {} differs from a chain without a cache",
            table.name()
        );
    }
}

impl GatedStore {
    /// Whether the chain state in the store is behind `chain`'s tip.
    fn stored_tip_lags<S: ChainStore>(&self, chain: &ChainState<S>) -> bool {
        self.inner
            .get(Table::Meta, records::META_TIP)
            .expect("reads")
            .is_some_and(|t| t != chain.tip_hash().0.to_vec())
    }
}

/// A reorganisation writes the chain state, then the best block's record (they live in
/// different files). A crash between the two leaves a whole chain state on the new
/// branch and the record on the old one: open settles the record on the heavier tip and
/// the chain reads as a fresh replay of it.
#[test]
fn a_crash_between_a_reorganisations_two_commits_is_settled_at_open() {
    let net = network();
    let inner = Arc::new(MemoryStore::new());
    let store = CrashingStore {
        inner: inner.clone(),
        allowed: AtomicUsize::new(usize::MAX),
    };
    let mut chain = ChainState::open(store, net.clone()).expect("opens");
    extend(&mut chain, 2, 9);
    let fork = chain.tip_hash();
    let a = block_on(&chain, fork, vec![], 7, 0);
    chain.accept_block(a.clone(), NOW).expect("valid");
    let b1 = block_on(&chain, fork, vec![], 8, 1);
    assert_eq!(
        chain.accept_block(b1.clone(), NOW).expect("valid").status,
        AcceptStatus::SideChain
    );
    let b2 = block_on(&chain, b1.hash(), vec![], 8, 1);
    // Storing b2 (1), the reorganised chain state (2), then the best block record fails.
    chain.store().allowed.store(2, Ordering::SeqCst);
    let accepted = chain.accept_block(b2.clone(), NOW).expect("reorganises");
    assert_eq!(accepted.status, AcceptStatus::Reorganized);
    assert_eq!(
        inner.get(Table::Meta, records::META_BEST).expect("reads"),
        Some(a.hash().0.to_vec()),
        "the record still names the old branch"
    );
    drop(chain);
    let reopened = ChainState::open(inner.clone(), net).expect("reopens");
    assert_eq!(reopened.tip_hash(), b2.hash());
    assert_eq!(
        inner.get(Table::Meta, records::META_BEST).expect("reads"),
        Some(b2.hash().0.to_vec()),
        "settled on the heavier tip"
    );
    assert_matches_replay(&reopened);
}

/// A source chain of a few blocks with payments, in memory, for the data directory tests.
fn small_source_chain() -> ChainState<Arc<MemoryStore>> {
    let net = network();
    let mut source = memory_chain();
    extend(&mut source, 3, 9);
    let tx = pay(&net, 1, &[premine(&net)], 2, 3 * COIN);
    let b = block_on(&source, source.tip_hash(), vec![tx], 9, 0);
    source.accept_block(b, NOW).expect("valid");
    source
}

/// Writes `tables` of `source`'s store into a new database file at `path` with redb 2
/// (file format v2), as every data directory made before the node moved to redb 4.
fn write_with_redb2(
    path: &std::path::Path,
    source: &ChainState<Arc<MemoryStore>>,
    tables: &[Table],
) {
    use redb2::{Database, TableDefinition};
    let db = Database::create(path).expect("db");
    let txn = db.begin_write().expect("txn");
    for table in tables {
        let def: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new(table.name());
        let mut t = txn.open_table(def).expect("table");
        for (k, v) in source.store().dump(*table) {
            t.insert(k.as_slice(), v.as_slice()).expect("insert");
        }
    }
    txn.commit().expect("commit");
}

/// A data directory from before the blocks got their own file (everything in
/// `chain.redb`, written by redb 2) opens: the file is upgraded to redb 4's format, its
/// blocks, headers and best block move to `chain.blocks.redb`, and the chain reads as
/// before.
#[test]
fn a_single_file_data_directory_moves_its_blocks_out() {
    use redb::{ReadableDatabase, ReadableTable, TableDefinition};
    let net = network();
    let source = small_source_chain();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("chain.redb");
    write_with_redb2(&path, &source, &Table::ALL);
    let chain = ChainState::open(DiskStore::open(&path).expect("db"), net.clone()).expect("opens");
    assert_eq!(chain.tip_hash(), source.tip_hash());
    assert_eq!(reads(&chain), reads(&source));
    for h in 0..=source.height().get() {
        let hash = source
            .block_hash_at(crate::primitives::Height(h))
            .expect("active");
        assert_eq!(
            chain.block(&hash).expect("reads"),
            source.block(&hash).expect("reads")
        );
    }
    drop(chain);
    let db = redb::Database::create(&path).expect("db");
    let txn = db.begin_read().expect("txn");
    let def: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new(Table::Blocks.name());
    let left = txn
        .open_table(def)
        .expect("table")
        .iter()
        .expect("iter")
        .count();
    assert_eq!(left, 0, "no block is left in the chain state file");
    assert!(DiskStore::blocks_path(&path).exists());
}

/// A data directory of two files written by redb 2 (the layout of the previous release)
/// opens: both files are upgraded in place and the chain reads as before, also after a
/// second open (nothing left to upgrade).
#[test]
fn a_two_file_data_directory_of_redb_2_is_upgraded() {
    let net = network();
    let source = small_source_chain();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("chain.redb");
    let state: Vec<Table> = Table::ALL
        .into_iter()
        .filter(|t| !matches!(t, Table::Blocks | Table::Headers))
        .collect();
    write_with_redb2(&path, &source, &state);
    write_with_redb2(
        &DiskStore::blocks_path(&path),
        &source,
        &[Table::Blocks, Table::Headers, Table::Meta],
    );
    for _ in 0..2 {
        let chain =
            ChainState::open(DiskStore::open(&path).expect("db"), net.clone()).expect("opens");
        assert_eq!(chain.tip_hash(), source.tip_hash());
        assert_eq!(reads(&chain), reads(&source));
        let tip = chain.block(&source.tip_hash()).expect("reads");
        assert_eq!(tip, source.block(&source.tip_hash()).expect("reads"));
    }
    // The chain state moved to fjall: chain.redb keeps only the rich list.
    use redb::{ReadableDatabase, ReadableTableMetadata, TableDefinition};
    let db = redb::Database::create(&path).expect("db");
    let txn = db.begin_read().expect("txn");
    for table in state.into_iter().filter(|t| *t != Table::Meta) {
        let def: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new(table.name());
        let left = txn.open_table(def).expect("table").len().expect("len");
        let expected = if table == Table::Rich { 9 } else { 0 };
        assert_eq!(
            left > 0,
            expected > 0,
            "{} left in chain.redb: {left}",
            table.name()
        );
    }
}

/// A commit spanning every table (the state file's tables written on several threads in
/// one redb transaction, the blocks file's first) leaves the redb store reading exactly
/// as the memory store does, puts, overwrites and deletes alike.
#[test]
fn a_commit_of_every_table_reads_back_as_the_memory_store() {
    let dir = tempfile::tempdir().expect("temp dir");
    let redb = DiskStore::open(&dir.path().join("chain.redb")).expect("db");
    let memory = MemoryStore::new();
    let key = |t: Table, i: u32| {
        let mut k = vec![t as u8];
        k.extend_from_slice(&i.wrapping_mul(2_654_435_761).to_be_bytes());
        k
    };
    let mut first = Batch::default();
    for table in Table::ALL {
        for i in 0..700u32 {
            first.put(
                table,
                key(table, i),
                i.to_le_bytes().repeat(1 + i as usize % 5),
            );
        }
    }
    first.put(Table::Meta, records::META_BEST.to_vec(), vec![7; 32]);
    let mut second = Batch::default();
    for table in Table::ALL {
        for i in (0..700u32).step_by(3) {
            second.delete(table, key(table, i));
        }
        for i in (1..700u32).step_by(3) {
            second.put(table, key(table, i), vec![table as u8; 9]);
        }
    }
    for batch in [&first, &second] {
        redb.commit(batch).expect("commits");
        memory.commit(batch).expect("commits");
    }
    for table in Table::ALL {
        let read = |s: &dyn ChainStore| {
            s.scan(table, &[], None, Direction::Forward, usize::MAX)
                .expect("scans")
        };
        // Scans of Meta see the state file's records; the best block is in the other.
        let mut expected = read(&memory);
        expected.retain(|(k, _)| table != Table::Meta || k != records::META_BEST);
        assert_eq!(expected.len(), 466);
        assert_eq!(read(&redb), expected, "{}", table.name());
    }
    assert_eq!(
        redb.get(Table::Meta, records::META_BEST).expect("reads"),
        Some(vec![7; 32])
    );
}

/// A crash after the chain state's commit (fjall) and before the rich list's (redb): the
/// redo record committed with the chain state puts the rich list right at the next open.
/// In the process, such a failure stops the store until a restart.
#[test]
fn a_crash_between_the_chain_state_and_the_rich_list_commits_is_redone_at_open() {
    let net = network();
    let mut source = memory_chain();
    extend(&mut source, 2, 9);
    payment_blocks(&mut [&mut source], &net, 3);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("chain.redb");
    {
        let store = DiskStore::open(&path).expect("db");
        // A cache that never fills: everything is written by the flush below.
        let mut chain = ChainState::open_with_cache(store, net.clone(), 1 << 30).expect("opens");
        extend(&mut chain, 2, 9);
        payment_blocks(&mut [&mut chain], &net, 3);
        assert_eq!(reads(&chain), reads(&source));
        chain.store().fail_rich_writes(true);
        assert!(chain.flush().is_err(), "the rich list's write fails");
        // The store stops rather than go on over two parts that disagree (what the
        // cache still holds stays readable).
        assert!(chain.store().get(Table::Meta, records::META_TIP).is_err());
        assert!(chain.store().commit(&Batch::default()).is_err());
    }
    // On disk, fjall has the chain state and redb's rich list lacks the payments'
    // balances (the process "died" between the two commits).
    {
        use redb::{ReadableDatabase, ReadableTableMetadata, TableDefinition};
        let db = redb::Database::create(&path).expect("db");
        let txn = db.begin_read().expect("txn");
        let def: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new(Table::Rich.name());
        let rich = txn.open_table(def).expect("table").len().expect("len");
        let expected = source.rich_list(usize::MAX).expect("reads").len() as u64;
        assert!(
            rich < expected,
            "{rich} rich list entries on disk, {expected} expected"
        );
    }
    let reopened =
        ChainState::open(DiskStore::open(&path).expect("db"), net.clone()).expect("reopens");
    assert_eq!(reads(&reopened), reads(&source));
    drop(reopened);
    // The record is written again at every open until a commit replaces it: harmless.
    let again = ChainState::open(DiskStore::open(&path).expect("db"), net).expect("reopens");
    assert_eq!(reads(&again), reads(&source));
}

/// An earlier release (the chain state in `chain.redb` with a `meta` table of byte keys:
/// redb 2.6, or redb 4 before the chain state moved to fjall) refuses a data directory
/// this release wrote or converted, before writing anything, instead of taking the rich
/// list file for an empty chain state. A directory of a later layout is refused here.
#[test]
fn the_previous_release_refuses_a_converted_data_directory() {
    let net = network();
    let source = small_source_chain();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("chain.redb");
    write_with_redb2(&path, &source, &Table::ALL);
    drop(ChainState::open(DiskStore::open(&path).expect("db"), net.clone()).expect("opens"));
    // What the previous release did first at open: every chain state table, typed bytes.
    // Its redb (2.6) fails or panics on a file redb 4 wrote; the layout marker refuses
    // the same open through redb 4 too.
    let old_release_opens = std::panic::catch_unwind(|| {
        let Ok(db) = redb2::Database::open(&path) else {
            return false;
        };
        let Ok(txn) = db.begin_write() else {
            return false;
        };
        let meta: redb2::TableDefinition<'_, &[u8], &[u8]> =
            redb2::TableDefinition::new(Table::Meta.name());
        let opens = txn.open_table(meta).is_ok();
        opens
    })
    .unwrap_or(false);
    assert!(!old_release_opens, "the previous release would open it");
    {
        let db = redb::Database::create(&path).expect("db");
        let txn = db.begin_write().expect("txn");
        let meta: redb::TableDefinition<'_, &[u8], &[u8]> =
            redb::TableDefinition::new(Table::Meta.name());
        assert!(txn.open_table(meta).is_err(), "meta opens as the old table");
    }
    // And this release still opens it, unchanged.
    let chain = ChainState::open(DiskStore::open(&path).expect("db"), net).expect("opens");
    assert_eq!(reads(&chain), reads(&source));
    drop(chain);
    {
        let db = redb::Database::create(&path).expect("db");
        let txn = db.begin_write().expect("txn");
        let layout: redb::TableDefinition<'_, u64, u64> = redb::TableDefinition::new("meta");
        txn.open_table(layout)
            .expect("marker")
            .insert(0, 4)
            .expect("insert");
        txn.commit().expect("commit");
    }
    let later = DiskStore::open(&path)
        .err()
        .expect("a later layout is refused");
    assert!(later.0.contains("layout 4"), "{later}");
}
