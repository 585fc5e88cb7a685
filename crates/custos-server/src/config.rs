//! The server's configuration file (`server.json`). Nothing secret: the TLS
//! key is a separate file, the operator token another.

use std::path::{Path, PathBuf};

use custos_wire::NodePublicKey;
use serde::{Deserialize, Serialize};

/// An enrolled node, as its operator handed it over.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NodeEnrolment {
    /// Node name.
    pub name: String,
    /// Channel public key.
    pub public_key: NodePublicKey,
    /// SHA-256 of its TLS certificate (hex).
    pub tls_fingerprint: String,
}

/// Contents of `server.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerConfig {
    /// REST API listen address.
    pub api_addr: String,
    /// Node connection listen address (mutual TLS).
    pub node_addr: String,
    /// Store URL (`sqlite:PATH` or `postgres://…`).
    pub store_url: String,
    /// Enrolled nodes.
    pub nodes: Vec<NodeEnrolment>,
    /// The committee: id, threshold, member node keys in index order.
    pub committee_id: String,
    /// Threshold.
    pub threshold: u16,
    /// Members.
    pub members: Vec<NodePublicKey>,
    /// Deadline for a whole protocol session, in milliseconds.
    pub session_timeout_ms: u64,
    /// Deadline for a whole aux-info session (includes waiting for nodes'
    /// safe primes), in milliseconds.
    pub aux_timeout_ms: u64,
    /// ECDSA presignatures kept ready per wallet, refilled in the background
    /// while idle (0: no pool; signings without one run in full).
    #[serde(default)]
    pub presignature_target: u64,
}

impl ServerConfig {
    /// `server.json` in `dir`.
    pub fn path(dir: &Path) -> PathBuf {
        dir.join("server.json")
    }

    /// Reads `dir/server.json`.
    pub fn load(dir: &Path) -> std::io::Result<Self> {
        let text = std::fs::read_to_string(Self::path(dir))?;
        serde_json::from_str(&text)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    }

    /// Writes `dir/server.json`.
    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(Self::path(dir), text)
    }

    /// Name of the node with this key.
    pub fn node_name(&self, key: &NodePublicKey) -> String {
        self.nodes
            .iter()
            .find(|n| n.public_key == *key)
            .map(|n| n.name.clone())
            .unwrap_or_else(|| key.to_string())
    }
}
