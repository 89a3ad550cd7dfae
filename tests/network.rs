//! End-to-end test of the whole network with real processes: a `dns_seed`, several
//! `full_node`s and the `wallet` command, all on `127.0.0.1:0`.
//!
//! The story (one test, steps in order, each building on the last):
//! nodes discover each other only through the seed; the faucet wallet sends to a new
//! wallet through node A; node C mines it; every node reports the same tip, the new
//! balance, and a rich list that matches; a fourth node started later syncs the whole
//! chain; a restarted node keeps its chain and catches up on what it missed; killing a
//! node with SIGKILL mid-sync and restarting it converges with no corruption.
//!
//! The network file is made in the test (`full_node genesis`) with 4-bit proof of work
//! and no retarget, so `/mining/generate` mines hundreds of blocks in seconds. Nothing
//! sleeps for a fixed time: conditions are polled with a deadline. Every child process
//! is killed when the test ends, passes or fails; on failure the end of each process
//! log is printed. `dns_seed` and `wallet` come from the same target folder as
//! `full_node` and are built once by the test if missing (`network_support::bins`).

#[path = "support/hostile.rs"]
mod hostile;
mod network_support;

use anyhow::Context;
use network_support::net::{
    Node, TestNet, Wallet, COIN, COINBASE_MATURITY, FAUCET_ADDRESS, FAUCET_MNEMONIC, PREMINE_COINS,
};
use network_support::process::Proc;
use network_support::{eventually, http, until, SETTLE};
use serde_json::Value;
use std::time::{Duration, Instant};

/// The block subsidy of the test network (the `full_node genesis` default).
const SUBSIDY: u64 = 50 * COIN;
/// What the faucet sends to the new wallet.
const PAYMENT_COINS: u64 = 25;
/// Blocks C mines while E is down, so that E has a long sync to be killed in.
const LONG_CHAIN: u32 = 300;

type TestResult = anyhow::Result<()>;

#[test]
fn seed_discovery_payment_late_join_restart_and_crash_recovery() {
    let started = Instant::now();
    let net = match TestNet::new() {
        Ok(net) => net,
        Err(e) => panic!("cannot make the test network: {e:?}"),
    };
    if let Err(e) = scenario(&net) {
        net.dump_logs();
        panic!("{e:?}");
    }
    eprintln!("network scenario passed in {:.1?}", started.elapsed());
}

fn scenario(net: &TestNet) -> TestResult {
    let seed = net.start_seed()?;
    // No --peer anywhere: the seed is the only way the nodes can learn of each other.
    let a = net.start_node("A", &seed)?;
    let b = net.start_node("B", &seed)?;
    let c = net.start_node("C", &seed)?;
    wait_mesh(&[&a, &b, &c])?;
    let listed = http::get_ok(seed.addr, "/nodes?limit=100")?;
    for node in [&a, &b, &c] {
        anyhow::ensure!(
            listed
                .as_array()
                .is_some_and(|l| l.iter().any(|n| n["address"] == node.addr().to_string())),
            "the seed does not list {}: {listed}",
            node.name
        );
    }

    let miner = net.new_wallet("miner")?;
    let miner_address = miner.address()?;
    // The premine is a coinbase output: mine past its maturity.
    c.generate(COINBASE_MATURITY as u32 + 1, &miner_address)?;
    wait_same_tip(&[&a, &b], &c)?;

    let recipient = pay_through_a_mine_on_c(net, &a, &b, &c, &miner_address)?;

    let d = late_node_syncs_everything(net, &seed, &c, &recipient)?;

    let b = restarted_node_keeps_chain_and_catches_up(net, &seed, b, &c, &miner_address)?;

    c.generate(LONG_CHAIN, &miner_address)?;
    wait_same_tip(&[&a, &b, &d], &c)?;
    let e = killed_mid_sync_converges(net, &seed, &c)?;
    let g = killed_mid_flush_converges(net, &seed, &c, "G", KillPoint::BeforeCommit)?;
    let h = killed_mid_flush_converges(net, &seed, &c, "H", KillPoint::BetweenCommits)?;

    // In the end every node agrees on everything.
    let all = [&a, &b, &c, &d, &e, &g, &h];
    wait_same_tip(&all, &c)?;
    same_rich_lists(&all)?;
    for node in all {
        let (confirmed, _) = recipient.balance(node)?;
        anyhow::ensure!(
            confirmed == PAYMENT_COINS * COIN,
            "{}: the recipient's balance is {confirmed}",
            node.name
        );
    }
    Ok(())
}

/// The faucet pays a new wallet through A; the transaction reaches C by relay, C mines
/// it, and every node then shows the same tip, balance and rich list.
fn pay_through_a_mine_on_c(
    net: &TestNet,
    a: &Node,
    b: &Node,
    c: &Node,
    miner_address: &str,
) -> anyhow::Result<Wallet> {
    let faucet = net.restore_wallet("faucet", FAUCET_MNEMONIC)?;
    anyhow::ensure!(
        faucet.address()? == FAUCET_ADDRESS,
        "the restored faucet has another first address"
    );
    let recipient = net.new_wallet("recipient")?;
    let to = recipient.address()?;
    let amount = PAYMENT_COINS.to_string();
    let sent = faucet.run(
        Some(a),
        &["send", "--to", &to, "--amount", &amount, "--yes"],
        None,
    )?;
    anyhow::ensure!(
        sent["status"] == "accepted" && sent["amount"] == PAYMENT_COINS * COIN,
        "unexpected send result {sent}"
    );
    let txid = sent["txid"]
        .as_str()
        .context("send without txid")?
        .to_string();
    let fee = sent["fee"].as_u64().context("send without fee")?;
    // The premine is one output: the rest comes back to a change address of the faucet.
    let change = sent["change"]["address"]
        .as_str()
        .context("send without change")?
        .to_string();

    until(SETTLE, "C has the payment in its mempool", || {
        let mempool = c.get("/mempool")?;
        Ok(mempool["txids"]
            .as_array()
            .is_some_and(|ids| ids.iter().any(|id| id == txid.as_str())))
    })?;
    let (confirmed, unconfirmed) = recipient.balance(a)?;
    anyhow::ensure!(
        (confirmed, unconfirmed) == (0, (PAYMENT_COINS * COIN) as i64),
        "before mining the payment is unconfirmed, got ({confirmed}, {unconfirmed})"
    );

    let mined = c.generate(1, miner_address)?;
    wait_same_tip(&[a, b], c)?;
    for node in [a, b, c] {
        let tx = node.get(&format!("/transactions/{txid}"))?;
        anyhow::ensure!(
            tx["status"]["confirmed"] == true && tx["status"]["block_hash"] == mined[0].as_str(),
            "{}: the payment is not in C's block: {}",
            node.name,
            tx["status"]
        );
        let balance = recipient.balance(node)?;
        anyhow::ensure!(
            balance == (PAYMENT_COINS * COIN, 0),
            "{}: recipient balance {balance:?}",
            node.name
        );
    }

    let rich = same_rich_lists(&[a, b, c])?;
    let height = COINBASE_MATURITY + 2;
    let expected = [
        (
            change.as_str(),
            PREMINE_COINS * COIN - PAYMENT_COINS * COIN - fee,
        ),
        (miner_address, height * SUBSIDY + fee),
        (to.as_str(), PAYMENT_COINS * COIN),
    ];
    for (address, balance) in expected {
        anyhow::ensure!(
            rich_balance(&rich, address) == Some(balance),
            "rich list should show {address} with {balance}: {rich}"
        );
    }
    anyhow::ensure!(
        rich.as_array().map(Vec::len) == Some(3),
        "three addresses hold coins (the faucet's first one is spent): {rich}"
    );
    Ok(recipient)
}

/// D starts after everything above and syncs the whole chain from its peers.
fn late_node_syncs_everything(
    net: &TestNet,
    seed: &Proc,
    c: &Node,
    recipient: &Wallet,
) -> anyhow::Result<Node> {
    let d = net.start_node("D", seed)?;
    wait_same_tip(&[&d], c)?;
    same_rich_lists(&[c, &d])?;
    same_info(
        &d,
        c,
        &[
            "circulating_supply",
            "total_transactions",
            "total_addresses",
        ],
    )?;
    anyhow::ensure!(
        recipient.balance(&d)? == (PAYMENT_COINS * COIN, 0),
        "D: wrong recipient balance"
    );
    // D learned the others from the seed too, and they learned D.
    until(SETTLE, "D has three peers", || {
        Ok(d.peer_addresses()?.len() >= 3)
    })?;
    Ok(d)
}

/// B stops (SIGTERM), misses blocks, restarts on the same data dir with its chain and
/// catches up.
fn restarted_node_keeps_chain_and_catches_up(
    net: &TestNet,
    seed: &Proc,
    mut b: Node,
    c: &Node,
    miner_address: &str,
) -> anyhow::Result<Node> {
    let before = b.info()?;
    let (height, tip) = b.tip()?;
    let status = b.proc.terminate()?;
    anyhow::ensure!(status.success(), "B did not stop cleanly: {status}");
    drop(b);

    c.generate(5, miner_address)?;
    let (missed_height, _) = c.tip()?;

    let b = net.start_node("B", seed)?;
    // The first /info comes before B's first sync round can have found a peer.
    let at_start = b.info()?;
    let start_height = at_start["height"].as_u64().context("no height")?;
    anyhow::ensure!(
        start_height >= height && b.hash_at(height)? == tip,
        "B lost its chain: height {height} before the restart, {start_height} after"
    );
    if start_height == height {
        for field in [
            "best_hash",
            "circulating_supply",
            "rich_list",
            "total_transactions",
        ] {
            anyhow::ensure!(
                at_start[field] == before[field],
                "B's {field} changed across the restart: {} then {}",
                before[field],
                at_start[field]
            );
        }
    }
    eprintln!("B stopped at height {height}, restarted at {start_height}, C is at {missed_height}");
    wait_same_tip(&[&b], c)?;
    anyhow::ensure!(
        b.tip()?.0 == missed_height,
        "B did not catch up on the blocks it missed"
    );
    same_rich_lists(&[c, &b])?;
    Ok(b)
}

/// Where a flush is when the node is killed.
#[derive(Clone, Copy, Debug)]
enum KillPoint {
    /// Its writes staged, nothing of the chain state committed yet: the restart replays
    /// the stored blocks the chain state had not flushed.
    BeforeCommit,
    /// The chain state committed (fjall, with the rich list's redo record), the rich list
    /// (redb) not yet: the restart repairs the rich list from the redo record.
    BetweenCommits,
}

/// A node (`name`) syncing from C with a flush per block is killed with SIGKILL inside a
/// flush at `at`, restarts on the same data dir and converges on C's chain with the same
/// state and rich list.
fn killed_mid_flush_converges(
    net: &TestNet,
    seed: &Proc,
    c: &Node,
    name: &str,
    at: KillPoint,
) -> anyhow::Result<Node> {
    let (target, _) = c.tip()?;
    let (hook, paused_marker, restart_marker) = match at {
        KillPoint::BeforeCommit => (
            "FULL_NODE_TEST_FLUSH_PAUSE_MS",
            "pausing before it is written",
            "connecting stored blocks the chain state had not flushed",
        ),
        KillPoint::BetweenCommits => (
            "FULL_NODE_TEST_RICH_PAUSE_MS",
            "pausing before the rich list is written",
            "rich list repaired from the redo record",
        ),
    };
    let mut g = net.start_node_env(name, seed, &["--db-cache", "0"], &[(hook, "120000")])?;
    let log = net.log_of(name);
    // The first flush at start is the genesis commit's; wait for one during sync.
    let flushing = eventually(
        SETTLE,
        Duration::from_millis(5),
        "the node pauses in a flush",
        || {
            let text = std::fs::read_to_string(&log)?;
            let paused = text.contains(paused_marker);
            let height = text
                .lines()
                .rev()
                .filter(|l| l.contains("flushing chain state"))
                .filter_map(|l| l.split("height=").nth(1))
                .find_map(|rest| rest.split_whitespace().next()?.parse::<u64>().ok());
            Ok(height.filter(|h| paused && *h > 0))
        },
    )?;
    g.proc.kill9()?;
    eprintln!("{name} killed with SIGKILL in a flush ({at:?}) at height {flushing} of {target}");
    let g = net.start_node(name, seed)?;
    let (restart_height, _) = g.tip()?;
    anyhow::ensure!(
        restart_height >= flushing,
        "{name}'s blocks up to {flushing} were stored before its flush, but it restarted at {restart_height}"
    );
    let text = std::fs::read_to_string(&log)?;
    anyhow::ensure!(
        text.contains(restart_marker),
        "{name}'s log after the restart lacks \"{restart_marker}\""
    );
    wait_same_tip(&[&g], c)?;
    same_info(
        &g,
        c,
        &[
            "circulating_supply",
            "rich_list",
            "total_transactions",
            "total_addresses",
            "chain_work",
        ],
    )?;
    same_rich_lists(&[c, &g])?;
    Ok(g)
}

/// E starts empty while the chain is long, is killed with SIGKILL part way through its
/// sync, restarts on the same data dir and converges on C's chain with the same state.
fn killed_mid_sync_converges(net: &TestNet, seed: &Proc, c: &Node) -> anyhow::Result<Node> {
    let (target, _) = c.tip()?;
    let mut killed_at = None;
    // The whole sync takes a fraction of a second; in the rare case the polls miss it,
    // start over with an empty data dir.
    for _attempt in 0..3 {
        let mut e = net.start_node("E", seed)?;
        let seen = eventually(SETTLE, Duration::from_millis(1), "E starts syncing", || {
            Ok(Some(e.tip()?.0).filter(|&h| h > 0))
        })?;
        e.proc.kill9()?;
        if seen < target {
            killed_at = Some(seen);
            break;
        }
        std::fs::remove_dir_all(&e.data_dir)?;
    }
    let killed_at = killed_at.context("E's sync was never seen in progress")?;
    eprintln!("E killed with SIGKILL at height {killed_at} of {target}");

    let e = net.start_node("E", seed)?;
    let (restart_height, _) = e.tip()?;
    anyhow::ensure!(
        restart_height >= killed_at,
        "E had height {killed_at} when killed but {restart_height} after the restart"
    );
    wait_same_tip(&[&e], c)?;
    same_info(
        &e,
        c,
        &[
            "circulating_supply",
            "rich_list",
            "total_transactions",
            "total_addresses",
            "chain_work",
        ],
    )?;
    same_rich_lists(&[c, &e])?;
    let info = e.info()?;
    anyhow::ensure!(
        info["circulating_supply"] == PREMINE_COINS * COIN + target * SUBSIDY,
        "E's supply {} is not premine + {target} subsidies",
        info["circulating_supply"]
    );
    // Spot-check stored blocks across the chain, including around the kill point.
    for height in [1, killed_at, killed_at + 1, target / 2, target] {
        anyhow::ensure!(
            e.hash_at(height)? == c.hash_at(height)?,
            "E and C disagree on block {height}"
        );
    }
    Ok(e)
}

/// Waits until every node lists every other one as a peer (`GET /nodes`).
fn wait_mesh(nodes: &[&Node]) -> TestResult {
    for node in nodes {
        let what = format!("{} lists the other nodes as peers", node.name);
        until(SETTLE, &what, || {
            let peers = node.peer_addresses()?;
            Ok(nodes
                .iter()
                .filter(|other| other.name != node.name)
                .all(|other| peers.contains(&other.addr().to_string())))
        })?;
    }
    Ok(())
}

/// Waits until every node in `nodes` has `reference`'s tip.
fn wait_same_tip(nodes: &[&Node], reference: &Node) -> TestResult {
    let (height, hash) = reference.tip()?;
    for node in nodes {
        let what = format!(
            "{} has {}'s tip (height {height})",
            node.name, reference.name
        );
        until(SETTLE, &what, || Ok(node.tip()? == (height, hash.clone())))?;
    }
    Ok(())
}

/// `GET /richlist?limit=1000` and the `/info` top 10 are the same on every node; the
/// list.
fn same_rich_lists(nodes: &[&Node]) -> anyhow::Result<Value> {
    let first = nodes.first().context("no nodes")?;
    let list = first.get("/richlist?limit=1000")?;
    let top = first.info()?["rich_list"].clone();
    for node in &nodes[1..] {
        let theirs = node.get("/richlist?limit=1000")?;
        anyhow::ensure!(
            theirs == list,
            "rich lists differ: {} has {list}, {} has {theirs}",
            first.name,
            node.name
        );
        let their_top = node.info()?["rich_list"].clone();
        anyhow::ensure!(
            their_top == top,
            "/info rich lists differ: {} has {top}, {} has {their_top}",
            first.name,
            node.name
        );
    }
    Ok(list)
}

/// The `/info` fields `fields` are equal on `node` and `reference`.
fn same_info(node: &Node, reference: &Node, fields: &[&str]) -> TestResult {
    let ours = node.info()?;
    let theirs = reference.info()?;
    for field in fields {
        anyhow::ensure!(
            ours[field] == theirs[field],
            "{}'s {field} is {}, {}'s is {}",
            node.name,
            ours[field],
            reference.name,
            theirs[field]
        );
    }
    Ok(())
}

fn rich_balance(list: &Value, address: &str) -> Option<u64> {
    list.as_array()?
        .iter()
        .find(|entry| entry["address"] == address)?["balance"]
        .as_u64()
}

/// Issue 10's first attack, with real processes: a fake node that claims the real
/// genesis, height 10^9 and work ff…ff, and then has no headers, is registered at the
/// seed beside honest nodes. The miner keeps mining, relay keeps working, a new node
/// reaches the honest tip within 10 s, every node discourages the fake in its first sync
/// round with it, and no node writes more than 100 log lines about it.
#[test]
fn fake_peer_registered_at_the_seed_stalls_nothing() {
    let net = match TestNet::with_pow_bits(16) {
        Ok(net) => net,
        Err(e) => panic!("cannot make the test network: {e:?}"),
    };
    if let Err(e) = fake_peer_scenario(&net) {
        net.dump_logs();
        panic!("{e:?}");
    }
}

fn fake_peer_scenario(net: &TestNet) -> TestResult {
    let seed = net.start_seed()?;
    let mining = ["--mine", "--miner-address", FAUCET_ADDRESS];
    let a = net.start_node_with("A", &seed, &mining)?;
    let b = net.start_node("B", &seed)?;
    wait_mesh(&[&a, &b])?;
    let file: Value = serde_json::from_slice(&std::fs::read(&net.genesis)?)?;
    let network = ferro::consensus::Network::from_json(&file.to_string())?;
    let fake = hostile::FakePeer::start(
        "127.0.0.1".parse()?,
        hostile::Claims::huge(&network.params.name, network.genesis.clone()),
        hostile::Mode::Empty,
    )?;
    let fake_addr = fake.addr.to_string();
    let registered = http::post(
        seed.addr,
        "/nodes",
        &serde_json::json!({"address": fake_addr}),
    )?
    .ok()?;
    anyhow::ensure!(registered["status"] == "registered", "{registered}");
    let (start_height, _) = a.tip()?;

    let discouraged_in = |name: &str| -> anyhow::Result<bool> {
        let log = std::fs::read_to_string(net.log_of(name)).unwrap_or_default();
        Ok(log
            .lines()
            .any(|l| l.contains("peer discouraged") && l.contains(&fake_addr)))
    };
    for node in [&a, &b] {
        let what = format!("{} discourages the fake", node.name);
        until(Duration::from_secs(15), &what, || {
            discouraged_in(&node.name)
        })?;
    }
    anyhow::ensure!(
        fake.sync_requests() > 0,
        "nobody tried to sync from the fake"
    );
    // Mining went on, and B follows A by relay.
    until(Duration::from_secs(30), "A keeps mining", || {
        Ok(a.tip()?.0 >= start_height + 3)
    })?;
    let (height, _) = a.tip()?;
    until(SETTLE, "B follows A's new blocks", || {
        Ok(b.tip()?.0 >= height)
    })?;
    for node in [&a, &b] {
        let listed = node.get("/nodes")?;
        anyhow::ensure!(
            !listed.to_string().contains(&fake_addr),
            "{} still lists the fake: {listed}",
            node.name
        );
    }

    // A new node reaches the honest tip within 10 s, fake or not.
    let (target, _) = a.tip()?;
    let d = net.start_node("D", &seed)?;
    until(Duration::from_secs(10), "D reaches A's tip", || {
        Ok(d.tip()?.0 >= target)
    })?;
    until(Duration::from_secs(15), "D discourages the fake", || {
        discouraged_in("D")
    })?;
    // B's relay keeps reaching D as well.
    let (height, _) = a.tip()?;
    until(SETTLE, "D follows A's new blocks", || {
        Ok(d.tip()?.0 >= height)
    })?;

    for name in ["A", "B", "D"] {
        let log = std::fs::read_to_string(net.log_of(name)).unwrap_or_default();
        let lines = log.lines().filter(|l| l.contains(&fake_addr)).count();
        anyhow::ensure!(
            lines <= 100,
            "{name} wrote {lines} log lines about the fake"
        );
    }
    Ok(())
}

/// `/openapi.json` is the contract, checked against live processes by a client nobody
/// here wrote (schemathesis, installed by `scripts/test-tools.sh`): every documented
/// operation of the node and the seed exercised with generated inputs, no 5xx, every
/// answer's status, content type, headers and body as documented.
///
/// The node runs as in production, without `--allow-generate` (so `/mining/generate`
/// answers its documented 403): mining 1 000 blocks in one call takes longer in a debug
/// build than schemathesis's response-time check allows. `positive_data_acceptance` is
/// left out: it expects every schema-valid body to be accepted, and a schema cannot say
/// that a signature verifies or a hex string names a known block.
#[test]
fn openapi_contract_holds_against_live_node_and_seed() -> TestResult {
    if test_support::tools::skipped() {
        eprintln!("skipped: FERRO_SKIP_EXTERNAL_TOOLS=1");
        return Ok(());
    }
    let schemathesis = test_support::tools::schemathesis()?;
    let net = TestNet::new()?;
    let seed = net.start_seed()?;
    let miner = net.start_node("miner", &seed)?;
    // A chain with spendable coins and a payment, so reads find real data too.
    miner.generate(COINBASE_MATURITY as u32 + 2, FAUCET_ADDRESS)?;
    let node = net.start_node_generating("plain", &seed, &[], false)?;
    until(SETTLE, "the plain node syncs the miner's chain", || {
        Ok(node.tip()? == miner.tip()?)
    })?;
    for (what, url) in [("node", node.url()), ("seed", seed.url())] {
        // Its cache and reports go to the test's folder, not the checkout.
        let workdir = net.path("schemathesis");
        std::fs::create_dir_all(&workdir)?;
        let mut command = std::process::Command::new(&schemathesis);
        command
            .current_dir(&workdir)
            .arg("run")
            .arg(format!("{url}/openapi.json"));
        if what == "node" {
            // An endless event stream: described, but excluded from generated-input
            // testing (API.md, second round); tests/explorer covers it.
            command.args(["--exclude-path", "/events"]);
        }
        let out = command
            .args([
                "--checks",
                "all",
                "--exclude-checks",
                "positive_data_acceptance",
            ])
            .args([
                "--max-examples",
                "25",
                "--workers",
                "2",
                "--request-timeout",
                "30",
            ])
            .args(["--seed", "1"])
            .output()
            .context("cannot run schemathesis")?;
        let report = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            net.dump_logs();
            anyhow::bail!(
                "schemathesis found problems in the {what}'s API:\n{report}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        eprintln!(
            "{what}: {}",
            report
                .lines()
                .rev()
                .find(|l| l.contains("generated"))
                .unwrap_or_default()
        );
    }
    Ok(())
}
