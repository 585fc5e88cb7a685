//! # custos-governance
//!
//! The governance chain every shard node holds and validates itself: a
//! genesis (initial admins, their keys, the admin quorum) and then
//! proposals, each hash-linked to the current head and valid only with
//! signatures from an admin quorum *of the current state* — the proposer
//! among them, counted once, no user twice. Changes: users, roles, key
//! rotation, the quorum, and opaque policy / address-book documents (their
//! meaning belongs to `custos-policy`).
//!
//! Pure: no storage or clock. It does not decide transfers; it says who is
//! who and what the rules are at a given head.

#![warn(missing_docs)]

pub mod auth;
pub mod committee;
mod role;

pub use committee::{valid_id, Committee, Member};
pub use role::Role;

use std::collections::{BTreeMap, BTreeSet};

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A 32-byte SHA-256 hash.
pub type Hash = [u8; 32];

const GENESIS_TAG: &[u8] = b"custos/governance/genesis/v1";
const PROPOSAL_TAG: &[u8] = b"custos/governance/proposal/v1";
const INITIATE_TAG: &[u8] = b"custos/request/initiate/v1";
const APPROVE_TAG: &[u8] = b"custos/request/approve/v2";

/// A user as governance knows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Ed25519 user key.
    pub key: [u8; 32],
    /// Roles held.
    pub roles: BTreeSet<Role>,
}

/// The state at a head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Users by id.
    pub users: BTreeMap<String, User>,
    /// Admin signatures a change needs.
    pub admin_quorum: u32,
    /// The policy document (as `custos-policy` reads it), if set.
    pub policy: Option<Vec<u8>>,
    /// The address book document, if set.
    pub address_book: Option<Vec<u8>>,
    /// Ids of the wallets allowed to be created for blind (bare-digest)
    /// signing: only such a wallet's key is born blind, and only a blind key
    /// signs a digest it is handed.
    #[serde(default)]
    pub blind_wallets: BTreeSet<String>,
    /// Committees by id: the nodes holding shares and the keys they are
    /// known by.
    #[serde(default)]
    pub committees: BTreeMap<String, Committee>,
    /// A one-machine demo (`custos up`): the only chain that may run with
    /// an admin quorum of 1.
    #[serde(default)]
    pub demo: bool,
}

/// The first admins and the quorum; its hash is what node operators confirm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Genesis {
    /// Admin ids and keys.
    pub admins: Vec<(String, [u8; 32])>,
    /// Admin quorum.
    pub admin_quorum: u32,
    /// The server's audit-log key (Ed25519): nodes co-sign only entries it
    /// signed, and auditors verify exports against it.
    pub audit_key: [u8; 32],
    /// The first committees (nodes learn their peers' keys, and auditors
    /// the witness keys, from here).
    pub committees: Vec<Committee>,
    /// A one-machine demo (`custos up`), which alone may have an admin
    /// quorum of 1: anywhere else one admin could change everything.
    pub demo: bool,
}

/// One change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Change {
    /// A new user with a key and roles.
    AddUser {
        /// Id.
        id: String,
        /// Ed25519 key.
        key: [u8; 32],
        /// Roles.
        roles: BTreeSet<Role>,
    },
    /// Remove a user.
    RemoveUser {
        /// Id.
        id: String,
    },
    /// Grant a role.
    Grant {
        /// Id.
        id: String,
        /// Role.
        role: Role,
    },
    /// Revoke a role.
    Revoke {
        /// Id.
        id: String,
        /// Role.
        role: Role,
    },
    /// Replace a user's key.
    RotateKey {
        /// Id.
        id: String,
        /// New Ed25519 key.
        key: [u8; 32],
    },
    /// Set the admin quorum.
    SetQuorum(u32),
    /// Replace the policy document.
    SetPolicy(Vec<u8>),
    /// Replace the address book document.
    SetAddressBook(Vec<u8>),
    /// Allow one blind wallet of this id to be created (its key then signs
    /// bare digests and nothing else; never offered for deposits).
    AllowBlindWallet {
        /// The wallet id it will have.
        wallet: String,
    },
    /// Record a new committee (an id not used before; changing a
    /// committee's members is resharing, a later change).
    AddCommittee(Committee),
}

/// A proposed step of the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    /// Height it creates (current height + 1).
    pub height: u64,
    /// The current head it extends.
    pub prev: Hash,
    /// Proposing admin.
    pub proposer: String,
    /// Unix seconds, as the proposer stated.
    pub time: i64,
    /// Changes, applied in order, all or none.
    pub changes: Vec<Change>,
}

impl Proposal {
    /// Domain-separated SHA-256 of the canonical encoding: what admins sign
    /// and the head it creates.
    pub fn hash(&self) -> Result<Hash, GovError> {
        let body = postcard::to_stdvec(self).map_err(|_| GovError::Encoding)?;
        Ok(Sha256::new()
            .chain_update(PROPOSAL_TAG)
            .chain_update(body)
            .finalize()
            .into())
    }

    /// An admin's signature over the proposal.
    pub fn sign(&self, key: &SigningKey) -> Result<Vec<u8>, GovError> {
        Ok(key.sign(&self.hash()?).to_bytes().to_vec())
    }
}

/// A proposal with admin signatures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedProposal {
    /// The proposal.
    pub proposal: Proposal,
    /// (user id, Ed25519 signature over the proposal hash).
    pub signatures: Vec<(String, Vec<u8>)>,
}

/// Why a genesis or proposal was refused. Nothing changes on refusal.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GovError {
    /// The proposal is for a height at or below the head (stale or replayed).
    #[error("stale: height {got} at head height {head}")]
    Stale {
        /// Proposal height.
        got: u64,
        /// Current height.
        head: u64,
    },
    /// The proposal skips heights.
    #[error("gap: height {got} after head height {head}")]
    Gap {
        /// Proposal height.
        got: u64,
        /// Current height.
        head: u64,
    },
    /// Right height, other predecessor: a fork.
    #[error("fork: the proposal extends another head")]
    Fork,
    /// No such user.
    #[error("no user {0}")]
    UnknownUser(String),
    /// A signer is not an admin of the current state.
    #[error("{0} is not an admin")]
    NotAdmin(String),
    /// A user signed twice.
    #[error("{0} signed twice")]
    DuplicateSigner(String),
    /// A signature does not verify with the user's current key.
    #[error("bad signature by {0}")]
    BadSignature(String),
    /// The proposer did not sign.
    #[error("the proposer must sign")]
    ProposerMustSign,
    /// Too few admin signatures.
    #[error("{have} of {need} admin signatures")]
    NoQuorum {
        /// Valid distinct admin signatures.
        have: usize,
        /// Quorum.
        need: usize,
    },
    /// A change breaks an invariant.
    #[error("invalid change: {0}")]
    Invalid(String),
    /// Encoding failed.
    #[error("encoding")]
    Encoding,
}

pub(crate) fn invalid(s: impl Into<String>) -> GovError {
    GovError::Invalid(s.into())
}

impl State {
    /// Invariants: a quorum between 1 and the number of admins, distinct
    /// user keys, auditors independent (no role but viewer beside auditor).
    fn check(&self) -> Result<(), GovError> {
        let admins = self
            .users
            .values()
            .filter(|u| u.roles.contains(&Role::Admin))
            .count();
        if self.admin_quorum == 0 || self.admin_quorum as usize > admins {
            return Err(invalid(format!(
                "admin quorum {} with {admins} admins",
                self.admin_quorum
            )));
        }
        if self.admin_quorum < 2 && !self.demo {
            return Err(invalid(
                "an admin quorum of 1 lets one admin change everything: at least 2 (only the \
                 demo genesis of `custos up` runs with 1)",
            ));
        }
        let keys: BTreeSet<&[u8; 32]> = self.users.values().map(|u| &u.key).collect();
        if keys.len() != self.users.len() {
            return Err(invalid("two users share a key"));
        }
        for (id, u) in &self.users {
            if VerifyingKey::from_bytes(&u.key).is_err() {
                return Err(invalid(format!("{id}: not an Ed25519 key")));
            }
            if u.roles.contains(&Role::Auditor)
                && u.roles
                    .iter()
                    .any(|r| !matches!(r, Role::Auditor | Role::Viewer))
            {
                return Err(invalid(format!("{id}: an auditor holds no other role")));
            }
            if id.is_empty() || id.len() > 64 {
                return Err(invalid("user ids are 1 to 64 characters"));
            }
        }
        Ok(())
    }

    fn apply(&mut self, change: &Change) -> Result<(), GovError> {
        match change {
            Change::AddUser { id, key, roles } => {
                if self.users.contains_key(id) {
                    return Err(invalid(format!("user {id} exists")));
                }
                self.users.insert(
                    id.clone(),
                    User {
                        key: *key,
                        roles: roles.clone(),
                    },
                );
            }
            Change::RemoveUser { id } => {
                self.users
                    .remove(id)
                    .ok_or_else(|| invalid(format!("no user {id}")))?;
            }
            Change::Grant { id, role } | Change::Revoke { id, role } => {
                let u = self
                    .users
                    .get_mut(id)
                    .ok_or_else(|| invalid(format!("no user {id}")))?;
                let changed = if matches!(change, Change::Grant { .. }) {
                    u.roles.insert(*role)
                } else {
                    u.roles.remove(role)
                };
                if !changed {
                    return Err(invalid(format!("{id}: role {role:?} unchanged")));
                }
            }
            Change::RotateKey { id, key } => {
                let u = self
                    .users
                    .get_mut(id)
                    .ok_or_else(|| invalid(format!("no user {id}")))?;
                u.key = *key;
            }
            Change::SetQuorum(q) => self.admin_quorum = *q,
            Change::SetPolicy(p) => self.policy = Some(p.clone()),
            Change::SetAddressBook(b) => self.address_book = Some(b.clone()),
            Change::AllowBlindWallet { wallet } => {
                if !valid_id(wallet) || !self.blind_wallets.insert(wallet.clone()) {
                    return Err(GovError::Invalid(format!(
                        "blind wallet id {wallet:?}: 1-64 of [A-Za-z0-9_-], not allowed before"
                    )));
                }
            }
            Change::AddCommittee(c) => {
                c.check()?;
                if self.committees.insert(c.id.clone(), c.clone()).is_some() {
                    return Err(invalid(format!("committee {} exists", c.id)));
                }
            }
        }
        Ok(())
    }

    /// The names of `id`'s roles (none for an unknown user), as policies
    /// name them.
    pub fn role_names(&self, id: &str) -> Vec<String> {
        self.users
            .get(id)
            .map(|u| u.roles.iter().map(|r| r.name().to_owned()).collect())
            .unwrap_or_default()
    }

    /// Whether `id` holds `role`.
    pub fn has_role(&self, id: &str, role: Role) -> bool {
        self.users.get(id).is_some_and(|u| u.roles.contains(&role))
    }

    /// Checks `signature` over `message` by user `id`'s current key and
    /// returns the user.
    pub fn verify_user(
        &self,
        id: &str,
        message: &[u8],
        signature: &[u8],
    ) -> Result<&User, GovError> {
        let user = self
            .users
            .get(id)
            .ok_or_else(|| GovError::UnknownUser(id.to_owned()))?;
        let key = VerifyingKey::from_bytes(&user.key)
            .map_err(|_| GovError::BadSignature(id.to_owned()))?;
        let sig =
            Signature::from_slice(signature).map_err(|_| GovError::BadSignature(id.to_owned()))?;
        key.verify(message, &sig)
            .map_err(|_| GovError::BadSignature(id.to_owned()))?;
        Ok(user)
    }
}

/// What an initiator signs to request a signing: the request's hash under
/// a domain tag.
pub fn initiate_message(request: &Hash) -> Vec<u8> {
    [INITIATE_TAG, request.as_slice()].concat()
}

/// What an approver signs: the request's hash, the governance head they
/// approve under (so an approval cannot be moved to other rules) and the
/// initiator they were shown (so it cannot be paired with another
/// initiator's signature over the same request).
pub fn approval_message(request: &Hash, head: &Hash, initiator: &str) -> Vec<u8> {
    let len = u16::try_from(initiator.len())
        .unwrap_or(u16::MAX)
        .to_be_bytes();
    [
        APPROVE_TAG,
        request.as_slice(),
        head.as_slice(),
        len.as_slice(),
        initiator.as_bytes(),
    ]
    .concat()
}

/// A validated chain: the state at its head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Governance {
    audit_key: [u8; 32],
    state: State,
    head: Hash,
    height: u64,
}

impl Genesis {
    /// What node operators confirm when enrolling.
    pub fn hash(&self) -> Result<Hash, GovError> {
        let body = postcard::to_stdvec(self).map_err(|_| GovError::Encoding)?;
        Ok(Sha256::new()
            .chain_update(GENESIS_TAG)
            .chain_update(body)
            .finalize()
            .into())
    }
}

impl Governance {
    /// The chain at genesis (height 0, head = genesis hash).
    pub fn genesis(g: &Genesis) -> Result<Self, GovError> {
        let mut users = BTreeMap::new();
        for (id, key) in &g.admins {
            let admin = User {
                key: *key,
                roles: BTreeSet::from([Role::Admin]),
            };
            if users.insert(id.clone(), admin).is_some() {
                return Err(invalid(format!("admin {id} listed twice")));
            }
        }
        let state = State {
            users,
            admin_quorum: g.admin_quorum,
            policy: None,
            address_book: None,
            blind_wallets: BTreeSet::new(),
            committees: BTreeMap::new(),
            demo: g.demo,
        };
        let mut state = state;
        for c in &g.committees {
            state.apply(&Change::AddCommittee(c.clone()))?;
        }
        state.check()?;
        Ok(Self {
            audit_key: g.audit_key,
            state,
            head: g.hash()?,
            height: 0,
        })
    }

    /// Replays a whole chain from genesis; the error carries the height of
    /// the first bad proposal.
    pub fn replay(g: &Genesis, chain: &[SignedProposal]) -> Result<Self, (u64, GovError)> {
        let mut gov = Self::genesis(g).map_err(|e| (0, e))?;
        for p in chain {
            gov.apply(p).map_err(|e| (p.proposal.height, e))?;
        }
        Ok(gov)
    }

    /// The governance as it stood at `head` along `chain` (`None`: the
    /// chain never reaches it, or breaks before it).
    pub fn at_head(g: &Genesis, chain: &[SignedProposal], head: &Hash) -> Option<Self> {
        let mut gov = Self::genesis(g).ok()?;
        let mut rest = chain.iter();
        while gov.head != *head {
            gov.apply(rest.next()?).ok()?;
        }
        Some(gov)
    }

    /// The state at the head.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The server's audit-log key named by the genesis.
    pub fn genesis_audit_key(&self) -> [u8; 32] {
        self.audit_key
    }

    /// The committee `id` at the head.
    pub fn committee(&self, id: &str) -> Option<&Committee> {
        self.state.committees.get(id)
    }

    /// The head hash.
    pub fn head(&self) -> Hash {
        self.head
    }

    /// The head height.
    pub fn height(&self) -> u64 {
        self.height
    }

    /// Applies a signed proposal if it extends the head and carries a quorum
    /// of the *current* admins' signatures, the proposer's among them; all
    /// changes or none.
    pub fn apply(&mut self, signed: &SignedProposal) -> Result<(), GovError> {
        let p = &signed.proposal;
        let next = self.height.saturating_add(1);
        if p.height < next {
            return Err(GovError::Stale {
                got: p.height,
                head: self.height,
            });
        }
        if p.height > next {
            return Err(GovError::Gap {
                got: p.height,
                head: self.height,
            });
        }
        if p.prev != self.head {
            return Err(GovError::Fork);
        }
        let hash = p.hash()?;
        let mut signers = BTreeSet::new();
        for (id, sig) in &signed.signatures {
            let user = self
                .state
                .users
                .get(id)
                .filter(|u| u.roles.contains(&Role::Admin))
                .ok_or_else(|| GovError::NotAdmin(id.clone()))?;
            if !signers.insert(id.as_str()) {
                return Err(GovError::DuplicateSigner(id.clone()));
            }
            let key = VerifyingKey::from_bytes(&user.key)
                .map_err(|_| GovError::BadSignature(id.clone()))?;
            let sig = Signature::from_slice(sig).map_err(|_| GovError::BadSignature(id.clone()))?;
            key.verify(&hash, &sig)
                .map_err(|_| GovError::BadSignature(id.clone()))?;
        }
        if !signers.contains(p.proposer.as_str()) {
            return Err(GovError::ProposerMustSign);
        }
        let need = self.state.admin_quorum as usize;
        if signers.len() < need {
            return Err(GovError::NoQuorum {
                have: signers.len(),
                need,
            });
        }
        let mut state = self.state.clone();
        for change in &p.changes {
            state.apply(change)?;
        }
        state.check()?;
        self.state = state;
        self.head = hash;
        self.height = next;
        Ok(())
    }
}
