//! Attacks by one hostile peer (issue 10, PROTOCOL.md section 9), against in-process
//! nodes: every bad-answer mode of a fake peer that claims enormous work, a low-work
//! branch longer than one headers answer, honest behaviour that must never be punished,
//! and announcements that try to fill the peer table.

use crate::support::chain::{coins, now, solve, units, TestNet};
use crate::support::cluster::{stop_all, NodeBuilder, TestNode};
use crate::support::hostile::{chain_on, Claims, FakePeer, Mode};
use crate::support::until;
use ferro::http::HttpClient;
use ferro::primitives::BlockHash;
use serde_json::{json, Value};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

type TestResult = anyhow::Result<()>;

/// The sync deadline of the victims: short, so that a stalling peer costs little.
const DEADLINE: Duration = Duration::from_secs(2);

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap_or(IpAddr::from([127, 0, 0, 1]))
}

/// A client whose connections leave from `source` (another "host" on loopback).
fn client_from(source: &str) -> HttpClient {
    HttpClient::with_options(1 << 20, Some(ip(source)))
}

async fn post_from(source: &str, url: &str, body: &Value) -> Result<Value, String> {
    client_from(source)
        .post_json::<_, Value>(url, body, Duration::from_secs(10))
        .await
        .map_err(|e| e.code().unwrap_or("no code").to_string())
}

/// The fake's claims: this network's genesis, height 10^9, work ff…ff.
fn huge_claims(net: &TestNet) -> Claims {
    Claims::huge(&net.network.params.name, net.network.genesis.clone())
}

/// Claims of a peer that is behind us (nobody syncs from it).
fn no_claims(net: &TestNet) -> Claims {
    Claims {
        height: 0,
        chain_work: "00".repeat(32),
        ..huge_claims(net)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_answer_mode_is_survived_and_judged() -> TestResult {
    let net = TestNet::new()?;
    let a = NodeBuilder::new(&net, "A").start().await?;
    a.generate(&net, 30).await?;
    // (mode, punished): what section 9 punishes is discouraged; a slow peer or one
    // answering 429 is only set aside.
    let modes = [
        (Mode::Empty, true),
        (Mode::Endless, true),
        (Mode::Slow, false),
        (Mode::Oversized, true),
        (Mode::RandomBytes, true),
        (Mode::GenesisLoop, true),
        (Mode::NoPow, true),
        (Mode::NotLinking, true),
        (Mode::MoreThanAsked, true),
        (Mode::RateLimited, false),
    ];
    for (mode, punished) in modes {
        let fake = FakePeer::start(ip("127.0.0.1"), huge_claims(&net), mode.clone())?;
        let fake_addr = fake.addr.to_string();
        let started = Instant::now();
        // The fake is the first peer, and claims far more work than A.
        let d = NodeBuilder::new(&net, "D")
            .peer_addr(fake_addr.clone())
            .peer(&a)
            .sync_deadline(DEADLINE)
            .start()
            .await?;
        let what = format!("D syncs A's chain despite a {mode:?} fake");
        // Two deadlines, plus time to start D and probe its two peers on a busy machine.
        until(2 * DEADLINE + Duration::from_secs(5), &what, || {
            d.tip() == a.tip()
        })
        .await?;
        eprintln!("{mode:?}: synced in {:?}", started.elapsed());
        assert!(
            fake.sync_requests() > 0,
            "{mode:?}: the fake was never asked"
        );
        if punished {
            until(DEADLINE, "the fake is discouraged", || {
                d.discouraged(&fake_addr)
            })
            .await?;
            assert!(
                !d.running.node.peers.contains(&fake_addr),
                "{mode:?}: still a peer"
            );
            let listed = d.get("/nodes").await?.ok()?;
            assert!(!listed.to_string().contains(&fake_addr), "{mode:?}: listed");
        } else {
            assert!(
                !d.discouraged(&fake_addr),
                "{mode:?}: an honest-looking failure was punished"
            );
            assert!(d.set_aside(&fake_addr), "{mode:?}: not set aside");
        }
        assert!(
            !d.discouraged(&a.addr()),
            "{mode:?}: the honest peer was discouraged"
        );
        // Nothing of the fake was stored.
        assert_eq!(d.stored_headers(), 31, "{mode:?}");
        d.stop().await;
    }
    stop_all(vec![a]).await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn low_work_branch_longer_than_one_headers_answer_is_never_stored() -> TestResult {
    let net = TestNet::new()?;
    let a = NodeBuilder::new(&net, "A")
        .sync_deadline(DEADLINE)
        .start()
        .await?;
    for _ in 0..3 {
        a.generate(&net, 700).await?;
    }
    let stored = a.stored_headers();
    assert_eq!(stored, 2_101);
    // 2 050 valid headers from genesis: more than one answer, less work than A's chain.
    let branch = Arc::new(chain_on(&net.network.genesis, 2_050, true));
    let fake = FakePeer::start(
        ip("127.0.0.1"),
        huge_claims(&net),
        Mode::Branch(branch.clone()),
    )?;
    let fake_addr = fake.addr.to_string();
    let answer = a
        .http
        .post_json(&a.at("/nodes"), &json!({"address": fake_addr}))
        .await?
        .ok()?;
    assert_eq!(answer["status"], "added");
    until(Duration::from_secs(20), "A discourages the fake", || {
        a.discouraged(&fake_addr)
    })
    .await?;
    // A looked at all of it: two headers answers at least.
    assert!(
        fake.sync_requests() >= 2,
        "{} requests",
        fake.sync_requests()
    );
    assert_eq!(
        a.stored_headers(),
        stored,
        "headers or blocks of the branch were stored"
    );
    for header in [&branch[0], &branch[1_999], &branch[2_049]] {
        let hash: BlockHash = header.hash();
        assert!(!a.knows_block(&hash));
        let reply = a.get(&format!("/blocks/{hash}")).await?;
        assert_eq!(reply.status.as_u16(), 404, "branch block {hash} is served");
    }
    stop_all(vec![a]).await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honest_peers_are_never_discouraged() -> TestResult {
    let net = TestNet::new()?;
    let a = NodeBuilder::new(&net, "A")
        .sync_deadline(DEADLINE)
        .start()
        .await?;
    // B is another host (127.0.0.3): its relays reach A from a source A could punish.
    let b = NodeBuilder::new(&net, "B")
        .listen("127.0.0.3")
        .peer(&a)
        .sync_deadline(DEADLINE)
        .start()
        .await?;
    a.wait_peers(1).await?;
    b.wait_peers(1).await?;
    a.generate(&net, 2).await?;
    b.wait_same_tip(&a).await?;
    let wallet = "127.0.0.5";

    // Conflicting transactions given to the two nodes: each relays its own to the other,
    // which answers double-spend.
    let tx1 = net.alice_pays_bob(0, coins(10), units(1_000));
    let tx2 = net.alice_pays_bob(0, coins(20), units(1_000));
    post_from(wallet, &a.at("/transactions"), &net.tx_json(&tx1))
        .await
        .map_err(anyhow::Error::msg)?;
    // (A may have relayed tx1 to B already: then B refuses tx2 itself.)
    let second = post_from(wallet, &b.at("/transactions"), &net.tx_json(&tx2)).await;
    assert!(
        second.is_ok() || second == Err("double-spend".to_string()),
        "{second:?}"
    );
    // A child before its parent: missing-input.
    let parent = net.alice_pays_bob(1, coins(10), units(1_000));
    let child = net.spend(
        &net.bob,
        &[ferro::primitives::OutPoint {
            txid: parent.txid(),
            vout: 0,
        }],
        vec![ferro::primitives::TxOut {
            value: coins(9),
            pubkey_hash: net.bob.public_key().pubkey_hash(),
        }],
    );
    let refused = post_from(wallet, &b.at("/transactions"), &net.tx_json(&child)).await;
    assert_eq!(refused, Err("missing-input".to_string()));
    post_from(wallet, &b.at("/transactions"), &net.tx_json(&parent))
        .await
        .map_err(anyhow::Error::msg)?;
    post_from(wallet, &b.at("/transactions"), &net.tx_json(&child))
        .await
        .map_err(anyhow::Error::msg)?;
    a.wait_in_mempool(&child.txid()).await?;

    // A block stamped just inside the 2-hour limit is taken; one past it is "not yet".
    let mut near = net.template(&a.parent_info(), vec![]);
    near.header.timestamp = now() + 7_200 - 60;
    solve(&mut near);
    let mut far = net.template(&a.parent_info(), vec![]);
    far.header.timestamp = now() + 7_200 + 600;
    solve(&mut far);
    let refused = post_from(wallet, &a.at("/blocks"), &net.block_json(&far)).await;
    assert_eq!(refused, Err("time-too-new".to_string()));
    let taken = post_from(wallet, &a.at("/blocks"), &net.block_json(&near)).await;
    assert_eq!(taken.map_err(anyhow::Error::msg)?["status"], "connected");
    b.wait_same_tip(&a).await?;

    // A peer answering 429 to sync requests.
    let busy = FakePeer::start(ip("127.0.0.1"), huge_claims(&net), Mode::RateLimited)?;
    let busy_addr = busy.addr.to_string();
    b.http
        .post_json(&b.at("/nodes"), &json!({"address": busy_addr}))
        .await?
        .ok()?;
    until(Duration::from_secs(10), "B asked the busy peer", || {
        busy.sync_requests() > 0
    })
    .await?;
    until(DEADLINE * 2, "B sets the busy peer aside", || {
        b.set_aside(&busy_addr)
    })
    .await?;

    for node in [&a, &b] {
        assert!(
            !node.discouraged(&a.addr()) && !node.discouraged(&b.addr()),
            "{}",
            node.name
        );
        assert!(
            !node.running.node.peers.is_discouraged_source(ip(wallet)),
            "{}",
            node.name
        );
        assert!(
            !node.discouraged(&busy_addr),
            "{}: a 429 was punished",
            node.name
        );
    }
    assert!(a.running.node.peers.contains(&b.addr()));
    assert!(b.running.node.peers.contains(&a.addr()));

    // The contrast: a bad signature is punished, and only its source.
    let mut forged = net.alice_pays_bob(2, coins(1), units(1_000));
    // A real signature of Alice's, over another transaction.
    forged.inputs[0].signature = tx1.inputs[0].signature;
    let refused = post_from("127.0.0.6", &a.at("/transactions"), &net.tx_json(&forged)).await;
    assert_eq!(refused, Err("bad-signature".to_string()));
    assert!(a.running.node.peers.is_discouraged_source(ip("127.0.0.6")));
    assert!(!a.running.node.peers.is_discouraged_source(ip(wallet)));
    stop_all(vec![b, a]).await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn announcements_from_one_address_cannot_displace_a_proven_peer() -> TestResult {
    let net = TestNet::new()?;
    let n = NodeBuilder::new(&net, "N").max_peers(9).start().await?;
    let h = NodeBuilder::new(&net, "H")
        .listen("127.0.0.3")
        .peer(&n)
        .start()
        .await?;
    n.wait_peers(1).await?;
    // H delivers a block to N: a proven peer.
    h.generate(&net, 1).await?;
    n.wait_same_tip(&h).await?;
    assert!(n.running.node.peers.contains(&h.addr()));

    // 12 fake nodes on one address, announced 200 times from it.
    let attacker = "127.0.0.2";
    let fakes: Vec<FakePeer> = (0..12)
        .map(|_| FakePeer::start(ip(attacker), no_claims(&net), Mode::Empty))
        .collect::<Result<_, _>>()?;
    let mut added = 0;
    for i in 0..200 {
        let body = json!({"address": fakes[i % fakes.len()].addr.to_string()});
        if let Ok(answer) = post_from(attacker, &n.at("/nodes"), &body).await {
            if answer["status"] == "added" {
                added += 1;
            }
        }
    }
    let from_attacker = |node: &TestNode| {
        node.running
            .node
            .peers
            .addresses()
            .iter()
            .filter(|a| a.starts_with("127.0.0.2:"))
            .count()
    };
    assert!(
        added >= 8,
        "the attacker's group could not even fill its own bucket"
    );
    assert!(
        from_attacker(&n) <= ferro::net::peers::GROUP_CAP,
        "{} entries from one address",
        from_attacker(&n)
    );
    assert!(
        n.running.node.peers.contains(&h.addr()),
        "the proven peer was displaced"
    );

    // An honest newcomer from another group still gets in (the table is full: a
    // never-delivered entry of the largest group makes room).
    assert_eq!(n.peer_count(), 9);
    let newcomer = FakePeer::start(ip("127.0.0.4"), no_claims(&net), Mode::Empty)?;
    let answer = post_from(
        "127.0.0.4",
        &n.at("/nodes"),
        &json!({"address": newcomer.addr.to_string()}),
    )
    .await
    .map_err(anyhow::Error::msg)?;
    assert_eq!(answer["status"], "added");
    assert!(n.running.node.peers.contains(&newcomer.addr.to_string()));
    assert!(n.running.node.peers.contains(&h.addr()));
    assert!(from_attacker(&n) < ferro::net::peers::GROUP_CAP);
    stop_all(vec![h, n]).await;
    Ok(())
}

mod flood;
