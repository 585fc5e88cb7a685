//! A key's identity: the hash of the public material every party of the
//! key holds identically.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Scheme;

/// Identity of a threshold key: SHA-256 over its public material (scheme,
/// threshold, group key, every party's public share, chain code).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct KeyId(pub [u8; 32]);

impl KeyId {
    pub(crate) fn of(public: &PublicInfo) -> Self {
        Self(tagged_hash(
            b"custos-tss/v1/key-id\0",
            &postcard::to_stdvec(public).unwrap_or_default(),
        ))
    }
}

impl std::fmt::Display for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl std::fmt::Debug for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyId({self})")
    }
}

pub(crate) fn tagged_hash(tag: &[u8], data: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(tag);
    h.update(data);
    h.finalize().into()
}

/// Public material every party of a key holds identically.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PublicInfo {
    pub scheme: Scheme,
    pub threshold: u16,
    pub group_key: Vec<u8>,
    pub public_shares: Vec<Vec<u8>>,
    pub chain_code: [u8; 32],
}
