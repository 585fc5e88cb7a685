//! REST API under `/v1`, with its OpenAPI 3 document at `/v1/openapi.json`
//! generated from these handlers (utoipa).
//!
//! Every call that acts is signed with a user's key (see `api_authz`):
//! signing requests and approvals by their users, wallet creation and
//! presigning by an admin, governance changes by admins. Clients get a
//! status and a plain message; details of internal failures go to the
//! server log only.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use custos_tss::{PartyIndex, Scheme};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

use crate::hub::{Hub, HubError, NodeProgress, RunningSession};
use crate::store::{StoreError, WalletRecord};
use crate::workflow::{self, FlowError};

/// Shared state of the API.
#[derive(Clone)]
pub struct Api {
    pub(crate) hub: Arc<Hub>,
}

/// An error response.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ApiError {
    /// What went wrong.
    pub error: String,
}

pub(crate) struct Failure(pub(crate) StatusCode, pub(crate) String);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (self.0, Json(ApiError { error: self.1 })).into_response()
    }
}

impl From<FlowError> for Failure {
    fn from(e: FlowError) -> Self {
        let status = match &e {
            FlowError::Invalid(_) => StatusCode::BAD_REQUEST,
            FlowError::NoWallet(_) | FlowError::NotFound(_) => StatusCode::NOT_FOUND,
            FlowError::Forbidden(_) => StatusCode::FORBIDDEN,
            FlowError::Audit(_) | FlowError::Hub(HubError::Audit(_)) => {
                eprintln!("server: {e}");
                StatusCode::SERVICE_UNAVAILABLE
            }
            FlowError::Hub(HubError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
            FlowError::Hub(HubError::Timeout { .. }) => StatusCode::GATEWAY_TIMEOUT,
            FlowError::Hub(HubError::Failed { .. } | HubError::Disagree(_)) => {
                StatusCode::BAD_GATEWAY
            }
            FlowError::Store(StoreError::Conflict { .. })
            | FlowError::Hub(HubError::Store(StoreError::Conflict { .. })) => StatusCode::CONFLICT,
            _ => {
                eprintln!("server: internal error: {e}");
                return Failure(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error (see the server log)".into(),
                );
            }
        };
        Failure(status, e.to_string())
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        FlowError::Store(e).into()
    }
}

/// Liveness and node connections.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// All committee nodes connected.
    pub ready: bool,
    /// Per node.
    pub nodes: Vec<NodeStatus>,
}

/// One node's connection.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NodeStatus {
    /// Name.
    pub name: String,
    /// Committee index.
    pub index: u16,
    /// Connected now.
    pub connected: bool,
}

/// Create a wallet.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreateWallet {
    /// `ecdsa-secp256k1`, `schnorr-bip340` or `ed25519`.
    pub scheme: String,
}

/// A wallet (one threshold key).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Wallet {
    /// Id.
    pub id: String,
    /// Scheme.
    pub scheme: String,
    /// Committee holding the shares.
    pub committee_id: String,
    /// Key id (hex).
    pub key_id: String,
    /// Public key signatures at the root verify against (hex).
    pub public_key: String,
    /// Root key for watch-only derivation (hex).
    pub root_key: String,
    /// Chain code (hex).
    pub chain_code: Option<String>,
    /// ECDSA wallets: the root extended public key (BIP-32, mainnet), from
    /// which the accounts `m/0/i` derive watch-only.
    pub xpub: Option<String>,
    /// Creation time (Unix seconds).
    pub created_at: i64,
}

impl From<WalletRecord> for Wallet {
    fn from(w: WalletRecord) -> Self {
        let xpub = (w.scheme == Scheme::EcdsaSecp256k1)
            .then(|| {
                let root = hex::decode(&w.root_key).ok()?;
                let cc: [u8; 32] = hex::decode(w.chain_code.as_deref()?)
                    .ok()?
                    .try_into()
                    .ok()?;
                custos_chains::address::xpub(
                    &root,
                    &cc,
                    custos_chains::intent::BitcoinNetwork::Mainnet,
                )
                .ok()
            })
            .flatten();
        Wallet {
            xpub,
            id: w.id,
            scheme: w.scheme.as_str().into(),
            committee_id: w.committee_id,
            key_id: w.key_id,
            public_key: w.public_key,
            root_key: w.root_key,
            chain_code: w.chain_code,
            created_at: w.created_at,
        }
    }
}

/// Add presignatures to an ECDSA wallet's pool.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PresignRequest {
    /// How many to make (1–100), one session each.
    pub count: u32,
    /// Exactly `t` signer indices; default: the first `t` connected nodes.
    pub signers: Option<Vec<PartyIndex>>,
}

/// A wallet's presignature pool.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PresignPool {
    /// Presignatures ready for use.
    pub ready: u64,
}

/// The API's two credentials, for the OpenAPI document.
struct Credentials;

impl utoipa::Modify for Credentials {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "user_signature",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "x-custos-signature",
                "Ed25519 signature by the user's key over method, path, SHA-256 of the body, \
                 timestamp and nonce (headers x-custos-user, x-custos-timestamp (±300 s), \
                 x-custos-nonce (single use)). Every call that acts needs it.",
            ))),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "x-custos-session",
                "Token from POST /v1/login (a signed call plus a TOTP code); reads only.",
            ))),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Custos API", description = "Self-hosted MPC custody engine. Every call but \
        /v1/health, /v1/openapi.json and /v1/session needs a user: reads a session or a \
        signed call, everything else a signed call."),
    modifiers(&Credentials),
    security(("user_signature" = []), ("session" = [])),
    paths(
        health,
        running_sessions,
        create_wallet,
        crate::api_chains::address,
        crate::api_chains::prepare,
        crate::api_authz::submit,
        crate::api_authz::list,
        crate::api_authz::get_request,
        crate::api_authz::approve,
        crate::api_authz::reject,
        crate::api_authz::governance,
        crate::api_authz::propose,
        crate::api_authz::approve_proposal,
        crate::api_authz::proposals,
        crate::api_authz::export,
        crate::api_session::enrol_totp,
        crate::api_session::login,
        crate::api_session::session,
        crate::api_session::logout,
        list_wallets,
        get_wallet,
        presignatures,
        add_presignatures
    ),
    components(schemas(
        ApiError,
        Health,
        NodeStatus,
        CreateWallet,
        Wallet,
        PresignRequest,
        PresignPool,
        RunningSession,
        NodeProgress,
        crate::api_chains::AddressResponse,
        crate::api_chains::TransferRequest,
        crate::api_chains::PreparedTransfer,
        crate::api_authz::SubmitRequest,
        crate::api_authz::ApproveRequest,
        crate::api_authz::RejectRequest,
        crate::api_authz::GovernanceView,
        crate::api_authz::ProposalView,
        crate::api_authz::ProposalSubmission,
        crate::api_authz::AuditExport,
        crate::api_session::TotpEnrolment,
        crate::api_session::LoginRequest,
        crate::api_session::SessionView,
        crate::approvals::RequestView,
        crate::approvals::ApprovalView,
        crate::approvals::RecordView,
        crate::approvals::SignedView,
    ))
)]
struct ApiDoc;

/// The OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The router for `/v1`.
pub fn router(hub: Arc<Hub>) -> Router {
    let state = Api { hub };
    Router::new()
        .route("/v1/health", get(health))
        .route("/v1/openapi.json", get(|| async { Json(openapi()) }))
        .route("/v1/sessions/running", get(running_sessions))
        .route("/v1/wallets", post(create_wallet).get(list_wallets))
        .route("/v1/wallets/{id}", get(get_wallet))
        .route("/v1/wallets/{id}/address", get(crate::api_chains::address))
        .route(
            "/v1/wallets/{id}/transfers/prepare",
            post(crate::api_chains::prepare),
        )
        .route(
            "/v1/requests",
            post(crate::api_authz::submit).get(crate::api_authz::list),
        )
        .route("/v1/requests/{id}", get(crate::api_authz::get_request))
        .route("/v1/requests/{id}/approve", post(crate::api_authz::approve))
        .route("/v1/requests/{id}/reject", post(crate::api_authz::reject))
        .route("/v1/governance", get(crate::api_authz::governance))
        .route(
            "/v1/governance/proposals",
            post(crate::api_authz::propose).get(crate::api_authz::proposals),
        )
        .route(
            "/v1/governance/proposals/{id}/approve",
            post(crate::api_authz::approve_proposal),
        )
        .route("/v1/audit/export", get(crate::api_authz::export))
        .route("/v1/users/totp", post(crate::api_session::enrol_totp))
        .route("/v1/login", post(crate::api_session::login))
        .route(
            "/v1/session",
            get(crate::api_session::session).delete(crate::api_session::logout),
        )
        .route(
            "/v1/wallets/{id}/presignatures",
            get(presignatures).post(add_presignatures),
        )
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::api_read::gate,
        ))
        .with_state(state)
}

#[utoipa::path(get, path = "/v1/health", security(()), responses((status = 200, body = Health)))]
async fn health(State(api): State<Api>) -> Json<Health> {
    let config = api.hub.config();
    let mut nodes = Vec::new();
    for (i, key) in config.members.iter().enumerate() {
        nodes.push(NodeStatus {
            name: config.node_name(key),
            index: i as u16,
            connected: api.hub.is_connected(key).await,
        });
    }
    Json(Health {
        ready: nodes.iter().all(|n| n.connected),
        nodes,
    })
}

#[utoipa::path(post, path = "/v1/wallets", request_body = CreateWallet,
    responses((status = 201, body = Wallet), (status = 400, body = ApiError), (status = 401, body = ApiError),
              (status = 503, body = ApiError), (status = 504, body = ApiError)))]
async fn create_wallet(
    State(api): State<Api>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Wallet>), Failure> {
    let user = crate::api_authz::signed_by_admin(&api, &method, &uri, &headers, &body).await?;
    let body: CreateWallet = serde_json::from_slice(&body)
        .map_err(|e| Failure(StatusCode::BAD_REQUEST, format!("request body: {e}")))?;
    let scheme: Scheme = body
        .scheme
        .parse()
        .map_err(|e: custos_tss::ParamError| Failure(StatusCode::BAD_REQUEST, e.to_string()))?;
    let wallet = workflow::create_wallet(&api.hub, scheme, &user).await?;
    Ok((StatusCode::CREATED, Json(wallet.into())))
}

#[utoipa::path(get, path = "/v1/wallets", responses((status = 200, body = [Wallet])))]
async fn list_wallets(State(api): State<Api>) -> Result<Json<Vec<Wallet>>, Failure> {
    Ok(Json(
        api.hub
            .store()
            .wallets()
            .await?
            .into_iter()
            .map(Wallet::from)
            .collect(),
    ))
}

#[utoipa::path(get, path = "/v1/wallets/{id}", params(("id" = String, Path, description = "wallet id")),
    responses((status = 200, body = Wallet), (status = 404, body = ApiError)))]
async fn get_wallet(
    State(api): State<Api>,
    Path(id): Path<String>,
) -> Result<Json<Wallet>, Failure> {
    match api.hub.store().wallet(&id).await? {
        Some(w) => Ok(Json(w.into())),
        None => Err(FlowError::NoWallet(id).into()),
    }
}

/// Running sessions and each node's latest progress (e.g. the committee's
/// first aux info, which takes minutes).
#[utoipa::path(get, path = "/v1/sessions/running", responses((status = 200, body = Vec<RunningSession>)))]
async fn running_sessions(State(api): State<Api>) -> Json<Vec<RunningSession>> {
    Json(api.hub.running().await)
}

#[utoipa::path(get, path = "/v1/wallets/{id}/presignatures", params(("id" = String, Path, description = "wallet id")),
    responses((status = 200, body = PresignPool), (status = 404, body = ApiError)))]
async fn presignatures(
    State(api): State<Api>,
    Path(id): Path<String>,
) -> Result<Json<PresignPool>, Failure> {
    if api.hub.store().wallet(&id).await?.is_none() {
        return Err(FlowError::NoWallet(id).into());
    }
    let ready = api.hub.store().ready_presignatures(&id).await?;
    Ok(Json(PresignPool { ready }))
}

#[utoipa::path(post, path = "/v1/wallets/{id}/presignatures", params(("id" = String, Path, description = "wallet id")),
    request_body = PresignRequest,
    responses((status = 200, body = PresignPool), (status = 400, body = ApiError), (status = 401, body = ApiError),
              (status = 404, body = ApiError), (status = 502, body = ApiError), (status = 503, body = ApiError)))]
async fn add_presignatures(
    State(api): State<Api>,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<PresignPool>, Failure> {
    crate::api_authz::signed_by_admin(&api, &method, &uri, &headers, &body).await?;
    let body: PresignRequest = serde_json::from_slice(&body)
        .map_err(|e| Failure(StatusCode::BAD_REQUEST, format!("request body: {e}")))?;
    if !(1..=100).contains(&body.count) {
        return Err(Failure(
            StatusCode::BAD_REQUEST,
            "count must be 1 to 100".into(),
        ));
    }
    let ready = workflow::presign(&api.hub, &id, body.count, body.signers).await?;
    Ok(Json(PresignPool { ready }))
}
