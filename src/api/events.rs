//! `GET /events`: the node's event bus ([`crate::node::events`]) as Server-Sent Events.
//!
//! Each event carries an `id:` (increasing by one per event); a `: ping` comment goes out
//! every [`PING_EVERY`]. There is no replay: a client that (re)connects, with or without
//! `Last-Event-ID`, subscribes first and then reads the current state (`GET /info`), so
//! anything that happened while it was away is in what it reads, and anything after in
//! the stream. A client more than [`crate::node::events::EVENT_BUFFER`] events behind is
//! dropped (its stream ends after an `event: lagged`), and the number of open streams is
//! capped (`NodeConfig::max_event_streams`; over it, 503 `not-ready`). Streams end when
//! the node shuts down.
//!
//! The request layers do not cut a stream: the request timeout and the concurrency limit
//! cover a handler until it answers, which this one does at once, and the server's idle
//! timeout never ends a response being sent.

use super::ApiError;
use crate::error::Code;
use crate::node::events::Sequenced;
use crate::node::Node;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, OwnedSemaphorePermit};

/// Comment sent on an otherwise quiet stream.
pub const PING_EVERY: Duration = Duration::from_secs(15);
/// What a browser waits before reconnecting (the SSE `retry:` field).
const RETRY: Duration = Duration::from_secs(3);

/// `GET /events`.
#[utoipa::path(get, path = "/events", tag = "node",
    description = "Server-Sent Events (`text/event-stream`): `event: block` \
        `{hash, height, transaction_count, timestamp}` when a block becomes the tip, \
        `event: reorg` `{disconnected, connected}` before the blocks of a branch switch, \
        `event: tx` `{txid, fee, size}` when a transaction enters the mempool; an `id:` on \
        each, a `: ping` comment every 15 s. No replay: after (re)connecting, read the \
        current state (`GET /info`). A client that falls behind is dropped.",
    responses(
        (status = 200, description = "an endless event stream", content_type = "text/event-stream", body = String),
        (status = 503, body = crate::wire::ErrorBody, description = "too many event streams open")))]
pub async fn events(State(node): State<Arc<Node>>) -> Response {
    let Ok(permit) = Arc::clone(&node.event_streams).try_acquire_owned() else {
        return ApiError::new(
            Code::NotReady,
            "too many event streams are open; try again later",
        )
        .with_retry_after(Duration::from_secs(5))
        .into_response();
    };
    let receiver = node.events().subscribe();
    let stream = event_stream(receiver, permit, node.shutdown.clone());
    let mut response = Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(PING_EVERY).text("ping"))
        .into_response();
    // Proxies must not buffer the stream.
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    response
}

struct StreamState {
    receiver: broadcast::Receiver<Arc<Sequenced>>,
    _permit: OwnedSemaphorePermit,
    shutdown: tokio_util::sync::CancellationToken,
    started: bool,
    done: bool,
}

/// The SSE events of `receiver`, starting with a `retry:`; ends on lag or shutdown.
fn event_stream(
    receiver: broadcast::Receiver<Arc<Sequenced>>,
    permit: OwnedSemaphorePermit,
    shutdown: tokio_util::sync::CancellationToken,
) -> impl Stream<Item = Result<Event, Infallible>> + Send + 'static {
    let state = StreamState {
        receiver,
        _permit: permit,
        shutdown,
        started: false,
        done: false,
    };
    stream::unfold(state, |mut state| async move {
        if state.done {
            return None;
        }
        if !state.started {
            state.started = true;
            return Some((Ok(Event::default().retry(RETRY).comment("hello")), state));
        }
        let next = tokio::select! {
            _ = state.shutdown.cancelled() => return None,
            next = state.receiver.recv() => next,
        };
        match next {
            Ok(item) => Some((Ok(sse_event(&item)), state)),
            Err(RecvError::Lagged(missed)) => {
                state.done = true;
                let data = format!("{{\"missed\":{missed}}}");
                Some((Ok(Event::default().event("lagged").data(data)), state))
            }
            Err(RecvError::Closed) => None,
        }
    })
}

/// One event in SSE form.
pub fn sse_event(item: &Sequenced) -> Event {
    // Empty when it was sent as the first subscriber was joining (see `EventBus::emit`).
    let data = if item.json.is_empty() {
        serde_json::to_string(&item.event).unwrap_or_else(|_| "{}".to_owned())
    } else {
        item.json.clone()
    };
    Event::default()
        .id(item.id.to_string())
        .event(item.event.name())
        .data(data)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::node::events::{EventBus, NodeEvent};
    use futures_util::StreamExt;
    use tokio::sync::Semaphore;

    fn tx(i: u64) -> NodeEvent {
        NodeEvent::Tx {
            txid: format!("{i:064x}"),
            fee: i,
            size: 100,
        }
    }

    #[tokio::test]
    async fn a_client_that_falls_behind_is_dropped_and_its_slot_freed() {
        let bus = EventBus::new(8);
        let slots = Arc::new(Semaphore::new(1));
        let permit = Arc::clone(&slots).try_acquire_owned().unwrap();
        let stream = event_stream(bus.subscribe(), permit, Default::default());
        futures_util::pin_mut!(stream);
        // The hello, then events as they come.
        assert!(stream.next().await.is_some());
        bus.emit(tx(1));
        assert!(stream.next().await.is_some());
        // Far more than the buffer while the client reads nothing: it is not buffered
        // for, it is told it lagged and the stream ends.
        for i in 0..1_000 {
            bus.emit(tx(i));
        }
        assert!(stream.next().await.is_some(), "the lagged event");
        assert!(stream.next().await.is_none(), "then the end");
        // The ended stream let go of its slot and its subscription.
        assert_eq!(slots.available_permits(), 1, "the slot is free again");
        assert_eq!(bus.subscribers(), 0);
    }

    #[tokio::test]
    async fn streams_end_at_shutdown() {
        let bus = EventBus::new(8);
        let slots = Arc::new(Semaphore::new(1));
        let shutdown = tokio_util::sync::CancellationToken::new();
        let permit = Arc::clone(&slots).try_acquire_owned().unwrap();
        let stream = event_stream(bus.subscribe(), permit, shutdown.clone());
        futures_util::pin_mut!(stream);
        assert!(stream.next().await.is_some());
        shutdown.cancel();
        assert!(stream.next().await.is_none());
    }

    #[test]
    fn events_are_named_with_ids_and_json() {
        let item = Sequenced {
            id: 7,
            json: serde_json::to_string(&tx(3)).unwrap(),
            event: tx(3),
        };
        let text = format!("{:?}", sse_event(&item));
        assert!(text.contains("tx"), "{text}");
        let json = serde_json::to_value(&item.event).unwrap();
        assert_eq!(json["fee"], 3);
        assert_eq!(json["size"], 100);
    }
}
