//! REST API under `/v1`, with its OpenAPI 3 document at `/v1/openapi.json`
//! generated from the handlers (utoipa), grouped by resource: wallets,
//! chains (addresses, transfer preparation), requests, governance and the
//! audit export, sessions.
//!
//! Every call that acts takes a [`extract::SignedBy`] (a user's signed
//! call): signing requests and approvals by their users, wallet creation
//! by an admin, governance changes by admins. Reads pass
//! the [`read_gate`]. Clients get a status and a plain message; details of
//! internal failures go to the server log only.

pub mod chains;
pub mod error;
mod extract;
mod governance;
pub mod listener;
mod read_gate;
mod requests;
mod session;
mod state;
mod wallets;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::{Json, Router};
use utoipa::OpenApi;

pub use state::Api;

use crate::access::Access;
use crate::hub::Hub;

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
        wallets::health,
        wallets::running_sessions,
        wallets::create_wallet,
        chains::address,
        chains::prepare,
        requests::submit,
        requests::list,
        requests::get_request,
        requests::approve,
        requests::reject,
        governance::governance,
        governance::propose,
        governance::approve_proposal,
        governance::proposals,
        governance::export,
        governance::freshness,
        session::enrol_totp,
        session::login,
        session::session,
        session::logout,
        wallets::list_wallets,
        wallets::get_wallet,

    ),
    components(schemas(
        error::ApiError,
        wallets::Health,
        wallets::NodeStatus,
        wallets::CreateWallet,
        wallets::Wallet,
        wallets::AttestationView,

        crate::hub::RunningSession,
        crate::hub::NodeProgress,
        chains::AddressResponse,
        chains::TransferRequest,
        chains::PreparedTransfer,
        requests::SubmitRequest,
        requests::ApproveRequest,
        requests::RejectRequest,
        governance::GovernanceView,
        governance::ProposalView,
        governance::ProposalState,
        governance::ProposalSubmission,
        governance::AuditExport,
        governance::FreshnessAnswers,
        session::TotpEnrolment,
        session::LoginRequest,
        session::SessionView,
        crate::machine::request::RequestView,
        crate::machine::request::ApprovalView,
        crate::machine::request::RecordView,
        crate::machine::request::SignedView,
    ))
)]
struct ApiDoc;

/// The OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The router for `/v1`.
pub fn router(hub: Arc<Hub>, access: Arc<Access>) -> Router {
    let state = Api { hub, access };
    Router::new()
        .route("/v1/health", get(wallets::health))
        .route("/v1/openapi.json", get(|| async { Json(openapi()) }))
        .route("/v1/sessions/running", get(wallets::running_sessions))
        .route(
            "/v1/wallets",
            post(wallets::create_wallet).get(wallets::list_wallets),
        )
        .route("/v1/wallets/{id}", get(wallets::get_wallet))
        .route("/v1/wallets/{id}/address", get(chains::address))
        .route("/v1/wallets/{id}/transfers/prepare", post(chains::prepare))
        .route("/v1/requests", post(requests::submit).get(requests::list))
        .route("/v1/requests/{id}", get(requests::get_request))
        .route("/v1/requests/{id}/approve", post(requests::approve))
        .route("/v1/requests/{id}/reject", post(requests::reject))
        .route("/v1/governance", get(governance::governance))
        .route(
            "/v1/governance/proposals",
            post(governance::propose).get(governance::proposals),
        )
        .route(
            "/v1/governance/proposals/{id}/approve",
            post(governance::approve_proposal),
        )
        .route("/v1/audit/export", get(governance::export))
        .route("/v1/audit/freshness", get(governance::freshness))
        .route("/v1/users/totp", post(session::enrol_totp))
        .route("/v1/login", post(session::login))
        .route("/v1/session", get(session::session).delete(session::logout))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            read_gate::gate,
        ))
        .with_state(state)
}
