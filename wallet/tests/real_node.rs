//! The wallet binary against a real full node (devnet, in-process on 127.0.0.1): a send
//! from the faucet moves the balance, returns change to the wallet, and the node's txid
//! equals the one the wallet printed.
#![allow(clippy::unwrap_used)]

use ferro::consensus::Network;
use ferro::http::HttpClient;
use ferro::node::{run, NodeConfig, RunningNode};
use ferro::primitives::{Address, COIN};
use serde_json::{json, Value};
use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::Duration;
use wallet::keys::{parse_mnemonic, Chain, KeyPath, Keychain};

const FAUCET: &str =
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";
const OTHER: &str = "legal winner thank year wave sausage worth useful legal winner thank yellow";
const PASSWORD: &str = "test password";
const PREMINE: u64 = 1_000_000 * COIN;
const TIMEOUT: Duration = Duration::from_secs(60);

struct TestNode {
    rt: tokio::runtime::Runtime,
    running: Option<RunningNode>,
    client: HttpClient,
    _dir: tempfile::TempDir,
}

impl TestNode {
    fn start() -> TestNode {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = NodeConfig::new(
            Network::devnet(),
            dir.path().join("data"),
            "127.0.0.1:0".parse().unwrap(),
        );
        cfg.allow_generate = true;
        let running = rt.block_on(run(cfg)).unwrap();
        TestNode {
            rt,
            running: Some(running),
            client: HttpClient::new(),
            _dir: dir,
        }
    }

    fn url(&self) -> String {
        self.running.as_ref().unwrap().url()
    }

    fn get(&self, path: &str) -> Value {
        let url = format!("{}{path}", self.url());
        self.rt
            .block_on(self.client.get_json(&url, TIMEOUT))
            .unwrap()
    }

    fn generate(&self, blocks: u32, to: &str) {
        let url = format!("{}/mining/generate", self.url());
        let _: Value = self
            .rt
            .block_on(self.client.post_json(
                &url,
                &json!({"blocks": blocks, "address": to}),
                TIMEOUT,
            ))
            .unwrap();
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            self.rt.block_on(running.shutdown());
        }
    }
}

fn wallet(file: &std::path::Path, node: &str, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wallet"))
        .args(args)
        .env_clear()
        .env("WALLET_FILE", file)
        .env("WALLET_NODE", node)
        .env("WALLET_PASSWORD", PASSWORD)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "wallet {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap()
}

fn address_of(mnemonic: &str, chain: Chain, index: u32) -> String {
    let keys = Keychain::from_mnemonic(&parse_mnemonic(mnemonic).unwrap(), "").unwrap();
    let hash = keys
        .public_key(KeyPath { chain, index })
        .unwrap()
        .pubkey_hash();
    Address::new("fdev", hash).unwrap().to_string()
}

#[test]
fn send_through_a_real_node() {
    let node = TestNode::start();
    let url = node.url();
    let dir = tempfile::tempdir().unwrap();
    let faucet = dir.path().join("faucet.json");
    let other = dir.path().join("other.json");
    wallet(&faucet, &url, &["restore"], &format!("{FAUCET}\n"));
    wallet(&other, &url, &["restore"], &format!("{OTHER}\n"));
    // Mature the premine (coinbase maturity 10) with rewards to a third party.
    let miner = Address::new("fdev", ferro::primitives::PubkeyHash([9; 20]))
        .unwrap()
        .to_string();
    node.generate(10, &miner);

    let balance = json_of(&wallet(&faucet, &url, &["--json", "balance"], ""));
    assert_eq!(balance["confirmed"], PREMINE);
    let to = json_of(&wallet(&other, &url, &["--json", "address"], ""))["address"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(to, address_of(OTHER, Chain::Receive, 0));

    let sent = json_of(&wallet(
        &faucet,
        &url,
        &["--json", "send", "--to", &to, "--amount", "2.5", "--yes"],
        "",
    ));
    let txid = sent["txid"].as_str().unwrap().to_string();
    let fee = sent["fee"].as_u64().unwrap();
    // The node holds the wallet's transaction under the same txid.
    let pool = node.get("/mempool");
    assert_eq!(pool["txids"], json!([txid]));
    let tx = node.get(&format!("/transactions/{txid}"));
    assert_eq!(tx["txid"], txid.as_str());
    assert_eq!(tx["status"]["confirmed"], false);
    assert_eq!(tx["fee"], fee);

    node.generate(1, &miner);
    let tx = node.get(&format!("/transactions/{txid}"));
    assert_eq!(tx["status"]["confirmed"], true);
    assert_eq!(tx["fee"], fee);
    // The same transaction read by its place in the block, fee from the undo data.
    let height = tx["status"]["block_height"].as_u64().unwrap();
    let in_block = node.get(&format!("/blocks/{height}/transactions/1"));
    assert_eq!(
        in_block,
        node.get(&format!("/blocks/{height}"))["transactions"][1]
    );
    assert_eq!(in_block["txid"], txid.as_str());
    assert_eq!(in_block["fee"], fee);
    let coinbase = node.get(&format!("/blocks/{height}/transactions/0"));
    assert!(coinbase.get("fee").is_none());
    // Balances moved; the change went back to the faucet wallet's first change address.
    let other_balance = json_of(&wallet(&other, &url, &["--json", "balance"], ""));
    assert_eq!(other_balance["confirmed"], 250_000_000u64);
    let faucet_balance = json_of(&wallet(&faucet, &url, &["--json", "balance"], ""));
    let change = PREMINE - 250_000_000 - fee;
    assert_eq!(faucet_balance["confirmed"], change);
    let change_address = address_of(FAUCET, Chain::Change, 0);
    let record = node.get(&format!("/addresses/{change_address}"));
    assert_eq!(record["balance"], change);
    let recipient = node.get(&format!("/addresses/{to}"));
    assert_eq!(recipient["balance"], 250_000_000u64);
    assert_eq!(recipient["tx_count"], 1);
}
