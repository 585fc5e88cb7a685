//! Signing requests in the store: one JSON document per request, replaced
//! only by compare-and-swap on the previous body, so that two callers
//! racing on one request cannot both move it (one dispatch per request).

use custos_governance::Governance;
use custos_net::clock::unix_now as now;

use crate::error::FlowError;
use crate::hub::Hub;
use crate::machine::request::{RequestView, Transition};

/// Document kind of signing requests.
pub(crate) const REQUEST: &str = "request";

pub(crate) fn invalid(e: custos_protocol::authz::RequestError) -> FlowError {
    FlowError::Invalid(e.to_string())
}

pub(crate) fn refused(e: Transition) -> FlowError {
    FlowError::Invalid(e.to_string())
}

pub(crate) fn forbidden(s: impl Into<String>) -> FlowError {
    FlowError::Forbidden(s.into())
}

pub(crate) fn unhex(s: &str, what: &str) -> Result<Vec<u8>, FlowError> {
    hex::decode(s).map_err(|_| FlowError::Invalid(format!("{what} is not hex")))
}

pub(crate) async fn governance(hub: &Hub) -> Result<Governance, FlowError> {
    hub.authority().governance().await.ok_or_else(|| {
        FlowError::Invalid("no governance genesis yet (custos governance init)".into())
    })
}

/// A request and the stored body it was read from (for the swap).
pub(crate) async fn load(hub: &Hub, id: &str) -> Result<(Vec<u8>, RequestView), FlowError> {
    let body = hub
        .store()
        .doc_get(REQUEST, id)
        .await?
        .ok_or_else(|| FlowError::NotFound(format!("request {id}")))?;
    let view = serde_json::from_slice(&body)
        .map_err(|_| FlowError::Invalid("stored request does not decode".into()))?;
    Ok((body, view))
}

/// Stores a new request; refused if its id exists.
pub(crate) async fn insert(hub: &Hub, view: &RequestView) -> Result<(), FlowError> {
    let body = serde_json::to_vec(view).map_err(|e| FlowError::Invalid(e.to_string()))?;
    hub.store()
        .doc_insert(REQUEST, &view.id, &body, now())
        .await?;
    Ok(())
}

/// Replaces `old` with `view`; `Conflict` if someone else changed it first.
pub(crate) async fn save(hub: &Hub, old: &[u8], view: &RequestView) -> Result<Vec<u8>, FlowError> {
    let body = serde_json::to_vec(view).map_err(|e| FlowError::Invalid(e.to_string()))?;
    hub.store()
        .doc_replace(REQUEST, &view.id, old, &body, now())
        .await?;
    Ok(body)
}

/// Requests, oldest first.
pub async fn list(hub: &Hub) -> Result<Vec<RequestView>, FlowError> {
    hub.store()
        .doc_list(REQUEST)
        .await?
        .iter()
        .map(|(_, b)| {
            serde_json::from_slice(b)
                .map_err(|_| FlowError::Invalid("stored request does not decode".into()))
        })
        .collect::<Result<Vec<RequestView>, _>>()
        .map(|mut v| {
            v.sort_by_key(|r| r.created_at);
            v
        })
}

/// One request.
pub async fn get(hub: &Hub, id: &str) -> Result<RequestView, FlowError> {
    Ok(load(hub, id).await?.1)
}
