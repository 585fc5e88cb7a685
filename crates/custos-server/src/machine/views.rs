//! What a request shows its users: the policy-relevant record (what
//! approvers are shown) and what a signing produced. Leaves of
//! `machine::request`.

use custos_protocol::authz::SigningRecord;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Policy-relevant fields of a request: what approvers are shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RecordView {
    /// Wallet.
    pub wallet: String,
    /// Initiator.
    pub initiator: String,
    /// `transfer` | `psbt` | `message` | `blind`.
    #[schema(value_type = String)]
    pub kind: custos_policy::Kind,
    /// Chain (none: blind digest).
    pub chain: Option<String>,
    /// Every destination (canonical).
    pub destinations: Vec<String>,
    /// Per asset: `native` or the token, and base units (amount plus, in
    /// the native bucket, the maximum fee).
    pub spends: Vec<SpendView>,
    /// Messages and blind digests: derivation path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Blind digests: the digest (hex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// One asset bucket of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SpendView {
    /// `native` or the token address.
    pub asset: String,
    /// Base units (decimal).
    pub amount: String,
}

impl RecordView {
    /// As a velocity entry at `time` (`None`: an amount is not a number).
    pub fn spent(&self, time: i64) -> Option<custos_policy::Spent> {
        Some(custos_policy::Spent {
            time,
            wallet: self.wallet.clone(),
            initiator: self.initiator.clone(),
            kind: self.kind,
            chain: self.chain.clone(),
            spends: self
                .spends
                .iter()
                .map(|s| {
                    Some(custos_policy::Spend {
                        asset: s.asset.clone(),
                        amount: s.amount.parse().ok()?,
                    })
                })
                .collect::<Option<Vec<_>>>()?,
        })
    }
}

/// What a signed request produced.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SignedView {
    /// Transfers and complete PSBTs: Ethereum 0x-hex, Bitcoin hex, Solana base64.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw_tx: Option<String>,
    /// Transfers: the sending address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Bitcoin: (scriptPubKey hex, value) per input.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub prevouts: Vec<(String, u64)>,
    /// PSBTs: the updated PSBT (base64).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub psbt: Option<String>,
    /// Messages: scheme.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    /// Messages: public key at the path (hex).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    /// Messages and blind digests: what the signature verifies against
    /// (hex): the digest, or for Ed25519 the signed bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Messages and blind digests: the signature (hex).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// Messages: the convention (`eip191`, `bip322`, `solana-offchain`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// Messages: the signer's address by that convention.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Messages: the signature in the chain's own encoding (EIP-191 0x r‖s‖v,
    /// BIP-322 `smp` base64, Solana base58).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoded: Option<String>,
}

impl From<&SigningRecord> for RecordView {
    fn from(r: &SigningRecord) -> Self {
        Self {
            wallet: r.wallet.clone(),
            initiator: r.initiator.clone(),
            kind: r.kind,
            chain: r.chain.clone(),
            destinations: r.destinations.clone(),
            spends: r
                .spends
                .iter()
                .map(|s| SpendView {
                    asset: s.asset.clone(),
                    amount: s.amount.clone(),
                })
                .collect(),
            path: r.path.clone(),
            digest: r.digest.clone(),
        }
    }
}
