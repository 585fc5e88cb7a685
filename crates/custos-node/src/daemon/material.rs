//! A job's vault material in and out: the claim step makes a signing's
//! durable claim and hands over the share and plan the authorization
//! loaded, or loads what aux info and keygen need; the store step seals
//! what a finished job made, with what a new key was born for.

use custos_protocol::control::{NodeMessage, Outcome};
use custos_tss::{DerivationPath, Scheme};
use tokio::sync::mpsc;

use super::authorize::Authorized;
use super::error::JobFailure;
use super::keys::{blind_wallet_id, load_aux, purpose_bytes};
use super::node::{Node, NODE_WIDE};
use super::primes;
use crate::checked::CheckedJob;
use crate::job::{JobInput, JobOutput};
use crate::purpose::KeyPurpose;
use crate::vault::EntryKind;
use custos_net::clock::unix_now as now;

/// Claims what `job` consumes — the signing request and its outpoint
/// values — and hands over its input. A durable claim comes before anything
/// is computed from it, so a crash or a replay never signs twice.
pub(super) async fn claim(
    node: &Node,
    session: [u8; 32],
    job: &CheckedJob,
    authorized: Authorized,
    out: &mpsc::Sender<NodeMessage>,
) -> Result<JobInput, JobFailure> {
    let v = &node.vault;
    match job {
        CheckedJob::AuxInfo => {
            primes::wait_for_primes(node, session, out).await;
            if v.get(EntryKind::AuxInfo, NODE_WIDE, 0).await?.is_some() {
                return Err(JobFailure::AuxExists);
            }
            primes::load_primes(node).await.map(JobInput::Primes)
        }
        CheckedJob::Keygen { scheme, .. } => {
            let aux = load_aux(v).await?;
            if *scheme == Scheme::EcdsaSecp256k1 && aux.is_none() {
                return Err(JobFailure::NoAux);
            }
            Ok(JobInput::Aux(aux))
        }
        CheckedJob::Sign { .. } => {
            let (share, work) = authorized.into_claim()?.commit(node).await?;
            Ok(JobInput::Signing(share, work))
        }
    }
}

/// Seals what a finished job made and says what the server may know of it.
pub(super) async fn store(
    node: &Node,
    job: &CheckedJob,
    out: JobOutput,
) -> Result<Outcome, JobFailure> {
    let v = &node.vault;
    match out {
        JobOutput::Aux(aux) => {
            let bytes = aux.to_bytes()?;
            v.put(EntryKind::AuxInfo, NODE_WIDE, 0, &bytes, now())
                .await?;
            Ok(Outcome::AuxInfo {
                aux_id: hex::encode(aux.aux_id()),
            })
        }
        JobOutput::Share(share) => {
            let key_id = share.key_id().0;
            let purpose = match job {
                CheckedJob::Keygen {
                    blind: Some(wallet),
                    ..
                } => KeyPurpose::Blind {
                    wallet: wallet.clone(),
                },
                CheckedJob::Keygen { blind: None, .. }
                | CheckedJob::AuxInfo
                | CheckedJob::Sign { .. } => KeyPurpose::Wallet,
            };
            // Entries are insert-only: a blind wallet's claim first (a second
            // key for one blind wallet is refused before it exists), then the
            // purpose, then the share (a share never exists without it).
            if let KeyPurpose::Blind { wallet } = &purpose {
                v.put(
                    EntryKind::BlindWallet,
                    blind_wallet_id(wallet),
                    0,
                    &key_id,
                    now(),
                )
                .await?;
            }
            v.put(
                EntryKind::KeyPurpose,
                key_id,
                0,
                &purpose_bytes(&purpose),
                now(),
            )
            .await?;
            let bytes = share.to_bytes()?;
            v.put(EntryKind::KeyShare, key_id, 0, &bytes, now()).await?;
            let public_key = share.public_key(&DerivationPath::root())?;
            let (root_key, chain_code) = share.root_public()?;
            let blind = match job {
                CheckedJob::Keygen { blind, .. } => blind.clone(),
                CheckedJob::AuxInfo | CheckedJob::Sign { .. } => None,
            };
            Ok(Outcome::Keygen {
                key_id: share.key_id().to_string(),
                public_key: hex::encode(public_key),
                root_key: hex::encode(root_key),
                chain_code: hex::encode(chain_code),
                blind,
            })
        }
        JobOutput::Signatures(sigs) => Ok(Outcome::Signatures {
            signatures: sigs.iter().map(|s| hex::encode(&s.bytes)).collect(),
        }),
    }
}
