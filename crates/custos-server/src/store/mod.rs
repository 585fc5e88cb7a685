//! One store interface, two implementations (SQLite, PostgreSQL), one body of
//! SQL: both engines accept `$N` placeholders, and the schema differs only in
//! column types (see `migrations/`).
//!
//! Callers pass the time (`now`, Unix seconds) in; state changes are
//! conditional updates, so a request that lost a race gets
//! [`StoreError::Conflict`] instead of overwriting.

use async_trait::async_trait;
use custos_protocol::attest::{Attestation, WalletStatement};
use custos_tss::{PartyIndex, Scheme};

mod sql;

pub use sql::{PostgresStore, SqliteStore};

/// Why a store call failed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such record.
    #[error("{what} {id} not found")]
    NotFound {
        /// Record type.
        what: &'static str,
        /// Its id.
        id: String,
    },
    /// The record exists, or is not in the state the change requires.
    #[error("{what} {id}: {reason}")]
    Conflict {
        /// Record type.
        what: &'static str,
        /// Its id.
        id: String,
        /// Why.
        reason: &'static str,
    },
    /// A stored value does not parse (edited by hand, or a newer version).
    #[error("stored {what} is invalid: {detail}")]
    Corrupt {
        /// Record type.
        what: &'static str,
        /// What failed.
        detail: String,
    },
    /// The database failed.
    #[error("database: {0}")]
    Backend(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The URL names no supported database.
    #[error("unsupported store URL (use sqlite:PATH or postgres://…)")]
    Url,
}

/// An enrolled shard node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRecord {
    /// Its channel public key (hex): the node's identity.
    pub id: String,
    /// Operator-chosen name.
    pub name: String,
    /// SHA-256 of its TLS certificate (hex), pinned for mutual TLS.
    pub tls_fingerprint: String,
    /// Enrolment time.
    pub enrolled_at: i64,
}

/// A committee of nodes that shares keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitteeRecord {
    /// Id.
    pub id: String,
    /// Signing threshold.
    pub threshold: u16,
    /// Node ids, in committee-index order.
    pub nodes: Vec<String>,
    /// Id of the committee's ECDSA aux info, once generated.
    pub aux_id: Option<String>,
    /// Creation time.
    pub created_at: i64,
}

/// A wallet: one threshold key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalletRecord {
    /// Id.
    pub id: String,
    /// Scheme.
    pub scheme: Scheme,
    /// Committee holding the shares.
    pub committee_id: String,
    /// Key id (hex).
    pub key_id: String,
    /// Root public key as signatures verify against it (hex).
    pub public_key: String,
    /// Root key for watch-only derivation (hex; BIP-340: the internal key).
    pub root_key: String,
    /// Chain code for HD derivation (hex).
    pub chain_code: Option<String>,
    /// Born for blind (bare-digest) signing.
    pub blind: bool,
    /// Share generation the attestations are for.
    pub epoch: u32,
    /// The members' attestations of [`WalletRecord::statement`].
    pub attestations: Vec<Attestation>,
    /// Creation time.
    pub created_at: i64,
}

impl WalletRecord {
    /// What the nodes attested, as this row says it (a row edited in the
    /// database no longer matches their signatures).
    pub fn statement(&self) -> WalletStatement {
        WalletStatement {
            wallet: self.id.clone(),
            scheme: self.scheme,
            blind: self.blind,
            committee: self.committee_id.clone(),
            epoch: self.epoch,
            key_id: self.key_id.clone(),
            public_key: self.public_key.clone(),
            root_key: self.root_key.clone(),
            chain_code: self.chain_code.clone().unwrap_or_default(),
        }
    }
}

/// What a protocol session does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    /// Committee aux info (ECDSA).
    AuxInfo,
    /// Key generation.
    Keygen,
    /// Signing.
    Sign,
}

/// Where a session or request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Running.
    Running,
    /// Finished successfully.
    Done,
    /// Failed (see the error).
    Failed,
}

/// One run of a threshold protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// 32-byte session id (hex).
    pub id: String,
    /// Protocol.
    pub kind: SessionKind,
    /// Committee.
    pub committee_id: String,
    /// Wallet, for keygen results and signing.
    pub wallet_id: Option<String>,
    /// Participating committee indices.
    pub parties: Vec<PartyIndex>,
    /// State.
    pub state: State,
    /// Failure reason.
    pub error: Option<String>,
    /// Creation time.
    pub created_at: i64,
    /// Last change.
    pub updated_at: i64,
}

/// The server's persistent state.
#[async_trait]
pub trait Store: Send + Sync {
    /// Enrols a node; `Conflict` if its id or name exists.
    async fn insert_node(&self, node: &NodeRecord) -> Result<(), StoreError>;
    /// All enrolled nodes, by name.
    async fn nodes(&self) -> Result<Vec<NodeRecord>, StoreError>;
    /// Creates a committee; `Conflict` if the id exists.
    async fn insert_committee(&self, committee: &CommitteeRecord) -> Result<(), StoreError>;
    /// One committee.
    async fn committee(&self, id: &str) -> Result<Option<CommitteeRecord>, StoreError>;
    /// Records the committee's aux id, once; `Conflict` if already set.
    async fn set_committee_aux(&self, id: &str, aux_id: &str) -> Result<(), StoreError>;
    /// Creates a wallet; `Conflict` if the id or key id exists.
    async fn insert_wallet(&self, wallet: &WalletRecord) -> Result<(), StoreError>;
    /// One wallet.
    async fn wallet(&self, id: &str) -> Result<Option<WalletRecord>, StoreError>;
    /// All wallets, oldest first.
    async fn wallets(&self) -> Result<Vec<WalletRecord>, StoreError>;
    /// Records a new running session; `Conflict` if the id exists.
    async fn insert_session(&self, session: &SessionRecord) -> Result<(), StoreError>;
    /// One session.
    async fn session(&self, id: &str) -> Result<Option<SessionRecord>, StoreError>;
    /// Moves a running session to `Done` or `Failed`; `Conflict` if not running.
    async fn finish_session(
        &self,
        id: &str,
        state: State,
        error: Option<&str>,
        now: i64,
    ) -> Result<(), StoreError>;
    /// Appends audit entry `seq`; `Conflict` if it exists (never rewritten).
    async fn audit_append(&self, seq: u64, body: &[u8]) -> Result<(), StoreError>;
    /// Audit entries from `from` on, at most `limit`, in order.
    async fn audit_entries(&self, from: u64, limit: u64) -> Result<Vec<Vec<u8>>, StoreError>;
    /// Writes a document once; `Conflict` if `(kind, id)` exists.
    async fn doc_insert(
        &self,
        kind: &str,
        id: &str,
        body: &[u8],
        now: i64,
    ) -> Result<(), StoreError>;
    /// Replaces a document only if it still holds `old` (compare and swap);
    /// `Conflict` otherwise.
    async fn doc_replace(
        &self,
        kind: &str,
        id: &str,
        old: &[u8],
        body: &[u8],
        now: i64,
    ) -> Result<(), StoreError>;
    /// One document.
    async fn doc_get(&self, kind: &str, id: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// All documents of a kind as `(id, body)`, by id.
    async fn doc_list(&self, kind: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError>;
    /// Deletes the documents of a kind last written before `before` (only
    /// for kinds that expire, such as remembered API nonces).
    async fn doc_prune(&self, kind: &str, before: i64) -> Result<(), StoreError>;
}

/// Opens the store a URL names (`sqlite:PATH`, `sqlite::memory:`,
/// `postgres://…`) and applies pending migrations.
pub async fn connect(url: &str) -> Result<Box<dyn Store>, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Box::new(SqliteStore::connect(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Box::new(PostgresStore::connect(url).await?))
    } else {
        Err(StoreError::Url)
    }
}

impl SessionKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SessionKind::AuxInfo => "aux-info",
            SessionKind::Keygen => "keygen",
            SessionKind::Sign => "sign",
        }
    }

    pub(crate) fn parse(s: &str) -> Result<Self, StoreError> {
        [SessionKind::AuxInfo, SessionKind::Keygen, SessionKind::Sign]
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| StoreError::Corrupt {
                what: "session kind",
                detail: s.to_owned(),
            })
    }
}

impl State {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            State::Running => "running",
            State::Done => "done",
            State::Failed => "failed",
        }
    }

    pub(crate) fn parse(s: &str) -> Result<Self, StoreError> {
        [State::Running, State::Done, State::Failed]
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| StoreError::Corrupt {
                what: "state",
                detail: s.to_owned(),
            })
    }
}
