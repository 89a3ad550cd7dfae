//! A test network of real processes: a fast network file made with
//! `full_node genesis`, a seed, nodes that find each other only through the seed, and
//! wallets run as commands.

use super::bins;
use super::http::{self, get_ok};
use super::process::{command, tail, Proc};
use anyhow::Context;
use serde_json::{json, Value};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;
use tempfile::TempDir;

/// The devnet faucet: public mnemonic, no passphrase (genesis/README.md).
pub const FAUCET_MNEMONIC: &str =
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";
pub const FAUCET_ADDRESS: &str = "fdev18gk5z3dy7zv9ywe7synlrk58elz4hrne4qxxq6";
pub const PREMINE_COINS: u64 = 1_000_000;
/// Base units per coin.
pub const COIN: u64 = 100_000_000;
/// Blocks before a coinbase (the premine too) can be spent on the test network.
pub const COINBASE_MATURITY: u64 = 2;
const WALLET_PASSWORD: &str = "network-test";

/// The folder every file of the test lives in, the network file and its genesis hash.
pub struct TestNet {
    pub dir: TempDir,
    pub genesis: PathBuf,
    pub genesis_hash: String,
    logs: Mutex<Vec<(String, PathBuf)>>,
}

impl TestNet {
    /// Writes a network file with the devnet faucet premine, 4-bit proof of work (a
    /// block is a few hashes), no retarget in sight and a coinbase maturity of 2, dated
    /// an hour ago so that blocks mined now are never "too old".
    pub fn new() -> anyhow::Result<TestNet> {
        Self::with_pow_bits(4)
    }

    /// Like [`TestNet::new`] with `bits` leading zero bits of proof of work (a miner at
    /// 16 bits makes a few blocks a second instead of hundreds).
    pub fn with_pow_bits(bits: u32) -> anyhow::Result<TestNet> {
        Self::with_genesis_args(bits, &[])
    }

    /// [`TestNet::with_pow_bits`] with `extra` arguments to `full_node genesis` (e.g. the
    /// network's `--default-port`).
    pub fn with_genesis_args(bits: u32, extra: &[&str]) -> anyhow::Result<TestNet> {
        let dir = tempfile::tempdir()?;
        let genesis = dir.path().join("network.json");
        let timestamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs()
            - 3600;
        let out = command(&bins::full_node())
            .arg("genesis")
            .arg("--out")
            .arg(&genesis)
            .args(["--pow-limit-bits", &bits.to_string()])
            .args(["--retarget-interval", "1000000"])
            .args(["--coinbase-maturity", &COINBASE_MATURITY.to_string()])
            .arg("--premine")
            .arg(format!("{FAUCET_ADDRESS}={PREMINE_COINS}"))
            .args(["--timestamp", &timestamp.to_string()])
            .args(extra)
            .output()
            .context("cannot run full_node genesis")?;
        anyhow::ensure!(
            out.status.success(),
            "full_node genesis failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let file: Value = serde_json::from_slice(&std::fs::read(&genesis)?)?;
        let genesis_hash = file["genesis"]["hash"]
            .as_str()
            .context("network file without genesis.hash")?
            .to_string();
        Ok(TestNet {
            dir,
            genesis,
            genesis_hash,
            logs: Mutex::new(Vec::new()),
        })
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn log_for(&self, name: &str) -> PathBuf {
        let path = self.path(&format!("{name}.log"));
        if let Ok(mut logs) = self.logs.lock() {
            if !logs.iter().any(|(n, _)| n == name) {
                logs.push((name.to_string(), path.clone()));
            }
        }
        path
    }

    /// Prints the end of every process log to stderr (after a failure).
    pub fn dump_logs(&self) {
        if let Ok(logs) = self.logs.lock() {
            for (name, path) in logs.iter() {
                eprintln!("----- last lines of {name}'s log -----\n{}", tail(path, 40));
            }
        }
    }

    /// A seed that re-probes every half second and only lists nodes of this network.
    pub fn start_seed(&self) -> anyhow::Result<Proc> {
        let mut cmd = command(&bins::dns_seed()?);
        cmd.args(["--listen", "127.0.0.1:0", "--probe-interval", "0.5"])
            .arg("--data-file")
            .arg(self.path("seed-nodes.json"))
            .args(["--genesis-hash", &self.genesis_hash]);
        Proc::spawn("seed", cmd, &self.log_for("seed"))
    }

    /// Starts node `name` with data dir `<tmp>/<name>` (kept across restarts), the seed
    /// as its only way to find peers, `/mining/generate` on, and 0.3 s sync rounds.
    pub fn start_node(&self, name: &str, seed: &Proc) -> anyhow::Result<Node> {
        self.start_node_with(name, seed, &[])
    }

    /// The log file of process `name`.
    pub fn log_of(&self, name: &str) -> PathBuf {
        self.path(&format!("{name}.log"))
    }

    /// [`TestNet::start_node`] with `extra` arguments.
    pub fn start_node_with(&self, name: &str, seed: &Proc, extra: &[&str]) -> anyhow::Result<Node> {
        self.start_node_full(name, seed, extra, true, &[])
    }

    /// [`TestNet::start_node_with`], with `/mining/generate` on only when `generate`.
    pub fn start_node_generating(
        &self,
        name: &str,
        seed: &Proc,
        extra: &[&str],
        generate: bool,
    ) -> anyhow::Result<Node> {
        self.start_node_full(name, seed, extra, generate, &[])
    }

    /// [`TestNet::start_node_with`] with environment variables set (test hooks).
    pub fn start_node_env(
        &self,
        name: &str,
        seed: &Proc,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> anyhow::Result<Node> {
        self.start_node_full(name, seed, extra, true, env)
    }

    fn start_node_full(
        &self,
        name: &str,
        seed: &Proc,
        extra: &[&str],
        generate: bool,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Node> {
        let data_dir = self.path(name);
        let mut cmd = command(&bins::full_node());
        cmd.args(["--listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(&data_dir)
            .arg("--genesis")
            .arg(&self.genesis)
            .args(["--seed", &seed.url()])
            .args(if generate {
                &["--allow-generate"][..]
            } else {
                &[]
            })
            .args(["--sync-interval", "0.3"])
            .args(["--peer-timeout", "5"])
            .args(extra)
            .envs(env.iter().copied());
        let proc = Proc::spawn(name, cmd, &self.log_for(name))?;
        Ok(Node {
            name: name.to_string(),
            data_dir,
            proc,
        })
    }

    /// `wallet restore` of `mnemonic` (read from standard input).
    pub fn restore_wallet(&self, name: &str, mnemonic: &str) -> anyhow::Result<Wallet> {
        let wallet = Wallet {
            file: self.path(&format!("{name}.wallet.json")),
            genesis: self.genesis.clone(),
        };
        wallet.run(None, &["restore"], Some(&format!("{mnemonic}\n")))?;
        Ok(wallet)
    }

    /// `wallet new`: a fresh mnemonic.
    pub fn new_wallet(&self, name: &str) -> anyhow::Result<Wallet> {
        let wallet = Wallet {
            file: self.path(&format!("{name}.wallet.json")),
            genesis: self.genesis.clone(),
        };
        let created = wallet.run(None, &["new"], None)?;
        anyhow::ensure!(
            created["mnemonic"]
                .as_str()
                .is_some_and(|m| m.split(' ').count() == 12),
            "wallet new did not show a 12-word mnemonic: {created}"
        );
        Ok(wallet)
    }
}

/// A running `full_node` and where its chain is stored.
pub struct Node {
    pub name: String,
    pub data_dir: PathBuf,
    pub proc: Proc,
}

impl Node {
    pub fn addr(&self) -> SocketAddr {
        self.proc.addr
    }

    pub fn url(&self) -> String {
        self.proc.url()
    }

    pub fn get(&self, path: &str) -> anyhow::Result<Value> {
        get_ok(self.addr(), path).with_context(|| format!("node {}", self.name))
    }

    pub fn info(&self) -> anyhow::Result<Value> {
        self.get("/info")
    }

    /// Height and best hash, from one `/info`.
    pub fn tip(&self) -> anyhow::Result<(u64, String)> {
        let info = self.info()?;
        Ok((
            info["height"].as_u64().context("/info without height")?,
            info["best_hash"]
                .as_str()
                .context("/info without best_hash")?
                .to_string(),
        ))
    }

    /// `POST /mining/generate`: mines `blocks` blocks paying `address` now.
    pub fn generate(&self, blocks: u32, address: &str) -> anyhow::Result<Vec<String>> {
        let body = http::post(
            self.addr(),
            "/mining/generate",
            &json!({"blocks": blocks, "address": address}),
        )?
        .ok()
        .with_context(|| format!("node {}: generate {blocks}", self.name))?;
        let hashes: Vec<String> = serde_json::from_value(body["hashes"].clone())?;
        anyhow::ensure!(
            hashes.len() == blocks as usize,
            "{}: asked for {blocks} blocks, got {}",
            self.name,
            hashes.len()
        );
        Ok(hashes)
    }

    /// The addresses of the peers `GET /nodes` lists.
    pub fn peer_addresses(&self) -> anyhow::Result<Vec<String>> {
        let nodes = self.get("/nodes")?;
        Ok(nodes
            .as_array()
            .context("/nodes is not a list")?
            .iter()
            .filter_map(|n| n["address"].as_str().map(str::to_string))
            .collect())
    }

    /// The hash of the active-chain block at `height`.
    pub fn hash_at(&self, height: u64) -> anyhow::Result<String> {
        let block = self.get(&format!("/blocks/{height}"))?;
        Ok(block["hash"]
            .as_str()
            .context("block without hash")?
            .to_string())
    }
}

/// A wallet file driven through the `wallet` binary with `--json`.
pub struct Wallet {
    pub file: PathBuf,
    genesis: PathBuf,
}

impl Wallet {
    /// Runs `wallet --json --wallet FILE --genesis NET [--node URL] ARGS`, feeding
    /// `stdin`; the JSON it prints on success.
    pub fn run(
        &self,
        node: Option<&Node>,
        args: &[&str],
        stdin: Option<&str>,
    ) -> anyhow::Result<Value> {
        let mut cmd = command(&bins::wallet()?);
        cmd.arg("--json")
            .arg("--wallet")
            .arg(&self.file)
            .arg("--genesis")
            .arg(&self.genesis)
            .env("WALLET_PASSWORD", WALLET_PASSWORD);
        if let Some(node) = node {
            cmd.args(["--node", &node.url()]);
        }
        cmd.args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().context("cannot start wallet")?;
        if let Some(mut input) = child.stdin.take() {
            input.write_all(stdin.unwrap_or_default().as_bytes())?;
        }
        let out = child.wait_with_output()?;
        let shown = || {
            format!(
                "wallet {} ({}): stdout {:?}, stderr {:?}",
                args.join(" "),
                wallet_name(&self.file),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        };
        anyhow::ensure!(out.status.success(), "{} failed: {}", out.status, shown());
        serde_json::from_slice(&out.stdout).with_context(shown)
    }

    pub fn address(&self) -> anyhow::Result<String> {
        let shown = self.run(None, &["address"], None)?;
        Ok(shown["address"]
            .as_str()
            .context("wallet address without address")?
            .to_string())
    }

    /// `wallet balance` through `node`: (confirmed, unconfirmed).
    pub fn balance(&self, node: &Node) -> anyhow::Result<(u64, i64)> {
        let b = self.run(Some(node), &["balance"], None)?;
        Ok((
            b["confirmed"]
                .as_u64()
                .context("balance without confirmed")?,
            b["unconfirmed"]
                .as_i64()
                .context("balance without unconfirmed")?,
        ))
    }
}

fn wallet_name(file: &Path) -> String {
    file.file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default()
}
