//! `/v1` endpoints for addresses and transfer preparation.

use axum::extract::{Path, Query, State};
use axum::http::Uri;
use axum::Json;
use custos_chains::address::AddressKind;
use custos_chains::args::TransferArgs;
use custos_chains::intent::BitcoinNetwork;
use custos_tss::PartyIndex;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api::error::{bad, ApiError, Failure};
use crate::api::extract::SignedBy;
use crate::api::state::Api;
use crate::error::FlowError;
use crate::transfers;

fn network(n: Option<&str>) -> Result<BitcoinNetwork, Failure> {
    custos_chains::args::network(n).map_err(|e| bad(e.to_string()))
}

/// Which address.
#[derive(Debug, Deserialize, IntoParams)]
pub struct AddressQuery {
    /// `ethereum` | `bitcoin` | `solana`; default: the wallet's scheme's chain.
    pub chain: Option<String>,
    /// Account index (`m/0/index`), default 0.
    pub index: Option<u32>,
    /// Bitcoin network: `mainnet` (default) | `testnet` | `signet` | `regtest`.
    pub network: Option<String>,
}

/// An address.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AddressResponse {
    /// The address.
    pub address: String,
    /// The wallet it derives from, with the nodes' attestations: a reader
    /// that trusts no server verifies them and derives the address itself
    /// (`custos address` does).
    pub wallet: crate::api::wallets::Wallet,
}

#[utoipa::path(get, path = "/v1/wallets/{id}/address", params(("id" = String, Path, description = "wallet id"), AddressQuery),
    responses((status = 200, body = AddressResponse), (status = 400, body = ApiError), (status = 404, body = ApiError)))]
pub(crate) async fn address(
    State(api): State<Api>,
    Path(id): Path<String>,
    Query(q): Query<AddressQuery>,
) -> Result<Json<AddressResponse>, Failure> {
    let wallet = api
        .hub
        .store()
        .wallet(&id)
        .await?
        .ok_or_else(|| Failure::from(FlowError::NoWallet(id.clone())))?;
    let chain = q.chain.unwrap_or_else(|| {
        match wallet.scheme {
            custos_tss::Scheme::EcdsaSecp256k1 => "ethereum",
            custos_tss::Scheme::SchnorrBip340 => "bitcoin",
            custos_tss::Scheme::Ed25519 => "solana",
        }
        .to_owned()
    });
    let kind = match chain.as_str() {
        "ethereum" => AddressKind::Ethereum,
        "bitcoin" => AddressKind::Bitcoin(network(q.network.as_deref())?),
        "solana" => AddressKind::Solana,
        other => return Err(bad(format!("unknown chain {other:?}"))),
    };
    let address = transfers::address(&api.hub, &id, q.index.unwrap_or(0), kind).await?;
    Ok(Json(AddressResponse {
        address,
        wallet: wallet.into(),
    }))
}

/// A transfer from one wallet account; chain-specific fields as named
/// (`custos_chains::args::TransferArgs`, plus the signers).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TransferRequest {
    /// `ethereum` | `bitcoin` | `solana`.
    pub chain: String,
    /// Recipient address.
    pub to: String,
    /// Amount in base units (decimal string).
    pub amount: String,
    /// ERC-20 contract or SPL mint; absent for the native asset.
    pub asset: Option<String>,
    /// Account index (`m/0/index`), default 0.
    pub index: Option<u32>,
    /// Bitcoin network (default mainnet).
    pub network: Option<String>,
    /// Ethereum: EIP-155 chain id.
    pub chain_id: Option<u64>,
    /// Ethereum: nonce.
    pub nonce: Option<u64>,
    /// Ethereum: max fee per gas, wei (decimal string).
    pub max_fee_per_gas: Option<String>,
    /// Ethereum: max priority fee per gas, wei (decimal string).
    pub max_priority_fee_per_gas: Option<String>,
    /// Ethereum: gas limit.
    pub gas_limit: Option<u64>,
    /// Bitcoin: `TXID:VOUT:SATS` per UTXO to spend.
    pub utxos: Option<Vec<String>>,
    /// Bitcoin: fee rate, sat/vB.
    pub fee_rate: Option<u64>,
    /// Solana: recent blockhash (base58).
    pub recent_blockhash: Option<String>,
    /// Exactly `t` signer indices; default: the first `t` connected nodes.
    pub signers: Option<Vec<PartyIndex>>,
}

impl TransferRequest {
    /// The typed arguments `custos_chains::args` turns into an intent.
    pub fn args(&self) -> TransferArgs {
        TransferArgs {
            chain: self.chain.clone(),
            to: self.to.clone(),
            amount: self.amount.clone(),
            asset: self.asset.clone(),
            index: self.index,
            network: self.network.clone(),
            chain_id: self.chain_id,
            nonce: self.nonce,
            max_fee_per_gas: self.max_fee_per_gas.clone(),
            max_priority_fee_per_gas: self.max_priority_fee_per_gas.clone(),
            gas_limit: self.gas_limit,
            utxos: self.utxos.clone(),
            fee_rate: self.fee_rate,
            recent_blockhash: self.recent_blockhash.clone(),
        }
    }
}

/// An unsigned transfer intent for the initiator to check and sign.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PreparedTransfer {
    /// Canonical `TransferIntent` (hex): decode and compare it with what
    /// you asked for before signing its hash.
    pub intent: String,
    /// Its hash (hex).
    pub hash: String,
}

#[utoipa::path(post, path = "/v1/wallets/{id}/transfers/prepare", params(("id" = String, Path, description = "wallet id")),
    request_body = TransferRequest,
    responses((status = 200, body = PreparedTransfer), (status = 400, body = ApiError), (status = 404, body = ApiError)))]
pub(crate) async fn prepare(
    State(api): State<Api>,
    Path(id): Path<String>,
    uri: Uri,
    signed: SignedBy,
) -> Result<Json<PreparedTransfer>, Failure> {
    // Like a read: it shows wallet addresses and balances' destinations.
    let SignedBy { user, body } = signed;
    crate::api::read_gate::may_read(&api, &user, uri.path()).await?;
    let body: TransferRequest =
        serde_json::from_slice(&body).map_err(|e| bad(format!("request body: {e}")))?;
    let chain = custos_chains::args::chain_intent(&body.args(), &api.hub.config().tokens)
        .map_err(|e| bad(e.to_string()))?;
    let intent = transfers::prepare(&api.hub, &id, body.index.unwrap_or(0), chain).await?;
    Ok(Json(PreparedTransfer {
        intent: hex::encode(intent.to_bytes().map_err(|e| bad(e.to_string()))?),
        hash: hex::encode(intent.hash().map_err(|e| bad(e.to_string()))?),
    }))
}
