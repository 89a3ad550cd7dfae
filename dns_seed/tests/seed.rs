//! Integration tests of the seed: in-process seeds and fake nodes on
//! 127.0.0.1 ephemeral ports, and the real binary as a process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::Duration;

use dns_seed::Config;
use serde_json::{json, Value};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_node_registers_and_is_served() {
    let node = FakeNode::start(GENESIS_A).await;
    node.height.store(12, Ordering::SeqCst);
    let seed = Seed::start(test_config()).await;

    let answer = seed.register(node.address).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.json, json!({"status": "registered"}));
    assert!(
        node.probes.load(Ordering::SeqCst) >= 1,
        "the seed probed /info before listing"
    );

    let nodes = seed.nodes("").await;
    assert_eq!(nodes.len(), 1);
    assert_eq!(nodes[0]["address"], node.address.to_string());
    assert_eq!(nodes[0]["height"], 12);
    let last_seen = nodes[0]["last_seen"].as_u64().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        now.abs_diff(last_seen) < 60,
        "last_seen {last_seen} is unix seconds"
    );
    assert_eq!(
        seed.health().await,
        json!({"status": "ok", "nodes": 1, "live": 1})
    );

    // Re-registering refreshes rather than duplicates.
    node.height.store(13, Ordering::SeqCst);
    assert_eq!(seed.register(node.address).await.status, 200);
    let nodes = seed.nodes("").await;
    assert_eq!((nodes.len(), nodes[0]["height"].as_u64()), (1, Some(13)));
    seed.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_address_is_refused() {
    let seed = Seed::start(test_config()).await;
    let nowhere = closed_port().await;
    let answer = seed.register(nowhere).await;
    assert_eq!(answer.status, 400, "{answer:?}");
    assert_eq!(answer.code(), "unreachable");
    assert!(
        answer.message().contains(&nowhere.to_string()),
        "{answer:?}"
    );
    assert!(seed.nodes("").await.is_empty());
    assert_eq!(seed.health().await["nodes"], 0);
    seed.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_network_nodes_are_refused() {
    let ours = FakeNode::start(GENESIS_A).await;
    let theirs = FakeNode::start(GENESIS_B).await;
    let garbage = FakeNode::start("not-a-hash").await;
    let seed = Seed::start(Config {
        genesis_hash: Some(GENESIS_A.parse().unwrap()),
        ..test_config()
    })
    .await;

    let answer = seed.register(theirs.address).await;
    assert_eq!(answer.status, 400, "{answer:?}");
    assert_eq!(answer.code(), "wrong-network");
    assert!(answer.message().contains(GENESIS_B), "{answer:?}");

    let answer = seed.register(garbage.address).await;
    assert_eq!(
        (answer.status, answer.code()),
        (400, "unreachable"),
        "{answer:?}"
    );

    assert_eq!(seed.register(ours.address).await.status, 200);
    assert_eq!(seed.addresses("").await, vec![ours.address.to_string()]);
    seed.stop().await.unwrap();
}

/// PROTOCOL.md section 9: a 2xx `/info` that does not decode is an answer no honest node
/// gives; the node is discouraged for 24 hours and its registrations are refused, while
/// another network's node is only refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_answering_garbage_is_discouraged() {
    let garbage = FakeNode::start("not-a-hash").await;
    let theirs = FakeNode::start(GENESIS_B).await;
    let seed = Seed::start(Config {
        genesis_hash: Some(GENESIS_A.parse().unwrap()),
        ..test_config()
    })
    .await;
    let first = seed.register(garbage.address).await;
    assert_eq!(
        (first.status, first.code()),
        (400, "unreachable"),
        "{first:?}"
    );
    let probes = garbage.probes.load(std::sync::atomic::Ordering::SeqCst);
    let again = seed.register(garbage.address).await;
    assert_eq!(
        (again.status, again.code()),
        (403, "discouraged"),
        "{again:?}"
    );
    // Refused before probing again.
    assert_eq!(
        garbage.probes.load(std::sync::atomic::Ordering::SeqCst),
        probes
    );
    assert!(seed.addresses("").await.is_empty());
    // Another network is not misbehaviour: refused each time, never discouraged.
    for _ in 0..2 {
        let answer = seed.register(theirs.address).await;
        assert_eq!((answer.status, answer.code()), (400, "wrong-network"));
    }
    seed.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_node_is_dropped_after_the_configured_failures() {
    let dir = temp_dir("dropped");
    let data_file = dir.join("nodes.json");
    let mut leaving = FakeNode::start(GENESIS_A).await;
    let staying = FakeNode::start(GENESIS_A).await;
    let seed = Seed::start(Config {
        data_file: Some(data_file.clone()),
        max_failures: 3,
        ..test_config()
    })
    .await;
    assert_eq!(seed.register(leaving.address).await.status, 200);
    assert_eq!(seed.register(staying.address).await.status, 200);

    // Re-probes refresh what the seed knows.
    staying.height.store(42, Ordering::SeqCst);
    eventually("the re-probe picks up the new height", || async {
        let nodes = seed.nodes("").await;
        nodes
            .iter()
            .any(|n| n["address"] == staying.address.to_string() && n["height"] == 42)
            .then_some(())
    })
    .await;

    leaving.stop().await;
    // After the first failure the node is no longer served, but still listed
    // until it has failed three probes in a row.
    eventually("the stopped node is no longer served", || async {
        (seed.addresses("").await == vec![staying.address.to_string()]).then_some(())
    })
    .await;
    eventually("the stopped node is dropped", || async {
        (seed.health().await["nodes"] == 1).then_some(())
    })
    .await;
    let probes_before = staying.probes.load(Ordering::SeqCst);
    eventually("the live node keeps being probed", || async {
        (staying.probes.load(Ordering::SeqCst) > probes_before + 2).then_some(())
    })
    .await;
    assert_eq!(
        seed.health().await,
        json!({"status": "ok", "nodes": 1, "live": 1})
    );

    // The data file follows.
    let saved = eventually("the data file drops the node", || async {
        let text = std::fs::read_to_string(&data_file).ok()?;
        let value: Value = serde_json::from_str(&text).ok()?;
        (value["nodes"].as_array()?.len() == 1).then_some(value)
    })
    .await;
    assert_eq!(saved["nodes"][0]["address"], staying.address.to_string());
    seed.stop().await.unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_seed_serves_its_saved_list() {
    let dir = temp_dir("restart");
    let data_file = dir.join("nodes.json");
    let config = Config {
        data_file: Some(data_file.clone()),
        // No re-probe during the test: the list must come from the file.
        probe_interval: Duration::from_secs(3600),
        ..test_config()
    };
    let mut nodes = Vec::new();
    for height in [5, 6, 7] {
        let node = FakeNode::start(GENESIS_A).await;
        node.height.store(height, Ordering::SeqCst);
        nodes.push(node);
    }
    let seed = Seed::start(config.clone()).await;
    for node in &nodes {
        assert_eq!(seed.register(node.address).await.status, 200);
    }
    let mut before = seed.nodes("").await;
    seed.stop().await.unwrap();

    // The file is the documented format, and no temporary file is left.
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&data_file).unwrap()).unwrap();
    assert_eq!(saved["version"], 1);
    assert_eq!(saved["nodes"].as_array().unwrap().len(), 3);
    assert!(!dir.join("nodes.json.tmp").exists());

    // Even with the nodes gone, the restarted seed serves what it saved.
    for node in &mut nodes {
        node.stop().await;
    }
    let seed = Seed::start(config).await;
    let mut after = seed.nodes("").await;
    let key = |v: &Value| v["address"].as_str().unwrap().to_owned();
    before.sort_by_key(key);
    after.sort_by_key(key);
    assert_eq!(before, after);
    assert_eq!(
        after
            .iter()
            .map(|n| n["height"].as_u64().unwrap())
            .collect::<Vec<_>>()
            .len(),
        3
    );
    seed.stop().await.unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_is_honoured_and_sampling_varies() {
    let seed = Seed::start(Config {
        probe_interval: Duration::from_secs(3600),
        ..test_config()
    })
    .await;
    let mut nodes = Vec::new();
    for _ in 0..12 {
        let node = FakeNode::start(GENESIS_A).await;
        assert_eq!(seed.register(node.address).await.status, 200);
        nodes.push(node);
    }
    let all: HashSet<String> = nodes.iter().map(|n| n.address.to_string()).collect();

    assert_eq!(seed.nodes("").await.len(), 8, "default sample size");
    assert_eq!(seed.nodes("?limit=3").await.len(), 3);
    assert_eq!(
        seed.nodes("?limit=1000").await.len(),
        12,
        "capped, not refused"
    );
    let served: HashSet<String> = seed.addresses("?limit=100").await.into_iter().collect();
    assert_eq!(served, all);

    // Neither the order of a full sample nor the members of a small one are fixed.
    let mut orders = HashSet::new();
    let mut firsts = HashSet::new();
    for _ in 0..30 {
        orders.insert(seed.addresses("?limit=12").await);
        firsts.insert(seed.addresses("?limit=3").await.concat());
    }
    assert!(orders.len() > 1, "sampling always returned the same order");
    assert!(
        firsts.len() > 1,
        "small samples always had the same members"
    );

    for bad in ["?limit=0", "?limit=abc", "?limit=-1", "?limit=1&limit=2"] {
        let answer = get(seed.address, &format!("/nodes{bad}")).await;
        assert_eq!(
            (answer.status, answer.code()),
            (400, "malformed"),
            "{bad}: {answer:?}"
        );
    }
    seed.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_data_file_starts_empty_and_is_kept_aside() {
    let dir = temp_dir("corrupt");
    let data_file = dir.join("nodes.json");
    std::fs::write(&data_file, b"{\"version\": 1, \"nodes\": [{\"addr").unwrap();
    let seed = Seed::start(Config {
        data_file: Some(data_file.clone()),
        ..test_config()
    })
    .await;
    assert!(seed.nodes("").await.is_empty());
    assert_eq!(
        std::fs::read(dir.join("nodes.json.corrupt")).unwrap(),
        b"{\"version\": 1, \"nodes\": [{\"addr"
    );
    // The seed works normally and writes a good file.
    let node = FakeNode::start(GENESIS_A).await;
    assert_eq!(seed.register(node.address).await.status, 200);
    seed.stop().await.unwrap();
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&data_file).unwrap()).unwrap();
    assert_eq!(saved["nodes"][0]["address"], node.address.to_string());
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_clear_errors() {
    let seed = Seed::start(Config {
        max_body_bytes: 1024,
        ..test_config()
    })
    .await;
    let to = seed.address;
    let post = |body: &'static [u8], content_type: Option<&'static str>| {
        raw_request(None, to, "POST", "/nodes", content_type, body)
    };
    let json = Some("application/json");

    let answer = post(b"{\"address\": ", json).await;
    assert_eq!(
        (answer.status, answer.code()),
        (400, "malformed"),
        "{answer:?}"
    );
    assert!(
        answer.message().starts_with("invalid json body"),
        "{answer:?}"
    );

    let answer = post(br#"{"address": "127.0.0.1:1", "extra": true}"#, json).await;
    assert_eq!((answer.status, answer.code()), (400, "malformed"));
    assert!(
        answer.message().contains("unknown field `extra`"),
        "{answer:?}"
    );

    let answer = post(br#"{"address": 8000}"#, json).await;
    assert_eq!((answer.status, answer.code()), (400, "malformed"));

    for bad in ["localhost:8000", "127.0.0.1", "127.0.0.1:0", "nonsense"] {
        let answer = post_json(to, "/nodes", &json!({ "address": bad })).await;
        assert_eq!(
            (answer.status, answer.code()),
            (400, "malformed"),
            "{bad}: {answer:?}"
        );
        assert!(answer.message().contains("address must"), "{answer:?}");
    }

    let big = vec![b' '; 4096].leak();
    let answer = post(big, json).await;
    assert_eq!(
        (answer.status, answer.code()),
        (413, "body-too-large"),
        "{answer:?}"
    );

    let answer = post(br#"{"address": "127.0.0.1:1"}"#, Some("text/plain")).await;
    assert_eq!(
        (answer.status, answer.code()),
        (415, "unsupported-media-type")
    );

    // No content type is taken as JSON (curl -d without -H still works).
    let node = FakeNode::start(GENESIS_A).await;
    let body = format!(r#"{{"address": "{}"}}"#, node.address);
    let answer = raw_request(None, to, "POST", "/nodes", None, body.as_bytes()).await;
    assert_eq!(answer.status, 200, "{answer:?}");

    let answer = get(to, "/nope").await;
    assert_eq!((answer.status, answer.code()), (404, "not-found"));
    let answer = raw_request(None, to, "DELETE", "/nodes", None, b"").await;
    assert_eq!((answer.status, answer.code()), (405, "method-not-allowed"));
    assert!(
        answer
            .head
            .to_ascii_lowercase()
            .contains("allow: get, post"),
        "{}",
        answer.head
    );
    let answer = raw_request(None, to, "POST", "/health", None, b"").await;
    assert_eq!(answer.status, 405);

    // Nothing above changed the list but the one good registration.
    assert_eq!(seed.health().await["nodes"], 1);
    seed.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_register_only_themselves_within_the_bounds() {
    let seed = Seed::start(Config {
        max_per_source: 2,
        max_nodes: 4,
        ..test_config()
    })
    .await;
    let local: IpAddr = "127.0.0.1".parse().unwrap();
    let other: IpAddr = "127.0.0.2".parse().unwrap();
    let register_from = |from: IpAddr, node: SocketAddr| {
        let body = serde_json::to_vec(&json!({"address": node.to_string()})).unwrap();
        raw_request(
            Some(from),
            seed.address,
            "POST",
            "/nodes",
            Some("application/json"),
            &body.leak()[..],
        )
    };

    // A node on 127.0.0.2 cannot be announced from 127.0.0.1 …
    let remote_node = FakeNode::start_on("127.0.0.2", GENESIS_A).await;
    let answer = register_from(local, remote_node.address).await;
    assert_eq!(
        (answer.status, answer.code()),
        (400, "source-mismatch"),
        "{answer:?}"
    );
    assert_eq!(
        remote_node.probes.load(Ordering::SeqCst),
        0,
        "no probe of a third party"
    );
    // … but it can announce itself.
    assert_eq!(register_from(other, remote_node.address).await.status, 200);

    // At most two entries per source address.
    let a = FakeNode::start(GENESIS_A).await;
    let b = FakeNode::start(GENESIS_A).await;
    let c = FakeNode::start(GENESIS_A).await;
    assert_eq!(register_from(local, a.address).await.status, 200);
    assert_eq!(register_from(local, b.address).await.status, 200);
    let answer = register_from(local, c.address).await;
    assert_eq!(
        (answer.status, answer.code()),
        (400, "too-many-nodes"),
        "{answer:?}"
    );
    // Re-registering a listed node is still allowed.
    assert_eq!(register_from(local, a.address).await.status, 200);

    // At most four in all.
    let d = FakeNode::start_on("127.0.0.3", GENESIS_A).await;
    assert_eq!(
        register_from("127.0.0.3".parse().unwrap(), d.address)
            .await
            .status,
        200
    );
    let e = FakeNode::start_on("127.0.0.4", GENESIS_A).await;
    let answer = register_from("127.0.0.4".parse().unwrap(), e.address).await;
    assert_eq!(
        (answer.status, answer.code()),
        (503, "seed-full"),
        "{answer:?}"
    );
    assert_eq!(e.probes.load(Ordering::SeqCst), 0, "refused before probing");
    assert_eq!(seed.health().await["nodes"], 4);
    seed.stop().await.unwrap();
}

// --- the real binary -------------------------------------------------------

use support::process::{SeedProcess, BIN};

/// Starts the binary with `args`, its log in `dir`.
fn spawn_seed(dir: &std::path::Path, args: &[&str]) -> SeedProcess {
    SeedProcess::spawn(args, dir.join("seed.log"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_serves_registrations_and_reports_a_corrupt_file() {
    let dir = temp_dir("binary");
    let data_file = dir.join("nodes.json");
    std::fs::write(&data_file, b"not json at all").unwrap();
    let mut process = spawn_seed(
        &dir,
        &[
            "--listen",
            "127.0.0.1:0",
            "--data-file",
            data_file.to_str().unwrap(),
            "--probe-interval",
            "0.2",
            "--genesis-hash",
            GENESIS_A,
        ],
    );
    assert_ne!(process.address.port(), 0);

    let node = FakeNode::start(GENESIS_A).await;
    let answer = post_json(
        process.address,
        "/nodes",
        &json!({"address": node.address.to_string()}),
    )
    .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let other = FakeNode::start(GENESIS_B).await;
    let answer = post_json(
        process.address,
        "/nodes",
        &json!({"address": other.address.to_string()}),
    )
    .await;
    assert_eq!(answer.code(), "wrong-network");
    let answer = get(process.address, "/nodes?limit=5").await;
    assert_eq!(answer.json[0]["address"], node.address.to_string());
    eventually("the list is saved", || async {
        std::fs::read_to_string(&data_file)
            .ok()
            .filter(|text| text.contains(&node.address.to_string()))
    })
    .await;

    process.child.kill().unwrap();
    process.child.wait().unwrap();
    let stderr = process.log_text();
    assert!(
        stderr.contains("corrupt"),
        "the corrupt file is reported: {stderr}"
    );
    drop(process);
    std::fs::remove_dir_all(dir).unwrap();
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_exits_cleanly_on_sigterm_and_keeps_its_list() {
    let dir = temp_dir("sigterm");
    let data_file = dir.join("nodes.json");
    let args = [
        "--listen",
        "127.0.0.1:0",
        "--data-file",
        data_file.to_str().unwrap(),
    ];
    let mut process = spawn_seed(&dir, &args);
    let node = FakeNode::start(GENESIS_A).await;
    let answer = post_json(
        process.address,
        "/nodes",
        &json!({"address": node.address.to_string()}),
    )
    .await;
    assert_eq!(answer.status, 200, "{answer:?}");

    let pid = process.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = tokio::task::spawn_blocking(move || {
        let status = process.child.wait().unwrap();
        drop(process);
        status
    })
    .await
    .unwrap();
    assert_eq!(status.code(), Some(0));

    let restarted = spawn_seed(&dir, &args);
    let answer = get(restarted.address, "/nodes").await;
    assert_eq!(
        answer.json[0]["address"],
        node.address.to_string(),
        "{answer:?}"
    );
    drop(restarted);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn usage_errors_exit_with_2() {
    for args in [
        &["--probe-interval", "0"][..],
        &["--probe-interval", "soon"],
        &["--probe-interval", "1e30"],
        &["--probe-timeout", "NaN"],
        &["--genesis-hash", "xyz"],
        &["--listen", "not-an-address"],
        &["--max-failures", "0"],
        &["--no-such-flag"],
    ] {
        let output = Command::new(BIN).args(args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(!output.stderr.is_empty(), "{args:?} explains the error");
    }
    let output = Command::new(BIN)
        .env("DNS_SEED_PROBE_INTERVAL", "-1")
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(2),
        "environment variables are read"
    );
}

#[test]
fn help_documents_every_flag_and_variable() {
    let output = Command::new(BIN).arg("--help").output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    let help = String::from_utf8(output.stdout).unwrap();
    for flag in [
        "--listen",
        "--data-file",
        "--probe-interval",
        "--genesis-hash",
        "--max-failures",
        "--max-nodes",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
    for var in [
        "DNS_SEED_LISTEN",
        "DNS_SEED_DATA_FILE",
        "DNS_SEED_PROBE_INTERVAL",
        "DNS_SEED_GENESIS_HASH",
    ] {
        assert!(help.contains(var), "{var} missing from --help");
    }
}

#[test]
fn listening_on_a_busy_port_exits_with_1() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = busy.local_addr().unwrap().to_string();
    let output = Command::new(BIN)
        .args(["--listen", &address])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("could not listen"), "{stderr}");
}

/// 300 slow-body and 300 idle, reconnecting connections from 127.0.0.2 must not keep the
/// seed from serving `GET /nodes` to anyone else (PROTOCOL.md section 9): every poll
/// from 127.0.0.3 is answered within 2 s while the flood runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_floods_from_one_source_leave_others_served() {
    use ferro::http::{HttpClient, ServerLimits};
    use test_support::flood::{Flood, Kind};
    let node = FakeNode::start(GENESIS_A).await;
    // Fewer slots than the attacker has connections: without per-source caps the flood
    // would hold them all.
    let seed = Seed::start(Config {
        server: ServerLimits {
            max_connections: 256,
            reserved_connections: 32,
            ..ServerLimits::default()
        },
        ..test_config()
    })
    .await;
    assert_eq!(seed.register(node.address).await.status, 200);
    let attacker: IpAddr = "127.0.0.2".parse().unwrap();
    let slow = Flood::start(attacker, seed.address, Kind::SlowBody, 300);
    let idle = Flood::start(attacker, seed.address, Kind::Idle, 300);
    test_support::until(DEADLINE, "the flood has opened its 600 connections", || {
        slow.connects() >= 300 && idle.connects() >= 300
    })
    .await
    .unwrap();
    let honest: IpAddr = "127.0.0.3".parse().unwrap();
    let started = std::time::Instant::now();
    let mut polls = 0;
    while started.elapsed() < Duration::from_secs(10) {
        let nodes: Vec<ferro::wire::NodeEntry> = HttpClient::with_options(1 << 20, Some(honest))
            .get_json(
                &format!("http://{}/nodes", seed.address),
                Duration::from_secs(2),
            )
            .await
            .unwrap_or_else(|e| panic!("poll {polls} under the flood failed: {e}"));
        assert_eq!(nodes.len(), 1);
        polls += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(slow.cuts() > 0 && idle.cuts() > 0);
    eprintln!(
        "{polls} honest polls answered; {} and {} attacking connections were cut",
        slow.cuts(),
        idle.cuts()
    );
    drop((slow, idle));
    seed.stop().await.unwrap();
}
