//! `/v1` endpoints for addresses and transfer preparation.

use std::str::FromStr;

use axum::extract::{Path, Query, State};
use axum::http::Uri;
use axum::Json;
use custos_chains::address::AddressKind;
use custos_chains::intent::{
    Asset, BitcoinNetwork, BitcoinTransfer, ChainIntent, EthereumTransfer, SolanaTransfer, Utxo,
};
use custos_tss::PartyIndex;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api::error::{bad, ApiError, Failure};
use crate::api::extract::SignedBy;
use crate::api::state::Api;
use crate::error::FlowError;
use crate::transfers;

fn network(n: Option<&str>) -> Result<(BitcoinNetwork, String), Failure> {
    let name = n.unwrap_or("mainnet");
    let net = BitcoinNetwork::from_str(name).map_err(|e| bad(e.to_string()))?;
    Ok((net, name.to_owned()))
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
        "bitcoin" => AddressKind::Bitcoin(network(q.network.as_deref())?.0),
        "solana" => AddressKind::Solana,
        other => return Err(bad(format!("unknown chain {other:?}"))),
    };
    let address = transfers::address(&api.hub, &id, q.index.unwrap_or(0), kind).await?;
    Ok(Json(AddressResponse { address }))
}

/// A transfer from one wallet account; chain-specific fields as named.
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

fn need<T>(v: Option<T>, name: &str, chain: &str) -> Result<T, Failure> {
    v.ok_or_else(|| bad(format!("{chain} transfers need {name}")))
}

fn number<T: FromStr>(s: &str, what: &str) -> Result<T, Failure> {
    s.trim()
        .parse()
        .map_err(|_| bad(format!("{what} is not a whole number in range")))
}

fn utxo(s: &str) -> Result<Utxo, Failure> {
    let mut parts = s.split(':');
    let (Some(txid), Some(vout), Some(value), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad(format!("UTXO {s:?} is not TXID:VOUT:SATS")));
    };
    let txid: [u8; 32] = hex::decode(txid)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| bad(format!("UTXO {s:?}: txid is not 32 bytes of hex")))?;
    Ok(Utxo {
        txid,
        vout: number(vout, "vout")?,
        value: number(value, "UTXO value")?,
    })
}

/// The chain part of an intent for `r` (tokens resolved from `tokens`); the
/// CLI uses it too, to compare a prepared intent with what the user asked.
pub fn chain_intent(
    r: &TransferRequest,
    tokens: &[custos_chains::intent::KnownToken],
) -> Result<ChainIntent, String> {
    intent(r, tokens).map_err(|f| f.1)
}

fn intent(
    r: &TransferRequest,
    tokens: &[custos_chains::intent::KnownToken],
) -> Result<ChainIntent, Failure> {
    let asset = |chain: &str| -> Result<Asset, Failure> {
        match &r.asset {
            None => Ok(Asset::Native),
            Some(address) => tokens
                .iter()
                .find(|t| t.chain == chain && t.address == *address)
                .map(|t| Asset::Token {
                    address: t.address.clone(),
                    decimals: t.decimals,
                })
                .ok_or_else(|| bad(format!("unknown token {address}"))),
        }
    };
    match r.chain.as_str() {
        "ethereum" => Ok(ChainIntent::Ethereum(EthereumTransfer {
            chain_id: need(r.chain_id, "--chain-id", "ethereum")?,
            to: r.to.clone(),
            asset: asset("ethereum")?,
            amount: number(&r.amount, "amount")?,
            nonce: need(r.nonce, "--nonce", "ethereum")?,
            max_fee_per_gas: number(
                &need(r.max_fee_per_gas.clone(), "--max-fee-per-gas", "ethereum")?,
                "max fee per gas",
            )?,
            max_priority_fee_per_gas: number(
                &need(
                    r.max_priority_fee_per_gas.clone(),
                    "--max-priority-fee-per-gas",
                    "ethereum",
                )?,
                "max priority fee per gas",
            )?,
            gas_limit: need(r.gas_limit, "--gas-limit", "ethereum")?,
        })),
        "bitcoin" => {
            if r.asset.is_some() {
                return Err(bad("bitcoin transfers move bitcoin only"));
            }
            Ok(ChainIntent::Bitcoin(BitcoinTransfer {
                network: network(r.network.as_deref())?.0,
                to: r.to.clone(),
                amount: number(&r.amount, "amount")?,
                utxos: need(r.utxos.as_ref(), "--utxo", "bitcoin")?
                    .iter()
                    .map(|u| utxo(u))
                    .collect::<Result<_, _>>()?,
                fee_rate: need(r.fee_rate, "--fee-rate", "bitcoin")?,
            }))
        }
        "solana" => Ok(ChainIntent::Solana(SolanaTransfer {
            to: r.to.clone(),
            asset: asset("solana")?,
            amount: number(&r.amount, "amount")?,
            recent_blockhash: need(r.recent_blockhash.clone(), "--recent-blockhash", "solana")?,
        })),
        other => Err(bad(format!("unknown chain {other:?}"))),
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
    let chain = intent(&body, &api.hub.config().tokens)?;
    let intent = transfers::prepare(&api.hub, &id, body.index.unwrap_or(0), chain).await?;
    Ok(Json(PreparedTransfer {
        intent: hex::encode(intent.to_bytes().map_err(|e| bad(e.to_string()))?),
        hash: hex::encode(intent.hash().map_err(|e| bad(e.to_string()))?),
    }))
}
