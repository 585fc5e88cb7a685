//! `/v1` endpoints where users act: transfer requests, approvals, the
//! governance chain, and the audit export. Every call that acts is signed
//! with the user's key (headers `x-custos-user`, `x-custos-timestamp`,
//! `x-custos-nonce`, `x-custos-signature` over method, path, body hash,
//! timestamp and nonce); stale and replayed requests are refused. The
//! server's checks here are for users' convenience: nodes check again.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::Json;
use custos_audit::checkpoint::SignedCheckpoint;
use custos_audit::entry::SignedEntry;
use custos_governance::auth::{verify_request, RequestSignature};
use custos_governance::SignedProposal;
use custos_tss::PartyIndex;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::{Api, Failure};
use crate::approvals::{self, RequestView};
use crate::workflow::{now, FlowError};

fn bad(msg: impl Into<String>) -> Failure {
    Failure(StatusCode::BAD_REQUEST, msg.into())
}

fn unauthorized(msg: impl Into<String>) -> Failure {
    Failure(StatusCode::UNAUTHORIZED, msg.into())
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Result<&'a str, Failure> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| unauthorized(format!("signed request required (header {name})")))
}

/// The user who signed this request, after checking the signature against
/// their key at the governance head, the timestamp and the nonce.
pub(crate) async fn signed_by(
    api: &Api,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<String, Failure> {
    use sha2::Digest;
    let user = header(headers, "x-custos-user")?;
    let timestamp: i64 = header(headers, "x-custos-timestamp")?
        .parse()
        .map_err(|_| unauthorized("bad timestamp"))?;
    let nonce = header(headers, "x-custos-nonce")?;
    let signature = hex::decode(header(headers, "x-custos-signature")?)
        .map_err(|_| unauthorized("signature is not hex"))?;
    let gov = api
        .hub
        .authority()
        .governance()
        .await
        .ok_or_else(|| unauthorized("no governance genesis yet"))?;
    let key = gov
        .state()
        .users
        .get(user)
        .and_then(|u| ed25519_dalek::VerifyingKey::from_bytes(&u.key).ok())
        .ok_or_else(|| unauthorized("unknown user"))?;
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let req = RequestSignature {
        method: method.as_str(),
        path,
        body_sha256: sha2::Sha256::digest(body).into(),
        timestamp,
        nonce,
    };
    let checked = {
        let mut nonces = api
            .hub
            .authority()
            .nonces
            .lock()
            .map_err(|_| unauthorized("nonce cache unavailable"))?;
        verify_request(&req, &signature, &key, now(), &mut nonces)
    };
    checked.map_err(|e| unauthorized(e.to_string()))?;
    Ok(user.to_owned())
}

/// Like [`signed_by`], for actions only an admin may take (creating keys,
/// filling the presignature pool).
pub(crate) async fn signed_by_admin(
    api: &Api,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<String, Failure> {
    let user = signed_by(api, method, uri, headers, body).await?;
    let admin = api
        .hub
        .authority()
        .governance()
        .await
        .is_some_and(|g| g.state().has_role(&user, custos_governance::Role::Admin));
    if !admin {
        return Err(Failure(
            StatusCode::FORBIDDEN,
            format!("forbidden: {user} is not an admin"),
        ));
    }
    Ok(user)
}

fn json<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, Failure> {
    serde_json::from_slice(body).map_err(|e| bad(format!("request body: {e}")))
}

fn unhex(s: &str, what: &str) -> Result<Vec<u8>, Failure> {
    hex::decode(s).map_err(|_| bad(format!("{what} is not hex")))
}

/// A transfer request signed by its initiator.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SubmitRequest {
    /// Canonical `SigningRequest` (hex); for transfers it wraps the intent
    /// as prepared.
    pub request: String,
    /// Initiator's signature over the request hash (hex).
    pub signature: String,
    /// Exactly `t` signer indices; default: the first `t` connected nodes.
    pub signers: Option<Vec<PartyIndex>>,
}

/// An approval.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ApproveRequest {
    /// Signature over the request hash and the governance head (hex).
    pub signature: String,
}

/// A rejection.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RejectRequest {
    /// Why.
    pub reason: String,
}

#[utoipa::path(post, path = "/v1/requests", request_body = SubmitRequest,
    responses((status = 200, body = RequestView), (status = 400, body = crate::api::ApiError), (status = 401, body = crate::api::ApiError), (status = 403, body = crate::api::ApiError)))]
pub(crate) async fn submit(
    State(api): State<Api>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<RequestView>, Failure> {
    let user = signed_by(&api, &method, &uri, &headers, &body).await?;
    let r: SubmitRequest = json(&body)?;
    let view = approvals::submit(
        &api.hub,
        &user,
        &unhex(&r.request, "request")?,
        &unhex(&r.signature, "signature")?,
        r.signers,
    )
    .await?;
    Ok(Json(view))
}

#[utoipa::path(get, path = "/v1/requests", responses((status = 200, body = [RequestView])))]
pub(crate) async fn list(State(api): State<Api>) -> Result<Json<Vec<RequestView>>, Failure> {
    Ok(Json(approvals::list(&api.hub).await?))
}

#[utoipa::path(get, path = "/v1/requests/{id}", params(("id" = String, Path, description = "request id")),
    responses((status = 200, body = RequestView), (status = 404, body = crate::api::ApiError)))]
pub(crate) async fn get_request(
    State(api): State<Api>,
    Path(id): Path<String>,
) -> Result<Json<RequestView>, Failure> {
    Ok(Json(approvals::get(&api.hub, &id).await?))
}

#[utoipa::path(post, path = "/v1/requests/{id}/approve", params(("id" = String, Path, description = "request id")),
    request_body = ApproveRequest,
    responses((status = 200, body = RequestView), (status = 401, body = crate::api::ApiError), (status = 403, body = crate::api::ApiError)))]
pub(crate) async fn approve(
    State(api): State<Api>,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<RequestView>, Failure> {
    let user = signed_by(&api, &method, &uri, &headers, &body).await?;
    let r: ApproveRequest = json(&body)?;
    let sig = unhex(&r.signature, "signature")?;
    Ok(Json(approvals::approve(&api.hub, &id, &user, &sig).await?))
}

#[utoipa::path(post, path = "/v1/requests/{id}/reject", params(("id" = String, Path, description = "request id")),
    request_body = RejectRequest,
    responses((status = 200, body = RequestView), (status = 401, body = crate::api::ApiError), (status = 403, body = crate::api::ApiError)))]
pub(crate) async fn reject(
    State(api): State<Api>,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<RequestView>, Failure> {
    let user = signed_by(&api, &method, &uri, &headers, &body).await?;
    let r: RejectRequest = json(&body)?;
    Ok(Json(
        approvals::reject(&api.hub, &id, &user, &r.reason).await?,
    ))
}

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

#[utoipa::path(get, path = "/v1/governance", responses((status = 200, body = GovernanceView), (status = 404, body = crate::api::ApiError)))]
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
    /// `pending` | `applied` | `refused`.
    pub state: String,
    /// Why it was refused.
    pub error: Option<String>,
    /// The signed proposal (postcard, hex).
    pub body: String,
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

fn proposal_view(p: &SignedProposal, state: &str, error: Option<String>) -> ProposalView {
    ProposalView {
        id: p.proposal.hash().map(hex::encode).unwrap_or_default(),
        height: p.proposal.height,
        proposer: p.proposal.proposer.clone(),
        changes: serde_json::to_value(&p.proposal.changes).unwrap_or_default(),
        signed_by: p.signatures.iter().map(|(u, _)| u.clone()).collect(),
        state: state.into(),
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
            proposal_view(p, "applied", None)
        }
        Err(custos_governance::GovError::NoQuorum { .. }) => {
            #[cfg(feature = "fault-injection")]
            if crate::fault_is("governance") {
                // A lying server forwards a change without its quorum.
                api.hub.push_unchecked_governance(p).await;
            }
            proposal_view(p, "pending", None)
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
    responses((status = 200, body = ProposalView), (status = 401, body = crate::api::ApiError), (status = 403, body = crate::api::ApiError)))]
pub(crate) async fn propose(
    State(api): State<Api>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<ProposalView>, Failure> {
    let user = signed_by(&api, &method, &uri, &headers, &body).await?;
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
    responses((status = 200, body = ProposalView), (status = 401, body = crate::api::ApiError), (status = 403, body = crate::api::ApiError), (status = 404, body = crate::api::ApiError)))]
pub(crate) async fn approve_proposal(
    State(api): State<Api>,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<ProposalView>, Failure> {
    let user = signed_by(&api, &method, &uri, &headers, &body).await?;
    let r: ProposalSubmission = json(&body)?;
    let old = api
        .hub
        .store()
        .doc_get(PROPOSAL, &id)
        .await?
        .ok_or_else(|| Failure(StatusCode::NOT_FOUND, format!("proposal {id} not found")))?;
    let view: ProposalView = json(&old)?;
    if view.state != "pending" {
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
