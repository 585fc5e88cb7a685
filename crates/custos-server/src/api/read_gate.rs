//! Reads need a user too. One gate in front of the router answers a `GET`
//! only to a live session (opened with a signed call and a TOTP code) or to
//! a call signed with a user key, of a user who holds a role; the audit
//! export only to auditors and admins. Being in front of every route, it
//! keeps a new read endpoint closed unless it is listed as public here.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use custos_governance::Role;

use crate::api::error::Failure;
use crate::api::extract::verify_signed;
use crate::api::state::Api;

/// Open to anyone who reaches the API: liveness, the API's description,
/// and the session lookup (which checks its own token).
const PUBLIC: [&str; 3] = ["/v1/health", "/v1/openapi.json", "/v1/session"];

/// The middleware: calls that act are signed and checked by their
/// handlers; reads are checked here.
pub(crate) async fn gate(State(api): State<Api>, req: Request, next: Next) -> Response {
    let read = matches!(*req.method(), Method::GET | Method::HEAD);
    if !read || PUBLIC.contains(&req.uri().path()) {
        return next.run(req).await;
    }
    // Owned parts: a request body is not `Sync`, so no borrow of the
    // request may live across an await.
    let (method, uri, headers) = (
        req.method().clone(),
        req.uri().clone(),
        req.headers().clone(),
    );
    match reader(&api, &method, &uri, &headers).await {
        Ok(_) => next.run(req).await,
        Err(f) => f.into_response(),
    }
}

/// Who reads, if they may read this.
async fn reader(
    api: &Api,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<String, Failure> {
    let user = if headers.contains_key("x-custos-session") {
        crate::api::session::session_user(api, headers).await?.0
    } else {
        // A read carries no body: the signature covers the empty one.
        verify_signed(api, method, uri, headers, &[]).await?
    };
    may_read(api, &user, uri.path()).await?;
    Ok(user)
}

/// Whether `user` may read `path`: any role for most, auditors and admins
/// for the audit log.
pub(crate) async fn may_read(api: &Api, user: &str, path: &str) -> Result<(), Failure> {
    let gov = api.hub.authority().governance().await.ok_or_else(|| {
        Failure(
            StatusCode::UNAUTHORIZED,
            "no governance genesis yet".to_owned(),
        )
    })?;
    let state = gov.state();
    let allowed = if path.starts_with("/v1/audit/") {
        state.has_role(user, Role::Auditor) || state.has_role(user, Role::Admin)
    } else {
        !state.role_names(user).is_empty()
    };
    if !allowed {
        return Err(Failure(
            StatusCode::FORBIDDEN,
            format!("forbidden: {user} may not read {path}"),
        ));
    }
    Ok(())
}
