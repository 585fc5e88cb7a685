//! The server's copies of the two things it cannot change alone: the
//! governance chain (it stores proposals and forwards them; every node
//! validates them itself) and the audit log (it appends and signs entries;
//! nodes co-sign checkpoints after reading every entry). Writing the log is
//! on the request path: if an entry cannot be stored, the action fails
//! (fail closed).

use std::collections::HashMap;

use custos_audit::checkpoint::{Checkpoint, SignedCheckpoint};
use custos_audit::entry::{Entry, SignedEntry};
use custos_audit::merkle::Frontier;
use custos_audit::Hash;
use custos_governance::{Genesis, Governance, SignedProposal};
use custos_protocol::authz::GovernanceSync;
use custos_wire::NodePublicKey;
use ed25519_dalek::SigningKey;
use tokio::sync::{Mutex, RwLock};

use crate::store::{Store, StoreError};

/// Document kinds.
pub(crate) const GOVERNANCE: &str = "governance";
pub(crate) const CHECKPOINT: &str = "checkpoint";
const WITNESSED: &str = "witnessed";

/// Why the log or the chain refused.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum AuthorityError {
    /// The store failed: the action is refused (fail closed).
    #[error("audit log or governance store: {0}")]
    Store(#[from] StoreError),
    /// A stored record does not decode or verify.
    #[error("stored {0} is invalid")]
    Corrupt(&'static str),
    /// Audit encoding.
    #[error(transparent)]
    Audit(#[from] custos_audit::AuditError),
    /// No governance genesis yet.
    #[error("no governance genesis yet (custos governance init)")]
    NoGenesis,
    /// A proposal was refused.
    #[error(transparent)]
    Governance(#[from] custos_governance::GovError),
}

struct LogHead {
    frontier: Frontier,
    last_leaf: Option<Hash>,
}

struct GovView {
    genesis: Genesis,
    chain: Vec<SignedProposal>,
    gov: Governance,
}

/// Governance and audit state of the server.
pub struct Authority {
    key: SigningKey,
    log: Mutex<LogHead>,
    gov: RwLock<Option<GovView>>,
    /// Size of the last checkpoint each node co-signed.
    witnessed: Mutex<HashMap<NodePublicKey, u64>>,
}

fn height_id(h: u64) -> String {
    format!("{h:020}")
}

impl Authority {
    /// Loads the log head, the governance chain and what each node
    /// witnessed, re-verifying the stored chain.
    pub async fn load(key: SigningKey, store: &dyn Store) -> Result<Self, AuthorityError> {
        let mut head = LogHead {
            frontier: Frontier::new(),
            last_leaf: None,
        };
        loop {
            let batch = store.audit_entries(head.frontier.size(), 1024).await?;
            if batch.is_empty() {
                break;
            }
            for body in batch {
                let e: SignedEntry = postcard::from_bytes(&body)
                    .map_err(|_| AuthorityError::Corrupt("audit entry"))?;
                let leaf = e.entry.hash()?;
                head.frontier.push(leaf);
                head.last_leaf = Some(leaf);
            }
        }
        let mut witnessed = HashMap::new();
        for (id, body) in store.doc_list(WITNESSED).await? {
            let size = <[u8; 8]>::try_from(body.as_slice())
                .map(u64::from_be_bytes)
                .map_err(|_| AuthorityError::Corrupt("witnessed size"))?;
            if let Ok(node) = id.parse::<NodePublicKey>() {
                witnessed.insert(node, size);
            }
        }
        let steps = store.doc_list(GOVERNANCE).await?;
        let gov = match steps.split_first() {
            None => None,
            Some(((_, first), rest)) => {
                let genesis: Genesis =
                    postcard::from_bytes(first).map_err(|_| AuthorityError::Corrupt("genesis"))?;
                let chain = rest
                    .iter()
                    .map(|(_, b)| postcard::from_bytes(b))
                    .collect::<Result<Vec<SignedProposal>, _>>()
                    .map_err(|_| AuthorityError::Corrupt("proposal"))?;
                let gov = Governance::replay(&genesis, &chain).map_err(|(_, e)| e)?;
                Some(GovView {
                    genesis,
                    chain,
                    gov,
                })
            }
        };
        Ok(Self {
            key,
            log: Mutex::new(head),
            gov: RwLock::new(gov),
            witnessed: Mutex::new(witnessed),
        })
    }

    /// The audit key's public half.
    pub fn audit_public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// Appends an entry; an error means nothing was recorded and the caller
    /// must not act.
    pub async fn append(
        &self,
        store: &dyn Store,
        now: i64,
        actor: &str,
        action: &str,
        detail: &serde_json::Value,
    ) -> Result<SignedEntry, AuthorityError> {
        let mut head = self.log.lock().await;
        let entry = Entry {
            seq: head.frontier.size(),
            prev: head.last_leaf.unwrap_or([0; 32]),
            time: now,
            actor: actor.to_owned(),
            action: action.to_owned(),
            detail: detail.to_string(),
        };
        let signed = SignedEntry::sign(entry, &self.key)?;
        let leaf = signed.entry.hash()?;
        let body = postcard::to_stdvec(&signed).map_err(|_| AuthorityError::Corrupt("entry"))?;
        store.audit_append(signed.entry.seq, &body).await?;
        head.frontier.push(leaf);
        head.last_leaf = Some(leaf);
        Ok(signed)
    }

    /// The current checkpoint, signed by the server.
    pub async fn checkpoint(&self) -> (Checkpoint, Vec<u8>) {
        let head = self.log.lock().await;
        let cp = Checkpoint {
            size: head.frontier.size(),
            root: head.frontier.root(),
        };
        let sig = cp.sign(&self.key);
        (cp, sig)
    }

    /// A checkpoint of the log's first `size` entries, signed by the
    /// server: a page of a far-behind node's catch-up (the tree is rebuilt
    /// from the stored entries; catch-up is rare).
    pub async fn checkpoint_at(
        &self,
        store: &dyn Store,
        size: u64,
    ) -> Result<(Checkpoint, Vec<u8>), AuthorityError> {
        let mut frontier = Frontier::new();
        while frontier.size() < size {
            let want = (size - frontier.size()).min(1024);
            let batch = store.audit_entries(frontier.size(), want).await?;
            if batch.is_empty() {
                return Err(AuthorityError::Corrupt("audit entries below a checkpoint"));
            }
            for body in batch {
                let e: SignedEntry = postcard::from_bytes(&body)
                    .map_err(|_| AuthorityError::Corrupt("audit entry"))?;
                frontier.push(e.entry.hash()?);
            }
        }
        let cp = Checkpoint {
            size: frontier.size(),
            root: frontier.root(),
        };
        let sig = cp.sign(&self.key);
        Ok((cp, sig))
    }

    /// Records that `node` co-signed a checkpoint of `size` (recorded or
    /// not): the next witness request starts there.
    pub async fn note_witnessed(
        &self,
        store: &dyn Store,
        node: &NodePublicKey,
        size: u64,
        now: i64,
    ) -> Result<(), AuthorityError> {
        let mut w = self.witnessed.lock().await;
        if w.get(node).is_some_and(|&s| s >= size) {
            return Ok(());
        }
        let id = node.to_string();
        let body = size.to_be_bytes();
        match store.doc_get(WITNESSED, &id).await? {
            None => store.doc_insert(WITNESSED, &id, &body, now).await?,
            Some(old) => store.doc_replace(WITNESSED, &id, &old, &body, now).await?,
        }
        w.insert(*node, size);
        Ok(())
    }

    /// Size of the last checkpoint `node` co-signed.
    pub async fn witnessed(&self, node: &NodePublicKey) -> u64 {
        self.witnessed.lock().await.get(node).copied().unwrap_or(0)
    }

    /// Records co-signatures of a checkpoint (merged with earlier ones of
    /// the same size).
    pub async fn record_checkpoint(
        &self,
        store: &dyn Store,
        signed: &SignedCheckpoint,
        now: i64,
    ) -> Result<(), AuthorityError> {
        let id = height_id(signed.checkpoint.size);
        let body =
            postcard::to_stdvec(signed).map_err(|_| AuthorityError::Corrupt("checkpoint"))?;
        match store.doc_get(CHECKPOINT, &id).await? {
            None => store.doc_insert(CHECKPOINT, &id, &body, now).await?,
            Some(old) => {
                let mut merged: SignedCheckpoint = postcard::from_bytes(&old)
                    .map_err(|_| AuthorityError::Corrupt("checkpoint"))?;
                if merged.checkpoint != signed.checkpoint {
                    return Err(AuthorityError::Corrupt("two checkpoints of one size"));
                }
                for c in &signed.cosignatures {
                    if !merged.cosignatures.iter().any(|m| m.key == c.key) {
                        merged.cosignatures.push(c.clone());
                    }
                }
                let new = postcard::to_stdvec(&merged)
                    .map_err(|_| AuthorityError::Corrupt("checkpoint"))?;
                store.doc_replace(CHECKPOINT, &id, &old, &new, now).await?;
            }
        }
        Ok(())
    }

    /// Stores the genesis (once).
    pub async fn init_genesis(
        &self,
        store: &dyn Store,
        genesis: &Genesis,
        now: i64,
    ) -> Result<(), AuthorityError> {
        let gov = Governance::genesis(genesis)?;
        let mut view = self.gov.write().await;
        let body = postcard::to_stdvec(genesis).map_err(|_| AuthorityError::Corrupt("genesis"))?;
        store
            .doc_insert(GOVERNANCE, &height_id(0), &body, now)
            .await?;
        *view = Some(GovView {
            genesis: genesis.clone(),
            chain: Vec::new(),
            gov,
        });
        Ok(())
    }

    /// Validates and stores a signed proposal extending the head.
    pub async fn apply(
        &self,
        store: &dyn Store,
        signed: &SignedProposal,
        now: i64,
    ) -> Result<Hash, AuthorityError> {
        let mut view = self.gov.write().await;
        let v = view.as_mut().ok_or(AuthorityError::NoGenesis)?;
        let mut next = v.gov.clone();
        next.apply(signed)?;
        let body = postcard::to_stdvec(signed).map_err(|_| AuthorityError::Corrupt("proposal"))?;
        store
            .doc_insert(GOVERNANCE, &height_id(signed.proposal.height), &body, now)
            .await?;
        v.gov = next;
        v.chain.push(signed.clone());
        Ok(v.gov.head())
    }

    /// The chain as nodes receive it.
    pub async fn sync(&self) -> Option<GovernanceSync> {
        self.gov.read().await.as_ref().map(|v| GovernanceSync {
            genesis: v.genesis.clone(),
            chain: v.chain.clone(),
        })
    }

    /// A snapshot of the validated state at the head.
    pub async fn governance(&self) -> Option<Governance> {
        self.gov.read().await.as_ref().map(|v| v.gov.clone())
    }

    /// The genesis, if any.
    pub async fn genesis(&self) -> Option<Genesis> {
        self.gov.read().await.as_ref().map(|v| v.genesis.clone())
    }

    /// The full chain after the genesis.
    pub async fn chain(&self) -> Vec<SignedProposal> {
        self.gov
            .read()
            .await
            .as_ref()
            .map(|v| v.chain.clone())
            .unwrap_or_default()
    }
}
