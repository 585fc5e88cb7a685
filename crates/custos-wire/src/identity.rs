//! A node's long-term key for the sealed channel (X25519, used by HPKE's
//! DHKEM). Made at `custos node init`, stored in the node's vault, and enrolled
//! with the rest of the committee by the operators.

use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem, Serializable};
use rand_core::{CryptoRng, RngCore};
use zeroize::Zeroizing;

type PrivateKey = <X25519HkdfSha256 as Kem>::PrivateKey;
type PublicKey = <X25519HkdfSha256 as Kem>::PublicKey;

/// A node's secret channel key and its public key.
///
/// # Security
/// The secret opens every frame addressed to this node and authenticates every
/// frame it sends. `Debug` prints only the public key; the secret is zeroized
/// on drop (x25519-dalek `StaticSecret`).
pub struct NodeKeys {
    secret: PrivateKey,
    public: NodePublicKey,
}

impl std::fmt::Debug for NodeKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeKeys")
            .field("public", &self.public)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl NodeKeys {
    /// Fresh keys.
    pub fn generate(rng: &mut (impl RngCore + CryptoRng)) -> Self {
        let mut ikm = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(ikm.as_mut());
        let (secret, public) = X25519HkdfSha256::derive_keypair(ikm.as_ref());
        Self {
            public: NodePublicKey(public.to_bytes().into()),
            secret,
        }
    }

    /// Restores keys from the 32-byte secret (as stored in the vault).
    pub fn from_secret_bytes(bytes: &[u8]) -> Option<Self> {
        let secret = PrivateKey::from_bytes(bytes).ok()?;
        let public = X25519HkdfSha256::sk_to_pk(&secret);
        Some(Self {
            public: NodePublicKey(public.to_bytes().into()),
            secret,
        })
    }

    /// The 32-byte secret, for the vault only.
    pub fn secret_bytes(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.secret.to_bytes().to_vec())
    }

    /// The public key to enrol.
    pub fn public(&self) -> NodePublicKey {
        self.public
    }

    pub(crate) fn secret(&self) -> &PrivateKey {
        &self.secret
    }

    pub(crate) fn hpke_public(&self) -> Option<PublicKey> {
        self.public.hpke()
    }
}

/// A node's public channel key (32 bytes, X25519). Hex in human-readable
/// formats (configuration files), raw bytes in binary ones.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodePublicKey(pub [u8; 32]);

impl serde::Serialize for NodePublicKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&self.to_string())
        } else {
            serde::Serialize::serialize(&self.0, s)
        }
    }
}

impl<'de> serde::Deserialize<'de> for NodePublicKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let s = <String as serde::Deserialize>::deserialize(d)?;
            s.parse().map_err(serde::de::Error::custom)
        } else {
            <[u8; 32] as serde::Deserialize>::deserialize(d).map(Self)
        }
    }
}

impl NodePublicKey {
    pub(crate) fn hpke(&self) -> Option<PublicKey> {
        PublicKey::from_bytes(&self.0).ok()
    }
}

impl std::fmt::Display for NodePublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl std::fmt::Debug for NodePublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NodePublicKey({self})")
    }
}

impl std::str::FromStr for NodePublicKey {
    type Err = &'static str;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = hex::decode(s).map_err(|_| "not hex")?;
        let key = Self(bytes.try_into().map_err(|_| "not 32 bytes")?);
        key.hpke().map(|_| key).ok_or("not an X25519 public key")
    }
}
