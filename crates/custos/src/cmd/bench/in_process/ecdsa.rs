//! The ECDSA rows of `custos bench`: safe primes and aux info (or their
//! fixtures), DKG, full and HD signing, and
//! the full sign through cggmp24 directly for comparison.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use custos_tss::ecdsa::{self, AuxInfo, EcdsaKeyShare, SafePrimes};
use custos_tss::session::Stats;
use custos_tss::{DerivationPath, KeyShare, PartyIndex, Scheme};
use rand::rngs::OsRng;
use rand::RngCore;

use super::common::{dkg, run_all, secs, sid, sign, size, Record, Row};
use crate::cmd::bench::args::{fixtures_dir, median, BenchArgs};

fn read_lines(dir: &Path, name: &str) -> Result<Vec<Vec<u8>>> {
    let path = dir.join(name);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "--quick needs the fixture {} (or pass --fixtures DIR)",
            path.display()
        )
    })?;
    text.lines()
        .map(|l| hex::decode(l).context("fixture is not hex"))
        .collect()
}

/// Safe primes: from fixtures (quick) or generated now on two threads.
fn primes(args: &BenchArgs, n: u16) -> Result<(Vec<SafePrimes>, Option<Duration>)> {
    if args.quick {
        let lines = read_lines(&fixtures_dir(args), "primes-5.hex")?;
        let primes = lines
            .iter()
            .take(n.into())
            .map(|b| SafePrimes::from_bytes(b))
            .collect::<Result<Vec<_>, _>>()?;
        if primes.len() < usize::from(n) {
            bail!(
                "fixture has primes for {} parties, {n} needed",
                primes.len()
            );
        }
        return Ok((primes, None));
    }
    eprintln!(
        "generating {} safe primes (1536-bit) for {n} parties on 2 threads…",
        4 * n
    );
    let start = Instant::now();
    let handles: Vec<_> = (0..n)
        .map(|i| {
            std::thread::spawn(move || {
                SafePrimes::generate(&mut OsRng, |d, t| eprintln!("  party {i}: prime {d}/{t}"))
            })
        })
        .collect();
    let primes = handles
        .into_iter()
        .map(|h| {
            h.join()
                .map_err(|_| anyhow::anyhow!("prime thread panicked"))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((primes, Some(start.elapsed())))
}

fn aux_info(primes: Vec<SafePrimes>, n: u16) -> Result<(Vec<AuxInfo>, Stats, Duration)> {
    let sid = sid();
    let sessions = primes
        .into_iter()
        .zip(0..n)
        .map(|(p, i)| {
            let progress = (i == 0).then(|| {
                Box::new(move |e| {
                    if let custos_tss::progress::ProgressEvent::Round { number, .. } = e {
                        eprintln!("  aux info n={n}: round {number}");
                    }
                }) as Box<dyn custos_tss::progress::Progress>
            });
            ecdsa::aux_info(&sid, n, i, p, progress, &mut OsRng)
        })
        .collect::<Result<Vec<_>, _>>()?;
    run_all(sessions)
}

fn committee_aux(
    args: &BenchArgs,
    n: u16,
    cells: &mut Vec<(&'static str, String)>,
) -> Result<Vec<AuxInfo>> {
    if args.quick && n != 3 {
        let lines = read_lines(&fixtures_dir(args), &format!("aux-{n}.hex"))?;
        cells.push(("aux info", "fixture".into()));
        return lines
            .iter()
            .map(|b| AuxInfo::from_bytes(b).map_err(Into::into))
            .collect();
    }
    let (primes, prime_time) = primes(args, n)?;
    let (aux, stats, time) = aux_info(primes, n)?;
    cells.push(("aux info", format!("{} ({})", secs(time), size(&stats))));
    if let Some(pt) = prime_time {
        cells.push(("safe primes", format!("{} wall, 2 threads", secs(pt))));
    }
    Ok(aux)
}

fn ecdsa_of(shares: &[KeyShare]) -> Vec<&EcdsaKeyShare> {
    shares
        .iter()
        .filter_map(|s| {
            if let KeyShare::Ecdsa(e) = s {
                Some(e)
            } else {
                None
            }
        })
        .collect()
}

/// Full signing through cggmp24 itself, driven by round-based's simulator.
fn sign_direct(
    shares: &[&EcdsaKeyShare],
    signers: &[PartyIndex],
    digest: [u8; 32],
) -> Result<Duration> {
    use cggmp24::generic_ec::Scalar;
    let eid_bytes = sid();
    let data = cggmp24::PrehashedDataToSign::from_scalar(Scalar::from_be_bytes_mod_order(digest));
    let setups = signers
        .iter()
        .map(|&i| shares.get(usize::from(i)).map(|s| s.as_cggmp24().clone()));
    let setups = setups.collect::<Option<Vec<_>>>().context("signer index")?;
    let start = Instant::now();
    let out = round_based::sim::run_with_setup(setups, |i, party, share| {
        let eid = cggmp24::ExecutionId::new(&eid_bytes);
        let mut rng = OsRng;
        async move {
            cggmp24::signing(eid, i, signers, &share)
                .sign(&mut rng, party, &data)
                .await
        }
    })
    .map_err(|e| anyhow::anyhow!("simulation: {e}"))?;
    let elapsed = start.elapsed();
    for sig in out.into_vec() {
        sig?;
    }
    Ok(elapsed)
}

pub(super) fn row(
    args: &BenchArgs,
    t: u16,
    n: u16,
    records: &mut Vec<Record>,
    notes: &mut String,
) -> Result<Row> {
    let mut cells = Vec::new();
    let aux = committee_aux(args, n, &mut cells)?;
    let (shares, dkg_stats, dkg_time) = dkg(Scheme::EcdsaSecp256k1, t, n, Some(&aux))?;
    cells.insert(
        0,
        ("DKG", format!("{} ({})", secs(dkg_time), size(&dkg_stats))),
    );
    let signers: Vec<PartyIndex> = (0..t).collect();
    let root = DerivationPath::root();
    let (sign_stats, sign_time) = sign(&shares, &signers, &root, records)?;
    cells.insert(
        1,
        (
            "sign",
            format!("{} ({})", secs(sign_time), size(&sign_stats)),
        ),
    );
    let child: DerivationPath = "m/0/1".parse()?;
    let (_, hd_time) = sign(&shares, &signers, &child, records)?;
    cells.insert(2, ("sign HD m/0/1", secs(hd_time)));

    let eshares = ecdsa_of(&shares);

    if (t, n) == (2, 3) {
        let (mut wrapped, mut direct) = (Vec::new(), Vec::new());
        for _ in 0..args.repeat.max(1) {
            let (_, w) = sign(&shares, &signers, &root, records)?;
            wrapped.push(w);
            let mut digest = [0u8; 32];
            OsRng.fill_bytes(&mut digest);
            direct.push(sign_direct(&eshares, &signers, digest)?);
        }
        let (w, d) = (median(wrapped.clone()), median(direct.clone()));
        let overhead = (w.as_secs_f64() / d.as_secs_f64() - 1.0) * 100.0;
        let _ = writeln!(
            notes,
            "ECDSA 2-of-3 full sign, median of {} alternating runs: custos-tss {} vs cggmp24 directly {} -> {overhead:+.1} % (runs: {:?} vs {:?})",
            wrapped.len(),
            secs(w),
            secs(d),
            wrapped.iter().map(|x| secs(*x)).collect::<Vec<_>>(),
            direct.iter().map(|x| secs(*x)).collect::<Vec<_>>(),
        );
    }
    Ok(Row {
        scheme: Scheme::EcdsaSecp256k1,
        t,
        n,
        cells,
    })
}
