//! The node's own decision on a job before it runs (DESIGN "A signing,
//! step by step", step 4). Every kind has an arm here: a signing is planned
//! by this node from the request and its own share, and checked against
//! its governance chain, policy, witnessed ledger and what the key was born
//! for ([`crate::recheck`]); a blind keygen against governance; a kind
//! without a rule yet says so explicitly.

use custos_chains::Payload;
use custos_protocol::authz::{SigningRecord, StatedOutpoint};
use custos_tss::{DerivationPath, KeyShare};

use super::error::JobFailure;
use super::keys::{blind_wallet_taken, load_aux, load_share, purpose_of};
use super::node::Node;
use crate::checked::CheckedJob;
use crate::purpose::{check_blind_keygen, check_purpose};
use crate::recheck::{check_request, LedgerRow};
use custos_net::clock::unix_now as now;

/// What the node decided about a job. Only [`authorize`] makes one, and the
/// claim step takes it by value: no job reaches its material without it.
pub(super) enum Authorized {
    /// This kind has no authorization rule yet (aux info, an ordinary
    /// wallet's keygen); the pinned-committee check is all that gates it
    /// today. Later rules replace this arm.
    NoRuleYet,
    /// A blind wallet's keygen that governance allows.
    BlindKeygen,
    /// A signing the node checked, to be claimed durably before it runs.
    Signing(Claim),
}

impl Authorized {
    /// The claim of a signing decision.
    pub(super) fn into_claim(self) -> Result<Claim, JobFailure> {
        match self {
            Authorized::Signing(claim) => Ok(claim),
            Authorized::NoRuleYet | Authorized::BlindKeygen => Err(JobFailure::NotSigning),
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

/// Decides whether this node runs `job`.
pub(super) async fn authorize(node: &Node, job: &CheckedJob) -> Result<Authorized, JobFailure> {
    match job {
        // No rule yet: aux info makes committee parameters, an ordinary
        // keygen a new key that signs only what policy allows.
        CheckedJob::AuxInfo | CheckedJob::Keygen { blind: None, .. } => Ok(Authorized::NoRuleYet),
        CheckedJob::Keygen {
            blind: Some(wallet),
            ..
        } => {
            let taken = blind_wallet_taken(&node.vault, wallet).await?;
            let held = node.gov.lock().await;
            check_blind_keygen(held.gov.as_ref(), wallet, taken)?;
            Ok(Authorized::BlindKeygen)
        }
        CheckedJob::Sign { request, auth, .. } => {
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
