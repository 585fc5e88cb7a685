//! `custos`: the one binary. For now: `custos bench`.

mod bench;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "custos",
    version,
    about = "Custos: self-hosted MPC custody engine"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every scheme in-process (2-of-3 and 3-of-5) and print timings and message sizes.
    Bench(BenchArgs),
}

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Keep the run under about two minutes: load pregenerated safe primes and
    /// committee aux info from test fixtures (benchmarks only, never the product path).
    #[arg(long)]
    quick: bool,
    /// Also write one JSON line per signature produced:
    /// {"scheme","public_key","message","signature"} (hex).
    #[arg(long, value_name = "FILE")]
    emit: Option<PathBuf>,
    /// Where the fixtures live (default: the source tree's crates/custos-tss/test-data).
    #[arg(long, value_name = "DIR")]
    fixtures: Option<PathBuf>,
    /// Repetitions of the ECDSA 2-of-3 full-sign comparison (wrapper vs cggmp24 directly).
    #[arg(long, default_value_t = 3)]
    repeat: usize,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Bench(args) => bench::run(args),
    }
}
