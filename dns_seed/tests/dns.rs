//! The seed's DNS side: queried with `dig` (a client nobody here wrote) against the real
//! binary, and with a hand-made client against in-process seeds for what dig cannot
//! send (garbage, spoofed floods, stalled TCP connections).
//!
//! The `dig` tests need dnsutils (`.ci/run` installs it); without it they fail saying
//! so, unless `FERRO_SKIP_DIG=1`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::process::Command;
use std::time::{Duration, Instant};

use dns_seed::crawl::{CrawlAllow, CrawlConfig};
use dns_seed::dns::answer::{MAX_APEX_A, MAX_SRV, NODE_TTL};
use dns_seed::dns::DnsConfig;
use dns_seed::Config;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};
use serde_json::json;
use support::dig::{dig, require_dig, DigAnswer};
use support::dns::{ask_tcp, ask_udp, closed_within, query, tcp_exchange, udp_exchange};
use support::process::SeedProcess;
use support::*;
use tokio::io::AsyncWriteExt;

const DEFAULT_PORT: u16 = 8333;

/// A data file listing 40 IPv4 and 30 IPv6 nodes on the default port and 150 IPv4 nodes
/// on another port, so every answer has more candidates than it may carry.
fn write_node_list(dir: &std::path::Path) -> std::path::PathBuf {
    let mut nodes = Vec::new();
    for i in 1..=40 {
        nodes.push(format!("10.1.0.{i}:{DEFAULT_PORT}"));
    }
    for i in 1..=30 {
        nodes.push(format!("[2001:db8::{i:x}]:{DEFAULT_PORT}"));
    }
    for i in 1..=150 {
        nodes.push(format!("10.2.0.{i}:9000"));
    }
    let entries: Vec<_> = nodes
        .iter()
        .map(|a| json!({"address": a, "height": 1, "last_seen": 1}))
        .collect();
    let path = dir.join("nodes.json");
    std::fs::write(
        &path,
        serde_json::to_vec(&json!({"version": 1, "nodes": entries})).unwrap(),
    )
    .unwrap();
    path
}

/// The seed binary with DNS on loopback over the node list above, never re-probing.
fn seed_with_list(test: &str, extra: &[&str]) -> (SeedProcess, std::path::PathBuf) {
    let dir = temp_dir(test);
    let data = write_node_list(&dir);
    let port = DEFAULT_PORT.to_string();
    let mut args = vec![
        "--listen",
        "127.0.0.1:0",
        "--dns-listen",
        "127.0.0.1:0",
        "--zone",
        ZONE,
        "--default-port",
        &port,
        "--data-file",
        data.to_str().unwrap(),
        "--probe-interval",
        "3600",
    ];
    args.extend_from_slice(extra);
    let process = SeedProcess::spawn(&args, dir.join("seed.log"));
    (process, dir)
}

fn addresses(answer: &DigAnswer, rtype: &str) -> Vec<IpAddr> {
    answer
        .answer_data(rtype)
        .iter()
        .map(|a| a.parse().unwrap())
        .collect()
}

#[test]
fn dig_gets_a_aaaa_srv_soa_ns_nxdomain_and_refused() {
    if !require_dig() {
        return;
    }
    let (seed, dir) = seed_with_list("dig-records", &[]);
    let server = seed.dns();
    let listed_v4: HashSet<IpAddr> = (1..=40u8).map(|i| IpAddr::from([10, 1, 0, i])).collect();

    // A at the apex: a bounded random sample of default-port nodes, TTL 60, authoritative.
    let mut samples = HashSet::new();
    for _ in 0..5 {
        let a = dig(server, &[ZONE, "A"]).unwrap();
        assert_eq!(a.status, "NOERROR", "{}", a.raw);
        assert!(a.has_flag("aa") && !a.has_flag("tc"), "{}", a.raw);
        let ips = addresses(&a, "A");
        assert_eq!(ips.len(), MAX_APEX_A, "{}", a.raw);
        assert!(ips.iter().all(|ip| listed_v4.contains(ip)), "{}", a.raw);
        assert!(a.answer.iter().all(|r| r.ttl == NODE_TTL));
        samples.insert(ips);
    }
    assert!(samples.len() > 1, "each query draws a fresh sample");
    // Without EDNS the answer still fits 512 bytes, untruncated.
    let plain = dig(server, &[ZONE, "A", "+noedns"]).unwrap();
    assert!(!plain.has_flag("tc"), "{}", plain.raw);
    assert!(plain.raw.contains("MSG SIZE  rcvd: "), "{}", plain.raw);

    // AAAA: the IPv6 nodes on the default port.
    let aaaa = dig(server, &[ZONE, "AAAA", "+noedns"]).unwrap();
    let ips = addresses(&aaaa, "AAAA");
    assert!(
        ips.len() >= 10 && ips.iter().all(IpAddr::is_ipv6),
        "{}",
        aaaa.raw
    );
    assert!(!aaaa.has_flag("tc"), "{}", aaaa.raw);

    // SRV over TCP: 100 nodes with their ports, each target's address in the additional
    // section, and each target a name of the zone that answers A itself.
    let srv_name = format!("_ferro._tcp.{ZONE}");
    let srv = dig(server, &[&srv_name, "SRV", "+tcp"]).unwrap();
    assert_eq!(srv.transport, "TCP");
    assert_eq!(srv.answer.len(), MAX_SRV, "{}", srv.raw);
    assert!(!srv.has_flag("tc"));
    let ports: HashSet<String> = srv
        .answer
        .iter()
        .map(|r| r.data.split(' ').nth(2).unwrap().to_owned())
        .collect();
    assert!(ports.contains("9000"), "{ports:?}");
    for record in srv.answer.iter().take(5) {
        assert_eq!(record.ttl, NODE_TTL);
        let target = record.data.split(' ').nth(3).unwrap();
        assert!(target.ends_with(ZONE), "{target}");
        let glue = srv.additional.iter().find(|r| r.name == target).unwrap();
        let own = dig(server, &[target, &glue.rtype]).unwrap();
        assert_eq!(own.answer_data(&glue.rtype), vec![glue.data.clone()]);
    }

    // SRV over UDP at 512 bytes: cut, with the truncation bit; dig then retries over
    // TCP and gets it whole.
    let cut = dig(server, &[&srv_name, "SRV", "+bufsize=512", "+ignore"]).unwrap();
    assert!(cut.has_flag("tc"), "{}", cut.raw);
    assert!(cut.answer.len() < MAX_SRV, "{}", cut.raw);
    assert_eq!(cut.edns_udp, Some(512));
    let retried = dig(server, &[&srv_name, "SRV", "+bufsize=512"]).unwrap();
    assert!(retried.retried_over_tcp, "{}", retried.raw);
    assert_eq!(retried.transport, "TCP");
    assert_eq!(retried.answer.len(), MAX_SRV);
    // A larger EDNS buffer is honoured only up to 1232 bytes.
    let big = dig(server, &[&srv_name, "SRV", "+bufsize=4096", "+ignore"]).unwrap();
    assert_eq!(big.edns_udp, Some(1232), "{}", big.raw);
    assert!(big.has_flag("tc"));

    // SOA and NS of the zone.
    let soa = dig(server, &[ZONE, "SOA"]).unwrap();
    let soa_data = soa.answer_data("SOA");
    assert_eq!(soa_data.len(), 1, "{}", soa.raw);
    assert!(soa_data[0].starts_with(&format!("ns.{ZONE} hostmaster.{ZONE}")));
    let ns = dig(server, &[ZONE, "NS"]).unwrap();
    assert_eq!(ns.answer_data("NS"), vec![format!("ns.{ZONE}")]);
    assert!(ns.has_flag("aa"));

    // Unknown names in the zone: NXDOMAIN with the SOA; other zones: REFUSED, no data.
    for name in [format!("nope.{ZONE}"), format!("ip4-10-9-9-9.{ZONE}")] {
        let nx = dig(server, &[&name, "A"]).unwrap();
        assert_eq!(nx.status, "NXDOMAIN", "{}", nx.raw);
        assert_eq!(nx.authority[0].rtype, "SOA");
        assert!(nx.has_flag("aa"));
    }
    for name in ["example.com.", "ferro.", "."] {
        let refused = dig(server, &[name, "A"]).unwrap();
        assert_eq!(refused.status, "REFUSED", "{}", refused.raw);
        assert!(refused.answer.is_empty() && refused.authority.is_empty());
        assert!(!refused.has_flag("aa"));
    }
    let chaos = dig(server, &["version.bind", "TXT", "CH"]).unwrap();
    assert_eq!(chaos.status, "REFUSED");
    // Only EDNS version 0 is spoken.
    let badvers = dig(server, &[ZONE, "A", "+edns=1", "+noednsneg"]).unwrap();
    assert_eq!(badvers.status, "BADVERS", "{}", badvers.raw);
    assert!(badvers.answer.is_empty());
    drop(seed);
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dig_sees_the_rate_limit_and_the_log_counts_drops() {
    if !require_dig() {
        return;
    }
    let (seed, dir) = seed_with_list(
        "dig-rate",
        &["--dns-rate-limit", "0.5", "--dns-rate-burst", "5"],
    );
    let server = seed.dns();
    let flooder: IpAddr = "127.0.0.3".parse().unwrap();
    let packet = query(9, ZONE, RecordType::A, None);
    let socket = tokio::net::UdpSocket::bind((flooder, 0)).await.unwrap();
    for _ in 0..50 {
        socket.send_to(&packet, server).await.unwrap();
    }
    let mut answered = 0;
    let mut buf = vec![0u8; 4096];
    while let Ok(Ok(_)) =
        tokio::time::timeout(Duration::from_millis(700), socket.recv_from(&mut buf)).await
    {
        answered += 1;
    }
    assert!(
        (5..=7).contains(&answered),
        "the burst of 5 (and what refilled meanwhile) was answered, the rest dropped: {answered}"
    );
    // dig from the same source gets no answer; from another source, at once.
    let dropped = dig(server, &["-b", "127.0.0.3", ZONE, "A"]);
    assert!(dropped.is_err(), "{dropped:?}");
    let other = dig(server, &["-b", "127.0.0.4", ZONE, "A"]).unwrap();
    assert_eq!(other.status, "NOERROR");
    // The drops are counted in the log (one summary line, not one line per query).
    let line = eventually("the log counts the drops", || async {
        seed.log_text()
            .lines()
            .find(|l| l.contains("dropped queries over the per-source rate limit"))
            .map(str::to_owned)
    })
    .await;
    assert!(line.contains("dropped="), "{line}");
    // Over time the budget refills.
    eventually("the source is answered again", || async {
        dig(server, &["-b", "127.0.0.3", ZONE, "A"]).ok()
    })
    .await;
    drop(seed);
    std::fs::remove_dir_all(dir).unwrap();
}

/// Answers follow the list: a registration shows up, a node whose probe fails leaves
/// after one probe round, and only nodes on the default port are in apex answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_follow_registrations_and_failed_probes() {
    let port = closed_port().await.port();
    let mut on_default = Vec::new();
    for i in 10..13u8 {
        on_default
            .push(FakeNode::start_at(SocketAddr::from(([127, 0, 0, i], port)), GENESIS_A).await);
    }
    let elsewhere = FakeNode::start_on("127.0.0.20", GENESIS_A).await;
    let seed = Seed::start_with_dns(Config {
        probe_interval: Duration::from_millis(300),
        max_failures: 3,
        ..dns_config(port)
    })
    .await;
    let server = seed.dns.unwrap();
    let me: IpAddr = "127.0.0.1".parse().unwrap();
    let empty = ask_udp(me, server, ZONE, RecordType::A).await.unwrap();
    assert!(empty.answers.is_empty());
    assert_eq!(empty.authorities.len(), 1, "no data: the SOA");

    for node in on_default.iter().chain([&elsewhere]) {
        let answer = register_from(seed.address, node.address).await;
        assert_eq!(answer.status, 200, "{answer:?}");
    }
    let expected: HashSet<IpAddr> = on_default.iter().map(|n| n.address.ip()).collect();
    eventually("registered nodes are answered", || async {
        let message = ask_udp(me, server, ZONE, RecordType::A).await?;
        (a_records(&message) == expected).then_some(())
    })
    .await;
    // The A check can pass on a snapshot taken before the last registration (the node
    // on another port); snapshots are rebuilt at most every MIN_REBUILD_SPACING.
    eventually("SRV lists every port", || async {
        let srv = ask_tcp(server, &format!("_ferro._tcp.{ZONE}"), RecordType::SRV).await?;
        (srv.answers.len() == 4).then_some(())
    })
    .await;

    // A node stops answering: after its first failed probe it is no longer served.
    let mut leaving = on_default.pop().unwrap();
    leaving.stop().await;
    let started = Instant::now();
    eventually("the stopped node leaves the answers", || async {
        let message = ask_udp(me, server, ZONE, RecordType::A).await?;
        (!a_records(&message).contains(&leaving.address.ip())).then_some(())
    })
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "left within a couple of 0.3 s probe rounds: {:?}",
        started.elapsed()
    );
    // Its own name is gone too.
    let name = format!(
        "ip4-{}.{ZONE}",
        leaving.address.ip().to_string().replace('.', "-")
    );
    let gone = ask_udp(me, server, &name, RecordType::A).await.unwrap();
    assert_eq!(gone.response_code, ResponseCode::NXDomain);
    seed.stop().await.unwrap();
}

fn a_records(message: &Message) -> HashSet<IpAddr> {
    message
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            _ => None,
        })
        .collect()
}

/// `POST /nodes` from the node's own IP (the seed checks the source).
async fn register_from(seed: SocketAddr, node: SocketAddr) -> Answer {
    let body = serde_json::to_vec(&json!({"address": node.to_string()})).unwrap();
    raw_request(
        Some(node.ip()),
        seed,
        "POST",
        "/nodes",
        Some("application/json"),
        &body,
    )
    .await
}

/// What an attacker can send over UDP: nothing crashes the server, nothing is reflected
/// for packets that are not queries, and real queries keep being answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_packets_do_not_break_the_server() {
    let seed = Seed::start_with_dns(dns_config(DEFAULT_PORT)).await;
    let server = seed.dns.unwrap();
    let attacker: IpAddr = "127.0.0.7".parse().unwrap();
    let good = query(3, ZONE, RecordType::SOA, None);

    let mut header_only = good[..12].to_vec();
    // 65535 questions announced, none present.
    header_only[4] = 0xff;
    header_only[5] = 0xff;
    let mut loop_name = good[..12].to_vec();
    loop_name.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
    let mut response = good.clone();
    response[2] |= 0x80;
    let mut huge = good.clone();
    huge.resize(65_000, 0xaa);
    let mut long_label = good[..12].to_vec();
    long_label.extend(
        std::iter::repeat_n(63u8, 1)
            .chain(std::iter::repeat_n(b'a', 63))
            .cycle()
            .take(600),
    );
    let mut rng_bytes = Vec::new();
    for i in 0..2000u32 {
        rng_bytes.push((i.wrapping_mul(2_654_435_761) >> 13) as u8);
    }
    let cases: Vec<(&str, Vec<u8>, bool)> = vec![
        ("empty", Vec::new(), false),
        ("eleven bytes", good[..11].to_vec(), false),
        ("header claiming 65535 questions", header_only, true),
        ("compression loop", loop_name, true),
        ("a response, not a query", response, false),
        ("64 KB of padding after a query", huge, true),
        ("labels past 255 bytes", long_label, true),
        ("noise", rng_bytes, true),
    ];
    for (what, packet, may_answer) in cases {
        let answer = udp_exchange(attacker, server, &packet).await;
        if !may_answer {
            assert!(answer.is_none(), "{what}: nothing goes back");
        }
        if let Some(bytes) = answer {
            assert!(bytes.len() <= 512, "{what}: answers are small");
        }
        let fine = ask_udp("127.0.0.1".parse().unwrap(), server, ZONE, RecordType::SOA).await;
        assert!(fine.is_some(), "the server still answers after: {what}");
    }
    // Other opcodes are not implemented; the UDP answer never exceeds 1232 bytes even
    // when a client offers 65535.
    let big = udp_exchange(
        attacker,
        server,
        &query(
            4,
            &format!("_ferro._tcp.{ZONE}"),
            RecordType::SRV,
            Some(65_535),
        ),
    )
    .await
    .unwrap();
    assert!(big.len() <= 1232);
    seed.stop().await.unwrap();
}

/// Cut UDP answers, for every client size: within the size, whole records only (no
/// trailing bytes), the TC bit, and the OPT record whenever the query had one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_udp_answers_are_whole_records_with_their_opt() {
    let dir = temp_dir("cut-udp");
    let seed = Seed::start_with_dns(Config {
        data_file: Some(write_node_list(&dir)),
        probe_interval: Duration::from_secs(3600),
        ..dns_config(DEFAULT_PORT)
    })
    .await;
    let server = seed.dns.unwrap();
    let srv_name = format!("_ferro._tcp.{ZONE}");
    let mut source = 0u8;
    for size in [
        None,
        Some(512),
        Some(600),
        Some(777),
        Some(1000),
        Some(1232),
        Some(4096),
    ] {
        for _ in 0..10 {
            source = source.wrapping_add(1);
            let from = IpAddr::from([127, 0, 2, source]);
            let bytes = udp_exchange(from, server, &query(6, &srv_name, RecordType::SRV, size))
                .await
                .unwrap();
            let limit = size.map_or(512, |s| s.clamp(512, 1232));
            assert!(
                bytes.len() <= usize::from(limit),
                "{size:?}: {} bytes",
                bytes.len()
            );
            let mut decoder = hickory_proto::serialize::binary::BinDecoder::new(&bytes);
            let message =
                <Message as hickory_proto::serialize::binary::BinDecodable>::read(&mut decoder)
                    .unwrap();
            assert!(
                decoder.is_empty(),
                "{size:?}: trailing bytes after the last record"
            );
            assert!(message.truncation, "{size:?}: 100 SRV records never fit");
            assert!(!message.answers.is_empty());
            assert_eq!(
                message.edns.is_some(),
                size.is_some(),
                "{size:?}: OPT iff asked"
            );
            if let Some(edns) = &message.edns {
                assert_eq!(edns.max_payload(), limit);
            }
        }
    }
    seed.stop().await.unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

/// TCP connections are bounded per source and in all, and a connection that sends
/// nothing (or half a message) is closed after the timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_connections_are_bounded_and_stalled_ones_closed() {
    let mut config = dns_config(DEFAULT_PORT);
    if let Some(dns) = config.dns.as_mut() {
        dns.max_tcp_per_source = 2;
        dns.max_tcp_connections = 3;
        dns.tcp_timeout = Duration::from_millis(500);
    }
    let seed = Seed::start_with_dns(config).await;
    let server = seed.dns.unwrap();
    let connect_from = |ip: &'static str| async move {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket
            .bind(SocketAddr::new(ip.parse().unwrap(), 0))
            .unwrap();
        socket.connect(server).await.unwrap()
    };
    let soa = query(5, ZONE, RecordType::SOA, None);
    let mut first = connect_from("127.0.0.8").await;
    let mut second = connect_from("127.0.0.8").await;
    assert!(tcp_exchange(&mut first, &soa).await.is_some());
    assert!(tcp_exchange(&mut second, &soa).await.is_some());
    // A third from the same source is closed at once.
    let mut third = connect_from("127.0.0.8").await;
    assert!(closed_within(&mut third, Duration::from_secs(2)).await);
    // Another source gets the last slot; then the server is full for everyone.
    let mut fourth = connect_from("127.0.0.9").await;
    assert!(tcp_exchange(&mut fourth, &soa).await.is_some());
    let mut fifth = connect_from("127.0.0.10").await;
    assert!(closed_within(&mut fifth, Duration::from_secs(2)).await);
    // Half a message, then silence: closed after the timeout, and its slot is back.
    first.write_all(&[0, 40, 1, 2, 3]).await.unwrap();
    assert!(closed_within(&mut first, Duration::from_secs(5)).await);
    assert!(
        closed_within(&mut second, Duration::from_secs(5)).await,
        "idle"
    );
    let mut again = connect_from("127.0.0.8").await;
    assert!(tcp_exchange(&mut again, &soa).await.is_some());
    // A length shorter than a header ends the connection.
    let mut short = connect_from("127.0.0.11").await;
    drop(fourth);
    short.write_all(&[0, 3, 1, 2, 3]).await.unwrap();
    assert!(closed_within(&mut short, Duration::from_secs(2)).await);
    // A whole connection's worth of answers (65535-byte messages at most) is fine.
    let srv = ask_tcp(server, &format!("_ferro._tcp.{ZONE}"), RecordType::SRV).await;
    assert!(srv.is_some());
    seed.stop().await.unwrap();
}

/// The crawler lists a node nobody registered, learned from a listed node's
/// `GET /nodes`, and never probes an address outside `--crawl-allow`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crawler_finds_unregistered_nodes_inside_the_allowed_ranges() {
    let listed = FakeNode::start_on("127.0.0.30", GENESIS_A).await;
    let hidden = FakeNode::start_on("127.0.0.31", GENESIS_A).await;
    let outside = FakeNode::start_on("127.0.1.32", GENESIS_A).await;
    let other_network = FakeNode::start_on("127.0.0.33", GENESIS_B).await;
    listed.list(&[
        hidden.address.to_string(),
        outside.address.to_string(),
        other_network.address.to_string(),
        "not an address".into(),
        "127.0.0.34:0".into(),
        "0.0.0.0:8000".into(),
    ]);
    let seed = Seed::start_with_dns(Config {
        genesis_hash: Some(GENESIS_A.parse().unwrap()),
        crawl: CrawlConfig {
            interval: Duration::from_millis(200),
            allow: CrawlAllow::from_rules(&["127.0.0.0/24".parse().unwrap()]),
            ..CrawlConfig::default()
        },
        ..dns_config(DEFAULT_PORT)
    })
    .await;
    assert_eq!(
        register_from(seed.address, listed.address).await.status,
        200
    );
    eventually("the crawler lists the hidden node", || async {
        let listed = seed.addresses("?limit=100").await;
        listed.contains(&hidden.address.to_string()).then_some(())
    })
    .await;
    // And the DNS side serves it.
    let server = seed.dns.unwrap();
    eventually("the hidden node is in SRV", || async {
        let srv = ask_tcp(server, &format!("_ferro._tcp.{ZONE}"), RecordType::SRV).await?;
        srv.answers
            .iter()
            .any(|r| matches!(&r.data, RData::SRV(s) if s.port == hidden.address.port()))
            .then_some(())
    })
    .await;
    // The other network's node was probed (inside the range) but not listed.
    eventually("the other network's node was probed", || async {
        (other_network.probe_count() > 0).then_some(())
    })
    .await;
    let served = seed.addresses("?limit=100").await;
    assert_eq!(served.len(), 2, "{served:?}");
    assert_eq!(
        outside.probe_count(),
        0,
        "never probed outside --crawl-allow"
    );
    seed.stop().await.unwrap();

    // With the default (public addresses only), loopback addresses are never probed.
    let seed = Seed::start(Config {
        crawl: CrawlConfig {
            interval: Duration::from_millis(100),
            ..CrawlConfig::default()
        },
        ..test_config()
    })
    .await;
    let probes_before = hidden.probe_count();
    assert_eq!(
        register_from(seed.address, listed.address).await.status,
        200
    );
    let asked_before = listed.probe_count();
    eventually("a few crawl and probe rounds pass", || async {
        (listed.probe_count() > asked_before + 5).then_some(())
    })
    .await;
    assert_eq!(
        hidden.probe_count(),
        probes_before,
        "public only by default"
    );
    seed.stop().await.unwrap();
}

#[test]
fn flags_are_documented_and_checked() {
    let output = Command::new(support::process::BIN)
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8(output.stdout).unwrap();
    for flag in [
        "--dns-listen",
        "--zone",
        "--default-port",
        "--dns-rate-limit",
        "--crawl-allow",
        "--crawl-interval",
        "DNS_SEED_DNS_LISTEN",
        "DNS_SEED_ZONE",
        "DNS_SEED_DEFAULT_PORT",
        "DNS_SEED_CRAWL_ALLOW",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
    for args in [
        &["--dns-listen", "127.0.0.1:0"][..],
        &["--dns-listen", "127.0.0.1:0", "--zone", "."],
        &["--dns-listen", "127.0.0.1:0", "--zone", "a..b"],
        &["--zone", "x.", "--default-port", "0"],
        &["--crawl-allow", "10.0.0.0/33"],
        &["--dns-rate-limit", "0"],
    ] {
        let output = Command::new(support::process::BIN)
            .args(args)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
    }
    // A busy DNS port is a runtime failure, reported before anything is served.
    let busy = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let address = busy.local_addr().unwrap().to_string();
    let output = Command::new(support::process::BIN)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--dns-listen",
            &address,
            "--zone",
            ZONE,
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("could not listen for dns"), "{stderr}");
}

/// The DNS config's own defaults match the documented floor and policy.
#[test]
fn defaults_follow_the_policy() {
    let config = DnsConfig::new(dns_seed::dns::answer::parse_zone(ZONE).unwrap());
    assert!(config.rate_limit > 0.0 && config.rate_burst > 0);
    assert!(config.max_sources > 0 && config.max_tcp_connections > 0);
    assert_eq!(
        NODE_TTL, 60,
        "never below the Bitcoin Core seed policy's floor"
    );
}

/// The seed's `GET /metrics`, as text.
async fn seed_metrics(seed: SocketAddr) -> String {
    let reply = test_support::http::exchange(None, seed, "GET", "/metrics", None, b"")
        .await
        .unwrap();
    assert_eq!(reply.status.as_u16(), 200);
    String::from_utf8(reply.bytes).unwrap()
}

fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// `GET /metrics` counts DNS queries by transport and result (drops over the rate limit
/// included) and HTTP requests by route template: 10 000 junk paths add no series; the
/// text passes `promtool check metrics`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_dns_queries_and_http_routes_and_pass_promtool() {
    let mut config = dns_config(DEFAULT_PORT);
    if let Some(dns) = config.dns.as_mut() {
        dns.rate_limit = 0.01;
        dns.rate_burst = 2;
    }
    let seed = Seed::start_with_dns(config).await;
    let server = seed.dns.unwrap();
    let asker: IpAddr = "127.0.0.5".parse().unwrap();
    assert!(ask_udp(asker, server, ZONE, RecordType::SOA)
        .await
        .is_some());
    let outside = ask_udp(asker, server, "example.org.", RecordType::A).await;
    assert_eq!(outside.unwrap().response_code, ResponseCode::Refused);
    assert!(ask_tcp(server, ZONE, RecordType::NS).await.is_some());
    // The source's burst of 2 is spent: a third UDP query is dropped.
    assert!(ask_udp(asker, server, ZONE, RecordType::A).await.is_none());

    let before = seed_metrics(seed.address).await;
    for (series, expected) in [
        (
            "ferro_seed_dns_queries_total{result=\"noerror\",transport=\"udp\"}",
            1.0,
        ),
        (
            "ferro_seed_dns_queries_total{result=\"refused\",transport=\"udp\"}",
            1.0,
        ),
        (
            "ferro_seed_dns_queries_total{result=\"dropped\",transport=\"udp\"}",
            1.0,
        ),
        (
            "ferro_seed_dns_queries_total{result=\"noerror\",transport=\"tcp\"}",
            1.0,
        ),
        ("ferro_seed_nodes{state=\"listed\"}", 0.0),
        ("ferro_seed_discouraged_nodes", 0.0),
    ] {
        assert_eq!(
            sample(&before, series),
            Some(expected),
            "{series}:\n{before}"
        );
    }

    // 10 000 junk paths: one `unmatched` series per status, never a path.
    for chunk in (0..10_000).collect::<Vec<u32>>().chunks(50) {
        let mut set = tokio::task::JoinSet::new();
        for i in chunk {
            let path = format!("/junk{i}/{}", i * 7);
            let address = seed.address;
            set.spawn(async move {
                test_support::http::exchange(None, address, "GET", &path, None, b"").await
            });
        }
        while let Some(done) = set.join_next().await {
            assert_eq!(done.unwrap().unwrap().status.as_u16(), 404);
        }
    }
    let after = seed_metrics(seed.address).await;
    assert!(!after.contains("junk"), "a raw path leaked into a label");
    assert_eq!(
        sample(
            &after,
            "ferro_seed_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"}"
        ),
        Some(10_000.0)
    );
    let series = |t: &str| t.lines().filter(|l| !l.starts_with('#')).count();
    assert!(series(&after) <= series(&before) + 2, "{after}");
    if test_support::tools::skipped() {
        eprintln!("promtool check skipped: FERRO_SKIP_EXTERNAL_TOOLS=1");
    } else {
        test_support::tools::promtool_check_metrics(&after).unwrap();
    }
    seed.stop().await.unwrap();
}
