//! The three binaries under test.
//!
//! `full_node` belongs to this package, so cargo builds it for the test and gives its
//! path in `CARGO_BIN_EXE_full_node`. `dns_seed` and `wallet` are binaries of other
//! workspace crates: cargo does not build them for `cargo test -p ferro`. They are taken
//! from the same folder as `full_node` (`target/debug`, or `$CARGO_TARGET_DIR/debug`,
//! or the folder of whatever profile the test was built with), and when either is
//! missing the test builds both once with `cargo build -p dns_seed -p wallet` (same
//! profile). `cargo test --workspace` builds them up to date anyway; after
//! `cargo test -p ferro` alone an old `dns_seed`/`wallet` build may be used.

use anyhow::Context;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub fn full_node() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_full_node"))
}

pub fn dns_seed() -> anyhow::Result<PathBuf> {
    sibling("dns_seed")
}

pub fn wallet() -> anyhow::Result<PathBuf> {
    sibling("wallet")
}

/// The folder cargo put `full_node` in: the profile folder of this build.
fn profile_dir() -> PathBuf {
    full_node()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/debug"))
}

fn exe(name: &str) -> PathBuf {
    profile_dir().join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

fn sibling(name: &str) -> anyhow::Result<PathBuf> {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let path = exe(name);
    if path.exists() {
        return Ok(path);
    }
    BUILT
        .get_or_init(|| build_others().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(anyhow::Error::msg)?;
    anyhow::ensure!(
        path.exists(),
        "{} is still missing after building it",
        path.display()
    );
    Ok(path)
}

/// `cargo build -p dns_seed -p wallet` in the profile `full_node` was built with.
fn build_others() -> anyhow::Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["build", "-p", "dns_seed", "-p", "wallet"]);
    let profile = profile_dir();
    if profile.file_name().is_some_and(|n| n == "release") {
        cmd.arg("--release");
    }
    // The binaries must land next to full_node, whatever CARGO_TARGET_DIR says.
    if let Some(target) = profile.parent() {
        cmd.env("CARGO_TARGET_DIR", target);
    }
    let status = cmd
        .status()
        .context("cannot run cargo to build dns_seed and wallet")?;
    anyhow::ensure!(
        status.success(),
        "cargo build -p dns_seed -p wallet failed ({status})"
    );
    Ok(())
}
