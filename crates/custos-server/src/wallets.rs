//! Wallets: creation by DKG across all members (aux info first for the
//! committee's first ECDSA key). A blind wallet's key is born blind at every
//! node, and only under an id the governance chain allows.

use std::time::Duration;

use custos_net::clock::unix_now as now;
use custos_protocol::control::{JobKind, Outcome};
use custos_tss::{PartyIndex, Scheme};

use crate::error::FlowError;
use crate::hub::Hub;
use crate::signing::{agreed, random_id};
use crate::store::{SessionKind, WalletRecord};

/// Creates a wallet: aux info first if this is the committee's first ECDSA
/// key, then DKG across all members. `blind`: the id of a blind wallet the
/// governance chain allows (each node checks that itself before its key is
/// made).
pub async fn create_wallet(
    hub: &Hub,
    scheme: Scheme,
    actor: &str,
    blind: Option<String>,
) -> Result<WalletRecord, FlowError> {
    if let Some(id) = &blind {
        let gov = crate::requests::governance_of(hub).await?;
        if !gov.state().blind_wallets.contains(id) {
            return Err(FlowError::Invalid(format!(
                "governance allows no blind wallet {id:?} (an admin quorum adds it: governance propose --allow-blind-wallet {id})"
            )));
        }
        if hub.store().wallet(id).await?.is_some() {
            return Err(FlowError::Invalid(format!("wallet {id} exists already")));
        }
    }
    let config = hub.config();
    let all: Vec<PartyIndex> = (0..config.members.len() as u16).collect();
    let timeout = Duration::from_millis(config.session_timeout_ms);
    hub.audit(
        actor,
        "dkg",
        serde_json::json!({ "scheme": scheme.to_string(), "blind": blind }),
    )
    .await
    .map_err(|e| FlowError::Audit(e.to_string()))?;
    if scheme == Scheme::EcdsaSecp256k1 {
        let committee = hub.store().committee(&config.committee_id).await?;
        if committee.and_then(|c| c.aux_id).is_none() {
            let aux_timeout = Duration::from_millis(config.aux_timeout_ms);
            let (_, outcomes) = hub
                .run(
                    JobKind::AuxInfo,
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
                scheme,
                blind: blind.clone(),
            },
            SessionKind::Keygen,
            &all,
            None,
            timeout,
        )
        .await?;
    let (key_id, public_key, root_key, chain_code, born) = agreed(&outcomes, |o| match o {
        Outcome::Keygen {
            key_id,
            public_key,
            root_key,
            chain_code,
            blind,
        } => Some((
            key_id.clone(),
            public_key.clone(),
            root_key.clone(),
            chain_code.clone(),
            blind.clone(),
        )),
        _ => None,
    })?;
    if born != blind {
        return Err(FlowError::Invalid(
            "the nodes made the key for another purpose than asked".into(),
        ));
    }
    let wallet = WalletRecord {
        id: blind.clone().unwrap_or_else(random_id),
        scheme,
        committee_id: config.committee_id.clone(),
        key_id,
        public_key,
        root_key,
        chain_code: Some(chain_code),
        created_at: now(),
    };
    hub.audit(
        "server",
        "wallet-created",
        serde_json::json!({ "wallet": wallet.id, "scheme": scheme.to_string(), "key_id": wallet.key_id, "public_key": wallet.public_key, "blind": blind.is_some() }),
    )
    .await
    .map_err(|e| FlowError::Audit(e.to_string()))?;
    hub.store().insert_wallet(&wallet).await?;
    Ok(wallet)
}
