//! The governance chain: quorum of the current state, proposer counted
//! once, no user twice, forks, gaps and stale heads refused, key rotation,
//! invariants, and atomic refusal.

// Tests may unwrap, index and panic (the workspace denies these elsewhere;
// clippy's allow-*-in-tests covers only #[test] functions, not helpers).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::BTreeSet;

use custos_governance::{Change, Genesis, GovError, Governance, Proposal, Role, SignedProposal};
use ed25519_dalek::SigningKey;
use proptest::prelude::*;
use rand::rngs::OsRng;

struct Admins {
    keys: Vec<(String, SigningKey)>,
}

impl Admins {
    fn new(n: usize) -> Self {
        Self {
            keys: (0..n)
                .map(|i| (format!("admin{i}"), SigningKey::generate(&mut OsRng)))
                .collect(),
        }
    }

    fn genesis(&self, quorum: u32) -> Genesis {
        Genesis {
            admins: self
                .keys
                .iter()
                .map(|(id, k)| (id.clone(), k.verifying_key().to_bytes()))
                .collect(),
            admin_quorum: quorum,
            audit_key: SigningKey::from_bytes(&[7; 32]).verifying_key().to_bytes(),
            committees: vec![],
            demo: quorum < 2,
        }
    }

    fn key(&self, id: &str) -> &SigningKey {
        &self.keys.iter().find(|(i, _)| i == id).unwrap().1
    }
}

fn propose(gov: &Governance, proposer: &str, changes: Vec<Change>) -> Proposal {
    Proposal {
        height: gov.height() + 1,
        prev: gov.head(),
        proposer: proposer.into(),
        time: 1_795_429_800,
        changes,
    }
}

fn signed(p: Proposal, admins: &Admins, by: &[&str]) -> SignedProposal {
    let signatures = by
        .iter()
        .map(|id| (id.to_string(), p.sign(admins.key(id)).unwrap()))
        .collect();
    SignedProposal {
        proposal: p,
        signatures,
    }
}

fn add(id: &str, roles: &[Role]) -> (Change, SigningKey) {
    let k = SigningKey::generate(&mut OsRng);
    (
        Change::AddUser {
            id: id.into(),
            key: k.verifying_key().to_bytes(),
            roles: roles.iter().copied().collect(),
        },
        k,
    )
}

#[test]
fn changes_need_a_quorum_of_the_current_admins() {
    let admins = Admins::new(3);
    let g = admins.genesis(2);
    let mut gov = Governance::genesis(&g).unwrap();
    assert_eq!(gov.head(), g.hash().unwrap());
    let (c, _) = add("alice", &[Role::Initiator]);
    let p = propose(&gov, "admin0", vec![c.clone()]);
    // One admin alone, even signing twice: refused.
    assert_eq!(
        gov.apply(&signed(p.clone(), &admins, &["admin0"]))
            .unwrap_err(),
        GovError::NoQuorum { have: 1, need: 2 }
    );
    assert_eq!(
        gov.apply(&signed(p.clone(), &admins, &["admin0", "admin0"]))
            .unwrap_err(),
        GovError::DuplicateSigner("admin0".into())
    );
    // Two others but not the proposer: refused.
    assert_eq!(
        gov.apply(&signed(p.clone(), &admins, &["admin1", "admin2"]))
            .unwrap_err(),
        GovError::ProposerMustSign
    );
    // A non-admin cannot sign.
    let mut s = signed(p.clone(), &admins, &["admin0", "admin1"]);
    s.signatures.push(("alice".into(), vec![0; 64]));
    assert_eq!(
        gov.apply(&s).unwrap_err(),
        GovError::NotAdmin("alice".into())
    );
    // A signature over another proposal does not count.
    let mut s = signed(p.clone(), &admins, &["admin0", "admin1"]);
    s.proposal.time += 1;
    assert_eq!(
        gov.apply(&s).unwrap_err(),
        GovError::BadSignature("admin0".into())
    );
    assert_eq!(gov.height(), 0, "refusals change nothing");
    gov.apply(&signed(p, &admins, &["admin0", "admin1"]))
        .unwrap();
    assert!(gov.state().has_role("alice", Role::Initiator));
    assert_eq!(gov.height(), 1);
}

#[test]
fn forks_gaps_and_stale_proposals_are_refused() {
    let admins = Admins::new(2);
    let g = admins.genesis(1);
    let mut gov = Governance::genesis(&g).unwrap();
    let first = signed(
        propose(&gov, "admin0", vec![Change::SetPolicy(b"v1".to_vec())]),
        &admins,
        &["admin0"],
    );
    let rival = signed(
        propose(&gov, "admin1", vec![Change::SetPolicy(b"evil".to_vec())]),
        &admins,
        &["admin1"],
    );
    gov.apply(&first).unwrap();
    // The same height again: stale (a replay, or the losing side of a fork).
    assert!(matches!(
        gov.apply(&first),
        Err(GovError::Stale { got: 1, head: 1 })
    ));
    assert!(matches!(gov.apply(&rival), Err(GovError::Stale { .. })));
    // Next height but built on the old head: a fork.
    let mut forked = propose(&gov, "admin1", vec![]);
    forked.prev = g.hash().unwrap();
    assert_eq!(
        gov.apply(&signed(forked, &admins, &["admin1"]))
            .unwrap_err(),
        GovError::Fork
    );
    // Skipping a height: a gap.
    let mut skip = propose(&gov, "admin1", vec![]);
    skip.height += 1;
    assert!(matches!(
        gov.apply(&signed(skip, &admins, &["admin1"])),
        Err(GovError::Gap { .. })
    ));
    // Replay from genesis names the first bad height.
    let second = signed(
        propose(&gov, "admin1", vec![Change::SetQuorum(2)]),
        &admins,
        &["admin1"],
    );
    let chain = vec![first.clone(), second.clone()];
    assert_eq!(
        Governance::replay(&g, &chain).unwrap().state().admin_quorum,
        2
    );
    let mut broken = chain.clone();
    broken[1].signatures[0].1[0] ^= 1;
    assert_eq!(Governance::replay(&g, &broken).unwrap_err().0, 2);
    // The governance at each head along the chain, and none past a break
    // or off the chain.
    let end = Governance::replay(&g, &chain).unwrap();
    let first_head = Governance::replay(&g, &chain[..1]).unwrap().head();
    assert_eq!(
        Governance::at_head(&g, &chain, &first_head)
            .unwrap()
            .height(),
        1
    );
    assert_eq!(
        Governance::at_head(&g, &chain, &end.head())
            .unwrap()
            .height(),
        2
    );
    assert!(Governance::at_head(&g, &broken, &end.head()).is_none());
    assert!(Governance::at_head(&g, &chain, &[7; 32]).is_none());
}

#[test]
fn removed_admins_and_rotated_keys_lose_their_power() {
    let admins = Admins::new(3);
    let mut gov = Governance::genesis(&admins.genesis(2)).unwrap();
    let new_key = SigningKey::generate(&mut OsRng);
    let p = propose(
        &gov,
        "admin0",
        vec![
            Change::RemoveUser {
                id: "admin2".into(),
            },
            Change::RotateKey {
                id: "admin1".into(),
                key: new_key.verifying_key().to_bytes(),
            },
        ],
    );
    gov.apply(&signed(p, &admins, &["admin0", "admin1"]))
        .unwrap();
    let p = propose(&gov, "admin0", vec![Change::SetPolicy(b"x".to_vec())]);
    assert_eq!(
        gov.apply(&signed(p.clone(), &admins, &["admin0", "admin2"]))
            .unwrap_err(),
        GovError::NotAdmin("admin2".into())
    );
    assert_eq!(
        gov.apply(&signed(p.clone(), &admins, &["admin0", "admin1"]))
            .unwrap_err(),
        GovError::BadSignature("admin1".into()),
        "the old key no longer signs"
    );
    let s = SignedProposal {
        signatures: vec![
            ("admin0".into(), p.sign(admins.key("admin0")).unwrap()),
            ("admin1".into(), p.sign(&new_key).unwrap()),
        ],
        proposal: p,
    };
    gov.apply(&s).unwrap();
}

#[test]
fn invariants_hold_and_refused_changes_apply_nothing() {
    let admins = Admins::new(2);
    let mut gov = Governance::genesis(&admins.genesis(2)).unwrap();
    let both = ["admin0", "admin1"];
    // The quorum cannot exceed the admins, nor be zero.
    for q in [0, 3] {
        let p = propose(&gov, "admin0", vec![Change::SetQuorum(q)]);
        assert!(matches!(
            gov.apply(&signed(p, &admins, &both)),
            Err(GovError::Invalid(_))
        ));
    }
    // Removing an admin below the quorum is refused.
    let p = propose(
        &gov,
        "admin0",
        vec![Change::RemoveUser {
            id: "admin1".into(),
        }],
    );
    assert!(matches!(
        gov.apply(&signed(p, &admins, &both)),
        Err(GovError::Invalid(_))
    ));
    // An auditor holds no other role.
    let (c, _) = add("aud", &[Role::Auditor, Role::Approver]);
    let p = propose(&gov, "admin0", vec![c]);
    assert!(matches!(
        gov.apply(&signed(p, &admins, &both)),
        Err(GovError::Invalid(_))
    ));
    // All or nothing: a good change followed by a bad one leaves no trace.
    let (good, _) = add("bob", &[Role::Approver]);
    let p = propose(
        &gov,
        "admin0",
        vec![
            good,
            Change::Grant {
                id: "nobody".into(),
                role: Role::Viewer,
            },
        ],
    );
    assert!(gov.apply(&signed(p, &admins, &both)).is_err());
    assert!(!gov.state().users.contains_key("bob"));
    assert_eq!(gov.height(), 0);
    // Genesis itself is checked.
    assert!(Governance::genesis(&admins.genesis(3)).is_err());
}

#[test]
fn an_admin_quorum_of_one_only_in_a_demo_genesis() {
    let admins = Admins::new(2);
    let mut g = admins.genesis(1);
    assert!(g.demo);
    assert!(Governance::genesis(&g).is_ok());
    g.demo = false;
    let err = Governance::genesis(&g).unwrap_err();
    assert!(err.to_string().contains("admin quorum of 1"), "{err}");
    // Nor can a real chain lower its quorum to 1 later.
    let mut gov = Governance::genesis(&admins.genesis(2)).unwrap();
    let p = propose(&gov, "admin0", vec![Change::SetQuorum(1)]);
    let err = gov
        .apply(&signed(p, &admins, &["admin0", "admin1"]))
        .unwrap_err();
    assert!(err.to_string().contains("admin quorum of 1"), "{err}");
    assert_eq!(gov.state().admin_quorum, 2);
}

proptest! {
    #[test]
    fn accepted_exactly_when_distinct_current_admins_reach_the_quorum(
        quorum in 1u32..=5,
        signers in proptest::collection::vec(0usize..5, 0..8),
    ) {
        let admins = Admins::new(5);
        let mut gov = Governance::genesis(&admins.genesis(quorum)).unwrap();
        let ids: Vec<String> = signers.iter().map(|i| format!("admin{i}")).collect();
        let proposer = ids.first().cloned().unwrap_or_else(|| "admin0".into());
        let p = propose(&gov, &proposer, vec![Change::SetPolicy(vec![1])]);
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let distinct: BTreeSet<&str> = refs.iter().copied().collect();
        let ok = gov.apply(&signed(p, &admins, &refs)).is_ok();
        let expected = !refs.is_empty() && distinct.len() == refs.len() && distinct.len() >= quorum as usize;
        prop_assert_eq!(ok, expected);
    }
}
