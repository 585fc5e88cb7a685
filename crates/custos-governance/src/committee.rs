//! Committees as governance records: which shard nodes hold shares, with
//! the keys everyone else learns them by. An admin quorum records them (the
//! genesis may hold the first), so nodes, the CLI and the audit verifier take
//! node keys from the quorum-signed chain and never from the server's files.

use std::collections::BTreeSet;

use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};

use crate::GovError;

/// Most members a committee may have (the threshold layer's own bound is
/// higher; this keeps governance documents and checkpoints small).
pub const MAX_MEMBERS: usize = 64;

/// One member node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Operator-chosen name.
    pub name: String,
    /// X25519 channel key (what sealed node-to-node frames name).
    pub channel_key: [u8; 32],
    /// Ed25519 witness key: audit co-signatures, wallet attestations and
    /// freshness answers.
    pub witness_key: [u8; 32],
    /// SHA-256 of the node's TLS certificate.
    pub tls_fingerprint: [u8; 32],
}

/// A committee: members in index order and the signing threshold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Committee {
    /// Id (what jobs and wallets name).
    pub id: String,
    /// Signatures needed: any `threshold` members sign, fewer cannot.
    pub threshold: u16,
    /// Members, in committee-index order.
    pub members: Vec<Member>,
}

impl Committee {
    /// More than half of the members: two disjoint sets of this size cannot
    /// exist, so two diverging logs can never both be certified.
    pub fn majority(&self) -> usize {
        self.members.len() / 2 + 1
    }

    /// Co-signatures an audit checkpoint needs: a majority and at least the
    /// threshold.
    pub fn checkpoint_quorum(&self) -> usize {
        self.majority().max(usize::from(self.threshold))
    }

    /// The index of the member whose witness key is `key`.
    pub fn witness_index(&self, key: &[u8; 32]) -> Option<usize> {
        self.members.iter().position(|m| m.witness_key == *key)
    }

    /// The index of the member whose channel key is `key`.
    pub fn channel_index(&self, key: &[u8; 32]) -> Option<usize> {
        self.members.iter().position(|m| m.channel_key == *key)
    }

    /// Shape: an id of 1 to 64 characters of `[A-Za-z0-9_-]`, 1 ≤ t ≤ n ≤
    /// [`MAX_MEMBERS`], members with distinct names and keys, witness keys
    /// that are Ed25519 points.
    pub(crate) fn check(&self) -> Result<(), GovError> {
        let bad = |s: String| GovError::Invalid(format!("committee {:?}: {s}", self.id));
        if !valid_id(&self.id) {
            return Err(bad("ids are 1-64 of [A-Za-z0-9_-]".into()));
        }
        let n = self.members.len();
        if n == 0 || n > MAX_MEMBERS || self.threshold == 0 || usize::from(self.threshold) > n {
            return Err(bad(format!("threshold {} of {n} members", self.threshold)));
        }
        let distinct = |f: &dyn Fn(&Member) -> Vec<u8>| {
            self.members.iter().map(f).collect::<BTreeSet<_>>().len() == n
        };
        if !distinct(&|m| m.name.as_bytes().to_vec())
            || !distinct(&|m| m.channel_key.to_vec())
            || !distinct(&|m| m.witness_key.to_vec())
            || !distinct(&|m| m.tls_fingerprint.to_vec())
        {
            return Err(bad("two members share a name or a key".into()));
        }
        for m in &self.members {
            if m.name.is_empty() || m.name.len() > 64 {
                return Err(bad("member names are 1 to 64 characters".into()));
            }
            if VerifyingKey::from_bytes(&m.witness_key).is_err() {
                return Err(bad(format!(
                    "{}: witness key is not an Ed25519 key",
                    m.name
                )));
            }
        }
        Ok(())
    }
}

/// Whether `id` is a valid committee or wallet id: 1 to 64 of
/// `[A-Za-z0-9_-]`.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    fn member(i: u8) -> Member {
        Member {
            name: format!("node-{i}"),
            channel_key: [i; 32],
            witness_key: SigningKey::from_bytes(&[i; 32]).verifying_key().to_bytes(),
            tls_fingerprint: [i + 100; 32],
        }
    }

    fn committee(t: u16, n: u8) -> Committee {
        Committee {
            id: "c".into(),
            threshold: t,
            members: (0..n).map(member).collect(),
        }
    }

    #[test]
    fn quorum_is_a_majority_and_at_least_the_threshold() {
        for (t, n, q) in [
            (2, 3, 2),
            (2, 5, 3),
            (3, 5, 3),
            (1, 1, 1),
            (2, 4, 3),
            (4, 5, 4),
        ] {
            let c = committee(t, n);
            c.check().unwrap();
            assert_eq!(c.checkpoint_quorum(), q, "{t}-of-{n}");
            // Two disjoint quorums cannot exist.
            assert!(2 * c.checkpoint_quorum() > usize::from(n));
        }
    }

    #[test]
    fn refuses_bad_shapes_and_repeated_keys() {
        assert!(committee(0, 3).check().is_err());
        assert!(committee(4, 3).check().is_err());
        let mut c = committee(2, 3);
        c.members[2].witness_key = c.members[0].witness_key;
        assert!(c.check().is_err());
        let mut c = committee(2, 3);
        c.members[1].tls_fingerprint = c.members[0].tls_fingerprint;
        assert!(c.check().is_err());
        let mut c = committee(2, 3);
        c.id = "a b".into();
        assert!(c.check().is_err());
    }
}
