//! Why a job failed at this node (a leaf: the checked job and the runner
//! both name these).

use std::time::Duration;

use custos_tss::PartyIndex;
use custos_wire::WireError;

/// Why a job failed at this node.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The committee the server describes is not the one this node's
    /// operator pinned.
    #[error("committee does not match the pinned roster: {0}")]
    Roster(&'static str),
    /// The job and the material disagree (wrong scheme, key, …).
    #[error("job input: {0}")]
    Input(&'static str),
    /// The protocol failed.
    #[error(transparent)]
    Protocol(#[from] custos_tss::Error),
    /// A sealed frame was refused.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// No message arrived before the deadline.
    #[error("timed out after {after:?} waiting for parties {waiting_for:?}")]
    Timeout {
        /// The deadline per message.
        after: Duration,
        /// Peers that sent fewer messages than the most active peer.
        waiting_for: Vec<PartyIndex>,
    },
    /// The intent or PSBT was refused.
    #[error(transparent)]
    Chain(#[from] custos_chains::ChainError),
    /// What the server says will be signed is not what this node built
    /// from the intent: nothing is signed.
    #[error("the server's payload {index} differs from the one this node built from the request; refusing to sign")]
    PayloadMismatch {
        /// First differing payload (or the count, if the counts differ).
        index: usize,
    },
    /// The server connection closed or the job was aborted (the reason
    /// is the server's or the connection task's text).
    #[error("aborted: {0}")]
    Aborted(String),
    /// The signing request does not decode or plan.
    #[error("refused: {0}")]
    Request(custos_protocol::authz::RequestError),
    /// An id is not 32 bytes of hex.
    #[error("bad id")]
    BadId,
}
