//! What every connection and job of a running node shares: its
//! configuration, vault, keys, the governance chain it validated and its
//! witness state. A leaf of the daemon: every step module reads it, none
//! is read by it.

use std::collections::HashMap;
use std::sync::atomic::AtomicU8;
use std::sync::{mpsc as std_mpsc, Arc};

use custos_governance::{Genesis, Governance, SignedProposal};
use custos_wire::NodeKeys;
use tokio::sync::Mutex;

use crate::config::NodeConfig;
use crate::job::Inbound;
use crate::store::NodeVault;
use crate::witness::WitnessState;

/// The node's SQLite file in its directory.
pub const DB_FILE: &str = "node.db";
/// The node's TLS certificate (public) in its directory.
pub const CERT_FILE: &str = "tls-cert.der";
/// Key id used for node-wide vault entries.
pub(super) const NODE_WIDE: [u8; 32] = [0; 32];

/// A running node: what every connection and job shares.
pub(super) struct Node {
    pub(super) config: NodeConfig,
    pub(super) vault: NodeVault,
    pub(super) keys: NodeKeys,
    /// Safe primes finished by the background generator.
    pub(super) primes_ready: AtomicU8,
    /// The governance chain this node validated.
    pub(super) gov: Mutex<GovHeld>,
    /// The node as audit witness.
    pub(super) witness: Mutex<WitnessState>,
    /// Ed25519 key for checkpoint co-signatures.
    pub(super) witness_key: ed25519_dalek::SigningKey,
    /// SHA-256 of this node's TLS certificate (the genesis must record it).
    pub(super) tls_fingerprint: [u8; 32],
    /// Wallet ids whose DKG runs now: one order runs one keygen at a time
    /// (the id is recorded durably only when the key is stored).
    pub(super) keygens: std::sync::Mutex<std::collections::HashSet<String>>,
}

/// The governance chain as the node holds it.
#[derive(Default)]
pub(super) struct GovHeld {
    /// The pinned genesis (to replay to an earlier head).
    pub(super) genesis: Option<Genesis>,
    pub(super) chain: Vec<SignedProposal>,
    pub(super) gov: Option<Governance>,
}

/// The running jobs of a connection, by session.
pub(super) type Jobs = Arc<Mutex<HashMap<[u8; 32], std_mpsc::Sender<Inbound>>>>;
