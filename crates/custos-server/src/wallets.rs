//! Wallets: created by DKG across all members, on an admin's signed order
//! that every node checks under its own governance head (aux info first
//! for the committee's first ECDSA key). Each node records the wallet and
//! attests it with its witness key; the server keeps the record with the
//! attestations, which readers verify against the committee's keys in the
//! governance chain — the server's row alone convinces nobody.

use std::time::Duration;

use custos_net::clock::unix_now as now;
use custos_protocol::attest::{Attestation, SignedOrder, WalletStatement};
use custos_protocol::control::{JobKind, Outcome};
use custos_tss::{PartyIndex, Scheme};

use crate::error::FlowError;
use crate::hub::{Hub, HubError};
use crate::signing::agreed;
use crate::store::{SessionKind, WalletRecord};

/// Creates the wallet `signed` orders: aux info first if it is the
/// committee's first ECDSA key, then DKG across all members. `actor` is
/// the admin whose call carried the order (the same admin must sign both).
pub async fn create_wallet(
    hub: &Hub,
    signed: SignedOrder,
    actor: &str,
) -> Result<WalletRecord, FlowError> {
    let config = hub.config();
    if signed.admin != actor {
        return Err(FlowError::Forbidden(format!(
            "the order is signed by {:?}, the call by {actor:?}",
            signed.admin
        )));
    }
    let gov = crate::requests::governance_of(hub).await?;
    // The nodes check the same; checking here first spares a round (a test
    // build playing a lying server skips it and forges the order).
    #[cfg(feature = "fault-injection")]
    let signed = {
        let mut signed = signed;
        crate::fault::edit_order(&mut signed);
        signed
    };
    if !crate::faults::fault_active() {
        signed
            .check(Some(&gov), &config.committee_id, now())
            .map_err(|e| FlowError::Invalid(e.to_string()))?;
    }
    let committee = gov
        .committee(&config.committee_id)
        .cloned()
        .ok_or_else(|| FlowError::Invalid("no committee in the governance chain".into()))?;
    let order = &signed.order;
    if hub.store().wallet(&order.wallet).await?.is_some() {
        return Err(FlowError::Invalid(format!(
            "wallet {} exists already",
            order.wallet
        )));
    }
    let all: Vec<PartyIndex> = (0..config.members.len() as u16).collect();
    let timeout = Duration::from_millis(config.session_timeout_ms);
    hub.audit(
        actor,
        "dkg",
        serde_json::json!({
            "wallet": order.wallet, "scheme": order.scheme.to_string(), "blind": order.blind,
            "committee": order.committee, "head": hex::encode(order.head), "time": order.time,
            "order_signature": hex::encode(&signed.signature),
        }),
    )
    .await
    .map_err(|e| FlowError::Audit(e.to_string()))?;
    if order.scheme == Scheme::EcdsaSecp256k1 {
        let stored = hub.store().committee(&config.committee_id).await?;
        if stored.and_then(|c| c.aux_id).is_none() {
            let aux_timeout = Duration::from_millis(config.aux_timeout_ms);
            let (_, outcomes) = hub
                .run(
                    JobKind::AuxInfo {
                        order: signed.clone(),
                    },
                    SessionKind::AuxInfo,
                    &all,
                    None,
                    aux_timeout,
                )
                .await?;
            let aux_id = agreed(&outcomes, |o| match o {
                Outcome::AuxInfo { aux_id } => Some(aux_id.clone()),
                _ => None,
            })?;
            hub.store()
                .set_committee_aux(&config.committee_id, &aux_id)
                .await?;
        }
    }
    let (_, outcomes) = hub
        .run(
            JobKind::Keygen {
                order: signed.clone(),
            },
            SessionKind::Keygen,
            &all,
            None,
            timeout,
        )
        .await?;
    let statement = agreed(&outcomes, |o| match o {
        Outcome::Keygen { statement, .. } => Some(statement.clone()),
        _ => None,
    })?;
    let attestations: Vec<Attestation> = outcomes
        .values()
        .filter_map(|o| match o {
            Outcome::Keygen { attestation, .. } => Some(attestation.clone()),
            _ => None,
        })
        .collect();
    let ordered = statement.wallet == order.wallet
        && statement.scheme == order.scheme
        && statement.blind == order.blind
        && statement.committee == order.committee;
    if !ordered {
        return Err(HubError::Disagree("the nodes recorded another wallet than ordered").into());
    }
    statement
        .verify(&attestations, &committee)
        .map_err(|e| FlowError::Invalid(format!("the nodes' attestations: {e}")))?;
    let wallet = record(&statement, attestations, now());
    hub.audit(
        "server",
        "wallet-created",
        serde_json::json!({
            "wallet": wallet.id, "scheme": statement.scheme.to_string(), "blind": statement.blind,
            "committee": statement.committee, "epoch": statement.epoch, "key_id": statement.key_id,
            "public_key": statement.public_key, "root_key": statement.root_key,
            "chain_code": statement.chain_code,
            "attestations": wallet.attestations.iter().map(|a| serde_json::json!({
                "witness_key": hex::encode(a.witness_key), "signature": hex::encode(&a.signature),
            })).collect::<Vec<_>>(),
        }),
    )
    .await
    .map_err(|e| FlowError::Audit(e.to_string()))?;
    hub.store().insert_wallet(&wallet).await?;
    Ok(wallet)
}

/// The server's row for an attested statement.
fn record(s: &WalletStatement, attestations: Vec<Attestation>, now: i64) -> WalletRecord {
    WalletRecord {
        id: s.wallet.clone(),
        scheme: s.scheme,
        committee_id: s.committee.clone(),
        key_id: s.key_id.clone(),
        public_key: s.public_key.clone(),
        root_key: s.root_key.clone(),
        chain_code: Some(s.chain_code.clone()),
        blind: s.blind,
        epoch: s.epoch,
        attestations,
        created_at: now,
    }
}
