//! The consensus signature check (PROTOCOL.md section 2, rule 5 of section 3) behind two
//! interchangeable backends:
//!
//! - [`libsecp`]: libsecp256k1, the C library Bitcoin Core verifies with, through the
//!   `secp256k1` crate (its bundled C is built once by the `cc` crate). The default, behind
//!   the `libsecp256k1` cargo feature: about twice as fast as k256 on the same machine
//!   (BENCHMARKS.md).
//! - [`pure_rust`]: the k256 crate, pure Rust. Used when the crate is built with
//!   `--no-default-features` (no C compiler needed), and always compiled, since signing
//!   and BIP32 use k256 anyway.
//!
//! Both take the wire bytes and give one verdict: the key is a compressed SEC1 point on
//! the curve (`02`/`03` prefix, 33 bytes), `0 < r < n`, `0 < s <= (n-1)/2` (low S), and
//! the signature verifies over the 32-byte digest used as is. Each key is parsed exactly
//! once per call. A differential test runs both over the known-answer vectors and over
//! random, high-S, out-of-range and malformed inputs: they must agree on every verdict.

/// The backend [`verify`] uses in this build.
#[cfg(feature = "libsecp256k1")]
pub const BACKEND: &str = "libsecp256k1";
/// The backend [`verify`] uses in this build.
#[cfg(not(feature = "libsecp256k1"))]
pub const BACKEND: &str = "k256";

/// The consensus check with this build's backend.
#[inline]
pub fn verify(pubkey: &[u8; 33], digest: &[u8; 32], signature: &[u8; 64]) -> bool {
    #[cfg(feature = "libsecp256k1")]
    {
        libsecp::verify(pubkey, digest, signature)
    }
    #[cfg(not(feature = "libsecp256k1"))]
    {
        pure_rust::verify(pubkey, digest, signature)
    }
}

/// Only `02`/`03` prefixes are compressed points; `04`..`07` (uncompressed and hybrid
/// forms) cannot fit 33 bytes and anything else is not SEC1.
fn compressed_prefix(pubkey: &[u8; 33]) -> bool {
    pubkey[0] == 0x02 || pubkey[0] == 0x03
}

/// libsecp256k1 through the `secp256k1` crate.
#[cfg(feature = "libsecp256k1")]
pub mod libsecp {
    use secp256k1::{ecdsa::Signature, Message, PublicKey, Secp256k1, VerifyOnly};
    use std::sync::LazyLock;

    /// A verification context: created once, shared by every thread (libsecp256k1's
    /// contexts are read-only after creation, and verification needs no precomputed
    /// tables beyond the static ones compiled in).
    static CONTEXT: LazyLock<Secp256k1<VerifyOnly>> = LazyLock::new(Secp256k1::verification_only);

    pub fn verify(pubkey: &[u8; 33], digest: &[u8; 32], signature: &[u8; 64]) -> bool {
        if !super::compressed_prefix(pubkey) {
            return false;
        }
        // One parse of the key: decompression to the affine point libsecp256k1 keeps.
        let Ok(key) = PublicKey::from_byte_array_compressed(*pubkey) else {
            return false;
        };
        // from_compact refuses r or s not below n; zero r or s parse but never verify.
        let Ok(sig) = Signature::from_compact(signature) else {
            return false;
        };
        // secp256k1_ecdsa_verify refuses a high-S signature by itself (it only accepts
        // the lower-S form); it is not normalised first, on purpose.
        CONTEXT
            .verify_ecdsa(Message::from_digest(*digest), &sig, &key)
            .is_ok()
    }
}

/// k256, pure Rust.
pub mod pure_rust {
    use k256::ecdsa::{signature::hazmat::PrehashVerifier, Signature, VerifyingKey};

    pub fn verify(pubkey: &[u8; 33], digest: &[u8; 32], signature: &[u8; 64]) -> bool {
        if !super::compressed_prefix(pubkey) {
            return false;
        }
        // One parse of the key (decompression); the verify below reuses the point.
        let Ok(key) = VerifyingKey::from_sec1_bytes(pubkey) else {
            return false;
        };
        // from_slice rejects r or s equal to zero or not below n.
        let Ok(sig) = Signature::from_slice(signature) else {
            return false;
        };
        // normalize_s changes the signature exactly when s is high.
        if sig.normalize_s() != sig {
            return false;
        }
        key.verify_prehash(digest, &sig).is_ok()
    }
}

#[cfg(all(test, feature = "libsecp256k1"))]
mod differential {
    //! Both backends must give the same verdict on every input.
    use super::{libsecp, pure_rust};
    use crate::primitives::{SecretKey, Sighash};
    use rand::{Rng, RngCore, SeedableRng};

    /// secp256k1 group order n, big-endian.
    const N: [u8; 32] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xfe, 0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36,
        0x41, 0x41,
    ];
    /// The field prime p, big-endian (an x coordinate at or above it is not on the curve).
    const P: [u8; 32] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 0xff, 0xff,
        0xfc, 0x2f,
    ];

    /// `a - b` for 32-byte big-endian numbers (b <= a).
    fn sub_be(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
        let mut out = [0u8; 32];
        let mut borrow = 0i16;
        for i in (0..32).rev() {
            let v = i16::from(a[i]) - i16::from(b[i]) - borrow;
            borrow = i16::from(v < 0);
            out[i] = (v + if v < 0 { 256 } else { 0 }) as u8;
        }
        out
    }

    fn add_small(a: &[u8; 32], n: u8) -> [u8; 32] {
        let mut out = *a;
        let mut carry = u16::from(n);
        for byte in out.iter_mut().rev() {
            let v = u16::from(*byte) + carry;
            *byte = v as u8;
            carry = v >> 8;
        }
        out
    }

    /// Runs both backends and returns their common verdict, failing on disagreement.
    fn agree(pubkey: &[u8; 33], digest: &[u8; 32], sig: &[u8; 64], what: &str) -> bool {
        let a = libsecp::verify(pubkey, digest, sig);
        let b = pure_rust::verify(pubkey, digest, sig);
        assert_eq!(
            a,
            b,
            "{what}: libsecp256k1 says {a}, k256 says {b} for key {} digest {} sig {}",
            hex::encode(pubkey),
            hex::encode(digest),
            hex::encode(sig)
        );
        a
    }

    fn with_r(sig: &[u8; 64], r: &[u8; 32]) -> [u8; 64] {
        let mut out = *sig;
        out[..32].copy_from_slice(r);
        out
    }

    fn with_s(sig: &[u8; 64], s: &[u8; 32]) -> [u8; 64] {
        let mut out = *sig;
        out[32..].copy_from_slice(s);
        out
    }

    fn s_of(sig: &[u8; 64]) -> [u8; 32] {
        let mut s = [0u8; 32];
        s.copy_from_slice(&sig[32..]);
        s
    }

    /// Every mutation of one valid (key, digest, signature) triple the rules care about.
    fn mutations(pubkey: [u8; 33], digest: [u8; 32], sig: [u8; 64]) -> usize {
        let mut valid = 0;
        let mut check = |k: &[u8; 33], d: &[u8; 32], s: &[u8; 64], what: &str| {
            valid += usize::from(agree(k, d, s, what));
        };
        check(&pubkey, &digest, &sig, "valid");
        let high = with_s(&sig, &sub_be(&N, &s_of(&sig)));
        check(&pubkey, &digest, &high, "high-S");
        check(&pubkey, &digest, &with_r(&sig, &[0; 32]), "r = 0");
        check(&pubkey, &digest, &with_s(&sig, &[0; 32]), "s = 0");
        check(&pubkey, &digest, &with_r(&sig, &N), "r = n");
        check(&pubkey, &digest, &with_s(&sig, &N), "s = n");
        check(
            &pubkey,
            &digest,
            &with_r(&sig, &add_small(&N, 1)),
            "r = n+1",
        );
        check(&pubkey, &digest, &with_r(&sig, &[0xff; 32]), "r = 2^256-1");
        check(&pubkey, &digest, &with_s(&sig, &[0xff; 32]), "s = 2^256-1");
        let half = {
            // (n-1)/2: the largest low s, and (n+1)/2, the smallest high one.
            let mut h = sub_be(&N, &{
                let mut one = [0u8; 32];
                one[31] = 1;
                one
            });
            let mut carry = 0u8;
            for byte in h.iter_mut() {
                let next = *byte & 1;
                *byte = (*byte >> 1) | (carry << 7);
                carry = next;
            }
            h
        };
        check(&pubkey, &digest, &with_s(&sig, &half), "s = (n-1)/2");
        check(
            &pubkey,
            &digest,
            &with_s(&sig, &add_small(&half, 1)),
            "s = (n+1)/2",
        );
        // r + n overflows 256 bits for most r; where it does not, it is >= n.
        let mut flipped = digest;
        flipped[0] ^= 1;
        check(&pubkey, &flipped, &sig, "other digest");
        let mut bad_sig = sig;
        bad_sig[10] ^= 0x40;
        check(&pubkey, &digest, &bad_sig, "flipped r bit");
        for prefix in [0x00u8, 0x01, 0x04, 0x05, 0x06, 0x07, 0xff] {
            let mut k = pubkey;
            k[0] = prefix;
            check(&k, &digest, &sig, "bad or uncompressed prefix");
        }
        let mut other_parity = pubkey;
        other_parity[0] ^= 1;
        check(&other_parity, &digest, &sig, "negated key");
        let mut x_is_p = pubkey;
        x_is_p[1..].copy_from_slice(&P);
        check(&x_is_p, &digest, &sig, "x = p");
        let mut x_max = pubkey;
        x_max[1..].fill(0xff);
        check(&x_max, &digest, &sig, "x = 2^256-1");
        let mut x_zero = pubkey;
        x_zero[1..].fill(0);
        check(&x_zero, &digest, &sig, "x = 0");
        valid
    }

    #[test]
    fn backends_agree_on_known_answer_vectors() {
        let vectors = crate::test_vectors::signature_vectors();
        assert!(!vectors.is_empty());
        let mut bad = 0;
        for (pubkey, digest, sig, expected) in vectors {
            let verdict = agree(&pubkey, &digest, &sig, "known answer");
            if let Some(expected) = expected {
                assert_eq!(verdict, expected, "known-answer verdict");
            }
            bad += usize::from(!verdict);
            mutations(pubkey, digest, sig);
        }
        // The three bad-signature cases: a lied value, a wrong in-block parent value,
        // a key with x >= p.
        assert!(bad >= 3, "the bad-signature vectors fail ({bad})");
    }

    #[test]
    fn backends_agree_on_random_signatures_and_their_mutations() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(13);
        let (mut valid, mut triples) = (0, 0);
        for _ in 0..150 {
            let mut secret = [0u8; 32];
            rng.fill_bytes(&mut secret);
            let Ok(key) = SecretKey::from_bytes(&secret) else {
                continue;
            };
            let mut digest = [0u8; 32];
            rng.fill_bytes(&mut digest);
            let sig = key.sign(&Sighash(digest));
            valid += mutations(key.public_key().0, digest, sig.0);
            triples += 1;
        }
        // Of each triple's mutations only the unmodified signature verifies.
        assert_eq!(valid, triples, "exactly the signed triples verify");
    }

    #[test]
    fn backends_agree_on_random_bytes() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1313);
        let mut on_curve = 0;
        for i in 0..3000 {
            let mut key = [0u8; 33];
            rng.fill_bytes(&mut key);
            // Mostly well-formed prefixes so parsing gets past the first byte.
            if i % 4 != 0 {
                key[0] = 2 + rng.gen_range(0..2u8);
            }
            let mut digest = [0u8; 32];
            rng.fill_bytes(&mut digest);
            let mut sig = [0u8; 64];
            rng.fill_bytes(&mut sig);
            if i % 3 == 0 {
                // A low s so that the curve arithmetic, not the range check, decides.
                sig[32] &= 0x7f;
            }
            agree(&key, &digest, &sig, "random bytes");
            on_curve += usize::from(k256::PublicKey::from_sec1_bytes(&key).is_ok());
        }
        assert!(on_curve > 1000, "random keys reach the curve arithmetic");
    }
}
