//! Tests of the node's operations side (issue 16): `GET /metrics` (checked
//! by `promtool`, bounded label cardinality), the mempool across a clean restart (and a
//! damaged saved file), mempool expiry and the dust policy over HTTP.
//!
//! Nodes run in-process on `127.0.0.1:0` (see `support::cluster`); conditions are polled
//! with a deadline, never a fixed sleep.

use crate::support;
use crate::support::chain::{coins, units, TestNet};
use crate::support::cluster::NodeBuilder;
use crate::support::http::assert_rejected;
use crate::support::{until, SETTLE};
use crate::TestResult;
use ferro::mempool::MempoolConfig;
use ferro::primitives::TxOut;

/// The exposition's sample lines (not comments).
fn samples(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .collect()
}

/// The value of the sample line that starts with `series` followed by a space.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

async fn metrics(node: &support::cluster::TestNode) -> anyhow::Result<String> {
    let reply = node.get("/metrics").await?;
    anyhow::ensure!(reply.status == 200, "GET /metrics: {}", reply.status);
    let content_type = reply.header("content-type").unwrap_or_default().to_owned();
    anyhow::ensure!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    Ok(String::from_utf8(reply.bytes)?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_report_the_node_and_pass_promtool() -> TestResult {
    let net = TestNet::new()?;
    let node = NodeBuilder::new(&net, "A").start().await?;
    node.generate(&net, 2).await?;
    let good = net.alice_pays_bob(0, coins(1), units(1_000));
    node.submit_tx(&net, &good).await?;
    // A refusal with a code: a conflicting spend.
    let conflict = net.alice_pays_bob(0, coins(2), units(5_000));
    let reply = node
        .http
        .post_json(&node.at("/transactions"), &net.tx_json(&conflict))
        .await?;
    assert_rejected(&reply, 400, "double-spend", "conflict");
    let _ = node.get("/blocks/1").await?;
    let _ = node.get("/no/such/path").await?;

    let text = metrics(&node).await?;
    for (series, expected) in [
        ("ferro_height", 2.0),
        ("ferro_mempool_transactions", 1.0),
        ("ferro_mempool_bytes", good.size() as f64),
        ("ferro_transactions_accepted_total", 1.0),
        (
            "ferro_transactions_rejected_total{code=\"double-spend\"}",
            1.0,
        ),
        ("ferro_blocks_accepted_total{status=\"connected\"}", 2.0),
        ("ferro_block_validation_seconds_count", 2.0),
        (
            "ferro_http_requests_total{method=\"GET\",route=\"/blocks/{id}\",status=\"200\"}",
            1.0,
        ),
        (
            "ferro_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"}",
            1.0,
        ),
        ("ferro_peers{state=\"connected\"}", 0.0),
        ("ferro_syncing", 0.0),
        ("ferro_sync_progress_ratio", 1.0),
    ] {
        assert_eq!(value(&text, series), Some(expected), "{series} in\n{text}");
    }
    assert!(
        value(&text, "ferro_store_commit_seconds_count").unwrap_or(0.0) >= 2.0,
        "{text}"
    );
    if test_support::tools::skipped() {
        eprintln!("promtool check skipped: FERRO_SKIP_EXTERNAL_TOOLS=1");
    } else {
        test_support::tools::promtool_check_metrics(&text)?;
    }
    node.stop().await;
    Ok(())
}

/// HTTP series are labelled by route template, never by path: 10 000 distinct junk paths
/// (and ids under a real route) add a fixed handful of series.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_junk_paths_add_no_series() -> TestResult {
    let net = TestNet::new()?;
    let node = NodeBuilder::new(&net, "A").start().await?;
    let before = samples(&metrics(&node).await?).len();
    // Concurrent raw requests on 127.0.0.1 (exempt from the request rate).
    let paths: Vec<String> = (0..10_000)
        .map(|i| match i % 4 {
            0 => format!("/junk/{i}"),
            1 => format!("/blocks/{i}x"),
            2 => format!("/transactions/{i:064x}"),
            _ => format!("/%ff{i}?q={i}"),
        })
        .collect();
    let mut statuses = std::collections::BTreeSet::new();
    for chunk in paths.chunks(100) {
        let mut set = tokio::task::JoinSet::new();
        for path in chunk {
            let url = node.at(path);
            let http = node.http.clone();
            set.spawn(async move { http.get(&url).await.map(|r| r.status.as_u16()) });
        }
        while let Some(done) = set.join_next().await {
            statuses.insert(done??);
        }
    }
    let text = metrics(&node).await?;
    let after = samples(&text);
    let http_series = after
        .iter()
        .filter(|l| l.starts_with("ferro_http_requests_total"))
        .count();
    // Three routes (unmatched, /blocks/{id}, /transactions/{txid}, /metrics) times the
    // few statuses they answered.
    assert!(
        http_series <= 4 * statuses.len().max(1) + 1,
        "{http_series}: {text}"
    );
    assert!(
        after.len() <= before + 16,
        "{} -> {}:\n{text}",
        before,
        after.len()
    );
    assert!(!text.contains("junk"), "a raw path leaked into a label");
    let total: f64 = after
        .iter()
        .filter(|l| l.starts_with("ferro_http_requests_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(total >= 10_000.0, "{total}");
    node.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_restart_keeps_the_mempool_and_a_damaged_file_is_ignored() -> TestResult {
    let net = TestNet::new()?;
    let a = NodeBuilder::new(&net, "A").start().await?;
    a.generate(&net, 1).await?;
    // A parent and its child (spending the parent's change), and an unrelated payment.
    let parent = net.alice_pays_bob(0, coins(3), units(1_000));
    let change = ferro::primitives::OutPoint {
        txid: parent.txid(),
        vout: 1,
    };
    let change_value = parent.outputs[1].value;
    let child = net.pay(
        &net.alice,
        change,
        change_value,
        &net.bob,
        coins(1),
        units(2_000),
    );
    let other = net.alice_pays_bob(1, coins(1), units(1_000));
    for tx in [&parent, &child, &other] {
        assert_eq!(a.submit_tx(&net, tx).await?["status"], "accepted");
    }
    let dir = a.stop().await;
    let saved = dir.path().join("data").join("mempool.dat");
    assert!(saved.exists(), "a clean shutdown saves the mempool");

    let a = NodeBuilder::new(&net, "A").data_dir(dir).start().await?;
    for tx in [&parent, &child, &other] {
        assert!(a.in_mempool(&tx.txid()), "{} not restored", tx.txid());
    }
    assert_eq!(a.mempool_len(), 3);
    let text = metrics(&a).await?;
    assert_eq!(value(&text, "ferro_mempool_restored_total"), Some(3.0));
    // The restored pool is mined like any other.
    a.generate(&net, 1).await?;
    assert_eq!(a.mempool_len(), 0);
    let dir = a.stop().await;

    // Damaged: every byte flipped in the middle. The node starts, empty, and serves.
    let saved = dir.path().join("data").join("mempool.dat");
    let mut bytes = std::fs::read(&saved)?;
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&saved, &bytes)?;
    let a = NodeBuilder::new(&net, "A").data_dir(dir).start().await?;
    assert_eq!(a.mempool_len(), 0);
    a.wait_healthy().await?;
    // What the start-up saw (and logged): the file refused whole, nothing admitted.
    let report = a.running.node.restore_mempool();
    assert_eq!(report.restored, 0);
    assert!(
        report
            .error
            .as_deref()
            .is_some_and(|e| e.contains("checksum")),
        "{report:?}"
    );
    assert_eq!(a.mempool_len(), 0);
    let dir = a.stop().await;

    // Hostile: a valid file of transactions that are not valid now (a spend of an
    // unknown output, a dust payment) inserts nothing.
    let ghost = net.spend(
        &net.alice,
        &[ferro::primitives::OutPoint {
            txid: ferro::primitives::Txid::default(),
            vout: 0,
        }],
        vec![TxOut {
            value: coins(1),
            pubkey_hash: net.bob.public_key().pubkey_hash(),
        }],
    );
    let dust = net.alice_pays_bob(2, units(1), units(1_000));
    // A spend of a real coin under a signature that does not verify.
    let mut forged = net.alice_pays_bob(3, coins(1), units(1_000));
    forged.inputs[0].signature.0[10] ^= 1;
    let now = support::chain::now();
    std::fs::write(
        dir.path().join("data").join("mempool.dat"),
        ferro::mempool::persist::encode(&[(ghost, now), (dust, now), (forged.clone(), now)]),
    )?;
    let a = NodeBuilder::new(&net, "A").data_dir(dir).start().await?;
    assert_eq!(a.mempool_len(), 0);
    let report = a.running.node.restore_mempool();
    assert_eq!((report.restored, report.refused), (0, 3), "{report:?}");
    assert_eq!(a.mempool_len(), 0);
    // The parallel signature check before admission vouched for nothing forged.
    assert!(!a.running.node.chain().sig_cache().contains(&forged.txid()));
    a.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_transactions_leave_with_their_descendants() -> TestResult {
    let net = TestNet::new()?;
    let config = MempoolConfig {
        expiry_secs: 2,
        ..MempoolConfig::default()
    };
    let node = NodeBuilder::new(&net, "A").mempool(config).start().await?;
    node.generate(&net, 1).await?;
    let parent = net.alice_pays_bob(0, coins(3), units(1_000));
    let change = ferro::primitives::OutPoint {
        txid: parent.txid(),
        vout: 1,
    };
    let child = net.pay(
        &net.alice,
        change,
        parent.outputs[1].value,
        &net.bob,
        coins(1),
        units(2_000),
    );
    for tx in [&parent, &child] {
        node.submit_tx(&net, tx).await?;
    }
    assert_eq!(node.mempool_len(), 2);
    // The periodic sweep (every expiry, here 2 s) drops both, without a new block.
    until(SETTLE, "expired transactions leave the mempool", || {
        node.mempool_len() == 0
    })
    .await?;
    assert_eq!(node.height(), 1);
    let text = metrics(&node).await?;
    assert_eq!(value(&text, "ferro_mempool_expired_total"), Some(2.0));
    node.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dust_outputs_are_refused_with_code_dust() -> TestResult {
    let net = TestNet::new()?;
    let node = NodeBuilder::new(&net, "A").start().await?;
    node.generate(&net, 1).await?;
    let url = node.at("/transactions");
    let dust = net.alice_pays_bob(0, units(499), units(1_000));
    let reply = node.http.post_json(&url, &net.tx_json(&dust)).await?;
    assert_rejected(&reply, 400, "dust", "an output of 499 base units");
    assert!(
        reply.message().unwrap_or_default().contains("500"),
        "{reply:?}"
    );
    let at_limit = net.alice_pays_bob(0, units(500), units(1_000));
    assert_eq!(node.submit_tx(&net, &at_limit).await?["status"], "accepted");
    node.stop().await;
    Ok(())
}
