//! Checkpoints: the log's size and Merkle root, signed by the server and
//! co-signed by shard nodes. A node co-signs only a checkpoint that provably
//! extends the last one it co-signed, so it never signs two roots for one
//! size, a shorter log, or a rewritten one.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::merkle::verify_consistency;
use crate::{AuditError, Hash};

const CHECKPOINT_CONTEXT: &[u8] = b"custos/audit/checkpoint/v1";
const COSIGN_CONTEXT: &[u8] = b"custos/audit/cosign/v1";

/// The log's size and root.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Number of entries covered.
    pub size: u64,
    /// RFC 9162 root over them.
    pub root: Hash,
}

impl Checkpoint {
    /// What server and nodes sign.
    pub fn message(&self) -> Vec<u8> {
        [CHECKPOINT_CONTEXT, &self.size.to_be_bytes(), &self.root].concat()
    }

    /// Signs with `key`.
    pub fn sign(&self, key: &SigningKey) -> Vec<u8> {
        key.sign(&self.message()).to_bytes().to_vec()
    }

    /// Checks `signature` by `key`.
    pub fn verify(&self, key: &VerifyingKey, signature: &[u8]) -> bool {
        Signature::from_slice(signature)
            .map(|s| key.verify(&self.message(), &s).is_ok())
            .unwrap_or(false)
    }

    /// What a node co-signs: the checkpoint and the governance head it
    /// held (so a reader knows under which committee each node signed).
    pub fn cosign_message(&self, head: &Hash) -> Vec<u8> {
        [COSIGN_CONTEXT, &self.size.to_be_bytes(), &self.root, head].concat()
    }

    /// A node's co-signature with `key` under governance `head`.
    pub fn cosign(&self, key: &SigningKey, head: Hash) -> CoSignature {
        CoSignature {
            key: key.verifying_key().to_bytes(),
            head,
            signature: key.sign(&self.cosign_message(&head)).to_bytes().to_vec(),
        }
    }

    /// Whether `c` is a valid co-signature of this checkpoint by the key
    /// it names.
    pub fn verify_cosignature(&self, c: &CoSignature) -> bool {
        VerifyingKey::from_bytes(&c.key)
            .ok()
            .zip(Signature::from_slice(&c.signature).ok())
            .is_some_and(|(k, s)| k.verify(&self.cosign_message(&c.head), &s).is_ok())
    }
}

/// One node's co-signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoSignature {
    /// The node's witness key (Ed25519).
    pub key: [u8; 32],
    /// The governance head the node held.
    pub head: Hash,
    /// Signature over [`Checkpoint::cosign_message`].
    pub signature: Vec<u8>,
}

/// A checkpoint with its signatures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedCheckpoint {
    /// The checkpoint.
    pub checkpoint: Checkpoint,
    /// The server's signature.
    pub server: Vec<u8>,
    /// Node co-signatures.
    pub cosignatures: Vec<CoSignature>,
}

/// A node's co-signing state: the last checkpoint it signed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cosigner {
    last: Option<Checkpoint>,
}

impl Cosigner {
    /// A node that last co-signed `last` (from its own store).
    pub fn new(last: Option<Checkpoint>) -> Self {
        Self { last }
    }

    /// The last checkpoint co-signed.
    pub fn last(&self) -> Option<Checkpoint> {
        self.last
    }

    /// Co-signs `next` if `proof` shows it extends the last co-signed
    /// checkpoint (RFC 9162 §2.1.4); refuses forks, truncations and
    /// rollbacks.
    pub fn cosign(
        &mut self,
        next: &Checkpoint,
        proof: &[Hash],
        key: &SigningKey,
        head: Hash,
    ) -> Result<CoSignature, AuditError> {
        if let Some(last) = self.last {
            if next.size < last.size {
                return Err(AuditError::NotAnExtension("smaller than the last one"));
            }
            if next.size == last.size && next.root != last.root {
                return Err(AuditError::NotAnExtension(
                    "two roots for one size (a fork)",
                ));
            }
            if last.size > 0 {
                verify_consistency(last.size, next.size, &last.root, &next.root, proof)
                    .map_err(|_| AuditError::NotAnExtension("the consistency proof fails"))?;
            }
        }
        self.last = Some(*next);
        Ok(next.cosign(key, head))
    }
}
