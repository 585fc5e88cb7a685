//! What a user can ask the committee to sign, and the one pure function
//! that turns a request into what the nodes sign and what policy counts
//! ([`plan`]). Every node and the server call it on the same request bytes;
//! a node signs only the payloads it planned itself.
//!
//! One meaning per signature: a transfer signs the sighashes of the
//! transaction built from its intent; a PSBT the sighashes of the wallet's
//! inputs; a message the digest its chain's message convention makes
//! ([`custos_chains::message`]), which no transaction has; a blind digest a
//! bare 32 bytes, only on a wallet created for it (the node checks that).

use custos_chains::intent::{BitcoinNetwork, TransferIntent};
use custos_chains::message::MessageFormat;
use custos_chains::outflow::Outflow;
use custos_chains::psbt::{PlannedInput, Psbt, WalletScripts};
use custos_chains::{AccountKey, ChainError, Payload, Unsigned};
use custos_policy::Kind;
use custos_tss::{DerivationPath, Scheme};
use serde::{Deserialize, Serialize};

/// A message signed by its chain's convention, at a path of a wallet's key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRequest {
    /// Unique id, chosen by the initiator.
    pub request_id: [u8; 16],
    /// Wallet id.
    pub wallet: String,
    /// Key id (hex).
    pub key_id: String,
    /// Non-hardened derivation path, `m/...`.
    pub path: String,
    /// The convention (EIP-191, BIP-322, Solana off-chain).
    pub format: MessageFormat,
    /// The message itself (never a digest: the nodes hash it).
    pub message: Vec<u8>,
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

/// A bare digest, signed only by a wallet created for blind signing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlindRequest {
    /// Unique id, chosen by the initiator.
    pub request_id: [u8; 16],
    /// Wallet id (a blind wallet).
    pub wallet: String,
    /// Key id (hex).
    pub key_id: String,
    /// Non-hardened derivation path, `m/...`.
    pub path: String,
    /// The digest (ECDSA, BIP-340) or 32-byte message (Ed25519).
    pub digest: [u8; 32],
}

/// Everything a user can ask the committee to sign; the initiator signs
/// [`SigningRequest::hash`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SigningRequest {
    /// A transfer the nodes build themselves.
    Transfer(TransferIntent),
    /// A message, domain-separated by its chain's convention.
    Message(MessageRequest),
    /// A PSBT.
    Psbt(PsbtRequest),
    /// A bare digest on a blind wallet.
    Blind(BlindRequest),
}

const MESSAGE_TAG: &[u8] = b"custos/request/message/v2";
const PSBT_TAG: &[u8] = b"custos/request/psbt/v1";
const BLIND_TAG: &[u8] = b"custos/request/blind/v1";

/// Why a request does not decode or plan.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// Bytes do not decode, trail, or are not the canonical encoding.
    #[error("signing request does not decode")]
    Malformed,
    /// The request is invalid for its chain or key.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// A derivation path is invalid or hardened.
    #[error("path: {0}")]
    Path(String),
}

impl SigningRequest {
    /// Canonical encoding (postcard).
    pub fn to_bytes(&self) -> Result<Vec<u8>, RequestError> {
        postcard::to_stdvec(self).map_err(|_| RequestError::Malformed)
    }

    /// Decodes, refusing oversized input, trailing bytes and any encoding
    /// but the canonical one (one request, one byte string, one hash).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, RequestError> {
        if bytes.len() > custos_chains::intent::MAX_INTENT_BYTES + 1024 {
            return Err(RequestError::Malformed);
        }
        let (r, rest): (Self, _) =
            postcard::take_from_bytes(bytes).map_err(|_| RequestError::Malformed)?;
        if !rest.is_empty() || r.to_bytes()? != bytes {
            return Err(RequestError::Malformed);
        }
        Ok(r)
    }

    /// What the initiator and approvers sign: a transfer's intent hash, or
    /// SHA-256 over a domain tag (one per kind) and the canonical request.
    pub fn hash(&self) -> Result<[u8; 32], RequestError> {
        use sha2::{Digest, Sha256};
        let (tag, body) = match self {
            SigningRequest::Transfer(t) => return Ok(t.hash()?),
            SigningRequest::Message(m) => (MESSAGE_TAG, postcard::to_stdvec(m)),
            SigningRequest::Psbt(p) => (PSBT_TAG, postcard::to_stdvec(p)),
            SigningRequest::Blind(b) => (BLIND_TAG, postcard::to_stdvec(b)),
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
            SigningRequest::Blind(b) => b.request_id,
        }
    }

    /// The wallet.
    pub fn wallet(&self) -> &str {
        match self {
            SigningRequest::Transfer(t) => &t.wallet,
            SigningRequest::Message(m) => &m.wallet,
            SigningRequest::Psbt(p) => &p.wallet,
            SigningRequest::Blind(b) => &b.wallet,
        }
    }

    /// The key id.
    pub fn key_id(&self) -> &str {
        match self {
            SigningRequest::Transfer(t) => &t.key_id,
            SigningRequest::Message(m) => &m.key_id,
            SigningRequest::Psbt(p) => &p.key_id,
            SigningRequest::Blind(b) => &b.key_id,
        }
    }

    /// Its kind, for policy.
    pub fn kind(&self) -> Kind {
        match self {
            SigningRequest::Transfer(_) => Kind::Transfer,
            SigningRequest::Message(_) => Kind::Message,
            SigningRequest::Psbt(_) => Kind::Psbt,
            SigningRequest::Blind(_) => Kind::Blind,
        }
    }
}

/// An output of the wallet a Bitcoin request spends, with the value the
/// request states for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatedOutpoint {
    /// Txid, display byte order.
    pub txid: [u8; 32],
    /// Output index.
    pub vout: u32,
    /// Stated value (sats).
    pub value: u64,
    /// Proven by the previous transaction in the request.
    pub proven: bool,
}

/// What signing a request takes, beyond its payloads: what the server
/// assembles the signatures into.
#[derive(Debug, Clone)]
pub enum Built {
    /// A transfer's unsigned transaction.
    Transfer(Box<Unsigned>),
    /// A PSBT with the wallet's inputs.
    Psbt {
        /// Its network.
        network: BitcoinNetwork,
        /// The parsed PSBT.
        psbt: Box<Psbt>,
        /// The wallet's inputs.
        planned: Vec<PlannedInput>,
    },
    /// A message, signed by the key at its path.
    Message {
        /// Convention.
        format: MessageFormat,
        /// The key at the path.
        key: AccountKey,
    },
    /// A blind digest, signed by the key at its path.
    Blind {
        /// The key at the path.
        key: AccountKey,
    },
}

/// A request planned: what each signature signs, at which path, what
/// policy counts, and which outpoint values it states.
#[derive(Debug, Clone)]
pub struct Planned {
    /// Chain whose convention or transaction it is (none: blind).
    pub chain: Option<&'static str>,
    /// Destinations and per-asset maxima.
    pub outflow: Outflow,
    /// One `(path, payload)` per signature, in order.
    pub work: Vec<(DerivationPath, Payload)>,
    /// Bitcoin: the wallet outputs it spends, as stated.
    pub outpoints: Vec<StatedOutpoint>,
    /// What the signatures complete.
    pub built: Built,
}

/// A derivation path in its one canonical spelling (`m/0/5`, not `m/0/05`
/// or ` m/0/+5`): one key, one record, one display.
fn path(p: &str) -> Result<DerivationPath, RequestError> {
    let parsed: DerivationPath = p
        .parse()
        .map_err(|e: custos_tss::ParamError| RequestError::Path(e.to_string()))?;
    if parsed.to_string() != p {
        return Err(RequestError::Path(format!(
            "{p:?} is not written canonically (write {parsed})"
        )));
    }
    Ok(parsed)
}

/// Plans `request` for a wallet of `scheme` whose public key at a path is
/// `key_at(path)` (the node: from its share; the server: from the wallet's
/// root key and chain code).
pub fn plan(
    request: &SigningRequest,
    scheme: Scheme,
    key_at: &dyn Fn(&DerivationPath) -> Result<Vec<u8>, ChainError>,
) -> Result<Planned, RequestError> {
    let account = |p: &DerivationPath| -> Result<AccountKey, ChainError> {
        Ok(AccountKey {
            scheme,
            public_key: key_at(p)?,
        })
    };
    match request {
        SigningRequest::Transfer(intent) => {
            intent.validate()?;
            let at = path(&intent.path())?;
            let unsigned = custos_chains::build(intent, &account(&at)?)?;
            let outflow = custos_chains::outflow::of_transfer(intent, &unsigned)?;
            let outpoints = match &intent.chain {
                custos_chains::ChainIntent::Bitcoin(b) => b
                    .utxos
                    .iter()
                    .map(|u| StatedOutpoint {
                        txid: u.txid,
                        vout: u.vout,
                        value: u.value,
                        proven: false,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            Ok(Planned {
                chain: Some(intent.chain.policy_chain()),
                outflow,
                work: unsigned
                    .payloads
                    .iter()
                    .map(|p| (at.clone(), p.clone()))
                    .collect(),
                outpoints,
                built: Built::Transfer(Box::new(unsigned)),
            })
        }
        SigningRequest::Psbt(p) => {
            let network: BitcoinNetwork = p.network.parse()?;
            let psbt = custos_chains::psbt::parse(&p.psbt)?;
            let scripts = WalletScripts::derive(network, |a| {
                let at = path(&format!("m/0/{a}")).map_err(|_| ChainError::Key("account path"))?;
                account(&at)
            })?;
            let planned = custos_chains::psbt::plan_with(&psbt, &scripts)?;
            let outflow = custos_chains::outflow::of_psbt(&psbt, network, &scripts.scripts())?;
            let work = planned
                .iter()
                .map(|i| Ok((path(&format!("m/0/{}", i.account))?, i.payload.clone())))
                .collect::<Result<Vec<_>, RequestError>>()?;
            let outpoints = planned
                .iter()
                .map(|i| StatedOutpoint {
                    txid: i.outpoint.0,
                    vout: i.outpoint.1,
                    value: i.value,
                    proven: i.proven,
                })
                .collect();
            Ok(Planned {
                chain: Some(network.policy_chain()),
                outflow,
                work,
                outpoints,
                built: Built::Psbt {
                    network,
                    psbt: Box::new(psbt),
                    planned,
                },
            })
        }
        SigningRequest::Message(m) => {
            let at = path(&m.path)?;
            let key = account(&at)?;
            let payload = custos_chains::message::payload(m.format, &key, &m.message)?;
            Ok(Planned {
                chain: Some(m.format.chain()),
                outflow: Outflow::default(),
                work: vec![(at, payload)],
                outpoints: Vec::new(),
                built: Built::Message {
                    format: m.format,
                    key,
                },
            })
        }
        SigningRequest::Blind(b) => {
            let at = path(&b.path)?;
            let key = account(&at)?;
            let payload = match scheme {
                Scheme::EcdsaSecp256k1 => Payload::Ecdsa(b.digest),
                Scheme::SchnorrBip340 => Payload::Bip340(b.digest),
                Scheme::Ed25519 => Payload::Ed25519(b.digest.to_vec()),
            };
            Ok(Planned {
                chain: None,
                outflow: Outflow::default(),
                work: vec![(at, payload)],
                outpoints: Vec::new(),
                built: Built::Blind { key },
            })
        }
    }
}

/// What an approver is shown, from the request alone (never the server's
/// summary): the wallet and, by kind, destination, amount, asset and fee
/// cap; a PSBT's outputs and fee; a message's format, path and text; a
/// blind digest and its path.
pub fn describe(request: &SigningRequest) -> String {
    use custos_chains::{Asset, ChainIntent};
    let asset = |a: &Asset| match a {
        Asset::Native => "native".to_owned(),
        Asset::Token { address, decimals } => format!("token {address} ({decimals} decimals)"),
    };
    let wallet = request.wallet();
    match request {
        SigningRequest::Transfer(t) => {
            let what = match &t.chain {
                ChainIntent::Ethereum(e) => format!(
                    "ethereum (chain id {}): {} {} to {}, fee cap {} wei ({} gas at {} wei), nonce {}",
                    e.chain_id,
                    e.amount,
                    asset(&e.asset),
                    e.to,
                    e.max_fee_per_gas.saturating_mul(u128::from(e.gas_limit)),
                    e.gas_limit,
                    e.max_fee_per_gas,
                    e.nonce
                ),
                ChainIntent::Bitcoin(b) => format!(
                    "bitcoin ({:?}): {} sats to {}, {} sat/vB, {} inputs",
                    b.network,
                    b.amount,
                    b.to,
                    b.fee_rate,
                    b.utxos.len()
                ),
                ChainIntent::Solana(s) => format!(
                    "solana: {} {} to {}",
                    s.amount,
                    asset(&s.asset),
                    s.to
                ),
            };
            format!("transfer from wallet {wallet} account {}: {what}", t.path())
        }
        SigningRequest::Psbt(p) => {
            let outputs = custos_chains::psbt::parse(&p.psbt)
                .map(|psbt| {
                    let network = p
                        .network
                        .parse::<BitcoinNetwork>()
                        .map(bitcoin::Network::from)
                        .unwrap_or(bitcoin::Network::Bitcoin);
                    let fee = custos_chains::psbt::input_value(&psbt)
                        .ok()
                        .and_then(|i| {
                            psbt.unsigned_tx
                                .output
                                .iter()
                                .try_fold(i, |left, o| left.checked_sub(o.value.to_sat()))
                        })
                        .map_or("unknown".to_owned(), |f| format!("{f} sats"));
                    let outs: Vec<String> = psbt
                        .unsigned_tx
                        .output
                        .iter()
                        .map(|o| {
                            let to = bitcoin::Address::from_script(&o.script_pubkey, network)
                                .map_or_else(
                                    |_| {
                                        format!(
                                            "script {}",
                                            hex::encode(o.script_pubkey.as_bytes())
                                        )
                                    },
                                    |a| a.to_string(),
                                );
                            format!("{} sats to {to}", o.value.to_sat())
                        })
                        .collect();
                    format!("outputs [{}], fee {fee}", outs.join(", "))
                })
                .unwrap_or_else(|e| format!("undecodable PSBT: {e}"));
            format!("PSBT on {} from wallet {wallet}: {outputs}", p.network)
        }
        SigningRequest::Message(m) => {
            let text = match std::str::from_utf8(&m.message) {
                Ok(t) => format!("{t:?}"),
                Err(_) => format!("0x{}", hex::encode(&m.message)),
            };
            format!(
                "{} message from wallet {wallet} at {}: {text}",
                m.format, m.path
            )
        }
        SigningRequest::Blind(b) => format!(
            "BLIND digest {} from blind wallet {wallet} at {} (the nodes cannot see what it signs)",
            hex::encode(b.digest),
            b.path
        ),
    }
}
