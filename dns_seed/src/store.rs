//! Persistence of the node list in the data file.
//!
//! Format (JSON, one document):
//! `{"version": 1, "nodes": [{"address": "127.0.0.1:8000", "height": 12, "last_seen": 1763700000}]}`.
//! Writes are atomic: the new list goes to `<file>.tmp`, is fsynced, renamed
//! over the file, and the directory is fsynced, so a crash leaves either the old
//! or the new list. A file that cannot be parsed is moved aside to
//! `<file>.corrupt` and the seed starts empty.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::registry::NodeView;
use crate::state::Shared;

/// Version of the file format written by this seed.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DataFile {
    version: u32,
    nodes: Vec<NodeView>,
}

/// Failures the seed cannot work around.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("could not read data file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("could not write data file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Reads the saved list. A missing file is an empty list; a corrupt one is
/// logged, moved aside and also gives an empty list; only an unreadable file
/// (permissions, I/O) is an error, since the seed could not save either.
pub fn load(path: &Path) -> Result<Vec<NodeView>, StoreError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::info!(path = %path.display(), "no data file yet; starting with an empty list");
            return Ok(Vec::new());
        }
        Err(source) => {
            return Err(StoreError::Read {
                path: path.to_owned(),
                source,
            })
        }
    };
    match parse(&bytes) {
        Ok(nodes) => {
            tracing::info!(path = %path.display(), nodes = nodes.len(), "loaded saved node list");
            Ok(nodes)
        }
        Err(reason) => {
            let aside = sibling(path, "corrupt");
            let moved = std::fs::rename(path, &aside);
            match moved {
                Ok(()) => tracing::error!(
                    path = %path.display(),
                    moved_to = %aside.display(),
                    "data file is corrupt ({reason}); starting with an empty list"
                ),
                Err(e) => tracing::error!(
                    path = %path.display(),
                    "data file is corrupt ({reason}); starting with an empty list \
                     (could not move it aside: {e})"
                ),
            }
            Ok(Vec::new())
        }
    }
}

fn parse(bytes: &[u8]) -> Result<Vec<NodeView>, String> {
    let file: DataFile = serde_json::from_slice(bytes).map_err(|e| format!("invalid json: {e}"))?;
    if file.version != FORMAT_VERSION {
        return Err(format!(
            "unsupported format version {}, expected {FORMAT_VERSION}",
            file.version
        ));
    }
    Ok(file.nodes)
}

/// Writes `nodes` to `path` atomically (see the module documentation).
pub fn save(path: &Path, nodes: Vec<NodeView>) -> Result<(), StoreError> {
    let write_error = |source| StoreError::Write {
        path: path.to_owned(),
        source,
    };
    let file = DataFile {
        version: FORMAT_VERSION,
        nodes,
    };
    let mut bytes =
        serde_json::to_vec_pretty(&file).map_err(|e| write_error(std::io::Error::other(e)))?;
    bytes.push(b'\n');
    let tmp = sibling(path, "tmp");
    let mut out = std::fs::File::create(&tmp).map_err(write_error)?;
    out.write_all(&bytes).map_err(write_error)?;
    out.sync_all().map_err(write_error)?;
    drop(out);
    std::fs::rename(&tmp, path).map_err(write_error)?;
    // Make the rename itself durable.
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(write_error)?;
    Ok(())
}

/// `<path>.<suffix>` in the same directory (so a rename stays atomic).
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

/// Pause before retrying a failed save.
const RETRY_DELAY: Duration = Duration::from_secs(1);

/// Saves the list after every change (changes arriving during a save are
/// coalesced into the next one) until `stop`, then saves a last time.
pub(crate) async fn run_persister(
    shared: Arc<Shared>,
    path: PathBuf,
    stop: CancellationToken,
) -> Result<(), StoreError> {
    loop {
        let stopping = tokio::select! {
            () = shared.changed() => false,
            () = stop.cancelled() => true,
        };
        if shared.take_changed() {
            let nodes = shared.registry().entries();
            let count = nodes.len();
            let target = path.clone();
            let result = tokio::task::spawn_blocking(move || save(&target, nodes))
                .await
                .unwrap_or_else(|e| {
                    Err(StoreError::Write {
                        path: path.clone(),
                        source: std::io::Error::other(e),
                    })
                });
            match result {
                Ok(()) => tracing::debug!(nodes = count, "saved node list"),
                Err(e) if stopping => return Err(e),
                Err(e) => {
                    tracing::error!(error = %e, "could not save the node list; will retry");
                    shared.mark_changed();
                    tokio::select! {
                        () = tokio::time::sleep(RETRY_DELAY) => {}
                        () = stop.cancelled() => {}
                    }
                }
            }
        }
        if stopping {
            return Ok(());
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("dns_seed-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn node(port: u16) -> NodeView {
        NodeView {
            address: format!("127.0.0.1:{port}").parse().unwrap(),
            height: u64::from(port),
            last_seen: 1_763_700_000,
        }
    }

    #[test]
    fn save_then_load_round_trips() {
        let dir = temp_dir("round-trip");
        let path = dir.join("nodes.json");
        assert!(load(&path).unwrap().is_empty());
        save(&path, vec![node(1), node(2)]).unwrap();
        assert_eq!(load(&path).unwrap(), vec![node(1), node(2)]);
        assert!(!sibling(&path, "tmp").exists());
        let text = std::fs::read_to_string(&path).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["version"], 1);
        assert_eq!(value["nodes"][0]["address"], "127.0.0.1:1");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn corrupt_file_is_moved_aside() {
        let dir = temp_dir("corrupt");
        let path = dir.join("nodes.json");
        for garbage in [
            &b"{\"version\": 1, \"nodes\": [tru"[..],
            b"{\"version\": 9, \"nodes\": []}",
            b"\xff\xfe",
        ] {
            std::fs::write(&path, garbage).unwrap();
            assert!(load(&path).unwrap().is_empty());
            assert!(!path.exists());
            assert_eq!(std::fs::read(sibling(&path, "corrupt")).unwrap(), garbage);
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn unwritable_location_is_an_error() {
        let dir = temp_dir("unwritable");
        let path = dir.join("missing-dir").join("nodes.json");
        assert!(matches!(save(&path, vec![]), Err(StoreError::Write { .. })));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
