//! Hash functions and the hash newtypes (PROTOCOL.md notation: SHA256d, HASH160).

use ripemd::Ripemd160;
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;

/// `SHA256(SHA256(data))`.
pub fn sha256d(data: &[u8]) -> Hash256 {
    let first = Sha256::digest(data);
    Hash256(Sha256::digest(first).into())
}

/// `RIPEMD160(SHA256(data))`.
pub fn hash160(data: &[u8]) -> PubkeyHash {
    PubkeyHash(Ripemd160::digest(Sha256::digest(data)).into())
}

/// Why a hex string is not a hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected {expected} lower- or upper-case hex characters, got {got:?}")]
pub struct HexError {
    pub expected: usize,
    pub got: String,
}

/// Decodes exactly `N` bytes of hex.
pub fn hex_array<const N: usize>(text: &str) -> Result<[u8; N], HexError> {
    let err = || HexError {
        expected: N * 2,
        got: text.chars().take(80).collect(),
    };
    let mut out = [0u8; N];
    if text.len() != N * 2 {
        return Err(err());
    }
    hex::decode_to_slice(text, &mut out).map_err(|_| err())?;
    Ok(out)
}

macro_rules! hash_newtype {
    ($(#[$doc:meta])* $name:ident, $len:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            pub const fn from_bytes(bytes: [u8; $len]) -> Self {
                Self(bytes)
            }
            pub const fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }
            pub fn from_hex(text: &str) -> Result<Self, HexError> {
                hex_array::<$len>(text).map(Self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.to_hex())
            }
        }

        impl FromStr for $name {
            type Err = HexError;
            fn from_str(s: &str) -> Result<Self, HexError> {
                Self::from_hex(s)
            }
        }
    };
}

hash_newtype!(
    /// A 32-byte SHA256d digest with no particular meaning (merkle nodes).
    Hash256,
    32
);
hash_newtype!(
    /// The SHA256d of a transaction's encoding.
    Txid,
    32
);
hash_newtype!(
    /// The SHA256d of a block header.
    BlockHash,
    32
);
hash_newtype!(
    /// The digest every input of a transaction signs (PROTOCOL.md section 3).
    Sighash,
    32
);
hash_newtype!(
    /// HASH160 of a compressed public key: what an output pays to.
    PubkeyHash,
    20
);

impl From<Hash256> for Txid {
    fn from(h: Hash256) -> Txid {
        Txid(h.0)
    }
}

impl From<Hash256> for BlockHash {
    fn from(h: Hash256) -> BlockHash {
        BlockHash(h.0)
    }
}

impl From<Txid> for Hash256 {
    fn from(h: Txid) -> Hash256 {
        Hash256(h.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_forms() {
        let h = Txid([0xab; 32]);
        assert_eq!(h.to_hex(), "ab".repeat(32));
        assert_eq!(Txid::from_hex(&"AB".repeat(32)), Ok(h));
        assert!(Txid::from_hex("ab").is_err());
        assert!(Txid::from_hex(&"zz".repeat(32)).is_err());
        assert!(PubkeyHash::from_hex(&"00".repeat(21)).is_err());
    }
}
