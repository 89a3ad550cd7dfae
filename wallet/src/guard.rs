//! What the wallet checks before it signs, whatever the node says.
//!
//! The node is a source of claims, not of truth. Before signing, the wallet:
//! - caps the fee rate and the absolute fee ([`FeeLimits`], modelled on Bitcoin Core's
//!   `maxtxfee`): a node recommending 10^9 base units per byte cannot make it overpay;
//! - compares the coins a node listed for an address with the balance the same node
//!   reports for it ([`check_balance`]);
//! - compares each coin it spends with the output of its previous transaction
//!   ([`check_coin`]).
//!
//! A mismatch is [`WalletError::NodeInconsistent`], naming the node. Sighash v2 already
//! makes a signature over a lied value invalid; these checks catch the lie before sending.

use crate::error::WalletError;
use ferro::primitives::{Amount, OutPoint, PubkeyHash, COIN};

/// Default `--max-fee-rate`, base units per byte: 1 000 times the relay minimum.
pub const DEFAULT_MAX_FEE_RATE: u64 = 1_000;
/// Default `--max-fee` in base units: 0.1 coin, Bitcoin Core's `maxtxfee` default.
pub const DEFAULT_MAX_FEE_UNITS: u64 = COIN / 10;
/// The share of the amount above which the summary warns about the fee, in basis points.
pub const FEE_WARNING_BASIS_POINTS: u128 = 100;

/// The most the wallet will sign for, whatever the node recommends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeeLimits {
    pub max_fee_rate: u64,
    pub max_fee: Amount,
}

impl Default for FeeLimits {
    fn default() -> Self {
        FeeLimits {
            max_fee_rate: DEFAULT_MAX_FEE_RATE,
            max_fee: Amount::from_base_units(DEFAULT_MAX_FEE_UNITS).unwrap_or(Amount::ZERO),
        }
    }
}

/// Where a fee rate came from, for the error message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RateSource {
    /// `--fee-rate` on the command line.
    User,
    /// The node's `/fees` recommendation.
    Node(String),
}

/// Refuses a fee rate above the limit before any coin is selected.
pub fn check_fee_rate(
    rate: u64,
    source: &RateSource,
    limits: FeeLimits,
) -> Result<(), WalletError> {
    if rate <= limits.max_fee_rate {
        return Ok(());
    }
    let from = match source {
        RateSource::User => "given with --fee-rate".to_string(),
        RateSource::Node(url) => format!("recommended by the node at {url}"),
    };
    Err(WalletError::FeeTooHigh(format!(
        "fee rate {rate} base units/byte ({from}) is above the limit of {} base units/byte; not signing. Pass a lower --fee-rate, or raise --max-fee-rate / WALLET_MAX_FEE_RATE if you mean it",
        limits.max_fee_rate
    )))
}

/// Refuses a planned fee above the limit (dust added to the fee counts too).
pub fn check_fee(fee: Amount, limits: FeeLimits) -> Result<(), WalletError> {
    if fee <= limits.max_fee {
        return Ok(());
    }
    Err(WalletError::FeeTooHigh(format!(
        "the fee would be {} coins, above the limit of {} coins; not signing. Lower --fee-rate, or raise --max-fee / WALLET_MAX_FEE if you mean it",
        fee.to_coins_string(),
        limits.max_fee.to_coins_string()
    )))
}

/// The fee as a share of the amount, "0.02%", and whether it deserves a warning.
pub fn fee_share(fee: Amount, amount: Amount) -> (String, bool) {
    let amount = u128::from(amount.to_base_units());
    if amount == 0 {
        return ("n/a".into(), !fee.is_zero());
    }
    // Hundredths of a percent, rounded up so a warning is never understated.
    let bp = (u128::from(fee.to_base_units()) * 10_000).div_ceil(amount);
    (
        format!("{}.{:02}%", bp / 100, bp % 100),
        bp > FEE_WARNING_BASIS_POINTS,
    )
}

/// The coins the node listed for `address` must add up to the balance it reports.
pub fn check_balance(
    url: &str,
    address: &str,
    listed_sum: u128,
    reported_balance: u64,
) -> Result<(), WalletError> {
    if listed_sum == u128::from(reported_balance) {
        return Ok(());
    }
    Err(WalletError::NodeInconsistent {
        url: url.to_string(),
        detail: format!(
            "for {address} it lists coins worth {listed_sum} base units but reports a balance of {reported_balance}"
        ),
    })
}

/// A listed coin must match the output of its previous transaction: same value, paid to
/// the wallet's key. `previous` is that output as the node's `/transactions/{txid}` shows
/// it (`None`: the transaction has no such output).
pub fn check_coin(
    url: &str,
    outpoint: &OutPoint,
    listed_value: Amount,
    ours: PubkeyHash,
    previous: Option<(Amount, PubkeyHash)>,
) -> Result<(), WalletError> {
    let detail = match previous {
        None => format!(
            "it lists coin {}:{} but its transaction has no output {}",
            outpoint.txid, outpoint.vout, outpoint.vout
        ),
        Some((value, _)) if value != listed_value => format!(
            "it lists coin {}:{} as worth {} coins, but that transaction's output {} is worth {} coins",
            outpoint.txid,
            outpoint.vout,
            listed_value.to_coins_string(),
            outpoint.vout,
            value.to_coins_string()
        ),
        Some((_, owner)) if owner != ours => format!(
            "it lists coin {}:{} as the wallet's, but that output pays another key ({})",
            outpoint.txid,
            outpoint.vout,
            owner.to_hex()
        ),
        Some(_) => return Ok(()),
    };
    Err(WalletError::NodeInconsistent {
        url: url.to_string(),
        detail,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn units(u: u64) -> Amount {
        Amount::from_base_units(u).unwrap()
    }

    #[test]
    fn defaults_follow_bitcoin_core() {
        let l = FeeLimits::default();
        assert_eq!(l.max_fee.to_base_units(), COIN / 10);
        assert_eq!(l.max_fee_rate, 1_000);
    }

    #[test]
    fn a_node_recommending_a_huge_rate_is_refused_by_name() {
        let e = check_fee_rate(
            1_000_000_000,
            &RateSource::Node("http://n:1".into()),
            FeeLimits::default(),
        )
        .unwrap_err();
        assert_eq!(e.code(), "fee-too-high");
        assert!(e.to_string().contains("http://n:1"), "{e}");
        assert!(check_fee_rate(1_000, &RateSource::User, FeeLimits::default()).is_ok());
        assert!(check_fee(units(COIN / 10), FeeLimits::default()).is_ok());
        assert!(check_fee(units(COIN / 10 + 1), FeeLimits::default()).is_err());
    }

    mod signed_fee {
        use super::*;
        use crate::select::{build_transaction, select_coins, Candidate};
        use ferro::consensus::{check_transaction, Coin, Network};
        use ferro::error::Code;
        use ferro::primitives::{Height, SecretKey, TxOut, Txid};
        use proptest::prelude::*;
        use std::collections::HashMap;

        /// One coin: its true value, and what a node says about it in the listing, the
        /// balance and the previous transaction.
        #[derive(Clone, Debug)]
        struct Told {
            truth: u64,
            listed: u64,
            balance_follows: bool,
            previous_follows: bool,
        }

        fn told() -> impl Strategy<Value = Told> {
            (
                1_000u64..50 * COIN,
                prop::option::weighted(0.3, 1u64..100 * COIN),
                any::<bool>(),
                any::<bool>(),
            )
                .prop_map(|(truth, lie, balance_follows, previous_follows)| Told {
                    truth,
                    listed: lie.unwrap_or(truth),
                    balance_follows,
                    previous_follows,
                })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]
            /// For random coin sets, lies and node fee rates: whenever the wallet's checks
            /// let it sign, the fee its signature commits to is the fee its summary showed
            /// and within the limit, and a node that accepts the transaction collects
            /// exactly that fee.
            #[test]
            fn the_fee_signed_never_exceeds_the_fee_shown(
                coins in prop::collection::vec(told(), 1..6),
                amount in 1u64..20 * COIN,
                node_rate in prop_oneof![1u64..50, Just(1_000_000_000u64)],
            ) {
                let net = Network::devnet();
                let key = SecretKey::from_bytes(&[7; 32]).unwrap();
                let ours = key.public_key().pubkey_hash();
                let limits = FeeLimits::default();
                let url = "http://liar";
                let mut view = HashMap::new();
                let mut candidates = Vec::new();
                for (i, c) in coins.iter().enumerate() {
                    let outpoint = OutPoint { txid: Txid([i as u8 + 1; 32]), vout: 0 };
                    view.insert(outpoint, Coin {
                        output: TxOut { value: Amount::from_base_units(c.truth).unwrap(), pubkey_hash: ours },
                        height: Height(1),
                        coinbase: false,
                    });
                    candidates.push(Candidate { outpoint, value: Amount::from_base_units(c.listed).unwrap(), key: () });
                }
                // What the wallet does, in order; any refusal ends the run (fine).
                let outcome = (|| -> Result<_, WalletError> {
                    check_fee_rate(node_rate, &RateSource::Node(url.into()), limits)?;
                    let listed_sum: u128 = coins.iter().map(|c| u128::from(c.listed)).sum();
                    let reported: u64 = coins.iter().map(|c| if c.balance_follows { c.listed } else { c.truth }).sum();
                    check_balance(url, "a", listed_sum, reported)?;
                    let plan = select_coins(&candidates, Amount::from_base_units(amount).unwrap(), node_rate)?;
                    check_fee(plan.fee, limits)?;
                    for input in &plan.inputs {
                        let i = candidates.iter().position(|c| c.outpoint == input.outpoint).unwrap();
                        let told = if coins[i].previous_follows { coins[i].listed } else { coins[i].truth };
                        check_coin(url, &input.outpoint, input.value, ours,
                            Some((Amount::from_base_units(told).unwrap(), ours)))?;
                    }
                    let tx = build_transaction(&plan, ours, ours, &net.genesis_hash, |_| Ok(key.clone()))?;
                    Ok((plan, tx))
                })();
                if let Ok((plan, tx)) = outcome {
                    prop_assert!(node_rate <= limits.max_fee_rate);
                    prop_assert!(plan.fee <= limits.max_fee);
                    // The signature commits to the listed values: the fee it authorizes.
                    let signed_in: u64 = plan.inputs.iter().map(|c| c.value.to_base_units()).sum();
                    let out: u64 = tx.outputs.iter().map(|o| o.value.to_base_units()).sum();
                    prop_assert_eq!(signed_in - out, plan.fee.to_base_units());
                    // Against the true coins: either refused, or exactly the fee shown.
                    match check_transaction(&tx, &view, Height(100), &net.params, &net.genesis_hash) {
                        Ok(spend) => prop_assert_eq!(spend.fee, plan.fee),
                        Err(e) => {
                            let lied = plan.inputs.iter().any(|c| view[&c.outpoint].output.value != c.value);
                            prop_assert!(lied, "refused without a lie: {e}");
                            // An understated coin breaks the signature; an overstated one
                            // may already fail the value rule.
                            let code = ferro::error::ErrorCode::code(&e);
                            prop_assert!(matches!(code, Code::BadSignature | Code::OutputsExceedInputs), "{}", code);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn fee_share_warns_above_one_percent() {
        assert_eq!(
            fee_share(units(100), units(10_000)),
            ("1.00%".into(), false)
        );
        assert_eq!(fee_share(units(101), units(10_000)), ("1.01%".into(), true));
        assert_eq!(
            fee_share(units(1), units(1_000_000)),
            ("0.01%".into(), false)
        );
    }
}
