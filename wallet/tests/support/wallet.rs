//! Running the real `wallet` binary against a node: a wallet file in its own temporary
//! directory, the test mnemonics, and output assertions. Shared by `cli.rs` (fake node)
//! and `real_node.rs` (the real full node).

use ferro::primitives::{PubkeyHash, COIN};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use wallet::keys::{parse_mnemonic, Chain, KeyPath, Keychain};

pub const FAUCET: &str =
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";
pub const OTHER: &str =
    "legal winner thank year wave sausage worth useful legal winner thank yellow";
pub const FAUCET_ADDRESS: &str = "fdev18gk5z3dy7zv9ywe7synlrk58elz4hrne4qxxq6";
pub const PREMINE: u64 = 1_000_000 * COIN;
pub const PASSWORD: &str = "correct horse battery staple";

/// A wallet file in its own temporary directory, used through the binary.
pub struct Wallet {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
    pub node: String,
}

impl Wallet {
    pub fn new(node: &str) -> Wallet {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wallet.json");
        Wallet {
            _dir: dir,
            path,
            node: node.to_string(),
        }
    }

    /// A wallet restored from `mnemonic` through `wallet restore` on stdin.
    pub fn restored(node: &str, mnemonic: &str) -> Wallet {
        let w = Wallet::new(node);
        let out = w.run_with_stdin(&["restore"], &format!("{mnemonic}\n"));
        assert_success(&out);
        w
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wallet"));
        cmd.args(args)
            .env_clear()
            .env("WALLET_FILE", &self.path)
            .env("WALLET_NODE", &self.node)
            .env("WALLET_PASSWORD", PASSWORD)
            .stdin(Stdio::null());
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    pub fn run_with_stdin(&self, args: &[&str], input: &str) -> Output {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    /// Runs with `--json` and parses stdout.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.run(&all);
        assert_success(&out);
        serde_json::from_slice(&out.stdout).unwrap()
    }

    pub fn confirmed_balance(&self) -> u64 {
        self.json(&["balance"])["confirmed"].as_u64().unwrap()
    }

    pub fn receive_address(&self) -> String {
        self.json(&["address"])["address"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        stdout(out),
        stderr(out)
    );
}

/// Asserts exit code 1 and returns stderr.
pub fn assert_fails(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout: {}\nstderr: {}",
        stdout(out),
        stderr(out)
    );
    stderr(out)
}

pub fn key_hash(mnemonic: &str, chain: Chain, index: u32) -> PubkeyHash {
    let keys = Keychain::from_mnemonic(&parse_mnemonic(mnemonic).unwrap(), "").unwrap();
    keys.public_key(KeyPath { chain, index })
        .unwrap()
        .pubkey_hash()
}
