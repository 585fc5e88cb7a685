//! # custos-tss
//!
//! The threshold-cryptography core of Custos: distributed key generation and
//! t-of-n signing for ECDSA secp256k1 (cggmp24), BIP-340 Schnorr with the
//! Taproot key-path tweak, and Ed25519 (both FROST, RFC 9591), plus
//! non-hardened HD derivation and validated, versioned key-share storage
//! formats.
//!
//! Every protocol is a sans-IO [`Session`]: it reads no socket, file or clock;
//! randomness comes in as an argument; messages go in and out as
//! [`Envelope`]s. [`driver::simulate`] runs sessions in one process (tests,
//! benchmarks) and [`driver::drive`] runs one over a blocking transport (a
//! node), so the same code runs in both.
//!
//! What this crate does **not** do: networking, encryption or authentication
//! of channels (the node's job), storage encryption (the node's vault),
//! timeouts, policy. It never reconstructs a private key: there is no code
//! path that combines shares into a key.

#![warn(missing_docs)]

pub mod driver;
pub mod ecdsa;
pub mod error;
pub mod frost;
pub mod hd;
mod key_id;
mod limits;
pub mod party;
pub mod progress;
mod scheme;
pub mod session;
pub mod share;

use rand_core::{CryptoRng, RngCore};

pub use error::{Error, Misbehaviour, ParamError, ShareError};
pub use hd::DerivationPath;
pub use key_id::KeyId;
pub use party::{Committee, PartyIndex};
pub(crate) use scheme::child_rng;
pub use scheme::{Scheme, Signature};
pub use session::{Envelope, ExecutionId, Session, Step};
pub use share::KeyShare;

/// Starts distributed key generation for party `me` of `committee`.
/// ECDSA needs the committee's aux info ([`ecdsa::aux_info`]).
pub fn keygen(
    scheme: Scheme,
    session_id: &[u8; 32],
    committee: Committee,
    me: PartyIndex,
    aux: Option<&ecdsa::AuxInfo>,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<Session<KeyShare>, Error> {
    Ok(match scheme {
        Scheme::EcdsaSecp256k1 => {
            let aux = aux.ok_or(ParamError::Mismatch(
                "ECDSA keygen needs the committee's aux info",
            ))?;
            ecdsa::keygen(session_id, committee, me, aux, rng)?.map(KeyShare::Ecdsa)
        }
        Scheme::SchnorrBip340 => {
            frost::keygen::<frost::Bip340>(session_id, committee, me, rng)?.map(KeyShare::Schnorr)
        }
        Scheme::Ed25519 => {
            frost::keygen::<frost::Ed25519>(session_id, committee, me, rng)?.map(KeyShare::Ed25519)
        }
    })
}

/// Starts signing with exactly `t` `signers` at `path`.
///
/// `message`: ECDSA takes the 32-byte digest the node computed itself (use
/// [`ecdsa::sign`] with [`ecdsa::EcdsaMessage::Sha256`] to hash here); BIP-340
/// and Ed25519 take the message itself.
pub fn sign(
    share: &KeyShare,
    session_id: &[u8; 32],
    signers: &[PartyIndex],
    path: &DerivationPath,
    message: &[u8],
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<Session<Signature>, Error> {
    match share {
        KeyShare::Ecdsa(s) => {
            let digest: [u8; 32] = message
                .try_into()
                .map_err(|_| ParamError::Message("ECDSA signs a 32-byte digest"))?;
            ecdsa::sign(
                s,
                session_id,
                signers,
                path,
                &ecdsa::EcdsaMessage::Prehashed(digest),
                rng,
            )
        }
        KeyShare::Schnorr(s) => frost::sign(s, session_id, signers, path, message, rng),
        KeyShare::Ed25519(s) => frost::sign(s, session_id, signers, path, message, rng),
    }
}

/// Verifies a signature with the key from [`KeyShare::public_key`]. ECDSA:
/// `message` is the 32-byte digest and S must be low.
pub fn verify(scheme: Scheme, public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    match scheme {
        Scheme::EcdsaSecp256k1 => match <[u8; 32]>::try_from(message) {
            Ok(digest) => ecdsa::verify(public_key, &digest, signature),
            Err(_) => false,
        },
        Scheme::SchnorrBip340 => frost::verify::<frost::Bip340>(public_key, message, signature),
        Scheme::Ed25519 => frost::verify::<frost::Ed25519>(public_key, message, signature),
    }
}
