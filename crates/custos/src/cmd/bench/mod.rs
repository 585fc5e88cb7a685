//! `custos bench`: timings in-process (the default), through a real
//! loopback cluster (`--cluster`), or of the governance checks
//! (`--governance`).

mod cluster;
mod governance;
mod in_process;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;

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
    /// Measure a real cluster (1 server + 3 node processes on loopback) instead,
    /// against the in-process figure in the same run.
    #[arg(long)]
    cluster: bool,
    /// Measure the governance checks instead: policy evaluation, a node's
    /// re-check of a request, audit-log append, witnessing and checkpoints.
    #[arg(long)]
    governance: bool,
}

pub fn run(args: BenchArgs) -> Result<()> {
    if args.governance {
        governance::run()
    } else if args.cluster {
        cluster::run(&args)
    } else {
        in_process::run(args)
    }
}

/// `--fixtures`, else the source tree's test data (benchmarks only).
fn fixtures_dir(args: &BenchArgs) -> PathBuf {
    args.fixtures.clone().unwrap_or_else(|| {
        PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../custos-tss/test-data"
        ))
    })
}

/// The middle one (the upper of the two middle ones of an even count).
fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}
