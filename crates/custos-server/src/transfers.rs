//! Addresses and PSBTs, and the helpers transfers share (see `approvals`
//! for the transfer flow): the server builds the same transaction as the
//! nodes (to know what to assemble and to tell the nodes what it expects),
//! sends the intent, and assembles the signatures the nodes return. It never asks
//! a node to sign a hash: each node builds the payloads from the intent or
//! PSBT itself and refuses if they differ from the server's.

use std::collections::BTreeMap;
use std::time::Duration;

use custos_chains::address::AddressKind;
use custos_chains::intent::{BitcoinNetwork, ChainIntent, TransferIntent, INTENT_VERSION};
use custos_chains::{AccountKey, ChainError};
use custos_protocol::control::{JobKind, Outcome};
use custos_tss::{DerivationPath, PartyIndex};
use rand_core::{OsRng, RngCore};

use crate::error::FlowError;
use crate::hub::{Hub, HubError};
use crate::signing::{agreed, choose_signers, public_key_at, AuthContext};
use crate::store::{SessionKind, WalletRecord};

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

/// The wallet's address at `m/0/account`.
pub async fn address(
    hub: &Hub,
    wallet_id: &str,
    account: u32,
    kind: AddressKind,
) -> Result<String, FlowError> {
    let w = wallet(hub, wallet_id).await?;
    Ok(custos_chains::address::address(
        &account_key(&w, account)?,
        kind,
    )?)
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

fn chain_disagree(_: &ChainError) -> &'static str {
    "the nodes' signatures do not complete the transaction"
}

/// Signs the wallet's `planned` inputs of `psbt` (found and checked when the
/// request was); returns the updated PSBT and, when complete, the
/// transaction.
#[allow(clippy::too_many_arguments)]
pub async fn sign_psbt(
    hub: &Hub,
    w: &WalletRecord,
    network: BitcoinNetwork,
    network_name: &str,
    mut psbt: custos_chains::psbt::Psbt,
    planned: &[custos_chains::psbt::PlannedInput],
    signers: Option<Vec<PartyIndex>>,
    ctx: &AuthContext,
) -> Result<custos_chains::psbt::Signed, FlowError> {
    let key_at = |a: u32| account_key(w, a).map_err(|_| ChainError::Key("account key"));
    let signers = choose_signers(hub, signers).await?;
    let kind = JobKind::SignPsbt {
        key_id: w.key_id.clone(),
        signers: signers.clone(),
        network: network_name.to_owned(),
        psbt: psbt.serialize(),
        payloads: planned
            .iter()
            .map(|p| p.payload.message().to_vec())
            .collect(),
        request_id: ctx.request_id,
        wallet: ctx.wallet.clone(),
        auth: ctx.auth.clone(),
    };
    let timeout = Duration::from_millis(hub.config().session_timeout_ms);
    let (_, outcomes) = hub
        .run(kind, SessionKind::Sign, &signers, Some(&w.id), timeout)
        .await?;
    let sigs = signatures(&outcomes)?;
    custos_chains::psbt::apply(&mut psbt, network, planned, &sigs, key_at)
        .map_err(|e| FlowError::Hub(HubError::Disagree(chain_disagree(&e))))?;
    Ok(custos_chains::psbt::finish(&psbt)?)
}
