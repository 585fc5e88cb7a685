//! What a client is told when a call fails: a status and a plain message.
//! Internal failures are logged here and reach the client only as
//! "internal error (see the server log)".

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::FlowError;
use crate::hub::HubError;
use crate::store::StoreError;

/// An error response.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ApiError {
    /// What went wrong.
    pub error: String,
}

/// A failed call: status and message.
pub(crate) struct Failure(pub(crate) StatusCode, pub(crate) String);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (self.0, Json(ApiError { error: self.1 })).into_response()
    }
}

/// 400 with `msg`.
pub(crate) fn bad(msg: impl Into<String>) -> Failure {
    Failure(StatusCode::BAD_REQUEST, msg.into())
}

/// 401 with `msg`.
pub(crate) fn unauthorized(msg: impl Into<String>) -> Failure {
    Failure(StatusCode::UNAUTHORIZED, msg.into())
}

/// 500 with `msg` (for messages that reveal nothing).
pub(crate) fn internal(msg: impl Into<String>) -> Failure {
    Failure(StatusCode::INTERNAL_SERVER_ERROR, msg.into())
}

/// Hex from a request field, or 400 naming the field.
pub(crate) fn unhex(s: &str, what: &str) -> Result<Vec<u8>, Failure> {
    hex::decode(s).map_err(|_| bad(format!("{what} is not hex")))
}

/// A JSON document from a request or stored body, or 400.
pub(crate) fn json<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, Failure> {
    serde_json::from_slice(body).map_err(|e| bad(format!("request body: {e}")))
}

impl From<FlowError> for Failure {
    fn from(e: FlowError) -> Self {
        let status = match &e {
            FlowError::Invalid(_) | FlowError::NotBlind(_) | FlowError::BlindOnly(_) => {
                StatusCode::BAD_REQUEST
            }
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
