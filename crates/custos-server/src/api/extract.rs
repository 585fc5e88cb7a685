//! Who signed a call: the `SignedBy` extractor checks the user's signature
//! (headers `x-custos-user`, `x-custos-timestamp`, `x-custos-nonce`,
//! `x-custos-signature` over method, path, body hash, timestamp and nonce)
//! against their key at the governance head, refuses stale and replayed
//! calls, and hands the handler the user and the body it covered. Every
//! call that acts takes one, so no handler can forget the check.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use custos_governance::auth::{verify_request, RequestSignature};
use custos_governance::Role;
use custos_net::clock::unix_now as now;

use crate::api::error::{unauthorized, Failure};
use crate::api::state::Api;

fn header<'a>(h: &'a HeaderMap, name: &str) -> Result<&'a str, Failure> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| unauthorized(format!("signed request required (header {name})")))
}

/// The user who signed this call, after checking the signature against
/// their key at the governance head, the timestamp and the nonce.
pub(crate) async fn verify_signed(
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
            .access
            .nonces
            .lock()
            .map_err(|_| unauthorized("nonce cache unavailable"))?;
        verify_request(&req, &signature, &key, now(), &mut nonces)
    };
    checked.map_err(|e| unauthorized(e.to_string()))?;
    remember(api, nonce).await?;
    Ok(user.to_owned())
}

/// A call signed by a user of the governance state, with its body.
pub(crate) struct SignedBy {
    /// The user.
    pub user: String,
    /// The body the signature covers.
    pub body: Bytes,
}

impl FromRequest<Api> for SignedBy {
    type Rejection = Response;

    async fn from_request(req: Request, api: &Api) -> Result<Self, Response> {
        let (method, uri, headers) = (
            req.method().clone(),
            req.uri().clone(),
            req.headers().clone(),
        );
        let body = Bytes::from_request(req, api)
            .await
            .map_err(IntoResponse::into_response)?;
        let user = verify_signed(api, &method, &uri, &headers, &body)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Self { user, body })
    }
}

/// A call signed by an admin (creating keys).
pub(crate) struct SignedByAdmin(pub SignedBy);

impl FromRequest<Api> for SignedByAdmin {
    type Rejection = Response;

    async fn from_request(req: Request, api: &Api) -> Result<Self, Response> {
        let signed = SignedBy::from_request(req, api).await?;
        let admin = api
            .hub
            .authority()
            .governance()
            .await
            .is_some_and(|g| g.state().has_role(&signed.user, Role::Admin));
        if !admin {
            return Err(Failure(
                StatusCode::FORBIDDEN,
                format!("forbidden: {} is not an admin", signed.user),
            )
            .into_response());
        }
        Ok(Self(signed))
    }
}

/// Remembers an accepted nonce in the store (fail closed): after a restart
/// the memory is empty, and the store still refuses a call replayed within
/// its timestamp window. Nonces older than twice the window are pruned at
/// most once a minute.
async fn remember(api: &Api, nonce: &str) -> Result<(), Failure> {
    use crate::access::NONCE_KIND;
    use std::sync::atomic::Ordering;
    let store = api.hub.store();
    let t = now();
    match store.doc_insert(NONCE_KIND, nonce, &[], t).await {
        Ok(()) => {}
        Err(crate::store::StoreError::Conflict { .. }) => {
            return Err(unauthorized("request replayed (nonce seen before)"))
        }
        Err(e) => {
            eprintln!("server: cannot remember an API nonce: {e}");
            return Err(unauthorized("nonce store unavailable"));
        }
    }
    let window = custos_governance::auth::MAX_SKEW_SECS;
    let last = api.access.pruned.load(Ordering::Relaxed);
    let due = t - last > 60
        && api
            .access
            .pruned
            .compare_exchange(last, t, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok();
    if due {
        if let Err(e) = store.doc_prune(NONCE_KIND, t - 2 * window).await {
            eprintln!("server: cannot prune remembered API nonces: {e}");
        }
    }
    Ok(())
}
