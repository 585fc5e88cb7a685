//! `custos bench`: timings in-process (the default), through a real
//! loopback cluster (`--cluster`), or of the governance checks
//! (`--governance`).

mod args;
mod cluster;
mod governance;
mod in_process;

pub use args::BenchArgs;

use anyhow::Result;

pub fn run(args: BenchArgs) -> Result<()> {
    if args.governance {
        governance::run()
    } else if args.cluster {
        cluster::run(&args)
    } else {
        in_process::run(args)
    }
}
