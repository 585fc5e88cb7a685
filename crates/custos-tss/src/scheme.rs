//! The signature schemes, and what they share: a finished signature and
//! the protocol-owned RNG.

use rand_core::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};

use crate::error::ParamError;

/// A signature scheme Custos supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Scheme {
    /// ECDSA over secp256k1 (Bitcoin P2WPKH, Ethereum).
    EcdsaSecp256k1,
    /// BIP-340 Schnorr over secp256k1 (Taproot key path).
    SchnorrBip340,
    /// Ed25519 (Solana).
    Ed25519,
}

impl Scheme {
    /// All schemes.
    pub const ALL: [Scheme; 3] = [
        Scheme::EcdsaSecp256k1,
        Scheme::SchnorrBip340,
        Scheme::Ed25519,
    ];

    /// The stable name used in APIs and records.
    pub fn as_str(&self) -> &'static str {
        match self {
            Scheme::EcdsaSecp256k1 => "ecdsa-secp256k1",
            Scheme::SchnorrBip340 => "schnorr-bip340",
            Scheme::Ed25519 => "ed25519",
        }
    }
}

impl std::fmt::Display for Scheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Scheme {
    type Err = ParamError;

    fn from_str(s: &str) -> Result<Self, ParamError> {
        Scheme::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or(ParamError::Message(
                "unknown scheme (ecdsa-secp256k1, schnorr-bip340, ed25519)",
            ))
    }
}

/// A finished signature: ECDSA 64-byte `r ‖ s` (low-S), BIP-340 64 bytes,
/// Ed25519 64 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// Scheme.
    pub scheme: Scheme,
    /// Encoded signature.
    pub bytes: Vec<u8>,
}

/// A protocol-owned RNG seeded from the caller's: protocols keep their RNG for
/// their whole run (cggmp24 moves it into its protocol future).
pub(crate) fn child_rng(rng: &mut (impl RngCore + CryptoRng)) -> rand_chacha::ChaCha20Rng {
    use rand_core::SeedableRng;
    let mut seed = zeroize::Zeroizing::new([0u8; 32]);
    rng.fill_bytes(seed.as_mut());
    rand_chacha::ChaCha20Rng::from_seed(*seed)
}
