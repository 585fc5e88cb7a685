//! The checkpoint-round driver: asks the connected nodes to co-sign the
//! current audit checkpoint (each reads the entries it has not seen), waits
//! for their answers with a deadline, and lets `machine::witness_round` decide.
//! One round at a time, because each node must see entries in order.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use custos_audit::checkpoint::{CoSignature, SignedCheckpoint};
use custos_audit::entry::SignedEntry;
use custos_net::clock::unix_now as now;
use custos_protocol::authz::WitnessRequest;
use custos_protocol::control::ServerMessage;
use custos_tss::PartyIndex;
use custos_wire::NodePublicKey;
use tokio::sync::{oneshot, Mutex};

use crate::authority::Authority;
use crate::config::ServerConfig;
use crate::hub::error::HubError;
use crate::hub::registry::Registry;
use crate::machine::witness_round::{Answer, Missing, Round, Shortfall};
use crate::store::Store;

/// How long a checkpoint round waits for the remaining nodes once it holds.
const WITNESS_GRACE: Duration = Duration::from_secs(1);

/// How many bytes of entries one witness request carries at most: a node
/// further behind is walked up in pages, each under an intermediate
/// checkpoint the server signs (one message stays far below the control
/// channel's limit, whatever the backlog).
const PAGE_BYTES: usize = 1 << 20;

/// [`PAGE_BYTES`], or in test builds `CUSTOS_TEST_WITNESS_PAGE_BYTES` (so
/// a process test can make a few missed entries take several pages).
fn page_bytes() -> usize {
    #[cfg(feature = "fault-injection")]
    if let Some(n) = std::env::var("CUSTOS_TEST_WITNESS_PAGE_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return n;
    }
    PAGE_BYTES
}

/// A node's answer: its co-signature, or why it refused.
pub(crate) type WitnessAnswer = Result<CoSignature, String>;

/// Outstanding witness requests.
#[derive(Default)]
pub(crate) struct Witnessing {
    /// Nodes' answers to checkpoints, by (node, size).
    waiters: Mutex<HashMap<(NodePublicKey, u64), oneshot::Sender<WitnessAnswer>>>,
    /// The checkpoint size each node was last asked to witness and has not
    /// answered: a node gets one request at a time, so one that stalls
    /// does not pile up requests (each carrying its whole backlog).
    outstanding: Mutex<HashMap<NodePublicKey, u64>>,
    /// One checkpoint round at a time: each node must see entries in order.
    round: Mutex<()>,
}

/// What a round needs from the hub.
pub(crate) struct Context<'a> {
    pub config: &'a ServerConfig,
    pub registry: &'a Registry,
    pub store: &'a dyn Store,
    pub authority: &'a Authority,
}

impl Witnessing {
    /// A node answered the request for `size`.
    pub(crate) async fn answered(&self, key: &NodePublicKey, size: u64, answer: WitnessAnswer) {
        self.outstanding.lock().await.remove(key);
        if let Some(w) = self.waiters.lock().await.remove(&(*key, size)) {
            let _ = w.send(answer);
        }
    }

    /// A node (re)connected or disconnected: nothing is in flight on its
    /// connection.
    pub(crate) async fn reset(&self, key: &NodePublicKey) {
        self.outstanding.lock().await.remove(key);
    }

    /// Has the current checkpoint co-signed by `parties`; records and
    /// returns it with the co-signers in index order. It holds once the
    /// committee's checkpoint quorum (a majority, and at least `t`)
    /// co-signed, including every one of `required`.
    pub(crate) async fn checkpoint(
        &self,
        cx: Context<'_>,
        parties: &[PartyIndex],
        required: &[PartyIndex],
        timeout: Duration,
    ) -> Result<(SignedCheckpoint, Vec<PartyIndex>), HubError> {
        // Concurrent signings wait here; the round after a wait covers their
        // entries too.
        let _round = self.round.lock().await;
        let config = cx.config;
        let committee = cx
            .authority
            .governance()
            .await
            .and_then(|g| g.committee(&config.committee_id).cloned())
            .ok_or_else(|| {
                HubError::Unavailable(format!(
                    "committee {} in the governance chain",
                    config.committee_id
                ))
            })?;
        let quorum = committee.checkpoint_quorum();
        // Test builds: a server that has only the signers co-sign and takes
        // `t` for enough (each signer must refuse the checkpoint).
        #[cfg(feature = "fault-injection")]
        let (parties, quorum) = if crate::faults::fault_is("pair-witness") {
            eprintln!("server: TEST BUILD: fault pair-witness: only the signers co-sign");
            (required, usize::from(config.threshold))
        } else {
            (parties, quorum)
        };
        let (checkpoint, server) = cx.authority.checkpoint().await;
        let mut round = Round::new(quorum, required);
        let mut pending = tokio::task::JoinSet::new();
        let mut keys = BTreeMap::new();
        for &p in parties {
            let Some(key) = config.members.get(usize::from(p)).copied() else {
                return Err(HubError::Unavailable(format!("party {p}")));
            };
            let Some(tx) = cx.registry.outbox(&key).await else {
                return Err(HubError::Unavailable(config.node_name(&key)));
            };
            keys.insert(p, key);
            let outstanding = self.outstanding.lock().await.get(&key).copied();
            if round.skip_if_busy(p, outstanding) {
                continue;
            }
            let (mut entries, reached) = unwitnessed(&cx, &key, checkpoint.size).await?;
            if reached < checkpoint.size {
                if let Err(why) = self
                    .catch_up(&cx, &key, &tx, checkpoint.size, timeout)
                    .await
                {
                    round.asked(p);
                    round.answer(p, why);
                    continue;
                }
                entries = unwitnessed(&cx, &key, checkpoint.size).await?.0;
            }
            let (done_tx, done_rx) = oneshot::channel();
            self.waiters
                .lock()
                .await
                .insert((key, checkpoint.size), done_tx);
            let req = WitnessRequest {
                entries,
                checkpoint,
                server_signature: server.clone(),
            };
            // Never block the round on one node's full queue.
            if tx.try_send(ServerMessage::Witness(Box::new(req))).is_err() {
                self.waiters.lock().await.remove(&(key, checkpoint.size));
                round.unreachable(p);
                continue;
            }
            self.outstanding.lock().await.insert(key, checkpoint.size);
            round.asked(p);
            pending.spawn(async move { (p, done_rx.await) });
        }
        let mut signed = SignedCheckpoint {
            checkpoint,
            server,
            cosignatures: Vec::new(),
        };
        let mut deadline = tokio::time::Instant::now() + timeout;
        let mut graced = false;
        loop {
            if !graced && round.holds() {
                // The rest answer in milliseconds when healthy; a short
                // grace keeps their ledgers current without waiting out
                // a stalled node.
                graced = true;
                deadline = deadline.min(tokio::time::Instant::now() + WITNESS_GRACE);
            }
            let (p, answer) = match tokio::time::timeout_at(deadline, pending.join_next()).await {
                Ok(Some(Ok(done))) => done,
                Ok(Some(Err(_))) => continue,
                Ok(None) | Err(_) => break,
            };
            let answer = match answer {
                Ok(Ok(cosignature)) => {
                    if let Some(key) = keys.get(&p) {
                        cx.authority
                            .note_witnessed(cx.store, key, checkpoint.size, now())
                            .await
                            .map_err(|e| HubError::Audit(e.to_string()))?;
                    }
                    // By this member's witness key from the governance
                    // chain, and valid.
                    let valid = committee
                        .members
                        .get(usize::from(p))
                        .is_some_and(|m| m.witness_key == cosignature.key)
                        && checkpoint.verify_cosignature(&cosignature);
                    if valid {
                        signed.cosignatures.push(cosignature);
                    }
                    Answer::CoSigned { valid }
                }
                Ok(Err(error)) => Answer::Refused(error),
                Err(_) => Answer::Disconnected,
            };
            round.answer(p, answer);
        }
        for p in round.waiting() {
            if let Some(key) = keys.get(&p) {
                self.waiters.lock().await.remove(&(*key, checkpoint.size));
            }
        }
        let verdict = round.finish();
        if verdict.record {
            cx.authority
                .record_checkpoint(cx.store, &signed, now())
                .await
                .map_err(|e| HubError::Audit(e.to_string()))?;
        }
        let name = |p: PartyIndex| {
            config
                .members
                .get(usize::from(p))
                .map_or_else(|| format!("party {p}"), |key| config.node_name(key))
        };
        let error = |p: PartyIndex, m: Missing| match m {
            Missing::Busy { size } => failed(
                name(p),
                format!("still witnessing the checkpoint of size {size}"),
            ),
            Missing::Unreachable => HubError::Unavailable(name(p)),
            Missing::InvalidCoSignature => failed(name(p), "co-signature does not verify".into()),
            Missing::Refused(why) => failed(
                name(p),
                format!("refused to co-sign audit checkpoint: {why}"),
            ),
            Missing::Disconnected => failed(
                name(p),
                "disconnected before co-signing the audit checkpoint".into(),
            ),
            Missing::TimedOut => HubError::Timeout {
                after: timeout,
                waiting_for: name(p),
            },
        };
        match verdict.result {
            Err(Shortfall::Required(p, why)) => {
                // Never in the round: it is not connected.
                Err(why.map_or_else(|| HubError::Unavailable(name(p)), |m| error(p, m)))
            }
            Err(Shortfall::BelowThreshold { cosigned, first }) => Err(first.map_or_else(
                || {
                    HubError::Unavailable(format!(
                        "only {cosigned} of the {quorum} required nodes co-signed the audit checkpoint"
                    ))
                },
                |(p, m)| error(p, m),
            )),
            Ok(cosigners) => {
                for (p, m) in verdict.without {
                    eprintln!(
                        "server: audit checkpoint of size {} holds without: {}",
                        checkpoint.size,
                        error(p, m)
                    );
                }
                Ok((signed, cosigners))
            }
        }
    }
}

impl Witnessing {
    /// Walks a node that fell far behind up to `target` a page at a time,
    /// each page under an intermediate checkpoint it co-signs; stops at the
    /// first page it does not co-sign (how it answered is returned).
    async fn catch_up(
        &self,
        cx: &Context<'_>,
        key: &NodePublicKey,
        tx: &tokio::sync::mpsc::Sender<ServerMessage>,
        target: u64,
        timeout: Duration,
    ) -> Result<(), Answer> {
        let fail = |e: HubError| Answer::Refused(e.to_string());
        loop {
            let (entries, reached) = unwitnessed(cx, key, target).await.map_err(fail)?;
            if reached >= target {
                return Ok(());
            }
            let (checkpoint, server_signature) = cx
                .authority
                .checkpoint_at(cx.store, reached)
                .await
                .map_err(|e| Answer::Refused(e.to_string()))?;
            let (done_tx, done_rx) = oneshot::channel();
            self.waiters.lock().await.insert((*key, reached), done_tx);
            let req = WitnessRequest {
                entries,
                checkpoint,
                server_signature,
            };
            if tx
                .send(ServerMessage::Witness(Box::new(req)))
                .await
                .is_err()
            {
                self.waiters.lock().await.remove(&(*key, reached));
                return Err(Answer::Disconnected);
            }
            eprintln!(
                "server: {} catches up on the audit log: page to size {reached} of {target}",
                cx.config.node_name(key)
            );
            match tokio::time::timeout(timeout, done_rx).await {
                Ok(Ok(Ok(cosignature))) if checkpoint.verify_cosignature(&cosignature) => {
                    cx.authority
                        .note_witnessed(cx.store, key, reached, now())
                        .await
                        .map_err(|e| Answer::Refused(e.to_string()))?;
                }
                Ok(Ok(Ok(_))) => return Err(Answer::CoSigned { valid: false }),
                Ok(Ok(Err(why))) => return Err(Answer::Refused(why)),
                Ok(Err(_)) => return Err(Answer::Disconnected),
                Err(_) => {
                    self.waiters.lock().await.remove(&(*key, reached));
                    return Err(Answer::Refused(format!(
                        "no answer to catch-up page {reached} within {timeout:?}"
                    )));
                }
            }
        }
    }
}

fn failed(node: String, error: String) -> HubError {
    HubError::Failed {
        node,
        error,
        blame: String::new(),
    }
}

/// The stored entries below `size` that the node with `key` has not
/// witnessed yet, up to [`page_bytes`] of them (at least one), and the log
/// size they reach.
async fn unwitnessed(
    cx: &Context<'_>,
    key: &NodePublicKey,
    size: u64,
) -> Result<(Vec<SignedEntry>, u64), HubError> {
    let mut entries = Vec::new();
    let (mut bytes, page) = (0usize, page_bytes());
    let mut next = cx.authority.witnessed(key).await;
    while next < size {
        let batch = cx
            .store
            .audit_entries(next, (size - next).min(1024))
            .await?;
        if batch.is_empty() {
            break;
        }
        for body in batch {
            if !entries.is_empty() && bytes.saturating_add(body.len()) > page {
                return Ok((entries, next));
            }
            bytes = bytes.saturating_add(body.len());
            let e: SignedEntry = postcard::from_bytes(&body)
                .map_err(|_| HubError::Disagree("stored audit entry does not decode"))?;
            entries.push(e);
            next += 1;
        }
    }
    Ok((entries, next))
}
