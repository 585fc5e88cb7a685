//! Relaying a verifier's nonce to the nodes and their signed answers back
//! (`custos audit export`). The server only carries them: each answer is
//! signed by a node's witness key over the verifier's own nonce, so the
//! server can neither forge one nor replay an old one.

use std::collections::HashMap;
use std::time::Duration;

use custos_protocol::attest::Freshness;
use custos_protocol::control::ServerMessage;
use custos_wire::NodePublicKey;
use tokio::sync::{mpsc, Mutex};

use crate::hub::registry::Registry;

/// Where the answers to one nonce go, and which nodes answered already
/// (one answer each: a node that floods cannot crowd the others out).
type Answers = (
    mpsc::Sender<(NodePublicKey, Freshness)>,
    std::collections::HashSet<NodePublicKey>,
);

/// Outstanding nonces and where their answers go.
#[derive(Default)]
pub(crate) struct Fresh {
    waiters: Mutex<HashMap<[u8; 32], Answers>>,
}

impl Fresh {
    /// A node answered.
    pub(crate) async fn answered(&self, key: NodePublicKey, answer: Freshness) {
        if let Some((tx, answered)) = self.waiters.lock().await.get_mut(&answer.nonce) {
            if answered.insert(key) {
                let _ = tx.try_send((key, answer));
            }
        }
    }

    /// Asks each of `members` that is connected for its answer to `nonce`
    /// and collects them (one per node) until all asked answered or the
    /// deadline passed.
    pub(crate) async fn ask(
        &self,
        registry: &Registry,
        members: &[NodePublicKey],
        nonce: [u8; 32],
        timeout: Duration,
    ) -> Vec<Freshness> {
        let (tx, mut rx) = mpsc::channel(members.len().max(1));
        {
            let mut waiters = self.waiters.lock().await;
            if waiters.contains_key(&nonce) {
                // A verifier's nonce is fresh; a repeated one gets nothing.
                return Vec::new();
            }
            waiters.insert(nonce, (tx, Default::default()));
        }
        let mut asked = Vec::new();
        for key in members {
            if let Some(out) = registry.outbox(key).await {
                if out.try_send(ServerMessage::Fresh { nonce }).is_ok() {
                    asked.push(*key);
                }
            }
        }
        let mut answers: HashMap<NodePublicKey, Freshness> = HashMap::new();
        let deadline = tokio::time::Instant::now() + timeout;
        while answers.len() < asked.len() {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some((key, answer))) if asked.contains(&key) => {
                    answers.entry(key).or_insert(answer);
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
        self.waiters.lock().await.remove(&nonce);
        let mut out: Vec<(usize, Freshness)> = answers
            .into_iter()
            .map(|(k, a)| {
                (
                    members.iter().position(|m| *m == k).unwrap_or(usize::MAX),
                    a,
                )
            })
            .collect();
        out.sort_by_key(|(i, _)| *i);
        out.into_iter().map(|(_, a)| a).collect()
    }
}
