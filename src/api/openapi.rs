//! `GET /openapi.json`: the OpenAPI 3.1 description of the node's API, generated from
//! the handlers' annotations and the [`crate::wire`] types that serve them.
//!
//! Every operation also documents the answers any request may get from the server's
//! layers (API.md, second round): 408 `request-timeout`, 429 `rate-limited` (with
//! `Retry-After`) and 503 `not-ready`.

use super::{metrics, relay, submit, views};
use crate::wire::*;
use axum::Json;
use utoipa::openapi::{self, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Ferro node API",
        description = "The HTTP API of a Ferro full node (API.md). Amounts are integers in base units.",
    ),
    paths(
        views::health, views::info, views::rich_list, views::blocks, views::block,
        views::block_transaction, views::headers, views::transaction, views::address,
        views::address_utxos, views::address_history, views::output, views::mempool,
        views::fees, views::nodes, submit::transaction, submit::block, submit::announce,
        submit::generate, relay::announce, relay::transactions, relay::compact, serve_node,
        super::events::events, metrics::serve_metrics,
    ),
    components(schemas(ErrorBody, ErrorDetail)),
    modifiers(&LayerAnswers),
)]
pub struct NodeApi;

/// Adds the layers' answers (408, 429, 503) to every operation of a document.
pub struct LayerAnswers;

impl Modify for LayerAnswers {
    fn modify(&self, doc: &mut openapi::OpenApi) {
        add_layer_answers(doc);
    }
}

/// The answers every operation may get from the server's layers.
pub fn add_layer_answers(doc: &mut openapi::OpenApi) {
    let error = |description: &str, retry: bool| {
        let mut b = ResponseBuilder::new().description(description).content(
            crate::http::JSON,
            openapi::content::ContentBuilder::new()
                .schema(Some(openapi::Ref::from_schema_name("ErrorBody")))
                .build(),
        );
        if retry {
            b = b.header(
                "Retry-After",
                openapi::HeaderBuilder::new()
                    .schema(openapi::ObjectBuilder::new().schema_type(openapi::Type::Integer))
                    .description(Some("seconds to wait before retrying"))
                    .build(),
            );
        }
        RefOr::T(b.build())
    };
    for item in doc.paths.paths.values_mut() {
        for op in [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            let responses = &mut op.responses.responses;
            responses.entry("408".into()).or_insert_with(|| {
                error(
                    "request-timeout: the request did not arrive or complete in time",
                    false,
                )
            });
            responses.entry("429".into()).or_insert_with(|| {
                error(
                    "rate-limited: too many requests or connections from this source",
                    true,
                )
            });
            responses
                .entry("503".into())
                .or_insert_with(|| error("not-ready: starting, shutting down or overloaded", true));
        }
    }
}

/// `GET /openapi.json`.
#[utoipa::path(get, path = "/openapi.json", tag = "node",
    responses((status = 200, description = "this document", content_type = "application/json")))]
pub async fn serve_node() -> Json<openapi::OpenApi> {
    Json(NodeApi::openapi())
}
