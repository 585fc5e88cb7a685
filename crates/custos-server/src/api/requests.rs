//! `/v1/requests`: signing requests, approvals and rejections. The
//! server's checks here are for users' convenience: nodes check again.

use axum::extract::{Path, State};
use axum::Json;
use custos_tss::PartyIndex;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::error::{unhex, ApiError, Failure};
use crate::api::extract::SignedBy;
use crate::api::state::Api;
use crate::machine::request::RequestView;
use crate::requests;

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
    responses((status = 200, body = RequestView), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError)))]
pub(crate) async fn submit(
    State(api): State<Api>,
    signed: SignedBy,
) -> Result<Json<RequestView>, Failure> {
    let SignedBy { user, body } = signed;
    let r: SubmitRequest = crate::api::error::json(&body)?;
    let view = requests::submit(
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
    Ok(Json(requests::list(&api.hub).await?))
}

#[utoipa::path(get, path = "/v1/requests/{id}", params(("id" = String, Path, description = "request id")),
    responses((status = 200, body = RequestView), (status = 404, body = ApiError)))]
pub(crate) async fn get_request(
    State(api): State<Api>,
    Path(id): Path<String>,
) -> Result<Json<RequestView>, Failure> {
    Ok(Json(requests::get(&api.hub, &id).await?))
}

#[utoipa::path(post, path = "/v1/requests/{id}/approve", params(("id" = String, Path, description = "request id")),
    request_body = ApproveRequest,
    responses((status = 200, body = RequestView), (status = 401, body = ApiError), (status = 403, body = ApiError)))]
pub(crate) async fn approve(
    State(api): State<Api>,
    Path(id): Path<String>,
    signed: SignedBy,
) -> Result<Json<RequestView>, Failure> {
    let SignedBy { user, body } = signed;
    let r: ApproveRequest = crate::api::error::json(&body)?;
    let sig = unhex(&r.signature, "signature")?;
    Ok(Json(requests::approve(&api.hub, &id, &user, &sig).await?))
}

#[utoipa::path(post, path = "/v1/requests/{id}/reject", params(("id" = String, Path, description = "request id")),
    request_body = RejectRequest,
    responses((status = 200, body = RequestView), (status = 401, body = ApiError), (status = 403, body = ApiError)))]
pub(crate) async fn reject(
    State(api): State<Api>,
    Path(id): Path<String>,
    signed: SignedBy,
) -> Result<Json<RequestView>, Failure> {
    let SignedBy { user, body } = signed;
    let r: RejectRequest = crate::api::error::json(&body)?;
    Ok(Json(
        requests::reject(&api.hub, &id, &user, &r.reason).await?,
    ))
}
