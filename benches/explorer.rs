//! Explorer benchmark: server-side render time of each page kind against a chain of
//! 1 000 blocks of 100 payments each paying a new address (100 000 funded addresses), and
//! 10 000 payments in the mempool, and the home page over HTTP with and without 1 000 open `GET /events` streams (blocks
//! mined meanwhile, so every stream is sent events).
//!
//! Run: `cargo bench --bench explorer` (a plain harness). Figures: p50 / p99 / max in ms.

mod common;

use ferro::chain::{ChainState, DiskStore};
use ferro::explorer::{pages, Explorer};
use ferro::node::{Node, NodeConfig};
use ferro::primitives::Block;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BLOCKS: usize = 1_000;
const TXS_PER_BLOCK: usize = 100;
const ROUNDS: usize = 300;
const STREAMS: usize = 1_000;
/// Blocks' worth of payments (100 each) left in the mempool.
const MEMPOOL_BLOCKS: usize = 100;

/// p50, p99 and max of `samples` (seconds), in ms.
fn percentiles(samples: &mut [f64]) -> (f64, f64, f64) {
    samples.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    (at(0.50) * 1e3, at(0.99) * 1e3, at(1.0) * 1e3)
}

fn time_page(name: &str, mut render: impl FnMut() -> usize) -> f64 {
    let mut samples = Vec::with_capacity(ROUNDS);
    let mut bytes = 0;
    for _ in 0..ROUNDS {
        let t = Instant::now();
        bytes = render();
        samples.push(t.elapsed().as_secs_f64());
    }
    let (p50, p99, max) = percentiles(&mut samples);
    println!("{name:<34} p50 {p50:6.2} ms  p99 {p99:6.2} ms  max {max:6.2} ms  ({bytes} bytes)");
    p99
}

fn render_all(ex: &Explorer, blocks: &[Block], payee: &str, key_address: &str) -> f64 {
    let mid = &blocks[BLOCKS / 2];
    let mid_hash = mid.hash().to_hex();
    let txid = mid.transactions[1].txid().to_hex();
    let page = |m: Result<maud::Markup, ferro::http::ApiError>| -> usize {
        m.map(|m| m.into_string().len()).unwrap_or_else(|e| {
            panic!("page failed: {}", e.message());
        })
    };
    let mut worst: f64 = 0.0;
    worst = worst.max(time_page("home", || page(pages::home(ex))));
    worst = worst.max(time_page("block (101 txs, page 1)", || {
        page(pages::block(ex, &mid_hash, 1))
    }));
    worst = worst.max(time_page("block by height", || {
        page(pages::block(ex, "999", 1))
    }));
    worst = worst.max(time_page("tx (confirmed)", || {
        page(pages::transaction(ex, &txid, 1))
    }));
    worst = worst.max(time_page("address (1 payment)", || {
        page(pages::address(ex, payee, None))
    }));
    worst = worst.max(time_page("address (1 000 txs, page 1)", || {
        page(pages::address(ex, key_address, None))
    }));
    worst = worst.max(time_page("rich list page 1", || {
        page(pages::rich_list(ex, 1))
    }));
    worst = worst.max(time_page("rich list page 20 (ranks 951-1000)", || {
        page(pages::rich_list(ex, 20))
    }));
    worst = worst.max(time_page("mempool (10 000 txs)", || {
        page(pages::mempool(ex))
    }));
    worst = worst.max(time_page("peers", || page(pages::peers(ex))));
    worst = worst.max(time_page("search (txid)", || {
        pages::search_target(&ex.node, &txid).map_or(0, |s| s.len())
    }));
    worst
}

/// `GET /explorer/` `ROUNDS` times, one connection each; p99 in ms.
async fn home_over_http(addr: std::net::SocketAddr, label: &str) -> f64 {
    let mut samples = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let t = Instant::now();
        let reply = test_support::http::exchange(None, addr, "GET", "/explorer/", None, &[])
            .await
            .expect("home page");
        assert!(reply.status.is_success(), "{}", reply.status);
        samples.push(t.elapsed().as_secs_f64());
    }
    let (p50, p99, max) = percentiles(&mut samples);
    println!("{label:<34} p50 {p50:6.2} ms  p99 {p99:6.2} ms  max {max:6.2} ms");
    p99
}

/// Mines a block every 100 ms, 20 in all; how many joined the chain.
fn spawn_miner(node: Arc<Node>, to: ferro::primitives::PubkeyHash) -> tokio::task::JoinHandle<u64> {
    tokio::spawn(async move {
        let mut mined = 0u64;
        for _ in 0..20 {
            let node = Arc::clone(&node);
            if let Ok(Ok(Some(_))) = tokio::task::spawn_blocking(move || node.mine_one(to)).await {
                mined += 1;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        mined
    })
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let keys = common::keys(TXS_PER_BLOCK);
    let net = common::network(
        "explorerbench",
        &keys,
        1,
        ferro::clock::unix_now() - 100_000,
    );
    let t = Instant::now();
    // Blocks past the connected ones: their payments (chains of unconfirmed spends) go to
    // the mempool.
    let mut blocks = common::build_chain(&net, &keys, BLOCKS + MEMPOOL_BLOCKS);
    let pending = blocks.split_off(BLOCKS);
    eprintln!(
        "built {BLOCKS} blocks of {TXS_PER_BLOCK} payments in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    {
        let store = DiskStore::open(&data.join("chain.redb")).expect("db");
        let mut chain = ChainState::open_with_cache(store, net.clone(), 256 << 20).expect("opens");
        for run in blocks.chunks(50) {
            let (_, rest, failure) = chain.connect_run(run.to_vec(), ferro::clock::unix_now());
            assert!(rest.is_empty() && failure.is_none(), "valid run");
        }
        chain.flush().expect("flush");
        let totals = chain.totals().expect("totals");
        eprintln!(
            "chain: height {}, {} addresses ever funded, {} transactions",
            chain.height(),
            totals.addresses,
            totals.transactions
        );
    }
    let mut cfg = NodeConfig::new(net.clone(), data, "127.0.0.1:0".parse().expect("addr"));
    cfg.allow_generate = true;
    cfg.server.max_connections = 4 * STREAMS;
    let running = ferro::daemon::run(cfg).await.expect("node starts");
    let node: Arc<Node> = Arc::clone(&running.node);
    for block in pending {
        for tx in block.transactions.into_iter().skip(1) {
            node.submit_transaction(tx).expect("a valid payment");
        }
    }
    eprintln!("mempool: {} transactions", node.mempool().len());
    let ex = Explorer::new(Arc::clone(&node));
    let hrp = net.params.address_hrp.clone();
    let payee = ferro::json::address_string(&common::payee(12_345), &hrp);
    let key_address = ferro::json::address_string(&keys[7].public_key().pubkey_hash(), &hrp);

    println!(
        "== server-side render, {BLOCKS} blocks, 100 000 funded addresses, {ROUNDS} rounds each"
    );
    let worst = {
        let ex = ex.clone();
        let blocks = blocks.clone();
        tokio::task::spawn_blocking(move || render_all(&ex, &blocks, &payee, &key_address))
            .await
            .expect("renders")
    };
    println!("worst page p99: {worst:.2} ms");

    let addr = running.addr;
    let to = keys[0].public_key().pubkey_hash();
    // Confirm the mempool first, so both HTTP phases below mine small blocks alike.
    {
        let node = Arc::clone(&node);
        tokio::task::spawn_blocking(move || {
            while !node.mempool().is_empty() {
                node.mine_one(to).expect("mines");
            }
        })
        .await
        .expect("mined the mempool");
    }
    println!(
        "== GET /explorer/ over HTTP (one connection per request), a block mined every 100 ms"
    );
    let miner = spawn_miner(Arc::clone(&node), to);
    let quiet = home_over_http(addr, "no event streams").await;
    let _ = miner.await;

    // 1 000 open streams, each read to the end by its own task.
    let received = Arc::new(AtomicU64::new(0));
    let mut readers = Vec::new();
    for _ in 0..STREAMS {
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        stream
            .write_all(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("request");
        let received = Arc::clone(&received);
        readers.push(tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            let mut head = true;
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let text = String::from_utf8_lossy(&buf[..n]);
                        if head {
                            assert!(text.starts_with("HTTP/1.1 200"), "{text}");
                            head = false;
                        }
                        received.fetch_add(
                            text.matches("event: block").count() as u64,
                            Ordering::Relaxed,
                        );
                    }
                }
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while node.events().subscribers() < STREAMS {
        assert!(Instant::now() < deadline, "streams did not all open");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Blocks mined meanwhile: every stream is sent every block.
    let miner = spawn_miner(Arc::clone(&node), to);
    let busy = home_over_http(addr, &format!("{STREAMS} open event streams")).await;
    let mined = miner.await.expect("miner");
    let deadline = Instant::now() + Duration::from_secs(30);
    while received.load(Ordering::Relaxed) < mined * STREAMS as u64 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "{mined} blocks mined meanwhile; block events delivered: {} of {}",
        received.load(Ordering::Relaxed),
        mined * STREAMS as u64
    );
    println!("p99 ratio, {STREAMS} streams / none: {:.2}", busy / quiet);
    running.shutdown().await;
    for r in readers {
        r.abort();
    }
}
