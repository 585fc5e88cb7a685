//! A node's configuration file (`node.json`): who it is, which server it
//! trusts, and the committee its operator pinned. Nothing secret.

use std::path::{Path, PathBuf};

use custos_net::Fingerprint;
use custos_protocol::control::CommitteeSpec;
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
    /// Governance genesis hash (hex) the operator confirmed; the node takes
    /// no governance chain with another root and signs nothing without one.
    #[serde(default)]
    pub genesis: Option<String>,
    /// Written by `custos up`: the node of a one-machine demo, which alone
    /// accepts a demo genesis (admin quorum 1).
    #[serde(default)]
    pub demo: bool,
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

    /// A new node's configuration before its operator pins a committee.
    pub fn unpinned(enrolment: &Enrolment, server_addr: &str, server_fingerprint: &str) -> Self {
        Self {
            name: enrolment.name.clone(),
            index: 0,
            public_key: enrolment.public_key,
            server_addr: server_addr.to_owned(),
            server_fingerprint: server_fingerprint.to_owned(),
            threshold: 0,
            members: Vec::new(),
            message_timeout_ms: 30_000,
            genesis: None,
            demo: false,
        }
    }

    /// Whether a committee is pinned.
    pub fn is_pinned(&self) -> bool {
        !self.members.is_empty()
    }

    /// Pins `committee` after its operator compared `expected_fingerprint`
    /// (from the server operator, out of band) with the file's. A pinned
    /// committee is never replaced: a node serves one committee.
    pub fn pin(
        &mut self,
        committee: &CommitteeSpec,
        expected_fingerprint: &str,
    ) -> Result<(), PinError> {
        let actual = committee.fingerprint();
        if !actual.eq_ignore_ascii_case(expected_fingerprint.trim()) {
            return Err(PinError::Fingerprint { actual });
        }
        let n = u16::try_from(committee.members.len()).map_err(|_| PinError::Shape)?;
        custos_tss::Committee::new(committee.threshold, n).map_err(|_| PinError::Shape)?;
        let mut sorted = committee.members.clone();
        sorted.sort();
        sorted.dedup();
        if sorted.len() != committee.members.len() {
            return Err(PinError::Shape);
        }
        let index = committee
            .members
            .iter()
            .position(|m| *m == self.public_key)
            .ok_or(PinError::NotAMember)?;
        if self.is_pinned() {
            return if self.members == committee.members && self.threshold == committee.threshold {
                Ok(())
            } else {
                Err(PinError::AlreadyPinned)
            };
        }
        self.index = u16::try_from(index).map_err(|_| PinError::Shape)?;
        self.threshold = committee.threshold;
        self.members = committee.members.clone();
        Ok(())
    }

    /// Pins the governance genesis hash the operator confirmed (hex); a
    /// pinned genesis is never replaced.
    pub fn pin_genesis(&mut self, hash: &str) -> Result<(), PinError> {
        let hash = hash.trim().to_ascii_lowercase();
        if hash.len() != 64 || hex::decode(&hash).is_err() {
            return Err(PinError::Genesis("not a 32-byte hex hash"));
        }
        match &self.genesis {
            Some(g) if *g != hash => Err(PinError::Genesis("another genesis is pinned already")),
            _ => {
                self.genesis = Some(hash);
                Ok(())
            }
        }
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
    /// Witness key (Ed25519, hex): audit co-signatures and wallet
    /// attestations; the genesis records it.
    pub witness_key: String,
    /// TLS certificate fingerprint (hex).
    pub tls_fingerprint: String,
}

/// Why a committee was not pinned.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PinError {
    /// The committee file is not the one the server operator announced.
    #[error("committee fingerprint is {actual}, not the one given; do not pin it")]
    Fingerprint {
        /// The file's fingerprint.
        actual: String,
    },
    /// Threshold or members are not a valid committee.
    #[error("committee has an invalid threshold or repeated members")]
    Shape,
    /// This node's key is not among the members.
    #[error("this node's key is not a member of the committee")]
    NotAMember,
    /// The governance genesis hash was refused.
    #[error("governance genesis: {0}")]
    Genesis(&'static str),
    /// Another committee is pinned already.
    #[error("this node already serves another committee")]
    AlreadyPinned,
}
