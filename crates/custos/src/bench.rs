//! `custos bench`: DKG, signing, presigning, aux info and message sizes for
//! every scheme at 2-of-3 and 3-of-5, in one process and one thread (parties
//! run one after another, so times are total CPU across parties). The ECDSA
//! full sign is also run through cggmp24 directly, alternating with the
//! wrapper, to show what the wrapper costs.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use custos_tss::driver::simulate_measured;
use custos_tss::ecdsa::{self, AuxInfo, EcdsaKeyShare, EcdsaMessage, SafePrimes};
use custos_tss::session::Stats;
use custos_tss::{Committee, DerivationPath, KeyShare, PartyIndex, Scheme, Session, Signature};
use rand::rngs::OsRng;
use rand::RngCore;

use crate::BenchArgs;

const SHAPES: [(u16, u16); 2] = [(2, 3), (3, 5)];

struct Row {
    scheme: Scheme,
    t: u16,
    n: u16,
    cells: Vec<(&'static str, String)>,
}

struct Record {
    scheme: Scheme,
    public_key: Vec<u8>,
    message: Vec<u8>,
    signature: Vec<u8>,
}

fn sid() -> [u8; 32] {
    let mut s = [0u8; 32];
    OsRng.fill_bytes(&mut s);
    s
}

fn run_all<O>(sessions: Vec<Session<O>>) -> Result<(Vec<O>, Stats, Duration)> {
    let start = Instant::now();
    let (results, stats) = simulate_measured(sessions, |e| vec![e]);
    let elapsed = start.elapsed();
    let outs = results.into_iter().collect::<Result<Vec<_>, _>>()?;
    Ok((outs, stats, elapsed))
}

fn secs(d: Duration) -> String {
    if d < Duration::from_millis(10) {
        format!("{:.2} ms", d.as_secs_f64() * 1e3)
    } else if d < Duration::from_secs(1) {
        format!("{:.0} ms", d.as_secs_f64() * 1e3)
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}

fn size(s: &Stats) -> String {
    format!("{} msgs / {:.1} KiB", s.messages, s.bytes as f64 / 1024.0)
}

fn fixtures_dir(args: &BenchArgs) -> PathBuf {
    args.fixtures.clone().unwrap_or_else(|| {
        PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../custos-tss/test-data"
        ))
    })
}

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

fn dkg(
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
fn message() -> Vec<u8> {
    let mut m = vec![0u8; 32];
    OsRng.fill_bytes(&mut m);
    m
}

fn sign(
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

fn record(
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

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn ecdsa_row(
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

    // Presign, then the one-round online step on a SHA-256 message.
    let eshares = ecdsa_of(&shares);
    let sid1 = sid();
    let sessions = signers
        .iter()
        .map(|&i| {
            ecdsa::presign(
                eshares.get(usize::from(i)).context("signer")?,
                &sid1,
                &signers,
                &mut OsRng,
            )
            .map_err(Into::into)
        })
        .collect::<Result<Vec<_>>>()?;
    let (presigs, presign_stats, presign_time) = run_all(sessions)?;
    let msg = EcdsaMessage::Sha256(message());
    let sid2 = sid();
    let sessions = presigs
        .into_iter()
        .zip(&signers)
        .map(|(p, &i)| {
            ecdsa::sign_with_presignature(
                p,
                eshares.get(usize::from(i)).context("signer")?,
                &sid2,
                &msg,
            )
            .map_err(Into::into)
        })
        .collect::<Result<Vec<_>>>()?;
    let (sigs, online_stats, online_time) = run_all(sessions)?;
    let share0 = shares.first().context("no shares")?;
    record(share0, &root, msg.digest().to_vec(), sigs, records)?;
    cells.insert(
        3,
        (
            "presign",
            format!("{} ({})", secs(presign_time), size(&presign_stats)),
        ),
    );
    cells.insert(
        4,
        (
            "online",
            format!("{} ({})", secs(online_time), size(&online_stats)),
        ),
    );

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

fn frost_row(scheme: Scheme, t: u16, n: u16, records: &mut Vec<Record>) -> Result<Row> {
    let (shares, dkg_stats, dkg_time) = dkg(scheme, t, n, None)?;
    let signers: Vec<PartyIndex> = (n - t..n).collect();
    let (sign_stats, sign_time) = sign(&shares, &signers, &DerivationPath::root(), records)?;
    let (_, hd_time) = sign(&shares, &signers, &"m/0/1".parse()?, records)?;
    Ok(Row {
        scheme,
        t,
        n,
        cells: vec![
            ("DKG", format!("{} ({})", secs(dkg_time), size(&dkg_stats))),
            (
                "sign",
                format!("{} ({})", secs(sign_time), size(&sign_stats)),
            ),
            ("sign HD m/0/1", secs(hd_time)),
        ],
    })
}

pub fn run(args: BenchArgs) -> Result<()> {
    let mut records = Vec::new();
    let mut rows = Vec::new();
    let mut notes = String::new();
    let started = Instant::now();
    for (t, n) in SHAPES {
        for scheme in [Scheme::SchnorrBip340, Scheme::Ed25519] {
            rows.push(frost_row(scheme, t, n, &mut records)?);
        }
    }
    for (t, n) in SHAPES {
        eprintln!("ECDSA {t}-of-{n}…");
        rows.push(ecdsa_row(&args, t, n, &mut records, &mut notes)?);
    }
    print_table(&rows);
    print!("{notes}");
    println!(
        "Times are wall-clock for all parties run one after another in one thread (total CPU of the run); sizes are all envelopes sent by all parties. Whole run: {}{}.",
        secs(started.elapsed()),
        if args.quick { ", --quick: safe primes and the n=5 aux info loaded from test fixtures" } else { "" }
    );
    if let Some(path) = &args.emit {
        let mut f =
            std::fs::File::create(path).with_context(|| format!("create {}", path.display()))?;
        for r in &records {
            let line = serde_json::json!({
                "scheme": r.scheme.as_str(),
                "public_key": hex::encode(&r.public_key),
                "message": hex::encode(&r.message),
                "signature": hex::encode(&r.signature),
            });
            writeln!(f, "{line}")?;
        }
        println!(
            "wrote {} signature records to {}",
            records.len(),
            path.display()
        );
    }
    Ok(())
}

fn print_table(rows: &[Row]) {
    let mut columns: Vec<&str> = Vec::new();
    for r in rows {
        for (k, _) in &r.cells {
            if !columns.contains(k) {
                columns.push(k);
            }
        }
    }
    let mut table = vec![std::iter::once("scheme".to_string())
        .chain(std::iter::once("t-of-n".into()))
        .chain(columns.iter().map(|c| c.to_string()))
        .collect::<Vec<_>>()];
    for r in rows {
        let mut line = vec![r.scheme.to_string(), format!("{}-of-{}", r.t, r.n)];
        for c in &columns {
            line.push(
                r.cells
                    .iter()
                    .find(|(k, _)| k == c)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_else(|| "-".into()),
            );
        }
        table.push(line);
    }
    let widths: Vec<usize> = (0..table[0].len())
        .map(|i| table.iter().map(|l| l[i].len()).max().unwrap_or(0))
        .collect();
    for (k, line) in table.iter().enumerate() {
        let cells: Vec<String> = line
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("| {} |", cells.join(" | "));
        if k == 0 {
            let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
            println!("|-{}-|", rule.join("-|-"));
        }
    }
}
