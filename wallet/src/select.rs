//! Coin selection, fees and transaction building.
//!
//! Fee = fee rate (base units per byte) x transaction size, and the size grows with every
//! input (133 bytes) and output (28 bytes), so selection recomputes the fee as it adds
//! inputs. Coins are taken largest first (fewest inputs, lowest fee). Change goes back to
//! the wallet only when it is worth at least [`dust_limit`]; smaller change would cost
//! more to spend than it is worth, or be refused by nodes as dust (an output below
//! [`POLICY_DUST_LIMIT`], PROTOCOL.md section 8), so it is left to the fee and the plan
//! says so. A payment below the policy dust limit is refused here, before anything is
//! signed, with a clear error: no node would relay it.

use crate::error::WalletError;
use ferro::primitives::{
    Amount, BlockHash, OutPoint, PubkeyHash, SecretKey, Signature, Transaction, TxIn, TxOut,
};

/// Bytes of a transaction without inputs or outputs (version, two counts, lock_time).
pub const BASE_SIZE: usize = 16;
/// Bytes one input adds: outpoint 36, public key 33, signature 64.
pub const INPUT_SIZE: usize = 133;
/// Bytes one output adds: value 8, pubkey hash 20.
pub const OUTPUT_SIZE: usize = 28;

/// Size of a transaction with this many inputs and outputs (equals [`Transaction::size`]).
pub fn tx_size(inputs: usize, outputs: usize) -> usize {
    BASE_SIZE + INPUT_SIZE * inputs + OUTPUT_SIZE * outputs
}

/// `fee_rate * size`, or `None` above `MAX_MONEY`.
pub fn fee_for(fee_rate: u64, size: usize) -> Option<Amount> {
    fee_rate
        .checked_mul(size as u64)
        .and_then(|f| Amount::from_base_units(f).ok())
}

/// Nodes' default dust limit (`--dust-limit`): an output below it is refused by policy
/// (`dust`).
pub const POLICY_DUST_LIMIT: u64 = ferro::mempool::DEFAULT_DUST_LIMIT;

/// The smallest change output worth creating: what the change output costs now plus
/// what spending it later costs, at this fee rate, and never below the nodes' policy
/// dust limit ([`POLICY_DUST_LIMIT`]).
pub fn dust_limit(fee_rate: u64) -> Amount {
    let units = fee_rate
        .saturating_mul((OUTPUT_SIZE + INPUT_SIZE) as u64)
        .max(POLICY_DUST_LIMIT);
    Amount::from_base_units(units).unwrap_or(Amount::MAX)
}

/// Refuses an output value nodes would refuse as dust.
pub fn check_not_dust(amount: Amount) -> Result<(), WalletError> {
    if amount.to_base_units() < POLICY_DUST_LIMIT {
        return Err(WalletError::BadAmount(format!(
            "{} coins is below the dust limit of {POLICY_DUST_LIMIT} base units: nodes refuse such outputs (code dust)",
            amount.to_coins_string()
        )));
    }
    Ok(())
}

/// A spendable coin of the wallet and the key that unlocks it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate<K> {
    pub outpoint: OutPoint,
    pub value: Amount,
    pub key: K,
}

/// The outcome of coin selection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan<K> {
    pub inputs: Vec<Candidate<K>>,
    pub amount: Amount,
    pub fee: Amount,
    /// Change back to the wallet, if any.
    pub change: Option<Amount>,
    /// Change too small to keep that was added to the fee (zero if none).
    pub dust_to_fee: Amount,
    pub fee_rate: u64,
    /// Size of the final transaction in bytes.
    pub size: usize,
}

/// Picks coins paying `amount` plus the fee at `fee_rate`.
pub fn select_coins<K: Clone>(
    candidates: &[Candidate<K>],
    amount: Amount,
    fee_rate: u64,
) -> Result<Plan<K>, WalletError> {
    if amount.is_zero() {
        return Err(WalletError::BadAmount(
            "the amount must be above zero".into(),
        ));
    }
    check_not_dust(amount)?;
    let overflow = || WalletError::BadAmount("amount plus fee exceeds MAX_MONEY".into());
    let mut sorted: Vec<&Candidate<K>> = candidates.iter().collect();
    // Largest first; ties broken by outpoint so the plan is deterministic.
    sorted.sort_by(|a, b| b.value.cmp(&a.value).then(a.outpoint.cmp(&b.outpoint)));
    let dust = dust_limit(fee_rate);
    let mut total = Amount::ZERO;
    for (i, coin) in sorted.iter().enumerate() {
        total = total.checked_add(coin.value).ok_or_else(overflow)?;
        let n = i + 1;
        let take = || sorted[..n].iter().map(|c| (*c).clone()).collect::<Vec<_>>();
        // With a change output, if the change is worth keeping.
        let size2 = tx_size(n, 2);
        let fee2 = fee_for(fee_rate, size2).ok_or_else(overflow)?;
        let needed2 = amount.checked_add(fee2).ok_or_else(overflow)?;
        if let Some(change) = total.checked_sub(needed2) {
            if change >= dust {
                return Ok(Plan {
                    inputs: take(),
                    amount,
                    fee: fee2,
                    change: Some(change),
                    dust_to_fee: Amount::ZERO,
                    fee_rate,
                    size: size2,
                });
            }
        }
        // Without change: anything above amount + fee is too small to keep.
        let size1 = tx_size(n, 1);
        let fee1 = fee_for(fee_rate, size1).ok_or_else(overflow)?;
        let needed1 = amount.checked_add(fee1).ok_or_else(overflow)?;
        if let Some(extra) = total.checked_sub(needed1) {
            let fee = fee1.checked_add(extra).ok_or_else(overflow)?;
            return Ok(Plan {
                inputs: take(),
                amount,
                fee,
                change: None,
                dust_to_fee: extra,
                fee_rate,
                size: size1,
            });
        }
    }
    // Not enough even with every coin: report the minimum that would have sufficed.
    let fee = fee_for(fee_rate, tx_size(sorted.len().max(1), 1)).unwrap_or(Amount::MAX);
    Err(WalletError::InsufficientFunds {
        available: total,
        needed: amount.checked_add(fee).unwrap_or(Amount::MAX),
        amount,
        fee,
        fee_rate,
        unspendable: Amount::ZERO,
    })
}

/// Builds the transaction of `plan` paying `to` (and change to `change_to`), and signs
/// every input with the key `key_of` returns for it.
pub fn build_transaction<K>(
    plan: &Plan<K>,
    to: PubkeyHash,
    change_to: PubkeyHash,
    genesis_hash: &BlockHash,
    key_of: impl Fn(&K) -> Result<SecretKey, WalletError>,
) -> Result<Transaction, WalletError> {
    let keys = plan
        .inputs
        .iter()
        .map(|c| key_of(&c.key))
        .collect::<Result<Vec<_>, _>>()?;
    let mut outputs = vec![TxOut {
        value: plan.amount,
        pubkey_hash: to,
    }];
    if let Some(change) = plan.change {
        outputs.push(TxOut {
            value: change,
            pubkey_hash: change_to,
        });
    }
    // Signatures are not part of the sighash: sign with them zeroed, then fill them in.
    let mut tx = Transaction {
        version: 1,
        inputs: plan
            .inputs
            .iter()
            .zip(&keys)
            .map(|(c, k)| TxIn {
                prev: c.outpoint,
                pubkey: k.public_key(),
                signature: Signature([0; 64]),
            })
            .collect(),
        outputs,
        lock_time: 0,
    };
    // Sighash v2 commits to the value and owner of every coin spent: if a node lied about
    // a value, the signature is invalid rather than the fee silently larger.
    let spent: Vec<TxOut> = plan
        .inputs
        .iter()
        .zip(&keys)
        .map(|(c, k)| TxOut {
            value: c.value,
            pubkey_hash: k.public_key().pubkey_hash(),
        })
        .collect();
    let sighash = tx.sighash(genesis_hash, &spent);
    for (input, key) in tx.inputs.iter_mut().zip(&keys) {
        input.signature = key.sign(&sighash);
        if !input.pubkey.verify(&sighash, &input.signature) {
            return Err(WalletError::Key(
                "a fresh signature does not verify; refusing to send".into(),
            ));
        }
    }
    debug_assert_eq!(tx.size(), plan.size);
    Ok(tx)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use ferro::consensus::{check_transaction, Coin, Network};
    use ferro::primitives::Txid;
    use proptest::prelude::*;
    use std::collections::HashMap;

    fn coin(n: u8, units: u64) -> Candidate<u8> {
        Candidate {
            outpoint: OutPoint {
                txid: Txid([n; 32]),
                vout: u32::from(n),
            },
            value: Amount::from_base_units(units).unwrap(),
            key: n,
        }
    }

    fn units(n: u64) -> Amount {
        Amount::from_base_units(n).unwrap()
    }

    #[test]
    fn size_formula_matches_the_encoding() {
        let tx = Transaction {
            version: 1,
            inputs: vec![
                TxIn {
                    prev: OutPoint {
                        txid: Txid([1; 32]),
                        vout: 0
                    },
                    pubkey: ferro::primitives::PublicKey([2; 33]),
                    signature: Signature([0; 64]),
                };
                3
            ],
            outputs: vec![
                TxOut {
                    value: units(1),
                    pubkey_hash: PubkeyHash([0; 20])
                };
                2
            ],
            lock_time: 0,
        };
        assert_eq!(tx_size(3, 2), tx.size());
        assert_eq!(tx_size(1, 2), 205);
    }

    #[test]
    fn change_and_fee() {
        let plan = select_coins(&[coin(1, 100_000)], units(50_000), 10).unwrap();
        assert_eq!(plan.size, 205);
        assert_eq!(plan.fee, units(2_050));
        assert_eq!(plan.change, Some(units(47_950)));
        assert_eq!(plan.dust_to_fee, Amount::ZERO);
    }

    #[test]
    fn dust_change_goes_to_the_fee() {
        // 1 input, 2 outputs at rate 1: fee 205; 1 output: 177. Leftover 100 < dust 161.
        let plan = select_coins(&[coin(1, 10_277)], units(10_000), 1).unwrap();
        assert_eq!(plan.change, None);
        assert_eq!(plan.size, 177);
        assert_eq!(plan.dust_to_fee, units(100));
        assert_eq!(plan.fee, units(277));
        // Exact payment: no change, no dust.
        let plan = select_coins(&[coin(1, 10_177)], units(10_000), 1).unwrap();
        assert_eq!((plan.change, plan.dust_to_fee), (None, Amount::ZERO));
    }

    #[test]
    fn change_below_the_nodes_dust_limit_goes_to_the_fee() {
        // At rate 1 change of 161 would pay for itself, but nodes refuse outputs below
        // 500: 499 of change goes to the fee, 500 is kept.
        assert_eq!(dust_limit(1), units(POLICY_DUST_LIMIT));
        assert_eq!(dust_limit(10), units(1_610));
        let plan = select_coins(&[coin(1, 10_000 + 205 + 499)], units(10_000), 1).unwrap();
        assert_eq!((plan.change, plan.dust_to_fee), (None, units(499 + 28)));
        let plan = select_coins(&[coin(1, 10_000 + 205 + 500)], units(10_000), 1).unwrap();
        assert_eq!(
            (plan.change, plan.dust_to_fee),
            (Some(units(500)), Amount::ZERO)
        );
    }

    #[test]
    fn payments_below_the_dust_limit_are_refused_before_signing() {
        let err = select_coins(&[coin(1, 100_000)], units(499), 1).unwrap_err();
        assert!(
            matches!(&err, WalletError::BadAmount(m) if m.contains("dust")),
            "{err}"
        );
        assert!(select_coins(&[coin(1, 100_000)], units(500), 1).is_ok());
    }

    #[test]
    fn each_input_raises_the_fee() {
        // 60 000 + fee for one input is not enough; the second input adds 133 bytes.
        let coins = [coin(1, 60_000), coin(2, 50_000)];
        let plan = select_coins(&coins, units(60_000), 10).unwrap();
        assert_eq!(plan.inputs.len(), 2);
        assert_eq!(plan.inputs[0].key, 1, "largest first");
        assert_eq!(plan.fee, units(10 * 338));
        assert_eq!(plan.change, Some(units(110_000 - 60_000 - 3_380)));
    }

    #[test]
    fn insufficient_funds_reports_available_and_needed() {
        let coins = [coin(1, 1_000), coin(2, 2_000)];
        match select_coins(&coins, units(3_000), 1) {
            Err(WalletError::InsufficientFunds {
                available,
                needed,
                fee,
                ..
            }) => {
                assert_eq!(available, units(3_000));
                assert_eq!(fee, units(tx_size(2, 1) as u64));
                assert_eq!(needed, units(3_000 + tx_size(2, 1) as u64));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            select_coins::<u8>(&[], units(500), 1),
            Err(WalletError::InsufficientFunds { .. })
        ));
        assert!(matches!(
            select_coins(&coins, Amount::ZERO, 1),
            Err(WalletError::BadAmount(_))
        ));
    }

    #[test]
    fn built_transactions_pass_consensus() {
        let network = Network::devnet();
        let keys: Vec<SecretKey> = (1..=3u8)
            .map(|n| SecretKey::from_bytes(&[n; 32]).unwrap())
            .collect();
        let coins: Vec<Candidate<u8>> = (0..3u8)
            .map(|i| Candidate {
                outpoint: OutPoint {
                    txid: Txid([i + 10; 32]),
                    vout: 1,
                },
                value: units(40_000),
                key: i,
            })
            .collect();
        let view: HashMap<OutPoint, Coin> = coins
            .iter()
            .map(|c| {
                let output = TxOut {
                    value: c.value,
                    pubkey_hash: keys[usize::from(c.key)].public_key().pubkey_hash(),
                };
                (
                    c.outpoint,
                    Coin {
                        output,
                        height: 1.into(),
                        coinbase: false,
                    },
                )
            })
            .collect();
        let plan = select_coins(&coins, units(100_000), 5).unwrap();
        assert_eq!(plan.inputs.len(), 3);
        let tx = build_transaction(
            &plan,
            PubkeyHash([7; 20]),
            PubkeyHash([8; 20]),
            &network.genesis_hash,
            |k| Ok(keys[usize::from(*k)].clone()),
        )
        .unwrap();
        assert_eq!(tx.size(), plan.size);
        let spend = check_transaction(&tx, &view, 2.into(), &network.params, &network.genesis_hash)
            .unwrap();
        assert_eq!(spend.fee, plan.fee);
        // Signed for devnet, the same transaction is invalid on any other network.
        let other = BlockHash([1; 32]);
        assert!(check_transaction(&tx, &view, 2.into(), &network.params, &other).is_err());
    }

    proptest! {
        #[test]
        fn plans_balance_exactly(
            values in proptest::collection::vec(1u64..5_000_000, 1..12),
            amount in 1u64..20_000_000,
            rate in 0u64..50,
        ) {
            let coins: Vec<Candidate<u8>> =
                values.iter().enumerate().map(|(i, v)| coin(i as u8, *v)).collect();
            match select_coins(&coins, units(amount), rate) {
                Ok(plan) => {
                    let inputs = Amount::checked_sum(plan.inputs.iter().map(|c| c.value)).unwrap();
                    let outputs = plan.amount.checked_add(plan.change.unwrap_or(Amount::ZERO)).unwrap();
                    prop_assert_eq!(inputs.checked_sub(outputs), Some(plan.fee));
                    let outs = if plan.change.is_some() { 2 } else { 1 };
                    prop_assert_eq!(plan.size, tx_size(plan.inputs.len(), outs));
                    prop_assert!(plan.fee >= fee_for(rate, plan.size).unwrap());
                    if let Some(change) = plan.change {
                        prop_assert!(change >= dust_limit(rate));
                    }
                    prop_assert!(plan.dust_to_fee < dust_limit(rate).checked_add(fee_for(rate, OUTPUT_SIZE).unwrap()).unwrap());
                }
                Err(WalletError::InsufficientFunds { available, needed, .. }) => {
                    prop_assert!(available < needed);
                }
                Err(e) => prop_assert!(false, "{}", e),
            }
        }
    }
}
