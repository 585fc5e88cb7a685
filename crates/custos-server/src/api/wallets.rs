//! `/v1` wallet endpoints: liveness, wallets (created by DKG, an admin's
//! call; a blind wallet under an id the governance chain allows) and
//! running sessions.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use custos_tss::Scheme;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::error::{ApiError, Failure};
use crate::api::extract::{SignedBy, SignedByAdmin};
use crate::api::state::Api;
use crate::error::FlowError;
use crate::hub::RunningSession;
use crate::store::WalletRecord;
use crate::wallets;

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
    /// Create the blind wallet of this id (allowed by an admin quorum in
    /// governance): its key signs bare digests only.
    #[serde(default)]
    pub blind: Option<String>,
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
    /// which the accounts `m/0/i` derive watch-only (never for a blind
    /// wallet: it has no deposit addresses).
    pub xpub: Option<String>,
    /// A blind wallet: signs bare digests only; never offered for deposits.
    #[serde(default)]
    pub blind: bool,
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
            blind: false,
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

#[utoipa::path(get, path = "/v1/health", security(()), responses((status = 200, body = Health)))]
pub(crate) async fn health(State(api): State<Api>) -> Json<Health> {
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
pub(crate) async fn create_wallet(
    State(api): State<Api>,
    signed: SignedByAdmin,
) -> Result<(StatusCode, Json<Wallet>), Failure> {
    let SignedByAdmin(SignedBy { user, body }) = signed;
    let body: CreateWallet = crate::api::error::json(&body)?;
    let scheme: Scheme = body
        .scheme
        .parse()
        .map_err(|e: custos_tss::ParamError| Failure(StatusCode::BAD_REQUEST, e.to_string()))?;
    let wallet = wallets::create_wallet(&api.hub, scheme, &user, body.blind).await?;
    Ok((StatusCode::CREATED, Json(view(&api, wallet).await?)))
}

/// A wallet as users see it: a blind wallet flagged, without an xpub.
async fn view(api: &Api, w: WalletRecord) -> Result<Wallet, Failure> {
    let gov = crate::requests::governance_of(&api.hub).await?;
    let blind = gov.state().blind_wallets.contains(&w.id);
    let mut v = Wallet::from(w);
    if blind {
        v.blind = true;
        v.xpub = None;
    }
    Ok(v)
}

#[utoipa::path(get, path = "/v1/wallets", responses((status = 200, body = [Wallet])))]
pub(crate) async fn list_wallets(State(api): State<Api>) -> Result<Json<Vec<Wallet>>, Failure> {
    let mut out = Vec::new();
    for w in api.hub.store().wallets().await? {
        out.push(view(&api, w).await?);
    }
    Ok(Json(out))
}

#[utoipa::path(get, path = "/v1/wallets/{id}", params(("id" = String, Path, description = "wallet id")),
    responses((status = 200, body = Wallet), (status = 404, body = ApiError)))]
pub(crate) async fn get_wallet(
    State(api): State<Api>,
    Path(id): Path<String>,
) -> Result<Json<Wallet>, Failure> {
    match api.hub.store().wallet(&id).await? {
        Some(w) => Ok(Json(view(&api, w).await?)),
        None => Err(FlowError::NoWallet(id).into()),
    }
}

/// Running sessions and each node's latest progress (e.g. the committee's
/// first aux info, which takes minutes).
#[utoipa::path(get, path = "/v1/sessions/running", responses((status = 200, body = Vec<RunningSession>)))]
pub(crate) async fn running_sessions(State(api): State<Api>) -> Json<Vec<RunningSession>> {
    Json(api.hub.running().await)
}
