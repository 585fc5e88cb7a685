//! The node as a witness of the audit log (C2SP tlog-witness style, but
//! reading every entry): it checks that new entries are signed by the
//! server's audit key from the genesis, link to the last one it saw, and
//! together with its stored frontier hash to the checkpoint's root; only
//! then co-signs. It never signs two roots for one size or a shorter log,
//! and the `sign` entries it sees become its velocity ledger. Pure: the
//! caller stores the new state atomically with the co-signature.

use custos_audit::checkpoint::{Checkpoint, CoSignature};
use custos_audit::merkle::Frontier;
use custos_audit::Hash;
use custos_protocol::authz::{SigningRecord, WitnessRequest, SIGN_ACTION};
use custos_protocol::sign_entry::SignEntryError;
use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::recheck::LedgerRow;

/// What a node keeps between checkpoints.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WitnessState {
    /// Right edge of the tree of entries seen.
    pub frontier: Frontier,
    /// Leaf hash of the last entry seen (the next one links to it).
    pub last_leaf: Option<Hash>,
    /// Last checkpoint co-signed.
    pub last: Option<Checkpoint>,
}

/// Why a checkpoint was not co-signed.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WitnessError {
    /// The server's signature over the checkpoint does not verify.
    #[error("checkpoint is not signed by the server's audit key")]
    ServerSignature,
    /// Entries are missing, extra or out of order.
    #[error("entries do not continue the log at {expected} (got {got:?})")]
    Gap {
        /// Next sequence number the node expects.
        expected: u64,
        /// First sequence number offered.
        got: Option<u64>,
    },
    /// An entry is badly signed or does not link to its predecessor.
    #[error(transparent)]
    Entry(#[from] custos_audit::AuditError),
    /// The entries do not hash to the checkpoint's root (a fork or a
    /// rewrite), or the checkpoint is not an extension of the last one.
    #[error("checkpoint of size {size} does not match the entries this node holds")]
    Root {
        /// Checkpoint size.
        size: u64,
    },
    /// A `sign` entry names a governance head this node does not hold yet:
    /// it cannot decide whether the initiator signed it, so it waits (the
    /// server sends the chain, then the entries again).
    #[error("entry {seq}: {source}")]
    Behind {
        /// The entry.
        seq: u64,
        /// Why.
        source: SignEntryError,
    },
}

/// What a witness makes of a `sign` entry's detail: the record it adds to
/// its ledger (recomputed from the request), or why it is not a signing.
pub type SignCheck<'a> = &'a dyn Fn(&str) -> Result<SigningRecord, SignEntryError>;

/// The outcome of a successful witness: the new state, the co-signature and
/// the signings to add to the ledger.
#[derive(Debug)]
pub struct Witnessed {
    /// State to store (atomically with `ledger`).
    pub state: WitnessState,
    /// Co-signature over the checkpoint.
    pub signature: CoSignature,
    /// New ledger rows.
    pub ledger: Vec<LedgerRow>,
    /// `sign` entries that are not signings this node accepts, and why.
    pub skipped: Vec<(u64, SignEntryError)>,
}

/// Checks `req` against `state` and co-signs it with `key` under the node's
/// governance `head`; `now` is the node's clock, recorded on the ledger
/// rows for velocity; `check` decides each `sign` entry.
pub fn witness(
    state: &WitnessState,
    req: &WitnessRequest,
    audit_key: &VerifyingKey,
    key: &SigningKey,
    head: Hash,
    now: i64,
    check: SignCheck<'_>,
) -> Result<Witnessed, WitnessError> {
    let cp = req.checkpoint;
    if !cp.verify(audit_key, &req.server_signature) {
        return Err(WitnessError::ServerSignature);
    }
    let mut next = state.clone();
    let mut ledger = Vec::new();
    let mut skipped = Vec::new();
    // Entries this node holds already (a server that lost track of what it
    // witnessed resends them) change nothing and are skipped; the rest must
    // continue its log exactly.
    let held = state.frontier.size();
    for e in req.entries.iter().filter(|e| e.entry.seq >= held) {
        let expected = next.frontier.size();
        if e.entry.seq != expected {
            return Err(WitnessError::Gap {
                expected,
                got: Some(e.entry.seq),
            });
        }
        let leaf = e.verify(audit_key)?;
        if e.entry.prev != next.last_leaf.unwrap_or([0; 32]) {
            return Err(custos_audit::AuditError::Entry {
                seq: e.entry.seq,
                reason: "does not link to the previous entry",
            }
            .into());
        }
        if e.entry.action == SIGN_ACTION {
            match check(&e.entry.detail) {
                Ok(record) => ledger.push(LedgerRow {
                    seq: e.entry.seq,
                    record,
                    witnessed_at: now,
                }),
                Err(source @ SignEntryError::Head(_)) => {
                    return Err(WitnessError::Behind {
                        seq: e.entry.seq,
                        source,
                    })
                }
                Err(why) => skipped.push((e.entry.seq, why)),
            }
        }
        next.frontier.push(leaf);
        next.last_leaf = Some(leaf);
    }
    if next.frontier.size() != cp.size {
        return Err(WitnessError::Gap {
            expected: next.frontier.size(),
            got: req.entries.first().map(|e| e.entry.seq),
        });
    }
    // Recomputing the root from every entry subsumes the RFC 9162
    // consistency check: the old root is a prefix of what was hashed.
    if next.frontier.root() != cp.root {
        return Err(WitnessError::Root { size: cp.size });
    }
    next.last = Some(cp);
    Ok(Witnessed {
        signature: cp.cosign(key, head),
        state: next,
        ledger,
        skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use custos_audit::entry::Log;
    use custos_audit::merkle::root;

    /// The server's record, taken as it is (what the daemon's check
    /// recomputes is tested in `custos_protocol::sign_entry`).
    fn plain(detail: &str) -> Result<SigningRecord, SignEntryError> {
        serde_json::from_str(detail).map_err(|_| SignEntryError::Decode)
    }

    fn request(log: &Log, from: usize, server: &SigningKey) -> WitnessRequest {
        let checkpoint = Checkpoint {
            size: log.entries().len() as u64,
            root: root(log.leaves()),
        };
        WitnessRequest {
            entries: log.entries()[from..].to_vec(),
            server_signature: checkpoint.sign(server),
            checkpoint,
        }
    }

    #[test]
    fn witnesses_extensions_and_refuses_gaps_forks_and_forgeries() {
        let server = SigningKey::from_bytes(&[1; 32]);
        let node = SigningKey::from_bytes(&[2; 32]);
        let audit = server.verifying_key();
        let mut log = Log::new();
        log.append(1, "alice", "login", "{}", &server).unwrap();
        let detail = r#"{"request_id":"00","request":"aa","wallet":"w","key_id":"00","initiator":"alice","kind":"transfer","chain":"ethereum","destinations":["0x"],"spends":[{"asset":"native","amount":"5"}]}"#;
        log.append(2, "server", SIGN_ACTION, detail, &server)
            .unwrap();
        let first = witness(
            &WitnessState::default(),
            &request(&log, 0, &server),
            &audit,
            &node,
            [0; 32],
            10,
            &plain,
        )
        .unwrap();
        assert_eq!(first.ledger.len(), 1);
        assert_eq!(first.ledger[0].record.spends[0].amount, "5");
        assert_eq!(first.ledger[0].witnessed_at, 10);

        log.append(3, "bob", "approval", "{}", &server).unwrap();
        let ok = witness(
            &first.state,
            &request(&log, 2, &server),
            &audit,
            &node,
            [0; 32],
            11,
            &plain,
        )
        .unwrap();
        assert_eq!(ok.state.last.unwrap().size, 3);

        // Entries it holds already are skipped.
        let again = witness(
            &first.state,
            &request(&log, 0, &server),
            &audit,
            &node,
            [0; 32],
            11,
            &plain,
        )
        .unwrap();
        assert_eq!(again.state, ok.state);
        assert!(again.ledger.is_empty());

        // Missing the entry in between (3 is skipped).
        log.append(4, "bob", "approval", "{}", &server).unwrap();
        log.append(5, "bob", "approval", "{}", &server).unwrap();
        let mut gap = request(&log, 4, &server);
        assert!(matches!(
            witness(&ok.state, &gap, &audit, &node, [0; 32], 12, &plain),
            Err(WitnessError::Gap { .. })
        ));
        // A fork: same size, other content.
        let mut fork = Log::new();
        for _ in 0..5 {
            fork.append(9, "mallory", "x", "{}", &server).unwrap();
        }
        gap = request(&fork, 2, &server);
        assert!(matches!(
            witness(&first.state, &gap, &audit, &node, [0; 32], 12, &plain),
            Err(WitnessError::Entry(_))
        ));
        // The right entries under another root (a split view).
        let mut split = request(&log, 3, &server);
        split.checkpoint.root = [9; 32];
        split.server_signature = split.checkpoint.sign(&server);
        assert_eq!(
            witness(&ok.state, &split, &audit, &node, [0; 32], 12, &plain).unwrap_err(),
            WitnessError::Root { size: 5 }
        );
        // The node signed size 3; the same size with another root is refused.
        let mut same = request(&log, 3, &server);
        same.entries.clear();
        same.checkpoint = custos_audit::checkpoint::Checkpoint {
            size: 3,
            root: [8; 32],
        };
        same.server_signature = same.checkpoint.sign(&server);
        assert_eq!(
            witness(&ok.state, &same, &audit, &node, [0; 32], 12, &plain).unwrap_err(),
            WitnessError::Root { size: 3 }
        );
        // Not the server's key.
        let other = SigningKey::from_bytes(&[3; 32]);
        assert_eq!(
            witness(
                &ok.state,
                &request(&log, 3, &other),
                &audit,
                &node,
                [0; 32],
                12,
                &plain
            )
            .unwrap_err(),
            WitnessError::ServerSignature
        );
    }

    #[test]
    fn a_signing_the_node_does_not_accept_is_logged_but_not_counted() {
        let server = SigningKey::from_bytes(&[1; 32]);
        let node = SigningKey::from_bytes(&[2; 32]);
        let audit = server.verifying_key();
        let mut log = Log::new();
        log.append(1, "server", SIGN_ACTION, "forged", &server)
            .unwrap();
        let refuse = |_: &str| -> Result<SigningRecord, SignEntryError> {
            Err(SignEntryError::NotInitiator("mallory".into()))
        };
        let done = witness(
            &WitnessState::default(),
            &request(&log, 0, &server),
            &audit,
            &node,
            [0; 32],
            10,
            &refuse,
        )
        .unwrap();
        assert!(done.ledger.is_empty());
        assert_eq!(
            done.skipped,
            vec![(0, SignEntryError::NotInitiator("mallory".into()))]
        );
        assert_eq!(done.state.last.unwrap().size, 1);
        // A head the node does not hold yet: no co-signature until it does.
        let behind = |_: &str| -> Result<SigningRecord, SignEntryError> {
            Err(SignEntryError::Head("ff".into()))
        };
        assert!(matches!(
            witness(
                &WitnessState::default(),
                &request(&log, 0, &server),
                &audit,
                &node,
                [0; 32],
                10,
                &behind,
            ),
            Err(WitnessError::Behind { seq: 0, .. })
        ));
    }
}
