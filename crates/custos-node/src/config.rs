//! A node's configuration file (`node.json`): who it is, which server it
//! trusts, and the committee its operator pinned. Nothing secret.

use std::path::{Path, PathBuf};

use custos_net::Fingerprint;
use custos_wire::NodePublicKey;
use serde::{Deserialize, Serialize};

/// Contents of `node.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeConfig {
    /// Operator-chosen name.
    pub name: String,
    /// This node's index in the committee.
    pub index: u16,
    /// Channel public key (also the vault's node id).
    pub public_key: NodePublicKey,
    /// Server address (`host:port`) for the node connection.
    pub server_addr: String,
    /// Pinned SHA-256 fingerprint of the server's TLS certificate (hex).
    pub server_fingerprint: String,
    /// Pinned committee: threshold and members' channel keys in index order.
    pub threshold: u16,
    /// Members.
    pub members: Vec<NodePublicKey>,
    /// Deadline per protocol message, in milliseconds.
    pub message_timeout_ms: u64,
}

impl NodeConfig {
    /// `node.json` in `dir`.
    pub fn path(dir: &Path) -> PathBuf {
        dir.join("node.json")
    }

    /// Reads `dir/node.json`.
    pub fn load(dir: &Path) -> std::io::Result<Self> {
        let text = std::fs::read_to_string(Self::path(dir))?;
        serde_json::from_str(&text)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    }

    /// Writes `dir/node.json`.
    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(Self::path(dir), text)
    }

    /// The pinned server fingerprint.
    pub fn server_pin(&self) -> Result<Fingerprint, custos_net::NetError> {
        self.server_fingerprint.parse()
    }
}

/// What an operator hands to the server operator to enrol this node.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Enrolment {
    /// Node name.
    pub name: String,
    /// Channel public key.
    pub public_key: NodePublicKey,
    /// TLS certificate fingerprint (hex).
    pub tls_fingerprint: String,
}
