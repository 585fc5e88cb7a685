//! Which nodes sign, and the public keys the server derives from a
//! wallet's public data to plan and verify what they return. The server
//! never holds key material; every signing goes through `requests` (each
//! node re-checks its authorisation and plans it itself).

use std::collections::BTreeMap;

use custos_protocol::control::Outcome;
use custos_tss::{DerivationPath, PartyIndex};

use crate::error::FlowError;
use crate::hub::{Hub, HubError};
use crate::store::WalletRecord;

/// The single value every node must have reported.
pub fn agreed<T: PartialEq + Clone>(
    outcomes: &BTreeMap<PartyIndex, Outcome>,
    pick: impl Fn(&Outcome) -> Option<T>,
) -> Result<T, HubError> {
    let mut values = outcomes.values().map(pick);
    let first = values
        .next()
        .flatten()
        .ok_or(HubError::Disagree("unexpected outcome"))?;
    if values.all(|v| v.as_ref() == Some(&first)) {
        Ok(first)
    } else {
        Err(HubError::Disagree("different results"))
    }
}

/// The wallet's public key at `path`, from its stored public data.
pub fn public_key_at(w: &WalletRecord, path: &DerivationPath) -> Result<Vec<u8>, FlowError> {
    let root =
        hex::decode(&w.root_key).map_err(|_| FlowError::Invalid("stored root key".into()))?;
    let chain_code: [u8; 32] = w
        .chain_code
        .as_deref()
        .and_then(|c| hex::decode(c).ok())
        .and_then(|c| c.try_into().ok())
        .ok_or_else(|| FlowError::Invalid("stored chain code".into()))?;
    custos_tss::hd::public_key_at(w.scheme, &root, &chain_code, path)
        .map_err(|e| FlowError::Invalid(e.to_string()))
}

/// `explicit` checked, or the first `t` connected members.
pub async fn choose_signers(
    hub: &Hub,
    explicit: Option<Vec<PartyIndex>>,
) -> Result<Vec<PartyIndex>, FlowError> {
    if let Some(s) = explicit {
        return check_signers(hub, &s);
    }
    let t = usize::from(hub.config().threshold);
    let up = hub.connected().await;
    if up.len() < t {
        return Err(HubError::Unavailable(format!(
            "only {} of the {t} required nodes are connected",
            up.len()
        ))
        .into());
    }
    Ok(up.into_iter().take(t).collect())
}

/// Checks an explicit signer set: exactly `t` distinct members.
fn check_signers(hub: &Hub, signers: &[PartyIndex]) -> Result<Vec<PartyIndex>, FlowError> {
    let config = hub.config();
    let t = usize::from(config.threshold);
    let mut sorted = signers.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    if sorted.len() != t
        || signers.len() != t
        || sorted
            .iter()
            .any(|&s| usize::from(s) >= config.members.len())
    {
        return Err(FlowError::Invalid(format!(
            "exactly {t} distinct signers from 0..{} are required",
            config.members.len()
        )));
    }
    Ok(sorted)
}
