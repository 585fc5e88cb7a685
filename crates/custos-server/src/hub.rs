//! The server's side of the nodes: who is connected, relaying sealed frames
//! between them, and running one job across a set of parties with a deadline.
//!
//! The hub never sees protocol content: frames are sealed node to node. It
//! checks that a node only relays frames in its own name and only into
//! sessions it takes part in.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use custos_audit::checkpoint::SignedCheckpoint;
use custos_audit::entry::SignedEntry;
use custos_tss::PartyIndex;
use custos_protocol::authz::WitnessRequest;
use custos_protocol::control::{
    CommitteeSpec, Job, JobKind, NodeMessage, Outcome, ServerMessage, MAX_PROGRESS_NOTE,
};
use custos_wire::NodePublicKey;
use rand_core::{OsRng, RngCore};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot, Mutex};

use crate::authority::{Authority, AuthorityError};
use crate::config::ServerConfig;
use crate::store::{SessionKind, SessionRecord, State, Store};

/// How long a checkpoint round waits for the remaining nodes once it holds.
const WITNESS_GRACE: Duration = Duration::from_secs(1);

/// Why a job failed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// Some parties are not connected; nothing was started.
    #[error("node(s) not connected: {0}")]
    Unavailable(String),
    /// The deadline passed.
    #[error("timed out after {after:?} waiting for node(s): {waiting_for}")]
    Timeout {
        /// The deadline.
        after: Duration,
        /// Names of the nodes that did not finish.
        waiting_for: String,
    },
    /// A node reported failure.
    #[error("node {node} failed: {error}{blame}")]
    Failed {
        /// Reporting node.
        node: String,
        /// Its reason.
        error: String,
        /// Who it blames.
        blame: String,
    },
    /// The nodes disagree on the result.
    #[error("nodes disagree on the result: {0}")]
    Disagree(&'static str),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The audit log could not be written: nothing was done.
    #[error("audit log: {0}")]
    Audit(String),
}

struct Route {
    kind: SessionKind,
    parties: BTreeMap<PartyIndex, NodePublicKey>,
    results: mpsc::UnboundedSender<(PartyIndex, Outcome)>,
    /// Latest progress note per party.
    progress: BTreeMap<PartyIndex, String>,
}

/// A running session as operators see it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct RunningSession {
    /// Session id (hex).
    pub id: String,
    /// aux-info | keygen | sign | presign
    pub kind: String,
    /// Each party's node name and latest progress note.
    pub nodes: Vec<NodeProgress>,
}

/// One node's part in a running session.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct NodeProgress {
    /// Node name.
    pub name: String,
    /// Latest progress note, if it sent one.
    pub note: Option<String>,
}

/// Connected nodes and running sessions.
pub struct Hub {
    config: ServerConfig,
    store: Arc<dyn Store>,
    nodes: Mutex<HashMap<NodePublicKey, mpsc::Sender<ServerMessage>>>,
    routes: Mutex<HashMap<[u8; 32], Route>>,
    authority: Authority,
    /// Nodes' answers to checkpoints, by (node, size).
    witness_waiters: Mutex<HashMap<(NodePublicKey, u64), WitnessWaiter>>,
    /// The checkpoint size each node was last asked to witness and has not
    /// answered: a node gets one request at a time, so one that stalls
    /// does not pile up requests (each carrying its whole backlog).
    witness_outstanding: Mutex<HashMap<NodePublicKey, u64>>,
    /// One checkpoint round at a time: each node must see entries in order.
    checkpointing: Mutex<()>,
    #[cfg(feature = "fault-injection")]
    faults: Option<crate::fault::Faults>,
}

type WitnessWaiter = oneshot::Sender<Result<([u8; 32], Vec<u8>), String>>;

use custos_net::clock::unix_now as now;

impl Hub {
    /// A hub over `store` for the committee in `config`.
    pub fn new(config: ServerConfig, store: Arc<dyn Store>, authority: Authority) -> Arc<Self> {
        Arc::new(Self {
            config,
            store,
            nodes: Mutex::default(),
            routes: Mutex::default(),
            authority,
            witness_waiters: Mutex::default(),
            witness_outstanding: Mutex::default(),
            checkpointing: Mutex::default(),
            #[cfg(feature = "fault-injection")]
            faults: crate::fault::Faults::from_env(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Governance and audit state.
    pub fn authority(&self) -> &Authority {
        &self.authority
    }

    /// Appends an audit entry (fail closed: an error means do not act).
    pub async fn audit(
        &self,
        actor: &str,
        action: &str,
        detail: serde_json::Value,
    ) -> Result<SignedEntry, AuthorityError> {
        self.authority
            .append(self.store.as_ref(), now(), actor, action, &detail)
            .await
    }

    /// Sends the governance chain to every connected node (each validates it
    /// before its next job, as messages on a connection are handled in order).
    pub async fn push_governance(&self) {
        let Some(sync) = self.authority.sync().await else {
            return;
        };
        let nodes: Vec<_> = self.nodes.lock().await.values().cloned().collect();
        for tx in nodes {
            let _ = tx
                .send(ServerMessage::Governance(Box::new(sync.clone())))
                .await;
        }
    }

    /// Test builds: sends nodes a chain with `p` appended unchecked (a
    /// server forwarding a change that lacks its quorum).
    #[cfg(feature = "fault-injection")]
    pub async fn push_unchecked_governance(&self, p: &custos_governance::SignedProposal) {
        let Some(mut sync) = self.authority.sync().await else {
            return;
        };
        sync.chain.push(p.clone());
        let nodes: Vec<_> = self.nodes.lock().await.values().cloned().collect();
        for tx in nodes {
            let _ = tx
                .send(ServerMessage::Governance(Box::new(sync.clone())))
                .await;
        }
    }

    /// Has the current audit checkpoint co-signed by the `parties` (each
    /// reads the entries it has not seen); records and returns it with the
    /// parties that co-signed, in index order. It holds once `t` co-signed
    /// and every one of `required` did (the signers named for the request
    /// about to be signed): a node that stalls or refuses must not stop a
    /// committee that can sign without it, and it catches up next round.
    pub async fn checkpoint(
        &self,
        parties: &[PartyIndex],
        required: &[PartyIndex],
        timeout: Duration,
    ) -> Result<(SignedCheckpoint, Vec<PartyIndex>), HubError> {
        // Concurrent signings wait here; the round after a wait covers their
        // entries too.
        let _round = self.checkpointing.lock().await;
        let (checkpoint, server) = self.authority.checkpoint().await;
        let mut pending = tokio::task::JoinSet::new();
        let mut waiting = BTreeMap::new();
        let mut failures = BTreeMap::new();
        for &p in parties {
            let Some(key) = self.config.members.get(usize::from(p)).copied() else {
                return Err(HubError::Unavailable(format!("party {p}")));
            };
            let tx = self.nodes.lock().await.get(&key).cloned();
            let Some(tx) = tx else {
                return Err(HubError::Unavailable(self.config.node_name(&key)));
            };
            let name = self.config.node_name(&key);
            // A named signer is asked regardless: it may have just recovered,
            // and the signing fails anyway if it has not.
            let outstanding = self.witness_outstanding.lock().await.get(&key).copied();
            if let Some(size) = outstanding.filter(|_| !required.contains(&p)) {
                failures.insert(
                    p,
                    HubError::Failed {
                        node: name,
                        error: format!("still witnessing the checkpoint of size {size}"),
                        blame: String::new(),
                    },
                );
                continue;
            }
            let entries = self.unwitnessed(&key, checkpoint.size).await?;
            let (done_tx, done_rx) = oneshot::channel();
            self.witness_waiters
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
                self.witness_waiters
                    .lock()
                    .await
                    .remove(&(key, checkpoint.size));
                failures.insert(p, HubError::Unavailable(name));
                continue;
            }
            self.witness_outstanding
                .lock()
                .await
                .insert(key, checkpoint.size);
            waiting.insert(p, key);
            pending.spawn(async move { (p, done_rx.await) });
        }
        let mut signed = SignedCheckpoint {
            checkpoint,
            server,
            cosignatures: Vec::new(),
        };
        let t = usize::from(self.config.threshold);
        let mut cosigners = BTreeSet::new();
        let mut deadline = tokio::time::Instant::now() + timeout;
        let mut enough = false;
        loop {
            if !enough && cosigners.len() >= t && required.iter().all(|p| cosigners.contains(p)) {
                // The rest answer in milliseconds when healthy; a short
                // grace keeps their ledgers current without waiting out
                // a stalled node.
                enough = true;
                deadline = deadline.min(tokio::time::Instant::now() + WITNESS_GRACE);
            }
            let (p, answer) = match tokio::time::timeout_at(deadline, pending.join_next()).await {
                Ok(Some(Ok(done))) => done,
                Ok(Some(Err(_))) => continue,
                Ok(None) | Err(_) => break,
            };
            let Some(key) = waiting.remove(&p) else {
                continue;
            };
            let name = self.config.node_name(&key);
            let error = match answer {
                Ok(Ok((witness, sig))) => {
                    self.authority
                        .note_witnessed(self.store.as_ref(), &key, checkpoint.size, now())
                        .await
                        .map_err(|e| HubError::Audit(e.to_string()))?;
                    let valid = ed25519_dalek::VerifyingKey::from_bytes(&witness)
                        .is_ok_and(|vk| checkpoint.verify(&vk, &sig));
                    if valid {
                        signed.cosignatures.push((witness, sig));
                        cosigners.insert(p);
                        continue;
                    }
                    "co-signature does not verify".to_owned()
                }
                Ok(Err(error)) => format!("refused to co-sign audit checkpoint: {error}"),
                Err(_) => "disconnected before co-signing the audit checkpoint".to_owned(),
            };
            failures.insert(
                p,
                HubError::Failed {
                    node: name,
                    error,
                    blame: String::new(),
                },
            );
        }
        for (p, key) in waiting {
            self.witness_waiters
                .lock()
                .await
                .remove(&(key, checkpoint.size));
            failures.insert(
                p,
                HubError::Timeout {
                    after: timeout,
                    waiting_for: self.config.node_name(&key),
                },
            );
        }
        // A checkpoint counts once a threshold of nodes witnessed it (the
        // quorum auditors verify against); fewer are not recorded.
        if cosigners.len() >= t {
            self.authority
                .record_checkpoint(self.store.as_ref(), &signed, now())
                .await
                .map_err(|e| HubError::Audit(e.to_string()))?;
        }
        if let Some(p) = required.iter().find(|p| !cosigners.contains(p)) {
            // Not among `parties`: it is not connected.
            return Err(failures.remove(p).unwrap_or_else(|| {
                let name = self
                    .config
                    .members
                    .get(usize::from(*p))
                    .map_or_else(|| format!("party {p}"), |key| self.config.node_name(key));
                HubError::Unavailable(name)
            }));
        }
        if cosigners.len() < t {
            return Err(failures.into_values().next().unwrap_or_else(|| {
                HubError::Unavailable(format!(
                    "only {} of the {t} required nodes co-signed the audit checkpoint",
                    cosigners.len()
                ))
            }));
        }
        for e in failures.values() {
            eprintln!(
                "server: audit checkpoint of size {} holds without: {e}",
                checkpoint.size
            );
        }
        Ok((signed, cosigners.into_iter().collect()))
    }

    /// The stored entries below `size` that the node with `key` has not
    /// witnessed yet.
    async fn unwitnessed(
        &self,
        key: &NodePublicKey,
        size: u64,
    ) -> Result<Vec<SignedEntry>, HubError> {
        let mut entries = Vec::new();
        let mut next = self.authority.witnessed(key).await;
        while next < size {
            let batch = self
                .store
                .audit_entries(next, (size - next).min(1024))
                .await?;
            if batch.is_empty() {
                break;
            }
            for body in batch {
                let e: SignedEntry = postcard::from_bytes(&body)
                    .map_err(|_| HubError::Disagree("stored audit entry does not decode"))?;
                entries.push(e);
                next += 1;
            }
        }
        Ok(entries)
    }

    /// Whether the node with this key is connected.
    pub async fn is_connected(&self, key: &NodePublicKey) -> bool {
        self.nodes
            .lock()
            .await
            .get(key)
            .is_some_and(|tx| !tx.is_closed())
    }

    /// Serves one authenticated node connection until it closes. `key` is the
    /// channel key enrolled with the TLS certificate the node presented.
    pub async fn serve_node<S: AsyncRead + AsyncWrite + Send + 'static>(
        self: Arc<Self>,
        stream: S,
        key: NodePublicKey,
    ) {
        let name = self.config.node_name(&key);
        let (mut rd, mut wr) = tokio::io::split(stream);
        match custos_net::read_msg::<NodeMessage>(&mut rd).await {
            Ok(NodeMessage::Hello { node, .. }) if node == key => {}
            _ => {
                eprintln!("server: {name} did not identify itself with its enrolled key; closing");
                return;
            }
        }
        // Log before serve: a node the log cannot record is not served.
        if let Err(e) = self
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
        if let Some(sync) = self.authority.sync().await {
            let _ = tx.send(ServerMessage::Governance(Box::new(sync))).await;
        }
        self.nodes.lock().await.insert(key, tx.clone());
        self.witness_outstanding.lock().await.remove(&key);
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
                NodeMessage::Relay { frame } => self.relay(&key, frame).await,
                NodeMessage::Done { session, outcome } => {
                    let routes = self.routes.lock().await;
                    if let Some(route) = routes.get(&session) {
                        if let Some((&index, _)) = route.parties.iter().find(|(_, k)| **k == key) {
                            let _ = route.results.send((index, outcome));
                        }
                    }
                }
                NodeMessage::Progress { session, mut note } => {
                    let mut routes = self.routes.lock().await;
                    if let Some(route) = routes.get_mut(&session) {
                        if let Some((&index, _)) = route.parties.iter().find(|(_, k)| **k == key) {
                            let mut end = note.len().min(MAX_PROGRESS_NOTE);
                            while !note.is_char_boundary(end) {
                                end -= 1;
                            }
                            note.truncate(end);
                            route.progress.insert(index, note);
                        }
                    }
                }
                NodeMessage::Witnessed { size, result } => {
                    self.witness_outstanding.lock().await.remove(&key);
                    if let Some(w) = self.witness_waiters.lock().await.remove(&(key, size)) {
                        let _ = w.send(result);
                    }
                }
                NodeMessage::GovernanceHead {
                    height, refused, ..
                } => {
                    if let Some(why) = refused {
                        eprintln!(
                            "server: node {name} at governance height {height} refused: {why}"
                        );
                    }
                }
                NodeMessage::Hello { .. } => {}
            }
        }
        writer.abort();
        {
            let mut nodes = self.nodes.lock().await;
            if nodes.get(&key).is_some_and(|t| t.same_channel(&tx)) {
                nodes.remove(&key);
                // Nothing is in flight on a closed connection.
                self.witness_outstanding.lock().await.remove(&key);
            }
        }
        // Its running sessions cannot finish: fail them now rather than at
        // the peers' deadlines.
        for route in self.routes.lock().await.values() {
            if let Some((&index, _)) = route.parties.iter().find(|(_, k)| **k == key) {
                let lost = Outcome::Failed {
                    error: "disconnected from the server mid-session".into(),
                    culprits: vec![index],
                };
                let _ = route.results.send((index, lost));
            }
        }
        eprintln!("server: node {name} disconnected");
        if let Err(e) = self
            .audit("server", "node-leave", serde_json::json!({ "node": name }))
            .await
        {
            eprintln!("server: audit log: {e}");
        }
    }

    async fn relay(&self, from: &NodePublicKey, frame: custos_wire::Frame) {
        let target = {
            let routes = self.routes.lock().await;
            let Some(route) = routes.get(&frame.header.session) else {
                return;
            };
            // A node relays only in its own name (the recipient checks the seal too).
            if route.parties.get(&frame.header.from) != Some(from) {
                return;
            }
            route.parties.get(&frame.header.to).copied()
        };
        let Some(target) = target else { return };
        #[cfg(feature = "fault-injection")]
        let frames = match &self.faults {
            Some(f) => f.apply(frame),
            None => vec![frame],
        };
        #[cfg(not(feature = "fault-injection"))]
        let frames = [frame];
        let tx = self.nodes.lock().await.get(&target).cloned();
        if let Some(tx) = tx {
            for frame in frames {
                let _ = tx.send(ServerMessage::Relay { frame }).await;
            }
        }
    }

    /// Running sessions with each node's latest progress.
    pub async fn running(&self) -> Vec<RunningSession> {
        self.routes
            .lock()
            .await
            .iter()
            .map(|(id, r)| RunningSession {
                id: hex::encode(id),
                kind: r.kind.as_str().to_owned(),
                nodes: r
                    .parties
                    .iter()
                    .map(|(i, k)| NodeProgress {
                        name: self.config.node_name(k),
                        note: r.progress.get(i).cloned(),
                    })
                    .collect(),
            })
            .collect()
    }

    /// Whether a session is running (background work waits for idle).
    pub async fn busy(&self) -> bool {
        !self.routes.lock().await.is_empty()
    }

    fn spec(&self) -> CommitteeSpec {
        self.config.committee()
    }

    /// Runs `kind` at `parties` and returns the session id and every party's outcome, or the
    /// first failure; aborts the others on failure or deadline.
    pub async fn run(
        &self,
        kind: JobKind,
        session_kind: SessionKind,
        parties: &[PartyIndex],
        wallet_id: Option<&str>,
        timeout: Duration,
    ) -> Result<(String, BTreeMap<PartyIndex, Outcome>), HubError> {
        self.run_each(
            kind,
            BTreeMap::new(),
            session_kind,
            parties,
            wallet_id,
            timeout,
        )
        .await
    }

    /// Like [`Hub::run`], but the parties in `overrides` get their own job
    /// (fault-injection builds use it to play a server that tells nodes
    /// different things; nodes must then refuse or abort).
    pub async fn run_each(
        &self,
        kind: JobKind,
        overrides: BTreeMap<PartyIndex, JobKind>,
        session_kind: SessionKind,
        parties: &[PartyIndex],
        wallet_id: Option<&str>,
        timeout: Duration,
    ) -> Result<(String, BTreeMap<PartyIndex, Outcome>), HubError> {
        let members: BTreeMap<PartyIndex, NodePublicKey> = parties
            .iter()
            .filter_map(|&p| self.config.members.get(usize::from(p)).map(|k| (p, *k)))
            .collect();
        let mut senders = BTreeMap::new();
        let mut missing = Vec::new();
        {
            let nodes = self.nodes.lock().await;
            for (&p, key) in &members {
                match nodes.get(key).filter(|t| !t.is_closed()) {
                    Some(tx) => {
                        senders.insert(p, tx.clone());
                    }
                    None => missing.push(self.config.node_name(key)),
                }
            }
        }
        if !missing.is_empty() || members.len() != parties.len() {
            return Err(HubError::Unavailable(missing.join(", ")));
        }
        let mut session = [0u8; 32];
        OsRng.fill_bytes(&mut session);
        let id = hex::encode(session);
        let (results_tx, mut results) = mpsc::unbounded_channel();
        self.routes.lock().await.insert(
            session,
            Route {
                kind: session_kind,
                parties: members.clone(),
                results: results_tx,
                progress: BTreeMap::new(),
            },
        );
        let t = now();
        self.store
            .insert_session(&SessionRecord {
                id: id.clone(),
                kind: session_kind,
                committee_id: self.config.committee_id.clone(),
                wallet_id: wallet_id.map(str::to_owned),
                parties: parties.to_vec(),
                state: State::Running,
                error: None,
                created_at: t,
                updated_at: t,
            })
            .await?;
        for (&p, tx) in &senders {
            let job = Job {
                session,
                committee: self.spec(),
                me: p,
                kind: overrides.get(&p).unwrap_or(&kind).clone(),
            };
            let _ = tx.send(ServerMessage::Start(Box::new(job))).await;
        }
        let deadline = tokio::time::Instant::now() + timeout;
        let mut outcomes = BTreeMap::new();
        let result = loop {
            if outcomes.len() == members.len() {
                break Ok(());
            }
            let (p, outcome) = match tokio::time::timeout_at(deadline, results.recv()).await {
                Ok(Some(r)) => r,
                Ok(None) | Err(_) => {
                    let waiting: Vec<String> = members
                        .iter()
                        .filter(|(p, _)| !outcomes.contains_key(*p))
                        .map(|(_, k)| self.config.node_name(k))
                        .collect();
                    break Err(HubError::Timeout {
                        after: timeout,
                        waiting_for: waiting.join(", "),
                    });
                }
            };
            if let Outcome::Failed { error, culprits } = &outcome {
                let blame: Vec<String> = culprits
                    .iter()
                    .filter_map(|c| members.get(c))
                    .map(|k| self.config.node_name(k))
                    .collect();
                let blame = if blame.is_empty() {
                    String::new()
                } else {
                    format!(" (blames {})", blame.join(", "))
                };
                let node = members
                    .get(&p)
                    .map(|k| self.config.node_name(k))
                    .unwrap_or_default();
                break Err(HubError::Failed {
                    node,
                    error: error.clone(),
                    blame,
                });
            }
            outcomes.insert(p, outcome);
        };
        self.routes.lock().await.remove(&session);
        if result.is_err() {
            for tx in senders.values() {
                let _ = tx
                    .send(ServerMessage::Abort {
                        session,
                        reason: "session failed elsewhere".into(),
                    })
                    .await;
            }
        }
        let (state, error) = match &result {
            Ok(_) => (State::Done, None),
            Err(e) => (State::Failed, Some(e.to_string())),
        };
        self.store
            .finish_session(&id, state, error.as_deref(), now())
            .await?;
        result.map(|()| (id, outcomes))
    }
}
