//! The server's side of the nodes, in three parts: who is connected and
//! relaying sealed frames between them ([`registry`]), running one job
//! across a set of parties with a deadline ([`sessions`]), and audit
//! checkpoint rounds ([`witness`], deciding with `machine::witness_round`).
//! [`connection`] serves one node's connection and hands each message to
//! the part it concerns.
//!
//! The hub never sees protocol content: frames are sealed node to node. It
//! checks that a node only relays frames in its own name and only into
//! sessions it takes part in.

mod connection;
mod error;
mod fresh;
mod registry;
mod sessions;
mod witness;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use custos_audit::checkpoint::SignedCheckpoint;
use custos_audit::entry::SignedEntry;
use custos_net::clock::unix_now as now;
use custos_protocol::control::{JobKind, Outcome, ServerMessage};
use custos_tss::PartyIndex;
use custos_wire::NodePublicKey;

pub use connection::serve_node;
pub use error::HubError;
pub use sessions::{NodeProgress, RunningSession};

use crate::authority::{Authority, AuthorityError};
use crate::config::ServerConfig;
use crate::store::{SessionKind, Store};

/// Connected nodes, running sessions and checkpoint rounds.
pub struct Hub {
    config: ServerConfig,
    store: Arc<dyn Store>,
    authority: Authority,
    registry: registry::Registry,
    sessions: sessions::Sessions,
    witnessing: witness::Witnessing,
    fresh: fresh::Fresh,
    #[cfg(feature = "fault-injection")]
    faults: Option<crate::fault::Faults>,
}

impl Hub {
    /// A hub over `store` for the committee in `config`.
    pub fn new(config: ServerConfig, store: Arc<dyn Store>, authority: Authority) -> Arc<Self> {
        Arc::new(Self {
            config,
            store,
            authority,
            registry: registry::Registry::default(),
            sessions: sessions::Sessions::default(),
            witnessing: witness::Witnessing::default(),
            fresh: fresh::Fresh::default(),
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
        if let Some(sync) = self.authority.sync().await {
            self.registry
                .broadcast(&ServerMessage::Governance(Box::new(sync)))
                .await;
        }
    }

    /// Test builds: sends nodes a chain with `p` appended unchecked (a
    /// server forwarding a change that lacks its quorum).
    #[cfg(feature = "fault-injection")]
    pub async fn push_unchecked_governance(&self, p: &custos_governance::SignedProposal) {
        if let Some(mut sync) = self.authority.sync().await {
            sync.chain.push(p.clone());
            self.registry
                .broadcast(&ServerMessage::Governance(Box::new(sync)))
                .await;
        }
    }

    /// Has the current audit checkpoint co-signed by the `parties` (each
    /// reads the entries it has not seen); records and returns it with the
    /// parties that co-signed, in index order. It holds once `t` co-signed
    /// and every one of `required` did (the signers named for the request
    /// about to be signed).
    pub async fn checkpoint(
        &self,
        parties: &[PartyIndex],
        required: &[PartyIndex],
        timeout: Duration,
    ) -> Result<(SignedCheckpoint, Vec<PartyIndex>), HubError> {
        let cx = witness::Context {
            config: &self.config,
            registry: &self.registry,
            store: self.store.as_ref(),
            authority: &self.authority,
        };
        self.witnessing
            .checkpoint(cx, parties, required, timeout)
            .await
    }

    /// Each connected member's signed answer to a verifier's `nonce`: the
    /// newest checkpoint it co-signed (`custos audit export`).
    pub async fn freshness(&self, nonce: [u8; 32]) -> Vec<custos_protocol::attest::Freshness> {
        self.fresh
            .ask(
                &self.registry,
                &self.config.members,
                nonce,
                Duration::from_secs(5),
            )
            .await
    }

    /// Whether the node with this key is connected.
    pub async fn is_connected(&self, key: &NodePublicKey) -> bool {
        self.registry.is_connected(key).await
    }

    /// The connected members, in index order.
    pub async fn connected(&self) -> Vec<PartyIndex> {
        let mut up = Vec::new();
        for (i, key) in (0..).zip(&self.config.members) {
            if self.is_connected(key).await {
                up.push(i);
            }
        }
        up
    }

    /// Running sessions with each node's latest progress.
    pub async fn running(&self) -> Vec<RunningSession> {
        self.sessions.running(&self.config).await
    }

    /// Whether a session is running (background work waits for idle).
    pub async fn busy(&self) -> bool {
        self.sessions.busy().await
    }

    /// Runs `kind` at `parties` and returns the session id and every party's
    /// outcome, or the first failure; aborts the others on failure or
    /// deadline.
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
        let cx = sessions::Context {
            config: &self.config,
            registry: &self.registry,
            store: self.store.as_ref(),
        };
        self.sessions
            .run_each(
                cx,
                kind,
                overrides,
                session_kind,
                parties,
                wallet_id,
                timeout,
            )
            .await
    }
}
