//! A hostile fake peer for the attack tests (issue 10): it answers `GET /info` with the
//! real genesis hash but an enormous height and chain work, takes every relayed item
//! with 200, and answers `GET /headers` and `GET /blocks` in one of the bad ways of
//! [`Mode`].
//!
//! It runs on plain threads over `std::net` (no tokio), so both the in-process node
//! tests and the multi-process network test can use it, and writes raw HTTP/1.1 so it
//! can misbehave at the byte level (slow, endless, oversized bodies). Every connection is
//! closed after one answer.

#![allow(dead_code)]

use ferro::primitives::{Block, BlockHash, Encode, Hash256, Header, Height, Target};
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How the fake answers `GET /headers` (and `GET /blocks`).
#[derive(Clone, Debug)]
pub enum Mode {
    /// No headers at all, despite the work it claims.
    Empty,
    /// A body that never ends, as fast as the victim reads.
    Endless,
    /// A body at one byte per second.
    Slow,
    /// 40 MiB of zeros.
    Oversized,
    /// 2 KiB of random bytes.
    RandomBytes,
    /// The genesis header over and over; `GET /blocks` is copies of the genesis block.
    GenesisLoop,
    /// Headers that link onto genesis but do not meet their target.
    NoPow,
    /// Headers with valid proof of work that do not link to each other.
    NotLinking,
    /// 2 001 headers when 2 000 were asked for.
    MoreThanAsked,
    /// `429 rate-limited` to every sync request (an honest, loaded peer).
    RateLimited,
    /// A branch it serves by locator (valid headers, no blocks).
    Branch(Arc<Vec<Header>>),
}

/// What the fake claims in `GET /info`.
#[derive(Clone, Debug)]
pub struct Claims {
    pub name: String,
    pub genesis: Block,
    pub height: u64,
    /// 64 hex digits.
    pub chain_work: String,
}

impl Claims {
    /// The real network's genesis with height 10^9 and chain work `ff…ff`.
    pub fn huge(name: &str, genesis: Block) -> Claims {
        Claims {
            name: name.to_string(),
            genesis,
            height: 1_000_000_000,
            chain_work: "ff".repeat(32),
        }
    }
}

pub struct FakePeer {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    /// `GET /headers` and `GET /blocks` requests answered so far.
    pub sync_requests: Arc<AtomicUsize>,
}

impl FakePeer {
    /// Starts the fake on `ip:0`.
    pub fn start(ip: IpAddr, claims: Claims, mode: Mode) -> anyhow::Result<FakePeer> {
        Self::start_at(SocketAddr::new(ip, 0), claims, mode)
    }

    pub fn start_at(at: SocketAddr, claims: Claims, mode: Mode) -> anyhow::Result<FakePeer> {
        let listener = TcpListener::bind(at)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let sync_requests = Arc::new(AtomicUsize::new(0));
        let shared = Arc::new((claims, mode));
        {
            let (stop, sync_requests) = (stop.clone(), sync_requests.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let (shared, stop, sync_requests) =
                                (shared.clone(), stop.clone(), sync_requests.clone());
                            std::thread::spawn(move || {
                                let _ = serve(stream, &shared.0, &shared.1, &stop, &sync_requests);
                            });
                        }
                        // Non-blocking accept: nothing waiting; look again shortly.
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            });
        }
        Ok(FakePeer {
            addr,
            stop,
            sync_requests,
        })
    }

    pub fn sync_requests(&self) -> usize {
        self.sync_requests.load(Ordering::Relaxed)
    }
}

impl Drop for FakePeer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Reads one request head (and discards its body); returns method and target.
fn read_request(stream: &mut TcpStream) -> std::io::Result<(String, String)> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 || head.len() > 64 * 1024 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head).to_string();
    let mut words = text.split_whitespace();
    let method = words.next().unwrap_or_default().to_string();
    let target = words.next().unwrap_or_default().to_string();
    let length = text
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<u64>().ok())
                .flatten()
        })
        .unwrap_or(0);
    std::io::copy(
        &mut (&mut *stream).take(length.min(8 << 20)),
        &mut std::io::sink(),
    )?;
    Ok((method, target))
}

fn respond(stream: &mut TcpStream, status: &str, kind: &str, body: &[u8]) -> std::io::Result<()> {
    write!(
        stream,
        "HTTP/1.1 {status}\r\ncontent-type: {kind}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(body)?;
    stream.flush()
}

fn json<T: serde::Serialize>(stream: &mut TcpStream, value: &T) -> std::io::Result<()> {
    respond(
        stream,
        "200 OK",
        "application/json",
        serde_json::to_string(value).unwrap_or_default().as_bytes(),
    )
}

fn binary(stream: &mut TcpStream, body: &[u8]) -> std::io::Result<()> {
    respond(stream, "200 OK", "application/octet-stream", body)
}

/// A header list as `GET /headers` encodes it: count, then each header and its hash.
pub fn header_list(headers: &[Header]) -> Vec<u8> {
    let mut out = Vec::new();
    ferro::primitives::block::encode_header_list(headers, &mut out);
    out
}

fn query_param<'a>(target: &'a str, name: &str) -> Option<&'a str> {
    let query = target.split_once('?')?.1;
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then_some(v)
    })
}

fn serve(
    mut stream: TcpStream,
    claims: &Claims,
    mode: &Mode,
    stop: &AtomicBool,
    sync_requests: &AtomicUsize,
) -> std::io::Result<()> {
    let (method, target) = read_request(&mut stream)?;
    let path = target.split('?').next().unwrap_or_default().to_string();
    let genesis_hash = claims.genesis.hash().to_hex();
    match (method.as_str(), path.as_str()) {
        ("GET", "/info") => {
            let mut info = ferro::wire::Info::bare(&claims.name, &genesis_hash, claims.height);
            info.best_hash = genesis_hash.clone();
            info.chain_work = claims.chain_work.clone();
            info.features = ferro::wire::FEATURES
                .iter()
                .map(|f| f.to_string())
                .collect();
            json(&mut stream, &info)
        }
        ("GET", "/nodes") => json(&mut stream, &serde_json::json!([])),
        ("POST", "/nodes") => json(&mut stream, &serde_json::json!({"status": "added"})),
        ("POST", "/blocks") | ("POST", "/transactions") => {
            json(&mut stream, &serde_json::json!({"status": "accepted"}))
        }
        ("GET", "/headers") | ("GET", "/blocks") => {
            sync_requests.fetch_add(1, Ordering::Relaxed);
            let blocks = path == "/blocks";
            answer_sync(&mut stream, claims, mode, blocks, &target, stop)
        }
        _ => respond(
            &mut stream,
            "404 Not Found",
            "application/json",
            br#"{"error":{"code":"not-found","message":"no such endpoint"}}"#,
        ),
    }
}

fn answer_sync(
    stream: &mut TcpStream,
    claims: &Claims,
    mode: &Mode,
    blocks: bool,
    target: &str,
    stop: &AtomicBool,
) -> std::io::Result<()> {
    let genesis = &claims.genesis;
    match mode {
        Mode::Empty => binary(stream, &0u32.to_le_bytes()),
        Mode::Endless => {
            write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\nconnection: close\r\n\r\n"
            )?;
            let chunk = vec![0u8; 64 * 1024];
            while !stop.load(Ordering::Relaxed) {
                stream.write_all(&chunk)?;
            }
            Ok(())
        }
        Mode::Slow => {
            write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: 1000\r\nconnection: close\r\n\r\n"
            )?;
            for _ in 0..1000 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                stream.write_all(&[0])?;
                std::thread::sleep(Duration::from_secs(1));
            }
            Ok(())
        }
        Mode::Oversized => {
            let total = 40usize << 20;
            write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: {total}\r\nconnection: close\r\n\r\n"
            )?;
            let chunk = vec![0u8; 64 * 1024];
            for _ in 0..total / chunk.len() {
                stream.write_all(&chunk)?;
            }
            Ok(())
        }
        Mode::RandomBytes => {
            let bytes: Vec<u8> = (0..2048).map(|_| rand::random::<u8>()).collect();
            binary(stream, &bytes)
        }
        Mode::GenesisLoop if blocks => {
            let mut out = 64u32.to_le_bytes().to_vec();
            for _ in 0..64 {
                out.extend(genesis.to_bytes());
            }
            binary(stream, &out)
        }
        Mode::GenesisLoop => binary(stream, &header_list(&vec![genesis.header; 2_000])),
        Mode::NoPow => binary(stream, &header_list(&chain_on(genesis, 10, false))),
        Mode::NotLinking => {
            let mut headers = chain_on(genesis, 2, true);
            headers[1].prev_hash = BlockHash([7; 32]);
            solve_header(&mut headers[1], true);
            binary(stream, &header_list(&headers))
        }
        Mode::MoreThanAsked => binary(stream, &header_list(&chain_on(genesis, 2_001, true))),
        Mode::RateLimited => {
            let body = br#"{"error":{"code":"rate-limited","message":"too many requests"}}"#;
            write!(
                stream,
                "HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\nretry-after: 1\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            )?;
            stream.write_all(body)
        }
        Mode::Branch(headers) if !blocks => {
            // Answer from the first locator hash on the branch, else from its start.
            let locator: Vec<&str> = query_param(target, "locator")
                .map(|l| l.split(',').collect())
                .unwrap_or_default();
            let start = locator
                .iter()
                .find_map(|h| headers.iter().position(|x| x.hash().to_hex() == *h))
                .map_or(0, |i| i + 1);
            let end = (start + 2_000).min(headers.len());
            binary(stream, &header_list(&headers[start..end]))
        }
        Mode::Branch(_) => binary(stream, &0u32.to_le_bytes()),
    }
}

/// Searches a nonce so that `header` meets its target (`valid`) or misses it.
pub fn solve_header(header: &mut Header, valid: bool) {
    for nonce in 0u64.. {
        header.nonce = nonce;
        if header.target.is_met_by(&header.hash().0) == valid {
            return;
        }
    }
}

/// `n` headers on `genesis` at its target, one second apart, each meeting its target
/// (`valid`) or not.
pub fn chain_on(genesis: &Block, n: usize, valid: bool) -> Vec<Header> {
    chain_from(&genesis.header, n, valid, genesis.header.target)
}

/// `n` headers on `parent`, one second apart, at `target`.
pub fn chain_from(parent: &Header, n: usize, valid: bool, target: Target) -> Vec<Header> {
    let mut out: Vec<Header> = Vec::with_capacity(n);
    let mut prev = *parent;
    for i in 0..n {
        let mut h = Header {
            version: 1,
            height: Height(prev.height.get() + 1),
            prev_hash: prev.hash(),
            merkle_root: Hash256([(i % 251) as u8; 32]),
            timestamp: prev.timestamp + 1,
            target,
            nonce: 0,
        };
        solve_header(&mut h, valid);
        out.push(h);
        prev = h;
    }
    out
}
