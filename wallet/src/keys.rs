//! Keys: BIP39 mnemonics and BIP32 derivation of the wallet's receive and change keys.
//!
//! The account is `m/44'/1'/0'` (BIP44, coin type 1 as for test networks); receive keys
//! are `m/44'/1'/0'/0/i` and change keys `m/44'/1'/0'/1/i`, so any standard BIP32 tool
//! derives the same keys from the same mnemonic.

use crate::error::WalletError;
use bip32::{ChildNumber, DerivationPath, XPrv};
use bip39::{Language, Mnemonic};
use ferro::primitives::{Address, PublicKey, SecretKey};
use rand::RngCore;
use std::fmt;
use zeroize::Zeroizing;

/// The BIP44 account every wallet key descends from.
pub const ACCOUNT_PATH: &str = "m/44'/1'/0'";

/// How many unused addresses in a row end a scan (BIP44's gap limit).
pub const GAP_LIMIT: u32 = 20;

/// The two BIP44 chains of the account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Chain {
    /// Addresses handed out to receive payments (`.../0/i`).
    Receive,
    /// Addresses the wallet pays its own change to (`.../1/i`).
    Change,
}

impl Chain {
    pub const ALL: [Chain; 2] = [Chain::Receive, Chain::Change];

    /// The BIP44 `change` level.
    pub fn number(self) -> u32 {
        match self {
            Chain::Receive => 0,
            Chain::Change => 1,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Chain::Receive => "receive",
            Chain::Change => "change",
        }
    }
}

/// Where a key sits in the wallet: chain and index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyPath {
    pub chain: Chain,
    pub index: u32,
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{ACCOUNT_PATH}/{}/{}", self.chain.number(), self.index)
    }
}

/// Mnemonic lengths `new` offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WordCount {
    Twelve,
    TwentyFour,
}

impl WordCount {
    /// Entropy bytes behind this many words (128 or 256 bits).
    fn entropy_bytes(self) -> usize {
        match self {
            WordCount::Twelve => 16,
            WordCount::TwentyFour => 32,
        }
    }
}

/// A fresh mnemonic from the operating system's random source.
pub fn generate_mnemonic(words: WordCount) -> Result<Mnemonic, WalletError> {
    let mut entropy = Zeroizing::new([0u8; 32]);
    let entropy = &mut entropy[..words.entropy_bytes()];
    rand::rngs::OsRng
        .try_fill_bytes(entropy)
        .map_err(|e| WalletError::Key(format!("the system random source failed: {e}")))?;
    Mnemonic::from_entropy_in(Language::English, entropy)
        .map_err(|e| WalletError::Key(format!("cannot make a mnemonic: {e}")))
}

/// Parses an English BIP39 mnemonic, accepting any case and spacing, and explains a
/// refusal: which word is unknown, a wrong word count, or a checksum mismatch.
pub fn parse_mnemonic(text: &str) -> Result<Mnemonic, WalletError> {
    let normalized = Zeroizing::new(
        text.split_whitespace()
            .map(str::to_lowercase)
            .collect::<Vec<_>>()
            .join(" "),
    );
    Mnemonic::parse_in_normalized(Language::English, &normalized).map_err(|e| {
        let reason = match e {
            bip39::Error::BadWordCount(n) => {
                format!("it has {n} words; a mnemonic has 12, 15, 18, 21 or 24 words")
            }
            bip39::Error::UnknownWord(i) => {
                let word = normalized.split(' ').nth(i).unwrap_or("");
                format!(
                    "word {} ({word:?}) is not in the bip39 english word list",
                    i + 1
                )
            }
            bip39::Error::InvalidChecksum => {
                "the checksum does not match: a word is wrong or words are in the wrong order"
                    .to_string()
            }
            other => other.to_string().to_lowercase(),
        };
        WalletError::BadMnemonic(reason)
    })
}

/// The BIP39 seed of a mnemonic and passphrase.
pub fn seed(mnemonic: &Mnemonic, passphrase: &str) -> Zeroizing<[u8; 64]> {
    Zeroizing::new(mnemonic.to_seed(passphrase))
}

/// The account's two chain keys, from which every wallet key is one cheap step away.
/// Holds private keys: it has no `Debug` that could print them.
pub struct Keychain {
    receive: XPrv,
    change: XPrv,
}

impl fmt::Debug for Keychain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Keychain(..)")
    }
}

impl Keychain {
    /// The keychain of a mnemonic and its BIP39 passphrase (empty for none).
    pub fn from_mnemonic(mnemonic: &Mnemonic, passphrase: &str) -> Result<Keychain, WalletError> {
        Keychain::from_seed(&seed(mnemonic, passphrase)[..])
    }

    /// The keychain of a BIP39 seed.
    pub fn from_seed(seed: &[u8]) -> Result<Keychain, WalletError> {
        let account = derive_path(seed, ACCOUNT_PATH)?;
        let chain = |c: Chain| {
            ChildNumber::new(c.number(), false)
                .and_then(|n| account.derive_child(n))
                .map_err(|e| WalletError::Key(e.to_string()))
        };
        Ok(Keychain {
            receive: chain(Chain::Receive)?,
            change: chain(Chain::Change)?,
        })
    }

    /// The private key at `path`.
    pub fn secret_key(&self, path: KeyPath) -> Result<SecretKey, WalletError> {
        let parent = match path.chain {
            Chain::Receive => &self.receive,
            Chain::Change => &self.change,
        };
        let child = ChildNumber::new(path.index, false)
            .and_then(|n| parent.derive_child(n))
            .map_err(|e| WalletError::Key(format!("{path}: {e}")))?;
        Ok(SecretKey::from_signing_key(child.private_key().clone()))
    }

    pub fn public_key(&self, path: KeyPath) -> Result<PublicKey, WalletError> {
        Ok(self.secret_key(path)?.public_key())
    }

    /// The address at `path` on the network whose addresses start with `hrp`.
    pub fn address(&self, hrp: &str, path: KeyPath) -> Result<Address, WalletError> {
        Ok(Address::new(hrp, self.public_key(path)?.pubkey_hash())?)
    }
}

/// Derives the extended private key at a textual path such as `m/0'/1`.
pub fn derive_path(seed: &[u8], path: &str) -> Result<XPrv, WalletError> {
    let path: DerivationPath = path
        .parse()
        .map_err(|e| WalletError::Key(format!("bad derivation path {path:?}: {e}")))?;
    XPrv::derive_from_path(seed, &path).map_err(|e| WalletError::Key(e.to_string()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use bip32::Prefix;
    use serde::Deserialize;

    fn testdata(name: &str) -> String {
        let path = format!("{}/testdata/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap()
    }

    /// The official BIP39 English vectors (trezor/python-mnemonic `vectors.json`):
    /// entropy -> mnemonic -> seed with the passphrase "TREZOR".
    #[derive(Deserialize)]
    struct Bip39Vectors {
        passphrase: String,
        english: Vec<(String, String, String)>,
    }

    #[test]
    fn bip39_trezor_vectors() {
        let vectors: Bip39Vectors = serde_json::from_str(&testdata("bip39_vectors.json")).unwrap();
        assert_eq!(vectors.english.len(), 24);
        for (entropy, words, seed_hex) in &vectors.english {
            let m = parse_mnemonic(words).unwrap();
            assert_eq!(&hex::encode(m.to_entropy()), entropy, "{words}");
            let from_entropy =
                Mnemonic::from_entropy_in(Language::English, &hex::decode(entropy).unwrap())
                    .unwrap();
            assert_eq!(from_entropy.to_string(), *words);
            assert_eq!(
                hex::encode(seed(&m, &vectors.passphrase)),
                *seed_hex,
                "{words}"
            );
        }
    }

    #[derive(Deserialize)]
    struct Bip32Vector {
        seed: String,
        chains: Vec<Bip32Chain>,
    }

    #[derive(Deserialize)]
    struct Bip32Chain {
        path: String,
        xpub: String,
        xprv: String,
    }

    #[test]
    fn bip32_test_vector_1() {
        let v: Bip32Vector = serde_json::from_str(&testdata("bip32_vector1.json")).unwrap();
        let seed = hex::decode(&v.seed).unwrap();
        assert_eq!(v.chains.len(), 6);
        for chain in &v.chains {
            let key = derive_path(&seed, &chain.path).unwrap();
            assert_eq!(*key.to_string(Prefix::XPRV), chain.xprv, "{}", chain.path);
            assert_eq!(
                key.public_key().to_string(Prefix::XPUB),
                chain.xpub,
                "{}",
                chain.path
            );
        }
    }

    const FAUCET: &str = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";

    #[test]
    fn devnet_faucet_address() {
        let keys = Keychain::from_mnemonic(&parse_mnemonic(FAUCET).unwrap(), "").unwrap();
        let first = KeyPath {
            chain: Chain::Receive,
            index: 0,
        };
        assert_eq!(first.to_string(), "m/44'/1'/0'/0/0");
        assert_eq!(
            keys.address("fdev", first).unwrap().to_string(),
            "fdev18gk5z3dy7zv9ywe7synlrk58elz4hrne4qxxq6"
        );
        // The devnet genesis pays its premine to exactly this key.
        let devnet = ferro::consensus::Network::devnet();
        let premine = devnet.genesis.transactions[0].outputs[0].pubkey_hash;
        assert_eq!(keys.public_key(first).unwrap().pubkey_hash(), premine);
        // The keychain shortcut agrees with derivation from the full path.
        let seed = seed(&parse_mnemonic(FAUCET).unwrap(), "");
        let direct = derive_path(&seed[..], "m/44'/1'/0'/1/7").unwrap();
        let change7 = keys
            .secret_key(KeyPath {
                chain: Chain::Change,
                index: 7,
            })
            .unwrap();
        assert_eq!(
            change7.public_key().0.to_vec(),
            direct.public_key().to_bytes().to_vec()
        );
    }

    #[test]
    fn passphrase_changes_the_keys() {
        let m = parse_mnemonic(FAUCET).unwrap();
        let path = KeyPath {
            chain: Chain::Receive,
            index: 0,
        };
        let plain = Keychain::from_mnemonic(&m, "").unwrap();
        let with = Keychain::from_mnemonic(&m, "TREZOR").unwrap();
        assert_ne!(
            plain.public_key(path).unwrap(),
            with.public_key(path).unwrap()
        );
    }

    #[test]
    fn mnemonic_refusals_are_explained() {
        let unknown = FAUCET.replace("about", "abaut");
        let e = parse_mnemonic(&unknown).unwrap_err().to_string();
        assert!(e.contains("word 12 (\"abaut\")"), "{e}");
        let checksum = FAUCET.replace("about", "abandon");
        let e = parse_mnemonic(&checksum).unwrap_err().to_string();
        assert!(e.contains("checksum"), "{e}");
        let e = parse_mnemonic("abandon about").unwrap_err().to_string();
        assert!(e.contains("2 words"), "{e}");
        // Case and spacing do not matter.
        let messy = format!("  {}\n", FAUCET.to_uppercase().replace(' ', "   "));
        assert_eq!(parse_mnemonic(&messy).unwrap().to_string(), FAUCET);
    }

    #[test]
    fn generated_mnemonics_have_the_requested_length() {
        let a = generate_mnemonic(WordCount::Twelve).unwrap();
        let b = generate_mnemonic(WordCount::TwentyFour).unwrap();
        assert_eq!(a.word_count(), 12);
        assert_eq!(b.word_count(), 24);
        assert_ne!(a, generate_mnemonic(WordCount::Twelve).unwrap());
        assert!(parse_mnemonic(&b.to_string()).is_ok());
    }
}
