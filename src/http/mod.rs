//! HTTP plumbing shared by the full node and the seed server.
//!
//! Both servers speak HTTP/1.1 with JSON bodies (API.md). This module holds what
//! they have in common so that each binary only writes its routes.
//!
//! # Layout
//! - [`server`]: the accept loop ([`server::run`]): bounded connections, accept
//!   back-off, hyper 1.x HTTP/1 connections and graceful shutdown.
//! - [`error`]: [`ApiError`], the `{"error": {"code", "message"}}` body of every
//!   non-2xx answer, with constructors for the transport-level codes.
//! - [`request`]: reading a bounded body, parsing JSON, content-type and query
//!   string helpers; each fails with a ready-to-send [`ApiError`].
//! - [`response`]: JSON responses.
//! - [`client`]: a small JSON client with a per-request timeout, for talking to
//!   other nodes.
//!
//! # Example
//! ```no_run
//! use ferro::http::{self, request, response, ApiError, Request, Response};
//! use std::net::SocketAddr;
//!
//! async fn route(req: Request, _remote: SocketAddr) -> Result<Response, ApiError> {
//!     match (req.method().as_str(), req.uri().path()) {
//!         ("GET", "/health") => Ok(response::ok_json(&serde_json::json!({"status": "ok"}))),
//!         _ => Err(ApiError::not_found("no such path")),
//!     }
//! }
//!
//! # async fn demo() -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let handler = |req: Request, remote: SocketAddr| async move {
//!     route(req, remote).await.unwrap_or_else(|e| e.to_response())
//! };
//! http::server::run(listener, handler, http::ServerLimits::default(), async {
//!     let _ = tokio::signal::ctrl_c().await;
//! })
//! .await;
//! # Ok(())
//! # }
//! ```

pub mod client;
pub mod error;
pub mod request;
pub mod response;
pub mod server;

pub use client::{ClientError, HttpClient};
pub use error::{status_for_code, ApiError};
pub use request::{Query, DEFAULT_BODY_LIMIT};
pub use server::{Handler, ServerLimits};

/// A request as the server hands it to a [`Handler`].
pub type Request = hyper::Request<hyper::body::Incoming>;

/// The body type of every response: the whole body in memory.
pub type Body = http_body_util::Full<bytes::Bytes>;

/// A response as a [`Handler`] returns it.
pub type Response = hyper::Response<Body>;

/// The `application/json` media type.
pub const JSON: &str = "application/json";

/// The `application/octet-stream` media type (binary encodings of PROTOCOL.md).
pub const OCTET_STREAM: &str = "application/octet-stream";
