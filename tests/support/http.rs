//! A raw HTTP client for tests: any body, any content type, and the status and JSON
//! of every answer (the node's own client turns non-2xx answers into errors).

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{ACCEPT, CONTENT_TYPE};
use hyper::{Method, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const JSON: &str = "application/json";
pub const BINARY: &str = "application/octet-stream";

/// Longest a test request may take (a whole 500-block generate fits).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(90);

/// An answer: status and body (JSON, or `Null` when empty).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
}

impl Reply {
    /// The API error code of an error answer.
    pub fn code(&self) -> Option<&str> {
        self.body["error"]["code"].as_str()
    }

    /// The body of a 2xx answer, or an error showing the answer.
    pub fn ok(self) -> anyhow::Result<Value> {
        anyhow::ensure!(
            self.status.is_success(),
            "expected success, got {} {}",
            self.status,
            self.body
        );
        Ok(self.body)
    }
}

/// Asserts an error answer with `status` and `code`, and an error message; `case`
/// names the request in the failure message.
#[track_caller]
pub fn assert_rejected(reply: &Reply, status: u16, code: &str, case: &str) {
    assert_eq!(
        (reply.status.as_u16(), reply.code()),
        (status, Some(code)),
        "{case}: expected {status} {code}, got {} {}",
        reply.status,
        reply.body
    );
    assert!(
        reply.body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{case}: error without a message: {}",
        reply.body
    );
}

#[derive(Clone)]
pub struct Http {
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Default for Http {
    fn default() -> Self {
        Self::new()
    }
}

impl Http {
    pub fn new() -> Http {
        Http {
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// Sends `body` with an optional content type; returns whatever the node answered.
    pub async fn request(
        &self,
        method: Method,
        url: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> anyhow::Result<Reply> {
        let mut builder = hyper::Request::builder()
            .method(method.clone())
            .uri(url)
            .header(ACCEPT, JSON);
        if let Some(ct) = content_type {
            builder = builder.header(CONTENT_TYPE, ct);
        }
        let request = builder.body(Full::new(Bytes::from(body)))?;
        let exchange = async {
            let response = self.client.request(request).await?;
            let status = response.status();
            let bytes = response.into_body().collect().await?.to_bytes();
            anyhow::Ok((status, bytes))
        };
        let (status, bytes) = tokio::time::timeout(REQUEST_TIMEOUT, exchange)
            .await
            .with_context(|| format!("{method} {url} took more than {REQUEST_TIMEOUT:?}"))?
            .with_context(|| format!("{method} {url} failed"))?;
        Ok(Reply {
            status,
            body: parse_body(status, &bytes)
                .with_context(|| format!("{method} {url}: answer is not json"))?,
        })
    }

    pub async fn get(&self, url: &str) -> anyhow::Result<Reply> {
        self.request(Method::GET, url, None, Vec::new()).await
    }

    pub async fn post_json(&self, url: &str, body: &Value) -> anyhow::Result<Reply> {
        self.request(Method::POST, url, Some(JSON), serde_json::to_vec(body)?)
            .await
    }

    /// Posts raw text as JSON (for bodies that are not valid JSON).
    pub async fn post_text(&self, url: &str, text: &str) -> anyhow::Result<Reply> {
        self.request(Method::POST, url, Some(JSON), text.as_bytes().to_vec())
            .await
    }

    pub async fn post_binary(&self, url: &str, body: Vec<u8>) -> anyhow::Result<Reply> {
        self.request(Method::POST, url, Some(BINARY), body).await
    }
}

fn parse_body(status: StatusCode, bytes: &[u8]) -> anyhow::Result<Value> {
    if bytes.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(bytes).with_context(|| {
        format!(
            "status {status}, body {:?}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
        )
    })
}

/// Posts a body of `len` bytes over a plain TCP connection, declaring its length
/// (`chunked == false`) or sending it chunked (no declared length), and reads the
/// answer while the body is still being written: a node that refuses a body early
/// answers before reading it all. Write errors after the answer are expected.
pub async fn post_huge(
    addr: std::net::SocketAddr,
    path: &str,
    len: usize,
    chunked: bool,
) -> anyhow::Result<Reply> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (mut reader, mut writer) = stream.into_split();
    let framing = if chunked {
        "Transfer-Encoding: chunked".to_string()
    } else {
        format!("Content-Length: {len}")
    };
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {JSON}\r\n{framing}\r\nConnection: close\r\n\r\n"
    );
    let writing = tokio::spawn(async move {
        writer.write_all(head.as_bytes()).await?;
        let chunk = vec![b' '; 64 * 1024];
        let mut sent = 0;
        while sent < len {
            let n = chunk.len().min(len - sent);
            if chunked {
                writer.write_all(format!("{n:x}\r\n").as_bytes()).await?;
                writer.write_all(&chunk[..n]).await?;
                writer.write_all(b"\r\n").await?;
            } else {
                writer.write_all(&chunk[..n]).await?;
            }
            sent += n;
        }
        if chunked {
            writer.write_all(b"0\r\n\r\n").await?;
        }
        std::io::Result::Ok(())
    });
    let mut answer = Vec::new();
    let read = tokio::time::timeout(REQUEST_TIMEOUT, async {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            if let Some(reply) = parse_raw_answer(&answer)? {
                return anyhow::Ok(reply);
            }
            let n = reader.read(&mut buf).await?;
            anyhow::ensure!(
                n > 0,
                "connection closed before a full answer: {:?}",
                String::from_utf8_lossy(&answer)
            );
            answer.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .context("no answer to a huge body")??;
    writing.abort();
    Ok(read)
}

/// A complete `HTTP/1.1` answer with a `Content-Length` body, or `None` if more bytes
/// are needed.
fn parse_raw_answer(bytes: &[u8]) -> anyhow::Result<Option<Reply>> {
    let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = String::from_utf8_lossy(&bytes[..end]).to_string();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("bad status line in {head:?}"))?;
    let length: usize = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .with_context(|| format!("answer without content-length: {head:?}"))?;
    let body = &bytes[end + 4..];
    if body.len() < length {
        return Ok(None);
    }
    let status = StatusCode::from_u16(status)?;
    Ok(Some(Reply {
        status,
        body: parse_body(status, &body[..length])?,
    }))
}
