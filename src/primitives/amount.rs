//! Amounts in base units, capped at `MAX_MONEY` by construction.

use std::fmt;
use std::str::FromStr;

/// Base units in one coin.
pub const COIN: u64 = 100_000_000;
/// The supply cap, the same on every network (PROTOCOL.md section 1).
pub const MAX_MONEY: u64 = 21_000_000 * COIN;

/// Digits after the decimal point in a coin amount.
const DECIMALS: usize = 8;

mod private {
    /// The inner value is private so the only ways in check the cap.
    #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
    pub struct Amount(pub(super) u64);
}
pub use private::Amount;

/// Why a value is not an amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("amount {0} base units is above MAX_MONEY ({MAX_MONEY})")]
    AboveMaxMoney(u64),
    #[error("amount arithmetic overflowed or exceeded MAX_MONEY")]
    Overflow,
    #[error("invalid coin amount {0:?}: expected a decimal number of coins with at most 8 decimal places, like 1.5")]
    BadDecimal(String),
}

impl Amount {
    pub const ZERO: Amount = Amount(0);
    pub const MAX: Amount = Amount(MAX_MONEY);

    /// An amount of `units` base units, refused above `MAX_MONEY`.
    pub const fn from_base_units(units: u64) -> Result<Amount, AmountError> {
        if units > MAX_MONEY {
            Err(AmountError::AboveMaxMoney(units))
        } else {
            Ok(Amount(units))
        }
    }

    /// Whole coins; refused above `MAX_MONEY`.
    pub fn from_coins(coins: u64) -> Result<Amount, AmountError> {
        let units = coins.checked_mul(COIN).ok_or(AmountError::Overflow)?;
        Amount::from_base_units(units)
    }

    pub const fn to_base_units(self) -> u64 {
        self.0
    }

    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// Sum, or `None` when it would pass `MAX_MONEY`.
    pub fn checked_add(self, other: Amount) -> Option<Amount> {
        let sum = self.0.checked_add(other.0)?;
        Amount::from_base_units(sum).ok()
    }

    /// Difference, or `None` when it would go below zero.
    pub fn checked_sub(self, other: Amount) -> Option<Amount> {
        self.0.checked_sub(other.0).map(Amount)
    }

    /// Sums amounts, `None` when any partial sum passes `MAX_MONEY`.
    pub fn checked_sum<I: IntoIterator<Item = Amount>>(items: I) -> Option<Amount> {
        items
            .into_iter()
            .try_fold(Amount::ZERO, |acc, a| acc.checked_add(a))
    }

    /// Right shift, used by the subsidy schedule.
    pub fn shift_right(self, bits: u64) -> Amount {
        if bits >= 64 {
            Amount::ZERO
        } else {
            Amount(self.0 >> bits)
        }
    }

    /// Parses a decimal coin amount ("1.5", "0.00000001", "21000000") exactly, without
    /// floating point. At most 8 decimal places; no sign, exponent or spaces.
    pub fn from_coins_str(text: &str) -> Result<Amount, AmountError> {
        let bad = || AmountError::BadDecimal(text.to_string());
        let (whole, frac) = match text.split_once('.') {
            Some((w, f)) => (w, f),
            None => (text, ""),
        };
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        let has_point = text.contains('.');
        if whole.is_empty()
            || !all_digits(whole)
            || !all_digits(frac)
            || frac.len() > DECIMALS
            || (has_point && frac.is_empty())
        {
            return Err(bad());
        }
        let whole: u64 = whole.parse().map_err(|_| AmountError::Overflow)?;
        let mut frac_units: u64 = 0;
        for (i, b) in frac.bytes().enumerate() {
            let digit = u64::from(b - b'0');
            frac_units += digit * 10u64.pow((DECIMALS - 1 - i) as u32);
        }
        let units = whole
            .checked_mul(COIN)
            .and_then(|w| w.checked_add(frac_units))
            .ok_or(AmountError::Overflow)?;
        Amount::from_base_units(units)
    }

    /// Coins with 8 decimals, for display: `1.50000000`.
    pub fn to_coins_string(self) -> String {
        format!("{}.{:08}", self.0 / COIN, self.0 % COIN)
    }
}

impl fmt::Debug for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Amount({})", self.0)
    }
}

/// Displays base units, the unit of every API and log line.
impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for Amount {
    type Err = AmountError;
    /// Parses a decimal number of coins (see [`Amount::from_coins_str`]).
    fn from_str(s: &str) -> Result<Amount, AmountError> {
        Amount::from_coins_str(s)
    }
}

impl TryFrom<u64> for Amount {
    type Error = AmountError;
    fn try_from(units: u64) -> Result<Amount, AmountError> {
        Amount::from_base_units(units)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn cap_is_enforced() {
        assert!(Amount::from_base_units(MAX_MONEY).is_ok());
        assert_eq!(
            Amount::from_base_units(MAX_MONEY + 1),
            Err(AmountError::AboveMaxMoney(MAX_MONEY + 1))
        );
        assert_eq!(Amount::MAX.checked_add(Amount(1)), None);
        assert_eq!(Amount(1).checked_sub(Amount(2)), None);
        assert_eq!(Amount::checked_sum([Amount::MAX, Amount(1)]), None);
        assert_eq!(Amount::checked_sum([Amount(1), Amount(2)]), Some(Amount(3)));
    }

    #[test]
    fn decimal_parsing_is_exact() {
        let ok = [
            ("1", COIN),
            ("1.5", 150_000_000),
            ("0.00000001", 1),
            ("21000000", MAX_MONEY),
            ("0.1", 10_000_000),
            ("12.34567891", 1_234_567_891),
        ];
        for (text, units) in ok {
            assert_eq!(
                Amount::from_coins_str(text).map(|a| a.0),
                Ok(units),
                "{text}"
            );
        }
        for text in [
            "",
            ".",
            "1.",
            ".5",
            "-1",
            "+1",
            "1e3",
            "1.000000001",
            "1,5",
            " 1",
            "0x10",
            "NaN",
        ] {
            assert!(
                matches!(
                    Amount::from_coins_str(text),
                    Err(AmountError::BadDecimal(_))
                ),
                "{text:?} should be refused"
            );
        }
        assert!(Amount::from_coins_str("21000000.00000001").is_err());
        assert!(Amount::from_coins_str("99999999999999999999").is_err());
    }

    proptest! {
        #[test]
        fn coins_string_round_trips(units in 0..=MAX_MONEY) {
            let a = Amount(units);
            prop_assert_eq!(Amount::from_coins_str(&a.to_coins_string()), Ok(a));
        }
    }
}
