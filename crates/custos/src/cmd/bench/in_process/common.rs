//! What the in-process benches share: a session id, running sessions in
//! one thread, DKG and signing helpers, and the table and record shapes.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use custos_tss::driver::simulate_measured;
use custos_tss::ecdsa::AuxInfo;
use custos_tss::session::Stats;
use custos_tss::{Committee, DerivationPath, KeyShare, PartyIndex, Scheme, Session, Signature};
use rand::rngs::OsRng;
use rand::RngCore;

pub(super) struct Row {
    pub(super) scheme: Scheme,
    pub(super) t: u16,
    pub(super) n: u16,
    pub(super) cells: Vec<(&'static str, String)>,
}

pub(super) struct Record {
    pub(super) scheme: Scheme,
    pub(super) public_key: Vec<u8>,
    pub(super) message: Vec<u8>,
    pub(super) signature: Vec<u8>,
}

pub(super) fn sid() -> [u8; 32] {
    let mut s = [0u8; 32];
    OsRng.fill_bytes(&mut s);
    s
}

pub(super) fn run_all<O>(sessions: Vec<Session<O>>) -> Result<(Vec<O>, Stats, Duration)> {
    let start = Instant::now();
    let (results, stats) = simulate_measured(sessions, |e| vec![e]);
    let elapsed = start.elapsed();
    let outs = results.into_iter().collect::<Result<Vec<_>, _>>()?;
    Ok((outs, stats, elapsed))
}

pub(super) fn secs(d: Duration) -> String {
    if d < Duration::from_millis(10) {
        format!("{:.2} ms", d.as_secs_f64() * 1e3)
    } else if d < Duration::from_secs(1) {
        format!("{:.0} ms", d.as_secs_f64() * 1e3)
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}

pub(super) fn size(s: &Stats) -> String {
    format!("{} msgs / {:.1} KiB", s.messages, s.bytes as f64 / 1024.0)
}

pub(super) fn dkg(
    scheme: Scheme,
    t: u16,
    n: u16,
    aux: Option<&[AuxInfo]>,
) -> Result<(Vec<KeyShare>, Stats, Duration)> {
    let committee = Committee::new(t, n)?;
    let sid = sid();
    let sessions = (0..n)
        .map(|i| {
            custos_tss::keygen(
                scheme,
                &sid,
                committee,
                i,
                aux.and_then(|a| a.get(usize::from(i))),
                &mut OsRng,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    run_all(sessions)
}

/// A random 32-byte message (the digest for ECDSA, the message for the others).
pub(super) fn message() -> Vec<u8> {
    let mut m = vec![0u8; 32];
    OsRng.fill_bytes(&mut m);
    m
}

pub(super) fn sign(
    shares: &[KeyShare],
    signers: &[PartyIndex],
    path: &DerivationPath,
    records: &mut Vec<Record>,
) -> Result<(Stats, Duration)> {
    let share0 = shares.first().context("no shares")?;
    let msg = message();
    let sid = sid();
    let sessions = signers
        .iter()
        .map(|&i| {
            let share = shares.get(usize::from(i)).context("signer index")?;
            Ok(custos_tss::sign(
                share, &sid, signers, path, &msg, &mut OsRng,
            )?)
        })
        .collect::<Result<Vec<_>>>()?;
    let (sigs, stats, time) = run_all(sessions)?;
    record(share0, path, msg, sigs, records)?;
    Ok((stats, time))
}

pub(super) fn record(
    share: &KeyShare,
    path: &DerivationPath,
    message: Vec<u8>,
    sigs: Vec<Signature>,
    records: &mut Vec<Record>,
) -> Result<()> {
    let sig = sigs.into_iter().next().context("no signature")?;
    let public_key = share.public_key(path)?;
    if !custos_tss::verify(sig.scheme, &public_key, &message, &sig.bytes) {
        bail!("{} signature does not verify", sig.scheme);
    }
    records.push(Record {
        scheme: sig.scheme,
        public_key,
        message,
        signature: sig.bytes,
    });
    Ok(())
}
