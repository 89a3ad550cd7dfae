//! The wallet file: the mnemonic and BIP39 passphrase encrypted with a password, plus
//! the non-secret address counters.
//!
//! Crypto: the password is stretched by Argon2id (RFC 9106; memory, iterations,
//! parallelism and a random 16-byte salt are stored in the file) into a 32-byte key for
//! XChaCha20-Poly1305 with a random 24-byte nonce. The authentication tag makes a wrong
//! password (or an altered ciphertext) fail loudly instead of yielding garbage. A SHA-256
//! of the encrypted fields tells accidental damage apart from a wrong password; it is not
//! a security mechanism (the tag is).
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
/// The only file version this code reads and writes.
pub const VERSION: u32 = 1;
const KDF_ALGORITHM: &str = "argon2id";
const CIPHER_ALGORITHM: &str = "xchacha20poly1305";
const SALT_BYTES: usize = 16;
const NONCE_BYTES: usize = 24;
const KEY_BYTES: usize = 32;
/// Binds the ciphertext to this format and version.
const ASSOCIATED_DATA: &[u8] = b"ferro-wallet/1";

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

    /// The bounds a file's parameters must be in, so a damaged or hostile file cannot
    /// make the wallet allocate gigabytes or spin for hours.
    fn check(self) -> Result<(), String> {
        if !(1..=16).contains(&self.parallelism) {
            return Err(format!(
                "kdf parallelism {} is outside 1..=16",
                self.parallelism
            ));
        }
        if !(1..=64).contains(&self.iterations) {
            return Err(format!(
                "kdf iterations {} is outside 1..=64",
                self.iterations
            ));
        }
        let min = 8 * self.parallelism;
        if self.memory_kib < min || self.memory_kib > 4 * 1024 * 1024 {
            return Err(format!(
                "kdf memory {} KiB is outside {min}..=4194304",
                self.memory_kib
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

fn derive_key(
    password: &[u8],
    salt: &[u8],
    cost: KdfCost,
) -> Result<Zeroizing<[u8; KEY_BYTES]>, String> {
    let params = Params::new(
        cost.memory_kib,
        cost.iterations,
        cost.parallelism,
        Some(KEY_BYTES),
    )
    .map_err(|e| format!("bad kdf parameters: {e}"))?;
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let mut key = Zeroizing::new([0u8; KEY_BYTES]);
    argon
        .hash_password_into(password, salt, &mut key[..])
        .map_err(|e| format!("key derivation failed: {e}"))?;
    Ok(key)
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
        let key = derive_key(password.as_bytes(), &salt, cost).map_err(WalletError::Invalid)?;
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
                    aad: ASSOCIATED_DATA,
                },
            )
            .map_err(|_| WalletError::Invalid("encryption failed".into()))?;
        Ok(WalletFile {
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
        })
    }

    /// Decrypts the secrets. `path` only names the file in errors.
    pub fn decrypt(&self, password: &str, path: &Path) -> Result<Secrets, WalletError> {
        let corrupt = |reason: String| WalletError::CorruptWallet {
            path: path.to_path_buf(),
            reason,
        };
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
        let cost = KdfCost {
            memory_kib: self.kdf.memory_kib,
            iterations: self.kdf.iterations,
            parallelism: self.kdf.parallelism,
        };
        let key = derive_key(password.as_bytes(), &salt, cost).map_err(corrupt)?;
        let cipher = XChaCha20Poly1305::new((&*key).into());
        let plaintext = Zeroizing::new(
            cipher
                .decrypt(
                    &XNonce::from(nonce_array),
                    Payload {
                        msg: &ciphertext,
                        aad: ASSOCIATED_DATA,
                    },
                )
                .map_err(|_| WalletError::WrongPassword {
                    path: path.to_path_buf(),
                })?,
        );
        serde_json::from_slice(&plaintext)
            .map_err(|_| corrupt("the decrypted secrets are not in the expected form".into()))
    }

    /// Format, version, algorithms and parameter bounds.
    fn check_header(&self) -> Result<(), String> {
        if self.format != FORMAT {
            return Err(format!("format is {:?}, expected {FORMAT:?}", self.format));
        }
        if self.version != VERSION {
            return Err(format!(
                "version {} is not supported (this wallet reads version {VERSION})",
                self.version
            ));
        }
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
        KdfCost {
            memory_kib: self.kdf.memory_kib,
            iterations: self.kdf.iterations,
            parallelism: self.kdf.parallelism,
        }
        .check()
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
        let mut v2 = good.clone();
        v2.version = 2;
        v2.save(&path, false).unwrap();
        let e = WalletFile::load(&path).err().unwrap();
        assert!(e.to_string().contains("version 2"), "{e}");
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
        file.state.receive_index = 5;
        file.save(&path, false).unwrap();
        assert_eq!(WalletFile::load(&path).unwrap().state.receive_index, 5);
    }
}
