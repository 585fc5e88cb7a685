//! Wallet creation and signing across the committee. The server checks that
//! every node reports the same result and verifies signatures before it
//! records or returns them; it never holds key material.

use std::collections::BTreeMap;
use std::time::Duration;

use custos_tss::{DerivationPath, PartyIndex, Scheme};
use custos_wire::control::{JobKind, Outcome};
use rand_core::{OsRng, RngCore};

use crate::hub::{Hub, HubError};
use crate::store::{SessionKind, SignRequestRecord, State, StoreError, WalletRecord};

/// Why a wallet or signing request failed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// Bad input from the client.
    #[error("{0}")]
    Invalid(String),
    /// No such wallet.
    #[error("wallet {0} not found")]
    NoWallet(String),
    /// The nodes could not run or finish the job.
    #[error(transparent)]
    Hub(#[from] HubError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn random_id() -> String {
    let mut b = [0u8; 8];
    OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

/// The single value every node must have reported.
fn agreed<T: PartialEq + Clone>(
    outcomes: &BTreeMap<PartyIndex, Outcome>,
    pick: impl Fn(&Outcome) -> Option<T>,
) -> Result<T, HubError> {
    let mut values = outcomes.values().map(pick);
    let first = values
        .next()
        .flatten()
        .ok_or(HubError::Disagree("unexpected outcome"))?;
    if values.all(|v| v.as_ref() == Some(&first)) {
        Ok(first)
    } else {
        Err(HubError::Disagree("different results"))
    }
}

/// Creates a wallet: aux info first if this is the committee's first ECDSA
/// key, then DKG across all members.
pub async fn create_wallet(hub: &Hub, scheme: Scheme) -> Result<WalletRecord, FlowError> {
    let config = hub.config();
    let all: Vec<PartyIndex> = (0..config.members.len() as u16).collect();
    let timeout = Duration::from_millis(config.session_timeout_ms);
    if scheme == Scheme::EcdsaSecp256k1 {
        let committee = hub.store().committee(&config.committee_id).await?;
        if committee.and_then(|c| c.aux_id).is_none() {
            let aux_timeout = Duration::from_millis(config.aux_timeout_ms);
            let (_, outcomes) = hub
                .run(
                    JobKind::AuxInfo,
                    SessionKind::AuxInfo,
                    &all,
                    None,
                    aux_timeout,
                )
                .await?;
            let aux_id = agreed(&outcomes, |o| match o {
                Outcome::AuxInfo { aux_id } => Some(aux_id.clone()),
                _ => None,
            })?;
            hub.store()
                .set_committee_aux(&config.committee_id, &aux_id)
                .await?;
        }
    }
    let (_, outcomes) = hub
        .run(
            JobKind::Keygen { scheme },
            SessionKind::Keygen,
            &all,
            None,
            timeout,
        )
        .await?;
    let (key_id, public_key, root_key, chain_code) = agreed(&outcomes, |o| match o {
        Outcome::Keygen {
            key_id,
            public_key,
            root_key,
            chain_code,
        } => Some((
            key_id.clone(),
            public_key.clone(),
            root_key.clone(),
            chain_code.clone(),
        )),
        _ => None,
    })?;
    let wallet = WalletRecord {
        id: random_id(),
        scheme,
        committee_id: config.committee_id.clone(),
        key_id,
        public_key,
        root_key,
        chain_code: Some(chain_code),
        created_at: now(),
    };
    hub.store().insert_wallet(&wallet).await?;
    Ok(wallet)
}

/// A finished signature with what it verifies against.
#[derive(Debug, Clone)]
pub struct SignedMessage {
    /// Scheme.
    pub scheme: Scheme,
    /// Public key at the path (hex).
    pub public_key: String,
    /// Message (hex).
    pub message: String,
    /// Signature (hex).
    pub signature: String,
}

/// Signs `message` with `wallet_id` at `path`, by `signers` or by the first
/// `t` connected members.
pub async fn sign(
    hub: &Hub,
    wallet_id: &str,
    message: Vec<u8>,
    path: &str,
    signers: Option<Vec<PartyIndex>>,
) -> Result<SignedMessage, FlowError> {
    let wallet = hub
        .store()
        .wallet(wallet_id)
        .await?
        .ok_or_else(|| FlowError::NoWallet(wallet_id.to_owned()))?;
    let config = hub.config();
    let parsed: DerivationPath = path
        .parse()
        .map_err(|e: custos_tss::ParamError| FlowError::Invalid(e.to_string()))?;
    if wallet.scheme == Scheme::EcdsaSecp256k1 && message.len() != 32 {
        return Err(FlowError::Invalid("ECDSA signs a 32-byte digest".into()));
    }
    if message.is_empty() || message.len() > 64 * 1024 {
        return Err(FlowError::Invalid(
            "message must be 1 byte to 64 KiB".into(),
        ));
    }
    let t = usize::from(config.threshold);
    let signers = match signers {
        Some(s) => s,
        None => {
            let mut connected = Vec::new();
            for (i, key) in config.members.iter().enumerate() {
                if connected.len() < t && hub.is_connected(key).await {
                    connected.push(i as PartyIndex);
                }
            }
            if connected.len() < t {
                return Err(HubError::Unavailable(format!(
                    "only {} of the {t} required nodes are connected",
                    connected.len()
                ))
                .into());
            }
            connected
        }
    };
    let mut sorted = signers.clone();
    sorted.sort_unstable();
    sorted.dedup();
    if sorted.len() != t
        || signers.len() != t
        || sorted
            .iter()
            .any(|&s| usize::from(s) >= config.members.len())
    {
        return Err(FlowError::Invalid(format!(
            "exactly {t} distinct signers from 0..{} are required",
            config.members.len()
        )));
    }
    let root_key =
        hex::decode(&wallet.root_key).map_err(|_| FlowError::Invalid("stored root key".into()))?;
    let chain_code: [u8; 32] = wallet
        .chain_code
        .as_deref()
        .and_then(|c| hex::decode(c).ok())
        .and_then(|c| c.try_into().ok())
        .ok_or_else(|| FlowError::Invalid("stored chain code".into()))?;
    let public_key = custos_tss::hd::public_key_at(wallet.scheme, &root_key, &chain_code, &parsed)
        .map_err(|e| FlowError::Invalid(e.to_string()))?;
    let request_id = random_id();
    let t0 = now();
    hub.store()
        .insert_request(&SignRequestRecord {
            id: request_id.clone(),
            wallet_id: wallet.id.clone(),
            message: message.clone(),
            path: parsed.to_string(),
            state: State::Running,
            session_id: None,
            signature: None,
            error: None,
            created_at: t0,
            updated_at: t0,
        })
        .await?;
    let kind = JobKind::Sign {
        key_id: wallet.key_id.clone(),
        signers: sorted.clone(),
        path: parsed.to_string(),
        message: message.clone(),
    };
    let timeout = Duration::from_millis(config.session_timeout_ms);
    let result = hub
        .run(kind, SessionKind::Sign, &sorted, Some(&wallet.id), timeout)
        .await
        .and_then(|(session, outcomes)| {
            let signature = agreed(&outcomes, |o| match o {
                Outcome::Signature { signature } => Some(signature.clone()),
                _ => None,
            })?;
            let bytes =
                hex::decode(&signature).map_err(|_| HubError::Disagree("signature is not hex"))?;
            if !custos_tss::verify(wallet.scheme, &public_key, &message, &bytes) {
                return Err(HubError::Disagree("signature does not verify"));
            }
            Ok((session, bytes))
        });
    match result {
        Ok((session, signature)) => {
            hub.store()
                .complete_request(&request_id, &session, &signature, now())
                .await?;
            Ok(SignedMessage {
                scheme: wallet.scheme,
                public_key: hex::encode(public_key),
                message: hex::encode(message),
                signature: hex::encode(signature),
            })
        }
        Err(e) => {
            hub.store()
                .fail_request(&request_id, &e.to_string(), now())
                .await?;
            Err(e.into())
        }
    }
}
