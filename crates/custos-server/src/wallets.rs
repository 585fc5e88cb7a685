//! Wallets: creation by DKG across all members (aux info first for the
//! committee's first ECDSA key) and the ECDSA presignature pool.

use std::time::Duration;

use custos_net::clock::unix_now as now;
use custos_protocol::control::{JobKind, Outcome};
use custos_tss::{PartyIndex, Scheme};

use crate::error::FlowError;
use crate::hub::Hub;
use crate::signing::{agreed, choose_signers, random_id};
use crate::store::{PresignatureRecord, SessionKind, WalletRecord};

/// Creates a wallet: aux info first if this is the committee's first ECDSA
/// key, then DKG across all members.
pub async fn create_wallet(
    hub: &Hub,
    scheme: Scheme,
    actor: &str,
) -> Result<WalletRecord, FlowError> {
    let config = hub.config();
    let all: Vec<PartyIndex> = (0..config.members.len() as u16).collect();
    let timeout = Duration::from_millis(config.session_timeout_ms);
    hub.audit(
        actor,
        "dkg",
        serde_json::json!({ "scheme": scheme.to_string() }),
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
            JobKind::Keygen { scheme },
            SessionKind::Keygen,
            &all,
            None,
            timeout,
        )
        .await?;
    let (key_id, public_key, root_key, chain_code) = agreed(&outcomes, |o| match o {
        Outcome::Keygen {
            key_id,
            public_key,
            root_key,
            chain_code,
        } => Some((
            key_id.clone(),
            public_key.clone(),
            root_key.clone(),
            chain_code.clone(),
        )),
        _ => None,
    })?;
    let wallet = WalletRecord {
        id: random_id(),
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
        serde_json::json!({ "wallet": wallet.id, "scheme": scheme.to_string(), "key_id": wallet.key_id, "public_key": wallet.public_key }),
    )
    .await
    .map_err(|e| FlowError::Audit(e.to_string()))?;
    hub.store().insert_wallet(&wallet).await?;
    Ok(wallet)
}

/// Adds up to `count` presignatures to an ECDSA wallet's pool, for `signers`
/// or the first `t` connected members; returns the number now ready.
pub async fn presign(
    hub: &Hub,
    wallet_id: &str,
    count: u32,
    signers: Option<Vec<PartyIndex>>,
) -> Result<u64, FlowError> {
    let wallet = hub
        .store()
        .wallet(wallet_id)
        .await?
        .ok_or_else(|| FlowError::NoWallet(wallet_id.to_owned()))?;
    if wallet.scheme != Scheme::EcdsaSecp256k1 {
        return Err(FlowError::Invalid(
            "presignatures are for ECDSA wallets".into(),
        ));
    }
    let config = hub.config();
    let timeout = Duration::from_millis(config.session_timeout_ms);
    for _ in 0..count {
        let signers = choose_signers(hub, signers.clone()).await?;
        let kind = JobKind::Presign {
            key_id: wallet.key_id.clone(),
            signers: signers.clone(),
        };
        let (_, outcomes) = hub
            .run(
                kind,
                SessionKind::Presign,
                &signers,
                Some(&wallet.id),
                timeout,
            )
            .await?;
        let id = agreed(&outcomes, |o| match o {
            Outcome::Presignature { id } => Some(id.clone()),
            _ => None,
        })?;
        hub.store()
            .insert_presignature(&PresignatureRecord {
                id,
                wallet_id: wallet.id.clone(),
                signers,
                created_at: now(),
            })
            .await?;
    }
    Ok(hub.store().ready_presignatures(&wallet.id).await?)
}

/// Keeps every ECDSA wallet's pool at `target` presignatures, one
/// presignature at a time and only while no other session runs.
pub async fn refill_presignatures(hub: std::sync::Arc<Hub>, target: u64) {
    if target == 0 {
        return;
    }
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        if hub.busy().await {
            continue;
        }
        let Ok(wallets) = hub.store().wallets().await else {
            continue;
        };
        for w in wallets
            .iter()
            .filter(|w| w.scheme == Scheme::EcdsaSecp256k1)
        {
            let ready = hub
                .store()
                .ready_presignatures(&w.id)
                .await
                .unwrap_or(target);
            if ready < target {
                if let Err(e) = presign(&hub, &w.id, 1, None).await {
                    eprintln!("server: presignature refill for {}: {e}", w.id);
                }
                break;
            }
        }
    }
}
