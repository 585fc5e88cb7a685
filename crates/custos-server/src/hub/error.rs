//! Why a job across the nodes failed.

use std::time::Duration;

use crate::store::StoreError;

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
    Store(#[from] StoreError),
    /// The audit log could not be written: nothing was done.
    #[error("audit log: {0}")]
    Audit(String),
}
