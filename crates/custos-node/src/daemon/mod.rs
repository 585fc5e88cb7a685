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
mod material;
mod pipeline;
mod primes;
mod serve;
mod witnessing;

use std::path::Path;
use std::sync::atomic::AtomicU8;
use std::sync::Arc;
use std::time::Duration;

use custos_net::clock::unix_now as now;
use custos_wire::NodeKeys;
use tokio::sync::Mutex;

use crate::config::NodeConfig;
use crate::store::NodeVault;
use crate::witness::WitnessState;
use governance::GovHeld;

pub use enrol::{import_primes, init, witness_public_key};
pub use error::{NodeError, SetupError, StoredChainError};

/// The node's SQLite file in its directory.
pub const DB_FILE: &str = "node.db";
/// The node's TLS certificate (public) in its directory.
pub const CERT_FILE: &str = "tls-cert.der";
/// Key id used for node-wide vault entries.
const NODE_WIDE: [u8; 32] = [0; 32];

/// A running node: what every connection and job shares.
struct Node {
    config: NodeConfig,
    vault: NodeVault,
    keys: NodeKeys,
    /// Safe primes finished by the background generator.
    primes_ready: AtomicU8,
    /// The governance chain this node validated.
    gov: Mutex<GovHeld>,
    /// The node as audit witness.
    witness: Mutex<WitnessState>,
    /// Ed25519 key for checkpoint co-signatures.
    witness_key: ed25519_dalek::SigningKey,
}

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
