//! ECDSA specifics: aux info from pregenerated primes (with progress), reuse of
//! one aux info for several keys, presignatures, and presignature misuse.

use std::sync::{Arc, Mutex};

use custos_tss::driver::{simulate, simulate_with};
use custos_tss::ecdsa::{self, EcdsaKeyShare, EcdsaMessage, SafePrimes};
use custos_tss::error::{Error, ParamError};
use custos_tss::progress::ProgressEvent;
use custos_tss::{Committee, DerivationPath, KeyShare, Scheme};
use rand::rngs::OsRng;

use crate::common::{aux, dkg, message, session_id, subsets, verify_independently};

fn ecdsa_shares(shares: &[KeyShare]) -> Vec<&EcdsaKeyShare> {
    shares
        .iter()
        .map(|s| match s {
            KeyShare::Ecdsa(e) => e,
            _ => unreachable!(),
        })
        .collect()
}

#[test]
fn aux_info_from_pregenerated_primes_reports_progress_and_signs() {
    let lines = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/test-data/primes-5.hex"
    ))
    .unwrap();
    let events = Arc::new(Mutex::new(Vec::new()));
    let sid = session_id();
    let sessions = lines
        .lines()
        .take(3)
        .enumerate()
        .map(|(i, l)| {
            let primes = SafePrimes::from_bytes(&hex::decode(l).unwrap()).unwrap();
            let sink = events.clone();
            let progress = Box::new(move |e: ProgressEvent| sink.lock().unwrap().push((i, e)));
            ecdsa::aux_info(&sid, 3, i as u16, primes, Some(progress), &mut OsRng).unwrap()
        })
        .collect();
    let aux: Vec<_> = simulate(sessions).into_iter().map(Result::unwrap).collect();
    let events = events.lock().unwrap();
    assert!(events
        .iter()
        .any(|(i, e)| *i == 0 && matches!(e, ProgressEvent::Round { number: 2, .. })));
    assert!(events.iter().any(|(_, e)| *e == ProgressEvent::Finished));
    assert!(aux.iter().all(|a| a.aux_id() == aux[0].aux_id()));

    // One aux info serves two independent keys of the committee.
    for _ in 0..2 {
        let committee = Committee::new(2, 3).unwrap();
        let sid = session_id();
        let sessions = (0..3)
            .map(|i| ecdsa::keygen(&sid, committee, i, &aux[usize::from(i)], &mut OsRng).unwrap())
            .collect();
        let shares: Vec<_> = simulate(sessions).into_iter().map(Result::unwrap).collect();
        let msg = message();
        let sid = session_id();
        let path = DerivationPath::root();
        let m = EcdsaMessage::Prehashed(msg.clone().try_into().unwrap());
        let sessions = [0u16, 2]
            .iter()
            .map(|&i| {
                ecdsa::sign(
                    &shares[usize::from(i)],
                    &sid,
                    &[0, 2],
                    &path,
                    &m,
                    &mut OsRng,
                )
                .unwrap()
            })
            .collect();
        let sig = simulate(sessions).remove(0).unwrap();
        let key = shares[0].public_key().to_bytes(true).to_vec();
        assert!(verify_independently(
            Scheme::EcdsaSecp256k1,
            &key,
            &msg,
            &sig.bytes
        ));
    }
}

#[test]
fn safe_primes_encoding_is_strict() {
    let lines = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/test-data/primes-5.hex"
    ))
    .unwrap();
    let bytes = hex::decode(lines.lines().next().unwrap()).unwrap();
    assert_eq!(
        SafePrimes::from_bytes(&bytes)
            .unwrap()
            .to_bytes()
            .as_slice(),
        bytes.as_slice()
    );
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert!(SafePrimes::from_bytes(&trailing).is_err());
    assert!(SafePrimes::from_bytes(&bytes[..100]).is_err());
}

fn presign_and_sign(t: u16, n: u16) {
    let shares = dkg(Scheme::EcdsaSecp256k1, t, n);
    let shares = ecdsa_shares(&shares);
    let signers = subsets(t, n).pop().unwrap();
    let sid = session_id();
    let sessions = signers
        .iter()
        .map(|&i| ecdsa::presign(shares[usize::from(i)], &sid, &signers, &mut OsRng).unwrap())
        .collect();
    let presigs: Vec<_> = simulate(sessions).into_iter().map(Result::unwrap).collect();
    // Through the stored form, as a node keeps them in its vault.
    let ids: Vec<_> = presigs.iter().map(|p| p.id()).collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "one id at every signer");
    let presigs: Vec<_> = presigs
        .iter()
        .zip(&signers)
        .map(|(p, &i)| {
            let bytes = p.to_bytes().unwrap();
            ecdsa::Presignature::from_bytes(&bytes, shares[usize::from(i)]).unwrap()
        })
        .collect();
    let msg = b"transfer 1 BTC to bc1q...".to_vec();
    let m = EcdsaMessage::Sha256(msg);
    let sid = session_id();
    let sessions = presigs
        .into_iter()
        .zip(&signers)
        .map(|(p, &i)| ecdsa::sign_with_presignature(p, shares[usize::from(i)], &sid, &m).unwrap())
        .collect();
    let sig = simulate(sessions).remove(0).unwrap();
    let key = shares[0].public_key().to_bytes(true).to_vec();
    assert!(verify_independently(
        Scheme::EcdsaSecp256k1,
        &key,
        &m.digest(),
        &sig.bytes
    ));
}

#[test]
fn presignature_2_of_3() {
    presign_and_sign(2, 3);
}

#[test]
fn presignature_3_of_5() {
    presign_and_sign(3, 5);
}

#[test]
fn presignature_refuses_bare_hash_and_names_bad_partial() {
    let shares = dkg(Scheme::EcdsaSecp256k1, 2, 3);
    let shares = ecdsa_shares(&shares);
    let signers = [0u16, 1];
    let presign = |sid| -> Vec<ecdsa::Presignature> {
        let sessions = signers
            .iter()
            .map(|&i| ecdsa::presign(shares[usize::from(i)], &sid, &signers, &mut OsRng).unwrap())
            .collect();
        simulate(sessions).into_iter().map(Result::unwrap).collect()
    };
    let mut presigs = presign(session_id());
    let prehashed = EcdsaMessage::Prehashed([7; 32]);
    let err =
        ecdsa::sign_with_presignature(presigs.remove(0), shares[0], &session_id(), &prehashed)
            .unwrap_err();
    assert!(
        matches!(err, Error::Params(ParamError::Message(_))),
        "{err}"
    );

    // A partial signature altered in flight is caught and blamed.
    let m = EcdsaMessage::Sha256(b"pay".to_vec());
    let sid = session_id();
    let sessions = presign(session_id())
        .into_iter()
        .zip(signers)
        .map(|(p, i)| ecdsa::sign_with_presignature(p, shares[usize::from(i)], &sid, &m).unwrap())
        .collect();
    let results = simulate_with(sessions, |mut e| {
        if e.from == 1 {
            let last = e.payload.len() - 1;
            e.payload[last] ^= 1;
        }
        vec![e]
    });
    let err = results.into_iter().next().unwrap().unwrap_err();
    assert_eq!(err.culprits(), vec![1], "{err}");
}

#[test]
fn aux_info_of_another_committee_is_refused() {
    let aux5 = aux(5);
    let committee = Committee::new(2, 3).unwrap();
    let err = ecdsa::keygen(&session_id(), committee, 0, &aux5[0], &mut OsRng).unwrap_err();
    assert!(
        matches!(err, Error::Params(ParamError::Mismatch(_))),
        "{err}"
    );
}

#[test]
fn stored_presignature_refuses_every_byte_flip_and_foreign_share() {
    let shares = dkg(Scheme::EcdsaSecp256k1, 2, 3);
    let shares = ecdsa_shares(&shares);
    let signers = [0u16, 2];
    let sid = session_id();
    let sessions = signers
        .iter()
        .map(|&i| ecdsa::presign(shares[usize::from(i)], &sid, &signers, &mut OsRng).unwrap())
        .collect();
    let presigs: Vec<_> = simulate(sessions).into_iter().map(Result::unwrap).collect();
    let bytes = presigs[0].to_bytes().unwrap();
    assert!(ecdsa::Presignature::from_bytes(&bytes, shares[0]).is_ok());
    // Another party's share, and a signer's presignature under a non-signer.
    assert!(ecdsa::Presignature::from_bytes(&bytes, shares[2]).is_err());
    assert!(ecdsa::Presignature::from_bytes(&bytes, shares[1]).is_err());
    let mut trailing = bytes.to_vec();
    trailing.push(0);
    assert!(ecdsa::Presignature::from_bytes(&trailing, shares[0]).is_err());
    assert!(ecdsa::Presignature::from_bytes(&bytes[..bytes.len() - 1], shares[0]).is_err());
    // Layout (postcard, v1): header 6 | key id 32 | me 1 | signers 3 | eid 32 |
    // Γ 1+33 | commitments 1 + 2×(1+33+1+33) | k̃ 1+32 | χ̃ 1+32.
    assert_eq!(bytes.len(), 311);
    let eid = 42..74;
    let others_commitments = 178..245;
    assert_eq!(&bytes[eid.clone()], presigs[0].id().as_slice());
    // The execution id and the other signer's commitments are public protocol
    // output that only the vault's AEAD protects; every other byte is checked
    // here.
    for i in 0..bytes.len() {
        if eid.contains(&i) || others_commitments.contains(&i) {
            continue;
        }
        let mut b = bytes.to_vec();
        b[i] ^= 0x01;
        assert!(
            ecdsa::Presignature::from_bytes(&b, shares[0]).is_err(),
            "flip at byte {i} accepted"
        );
    }
}
