//! `/v1/governance` (the chain, proposals and their approval by admins)
//! and `/v1/audit/export` (the log for offline verification).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use custos_audit::checkpoint::SignedCheckpoint;
use custos_audit::entry::SignedEntry;
use custos_governance::SignedProposal;
use custos_net::clock::unix_now as now;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::error::{bad, json, unhex, ApiError, Failure};
use crate::api::extract::SignedBy;
use crate::api::state::Api;
use crate::error::FlowError;

/// The governance chain and the state at its head.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct GovernanceView {
    /// Genesis hash (hex): what node operators confirm.
    pub genesis_hash: String,
    /// The server's audit-log key named by the genesis (hex).
    pub audit_key: String,
    /// Head height.
    pub height: u64,
    /// Head hash (hex).
    pub head: String,
    /// Admin quorum.
    pub admin_quorum: u32,
    /// Users: id → roles.
    pub users: std::collections::BTreeMap<String, Vec<String>>,
    /// Users' keys: id → Ed25519 key (hex).
    pub keys: std::collections::BTreeMap<String, String>,
    /// The policy document (JSON), if set.
    #[schema(value_type = Option<Object>)]
    pub policy: Option<serde_json::Value>,
    /// The address book (JSON), if set.
    #[schema(value_type = Option<Object>)]
    pub address_book: Option<serde_json::Value>,
    /// Genesis (postcard, hex).
    pub genesis: String,
    /// Signed proposals from height 1 (postcard, hex).
    pub chain: Vec<String>,
}

#[utoipa::path(get, path = "/v1/governance", responses((status = 200, body = GovernanceView), (status = 404, body = ApiError)))]
pub(crate) async fn governance(State(api): State<Api>) -> Result<Json<GovernanceView>, Failure> {
    let a = api.hub.authority();
    let (Some(gov), Some(genesis)) = (a.governance().await, a.genesis().await) else {
        return Err(Failure(
            StatusCode::NOT_FOUND,
            "no governance genesis yet".into(),
        ));
    };
    let s = gov.state();
    Ok(Json(GovernanceView {
        genesis_hash: hex::encode(genesis.hash().map_err(|e| bad(e.to_string()))?),
        audit_key: hex::encode(genesis.audit_key),
        height: gov.height(),
        head: hex::encode(gov.head()),
        admin_quorum: s.admin_quorum,
        users: s
            .users
            .iter()
            .map(|(id, u)| {
                (
                    id.clone(),
                    u.roles.iter().map(|r| r.name().to_owned()).collect(),
                )
            })
            .collect(),
        keys: s
            .users
            .iter()
            .map(|(id, u)| (id.clone(), hex::encode(u.key)))
            .collect(),
        policy: s
            .policy
            .as_ref()
            .and_then(|p| serde_json::from_slice(p).ok()),
        address_book: s
            .address_book
            .as_ref()
            .and_then(|p| serde_json::from_slice(p).ok()),
        genesis: enc(&genesis),
        chain: a.chain().await.iter().map(enc).collect(),
    }))
}

/// Postcard hex of a value (for the view).
fn enc<T: Serialize>(v: &T) -> String {
    postcard::to_stdvec(v).map(hex::encode).unwrap_or_default()
}

/// A proposal with the signatures collected so far.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProposalView {
    /// Proposal hash (hex).
    pub id: String,
    /// Height it would create.
    pub height: u64,
    /// Proposer.
    pub proposer: String,
    /// Changes (JSON).
    #[schema(value_type = Object)]
    pub changes: serde_json::Value,
    /// Who signed.
    pub signed_by: Vec<String>,
    /// Where it stands.
    pub state: ProposalState,
    /// Why it was refused.
    pub error: Option<String>,
    /// The signed proposal (postcard, hex).
    pub body: String,
}

/// Where a proposal stands (`pending` | `applied` | `refused` in JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProposalState {
    /// Short of the admin quorum.
    Pending,
    /// Applied to the governance chain.
    Applied,
    /// Refused.
    Refused,
}

impl std::fmt::Display for ProposalState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ProposalState::Pending => "pending",
            ProposalState::Applied => "applied",
            ProposalState::Refused => "refused",
        })
    }
}

/// A proposal (postcard hex) with one admin's signature.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProposalSubmission {
    /// The proposal (postcard, hex); omitted when approving.
    pub proposal: Option<String>,
    /// The acting admin's signature over the proposal hash (hex).
    pub signature: String,
}

const PROPOSAL: &str = "proposal";

fn proposal_view(p: &SignedProposal, state: ProposalState, error: Option<String>) -> ProposalView {
    ProposalView {
        id: p.proposal.hash().map(hex::encode).unwrap_or_default(),
        height: p.proposal.height,
        proposer: p.proposal.proposer.clone(),
        changes: serde_json::to_value(&p.proposal.changes).unwrap_or_default(),
        signed_by: p.signatures.iter().map(|(u, _)| u.clone()).collect(),
        state,
        error,
        body: postcard::to_stdvec(p).map(hex::encode).unwrap_or_default(),
    }
}

/// Applies `p` if its signatures reach the quorum; the stored view says
/// what happened.
async fn try_apply(api: &Api, p: &SignedProposal) -> Result<ProposalView, Failure> {
    let a = api.hub.authority();
    let gov = a
        .governance()
        .await
        .ok_or_else(|| bad("no governance genesis yet"))?;
    let mut probe = gov.clone();
    let view = match probe.apply(p) {
        Ok(()) => {
            api.hub
                .audit(&p.proposal.proposer, "governance-change", serde_json::json!({ "height": p.proposal.height, "proposal": p.proposal.hash().map(hex::encode).unwrap_or_default(), "signed_by": p.signatures.iter().map(|(u, _)| u.clone()).collect::<Vec<_>>() }))
                .await
                .map_err(|e| FlowError::Audit(e.to_string()))?;
            a.apply(api.hub.store().as_ref(), p, now())
                .await
                .map_err(|e| Failure(StatusCode::CONFLICT, e.to_string()))?;
            api.hub.push_governance().await;
            proposal_view(p, ProposalState::Applied, None)
        }
        Err(custos_governance::GovError::NoQuorum { .. }) => {
            #[cfg(feature = "fault-injection")]
            if crate::faults::fault_is("governance") {
                // A lying server forwards a change without its quorum.
                api.hub.push_unchecked_governance(p).await;
            }
            proposal_view(p, ProposalState::Pending, None)
        }
        Err(e) => return Err(Failure(StatusCode::FORBIDDEN, e.to_string())),
    };
    Ok(view)
}

async fn store_proposal(api: &Api, view: &ProposalView, old: Option<&[u8]>) -> Result<(), Failure> {
    let body = serde_json::to_vec(view).map_err(|e| bad(e.to_string()))?;
    let store = api.hub.store();
    match old {
        None => store.doc_insert(PROPOSAL, &view.id, &body, now()).await?,
        Some(old) => {
            store
                .doc_replace(PROPOSAL, &view.id, old, &body, now())
                .await?
        }
    }
    Ok(())
}

#[utoipa::path(post, path = "/v1/governance/proposals", request_body = ProposalSubmission,
    responses((status = 200, body = ProposalView), (status = 401, body = ApiError), (status = 403, body = ApiError)))]
pub(crate) async fn propose(
    State(api): State<Api>,
    signed: SignedBy,
) -> Result<Json<ProposalView>, Failure> {
    let SignedBy { user, body } = signed;
    let r: ProposalSubmission = json(&body)?;
    let proposal: custos_governance::Proposal = postcard::from_bytes(&unhex(
        r.proposal
            .as_deref()
            .ok_or_else(|| bad("proposal missing"))?,
        "proposal",
    )?)
    .map_err(|_| bad("proposal does not decode"))?;
    if proposal.proposer != user {
        return Err(Failure(
            StatusCode::FORBIDDEN,
            "the proposer submits the proposal".into(),
        ));
    }
    let signed = SignedProposal {
        proposal,
        signatures: vec![(user, unhex(&r.signature, "signature")?)],
    };
    let view = try_apply(&api, &signed).await?;
    store_proposal(&api, &view, None).await?;
    Ok(Json(view))
}

#[utoipa::path(post, path = "/v1/governance/proposals/{id}/approve", params(("id" = String, Path, description = "proposal hash")),
    request_body = ProposalSubmission,
    responses((status = 200, body = ProposalView), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
pub(crate) async fn approve_proposal(
    State(api): State<Api>,
    Path(id): Path<String>,
    signed: SignedBy,
) -> Result<Json<ProposalView>, Failure> {
    let SignedBy { user, body } = signed;
    let r: ProposalSubmission = json(&body)?;
    let old = api
        .hub
        .store()
        .doc_get(PROPOSAL, &id)
        .await?
        .ok_or_else(|| Failure(StatusCode::NOT_FOUND, format!("proposal {id} not found")))?;
    let view: ProposalView = json(&old)?;
    if view.state != ProposalState::Pending {
        return Err(bad(format!("proposal {id} is {}", view.state)));
    }
    let mut signed: SignedProposal = postcard::from_bytes(&unhex(&view.body, "proposal")?)
        .map_err(|_| bad("stored proposal does not decode"))?;
    if signed.signatures.iter().any(|(u, _)| *u == user) {
        return Err(bad(format!("{user} signed already")));
    }
    signed
        .signatures
        .push((user, unhex(&r.signature, "signature")?));
    let next = try_apply(&api, &signed).await?;
    store_proposal(&api, &next, Some(&old)).await?;
    Ok(Json(next))
}

#[utoipa::path(get, path = "/v1/governance/proposals", responses((status = 200, body = [ProposalView])))]
pub(crate) async fn proposals(State(api): State<Api>) -> Result<Json<Vec<ProposalView>>, Failure> {
    let docs = api.hub.store().doc_list(PROPOSAL).await?;
    Ok(Json(
        docs.iter()
            .map(|(_, b)| json(b))
            .collect::<Result<_, _>>()?,
    ))
}

/// The audit log for offline verification.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditExport {
    /// Entries from 0 (JSON).
    #[schema(value_type = Vec<Object>)]
    pub entries: Vec<SignedEntry>,
    /// Checkpoints with co-signatures (JSON).
    #[schema(value_type = Vec<Object>)]
    pub checkpoints: Vec<SignedCheckpoint>,
}

/// Export range.
#[derive(Debug, Deserialize)]
pub(crate) struct ExportQuery {
    limit: Option<u64>,
}

#[utoipa::path(get, path = "/v1/audit/export", responses((status = 200, body = AuditExport)))]
pub(crate) async fn export(
    State(api): State<Api>,
    Query(q): Query<ExportQuery>,
) -> Result<Json<AuditExport>, Failure> {
    let store = api.hub.store();
    let mut entries = Vec::new();
    let limit = q.limit.unwrap_or(u64::MAX);
    loop {
        let from = entries.len() as u64;
        if from >= limit {
            break;
        }
        let batch = store.audit_entries(from, (limit - from).min(1024)).await?;
        if batch.is_empty() {
            break;
        }
        for b in batch {
            entries
                .push(postcard::from_bytes(&b).map_err(|_| bad("stored entry does not decode"))?);
        }
    }
    let checkpoints = store
        .doc_list(crate::authority::CHECKPOINT)
        .await?
        .iter()
        .map(|(_, b)| postcard::from_bytes(b).map_err(|_| bad("stored checkpoint does not decode")))
        .collect::<Result<Vec<SignedCheckpoint>, _>>()?;
    Ok(Json(AuditExport {
        entries,
        checkpoints,
    }))
}

/// A verifier's nonce (32 bytes of hex).
#[derive(Debug, Deserialize)]
pub(crate) struct FreshnessQuery {
    nonce: String,
}

/// The connected nodes' answers to a verifier's nonce, each signed with the
/// node's witness key: the newest checkpoint it co-signed.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FreshnessAnswers {
    /// Answers (JSON), in committee order.
    #[schema(value_type = Vec<Object>)]
    pub answers: Vec<custos_protocol::attest::Freshness>,
}

#[utoipa::path(get, path = "/v1/audit/freshness", params(("nonce" = String, Query, description = "32 random bytes (hex) the verifier chose")),
    responses((status = 200, body = FreshnessAnswers), (status = 400, body = ApiError)))]
pub(crate) async fn freshness(
    State(api): State<Api>,
    Query(q): Query<FreshnessQuery>,
) -> Result<Json<FreshnessAnswers>, Failure> {
    let nonce: [u8; 32] = unhex(&q.nonce, "nonce")?
        .try_into()
        .map_err(|_| bad("the nonce is 32 bytes of hex"))?;
    Ok(Json(FreshnessAnswers {
        answers: api.hub.freshness(nonce).await,
    }))
}

#[cfg(test)]
mod tests {
    use super::ProposalState;

    #[test]
    fn proposal_states_keep_their_json_names() {
        for (s, name) in [
            (ProposalState::Pending, "pending"),
            (ProposalState::Applied, "applied"),
            (ProposalState::Refused, "refused"),
        ] {
            assert_eq!(serde_json::to_value(s).unwrap(), name);
            assert_eq!(s.to_string(), name);
            assert_eq!(
                serde_json::from_value::<ProposalState>(name.into()).unwrap(),
                s
            );
        }
    }
}
