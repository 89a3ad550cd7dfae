//! The block explorer: server-rendered HTML pages under `/explorer/`, served by the node
//! on its API port (docs/explorer.md).
//!
//! Pages are [`maud`] templates, checked at compile time, and every value from a request
//! or the chain goes through maud's escaping. The stylesheet and the one script are
//! compiled into the binary ([`assets`]) and served from `/explorer/static/`; pages send a
//! Content-Security-Policy that allows scripts, styles and connections from the node
//! itself only (no inline or remote script). Chain reads run on blocking threads within
//! the node's `api_work` permits, as the JSON views do, and every list is paged with a
//! bounded page size.
//!
//! Live pages (home, mempool) follow `GET /events` from the script: on every (re)connect
//! it first fetches the page again and swaps in its `data-live` sections, so nothing that
//! happened while it was connecting is missed, then marks the page live.

pub mod assets;
pub mod format;
pub mod pages;

use crate::api::blocking;
use crate::http::ApiError;
use crate::node::Node;
use crate::primitives::BlockHash;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use maud::Markup;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The policy every page is sent with: nothing but the node's own scripts, styles and
/// connections; no inline script, no plugins, no framing.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; \
    frame-ancestors 'none'";

/// Blocks whose summaries the explorer keeps (the latest-blocks table reads them often).
const SUMMARY_CACHE: usize = 2_048;

/// How long a rendered live page may be served again while no event happened (its
/// "N s ago" times age by at most this).
const LIVE_PAGE_TTL: Duration = Duration::from_secs(2);

/// The explorer's shared state: the node, a bounded cache of block summaries, and the
/// last rendering of each live page.
#[derive(Clone)]
pub struct Explorer {
    pub node: Arc<Node>,
    summaries: Arc<SummaryCache>,
    live_pages: Arc<Mutex<HashMap<&'static str, LivePage>>>,
    /// One rendering of the live pages at a time: clients that miss the cache together
    /// (all the live pages refetching after an event) wait for it and share its result.
    rendering: Arc<tokio::sync::Mutex<()>>,
}

/// A live page as rendered after event `event_id`.
struct LivePage {
    event_id: u64,
    at: Instant,
    html: Arc<String>,
}

impl Explorer {
    pub fn new(node: Arc<Node>) -> Explorer {
        Explorer {
            node,
            summaries: Arc::new(SummaryCache::default()),
            live_pages: Arc::new(Mutex::new(HashMap::new())),
            rendering: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// The cached rendering of live page `key`, if no event happened since it was made
    /// and it is younger than [`LIVE_PAGE_TTL`].
    fn cached(&self, key: &'static str) -> Option<Arc<String>> {
        let id = self.node.events().last_id();
        let pages = self.live_pages.lock().unwrap_or_else(|e| e.into_inner());
        pages
            .get(key)
            .filter(|p| p.event_id == id && p.at.elapsed() < LIVE_PAGE_TTL)
            .map(|p| Arc::clone(&p.html))
    }

    fn remember(&self, key: &'static str, event_id: u64, html: Arc<String>) {
        let mut pages = self.live_pages.lock().unwrap_or_else(|e| e.into_inner());
        pages.insert(
            key,
            LivePage {
                event_id,
                at: Instant::now(),
                html,
            },
        );
    }
}

/// A block as its table rows show it, cached by hash (a block's content never changes;
/// the cache is cleared when it reaches [`SUMMARY_CACHE`] entries).
#[derive(Default)]
pub struct SummaryCache {
    map: Mutex<HashMap<BlockHash, Arc<pages::BlockSummary>>>,
}

impl SummaryCache {
    pub fn get(&self, hash: &BlockHash) -> Option<Arc<pages::BlockSummary>> {
        self.lock().get(hash).cloned()
    }

    pub fn put(&self, hash: BlockHash, summary: Arc<pages::BlockSummary>) {
        let mut map = self.lock();
        if map.len() >= SUMMARY_CACHE {
            map.clear();
        }
        map.insert(hash, summary);
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<BlockHash, Arc<pages::BlockSummary>>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The explorer's routes (with their state), to merge into the node's router. Every path
/// is under `/explorer`, plus `GET /` which redirects there.
pub fn router(node: Arc<Node>) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/explorer/") }))
        .route("/explorer", get(|| async { Redirect::to("/explorer/") }))
        .route("/explorer/", get(home))
        .route("/explorer/block/{id}", get(block))
        .route("/explorer/tx/{txid}", get(tx))
        .route("/explorer/address/{address}", get(address))
        .route("/explorer/richlist", get(rich_list))
        .route("/explorer/mempool", get(mempool))
        .route("/explorer/peers", get(peers))
        .route("/explorer/search", get(search))
        .route("/explorer/static/{file}", get(assets::serve))
        .route("/explorer/{*rest}", get(unknown))
        .with_state(Explorer::new(node))
}

/// An HTML answer with the explorer's security headers.
pub fn html(status: StatusCode, markup: Markup) -> Response {
    html_string(status, markup.into_string())
}

fn html_string(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// An error page for `error` (its status, its message).
fn error_page(error: &ApiError) -> Response {
    let status = error.status();
    html(status, pages::error(status, error.message()))
}

/// Runs a page's reads and rendering on a blocking thread (within `api_work`).
async fn render<F>(ex: Explorer, f: F) -> Response
where
    F: FnOnce(&Explorer) -> Result<Markup, ApiError> + Send + 'static,
{
    let node = Arc::clone(&ex.node);
    match blocking(node, move |_| f(&ex)).await {
        Ok(markup) => html(StatusCode::OK, markup),
        Err(e) => error_page(&e),
    }
}

/// A live page (home, mempool): every live client fetches it again on each block, so
/// one rendering serves them all until the next event (the event id is read before the
/// page, so a rendering is never older than the id it is filed under).
async fn render_live<F>(ex: Explorer, key: &'static str, f: F) -> Response
where
    F: FnOnce(&Explorer) -> Result<Markup, ApiError> + Send + 'static,
{
    if let Some(html) = ex.cached(key) {
        return html_string(StatusCode::OK, html.as_str().to_owned());
    }
    // Single flight: whoever holds the lock renders; the others find its page cached.
    let rendering = Arc::clone(&ex.rendering);
    let _turn = rendering.lock().await;
    if let Some(html) = ex.cached(key) {
        return html_string(StatusCode::OK, html.as_str().to_owned());
    }
    let node = Arc::clone(&ex.node);
    let event_id = node.events().last_id();
    node.metrics.explorer_live_renders.inc();
    let keep = ex.clone();
    match blocking(node, move |_| f(&ex)).await {
        Ok(markup) => {
            let html = Arc::new(markup.into_string());
            keep.remember(key, event_id, Arc::clone(&html));
            html_string(StatusCode::OK, html.as_str().to_owned())
        }
        Err(e) => error_page(&e),
    }
}

/// A `page=N` query parameter: 1-based, anything unreadable is page 1.
fn page_of(query: &Option<String>) -> u64 {
    query
        .as_deref()
        .unwrap_or_default()
        .split('&')
        .find_map(|kv| kv.strip_prefix("page="))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(1)
        .max(1)
}

/// The value of `name=` in a raw query, when it is plain ASCII (txid cursors).
fn param<'q>(query: &'q Option<String>, name: &str) -> Option<&'q str> {
    query
        .as_deref()?
        .split('&')
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
}

async fn home(State(ex): State<Explorer>) -> Response {
    render_live(ex, "home", pages::home).await
}

async fn block(
    State(ex): State<Explorer>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let page = page_of(&q);
    render(ex, move |ex| pages::block(ex, &id, page)).await
}

async fn tx(
    State(ex): State<Explorer>,
    Path(txid): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let page = page_of(&q);
    render(ex, move |ex| pages::transaction(ex, &txid, page)).await
}

async fn address(
    State(ex): State<Explorer>,
    Path(text): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let before = param(&q, "before").map(str::to_owned);
    render(ex, move |ex| pages::address(ex, &text, before.as_deref())).await
}

async fn rich_list(State(ex): State<Explorer>, RawQuery(q): RawQuery) -> Response {
    let page = page_of(&q);
    render(ex, move |ex| pages::rich_list(ex, page)).await
}

async fn mempool(State(ex): State<Explorer>) -> Response {
    render_live(ex, "mempool", pages::mempool).await
}

async fn peers(State(ex): State<Explorer>) -> Response {
    render(ex, pages::peers).await
}

#[derive(serde::Deserialize)]
struct SearchQuery {
    #[serde(default)]
    q: String,
}

/// `/explorer/search?q=`: a height, block hash, txid or address redirects to its page;
/// anything else is the 404 "nothing found" page.
async fn search(
    State(ex): State<Explorer>,
    query: Result<Query<SearchQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = match query {
        Ok(Query(q)) => q.q,
        Err(_) => String::new(),
    };
    let node = Arc::clone(&ex.node);
    let found = blocking(node, {
        let q = q.clone();
        move |node| Ok(pages::search_target(node, &q))
    })
    .await;
    match found {
        Ok(Some(location)) => Redirect::to(&location).into_response(),
        Ok(None) => html(StatusCode::NOT_FOUND, pages::nothing_found(&q)),
        Err(e) => error_page(&e),
    }
}

async fn unknown(Path(rest): Path<String>) -> Response {
    html(
        StatusCode::NOT_FOUND,
        pages::error(
            StatusCode::NOT_FOUND,
            &format!("There is no explorer page /explorer/{rest}."),
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_cache_stays_bounded_when_filled() {
        let cache = SummaryCache::default();
        for i in 0..(3 * SUMMARY_CACHE as u32) {
            let mut hash = [0u8; 32];
            hash[..4].copy_from_slice(&i.to_le_bytes());
            cache.put(
                BlockHash(hash),
                Arc::new(pages::BlockSummary {
                    hash: String::new(),
                    height: u64::from(i),
                    timestamp: 0,
                    tx_count: 1,
                    size: 100,
                    reward: 0,
                    txs: Vec::new(),
                }),
            );
            assert!(cache.len() <= SUMMARY_CACHE);
        }
        assert!(!cache.is_empty());
    }

    #[test]
    fn page_and_cursor_parameters_are_read_leniently() {
        assert_eq!(page_of(&None), 1);
        assert_eq!(page_of(&Some("page=3".into())), 3);
        assert_eq!(page_of(&Some("x=1&page=0".into())), 1);
        assert_eq!(page_of(&Some("page=-2".into())), 1);
        assert_eq!(page_of(&Some("page=99999999999999999999999".into())), 1);
        assert_eq!(param(&Some("a=1&before=ab".into()), "before"), Some("ab"));
        assert_eq!(param(&Some("beforex=ab".into()), "before"), None);
    }
}
