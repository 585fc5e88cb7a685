//! The node's own decision on a job before it runs (DESIGN "A signing,
//! step by step", step 4). Every kind has an arm here, and every arm first
//! checks the job's committee against the governance chain: aux info and a
//! keygen need an admin's order signed under this node's governance head
//! (and a wallet id this node holds no key for); a signing is planned by
//! this node from the request and its own share, and checked against what
//! the key was born for, its governance chain, policy, witnessed ledger and
//! a majority checkpoint over the request's entry ([`crate::recheck`],
//! [`crate::certified`]).

use std::sync::Arc;

use custos_chains::Payload;
use custos_protocol::authz::{SigningRecord, StatedOutpoint};
use custos_protocol::control::CommitteeSpec;
use custos_tss::{DerivationPath, KeyShare, Scheme};

use super::error::JobFailure;
use super::keys::{load_aux, load_share, purpose_of, wallet_taken};
use super::node::Node;
use crate::certified::check_certified;

use crate::checked::CheckedJob;
use crate::purpose::check_purpose;
use crate::recheck::{check_request, LedgerRow, Refusal};
use custos_net::clock::unix_now as now;

/// What the node decided about a job. Only [`authorize`] makes one, and the
/// claim step takes it by value: no job reaches its material without it.
pub(super) enum Authorized {
    /// Aux info for an admin's order of the committee's first ECDSA wallet.
    AuxInfo,
    /// A keygen an admin ordered, for a wallet id this node holds no key for.
    Keygen,
    /// A signing the node checked, to be claimed durably before it runs.
    Signing(Claim),
}

impl Authorized {
    /// The claim of a signing decision.
    pub(super) fn into_claim(self) -> Result<Claim, JobFailure> {
        match self {
            Authorized::Signing(claim) => Ok(claim),
            Authorized::AuxInfo | Authorized::Keygen => Err(JobFailure::NotSigning),
        }
    }
}

/// A wallet id whose DKG runs at this node: one order makes one key, so a
/// second keygen of the id (the same order sent twice at once) is refused
/// until this one ends. Released on drop.
pub(super) struct KeygenSlot {
    node: Arc<Node>,
    wallet: String,
}

impl KeygenSlot {
    /// Takes the slot of `wallet`, or refuses.
    pub(super) fn take(node: &Arc<Node>, wallet: &str) -> Result<Self, JobFailure> {
        let mut running = node
            .keygens
            .lock()
            .map_err(|_| Refusal::WalletExists(wallet.to_owned()))?;
        if !running.insert(wallet.to_owned()) {
            return Err(Refusal::WalletExists(wallet.to_owned()).into());
        }
        Ok(Self {
            node: node.clone(),
            wallet: wallet.to_owned(),
        })
    }
}

impl Drop for KeygenSlot {
    fn drop(&mut self) {
        if let Ok(mut running) = self.node.keygens.lock() {
            running.remove(&self.wallet);
        }
    }
}

/// A request the node decided to sign, not yet recorded as signed: its id
/// and hash, the outpoint values it states, and what this node planned.
pub(super) struct Claim {
    request_id: [u8; 16],
    hash: [u8; 32],
    key_id: String,
    outpoints: Vec<StatedOutpoint>,
    /// The share that signs.
    pub(super) share: Box<KeyShare>,
    /// This node's plan: one `(path, payload)` per signature.
    pub(super) work: Vec<(DerivationPath, Payload)>,
}

impl Claim {
    /// The durable record that the request is being signed, with the value
    /// of every outpoint it states, written before any signing: a request
    /// is signed once, whatever the server replays, and an outpoint never
    /// under two values.
    pub(super) async fn commit(
        self,
        node: &Node,
    ) -> Result<(Box<KeyShare>, Vec<(DerivationPath, Payload)>), JobFailure> {
        node.vault
            .claim_request(
                self.request_id,
                self.hash,
                now(),
                &self.key_id,
                &self.outpoints,
            )
            .await?;
        Ok((self.share, self.work))
    }
}

/// Decides whether this node runs `job` in `committee`.
pub(super) async fn authorize(
    node: &Node,
    committee: &CommitteeSpec,
    job: &CheckedJob,
) -> Result<Authorized, JobFailure> {
    let recorded = {
        let held = node.gov.lock().await;
        let gov = held.gov.as_ref().ok_or(Refusal::NoGovernance)?;
        let recorded = gov
            .committee(&committee.id)
            .filter(|c| {
                usize::from(c.threshold) == usize::from(committee.threshold)
                    && c.members.len() == committee.members.len()
                    && c.members
                        .iter()
                        .zip(&committee.members)
                        .all(|(m, k)| m.channel_key == k.0)
            })
            .ok_or_else(|| Refusal::Committee(committee.id.clone()))?;
        recorded.clone()
    };
    match job {
        CheckedJob::AuxInfo { order } => {
            {
                let held = node.gov.lock().await;
                order
                    .check(held.gov.as_ref(), &committee.id, now())
                    .map_err(Refusal::from)?;
            }
            if order.order.scheme != Scheme::EcdsaSecp256k1 {
                return Err(Refusal::AuxOrder.into());
            }
            Ok(Authorized::AuxInfo)
        }
        CheckedJob::Keygen { order } => {
            {
                let held = node.gov.lock().await;
                order
                    .check(held.gov.as_ref(), &committee.id, now())
                    .map_err(Refusal::from)?;
            }
            if wallet_taken(&node.vault, &order.order.wallet).await? {
                return Err(Refusal::WalletExists(order.order.wallet.clone()).into());
            }
            Ok(Authorized::Keygen)
        }
        CheckedJob::Sign {
            request,
            auth,
            checkpoint,
            ..
        } => {
            let aux = load_aux(&node.vault).await?;
            let share = load_share(&node.vault, request.key_id(), aux.as_ref()).await?;
            let purpose = purpose_of(&node.vault, request.key_id()).await?;
            let planned = crate::job::plan(&share, request)?;
            let record = SigningRecord::new(request, &auth.initiator, &planned)?;
            let ledger = ledger(node).await?;
            {
                let held = node.gov.lock().await;
                check_purpose(held.gov.as_ref(), request, &purpose)?;
                check_request(held.gov.as_ref(), request, &record, auth, now(), &ledger)?;
            }
            // Its entry is in this node's ledger (check_request); it must
            // also be certified by a majority checkpoint.
            let seq = ledger
                .iter()
                .find(|r| r.record == record)
                .map(|r| r.seq)
                .ok_or_else(|| Refusal::NotLogged(record.request_id.clone()))?;
            let own = node.vault.cosigned_root(checkpoint.checkpoint.size).await?;
            check_certified(&recorded, checkpoint, seq, own)?;
            Ok(Authorized::Signing(Claim {
                request_id: request.request_id(),
                hash: request.hash()?,
                key_id: request.key_id().to_owned(),
                outpoints: planned.outpoints,
                share: Box::new(share),
                work: planned.work,
            }))
        }
    }
}

/// The node's ledger of witnessed signings.
async fn ledger(node: &Node) -> Result<Vec<LedgerRow>, JobFailure> {
    node.vault
        .ledger()
        .await?
        .into_iter()
        .map(|(seq, json, witnessed_at)| {
            Ok(LedgerRow {
                seq,
                record: serde_json::from_str(&json)?,
                witnessed_at,
            })
        })
        .collect()
}
