//! First match, default deny, every condition, and segregation of duties.

// Tests may unwrap, index and panic (the workspace denies these elsewhere;
// clippy's allow-*-in-tests covers only #[test] functions, not helpers).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use custos_policy::{
    check_approvals, evaluate, Action, AddressBook, Approver, BucketDecision, Decision, Kind,
    Policy, PolicyError, Principal, Request, Spend, Spent,
};
use proptest::prelude::*;

const MONDAY_1030: i64 = 1_795_429_800; // 2026-11-23T10:30:00Z
const SATURDAY_1030: i64 = 1_795_861_800; // 2026-11-28T10:30:00Z
const TUESDAY_0859: i64 = 1_795_510_799; // 2026-11-24T08:59:59Z

fn policy() -> Policy {
    // As an operator writes it.
    let p: Policy = serde_json::from_str(
        r#"{"rules": [
        {"name": "never to sanctioned", "destination": {"groups": ["sanctioned"]},
         "action": {"type": "block"}},
        {"name": "small to exchanges", "initiators": [{"role": "initiator"}],
         "destination": {"groups": ["exchanges"]}, "chains": ["ethereum"], "assets": ["native"],
         "max_amount": "1000000000000000000",
         "velocity": {"scope": "wallet", "window_secs": 86400, "max_sum": "2000000000000000000", "max_count": 3},
         "action": {"type": "allow"}},
        {"name": "office hours, two approvers", "window": {"weekdays": [0,1,2,3,4], "from_hour": 9, "to_hour": 17},
         "action": {"type": "approve", "count": 2, "from": [{"role": "approver"}, {"user": "cfo"}]}}
    ]}"#,
    )
    .unwrap();
    p.validate().unwrap();
    p
}

fn book() -> AddressBook {
    let mut b = AddressBook::default();
    b.groups.insert(
        "exchanges".into(),
        vec![("ethereum".into(), "0xEXCH".into())],
    );
    b.groups.insert(
        "sanctioned".into(),
        vec![("ethereum".into(), "0xBAD".into())],
    );
    b
}

fn transfer(to: &str, amount: u128) -> Request {
    Request {
        kind: Kind::Transfer,
        initiator: "alice".into(),
        roles: vec!["initiator".into()],
        wallet: "w1".into(),
        wallet_groups: vec![],
        chain: Some("ethereum".into()),
        destinations: vec![to.into()],
        spends: vec![Spend {
            asset: "native".into(),
            amount,
        }],
    }
}

fn spent(time: i64, amount: u128) -> Spent {
    Spent {
        time,
        wallet: "w1".into(),
        initiator: "bob".into(),
        kind: Kind::Transfer,
        chain: Some("ethereum".into()),
        spends: vec![Spend {
            asset: "native".into(),
            amount,
        }],
    }
}

/// A one-bucket decision (what most tests decide).
fn one(rule: Option<usize>, action: Action) -> Decision {
    Decision {
        buckets: vec![BucketDecision {
            asset: Some("native".into()),
            rule,
            action,
        }],
    }
}

const ETH: u128 = 1_000_000_000_000_000_000;

#[test]
fn first_match_wins_and_default_denies() {
    let (p, b) = (policy(), book());
    let d = evaluate(&p, &b, &transfer("0xBAD", 1), MONDAY_1030, &[]).unwrap();
    assert_eq!(
        (d.buckets[0].rule, d.buckets[0].action.clone()),
        (Some(0), Action::Block)
    );
    let d = evaluate(&p, &b, &transfer("0xEXCH", ETH / 2), MONDAY_1030, &[]).unwrap();
    assert_eq!(
        (d.buckets[0].rule, d.buckets[0].action.clone()),
        (Some(1), Action::Allow)
    );
    // Too large for rule 1: falls to the approval rule in office hours...
    let d = evaluate(&p, &b, &transfer("0xEXCH", 2 * ETH), MONDAY_1030, &[]).unwrap();
    assert_eq!(d.buckets[0].rule, Some(2));
    // ...and to the default deny outside them (weekend, before 9:00).
    for t in [SATURDAY_1030, TUESDAY_0859] {
        let d = evaluate(&p, &b, &transfer("0xEXCH", 2 * ETH), t, &[]).unwrap();
        assert_eq!(
            (d.buckets[0].rule, &d.buckets[0].action),
            (None, &Action::Block)
        );
        assert_eq!(
            check_approvals(&d, "alice", &[]).unwrap_err(),
            PolicyError::Denied("no policy rule matches (default deny)")
        );
    }
    // An empty policy denies everything.
    let empty = Policy { rules: vec![] };
    assert_eq!(
        evaluate(&empty, &b, &transfer("0xEXCH", 1), MONDAY_1030, &[])
            .unwrap()
            .buckets[0]
            .rule,
        None
    );
    // Rule 1 is for initiators only.
    let mut t = transfer("0xEXCH", 1);
    t.roles = vec!["viewer".into()];
    assert_eq!(
        evaluate(&p, &b, &t, MONDAY_1030, &[]).unwrap().buckets[0].rule,
        Some(2)
    );
}

#[test]
fn velocity_counts_the_window_and_this_transfer() {
    let (p, b) = (policy(), book());
    let t = transfer("0xEXCH", ETH / 2);
    let day = 86_400;
    // 1.5 ETH in the last day + 0.5 now = 2 ETH: still allowed.
    let ledger = [
        spent(MONDAY_1030 - 100, ETH),
        spent(MONDAY_1030 - 200, ETH / 2),
    ];
    assert_eq!(
        evaluate(&p, &b, &t, MONDAY_1030, &ledger).unwrap().buckets[0].rule,
        Some(1)
    );
    // One wei more: over the sum, falls through.
    let mut more = t.clone();
    more.spends[0].amount += 1;
    assert_eq!(
        evaluate(&p, &b, &more, MONDAY_1030, &ledger)
            .unwrap()
            .buckets[0]
            .rule,
        Some(2)
    );
    // Count: three earlier transfers in the window make this the fourth.
    let many = [
        spent(MONDAY_1030 - 1, 1),
        spent(MONDAY_1030 - 2, 1),
        spent(MONDAY_1030 - 3, 1),
    ];
    assert_eq!(
        evaluate(&p, &b, &t, MONDAY_1030, &many).unwrap().buckets[0].rule,
        Some(2)
    );
    // Outside the window they do not count; other assets do not count.
    let old = [spent(MONDAY_1030 - day - 1, 10 * ETH)];
    assert_eq!(
        evaluate(&p, &b, &t, MONDAY_1030, &old).unwrap().buckets[0].rule,
        Some(1)
    );
    let mut token = spent(MONDAY_1030 - 5, 10 * ETH);
    token.spends[0].asset = "0xTOKEN".into();
    assert_eq!(
        evaluate(&p, &b, &t, MONDAY_1030, &[token]).unwrap().buckets[0].rule,
        Some(1)
    );
}

#[test]
fn approvals_never_count_the_initiator_or_anyone_twice() {
    let d = one(
        Some(2),
        Action::Approve {
            count: 2,
            from: vec![
                Principal::Role("approver".into()),
                Principal::User("cfo".into()),
            ],
        },
    );
    let a = |user: &str, role: &str| Approver {
        user: user.into(),
        roles: vec![role.into()],
    };
    // The initiator holds the approver role too: does not count.
    assert_eq!(
        check_approvals(&d, "alice", &[a("alice", "approver"), a("bob", "approver")]).unwrap_err(),
        PolicyError::NotEnoughApprovals { have: 1, need: 2 }
    );
    // Bob twice is one approval.
    assert!(check_approvals(&d, "alice", &[a("bob", "approver"), a("bob", "approver")]).is_err());
    // A viewer does not qualify; the CFO does by name.
    assert!(check_approvals(&d, "alice", &[a("bob", "approver"), a("vic", "viewer")]).is_err());
    assert!(check_approvals(&d, "alice", &[a("bob", "approver"), a("cfo", "viewer")]).is_ok());
    // Block is final whatever the approvals.
    let blocked = one(Some(0), Action::Block);
    assert!(check_approvals(&blocked, "alice", &[a("bob", "approver"), a("cfo", "x")]).is_err());
}

#[test]
fn malformed_rules_are_refused() {
    let bad = [
        r#"{"rules":[{"name":"x","min_amount":"5","max_amount":"4","action":{"type":"allow"}}]}"#,
        r#"{"rules":[{"name":"x","max_amount":"-1","action":{"type":"allow"}}]}"#,
        r#"{"rules":[{"name":"x","window":{"weekdays":[7],"from_hour":0,"to_hour":24},"action":{"type":"allow"}}]}"#,
        r#"{"rules":[{"name":"x","window":{"weekdays":[1],"from_hour":9,"to_hour":9},"action":{"type":"allow"}}]}"#,
        r#"{"rules":[{"name":"x","velocity":{"scope":"wallet","window_secs":60},"action":{"type":"allow"}}]}"#,
        r#"{"rules":[{"name":"x","action":{"type":"approve","count":0,"from":[{"role":"approver"}]}}]}"#,
    ];
    for text in bad {
        let p: Policy = serde_json::from_str(text).unwrap();
        assert!(
            matches!(p.validate(), Err(PolicyError::Invalid { rule: 0, .. })),
            "{text}"
        );
    }
}

proptest! {
    #[test]
    fn a_leading_catch_all_block_always_wins(amount: u128, now in 0i64..4_000_000_000, to in "[a-z0-9]{1,12}") {
        let mut p = policy();
        p.rules.insert(0, serde_json::from_str(r#"{"name":"freeze","action":{"type":"block"}}"#).unwrap());
        let d = evaluate(&p, &book(), &transfer(&to, amount), now, &[]).unwrap();
        prop_assert_eq!((d.buckets[0].rule, d.buckets[0].action.clone()), (Some(0), Action::Block));
    }

    #[test]
    fn without_a_matching_rule_nothing_is_allowed(amount in (3 * ETH)..u128::MAX, now in 0i64..4_000_000_000) {
        // Rules 0 and 1 cannot match (destination, amount); rule 2 only in office hours.
        let d = evaluate(&policy(), &book(), &transfer("0xELSEWHERE", amount), now, &[]).unwrap();
        let b = &d.buckets[0];
        prop_assert!(b.rule == Some(2) || (b.rule.is_none() && b.action == Action::Block));
        prop_assert!(check_approvals(&d, "alice", &[]).is_err());
    }
}

/// A random rule over a small space of values, so rules often overlap.
fn rule_strategy() -> impl Strategy<Value = custos_policy::Rule> {
    let opt_list = |xs: &'static [&'static str]| {
        proptest::option::of(proptest::sample::subsequence(xs.to_vec(), 1..=xs.len()))
            .prop_map(|o| o.map(|v| v.into_iter().map(String::from).collect::<Vec<_>>()))
    };
    (
        opt_list(&["w1", "w2"]),
        opt_list(&["ethereum", "solana"]),
        opt_list(&["native", "0xTOKEN"]),
        proptest::option::of(0u128..2000),
        proptest::option::of(0u128..2000),
        proptest::option::of((0u8..7, 0u8..23)),
        0u8..3,
    )
        .prop_map(
            |(wallets, chains, assets, min, max, window, action)| custos_policy::Rule {
                name: "r".into(),
                kinds: None,
                initiators: None,
                wallets,
                wallet_groups: None,
                destination: None,
                chains,
                assets,
                min_amount: min.map(|m| m.to_string()),
                max_amount: max.map(|m| m.max(min.unwrap_or(0)).to_string()),
                window: window.map(|(d, h)| custos_policy::TimeWindow {
                    weekdays: vec![d],
                    from_hour: h,
                    to_hour: h + 1,
                }),
                velocity: None,
                action: match action {
                    0 => Action::Allow,
                    1 => Action::Block,
                    _ => Action::Approve {
                        count: 1,
                        from: vec![Principal::Role("approver".into())],
                    },
                },
            },
        )
}

fn transfer_strategy() -> impl Strategy<Value = Request> {
    (
        prop_oneof![Just("w1"), Just("w2"), Just("w3")],
        prop_oneof![Just("ethereum"), Just("solana"), Just("bitcoin")],
        prop_oneof![Just("native"), Just("0xTOKEN")],
        0u128..2500,
    )
        .prop_map(|(w, c, a, amount)| Request {
            kind: Kind::Transfer,
            initiator: "alice".into(),
            roles: vec!["initiator".into()],
            wallet: w.into(),
            wallet_groups: vec![],
            chain: Some(c.into()),
            destinations: vec!["0xANY".into()],
            spends: vec![Spend {
                asset: a.into(),
                amount,
            }],
        })
}

proptest! {
    #[test]
    fn the_first_rule_that_matches_alone_decides_and_none_means_deny(
        rules in proptest::collection::vec(rule_strategy(), 0..8),
        t in transfer_strategy(),
        now in 0i64..4_000_000_000,
    ) {
        let p = Policy { rules };
        p.validate().unwrap();
        let d = evaluate(&p, &AddressBook::default(), &t, now, &[]).unwrap();
        // Each rule on its own: the decision is the first that matches.
        let first = p.rules.iter().position(|r| {
            let alone = Policy { rules: vec![r.clone()] };
            evaluate(&alone, &AddressBook::default(), &t, now, &[]).unwrap().buckets[0].rule == Some(0)
        });
        prop_assert_eq!(d.buckets[0].rule, first);
        match first {
            Some(i) => prop_assert_eq!(&d.buckets[0].action, &p.rules[i].action),
            None => prop_assert_eq!(&d.buckets[0].action, &Action::Block),
        }
    }

    #[test]
    fn adding_an_approval_never_turns_an_allow_into_a_block(
        rules in proptest::collection::vec(rule_strategy(), 0..8),
        t in transfer_strategy(),
        now in 0i64..4_000_000_000,
        approvers in proptest::collection::vec((0u8..5, proptest::bool::ANY), 0..5),
        extra in (0u8..5, proptest::bool::ANY),
    ) {
        let p = Policy { rules };
        let d = evaluate(&p, &AddressBook::default(), &t, now, &[]).unwrap();
        let who = |(u, approver): (u8, bool)| Approver {
            user: if u == 0 { "alice".into() } else { format!("user{u}") },
            roles: if approver { vec!["approver".into()] } else { vec!["viewer".into()] },
        };
        let mut list: Vec<Approver> = approvers.into_iter().map(who).collect();
        let before = check_approvals(&d, "alice", &list).is_ok();
        list.push(who(extra));
        let after = check_approvals(&d, "alice", &list).is_ok();
        prop_assert!(!before || after, "an approval withdrew permission");
    }

    #[test]
    fn velocity_window_edges(window in 1u64..100_000, now in 200_000i64..4_000_000_000, amount in 1u128..1000) {
        // Limit: one earlier transfer of `amount` plus this one.
        let limit = 2 * amount;
        let p: Policy = serde_json::from_str(&format!(
            r#"{{"rules":[{{"name":"v","velocity":{{"scope":"wallet","window_secs":{window},"max_sum":"{limit}"}},"action":{{"type":"allow"}}}}]}}"#
        )).unwrap();
        let w = window as i64;
        let allowed = |spent_at: &[i64]| {
            let ledger: Vec<Spent> = spent_at.iter().map(|&t| spent(t, amount)).collect();
            evaluate(&p, &AddressBook::default(), &transfer("0xX", amount), now, &ledger)
                .unwrap()
                .buckets[0]
                .rule
                .is_some()
        };
        // Within (now - window, now] counts; at now - window it has left.
        prop_assert!(allowed(&[now - w]));
        prop_assert!(allowed(&[now - w + 1]));
        prop_assert!(!allowed(&[now - w + 1, now]));
        prop_assert!(!allowed(&[now - w + 1, now - w + 1]));
        prop_assert!(allowed(&[now - w, now - w - 5]));
        // Records stamped after `now` (a clock set back) still count.
        prop_assert!(!allowed(&[now + 1, now + 1]));
        prop_assert!(allowed(&[now + 1]));
    }
}

#[test]
fn wallet_groups_come_from_the_address_book() {
    let book: AddressBook =
        serde_json::from_str(r#"{"groups": {}, "wallet_groups": {"treasury": ["w1", "w9"]}}"#)
            .unwrap();
    assert_eq!(book.groups_of_wallet("w1"), ["treasury"]);
    assert!(book.groups_of_wallet("w2").is_empty());
    let p: Policy = serde_json::from_str(
        r#"{"rules": [{"name": "treasury", "wallet_groups": ["treasury"], "action": {"type": "allow"}}]}"#,
    )
    .unwrap();
    for (wallet, allowed) in [("w1", true), ("w2", false)] {
        let mut t = transfer("0xX", 1);
        t.wallet = wallet.into();
        t.wallet_groups = book.groups_of_wallet(wallet);
        let d = evaluate(&p, &book, &t, MONDAY_1030, &[]).unwrap();
        assert_eq!(d.buckets[0].action == Action::Allow, allowed, "{wallet}");
    }
}

proptest! {
    /// One bucket per asset: a request spending two assets is decided per
    /// bucket exactly as two one-asset requests would be, and is signed
    /// only if both of those would be.
    #[test]
    fn each_bucket_is_decided_alone_and_all_must_permit(
        rules in proptest::collection::vec(rule_strategy(), 0..8),
        t in transfer_strategy(),
        fee in 0u128..2500,
        now in 0i64..4_000_000_000,
    ) {
        let p = Policy { rules };
        let book = AddressBook::default();
        let mut both = t.clone();
        let other = if t.spends[0].asset == "native" { "0xTOKEN" } else { "native" };
        both.spends.push(Spend { asset: other.into(), amount: fee });
        let mut alone = t.clone();
        alone.spends = vec![Spend { asset: other.into(), amount: fee }];
        let d = evaluate(&p, &book, &both, now, &[]).unwrap();
        let d0 = evaluate(&p, &book, &t, now, &[]).unwrap();
        let d1 = evaluate(&p, &book, &alone, now, &[]).unwrap();
        prop_assert_eq!(&d.buckets[0], &d0.buckets[0]);
        prop_assert_eq!(&d.buckets[1], &d1.buckets[0]);
        let ok = |d: &Decision| check_approvals(d, "alice", &[]).is_ok();
        prop_assert_eq!(ok(&d), ok(&d0) && ok(&d1));
    }

    /// Messages and blind digests never match a rule that does not name
    /// their kind, whatever else it says.
    #[test]
    fn valueless_kinds_match_only_rules_that_name_them(
        rules in proptest::collection::vec(rule_strategy(), 0..8),
        blind: bool,
        now in 0i64..4_000_000_000,
    ) {
        let p = Policy { rules };
        let r = Request {
            kind: if blind { Kind::Blind } else { Kind::Message },
            initiator: "alice".into(),
            roles: vec!["initiator".into()],
            wallet: "w1".into(),
            wallet_groups: vec![],
            chain: (!blind).then(|| "ethereum".to_owned()),
            destinations: vec![],
            spends: vec![],
        };
        let d = evaluate(&p, &AddressBook::default(), &r, now, &[]).unwrap();
        prop_assert_eq!(d.buckets.len(), 1);
        prop_assert_eq!(d.buckets[0].rule, None);
        prop_assert!(check_approvals(&d, "alice", &[]).is_err());
    }
}

#[test]
fn a_destination_rule_holds_only_if_every_destination_is_listed() {
    let p: Policy = serde_json::from_str(
        r#"{"rules": [{"name": "vault only", "destination": {"addresses": ["0xA", "0xB"]}, "action": {"type": "allow"}}]}"#,
    )
    .unwrap();
    let mut t = transfer("0xA", 1);
    t.destinations = vec!["0xA".into(), "0xB".into()];
    let allowed = |t: &Request| {
        evaluate(&p, &AddressBook::default(), t, MONDAY_1030, &[])
            .unwrap()
            .buckets[0]
            .rule
            .is_some()
    };
    assert!(allowed(&t));
    t.destinations.push("0xC".into());
    assert!(!allowed(&t));
    t.destinations.clear();
    assert!(
        !allowed(&t),
        "no destination is not every destination listed"
    );
}
