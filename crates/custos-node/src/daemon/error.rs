//! Why the daemon stopped or refused to start, and why one job failed at
//! this node. A job's error text goes to the server as its outcome, so
//! each message names what failed and never a secret.

use custos_governance::GovError;
use custos_protocol::authz::RequestError;
use custos_tss::{PartyIndex, ShareError};

use crate::job::JobError;
use crate::recheck::Refusal;
use crate::store::StoreError;

/// Why the node stopped or refused.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The store or vault refused.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Files or sockets.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// TLS or framing.
    #[error(transparent)]
    Net(#[from] custos_net::NetError),
    /// Something in the node's own files is inconsistent.
    #[error("node setup: {0}")]
    Setup(#[from] SetupError),
    /// The server name for TLS is not valid.
    #[error("node setup: {0}")]
    ServerName(#[from] tokio_rustls::rustls::pki_types::InvalidDnsNameError),
    /// The connection's writer task ended before the hello went out.
    #[error("node setup: writer stopped")]
    WriterStopped,
}

/// What is inconsistent in the node's own files.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// `custos node pin` has not run yet.
    #[error("no committee pinned yet (custos node pin)")]
    NotPinned,
    /// The vault holds no channel key.
    #[error("vault has no node key")]
    NoNodeKey,
    /// The stored channel key does not decode.
    #[error("node key does not decode")]
    NodeKeyDecode,
    /// The vault's channel key is not the one `node.json` enrolled.
    #[error("node key does not match node.json")]
    NodeKeyMismatch,
    /// The vault holds no TLS key.
    #[error("vault has no TLS key")]
    NoTlsKey,
    /// The stored witness state does not decode or is malformed.
    #[error("stored witness state does not decode")]
    WitnessState,
    /// Imported safe primes do not decode.
    #[error("primes: {0}")]
    Primes(ShareError),
    /// The stored governance chain does not replay.
    #[error("stored governance chain: {0}")]
    Governance(#[from] StoredChainError),
}

/// Why the stored governance chain does not replay.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum StoredChainError {
    /// The genesis does not decode.
    #[error("genesis")]
    GenesisDecode,
    /// The genesis does not hash.
    #[error("{0}")]
    GenesisHash(GovError),
    /// The stored genesis is not the one the operator pinned.
    #[error("genesis is not the pinned one")]
    NotPinned,
    /// The stored genesis does not record this node as it is.
    #[error("the stored genesis does not record this node as it is: {0}")]
    NotUs(&'static str),
    /// A proposal does not decode.
    #[error("proposal")]
    ProposalDecode,
    /// A proposal does not apply.
    #[error("height {height}: {source}")]
    Replay {
        /// Height of the proposal.
        height: u64,
        /// Why.
        source: GovError,
    },
}

/// Why one step of a job's pipeline failed at this node.
#[derive(Debug, thiserror::Error)]
pub(super) enum JobFailure {
    /// Checking, or running the protocol, failed.
    #[error(transparent)]
    Job(#[from] JobError),
    /// The node's own authorization refused the request.
    #[error("refused: {0}")]
    Refused(#[from] Refusal),
    /// A signing kind reached its claim without a signing decision.
    #[error("not a signing job")]
    NotSigning,
    /// The request does not hash.
    #[error(transparent)]
    Request(#[from] RequestError),
    /// The vault or store refused (also: a request signed before, or an
    /// outpoint stated with another value).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored ledger row does not decode.
    #[error(transparent)]
    Ledger(#[from] serde_json::Error),
    /// Stored key material does not decode or encode.
    #[error(transparent)]
    Tss(#[from] custos_tss::Error),
    /// Stored safe primes do not decode.
    #[error(transparent)]
    Primes(#[from] ShareError),
    /// Aux info is made once per committee.
    #[error("this node already holds aux info for its committee")]
    AuxExists,
    /// The background generator did not finish in time.
    #[error("safe primes are not ready")]
    PrimesNotReady,
    /// ECDSA keygen needs the committee's aux info.
    #[error("no aux info for ECDSA keygen")]
    NoAux,
    /// The vault has no share of the job's key.
    #[error("no share for this key")]
    NoShare,
    /// The key has no (or an unreadable) record of what it was born for.
    #[error("this node has no record of what this key was born for; refusing")]
    NoPurpose,
    /// The job's journal entry could not be written, so it did not run.
    #[error("the node cannot write its journal")]
    Journal(#[source] StoreError),
    /// The protocol thread panicked.
    #[error("job panicked: {0}")]
    Panicked(#[from] tokio::task::JoinError),
}

impl JobFailure {
    /// Parties this failure blames: only the protocol names culprits.
    pub(super) fn culprits(&self) -> Vec<PartyIndex> {
        match self {
            JobFailure::Job(e) => e.culprits(),
            _ => vec![],
        }
    }
}
