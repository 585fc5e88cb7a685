//! Log before sign, by a majority: a node signs only once the request's
//! `sign` entry is covered by a checkpoint co-signed by more than half of
//! the committee (and at least its threshold), with the root this node
//! itself co-signed at that size. Two disjoint node sets can then never
//! both certify diverging logs, so no signing rests on a log only a
//! minority has seen. Pure.

use custos_audit::checkpoint::SignedCheckpoint;
use custos_audit::Hash;
use custos_governance::Committee;

use crate::recheck::Refusal;

/// Checks `cp` against `committee` (from this node's governance chain):
/// it covers entry `seq`, its root is `own_root` (what this node co-signed
/// at that size), every co-signature is valid and by a distinct witness of
/// the committee, and there are at least the committee's checkpoint quorum
/// of them.
pub fn check_certified(
    committee: &Committee,
    cp: &SignedCheckpoint,
    seq: u64,
    own_root: Option<Hash>,
) -> Result<(), Refusal> {
    let c = cp.checkpoint;
    if c.size <= seq {
        return Err(Refusal::Checkpoint(
            "the checkpoint does not cover the request's entry",
        ));
    }
    if own_root != Some(c.root) {
        return Err(Refusal::Checkpoint(
            "the checkpoint is not one this node co-signed",
        ));
    }
    let mut members = Vec::new();
    for co in &cp.cosignatures {
        let i = committee.witness_index(&co.key).ok_or(Refusal::Checkpoint(
            "a co-signature by a key outside the committee",
        ))?;
        if !c.verify_cosignature(co) {
            return Err(Refusal::Checkpoint("a co-signature does not verify"));
        }
        if members.contains(&i) {
            return Err(Refusal::Checkpoint("a node co-signed twice"));
        }
        members.push(i);
    }
    if members.len() < committee.checkpoint_quorum() {
        return Err(Refusal::Checkpoint(
            "fewer co-signatures than a majority of the committee",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use custos_audit::checkpoint::Checkpoint;
    use custos_governance::Member;
    use ed25519_dalek::SigningKey;

    fn setup(n: u8, t: u16) -> (Committee, Vec<SigningKey>) {
        let keys: Vec<SigningKey> = (1..=n).map(|i| SigningKey::from_bytes(&[i; 32])).collect();
        let c = Committee {
            id: "c".into(),
            threshold: t,
            members: keys
                .iter()
                .enumerate()
                .map(|(i, k)| Member {
                    name: format!("n{i}"),
                    channel_key: [i as u8; 32],
                    witness_key: k.verifying_key().to_bytes(),
                    tls_fingerprint: [i as u8 + 50; 32],
                })
                .collect(),
        };
        (c, keys)
    }

    fn signed(by: &[SigningKey]) -> SignedCheckpoint {
        let checkpoint = Checkpoint {
            size: 5,
            root: [3; 32],
        };
        SignedCheckpoint {
            checkpoint,
            server: vec![],
            cosignatures: by.iter().map(|k| checkpoint.cosign(k, [0; 32])).collect(),
        }
    }

    #[test]
    fn a_minority_never_certifies_even_with_the_threshold() {
        // 2-of-5: two nodes are a threshold but not a majority.
        let (c, k) = setup(5, 2);
        let own = Some([3; 32]);
        assert!(check_certified(&c, &signed(&k[..2]), 4, own).is_err());
        check_certified(&c, &signed(&k[..3]), 4, own).unwrap();
        check_certified(&c, &signed(&k[2..]), 4, own).unwrap();
        // Not covering the entry; another root than this node's.
        assert!(check_certified(&c, &signed(&k[..3]), 5, own).is_err());
        assert!(check_certified(&c, &signed(&k[..3]), 4, Some([4; 32])).is_err());
        assert!(check_certified(&c, &signed(&k[..3]), 4, None).is_err());
        // A flipped byte, a repeated node, an outsider.
        let mut bad = signed(&k[..3]);
        bad.cosignatures[1].signature[0] ^= 1;
        assert!(check_certified(&c, &bad, 4, own).is_err());
        let twice = signed(&[k[0].clone(), k[0].clone(), k[1].clone()]);
        assert!(check_certified(&c, &twice, 4, own).is_err());
        let outsider = signed(&[k[0].clone(), k[1].clone(), SigningKey::from_bytes(&[9; 32])]);
        assert!(check_certified(&c, &outsider, 4, own).is_err());
    }
}
