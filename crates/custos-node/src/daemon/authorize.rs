//! The node's own decision on a job before it runs (DESIGN "A signing,
//! step by step", step 4). Every kind has an arm here: a signing is checked
//! against this node's governance chain, policy and witnessed ledger
//! ([`crate::recheck`]); a kind without a rule yet says so explicitly.

use custos_protocol::authz::SigningRequest;

use super::error::JobFailure;
use super::node::Node;
use crate::checked::{CheckedJob, Signing};
use crate::recheck::{check_request, LedgerRow};
use custos_net::clock::unix_now as now;

/// What the node decided about a job. Only [`authorize`] makes one, and the
/// claim step takes it by value: no job reaches its material without it.
pub(super) enum Authorized {
    /// This kind has no authorization rule yet; the pinned-committee check
    /// is all that gates it today. Later rules replace this arm.
    NoRuleYet,
    /// A signing the node checked, to be claimed durably before it runs.
    Signing(Claim),
}

impl Authorized {
    /// The claim of a signing decision.
    pub(super) fn into_claim(self) -> Result<Claim, JobFailure> {
        match self {
            Authorized::Signing(claim) => Ok(claim),
            Authorized::NoRuleYet => Err(JobFailure::NotSigning),
        }
    }
}

/// A request the node decided to sign, not yet recorded as signed.
pub(super) struct Claim {
    request_id: [u8; 16],
    hash: [u8; 32],
}

impl Claim {
    /// The durable record that the request is being signed, written before
    /// any signing: a request is signed once, whatever the server replays.
    pub(super) async fn commit(self, node: &Node) -> Result<(), JobFailure> {
        Ok(node
            .vault
            .claim_request(self.request_id, self.hash, now())
            .await?)
    }
}

/// Decides whether this node runs `job`.
pub(super) async fn authorize(node: &Node, job: &CheckedJob) -> Result<Authorized, JobFailure> {
    match job {
        // No rule yet: aux info makes committee parameters, keygen a new
        // key, and a presignature signs nothing by itself (its use is
        // authorised as a `SignPresigned`). The next issues add rules here.
        CheckedJob::AuxInfo | CheckedJob::Keygen { .. } | CheckedJob::Presign { .. } => {
            Ok(Authorized::NoRuleYet)
        }
        CheckedJob::Sign {
            key_id, signing, ..
        }
        | CheckedJob::SignPresigned {
            key_id, signing, ..
        }
        | CheckedJob::SignTransfer {
            key_id, signing, ..
        }
        | CheckedJob::SignPsbt {
            key_id, signing, ..
        } => check_signing(node, key_id, signing)
            .await
            .map(Authorized::Signing),
    }
}

/// Checks a signing request against this node's governance, policy and
/// ledger; the request must name the key the job runs with.
async fn check_signing(node: &Node, key_id: &str, signing: &Signing) -> Result<Claim, JobFailure> {
    let Signing { request, auth } = signing;
    if request.key_id() != key_id {
        return Err(JobFailure::OtherKey);
    }
    let ledger = ledger(node).await?;
    {
        let held = node.gov.lock().await;
        check_request(held.gov.as_ref(), request, auth, now(), &ledger)?;
    }
    claim_of(request)
}

fn claim_of(request: &SigningRequest) -> Result<Claim, JobFailure> {
    Ok(Claim {
        request_id: request.request_id(),
        hash: request.hash()?,
    })
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
