//! The wallet binary against a real full node (devnet, in-process on 127.0.0.1): a send
//! from the faucet moves the balance, returns change to the wallet, and the node's txid
//! equals the one the wallet printed.
#![allow(clippy::unwrap_used)]

// Shared test support: this binary uses the wallet runner, not the fake node.
#[allow(dead_code)]
mod support;

use ferro::consensus::Network;
use ferro::daemon::{run, RunningNode};
use ferro::http::HttpClient;
use ferro::json::{BlockJson, TransactionJson};
use ferro::node::NodeConfig;
use ferro::primitives::Address;
use ferro::wire::{AddressSummary, GenerateRequest, Generated, MempoolView, TxSubmitted};
use serde::de::DeserializeOwned;
use std::time::Duration;
use support::wallet::{key_hash, Wallet, FAUCET, OTHER, PREMINE};
use wallet::keys::Chain;

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

    fn get<T: DeserializeOwned>(&self, path: &str) -> T {
        let url = format!("{}{path}", self.url());
        self.rt
            .block_on(self.client.get_json(&url, TIMEOUT))
            .unwrap()
    }

    fn generate(&self, blocks: u32, to: &str) {
        let url = format!("{}/mining/generate", self.url());
        let request = GenerateRequest {
            blocks,
            address: to.to_owned(),
        };
        let generated: Generated = self
            .rt
            .block_on(self.client.post_json(&url, &request, TIMEOUT))
            .unwrap();
        assert_eq!(generated.hashes.len(), blocks as usize);
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            self.rt.block_on(running.shutdown());
        }
    }
}

/// The address of a test-mnemonic key on devnet.
fn address_of(mnemonic: &str, chain: Chain, index: u32) -> String {
    Address::new("fdev", key_hash(mnemonic, chain, index))
        .unwrap()
        .to_string()
}

#[test]
fn send_through_a_real_node() {
    let node = TestNode::start();
    let url = node.url();
    let faucet = Wallet::restored(&url, FAUCET);
    let other = Wallet::restored(&url, OTHER);
    // Mature the premine (coinbase maturity 10) with rewards to a third party.
    let miner = Address::new("fdev", ferro::primitives::PubkeyHash([9; 20]))
        .unwrap()
        .to_string();
    node.generate(10, &miner);

    assert_eq!(faucet.confirmed_balance(), PREMINE);
    let to = other.receive_address();
    assert_eq!(to, address_of(OTHER, Chain::Receive, 0));

    let sent = faucet.json(&["send", "--to", &to, "--amount", "2.5", "--yes"]);
    let txid = sent["txid"].as_str().unwrap().to_string();
    let fee = sent["fee"].as_u64().unwrap();
    // The node holds the wallet's transaction under the same txid.
    let pool: MempoolView = node.get("/mempool");
    assert_eq!(pool.txids, vec![txid.clone()]);
    let tx: TransactionJson = node.get(&format!("/transactions/{txid}"));
    assert_eq!(tx.txid.as_deref(), Some(txid.as_str()));
    assert!(!tx.status.as_ref().unwrap().confirmed);
    assert_eq!(tx.fee, Some(fee));

    node.generate(1, &miner);
    let tx: TransactionJson = node.get(&format!("/transactions/{txid}"));
    let status = tx.status.unwrap();
    assert!(status.confirmed);
    assert_eq!(tx.fee, Some(fee));
    // The same transaction read by its place in the block, fee from the undo data.
    let height = status.block_height.unwrap();
    let in_block: TransactionJson = node.get(&format!("/blocks/{height}/transactions/1"));
    let block: BlockJson = node.get(&format!("/blocks/{height}"));
    assert_eq!(in_block, block.transactions[1]);
    assert_eq!(in_block.txid.as_deref(), Some(txid.as_str()));
    assert_eq!(in_block.fee, Some(fee));
    let coinbase: TransactionJson = node.get(&format!("/blocks/{height}/transactions/0"));
    assert_eq!(coinbase.fee, None);
    // Balances moved; the change went back to the faucet wallet's first change address.
    assert_eq!(other.confirmed_balance(), 250_000_000);
    let change = PREMINE - 250_000_000 - fee;
    assert_eq!(faucet.confirmed_balance(), change);
    let change_address = address_of(FAUCET, Chain::Change, 0);
    let record: AddressSummary = node.get(&format!("/addresses/{change_address}"));
    assert_eq!(record.balance, change);
    let recipient: AddressSummary = node.get(&format!("/addresses/{to}"));
    assert_eq!(recipient.balance, 250_000_000);
    assert_eq!(recipient.tx_count, 1);
}

/// A transaction signed over a lied value (the faucet's 1 000 000-coin premine presented
/// as 20 coins, as a lying node would) is refused by a real node with `bad-signature`:
/// sighash v2 commits to the values spent, so the hidden fee can never be collected.
#[test]
fn a_real_node_refuses_a_signature_over_lied_values() {
    use ferro::primitives::{Amount, OutPoint, COIN};
    use wallet::keys::{parse_mnemonic, KeyPath, Keychain};
    use wallet::select::{build_transaction, select_coins, Candidate};

    let node = TestNode::start();
    let miner = Address::new("fdev", ferro::primitives::PubkeyHash([9; 20]))
        .unwrap()
        .to_string();
    node.generate(10, &miner);
    let net = Network::devnet();
    let keys = Keychain::from_mnemonic(&parse_mnemonic(FAUCET).unwrap(), "").unwrap();
    let path = KeyPath {
        chain: Chain::Receive,
        index: 0,
    };
    let lied = Candidate {
        outpoint: OutPoint {
            txid: net.genesis.transactions[0].txid(),
            vout: 0,
        },
        value: Amount::from_base_units(20 * COIN).unwrap(),
        key: path,
    };
    let plan = select_coins(&[lied], Amount::from_coins(10).unwrap(), 2).unwrap();
    let to = key_hash(OTHER, Chain::Receive, 0);
    let tx = build_transaction(&plan, to, to, &net.genesis_hash, |p| keys.secret_key(*p)).unwrap();
    let body = TransactionJson::from_transaction(&tx, "fdev", None);
    let url = format!("{}/transactions", node.url());
    let answer: Result<TxSubmitted, _> = node
        .rt
        .block_on(node.client.post_json(&url, &body, TIMEOUT));
    let err = answer.unwrap_err();
    assert_eq!(err.code(), Some("bad-signature"), "{err}");
    // Signed over the true value, the same spend is accepted.
    let truth = Candidate {
        value: Amount::from_base_units(PREMINE).unwrap(),
        ..plan.inputs[0].clone()
    };
    let plan = select_coins(&[truth], Amount::from_coins(10).unwrap(), 2).unwrap();
    let tx = build_transaction(&plan, to, to, &net.genesis_hash, |p| keys.secret_key(*p)).unwrap();
    let body = TransactionJson::from_transaction(&tx, "fdev", None);
    let accepted: TxSubmitted = node
        .rt
        .block_on(node.client.post_json(&url, &body, TIMEOUT))
        .unwrap();
    assert_eq!(accepted.txid, tx.txid().to_hex());
    assert_eq!(accepted.status, "accepted");
}
