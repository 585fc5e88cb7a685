//! `driver::drive`, the loop a node runs, over real threads and channels.

use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::time::Duration;

use custos_tss::driver::{drive, DriveError, Transport};
use custos_tss::{Committee, DerivationPath, Envelope, KeyShare, Scheme};
use rand::rngs::OsRng;

use crate::common::{message, session_id, verify_independently};

struct Channels {
    inbox: Receiver<Envelope>,
    peers: Vec<(u16, Sender<Envelope>)>,
}

impl Transport for Channels {
    type Error = &'static str;

    fn send(&mut self, env: Envelope) -> Result<(), Self::Error> {
        let (_, tx) = self
            .peers
            .iter()
            .find(|(i, _)| *i == env.to)
            .ok_or("no such peer")?;
        tx.send(env).map_err(|_| "peer gone")
    }

    fn recv(&mut self) -> Result<Envelope, Self::Error> {
        self.inbox
            .recv_timeout(Duration::from_secs(60))
            .map_err(|e| match e {
                RecvTimeoutError::Timeout => "timeout",
                RecvTimeoutError::Disconnected => "closed",
            })
    }
}

fn network(parties: &[u16]) -> Vec<Channels> {
    let (txs, rxs): (Vec<_>, Vec<_>) = parties.iter().map(|_| channel()).unzip();
    rxs.into_iter()
        .map(|inbox| Channels {
            inbox,
            peers: parties.iter().copied().zip(txs.iter().cloned()).collect(),
        })
        .collect()
}

#[test]
fn dkg_and_sign_over_threads() {
    for scheme in Scheme::ALL {
        let committee = Committee::new(2, 3).unwrap();
        let aux = (scheme == Scheme::EcdsaSecp256k1).then(|| crate::common::aux(3));
        let sid = session_id();
        let handles: Vec<_> = network(&[0, 1, 2])
            .into_iter()
            .zip(0u16..)
            .map(|(mut t, i)| {
                let aux = aux.as_ref().map(|a| a[usize::from(i)].clone());
                std::thread::spawn(move || {
                    // Sessions are not Send: each is created on its own thread.
                    let s =
                        custos_tss::keygen(scheme, &sid, committee, i, aux.as_ref(), &mut OsRng)
                            .unwrap();
                    drive(s, &mut t).unwrap().to_bytes().unwrap().to_vec()
                })
            })
            .collect();
        let blobs: Vec<Vec<u8>> = handles.into_iter().map(|h| h.join().unwrap()).collect();

        let msg = message();
        let sid = session_id();
        let signers = [0u16, 2];
        let handles: Vec<_> = network(&signers)
            .into_iter()
            .zip(signers)
            .map(|(mut t, i)| {
                let blob = blobs[usize::from(i)].clone();
                let aux = aux.as_ref().map(|a| a[usize::from(i)].clone());
                let msg = msg.clone();
                std::thread::spawn(move || {
                    let share = KeyShare::from_bytes(&blob, aux.as_ref()).unwrap();
                    let s = custos_tss::sign(
                        &share,
                        &sid,
                        &signers,
                        &DerivationPath::root(),
                        &msg,
                        &mut OsRng,
                    )
                    .unwrap();
                    (
                        drive(s, &mut t).unwrap(),
                        share.public_key(&DerivationPath::root()).unwrap(),
                    )
                })
            })
            .collect();
        for h in handles {
            let (sig, key) = h.join().unwrap();
            assert!(
                verify_independently(scheme, &key, &msg, &sig.bytes),
                "{scheme}"
            );
        }
    }
}

#[test]
fn transport_failure_is_reported() {
    let committee = Committee::new(2, 2).unwrap();
    let mut nets = network(&[0, 1]);
    let mut t = nets.remove(0);
    t.peers.retain(|(i, _)| *i == 0); // party 1 unreachable
    let s = custos_tss::keygen(
        Scheme::Ed25519,
        &session_id(),
        committee,
        0,
        None,
        &mut OsRng,
    )
    .unwrap();
    assert!(matches!(
        drive(s, &mut t),
        Err(DriveError::Transport("no such peer"))
    ));
}

/// Runs three signings per party at once over one transport (one per
/// transaction input); a party that signs something else in one of them
/// makes the others stop with `ExecutionIdMismatch` naming it.
fn sign_many_over_threads(t: u16, n: u16, liar: Option<u16>) -> Vec<Result<Vec<Vec<u8>>, String>> {
    let shares: Vec<Vec<u8>> = crate::common::dkg(Scheme::Ed25519, t, n)
        .iter()
        .map(|s| s.to_bytes().unwrap().to_vec())
        .collect();
    let signers: Vec<u16> = (0..t).collect();
    let sids: Vec<[u8; 32]> = (0..3).map(|_| session_id()).collect();
    // Each party keeps its transport until every party is done: a party that
    // stops first must not make the others' sends fail ("peer gone") before
    // they read its messages, which would make the blame racy.
    let done = std::sync::Arc::new(std::sync::Barrier::new(signers.len()));
    let handles: Vec<_> = network(&signers)
        .into_iter()
        .zip(signers.clone())
        .map(|(mut tr, i)| {
            let blob = shares[usize::from(i)].clone();
            let (signers, sids) = (signers.clone(), sids.clone());
            let done = done.clone();
            std::thread::spawn(move || {
                let share = KeyShare::from_bytes(&blob, None).unwrap();
                let sessions = sids
                    .iter()
                    .enumerate()
                    .map(|(k, sid)| {
                        let mut m = vec![k as u8; 8];
                        if Some(i) == liar && k == 2 {
                            m[0] ^= 0xff;
                        }
                        custos_tss::sign(
                            &share,
                            sid,
                            &signers,
                            &DerivationPath::root(),
                            &m,
                            &mut OsRng,
                        )
                        .unwrap()
                    })
                    .collect();
                let result = custos_tss::driver::drive_all(sessions, &mut tr)
                    .map(|sigs| sigs.into_iter().map(|s| s.bytes).collect())
                    .map_err(|e| e.to_string());
                done.wait();
                drop(tr);
                result
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

#[test]
fn drive_all_runs_several_signings_at_once() {
    let results = sign_many_over_threads(3, 3, None);
    let first = results[0].as_ref().unwrap();
    assert_eq!(first.len(), 3);
    for r in &results {
        assert_eq!(
            r.as_ref().unwrap(),
            first,
            "every signer outputs the same signatures"
        );
    }
    let results = sign_many_over_threads(3, 3, Some(1));
    let named = results
        .iter()
        .filter_map(|r| r.as_ref().err())
        .filter(|e| e.contains("party 1") && e.contains("execution id"))
        .count();
    assert!(named >= 1, "{results:?}");
    assert!(results.iter().all(|r| r.is_err()), "{results:?}");
}
