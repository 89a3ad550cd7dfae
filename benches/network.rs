//! Network load benchmark (issue "Full node"), with real nodes on 127.0.0.1:
//! 1. transactions accepted per second over HTTP by node A with concurrent clients, and
//!    the delay until node B (A's peer) has them;
//! 2. blocks per second when a new node syncs 2 000 full blocks from a peer.
//!
//! Run: `scripts/load.sh` (or `cargo bench --bench network`). Each figure is measured
//! once over the whole workload.

mod common;

use ferro::daemon::{run, RunningNode};
use ferro::http::HttpClient;
use ferro::node::NodeConfig;
use ferro::primitives::{Encode, OutPoint, Transaction, COIN};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CLIENTS: usize = 8;
const LOAD_TXS: usize = 4_000;
const SYNC_BLOCKS: usize = 2_000;
const SYNC_TXS_PER_BLOCK: usize = 50;

async fn start(
    net: &ferro::consensus::Network,
    dir: &std::path::Path,
    peers: Vec<String>,
) -> RunningNode {
    let mut cfg = NodeConfig::new(
        net.clone(),
        dir.to_path_buf(),
        "127.0.0.1:0".parse().expect("addr"),
    );
    cfg.allow_generate = true;
    cfg.peers = peers;
    cfg.sync_interval = Duration::from_millis(200);
    cfg.peer_timeout = Duration::from_secs(30);
    run(cfg).await.expect("node starts")
}

async fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    start.elapsed()
}

fn now() -> u64 {
    ferro::node::unix_now()
}

async fn load_test(reference: common::Reference) {
    let keys = common::keys(50);
    let net = common::network("loadbench", &keys, LOAD_TXS / 50 + 1, now() - 3_600);
    let dir = tempfile::tempdir().expect("temp dir");
    let a = start(&net, &dir.path().join("a"), vec![]).await;
    let b = start(&net, &dir.path().join("b"), vec![a.addr.to_string()]).await;
    wait_for("peering", Duration::from_secs(20), || {
        a.node.peers.len() == 1 && b.node.peers.len() == 1
    })
    .await;
    let client = HttpClient::new();
    let reward =
        ferro::primitives::Address::new("fbench", keys[0].public_key().pubkey_hash()).expect("hrp");
    let _: serde_json::Value = client
        .post_json(
            &format!("{}/mining/generate", a.url()),
            &serde_json::json!({"blocks": 1, "address": reward.to_string()}),
            Duration::from_secs(60),
        )
        .await
        .expect("generate");
    wait_for("block on B", Duration::from_secs(20), || {
        b.node.chain().height().get() == 1
    })
    .await;
    let genesis_txid = net.genesis.transactions[0].txid();
    let txs: Vec<Vec<u8>> = (0..LOAD_TXS)
        .map(|i| {
            let prev = OutPoint {
                txid: genesis_txid,
                vout: i as u32,
            };
            common::payment(
                &net,
                &keys[i % 50],
                prev,
                1_000 * COIN,
                common::payee(i as u64),
                COIN,
                1_000,
            )
            .to_bytes()
        })
        .collect();
    let txs = Arc::new(txs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let txs = txs.clone();
        let url = format!("{}/transactions", a.url());
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            for tx in txs.iter().skip(c).step_by(CLIENTS) {
                let _: serde_json::Value = client
                    .post_bytes(&url, tx.clone().into(), Duration::from_secs(30))
                    .await
                    .expect("accepted");
            }
        }));
    }
    for t in tasks {
        t.await.expect("client task");
    }
    let accept = started.elapsed().as_secs_f64();
    let rate = LOAD_TXS as f64 / accept;
    println!(
        "accept: {LOAD_TXS} transactions from {CLIENTS} concurrent clients in {accept:.2} s = {rate:.0} tx/s = {:.2} x cores x single-core verify (goal 4: >= 0.25)",
        rate / (reference.cores as f64 * reference.single_core_verify)
    );
    let lag = wait_for("B's mempool", Duration::from_secs(120), || {
        b.node.mempool().len() == LOAD_TXS
    })
    .await;
    println!(
        "relay: B had all {LOAD_TXS} {:.0} ms after A accepted the last one ({:.2} s after the first was sent)",
        lag.as_secs_f64() * 1e3,
        started.elapsed().as_secs_f64()
    );
    // Single-transaction delay, A's acceptance to B's mempool, repeated.
    let mut delays = Vec::new();
    for i in 0..20u64 {
        let tx: Transaction = {
            let prev = OutPoint {
                txid: genesis_txid,
                vout: (LOAD_TXS as u64 + i % 50) as u32,
            };
            let key = &keys[(LOAD_TXS + (i as usize % 50)) % 50];
            common::payment(
                &net,
                key,
                prev,
                1_000 * COIN,
                common::payee(1_000_000 + i),
                COIN,
                1_000,
            )
        };
        if i >= 50 {
            break;
        }
        let txid = tx.txid();
        let _: serde_json::Value = client
            .post_bytes(
                &format!("{}/transactions", a.url()),
                tx.to_bytes().into(),
                Duration::from_secs(30),
            )
            .await
            .expect("accepted");
        let t0 = Instant::now();
        wait_for("one tx on B", Duration::from_secs(20), || {
            b.node.mempool().contains(&txid)
        })
        .await;
        delays.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    delays.sort_by(|x, y| x.total_cmp(y));
    println!(
        "relay delay of one transaction A -> B: median {:.1} ms, max {:.1} ms ({} samples)",
        delays[delays.len() / 2],
        delays[delays.len() - 1],
        delays.len()
    );
    b.shutdown().await;
    a.shutdown().await;
}

async fn sync_test(reference: common::Reference) {
    let keys = common::keys(SYNC_TXS_PER_BLOCK);
    let net = common::network("syncbench", &keys, 1, now() - 100_000);
    let t = Instant::now();
    let blocks = common::build_chain(&net, &keys, SYNC_BLOCKS);
    let bytes: usize = blocks.iter().map(|b| b.size()).sum();
    eprintln!(
        "built {SYNC_BLOCKS} blocks ({} MB) in {:.1} s",
        bytes / 1_000_000,
        t.elapsed().as_secs_f64()
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let source = start(&net, &dir.path().join("source"), vec![]).await;
    let node = source.node.clone();
    tokio::task::spawn_blocking(move || {
        for b in blocks {
            node.submit_block(b, true).expect("valid block");
        }
    })
    .await
    .expect("feed task");
    let started = Instant::now();
    let fresh = start(
        &net,
        &dir.path().join("fresh"),
        vec![source.addr.to_string()],
    )
    .await;
    wait_for("sync", Duration::from_secs(600), || {
        fresh.node.chain().height().get() == SYNC_BLOCKS as u64
    })
    .await;
    let secs = started.elapsed().as_secs_f64();
    let inputs = (SYNC_BLOCKS * SYNC_TXS_PER_BLOCK) as f64 / secs;
    println!(
        "sync: a new node fetched and connected {SYNC_BLOCKS} blocks ({} transactions each) in {secs:.1} s = {:.1} blocks/s, {:.0} tx/s, {inputs:.0} inputs/s = {:.2} x block validation (goal 3: >= 0.5)",
        SYNC_TXS_PER_BLOCK + 1,
        SYNC_BLOCKS as f64 / secs,
        (SYNC_BLOCKS * (SYNC_TXS_PER_BLOCK + 1)) as f64 / secs,
        inputs / reference.block_validation
    );
    fresh.shutdown().await;
    source.shutdown().await;
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let reference = common::reference();
    reference.print();
    rt.block_on(async {
        load_test(reference).await;
        sync_test(reference).await;
    });
}
