//! The daemon's side of audit witnessing: the co-signing key, the stored
//! witness state, and storing each checkpoint's new state and ledger rows
//! before its co-signature leaves the node (the checks are in
//! [`crate::witness`]).

use custos_audit::checkpoint::CoSignature;
use custos_protocol::attest::Freshness;
use std::collections::HashMap;

use custos_protocol::attest::WalletStatement;
use custos_protocol::authz::{SigningRecord, WitnessRequest, SIGN_ACTION};
use custos_protocol::sign_entry::{SignEntry, SignEntryError};

use super::error::{NodeError, SetupError};
use super::keys::wallet_entry_id;
use super::node::Node;
use crate::store::{NodeVault, StoreError};
use crate::vault::EntryKind;
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
    let mut state = node.witness.lock().await;
    let held_from = state.frontier.size();
    let signings: Vec<SignEntry> = req
        .entries
        .iter()
        .filter(|e| e.entry.seq >= held_from && e.entry.action == SIGN_ACTION)
        .filter_map(|e| SignEntry::decode(&e.entry.detail).ok())
        .collect();
    // This node's own records of the wallets they name (the server's
    // database says nothing here).
    let mut wallets = HashMap::new();
    for s in &signings {
        if let Some(bytes) = node
            .vault
            .get(EntryKind::Wallet, wallet_entry_id(&s.record.wallet), 0)
            .await?
        {
            if let Ok(w) = postcard::from_bytes::<WalletStatement>(&bytes) {
                wallets.insert(s.record.wallet.clone(), w);
            }
        }
    }
    let (audit_key, head, states) = {
        let held = node.gov.lock().await;
        let gov = held.gov.as_ref().ok_or(CheckpointRefusal::NoGovernance)?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(&gov.genesis_audit_key())
            .map_err(|_| CheckpointRefusal::AuditKey)?;
        let mut states = HashMap::new();
        for h in signings.iter().filter_map(|s| s.head().ok()) {
            if let std::collections::hash_map::Entry::Vacant(slot) = states.entry(h) {
                if let Some(g) = super::governance::at_head(&held, &h) {
                    slot.insert(g);
                }
            }
        }
        (key, gov.head(), states)
    };
    let check = |detail: &str| -> Result<SigningRecord, SignEntryError> {
        let entry = SignEntry::decode(detail)?;
        let gov = states
            .get(&entry.head()?)
            .ok_or_else(|| SignEntryError::Head(entry.head.clone()))?;
        let request = entry.authentic(gov)?;
        let wallet = wallets
            .get(request.wallet())
            .ok_or_else(|| SignEntryError::Wallet {
                wallet: request.wallet().to_owned(),
                key_id: request.key_id().to_owned(),
            })?;
        entry.recompute(&request, wallet)
    };
    let done = crate::witness::witness(
        &state,
        req,
        &audit_key,
        &node.witness_key,
        head,
        now(),
        &check,
    )?;
    for (seq, why) in &done.skipped {
        eprintln!("node: audit entry {seq} is not a signing this node accepts: {why}");
    }
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
