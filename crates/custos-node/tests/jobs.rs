//! Node job runners on threads, connected by an in-memory relay of sealed
//! frames: keygen and signing for every scheme, roster pinning, and the
//! per-message deadline that names the silent node.

// Tests may unwrap, index and panic (the workspace denies these elsewhere;
// clippy's allow-*-in-tests covers only #[test] functions, not helpers).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::BTreeMap;
use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;
use std::time::Duration;

use custos_node::job::{run_job, Inbound, JobError, JobInput, JobOutput};
use custos_protocol::control::{CommitteeSpec, Job, JobKind};
use custos_tss::ecdsa::AuxInfo;
use custos_tss::{DerivationPath, KeyShare, PartyIndex, Scheme};
use custos_wire::{NodeKeys, NodePublicKey};
use rand::rngs::OsRng;
use rand::RngCore;

const TIMEOUT: Duration = Duration::from_secs(20);

struct Cluster {
    keys: Vec<Arc<NodeKeys>>,
    spec: CommitteeSpec,
}

impl Cluster {
    fn new() -> Self {
        let keys: Vec<Arc<NodeKeys>> = (0..3)
            .map(|_| Arc::new(NodeKeys::generate(&mut OsRng)))
            .collect();
        let spec = CommitteeSpec {
            id: "c1".into(),
            threshold: 2,
            members: keys.iter().map(|k| k.public()).collect(),
        };
        Self { keys, spec }
    }

    fn pinned(&self) -> Vec<NodePublicKey> {
        self.spec.members.clone()
    }

    /// Runs `kind` at `parties` with per-party inputs; `silent` parties never
    /// start (their frames are never sent).
    fn run(
        &self,
        kind: JobKind,
        parties: &[PartyIndex],
        mut inputs: BTreeMap<PartyIndex, JobInput>,
        spec: Option<CommitteeSpec>,
        timeout: Duration,
    ) -> BTreeMap<PartyIndex, Result<JobOutput, JobError>> {
        let mut session = [0u8; 32];
        OsRng.fill_bytes(&mut session);
        let (relay_tx, relay_rx) = channel::<custos_wire::Frame>();
        let mut inboxes: BTreeMap<PartyIndex, Sender<Inbound>> = BTreeMap::new();
        let mut handles = Vec::new();
        for &p in parties {
            let (tx, rx) = channel();
            inboxes.insert(p, tx);
            let job = Job {
                session,
                committee: spec.clone().unwrap_or_else(|| self.spec.clone()),
                me: p,
                kind: kind.clone(),
            };
            let keys = self.keys[usize::from(p)].clone();
            let pinned = self.pinned();
            let input = inputs.remove(&p).unwrap();
            let out = relay_tx.clone();
            handles.push((
                p,
                std::thread::spawn(move || {
                    run_job(
                        &job,
                        &keys,
                        &pinned,
                        2,
                        input,
                        rx,
                        move |f| out.send(f).map_err(|e| e.to_string()),
                        timeout,
                        None,
                        &mut OsRng,
                    )
                }),
            ));
        }
        drop(relay_tx);
        let relay = std::thread::spawn(move || {
            for frame in relay_rx {
                if let Some(tx) = inboxes.get(&frame.header.to) {
                    let _ = tx.send(Inbound::Frame(frame));
                }
            }
        });
        let results = handles
            .into_iter()
            .map(|(p, h)| (p, h.join().unwrap()))
            .collect();
        relay.join().unwrap();
        results
    }
}

fn aux3() -> Vec<AuxInfo> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../custos-tss/test-data/aux-3.hex"
    ))
    .unwrap();
    text.lines()
        .map(|l| AuxInfo::from_bytes(&hex::decode(l).unwrap()).unwrap())
        .collect()
}

fn keygen(cluster: &Cluster, scheme: Scheme) -> Vec<KeyShare> {
    let aux = (scheme == Scheme::EcdsaSecp256k1).then(aux3);
    let inputs = (0..3)
        .map(|p| {
            (
                p,
                JobInput::Aux(aux.as_ref().map(|a| a[usize::from(p)].clone())),
            )
        })
        .collect();
    cluster
        .run(
            JobKind::Keygen { scheme },
            &[0, 1, 2],
            inputs,
            None,
            TIMEOUT,
        )
        .into_values()
        .map(|r| match r.unwrap() {
            JobOutput::Share(s) => *s,
            other => panic!("{other:?}"),
        })
        .collect()
}

fn sign_kind(share: &KeyShare, signers: Vec<PartyIndex>, message: Vec<u8>) -> JobKind {
    JobKind::Sign {
        key_id: share.key_id().to_string(),
        signers,
        path: "m/0/4".into(),
        message,
        sha256: false,
        request_id: [1; 16],
        wallet: "w".into(),
        auth: unchecked(),
    }
}

/// `run_job` only runs protocols; the daemon authorises each signing job
/// before it gets there (see `recheck` and the cluster test).
fn unchecked() -> custos_protocol::authz::Authorization {
    custos_protocol::authz::Authorization {
        head: [0; 32],
        initiator: String::new(),
        initiator_signature: Vec::new(),
        approvals: Vec::new(),
        time: 0,
    }
}

#[test]
fn keygen_and_sign_every_scheme_through_job_runners() {
    let cluster = Cluster::new();
    for scheme in Scheme::ALL {
        let mut shares = keygen(&cluster, scheme);
        let message = vec![0x42; 32];
        let kind = sign_kind(&shares[0], vec![0, 2], message.clone());
        let key = shares[0]
            .public_key(&"m/0/4".parse::<DerivationPath>().unwrap())
            .unwrap();
        let inputs = BTreeMap::from([
            (0, JobInput::Share(Box::new(shares.remove(0)))),
            (2, JobInput::Share(Box::new(shares.remove(1)))),
        ]);
        for (_, r) in cluster.run(kind, &[0, 2], inputs, None, TIMEOUT) {
            let JobOutput::Signature(sig) = r.unwrap() else {
                panic!("not a signature")
            };
            assert!(
                custos_tss::verify(scheme, &key, &message, &sig.bytes),
                "{scheme}"
            );
        }
    }
}

#[test]
fn silent_signer_times_out_and_is_named() {
    let cluster = Cluster::new();
    let mut shares = keygen(&cluster, Scheme::Ed25519);
    let kind = sign_kind(&shares[0], vec![0, 1], vec![1; 32]);
    // Party 1 is a signer but never runs.
    let inputs = BTreeMap::from([(0, JobInput::Share(Box::new(shares.remove(0))))]);
    let results = cluster.run(kind, &[0], inputs, None, Duration::from_millis(300));
    let err = results.into_values().next().unwrap().unwrap_err();
    assert!(
        matches!(&err, JobError::Timeout { waiting_for, .. } if waiting_for == &vec![1]),
        "{err}"
    );
    assert_eq!(err.culprits(), vec![1]);
}

#[test]
fn committee_that_differs_from_the_pinned_roster_is_refused() {
    let cluster = Cluster::new();
    let mut spec = cluster.spec.clone();
    spec.members[2] = NodeKeys::generate(&mut OsRng).public(); // server swaps a member
    let inputs = (0..3).map(|p| (p, JobInput::Aux(None))).collect();
    for (_, r) in cluster.run(
        JobKind::Keygen {
            scheme: Scheme::Ed25519,
        },
        &[0, 1, 2],
        inputs,
        Some(spec),
        TIMEOUT,
    ) {
        assert!(matches!(r, Err(JobError::Roster(_))), "{r:?}");
    }
    let mut lowered = cluster.spec.clone();
    lowered.threshold = 1;
    let inputs = (0..3).map(|p| (p, JobInput::Aux(None))).collect();
    for (_, r) in cluster.run(
        JobKind::Keygen {
            scheme: Scheme::Ed25519,
        },
        &[0, 1, 2],
        inputs,
        Some(lowered),
        TIMEOUT,
    ) {
        assert!(matches!(r, Err(JobError::Roster(_))), "{r:?}");
    }
}

#[test]
fn share_of_another_key_is_refused() {
    let cluster = Cluster::new();
    let a = keygen(&cluster, Scheme::Ed25519);
    let mut b = keygen(&cluster, Scheme::Ed25519);
    let kind = sign_kind(&a[0], vec![0, 1], vec![1; 32]);
    let inputs = BTreeMap::from([(0, JobInput::Share(Box::new(b.remove(0))))]);
    let r = cluster
        .run(kind, &[0], inputs, None, TIMEOUT)
        .into_values()
        .next()
        .unwrap();
    assert!(matches!(r, Err(JobError::Input(_))), "{r:?}");
}

#[test]
fn presign_then_sign_with_the_stored_presignature() {
    let cluster = Cluster::new();
    let shares = keygen(&cluster, Scheme::EcdsaSecp256k1);
    let key_id = shares[0].key_id().to_string();
    let aux = aux3();
    let share = |p: usize| -> Box<KeyShare> {
        Box::new(KeyShare::from_bytes(&shares[p].to_bytes().unwrap(), Some(&aux[p])).unwrap())
    };
    let presign = JobKind::Presign {
        key_id: key_id.clone(),
        signers: vec![1, 2],
    };
    let inputs = BTreeMap::from([
        (1, JobInput::Share(share(1))),
        (2, JobInput::Share(share(2))),
    ]);
    let stored: BTreeMap<PartyIndex, Vec<u8>> = cluster
        .run(presign, &[1, 2], inputs, None, TIMEOUT)
        .into_iter()
        .map(|(p, r)| match r.unwrap() {
            JobOutput::Presignature(ps) => (p, ps.to_bytes().unwrap().to_vec()),
            other => panic!("{other:?}"),
        })
        .collect();
    let load = |p: PartyIndex| {
        let KeyShare::Ecdsa(e) = &shares[usize::from(p)] else {
            unreachable!()
        };
        custos_tss::ecdsa::Presignature::from_bytes(&stored[&p], e).unwrap()
    };
    let message = b"pay 1 to bob".to_vec();
    let kind = |signers: Vec<PartyIndex>| JobKind::SignPresigned {
        key_id: key_id.clone(),
        signers,
        presignature: hex::encode(load(1).id()),
        message: message.clone(),
        request_id: [2; 16],
        wallet: "w".into(),
        auth: unchecked(),
    };
    let inputs = BTreeMap::from([
        (1, JobInput::Presigned(share(1), Box::new(load(1)))),
        (2, JobInput::Presigned(share(2), Box::new(load(2)))),
    ]);
    let digest: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(&message).into();
    let key = shares[0].public_key(&DerivationPath::root()).unwrap();
    for (_, r) in cluster.run(kind(vec![1, 2]), &[1, 2], inputs, None, TIMEOUT) {
        let JobOutput::Signature(sig) = r.unwrap() else {
            panic!("not a signature")
        };
        assert!(custos_tss::verify(
            Scheme::EcdsaSecp256k1,
            &key,
            &digest,
            &sig.bytes
        ));
    }
    // A server naming other signers than the presignature's is refused.
    let inputs = BTreeMap::from([(1, JobInput::Presigned(share(1), Box::new(load(1))))]);
    let r = cluster
        .run(kind(vec![0, 1]), &[1], inputs, None, TIMEOUT)
        .into_values()
        .next()
        .unwrap();
    assert!(matches!(r, Err(JobError::Input(_))), "{r:?}");
}
