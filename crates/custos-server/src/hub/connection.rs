//! One node's connection: the hello, log-before-serve, then each message
//! handed to the part of the hub it concerns, until the connection closes.

use std::sync::Arc;

use custos_net::clock::unix_now as now;
use custos_protocol::control::{NodeMessage, ServerMessage};
use custos_wire::NodePublicKey;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;

use crate::hub::Hub;

/// Serves one authenticated node connection until it closes. `key` is the
/// channel key enrolled with the TLS certificate the node presented.
pub async fn serve_node<S: AsyncRead + AsyncWrite + Send + 'static>(
    hub: Arc<Hub>,
    stream: S,
    key: NodePublicKey,
) {
    let name = hub.config().node_name(&key);
    let (mut rd, mut wr) = tokio::io::split(stream);
    match custos_net::read_msg::<NodeMessage>(&mut rd).await {
        Ok(NodeMessage::Hello { node, .. }) if node == key => {}
        _ => {
            eprintln!("server: {name} did not identify itself with its enrolled key; closing");
            return;
        }
    }
    // Log before serve: a node the log cannot record is not served.
    if let Err(e) = hub
        .audit(
            "server",
            "node-join",
            serde_json::json!({ "node": name, "key": key.to_string() }),
        )
        .await
    {
        eprintln!("server: audit log unavailable, refusing node {name}: {e}");
        return;
    }
    let (tx, mut rx) = mpsc::channel::<ServerMessage>(1024);
    if let Some(sync) = hub.authority().sync().await {
        let _ = tx.send(ServerMessage::Governance(Box::new(sync))).await;
    }
    hub.registry.connect(key, tx.clone()).await;
    hub.witnessing.reset(&key).await;
    eprintln!("server: node {name} connected");
    let writer = tokio::spawn(async move {
        while let Some(msg) = rx.recv().await {
            if custos_net::write_msg(&mut wr, &msg).await.is_err() {
                break;
            }
        }
    });
    while let Ok(msg) = custos_net::read_msg::<NodeMessage>(&mut rd).await {
        match msg {
            NodeMessage::Relay { frame } => {
                let Some(target) = hub.sessions.relay_target(&key, &frame.header).await else {
                    continue;
                };
                #[cfg(feature = "fault-injection")]
                let frames = match &hub.faults {
                    Some(f) => f.apply(frame),
                    None => vec![frame],
                };
                #[cfg(not(feature = "fault-injection"))]
                let frames = vec![frame];
                hub.registry.forward(&target, frames).await;
            }
            NodeMessage::Done { session, outcome } => {
                hub.sessions.deliver(&key, &session, outcome).await;
            }
            NodeMessage::Progress { session, note } => {
                hub.sessions.progress(&key, &session, note).await;
            }
            NodeMessage::Witnessed { size, result } => {
                // A co-signature that comes after its round gave up still
                // moves where this node's next request starts (a page below
                // what it holds would be refused).
                if result.is_ok() && size <= hub.authority.checkpoint().await.0.size {
                    if let Err(e) = hub
                        .authority
                        .note_witnessed(hub.store.as_ref(), &key, size, now())
                        .await
                    {
                        eprintln!("server: audit: {e}");
                    }
                }
                hub.witnessing.answered(&key, size, result).await;
            }
            NodeMessage::Fresh(answer) => {
                hub.fresh.answered(key, *answer).await;
            }
            NodeMessage::GovernanceHead {
                height, refused, ..
            } => {
                if let Some(why) = refused {
                    eprintln!("server: node {name} at governance height {height} refused: {why}");
                }
            }
            NodeMessage::Hello { .. } => {}
        }
    }
    writer.abort();
    if hub.registry.disconnect(&key, &tx).await {
        // Nothing is in flight on a closed connection.
        hub.witnessing.reset(&key).await;
    }
    hub.sessions.lost(&key).await;
    eprintln!("server: node {name} disconnected");
    if let Err(e) = hub
        .audit("server", "node-leave", serde_json::json!({ "node": name }))
        .await
    {
        eprintln!("server: audit log: {e}");
    }
}
