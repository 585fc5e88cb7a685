//! Who is connected: one outbound queue per enrolled node that has a live
//! connection. A reconnecting node replaces its old queue; a closing
//! connection removes only its own.

use std::collections::HashMap;

use custos_protocol::control::ServerMessage;
use custos_wire::{Frame, NodePublicKey};
use tokio::sync::{mpsc, Mutex};

/// A node's outbound queue.
pub(crate) type Outbox = mpsc::Sender<ServerMessage>;

/// The connected nodes.
#[derive(Default)]
pub(crate) struct Registry {
    nodes: Mutex<HashMap<NodePublicKey, Outbox>>,
}

impl Registry {
    /// Registers `key`'s new connection.
    pub(crate) async fn connect(&self, key: NodePublicKey, outbox: Outbox) {
        self.nodes.lock().await.insert(key, outbox);
    }

    /// Removes `key` if `outbox` is still its connection; whether it was.
    pub(crate) async fn disconnect(&self, key: &NodePublicKey, outbox: &Outbox) -> bool {
        let mut nodes = self.nodes.lock().await;
        if nodes.get(key).is_some_and(|t| t.same_channel(outbox)) {
            nodes.remove(key);
            return true;
        }
        false
    }

    /// The queue of `key`, if it is registered.
    pub(crate) async fn outbox(&self, key: &NodePublicKey) -> Option<Outbox> {
        self.nodes.lock().await.get(key).cloned()
    }

    /// The queue of `key`, if its connection is open.
    pub(crate) async fn open_outbox(&self, key: &NodePublicKey) -> Option<Outbox> {
        self.nodes
            .lock()
            .await
            .get(key)
            .filter(|t| !t.is_closed())
            .cloned()
    }

    /// Whether `key` has an open connection.
    pub(crate) async fn is_connected(&self, key: &NodePublicKey) -> bool {
        self.open_outbox(key).await.is_some()
    }

    /// Sends `msg` to every connected node.
    pub(crate) async fn broadcast(&self, msg: &ServerMessage) {
        let outboxes: Vec<_> = self.nodes.lock().await.values().cloned().collect();
        for tx in outboxes {
            let _ = tx.send(msg.clone()).await;
        }
    }

    /// Relays sealed frames to `target` (the hub has checked the route; the
    /// recipient checks the seal).
    pub(crate) async fn forward(&self, target: &NodePublicKey, frames: Vec<Frame>) {
        if let Some(tx) = self.outbox(target).await {
            for frame in frames {
                let _ = tx.send(ServerMessage::Relay { frame }).await;
            }
        }
    }
}
