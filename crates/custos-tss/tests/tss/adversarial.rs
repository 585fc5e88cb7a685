//! Adversarial delivery: corrupted, duplicated, reordered, injected and
//! misaddressed messages, mismatched execution ids and bad signer sets all end
//! in typed errors that name the sender, and never in a signature at the victim.

use custos_tss::driver::simulate_with;
use custos_tss::error::{Error, Misbehaviour, ParamError};
use custos_tss::{
    DerivationPath, Envelope, KeyShare, PartyIndex, Scheme, Session, Signature, Step,
};
use rand::rngs::OsRng;

use crate::common::{dkg, message, session_id};

const SCHEMES: [Scheme; 3] = [
    Scheme::SchnorrBip340,
    Scheme::Ed25519,
    Scheme::EcdsaSecp256k1,
];

fn sessions(
    shares: &[KeyShare],
    signers: &[PartyIndex],
    sid: [u8; 32],
    msg: &[u8],
) -> Vec<Session<Signature>> {
    signers
        .iter()
        .map(|&i| {
            custos_tss::sign(
                &shares[usize::from(i)],
                &sid,
                signers,
                &DerivationPath::root(),
                msg,
                &mut OsRng,
            )
            .unwrap()
        })
        .collect()
}

/// Runs signers [0, 1] with `network` between them; returns party 0's result.
fn victim_result(
    shares: &[KeyShare],
    network: impl FnMut(Envelope) -> Vec<Envelope>,
) -> Result<Signature, Error> {
    let msg = message();
    simulate_with(sessions(shares, &[0, 1], session_id(), &msg), network)
        .into_iter()
        .next()
        .unwrap()
}

fn from_1_to_0(e: &Envelope) -> bool {
    e.from == 1 && e.to == 0
}

#[test]
fn too_few_duplicate_unknown_signers_refused_before_any_round() {
    for scheme in SCHEMES {
        let shares = dkg(scheme, 2, 3);
        let sid = session_id();
        let msg = message();
        let root = DerivationPath::root();
        let run = |signers: &[u16]| {
            custos_tss::sign(&shares[0], &sid, signers, &root, &msg, &mut OsRng).map(|_| ())
        };
        assert!(
            matches!(
                run(&[0]),
                Err(Error::Params(ParamError::TooFewSigners { got: 1, need: 2 }))
            ),
            "{scheme}"
        );
        assert!(
            matches!(
                run(&[0, 0]),
                Err(Error::Params(ParamError::DuplicateParty(0)))
            ),
            "{scheme}"
        );
        assert!(
            matches!(
                run(&[0, 9]),
                Err(Error::Params(ParamError::UnknownParty { index: 9, n: 3 }))
            ),
            "{scheme}"
        );
        assert!(
            matches!(run(&[1, 2]), Err(Error::Params(ParamError::NotASigner(0)))),
            "{scheme}"
        );
        assert!(
            matches!(
                run(&[0, 1, 2]),
                Err(Error::Params(ParamError::TooManySigners { .. }))
            ),
            "{scheme}"
        );
    }
}

#[test]
fn truncated_message_is_malformed_and_names_sender() {
    for scheme in SCHEMES {
        let shares = dkg(scheme, 2, 3);
        let err = victim_result(&shares, |mut e| {
            if from_1_to_0(&e) {
                e.payload.pop();
            }
            vec![e]
        })
        .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Misbehaved {
                    from: 1,
                    kind: Misbehaviour::Malformed { .. }
                }
            ),
            "{scheme}: {err}"
        );
    }
}

#[test]
fn corrupted_frost_signature_share_names_culprit() {
    for scheme in [Scheme::SchnorrBip340, Scheme::Ed25519] {
        let shares = dkg(scheme, 2, 3);
        let err = victim_result(&shares, |mut e| {
            if from_1_to_0(&e) && e.round == 2 {
                let last = e.payload.len() - 1;
                e.payload[last - 3] ^= 0x01;
            }
            vec![e]
        })
        .unwrap_err();
        assert_eq!(err.culprits(), vec![1], "{scheme}: {err}");
    }
}

#[test]
fn corrupted_ecdsa_message_aborts_without_signature() {
    let shares = dkg(Scheme::EcdsaSecp256k1, 2, 3);
    let mut flipped = false;
    let results = simulate_with(
        sessions(&shares, &[0, 1], session_id(), &message()),
        |mut e| {
            // Flip one byte deep inside the first round-2 message (a proof or a point).
            if from_1_to_0(&e) && e.round >= 2 && !flipped {
                let mid = e.payload.len() / 2;
                e.payload[mid] ^= 0x40;
                flipped = true;
            }
            vec![e]
        },
    );
    assert!(flipped);
    let err = results.into_iter().next().unwrap().unwrap_err();
    // cggmp24 cannot say who cheated (blame is private); decoding failures can.
    assert!(
        matches!(
            err,
            Error::Aborted { .. } | Error::Misbehaved { from: 1, .. } | Error::Stalled
        ),
        "{err}"
    );
}

#[test]
fn duplicated_message_is_refused() {
    for scheme in SCHEMES {
        let shares = dkg(scheme, 2, 3);
        let err = victim_result(&shares, |e| {
            if from_1_to_0(&e) {
                vec![e.clone(), e]
            } else {
                vec![e]
            }
        })
        .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Misbehaved {
                    from: 1,
                    kind: Misbehaviour::Duplicate { seq: 0 }
                }
            ),
            "{scheme}: {err}"
        );
    }
}

#[test]
fn reordered_messages_are_refused() {
    for scheme in SCHEMES {
        let shares = dkg(scheme, 2, 3);
        let mut held = None;
        let err = victim_result(&shares, |e| {
            if from_1_to_0(&e) && e.seq == 0 {
                held = Some(e);
                return vec![];
            }
            if from_1_to_0(&e) && e.seq == 1 {
                return std::iter::once(e).chain(held.take()).collect();
            }
            vec![e]
        })
        .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Misbehaved {
                    from: 1,
                    kind: Misbehaviour::OutOfOrder {
                        expected: 0,
                        got: 1
                    }
                }
            ),
            "{scheme}: {err}"
        );
    }
}

#[test]
fn unknown_or_non_signer_sender_is_refused() {
    for scheme in SCHEMES {
        let shares = dkg(scheme, 2, 3);
        for impostor in [2, 7] {
            let mut injected = false;
            let err = victim_result(&shares, |e| {
                if from_1_to_0(&e) && !injected {
                    injected = true;
                    let mut fake = e.clone();
                    fake.from = impostor;
                    return vec![fake, e];
                }
                vec![e]
            })
            .unwrap_err();
            assert!(
                matches!(err, Error::Misbehaved { from, kind: Misbehaviour::UnexpectedSender } if from == impostor),
                "{scheme}: {err}"
            );
        }
    }
}

#[test]
fn mismatched_execution_id_is_refused_by_both_sides() {
    for scheme in SCHEMES {
        let shares = dkg(scheme, 2, 3);
        let msg = message();
        let mut a = sessions(&shares, &[0, 1], session_id(), &msg);
        let b = sessions(&shares, &[0, 1], session_id(), &msg);
        a.truncate(1);
        a.extend(b.into_iter().skip(1));
        let results = simulate_with(a, |e| vec![e]);
        for (r, other) in results.into_iter().zip([1u16, 0]) {
            let err = r.unwrap_err();
            assert!(
                matches!(err, Error::Misbehaved { from, kind: Misbehaviour::ExecutionIdMismatch } if from == other),
                "{scheme}: {err}"
            );
        }
    }
}

#[test]
fn misaddressed_envelope_is_refused() {
    let shares = dkg(Scheme::Ed25519, 2, 3);
    let sid = session_id();
    let msg = message();
    let mut s = sessions(&shares, &[0, 1], sid, &msg);
    let Ok(Step::Send(mut envs)) = s[1].poll() else {
        panic!("party 1 sends first")
    };
    let mut env = envs.remove(0);
    env.to = 2;
    let err = s[0].handle(env).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Misbehaved {
                from: 1,
                kind: Misbehaviour::WrongRecipient(2)
            }
        ),
        "{err}"
    );
    assert!(
        matches!(s[0].poll(), Err(Error::Finished)),
        "a failed session stays failed"
    );
}

#[test]
fn frost_dkg_transcript_mismatch_names_party() {
    use custos_tss::driver::simulate_with;
    for scheme in [Scheme::SchnorrBip340, Scheme::Ed25519] {
        let committee = custos_tss::Committee::new(2, 3).unwrap();
        let sid = session_id();
        let sessions = (0..3)
            .map(|i| custos_tss::keygen(scheme, &sid, committee, i, None, &mut OsRng).unwrap())
            .collect();
        let results = simulate_with(sessions, |mut e| {
            if from_1_to_0(&e) && e.round == 3 {
                e.payload[0] ^= 1;
            }
            vec![e]
        });
        let err = results.into_iter().next().unwrap().unwrap_err();
        assert!(
            matches!(&err, Error::Aborted { culprits, .. } if culprits == &vec![1]),
            "{scheme}: {err}"
        );
    }
}
