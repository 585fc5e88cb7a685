//! The node daemon: `init` makes the node's keys and vault; `run` dials the
//! server over pinned mutual TLS, runs the jobs it is given, stores shares in
//! the vault and reconnects when the connection drops. The node accepts no
//! inbound connections.
//!
//! One job per module: `enrol` (keys, vault, primes import), `serve`
//! (connection and message loop), `governance` (the node's own chain),
//! `witnessing` (checkpoint co-signing), `primes` (safe primes), `journal`,
//! `authorize`, `material` (a job's vault input and output) and `pipeline`
//! — the one path every job takes: decode → journal → check committee →
//! authorize → claim → run → store → journal.

mod authorize;
mod enrol;
mod error;
mod governance;
mod journal;
mod keys;
mod material;
mod node;
mod pipeline;
mod primes;
mod serve;
mod witnessing;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub use enrol::{import_primes, init, witness_public_key};
pub use error::{NodeError, SetupError, StoredChainError};
pub use node::{CERT_FILE, DB_FILE};

/// Runs the node until the process is stopped.
pub async fn run(dir: &Path, passphrase: &[u8]) -> Result<(), NodeError> {
    let (node, connector) = enrol::open_node(dir, passphrase).await?;
    let node = Arc::new(node);
    tokio::spawn(primes::ensure_primes(node.clone()));
    // Reconnect whenever the connection ends: the node only ever dials out.
    loop {
        match serve::serve(&node, &connector).await {
            Ok(()) => eprintln!(
                "{}: server closed the connection; reconnecting",
                node.config.name
            ),
            Err(e) => eprintln!("{}: {e}; reconnecting", node.config.name),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
