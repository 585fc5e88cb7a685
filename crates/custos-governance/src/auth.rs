//! Checks for acting users: requests signed with the user key (method, path,
//! body hash, timestamp, nonce; stale and replayed requests refused) and
//! TOTP codes for API sessions (RFC 6238 via `totp-rs`, ±1 step, each code
//! accepted once). Pure: the time and the replay memory come in.

use std::collections::BTreeMap;

use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, Builder};
use zeroize::Zeroizing;

/// How far a request's timestamp may be from the verifier's clock.
pub const MAX_SKEW_SECS: i64 = 300;
/// TOTP step.
pub const TOTP_STEP: u64 = 30;
const REQUEST_TAG: &str = "custos/request/v1";

/// A request as its signer states it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestSignature<'a> {
    /// HTTP method, upper case.
    pub method: &'a str,
    /// Path with query.
    pub path: &'a str,
    /// SHA-256 of the body.
    pub body_sha256: [u8; 32],
    /// Unix seconds at signing.
    pub timestamp: i64,
    /// 16 random bytes, hex.
    pub nonce: &'a str,
}

impl RequestSignature<'_> {
    /// The exact bytes the user key signs.
    pub fn message(&self) -> Vec<u8> {
        format!(
            "{REQUEST_TAG}\n{}\n{}\n{}\n{}\n{}",
            self.method,
            self.path,
            hex::encode(self.body_sha256),
            self.timestamp,
            self.nonce
        )
        .into_bytes()
    }
}

/// Why a request or code was refused.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Timestamp too far from now.
    #[error("request timestamp is outside ±{MAX_SKEW_SECS} s of the server clock")]
    Stale,
    /// The nonce was seen within the window.
    #[error("request replayed")]
    Replayed,
    /// Nonce not 16 bytes of hex.
    #[error("nonce must be 32 hex digits")]
    Nonce,
    /// Signature does not verify with the user's key.
    #[error("request signature does not verify")]
    BadSignature,
    /// TOTP code wrong, outside ±1 step, or used before.
    #[error("TOTP code refused")]
    Totp,
    /// TOTP secret unusable (shorter than 128 bits).
    #[error("TOTP secret must be at least 16 bytes")]
    TotpSecret,
}

/// Nonces seen recently; old ones are forgotten once outside the window.
#[derive(Debug, Default, Clone)]
pub struct NonceCache {
    seen: BTreeMap<String, i64>,
}

impl NonceCache {
    fn prune(&mut self, now: i64) {
        self.seen.retain(|_, t| (now - *t).abs() <= MAX_SKEW_SECS);
    }
}

/// Verifies a signed request: fresh timestamp, unseen nonce, valid
/// signature; only then is the nonce remembered.
pub fn verify_request(
    req: &RequestSignature<'_>,
    signature: &[u8],
    key: &VerifyingKey,
    now: i64,
    nonces: &mut NonceCache,
) -> Result<(), AuthError> {
    if (now - req.timestamp).abs() > MAX_SKEW_SECS {
        return Err(AuthError::Stale);
    }
    if req.nonce.len() != 32 || hex::decode(req.nonce).is_err() {
        return Err(AuthError::Nonce);
    }
    nonces.prune(now);
    if nonces.seen.contains_key(req.nonce) {
        return Err(AuthError::Replayed);
    }
    let sig = Signature::from_slice(signature).map_err(|_| AuthError::BadSignature)?;
    key.verify(&req.message(), &sig)
        .map_err(|_| AuthError::BadSignature)?;
    nonces.seen.insert(req.nonce.to_owned(), req.timestamp);
    Ok(())
}

/// A user's TOTP secret and the last step a code was accepted for.
pub struct Totp {
    totp: totp_rs::Totp,
    last_step: Option<u64>,
}

impl std::fmt::Debug for Totp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Totp")
            .field("secret", &"<redacted>")
            .field("last_step", &self.last_step)
            .finish()
    }
}

impl Totp {
    /// RFC 6238 with HMAC-SHA1, 6 digits, 30 s steps (what authenticator
    /// apps use), over `secret`; `last_step` from storage.
    pub fn new(secret: Zeroizing<Vec<u8>>, last_step: Option<u64>) -> Result<Self, AuthError> {
        Self::with(Algorithm::SHA1, 6, secret, last_step)
    }

    /// Any algorithm and digit count (the RFC's test vectors use 8 digits).
    pub fn with(
        algorithm: Algorithm,
        digits: u8,
        secret: Zeroizing<Vec<u8>>,
        last_step: Option<u64>,
    ) -> Result<Self, AuthError> {
        if !(6..=8).contains(&digits) {
            return Err(AuthError::Totp);
        }
        let totp = Builder::new()
            .with_algorithm(algorithm)
            .with_digits(digits)
            .with_secret(secret.as_slice())
            .build()
            .map_err(|_| AuthError::TotpSecret)?;
        Ok(Self { totp, last_step })
    }

    /// The code for Unix time `t`.
    pub fn code(&self, t: u64) -> String {
        self.totp.generate(t).to_string()
    }

    /// Accepts `code` for the step of `now` or one step either side, once:
    /// a code for a step at or before the last accepted one is refused.
    /// Returns the step to store.
    pub fn accept(&mut self, code: &str, now: u64) -> Result<u64, AuthError> {
        let step = now / TOTP_STEP;
        let candidates = [step.saturating_sub(1), step, step.saturating_add(1)];
        let mut matched = None;
        for s in candidates {
            let expected = self.totp.generate(s.saturating_mul(TOTP_STEP)).to_string();
            // Constant-time compare; check every candidate.
            if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) && matched.is_none() {
                matched = Some(s);
            }
        }
        let s = matched.ok_or(AuthError::Totp)?;
        if self.last_step.is_some_and(|last| s <= last) {
            return Err(AuthError::Totp);
        }
        self.last_step = Some(s);
        Ok(s)
    }
}
