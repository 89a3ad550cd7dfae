//! 300 slow-body and 300 idle, reconnecting connections from one source (127.0.0.2)
//! must not keep the node from answering anyone else (issue 12, PROTOCOL.md section 9):
//! every `/health` poll from an honest source (127.0.0.3) is answered within 2 s, and a
//! block an honest peer (127.0.0.4) pushes is connected, while the flood runs.

use super::{client_from, ip, TestResult};
use crate::support::chain::TestNet;
use crate::support::cluster::{stop_all, NodeBuilder, TestNode};
use ferro::wire::Health;
use std::time::{Duration, Instant};
use test_support::flood::{Flood, Kind};
use test_support::{until, SETTLE};

/// How long the honest client keeps polling under the flood.
const UNDER_FIRE: Duration = Duration::from_secs(12);
/// The slowest answer the honest client accepts.
const PROMPT: Duration = Duration::from_secs(2);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_floods_from_one_source_leave_others_served() -> TestResult {
    let net = TestNet::new()?;
    // Fewer slots than the attacker has connections: without per-source caps the flood
    // would hold them all (the old server's 256).
    let n = NodeBuilder::new(&net, "N")
        .max_connections(256)
        .start()
        .await?;
    let h = NodeBuilder::new(&net, "H")
        .listen("127.0.0.4")
        .peer(&n)
        .start()
        .await?;
    let target = n.running.addr;
    let slow = Flood::start(ip("127.0.0.2"), target, Kind::SlowBody, 300);
    let idle = Flood::start(ip("127.0.0.2"), target, Kind::Idle, 300);
    until(SETTLE, "the flood has opened its 600 connections", || {
        slow.connects() >= 300 && idle.connects() >= 300
    })
    .await?;

    let started = Instant::now();
    let mut polls = 0;
    let mut slowest = Duration::ZERO;
    while started.elapsed() < UNDER_FIRE {
        let asked = Instant::now();
        // A fresh client each time: a new connection must get through, not only a
        // pooled one.
        let health: Health = client_from("127.0.0.3")
            .get_json(&n.at("/health"), PROMPT)
            .await
            .map_err(|e| anyhow::anyhow!("poll {polls} under the flood failed: {e}"))?;
        assert_eq!(health.status, "ok");
        slowest = slowest.max(asked.elapsed());
        polls += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "{polls} honest polls answered, slowest {slowest:?}; the flood opened {} slow and {} idle connections, {} and {} were cut",
        slow.connects(),
        idle.connects(),
        slow.cuts(),
        idle.cuts()
    );
    assert!(slowest < PROMPT);

    // The honest peer's block gets in while the flood goes on.
    h.generate(&net, 1).await?;
    n.wait_same_tip(&h).await?;
    // The server cut attacking connections (refused over the cap, or timed out) rather
    // than holding 600 of them.
    assert!(slow.cuts() > 0 && idle.cuts() > 0);
    drop((slow, idle));
    stop_all(vec![h, n]).await;
    Ok(())
}

/// Starts `/mining/generate` of `blocks` blocks on `n` in the background, asking again
/// while it is refused with 503 (a poll of the test may hold the only permit when it
/// arrives: that refusal is the one under test, not a failure of the job).
fn generate_until_admitted(
    n: &TestNode,
    net: &TestNet,
    blocks: u64,
) -> tokio::task::JoinHandle<anyhow::Result<crate::support::http::Reply>> {
    let url = n.at("/mining/generate");
    let address = net.address(&net.miner);
    tokio::spawn(async move {
        loop {
            let reply = crate::support::http::Http::new()
                .post_json(
                    &url,
                    &serde_json::json!({"blocks": blocks, "address": address}),
                )
                .await;
            match reply {
                Ok(r) if r.status == 503 => tokio::time::sleep(Duration::from_millis(5)).await,
                other => return other,
            }
        }
    })
}

/// Work a handler started on a blocking thread is bounded, however many requests ask:
/// with one job allowed, a long `/mining/generate` holds it, every other request that
/// needs the chain is answered 503 `not-ready` with `Retry-After` at once (never queued
/// behind it), and the node answers again when the job ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_requests_are_served_while_api_work_is_saturated() -> TestResult {
    // One API permit, held by a long job: the JSON API refuses at once, while a peer's
    // announcement (its own permits) is still taken.
    let net = TestNet::new()?;
    let n = NodeBuilder::new(&net, "N").blocking_work(1).start().await?;
    let long = generate_until_admitted(&n, &net, 1000);
    let tx = net.alice_pays_bob(
        0,
        ferro::primitives::Amount::from_coins(1)?,
        ferro::primitives::Amount::from_base_units(1_000)?,
    );
    let claim = serde_json::json!({
        "from": "127.0.0.1:9",
        "txids": [tx.txid().to_hex()],
        "blocks": [],
    });
    let mut saturated = false;
    let mut announced = None;
    let started = Instant::now();
    while announced.is_none() && !long.is_finished() && started.elapsed() < SETTLE {
        let info = crate::support::http::Http::new()
            .get(&n.at("/info"))
            .await?;
        if info.status != 503 {
            continue;
        }
        saturated = true;
        let reply = crate::support::http::Http::new()
            .post_json(&n.at("/relay/announce"), &claim)
            .await?;
        announced = Some(reply);
    }
    assert!(saturated, "the job held the only API permit");
    let announced = announced.ok_or_else(|| anyhow::anyhow!("no announcement was sent"))?;
    assert_eq!(announced.status, 200, "{announced:?}");
    long.await??.ok()?;
    n.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_work_is_bounded_and_refused_at_once() -> TestResult {
    let net = TestNet::new()?;
    let n = NodeBuilder::new(&net, "N").blocking_work(1).start().await?;
    let long = generate_until_admitted(&n, &net, 1000);
    // Poll until one answer is the refusal (the generate must have taken the permit).
    let mut refused = None;
    let started = Instant::now();
    while refused.is_none() && !long.is_finished() && started.elapsed() < SETTLE {
        let asked = Instant::now();
        let reply = crate::support::http::Http::new()
            .get(&n.at("/info"))
            .await?;
        if reply.status == 503 {
            assert!(asked.elapsed() < PROMPT, "the refusal waited");
            refused = Some(reply);
        }
    }
    let refused = refused.ok_or_else(|| {
        anyhow::anyhow!("no request was refused while the job held the only permit")
    })?;
    assert_eq!(refused.code(), Some("not-ready"));
    assert_eq!(refused.header("retry-after"), Some("1"));
    let generated = long.await??.ok()?;
    assert_eq!(generated["hashes"].as_array().map(Vec::len), Some(1000));
    let health: Health = client_from("127.0.0.3")
        .get_json(&n.at("/health"), PROMPT)
        .await?;
    assert_eq!(health.height, 1000);
    n.stop().await;
    Ok(())
}
