//! A job's vault material in and out: the claim step makes a signing's
//! durable claim and hands over the share and plan the authorization
//! loaded, or loads what aux info and keygen need; the store step seals
//! what a finished job made, with the wallet a new key was born for, and
//! attests that record with the node's witness key.

use custos_protocol::attest::WalletStatement;
use custos_protocol::control::{NodeMessage, Outcome};
use custos_tss::{DerivationPath, Scheme};
use tokio::sync::mpsc;

use super::authorize::Authorized;
use super::error::JobFailure;
use super::keys::{load_aux, purpose_bytes, wallet_entry_id};
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
        CheckedJob::AuxInfo { .. } => {
            primes::wait_for_primes(node, session, out).await;
            if v.get(EntryKind::AuxInfo, NODE_WIDE, 0).await?.is_some() {
                return Err(JobFailure::AuxExists);
            }
            primes::load_primes(node).await.map(JobInput::Primes)
        }
        CheckedJob::Keygen { order } => {
            let aux = load_aux(v).await?;
            if order.order.scheme == Scheme::EcdsaSecp256k1 && aux.is_none() {
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
            let CheckedJob::Keygen { order } = job else {
                return Err(JobFailure::NotSigning);
            };
            let o = &order.order;
            let key_id = share.key_id().0;
            let wallet = o.wallet.clone();
            let purpose = if o.blind {
                KeyPurpose::Blind { wallet }
            } else {
                KeyPurpose::Wallet { wallet }
            };
            let public_key = share.public_key(&DerivationPath::root())?;
            let (root_key, chain_code) = share.root_public()?;
            let statement = WalletStatement {
                wallet: o.wallet.clone(),
                scheme: o.scheme,
                blind: o.blind,
                committee: o.committee.clone(),
                epoch: 0,
                key_id: share.key_id().to_string(),
                public_key: hex::encode(public_key),
                root_key: hex::encode(root_key),
                chain_code: hex::encode(chain_code),
            };
            // Entries are insert-only: the wallet's claim first (a second key
            // for one wallet id is refused before it exists), then the
            // purpose, then the share (a share never exists without it).
            v.put(
                EntryKind::Wallet,
                wallet_entry_id(&o.wallet),
                0,
                &postcard::to_stdvec(&statement).map_err(|_| JobFailure::NotSigning)?,
                now(),
            )
            .await?;
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
            let attestation = statement.attest(&node.witness_key);
            Ok(Outcome::Keygen {
                statement,
                attestation,
            })
        }
        JobOutput::Signatures(sigs) => Ok(Outcome::Signatures {
            signatures: sigs.iter().map(|s| hex::encode(&s.bytes)).collect(),
        }),
    }
}
