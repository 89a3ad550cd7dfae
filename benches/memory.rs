//! Goal 6 of issue 13: a syncing node's resident memory against its `--db-cache`.
//!
//! Builds the chain benchmark's workload (1 000 blocks of 100 one-in-two-out payments,
//! 101 000 transactions, 100 100 funded addresses), stores it as node A's data directory,
//! starts A as a real `full_node` process, and then, for several `--db-cache` sizes, a
//! fresh `full_node` process B that syncs everything from A over HTTP. B's resident set
//! (`VmRSS`, sampled every 10 ms, and the kernel's `VmHWM` peak) is reported against its
//! cache: the difference is what the node needs beyond the cache.
//!
//! Run: `cargo bench --bench memory` (a minute or two; not part of `cargo test`).

mod common;

use ferro::chain::{ChainState, DiskStore};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BLOCKS: usize = 1_000;
const TXS_PER_BLOCK: usize = 100;
const RUN: usize = 50;
const CACHES_MB: [u64; 3] = [16, 64, 256];

/// Starts `full_node` with `args`; returns the child and the address it listens on.
fn start(args: &[&str]) -> (Child, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_full_node"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("full_node starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("reads the first line");
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    (child, addr)
}

/// `VmRSS` or `VmHWM` of process `pid`, in bytes.
fn status_bytes(pid: u32, field: &str) -> Option<u64> {
    common::status_bytes(&pid.to_string(), field)
}

fn height(addr: SocketAddr) -> Option<u64> {
    let info = test_support::http::blocking::get_ok(addr, "/info").ok()?;
    info["height"].as_u64()
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let keys = common::keys(TXS_PER_BLOCK);
    let net = common::network("memorybench", &keys, 1, 1_000_000);
    let t = Instant::now();
    let blocks = common::build_chain(&net, &keys, BLOCKS);
    eprintln!(
        "built {BLOCKS} blocks in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let genesis = dir.path().join("network.json");
    std::fs::write(&genesis, net.to_json()).expect("writes the network file");
    let a_dir = dir.path().join("a");
    std::fs::create_dir_all(&a_dir).expect("data dir");
    {
        let store = DiskStore::open(&a_dir.join("chain.redb")).expect("db");
        let mut chain = ChainState::open_with_cache(store, net.clone(), 256 << 20).expect("opens");
        for run in blocks.chunks(RUN) {
            let (_, rest, failure) = chain.connect_run(run.to_vec(), ferro::node::unix_now());
            assert!(rest.is_empty() && failure.is_none(), "valid run");
        }
        chain.flush().expect("flushes");
    }
    drop(blocks);
    let path = |p: &Path| p.to_str().expect("utf-8 path").to_owned();
    let (genesis, a_data) = (path(&genesis), path(&a_dir));
    let (mut a, a_addr) = start(&[
        "--genesis",
        &genesis,
        "--data-dir",
        &a_data,
        "--listen",
        "127.0.0.1:0",
    ]);
    let peer = a_addr.to_string();
    println!(
        "node A serves {BLOCKS} blocks ({} transactions); node B syncs them with each --db-cache",
        BLOCKS * (TXS_PER_BLOCK + 1)
    );
    for cache in CACHES_MB {
        let b_data = path(&dir.path().join(format!("b{cache}")));
        let cache_arg = cache.to_string();
        let started = Instant::now();
        let (mut b, b_addr) = start(&[
            "--genesis",
            &genesis,
            "--data-dir",
            &b_data,
            "--listen",
            "127.0.0.1:0",
            "--peer",
            &peer,
            "--db-cache",
            &cache_arg,
        ]);
        let start_rss = status_bytes(b.id(), "VmRSS:").unwrap_or(0);
        let mut peak = 0;
        let mut last_poll = Instant::now() - Duration::from_secs(1);
        loop {
            peak = peak.max(status_bytes(b.id(), "VmRSS:").unwrap_or(0));
            if last_poll.elapsed() > Duration::from_millis(100) {
                last_poll = Instant::now();
                if height(b_addr) == Some(BLOCKS as u64) {
                    break;
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(600),
                "sync timed out"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let secs = started.elapsed().as_secs_f64();
        let hwm = status_bytes(b.id(), "VmHWM:").unwrap_or(peak).max(peak);
        let cache_bytes = cache << 20;
        println!(
            "--db-cache {cache:>3} MB: synced in {secs:.1} s; resident at start {:.0} MB, peak {:.0} MB = cache {:.0} MB + {:.0} MB",
            mb(start_rss),
            mb(hwm),
            mb(cache_bytes),
            mb(hwm.saturating_sub(cache_bytes)),
        );
        let _ = b.kill();
        let _ = b.wait();
    }
    let _ = a.kill();
    let _ = a.wait();
}
