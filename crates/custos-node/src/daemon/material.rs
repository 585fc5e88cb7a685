//! A job's vault material in and out: the claim step loads what an
//! authorised job needs (safe primes, aux info, the key share, a
//! presignature) and makes its durable claims first; the store step seals
//! what a finished job made.

use custos_protocol::control::{NodeMessage, Outcome};
use custos_tss::ecdsa::{AuxInfo, Presignature};
use custos_tss::{DerivationPath, KeyShare, Scheme};
use tokio::sync::mpsc;

use super::authorize::Authorized;
use super::error::JobFailure;
use super::node::{Node, NODE_WIDE};
use super::primes;
use crate::checked::{parse_id, CheckedJob};
use crate::job::{JobInput, JobOutput};
use crate::store::NodeVault;
use crate::vault::EntryKind;
use custos_net::clock::unix_now as now;

/// Claims what `job` consumes — the signing request, a presignature — and
/// loads its input. A durable claim comes before anything is computed from
/// it, so a crash or a replay never signs twice.
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
        CheckedJob::Keygen { scheme } => {
            let aux = load_aux(v).await?;
            if *scheme == Scheme::EcdsaSecp256k1 && aux.is_none() {
                return Err(JobFailure::NoAux);
            }
            Ok(JobInput::Aux(aux))
        }
        CheckedJob::Presign { key_id, .. } => {
            let aux = load_aux(v).await?;
            load_share(v, key_id, aux.as_ref())
                .await
                .map(|s| JobInput::Share(Box::new(s)))
        }
        CheckedJob::Sign { key_id, .. }
        | CheckedJob::SignPsbt { key_id, .. }
        | CheckedJob::SignTransfer { key_id, .. } => {
            authorized.into_claim()?.commit(node).await?;
            let aux = load_aux(v).await?;
            load_share(v, key_id, aux.as_ref())
                .await
                .map(|s| JobInput::Share(Box::new(s)))
        }
        CheckedJob::SignPresigned {
            key_id,
            presignature,
            ..
        } => {
            let claim = authorized.into_claim()?;
            let aux = load_aux(v).await?;
            let share = load_share(v, key_id, aux.as_ref()).await?;
            let KeyShare::Ecdsa(ecdsa) = &share else {
                return Err(JobFailure::NotEcdsa);
            };
            // Durable before anything is computed from it: a crash from here
            // on leaves it used, never reusable.
            let bytes = v.take_presignature(*presignature, now()).await?;
            // Claimed only once the presignature is ours: a refused one
            // leaves the request to the server's full-signing fallback.
            claim.commit(node).await?;
            let presig = Presignature::from_bytes(&bytes, ecdsa)?;
            Ok(JobInput::Presigned(Box::new(share), Box::new(presig)))
        }
    }
}

async fn load_aux(v: &NodeVault) -> Result<Option<AuxInfo>, JobFailure> {
    match v.get(EntryKind::AuxInfo, NODE_WIDE, 0).await? {
        Some(bytes) => Ok(Some(AuxInfo::from_bytes(&bytes)?)),
        None => Ok(None),
    }
}

async fn load_share(
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

/// Seals what a finished job made and says what the server may know of it.
pub(super) async fn store(node: &Node, out: JobOutput) -> Result<Outcome, JobFailure> {
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
            let bytes = share.to_bytes()?;
            v.put(EntryKind::KeyShare, share.key_id().0, 0, &bytes, now())
                .await?;
            let public_key = share.public_key(&DerivationPath::root())?;
            let (root_key, chain_code) = share.root_public()?;
            Ok(Outcome::Keygen {
                key_id: share.key_id().to_string(),
                public_key: hex::encode(public_key),
                root_key: hex::encode(root_key),
                chain_code: hex::encode(chain_code),
            })
        }
        JobOutput::Presignature(p) => {
            let bytes = p.to_bytes()?;
            v.put_presignature(p.id(), &bytes, now()).await?;
            Ok(Outcome::Presignature {
                id: hex::encode(p.id()),
            })
        }
        JobOutput::Signatures(sigs) => Ok(Outcome::Signatures {
            signatures: sigs.iter().map(|s| hex::encode(&s.bytes)).collect(),
        }),
        JobOutput::Signature(sig) => Ok(Outcome::Signature {
            signature: hex::encode(sig.bytes),
        }),
    }
}
