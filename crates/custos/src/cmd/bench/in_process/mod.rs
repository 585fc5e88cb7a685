//! `custos bench`: DKG, signing, aux info and message sizes for
//! every scheme at 2-of-3 and 3-of-5, in one process and one thread (parties
//! run one after another, so times are total CPU across parties). The ECDSA
//! full sign is also run through cggmp24 directly, alternating with the
//! wrapper, to show what the wrapper costs.

mod common;
mod ecdsa;

use std::io::Write as _;
use std::time::Instant;

use anyhow::{Context, Result};
use custos_tss::{DerivationPath, PartyIndex, Scheme};

use super::args::BenchArgs;
use common::{dkg, secs, sign, size, Record, Row};

const SHAPES: [(u16, u16); 2] = [(2, 3), (3, 5)];

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
