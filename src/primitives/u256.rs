//! 256-bit unsigned integers for targets and chain work, with the exact wide arithmetic
//! the difficulty rules need (PROTOCOL.md section 5). No floating point anywhere.

use std::cmp::Ordering;
use std::fmt;

/// A 256-bit unsigned integer; limbs are little-endian (`0` is least significant).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct U256([u64; 4]);

impl U256 {
    pub const ZERO: U256 = U256([0; 4]);
    pub const ONE: U256 = U256([1, 0, 0, 0]);
    pub const MAX: U256 = U256([u64::MAX; 4]);

    pub const fn from_u64(v: u64) -> U256 {
        U256([v, 0, 0, 0])
    }

    pub fn from_be_bytes(bytes: [u8; 32]) -> U256 {
        let mut limbs = [0u64; 4];
        for (i, limb) in limbs.iter_mut().enumerate() {
            let start = 32 - 8 * (i + 1);
            let mut chunk = [0u8; 8];
            chunk.copy_from_slice(&bytes[start..start + 8]);
            *limb = u64::from_be_bytes(chunk);
        }
        U256(limbs)
    }

    pub fn to_be_bytes(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (i, limb) in self.0.iter().enumerate() {
            let start = 32 - 8 * (i + 1);
            out[start..start + 8].copy_from_slice(&limb.to_be_bytes());
        }
        out
    }

    /// 64 lower-case hex digits, big-endian.
    pub fn to_hex(&self) -> String {
        hex::encode(self.to_be_bytes())
    }

    /// Exactly 64 hex digits, big-endian.
    pub fn from_hex(text: &str) -> Result<U256, crate::primitives::hash::HexError> {
        crate::primitives::hash::hex_array::<32>(text).map(U256::from_be_bytes)
    }

    pub fn is_zero(&self) -> bool {
        self.0 == [0; 4]
    }

    pub fn low_u64(&self) -> u64 {
        self.0[0]
    }

    pub fn bits(&self) -> u32 {
        for i in (0..4).rev() {
            if self.0[i] != 0 {
                return 64 * i as u32 + 64 - self.0[i].leading_zeros();
            }
        }
        0
    }

    fn overflowing_add(self, other: U256) -> (U256, bool) {
        let mut out = [0u64; 4];
        let mut carry = false;
        for (i, limb) in out.iter_mut().enumerate() {
            let (s1, c1) = self.0[i].overflowing_add(other.0[i]);
            let (s2, c2) = s1.overflowing_add(u64::from(carry));
            *limb = s2;
            carry = c1 || c2;
        }
        (U256(out), carry)
    }

    fn overflowing_sub(self, other: U256) -> (U256, bool) {
        let mut out = [0u64; 4];
        let mut borrow = false;
        for (i, limb) in out.iter_mut().enumerate() {
            let (d1, b1) = self.0[i].overflowing_sub(other.0[i]);
            let (d2, b2) = d1.overflowing_sub(u64::from(borrow));
            *limb = d2;
            borrow = b1 || b2;
        }
        (U256(out), borrow)
    }

    pub fn checked_add(self, other: U256) -> Option<U256> {
        match self.overflowing_add(other) {
            (v, false) => Some(v),
            (_, true) => None,
        }
    }

    pub fn saturating_add(self, other: U256) -> U256 {
        self.checked_add(other).unwrap_or(U256::MAX)
    }

    pub fn checked_sub(self, other: U256) -> Option<U256> {
        match self.overflowing_sub(other) {
            (v, false) => Some(v),
            (_, true) => None,
        }
    }

    pub fn bitwise_not(self) -> U256 {
        U256([!self.0[0], !self.0[1], !self.0[2], !self.0[3]])
    }

    /// Left shift by one, returning the bit shifted out.
    fn shl1(self) -> (U256, bool) {
        let mut out = [0u64; 4];
        let mut carry = 0;
        for (i, limb) in out.iter_mut().enumerate() {
            *limb = (self.0[i] << 1) | carry;
            carry = self.0[i] >> 63;
        }
        (U256(out), carry == 1)
    }

    fn bit(&self, i: u32) -> bool {
        (self.0[(i / 64) as usize] >> (i % 64)) & 1 == 1
    }

    /// `(self / divisor, self % divisor)`; `None` for a zero divisor.
    pub fn div_rem(self, divisor: U256) -> Option<(U256, U256)> {
        if divisor.is_zero() {
            return None;
        }
        let mut quotient = [0u64; 4];
        let mut rem = U256::ZERO;
        for i in (0..self.bits()).rev() {
            let (shifted, carry) = rem.shl1();
            rem = shifted;
            rem.0[0] |= u64::from(self.bit(i));
            // With a carry the true remainder is >= 2^256 > divisor; the wrapping
            // subtraction then yields the right value.
            if carry || rem >= divisor {
                rem = rem.overflowing_sub(divisor).0;
                quotient[(i / 64) as usize] |= 1 << (i % 64);
            }
        }
        Some((U256(quotient), rem))
    }

    /// `floor(self * mul / div)` computed over 320 bits; `None` if `div` is zero or the
    /// result does not fit in 256 bits.
    pub fn mul_div_u64(self, mul: u64, div: u64) -> Option<U256> {
        if div == 0 {
            return None;
        }
        // 320-bit product, little-endian limbs.
        let mut wide = [0u64; 5];
        let mut carry: u128 = 0;
        for (limb, w) in self.0.iter().zip(wide.iter_mut()) {
            let p = u128::from(*limb) * u128::from(mul) + carry;
            *w = p as u64;
            carry = p >> 64;
        }
        wide[4] = carry as u64;
        // Long division by a 64-bit divisor, most significant limb first.
        let mut rem: u128 = 0;
        let mut quotient = [0u64; 5];
        for i in (0..5).rev() {
            let cur = (rem << 64) | u128::from(wide[i]);
            quotient[i] = (cur / u128::from(div)) as u64;
            rem = cur % u128::from(div);
        }
        if quotient[4] != 0 {
            return None;
        }
        Some(U256([quotient[0], quotient[1], quotient[2], quotient[3]]))
    }
}

impl Ord for U256 {
    fn cmp(&self, other: &U256) -> Ordering {
        for i in (0..4).rev() {
            match self.0[i].cmp(&other.0[i]) {
                Ordering::Equal => continue,
                ord => return ord,
            }
        }
        Ordering::Equal
    }
}

impl PartialOrd for U256 {
    fn partial_cmp(&self, other: &U256) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Debug for U256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", self.to_hex())
    }
}

impl fmt::Display for U256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// A proof-of-work target: a block hash read big-endian must be `<=` it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct Target(pub U256);

/// Accumulated expected hashes: `floor(2^256 / (target + 1))` per block.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct Work(pub U256);

impl Target {
    pub fn from_be_bytes(bytes: [u8; 32]) -> Target {
        Target(U256::from_be_bytes(bytes))
    }

    pub fn to_be_bytes(&self) -> [u8; 32] {
        self.0.to_be_bytes()
    }

    pub fn to_hex(&self) -> String {
        self.0.to_hex()
    }

    pub fn from_hex(text: &str) -> Result<Target, crate::primitives::hash::HexError> {
        U256::from_hex(text).map(Target)
    }

    /// The target with `bits` leading zero bits and all ones after them.
    pub fn with_leading_zeros(bits: u32) -> Target {
        let mut bytes = [0xffu8; 32];
        for i in 0..bits.min(256) {
            bytes[(i / 8) as usize] &= !(0x80 >> (i % 8));
        }
        Target::from_be_bytes(bytes)
    }

    /// Whether `hash`, read as a big-endian integer, meets this target.
    pub fn is_met_by(&self, hash: &[u8; 32]) -> bool {
        U256::from_be_bytes(*hash) <= self.0
    }

    /// The work of one block at this target. A zero target (never valid) saturates.
    pub fn work(&self) -> Work {
        // 2^256 / (t+1) = (2^256 - 1 - t) / (t+1) + 1 = !t / (t+1) + 1, avoiding 2^256.
        match self.0.checked_add(U256::ONE) {
            None => Work(U256::ONE),
            Some(divisor) => {
                let (q, _) = self
                    .0
                    .bitwise_not()
                    .div_rem(divisor)
                    .expect("divisor is at least one");
                Work(q.checked_add(U256::ONE).unwrap_or(U256::MAX))
            }
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Work {
    pub const ZERO: Work = Work(U256::ZERO);

    pub fn saturating_add(self, other: Work) -> Work {
        Work(self.0.saturating_add(other.0))
    }

    pub fn to_hex(&self) -> String {
        self.0.to_hex()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use num_bigint::BigUint;
    use proptest::prelude::*;

    fn big(v: U256) -> BigUint {
        BigUint::from_bytes_be(&v.to_be_bytes())
    }

    fn from_big(v: &BigUint) -> U256 {
        let bytes = v.to_bytes_be();
        let mut out = [0u8; 32];
        out[32 - bytes.len()..].copy_from_slice(&bytes);
        U256::from_be_bytes(out)
    }

    fn any_u256() -> impl Strategy<Value = U256> {
        (any::<[u8; 32]>(), 0u32..256).prop_map(|(b, zeros)| {
            // Mix magnitudes so small and large values both appear.
            let mut v = U256::from_be_bytes(b);
            for i in 0..zeros {
                v.0[(255 - i) as usize / 64] &= !(1 << ((255 - i) % 64));
            }
            v
        })
    }

    #[test]
    fn work_edges() {
        assert_eq!(Target(U256::MAX).work(), Work(U256::ONE));
        assert_eq!(Target(U256::ZERO).work(), Work(U256::MAX));
        // 2^256 / 2^255 = 2 for target 2^255 - 1.
        let t = Target(U256([u64::MAX, u64::MAX, u64::MAX, u64::MAX >> 1]));
        assert_eq!(t.work(), Work(U256::from_u64(2)));
        let sixteen = Target::with_leading_zeros(16);
        assert_eq!(sixteen.work(), Work(U256::from_u64(65536)));
        assert_eq!(sixteen.to_hex(), format!("0000{}", "f".repeat(60)));
    }

    proptest! {
        #[test]
        fn bytes_round_trip(b in any::<[u8; 32]>()) {
            prop_assert_eq!(U256::from_be_bytes(b).to_be_bytes(), b);
        }

        #[test]
        fn ordering_matches_bigint(a in any_u256(), b in any_u256()) {
            prop_assert_eq!(a.cmp(&b), big(a).cmp(&big(b)));
        }

        #[test]
        fn div_rem_matches_bigint(a in any_u256(), b in any_u256()) {
            prop_assume!(!b.is_zero());
            let (q, r) = a.div_rem(b).expect("non-zero divisor");
            prop_assert_eq!(big(q), big(a) / big(b));
            prop_assert_eq!(big(r), big(a) % big(b));
        }

        #[test]
        fn mul_div_matches_bigint(a in any_u256(), m in any::<u64>(), d in 1..u64::MAX) {
            let expected = big(a) * BigUint::from(m) / BigUint::from(d);
            let fits = expected.bits() <= 256;
            match a.mul_div_u64(m, d) {
                Some(v) => { prop_assert!(fits); prop_assert_eq!(big(v), expected); }
                None => prop_assert!(!fits),
            }
        }

        #[test]
        fn work_matches_bigint(t in any_u256()) {
            prop_assume!(!t.is_zero());
            let expected = (BigUint::from(1u8) << 256u32) / (big(t) + 1u8);
            prop_assert_eq!(big(Target(t).work().0), expected);
        }

        #[test]
        fn add_sub_match_bigint(a in any_u256(), b in any_u256()) {
            let sum = big(a) + big(b);
            match a.checked_add(b) {
                Some(v) => prop_assert_eq!(big(v), sum),
                None => prop_assert!(sum.bits() > 256),
            }
            if a >= b {
                prop_assert_eq!(a.checked_sub(b).map(big), Some(big(a) - big(b)));
            }
            let _ = from_big(&big(a));
        }
    }
}
