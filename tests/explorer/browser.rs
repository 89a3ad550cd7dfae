//! The explorer in a real browser: headless Chromium driven through WebDriver
//! (chromedriver, `fantoccini`), as a person would use it. Screenshots of each page go
//! to `target/explorer-screenshots/`.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them). Skipped
//! with `FERRO_SKIP_BROWSER=1`; without it, a missing browser fails the test.

use crate::support::chain::{coins, units, TestNet};
use crate::support::cluster::{stop_all, NodeBuilder};
use anyhow::Context;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// How long the browser may take to show something.
const WAIT: Duration = Duration::from_secs(20);

fn skipped() -> bool {
    std::env::var("FERRO_SKIP_BROWSER").is_ok_and(|v| v == "1")
}

fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

/// chromedriver, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn start() -> anyhow::Result<Driver> {
        let program = find_program(&["chromedriver"]).context(
            "chromedriver is not installed (apt-get install chromium chromium-driver, \
             or set FERRO_SKIP_BROWSER=1 to skip the browser test)",
        )?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = Command::new(program)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start chromedriver")?;
        Ok(Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        })
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// chromedriver's `POST /session/{id}/se/log` (the browser console), which WebDriver
/// itself does not have.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(r#"{"type":"browser"}"#.to_owned()))
    }
}

/// The console entries since the last call, as `LEVEL message` lines.
async fn console(client: &Client) -> anyhow::Result<Vec<String>> {
    let entries = client.issue_cmd(BrowserLog).await?;
    Ok(entries
        .as_array()
        .map(|list| {
            list.iter()
                .map(|e| {
                    format!(
                        "{} {}",
                        e["level"].as_str().unwrap_or("?"),
                        e["message"].as_str().unwrap_or("?")
                    )
                })
                .collect()
        })
        .unwrap_or_default())
}

fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("explorer-screenshots")
}

async fn shoot(client: &Client, name: &str) -> anyhow::Result<()> {
    let png = client.screenshot().await?;
    let dir = screenshot_dir();
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join(format!("{name}.png")), png)?;
    Ok(())
}

async fn text_of(client: &Client, css: &str) -> anyhow::Result<String> {
    Ok(client.find(Locator::Css(css)).await?.text().await?)
}

/// Waits until the element `css` has text `want`.
async fn wait_text(client: &Client, css: &str, want: &str) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let now = text_of(client, css).await.unwrap_or_default();
        if now == want {
            return Ok(());
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "{css} shows {now:?}, not {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Types `query` into the search box and submits it.
async fn search(client: &Client, query: &str) -> anyhow::Result<()> {
    let input = client.find(Locator::Css("#q")).await?;
    input.send_keys(query).await?;
    client
        .find(Locator::Css("form.search button"))
        .await?
        .click()
        .await?;
    Ok(())
}

async fn wait_path(client: &Client, path: &str) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let url = client.current_url().await?;
        if url.path() == path {
            return Ok(());
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "at {url}, not {path}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explorer_in_headless_chromium() -> anyhow::Result<()> {
    if skipped() {
        eprintln!("skipped: FERRO_SKIP_BROWSER=1");
        return Ok(());
    }
    let chromium = find_program(&["chromium", "chromium-browser"]).context(
        "chromium is not installed (apt-get install chromium chromium-driver, \
         or set FERRO_SKIP_BROWSER=1 to skip the browser test)",
    )?;
    let driver = Driver::start()?;
    let net = TestNet::new()?;
    let node = NodeBuilder::new(&net, "browser").start().await?;
    node.generate(&net, 3).await?;
    let pay = net.alice_pays_bob(0, coins(12), units(10_000));
    node.submit_tx(&net, &pay).await?;
    node.generate(&net, 1).await?;
    let bob = net.address(&net.bob);

    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-background-networking", "--disable-dev-shm-usage",
                     "--window-size=1280,1000"],
        }),
    );
    caps.insert("goog:loggingPrefs".into(), json!({"browser": "ALL"}));
    // chromedriver needs a moment to listen.
    let deadline = tokio::time::Instant::now() + WAIT;
    let client = loop {
        let mut builder =
            ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
        match builder
            .capabilities(caps.clone())
            .connect(&driver.url)
            .await
        {
            Ok(c) => break c,
            Err(e) if tokio::time::Instant::now() >= deadline => {
                anyhow::bail!("no WebDriver session from chromedriver: {e}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    let outcome = drive(&client, &node, &net, &pay, &bob).await;
    let _ = client.close().await;
    drop(driver);
    stop_all(vec![node]).await;
    outcome
}

async fn drive(
    client: &Client,
    node: &crate::support::cluster::TestNode,
    net: &TestNet,
    pay: &ferro::primitives::Transaction,
    bob: &str,
) -> anyhow::Result<()> {
    let mut errors: Vec<String> = Vec::new();
    let mut check_console = |page: &str, entries: Vec<String>, expect_404: bool| {
        for e in entries {
            let harmless = expect_404 && e.contains("status of 404");
            if e.starts_with("SEVERE") && !harmless {
                errors.push(format!("{page}: {e}"));
            }
        }
    };

    // Home: wait for the live marker, then a block mined now shows without a reload.
    client.goto(&node.at("/explorer/")).await?;
    client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#live[data-state='live']"))
        .await
        .context("the home page never went live")?;
    client
        .execute("window.ferroNotReloaded = true; return true;", vec![])
        .await?;
    let height = node.height();
    wait_text(client, "#height", &height.to_string()).await?;
    let mined = node.generate(net, 1).await?;
    wait_text(client, "#height", &(height + 1).to_string())
        .await
        .context("the new block did not appear without a reload")?;
    let still = client
        .execute("return window.ferroNotReloaded === true;", vec![])
        .await?;
    assert_eq!(still, Value::Bool(true), "the page reloaded");
    let latest = text_of(client, "#latest-blocks tbody tr:first-child").await?;
    assert!(
        latest.contains(&(height + 1).to_string()),
        "latest blocks: {latest}"
    );
    assert!(!mined.is_empty());
    shoot(client, "home").await?;
    check_console("home", console(client).await?, false);

    // Search a txid: its page.
    let txid = pay.txid().to_hex();
    search(client, &txid).await?;
    wait_path(client, &format!("/explorer/tx/{txid}")).await?;
    let status = text_of(client, "#status").await?;
    assert!(status.contains("confirmed in block"), "{status}");
    shoot(client, "tx").await?;
    check_console("tx", console(client).await?, false);

    // Follow the first output's address: bob's page and balance.
    client
        .find(Locator::Css("#out-0 a.address"))
        .await?
        .click()
        .await?;
    wait_path(client, &format!("/explorer/address/{bob}")).await?;
    let balance = text_of(client, "#balance").await?;
    assert_eq!(balance, "1,012.00000000");
    shoot(client, "address").await?;
    check_console("address", console(client).await?, false);

    // The rich list.
    client
        .find(Locator::Css("nav a[href='/explorer/richlist']"))
        .await?
        .click()
        .await?;
    wait_path(client, "/explorer/richlist").await?;
    let rows = client
        .find_all(Locator::Css("#richlist tbody tr"))
        .await?
        .len();
    assert!(rows >= 3, "{rows} rich-list rows");
    shoot(client, "richlist").await?;
    check_console("richlist", console(client).await?, false);

    // Junk: the "nothing found" page.
    search(client, "certainly-not-a-thing").await?;
    wait_path(client, "/explorer/search").await?;
    let none = text_of(client, "#nothing-found h1").await?;
    assert_eq!(none, "Nothing found");
    shoot(client, "nothing-found").await?;
    check_console("nothing found", console(client).await?, true);

    // A search string with a script comes back as text, not as a script.
    let hostile = "<script>window.ferroPwned=1</script><img src=x onerror=\"window.ferroPwned=2\">";
    search(client, hostile).await?;
    wait_path(client, "/explorer/search").await?;
    let echoed = text_of(client, "#nothing-found q").await?;
    assert_eq!(echoed, hostile);
    let pwned = client
        .execute("return window.ferroPwned === undefined;", vec![])
        .await?;
    assert_eq!(pwned, Value::Bool(true), "the search string ran");
    check_console("hostile search", console(client).await?, true);

    // The other pages, for the screenshots and the console.
    for (name, path) in [
        ("block", format!("/explorer/block/{}", node.tip())),
        ("mempool", "/explorer/mempool".to_owned()),
        ("peers", "/explorer/peers".to_owned()),
    ] {
        client.goto(&node.at(&path)).await?;
        client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css("main h1"))
            .await?;
        shoot(client, name).await?;
        check_console(name, console(client).await?, false);
    }
    // The mempool page goes live too, and shows a payment as it arrives.
    client.goto(&node.at("/explorer/mempool")).await?;
    client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#live[data-state='live']"))
        .await
        .context("the mempool page never went live")?;
    let second = net.alice_pays_bob(1, coins(1), units(10_000));
    node.submit_tx(net, &second).await?;
    wait_text(client, "#mempool-count", "1").await?;
    shoot(client, "mempool-live").await?;

    // Phone width: the home page still fits.
    client.set_window_size(390, 844).await?;
    client.goto(&node.at("/explorer/")).await?;
    client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#live[data-state='live']"))
        .await?;
    let overflow = client
        .execute(
            "return document.documentElement.scrollWidth <= window.innerWidth + 1;",
            vec![],
        )
        .await?;
    shoot(client, "home-phone").await?;
    assert_eq!(
        overflow,
        Value::Bool(true),
        "the home page is wider than a phone"
    );
    check_console("phone", console(client).await?, false);
    assert!(errors.is_empty(), "console errors:\n{}", errors.join("\n"));
    Ok(())
}
