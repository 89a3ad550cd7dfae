//! The node's event bus: what `GET /events` streams and the explorer's pages follow.
//!
//! A bounded [`tokio::sync::broadcast`] channel: emitting costs a lock and a clone of an
//! `Arc` when someone listens, and nothing more than a counter when nobody does. Each event
//! has an id, increasing by one per event for the life of the process, so a client can tell
//! whether it missed some (a gap, or a reconnect with `Last-Event-ID`): it then fetches the
//! current state rather than expecting a replay. A receiver that falls more than
//! [`EVENT_BUFFER`] events behind lags (`RecvError::Lagged`) and the stream serving it is
//! closed: a slow client is dropped, never buffered for without limit.

use crate::primitives::{Block, Txid};
use serde::Serialize;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// Events each subscriber may fall behind before it is dropped.
pub const EVENT_BUFFER: usize = 256;
/// Default cap on concurrent event streams (PROTOCOL.md section 9).
pub const DEFAULT_MAX_EVENT_STREAMS: usize = 1_024;

/// What happened, as `GET /events` sends it (the SSE event name and its JSON data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum NodeEvent {
    /// A block became the tip.
    Block {
        hash: String,
        height: u64,
        transaction_count: u64,
        timestamp: u64,
    },
    /// The active chain switched branches: `disconnected` blocks left it (tip first),
    /// `connected` joined it (in chain order). Sent before the new tip's `Block`.
    Reorg {
        disconnected: Vec<String>,
        connected: Vec<String>,
    },
    /// A transaction entered the mempool.
    Tx { txid: String, fee: u64, size: u64 },
}

impl NodeEvent {
    /// The SSE event name.
    pub fn name(&self) -> &'static str {
        match self {
            NodeEvent::Block { .. } => "block",
            NodeEvent::Reorg { .. } => "reorg",
            NodeEvent::Tx { .. } => "tx",
        }
    }

    pub fn block(block: &Block) -> NodeEvent {
        NodeEvent::Block {
            hash: block.hash().to_hex(),
            height: block.header.height.get(),
            transaction_count: block.transactions.len() as u64,
            timestamp: block.header.timestamp,
        }
    }

    pub fn reorg(disconnected: &[Block], connected: &[Block]) -> NodeEvent {
        let hex = |b: &Block| -> String { b.hash().to_hex() };
        NodeEvent::Reorg {
            disconnected: disconnected.iter().map(hex).collect(),
            connected: connected.iter().map(hex).collect(),
        }
    }

    pub fn tx(txid: &Txid, fee: u64, size: usize) -> NodeEvent {
        NodeEvent::Tx {
            txid: txid.to_hex(),
            fee,
            size: size as u64,
        }
    }
}

/// An event with its id and its JSON (serialized once, not once per subscriber).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sequenced {
    pub id: u64,
    pub event: NodeEvent,
    pub json: String,
}

/// The bus. Ids are given and events sent under one lock, so subscribers see them in id
/// order.
pub struct EventBus {
    sender: broadcast::Sender<Arc<Sequenced>>,
    last_id: Mutex<u64>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new(EVENT_BUFFER)
    }
}

impl EventBus {
    pub fn new(buffer: usize) -> EventBus {
        EventBus {
            sender: broadcast::channel(buffer.max(1)).0,
            last_id: Mutex::new(0),
        }
    }

    /// Sends `event` to every subscriber (none is fine). Never blocks on a subscriber.
    /// The JSON is made once here when someone listens (left empty otherwise, and made by
    /// the stream in the rare case a subscriber joined in between).
    pub fn emit(&self, event: NodeEvent) {
        let json = if self.sender.receiver_count() == 0 {
            String::new()
        } else {
            serde_json::to_string(&event).unwrap_or_else(|_| "{}".to_owned())
        };
        let mut last = self.last_id.lock().unwrap_or_else(|e| e.into_inner());
        *last += 1;
        let _ = self.sender.send(Arc::new(Sequenced {
            id: *last,
            event,
            json,
        }));
    }

    /// Emits what a change of the active chain means: a `reorg` first when blocks left
    /// it, then a `block` for each block that joined it (the last is the new tip).
    pub fn chain_changed(&self, disconnected: &[Block], connected: &[Block]) {
        if self.sender.receiver_count() == 0 {
            // Keep ids moving so a reconnecting client still sees that it missed events.
            let mut last = self.last_id.lock().unwrap_or_else(|e| e.into_inner());
            *last += connected.len() as u64 + u64::from(!disconnected.is_empty());
            return;
        }
        if !disconnected.is_empty() {
            self.emit(NodeEvent::reorg(disconnected, connected));
        }
        for block in connected {
            self.emit(NodeEvent::block(block));
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Sequenced>> {
        self.sender.subscribe()
    }

    /// The id of the last event sent (0 before any).
    pub fn last_id(&self) -> u64 {
        *self.last_id.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Subscribers now.
    pub fn subscribers(&self) -> usize {
        self.sender.receiver_count()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn events_arrive_in_id_order_and_a_slow_subscriber_lags_instead_of_growing() {
        let bus = EventBus::new(4);
        let mut rx = bus.subscribe();
        for i in 0..10u64 {
            bus.emit(NodeEvent::Tx {
                txid: format!("{i}"),
                fee: i,
                size: 1,
            });
        }
        // Only the last 4 are kept: the subscriber is told it lagged.
        assert!(matches!(
            rx.try_recv(),
            Err(broadcast::error::TryRecvError::Lagged(6))
        ));
        let ids: Vec<u64> = std::iter::from_fn(|| rx.try_recv().ok().map(|e| e.id)).collect();
        assert_eq!(ids, vec![7, 8, 9, 10]);
        assert_eq!(bus.last_id(), 10);
    }

    #[test]
    fn ids_move_even_with_nobody_listening() {
        let bus = EventBus::new(4);
        bus.emit(NodeEvent::Tx {
            txid: "a".into(),
            fee: 0,
            size: 1,
        });
        bus.chain_changed(&[], &[]);
        assert_eq!(bus.last_id(), 1);
        let rx = bus.subscribe();
        assert_eq!(bus.subscribers(), 1);
        drop(rx);
    }
}
