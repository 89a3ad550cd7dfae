//! The one HTTP client of the tests: raw HTTP/1.1 on a fresh connection per request
//! (`Connection: close`), from a chosen source address if asked, any method, content
//! type and body (valid or not), and the status, head and JSON of every answer (the
//! node's own client turns non-2xx answers into errors, which tests of refusals cannot
//! use). [`Http`] takes URLs; [`blocking`] is the same for tests without a runtime;
//! [`post_huge`] writes a large body while reading the answer.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::Context;
use http::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

pub const JSON: &str = "application/json";
pub const BINARY: &str = "application/octet-stream";

/// Longest a test request may take (a whole 500-block generate fits).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(90);

/// An answer: status, head (status line and headers) and body (JSON, or `Null` when
/// empty or not JSON).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub head: String,
    pub body: Value,
    /// The body as received (chunked framing removed).
    pub bytes: Vec<u8>,
}

impl Reply {
    /// The API error code of an error answer.
    pub fn code(&self) -> Option<&str> {
        self.body["error"]["code"].as_str()
    }

    /// The API error message of an error answer.
    pub fn message(&self) -> Option<&str> {
        self.body["error"]["message"].as_str()
    }

    /// The value of header `name` (case-insensitive), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head
            .split("\r\n")
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .find(|(n, _)| n.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
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
        reply.message().is_some_and(|m| !m.is_empty()),
        "{case}: error without a message: {}",
        reply.body
    );
}

/// One request: `method path` to `to`, from `source` when given.
pub async fn exchange(
    source: Option<IpAddr>,
    to: SocketAddr,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> anyhow::Result<Reply> {
    let what = || format!("{method} http://{to}{path}");
    let run = async {
        let mut stream = connect(source, to).await?;
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {to}\r\nAccept: {JSON}\r\nConnection: close\r\n"
        );
        if method != "GET" || !body.is_empty() {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        if let Some(ct) = content_type {
            head.push_str(&format!("Content-Type: {ct}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).await?;
        // The server may answer (413) and close before reading a large body.
        let _ = stream.write_all(body).await;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;
        parse(&raw)
    };
    tokio::time::timeout(REQUEST_TIMEOUT, run)
        .await
        .with_context(|| format!("{} took more than {REQUEST_TIMEOUT:?}", what()))?
        .with_context(what)
}

async fn connect(source: Option<IpAddr>, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = if to.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(ip) = source {
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    socket.connect(to).await
}

/// Parses a whole answer (read until the server closed the connection).
pub fn parse(bytes: &[u8]) -> anyhow::Result<Reply> {
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .with_context(|| {
            format!(
                "connection closed before the end of the answer's head: {:?}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
            )
        })?;
    let head = String::from_utf8_lossy(&bytes[..end]).into_owned();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("bad status line in {head:?}"))?;
    let mut reply = Reply {
        status: StatusCode::from_u16(status)?,
        head,
        body: Value::Null,
        bytes: Vec::new(),
    };
    let raw = &bytes[end + 4..];
    reply.bytes = if reply
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        dechunk(raw)?
    } else {
        match reply
            .header("content-length")
            .and_then(|v| v.parse::<usize>().ok())
        {
            Some(length) => raw
                .get(..length)
                .context("answer shorter than its content-length")?
                .to_vec(),
            None => raw.to_vec(),
        }
    };
    if !reply.bytes.is_empty() {
        reply.body = serde_json::from_slice(&reply.bytes).unwrap_or(Value::Null);
    }
    Ok(reply)
}

fn dechunk(mut raw: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = raw
            .windows(2)
            .position(|w| w == b"\r\n")
            .context("chunk size line")?;
        let size_text = String::from_utf8_lossy(&raw[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .with_context(|| format!("bad chunk size {size_text:?}"))?;
        raw = &raw[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        out.extend_from_slice(raw.get(..size).context("chunk shorter than its size")?);
        raw = raw.get(size + 2..).context("chunk without its end")?;
    }
}

/// Splits `http://host:port/path` into the address and the path.
pub fn split_url(url: &str) -> anyhow::Result<(SocketAddr, String)> {
    let rest = url
        .strip_prefix("http://")
        .with_context(|| format!("not an http url: {url}"))?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr = host
        .parse()
        .with_context(|| format!("url host is not ip:port: {url}"))?;
    Ok((addr, path.to_owned()))
}

/// The client by URL (from the default source address; [`exchange`] takes one).
#[derive(Clone, Default)]
pub struct Http;

impl Http {
    pub fn new() -> Http {
        Http
    }

    /// Sends `body` with an optional content type; returns whatever the server answered.
    pub async fn request(
        &self,
        method: http::Method,
        url: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> anyhow::Result<Reply> {
        let (addr, path) = split_url(url)?;
        exchange(None, addr, method.as_str(), &path, content_type, &body).await
    }

    pub async fn get(&self, url: &str) -> anyhow::Result<Reply> {
        self.request(http::Method::GET, url, None, Vec::new()).await
    }

    pub async fn post_json(&self, url: &str, body: &Value) -> anyhow::Result<Reply> {
        self.request(
            http::Method::POST,
            url,
            Some(JSON),
            serde_json::to_vec(body)?,
        )
        .await
    }

    /// Posts raw text as JSON (for bodies that are not valid JSON).
    pub async fn post_text(&self, url: &str, text: &str) -> anyhow::Result<Reply> {
        self.request(
            http::Method::POST,
            url,
            Some(JSON),
            text.as_bytes().to_vec(),
        )
        .await
    }

    pub async fn post_binary(&self, url: &str, body: Vec<u8>) -> anyhow::Result<Reply> {
        self.request(http::Method::POST, url, Some(BINARY), body)
            .await
    }
}

/// The same client for tests without an async runtime (process tests).
pub mod blocking {
    use super::*;

    fn block_on<T>(f: impl std::future::Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(f)
    }

    pub fn get(addr: SocketAddr, path: &str) -> anyhow::Result<Reply> {
        block_on(exchange(None, addr, "GET", path, None, b""))
    }

    pub fn post(addr: SocketAddr, path: &str, body: &Value) -> anyhow::Result<Reply> {
        let body = serde_json::to_vec(body)?;
        block_on(exchange(None, addr, "POST", path, Some(JSON), &body))
    }

    /// `GET` that must succeed; its JSON.
    pub fn get_ok(addr: SocketAddr, path: &str) -> anyhow::Result<Value> {
        get(addr, path)?
            .ok()
            .with_context(|| format!("GET http://{addr}{path}"))
    }
}

/// Posts a body of `len` bytes, declaring its length (`chunked == false`) or sending it
/// chunked, and reads the answer while the body is still being written: a server that
/// refuses a body early answers before reading it all. Write errors after the answer are
/// expected.
pub async fn post_huge(
    addr: SocketAddr,
    path: &str,
    len: usize,
    chunked: bool,
) -> anyhow::Result<Reply> {
    let stream = TcpStream::connect(addr).await?;
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
            if let Some(reply) = complete(&answer)? {
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

/// A complete answer with a `Content-Length` body, or `None` if more bytes are needed.
fn complete(bytes: &[u8]) -> anyhow::Result<Option<Reply>> {
    let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = String::from_utf8_lossy(&bytes[..end]).to_lowercase();
    let length: usize = head
        .split("\r\n")
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim() == "content-length")
        .and_then(|(_, v)| v.trim().parse().ok())
        .with_context(|| format!("answer without content-length: {head:?}"))?;
    if bytes.len() < end + 4 + length {
        return Ok(None);
    }
    parse(&bytes[..end + 4 + length]).map(Some)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn answers_parse_with_length_chunks_or_neither() {
        let sized =
            parse(b"HTTP/1.1 404 Not Found\r\ncontent-length: 13\r\n\r\n{\"error\":{}}\nextra")
                .unwrap();
        assert_eq!(sized.status, 404);
        assert_eq!(sized.bytes, b"{\"error\":{}}\n");
        let chunked = parse(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n[1\r\n1\r\n]\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(chunked.body, serde_json::json!([1]));
        let closed = parse(b"HTTP/1.1 200 OK\r\n\r\n\"x\"").unwrap();
        assert_eq!(closed.body, "x");
        assert_eq!(closed.header("missing"), None);
        assert!(parse(b"HTTP/1.1 200 OK\r\n").is_err());
    }

    #[test]
    fn urls_split_into_address_and_path() {
        let (addr, path) = split_url("http://127.0.0.1:8000/blocks?from=1").unwrap();
        assert_eq!((addr.port(), path.as_str()), (8000, "/blocks?from=1"));
        assert_eq!(split_url("http://[::1]:9").unwrap().1, "/");
        assert!(split_url("https://x").is_err());
    }
}
