//! Relay by announcement (issue 16, PROTOCOL.md section 8, docs/relay.md): bursts larger
//! than any queue lose nothing, late and restarted nodes get the mempool from their
//! peers, compact blocks fall back to the full block on a miss, and a peer that
//! announces and never delivers blocks nothing.

use crate::support::chain::{coins, units, TestNet};
use crate::support::cluster::{stop_all, NodeBuilder, TestNode};
use crate::support::{until, SETTLE};
use ferro::http::HttpClient;
use ferro::primitives::{Amount, OutPoint, Transaction, TxOut, Txid};
use ferro::wire::{RelayAnnounce, RelayAnnounced};
use std::sync::atomic::Ordering;
use std::time::Duration;

type TestResult = anyhow::Result<()>;

/// One premine output of alice's fanned out to `n` outputs of `each`, then one payment
/// from each of them: `n + 1` transactions, parents first.
fn fan_out(net: &TestNet, vout: u32, n: usize, each: Amount) -> Vec<Transaction> {
    let outputs = (0..n)
        .map(|_| TxOut {
            value: each,
            pubkey_hash: net.alice.public_key().pubkey_hash(),
        })
        .collect();
    let parent = net.spend(&net.alice, &[net.premine(vout)], outputs);
    let parent_txid = parent.txid();
    let mut txs = vec![parent];
    txs.extend((0..n).map(|i| {
        net.pay(
            &net.alice,
            OutPoint {
                txid: parent_txid,
                vout: i as u32,
            },
            each,
            &net.bob,
            units(10_000),
            units(1_000),
        )
    }));
    txs
}

/// Submits `txs` to `node` in-process (a burst: no HTTP round trip between them).
async fn burst(node: &TestNode, txs: Vec<Transaction>) -> anyhow::Result<()> {
    let n = node.running.node.clone();
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        for tx in txs {
            n.submit_transaction(tx)?;
        }
        Ok(())
    })
    .await??;
    Ok(())
}

async fn wait_mempool(node: &TestNode, n: usize, deadline: Duration) -> anyhow::Result<()> {
    let what = format!("{} has {n} transactions in its mempool", node.name);
    until(deadline, &what, || node.mempool_len() >= n).await
}

/// A burst far larger than the sender's relay outbox (and than one announcement or one
/// fetch) reaches every peer whole: what the outbox cannot hold is announced later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_larger_than_any_queue_reaches_every_peer() -> TestResult {
    let net = TestNet::new()?;
    let a = NodeBuilder::new(&net, "A")
        .relay_outbox(100)
        .start()
        .await?;
    let b = NodeBuilder::new(&net, "B").peer(&a).start().await?;
    let c = NodeBuilder::new(&net, "C").peer(&a).start().await?;
    a.wait_peers(2).await?;
    b.wait_peers(1).await?;
    c.wait_peers(1).await?;
    // One block so the premine is mature (coinbase_maturity 2, next height 2).
    a.generate(&net, 1).await?;
    b.wait_same_tip(&a).await?;
    c.wait_same_tip(&a).await?;
    let txs = fan_out(&net, 0, 1_500, units(50_000_000));
    let total = txs.len();
    let txids: Vec<Txid> = txs.iter().map(Transaction::txid).collect();
    burst(&a, txs).await?;
    assert_eq!(a.mempool_len(), total);
    for node in [&b, &c] {
        wait_mempool(node, total, Duration::from_secs(60)).await?;
        assert!(txids.iter().all(|t| node.in_mempool(t)), "{}", node.name);
        // Relayed back to A? No: what a peer announced is known to it.
        assert!(!node.discouraged(&a.addr()));
    }
    // B and C have them all; nothing is left waiting in A's outboxes.
    for peer in [b.addr(), c.addr()] {
        let relay = a
            .running
            .node
            .peers
            .relay_state(&peer)
            .ok_or_else(|| anyhow::anyhow!("{peer} is a peer of A"))?;
        until(SETTLE, "A's outbox drains", || relay.pending() == 0).await?;
        assert!(!relay.is_legacy(), "a current node takes announcements");
    }
    stop_all(vec![c, b, a]).await;
    Ok(())
}

/// A node that joins late gets the waiting transactions from its peer's mempool; so does
/// one that restarts after missing some while it was down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_and_restarted_nodes_get_the_mempool_from_their_peers() -> TestResult {
    let net = TestNet::new()?;
    let a = NodeBuilder::new(&net, "A").start().await?;
    a.generate(&net, 1).await?;
    let first = fan_out(&net, 0, 300, coins(1));
    let n_first = first.len();
    burst(&a, first).await?;
    let d = NodeBuilder::new(&net, "D").peer(&a).start().await?;
    wait_mempool(&d, n_first, SETTLE).await?;

    // D stops; A takes more; D comes back on its data dir and catches up.
    let dir = d.stop().await;
    let second = fan_out(&net, 1, 200, coins(1));
    let n_second = second.len();
    burst(&a, second).await?;
    let d = NodeBuilder::new(&net, "D")
        .peer(&a)
        .data_dir(dir)
        .start()
        .await?;
    wait_mempool(&d, n_first + n_second, SETTLE).await?;
    assert_eq!(d.mempool_len(), a.mempool_len());
    stop_all(vec![d, a]).await;
    Ok(())
}

/// A block whose transactions the peer has is rebuilt from its compact form; one with a
/// transaction the peer never saw makes it fetch the full block, without penalty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compact_block_with_a_missing_transaction_falls_back_to_the_full_block() -> TestResult {
    let net = TestNet::new()?;
    let a = NodeBuilder::new(&net, "A").start().await?;
    let b = NodeBuilder::new(&net, "B").peer(&a).start().await?;
    a.wait_peers(1).await?;
    b.wait_peers(1).await?;
    a.generate(&net, 1).await?;
    b.wait_same_tip(&a).await?;
    let relay = &b.running.node.relay;
    let (compact0, full0) = (
        relay.compact_rebuilt.load(Ordering::Relaxed),
        relay.full_fetched.load(Ordering::Relaxed),
    );

    // Relayed transactions, then a block of them: rebuilt from the compact form.
    let txs = fan_out(&net, 0, 20, coins(1));
    let n = txs.len();
    burst(&a, txs).await?;
    wait_mempool(&b, n, SETTLE).await?;
    a.generate(&net, 1).await?;
    b.wait_same_tip(&a).await?;
    assert_eq!(relay.compact_rebuilt.load(Ordering::Relaxed), compact0 + 1);
    assert_eq!(relay.full_fetched.load(Ordering::Relaxed), full0);
    until(SETTLE, "B's mempool empties", || b.mempool_len() == 0).await?;

    // A block holding a transaction B never saw (it reached A inside the block only).
    let unseen = net.alice_pays_bob(1, coins(5), units(1_000));
    let fee = units(1_000);
    let block =
        crate::support::chain::seal(net.template(&a.parent_info(), vec![(unseen.clone(), fee)]));
    let reply = a
        .http
        .post_binary(
            &a.at("/blocks"),
            ferro::primitives::Encode::to_bytes(&block),
        )
        .await?;
    anyhow::ensure!(
        reply.status.is_success(),
        "A takes the block: {}",
        reply.body
    );
    b.wait_same_tip(&a).await?;
    assert_eq!(b.tip(), block.hash());
    assert_eq!(relay.full_fetched.load(Ordering::Relaxed), full0 + 1);
    assert!(
        !b.discouraged(&a.addr()),
        "a failed rebuild is not punished"
    );
    stop_all(vec![b, a]).await;
    Ok(())
}

/// A peer that announces a transaction and never answers the fetch does not keep it
/// from arriving through another peer; a peer whose answer does not decode is punished,
/// one that merely times out is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_announces_and_never_delivers_does_not_block_another() -> TestResult {
    let net = TestNet::new()?;
    let b = NodeBuilder::new(&net, "B").start().await?;
    b.generate(&net, 1).await?;
    // A silent "peer": accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let silent_addr = silent.local_addr()?.to_string();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let tx = net.alice_pays_bob(0, coins(3), units(1_000));
    let client = HttpClient::new();
    let claim = RelayAnnounce {
        from: silent_addr.clone(),
        txids: vec![tx.txid().to_hex()],
        blocks: Vec::new(),
    };
    let answer: RelayAnnounced = client
        .post_json(&b.at("/relay/announce"), &claim, Duration::from_secs(5))
        .await?;
    assert_eq!((answer.taken, answer.wanted), (1, 1));
    // B now asks the silent peer. An honest node gets the transaction and announces it.
    let a = NodeBuilder::new(&net, "A").peer(&b).start().await?;
    a.wait_peers(1).await?;
    b.wait_peers(1).await?;
    a.wait_same_tip(&b).await?;
    a.submit_tx(&net, &tx).await?;
    b.wait_in_mempool(&tx.txid()).await?;
    assert!(!b.discouraged(&silent_addr), "a timeout is never punished");
    holder.abort();

    // A "peer" whose fetch answer does not decode is discouraged.
    let liar = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let liar_addr = liar.local_addr()?.to_string();
    let app = axum::Router::new().route(
        "/relay/transactions",
        axum::routing::post(|| async {
            (
                [(axum::http::header::CONTENT_TYPE, "application/octet-stream")],
                vec![9u8, 0, 0, 0, 1, 2, 3],
            )
        }),
    );
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn(ferro::http::server::serve(
        liar,
        app,
        ferro::http::ServerLimits::default(),
        None,
        stop.clone(),
    ));
    let other = net.alice_pays_bob(1, coins(3), units(1_000));
    let claim = RelayAnnounce {
        from: liar_addr.clone(),
        txids: vec![other.txid().to_hex()],
        blocks: Vec::new(),
    };
    let _: RelayAnnounced = client
        .post_json(&b.at("/relay/announce"), &claim, Duration::from_secs(5))
        .await?;
    until(SETTLE, "B discourages the peer that sent garbage", || {
        b.discouraged(&liar_addr)
    })
    .await?;
    // Its announcements are refused from then on.
    let refused = client
        .post_json::<_, RelayAnnounced>(&b.at("/relay/announce"), &claim, Duration::from_secs(5))
        .await;
    assert!(
        refused.as_ref().err().and_then(|e| e.code()) == Some("discouraged"),
        "{refused:?}"
    );
    stop.cancel();
    stop_all(vec![a, b]).await;
    Ok(())
}

/// `GET /mempool` pages with `limit` and `after`, and carries the tip.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mempool_is_paged_and_names_its_tip() -> TestResult {
    let net = TestNet::new()?;
    let a = NodeBuilder::new(&net, "A").start().await?;
    a.generate(&net, 1).await?;
    let txs = fan_out(&net, 0, 24, coins(1));
    burst(&a, txs).await?;
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let path = match &after {
            Some(t) => format!("/mempool?limit=10&after={t}"),
            None => "/mempool?limit=10".to_string(),
        };
        let page = a.get(&path).await?.ok()?;
        assert_eq!(page["count"], 25);
        assert_eq!(page["tip_hash"], a.tip().to_hex());
        let txids: Vec<String> = page["txids"]
            .as_array()
            .map(|v| {
                v.iter()
                    .filter_map(|t| t.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        assert!(txids.len() <= 10);
        let last = txids.last().cloned();
        seen.extend(txids);
        match last {
            Some(t) if seen.len() < 25 => after = Some(t),
            _ => break,
        }
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 25);
    let info = a.get("/info").await?.ok()?;
    for feature in [
        "relay-announce",
        "relay-transactions",
        "compact-blocks",
        "mempool-pages",
    ] {
        assert!(
            info["features"]
                .as_array()
                .is_some_and(|f| f.iter().any(|x| x == feature)),
            "{feature} in {}",
            info["features"]
        );
    }
    let gone = "00".repeat(32);
    let reply = a.get(&format!("/mempool?after={gone}")).await?;
    crate::support::http::assert_rejected(&reply, 404, "not-found", "after a txid not in the pool");
    stop_all(vec![a]).await;
    Ok(())
}

/// Issue 16 review, item 1: `prewarm_signatures` takes the chain and mempool locks on
/// its calling thread only. The block writer holds the chain write lock while it waits
/// on rayon workers; if prewarm closures waited on a node lock inside rayon, the writer
/// and the workers would wait on each other forever. Here a node lock is held while a
/// rayon job runs (as the writer does) during a prewarm: the job must finish.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prewarming_signatures_never_holds_rayon_workers_on_a_node_lock() -> TestResult {
    let net = TestNet::new()?;
    let a = NodeBuilder::new(&net, "A").start().await?;
    a.generate(&net, 1).await?;
    let txs = fan_out(&net, 0, 4 * rayon::current_num_threads() + 4, units(20_000));
    let node = a.running.node.clone();
    let outcome = tokio::task::spawn_blocking(move || -> anyhow::Result<bool> {
        let held = node.mempool();
        let n = node.clone();
        let prewarm = std::thread::spawn(move || n.prewarm_signatures(&txs));
        // A head start for the prewarm to reach its parallel part (it cannot finish
        // while the lock is held). Too short a head start could only hide a
        // regression, never fail a correct build.
        let start = std::time::Instant::now();
        while start.elapsed() < Duration::from_millis(300) && !prewarm.is_finished() {
            std::thread::sleep(Duration::from_millis(5));
        }
        // The writer's part: rayon work while holding a node lock.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use rayon::prelude::*;
            let sum: u64 = (0..10_000u64).into_par_iter().sum();
            let _ = tx.send(sum);
        });
        let finished = rx.recv_timeout(Duration::from_secs(20)).is_ok();
        drop(held);
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !prewarm.is_finished() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(finished && prewarm.is_finished())
    })
    .await??;
    assert!(
        outcome,
        "rayon work under a node lock did not finish while signatures were prewarmed"
    );
    stop_all(vec![a]).await;
    Ok(())
}
