//! The offline verifier an auditor runs on an export: entries and
//! checkpoints against the server's and the nodes' public keys.

use std::collections::{BTreeMap, BTreeSet};

use ed25519_dalek::VerifyingKey;

use crate::checkpoint::{Checkpoint, SignedCheckpoint};
use crate::entry::SignedEntry;
use crate::merkle::root;
use crate::{AuditError, Hash};

/// Whose signatures count.
#[derive(Debug, Clone)]
pub struct Keys {
    /// The server's log key.
    pub server: VerifyingKey,
    /// The nodes' co-signing keys.
    pub nodes: Vec<VerifyingKey>,
    /// Distinct node co-signatures each checkpoint needs.
    pub quorum: usize,
}

/// What a successful verification covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Entries checked.
    pub entries: u64,
    /// Checkpoints checked.
    pub checkpoints: usize,
    /// The largest checkpoint.
    pub last: Option<Checkpoint>,
}

/// Verifies an export; the error names the first bad entry or checkpoint.
///
/// Entries: contiguous sequence numbers from 0, each linked to its
/// predecessor, each signed by the server. Checkpoints: signed by the server
/// and by `quorum` distinct nodes, never two roots for one size, none larger
/// than the export (truncation), each root equal to the tree of the first
/// `size` entries (so an entry altered and re-signed is caught too).
pub fn verify_export(
    entries: &[SignedEntry],
    checkpoints: &[SignedCheckpoint],
    keys: &Keys,
) -> Result<Report, AuditError> {
    let mut leaves: Vec<Hash> = Vec::with_capacity(entries.len());
    let mut prev = [0u8; 32];
    for (i, e) in entries.iter().enumerate() {
        let seq = i as u64;
        if e.entry.seq != seq {
            return Err(AuditError::Entry {
                seq,
                reason: "missing, duplicated or out of order",
            });
        }
        if e.entry.prev != prev {
            return Err(AuditError::Entry {
                seq,
                reason: "does not link to its predecessor",
            });
        }
        let hash = e.verify(&keys.server)?;
        leaves.push(hash);
        prev = hash;
    }
    let node_keys: BTreeSet<[u8; 32]> = keys.nodes.iter().map(|k| k.to_bytes()).collect();
    let mut roots: BTreeMap<u64, Hash> = BTreeMap::new();
    let mut sorted: Vec<&SignedCheckpoint> = checkpoints.iter().collect();
    sorted.sort_by_key(|c| c.checkpoint.size);
    let mut last_good = 0u64;
    for c in &sorted {
        let cp = c.checkpoint;
        let bad = |reason| AuditError::Checkpoint {
            size: cp.size,
            reason,
        };
        if !cp.verify(&keys.server, &c.server) {
            return Err(bad("bad server signature"));
        }
        let signers: BTreeSet<[u8; 32]> = c
            .cosignatures
            .iter()
            .filter(|(k, sig)| {
                node_keys.contains(k)
                    && VerifyingKey::from_bytes(k)
                        .map(|vk| cp.verify(&vk, sig))
                        .unwrap_or(false)
            })
            .map(|(k, _)| *k)
            .collect();
        if signers.len() < keys.quorum {
            return Err(bad("too few valid node co-signatures"));
        }
        if let Some(other) = roots.insert(cp.size, cp.root) {
            if other != cp.root {
                return Err(bad("two roots for one size (a fork)"));
            }
        }
        let size = usize::try_from(cp.size).map_err(|_| bad("size"))?;
        let covered = leaves
            .get(..size)
            .ok_or(bad("covers entries missing from the export (truncated)"))?;
        if root(covered) != cp.root {
            // Validly signed entries that differ from what was co-signed: the
            // server's key rewrote history. The change lies after the last
            // checkpoint that still matches.
            return Err(AuditError::Rewritten {
                from: last_good,
                to: cp.size,
            });
        }
        last_good = cp.size;
    }
    Ok(Report {
        entries: entries.len() as u64,
        checkpoints: sorted.len(),
        last: sorted.last().map(|c| c.checkpoint),
    })
}
