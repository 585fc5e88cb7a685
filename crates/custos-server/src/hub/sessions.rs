//! The protocol-session runner: starts one job at a set of parties, routes
//! their sealed frames, collects every party's outcome with a deadline and
//! aborts the others on the first failure. It never sees protocol content.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use custos_net::clock::unix_now as now;
use custos_protocol::control::{Job, JobKind, Outcome, ServerMessage, MAX_PROGRESS_NOTE};
use custos_tss::PartyIndex;
use custos_wire::{FrameHeader, NodePublicKey};
use rand_core::{OsRng, RngCore};
use tokio::sync::{mpsc, Mutex};

use crate::config::ServerConfig;
use crate::hub::error::HubError;
use crate::hub::registry::Registry;
use crate::store::{SessionKind, SessionRecord, State, Store};

struct Route {
    kind: SessionKind,
    parties: BTreeMap<PartyIndex, NodePublicKey>,
    results: mpsc::UnboundedSender<(PartyIndex, Outcome)>,
    /// Latest progress note per party.
    progress: BTreeMap<PartyIndex, String>,
}

impl Route {
    fn index_of(&self, key: &NodePublicKey) -> Option<PartyIndex> {
        self.parties
            .iter()
            .find(|(_, k)| *k == key)
            .map(|(&i, _)| i)
    }
}

/// A running session as operators see it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct RunningSession {
    /// Session id (hex).
    pub id: String,
    /// aux-info | keygen | sign
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

/// Running sessions by id.
#[derive(Default)]
pub(crate) struct Sessions {
    routes: Mutex<HashMap<[u8; 32], Route>>,
}

/// What a job run needs from the hub.
pub(crate) struct Context<'a> {
    pub config: &'a ServerConfig,
    pub registry: &'a Registry,
    pub store: &'a dyn Store,
}

impl Sessions {
    /// Where a frame from `from` goes: the recipient's key, if the session
    /// runs and the node relays only in its own name (the recipient checks
    /// the seal too).
    pub(crate) async fn relay_target(
        &self,
        from: &NodePublicKey,
        header: &FrameHeader,
    ) -> Option<NodePublicKey> {
        let routes = self.routes.lock().await;
        let route = routes.get(&header.session)?;
        if route.parties.get(&header.from) != Some(from) {
            return None;
        }
        route.parties.get(&header.to).copied()
    }

    /// A node's outcome for a session it takes part in.
    pub(crate) async fn deliver(&self, from: &NodePublicKey, session: &[u8; 32], outcome: Outcome) {
        let routes = self.routes.lock().await;
        if let Some(route) = routes.get(session) {
            if let Some(index) = route.index_of(from) {
                let _ = route.results.send((index, outcome));
            }
        }
    }

    /// A node's progress note (truncated to [`MAX_PROGRESS_NOTE`] bytes).
    pub(crate) async fn progress(
        &self,
        from: &NodePublicKey,
        session: &[u8; 32],
        mut note: String,
    ) {
        let mut routes = self.routes.lock().await;
        if let Some(route) = routes.get_mut(session) {
            if let Some(index) = route.index_of(from) {
                let mut end = note.len().min(MAX_PROGRESS_NOTE);
                while !note.is_char_boundary(end) {
                    end -= 1;
                }
                note.truncate(end);
                route.progress.insert(index, note);
            }
        }
    }

    /// A node's connection closed: its running sessions cannot finish, so
    /// they fail now rather than at the peers' deadlines.
    pub(crate) async fn lost(&self, key: &NodePublicKey) {
        for route in self.routes.lock().await.values() {
            if let Some(index) = route.index_of(key) {
                let lost = Outcome::Failed {
                    error: "disconnected from the server mid-session".into(),
                    culprits: vec![index],
                };
                let _ = route.results.send((index, lost));
            }
        }
    }

    /// Running sessions with each node's latest progress.
    pub(crate) async fn running(&self, config: &ServerConfig) -> Vec<RunningSession> {
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
                        name: config.node_name(k),
                        note: r.progress.get(i).cloned(),
                    })
                    .collect(),
            })
            .collect()
    }

    /// Whether a session is running.
    pub(crate) async fn busy(&self) -> bool {
        !self.routes.lock().await.is_empty()
    }

    /// Runs `kind` at `parties` (those in `overrides` get their own job) and
    /// returns the session id and every party's outcome, or the first
    /// failure; aborts the others on failure or deadline.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn run_each(
        &self,
        cx: Context<'_>,
        kind: JobKind,
        overrides: BTreeMap<PartyIndex, JobKind>,
        session_kind: SessionKind,
        parties: &[PartyIndex],
        wallet_id: Option<&str>,
        timeout: Duration,
    ) -> Result<(String, BTreeMap<PartyIndex, Outcome>), HubError> {
        let config = cx.config;
        let members: BTreeMap<PartyIndex, NodePublicKey> = parties
            .iter()
            .filter_map(|&p| config.members.get(usize::from(p)).map(|k| (p, *k)))
            .collect();
        let mut senders = BTreeMap::new();
        let mut missing = Vec::new();
        for (&p, key) in &members {
            match cx.registry.open_outbox(key).await {
                Some(tx) => {
                    senders.insert(p, tx);
                }
                None => missing.push(config.node_name(key)),
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
        cx.store
            .insert_session(&SessionRecord {
                id: id.clone(),
                kind: session_kind,
                committee_id: config.committee_id.clone(),
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
                committee: config.committee(),
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
                        .map(|(_, k)| config.node_name(k))
                        .collect();
                    break Err(HubError::Timeout {
                        after: timeout,
                        waiting_for: waiting.join(", "),
                    });
                }
            };
            if let Outcome::Failed { error, culprits } = &outcome {
                break Err(failed(config, &members, p, error, culprits));
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
        cx.store
            .finish_session(&id, state, error.as_deref(), now())
            .await?;
        result.map(|()| (id, outcomes))
    }
}

/// A node's failure report, with the nodes it blames by name.
fn failed(
    config: &ServerConfig,
    members: &BTreeMap<PartyIndex, NodePublicKey>,
    p: PartyIndex,
    error: &str,
    culprits: &[PartyIndex],
) -> HubError {
    let blame: Vec<String> = culprits
        .iter()
        .filter_map(|c| members.get(c))
        .map(|k| config.node_name(k))
        .collect();
    let blame = if blame.is_empty() {
        String::new()
    } else {
        format!(" (blames {})", blame.join(", "))
    };
    let node = members
        .get(&p)
        .map(|k| config.node_name(k))
        .unwrap_or_default();
    HubError::Failed {
        node,
        error: error.to_owned(),
        blame,
    }
}
