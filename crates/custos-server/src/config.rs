//! The server's configuration file (`server.json`). Nothing secret: the TLS
//! key is a separate file, the audit-log key another.

use std::path::{Path, PathBuf};

use custos_protocol::control::CommitteeSpec;
use custos_wire::NodePublicKey;
use serde::{Deserialize, Serialize};

/// An enrolled node, as its operator handed it over.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NodeEnrolment {
    /// Node name.
    pub name: String,
    /// Channel public key.
    pub public_key: NodePublicKey,
    /// Witness key (Ed25519, hex): audit co-signatures and wallet
    /// attestations.
    pub witness_key: String,
    /// SHA-256 of its TLS certificate (hex).
    pub tls_fingerprint: String,
}

/// Contents of `server.json`.
#[derive(Clone, Serialize, Deserialize)]
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
    /// Tokens transfers may move (ERC-20 contracts, SPL mints) with their
    /// decimals; any other token is refused.
    #[serde(default)]
    pub tokens: Vec<custos_chains::intent::KnownToken>,
}

/// `url` with any password replaced: a PostgreSQL URL may carry one
/// (`postgres://user:secret@host/db`), and `Debug` output reaches logs.
pub fn redacted_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    // The userinfo ends at the last '@' before the host's path.
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let base = match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            let hidden = if userinfo.contains(':') {
                ":<redacted>"
            } else {
                ""
            };
            format!("{scheme}://{user}{hidden}@{host}{tail}")
        }
        None => url.to_owned(),
    };
    // A `password=` query parameter is hidden too.
    base.split('&')
        .map(|kv| match kv.split_once("password=") {
            Some((head, _)) => format!("{head}password=<redacted>"),
            None => kv.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("api_addr", &self.api_addr)
            .field("node_addr", &self.node_addr)
            .field("store_url", &redacted_url(&self.store_url))
            .field("nodes", &self.nodes)
            .field("committee_id", &self.committee_id)
            .field("threshold", &self.threshold)
            .field("members", &self.members)
            .field("session_timeout_ms", &self.session_timeout_ms)
            .field("aux_timeout_ms", &self.aux_timeout_ms)
            .field("tokens", &self.tokens)
            .finish()
    }
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

    /// A server with no nodes enrolled yet.
    pub fn empty(api_addr: &str, node_addr: &str, store_url: &str) -> Self {
        Self {
            api_addr: api_addr.to_owned(),
            node_addr: node_addr.to_owned(),
            store_url: store_url.to_owned(),
            nodes: Vec::new(),
            committee_id: "default".into(),
            threshold: 0,
            members: Vec::new(),
            session_timeout_ms: 60_000,
            aux_timeout_ms: 900_000,
            tokens: Vec::new(),
        }
    }

    /// Enrols `nodes` (as their operators handed them over) and forms the
    /// committee from them in the given order. Refuses once a committee
    /// exists: its members hold shares, and changing them is resharing.
    pub fn enrol(
        &mut self,
        nodes: Vec<NodeEnrolment>,
        threshold: u16,
    ) -> Result<CommitteeSpec, String> {
        if !self.members.is_empty() {
            return Err("this server already has a committee".into());
        }
        let n = u16::try_from(nodes.len()).map_err(|_| "too many nodes".to_owned())?;
        custos_tss::Committee::new(threshold, n).map_err(|e| e.to_string())?;
        for (i, a) in nodes.iter().enumerate() {
            if nodes.iter().skip(i + 1).any(|b| {
                a.name == b.name
                    || a.public_key == b.public_key
                    || a.tls_fingerprint == b.tls_fingerprint
                    || a.witness_key == b.witness_key
            }) {
                return Err(format!(
                    "node {} is enrolled twice (name, key or certificate)",
                    a.name
                ));
            }
            a.tls_fingerprint
                .parse::<custos_net::Fingerprint>()
                .map_err(|e| format!("node {}: {e}", a.name))?;
            hex32(&a.witness_key).map_err(|e| format!("node {}: witness key {e}", a.name))?;
        }
        self.members = nodes.iter().map(|e| e.public_key).collect();
        self.threshold = threshold;
        self.nodes = nodes;
        Ok(self.committee())
    }

    /// The committee as nodes pin it.
    pub fn committee(&self) -> CommitteeSpec {
        CommitteeSpec {
            id: self.committee_id.clone(),
            threshold: self.threshold,
            members: self.members.clone(),
        }
    }

    /// The committee as the governance genesis records it: the enrolled
    /// members with their channel, witness and TLS keys.
    pub fn governance_committee(&self) -> Result<custos_governance::Committee, String> {
        let members = self
            .members
            .iter()
            .map(|key| {
                let n = self
                    .nodes
                    .iter()
                    .find(|n| n.public_key == *key)
                    .ok_or_else(|| format!("member {key} is not enrolled"))?;
                let fp: custos_net::Fingerprint = n
                    .tls_fingerprint
                    .parse()
                    .map_err(|e| format!("node {}: {e}", n.name))?;
                Ok(custos_governance::Member {
                    name: n.name.clone(),
                    channel_key: key.0,
                    witness_key: hex32(&n.witness_key)
                        .map_err(|e| format!("node {}: witness key {e}", n.name))?,
                    tls_fingerprint: fp.0,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(custos_governance::Committee {
            id: self.committee_id.clone(),
            threshold: self.threshold,
            members,
        })
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

fn hex32(s: &str) -> Result<[u8; 32], String> {
    hex::decode(s)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| "is not 32 bytes of hex".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_does_not_print_a_database_password() {
        let mut c = ServerConfig::empty(
            "127.0.0.1:1",
            "127.0.0.1:2",
            "postgres://custos:s3cr3t-pw@db.example:5432/custos?sslmode=require&password=other-pw",
        );
        c.committee_id = "c".into();
        let debug = format!("{c:?}");
        assert!(
            !debug.contains("s3cr3t-pw") && !debug.contains("other-pw"),
            "{debug}"
        );
        assert!(
            debug.contains("postgres://custos:<redacted>@db.example:5432/custos"),
            "{debug}"
        );
        assert_eq!(redacted_url("sqlite:/tmp/s.db"), "sqlite:/tmp/s.db");
        assert_eq!(
            redacted_url("postgres://custos@db/custos"),
            "postgres://custos@db/custos"
        );
    }
}
