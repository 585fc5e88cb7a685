//! Addresses and PSBTs, and the helpers transfers share (see `approvals`
//! for the transfer flow): the server builds the same transaction as the
//! nodes (to know what to assemble and to tell the nodes what it expects),
//! sends the intent, and assembles the signatures the nodes return. It never asks
//! a node to sign a hash: each node builds the payloads from the intent or
//! PSBT itself and refuses if they differ from the server's.

use std::collections::BTreeMap;

use custos_chains::address::AddressKind;
use custos_chains::intent::{ChainIntent, TransferIntent, INTENT_VERSION};
use custos_chains::AccountKey;
use custos_protocol::control::Outcome;
use custos_tss::{DerivationPath, PartyIndex};
use rand_core::{OsRng, RngCore};

use crate::error::FlowError;
use crate::hub::{Hub, HubError};
use crate::signing::{agreed, public_key_at};
use crate::store::WalletRecord;

async fn wallet(hub: &Hub, id: &str) -> Result<WalletRecord, FlowError> {
    hub.store()
        .wallet(id)
        .await?
        .ok_or_else(|| FlowError::NoWallet(id.to_owned()))
}

/// The key of `m/0/account`, from the wallet's public data.
pub fn account_key(w: &WalletRecord, account: u32) -> Result<AccountKey, FlowError> {
    let path: DerivationPath = format!("m/0/{account}")
        .parse()
        .map_err(|e: custos_tss::ParamError| FlowError::Invalid(e.to_string()))?;
    let public_key = public_key_at(w, &path)?;
    Ok(AccountKey {
        scheme: w.scheme,
        public_key,
    })
}

/// The wallet's address at `m/0/account`; a blind wallet has none (its
/// key signs digests it is handed, so funds sent to it are not governed by
/// what a transfer means).
pub async fn address(
    hub: &Hub,
    wallet_id: &str,
    account: u32,
    kind: AddressKind,
) -> Result<String, FlowError> {
    let w = wallet(hub, wallet_id).await?;
    refuse_blind(hub, &w).await?;
    Ok(custos_chains::address::address(
        &account_key(&w, account)?,
        kind,
    )?)
}

/// Refuses a blind wallet for anything but blind signing.
pub async fn refuse_blind(hub: &Hub, w: &WalletRecord) -> Result<(), FlowError> {
    let blind = hub
        .authority()
        .governance()
        .await
        .is_some_and(|g| g.state().blind_wallets.contains(&w.id));
    if blind {
        return Err(FlowError::BlindOnly(w.id.clone()));
    }
    Ok(())
}

/// A new intent from `account` of `wallet_id` with a fresh request id,
/// checked to build; nothing is stored or signed.
pub async fn prepare(
    hub: &Hub,
    wallet_id: &str,
    account: u32,
    chain: ChainIntent,
) -> Result<TransferIntent, FlowError> {
    let w = wallet(hub, wallet_id).await?;
    refuse_blind(hub, &w).await?;
    let mut request_id = [0u8; 16];
    OsRng.fill_bytes(&mut request_id);
    let intent = TransferIntent {
        version: INTENT_VERSION,
        request_id,
        wallet: w.id.clone(),
        key_id: w.key_id.clone(),
        account,
        chain,
    };
    #[cfg(feature = "fault-injection")]
    let intent = {
        let mut intent = intent;
        let other = hub
            .store()
            .wallets()
            .await?
            .into_iter()
            .find(|o| o.id != w.id && o.scheme == w.scheme)
            .map(|o| o.key_id);
        crate::fault::edit_prepared_key(&mut intent, other);
        intent
    };
    intent.validate()?;
    custos_chains::intent::check_token(&intent, &hub.config().tokens)?;
    custos_chains::build(&intent, &account_key(&w, account)?)?;
    Ok(intent)
}

/// The signatures every node reported alike, decoded.
pub fn signatures(outcomes: &BTreeMap<PartyIndex, Outcome>) -> Result<Vec<Vec<u8>>, HubError> {
    agreed(outcomes, |o| match o {
        Outcome::Signatures { signatures } => Some(signatures.clone()),
        _ => None,
    })?
    .iter()
    .map(|s| hex::decode(s).map_err(|_| HubError::Disagree("signature is not hex")))
    .collect()
}
