//! `custos bench`: DKG, signing, presigning, aux info and message sizes for
//! every scheme at 2-of-3 and 3-of-5, in one process and one thread (parties
//! run one after another, so times are total CPU across parties). The ECDSA
//! full sign is also run through cggmp24 directly, alternating with the
//! wrapper, to show what the wrapper costs.

mod ecdsa;

use std::io::Write as _;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use custos_tss::driver::simulate_measured;
use custos_tss::ecdsa::AuxInfo;
use custos_tss::session::Stats;
use custos_tss::{Committee, DerivationPath, KeyShare, PartyIndex, Scheme, Session, Signature};
use rand::rngs::OsRng;
use rand::RngCore;

use super::BenchArgs;

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
        rows.push(ecdsa::row(&args, t, n, &mut records, &mut notes)?);
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
    // Every line has the two key columns and one cell per column.
    let widths: Vec<usize> = (0..columns.len() + 2)
        .map(|i| {
            table
                .iter()
                .map(|l| l.get(i).map_or(0, String::len))
                .max()
                .unwrap_or(0)
        })
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
