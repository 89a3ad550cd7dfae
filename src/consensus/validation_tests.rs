//! One test per rule: each breaks exactly that rule and expects its own error code.

use super::*;
use crate::consensus::pow::median_time_past;
use crate::consensus::{Network, NetworkParams};
use crate::primitives::{Encode, Hash256, SecretKey, TxIn, COIN, U256};

const H: u64 = 100;
const HEIGHT: Height = Height(H);
const MTP: u64 = 1_000_000;
const NOW: u64 = MTP + 600;

fn key(n: u8) -> SecretKey {
    let mut b = [0u8; 32];
    b[31] = n;
    b[0] = 1;
    SecretKey::from_bytes(&b).expect("valid key")
}

fn coins(c: u64) -> Amount {
    Amount::from_base_units(c * COIN).expect("in range")
}

fn units(u: u64) -> Amount {
    Amount::from_base_units(u).expect("in range")
}

/// Devnet rules, but proof of work that one hash in two meets.
fn params() -> NetworkParams {
    NetworkParams {
        pow_limit: Target::with_leading_zeros(1),
        ..Network::devnet().params
    }
}

fn genesis() -> BlockHash {
    Network::devnet().genesis_hash
}

fn outpoint(n: u8, vout: u32) -> OutPoint {
    OutPoint {
        txid: Txid([n; 32]),
        vout,
    }
}

/// A UTXO view: key 1 owns 10 coins at (1,0), 5 coins at (2,0), and a coinbase of 50
/// coins created at height HEIGHT-5 at (3,0).
fn view() -> HashMap<OutPoint, Coin> {
    let owner = key(1).public_key().pubkey_hash();
    let coin = |value, height, coinbase| Coin {
        output: TxOut {
            value,
            pubkey_hash: owner,
        },
        height,
        coinbase,
    };
    HashMap::from([
        (outpoint(1, 0), coin(coins(10), Height(1), false)),
        (outpoint(2, 0), coin(coins(5), Height(2), false)),
        (outpoint(3, 0), coin(coins(50), Height(H - 5), true)),
    ])
}

fn pay(value: Amount, to: u8) -> TxOut {
    TxOut {
        value,
        pubkey_hash: key(to).public_key().pubkey_hash(),
    }
}

/// An unsigned transaction spending `prevs` with key 1.
fn spend(prevs: &[OutPoint], outputs: Vec<TxOut>) -> Transaction {
    let pubkey = key(1).public_key();
    Transaction {
        version: 1,
        inputs: prevs
            .iter()
            .map(|p| TxIn {
                prev: *p,
                pubkey,
                signature: Signature([0; 64]),
            })
            .collect(),
        outputs,
        lock_time: 0,
    }
}

/// Signs every input with `with`, over the spent outputs found in [`view`] (an unknown
/// outpoint, for the missing-input test, is signed over as a zero output).
fn sign(tx: Transaction, with: &SecretKey) -> Transaction {
    let view = view();
    let spent: Vec<TxOut> = tx
        .inputs
        .iter()
        .map(|i| {
            view.get(&i.prev).map(|c| c.output).unwrap_or(TxOut {
                value: Amount::ZERO,
                pubkey_hash: crate::primitives::PubkeyHash([0; 20]),
            })
        })
        .collect();
    sign_over(tx, with, &spent)
}

/// Signs every input with `with` over the given spent outputs.
fn sign_over(mut tx: Transaction, with: &SecretKey, spent: &[TxOut]) -> Transaction {
    let sighash = tx.sighash(&genesis(), spent);
    for input in &mut tx.inputs {
        input.signature = with.sign(&sighash);
    }
    tx
}

/// The sighash before v2: `SHA256d(genesis_hash || E)`, without the spent outputs.
fn sighash_v1(tx: &Transaction) -> Sighash {
    let mut msg = genesis().as_bytes().to_vec();
    let mut unsigned = tx.clone();
    for input in &mut unsigned.inputs {
        input.signature = Signature([0; 64]);
    }
    // E is the encoding with the 64 signature bytes of each input left out.
    let full = unsigned.to_bytes();
    let mut pos = 0;
    msg.extend_from_slice(&full[..8]);
    pos += 8;
    for _ in &unsigned.inputs {
        msg.extend_from_slice(&full[pos..pos + 32 + 4 + 33]);
        pos += 32 + 4 + 33 + 64;
    }
    msg.extend_from_slice(&full[pos..]);
    Sighash(crate::primitives::sha256d(&msg).0)
}

/// A valid payment: 10 coins in, 9 out to key 2, 0.999 change, 0.001 fee.
fn valid_tx() -> Transaction {
    sign(
        spend(
            &[outpoint(1, 0)],
            vec![pay(coins(9), 2), pay(units(99_900_000), 1)],
        ),
        &key(1),
    )
}

fn check(tx: &Transaction) -> Result<TxSpend, TxError> {
    check_transaction(tx, &view(), HEIGHT, &params(), &genesis())
}

fn code(result: Result<TxSpend, TxError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(e) => e.code().as_str(),
    }
}

#[test]
fn valid_transaction_passes_with_its_fee() {
    let spend = check(&valid_tx()).expect("valid");
    assert_eq!(spend.fee, units(100_000));
    assert_eq!(spend.spent, vec![view()[&outpoint(1, 0)]]);
}

#[test]
fn rule_version() {
    let mut tx = valid_tx();
    tx.version = 2;
    assert_eq!(code(check(&sign(tx, &key(1)))), "bad-version");
}

#[test]
fn rule_no_inputs_and_loose_coinbase() {
    let tx = spend(&[], vec![pay(coins(1), 2)]);
    assert_eq!(
        check_transaction_shape(&tx).map_err(|e| e.code().as_str()),
        Err("no-inputs")
    );
    assert_eq!(code(check(&tx)), "coinbase-not-allowed");
}

#[test]
fn rule_no_outputs() {
    let tx = sign(spend(&[outpoint(1, 0)], vec![]), &key(1));
    assert_eq!(code(check(&tx)), "no-outputs");
}

#[test]
fn rule_duplicate_input() {
    let tx = sign(
        spend(&[outpoint(1, 0), outpoint(1, 0)], vec![pay(coins(1), 2)]),
        &key(1),
    );
    assert_eq!(code(check(&tx)), "duplicate-input");
}

#[test]
fn rule_missing_input() {
    let tx = sign(spend(&[outpoint(9, 0)], vec![pay(coins(1), 2)]), &key(1));
    assert_eq!(code(check(&tx)), "missing-input");
    let tx = sign(spend(&[outpoint(1, 1)], vec![pay(coins(1), 2)]), &key(1));
    assert_eq!(code(check(&tx)), "missing-input");
}

#[test]
fn rule_pubkey_mismatch() {
    // Key 2 signs correctly for itself, but the coin pays key 1's hash.
    let mut tx = spend(&[outpoint(1, 0)], vec![pay(coins(1), 2)]);
    tx.inputs[0].pubkey = key(2).public_key();
    assert_eq!(code(check(&sign(tx, &key(2)))), "pubkey-mismatch");
}

#[test]
fn rule_bad_signature() {
    // Signed by the wrong key.
    let tx = sign(spend(&[outpoint(1, 0)], vec![pay(coins(1), 2)]), &key(2));
    assert_eq!(code(check(&tx)), "bad-signature");
    // A valid signature of one transaction replayed on another output of the same key.
    let donor = valid_tx();
    let mut replay = spend(&[outpoint(2, 0)], vec![pay(coins(4), 2)]);
    replay.inputs[0].signature = donor.inputs[0].signature;
    assert_eq!(code(check(&replay)), "bad-signature");
    // Changing any signed field after signing.
    let mut tampered = valid_tx();
    tampered.outputs[0].value = coins(8);
    assert_eq!(code(check(&tampered)), "bad-signature");
    // Signed for another network (different genesis hash in the sighash).
    let mut other = spend(&[outpoint(1, 0)], vec![pay(coins(1), 2)]);
    let spent = [view()[&outpoint(1, 0)].output];
    let foreign = key(1).sign(&other.sighash(&BlockHash([9; 32]), &spent));
    other.inputs[0].signature = foreign;
    assert_eq!(code(check(&other)), "bad-signature");
}

#[test]
fn rule_bad_signature_sighash_v2_commits_to_spent_outputs() {
    let owner = key(1).public_key().pubkey_hash();
    let tx = spend(&[outpoint(1, 0)], vec![pay(coins(9), 2)]);
    // A signature over the sighash without S (the rule before v2) no longer verifies.
    let mut old = tx.clone();
    old.inputs[0].signature = key(1).sign(&sighash_v1(&tx));
    assert_eq!(code(check(&old)), "bad-signature");
    // Signed over a lied value (the coin holds 10 coins, the signer was told 20): invalid.
    let lied_value = TxOut {
        value: coins(20),
        pubkey_hash: owner,
    };
    assert_eq!(
        code(check(&sign_over(tx.clone(), &key(1), &[lied_value]))),
        "bad-signature"
    );
    // Signed over the right value but another pubkey hash: invalid.
    let lied_owner = TxOut {
        value: coins(10),
        pubkey_hash: key(2).public_key().pubkey_hash(),
    };
    assert_eq!(
        code(check(&sign_over(tx.clone(), &key(1), &[lied_owner]))),
        "bad-signature"
    );
    // Over the true output, the same transaction is valid.
    let truth = TxOut {
        value: coins(10),
        pubkey_hash: owner,
    };
    assert_eq!(
        check(&sign_over(tx, &key(1), &[truth])).map(|s| s.fee),
        Ok(coins(1))
    );
}

#[test]
fn sighash_v2_covers_every_input_in_order() {
    // Two inputs of different values: S lists them in input order, so signing with the
    // pair swapped is refused.
    let tx = spend(&[outpoint(1, 0), outpoint(2, 0)], vec![pay(coins(14), 2)]);
    let v = view();
    let (a, b) = (v[&outpoint(1, 0)].output, v[&outpoint(2, 0)].output);
    assert_eq!(
        code(check(&sign_over(tx.clone(), &key(1), &[b, a]))),
        "bad-signature"
    );
    assert_eq!(check(&sign(tx, &key(1))).map(|s| s.fee), Ok(coins(1)));
}

#[test]
fn rule_bad_signature_high_s() {
    // n - s of a valid signature verifies mathematically but is refused as high-S.
    let n = U256::from_be_bytes([
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xfe, 0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36,
        0x41, 0x41,
    ]);
    let mut tx = valid_tx();
    let mut s_bytes = [0u8; 32];
    s_bytes.copy_from_slice(&tx.inputs[0].signature.0[32..]);
    let high = n
        .checked_sub(U256::from_be_bytes(s_bytes))
        .expect("s below n");
    tx.inputs[0].signature.0[32..].copy_from_slice(&high.to_be_bytes());
    assert_eq!(code(check(&tx)), "bad-signature");
}

#[test]
fn rule_value_out_of_range() {
    // A zero output.
    let tx = sign(
        spend(&[outpoint(1, 0)], vec![pay(Amount::ZERO, 2)]),
        &key(1),
    );
    assert_eq!(code(check(&tx)), "value-out-of-range");
    // Outputs each valid, their sum above MAX_MONEY.
    let tx = sign(
        spend(
            &[outpoint(1, 0)],
            vec![pay(Amount::MAX, 2), pay(units(1), 2)],
        ),
        &key(1),
    );
    assert_eq!(code(check(&tx)), "value-out-of-range");
    // Inputs whose sum passes MAX_MONEY.
    let mut big = view();
    let owner = key(1).public_key().pubkey_hash();
    for n in [7, 8] {
        big.insert(
            outpoint(n, 0),
            Coin {
                output: TxOut {
                    value: Amount::MAX,
                    pubkey_hash: owner,
                },
                height: Height(1),
                coinbase: false,
            },
        );
    }
    let tx = sign(
        spend(&[outpoint(7, 0), outpoint(8, 0)], vec![pay(coins(1), 2)]),
        &key(1),
    );
    let result = check_transaction(&tx, &big, HEIGHT, &params(), &genesis());
    assert_eq!(code(result), "value-out-of-range");
}

#[test]
fn rule_outputs_exceed_inputs() {
    let tx = sign(
        spend(&[outpoint(1, 0)], vec![pay(units(10 * COIN + 1), 2)]),
        &key(1),
    );
    assert_eq!(code(check(&tx)), "outputs-exceed-inputs");
    // Exactly equal is fine (zero fee is a policy question, not consensus).
    let tx = sign(spend(&[outpoint(1, 0)], vec![pay(coins(10), 2)]), &key(1));
    assert_eq!(check(&tx).map(|s| s.fee), Ok(Amount::ZERO));
}

#[test]
fn rule_immature_coinbase() {
    let tx = sign(spend(&[outpoint(3, 0)], vec![pay(coins(49), 2)]), &key(1));
    // Created at HEIGHT-5 with maturity 10: spendable from HEIGHT+5.
    for (height, expected) in [
        (HEIGHT, "immature-coinbase"),
        (Height(H + 4), "immature-coinbase"),
        (Height(H + 5), "ok"),
    ] {
        let result = check_transaction(&tx, &view(), height, &params(), &genesis());
        assert_eq!(code(result), expected, "at height {height}");
    }
}

#[test]
fn rule_non_final() {
    for (lock_time, expected) in [(H as u32 + 1, "non-final"), (H as u32, "ok")] {
        let mut tx = spend(&[outpoint(1, 0)], vec![pay(coins(9), 2)]);
        tx.lock_time = lock_time;
        assert_eq!(
            code(check(&sign(tx, &key(1)))),
            expected,
            "lock_time {lock_time}"
        );
    }
}

// ---- blocks ----------------------------------------------------------------------

fn parent() -> ParentInfo {
    ParentInfo {
        hash: BlockHash([0x42; 32]),
        height: Height(H - 1),
        median_time_past: MTP,
        next_target: params().pow_limit,
    }
}

fn coinbase(value: Amount) -> Transaction {
    Transaction::coinbase(H as u32, vec![pay(value, 5)])
}

/// Sets the merkle root and searches a nonce meeting the target.
fn seal(mut block: Block) -> Block {
    let txids: Vec<Txid> = block.transactions.iter().map(Transaction::txid).collect();
    block.header.merkle_root = merkle_root(&txids);
    mine(block)
}

fn mine(mut block: Block) -> Block {
    while !block.header.target.is_met_by(&block.hash().0) {
        block.header.nonce += 1;
    }
    block
}

fn block_with(transactions: Vec<Transaction>) -> Block {
    seal(Block {
        header: Header {
            version: 1,
            height: HEIGHT,
            prev_hash: parent().hash,
            merkle_root: Default::default(),
            timestamp: MTP + 1,
            target: params().pow_limit,
            nonce: 0,
        },
        transactions,
    })
}

/// A valid block: coinbase claiming subsidy plus the fee of `valid_tx`.
fn valid_block() -> Block {
    let fee = units(100_000);
    let reward = subsidy(&params(), HEIGHT)
        .checked_add(fee)
        .expect("in range");
    block_with(vec![coinbase(reward), valid_tx()])
}

fn validate(block: &Block) -> Result<BlockUndo, BlockError> {
    validate_with(block, &|_| false)
}

fn validate_with(
    block: &Block,
    known_valid: &(dyn Fn(&Txid) -> bool + Sync),
) -> Result<BlockUndo, BlockError> {
    check_header(&block.header, &parent(), NOW)?;
    let txids = check_block(block, &params())?;
    connect_block(block, &txids, &view(), &params(), &genesis(), known_valid)
}

fn block_code(block: &Block) -> &'static str {
    match validate(block) {
        Ok(_) => "ok",
        Err(e) => e.code().as_str(),
    }
}

#[test]
fn valid_block_connects_with_undo_data() {
    let undo = validate(&valid_block()).expect("valid");
    assert_eq!(undo.fees, units(100_000));
    assert_eq!(undo.tx_fees, vec![units(100_000)]);
    assert_eq!(undo.spent, vec![(outpoint(1, 0), view()[&outpoint(1, 0)])]);
}

#[test]
fn block_rule_header_version() {
    let mut b = valid_block();
    b.header.version = 2;
    assert_eq!(block_code(&mine(b)), "bad-version");
}

#[test]
fn block_rule_prev_hash_and_height() {
    let mut b = valid_block();
    b.header.prev_hash = BlockHash([1; 32]);
    assert_eq!(block_code(&mine(b)), "bad-prev");
    // Height off by one (the coinbase lock_time follows, so only the link is wrong).
    let mut b = valid_block();
    b.header.height = Height(H + 1);
    assert_eq!(block_code(&mine(b)), "bad-prev");
}

#[test]
fn block_rule_target() {
    let mut b = valid_block();
    b.header.target = Target::with_leading_zeros(2);
    assert_eq!(block_code(&mine(b)), "bad-target");
}

#[test]
fn block_rule_proof_of_work() {
    let mut b = valid_block();
    while b.header.target.is_met_by(&b.hash().0) {
        b.header.nonce += 1;
    }
    assert_eq!(block_code(&b), "bad-pow");
}

#[test]
fn block_rule_time() {
    let mut b = valid_block();
    b.header.timestamp = MTP;
    assert_eq!(block_code(&mine(b)), "time-too-old");
    let mut b = valid_block();
    b.header.timestamp = NOW + MAX_FUTURE_BLOCK_TIME + 1;
    assert_eq!(block_code(&mine(b)), "time-too-new");
    let mut b = valid_block();
    b.header.timestamp = NOW + MAX_FUTURE_BLOCK_TIME;
    assert_eq!(block_code(&mine(b)), "ok");
}

#[test]
fn block_rule_size() {
    let b = valid_block();
    let p = NetworkParams {
        max_block_size: b.size() as u64 - 1,
        ..params()
    };
    assert_eq!(
        check_block(&b, &p).map_err(|e| e.code().as_str()),
        Err("block-too-large")
    );
    let p = NetworkParams {
        max_block_size: b.size() as u64,
        ..params()
    };
    assert!(check_block(&b, &p).is_ok());
}

#[test]
fn block_rule_coinbase_placement() {
    // No transactions at all.
    assert_eq!(block_code(&block_with(vec![])), "bad-coinbase");
    // First transaction is not a coinbase.
    assert_eq!(block_code(&block_with(vec![valid_tx()])), "bad-coinbase");
    // A second coinbase.
    let b = block_with(vec![coinbase(coins(1)), coinbase(coins(2))]);
    assert_eq!(block_code(&b), "bad-coinbase");
    // Coinbase lock_time is not the height.
    let mut cb = coinbase(coins(1));
    cb.lock_time = H as u32 - 1;
    assert_eq!(block_code(&block_with(vec![cb])), "bad-coinbase");
}

#[test]
fn block_rule_duplicate_tx() {
    let fee = units(200_000);
    let reward = subsidy(&params(), HEIGHT)
        .checked_add(fee)
        .expect("in range");
    let b = block_with(vec![coinbase(reward), valid_tx(), valid_tx()]);
    assert_eq!(block_code(&b), "duplicate-tx");
}

#[test]
fn block_rule_merkle_root() {
    let mut b = valid_block();
    b.header.merkle_root = Hash256([7; 32]);
    assert_eq!(block_code(&mine(b)), "bad-merkle-root");
    // Swapping transaction order changes the root.
    let mut b = block_with(vec![coinbase(coins(1)), valid_tx()]);
    b.transactions.swap(0, 1);
    assert_ne!(
        check_block(&b, &params()).map_err(|e| e.code().as_str()),
        Ok(vec![])
    );
}

#[test]
fn block_rule_transactions_in_order() {
    // Spending an output of an earlier transaction of the same block is fine.
    let first = valid_tx();
    let child_unsigned = spend(
        &[OutPoint {
            txid: first.txid(),
            vout: 1,
        }],
        vec![pay(units(99_800_000), 3)],
    );
    // Sighash v2 commits to the parent's output even though it exists only in this block.
    let child = sign_over(child_unsigned.clone(), &key(1), &[first.outputs[1]]);
    let fees = units(100_000 + 100_000);
    let reward = subsidy(&params(), HEIGHT)
        .checked_add(fees)
        .expect("in range");
    let ordered = block_with(vec![coinbase(reward), first.clone(), child.clone()]);
    assert_eq!(block_code(&ordered), "ok");
    // The same two in the wrong order: the child's input does not exist yet.
    let reversed = block_with(vec![coinbase(reward), child, first.clone()]);
    let err = validate(&reversed).expect_err("child before parent");
    assert_eq!(err.code(), "missing-input");
    assert!(matches!(err, BlockError::Transaction { index: 1, .. }));
    // Two transactions spending the same output within one block.
    let double = sign(spend(&[outpoint(1, 0)], vec![pay(coins(8), 4)]), &key(1));
    let b = block_with(vec![coinbase(coins(1)), valid_tx(), double]);
    assert_eq!(block_code(&b), "missing-input");
    // A child signed over a wrong value for its in-block parent's output is refused.
    let lied = TxOut {
        value: coins(5),
        ..first.outputs[1]
    };
    let bad_child = sign_over(child_unsigned, &key(1), &[lied]);
    let b = block_with(vec![coinbase(reward), first, bad_child]);
    let err = validate(&b).expect_err("child signed over a wrong value");
    assert_eq!(err.code(), "bad-signature");
    assert!(matches!(err, BlockError::Transaction { index: 2, .. }));
}

#[test]
fn spending_a_zero_value_coinbase_output_signs_over_zero() {
    // A mature coinbase output of value 0 (allowed for coinbases) is spent together with a
    // funded coin; S carries its 0 value like any other.
    let owner = key(1).public_key().pubkey_hash();
    let mut view = view();
    let zero = TxOut {
        value: Amount::ZERO,
        pubkey_hash: owner,
    };
    view.insert(
        outpoint(4, 0),
        Coin {
            output: zero,
            height: Height(1),
            coinbase: true,
        },
    );
    let tx = spend(&[outpoint(4, 0), outpoint(1, 0)], vec![pay(coins(9), 2)]);
    let funded = view[&outpoint(1, 0)].output;
    let good = sign_over(tx.clone(), &key(1), &[zero, funded]);
    let check_in = |tx: &Transaction| check_transaction(tx, &view, HEIGHT, &params(), &genesis());
    assert_eq!(check_in(&good).map(|s| s.fee), Ok(coins(1)));
    // Claiming the zero coin was worth one base unit breaks the signature.
    let one = TxOut {
        value: units(1),
        pubkey_hash: owner,
    };
    let bad = sign_over(tx, &key(1), &[one, funded]);
    assert_eq!(code(check_in(&bad)), "bad-signature");
}

#[test]
fn block_rule_transaction_rules_apply() {
    let bad = sign(spend(&[outpoint(1, 0)], vec![pay(coins(1), 2)]), &key(2));
    let b = block_with(vec![coinbase(coins(1)), bad]);
    let err = validate(&b).expect_err("bad signature");
    assert_eq!(err.code(), "bad-signature");
    assert!(matches!(err, BlockError::Transaction { index: 1, .. }));
    // A signature cache that vouches for the txid skips verification.
    let bad_txid = b.transactions[1].txid();
    assert!(validate_with(&b, &|t| *t == bad_txid).is_ok());
    // Immature coinbase spends are refused inside blocks too.
    let immature = sign(spend(&[outpoint(3, 0)], vec![pay(coins(49), 2)]), &key(1));
    let b = block_with(vec![coinbase(coins(1)), immature]);
    assert_eq!(block_code(&b), "immature-coinbase");
}

#[test]
fn block_rule_coinbase_value() {
    let fee = units(100_000);
    let allowed = subsidy(&params(), HEIGHT)
        .checked_add(fee)
        .expect("in range");
    let too_much = allowed.checked_add(units(1)).expect("in range");
    let b = block_with(vec![coinbase(too_much), valid_tx()]);
    assert_eq!(block_code(&b), "bad-coinbase-value");
    // Paying less than allowed, even nothing, is fine.
    let b = block_with(vec![coinbase(Amount::ZERO), valid_tx()]);
    assert_eq!(block_code(&b), "ok");
}

#[test]
fn coinbase_values_obey_rule_six() {
    let cb = Transaction::coinbase(H as u32, vec![pay(Amount::MAX, 1), pay(units(1), 2)]);
    assert_eq!(block_code(&block_with(vec![cb])), "value-out-of-range");
    let mut cb = coinbase(coins(1));
    cb.version = 3;
    assert_eq!(block_code(&block_with(vec![cb])), "bad-version");
    let cb = Transaction::coinbase(H as u32, vec![]);
    assert_eq!(block_code(&block_with(vec![cb])), "no-outputs");
}

#[test]
fn median_time_past_takes_the_middle_of_the_last_eleven() {
    assert_eq!(median_time_past(&[5]), 5);
    assert_eq!(median_time_past(&[1, 9, 5]), 5);
    assert_eq!(median_time_past(&[4, 1, 3, 2]), 3);
    let mut times: Vec<u64> = (100..=111).collect();
    times[11] = 0; // the 12th-from-last does not count
    times.insert(0, 1_000_000);
    assert_eq!(median_time_past(&times), median_time_past(&times[2..]));
}

#[test]
fn retarget_only_at_interval_boundaries() {
    let p = Network::devnet().params;
    let t = Target::with_leading_zeros(20);
    for h in [1, 19, 21, 39] {
        assert_eq!(
            crate::consensus::next_target(&p, Height(h), t, || 0),
            t,
            "height {h}"
        );
    }
    // At h = 20 an on-schedule span keeps the target; a fast one makes it 4x harder.
    assert_eq!(crate::consensus::next_target(&p, Height(20), t, || 190), t);
    let harder = crate::consensus::next_target(&p, Height(20), t, || 0);
    // expected = 19 * 10 = 190; a zero span clamps to 190 / 4 = 47.
    assert_eq!(Some(harder.0), t.0.mul_div_u64(47, 190));
    assert!(harder < t);
}
