//! Non-hardened HD derivation for threshold keys.
//!
//! Only non-hardened derivation is possible: a hardened child needs the parent
//! *private* key, which no party holds. Derivation shifts the key additively,
//! `x' = x + δ`, where δ is computed from public data (parent public key, chain
//! code, index), so every party applies the same δ to its share.
//!
//! - secp256k1 (ECDSA and BIP-340 keys): BIP-32 public derivation, via
//!   `hd_wallet::Slip10` (identical to BIP-32 for secp256k1).
//! - Ed25519: `hd_wallet::Edwards`, HMAC-SHA512 over the chain code, the
//!   compressed point, a zero byte and the index. No standard defines
//!   non-hardened Ed25519 derivation; Solana wallets use hardened SLIP-10 only,
//!   so these children will not match any Solana wallet's paths.

use std::fmt;
use std::str::FromStr;

use generic_ec::{Curve, Point, Scalar};
use hd_wallet::{DeriveShift, ExtendedPublicKey, NonHardenedIndex};

use crate::error::ParamError;

/// Largest path depth (BIP-32 stores depth in one byte).
pub const MAX_DEPTH: usize = 255;

/// A path of non-hardened indices, `m/i/j/...`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct DerivationPath(Vec<u32>);

/// A derived child: the additive shift δ and the child public key `P + δ·G`.
pub struct Derived<E: Curve> {
    /// Sum of the per-level shifts along the path.
    pub shift: Scalar<E>,
    /// The child public key.
    pub public_key: Point<E>,
    /// The child chain code.
    pub chain_code: [u8; 32],
}

impl DerivationPath {
    /// The root (no derivation).
    pub fn root() -> Self {
        Self(Vec::new())
    }

    /// Builds a path; every index must be below 2^31 (non-hardened).
    pub fn new(indices: Vec<u32>) -> Result<Self, ParamError> {
        if indices.len() > MAX_DEPTH {
            return Err(ParamError::Path(format!("deeper than {MAX_DEPTH}")));
        }
        if let Some(i) = indices.iter().find(|&&i| i >= hd_wallet::H) {
            return Err(ParamError::Path(format!(
                "index {i} is hardened; threshold keys support only non-hardened derivation"
            )));
        }
        Ok(Self(indices))
    }

    /// The indices.
    pub fn indices(&self) -> &[u32] {
        &self.0
    }

    /// Whether this is the root.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// Unambiguous encoding for execution ids.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + 4 * self.0.len());
        out.push(self.0.len() as u8);
        for i in &self.0 {
            out.extend_from_slice(&i.to_be_bytes());
        }
        out
    }

    fn derive<E: Curve, Hd: DeriveShift<E>>(
        &self,
        parent: &ExtendedPublicKey<E>,
    ) -> Result<Derived<E>, ParamError> {
        let mut epub = *parent;
        let mut shift = Scalar::<E>::zero();
        for &i in &self.0 {
            let index = NonHardenedIndex::try_from(i)
                .map_err(|_| ParamError::Path(format!("index {i} is hardened")))?;
            let step = Hd::derive_public_shift(&epub, index);
            shift += step.shift;
            epub = step.child_public_key;
        }
        if epub.public_key.is_zero() {
            return Err(ParamError::Path(
                "derived key is the identity (negligible probability)".into(),
            ));
        }
        Ok(Derived {
            shift,
            public_key: epub.public_key,
            chain_code: epub.chain_code,
        })
    }

    /// BIP-32 public derivation on secp256k1.
    pub(crate) fn derive_secp256k1(
        &self,
        parent: &ExtendedPublicKey<generic_ec::curves::Secp256k1>,
    ) -> Result<Derived<generic_ec::curves::Secp256k1>, ParamError> {
        self.derive::<_, hd_wallet::Slip10>(parent)
    }

    /// `hd_wallet::Edwards` derivation on Ed25519.
    pub(crate) fn derive_ed25519(
        &self,
        parent: &ExtendedPublicKey<generic_ec::curves::Ed25519>,
    ) -> Result<Derived<generic_ec::curves::Ed25519>, ParamError> {
        self.derive::<_, hd_wallet::Edwards>(parent)
    }
}

/// BIP-32 public derivation from a secp256k1 extended public key given as
/// (33-byte compressed key, chain code): returns the child's key and chain
/// code. Needs no share, so watch-only code can derive child addresses.
pub fn derive_secp256k1_xpub(
    key: &[u8; 33],
    chain_code: &[u8; 32],
    path: &DerivationPath,
) -> Result<([u8; 33], [u8; 32]), ParamError> {
    let public_key =
        Point::from_bytes(key).map_err(|_| ParamError::Path("parent key is not a point".into()))?;
    let child = path.derive_secp256k1(&ExtendedPublicKey {
        public_key,
        chain_code: *chain_code,
    })?;
    let bytes = <[u8; 33]>::try_from(child.public_key.to_bytes(true).as_ref())
        .map_err(|_| ParamError::Path("child key encoding".into()))?;
    Ok((bytes, child.chain_code))
}

/// The key signatures at `path` verify against, from a wallet's root public
/// data alone ([`crate::KeyShare::root_public`]): what
/// [`crate::KeyShare::public_key`] returns, without a share.
pub fn public_key_at(
    scheme: crate::Scheme,
    root_key: &[u8],
    chain_code: &[u8; 32],
    path: &DerivationPath,
) -> Result<Vec<u8>, ParamError> {
    use crate::Scheme;
    let bad = || ParamError::Path("root key does not decode".into());
    match scheme {
        Scheme::EcdsaSecp256k1 | Scheme::SchnorrBip340 => {
            let public_key = Point::from_bytes(root_key).map_err(|_| bad())?;
            let child = path.derive_secp256k1(&ExtendedPublicKey {
                public_key,
                chain_code: *chain_code,
            })?;
            let compressed = child.public_key.to_bytes(true).to_vec();
            if scheme == Scheme::EcdsaSecp256k1 {
                return Ok(compressed);
            }
            use frost_secp256k1_tr::keys::Tweak;
            let key =
                frost_secp256k1_tr::VerifyingKey::deserialize(&compressed).map_err(|_| bad())?;
            let package =
                frost_secp256k1_tr::keys::PublicKeyPackage::new(Default::default(), key, None)
                    .tweak::<&[u8]>(None);
            let output = package.verifying_key().serialize().map_err(|_| bad())?;
            Ok(output.get(1..).unwrap_or_default().to_vec())
        }
        Scheme::Ed25519 => {
            let public_key = Point::from_bytes(root_key).map_err(|_| bad())?;
            let child = path.derive_ed25519(&ExtendedPublicKey {
                public_key,
                chain_code: *chain_code,
            })?;
            Ok(child.public_key.to_bytes(true).to_vec())
        }
    }
}

impl FromStr for DerivationPath {
    type Err = ParamError;

    /// Parses `m`, `m/0/1`, or `0/1`. Hardened markers (`'`, `h`) are refused.
    fn from_str(s: &str) -> Result<Self, ParamError> {
        let s = s.trim();
        let rest = s.strip_prefix('m').unwrap_or(s);
        let rest = rest.strip_prefix('/').unwrap_or(rest);
        if rest.is_empty() {
            return Ok(Self::root());
        }
        let indices = rest
            .split('/')
            .map(|part| {
                part.parse::<u32>()
                    .map_err(|_| ParamError::Path(format!("`{part}` is not a non-hardened index")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(indices)
    }
}

impl fmt::Display for DerivationPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("m")?;
        for i in &self.0 {
            write!(f, "/{i}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_print() {
        let p: DerivationPath = "m/0/7".parse().unwrap();
        assert_eq!(p.indices(), &[0, 7]);
        assert_eq!(p.to_string(), "m/0/7");
        assert!("m".parse::<DerivationPath>().unwrap().is_root());
        assert!("m/0'".parse::<DerivationPath>().is_err());
        assert!("m/0h".parse::<DerivationPath>().is_err());
        assert!("m/2147483648".parse::<DerivationPath>().is_err());
        assert!("m//1".parse::<DerivationPath>().is_err());
    }
}
