//! Public keys, signatures and secret keys on secp256k1 (PROTOCOL.md section 2).
//!
//! [`PublicKey`] and [`Signature`] hold the bytes exactly as carried on the wire. Whether
//! they are a valid curve point and an in-range low-S signature is judged by
//! [`PublicKey::verify`], which is the consensus check behind `bad-signature`.

use super::hash::{hash160, hex_array, HexError, PubkeyHash, Sighash};
use k256::ecdsa::{self, SigningKey};
use std::fmt;

/// Bytes of a compressed SEC1 public key.
pub const PUBLIC_KEY_SIZE: usize = 33;
/// Bytes of an `r || s` signature.
pub const SIGNATURE_SIZE: usize = 64;

/// A compressed SEC1 public key (`02`/`03` prefix), as carried in an input.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(pub [u8; PUBLIC_KEY_SIZE]);

/// An ECDSA signature `r || s`, each 32 bytes big-endian.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature(pub [u8; SIGNATURE_SIZE]);

impl PublicKey {
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(text: &str) -> Result<PublicKey, HexError> {
        hex_array(text).map(PublicKey)
    }

    /// The hash an output pays to.
    pub fn pubkey_hash(&self) -> PubkeyHash {
        hash160(&self.0)
    }

    /// Consensus signature check: the key is a compressed point on the curve,
    /// `0 < r < n`, `0 < s <= (n-1)/2`, and the signature verifies over `sighash`
    /// used directly as the digest. The backend is libsecp256k1 by default, k256 without
    /// the `libsecp256k1` feature (see [`super::verify`]); both give the same verdicts.
    pub fn verify(&self, sighash: &Sighash, signature: &Signature) -> bool {
        super::verify::verify(&self.0, sighash.as_bytes(), &signature.0)
    }
}

impl Signature {
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(text: &str) -> Result<Signature, HexError> {
        hex_array(text).map(Signature)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_hex())
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", self.to_hex())
    }
}

/// A private key. Never printed: its `Debug` shows only the public key.
#[derive(Clone)]
pub struct SecretKey(SigningKey);

/// The 32 bytes are zero or not below the curve order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("secret key must be 32 bytes in the range 1..n-1")]
pub struct InvalidSecretKey;

impl SecretKey {
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<SecretKey, InvalidSecretKey> {
        SigningKey::from_slice(bytes)
            .map(SecretKey)
            .map_err(|_| InvalidSecretKey)
    }

    /// Wraps a key derived elsewhere (BIP32).
    pub fn from_signing_key(key: SigningKey) -> SecretKey {
        SecretKey(key)
    }

    pub fn public_key(&self) -> PublicKey {
        let point = self.0.verifying_key().to_sec1_point(true);
        let mut out = [0u8; PUBLIC_KEY_SIZE];
        out.copy_from_slice(point.as_bytes());
        PublicKey(out)
    }

    /// Signs a sighash with an RFC 6979 deterministic nonce; the result is low-S.
    pub fn sign(&self, sighash: &Sighash) -> Signature {
        use k256::ecdsa::signature::hazmat::PrehashSigner;
        // A 32-byte prehash is always accepted by k256, so signing cannot fail; a failure
        // would be a k256 bug, not a caller error.
        let sig: ecdsa::Signature = self
            .0
            .sign_prehash(sighash.as_bytes())
            .expect("k256 signs any 32-byte prehash");
        let sig = sig.normalize_s();
        let mut out = [0u8; SIGNATURE_SIZE];
        out.copy_from_slice(&sig.to_bytes());
        Signature(out)
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(public {})", self.public_key().to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// secp256k1 group order n.
    const N: [u8; 32] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xfe, 0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36,
        0x41, 0x41,
    ];

    fn key(n: u8) -> SecretKey {
        let mut b = [0u8; 32];
        b[31] = n;
        SecretKey::from_bytes(&b).expect("small scalars are valid keys")
    }

    /// s' = n - s, computed big-endian.
    fn negate_s(sig: &Signature) -> Signature {
        let mut out = sig.0;
        let mut borrow = 0i16;
        for i in (0..32).rev() {
            let v = i16::from(N[i]) - i16::from(sig.0[32 + i]) - borrow;
            borrow = i16::from(v < 0);
            out[32 + i] = (v + if v < 0 { 256 } else { 0 }) as u8;
        }
        Signature(out)
    }

    #[test]
    fn sign_and_verify() {
        let k = key(1);
        let pk = k.public_key();
        assert_eq!(
            pk.to_hex(),
            "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
        );
        let msg = Sighash([7; 32]);
        let sig = k.sign(&msg);
        assert!(pk.verify(&msg, &sig));
        assert_eq!(sig, k.sign(&msg), "RFC 6979 signatures are deterministic");
        assert!(!pk.verify(&Sighash([8; 32]), &sig));
        assert!(!key(2).public_key().verify(&msg, &sig));
    }

    #[test]
    fn high_s_is_rejected() {
        let k = key(3);
        let msg = Sighash([9; 32]);
        let sig = k.sign(&msg);
        let high = negate_s(&sig);
        assert_ne!(high, sig);
        assert!(!k.public_key().verify(&msg, &high));
    }

    #[test]
    fn out_of_range_and_bad_keys_are_rejected() {
        let k = key(4);
        let msg = Sighash([1; 32]);
        let sig = k.sign(&msg);
        let pk = k.public_key();
        let mut zero_r = sig;
        zero_r.0[..32].fill(0);
        assert!(!pk.verify(&msg, &zero_r));
        let mut zero_s = sig;
        zero_s.0[32..].fill(0);
        assert!(!pk.verify(&msg, &zero_s));
        let mut r_is_n = sig;
        r_is_n.0[..32].copy_from_slice(&N);
        assert!(!pk.verify(&msg, &r_is_n));
        let mut bad_prefix = pk;
        bad_prefix.0[0] = 0x04;
        assert!(!bad_prefix.verify(&msg, &sig));
        let mut not_on_curve = pk;
        not_on_curve.0[1..].fill(0xff);
        assert!(!not_on_curve.verify(&msg, &sig));
    }

    #[test]
    fn secret_key_range() {
        assert!(SecretKey::from_bytes(&[0; 32]).is_err());
        assert!(SecretKey::from_bytes(&N).is_err());
        assert!(!format!("{:?}", key(5)).contains("0000000000000005"));
    }
}
