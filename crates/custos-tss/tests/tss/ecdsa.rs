//! ECDSA specifics: aux info from pregenerated primes (with progress), reuse of
//! one aux info for several keys.

use std::sync::{Arc, Mutex};

use custos_tss::driver::simulate;
use custos_tss::ecdsa::{self, EcdsaMessage, SafePrimes};
use custos_tss::error::{Error, ParamError};
use custos_tss::progress::ProgressEvent;
use custos_tss::{Committee, DerivationPath, Scheme};
use rand::rngs::OsRng;

use crate::common::{aux, message, session_id, verify_independently};

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
