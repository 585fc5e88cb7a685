//! What the vault holds for a key, read by the steps that need it: the
//! committee's aux info, a key's share, and what the key was born for (its
//! wallet's claim and purpose, sealed beside the share at keygen).

use custos_tss::ecdsa::AuxInfo;
use custos_tss::KeyShare;

use super::error::JobFailure;
use super::node::NODE_WIDE;
use crate::checked::parse_id;
use crate::purpose::KeyPurpose;
use crate::store::NodeVault;
use crate::vault::EntryKind;

pub(super) async fn load_aux(v: &NodeVault) -> Result<Option<AuxInfo>, JobFailure> {
    match v.get(EntryKind::AuxInfo, NODE_WIDE, 0).await? {
        Some(bytes) => Ok(Some(AuxInfo::from_bytes(&bytes)?)),
        None => Ok(None),
    }
}

pub(super) async fn load_share(
    v: &NodeVault,
    key_id: &str,
    aux: Option<&AuxInfo>,
) -> Result<KeyShare, JobFailure> {
    let bytes = v
        .get(EntryKind::KeyShare, parse_id(key_id)?, 0)
        .await?
        .ok_or(JobFailure::NoShare)?;
    Ok(KeyShare::from_bytes(&bytes, aux)?)
}

/// The vault id of a wallet's claim: one key per wallet id.
pub(super) fn wallet_entry_id(wallet: &str) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    Sha256::new()
        .chain_update(b"custos/wallet/v1")
        .chain_update(wallet.as_bytes())
        .finalize()
        .into()
}

/// Whether this node made a key for wallet `wallet` already.
pub(super) async fn wallet_taken(v: &NodeVault, wallet: &str) -> Result<bool, JobFailure> {
    Ok(v.get(EntryKind::Wallet, wallet_entry_id(wallet), 0)
        .await?
        .is_some())
}

/// What the key `key_id` was born for, as this node sealed it at keygen.
/// A key without a record is refused (fail closed: deleting the entry does
/// not turn a blind key into an ordinary one).
pub(super) async fn purpose_of(v: &NodeVault, key_id: &str) -> Result<KeyPurpose, JobFailure> {
    let bytes = v
        .get(EntryKind::KeyPurpose, parse_id(key_id)?, 0)
        .await?
        .ok_or(JobFailure::NoPurpose)?;
    let text = std::str::from_utf8(&bytes).map_err(|_| JobFailure::NoPurpose)?;
    match text.split_once(':') {
        Some(("wallet", w)) => Ok(KeyPurpose::Wallet { wallet: w.into() }),
        Some(("blind", w)) => Ok(KeyPurpose::Blind { wallet: w.into() }),
        _ => Err(JobFailure::NoPurpose),
    }
}

/// The sealed form of `purpose`.
pub(super) fn purpose_bytes(purpose: &KeyPurpose) -> Vec<u8> {
    match purpose {
        KeyPurpose::Wallet { wallet } => format!("wallet:{wallet}").into_bytes(),
        KeyPurpose::Blind { wallet } => format!("blind:{wallet}").into_bytes(),
    }
}
