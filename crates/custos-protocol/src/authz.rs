//! What the server forwards so that each node can decide for itself whether
//! a signing was authorised: the initiator's and approvers' signatures, the
//! governance head they acted under, and the audit-log records of dispatched
//! signings that make up every node's velocity ledger.

use custos_audit::checkpoint::Checkpoint;
use custos_audit::entry::SignedEntry;
use custos_governance::{Genesis, SignedProposal};
use custos_policy::Kind;

pub use crate::request::{
    describe, plan, BlindRequest, Built, MessageRequest, Planned, PsbtRequest, RequestError,
    SigningRequest, StatedOutpoint,
};
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

/// What one request spends of one asset, as the audit log records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetAmount {
    /// `native` or the token address (canonical).
    pub asset: String,
    /// Base units (decimal): amount plus, in the native bucket, the
    /// maximum fee.
    pub amount: String,
}

/// A wallet output a Bitcoin request spends, with the value it states.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutpointValue {
    /// Txid (hex, display byte order).
    pub txid: String,
    /// Output index.
    pub vout: u32,
    /// Stated value (sats).
    pub value: u64,
    /// Proven by the previous transaction in the request.
    pub proven: bool,
}

/// A signing as the audit log records it before any node signs: what every
/// node adds to its velocity ledger when it witnesses the entry, and what
/// approvers are shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningRecord {
    /// Request id (hex).
    pub request_id: String,
    /// Request hash (hex): what the initiator signed.
    pub request: String,
    /// Source wallet.
    pub wallet: String,
    /// The wallet's key id (hex).
    pub key_id: String,
    /// Initiator.
    pub initiator: String,
    /// Request kind.
    pub kind: Kind,
    /// Chain (none: blind digest).
    pub chain: Option<String>,
    /// Every destination, canonical.
    pub destinations: Vec<String>,
    /// Per-asset buckets.
    pub spends: Vec<AssetAmount>,
    /// Messages and blind digests: the derivation path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Blind digests: the digest (hex), for approvers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Bitcoin: every wallet outpoint spent, with its stated value (every
    /// node compares them with all it witnessed, whichever nodes signed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outpoints: Vec<OutpointValue>,
}

impl SigningRecord {
    /// The record of `request`, started by `initiator`, as [`plan`] planned
    /// it: the one thing policy matches on and velocity adds up.
    pub fn new(
        request: &SigningRequest,
        initiator: &str,
        planned: &Planned,
    ) -> Result<Self, RequestError> {
        let (path, digest) = match request {
            SigningRequest::Message(m) => (Some(m.path.clone()), None),
            SigningRequest::Blind(b) => (Some(b.path.clone()), Some(hex::encode(b.digest))),
            SigningRequest::Transfer(_) | SigningRequest::Psbt(_) => (None, None),
        };
        Ok(Self {
            request_id: hex::encode(request.request_id()),
            request: hex::encode(request.hash()?),
            wallet: request.wallet().to_owned(),
            key_id: request.key_id().to_owned(),
            initiator: initiator.to_owned(),
            kind: request.kind(),
            chain: planned.chain.map(str::to_owned),
            destinations: planned.outflow.destinations.clone(),
            spends: planned
                .outflow
                .spends
                .iter()
                .map(|(asset, amount)| AssetAmount {
                    asset: asset.clone(),
                    amount: amount.to_string(),
                })
                .collect(),
            path,
            digest,
            outpoints: planned
                .outpoints
                .iter()
                .map(|o| OutpointValue {
                    txid: hex::encode(o.txid),
                    vout: o.vout,
                    value: o.value,
                    proven: o.proven,
                })
                .collect(),
        })
    }

    /// The buckets as numbers (`None`: an amount that is not one).
    pub fn spends(&self) -> Option<Vec<custos_policy::Spend>> {
        self.spends
            .iter()
            .map(|s| {
                Some(custos_policy::Spend {
                    asset: s.asset.clone(),
                    amount: s.amount.parse().ok()?,
                })
            })
            .collect()
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
