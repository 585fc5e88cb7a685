//! What differs between the two FROST ciphersuites Custos uses.

use std::collections::BTreeMap;

use frost_core::{keys, round1, round2, Ciphersuite, Identifier, SigningPackage};
use generic_ec::{Point, Scalar};

use crate::error::ParamError;
use crate::hd::{DerivationPath, Derived};
use crate::Scheme;

/// A FROST ciphersuite plus the glue Custos needs: its scheme tag, the
/// generic-ec curve for HD and validation arithmetic, and how it signs.
pub trait Suite: Ciphersuite + 'static {
    /// The same curve in generic-ec.
    type Ec: generic_ec::Curve;
    /// The scheme tag.
    const SCHEME: Scheme;

    /// Signs round 2 (BIP-340: with the BIP-341 key-path tweak).
    fn sign_share(
        package: &SigningPackage<Self>,
        nonces: &round1::SigningNonces<Self>,
        key: &keys::KeyPackage<Self>,
    ) -> Result<round2::SignatureShare<Self>, frost_core::Error<Self>>;

    /// Aggregates and verifies (BIP-340: against the tweaked output key).
    fn aggregate(
        package: &SigningPackage<Self>,
        shares: &BTreeMap<Identifier<Self>, round2::SignatureShare<Self>>,
        public: &keys::PublicKeyPackage<Self>,
    ) -> Result<frost_core::Signature<Self>, frost_core::Error<Self>>;

    /// The public key signatures verify against, as published (BIP-340: the
    /// 32-byte x-only output key; Ed25519: the 32-byte key).
    fn output_key(
        public: &keys::PublicKeyPackage<Self>,
    ) -> Result<Vec<u8>, frost_core::Error<Self>>;

    /// Non-hardened derivation on this curve.
    fn derive(
        path: &DerivationPath,
        parent: &hd_wallet::ExtendedPublicKey<Self::Ec>,
    ) -> Result<Derived<Self::Ec>, ParamError>;

    /// Scalar from frost's encoding.
    fn scalar(bytes: &[u8]) -> Option<Scalar<Self::Ec>>;
    /// Scalar to frost's encoding.
    fn scalar_bytes(s: &Scalar<Self::Ec>) -> Vec<u8>;
    /// Point from frost's encoding.
    fn point(bytes: &[u8]) -> Option<Point<Self::Ec>> {
        Point::from_bytes(bytes).ok()
    }
    /// Point to frost's encoding.
    fn point_bytes(p: &Point<Self::Ec>) -> Vec<u8> {
        p.to_bytes(true).to_vec()
    }
}

/// BIP-340 Schnorr on secp256k1 with Taproot key-path tweak.
pub type Bip340 = frost_secp256k1_tr::Secp256K1Sha256TR;
/// Ed25519 (RFC 8032 signatures).
pub type Ed25519 = frost_ed25519::Ed25519Sha512;

impl Suite for Bip340 {
    type Ec = generic_ec::curves::Secp256k1;
    const SCHEME: Scheme = Scheme::SchnorrBip340;

    fn sign_share(
        package: &SigningPackage<Self>,
        nonces: &round1::SigningNonces<Self>,
        key: &keys::KeyPackage<Self>,
    ) -> Result<round2::SignatureShare<Self>, frost_core::Error<Self>> {
        // Key path with no script tree: Q = P + H_TapTweak(P)·G (BIP-341, BIP-86).
        frost_secp256k1_tr::round2::sign_with_tweak(package, nonces, key, None)
    }

    fn aggregate(
        package: &SigningPackage<Self>,
        shares: &BTreeMap<Identifier<Self>, round2::SignatureShare<Self>>,
        public: &keys::PublicKeyPackage<Self>,
    ) -> Result<frost_core::Signature<Self>, frost_core::Error<Self>> {
        frost_secp256k1_tr::aggregate_with_tweak(package, shares, public, None)
    }

    fn output_key(
        public: &keys::PublicKeyPackage<Self>,
    ) -> Result<Vec<u8>, frost_core::Error<Self>> {
        use frost_secp256k1_tr::keys::Tweak;
        let tweaked = public.clone().tweak::<&[u8]>(None);
        let compressed = tweaked.verifying_key().serialize()?;
        Ok(compressed.get(1..).unwrap_or_default().to_vec())
    }

    fn derive(
        path: &DerivationPath,
        parent: &hd_wallet::ExtendedPublicKey<Self::Ec>,
    ) -> Result<Derived<Self::Ec>, ParamError> {
        path.derive_secp256k1(parent)
    }

    fn scalar(bytes: &[u8]) -> Option<Scalar<Self::Ec>> {
        Scalar::from_be_bytes(bytes).ok()
    }

    fn scalar_bytes(s: &Scalar<Self::Ec>) -> Vec<u8> {
        s.to_be_bytes().to_vec()
    }
}

impl Suite for Ed25519 {
    type Ec = generic_ec::curves::Ed25519;
    const SCHEME: Scheme = Scheme::Ed25519;

    fn sign_share(
        package: &SigningPackage<Self>,
        nonces: &round1::SigningNonces<Self>,
        key: &keys::KeyPackage<Self>,
    ) -> Result<round2::SignatureShare<Self>, frost_core::Error<Self>> {
        frost_ed25519::round2::sign(package, nonces, key)
    }

    fn aggregate(
        package: &SigningPackage<Self>,
        shares: &BTreeMap<Identifier<Self>, round2::SignatureShare<Self>>,
        public: &keys::PublicKeyPackage<Self>,
    ) -> Result<frost_core::Signature<Self>, frost_core::Error<Self>> {
        frost_ed25519::aggregate(package, shares, public)
    }

    fn output_key(
        public: &keys::PublicKeyPackage<Self>,
    ) -> Result<Vec<u8>, frost_core::Error<Self>> {
        public.verifying_key().serialize()
    }

    fn derive(
        path: &DerivationPath,
        parent: &hd_wallet::ExtendedPublicKey<Self::Ec>,
    ) -> Result<Derived<Self::Ec>, ParamError> {
        path.derive_ed25519(parent)
    }

    fn scalar(bytes: &[u8]) -> Option<Scalar<Self::Ec>> {
        Scalar::from_le_bytes(bytes).ok()
    }

    fn scalar_bytes(s: &Scalar<Self::Ec>) -> Vec<u8> {
        s.to_le_bytes().to_vec()
    }
}
