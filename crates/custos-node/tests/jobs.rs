//! Node job runners on threads, connected by an in-memory relay of sealed
//! frames: keygen and signing (of what the node planned) for every scheme,
//! a server claiming other payloads, roster pinning, and the per-message
//! deadline that names the silent node.

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

use custos_chains::message::MessageFormat;
use custos_node::job::{plan, run_job, Inbound, JobError, JobInput, JobOutput};
use custos_protocol::authz::{MessageRequest, SigningRequest};
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
            JobKind::Keygen {
                order: order(scheme),
            },
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

/// A message request for `share`'s wallet in its scheme's convention.
fn message_request(share: &KeyShare, message: &[u8]) -> SigningRequest {
    let format = match share.scheme() {
        Scheme::EcdsaSecp256k1 => MessageFormat::Eip191,
        Scheme::SchnorrBip340 => MessageFormat::Bip322,
        Scheme::Ed25519 => MessageFormat::SolanaOffchain,
    };
    SigningRequest::Message(MessageRequest {
        request_id: [1; 16],
        wallet: "w".into(),
        key_id: share.key_id().to_string(),
        path: "m/0/4".into(),
        format,
        message: message.to_vec(),
    })
}

/// The signing job for `request`, claiming `payloads` will be signed.
fn sign_kind(
    request: &SigningRequest,
    signers: Vec<PartyIndex>,
    payloads: Vec<Vec<u8>>,
) -> JobKind {
    JobKind::Sign {
        signers,
        request: request.to_bytes().unwrap(),
        payloads,
        auth: unchecked(),
        checkpoint: custos_audit::checkpoint::SignedCheckpoint {
            checkpoint: custos_audit::checkpoint::Checkpoint {
                size: 0,
                root: [0; 32],
            },
            server: vec![],
            cosignatures: vec![],
        },
    }
}

/// An unsigned wallet order: `run_job` only runs protocols; the daemon
/// checks the order before (see `custos_protocol::attest`).
fn order(scheme: Scheme) -> custos_protocol::attest::SignedOrder {
    custos_protocol::attest::SignedOrder {
        order: custos_protocol::attest::WalletOrder {
            wallet: "w".into(),
            scheme,
            blind: false,
            committee: "c".into(),
            head: [0; 32],
            time: 0,
        },
        admin: String::new(),
        signature: vec![],
    }
}

/// What `share` signs for `request`, as the node plans it.
fn planned(share: KeyShare, request: &SigningRequest) -> (JobInput, Vec<Vec<u8>>) {
    let work = plan(&share, request).unwrap().work;
    let payloads = work.iter().map(|(_, p)| p.message().to_vec()).collect();
    (JobInput::Signing(Box::new(share), work), payloads)
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
        let request = message_request(&shares[0], b"hello from the job runner");
        let key = shares[0]
            .public_key(&"m/0/4".parse::<DerivationPath>().unwrap())
            .unwrap();
        let (in0, payloads) = planned(shares.remove(0), &request);
        let (in2, _) = planned(shares.remove(1), &request);
        let kind = sign_kind(&request, vec![0, 2], payloads.clone());
        let inputs = BTreeMap::from([(0, in0), (2, in2)]);
        for (_, r) in cluster.run(kind, &[0, 2], inputs, None, TIMEOUT) {
            let JobOutput::Signatures(sigs) = r.unwrap() else {
                panic!("not signatures")
            };
            assert_eq!(sigs.len(), 1);
            assert!(
                custos_tss::verify(scheme, &key, &payloads[0], &sigs[0].bytes),
                "{scheme}"
            );
        }
    }
}

#[test]
fn a_server_claiming_other_payloads_gets_no_signature() {
    let cluster = Cluster::new();
    let mut shares = keygen(&cluster, Scheme::Ed25519);
    let request = message_request(&shares[0], b"pay nobody");
    let (in0, mut payloads) = planned(shares.remove(0), &request);
    let (in1, _) = planned(shares.remove(0), &request);
    payloads[0][20] ^= 1;
    let kind = sign_kind(&request, vec![0, 1], payloads);
    let inputs = BTreeMap::from([(0, in0), (1, in1)]);
    for (_, r) in cluster.run(kind, &[0, 1], inputs, None, TIMEOUT) {
        assert!(
            matches!(r, Err(JobError::PayloadMismatch { index: 0 })),
            "{r:?}"
        );
    }
}

#[test]
fn silent_signer_times_out_and_is_named() {
    let cluster = Cluster::new();
    let mut shares = keygen(&cluster, Scheme::Ed25519);
    let request = message_request(&shares[0], b"anyone there?");
    let (in0, payloads) = planned(shares.remove(0), &request);
    let kind = sign_kind(&request, vec![0, 1], payloads);
    // Party 1 is a signer but never runs.
    let inputs = BTreeMap::from([(0, in0)]);
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
            order: order(Scheme::Ed25519),
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
            order: order(Scheme::Ed25519),
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
    let b = keygen(&cluster, Scheme::Ed25519);
    let request = message_request(&a[0], b"a's request");
    let err = plan(&b[0], &request).unwrap_err();
    assert!(matches!(err, JobError::Input(_)), "{err}");
}
