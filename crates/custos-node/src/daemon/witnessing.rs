//! The daemon's side of audit witnessing: the co-signing key, the stored
//! witness state, and storing each checkpoint's new state and ledger rows
//! before its co-signature leaves the node (the checks are in
//! [`crate::witness`]).

use custos_audit::checkpoint::CoSignature;
use custos_protocol::attest::Freshness;
use custos_protocol::authz::WitnessRequest;

use super::error::{NodeError, SetupError};
use super::node::Node;
use crate::store::{NodeVault, StoreError};
use crate::witness::{WitnessError, WitnessState};
use custos_net::clock::unix_now as now;

/// Why a checkpoint was not co-signed; sent back to the server.
#[derive(Debug, thiserror::Error)]
pub(super) enum CheckpointRefusal {
    /// No genesis, so no audit key to check the server against.
    #[error("this node holds no governance chain yet")]
    NoGovernance,
    /// The genesis names an audit key that is not an Ed25519 key.
    #[error("the genesis audit key is not an Ed25519 key")]
    AuditKey,
    /// The checkpoint or its entries were refused.
    #[error(transparent)]
    Witness(#[from] WitnessError),
    /// Encoding the new state failed.
    #[error(transparent)]
    Encode(#[from] postcard::Error),
    /// Encoding a ledger row failed.
    #[error(transparent)]
    Ledger(#[from] serde_json::Error),
    /// The store refused.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The node's Ed25519 checkpoint co-signing key, derived from its channel
/// secret under a domain tag (one secret to protect, two keys).
pub(super) fn witness_key(secret: &[u8]) -> ed25519_dalek::SigningKey {
    use sha2::Digest;
    let seed: zeroize::Zeroizing<[u8; 32]> = zeroize::Zeroizing::new(
        sha2::Sha256::new()
            .chain_update(b"custos/node/witness-key/v1")
            .chain_update(secret)
            .finalize()
            .into(),
    );
    ed25519_dalek::SigningKey::from_bytes(&seed)
}

/// The stored witness state, or a fresh one; refuses a malformed store.
pub(super) async fn load_state(vault: &NodeVault) -> Result<WitnessState, NodeError> {
    match vault.witness_state().await? {
        Some(bytes) => Ok(postcard::from_bytes(&bytes)
            .ok()
            .filter(|w: &WitnessState| w.frontier.is_well_formed())
            .ok_or(SetupError::WitnessState)?),
        None => Ok(WitnessState::default()),
    }
}

/// Checks and co-signs a checkpoint under this node's governance head; the
/// new frontier, the co-signed root and the ledger rows are stored before
/// the co-signature leaves the node.
pub(super) async fn checkpoint(
    node: &Node,
    req: &WitnessRequest,
) -> Result<CoSignature, CheckpointRefusal> {
    let (audit_key, head) = {
        let held = node.gov.lock().await;
        let gov = held.gov.as_ref().ok_or(CheckpointRefusal::NoGovernance)?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(&gov.genesis_audit_key())
            .map_err(|_| CheckpointRefusal::AuditKey)?;
        (key, gov.head())
    };
    let mut state = node.witness.lock().await;
    let done = crate::witness::witness(&state, req, &audit_key, &node.witness_key, head, now())?;
    let cp = req.checkpoint;
    let body = postcard::to_stdvec(&done.state)?;
    let rows = done
        .ledger
        .iter()
        .map(|r| {
            serde_json::to_string(&r.record).map(|json| (r.seq, r.record.request_id.clone(), json))
        })
        .collect::<Result<Vec<_>, _>>()?;
    node.vault
        .put_witness(&body, (cp.size, cp.root), &rows, now())
        .await?;
    *state = done.state;
    Ok(done.signature)
}

/// The answer to a verifier's nonce: the newest checkpoint this node
/// co-signed and its governance head, under its witness key.
pub(super) async fn freshness(node: &Node, nonce: [u8; 32]) -> Freshness {
    let (_, head) = super::governance::head(node).await;
    let last = node.witness.lock().await.last;
    let (size, root) = last.map_or((0, [0; 32]), |c| (c.size, c.root));
    Freshness::answer(nonce, size, root, head, &node.witness_key)
}
