//! Regenerates the ECDSA test fixtures in `test-data/`: safe primes for five
//! parties and committee aux info for n = 3 and n = 5. Fixtures are for tests
//! and `custos bench --quick` only, never for the product path.
//!
//! Run: `cargo run --release -p custos-tss --example gen-fixtures` (≈6 min on 2 cores).

// A fixture generator run by hand, not the product path: it may panic.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::PathBuf;

use custos_tss::driver::simulate;
use custos_tss::ecdsa::{self, SafePrimes};
use rand::rngs::OsRng;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("test-data");
    let primes_path = dir.join("primes-5.hex");
    if !primes_path.exists() {
        let handles: Vec<_> = (0..5)
            .map(|i| {
                std::thread::spawn(move || {
                    let p = SafePrimes::generate(&mut OsRng, |d, t| {
                        eprintln!("party {i}: prime {d}/{t}")
                    });
                    hex::encode(p.to_bytes().as_slice())
                })
            })
            .collect();
        let lines: Vec<String> = handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect();
        std::fs::write(&primes_path, lines.join("\n") + "\n")?;
    }
    let lines: Vec<String> = std::fs::read_to_string(&primes_path)?
        .lines()
        .map(str::to_owned)
        .collect();
    for n in [3u16, 5] {
        let sid = [n as u8; 32];
        let start = std::time::Instant::now();
        let sessions = (0..n)
            .map(|i| {
                let primes =
                    SafePrimes::from_bytes(&hex::decode(&lines[usize::from(i)]).expect("hex"))
                        .expect("primes");
                ecdsa::aux_info(&sid, n, i, primes, None, &mut OsRng).expect("session")
            })
            .collect();
        let out: Vec<String> = simulate(sessions)
            .into_iter()
            .map(|r| hex::encode(r.expect("aux info").to_bytes().expect("encode").as_slice()))
            .collect();
        std::fs::write(dir.join(format!("aux-{n}.hex")), out.join("\n") + "\n")?;
        eprintln!("aux info n={n}: {:?}", start.elapsed());
    }
    Ok(())
}
