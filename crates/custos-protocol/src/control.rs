//! Messages between a node and the server over their mutually authenticated
//! TLS connection (`custos-net` frames them on the stream).
//!
//! Nothing here is secret: protocol traffic between nodes travels inside
//! sealed [`Frame`]s that the server relays but cannot open.

use custos_tss::PartyIndex;
use serde::{Deserialize, Serialize};

use crate::attest::{Attestation, Freshness, SignedOrder, WalletStatement};
use crate::authz::{Authorization, GovernanceSync, WitnessRequest};
use custos_audit::checkpoint::{CoSignature, SignedCheckpoint};
use custos_wire::{Frame, NodePublicKey};

/// Longest progress note the server keeps.
pub const MAX_PROGRESS_NOTE: usize = 160;

/// The committee a job runs in, as the server states it. Nodes check it
/// against the roster their operator pinned at enrolment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitteeSpec {
    /// Committee id.
    pub id: String,
    /// Threshold.
    pub threshold: u16,
    /// Members' channel keys, in committee-index order.
    pub members: Vec<NodePublicKey>,
}

impl CommitteeSpec {
    /// SHA-256 over a domain tag, the id, the threshold and the members'
    /// keys in order (hex): what the server operator reads out and each node
    /// operator compares before pinning the committee.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(b"custos/committee/v1");
        h.update((self.id.len() as u64).to_be_bytes());
        h.update(self.id.as_bytes());
        h.update(self.threshold.to_be_bytes());
        h.update((self.members.len() as u64).to_be_bytes());
        for m in &self.members {
            h.update(m.0);
        }
        hex::encode(h.finalize())
    }
}

/// What the server asks a node to run. A signing carries the request as
/// the initiator signed it (its canonical bytes); the node decodes and plans
/// it itself (`custos_protocol::authz::plan`), so what it checks is exactly
/// what it signs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobKind {
    /// Generate the committee's ECDSA aux info (once per committee), for
    /// the admin's order of its first ECDSA wallet.
    AuxInfo {
        /// The order (an ECDSA wallet).
        order: SignedOrder,
    },
    /// Distributed key generation of the wallet an admin ordered (a blind
    /// wallet only under an id governance allows, and one key per id).
    Keygen {
        /// The order.
        order: SignedOrder,
    },
    /// Sign a request: each node decodes it, plans the payloads itself,
    /// checks them against `payloads` (what the server says it will
    /// assemble) and signs each with the key at its path.
    Sign {
        /// Exactly `t` signers.
        signers: Vec<PartyIndex>,
        /// Canonical `SigningRequest` bytes.
        request: Vec<u8>,
        /// The server's view of what is signed, one entry per signature.
        payloads: Vec<Vec<u8>>,
        /// Who initiated and approved it, under which governance head.
        auth: Authorization,
        /// An audit checkpoint co-signed by a majority of the committee
        /// that covers the request's `sign` entry (log before sign).
        checkpoint: SignedCheckpoint,
    },
}

impl JobKind {
    /// The signer set of a signing job (`None`: all members).
    pub fn signers(&self) -> Option<&[PartyIndex]> {
        match self {
            JobKind::Sign { signers, .. } => Some(signers),
            JobKind::AuxInfo { .. } | JobKind::Keygen { .. } => None,
        }
    }

    /// Short name, as nodes journal it.
    pub fn name(&self) -> &'static str {
        match self {
            JobKind::AuxInfo { .. } => "aux-info",
            JobKind::Keygen { .. } => "keygen",
            JobKind::Sign { .. } => "sign",
        }
    }
}

/// A job for one node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// 32-byte session id, unique per job.
    pub session: [u8; 32],
    /// Committee.
    pub committee: CommitteeSpec,
    /// The node's index in it.
    pub me: PartyIndex,
    /// What to run.
    pub kind: JobKind,
}

/// What a finished job produced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// Aux info made and stored; its public id.
    AuxInfo {
        /// Aux id (hex), equal at every node.
        aux_id: String,
    },
    /// Key share made and stored, with the wallet record this node keeps
    /// (equal at every node) and its attestation of it.
    Keygen {
        /// What the node recorded.
        statement: WalletStatement,
        /// Its signature over that, with its witness key.
        attestation: Attestation,
    },
    /// One signature per payload of the request, in order.
    Signatures {
        /// Encoded signatures (hex).
        signatures: Vec<String>,
    },
    /// The job failed at this node.
    Failed {
        /// Why (secret-free).
        error: String,
        /// Parties this node blames.
        culprits: Vec<PartyIndex>,
    },
}

/// Node → server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodeMessage {
    /// First message: the node's channel key and software version.
    Hello {
        /// Channel key (must match the enrolment of its TLS certificate).
        node: NodePublicKey,
        /// `custos` version.
        version: String,
    },
    /// A sealed frame for another node of a session.
    Relay {
        /// The frame.
        frame: Frame,
    },
    /// How a long job is getting on (aux info: safe primes, rounds).
    Progress {
        /// Session.
        session: [u8; 32],
        /// Short human-readable note (the server keeps the first
        /// [`MAX_PROGRESS_NOTE`] bytes).
        note: String,
    },
    /// The node's governance head after a [`ServerMessage::Governance`].
    GovernanceHead {
        /// Height.
        height: u64,
        /// Head hash.
        head: [u8; 32],
        /// Why (part of) the offered chain was refused, if it was.
        refused: Option<String>,
    },
    /// Answer to a [`ServerMessage::Witness`].
    Witnessed {
        /// Size of the checkpoint asked about.
        size: u64,
        /// The node's co-signature (its witness key, governance head and
        /// signature), or why the node refused.
        result: Result<CoSignature, String>,
    },
    /// Answer to a [`ServerMessage::Fresh`].
    Fresh(Box<Freshness>),
    /// A job finished here.
    Done {
        /// Session.
        session: [u8; 32],
        /// Result.
        outcome: Outcome,
    },
}

/// Server → node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServerMessage {
    /// Run a job.
    Start(Box<Job>),
    /// A sealed frame from another node.
    Relay {
        /// The frame.
        frame: Frame,
    },
    /// The governance chain (sent on connect and after every change).
    Governance(Box<GovernanceSync>),
    /// New audit entries and a checkpoint to co-sign.
    Witness(Box<WitnessRequest>),
    /// A verifier's nonce: answer with the newest checkpoint co-signed.
    Fresh {
        /// The nonce.
        nonce: [u8; 32],
    },
    /// Give up a session (another node failed or the deadline passed).
    Abort {
        /// Session.
        session: [u8; 32],
        /// Why.
        reason: String,
    },
}
