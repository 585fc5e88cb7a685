//! One connection to the server: dial over pinned mutual TLS, say hello,
//! then dispatch the server's messages — jobs to the pipeline, relayed
//! frames to their job, governance and checkpoints to their modules —
//! until the connection drops, which aborts this connection's jobs.

use std::collections::HashMap;
use std::sync::{mpsc as std_mpsc, Arc};

use custos_protocol::control::{NodeMessage, ServerMessage};
use custos_wire::Frame;
use tokio::sync::mpsc;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::TlsConnector;

use super::error::NodeError;
use super::node::{Jobs, Node};
use super::{governance, pipeline, witnessing};
use crate::job::Inbound;

/// Frames for sessions not started yet (a peer can be a round ahead) are
/// kept up to this many bytes in all; a server that floods us gets dropped frames,
/// not our memory.
const MAX_PENDING_BYTES: usize = 16 << 20;

/// Serves one connection until it drops.
pub(super) async fn serve(node: &Arc<Node>, connector: &TlsConnector) -> Result<(), NodeError> {
    let tcp = tokio::net::TcpStream::connect(&node.config.server_addr).await?;
    tcp.set_nodelay(true)?;
    let name = ServerName::try_from("custos-server")?;
    let tls = connector.connect(name, tcp).await?;
    let (mut rd, mut wr) = tokio::io::split(tls);
    let (out_tx, mut out_rx) = mpsc::channel::<NodeMessage>(1024);
    let writer = tokio::spawn(async move {
        while let Some(msg) = out_rx.recv().await {
            if custos_net::write_msg(&mut wr, &msg).await.is_err() {
                break;
            }
        }
    });
    let hello = NodeMessage::Hello {
        node: node.keys.public(),
        version: env!("CARGO_PKG_VERSION").into(),
    };
    out_tx
        .send(hello)
        .await
        .map_err(|_| NodeError::WriterStopped)?;
    eprintln!(
        "{}: connected to {}",
        node.config.name, node.config.server_addr
    );
    let jobs: Jobs = Arc::default();
    let mut pending = Pending::default();
    let result = loop {
        let msg: ServerMessage = match custos_net::read_msg(&mut rd).await {
            Ok(m) => m,
            Err(e) => break Err(e.into()),
        };
        match msg {
            ServerMessage::Start(job) => {
                let (tx, rx) = std_mpsc::channel();
                for frame in pending.take(&job.session) {
                    let _ = tx.send(Inbound::Frame(frame));
                }
                jobs.lock().await.insert(job.session, tx);
                tokio::spawn(pipeline::handle_job(
                    node.clone(),
                    *job,
                    rx,
                    out_tx.clone(),
                    jobs.clone(),
                ));
            }
            ServerMessage::Relay { frame } => {
                let session = frame.header.session;
                match jobs.lock().await.get(&session) {
                    Some(tx) => {
                        let _ = tx.send(Inbound::Frame(frame));
                    }
                    None => pending.keep(session, frame),
                }
            }
            ServerMessage::Governance(sync) => {
                let refused = governance::sync(node, &sync).await.err().map(|why| {
                    eprintln!("{}: governance refused: {why}", node.config.name);
                    why.to_string()
                });
                let (height, head) = governance::head(node).await;
                let _ = out_tx
                    .send(NodeMessage::GovernanceHead {
                        height,
                        head,
                        refused,
                    })
                    .await;
            }
            ServerMessage::Witness(req) => {
                let result = witnessing::checkpoint(node, &req).await.map_err(|why| {
                    eprintln!("{}: checkpoint refused: {why}", node.config.name);
                    why.to_string()
                });
                let _ = out_tx
                    .send(NodeMessage::Witnessed {
                        size: req.checkpoint.size,
                        result,
                    })
                    .await;
            }
            ServerMessage::Fresh { nonce } => {
                let answer = witnessing::freshness(node, nonce).await;
                let _ = out_tx.send(NodeMessage::Fresh(Box::new(answer))).await;
            }
            ServerMessage::Abort { session, reason } => {
                pending.take(&session);
                if let Some(tx) = jobs.lock().await.get(&session) {
                    let _ = tx.send(Inbound::Abort(reason));
                }
            }
        }
    };
    writer.abort();
    // Jobs of this connection cannot reach their peers any more.
    for (_, tx) in jobs.lock().await.drain() {
        let _ = tx.send(Inbound::Abort("connection to the server lost".into()));
    }
    result
}

/// Frames that arrived before their session started, bounded in bytes.
#[derive(Default)]
struct Pending {
    frames: HashMap<[u8; 32], Vec<Frame>>,
    bytes: usize,
}

impl Pending {
    /// Keeps `frame` for `session` if the bound allows, else drops it.
    fn keep(&mut self, session: [u8; 32], frame: Frame) {
        if self.bytes + frame.ciphertext.len() <= MAX_PENDING_BYTES {
            self.bytes += frame.ciphertext.len();
            self.frames.entry(session).or_default().push(frame);
        }
    }

    /// Takes the frames kept for `session`.
    fn take(&mut self, session: &[u8; 32]) -> Vec<Frame> {
        let frames = self.frames.remove(session).unwrap_or_default();
        for frame in &frames {
            self.bytes = self.bytes.saturating_sub(frame.ciphertext.len());
        }
        frames
    }
}
