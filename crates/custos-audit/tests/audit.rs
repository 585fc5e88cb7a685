//! RFC 9162 Merkle proofs (the RFC's own example, every size up to 64, and
//! corruption probes), node co-signing, and the offline verifier against
//! tampering, deletion, truncation, rewriting and forks.

// Tests may unwrap, index and panic (the workspace denies these elsewhere;
// clippy's allow-*-in-tests covers only #[test] functions, not helpers).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use custos_audit::checkpoint::{Checkpoint, Cosigner, SignedCheckpoint};
use custos_audit::entry::Log;
use custos_audit::merkle::{
    consistency_proof, inclusion_proof, leaf_hash, node_hash, root, verify_consistency,
    verify_inclusion,
};
use custos_audit::verify::{verify_export, Keys, Witnesses};
use custos_audit::{AuditError, Hash};
use ed25519_dalek::SigningKey;
use proptest::prelude::*;
use rand::rngs::OsRng;
use std::collections::{BTreeMap, BTreeSet};

fn leaves(n: usize) -> Vec<Hash> {
    (0..n)
        .map(|i| leaf_hash(&(i as u32).to_be_bytes()))
        .collect()
}

#[test]
fn rfc9162_example_tree_of_seven() {
    // RFC 9162 §2.1.5: leaves d0..d6 hash to a..f, j; g = H(a,b), h = H(c,d),
    // i = H(e,f), k = H(g,h), l = H(i,j).
    let d = leaves(7);
    let (a, b, c, dd, e, f, j) = (d[0], d[1], d[2], d[3], d[4], d[5], d[6]);
    let (g, h, i) = (node_hash(&a, &b), node_hash(&c, &dd), node_hash(&e, &f));
    let (k, l) = (node_hash(&g, &h), node_hash(&i, &j));
    assert_eq!(root(&d), node_hash(&k, &l));
    assert_eq!(inclusion_proof(0, &d).unwrap(), [b, h, l]);
    assert_eq!(inclusion_proof(3, &d).unwrap(), [c, g, l]);
    assert_eq!(inclusion_proof(4, &d).unwrap(), [f, j, k]);
    assert_eq!(inclusion_proof(6, &d).unwrap(), [i, k]);
    assert_eq!(consistency_proof(3, &d).unwrap(), [c, dd, g, l]);
    assert_eq!(consistency_proof(4, &d).unwrap(), [l]);
    assert_eq!(consistency_proof(6, &d).unwrap(), [i, j, k]);
    // The empty tree is SHA-256 of nothing.
    assert_eq!(
        hex::encode(root(&[])),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
}

#[test]
fn every_proof_up_to_64_leaves_verifies_and_every_corruption_fails() {
    let all = leaves(64);
    for n in 1..=64usize {
        let d = &all[..n];
        let r = root(d);
        for m in 0..n {
            let p = inclusion_proof(m, d).unwrap();
            verify_inclusion(m as u64, n as u64, &d[m], &p, &r).unwrap();
            for idx in 0..p.len() {
                let mut bad = p.clone();
                bad[idx][0] ^= 1;
                assert!(verify_inclusion(m as u64, n as u64, &d[m], &bad, &r).is_err());
            }
            let mut longer = p.clone();
            longer.push(r);
            assert!(verify_inclusion(m as u64, n as u64, &d[m], &longer, &r).is_err());
            if !p.is_empty() {
                assert!(
                    verify_inclusion(m as u64, n as u64, &d[m], &p[..p.len() - 1], &r).is_err()
                );
            }
            assert!(verify_inclusion(n as u64, n as u64, &d[m], &p, &r).is_err());
        }
        for m in 1..=n {
            let r1 = root(&d[..m]);
            let p = consistency_proof(m, d).unwrap();
            verify_consistency(m as u64, n as u64, &r1, &r, &p).unwrap();
            for idx in 0..p.len() {
                let mut bad = p.clone();
                bad[idx][31] ^= 0x80;
                assert!(
                    verify_consistency(m as u64, n as u64, &r1, &r, &bad).is_err(),
                    "{m}/{n}/{idx}"
                );
            }
            if m < n {
                let mut other = r1;
                other[0] ^= 1;
                assert!(verify_consistency(m as u64, n as u64, &other, &r, &p).is_err());
                assert!(
                    verify_consistency(m as u64, n as u64, &r1, &r, &p[..p.len() - 1]).is_err()
                );
            }
        }
    }
}

proptest! {
    #[test]
    fn consistency_never_accepts_a_rewritten_prefix(n in 2usize..200, m_frac in 0.0f64..1.0, flip in 0usize..200) {
        let d = leaves(n);
        let m = 1 + ((n - 1) as f64 * m_frac) as usize;
        let mut rewritten = d.clone();
        let at = flip % m;
        rewritten[at][5] ^= 0x40;
        let p = consistency_proof(m, &rewritten).unwrap();
        prop_assert!(verify_consistency(m as u64, n as u64, &root(&d[..m]), &root(&rewritten), &p).is_err());
    }
}

struct Fixture {
    server: SigningKey,
    nodes: Vec<SigningKey>,
    log: Log,
    checkpoints: Vec<SignedCheckpoint>,
}

impl Fixture {
    fn new(entries: usize, checkpoint_every: usize) -> Self {
        let server = SigningKey::generate(&mut OsRng);
        let nodes: Vec<SigningKey> = (0..3).map(|_| SigningKey::generate(&mut OsRng)).collect();
        let mut cosigners: Vec<Cosigner> = nodes.iter().map(|_| Cosigner::default()).collect();
        let mut log = Log::new();
        let mut checkpoints = Vec::new();
        for i in 0..entries {
            log.append(
                1_700_000_000 + i as i64,
                "alice",
                "request",
                &format!("{{\"n\":{i}}}"),
                &server,
            )
            .unwrap();
            if (i + 1) % checkpoint_every == 0 {
                let cp = Checkpoint {
                    size: log.leaves().len() as u64,
                    root: root(log.leaves()),
                };
                let cosignatures = nodes
                    .iter()
                    .zip(cosigners.iter_mut())
                    .map(|(k, c)| {
                        let proof = match c.last() {
                            Some(last) if last.size > 0 => {
                                consistency_proof(last.size as usize, log.leaves()).unwrap()
                            }
                            _ => vec![],
                        };
                        c.cosign(&cp, &proof, k, HEAD).unwrap()
                    })
                    .collect();
                checkpoints.push(SignedCheckpoint {
                    checkpoint: cp,
                    server: cp.sign(&server),
                    cosignatures,
                });
            }
        }
        Self {
            server,
            nodes,
            log,
            checkpoints,
        }
    }

    fn keys(&self) -> Keys {
        Keys {
            server: self.server.verifying_key(),
            witnesses: BTreeMap::from([(
                HEAD,
                Witnesses {
                    keys: self
                        .nodes
                        .iter()
                        .map(|k| k.verifying_key().to_bytes())
                        .collect(),
                    quorum: 2,
                },
            )]),
            floor: Vec::new(),
        }
    }
}

/// The governance head the fixture's nodes co-sign under.
const HEAD: [u8; 32] = [7; 32];

#[test]
fn clean_export_verifies() {
    let f = Fixture::new(20, 5);
    let report = verify_export(f.log.entries(), &f.checkpoints, &f.keys()).unwrap();
    assert_eq!(report.entries, 20);
    assert_eq!(report.checkpoints, 4);
}

#[test]
fn tampering_deletion_truncation_rewrite_and_forks_are_named() {
    let f = Fixture::new(20, 5);
    let keys = f.keys();
    // An altered field without the server's key: that entry's signature fails.
    let mut e = f.log.entries().to_vec();
    e[7].entry.detail = "{\"n\":700}".into();
    assert_eq!(
        verify_export(&e, &f.checkpoints, &keys).unwrap_err(),
        AuditError::Entry {
            seq: 7,
            reason: "bad signature"
        }
    );
    // A deleted entry: the sequence breaks there.
    let mut e = f.log.entries().to_vec();
    e.remove(11);
    assert!(matches!(
        verify_export(&e, &f.checkpoints, &keys).unwrap_err(),
        AuditError::Entry { seq: 11, .. }
    ));
    // Truncation below a co-signed checkpoint.
    let e = &f.log.entries()[..17];
    assert!(matches!(
        verify_export(e, &f.checkpoints, &keys).unwrap_err(),
        AuditError::Checkpoint { size: 20, .. }
    ));
    // History rewritten with the server's key after entry 12: re-signed and
    // re-linked, but the co-signed checkpoint of size 15 no longer matches.
    let mut rewritten = Log::new();
    for (i, s) in f.log.entries().iter().enumerate() {
        let detail = if i == 12 {
            "{\"n\":\"forged\"}"
        } else {
            &s.entry.detail
        };
        rewritten
            .append(
                s.entry.time,
                &s.entry.actor,
                &s.entry.action,
                detail,
                &f.server,
            )
            .unwrap();
    }
    assert_eq!(
        verify_export(rewritten.entries(), &f.checkpoints, &keys).unwrap_err(),
        AuditError::Rewritten { from: 10, to: 15 }
    );
    // A fork: a second checkpoint for size 10 with another root.
    let mut cps = f.checkpoints.clone();
    let mut forked = cps[1].clone();
    forked.checkpoint.root[0] ^= 1;
    forked.server = forked.checkpoint.sign(&f.server);
    forked.cosignatures = f
        .nodes
        .iter()
        .map(|k| forked.checkpoint.cosign(k, HEAD))
        .collect();
    cps.push(forked);
    assert!(matches!(
        verify_export(f.log.entries(), &cps, &keys).unwrap_err(),
        AuditError::Checkpoint { size: 10, .. }
    ));
    // A checkpoint with one co-signature where two are needed.
    let mut cps = f.checkpoints.clone();
    cps[0].cosignatures.truncate(1);
    assert!(matches!(
        verify_export(f.log.entries(), &cps, &keys).unwrap_err(),
        AuditError::Checkpoint {
            size: 5,
            reason: "too few node co-signatures (a majority of the committee is needed)"
        }
    ));
}

#[test]
fn a_bad_or_foreign_cosignature_is_refused_and_its_checkpoint_named() {
    let f = Fixture::new(20, 5);
    let keys = f.keys();
    // A flipped byte in any co-signature of any checkpoint (three valid ones
    // would be more than enough: it is refused, not skipped).
    for (i, c) in f.checkpoints.iter().enumerate() {
        for j in 0..c.cosignatures.len() {
            for byte in [0, 31, 63] {
                let mut cps = f.checkpoints.clone();
                cps[i].cosignatures[j].signature[byte] ^= 1;
                assert_eq!(
                    verify_export(f.log.entries(), &cps, &keys).unwrap_err(),
                    AuditError::Checkpoint {
                        size: c.checkpoint.size,
                        reason: "a co-signature does not verify"
                    }
                );
            }
        }
    }
    // A key that is no witness of the committee, and a head not in the chain.
    let mut cps = f.checkpoints.clone();
    let outsider = SigningKey::generate(&mut OsRng);
    let foreign = cps[2].checkpoint.cosign(&outsider, HEAD);
    cps[2].cosignatures.push(foreign);
    assert!(matches!(
        verify_export(f.log.entries(), &cps, &keys).unwrap_err(),
        AuditError::Checkpoint { size: 15, reason } if reason.contains("no witness")
    ));
    let mut cps = f.checkpoints.clone();
    let elsewhere = cps[1].checkpoint.cosign(&f.nodes[0], [1; 32]);
    cps[1].cosignatures[0] = elsewhere;
    assert!(matches!(
        verify_export(f.log.entries(), &cps, &keys).unwrap_err(),
        AuditError::Checkpoint { size: 10, reason } if reason.contains("head")
    ));
    // Moving a genuine co-signature to another checkpoint.
    let mut cps = f.checkpoints.clone();
    cps[3].cosignatures[0] = f.checkpoints[2].cosignatures[0].clone();
    assert!(matches!(
        verify_export(f.log.entries(), &cps, &keys).unwrap_err(),
        AuditError::Checkpoint { size: 20, .. }
    ));
}

#[test]
fn a_log_cut_below_what_the_nodes_cosigned_is_refused() {
    let f = Fixture::new(20, 5);
    let mut keys = f.keys();
    // The nodes say (over the verifier's nonce) they co-signed size 20; the
    // database administrator removed the last entries and the checkpoints
    // over them.
    keys.floor = vec![f.checkpoints[3].checkpoint];
    verify_export(f.log.entries(), &f.checkpoints, &keys).unwrap();
    assert_eq!(
        verify_export(&f.log.entries()[..16], &f.checkpoints[..3], &keys).unwrap_err(),
        AuditError::Cut {
            size: 20,
            entries: 16
        }
    );
    // Everything cut: no checkpoint at all is refused by itself.
    assert_eq!(
        verify_export(&f.log.entries()[..16], &[], &f.keys()).unwrap_err(),
        AuditError::NoCheckpoint
    );
    // Same length, other content than the nodes' root.
    keys.floor[0].root[0] ^= 1;
    assert!(matches!(
        verify_export(f.log.entries(), &f.checkpoints, &keys).unwrap_err(),
        AuditError::Rewritten { to: 20, .. }
    ));
}

#[test]
fn two_disjoint_pairs_of_a_two_of_five_committee_certify_nothing() {
    // 2-of-5: the quorum is a majority (3), so no two disjoint sets can
    // each certify one of two diverging logs.
    let server = SigningKey::generate(&mut OsRng);
    let nodes: Vec<SigningKey> = (0..5).map(|_| SigningKey::generate(&mut OsRng)).collect();
    let keys = Keys {
        server: server.verifying_key(),
        witnesses: BTreeMap::from([(
            HEAD,
            Witnesses {
                keys: nodes
                    .iter()
                    .map(|k| k.verifying_key().to_bytes())
                    .collect::<BTreeSet<_>>(),
                quorum: 3,
            },
        )]),
        floor: Vec::new(),
    };
    let mut a = Log::new();
    let mut b = Log::new();
    for (log, what) in [(&mut a, "to-alice"), (&mut b, "to-mallory")] {
        log.append(1, "server", "sign", what, &server).unwrap();
    }
    for (log, pair) in [(&a, &nodes[0..2]), (&b, &nodes[2..4])] {
        let cp = Checkpoint {
            size: 1,
            root: root(log.leaves()),
        };
        let signed = SignedCheckpoint {
            checkpoint: cp,
            server: cp.sign(&server),
            cosignatures: pair.iter().map(|k| cp.cosign(k, HEAD)).collect(),
        };
        assert!(matches!(
            verify_export(log.entries(), &[signed], &keys).unwrap_err(),
            AuditError::Checkpoint { size: 1, reason } if reason.contains("majority")
        ));
    }
}

#[test]
fn a_node_never_cosigns_a_fork_a_truncation_or_a_bad_extension() {
    let f = Fixture::new(12, 100);
    let key = &f.nodes[0];
    let leaves = f.log.leaves();
    let cp = |n: usize| Checkpoint {
        size: n as u64,
        root: root(&leaves[..n]),
    };
    let mut c = Cosigner::default();
    c.cosign(&cp(6), &[], key, HEAD).unwrap();
    // Extension with a valid proof: signed.
    c.cosign(
        &cp(9),
        &consistency_proof(6, &leaves[..9]).unwrap(),
        key,
        HEAD,
    )
    .unwrap();
    // Shorter log: refused.
    assert!(matches!(
        c.cosign(&cp(8), &[], key, HEAD),
        Err(AuditError::NotAnExtension(_))
    ));
    // Same size, other root: refused.
    let mut fork = cp(9);
    fork.root[3] ^= 1;
    assert!(matches!(
        c.cosign(&fork, &[], key, HEAD),
        Err(AuditError::NotAnExtension(_))
    ));
    // A larger checkpoint whose proof does not connect: refused.
    let mut other = leaves[..12].to_vec();
    other[2][0] ^= 1;
    let bad = Checkpoint {
        size: 12,
        root: root(&other),
    };
    let proof = consistency_proof(9, &other).unwrap();
    assert!(matches!(
        c.cosign(&bad, &proof, key, HEAD),
        Err(AuditError::NotAnExtension(_))
    ));
    assert_eq!(c.last(), Some(cp(9)), "a refusal changes nothing");
}
