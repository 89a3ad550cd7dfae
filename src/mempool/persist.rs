//! The mempool across a clean restart (PROTOCOL.md section 8): saved at shutdown as
//! `mempool.dat` in the data dir, read back at start. The pool itself stays free of I/O;
//! this module only turns its [`Mempool::snapshot`](super::Mempool::snapshot) into a file
//! and back.
//!
//! Format (all integers little-endian, transactions in their binary encoding, PROTOCOL.md
//! section 3):
//!
//! ```text
//! magic    8 bytes   "FERROMP1"
//! count    u32       number of entries
//! entries  count ×   entered (u64, unix seconds) then the transaction
//! checksum 32 bytes  SHA-256 of everything before it
//! ```
//!
//! Entries are written parents before children. The file is written to a temporary
//! name, synced and renamed, so a crash mid-write leaves the previous file or none.
//! Reading is bounded (a file larger than the caller's limit is refused unread) and a
//! file that fails the checksum or the strict decoding is refused as a whole. What it
//! holds is still only a claim: the node admits every entry through the same checks as
//! a new submission.

use crate::primitives::encoding::put_u64;
use crate::primitives::{Decode, DecodeError, Encode, Reader, Transaction};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The file's name in the data dir.
pub const FILE_NAME: &str = "mempool.dat";
const MAGIC: &[u8; 8] = b"FERROMP1";
const CHECKSUM_LEN: usize = 32;

/// Why a saved mempool was not read.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    #[error("cannot read or write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("file is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("not a saved mempool (bad magic)")]
    BadMagic,
    #[error("checksum mismatch: the file is damaged")]
    BadChecksum,
    #[error("damaged entry: {0}")]
    Decode(#[from] DecodeError),
}

/// The file's bytes for `entries` (transaction, unix time it entered the pool).
pub fn encode(entries: &[(Transaction, u64)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        16 + CHECKSUM_LEN + entries.iter().map(|(t, _)| 8 + t.size()).sum::<usize>(),
    );
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    for (tx, entered) in entries {
        put_u64(&mut out, *entered);
        tx.encode_to(&mut out);
    }
    let checksum = Sha256::digest(&out);
    out.extend_from_slice(&checksum);
    out
}

/// Reads the entries back; any damage refuses the whole file.
pub fn decode(bytes: &[u8]) -> Result<Vec<(Transaction, u64)>, PersistError> {
    if bytes.len() < MAGIC.len() + 4 + CHECKSUM_LEN || &bytes[..MAGIC.len()] != MAGIC {
        return Err(PersistError::BadMagic);
    }
    let (body, checksum) = bytes.split_at(bytes.len() - CHECKSUM_LEN);
    if Sha256::digest(body).as_slice() != checksum {
        return Err(PersistError::BadChecksum);
    }
    let mut reader = Reader::new(&body[MAGIC.len()..]);
    // Each entry is at least its time and a smallest transaction: a hostile count cannot
    // make this allocate more than the file could hold.
    let count = reader.read_count(8 + Transaction::MIN_SIZE)?;
    let mut entries = Vec::with_capacity(count);
    for _ in 0..count {
        let entered = reader.read_u64()?;
        let tx = Transaction::decode_from(&mut reader)?;
        entries.push((tx, entered));
    }
    reader.finish()?;
    Ok(entries)
}

/// Writes `entries` to `dir/mempool.dat` atomically (temporary file, fsync, rename).
pub fn save(dir: &Path, entries: &[(Transaction, u64)]) -> Result<(), PersistError> {
    let path = dir.join(FILE_NAME);
    let tmp = dir.join(format!("{FILE_NAME}.tmp"));
    let io = |source| PersistError::Io {
        path: path.clone(),
        source,
    };
    let bytes = encode(entries);
    {
        let mut file = std::fs::File::create(&tmp).map_err(io)?;
        file.write_all(&bytes).map_err(io)?;
        file.sync_all().map_err(io)?;
    }
    std::fs::rename(&tmp, &path).map_err(io)?;
    // Make the rename itself durable where the platform allows it.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Reads `dir/mempool.dat`: `Ok(None)` when there is none, an error when it is larger
/// than `max_bytes` (refused before reading it) or damaged.
pub fn load(dir: &Path, max_bytes: u64) -> Result<Option<Vec<(Transaction, u64)>>, PersistError> {
    let path = dir.join(FILE_NAME);
    let io = |source| PersistError::Io {
        path: path.clone(),
        source,
    };
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    let mut bytes = Vec::new();
    // One byte past the limit tells a file at the limit from one over it.
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > max_bytes {
        return Err(PersistError::TooLarge { limit: max_bytes });
    }
    decode(&bytes).map(Some)
}

/// Largest file [`load`] reads for a pool bounded at `max_usage` bytes of memory: a
/// pool's serialized transactions are smaller than its usage, and each entry adds
/// 8 bytes of time (far less than its usage overhead).
pub fn max_file_bytes(max_usage: usize) -> u64 {
    (max_usage as u64).saturating_mul(2).saturating_add(1024)
}
