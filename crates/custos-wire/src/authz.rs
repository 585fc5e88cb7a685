//! What the server forwards so that each node can decide for itself whether
//! a signing was authorised: the initiator's and approvers' signatures, the
//! governance head they acted under, and the audit-log records of dispatched
//! signings that make up every node's velocity ledger.

use custos_audit::checkpoint::Checkpoint;
use custos_audit::entry::SignedEntry;
use custos_chains::intent::{Asset, ChainIntent, TransferIntent};
use custos_chains::ChainError;
use custos_governance::{Genesis, SignedProposal};
use serde::{Deserialize, Serialize};

/// Audit action of the entry that records a signing being dispatched; its
/// detail is a [`SigningRecord`] in JSON.
pub const SIGN_ACTION: &str = "sign";

/// The signatures behind a signing request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authorization {
    /// Governance head the request was approved under.
    pub head: [u8; 32],
    /// Initiator's user id.
    pub initiator: String,
    /// Initiator's signature over `initiate_message(request hash)`.
    pub initiator_signature: Vec<u8>,
    /// (approver id, signature over `approval_message(request hash, head)`).
    pub approvals: Vec<(String, Vec<u8>)>,
    /// The server's clock (Unix seconds); nodes refuse it if it is far
    /// from their own and decide with their own.
    pub time: i64,
}

/// A signing as the audit log records it before any node signs: what every
/// node adds to its velocity ledger when it witnesses the entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningRecord {
    /// Request id (hex).
    pub request_id: String,
    /// Request hash (hex): what the initiator signed.
    pub request: String,
    /// Source wallet.
    pub wallet: String,
    /// Initiator.
    pub initiator: String,
    /// Chain name.
    pub chain: String,
    /// `native` or the token address.
    pub asset: String,
    /// Recipient.
    pub destination: String,
    /// Amount in base units (decimal).
    pub amount: String,
}

impl SigningRecord {
    /// The record of `intent` started by `initiator`: what policy matches on
    /// and velocity adds up.
    pub fn for_transfer(intent: &TransferIntent, initiator: &str) -> Result<Self, ChainError> {
        let asset = |a: &Asset| match a {
            Asset::Native => "native".to_owned(),
            Asset::Token { address, .. } => address.clone(),
        };
        let (asset, destination, amount) = match &intent.chain {
            ChainIntent::Ethereum(t) => (asset(&t.asset), t.to.clone(), t.amount),
            ChainIntent::Bitcoin(t) => ("native".to_owned(), t.to.clone(), u128::from(t.amount)),
            ChainIntent::Solana(t) => (asset(&t.asset), t.to.clone(), u128::from(t.amount)),
        };
        Ok(Self {
            request_id: hex::encode(intent.request_id),
            request: hex::encode(intent.hash()?),
            wallet: intent.wallet.clone(),
            initiator: initiator.to_owned(),
            chain: intent.chain.name().to_owned(),
            asset,
            destination,
            amount: amount.to_string(),
        })
    }
}

/// Server → node: the governance chain as the server holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GovernanceSync {
    /// Genesis (the node checks its hash against the one its operator
    /// confirmed).
    pub genesis: Genesis,
    /// Proposals from height 1.
    pub chain: Vec<SignedProposal>,
}

/// Server → node: new audit entries and the checkpoint over them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WitnessRequest {
    /// Entries from the size of the node's last co-signed checkpoint on.
    pub entries: Vec<SignedEntry>,
    /// The checkpoint to co-sign.
    pub checkpoint: Checkpoint,
    /// The server's signature over it.
    pub server_signature: Vec<u8>,
}
