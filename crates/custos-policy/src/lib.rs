//! # custos-policy
//!
//! An ordered list of rules; the first rule whose every condition holds
//! decides; no match means **deny**. Conditions: initiator (user or role),
//! source wallet or wallet group, destination (exact address, address-book
//! group, or any), chain and asset, amount per transfer (base units), a UTC
//! time window, and rolling velocity (sum and count per wallet or per
//! initiator over a window, including this transfer). Decisions: allow,
//! block, or require `k` approvals from named users or roles — never the
//! initiator, one per user ([`check_approvals`]).
//!
//! Pure: the trusted time and the ledger of past transfers come in as
//! arguments. It does not authenticate anyone; callers pass identities they
//! verified.

#![warn(missing_docs)]

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

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
    /// Destination condition.
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

/// A transfer to decide on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    /// Initiator's user id.
    pub initiator: String,
    /// Initiator's roles.
    pub roles: Vec<String>,
    /// Source wallet id.
    pub wallet: String,
    /// Groups of the source wallet.
    pub wallet_groups: Vec<String>,
    /// Chain.
    pub chain: String,
    /// `native` or the token address.
    pub asset: String,
    /// Recipient address.
    pub destination: String,
    /// Amount in base units.
    pub amount: u128,
}

/// A past signed transfer, for velocity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spent {
    /// When it was signed (Unix seconds).
    pub time: i64,
    /// Wallet.
    pub wallet: String,
    /// Initiator.
    pub initiator: String,
    /// Chain.
    pub chain: String,
    /// Asset.
    pub asset: String,
    /// Amount.
    pub amount: u128,
}

/// The outcome of [`evaluate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Index of the rule that matched; `None`: no rule, default deny.
    pub rule: Option<usize>,
    /// What to do.
    pub action: Action,
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

fn amount(s: &str, rule: usize) -> Result<u128, PolicyError> {
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

fn principal_matches(p: &Principal, user: &str, roles: &[String]) -> bool {
    match p {
        Principal::User(u) => u == user,
        Principal::Role(r) => roles.iter().any(|x| x == r),
    }
}

/// 0 = Monday, and the UTC hour, of Unix time `t`.
fn weekday_hour(t: i64) -> (u8, u8) {
    let days = t.div_euclid(86_400);
    // 1970-01-01 was a Thursday (3).
    let weekday = (days + 3).rem_euclid(7) as u8;
    let hour = (t.rem_euclid(86_400) / 3_600) as u8;
    (weekday, hour)
}

fn rule_matches(
    rule: &Rule,
    index: usize,
    book: &AddressBook,
    t: &Transfer,
    now: i64,
    ledger: &[Spent],
) -> Result<bool, PolicyError> {
    let any = |list: &Option<Vec<String>>, value: &str| {
        list.as_ref().is_none_or(|l| l.iter().any(|x| x == value))
    };
    if let Some(initiators) = &rule.initiators {
        if !initiators
            .iter()
            .any(|p| principal_matches(p, &t.initiator, &t.roles))
        {
            return Ok(false);
        }
    }
    if !any(&rule.wallets, &t.wallet)
        || !any(&rule.chains, &t.chain)
        || !any(&rule.assets, &t.asset)
    {
        return Ok(false);
    }
    if let Some(groups) = &rule.wallet_groups {
        if !groups.iter().any(|g| t.wallet_groups.contains(g)) {
            return Ok(false);
        }
    }
    match &rule.destination {
        None | Some(Destination::Any) => {}
        Some(Destination::Addresses(a)) => {
            if !a.contains(&t.destination) {
                return Ok(false);
            }
        }
        Some(Destination::Groups(groups)) => {
            let listed = groups.iter().any(|g| {
                book.groups.get(g).is_some_and(|entries| {
                    entries
                        .iter()
                        .any(|(c, a)| *c == t.chain && *a == t.destination)
                })
            });
            if !listed {
                return Ok(false);
            }
        }
    }
    if let Some(min) = &rule.min_amount {
        if t.amount < amount(min, index)? {
            return Ok(false);
        }
    }
    if let Some(max) = &rule.max_amount {
        if t.amount > amount(max, index)? {
            return Ok(false);
        }
    }
    if let Some(w) = &rule.window {
        let (day, hour) = weekday_hour(now);
        if !w.weekdays.contains(&day) || hour < w.from_hour || hour >= w.to_hour {
            return Ok(false);
        }
    }
    if let Some(v) = &rule.velocity {
        let since = now.saturating_sub(i64::try_from(v.window_secs).unwrap_or(i64::MAX));
        let counted = ledger.iter().filter(|s| {
            // Records stamped after `now` count too: a clock set back must
            // not hide recent signings.
            s.time > since
                && s.chain == t.chain
                && s.asset == t.asset
                && match v.scope {
                    Scope::Wallet => s.wallet == t.wallet,
                    Scope::Initiator => s.initiator == t.initiator,
                }
        });
        let (mut sum, mut count) = (t.amount, 1u64);
        for s in counted {
            sum = sum.saturating_add(s.amount);
            count = count.saturating_add(1);
        }
        if let Some(max) = &v.max_sum {
            if sum > amount(max, index)? {
                return Ok(false);
            }
        }
        if v.max_count.is_some_and(|m| count > m) {
            return Ok(false);
        }
    }
    Ok(true)
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

/// The first rule whose every condition holds decides; none: deny.
pub fn evaluate(
    policy: &Policy,
    book: &AddressBook,
    transfer: &Transfer,
    now: i64,
    ledger: &[Spent],
) -> Result<Decision, PolicyError> {
    for (i, rule) in policy.rules.iter().enumerate() {
        if rule_matches(rule, i, book, transfer, now, ledger)? {
            return Ok(Decision {
                rule: Some(i),
                action: rule.action.clone(),
            });
        }
    }
    Ok(Decision {
        rule: None,
        action: Action::Block,
    })
}

/// One approver as the caller verified them: user id and roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approver {
    /// User id.
    pub user: String,
    /// Roles.
    pub roles: Vec<String>,
}

/// Whether `approver` counts towards `decision` for a transfer started by
/// `initiator`: named (or holding a named role) and not the initiator.
pub fn may_approve(decision: &Decision, initiator: &str, approver: &Approver) -> bool {
    match &decision.action {
        Action::Approve { from, .. } => {
            approver.user != initiator
                && from
                    .iter()
                    .any(|p| principal_matches(p, &approver.user, &approver.roles))
        }
        Action::Allow | Action::Block => false,
    }
}

/// Whether `decision` permits signing with these `approvals` for a transfer
/// started by `initiator`: the initiator never counts, each user counts once,
/// and only users named (or holding a role named) by the rule count.
pub fn check_approvals(
    decision: &Decision,
    initiator: &str,
    approvals: &[Approver],
) -> Result<(), PolicyError> {
    match &decision.action {
        Action::Allow => Ok(()),
        Action::Block => Err(PolicyError::Denied(match decision.rule {
            Some(_) => "a policy rule blocks this transfer",
            None => "no policy rule matches (default deny)",
        })),
        Action::Approve { count, .. } => {
            let qualified: BTreeSet<&str> = approvals
                .iter()
                .filter(|a| may_approve(decision, initiator, a))
                .map(|a| a.user.as_str())
                .collect();
            let need = usize::try_from(*count).unwrap_or(usize::MAX);
            if qualified.len() >= need {
                Ok(())
            } else {
                Err(PolicyError::NotEnoughApprovals {
                    have: qualified.len(),
                    need,
                })
            }
        }
    }
}
