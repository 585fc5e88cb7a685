//! Signing across the committee: which nodes sign, raw-message signing
//! (from a pooled presignature when one fits, else in full), and the
//! checks the server makes on what the nodes return. The server verifies
//! every signature before it records or returns it; it never holds key
//! material, and every job carries the authorisation each node re-checks.

use std::collections::BTreeMap;
use std::time::Duration;

use custos_net::clock::unix_now as now;
use custos_protocol::control::{JobKind, Outcome};
use custos_tss::{DerivationPath, PartyIndex, Scheme};
use rand_core::{OsRng, RngCore};

use crate::error::FlowError;
use crate::hub::{Hub, HubError};
use crate::store::{SessionKind, SignRequestRecord, State, WalletRecord};

pub(crate) fn random_id() -> String {
    let mut b = [0u8; 8];
    OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

/// The single value every node must have reported.
pub fn agreed<T: PartialEq + Clone>(
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

/// A finished signature with what it verifies against.
#[derive(Debug, Clone)]
pub struct SignedMessage {
    /// Scheme.
    pub scheme: Scheme,
    /// Public key at the path (hex).
    pub public_key: String,
    /// What the signature verifies against (hex): the message, or for ECDSA
    /// the 32-byte digest.
    pub message: String,
    /// Signature (hex).
    pub signature: String,
    /// Made from a pooled presignature (one online round).
    pub presigned: bool,
}

/// What to sign and how.
#[derive(Debug, Clone)]
pub struct SignSpec {
    /// BIP-340, Ed25519 and ECDSA with `sha256`: the message; ECDSA without:
    /// the 32-byte digest.
    pub message: Vec<u8>,
    /// ECDSA only: each node hashes `message` with SHA-256 itself. Only
    /// such signings may use a presignature.
    pub sha256: bool,
    /// Derivation path.
    pub path: String,
    /// Exactly `t` signers, or `None` for the first `t` connected.
    pub signers: Option<Vec<PartyIndex>>,
}

/// All `t`-subsets of `from` (sorted), smallest indices first.
fn subsets(from: &[PartyIndex], t: usize) -> Vec<Vec<PartyIndex>> {
    let mut out = Vec::new();
    fn go(
        from: &[PartyIndex],
        t: usize,
        cur: &mut Vec<PartyIndex>,
        out: &mut Vec<Vec<PartyIndex>>,
    ) {
        if cur.len() == t {
            out.push(cur.clone());
            return;
        }
        for (i, &p) in from.iter().enumerate() {
            cur.push(p);
            go(from.get(i + 1..).unwrap_or_default(), t, cur, out);
            cur.pop();
        }
    }
    go(from, t, &mut Vec::new(), &mut out);
    out
}

/// The wallet's public key at `path`, from its stored public data.
pub fn public_key_at(w: &WalletRecord, path: &DerivationPath) -> Result<Vec<u8>, FlowError> {
    let root =
        hex::decode(&w.root_key).map_err(|_| FlowError::Invalid("stored root key".into()))?;
    let chain_code: [u8; 32] = w
        .chain_code
        .as_deref()
        .and_then(|c| hex::decode(c).ok())
        .and_then(|c| c.try_into().ok())
        .ok_or_else(|| FlowError::Invalid("stored chain code".into()))?;
    custos_tss::hd::public_key_at(w.scheme, &root, &chain_code, path)
        .map_err(|e| FlowError::Invalid(e.to_string()))
}

/// `explicit` checked, or the first `t` connected members.
pub async fn choose_signers(
    hub: &Hub,
    explicit: Option<Vec<PartyIndex>>,
) -> Result<Vec<PartyIndex>, FlowError> {
    if let Some(s) = explicit {
        return check_signers(hub, &s);
    }
    let t = usize::from(hub.config().threshold);
    let up = hub.connected().await;
    if up.len() < t {
        return Err(HubError::Unavailable(format!(
            "only {} of the {t} required nodes are connected",
            up.len()
        ))
        .into());
    }
    Ok(up.into_iter().take(t).collect())
}

/// Checks an explicit signer set: exactly `t` distinct members.
fn check_signers(hub: &Hub, signers: &[PartyIndex]) -> Result<Vec<PartyIndex>, FlowError> {
    let config = hub.config();
    let t = usize::from(config.threshold);
    let mut sorted = signers.to_vec();
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
    Ok(sorted)
}

/// What makes a signing job authorised: the request id, the wallet and the
/// initiator's and approvers' signatures the nodes check.
#[derive(Debug, Clone)]
pub struct AuthContext {
    /// Request id.
    pub request_id: [u8; 16],
    /// Wallet.
    pub wallet: String,
    /// Signatures and governance head.
    pub auth: custos_protocol::authz::Authorization,
}

/// Checks a raw signing's shape against the wallet before anything is
/// recorded.
pub fn check_message(wallet: &WalletRecord, spec: &SignSpec) -> Result<(), FlowError> {
    let _: DerivationPath = spec
        .path
        .parse()
        .map_err(|e: custos_tss::ParamError| FlowError::Invalid(e.to_string()))?;
    let ecdsa = wallet.scheme == Scheme::EcdsaSecp256k1;
    if spec.sha256 && !ecdsa {
        return Err(FlowError::Invalid(
            "hashing at the node is for ECDSA; BIP-340 and Ed25519 sign the message".into(),
        ));
    }
    if ecdsa && !spec.sha256 && spec.message.len() != 32 {
        return Err(FlowError::Invalid(
            "ECDSA signs a 32-byte digest (or a message with hash sha256)".into(),
        ));
    }
    if spec.message.is_empty() || spec.message.len() > 64 * 1024 {
        return Err(FlowError::Invalid(
            "message must be 1 byte to 64 KiB".into(),
        ));
    }
    Ok(())
}

/// Signs with `wallet_id` as `spec` says: from a pooled presignature when
/// one fits (ECDSA, root key, node-hashed message), else by full signing.
/// Every job carries `ctx`, which each node checks before it signs.
pub async fn sign(
    hub: &Hub,
    wallet_id: &str,
    spec: SignSpec,
    ctx: &AuthContext,
) -> Result<SignedMessage, FlowError> {
    let wallet = hub
        .store()
        .wallet(wallet_id)
        .await?
        .ok_or_else(|| FlowError::NoWallet(wallet_id.to_owned()))?;
    let config = hub.config();
    let parsed: DerivationPath = spec
        .path
        .parse()
        .map_err(|e: custos_tss::ParamError| FlowError::Invalid(e.to_string()))?;
    let ecdsa = wallet.scheme == Scheme::EcdsaSecp256k1;
    check_message(&wallet, &spec)?;
    // What the signature verifies against.
    let signed: Vec<u8> = if spec.sha256 {
        <sha2::Sha256 as sha2::Digest>::digest(&spec.message).to_vec()
    } else {
        spec.message.clone()
    };
    let t = usize::from(config.threshold);
    let explicit = spec
        .signers
        .as_deref()
        .map(|s| check_signers(hub, s))
        .transpose()?;
    let public_key = public_key_at(&wallet, &parsed)?;
    let request_id = random_id();
    let t0 = now();
    hub.store()
        .insert_request(&SignRequestRecord {
            id: request_id.clone(),
            wallet_id: wallet.id.clone(),
            message: spec.message.clone(),
            path: parsed.to_string(),
            state: State::Running,
            session_id: None,
            signature: None,
            error: None,
            created_at: t0,
            updated_at: t0,
        })
        .await?;
    let verify = |(session, outcomes): (String, BTreeMap<PartyIndex, Outcome>)| {
        let signature = agreed(&outcomes, |o| match o {
            Outcome::Signature { signature } => Some(signature.clone()),
            _ => None,
        })?;
        let bytes =
            hex::decode(&signature).map_err(|_| HubError::Disagree("signature is not hex"))?;
        if !custos_tss::verify(wallet.scheme, &public_key, &signed, &bytes) {
            return Err(HubError::Disagree("signature does not verify"));
        }
        Ok((session, bytes))
    };
    let timeout = Duration::from_millis(config.session_timeout_ms);
    let mut result = None;
    let mut presigned = false;
    // Presignatures: root key only (Groth–Shoup) and node-hashed messages only.
    if ecdsa && spec.sha256 && parsed.is_root() {
        let up = hub.connected().await;
        let candidates = match &explicit {
            Some(s) => vec![s.clone()],
            None => subsets(&up, t),
        };
        for signers in candidates {
            let Some(id) = hub
                .store()
                .take_presignature(&wallet.id, &signers, now())
                .await?
            else {
                continue;
            };
            let kind = JobKind::SignPresigned {
                key_id: wallet.key_id.clone(),
                signers: signers.clone(),
                presignature: id,
                message: spec.message.clone(),
                request_id: ctx.request_id,
                wallet: ctx.wallet.clone(),
                auth: ctx.auth.clone(),
            };
            match hub
                .run(kind, SessionKind::Sign, &signers, Some(&wallet.id), timeout)
                .await
                .and_then(verify)
            {
                Ok(done) => {
                    result = Some(Ok(done));
                    presigned = true;
                }
                // The presignature is spent either way; fall back to full signing.
                Err(e) => eprintln!("server: presigned signing failed, signing in full: {e}"),
            }
            break;
        }
    }
    let result = match result {
        Some(r) => r,
        None => {
            let signers = match choose_signers(hub, explicit).await {
                Ok(s) => s,
                Err(e) => {
                    hub.store()
                        .fail_request(&request_id, &e.to_string(), now())
                        .await?;
                    return Err(e);
                }
            };
            let kind = JobKind::Sign {
                key_id: wallet.key_id.clone(),
                signers: signers.clone(),
                path: parsed.to_string(),
                message: spec.message.clone(),
                sha256: spec.sha256,
                request_id: ctx.request_id,
                wallet: ctx.wallet.clone(),
                auth: ctx.auth.clone(),
            };
            hub.run(kind, SessionKind::Sign, &signers, Some(&wallet.id), timeout)
                .await
                .and_then(verify)
        }
    };
    match result {
        Ok((session, signature)) => {
            hub.store()
                .complete_request(&request_id, &session, &signature, now())
                .await?;
            Ok(SignedMessage {
                scheme: wallet.scheme,
                public_key: hex::encode(public_key),
                message: hex::encode(signed),
                signature: hex::encode(signature),
                presigned,
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
