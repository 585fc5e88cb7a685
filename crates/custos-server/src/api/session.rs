//! API sessions: a user enrols a TOTP secret once (a signed call), then logs
//! in with a signed call plus a current code (RFC 6238, ±1 step, each code
//! accepted once, the last step kept in the store so a restart does not
//! reopen it). A session token is what the web console presents; every call
//! that acts is still signed with the user's key.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use custos_governance::auth::Totp;
use custos_net::clock::unix_now as now;
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use zeroize::Zeroizing;

use crate::access::SESSION_SECS;
use crate::api::error::{internal, unauthorized, ApiError, Failure};
use crate::api::extract::SignedBy;
use crate::api::state::Api;
use crate::error::FlowError;

const TOTP: &str = "totp";
#[derive(Serialize, Deserialize)]
struct StoredTotp {
    /// The secret sealed for its user (hex; see `totp_seal`).
    sealed: String,
    /// Last step a code was accepted for.
    last_step: Option<u64>,
}

/// A new TOTP secret, shown once.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TotpEnrolment {
    /// Base32 secret for authenticator apps.
    pub secret: String,
    /// `otpauth://` URI (QR code content).
    pub uri: String,
}

/// A login.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LoginRequest {
    /// Current TOTP code.
    pub code: String,
}

/// A session.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SessionView {
    /// Token for `x-custos-session` (only returned at login).
    pub token: Option<String>,
    /// User.
    pub user: String,
    /// Roles at the governance head.
    pub roles: Vec<String>,
    /// Unix seconds.
    pub expires_at: i64,
}

async fn roles(api: &Api, user: &str) -> Vec<String> {
    api.hub
        .authority()
        .governance()
        .await
        .map(|g| g.state().role_names(user))
        .unwrap_or_default()
}

#[utoipa::path(post, path = "/v1/users/totp",
    responses((status = 200, body = TotpEnrolment), (status = 401, body = ApiError), (status = 409, body = ApiError)))]
pub(crate) async fn enrol_totp(
    State(api): State<Api>,
    signed: SignedBy,
) -> Result<Json<TotpEnrolment>, Failure> {
    let SignedBy { user, .. } = signed;
    let mut secret = Zeroizing::new(vec![0u8; 20]);
    OsRng.fill_bytes(&mut secret);
    let sealed = crate::totp_seal::seal(&api.access.totp_key, &user, &secret, &mut OsRng)
        .map_err(|e| internal(e.to_string()))?;
    let stored = StoredTotp {
        sealed: hex::encode(sealed),
        last_step: None,
    };
    let doc = serde_json::to_vec(&stored)
        .map_err(|e| Failure(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    api.hub
        .audit(&user, "totp-enrolled", serde_json::json!({}))
        .await
        .map_err(|e| FlowError::Audit(e.to_string()))?;
    // Once per user: a stolen user key cannot replace the second factor.
    api.hub
        .store()
        .doc_insert(TOTP, &user, &doc, now())
        .await
        .map_err(|_| {
            Failure(
                StatusCode::CONFLICT,
                format!("{user} has a TOTP secret already"),
            )
        })?;
    let b32 = base32::encode(base32::Alphabet::Rfc4648 { padding: false }, &secret);
    Ok(Json(TotpEnrolment {
        uri: format!("otpauth://totp/Custos:{user}?secret={b32}&issuer=Custos&algorithm=SHA1&digits=6&period=30"),
        secret: b32,
    }))
}

#[utoipa::path(post, path = "/v1/login", request_body = LoginRequest,
    responses((status = 200, body = SessionView), (status = 401, body = ApiError)))]
pub(crate) async fn login(
    State(api): State<Api>,
    signed: SignedBy,
) -> Result<Json<SessionView>, Failure> {
    let SignedBy { user, body } = signed;
    let r: LoginRequest = serde_json::from_slice(&body)
        .map_err(|e| Failure(StatusCode::BAD_REQUEST, e.to_string()))?;
    let store = api.hub.store();
    let old = store.doc_get(TOTP, &user).await?.ok_or_else(|| {
        unauthorized(format!(
            "{user} has no TOTP secret (custos user totp-enrol)"
        ))
    })?;
    let stored: StoredTotp =
        serde_json::from_slice(&old).map_err(|_| internal("stored TOTP secret"))?;
    let sealed = hex::decode(&stored.sealed).map_err(|_| internal("stored TOTP secret"))?;
    let secret = crate::totp_seal::open(&api.access.totp_key, &user, &sealed)
        .map_err(|e| internal(e.to_string()))?;
    let mut totp = Totp::new(secret, stored.last_step).map_err(|e| unauthorized(e.to_string()))?;
    let t = now();
    let step = totp
        .accept(r.code.trim(), u64::try_from(t).unwrap_or(0))
        .map_err(|e| unauthorized(e.to_string()));
    let step = match step {
        Ok(s) => s,
        Err(e) => {
            let _ = api
                .hub
                .audit(&user, "login-refused", serde_json::json!({}))
                .await;
            return Err(e);
        }
    };
    // The step is stored before the session exists: a code opens one session.
    let next = serde_json::to_vec(&StoredTotp {
        sealed: stored.sealed.clone(),
        last_step: Some(step),
    })
    .map_err(|e| Failure(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    store
        .doc_replace(TOTP, &user, &old, &next, t)
        .await
        .map_err(|_| unauthorized("TOTP code refused"))?;
    api.hub
        .audit(&user, "login", serde_json::json!({}))
        .await
        .map_err(|e| FlowError::Audit(e.to_string()))?;
    let mut token = [0u8; 32];
    OsRng.fill_bytes(&mut token);
    let expires_at = t + SESSION_SECS;
    api.access
        .open(Sha256::digest(token).into(), user.clone(), expires_at)
        .await;
    Ok(Json(SessionView {
        token: Some(hex::encode(token)),
        roles: roles(&api, &user).await,
        user,
        expires_at,
    }))
}

#[utoipa::path(get, path = "/v1/session", security(("session" = [])),
    responses((status = 200, body = SessionView), (status = 401, body = ApiError)))]
pub(crate) async fn session(
    State(api): State<Api>,
    headers: HeaderMap,
) -> Result<Json<SessionView>, Failure> {
    let (user, expires_at) = session_user(&api, &headers).await?;
    Ok(Json(SessionView {
        token: None,
        roles: roles(&api, &user).await,
        user,
        expires_at,
    }))
}

/// The user and expiry of the live session whose token is in the
/// `x-custos-session` header.
pub(crate) async fn session_user(api: &Api, headers: &HeaderMap) -> Result<(String, i64), Failure> {
    let key = token_hash(headers)?;
    api.access
        .session(&key, now())
        .await
        .ok_or_else(|| unauthorized("no such session (expired or logged out)"))
}

/// The hash of the `x-custos-session` token: sessions are looked up by it,
/// so the server keeps no usable token.
fn token_hash(headers: &HeaderMap) -> Result<[u8; 32], Failure> {
    let token = headers
        .get("x-custos-session")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| hex::decode(t).ok())
        .ok_or_else(|| unauthorized("session token required"))?;
    Ok(Sha256::digest(&token).into())
}

#[utoipa::path(delete, path = "/v1/session", security(("session" = [])),
    responses((status = 204, description = "logged out"), (status = 401, body = ApiError)))]
pub(crate) async fn logout(
    State(api): State<Api>,
    headers: HeaderMap,
) -> Result<StatusCode, Failure> {
    let (user, _) = session_user(&api, &headers).await?;
    api.access.close(&token_hash(&headers)?).await;
    api.hub
        .audit(&user, "logout", serde_json::json!({}))
        .await
        .map_err(|e| FlowError::Audit(e.to_string()))?;
    Ok(StatusCode::NO_CONTENT)
}
