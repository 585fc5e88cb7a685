//! `custos bench`'s arguments and the helpers every bench shares.

use std::path::PathBuf;
use std::time::Duration;

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Keep the run under about two minutes: load pregenerated safe primes and
    /// committee aux info from test fixtures (benchmarks only, never the product path).
    #[arg(long)]
    pub(super) quick: bool,
    /// Also write one JSON line per signature produced:
    /// {"scheme","public_key","message","signature"} (hex).
    #[arg(long, value_name = "FILE")]
    pub(super) emit: Option<PathBuf>,
    /// Where the fixtures live (default: the source tree's crates/custos-tss/test-data).
    #[arg(long, value_name = "DIR")]
    pub(super) fixtures: Option<PathBuf>,
    /// Repetitions of the ECDSA 2-of-3 full-sign comparison (wrapper vs cggmp24 directly).
    #[arg(long, default_value_t = 3)]
    pub(super) repeat: usize,
    /// Measure a real cluster (1 server + 3 node processes on loopback) instead,
    /// against the in-process figure in the same run.
    #[arg(long)]
    pub(super) cluster: bool,
    /// Measure the governance checks instead: policy evaluation, a node's
    /// re-check of a request, audit-log append, witnessing and checkpoints.
    #[arg(long)]
    pub(super) governance: bool,
}

/// `--fixtures`, else the source tree's test data (benchmarks only).
pub(super) fn fixtures_dir(args: &BenchArgs) -> PathBuf {
    args.fixtures.clone().unwrap_or_else(|| {
        PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../custos-tss/test-data"
        ))
    })
}

/// The middle one (the upper of the two middle ones of an even count).
pub(super) fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}
