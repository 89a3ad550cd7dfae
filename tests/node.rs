//! Integration tests of the full node over its HTTP API: relay, sync, reorgs between
//! separated groups, every rejection code of API.md, and shutdown and restart.
//!
//! Nodes run in-process on `127.0.0.1:0` on a test network whose proof of work is
//! instant (see `support::chain`). Nothing sleeps for a fixed time: conditions are
//! polled with a deadline (`support::eventually`).

mod attacks;
mod explorer;
mod ops;
mod relay;
mod support;

use ferro::primitives::{
    Amount, BlockHash, Encode, OutPoint, Signature, Transaction, TxOut, Txid, MAX_MONEY,
};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use support::chain::{
    coins, high_s, now, remerkle, seal, solve, units, unsolve, TestNet, PREMINE_COINS,
};
use support::cluster::{stop_all, NodeBuilder, TestNode};
use support::http::{assert_rejected, post_huge, Http, BINARY};
use support::spy::SpyPeer;
use support::{until, SETTLE};

type TestResult = anyhow::Result<()>;

/// Starts `A`, then `B` and `C` with `A` as their peer, and waits until the links are
/// two-way (nodes announce themselves with `POST /nodes`).
async fn three_nodes(net: &TestNet) -> anyhow::Result<(TestNode, TestNode, TestNode)> {
    let a = NodeBuilder::new(net, "A").start().await?;
    let b = NodeBuilder::new(net, "B").peer(&a).start().await?;
    let c = NodeBuilder::new(net, "C").peer(&a).start().await?;
    a.wait_peers(2).await?;
    b.wait_peers(1).await?;
    c.wait_peers(1).await?;
    Ok((a, b, c))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transaction_and_block_relay_reach_every_peer() -> TestResult {
    let net = TestNet::new()?;
    let (a, b, c) = three_nodes(&net).await?;

    // One block so the premine is mature (coinbase_maturity 2, next height 2).
    a.generate(&net, 1).await?;
    b.wait_same_tip(&a).await?;
    c.wait_same_tip(&a).await?;

    let tx = net.alice_pays_bob(0, coins(10), units(1_000));
    let txid = tx.txid();
    let answer = a.submit_tx(&net, &tx).await?;
    assert_eq!(answer, json!({"txid": txid.to_hex(), "status": "accepted"}));
    b.wait_in_mempool(&txid).await?;
    c.wait_in_mempool(&txid).await?;
    // A relayed copy coming back is answered idempotently.
    let again = a.submit_tx(&net, &tx).await?;
    assert_eq!(again["status"], "already-known");

    let hashes = a.generate(&net, 1).await?;
    for node in [&b, &c] {
        node.wait_same_tip(&a).await?;
        assert_eq!(node.height(), 2);
        assert_eq!(node.tip().to_hex(), hashes[0]);
        until(
            SETTLE,
            "the confirmed transaction leaves the mempool",
            || !node.in_mempool(&txid),
        )
        .await?;
        let view = node.get(&format!("/transactions/{txid}")).await?.ok()?;
        assert_eq!(view["status"]["confirmed"], true, "{}: {view}", node.name);
        assert_eq!(view["status"]["block_hash"], hashes[0].as_str());
        assert_eq!(view["fee"], 1_000);
    }

    // The same from a leaf: a transaction sent to C and a block mined on B reach all.
    let tx2 = net.alice_pays_bob(1, coins(10), units(1_000));
    c.submit_tx(&net, &tx2).await?;
    a.wait_in_mempool(&tx2.txid()).await?;
    b.wait_in_mempool(&tx2.txid()).await?;
    b.generate(&net, 1).await?;
    for node in [&a, &c] {
        node.wait_same_tip(&b).await?;
        until(SETTLE, "tx2 is confirmed everywhere", || {
            node.mempool_len() == 0
        })
        .await?;
    }
    assert_eq!(a.height(), 3);
    stop_all(vec![c, b, a]).await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_node_syncs_500_blocks() -> TestResult {
    let net = TestNet::new()?;
    let a = NodeBuilder::new(&net, "A").start().await?;
    let hashes = a.generate(&net, 500).await?;
    assert_eq!(a.height(), 500);
    assert_eq!(
        hashes.last().map(String::as_str),
        Some(a.tip().to_hex().as_str())
    );

    // D's first peer is a spy, added before A: blocks connected while catching up in a
    // sync are not relayed.
    let spy = SpyPeer::start(&net).await?;
    let d = NodeBuilder::new(&net, "D")
        .peer_addr(spy.addr.to_string())
        .peer(&a)
        .start()
        .await?;
    let started = Instant::now();
    let what = "D syncs 500 blocks from A";
    until(Duration::from_secs(90), what, || d.tip() == a.tip()).await?;
    eprintln!("synced 500 blocks in {:?}", started.elapsed());
    assert_eq!(d.height(), 500);
    assert!(d.running.node.peers.contains(&spy.addr.to_string()));
    let relayed = spy.seen(|s| s.blocks.len());
    assert_eq!(relayed, 0, "blocks relayed while catching up in a sync");
    // A new block after the sync is relayed again (the spy was listening all along).
    let next = a.generate(&net, 1).await?;
    d.wait_same_tip(&a).await?;
    let next = BlockHash::from_hex(&next[0])?;
    until(SETTLE, "the spy gets the new block", || {
        spy.seen(|s| s.blocks.contains(&next))
    })
    .await?;

    let (info_a, info_d) = (a.get("/info").await?.ok()?, d.get("/info").await?.ok()?);
    for field in [
        "height",
        "best_hash",
        "chain_work",
        "total_transactions",
        "circulating_supply",
    ] {
        assert_eq!(info_a[field], info_d[field], "{field}");
    }
    // Spot-check a block in the middle, fetched from the synced node.
    let mid = d.get("/blocks/250").await?.ok()?;
    assert_eq!(mid["hash"], hashes[249].as_str());
    stop_all(vec![d, a]).await;
    spy.stop();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn separated_groups_converge_on_the_most_work_chain() -> TestResult {
    let net = TestNet::new()?;
    // Two groups of the same network that do not know each other.
    let a = NodeBuilder::new(&net, "A").start().await?;
    let b = NodeBuilder::new(&net, "B").peer(&a).start().await?;
    let c = NodeBuilder::new(&net, "C").start().await?;
    let d = NodeBuilder::new(&net, "D").peer(&c).start().await?;
    for node in [&a, &b, &c, &d] {
        node.wait_peers(1).await?;
    }

    // Group 1: block 1, then block 2 confirming t1, its child t1_child, and t3 (which
    // group 2 double-spends); t4 spends block 1's coinbase and waits in the mempool.
    let block1 = a.generate(&net, 1).await?;
    let coinbase1 = a.coinbase_output(&block1[0]).await?;
    let t1 = net.alice_pays_bob(0, coins(1), units(1_000));
    let t1_child = net.pay(
        &net.bob,
        OutPoint {
            txid: t1.txid(),
            vout: 0,
        },
        coins(1),
        &net.alice,
        units(50_000_000),
        units(1_000),
    );
    let t3 = net.alice_pays_bob(2, coins(3), units(1_000));
    for tx in [&t1, &t1_child, &t3] {
        a.submit_tx(&net, tx).await?;
        b.wait_in_mempool(&tx.txid()).await?;
    }
    a.generate(&net, 1).await?;
    b.wait_same_tip(&a).await?;
    assert_eq!(a.height(), 2);
    assert_eq!((a.mempool_len(), b.mempool_len()), (0, 0));
    let t4 = net.pay(
        &net.miner,
        coinbase1,
        coins(50),
        &net.bob,
        coins(1),
        units(1_000),
    );
    a.submit_tx(&net, &t4).await?;
    b.wait_in_mempool(&t4.txid()).await?;

    // Group 2: four blocks (more work) paying bob, so no coinbase matches group 1's;
    // they confirm t2 and a conflicting spend of t3's input.
    let bob = net.address(&net.bob);
    c.generate_to(1, &bob).await?;
    let t2 = net.alice_pays_bob(1, coins(2), units(1_000));
    let t3_conflict = net.alice_pays_bob(2, coins(4), units(2_000));
    for tx in [&t2, &t3_conflict] {
        c.submit_tx(&net, tx).await?;
        d.wait_in_mempool(&tx.txid()).await?;
    }
    c.generate_to(3, &bob).await?;
    d.wait_same_tip(&c).await?;
    assert_eq!(c.height(), 4);
    let group1_tip = a.tip();

    // Join: B hears of C (announced from 127.0.0.1, which is C's host) and probes it.
    let joined = b
        .http
        .post_json(&b.at("/nodes"), &json!({"address": c.addr()}))
        .await?
        .ok()?;
    assert_eq!(joined["status"], "added");

    for node in [&a, &b, &d] {
        node.wait_same_tip(&c).await?;
    }
    let old = a.get(&format!("/blocks/{group1_tip}")).await?.ok()?;
    assert_eq!(old["in_active_chain"], false, "{old}");
    assert_eq!(old["confirmations"], 0, "{old}");
    for node in [&a, &b] {
        // t1 and its child, of the losing branch, are back in the mempool, unconfirmed.
        for tx in [&t1, &t1_child] {
            node.wait_in_mempool(&tx.txid()).await?;
            let view = node
                .get(&format!("/transactions/{}", tx.txid()))
                .await?
                .ok()?;
            assert_eq!(view["status"], json!({"confirmed": false}), "{}", node.name);
        }
        let pool = node.get("/mempool").await?.ok()?;
        let listed = |tx: &Transaction| {
            pool["txids"]
                .as_array()
                .is_some_and(|t| t.contains(&json!(tx.txid().to_hex())))
        };
        assert!(listed(&t1) && listed(&t1_child), "{}: {pool}", node.name);
        // t3 conflicts with the winning branch, and t4's coinbase is gone with block 1.
        for (tx, why) in [
            (&t3, "t3 conflicts"),
            (&t4, "t4 spends a vanished coinbase"),
        ] {
            assert!(!node.in_mempool(&tx.txid()), "{}: {why}", node.name);
            assert!(!listed(tx), "{}: {why}: {pool}", node.name);
            let lookup = node.get(&format!("/transactions/{}", tx.txid())).await?;
            assert_rejected(&lookup, 404, "not-found", why);
        }
        assert_eq!(pool["count"], 2, "{}: {pool}", node.name);
        let t2_view = node
            .get(&format!("/transactions/{}", t2.txid()))
            .await?
            .ok()?;
        assert_eq!(t2_view["status"]["confirmed"], true);
    }

    // The reorganized nodes' indexes match those of the nodes that never left the
    // winning branch (undo data restored what the losing branch spent).
    let (info_a, info_c) = (a.get("/info").await?.ok()?, c.get("/info").await?.ok()?);
    for field in [
        "best_hash",
        "chain_work",
        "total_transactions",
        "total_addresses",
        "circulating_supply",
        "rich_list",
    ] {
        assert_eq!(info_a[field], info_c[field], "/info {field}");
    }
    for key in [&net.alice, &net.bob, &net.miner] {
        let path = format!("/addresses/{}", net.address(key));
        let (on_a, on_c) = (a.get(&path).await?, c.get(&path).await?);
        // The miner was paid only on the losing branch: no history left anywhere.
        assert_eq!(on_a.status, on_c.status, "{path}: {on_a:?} vs {on_c:?}");
        let (on_a, on_c) = (on_a.body, on_c.body);
        for field in ["balance", "received", "sent", "tx_count", "utxo_count"] {
            assert_eq!(on_a[field], on_c[field], "{path} {field}: {on_a} vs {on_c}");
        }
        let utxos = format!("{path}/utxos");
        let (on_a, on_c) = (a.get(&utxos).await?.ok()?, c.get(&utxos).await?.ok()?);
        let confirmed = |v: &Value| -> Vec<(Value, Value, Value)> {
            let mut out: Vec<_> = v
                .as_array()
                .map(|list| {
                    list.iter()
                        .map(|u| (u["txid"].clone(), u["vout"].clone(), u["value"].clone()))
                        .collect()
                })
                .unwrap_or_default();
            out.sort_by_key(|t| format!("{t:?}"));
            out
        };
        assert_eq!(confirmed(&on_a), confirmed(&on_c), "{utxos}");
    }

    // The next block from group 1 confirms t1 and its child on the joined network (a
    // mempool still holding t4 would make this block invalid).
    a.generate(&net, 1).await?;
    for node in [&b, &c, &d] {
        node.wait_same_tip(&a).await?;
        for tx in [&t1, &t1_child] {
            let view = node
                .get(&format!("/transactions/{}", tx.txid()))
                .await?
                .ok()?;
            assert_eq!(view["status"]["block_height"], 5, "{}: {view}", node.name);
        }
    }
    stop_all(vec![a, b, c, d]).await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posted_heavier_branch_reorganizes_and_is_relayed() -> TestResult {
    let net = TestNet::new()?;
    let a = NodeBuilder::new(&net, "A").start().await?;
    let b = NodeBuilder::new(&net, "B").peer(&a).start().await?;
    a.wait_peers(1).await?;
    b.wait_peers(1).await?;
    let early = a.generate(&net, 2).await?;
    let tx = net.alice_pays_bob(0, coins(1), units(1_000));
    a.submit_tx(&net, &tx).await?;
    let replaced = a.generate(&net, 1).await?;
    b.wait_same_tip(&a).await?;
    assert!(!b.in_mempool(&tx.txid()));

    // A branch from block 2: first as long as the active chain, then longer.
    let fork_parent = a.parent_info_of(&BlockHash::from_hex(&early[1])?)?;
    let f3 = seal(net.template(&fork_parent, vec![]));
    let f4 = seal(net.template_on(&f3, vec![]));
    let url = a.at("/blocks");
    let reply = a.http.post_json(&url, &net.block_json(&f3)).await?.ok()?;
    assert_eq!(reply["status"], "side-chain", "a tie keeps the first seen");
    assert_eq!(a.tip().to_hex(), replaced[0]);
    let reply = a.http.post_binary(&url, f4.to_bytes()).await?.ok()?;
    assert_eq!(reply["status"], "reorganized");
    assert_eq!(a.tip(), f4.hash());
    assert_eq!(a.height(), 4);

    // The transaction of the replaced block is back; B follows the new branch.
    assert!(a.in_mempool(&tx.txid()));
    b.wait_same_tip(&a).await?;
    b.wait_in_mempool(&tx.txid()).await?;
    let old = b.get(&format!("/blocks/{}", replaced[0])).await?.ok()?;
    assert_eq!(old["in_active_chain"], false);
    let at3 = b.get("/blocks/3").await?.ok()?;
    assert_eq!(at3["hash"], f3.hash().to_hex());

    // Another fork whose block 4 has the very same coinbase as F4 (same height, payee and
    // value: same txid): the reorg disconnects it and connects it again.
    let mut g4 = net.template_on(&f3, vec![]);
    g4.header.timestamp = f4.header.timestamp + 1;
    let g4 = seal(g4);
    let g5 = seal(net.template_on(&g4, vec![]));
    let coinbase4 = g4.transactions[0].txid();
    assert_eq!(coinbase4, f4.transactions[0].txid());
    assert_ne!(g4.hash(), f4.hash());
    let reply = a.http.post_binary(&url, g4.to_bytes()).await?.ok()?;
    assert_eq!(reply["status"], "side-chain");
    let reply = a.http.post_binary(&url, g5.to_bytes()).await?.ok()?;
    assert_eq!(reply["status"], "reorganized");
    let view = a.get(&format!("/transactions/{coinbase4}")).await?.ok()?;
    assert_eq!(view["status"]["block_hash"], g4.hash().to_hex(), "{view}");
    let output = a.get(&format!("/outputs/{coinbase4}/0")).await?.ok()?;
    assert_eq!(output["spent"], false, "{output}");
    assert_eq!(output["height"], 4, "{output}");
    let info = a.get("/info").await?.ok()?;
    let supply = coins(7 * PREMINE_COINS + 5 * 50).to_base_units();
    assert_eq!(info["circulating_supply"], supply, "{info}");
    b.wait_same_tip(&a).await?;
    stop_all(vec![b, a]).await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphan_connects_when_its_parent_arrives() -> TestResult {
    let net = TestNet::new()?;
    let a = NodeBuilder::new(&net, "A").start().await?;
    let b = NodeBuilder::new(&net, "B").peer(&a).start().await?;
    a.wait_peers(1).await?;
    a.generate(&net, 1).await?;
    b.wait_same_tip(&a).await?;
    let tip = a.tip();

    let x1 = block_on(&a, &net, vec![]);
    let x2 = seal(net.template_on(&x1, vec![]));
    let url = a.at("/blocks");
    let reply = a.http.post_binary(&url, x2.to_bytes()).await?;
    assert_rejected(&reply, 409, "unknown-parent", "child before its parent");
    assert_eq!(a.tip(), tip);
    assert_rejected(
        &a.get(&format!("/blocks/{}", x2.hash())).await?,
        404,
        "not-found",
        "an orphan is not served",
    );

    let reply = a.http.post_binary(&url, x1.to_bytes()).await?.ok()?;
    assert_eq!(reply["status"], "connected");
    assert_eq!(
        a.tip(),
        x2.hash(),
        "the waiting orphan connects after its parent"
    );
    assert_eq!(a.height(), 3);
    b.wait_same_tip(&a).await?;
    stop_all(vec![b, a]).await;
    Ok(())
}

/// Bodies of `POST /transactions` that must be refused, with their status and code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_transaction_rejection_code_over_http() -> TestResult {
    let net = TestNet::new()?;
    let node = NodeBuilder::new(&net, "A").start().await?;
    // Height 1: the premine is mature, block 1's coinbase is not.
    let mined = node.generate(&net, 1).await?;
    let coinbase1 = node.coinbase_output(&mined[0]).await?;
    let url = node.at("/transactions");
    let http = &node.http;
    let alice = &net.alice;
    let alice_pkh = alice.public_key().pubkey_hash();
    let to_alice = |value: Amount| TxOut {
        value,
        pubkey_hash: alice_pkh,
    };
    let premine = coins(PREMINE_COINS);
    let good = net.alice_pays_bob(0, coins(1), units(1_000));
    let good_json = net.tx_json(&good);

    // malformed: not JSON, wrong shapes, unknown fields, bad hex, floats, negatives, a
    // txid that does not match; binary with trailing or missing bytes.
    let with = |path: &[&str], value: Value| {
        let mut v = good_json.clone();
        let mut slot = &mut v;
        for p in path {
            slot = match p.parse::<usize>() {
                Ok(i) => &mut slot[i],
                Err(_) => &mut slot[*p],
            };
        }
        *slot = value;
        v
    };
    let malformed_json = vec![
        ("unknown field", with(&["extra"], json!(1))),
        ("float amount", with(&["outputs", "0", "value"], json!(1.5))),
        (
            "negative amount",
            with(&["outputs", "0", "value"], json!(-5)),
        ),
        (
            "amount as string",
            with(&["outputs", "0", "value"], json!("100")),
        ),
        ("bad txid hex", with(&["inputs", "0", "txid"], json!("zz"))),
        (
            "short signature",
            with(&["inputs", "0", "signature"], json!("abcd")),
        ),
        (
            "bad public key",
            with(&["inputs", "0", "public_key"], json!("02")),
        ),
        (
            "unknown input field",
            with(&["inputs", "0", "sequence"], json!(0)),
        ),
        (
            "bad address",
            with(&["outputs", "0", "address"], json!("not-an-address")),
        ),
        ("wrong txid", with(&["txid"], json!(Txid([9; 32]).to_hex()))),
        ("missing outputs", {
            let mut v = good_json.clone();
            v.as_object_mut().map(|o| o.remove("outputs"));
            v
        }),
        ("array body", json!([1, 2])),
    ];
    for (case, body) in malformed_json {
        let reply = http.post_json(&url, &body).await?;
        assert_rejected(&reply, 400, "malformed", case);
    }
    for (case, text) in [("not json", "{\"version\": 1,"), ("empty body", "")] {
        assert_rejected(&http.post_text(&url, text).await?, 400, "malformed", case);
    }
    let mut trailing = good.to_bytes();
    trailing.push(0);
    let mut truncated = good.to_bytes();
    truncated.truncate(truncated.len() - 1);
    let mut huge_count = good.to_bytes();
    huge_count[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    for (case, body) in [
        ("trailing byte", trailing),
        ("truncated", truncated),
        ("input count above what the bytes hold", huge_count),
    ] {
        let reply = http.post_binary(&url, body).await?;
        assert_rejected(&reply, 400, "malformed", case);
    }

    // value-out-of-range: above MAX_MONEY in JSON and in binary, zero, an overflowing sum.
    let reply = http
        .post_json(
            &url,
            &with(&["outputs", "0", "value"], json!(MAX_MONEY + 1)),
        )
        .await?;
    assert_rejected(
        &reply,
        400,
        "value-out-of-range",
        "json value above MAX_MONEY",
    );
    let mut above_max = good.to_bytes();
    // version(4) count(4) input(133) count(4): the first output's value.
    above_max[145..153].copy_from_slice(&(MAX_MONEY + 1).to_le_bytes());
    let reply = http.post_binary(&url, above_max).await?;
    assert_rejected(
        &reply,
        400,
        "value-out-of-range",
        "binary value above MAX_MONEY",
    );
    let zero = net.spend(alice, &[net.premine(0)], vec![to_alice(Amount::ZERO)]);
    let half = units(MAX_MONEY / 2 + 1);
    let overflow = net.spend(
        alice,
        &[net.premine(0)],
        vec![to_alice(half), to_alice(half)],
    );

    // Transactions that parse but break a rule, each built to break only that rule.
    let bad_version = {
        let mut tx = good.clone();
        tx.version = 2;
        net.sign(tx, alice)
    };
    let loose_coinbase = Transaction::coinbase(2, vec![to_alice(coins(1))]);
    let no_outputs = net.spend(alice, &[net.premine(0)], vec![]);
    let duplicate_input = net.spend(
        alice,
        &[net.premine(0), net.premine(0)],
        vec![to_alice(coins(1))],
    );
    let missing_input = net.spend(
        alice,
        &[OutPoint {
            txid: Txid([7; 32]),
            vout: 0,
        }],
        vec![to_alice(coins(1))],
    );
    // Bob's key on alice's output.
    let pubkey_mismatch = net.spend(&net.bob, &[net.premine(0)], vec![to_alice(coins(1))]);
    let wrong_key = {
        let mut tx = good.clone();
        tx.inputs[0].signature = net
            .bob
            .sign(&tx.sighash(&net.genesis_hash(), &[premine_output(&net, 0)]));
        tx
    };
    let zero_signature = {
        let mut tx = good.clone();
        tx.inputs[0].signature = Signature([0; 64]);
        tx
    };
    // The same key's signature of another transaction, replayed on another output.
    let replayed = {
        let other = net.alice_pays_bob(1, coins(1), units(1_000));
        let mut tx = good.clone();
        tx.inputs[0].signature = other.inputs[0].signature;
        tx
    };
    // Another network's genesis in the sighash: the signature does not carry over.
    let other_network = {
        let other = TestNet::with_name("othernet")?;
        let mut tx = good.clone();
        let sighash = tx.sighash(&other.genesis_hash(), &[premine_output(&net, 0)]);
        tx.inputs[0].signature = alice.sign(&sighash);
        tx
    };
    let high_s_tx = {
        let mut tx = good.clone();
        tx.inputs[0].signature = high_s(&tx.inputs[0].signature);
        assert_ne!(tx, good);
        assert_eq!(high_s(&tx.inputs[0].signature), good.inputs[0].signature);
        tx
    };
    let outputs_exceed = net.spend(
        alice,
        &[net.premine(0)],
        vec![to_alice(coins(PREMINE_COINS + 1))],
    );
    let immature = net.spend(&net.miner, &[coinbase1], vec![to_alice(coins(1))]);
    let non_final = {
        let mut tx = good.clone();
        tx.lock_time = 3; // The next block is height 2.
        net.sign(tx, alice)
    };
    // Outputs of 28 bytes each: 3600 of them are above the 100 000 byte policy limit.
    let too_large = net.spend(
        alice,
        &[net.premine(0)],
        (0..3600).map(|_| to_alice(units(1_000))).collect(),
    );
    assert!(too_large.size() > 100_000);
    let zero_fee = net.spend(alice, &[net.premine(0)], vec![to_alice(premine)]);
    // 1 base unit per byte is the minimum: one unit short of it.
    let below_min_fee = {
        let size = zero_fee.size() as u64;
        net.spend(
            alice,
            &[net.premine(0)],
            vec![to_alice(units(premine.to_base_units() - size + 1))],
        )
    };

    let rule_cases: Vec<(&str, &Transaction, &str)> = vec![
        ("zero output", &zero, "value-out-of-range"),
        (
            "outputs sum above MAX_MONEY",
            &overflow,
            "value-out-of-range",
        ),
        ("version 2", &bad_version, "bad-version"),
        ("loose coinbase", &loose_coinbase, "coinbase-not-allowed"),
        ("no outputs", &no_outputs, "no-outputs"),
        ("same outpoint twice", &duplicate_input, "duplicate-input"),
        ("unknown outpoint", &missing_input, "missing-input"),
        ("another key's output", &pubkey_mismatch, "pubkey-mismatch"),
        ("signed by another key", &wrong_key, "bad-signature"),
        ("zero signature", &zero_signature, "bad-signature"),
        (
            "signature replayed from another output",
            &replayed,
            "bad-signature",
        ),
        (
            "signature of another network",
            &other_network,
            "bad-signature",
        ),
        ("high-S signature", &high_s_tx, "bad-signature"),
        (
            "outputs above inputs",
            &outputs_exceed,
            "outputs-exceed-inputs",
        ),
        ("spends a fresh coinbase", &immature, "immature-coinbase"),
        ("lock_time above the next height", &non_final, "non-final"),
        ("above 100 000 bytes", &too_large, "tx-too-large"),
        ("no fee", &zero_fee, "fee-too-low"),
        (
            "fee one unit below 1 per byte",
            &below_min_fee,
            "fee-too-low",
        ),
    ];
    for (case, tx, code) in &rule_cases {
        // Both encodings reach the same verdict.
        let reply = http.post_json(&url, &net.tx_json(tx)).await?;
        assert_rejected(&reply, 400, code, &format!("{case} (json)"));
        let reply = http.post_binary(&url, tx.to_bytes()).await?;
        assert_rejected(&reply, 400, code, &format!("{case} (binary)"));
    }

    // wrong-network: an output address with another network's hrp.
    let other_hrp = ferro::primitives::Address::new("fdev", alice_pkh)?.to_string();
    let reply = http
        .post_json(&url, &with(&["outputs", "0", "address"], json!(other_hrp)))
        .await?;
    assert_rejected(&reply, 400, "wrong-network", "address of another network");

    // Nothing was admitted; the well-formed original still is, exactly at the minimum fee
    // rate too, and a conflicting spend of the same output is a double spend.
    assert_eq!(node.mempool_len(), 0);
    let at_min_fee = {
        let size = zero_fee.size() as u64;
        net.spend(
            alice,
            &[net.premine(1)],
            vec![to_alice(units(premine.to_base_units() - size))],
        )
    };
    assert_eq!(node.submit_tx(&net, &good).await?["status"], "accepted");
    assert_eq!(
        node.submit_tx(&net, &at_min_fee).await?["status"],
        "accepted"
    );
    let conflict = net.alice_pays_bob(0, coins(2), units(5_000));
    let reply = http.post_json(&url, &net.tx_json(&conflict)).await?;
    assert_rejected(
        &reply,
        400,
        "double-spend",
        "conflicts with a mempool transaction",
    );
    assert_eq!(node.mempool_len(), 2);
    assert_eq!(node.height(), 1);
    node.stop().await;
    Ok(())
}

/// A block on the node's tip paying the miner, with `txs`, sealed (valid unless a test
/// breaks it).
fn block_on(
    node: &TestNode,
    net: &TestNet,
    txs: Vec<(Transaction, Amount)>,
) -> ferro::primitives::Block {
    let block = net.template(&node.parent_info(), txs);
    seal(block)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_block_rejection_code_over_http() -> TestResult {
    let net = TestNet::new()?;
    let node = NodeBuilder::new(&net, "A").start().await?;
    node.generate(&net, 3).await?;
    let url = node.at("/blocks");
    let http = &node.http;
    let tip_before = node.tip();
    let parent = node.parent_info();
    let params = &net.network.params;

    let fee = units(1_000);
    let tx = net.alice_pays_bob(0, coins(1), fee);
    let base = || net.template(&parent, vec![(tx.clone(), fee)]);

    let mut cases: Vec<(&str, ferro::primitives::Block, u16, &str)> = Vec::new();
    cases.push((
        "header version 2",
        {
            let mut b = base();
            b.header.version = 2;
            seal(b)
        },
        400,
        "bad-version",
    ));
    cases.push((
        "height skips one",
        {
            let mut b = base();
            b.header.height = ferro::primitives::Height(parent.height.get() + 2);
            seal(b)
        },
        400,
        "bad-prev",
    ));
    cases.push((
        "easier target than required",
        {
            let mut b = base();
            b.header.target = ferro::primitives::Target::with_leading_zeros(3);
            seal(b)
        },
        400,
        "bad-target",
    ));
    cases.push((
        "no proof of work",
        {
            let mut b = base();
            remerkle(&mut b);
            unsolve(&mut b);
            b
        },
        400,
        "bad-pow",
    ));
    cases.push((
        "timestamp at the median time past",
        {
            let mut b = base();
            b.header.timestamp = parent.median_time_past;
            seal(b)
        },
        400,
        "time-too-old",
    ));
    cases.push((
        "timestamp three hours ahead",
        {
            let mut b = base();
            b.header.timestamp = now() + 3 * 3600;
            seal(b)
        },
        409,
        "time-too-new",
    ));
    cases.push((
        "over max_block_size",
        {
            // Zero-value coinbase outputs are allowed; 28 bytes each.
            let mut b = base();
            let n = params.max_block_size as usize / 28 + 1;
            b.transactions[0].outputs = vec![
                TxOut {
                    value: Amount::ZERO,
                    pubkey_hash: net.miner.public_key().pubkey_hash()
                };
                n
            ];
            seal(b)
        },
        400,
        "block-too-large",
    ));
    cases.push((
        "first transaction is not a coinbase",
        {
            let mut b = base();
            b.transactions.remove(0);
            seal(b)
        },
        400,
        "bad-coinbase",
    ));
    cases.push((
        "coinbase lock_time is not the height",
        {
            let mut b = base();
            b.transactions[0].lock_time += 1;
            seal(b)
        },
        400,
        "bad-coinbase",
    ));
    cases.push((
        "a second coinbase",
        {
            let mut b = base();
            let mut second = b.transactions[0].clone();
            second.outputs[0].value = units(1);
            b.transactions.push(second);
            seal(b)
        },
        400,
        "bad-coinbase",
    ));
    cases.push((
        "the same transaction twice",
        {
            let mut b = base();
            b.transactions.push(tx.clone());
            seal(b)
        },
        400,
        "duplicate-tx",
    ));
    cases.push((
        "merkle root of other transactions",
        {
            let mut b = base();
            b.header.merkle_root = ferro::primitives::Hash256([5; 32]);
            solve(&mut b);
            b
        },
        400,
        "bad-merkle-root",
    ));
    cases.push((
        "coinbase pays subsidy plus fees plus one",
        {
            let mut b = base();
            let paid = b.transactions[0].outputs[0].value;
            b.transactions[0].outputs[0].value = paid.checked_add(units(1)).unwrap_or(paid);
            seal(b)
        },
        400,
        "bad-coinbase-value",
    ));
    cases.push((
        "a transaction with a high-S signature",
        {
            let mut bad = tx.clone();
            bad.inputs[0].signature = high_s(&bad.inputs[0].signature);
            let b = net.template(&parent, vec![(bad, fee)]);
            seal(b)
        },
        400,
        "bad-signature",
    ));
    cases.push((
        "a transaction spending an unknown output",
        {
            let bad = net.spend(
                &net.alice,
                &[OutPoint {
                    txid: Txid([8; 32]),
                    vout: 0,
                }],
                vec![TxOut {
                    value: coins(1),
                    pubkey_hash: net.alice.public_key().pubkey_hash(),
                }],
            );
            seal(net.template(&parent, vec![(bad, Amount::ZERO)]))
        },
        400,
        "missing-input",
    ));
    cases.push((
        "parent never seen",
        {
            let mut b = base();
            b.header.prev_hash = BlockHash([3; 32]);
            seal(b)
        },
        409,
        "unknown-parent",
    ));
    cases.push((
        "unknown parent and no proof of work",
        {
            let mut b = base();
            b.header.prev_hash = BlockHash([4; 32]);
            remerkle(&mut b);
            unsolve(&mut b);
            b
        },
        400,
        "bad-pow",
    ));

    for (case, block, status, code) in &cases {
        let encoded = block.to_bytes();
        let reply = if encoded.len() < 100_000 {
            http.post_json(&url, &net.block_json(block)).await?
        } else {
            http.post_binary(&url, encoded).await?
        };
        assert_rejected(&reply, *status, code, case);
        // Judged again on a second submission (binary this time), with the same verdict.
        let reply = http.post_binary(&url, block.to_bytes()).await?;
        assert_rejected(&reply, *status, code, &format!("{case}, again"));
        assert_eq!(node.tip(), tip_before, "{case}: the tip moved");
        let lookup = node.get(&format!("/blocks/{}", block.hash())).await?;
        assert_eq!(lookup.status, 404, "{case}: the refused block is served");
    }

    // The valid block built the same way connects, and a second copy is already known.
    let valid = seal(base());
    let reply = http.post_json(&url, &net.block_json(&valid)).await?.ok()?;
    assert_eq!(
        reply,
        json!({"hash": valid.hash().to_hex(), "status": "connected"})
    );
    let reply = http.post_binary(&url, valid.to_bytes()).await?.ok()?;
    assert_eq!(reply["status"], "already-known");
    assert_eq!(node.height(), 4);
    let view = node
        .get(&format!("/transactions/{}", tx.txid()))
        .await?
        .ok()?;
    assert_eq!(view["status"]["block_height"], 4);
    node.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transport_and_lookup_rejections_over_http() -> TestResult {
    let net = TestNet::new()?;
    let node = NodeBuilder::new(&net, "A").start().await?;
    node.generate(&net, 1).await?;
    let http = &node.http;

    // not-found: unknown transaction, block (hash and height), output, address without
    // history, path.
    let nobody = net.address_of(ferro::primitives::PubkeyHash([6; 20]));
    for path in [
        format!("/transactions/{}", Txid([1; 32])),
        format!("/blocks/{}", BlockHash([1; 32])),
        "/blocks/99".to_string(),
        // Heights at and past the end of u64 name no block either (not `malformed`).
        "/blocks/18446744073709551615".to_string(),
        "/blocks/18446744073709551616".to_string(),
        "/blocks/99999999999999999999".to_string(),
        "/blocks/123456789012345678901234567890".to_string(),
        format!("/blocks/{}/transactions/0", BlockHash([1; 32])),
        "/blocks/1/transactions/5".to_string(),
        format!("/outputs/{}/0", Txid([1; 32])),
        format!("/addresses/{nobody}"),
        "/no/such/path".to_string(),
    ] {
        assert_rejected(&node.get(&path).await?, 404, "not-found", &path);
    }
    // malformed lookups.
    for path in [
        "/transactions/xyz",
        "/blocks/notahash",
        "/addresses/ftest1notanaddress",
        "/blocks?limit=abc",
        "/blocks?bogus=1",
    ] {
        assert_rejected(&node.get(path).await?, 400, "malformed", path);
    }
    let fdev = ferro::primitives::Address::new("fdev", ferro::primitives::PubkeyHash([6; 20]))?;
    let path = format!("/addresses/{fdev}");
    assert_rejected(&node.get(&path).await?, 400, "wrong-network", &path);

    // malformed block bodies.
    let blocks = node.at("/blocks");
    assert_rejected(
        &http.post_text(&blocks, "{]").await?,
        400,
        "malformed",
        "block: bad json",
    );
    assert_rejected(
        &http.post_binary(&blocks, vec![1, 2, 3]).await?,
        400,
        "malformed",
        "block: short binary",
    );
    let mut block_json = net.block_json(&block_on(&node, &net, vec![]));
    block_json["header"]["nonce"] = json!(-1);
    assert_rejected(
        &http.post_json(&blocks, &block_json).await?,
        400,
        "malformed",
        "block: negative nonce",
    );

    // unsupported-media-type: neither JSON nor octet-stream.
    let tx = net.alice_pays_bob(0, coins(1), units(1_000));
    let body = serde_json::to_vec(&net.tx_json(&tx))?;
    for ct in ["text/plain", "application/x-www-form-urlencoded"] {
        let reply = http
            .request(
                hyper::Method::POST,
                &node.at("/transactions"),
                Some(ct),
                body.clone(),
            )
            .await?;
        assert_rejected(&reply, 415, "unsupported-media-type", ct);
    }
    // JSON with parameters is still JSON; binary is accepted as such.
    let reply = http
        .request(
            hyper::Method::POST,
            &node.at("/transactions"),
            Some("application/json; charset=utf-8"),
            body,
        )
        .await?;
    assert_eq!(reply.ok()?["status"], "accepted");
    let reply = http
        .request(
            hyper::Method::POST,
            &node.at("/transactions"),
            Some(BINARY),
            tx.to_bytes(),
        )
        .await?;
    assert_eq!(reply.ok()?["status"], "already-known");

    // body-too-large: 10 MiB, with a declared length and chunked.
    for chunked in [false, true] {
        let reply = post_huge(node.running.addr, "/transactions", 10 << 20, chunked).await?;
        assert_rejected(
            &reply,
            413,
            "body-too-large",
            &format!("10 MiB body, chunked: {chunked}"),
        );
    }

    // A wrong method on a known path.
    let reply = http
        .request(
            hyper::Method::DELETE,
            &node.at("/mempool"),
            None,
            Vec::new(),
        )
        .await?;
    assert_eq!(reply.status, 405, "{:?}", reply.body);

    // Peer announcements: the host must be the sender's, the node must answer /info
    // with our genesis.
    let other_net = TestNet::with_name("othernet")?;
    let other = NodeBuilder::new(&other_net, "O").start().await?;
    let nodes = node.at("/nodes");
    for (case, address, code) in [
        (
            "nothing listens there",
            "127.0.0.1:1".to_string(),
            "unreachable",
        ),
        ("a node of another network", other.addr(), "wrong-network"),
        ("not host:port", "nonsense".to_string(), "malformed"),
    ] {
        let reply = http
            .post_json(&nodes, &json!({ "address": address }))
            .await?;
        assert_rejected(&reply, 400, code, case);
    }
    let reply = http
        .post_json(&nodes, &json!({"address": "10.1.2.3:8000"}))
        .await?;
    assert_eq!(
        reply.status, 400,
        "a third party's address: {:?}",
        reply.body
    );
    assert_eq!(node.peer_count(), 0);
    let listed = node.get("/nodes").await?.ok()?;
    assert_eq!(listed, json!([]));

    // generate-disabled on a node started without --allow-generate.
    let quiet = NodeBuilder::new(&net, "Q").no_generate().start().await?;
    let reply = quiet
        .http
        .post_json(
            &quiet.at("/mining/generate"),
            &json!({"blocks": 1, "address": net.address(&net.miner)}),
        )
        .await?;
    assert_rejected(
        &reply,
        403,
        "generate-disabled",
        "generate without --allow-generate",
    );
    assert_eq!(quiet.height(), 0);
    // And bad generate requests on a node that allows it.
    let gen = node.at("/mining/generate");
    for (case, body) in [
        (
            "zero blocks",
            json!({"blocks": 0, "address": net.address(&net.miner)}),
        ),
        (
            "unknown field",
            json!({"blocks": 1, "address": net.address(&net.miner), "x": 1}),
        ),
        ("bad address", json!({"blocks": 1, "address": "nope"})),
    ] {
        assert_rejected(&http.post_json(&gen, &body).await?, 400, "malformed", case);
    }
    let reply = http
        .post_json(&gen, &json!({"blocks": 1, "address": fdev.to_string()}))
        .await?;
    assert_rejected(&reply, 400, "wrong-network", "generate to another network");

    // After all that the node is healthy and unchanged.
    assert_eq!(node.height(), 1);
    assert_eq!(node.mempool_len(), 1);
    let health = node.get("/health").await?.ok()?;
    assert_eq!(health, json!({"status": "ok", "height": 1}));
    stop_all(vec![quiet, other, node]).await;
    Ok(())
}

/// Regression: `POST /nodes` with the node's own address made the node its own peer
/// (discovery skips our own address, the announcement path did not), so it relayed
/// everything to itself and listed itself in `GET /nodes`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_announced_its_own_address_does_not_become_its_own_peer() -> TestResult {
    let net = TestNet::new()?;
    let node = NodeBuilder::new(&net, "A").start().await?;
    let reply = node
        .http
        .post_json(&node.at("/nodes"), &json!({"address": node.addr()}))
        .await?;
    let listed = node.get("/nodes").await?.ok()?;
    assert_eq!(
        (node.peer_count(), &listed),
        (0, &json!([])),
        "announcing the node to itself answered {} {}",
        reply.status,
        reply.body
    );
    node.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_mempool_refuses_low_fee_rates() -> TestResult {
    let net = TestNet::new()?;
    // The limit counts memory: by the pool's estimate two transactions of one input and
    // two outputs use 2 752 bytes, three 2 992 (src/mempool/memusage.rs).
    const LIMIT: usize = 2_900;
    let config = ferro::mempool::MempoolConfig {
        max_usage: LIMIT,
        ..Default::default()
    };
    let node = NodeBuilder::new(&net, "A").mempool(config).start().await?;
    node.generate(&net, 1).await?;
    // Two transactions of 205 bytes at 10 per byte fill the pool.
    let rich = [
        net.alice_pays_bob(0, coins(1), units(2_050)),
        net.alice_pays_bob(1, coins(1), units(2_050)),
    ];
    for tx in &rich {
        assert_eq!(tx.size(), 205);
        node.submit_tx(&net, tx).await?;
    }
    let poor = net.alice_pays_bob(2, coins(1), units(205));
    let reply = node
        .http
        .post_json(&node.at("/transactions"), &net.tx_json(&poor))
        .await?;
    assert_rejected(&reply, 400, "mempool-full", "no room at 1 per byte");
    // A better rate evicts a poorer one.
    let richer = net.alice_pays_bob(3, coins(1), units(4_100));
    assert_eq!(node.submit_tx(&net, &richer).await?["status"], "accepted");
    assert_eq!(node.mempool_len(), 2);
    // GET /info and GET /mempool report the memory use beside the serialized bytes.
    let info = node.get("/info").await?.ok()?;
    let pool = node.get("/mempool").await?.ok()?;
    for mempool in [&info["mempool"], &pool] {
        assert_eq!(mempool["bytes"], 410, "{mempool}");
        let usage = mempool["usage"].as_u64().unwrap_or(0) as usize;
        assert!(usage > 410 && usage <= LIMIT, "{mempool}");
    }
    node.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_block_from_a_peer_is_not_relayed() -> TestResult {
    let net = TestNet::new()?;
    let a = NodeBuilder::new(&net, "A").start().await?;
    let b = NodeBuilder::new(&net, "B").peer(&a).start().await?;
    // A fake peer of A records everything A relays.
    let spy = SpyPeer::start(&net).await?;
    let added = a
        .http
        .post_json(&a.at("/nodes"), &json!({"address": spy.addr.to_string()}))
        .await?
        .ok()?;
    assert_eq!(added["status"], "added");
    a.wait_peers(2).await?;
    b.wait_peers(1).await?;
    let first = a.generate(&net, 1).await?;
    b.wait_same_tip(&a).await?;

    // Valid proof of work, but the coinbase claims one unit more than the subsidy; and a
    // transaction with another key's signature.
    let mut invalid = net.template(&a.parent_info(), vec![]);
    let paid = invalid.transactions[0].outputs[0].value;
    invalid.transactions[0].outputs[0].value = paid.checked_add(units(1)).unwrap_or(paid);
    let invalid = seal(invalid);
    let reply = a
        .http
        .post_binary(&a.at("/blocks"), invalid.to_bytes())
        .await?;
    assert_rejected(&reply, 400, "bad-coinbase-value", "coinbase above subsidy");
    let mut bad_tx = net.alice_pays_bob(0, coins(1), units(1_000));
    bad_tx.inputs[0].signature = net
        .bob
        .sign(&bad_tx.sighash(&net.genesis_hash(), &[premine_output(&net, 0)]));
    let reply = a
        .http
        .post_binary(&a.at("/transactions"), bad_tx.to_bytes())
        .await?;
    assert_rejected(&reply, 400, "bad-signature", "signed by another key");

    // Valid items relayed after them reach the peers; relay to a peer is one ordered
    // queue, so had A relayed the invalid ones, they would have arrived first.
    let good_tx = net.alice_pays_bob(1, coins(1), units(1_000));
    a.submit_tx(&net, &good_tx).await?;
    let second = a.generate(&net, 1).await?;
    b.wait_same_tip(&a).await?;
    let second = BlockHash::from_hex(&second[0])?;
    until(SETTLE, "the spy has the second block", || {
        spy.seen(|s| s.blocks.contains(&second))
    })
    .await?;
    spy.seen(|s| {
        assert!(
            !s.blocks.contains(&invalid.hash()),
            "invalid block relayed: {s:?}"
        );
        assert!(
            !s.transactions.contains(&bad_tx.txid()),
            "invalid tx relayed: {s:?}"
        );
        assert!(s.transactions.contains(&good_tx.txid()), "{s:?}");
        let first = BlockHash::from_hex(&first[0]).ok();
        assert!(first.is_some_and(|h| s.blocks.contains(&h)), "{s:?}");
    });
    assert_eq!(b.tip(), second);
    assert!(!b.knows_block(&invalid.hash()));
    let lookup = b.get(&format!("/blocks/{}", invalid.hash())).await?;
    assert_rejected(&lookup, 404, "not-found", "the invalid block on B");
    stop_all(vec![b, a]).await;
    spy.stop();
    Ok(())
}

/// Regression: the node remembered a block hash as invalid after a body that does not
/// match the header's merkle root, so a peer sending a mutated copy of a new block first
/// made the node refuse the real block (and stall its sync) until a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn altered_block_body_does_not_make_the_real_block_invalid() -> TestResult {
    let net = TestNet::new()?;
    let node = NodeBuilder::new(&net, "A").start().await?;
    node.generate(&net, 3).await?;
    let fee = units(1_000);
    let tx = net.alice_pays_bob(0, coins(1), fee);
    let real = block_on(&node, &net, vec![(tx.clone(), fee)]);

    // Same header (same hash), one transaction dropped: the body is not the one the
    // header commits to.
    let mut altered = real.clone();
    altered.transactions.pop();
    assert_eq!(altered.hash(), real.hash());
    let url = node.at("/blocks");
    let reply = node.http.post_binary(&url, altered.to_bytes()).await?;
    assert_rejected(&reply, 400, "bad-merkle-root", "altered body");
    let reply = node.http.post_binary(&url, real.to_bytes()).await?;
    assert_eq!(
        (reply.status.as_u16(), &reply.body["status"]),
        (200, &json!("connected")),
        "the real block must connect after a mutated copy was refused: {}",
        reply.body
    );
    assert_eq!(node.tip(), real.hash());
    node.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_is_prompt_and_a_restart_keeps_the_chain() -> TestResult {
    let net = TestNet::new()?;
    let a = NodeBuilder::new(&net, "A").start().await?;
    let b = NodeBuilder::new(&net, "B").peer(&a).start().await?;
    a.wait_peers(1).await?;
    a.generate(&net, 5).await?;
    b.wait_same_tip(&a).await?;
    let (height, tip) = (a.height(), a.tip());

    // Idle nodes (with a peer and pooled connections) stop within a few seconds.
    let started = Instant::now();
    let dir = tokio::time::timeout(Duration::from_secs(5), a.stop())
        .await
        .map_err(|_| anyhow::anyhow!("shutdown of an idle node took more than 5 s"))?;
    eprintln!("shutdown took {:?}", started.elapsed());
    let b_health = Http::new().get(&b.at("/health")).await?.ok()?;
    assert_eq!(b_health["height"], 5);

    // Restart on the same data dir: same chain, and it keeps working.
    let a = NodeBuilder::new(&net, "A")
        .data_dir(dir)
        .peer(&b)
        .start()
        .await?;
    assert_eq!((a.height(), a.tip()), (height, tip));
    a.wait_healthy().await?;
    let info = a.get("/info").await?.ok()?;
    assert_eq!(info["height"], 5);
    assert_eq!(info["best_hash"], tip.to_hex());
    a.generate(&net, 1).await?;
    b.wait_same_tip(&a).await?;
    assert_eq!(b.height(), 6);

    // The data dir belongs to this network: another network's node refuses to open it.
    let dir = a.stop().await;
    let other = TestNet::with_name("othernet")?;
    let cfg = ferro::node::NodeConfig::new(
        other.network.clone(),
        dir.path().join("data"),
        "127.0.0.1:0".parse()?,
    );
    match ferro::daemon::run(cfg).await {
        Ok(running) => {
            running.shutdown().await;
            anyhow::bail!("a node of another network opened this network's chain");
        }
        Err(e) => assert!(format!("{e:#}").contains("another network"), "{e:#}"),
    }
    b.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_during_a_long_generate_is_prompt() -> TestResult {
    let net = TestNet::new()?;
    let a = NodeBuilder::new(&net, "A").start().await?;
    let (http, url, address) = (
        a.http.clone(),
        a.at("/mining/generate"),
        net.address(&net.miner),
    );
    let request = tokio::spawn(async move {
        http.post_json(&url, &json!({"blocks": 1000, "address": address}))
            .await
    });
    until(SETTLE, "the generate call has mined 20 blocks", || {
        a.height() >= 20
    })
    .await?;

    let started = Instant::now();
    let dir = tokio::time::timeout(Duration::from_secs(5), a.stop())
        .await
        .map_err(|_| anyhow::anyhow!("shutdown during generate took more than 5 s"))?;
    eprintln!("shutdown during generate took {:?}", started.elapsed());
    // The in-flight request is answered before the server stops: refused as not ready.
    let reply = tokio::time::timeout(Duration::from_secs(5), request).await???;
    assert_rejected(&reply, 503, "not-ready", "generate interrupted by shutdown");

    // What was mined before the stop is kept.
    let a = NodeBuilder::new(&net, "A").data_dir(dir).start().await?;
    let height = a.height();
    assert!(
        (20..1000).contains(&height),
        "height after restart {height}"
    );
    let last = a.get("/blocks/last").await?.ok()?;
    assert_eq!(last["header"]["height"], height);
    a.stop().await;
    Ok(())
}

/// The premine output `vout` of the test network, as the node's UTXO set holds it.
fn premine_output(net: &TestNet, vout: usize) -> TxOut {
    net.network.genesis.transactions[0].outputs[vout]
}
