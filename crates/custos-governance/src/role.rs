//! The roles a user may hold, by the names policies use.

use serde::{Deserialize, Serialize};

use crate::{invalid, GovError};

/// Roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Proposes and approves governance changes.
    Admin,
    /// Starts transfers.
    Initiator,
    /// Approves transfers.
    Approver,
    /// Reads and verifies the audit log; independent, so no other role but viewer.
    Auditor,
    /// Runs a shard node.
    NodeOperator,
    /// Reads.
    Viewer,
}

impl Role {
    /// The name policies use for it.
    pub fn name(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Initiator => "initiator",
            Role::Approver => "approver",
            Role::Auditor => "auditor",
            Role::NodeOperator => "node_operator",
            Role::Viewer => "viewer",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = GovError;

    fn from_str(s: &str) -> Result<Self, GovError> {
        [
            Role::Admin,
            Role::Initiator,
            Role::Approver,
            Role::Auditor,
            Role::NodeOperator,
            Role::Viewer,
        ]
        .into_iter()
        .find(|r| r.name() == s)
        .ok_or_else(|| invalid(format!("no role {s:?}")))
    }
}
