//! Log entries: each names its predecessor's hash and is signed by the
//! server's log key over its leaf hash.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::merkle::leaf_hash;
use crate::{AuditError, Hash};

const ENTRY_CONTEXT: &[u8] = b"custos/audit/entry/v1";

/// One action, as the log records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Position in the log, from 0.
    pub seq: u64,
    /// Leaf hash of entry `seq - 1` (zeros for the first).
    pub prev: Hash,
    /// Unix seconds, from the caller's clock.
    pub time: i64,
    /// Who acted (user, node or `server`).
    pub actor: String,
    /// What happened (`login`, `request`, `approval`, `dkg`, …).
    pub action: String,
    /// Details (JSON text).
    pub detail: String,
}

impl Entry {
    /// Canonical encoding (postcard).
    pub fn to_bytes(&self) -> Result<Vec<u8>, AuditError> {
        postcard::to_stdvec(self).map_err(|_| AuditError::Encoding("entry"))
    }

    /// The RFC 9162 leaf hash of the encoding: what the next entry links to,
    /// what the Merkle tree is built over and what the server signs.
    pub fn hash(&self) -> Result<Hash, AuditError> {
        Ok(leaf_hash(&self.to_bytes()?))
    }
}

/// An entry with the server's signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedEntry {
    /// The entry.
    pub entry: Entry,
    /// Ed25519 signature over `context || leaf hash` (64 bytes).
    pub signature: Vec<u8>,
}

fn message(hash: &Hash) -> Vec<u8> {
    [ENTRY_CONTEXT, hash].concat()
}

impl SignedEntry {
    /// Signs `entry` with the server's log key.
    pub fn sign(entry: Entry, key: &SigningKey) -> Result<Self, AuditError> {
        let signature = key.sign(&message(&entry.hash()?)).to_bytes().to_vec();
        Ok(Self { entry, signature })
    }

    /// Checks the server's signature.
    pub fn verify(&self, server: &VerifyingKey) -> Result<Hash, AuditError> {
        let bad = AuditError::Entry {
            seq: self.entry.seq,
            reason: "bad signature",
        };
        let hash = self.entry.hash()?;
        let sig = Signature::from_slice(&self.signature).map_err(|_| bad.clone())?;
        server.verify(&message(&hash), &sig).map_err(|_| bad)?;
        Ok(hash)
    }
}

/// The log as the server appends to it (in memory; storage is the caller's).
#[derive(Debug, Default, Clone)]
pub struct Log {
    entries: Vec<SignedEntry>,
    leaves: Vec<Hash>,
}

impl Log {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends an entry linked to the last one and signed with `key`.
    pub fn append(
        &mut self,
        time: i64,
        actor: &str,
        action: &str,
        detail: &str,
        key: &SigningKey,
    ) -> Result<&SignedEntry, AuditError> {
        let entry = Entry {
            seq: self.entries.len() as u64,
            prev: self.leaves.last().copied().unwrap_or([0; 32]),
            time,
            actor: actor.to_owned(),
            action: action.to_owned(),
            detail: detail.to_owned(),
        };
        let hash = entry.hash()?;
        let signature = key.sign(&message(&hash)).to_bytes().to_vec();
        self.leaves.push(hash);
        self.entries.push(SignedEntry { entry, signature });
        self.entries
            .last()
            .ok_or(AuditError::Encoding("empty log after append"))
    }

    /// All entries.
    pub fn entries(&self) -> &[SignedEntry] {
        &self.entries
    }

    /// All leaf hashes, in order.
    pub fn leaves(&self) -> &[Hash] {
        &self.leaves
    }
}
