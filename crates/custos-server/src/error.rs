//! Why a wallet, signing or request operation failed. The API maps each
//! variant to a status (`api::error`); the detail of internal failures goes
//! to the server log only.

use custos_chains::ChainError;

use crate::hub::HubError;
use crate::store::StoreError;

/// Why a wallet or signing request failed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// Bad input from the client.
    #[error("{0}")]
    Invalid(String),
    /// No such wallet.
    #[error("wallet {0} not found")]
    NoWallet(String),
    /// The nodes could not run or finish the job.
    #[error(transparent)]
    Hub(#[from] HubError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The acting user may not do this (signature, role, segregation of
    /// duties).
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// No such record.
    #[error("{0} not found")]
    NotFound(String),
    /// A blind digest for an ordinary wallet: only a wallet created for
    /// blind signing signs a digest it is handed.
    #[error("blind signing refused: wallet {0} is not a blind wallet (create one with an admin quorum: governance --allow-blind-wallet)")]
    NotBlind(String),
    /// A transfer, PSBT, message or address for a blind wallet.
    #[error(
        "wallet {0} is a blind wallet: it signs blind digests only and has no deposit addresses"
    )]
    BlindOnly(String),
    /// The audit log could not be written; nothing was done (fail closed).
    #[error("audit log unavailable, refusing to act: {0}")]
    Audit(String),
}

impl From<ChainError> for FlowError {
    fn from(e: ChainError) -> Self {
        FlowError::Invalid(e.to_string())
    }
}
