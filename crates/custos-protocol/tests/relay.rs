//! Threshold sessions through sealed channels and a hostile relay: a relay that
//! reads, alters, drops, reorders, replays or injects gets a typed error at the
//! victim and no signature there.

// Tests may unwrap, index and panic (the workspace denies these elsewhere;
// clippy's allow-*-in-tests covers only #[test] functions, not helpers).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::{BTreeMap, VecDeque};

use custos_protocol::sealed::EnvelopeChannel;
use custos_tss::{
    Committee, DerivationPath, KeyShare, PartyIndex, Scheme, Session, Signature, Step,
};
use custos_wire::{Channel, Frame, NodeKeys, NodePublicKey, WireError};
use proptest::prelude::*;
use rand::rngs::OsRng;
use rand::RngCore;

#[derive(Debug)]
enum Failure {
    Wire(WireError),
    Protocol(custos_tss::Error),
    Stalled,
}

fn roster(keys: &[NodeKeys]) -> BTreeMap<PartyIndex, NodePublicKey> {
    keys.iter()
        .zip(0u16..)
        .map(|(k, i)| (i, k.public()))
        .collect()
}

/// Runs `sessions` (party indices `parties`) with every envelope sealed,
/// passed through `relay` as bytes, then opened.
fn run<O>(
    session_id: [u8; 32],
    keys: &[NodeKeys],
    parties: &[PartyIndex],
    sessions: Vec<Session<O>>,
    mut relay: impl FnMut(Vec<u8>) -> Vec<Vec<u8>>,
) -> Vec<Result<O, Failure>> {
    let full = roster(keys);
    let roster: BTreeMap<_, _> = parties.iter().map(|p| (*p, full[p])).collect();
    type Node<'k, O> = (Session<O>, Channel<'k>, Option<Result<O, Failure>>);
    let mut nodes: Vec<Node<O>> = sessions
        .into_iter()
        .zip(parties)
        .map(|(s, &p)| {
            (
                s,
                Channel::new(session_id, p, &keys[usize::from(p)], roster.clone()).unwrap(),
                None,
            )
        })
        .collect();
    let mut wire: BTreeMap<PartyIndex, VecDeque<Vec<u8>>> =
        parties.iter().map(|&p| (p, VecDeque::new())).collect();
    loop {
        let mut progressed = false;
        for (session, channel, result) in nodes.iter_mut() {
            while result.is_none() {
                match session.poll() {
                    Ok(Step::Send(envs)) => {
                        progressed = true;
                        for env in envs {
                            let frame = channel.seal_envelope(&env, &mut OsRng).unwrap();
                            for bytes in relay(frame.to_bytes()) {
                                if let Ok(f) = Frame::from_bytes(&bytes) {
                                    if let Some(q) = wire.get_mut(&f.header.to) {
                                        q.push_back(bytes);
                                    }
                                }
                            }
                        }
                    }
                    Ok(Step::Wait) => {
                        let Some(bytes) = wire.get_mut(&session.me()).unwrap().pop_front() else {
                            break;
                        };
                        progressed = true;
                        let opened =
                            Frame::from_bytes(&bytes).and_then(|f| channel.open_envelope(&f));
                        match opened {
                            Ok(env) => {
                                if let Err(e) = session.handle(env) {
                                    *result = Some(Err(Failure::Protocol(e)));
                                }
                            }
                            Err(e) => *result = Some(Err(Failure::Wire(e))),
                        }
                    }
                    Ok(Step::Done(o)) => {
                        progressed = true;
                        *result = Some(Ok(o));
                    }
                    Err(e) => *result = Some(Err(Failure::Protocol(e))),
                }
            }
        }
        if !progressed {
            break;
        }
    }
    nodes
        .into_iter()
        .map(|(_, _, r)| r.unwrap_or(Err(Failure::Stalled)))
        .collect()
}

fn sid() -> [u8; 32] {
    let mut s = [0u8; 32];
    OsRng.fill_bytes(&mut s);
    s
}

fn setup(scheme: Scheme) -> (Vec<NodeKeys>, Vec<KeyShare>) {
    let keys: Vec<NodeKeys> = (0..3).map(|_| NodeKeys::generate(&mut OsRng)).collect();
    let committee = Committee::new(2, 3).unwrap();
    let aux: Option<Vec<custos_tss::ecdsa::AuxInfo>> =
        (scheme == Scheme::EcdsaSecp256k1).then(|| {
            let text = std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../custos-tss/test-data/aux-3.hex"
            ))
            .unwrap();
            text.lines()
                .map(|l| custos_tss::ecdsa::AuxInfo::from_bytes(&hex_decode(l)).unwrap())
                .collect()
        });
    let s = sid();
    let sessions = (0..3)
        .map(|i| {
            custos_tss::keygen(
                scheme,
                &s,
                committee,
                i,
                aux.as_ref().map(|a| &a[usize::from(i)]),
                &mut OsRng,
            )
            .unwrap()
        })
        .collect();
    let shares = run(s, &keys, &[0, 1, 2], sessions, |f| vec![f])
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    (keys, shares)
}

fn hex_decode(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn sign_through(
    keys: &[NodeKeys],
    shares: &[KeyShare],
    msg: &[u8],
    relay: impl FnMut(Vec<u8>) -> Vec<Vec<u8>>,
) -> Vec<Result<Signature, Failure>> {
    let s = sid();
    let signers = [0u16, 1];
    let sessions = signers
        .iter()
        .map(|&i| {
            custos_tss::sign(
                &shares[usize::from(i)],
                &s,
                &signers,
                &DerivationPath::root(),
                msg,
                &mut OsRng,
            )
            .unwrap()
        })
        .collect();
    run(s, keys, &signers, sessions, relay)
}

fn header(bytes: &[u8]) -> custos_wire::FrameHeader {
    Frame::from_bytes(bytes).unwrap().header
}

fn is_1_to_0(bytes: &[u8]) -> bool {
    let h = header(bytes);
    h.from == 1 && h.to == 0
}

#[test]
fn every_scheme_signs_through_sealed_channels() {
    for scheme in Scheme::ALL {
        let (keys, shares) = setup(scheme);
        let msg = [9u8; 32];
        let results = sign_through(&keys, &shares, &msg, |f| vec![f]);
        let key = shares[0].public_key(&DerivationPath::root()).unwrap();
        for r in results {
            assert!(
                custos_tss::verify(scheme, &key, &msg, &r.unwrap().bytes),
                "{scheme}"
            );
        }
    }
}

#[test]
fn relay_cannot_read_payloads() {
    let (keys, shares) = setup(Scheme::Ed25519);
    let mut seen = Vec::new();
    sign_through(&keys, &shares, b"secret-looking message 0123456789", |f| {
        seen.push(f.clone());
        vec![f]
    });
    let needle = b"secret-looking";
    assert!(!seen
        .iter()
        .any(|f| f.windows(needle.len()).any(|w| w == needle)));
}

fn victim_error(scheme: Scheme, relay: impl FnMut(Vec<u8>) -> Vec<Vec<u8>>) -> Failure {
    let (keys, shares) = setup(scheme);
    let mut results = sign_through(&keys, &shares, &[1u8; 32], relay);
    match results.remove(0) {
        Ok(_) => panic!("victim produced a signature"),
        Err(e) => e,
    }
}

#[test]
fn flipped_bytes_anywhere_in_a_frame_are_tampering() {
    for scheme in [Scheme::Ed25519, Scheme::EcdsaSecp256k1] {
        // Ciphertext, encapsulated key and the authenticated sequence number.
        for target in ["ciphertext", "encapped_key", "seq"] {
            let mut done = false;
            let err = victim_error(scheme, |bytes| {
                if is_1_to_0(&bytes) && !done {
                    done = true;
                    let mut f = Frame::from_bytes(&bytes).unwrap();
                    match target {
                        "ciphertext" => f.ciphertext[5] ^= 0x80,
                        "encapped_key" => f.encapped_key[3] ^= 0x01,
                        _ => f.header.seq += 5,
                    }
                    return vec![f.to_bytes()];
                }
                vec![bytes]
            });
            assert!(
                matches!(err, Failure::Wire(WireError::Tampered { from: 1 })),
                "{scheme} {target}: {err:?}"
            );
        }
    }
}

#[test]
fn sealing_does_not_replace_protocol_checks() {
    // Authentic frames, but party 1 runs the signing of another message: the
    // protocol session still refuses (execution id), naming party 1.
    let (keys, shares) = setup(Scheme::Ed25519);
    let s = sid();
    let signers = [0u16, 1];
    let sessions = signers
        .iter()
        .map(|&i| {
            let msg = if i == 0 { b"pay alice" } else { b"pay mallo" };
            custos_tss::sign(
                &shares[usize::from(i)],
                &s,
                &signers,
                &DerivationPath::root(),
                msg,
                &mut OsRng,
            )
            .unwrap()
        })
        .collect();
    let mut results = run(s, &keys, &signers, sessions, |f| vec![f]);
    let err = results.remove(0).unwrap_err();
    assert!(
        matches!(
            err,
            Failure::Protocol(custos_tss::Error::Misbehaved {
                from: 1,
                kind: custos_tss::Misbehaviour::ExecutionIdMismatch
            })
        ),
        "{err:?}"
    );
}

#[test]
fn replayed_frame_is_detected() {
    let err = victim_error(Scheme::SchnorrBip340, |b| {
        if is_1_to_0(&b) {
            vec![b.clone(), b]
        } else {
            vec![b]
        }
    });
    assert!(
        matches!(err, Failure::Wire(WireError::Replayed { from: 1, seq: 0 })),
        "{err:?}"
    );
}

#[test]
fn dropped_frame_is_detected_when_the_next_arrives() {
    let err = victim_error(Scheme::SchnorrBip340, |b| {
        if is_1_to_0(&b) && header(&b).seq == 0 {
            vec![]
        } else {
            vec![b]
        }
    });
    // Party 0 waits for round 1 forever unless round 2 from party 1 shows the gap;
    // in FROST party 1 needs party 0's commitments first, which it has.
    assert!(
        matches!(
            err,
            Failure::Wire(WireError::Reordered {
                from: 1,
                expected: 0,
                got: 1
            })
        ),
        "{err:?}"
    );
}

#[test]
fn reordered_frames_are_detected() {
    let mut held = None;
    let err = victim_error(Scheme::Ed25519, |b| {
        if is_1_to_0(&b) && header(&b).seq == 0 {
            held = Some(b);
            return vec![];
        }
        if is_1_to_0(&b) && header(&b).seq == 1 {
            return std::iter::once(b).chain(held.take()).collect();
        }
        vec![b]
    });
    assert!(
        matches!(
            err,
            Failure::Wire(WireError::Reordered {
                from: 1,
                expected: 0,
                got: 1
            })
        ),
        "{err:?}"
    );
}

#[test]
fn injected_frame_from_unenrolled_key_is_tampering() {
    let (keys, shares) = setup(Scheme::Ed25519);
    let victim = keys[0].public();
    let outsider = NodeKeys::generate(&mut OsRng);
    let mut injected = false;
    let mut results = sign_through(&keys, &shares, &[1u8; 32], |b| {
        if is_1_to_0(&b) && !injected {
            injected = true;
            // An outsider claims to be party 1 and seals, to party 0's real key,
            // a frame with the same header as the genuine one it replaces.
            let real = Frame::from_bytes(&b).unwrap();
            let roster: BTreeMap<_, _> = [(0u16, victim), (1u16, outsider.public())]
                .into_iter()
                .collect();
            let mut forger = Channel::new(real.header.session, 1, &outsider, roster).unwrap();
            let forged = forger.seal(0, b"anything", &mut OsRng).unwrap();
            assert_eq!(forged.header, real.header);
            return vec![forged.to_bytes()];
        }
        vec![b]
    });
    let err = results.remove(0).unwrap_err();
    assert!(
        matches!(err, Failure::Wire(WireError::Tampered { from: 1 })),
        "{err:?}"
    );
}

#[test]
fn frame_from_another_session_or_for_another_party_is_refused() {
    let keys: Vec<NodeKeys> = (0..3).map(|_| NodeKeys::generate(&mut OsRng)).collect();
    let r = roster(&keys);
    let (s1, s2) = (sid(), sid());
    let mut alice = Channel::new(s1, 1, &keys[1], r.clone()).unwrap();
    let mut bob_other_session = Channel::new(s2, 0, &keys[0], r.clone()).unwrap();
    let frame = alice.seal(0, b"hello", &mut OsRng).unwrap();
    assert_eq!(
        bob_other_session.open(&frame),
        Err(WireError::WrongSession { from: 1 })
    );
    let mut carol = Channel::new(s1, 2, &keys[2], r.clone()).unwrap();
    assert_eq!(
        carol.open(&frame),
        Err(WireError::Misdelivered { from: 1, to: 0 })
    );
    let mut bob = Channel::new(s1, 0, &keys[0], r).unwrap();
    assert_eq!(bob.open(&frame).unwrap(), b"hello");
}

#[test]
fn sealed_envelope_must_name_the_authenticated_sender() {
    let keys: Vec<NodeKeys> = (0..3).map(|_| NodeKeys::generate(&mut OsRng)).collect();
    let r = roster(&keys);
    let s = sid();
    let mut party1 = Channel::new(s, 1, &keys[1], r.clone()).unwrap();
    let mut party0 = Channel::new(s, 0, &keys[0], r).unwrap();
    // Party 1 (authentic key) seals an envelope that claims to come from party 2.
    let forged = custos_tss::Envelope {
        execution_id: custos_tss::ExecutionId([0; 32]),
        from: 2,
        to: 0,
        broadcast: true,
        seq: 0,
        round: 1,
        payload: vec![],
    };
    let frame = party1.seal(0, &forged.to_bytes(), &mut OsRng).unwrap();
    assert_eq!(
        party0.open_envelope(&frame),
        Err(WireError::Impersonation { from: 1 })
    );
}

#[test]
fn debug_does_not_print_the_secret() {
    let keys = NodeKeys::generate(&mut OsRng);
    let secret = keys.secret_bytes();
    let debug = format!("{keys:?}");
    let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    assert!(debug.contains("<redacted>") && !debug.contains(&hex));
    assert_eq!(
        NodeKeys::from_secret_bytes(&secret).unwrap().public(),
        keys.public()
    );
}

proptest! {
    #[test]
    fn frame_decoder_never_panics_and_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(f) = Frame::from_bytes(&bytes) {
            prop_assert_eq!(Frame::from_bytes(&f.to_bytes()).unwrap(), f);
        }
    }
}
