//! Evaluation: each bucket of a request against the ordered rules (first
//! match decides, none: deny), and approvals against every bucket's
//! decision.

use std::collections::BTreeSet;

use crate::{
    amount, Action, AddressBook, Approver, BucketDecision, Decision, Destination, Policy,
    PolicyError, Principal, Request, Rule, Scope, Spent,
};

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

/// One bucket of a request: the asset it spends (none for a kind that
/// moves no visible value) and how much.
struct Bucket<'a> {
    asset: Option<&'a str>,
    amount: u128,
}

/// Whether `destination` holds for every destination of `r` (a condition
/// other than `any` never holds for a request without destinations).
fn destinations_match(d: &Option<Destination>, book: &AddressBook, r: &Request) -> bool {
    let listed = |to: &String| match d {
        None | Some(Destination::Any) => true,
        Some(Destination::Addresses(a)) => a.contains(to),
        Some(Destination::Groups(groups)) => groups.iter().any(|g| {
            book.groups.get(g).is_some_and(|entries| {
                entries
                    .iter()
                    .any(|(c, a)| Some(c) == r.chain.as_ref() && a == to)
            })
        }),
    };
    match d {
        None | Some(Destination::Any) => true,
        Some(_) => !r.destinations.is_empty() && r.destinations.iter().all(listed),
    }
}

/// What earlier requests of `r`'s scope put in `b`'s bucket: value buckets
/// are (chain, asset) whatever the kind; a valueless request counts the
/// earlier requests of its kind and chain.
fn counts_in_bucket(s: &Spent, r: &Request, b: &Bucket) -> Option<u128> {
    if s.chain != r.chain {
        return None;
    }
    match b.asset {
        Some(asset) => s.spends.iter().find(|x| x.asset == asset).map(|x| x.amount),
        None => (s.kind == r.kind).then_some(0),
    }
}

fn rule_matches(
    rule: &Rule,
    index: usize,
    book: &AddressBook,
    r: &Request,
    b: &Bucket,
    now: i64,
    ledger: &[Spent],
) -> Result<bool, PolicyError> {
    let kind_ok = match &rule.kinds {
        Some(kinds) => kinds.contains(&r.kind),
        None => r.kind.moves_value(),
    };
    if !kind_ok {
        return Ok(false);
    }
    if let Some(initiators) = &rule.initiators {
        if !initiators
            .iter()
            .any(|p| principal_matches(p, &r.initiator, &r.roles))
        {
            return Ok(false);
        }
    }
    let listed = |list: &Option<Vec<String>>, value: Option<&str>| match list {
        None => true,
        Some(l) => value.is_some_and(|v| l.iter().any(|x| x == v)),
    };
    if !listed(&rule.wallets, Some(&r.wallet))
        || !listed(&rule.chains, r.chain.as_deref())
        || !listed(&rule.assets, b.asset)
    {
        return Ok(false);
    }
    if let Some(groups) = &rule.wallet_groups {
        if !groups.iter().any(|g| r.wallet_groups.contains(g)) {
            return Ok(false);
        }
    }
    if !destinations_match(&rule.destination, book, r) {
        return Ok(false);
    }
    if let Some(min) = &rule.min_amount {
        if b.amount < amount(min, index)? {
            return Ok(false);
        }
    }
    if let Some(max) = &rule.max_amount {
        if b.amount > amount(max, index)? {
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
        let (mut sum, mut count) = (b.amount, 1u64);
        // Records stamped after `now` count too: a clock set back must not
        // hide recent signings.
        for s in ledger.iter().filter(|s| {
            s.time > since
                && match v.scope {
                    Scope::Wallet => s.wallet == r.wallet,
                    Scope::Initiator => s.initiator == r.initiator,
                }
        }) {
            if let Some(a) = counts_in_bucket(s, r, b) {
                sum = sum.saturating_add(a);
                count = count.saturating_add(1);
            }
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

/// Decides each bucket of `request`: the first rule whose every condition
/// holds for it decides; none: deny.
pub fn evaluate(
    policy: &Policy,
    book: &AddressBook,
    request: &Request,
    now: i64,
    ledger: &[Spent],
) -> Result<Decision, PolicyError> {
    let buckets: Vec<Bucket> = if request.spends.is_empty() {
        vec![Bucket {
            asset: None,
            amount: 0,
        }]
    } else {
        request
            .spends
            .iter()
            .map(|s| Bucket {
                asset: Some(&s.asset),
                amount: s.amount,
            })
            .collect()
    };
    let mut out = Vec::with_capacity(buckets.len());
    for b in &buckets {
        let mut decided = BucketDecision {
            asset: b.asset.map(str::to_owned),
            rule: None,
            action: Action::Block,
        };
        for (i, rule) in policy.rules.iter().enumerate() {
            if rule_matches(rule, i, book, request, b, now, ledger)? {
                decided.rule = Some(i);
                decided.action = rule.action.clone();
                break;
            }
        }
        out.push(decided);
    }
    Ok(Decision { buckets: out })
}

impl Decision {
    /// The strictest bucket: a block if any bucket blocks, else the
    /// approval requirement of the bucket that asks most, else allow.
    pub fn strictest(&self) -> Option<&BucketDecision> {
        let rank = |b: &BucketDecision| match &b.action {
            Action::Block => u64::MAX,
            Action::Approve { count, .. } => u64::from(*count),
            Action::Allow => 0,
        };
        self.buckets.iter().max_by_key(|b| rank(b))
    }

    /// For people: each bucket's action and rule name, e.g. `approve 2
    /// (native: large ether)`.
    pub fn describe(&self) -> String {
        let one = |b: &BucketDecision| {
            let action = match &b.action {
                Action::Allow => "allow".to_owned(),
                Action::Block => "block".to_owned(),
                Action::Approve { count, .. } => format!("approve {count}"),
            };
            match b.asset.as_deref() {
                Some(asset) if self.buckets.len() > 1 => format!("{asset}: {action}"),
                _ => action,
            }
        };
        self.buckets.iter().map(one).collect::<Vec<_>>().join("; ")
    }

    /// Names of the rules that decided, in bucket order, deduplicated.
    pub fn rule_names(&self, policy: &Policy) -> Option<String> {
        let mut names: Vec<String> = Vec::new();
        for b in &self.buckets {
            if let Some(r) = b.rule.and_then(|i| policy.rules.get(i)) {
                if !names.contains(&r.name) {
                    names.push(r.name.clone());
                }
            }
        }
        (!names.is_empty()).then(|| names.join("; "))
    }
}

/// Whether `approver` counts towards some bucket of `decision` for a
/// request started by `initiator`: named (or holding a named role) and not
/// the initiator.
pub fn may_approve(decision: &Decision, initiator: &str, approver: &Approver) -> bool {
    approver.user != initiator
        && decision.buckets.iter().any(|b| match &b.action {
            Action::Approve { from, .. } => from
                .iter()
                .any(|p| principal_matches(p, &approver.user, &approver.roles)),
            Action::Allow | Action::Block => false,
        })
}

/// Whether `decision` permits signing with these `approvals` for a request
/// started by `initiator`: every bucket must allow, or have its own count of
/// approvals from users its rule names; the initiator never counts and each
/// user counts once per bucket.
pub fn check_approvals(
    decision: &Decision,
    initiator: &str,
    approvals: &[Approver],
) -> Result<(), PolicyError> {
    for b in &decision.buckets {
        match &b.action {
            Action::Allow => {}
            Action::Block => {
                return Err(PolicyError::Denied(match b.rule {
                    Some(_) => "a policy rule blocks this request",
                    None => "no policy rule matches (default deny)",
                }))
            }
            Action::Approve { count, from } => {
                let qualified: BTreeSet<&str> = approvals
                    .iter()
                    .filter(|a| {
                        a.user != initiator
                            && from.iter().any(|p| principal_matches(p, &a.user, &a.roles))
                    })
                    .map(|a| a.user.as_str())
                    .collect();
                let need = usize::try_from(*count).unwrap_or(usize::MAX);
                if qualified.len() < need {
                    return Err(PolicyError::NotEnoughApprovals {
                        have: qualified.len(),
                        need,
                    });
                }
            }
        }
    }
    Ok(())
}
