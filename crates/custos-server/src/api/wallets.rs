//! `/v1` wallet endpoints: liveness, wallets (created by DKG on an admin's
//! signed order; a blind wallet under an id the governance chain allows;
//! each with the nodes' attestations) and running sessions.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use custos_protocol::attest::{SignedOrder, WalletOrder};
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

/// Create a wallet: an admin's signed order, which every node checks
/// itself under its governance head before any round.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreateWallet {
    /// The order: wallet id, scheme, blind, committee, governance head
    /// (bytes) and the admin's clock (Unix seconds).
    #[schema(value_type = Object)]
    pub order: WalletOrder,
    /// The admin's Ed25519 signature over the order's message (hex); the
    /// call must be signed by the same admin.
    pub signature: String,
}

/// One member's signature over the wallet's record.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AttestationView {
    /// The member's witness key (hex), as the governance chain records it.
    pub witness_key: String,
    /// Ed25519 signature (hex) over the statement built from the wallet's
    /// fields (`custos_protocol::attest::WalletStatement`).
    pub signature: String,
}

/// A wallet (one threshold key), with the nodes' attestations: a reader
/// verifies them against the committee in the governance chain and derives
/// addresses itself.
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
    /// Share generation the attestations are for.
    #[serde(default)]
    pub epoch: u32,
    /// The members' attestations.
    #[serde(default)]
    pub attestations: Vec<AttestationView>,
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
            xpub: if w.blind { None } else { xpub },
            blind: w.blind,
            epoch: w.epoch,
            attestations: w
                .attestations
                .iter()
                .map(|a| AttestationView {
                    witness_key: hex::encode(a.witness_key),
                    signature: hex::encode(&a.signature),
                })
                .collect(),
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
    let signature = crate::api::error::unhex(&body.signature, "signature")?;
    let order = SignedOrder {
        order: body.order,
        admin: user.clone(),
        signature,
    };
    let wallet = wallets::create_wallet(&api.hub, order, &user).await?;
    Ok((StatusCode::CREATED, Json(Wallet::from(wallet))))
}

#[utoipa::path(get, path = "/v1/wallets", responses((status = 200, body = [Wallet])))]
pub(crate) async fn list_wallets(State(api): State<Api>) -> Result<Json<Vec<Wallet>>, Failure> {
    let mut out = Vec::new();
    for w in api.hub.store().wallets().await? {
        out.push(Wallet::from(w));
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
        Some(w) => Ok(Json(Wallet::from(w))),
        None => Err(FlowError::NoWallet(id).into()),
    }
}

/// Running sessions and each node's latest progress (e.g. the committee's
/// first aux info, which takes minutes).
#[utoipa::path(get, path = "/v1/sessions/running", responses((status = 200, body = Vec<RunningSession>)))]
pub(crate) async fn running_sessions(State(api): State<Api>) -> Json<Vec<RunningSession>> {
    Json(api.hub.running().await)
}
