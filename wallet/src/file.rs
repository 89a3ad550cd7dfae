//! The wallet file: the mnemonic and BIP39 passphrase encrypted with a password, plus
//! the non-secret address counters.
//!
//! Crypto (version 2): the password is stretched by Argon2id (RFC 9106; memory,
//! iterations, parallelism and a random 16-byte salt are stored in the file) into 64 bytes:
//! a key for XChaCha20-Poly1305 (random 24-byte nonce) and a key for HMAC-SHA256.
//! Everything stored is authenticated: the KDF parameters, salt and nonce are the AEAD's
//! associated data, and the `auth` field is an HMAC of those, the ciphertext and the
//! address counters (`state`), recomputed on every save. An edited parameter fails as a
//! wrong password; an edited counter fails as an altered file. Before anything is derived,
//! the KDF parameters must be within [`KdfCost::MAX`] and the counters within
//! [`MAX_ADDRESS_INDEX`], so a hostile file cannot make the wallet allocate gigabytes or
//! scan millions of addresses. A SHA-256 of the encrypted fields tells accidental damage
//! apart from a wrong password; it is not a security mechanism (the tag and MAC are).
//!
//! Version 1 files (no `auth`, counters and parameters unauthenticated) are still read,
//! within the same bounds, and rewritten as version 2 on the first unlock.
//!
//! The file is versioned JSON written atomically (temporary file, fsync, rename) with
//! mode 0600.

use crate::error::WalletError;
use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// The `format` field: tells a wallet file from any other JSON.
pub const FORMAT: &str = "ferro-wallet";
/// The file version this code writes.
pub const VERSION: u32 = 2;
/// The previous version, read and migrated on unlock.
pub const VERSION_1: u32 = 1;
/// The largest receive or change index a file may hold: the address scan looks at every
/// index up to it, so it bounds the work a damaged or hostile file can cause.
pub const MAX_ADDRESS_INDEX: u32 = 100_000;
const KDF_ALGORITHM: &str = "argon2id";
const CIPHER_ALGORITHM: &str = "xchacha20poly1305";
const SALT_BYTES: usize = 16;
const NONCE_BYTES: usize = 24;
const KEY_BYTES: usize = 32;
/// Binds a version 1 ciphertext to its format and version.
const ASSOCIATED_DATA_V1: &[u8] = b"ferro-wallet/1";
/// Domain separation of the version 2 associated data and MAC.
const AAD_V2: &[u8] = b"ferro-wallet/2 aead";
const MAC_V2: &[u8] = b"ferro-wallet/2 auth";

/// Argon2id cost parameters, stored in the file so they can be raised later without
/// breaking old files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KdfCost {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl KdfCost {
    /// OWASP's recommended Argon2id setting: 19 MiB, 2 passes, 1 lane.
    pub const DEFAULT: KdfCost = KdfCost {
        memory_kib: 19 * 1024,
        iterations: 2,
        parallelism: 1,
    };

    /// The most a file may ask for: 256 MiB, 16 passes, 8 lanes (about a second or
    /// two on a laptop at the maximum). The parameters cannot be authenticated before
    /// the key is derived from them, so these bounds are what stops a hostile file.
    pub const MAX: KdfCost = KdfCost {
        memory_kib: 256 * 1024,
        iterations: 16,
        parallelism: 8,
    };

    /// The bounds a file's parameters must be in, checked before anything is derived.
    fn check(self) -> Result<(), String> {
        let max = KdfCost::MAX;
        if !(1..=max.parallelism).contains(&self.parallelism) {
            return Err(format!(
                "kdf parallelism {} is outside 1..={}",
                self.parallelism, max.parallelism
            ));
        }
        if !(1..=max.iterations).contains(&self.iterations) {
            return Err(format!(
                "kdf iterations {} is outside 1..={}",
                self.iterations, max.iterations
            ));
        }
        let min = 8 * self.parallelism;
        if self.memory_kib < min || self.memory_kib > max.memory_kib {
            return Err(format!(
                "kdf memory {} KiB is outside {min}..={} KiB (256 MiB); the file was altered or made by another program",
                self.memory_kib, max.memory_kib
            ));
        }
        Ok(())
    }
}

/// The secret part of a wallet, as encrypted. Wiped from memory when dropped.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(deny_unknown_fields)]
pub struct Secrets {
    /// The BIP39 mnemonic, words separated by single spaces.
    pub mnemonic: String,
    /// The optional BIP39 passphrase ("" for none).
    pub passphrase: String,
}

/// The non-secret state kept next to the ciphertext.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct WalletState {
    /// Index of the receive address `address` shows; `address --new` moves past it.
    pub receive_index: u32,
    /// Index of the next change address `send` pays change to.
    pub change_index: u32,
}

/// The whole file as stored.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct WalletFile {
    pub format: String,
    pub version: u32,
    pub kdf: KdfJson,
    pub cipher: CipherJson,
    pub state: WalletState,
    /// Hex HMAC-SHA256 over the KDF parameters, salt, nonce, ciphertext and `state`
    /// (version 2). Absent in version 1 files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<String>,
}

/// The key that authenticates the file's non-secret fields; kept while the wallet is open
/// so the counters can be saved.
#[derive(Clone)]
pub struct MacKey(Zeroizing<[u8; KEY_BYTES]>);

/// HMAC-SHA256 (RFC 2104) of `parts` concatenated.
fn hmac_sha256(key: &[u8; KEY_BYTES], parts: &[&[u8]]) -> [u8; 32] {
    let mut block = [0u8; 64];
    block[..KEY_BYTES].copy_from_slice(key);
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    for part in parts {
        inner.update(part);
    }
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    block.zeroize();
    outer.finalize().into()
}

/// Constant-time equality of two byte strings of public length.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct KdfJson {
    pub algorithm: String,
    /// Argon2 version, 19 (0x13).
    pub version: u32,
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
    /// Hex, 16 random bytes.
    pub salt: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CipherJson {
    pub algorithm: String,
    /// Hex, 24 random bytes.
    pub nonce: String,
    /// Hex: the encrypted JSON of [`Secrets`] followed by the 16-byte tag.
    pub ciphertext: String,
    /// Hex SHA-256 of salt || nonce || ciphertext: detects accidental damage.
    pub checksum: String,
}

fn checksum(salt: &[u8], nonce: &[u8], ciphertext: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(nonce);
    h.update(ciphertext);
    hex::encode(h.finalize())
}

/// Argon2id of the password into `N` bytes (32 for version 1, 64 for version 2). The
/// caller has checked the cost against [`KdfCost::MAX`].
fn derive_key<const N: usize>(
    password: &[u8],
    salt: &[u8],
    cost: KdfCost,
) -> Result<Zeroizing<[u8; N]>, String> {
    cost.check()?;
    let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, Some(N))
        .map_err(|e| format!("bad kdf parameters: {e}"))?;
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let mut key = Zeroizing::new([0u8; N]);
    argon
        .hash_password_into(password, salt, &mut key[..])
        .map_err(|e| format!("key derivation failed: {e}"))?;
    Ok(key)
}

/// Splits version 2 key material into the encryption key and the MAC key.
fn split_keys(material: &[u8; 2 * KEY_BYTES]) -> (Zeroizing<[u8; KEY_BYTES]>, MacKey) {
    let mut enc = Zeroizing::new([0u8; KEY_BYTES]);
    let mut mac = Zeroizing::new([0u8; KEY_BYTES]);
    enc.copy_from_slice(&material[..KEY_BYTES]);
    mac.copy_from_slice(&material[KEY_BYTES..]);
    (enc, MacKey(mac))
}

/// The version 2 associated data: every parameter the decryption depends on.
fn aad_v2(cost: KdfCost, salt: &[u8], nonce: &[u8]) -> Vec<u8> {
    let mut aad = AAD_V2.to_vec();
    for v in [cost.memory_kib, cost.iterations, cost.parallelism] {
        aad.extend_from_slice(&v.to_le_bytes());
    }
    aad.extend_from_slice(salt);
    aad.extend_from_slice(nonce);
    aad
}

impl WalletFile {
    /// Encrypts `secrets` under `password` with fresh random salt and nonce.
    pub fn encrypt(
        secrets: &Secrets,
        password: &str,
        cost: KdfCost,
        state: WalletState,
    ) -> Result<WalletFile, WalletError> {
        cost.check().map_err(WalletError::Invalid)?;
        let mut salt = [0u8; SALT_BYTES];
        let mut nonce = [0u8; NONCE_BYTES];
        let random = |buf: &mut [u8]| {
            rand::rngs::OsRng
                .try_fill_bytes(buf)
                .map_err(|e| WalletError::Key(format!("the system random source failed: {e}")))
        };
        random(&mut salt)?;
        random(&mut nonce)?;
        let material = derive_key::<{ 2 * KEY_BYTES }>(password.as_bytes(), &salt, cost)
            .map_err(WalletError::Invalid)?;
        let (key, mac_key) = split_keys(&material);
        let plaintext = Zeroizing::new(
            serde_json::to_vec(secrets)
                .map_err(|e| WalletError::Invalid(format!("cannot encode secrets: {e}")))?,
        );
        let cipher = XChaCha20Poly1305::new((&*key).into());
        let ciphertext = cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: &plaintext,
                    aad: &aad_v2(cost, &salt, &nonce),
                },
            )
            .map_err(|_| WalletError::Invalid("encryption failed".into()))?;
        let mut file = WalletFile {
            format: FORMAT.into(),
            version: VERSION,
            kdf: KdfJson {
                algorithm: KDF_ALGORITHM.into(),
                version: 0x13,
                memory_kib: cost.memory_kib,
                iterations: cost.iterations,
                parallelism: cost.parallelism,
                salt: hex::encode(salt),
            },
            cipher: CipherJson {
                algorithm: CIPHER_ALGORITHM.into(),
                nonce: hex::encode(nonce),
                checksum: checksum(&salt, &nonce, &ciphertext),
                ciphertext: hex::encode(ciphertext),
            },
            state,
            auth: None,
        };
        file.check_state().map_err(WalletError::Invalid)?;
        file.seal(&mac_key)?;
        Ok(file)
    }

    /// The KDF cost the file asks for.
    fn cost(&self) -> KdfCost {
        KdfCost {
            memory_kib: self.kdf.memory_kib,
            iterations: self.kdf.iterations,
            parallelism: self.kdf.parallelism,
        }
    }

    /// The HMAC of every stored field but `auth` itself (version 2).
    fn mac(&self, key: &MacKey) -> Result<[u8; 32], String> {
        let salt = hex::decode(&self.kdf.salt).map_err(|_| "salt is not hex".to_string())?;
        let nonce = hex::decode(&self.cipher.nonce).map_err(|_| "nonce is not hex".to_string())?;
        let ciphertext = hex::decode(&self.cipher.ciphertext)
            .map_err(|_| "ciphertext is not hex".to_string())?;
        let aad = aad_v2(self.cost(), &salt, &nonce);
        let counters = [
            self.state.receive_index.to_le_bytes(),
            self.state.change_index.to_le_bytes(),
        ]
        .concat();
        let len = (ciphertext.len() as u64).to_le_bytes();
        Ok(hmac_sha256(
            &key.0,
            &[MAC_V2, &aad, &len, &ciphertext, &counters],
        ))
    }

    /// Recomputes `auth` after the state changed; call before [`WalletFile::save`].
    pub fn seal(&mut self, key: &MacKey) -> Result<(), WalletError> {
        self.check_state().map_err(WalletError::Invalid)?;
        let mac = self.mac(key).map_err(WalletError::Invalid)?;
        self.version = VERSION;
        self.auth = Some(hex::encode(mac));
        Ok(())
    }

    /// The address counters within [`MAX_ADDRESS_INDEX`].
    fn check_state(&self) -> Result<(), String> {
        for (name, index) in [
            ("receive_index", self.state.receive_index),
            ("change_index", self.state.change_index),
        ] {
            if index > MAX_ADDRESS_INDEX {
                return Err(format!(
                    "state.{name} {index} is above the limit {MAX_ADDRESS_INDEX}; the file was altered (restore it from a backup, or from the mnemonic with `wallet restore`)"
                ));
            }
        }
        Ok(())
    }

    /// Decrypts the secrets and checks the file's authentication code; returns the key
    /// that re-seals the file after its counters change. A version 1 file is decrypted the
    /// old way and the caller should migrate it ([`WalletFile::migrate`]). `path` only
    /// names the file in errors.
    pub fn decrypt(&self, password: &str, path: &Path) -> Result<Secrets, WalletError> {
        self.open(password, path).map(|(secrets, _)| secrets)
    }

    /// [`WalletFile::decrypt`], also returning the MAC key (`None` for a version 1 file).
    pub fn open(
        &self,
        password: &str,
        path: &Path,
    ) -> Result<(Secrets, Option<MacKey>), WalletError> {
        let corrupt = |reason: String| WalletError::CorruptWallet {
            path: path.to_path_buf(),
            reason,
        };
        // Every bound before anything is derived or allocated.
        self.check_header().map_err(corrupt)?;
        let salt = hex::decode(&self.kdf.salt).map_err(|_| corrupt("salt is not hex".into()))?;
        let nonce =
            hex::decode(&self.cipher.nonce).map_err(|_| corrupt("nonce is not hex".into()))?;
        let ciphertext = hex::decode(&self.cipher.ciphertext)
            .map_err(|_| corrupt("ciphertext is not hex".into()))?;
        let nonce_array: [u8; NONCE_BYTES] = match nonce.as_slice().try_into() {
            Ok(n) if salt.len() == SALT_BYTES => n,
            _ => return Err(corrupt("salt or nonce has the wrong length".into())),
        };
        if checksum(&salt, &nonce, &ciphertext) != self.cipher.checksum.to_ascii_lowercase() {
            return Err(corrupt(
                "checksum mismatch: the encrypted part is damaged; restore it from a backup or from the mnemonic".into(),
            ));
        }
        let wrong_password = || WalletError::WrongPassword {
            path: path.to_path_buf(),
        };
        let (plaintext, mac_key) = if self.version == VERSION_1 {
            let key = derive_key::<KEY_BYTES>(password.as_bytes(), &salt, self.cost())
                .map_err(corrupt)?;
            let cipher = XChaCha20Poly1305::new((&*key).into());
            let plaintext = cipher
                .decrypt(
                    &XNonce::from(nonce_array),
                    Payload {
                        msg: &ciphertext,
                        aad: ASSOCIATED_DATA_V1,
                    },
                )
                .map_err(|_| wrong_password())?;
            (Zeroizing::new(plaintext), None)
        } else {
            let material = derive_key::<{ 2 * KEY_BYTES }>(password.as_bytes(), &salt, self.cost())
                .map_err(corrupt)?;
            let (key, mac_key) = split_keys(&material);
            let cipher = XChaCha20Poly1305::new((&*key).into());
            // An altered KDF parameter, salt or nonce fails here like a wrong password.
            let plaintext = cipher
                .decrypt(
                    &XNonce::from(nonce_array),
                    Payload {
                        msg: &ciphertext,
                        aad: &aad_v2(self.cost(), &salt, &nonce),
                    },
                )
                .map_err(|_| wrong_password())?;
            let expected = self.mac(&mac_key).map_err(corrupt)?;
            let stored = self
                .auth
                .as_deref()
                .and_then(|a| hex::decode(a).ok())
                .unwrap_or_default();
            if !same(&stored, &expected) {
                return Err(WalletError::AlteredWallet {
                    path: path.to_path_buf(),
                });
            }
            (Zeroizing::new(plaintext), Some(mac_key))
        };
        let secrets = serde_json::from_slice(&plaintext)
            .map_err(|_| corrupt("the decrypted secrets are not in the expected form".into()))?;
        Ok((secrets, mac_key))
    }

    /// Rewrites a version 1 file as version 2 under the same password and cost (the
    /// counters were bounds-checked on load). Returns the new file and its MAC key.
    pub fn migrate(
        &self,
        secrets: &Secrets,
        password: &str,
    ) -> Result<(WalletFile, MacKey), WalletError> {
        let file = WalletFile::encrypt(secrets, password, self.cost(), self.state)?;
        let (_, key) = file.open(password, Path::new("(migrated wallet)"))?;
        let key = key.ok_or_else(|| WalletError::Invalid("migration produced no key".into()))?;
        Ok((file, key))
    }

    /// Format, version, algorithms and parameter bounds.
    fn check_header(&self) -> Result<(), String> {
        if self.format != FORMAT {
            return Err(format!("format is {:?}, expected {FORMAT:?}", self.format));
        }
        if self.version != VERSION && self.version != VERSION_1 {
            return Err(format!(
                "version {} is not supported (this wallet reads versions {VERSION_1} and {VERSION}; a newer wallet may have written it)",
                self.version
            ));
        }
        if self.version == VERSION && self.auth.is_none() {
            return Err("the authentication code `auth` is missing".into());
        }
        self.check_state()?;
        if self.kdf.algorithm != KDF_ALGORITHM || self.kdf.version != 0x13 {
            return Err(format!(
                "kdf {} version {} is not supported, expected {KDF_ALGORITHM} version 19",
                self.kdf.algorithm, self.kdf.version
            ));
        }
        if self.cipher.algorithm != CIPHER_ALGORITHM {
            return Err(format!(
                "cipher {} is not supported, expected {CIPHER_ALGORITHM}",
                self.cipher.algorithm
            ));
        }
        self.cost().check()
    }

    /// Reads and parses a wallet file (without decrypting it).
    pub fn load(path: &Path) -> Result<WalletFile, WalletError> {
        let text = match fs::read(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(WalletError::NoWallet {
                    path: path.to_path_buf(),
                })
            }
            Err(source) => {
                return Err(WalletError::Io {
                    action: "read wallet file",
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        let file: WalletFile =
            serde_json::from_slice(&text).map_err(|e| WalletError::CorruptWallet {
                path: path.to_path_buf(),
                reason: format!("not a wallet file ({e})"),
            })?;
        file.check_header()
            .map_err(|reason| WalletError::CorruptWallet {
                path: path.to_path_buf(),
                reason,
            })?;
        Ok(file)
    }

    /// Writes the file atomically with mode 0600. With `create_new`, refuses to replace an
    /// existing file.
    pub fn save(&self, path: &Path, create_new: bool) -> Result<(), WalletError> {
        let mut text = serde_json::to_vec_pretty(self)
            .map_err(|e| WalletError::Invalid(format!("cannot encode wallet file: {e}")))?;
        text.push(b'\n');
        write_atomically(path, &text, create_new)
    }
}

/// Temporary file in the same directory, fsync, rename over `path`, fsync the directory.
fn write_atomically(path: &Path, bytes: &[u8], create_new: bool) -> Result<(), WalletError> {
    let io = |action: &'static str, p: &Path| {
        let p = p.to_path_buf();
        move |source| WalletError::Io {
            action,
            path: p,
            source,
        }
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.exists() {
        create_private_dir(&dir).map_err(io("create directory", &dir))?;
    }
    if create_new && path.exists() {
        return Err(WalletError::WalletExists {
            path: path.to_path_buf(),
        });
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "wallet.json".into());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = open_private(&tmp).map_err(io("create", &tmp))?;
        f.write_all(bytes).map_err(io("write", &tmp))?;
        f.sync_all().map_err(io("sync", &tmp))?;
        drop(f);
        if create_new {
            // A hard link fails if the target exists, so two `new`s cannot race.
            match fs::hard_link(&tmp, path) {
                Ok(()) => {
                    let _ = fs::remove_file(&tmp);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    return Err(WalletError::WalletExists {
                        path: path.to_path_buf(),
                    })
                }
                // Filesystems without hard links: the existence check above must do.
                Err(_) => fs::rename(&tmp, path).map_err(io("rename into place", path))?,
            }
        } else {
            fs::rename(&tmp, path).map_err(io("rename into place", path))?;
        }
        if let Ok(d) = fs::File::open(&dir) {
            // Persists the rename; not all platforms can sync a directory.
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(unix)]
fn open_private(path: &Path) -> std::io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn open_private(path: &Path) -> std::io::Result<fs::File> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    fs::create_dir_all(dir)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Cheap parameters: these tests are about the format, not the cost.
    const CHEAP: KdfCost = KdfCost {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };

    fn secrets() -> Secrets {
        Secrets {
            mnemonic: "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about".into(),
            passphrase: "extra".into(),
        }
    }

    fn saved(dir: &Path) -> PathBuf {
        let path = dir.join("w.json");
        WalletFile::encrypt(&secrets(), "hunter2", CHEAP, WalletState::default())
            .unwrap()
            .save(&path, true)
            .unwrap();
        path
    }

    #[test]
    fn round_trip_and_no_plaintext() {
        let dir = tempfile::tempdir().unwrap();
        let path = saved(dir.path());
        let text = fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains("abandon") && !text.contains("extra"),
            "{text}"
        );
        let file = WalletFile::load(&path).unwrap();
        let s = file.decrypt("hunter2", &path).unwrap();
        assert_eq!(s.mnemonic, secrets().mnemonic);
        assert_eq!(s.passphrase, "extra");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // No temporary file is left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn wrong_password_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = saved(dir.path());
        let file = WalletFile::load(&path).unwrap();
        let e = file.decrypt("hunter3", &path).err().unwrap();
        assert!(matches!(e, WalletError::WrongPassword { .. }), "{e}");
        assert_eq!(e.code(), "wrong-password");
    }

    #[test]
    fn corrupted_files_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = saved(dir.path());
        let good = WalletFile::load(&path).unwrap();

        // A flipped ciphertext byte: caught by the checksum, not blamed on the password.
        let mut flipped = good.clone();
        let mut bytes = hex::decode(&flipped.cipher.ciphertext).unwrap();
        bytes[3] ^= 1;
        flipped.cipher.ciphertext = hex::encode(bytes);
        let e = flipped.decrypt("hunter2", &path).err().unwrap();
        assert!(matches!(e, WalletError::CorruptWallet { .. }), "{e}");

        // Truncated or not JSON at all.
        let text = fs::read_to_string(&path).unwrap();
        fs::write(&path, &text[..text.len() / 2]).unwrap();
        let e = WalletFile::load(&path).err().unwrap();
        assert!(matches!(e, WalletError::CorruptWallet { .. }), "{e}");
        assert!(e.to_string().contains("is corrupted"), "{e}");

        // Unknown version, absurd kdf parameters.
        let mut v3 = good.clone();
        v3.version = 3;
        v3.save(&path, false).unwrap();
        let e = WalletFile::load(&path).err().unwrap();
        assert!(e.to_string().contains("version 3"), "{e}");
        let mut huge = good.clone();
        huge.kdf.memory_kib = u32::MAX;
        huge.save(&path, false).unwrap();
        assert!(matches!(
            WalletFile::load(&path),
            Err(WalletError::CorruptWallet { .. })
        ));
    }

    #[test]
    fn new_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let path = saved(dir.path());
        let before = fs::read(&path).unwrap();
        let again = WalletFile::encrypt(&secrets(), "other", CHEAP, WalletState::default())
            .unwrap()
            .save(&path, true);
        assert!(matches!(again, Err(WalletError::WalletExists { .. })));
        assert_eq!(fs::read(&path).unwrap(), before);
    }

    #[test]
    fn missing_file_and_directory_creation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("wallet.json");
        assert!(matches!(
            WalletFile::load(&path),
            Err(WalletError::NoWallet { .. })
        ));
        let mut file =
            WalletFile::encrypt(&secrets(), "pw", CHEAP, WalletState::default()).unwrap();
        file.save(&path, true).unwrap();
        let (_, key) = file.open("pw", &path).unwrap();
        file.state.receive_index = 5;
        file.seal(&key.unwrap()).unwrap();
        file.save(&path, false).unwrap();
        let loaded = WalletFile::load(&path).unwrap();
        assert_eq!(loaded.state.receive_index, 5);
        assert!(loaded.decrypt("pw", &path).is_ok());
    }

    /// Writes `edit` of a fresh wallet file to disk as raw JSON and loads and opens it.
    fn tampered(edit: impl Fn(&mut serde_json::Value)) -> Result<Secrets, WalletError> {
        let dir = tempfile::tempdir().unwrap();
        let path = saved(dir.path());
        let mut v: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        edit(&mut v);
        fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
        WalletFile::load(&path)?.decrypt("hunter2", &path)
    }

    #[test]
    fn kdf_parameters_out_of_bounds_are_refused_before_deriving() {
        // 4 GiB: refused from the numbers alone, well before Argon2 could allocate it.
        let started = std::time::Instant::now();
        for (field, value) in [
            ("memory_kib", 4 * 1024 * 1024u64),
            ("memory_kib", KdfCost::MAX.memory_kib as u64 + 1),
            ("iterations", 1_000_000),
            ("parallelism", 255),
        ] {
            let e = tampered(|v| v["kdf"][field] = value.into()).err().unwrap();
            assert!(matches!(e, WalletError::CorruptWallet { .. }), "{e}");
            assert!(
                e.to_string()
                    .contains(&format!("kdf {}", field.split('_').next().unwrap())),
                "{e}"
            );
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }

    #[test]
    fn kdf_parameters_are_authenticated() {
        // Within bounds but not what the file was made with: the AEAD's associated data
        // no longer matches, so the password "fails".
        let e = tampered(|v| v["kdf"]["iterations"] = 2.into())
            .err()
            .unwrap();
        assert!(matches!(e, WalletError::WrongPassword { .. }), "{e}");
        let e = tampered(|v| v["kdf"]["memory_kib"] = 128.into())
            .err()
            .unwrap();
        assert!(matches!(e, WalletError::WrongPassword { .. }), "{e}");
    }

    #[test]
    fn address_counters_are_bounded_and_authenticated() {
        // Far above the bound: refused on load, before any key derivation or scan.
        for index in [200_000u64, (1 << 31) - 21] {
            let started = std::time::Instant::now();
            let e = tampered(|v| v["state"]["receive_index"] = index.into())
                .err()
                .unwrap();
            assert!(matches!(e, WalletError::CorruptWallet { .. }), "{e}");
            assert!(e.to_string().contains("receive_index"), "{e}");
            assert!(started.elapsed() < std::time::Duration::from_secs(2));
        }
        // Within the bound but edited: the MAC says so.
        let e = tampered(|v| v["state"]["change_index"] = 7.into())
            .err()
            .unwrap();
        assert!(matches!(e, WalletError::AlteredWallet { .. }), "{e}");
        assert_eq!(e.code(), "altered-wallet");
        let e = tampered(|v| v["auth"] = "00".repeat(32).into())
            .err()
            .unwrap();
        assert!(matches!(e, WalletError::AlteredWallet { .. }), "{e}");
        // A version 2 file without its MAC is refused, not treated as version 1.
        let e = tampered(|v| {
            v.as_object_mut().unwrap().remove("auth");
        })
        .err()
        .unwrap();
        assert!(e.to_string().contains("auth"), "{e}");
    }

    #[test]
    fn version_1_files_are_read_and_migrate() {
        // A version 1 file as the previous wallet wrote it.
        let salt = [7u8; SALT_BYTES];
        let nonce = [9u8; NONCE_BYTES];
        let key = derive_key::<KEY_BYTES>(b"hunter2", &salt, CHEAP).unwrap();
        let plaintext = serde_json::to_vec(&secrets()).unwrap();
        let ciphertext = XChaCha20Poly1305::new((&*key).into())
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: &plaintext,
                    aad: ASSOCIATED_DATA_V1,
                },
            )
            .unwrap();
        let v1 = WalletFile {
            format: FORMAT.into(),
            version: VERSION_1,
            kdf: KdfJson {
                algorithm: KDF_ALGORITHM.into(),
                version: 0x13,
                memory_kib: CHEAP.memory_kib,
                iterations: CHEAP.iterations,
                parallelism: CHEAP.parallelism,
                salt: hex::encode(salt),
            },
            cipher: CipherJson {
                algorithm: CIPHER_ALGORITHM.into(),
                nonce: hex::encode(nonce),
                checksum: checksum(&salt, &nonce, &ciphertext),
                ciphertext: hex::encode(ciphertext),
            },
            state: WalletState {
                receive_index: 3,
                change_index: 2,
            },
            auth: None,
        };
        let path = Path::new("v1.json");
        let (s, key) = v1.open("hunter2", path).unwrap();
        assert_eq!(s.mnemonic, secrets().mnemonic);
        assert!(key.is_none(), "version 1 has no MAC key");
        let (v2, _) = v1.migrate(&s, "hunter2").unwrap();
        assert_eq!(v2.version, VERSION);
        assert_eq!(v2.state, v1.state);
        assert!(v2.auth.is_some());
        assert_eq!(
            v2.decrypt("hunter2", path).unwrap().mnemonic,
            secrets().mnemonic
        );
        // Version 1 counters are bounded too.
        let mut big = v1.clone();
        big.state.change_index = MAX_ADDRESS_INDEX + 1;
        assert!(matches!(
            big.open("hunter2", path),
            Err(WalletError::CorruptWallet { .. })
        ));
    }
}
