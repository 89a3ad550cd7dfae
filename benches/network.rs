//! Network load benchmark (issue "Full node"), with real nodes on 127.0.0.1:
//! 1. transactions accepted per second over HTTP by node A with concurrent clients, and
//!    the delay until node B (A's peer) has them;
//! 2. blocks per second when a new node syncs 2 000 full blocks from a peer;
//! 3. relay (issue 16, docs/relay.md): the delay until a peer has a burst of 4 000
//!    transactions after the sender accepted the last, the bytes of a 1 000-transaction
//!    block whose transactions the peer has (compact) against the full block, and the
//!    time a joining node takes to get 5 000 waiting transactions.
//!
//! Run: `scripts/load.sh` (or `cargo bench --bench network`; `-- relay` for part 3
//! alone). Each figure is measured once over the whole workload.

mod common;

use ferro::daemon::{run, RunningNode};
use ferro::http::HttpClient;
use ferro::node::NodeConfig;
use ferro::primitives::{Encode, OutPoint, Transaction, COIN};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

const CLIENTS: usize = 8;
const LOAD_TXS: usize = 4_000;
const SYNC_BLOCKS: usize = 2_000;
const SYNC_TXS_PER_BLOCK: usize = 50;
const RELAY_BURST: usize = 4_000;
const RELAY_BLOCK_TXS: usize = 1_000;
const RELAY_JOIN_TXS: usize = 5_000;

async fn start(
    net: &ferro::consensus::Network,
    dir: &std::path::Path,
    peers: Vec<String>,
) -> RunningNode {
    start_with(net, dir, peers, Duration::from_millis(200)).await
}

/// A node whose sync loop polls its peers every `sync_interval`.
async fn start_with(
    net: &ferro::consensus::Network,
    dir: &std::path::Path,
    peers: Vec<String>,
    sync_interval: Duration,
) -> RunningNode {
    let mut cfg = NodeConfig::new(
        net.clone(),
        dir.to_path_buf(),
        "127.0.0.1:0".parse().expect("addr"),
    );
    cfg.allow_generate = true;
    cfg.peers = peers;
    cfg.sync_interval = sync_interval;
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

/// Mines one block on the node at `url`, paying `reward`.
async fn generate_one(client: &HttpClient, url: &str, reward: &ferro::primitives::Address) {
    let _: serde_json::Value = client
        .post_json(
            &format!("{url}/mining/generate"),
            &serde_json::json!({"blocks": 1, "address": reward.to_string()}),
            Duration::from_secs(60),
        )
        .await
        .expect("generate");
}

/// Posts every transaction of `txs` to `url`/transactions from [`CLIENTS`] concurrent
/// clients (single-transaction requests); the seconds it took.
async fn post_concurrently(client: &HttpClient, url: &str, txs: &Arc<Vec<Vec<u8>>>) -> f64 {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let txs = txs.clone();
        let url = format!("{url}/transactions");
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
    started.elapsed().as_secs_f64()
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
    generate_one(&client, &a.url(), &reward).await;
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
    // Goal 4 on its own: a node with no peer, so nothing else competes for the two cores
    // (the same transactions, on its own copy of the chain).
    let lone = start(&net, &dir.path().join("lone"), vec![]).await;
    generate_one(&client, &lone.url(), &reward).await;
    let accept = post_concurrently(&client, &lone.url(), &txs).await;
    let rate = LOAD_TXS as f64 / accept;
    println!(
        "accept (a node without peers): {LOAD_TXS} transactions from {CLIENTS} concurrent clients in {accept:.2} s = {rate:.0} tx/s = {:.2} x cores x single-core verify (goal 4: >= 0.25)",
        rate / (reference.cores as f64 * reference.single_core_verify)
    );
    lone.shutdown().await;
    let started = Instant::now();
    let accept = post_concurrently(&client, &a.url(), &txs).await;
    let rate = LOAD_TXS as f64 / accept;
    println!(
        "accept by A while its peer B fetches and verifies them on the same cores: {LOAD_TXS} transactions from {CLIENTS} concurrent clients in {accept:.2} s = {rate:.0} tx/s = {:.2} x cores x single-core verify",
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

/// Part 3: relay by announcement.
async fn relay_test() {
    let keys = common::keys(50);
    let total = RELAY_BURST + RELAY_BLOCK_TXS + RELAY_JOIN_TXS;
    let net = common::network("relaybench", &keys, total / 50 + 1, now() - 3_600);
    let genesis_txid = net.genesis.transactions[0].txid();
    let make = |from: usize, to: usize| -> Vec<Transaction> {
        (from..to)
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
            })
            .collect()
    };
    let burst = make(0, RELAY_BURST);
    let block_txs = make(RELAY_BURST, RELAY_BURST + RELAY_BLOCK_TXS);
    let join_txs = make(RELAY_BURST + RELAY_BLOCK_TXS, total);
    let dir = tempfile::tempdir().expect("temp dir");
    // Sync polls rarely, so blocks reach B by relay (announcement, compact block).
    let slow = Duration::from_secs(60);
    let a = start_with(&net, &dir.path().join("a"), vec![], slow).await;
    let b = start_with(&net, &dir.path().join("b"), vec![a.addr.to_string()], slow).await;
    wait_for("peering", Duration::from_secs(20), || {
        a.node.peers.len() == 1 && b.node.peers.len() == 1
    })
    .await;
    let client = HttpClient::new();
    let reward =
        ferro::primitives::Address::new("fbench", keys[0].public_key().pubkey_hash()).expect("hrp");
    let a_url = a.url();
    let generate = || generate_one(&client, &a_url, &reward);
    generate().await;
    wait_for("block on B", Duration::from_secs(20), || {
        b.node.chain().height().get() == 1
    })
    .await;

    // 1. A burst accepted by A as fast as it validates (in-process, one thread).
    let submit_all = |txs: Vec<Transaction>| {
        let node = a.node.clone();
        tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            for tx in txs {
                node.submit_transaction(tx).expect("accepted");
            }
            started.elapsed()
        })
    };
    let accept = submit_all(burst).await.expect("burst task");
    let lag = wait_for("B has the burst", Duration::from_secs(120), || {
        b.node.mempool().len() == RELAY_BURST
    })
    .await;
    println!(
        "relay: a burst of {RELAY_BURST} transactions accepted by A in {:.0} ms reached B {:.0} ms after A accepted the last (goal: < 100 ms)",
        accept.as_secs_f64() * 1e3,
        lag.as_secs_f64() * 1e3
    );

    // 2. A block of 1 000 transactions B already has: compact against full bytes.
    generate().await;
    wait_for("B confirms the burst", Duration::from_secs(60), || {
        b.node.chain().height().get() == 2 && b.node.mempool().is_empty()
    })
    .await;
    submit_all(block_txs).await.expect("block txs task");
    wait_for(
        "B has the block's transactions",
        Duration::from_secs(60),
        || b.node.mempool().len() == RELAY_BLOCK_TXS,
    )
    .await;
    let rebuilt_before = b.node.relay.compact_rebuilt.load(Ordering::Relaxed);
    let full_before = b.node.relay.full_fetched.load(Ordering::Relaxed);
    let t = Instant::now();
    generate().await;
    let tip = a.node.chain().tip_hash();
    let took = wait_for("B has the block", Duration::from_secs(60), || {
        b.node.chain().tip_hash() == tip
    })
    .await;
    let block = a
        .node
        .chain()
        .block(&tip)
        .expect("store")
        .expect("tip block");
    let full = block.to_bytes().len();
    let compact = ferro::net::relay_compact::CompactBlock::new(&block, 0)
        .expect("coinbase")
        .to_bytes()
        .len();
    let rebuilt = b.node.relay.compact_rebuilt.load(Ordering::Relaxed) - rebuilt_before;
    let fetched_full = b.node.relay.full_fetched.load(Ordering::Relaxed) - full_before;
    println!(
        "relay: a block of {} transactions B had reached it as a compact block of {compact} bytes against {full} bytes full = {:.1} % (goal: < 20 %); rebuilt {rebuilt}, full fetches {fetched_full}, {:.0} ms after mining started",
        block.transactions.len() - 1,
        100.0 * compact as f64 / full as f64,
        (took.max(t.elapsed())).as_secs_f64() * 1e3,
    );

    // 3. A node joining a network with 5 000 waiting transactions.
    submit_all(join_txs).await.expect("join txs task");
    wait_for(
        "B has the waiting transactions",
        Duration::from_secs(60),
        || b.node.mempool().len() == RELAY_JOIN_TXS,
    )
    .await;
    let started = Instant::now();
    let c = start(&net, &dir.path().join("c"), vec![a.addr.to_string()]).await;
    let joined = wait_for("C has the mempool", Duration::from_secs(120), || {
        c.node.mempool().len() == RELAY_JOIN_TXS
    })
    .await;
    println!(
        "relay: a node joining with {RELAY_JOIN_TXS} transactions waiting had them all {:.2} s after it started ({:.2} s after its start returned; chain of 3 blocks synced first) (goal: < 5 s)",
        started.elapsed().as_secs_f64(),
        joined.as_secs_f64()
    );
    c.shutdown().await;
    b.shutdown().await;
    a.shutdown().await;
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
    let relay_only = std::env::args().any(|a| a == "relay");
    rt.block_on(async {
        if !relay_only {
            load_test(reference).await;
            sync_test(reference).await;
        }
        relay_test().await;
    });
}
