//! The explorer (issue 15) and `GET /events` against an in-process node: HTML pages and
//! their headers, the search, escaping, HTML versus JSON errors, the event stream and
//! its cap. [`browser`] drives headless Chromium through the same pages.

mod browser;

use crate::support::chain::{coins, units, TestNet};
use crate::support::cluster::{stop_all, NodeBuilder, TestNode};
use crate::support::http::Http;
use anyhow::Context;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

type TestResult = anyhow::Result<()>;

/// How long an event may take to show up on a stream.
const EVENT_WAIT: Duration = Duration::from_secs(20);

/// One raw request; the whole answer as text (head and body).
async fn raw_get(node: &TestNode, path: &str) -> anyhow::Result<String> {
    let mut stream = TcpStream::connect(node.addr()).await?;
    let head =
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nAccept: text/html\r\nConnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).await?;
    let mut out = Vec::new();
    tokio::time::timeout(EVENT_WAIT, stream.read_to_end(&mut out))
        .await
        .context("answer took too long")??;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// An open `GET /events` stream.
pub struct EventStream {
    stream: TcpStream,
    pub text: String,
}

impl EventStream {
    pub async fn open(node: &TestNode) -> anyhow::Result<EventStream> {
        let mut stream = TcpStream::connect(node.addr()).await?;
        stream
            .write_all(b"GET /events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
            .await?;
        let mut s = EventStream {
            stream,
            text: String::new(),
        };
        s.read_until("\r\n\r\n").await?;
        Ok(s)
    }

    /// Reads until the text so far contains `needle`; the text up to there is consumed.
    pub async fn read_until(&mut self, needle: &str) -> anyhow::Result<String> {
        let deadline = tokio::time::Instant::now() + EVENT_WAIT;
        loop {
            if let Some(at) = self.text.find(needle) {
                let rest = self.text.split_off(at + needle.len());
                return Ok(std::mem::replace(&mut self.text, rest));
            }
            let mut buf = [0u8; 4096];
            let n = tokio::time::timeout_at(deadline, self.stream.read(&mut buf))
                .await
                .with_context(|| format!("no {needle:?} on the stream; got {:?}", self.text))??;
            anyhow::ensure!(n > 0, "stream closed; got {:?}", self.text);
            self.text.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    }
}

fn status_of(answer: &str) -> u16 {
    answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn header_of<'a>(answer: &'a str, name: &str) -> Option<&'a str> {
    let head = answer.split("\r\n\r\n").next()?;
    head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explorer_pages_search_escaping_and_error_shapes() -> TestResult {
    let net = TestNet::new()?;
    let node = NodeBuilder::new(&net, "explorer").start().await?;
    node.generate(&net, 3).await?;
    let pay = net.alice_pays_bob(0, coins(12), units(10_000));
    node.submit_tx(&net, &pay).await?;
    node.generate(&net, 1).await?;
    let waiting = net.alice_pays_bob(1, coins(3), units(20_000));
    node.submit_tx(&net, &waiting).await?;
    let bob = net.address(&net.bob);

    // `/` redirects to the explorer; every page is HTML with the CSP.
    let root = raw_get(&node, "/").await?;
    assert_eq!(status_of(&root), 303, "{root}");
    assert_eq!(header_of(&root, "location"), Some("/explorer/"));
    let txid = pay.txid().to_hex();
    for path in [
        "/explorer/".to_owned(),
        "/explorer/block/1".to_owned(),
        format!("/explorer/block/{}", node.tip()),
        format!("/explorer/tx/{txid}"),
        format!("/explorer/tx/{}", waiting.txid()),
        format!("/explorer/address/{bob}"),
        "/explorer/richlist".to_owned(),
        "/explorer/richlist?page=999".to_owned(),
        "/explorer/mempool".to_owned(),
        "/explorer/peers".to_owned(),
    ] {
        let page = raw_get(&node, &path).await?;
        assert_eq!(status_of(&page), 200, "{path}: {page}");
        assert!(
            header_of(&page, "content-type").is_some_and(|v| v.starts_with("text/html")),
            "{path}"
        );
        let csp = header_of(&page, "content-security-policy").unwrap_or_default();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{path}: {csp}"
        );
        assert!(!page.contains("<script>"), "{path}: an inline script");
    }
    // The pages show what they are about.
    let tx_page = raw_get(&node, &format!("/explorer/tx/{txid}")).await?;
    assert!(tx_page.contains("confirmed in block"), "{tx_page}");
    assert!(tx_page.contains(&bob), "the output's address");
    assert!(tx_page.contains("12.00000000"), "the amount in coins");
    let pending = raw_get(&node, &format!("/explorer/tx/{}", waiting.txid())).await?;
    assert!(pending.contains("unconfirmed"), "{pending}");
    // The spent premine output links to the payment that spent it.
    let genesis_tx = net.premine(0).txid.to_hex();
    let premine = raw_get(&node, &format!("/explorer/tx/{genesis_tx}")).await?;
    assert!(
        premine.contains(&format!("/explorer/tx/{txid}")),
        "spender link"
    );
    let address = raw_get(&node, &format!("/explorer/address/{bob}")).await?;
    assert!(
        address.contains("1,012.00000000"),
        "bob's balance: {address}"
    );
    assert!(address.contains("+3.00000000"), "bob's unconfirmed change");
    let home = raw_get(&node, "/explorer/").await?;
    assert!(home.contains("id=\"live\""), "the live marker");
    assert!(home.contains("<svg"), "the chart");

    // Search: each kind of id goes to its page.
    let tip = node.tip().to_hex();
    for (q, to) in [
        ("4".to_owned(), "/explorer/block/4".to_owned()),
        (tip.clone(), format!("/explorer/block/{tip}")),
        (txid.clone(), format!("/explorer/tx/{txid}")),
        (
            waiting.txid().to_hex(),
            format!("/explorer/tx/{}", waiting.txid()),
        ),
        (bob.clone(), format!("/explorer/address/{bob}")),
    ] {
        let found = raw_get(&node, &format!("/explorer/search?q={q}")).await?;
        assert_eq!(status_of(&found), 303, "{q}: {found}");
        assert_eq!(header_of(&found, "location"), Some(to.as_str()), "{q}");
    }
    // Junk and hostile input: 404 pages that echo it escaped.
    for q in ["junk", "99999", &"ab".repeat(32)] {
        let none = raw_get(&node, &format!("/explorer/search?q={q}")).await?;
        assert_eq!(status_of(&none), 404, "{q}");
        assert!(none.contains("Nothing found"), "{q}");
    }
    let hostile = raw_get(
        &node,
        "/explorer/search?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E%22%27",
    )
    .await?;
    assert_eq!(status_of(&hostile), 404);
    assert!(
        hostile.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;'"),
        "{hostile}"
    );
    assert!(!hostile.contains("<script>alert"), "{hostile}");

    // Unknown explorer paths are HTML 404s; API paths keep JSON errors.
    for path in [
        "/explorer/nope",
        "/explorer/block/999999",
        "/explorer/block/%3Cb%3E",
        "/explorer/tx/zz",
        "/explorer/address/nope",
        "/explorer/static/nope.js",
    ] {
        let page = raw_get(&node, path).await?;
        assert_eq!(status_of(&page), 404, "{path}: {page}");
        assert!(
            header_of(&page, "content-type").is_some_and(|v| v.starts_with("text/html")),
            "{path}: {page}"
        );
        assert!(!page.contains("<b>"), "{path}: unescaped");
    }
    // A method the explorer does not take: the layer's 405, as HTML.
    let reply = Http::new()
        .post_json(&node.at("/explorer/"), &serde_json::json!({}))
        .await?;
    assert_eq!(reply.status.as_u16(), 405);
    assert!(reply
        .header("content-type")
        .is_some_and(|v| v.starts_with("text/html")));
    let reply = node.get("/no/such/thing").await?;
    assert_eq!(reply.status.as_u16(), 404);
    assert_eq!(reply.code(), Some("not-found"));
    let reply = node.get("/transactions/zz").await?;
    assert_eq!(reply.code(), Some("malformed"));

    // The assets are served, compiled in.
    let js = raw_get(&node, "/explorer/static/app.js").await?;
    assert_eq!(status_of(&js), 200);
    assert!(header_of(&js, "content-type").is_some_and(|v| v.contains("javascript")));
    stop_all(vec![node]).await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_stream_blocks_and_txs_with_ids_outlive_timeouts_and_are_capped() -> TestResult {
    let net = TestNet::new()?;
    // Short request and idle timeouts: neither may end a stream.
    let timeout = Duration::from_millis(500);
    let node = NodeBuilder::new(&net, "events")
        .max_event_streams(3)
        .short_timeouts(timeout)
        .start()
        .await?;
    let mut stream = EventStream::open(&node).await?;
    // Waiting is the point here: the stream outlives both timeouts.
    tokio::time::sleep(timeout * 3).await;
    // A block event for each mined block, in order, with ids.
    let hashes = node.generate(&net, 2).await?;
    let first = stream.read_until("\n\n").await?;
    let first = if first.contains("event: block") {
        first
    } else {
        // The stream opens with a `retry:` and a comment.
        stream.read_until("\n\n").await?
    };
    assert!(first.contains("event: block"), "{first}");
    assert!(first.contains(&hashes[0]), "{first}");
    assert!(first.contains("\"height\":1"), "{first}");
    assert!(first.contains("\"transaction_count\":1"), "{first}");
    let id_of = |event: &str| -> u64 {
        event
            .lines()
            .find_map(|l| l.strip_prefix("id: ").or_else(|| l.strip_prefix("id:")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    let second = stream.read_until("\n\n").await?;
    assert!(second.contains(&hashes[1]), "{second}");
    assert_eq!(id_of(&second), id_of(&first) + 1, "{first}{second}");

    // A transaction entering the mempool.
    let pay = net.alice_pays_bob(0, coins(1), units(10_000));
    node.submit_tx(&net, &pay).await?;
    let tx = stream.read_until("\n\n").await?;
    assert!(tx.contains("event: tx"), "{tx}");
    assert!(tx.contains(&pay.txid().to_hex()), "{tx}");
    assert!(tx.contains("\"fee\":10000"), "{tx}");
    assert!(tx.contains(&format!("\"size\":{}", pay.size())), "{tx}");
    // Submitting it again is not an event (already known); the next event is a block.
    node.submit_tx(&net, &pay).await?;
    let hash = node.generate(&net, 1).await?;
    let next = stream.read_until("\n\n").await?;
    assert!(
        next.contains("event: block") && next.contains(&hash[0]),
        "{next}"
    );

    // The cap: two more streams fit, the fourth is refused in the API's error shape.
    let _b = EventStream::open(&node).await?;
    let _c = EventStream::open(&node).await?;
    let refused = node.get("/events").await?;
    assert_eq!(refused.status.as_u16(), 503, "{:?}", refused.body);
    assert_eq!(refused.code(), Some("not-ready"));
    assert!(refused.header("retry-after").is_some());
    // A closed stream frees its slot (the server notices when it next writes to it: an
    // event or the 15 s ping).
    drop(stream);
    crate::support::eventually(crate::support::SETTLE, "a slot frees up", || async {
        let _ = node.generate(&net, 1).await;
        raw_events_status(&node).await.is_ok_and(|s| s == 200)
    })
    .await?;
    stop_all(vec![node]).await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reorg_is_announced_before_the_blocks_of_the_new_branch() -> TestResult {
    let net = TestNet::new()?;
    let a = NodeBuilder::new(&net, "A").start().await?;
    let b = NodeBuilder::new(&net, "B").start().await?;
    let mut stream = EventStream::open(&a).await?;
    let lost = a.generate(&net, 1).await?;
    // Paid to another key than A's block, so B's first block is not A's.
    let won = b.generate_to(2, &net.address(&net.bob)).await?;
    // B's branch, handed to A block by block: the second one outweighs A's.
    for hash in &won {
        let block = b
            .running
            .node
            .chain()
            .block(&ferro::primitives::BlockHash::from_hex(hash)?)?
            .context("B stores its block")?;
        let reply = Http::new()
            .post_binary(
                &a.at("/blocks"),
                ferro::primitives::Encode::to_bytes(&block),
            )
            .await?;
        anyhow::ensure!(reply.status.is_success(), "{:?}", reply.body);
    }
    stream.read_until(&lost[0]).await?;
    let reorg = stream.read_until("\n\n").await?;
    let reorg = if reorg.contains("event: reorg") {
        reorg
    } else {
        stream.read_until("\n\n").await?
    };
    assert!(reorg.contains("event: reorg"), "{reorg}");
    assert!(
        reorg.contains(&format!("\"disconnected\":[\"{}\"]", lost[0])),
        "{reorg}"
    );
    assert!(
        reorg.contains(&format!("\"connected\":[\"{}\",\"{}\"]", won[0], won[1])),
        "{reorg}"
    );
    let first = stream.read_until("\n\n").await?;
    assert!(
        first.contains("event: block") && first.contains(&won[0]),
        "{first}"
    );
    let second = stream.read_until("\n\n").await?;
    assert!(
        second.contains("event: block") && second.contains(&won[1]),
        "{second}"
    );
    stop_all(vec![a, b]).await;
    Ok(())
}

/// The status of a fresh `GET /events` (closing it right after its head).
async fn raw_events_status(node: &TestNode) -> anyhow::Result<u16> {
    let mut stream = TcpStream::connect(node.addr()).await?;
    stream
        .write_all(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
        .await?;
    let mut buf = vec![0u8; 1024];
    let n = tokio::time::timeout(EVENT_WAIT, stream.read(&mut buf)).await??;
    Ok(status_of(&String::from_utf8_lossy(&buf[..n])))
}

/// After an event, the live pages' clients all refetch at once: 40 concurrent requests
/// for the home page get the same page from one rendering (single flight), not 40
/// renderings under the chain and mempool locks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_pages_refetched_together_are_rendered_once() -> TestResult {
    let net = TestNet::new()?;
    let node = NodeBuilder::new(&net, "herd").start().await?;
    node.generate(&net, 2).await?;
    let renders = || node.running.node.metrics.explorer_live_renders.get();
    let before = renders();
    let fetches = (0..40).map(|_| raw_get(&node, "/explorer/"));
    let pages = futures_util::future::join_all(fetches).await;
    let mut bodies = std::collections::HashSet::new();
    for page in pages {
        let page = page?;
        assert_eq!(status_of(&page), 200, "{page}");
        bodies.insert(page.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned());
    }
    assert_eq!(renders() - before, 1, "one rendering served every request");
    assert_eq!(bodies.len(), 1, "every client got the same page");
    // A new event (a block) makes the next fetch render again, once.
    node.generate(&net, 1).await?;
    let again = (0..20).map(|_| raw_get(&node, "/explorer/"));
    for page in futures_util::future::join_all(again).await {
        assert_eq!(status_of(&page?), 200);
    }
    assert_eq!(renders() - before, 2);
    node.stop().await;
    Ok(())
}
