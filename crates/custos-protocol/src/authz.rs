//! What the server forwards so that each node can decide for itself whether
//! a signing was authorised: the initiator's and approvers' signatures, the
//! governance head they acted under, and the audit-log records of dispatched
//! signings that make up every node's velocity ledger.

use custos_audit::checkpoint::Checkpoint;
use custos_audit::entry::SignedEntry;
use custos_chains::intent::{Asset, ChainIntent, TransferIntent};
use custos_chains::ChainError;
use custos_governance::{Genesis, SignedProposal};
use serde::{Deserialize, Serialize};

/// Audit action of the entry that records a signing being dispatched; its
/// detail is a [`SigningRecord`] in JSON.
pub const SIGN_ACTION: &str = "sign";

/// The signatures behind a signing request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authorization {
    /// Governance head the request was approved under.
    pub head: [u8; 32],
    /// Initiator's user id.
    pub initiator: String,
    /// Initiator's signature over `initiate_message(request hash)`.
    pub initiator_signature: Vec<u8>,
    /// (approver id, signature over `approval_message(request hash, head)`).
    pub approvals: Vec<(String, Vec<u8>)>,
    /// The server's clock (Unix seconds); nodes refuse it if it is far
    /// from their own and decide with their own.
    pub time: i64,
}

/// A signing as the audit log records it before any node signs: what every
/// node adds to its velocity ledger when it witnesses the entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningRecord {
    /// Request id (hex).
    pub request_id: String,
    /// Request hash (hex): what the initiator signed.
    pub request: String,
    /// Source wallet.
    pub wallet: String,
    /// Initiator.
    pub initiator: String,
    /// Chain name.
    pub chain: String,
    /// `native` or the token address.
    pub asset: String,
    /// Recipient.
    pub destination: String,
    /// Amount in base units (decimal).
    pub amount: String,
}

impl SigningRecord {
    /// The record of `intent` started by `initiator`: what policy matches on
    /// and velocity adds up.
    pub fn for_transfer(intent: &TransferIntent, initiator: &str) -> Result<Self, ChainError> {
        let asset = |a: &Asset| match a {
            Asset::Native => "native".to_owned(),
            Asset::Token { address, .. } => address.clone(),
        };
        let (asset, destination, amount) = match &intent.chain {
            ChainIntent::Ethereum(t) => (asset(&t.asset), t.to.clone(), t.amount),
            ChainIntent::Bitcoin(t) => ("native".to_owned(), t.to.clone(), u128::from(t.amount)),
            ChainIntent::Solana(t) => (asset(&t.asset), t.to.clone(), u128::from(t.amount)),
        };
        Ok(Self {
            request_id: hex::encode(intent.request_id),
            request: hex::encode(intent.hash()?),
            wallet: intent.wallet.clone(),
            initiator: initiator.to_owned(),
            chain: intent.chain.name().to_owned(),
            asset,
            destination,
            amount: amount.to_string(),
        })
    }
}

/// A raw signing: a message (or, for ECDSA without `sha256`, a 32-byte
/// digest) at a derivation path of a wallet's key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRequest {
    /// Unique id, chosen by the initiator.
    pub request_id: [u8; 16],
    /// Wallet id.
    pub wallet: String,
    /// Key id (hex).
    pub key_id: String,
    /// Derivation path, `m/...`.
    pub path: String,
    /// The message or digest.
    pub message: Vec<u8>,
    /// ECDSA: each node hashes `message` with SHA-256.
    pub sha256: bool,
}

/// A PSBT whose inputs of a wallet are to be signed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PsbtRequest {
    /// Unique id, chosen by the initiator.
    pub request_id: [u8; 16],
    /// Wallet id.
    pub wallet: String,
    /// Key id (hex).
    pub key_id: String,
    /// Bitcoin network name.
    pub network: String,
    /// The PSBT (binary).
    pub psbt: Vec<u8>,
}

/// Everything a user can ask the committee to sign; the initiator signs
/// [`SigningRequest::hash`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SigningRequest {
    /// A transfer the nodes build themselves.
    Transfer(TransferIntent),
    /// A raw message or digest.
    Message(MessageRequest),
    /// A PSBT.
    Psbt(PsbtRequest),
}

/// Policy chain name of raw signings: a rule must name it to allow them.
pub const MESSAGE_CHAIN: &str = "message";
/// Policy chain name of PSBT signings.
pub const PSBT_CHAIN: &str = "bitcoin-psbt";
const MESSAGE_TAG: &[u8] = b"custos/request/message/v1";
const PSBT_TAG: &[u8] = b"custos/request/psbt/v1";

/// Why a request does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// Bytes do not decode, or trail.
    #[error("signing request does not decode")]
    Malformed,
    /// The transfer intent is invalid.
    #[error(transparent)]
    Chain(#[from] ChainError),
}

impl SigningRequest {
    /// Canonical encoding (postcard).
    pub fn to_bytes(&self) -> Result<Vec<u8>, RequestError> {
        postcard::to_stdvec(self).map_err(|_| RequestError::Malformed)
    }

    /// Decodes, refusing trailing bytes and oversized input.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, RequestError> {
        if bytes.len() > custos_chains::intent::MAX_INTENT_BYTES + 1024 {
            return Err(RequestError::Malformed);
        }
        let (r, rest) = postcard::take_from_bytes(bytes).map_err(|_| RequestError::Malformed)?;
        if !rest.is_empty() {
            return Err(RequestError::Malformed);
        }
        Ok(r)
    }

    /// What the initiator and approvers sign: a transfer's intent hash, or
    /// SHA-256 over a domain tag and the canonical request.
    pub fn hash(&self) -> Result<[u8; 32], RequestError> {
        use sha2::{Digest, Sha256};
        let (tag, body) = match self {
            SigningRequest::Transfer(t) => return Ok(t.hash()?),
            SigningRequest::Message(m) => (MESSAGE_TAG, postcard::to_stdvec(m)),
            SigningRequest::Psbt(p) => (PSBT_TAG, postcard::to_stdvec(p)),
        };
        let body = body.map_err(|_| RequestError::Malformed)?;
        Ok(Sha256::new()
            .chain_update(tag)
            .chain_update(body)
            .finalize()
            .into())
    }

    /// The request id.
    pub fn request_id(&self) -> [u8; 16] {
        match self {
            SigningRequest::Transfer(t) => t.request_id,
            SigningRequest::Message(m) => m.request_id,
            SigningRequest::Psbt(p) => p.request_id,
        }
    }

    /// The wallet.
    pub fn wallet(&self) -> &str {
        match self {
            SigningRequest::Transfer(t) => &t.wallet,
            SigningRequest::Message(m) => &m.wallet,
            SigningRequest::Psbt(p) => &p.wallet,
        }
    }

    /// The key id.
    pub fn key_id(&self) -> &str {
        match self {
            SigningRequest::Transfer(t) => &t.key_id,
            SigningRequest::Message(m) => &m.key_id,
            SigningRequest::Psbt(p) => &p.key_id,
        }
    }

    /// What policy matches on: transfers by chain, asset, destination and
    /// amount; raw signings as chain `message` with amount 0 (policy cannot
    /// see what they move, so rules for them should require approvals);
    /// PSBTs as chain `bitcoin-psbt` with the sum of all input values in
    /// sats as the amount (an upper bound: see `psbt::input_value`) and no
    /// destination (only rules for any destination match).
    pub fn record(&self, initiator: &str) -> Result<SigningRecord, RequestError> {
        let other = |chain: &str, amount: u64| -> Result<SigningRecord, RequestError> {
            Ok(SigningRecord {
                request_id: hex::encode(self.request_id()),
                request: hex::encode(self.hash()?),
                wallet: self.wallet().to_owned(),
                initiator: initiator.to_owned(),
                chain: chain.to_owned(),
                asset: chain.to_owned(),
                destination: String::new(),
                amount: amount.to_string(),
            })
        };
        match self {
            SigningRequest::Transfer(t) => Ok(SigningRecord::for_transfer(t, initiator)?),
            SigningRequest::Message(_) => other(MESSAGE_CHAIN, 0),
            SigningRequest::Psbt(p) => {
                let psbt = custos_chains::psbt::parse(&p.psbt)?;
                other(PSBT_CHAIN, custos_chains::psbt::input_value(&psbt)?)
            }
        }
    }
}

/// Server → node: the governance chain as the server holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GovernanceSync {
    /// Genesis (the node checks its hash against the one its operator
    /// confirmed).
    pub genesis: Genesis,
    /// Proposals from height 1.
    pub chain: Vec<SignedProposal>,
}

/// Server → node: new audit entries and the checkpoint over them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WitnessRequest {
    /// Entries from the size of the node's last co-signed checkpoint on.
    pub entries: Vec<SignedEntry>,
    /// The checkpoint to co-sign.
    pub checkpoint: Checkpoint,
    /// The server's signature over it.
    pub server_signature: Vec<u8>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use bitcoin::{absolute, transaction, Amount, OutPoint, ScriptBuf, Transaction, TxIn, TxOut};

    fn psbt(values: &[Option<u64>]) -> Vec<u8> {
        let tx = Transaction {
            version: transaction::Version::TWO,
            lock_time: absolute::LockTime::ZERO,
            input: values
                .iter()
                .map(|_| TxIn {
                    previous_output: OutPoint::null(),
                    ..TxIn::default()
                })
                .collect(),
            output: vec![TxOut {
                value: Amount::from_sat(1_000),
                script_pubkey: ScriptBuf::new(),
            }],
        };
        let mut p = bitcoin::psbt::Psbt::from_unsigned_tx(tx).unwrap();
        for (input, v) in p.inputs.iter_mut().zip(values) {
            input.witness_utxo = v.map(|sats| TxOut {
                value: Amount::from_sat(sats),
                script_pubkey: ScriptBuf::new(),
            });
        }
        p.serialize()
    }

    fn psbt_request(bytes: Vec<u8>) -> SigningRequest {
        SigningRequest::Psbt(PsbtRequest {
            request_id: [1; 16],
            wallet: "w".into(),
            key_id: "k".into(),
            network: "regtest".into(),
            psbt: bytes,
        })
    }

    #[test]
    fn policy_sees_a_psbts_input_value_and_a_messages_zero() {
        let r = psbt_request(psbt(&[Some(100_000), Some(30_000)]))
            .record("ivy")
            .unwrap();
        assert_eq!(
            (r.chain.as_str(), r.asset.as_str()),
            (PSBT_CHAIN, PSBT_CHAIN)
        );
        assert_eq!((r.amount.as_str(), r.destination.as_str()), ("130000", ""));
        assert_eq!(r.initiator, "ivy");
        // An input of unknown value: no record, so no signing.
        assert!(psbt_request(psbt(&[Some(1), None])).record("ivy").is_err());
        let m = SigningRequest::Message(MessageRequest {
            request_id: [2; 16],
            wallet: "w".into(),
            key_id: "k".into(),
            path: "m".into(),
            message: vec![1, 2, 3],
            sha256: true,
        });
        let r = m.record("ivy").unwrap();
        assert_eq!((r.chain.as_str(), r.amount.as_str()), (MESSAGE_CHAIN, "0"));
    }
}
