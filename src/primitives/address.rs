//! Addresses: bech32m (BIP 350) of a 20-byte pubkey hash under the network's hrp.

use super::hash::PubkeyHash;
use bech32::primitives::decode::CheckedHrpstring;
use bech32::{Bech32m, Hrp};
use std::fmt;

/// BIP 173's limit on the length of a whole bech32 string.
const MAX_LENGTH: usize = 90;
/// 20 bytes are exactly 32 five-bit groups.
const PAYLOAD_GROUPS: usize = 32;

/// A pay-to-pubkey-hash address of one network.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Address {
    hrp: Hrp,
    hash: PubkeyHash,
}

/// Why a string is not an address of the expected network.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("invalid address {text:?}: {reason}")]
    Invalid { text: String, reason: String },
    #[error("address {text:?} belongs to network {found:?}, this network's addresses start with {expected:?}")]
    WrongNetwork {
        text: String,
        expected: String,
        found: String,
    },
    #[error("invalid human-readable part {0:?} for addresses")]
    BadHrp(String),
}

/// Decodes any bech32m string: `(hrp, data as 5-bit values)`. Rejects mixed case, bad
/// characters, a BIP 173 bech32 checksum and strings over 90 characters.
pub fn decode_bech32m(text: &str) -> Result<(Hrp, Vec<u8>), String> {
    if text.len() > MAX_LENGTH {
        return Err(format!("longer than {MAX_LENGTH} characters"));
    }
    let checked = CheckedHrpstring::new::<Bech32m>(text).map_err(|e| e.to_string())?;
    let hrp = checked.hrp();
    let data = checked
        .fe32_iter::<std::iter::Empty<u8>>()
        .map(|fe| fe.to_u8())
        .collect();
    Ok((hrp, data))
}

impl Address {
    /// Builds the address of `hash` for the network whose hrp is `hrp`.
    pub fn new(hrp: &str, hash: PubkeyHash) -> Result<Address, AddressError> {
        let hrp = Hrp::parse(hrp).map_err(|_| AddressError::BadHrp(hrp.to_string()))?;
        Ok(Address { hrp, hash })
    }

    /// Parses an address and checks it belongs to the network with `expected_hrp`.
    pub fn parse(text: &str, expected_hrp: &str) -> Result<Address, AddressError> {
        let invalid = |reason: String| AddressError::Invalid {
            text: text.chars().take(100).collect(),
            reason,
        };
        let (hrp, data) = decode_bech32m(text).map_err(invalid)?;
        if !hrp.as_str().eq_ignore_ascii_case(expected_hrp) {
            return Err(AddressError::WrongNetwork {
                text: text.to_string(),
                expected: expected_hrp.to_ascii_lowercase(),
                found: hrp.to_lowercase(),
            });
        }
        if data.len() != PAYLOAD_GROUPS {
            return Err(invalid(format!(
                "payload is {} five-bit groups, expected {PAYLOAD_GROUPS} (20 bytes)",
                data.len()
            )));
        }
        let mut hash = [0u8; 20];
        let mut acc: u64 = 0;
        let mut bits = 0;
        let mut at = 0;
        for group in data {
            acc = (acc << 5) | u64::from(group);
            bits += 5;
            while bits >= 8 {
                bits -= 8;
                hash[at] = (acc >> bits) as u8;
                at += 1;
            }
        }
        Address::new(&hrp.to_lowercase(), PubkeyHash(hash))
    }

    pub fn pubkey_hash(&self) -> PubkeyHash {
        self.hash
    }

    pub fn hrp(&self) -> String {
        self.hrp.to_lowercase()
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Encoding 20 bytes under a valid hrp stays far below the length limit.
        bech32::encode_lower_to_fmt::<Bech32m, _>(f, self.hrp, &self.hash.0).map_err(|_| fmt::Error)
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trip_and_case() {
        let a = Address::new("fdev", PubkeyHash([0x11; 20])).expect("valid hrp");
        let text = a.to_string();
        assert!(text.starts_with("fdev1"));
        assert_eq!(Address::parse(&text, "fdev"), Ok(a.clone()));
        assert_eq!(Address::parse(&text.to_uppercase(), "fdev"), Ok(a));
        let mut mixed = text.clone();
        mixed.replace_range(0..1, "F");
        assert!(matches!(
            Address::parse(&mixed, "fdev"),
            Err(AddressError::Invalid { .. })
        ));
    }

    #[test]
    fn wrong_network_and_bad_checksum() {
        let a = Address::new("fmain", PubkeyHash([3; 20])).expect("valid hrp");
        assert!(matches!(
            Address::parse(&a.to_string(), "fdev"),
            Err(AddressError::WrongNetwork { .. })
        ));
        let mut text = Address::new("fdev", PubkeyHash([3; 20]))
            .expect("valid hrp")
            .to_string();
        let last = text.pop().expect("non-empty");
        text.push(if last == 'q' { 'p' } else { 'q' });
        assert!(matches!(
            Address::parse(&text, "fdev"),
            Err(AddressError::Invalid { .. })
        ));
    }

    #[test]
    fn bech32_checksum_is_rejected() {
        let hrp = Hrp::parse("fdev").expect("valid hrp");
        let text = bech32::encode::<bech32::Bech32>(hrp, &[5u8; 20]).expect("encodes");
        assert!(matches!(
            Address::parse(&text, "fdev"),
            Err(AddressError::Invalid { .. })
        ));
    }

    #[test]
    fn payload_must_be_20_bytes() {
        let hrp = Hrp::parse("fdev").expect("valid hrp");
        for len in [19, 21, 32] {
            let text = bech32::encode::<Bech32m>(hrp, &vec![1u8; len]).expect("encodes");
            assert!(
                matches!(
                    Address::parse(&text, "fdev"),
                    Err(AddressError::Invalid { .. })
                ),
                "{len} bytes"
            );
        }
    }

    proptest! {
        #[test]
        fn address_round_trips(bytes in any::<[u8; 20]>()) {
            let a = Address::new("fdev", PubkeyHash(bytes)).expect("valid hrp");
            prop_assert_eq!(Address::parse(&a.to_string(), "fdev"), Ok(a));
        }

        #[test]
        fn parsing_never_panics(text in "\\PC{0,100}") {
            let _ = Address::parse(&text, "fdev");
        }
    }
}
