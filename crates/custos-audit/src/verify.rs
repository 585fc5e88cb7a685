//! The offline verifier an auditor runs on an export: entries and
//! checkpoints against the server's and the nodes' public keys.

use std::collections::{BTreeMap, BTreeSet};

use ed25519_dalek::VerifyingKey;

use crate::checkpoint::{Checkpoint, SignedCheckpoint};
use crate::entry::SignedEntry;
use crate::merkle::root;
use crate::{AuditError, Hash};

/// The nodes allowed to co-sign under one governance head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Witnesses {
    /// Their witness keys.
    pub keys: BTreeSet<[u8; 32]>,
    /// Distinct co-signatures a checkpoint needs (a majority of the
    /// committee, and at least its threshold).
    pub quorum: usize,
}

/// Whose signatures count, from the pinned genesis and the governance
/// chain (never from the server's files).
#[derive(Debug, Clone)]
pub struct Keys {
    /// The server's log key.
    pub server: VerifyingKey,
    /// Governance head → the committee's witnesses at that head. A
    /// co-signature names the head its node held; one naming a head not
    /// here, or signed by a key that is no witness at that head, is refused.
    pub witnesses: BTreeMap<Hash, Witnesses>,
    /// Checkpoints the log must extend: what a majority of the nodes
    /// answered, over the verifier's own nonce, as the newest they
    /// co-signed. An export shorter than one of them, or disagreeing with
    /// its root, has been cut or rewritten.
    pub floor: Vec<Checkpoint>,
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
/// predecessor, each signed by the server. Checkpoints: at least one;
/// signed by the server; every co-signature valid and by a witness of the
/// committee at the head it names (a bad one is refused, never skipped), and
/// at least the quorum of them; never two roots for one size, none larger
/// than the export (truncation), each root equal to the tree of the first
/// `size` entries (so an entry altered and re-signed is caught too). The
/// export must also extend every checkpoint of `keys.floor`.
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
    if checkpoints.is_empty() {
        return Err(AuditError::NoCheckpoint);
    }
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
        let mut signers = BTreeSet::new();
        let mut quorum = 1;
        for co in &c.cosignatures {
            let w = keys.witnesses.get(&co.head).ok_or(bad(
                "a co-signature names a governance head not in the chain",
            ))?;
            if !w.keys.contains(&co.key) {
                return Err(bad(
                    "a co-signature is by a key that is no witness of the committee",
                ));
            }
            if !cp.verify_cosignature(co) {
                return Err(bad("a co-signature does not verify"));
            }
            if !signers.insert(co.key) {
                return Err(bad("a node co-signed twice"));
            }
            quorum = quorum.max(w.quorum);
        }
        if signers.len() < quorum {
            return Err(bad(
                "too few node co-signatures (a majority of the committee is needed)",
            ));
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
    for f in &keys.floor {
        let covered = usize::try_from(f.size)
            .ok()
            .and_then(|size| leaves.get(..size))
            .ok_or(AuditError::Cut {
                size: f.size,
                entries: entries.len() as u64,
            })?;
        if root(covered) != f.root {
            return Err(AuditError::Rewritten {
                from: last_good.min(f.size),
                to: f.size,
            });
        }
    }
    Ok(Report {
        entries: entries.len() as u64,
        checkpoints: sorted.len(),
        last: sorted.last().map(|c| c.checkpoint),
    })
}
