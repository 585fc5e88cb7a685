//! # custos-policy
//!
//! An ordered list of rules; the first rule whose every condition holds
//! decides; no match means **deny**. Conditions: request kind (transfer,
//! PSBT, message, blind digest), initiator (user or role), source wallet or
//! wallet group, destination (exact address, address-book group, or any —
//! it must hold for *every* destination of the request), chain and asset,
//! amount (base units), a UTC time window, and rolling velocity (sum and
//! count per wallet or per initiator over a window, including this request).
//! Decisions: allow, block, or require `k` approvals from named users or
//! roles — never the initiator, one per user ([`check_approvals`]).
//!
//! **One bucket per asset.** A request is decided once per asset it spends
//! (its amount plus, in the native bucket, its maximum fee); velocity adds
//! up every earlier request's spending of that chain and asset, whatever its
//! kind, and the request is signed only if every bucket's decision permits.
//!
//! Pure: the trusted time and the ledger of past requests come in as
//! arguments. It does not authenticate anyone; callers pass identities they
//! verified.

#![warn(missing_docs)]

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

mod eval;

pub use eval::{check_approvals, evaluate, may_approve};

/// Who a condition or an approval requirement names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Principal {
    /// One user, by id.
    User(String),
    /// Everyone holding a role (`admin`, `initiator`, `approver`, …).
    Role(String),
}

/// Where a transfer may go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Destination {
    /// Any address.
    Any,
    /// One of these addresses (exact match).
    Addresses(Vec<String>),
    /// An address in one of these address-book groups.
    Groups(Vec<String>),
}

/// A UTC window: these weekdays (0 = Monday … 6 = Sunday), hours
/// `from_hour <= h < to_hour`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeWindow {
    /// Weekdays, 0 = Monday.
    pub weekdays: Vec<u8>,
    /// First hour (0–23).
    pub from_hour: u8,
    /// End hour, exclusive (1–24).
    pub to_hour: u8,
}

/// Whose transfers a velocity limit adds up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// The source wallet's transfers.
    Wallet,
    /// The initiator's transfers.
    Initiator,
}

/// Holds while the window's transfers of the same asset, plus this one,
/// stay within both limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Velocity {
    /// Whose transfers count.
    pub scope: Scope,
    /// Window length in seconds.
    pub window_secs: u64,
    /// Largest sum (base units, decimal string).
    pub max_sum: Option<String>,
    /// Largest number of transfers.
    pub max_count: Option<u64>,
}

/// What a matching rule decides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "type")]
pub enum Action {
    /// Sign.
    Allow,
    /// Never sign.
    Block,
    /// Sign after `count` approvals by `from` (never the initiator).
    Approve {
        /// Approvals needed.
        count: u32,
        /// Who may approve.
        from: Vec<Principal>,
    },
}

/// One rule; absent conditions match everything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// Name, for people and logs.
    pub name: String,
    /// Initiators it applies to.
    pub initiators: Option<Vec<Principal>>,
    /// Source wallets (ids).
    pub wallets: Option<Vec<String>>,
    /// Source wallet groups.
    pub wallet_groups: Option<Vec<String>>,
    /// Request kinds it applies to; absent: `transfer` and `psbt` only, so
    /// a message or blind digest matches only a rule that names it.
    #[serde(default)]
    pub kinds: Option<Vec<Kind>>,
    /// Destination condition; it must hold for every destination.
    pub destination: Option<Destination>,
    /// Chains (`ethereum`, `bitcoin`, `solana`).
    pub chains: Option<Vec<String>>,
    /// Assets (`native` or a token address).
    pub assets: Option<Vec<String>>,
    /// Smallest amount (base units, decimal string), inclusive.
    pub min_amount: Option<String>,
    /// Largest amount (base units, decimal string), inclusive.
    pub max_amount: Option<String>,
    /// When.
    pub window: Option<TimeWindow>,
    /// Rolling limits.
    pub velocity: Option<Velocity>,
    /// Decision.
    pub action: Action,
}

/// An ordered rule set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// Rules, first match wins.
    pub rules: Vec<Rule>,
}

/// Named groups of addresses (per chain) and of wallets; part of the
/// governance chain like the policy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressBook {
    /// Group → (chain, address) entries.
    pub groups: BTreeMap<String, Vec<(String, String)>>,
    /// Wallet group → wallet ids (what `wallet_groups` in rules names).
    #[serde(default)]
    pub wallet_groups: BTreeMap<String, Vec<String>>,
}

impl AddressBook {
    /// The groups `wallet` belongs to.
    pub fn groups_of_wallet(&self, wallet: &str) -> Vec<String> {
        self.wallet_groups
            .iter()
            .filter(|(_, ws)| ws.iter().any(|w| w == wallet))
            .map(|(g, _)| g.clone())
            .collect()
    }
}

/// What a request is, for policy: value-moving kinds (`transfer`, `psbt`)
/// share their asset buckets; `message` and `blind` move nothing a node can
/// see and match only rules that name them ([`Rule::kinds`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A transfer the nodes build from an intent.
    Transfer,
    /// A PSBT whose wallet inputs the nodes sign.
    Psbt,
    /// A domain-separated message (EIP-191, BIP-322, Solana off-chain).
    Message,
    /// A bare digest, on a wallet created for blind signing.
    Blind,
}

impl Kind {
    /// Whether policy sees the value it moves (transfers and PSBTs).
    pub fn moves_value(self) -> bool {
        matches!(self, Kind::Transfer | Kind::Psbt)
    }
}

/// What one request spends of one asset: its bucket. A transfer's maximum
/// fee counts in the native asset's bucket, so an ERC-20 transfer has two.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spend {
    /// `native` or the token address.
    pub asset: String,
    /// Base units (everything that may leave: amount plus maximum fee).
    pub amount: u128,
}

/// A request to decide on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// What kind of request.
    pub kind: Kind,
    /// Initiator's user id.
    pub initiator: String,
    /// Initiator's roles.
    pub roles: Vec<String>,
    /// Source wallet id.
    pub wallet: String,
    /// Groups of the source wallet.
    pub wallet_groups: Vec<String>,
    /// Chain (`ethereum`, `bitcoin`, `solana`); none for blind digests.
    pub chain: Option<String>,
    /// Every destination, in canonical form (a PSBT's non-change outputs).
    pub destinations: Vec<String>,
    /// One entry per asset bucket (merged per asset); empty for kinds that
    /// move no visible value.
    pub spends: Vec<Spend>,
}

/// A past signed request, for velocity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spent {
    /// When it was signed (Unix seconds).
    pub time: i64,
    /// Wallet.
    pub wallet: String,
    /// Initiator.
    pub initiator: String,
    /// Kind.
    pub kind: Kind,
    /// Chain.
    pub chain: Option<String>,
    /// Its buckets.
    pub spends: Vec<Spend>,
}

/// The decision for one bucket of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketDecision {
    /// The bucket's asset; `None` for a request that moves no visible value.
    pub asset: Option<String>,
    /// Index of the rule that matched; `None`: no rule, default deny.
    pub rule: Option<usize>,
    /// What to do.
    pub action: Action,
}

/// The outcome of [`evaluate`]: one decision per bucket, and the request
/// is signed only if every one of them permits it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Per bucket, in the request's order.
    pub buckets: Vec<BucketDecision>,
}

/// Why a policy or an approval set was refused.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// A rule is malformed.
    #[error("rule {rule}: {reason}")]
    Invalid {
        /// Rule index.
        rule: usize,
        /// What is wrong.
        reason: String,
    },
    /// A policy or address-book document does not decode.
    #[error("{what} document: {reason}")]
    Document {
        /// `policy` or `address book`.
        what: &'static str,
        /// The decoder's message.
        reason: String,
    },
    /// The decision does not permit signing.
    #[error("{0}")]
    Denied(&'static str),
    /// Not enough qualifying approvals.
    #[error("{have} of {need} required approvals")]
    NotEnoughApprovals {
        /// Qualifying approvals.
        have: usize,
        /// Required.
        need: usize,
    },
}

pub(crate) fn amount(s: &str, rule: usize) -> Result<u128, PolicyError> {
    s.trim().parse().map_err(|_| PolicyError::Invalid {
        rule,
        reason: format!("{s:?} is not an amount in base units"),
    })
}

impl Policy {
    /// Checks every rule once, so evaluation cannot meet a malformed one.
    pub fn validate(&self) -> Result<(), PolicyError> {
        for (i, r) in self.rules.iter().enumerate() {
            let bad = |reason: &str| PolicyError::Invalid {
                rule: i,
                reason: reason.to_owned(),
            };
            let min = r.min_amount.as_deref().map(|a| amount(a, i)).transpose()?;
            let max = r.max_amount.as_deref().map(|a| amount(a, i)).transpose()?;
            if let (Some(a), Some(b)) = (min, max) {
                if a > b {
                    return Err(bad("min_amount above max_amount"));
                }
            }
            if let Some(w) = &r.window {
                if w.weekdays.iter().any(|d| *d > 6) || w.from_hour >= w.to_hour || w.to_hour > 24 {
                    return Err(bad(
                        "window: weekdays 0-6 and 0 <= from_hour < to_hour <= 24",
                    ));
                }
            }
            if let Some(v) = &r.velocity {
                v.max_sum.as_deref().map(|a| amount(a, i)).transpose()?;
                if v.window_secs == 0 || (v.max_sum.is_none() && v.max_count.is_none()) {
                    return Err(bad("velocity needs a window and a limit"));
                }
            }
            if let Action::Approve { count, from } = &r.action {
                if *count == 0 || from.is_empty() {
                    return Err(bad("approvals need a count and who may approve"));
                }
            }
        }
        Ok(())
    }
}

/// The policy and address book as the governance chain stores them (JSON;
/// absent: no rules, so everything is denied, and an empty book), decoded
/// and validated the same way by every node and the server.
pub fn from_documents(
    policy: Option<&[u8]>,
    book: Option<&[u8]>,
) -> Result<(Policy, AddressBook), PolicyError> {
    let policy = match policy {
        Some(bytes) => {
            serde_json::from_slice::<Policy>(bytes).map_err(|e| PolicyError::Document {
                what: "policy",
                reason: e.to_string(),
            })?
        }
        None => Policy { rules: Vec::new() },
    };
    policy.validate()?;
    let book = match book {
        Some(bytes) => serde_json::from_slice(bytes).map_err(|e| PolicyError::Document {
            what: "address book",
            reason: e.to_string(),
        })?,
        None => AddressBook::default(),
    };
    Ok((policy, book))
}

/// One approver as the caller verified them: user id and roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approver {
    /// User id.
    pub user: String,
    /// Roles.
    pub roles: Vec<String>,
}
