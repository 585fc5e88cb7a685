//! A governance change as an admin reads it before signing: each change
//! against the state it applies to (users and roles, the quorum, policy
//! rules by name, address-book groups, blind wallets, committees), never
//! the raw bytes.

use std::collections::BTreeMap;

use custos_governance::{Change, State};
use serde_json::Value;

/// One line per effect of `changes` on `state`.
pub fn describe(state: &State, changes: &[Change]) -> Vec<String> {
    let mut out = Vec::new();
    for c in changes {
        match c {
            Change::AddUser { id, key, roles } => out.push(format!(
                "+ user {id} with roles {} (key {})",
                names(roles.iter().map(|r| r.name())),
                hex::encode(key)
            )),
            Change::RemoveUser { id } => out.push(format!(
                "- user {id} (roles {})",
                names(state.role_names(id))
            )),
            Change::Grant { id, role } => out.push(format!(
                "+ role {} for {id} (had {})",
                role.name(),
                names(state.role_names(id))
            )),
            Change::Revoke { id, role } => out.push(format!(
                "- role {} from {id} (had {})",
                role.name(),
                names(state.role_names(id))
            )),
            Change::RotateKey { id, key } => out.push(format!(
                "~ key of {id}: {} -> {}",
                state
                    .users
                    .get(id)
                    .map_or_else(|| "none".into(), |u| hex::encode(u.key)),
                hex::encode(key)
            )),
            Change::SetQuorum(q) => {
                out.push(format!("~ admin quorum: {} -> {q}", state.admin_quorum))
            }
            Change::SetPolicy(doc) => {
                documents(&mut out, "policy rule", state.policy.as_deref(), doc, |v| {
                    named_list(v, "rules")
                })
            }
            Change::SetAddressBook(doc) => documents(
                &mut out,
                "address group",
                state.address_book.as_deref(),
                doc,
                |v| {
                    let mut m = BTreeMap::new();
                    for key in ["groups", "wallet_groups"] {
                        if let Some(o) = v.get(key).and_then(Value::as_object) {
                            for (name, body) in o {
                                m.insert(format!("{key}.{name}"), body.clone());
                            }
                        }
                    }
                    (m.keys().cloned().collect(), m)
                },
            ),
            Change::AllowBlindWallet { wallet } => out.push(format!(
                "+ blind wallet {wallet} (its key will sign bare digests only)"
            )),
            Change::AddCommittee(c) => {
                out.push(format!(
                    "+ committee {} ({}-of-{})",
                    c.id,
                    c.threshold,
                    c.members.len()
                ));
                for m in &c.members {
                    out.push(format!(
                        "    {}: channel {} witness {} tls {}",
                        m.name,
                        hex::encode(m.channel_key),
                        hex::encode(m.witness_key),
                        hex::encode(m.tls_fingerprint)
                    ));
                }
            }
        }
    }
    out
}

fn names<S: AsRef<str>>(it: impl IntoIterator<Item = S>) -> String {
    let v: Vec<String> = it.into_iter().map(|s| s.as_ref().to_owned()).collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(",")
    }
}

/// A list of objects keyed by their `name`, in order.
fn named_list(v: &Value, key: &str) -> (Vec<String>, BTreeMap<String, Value>) {
    let mut order = Vec::new();
    let mut m = BTreeMap::new();
    for (i, item) in v
        .get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let base = item
            .get("name")
            .and_then(Value::as_str)
            .map_or_else(|| format!("#{i}"), str::to_owned);
        // Two rules of one name are two rules: neither hides the other.
        let mut name = base.clone();
        let mut k = 1;
        while m.contains_key(&name) {
            k += 1;
            name = format!("{base} ({k})");
        }
        order.push(name.clone());
        m.insert(name, item.clone());
    }
    (order, m)
}

/// Added, removed and changed entries between two JSON documents.
fn documents(
    out: &mut Vec<String>,
    what: &str,
    old: Option<&[u8]>,
    new: &[u8],
    entries: impl Fn(&Value) -> (Vec<String>, BTreeMap<String, Value>),
) {
    let parse = |b: &[u8]| serde_json::from_slice::<Value>(b).unwrap_or(Value::Null);
    let (old_order, old) = entries(&old.map(parse).unwrap_or(Value::Null));
    let (new_order, new) = entries(&parse(new));
    for name in &new_order {
        let Some(body) = new.get(name) else { continue };
        match old.get(name) {
            None => out.push(format!("+ {what} {name}: {body}")),
            Some(o) if o != body => out.push(format!("~ {what} {name}: {o} -> {body}")),
            Some(_) => {}
        }
    }
    for name in &old_order {
        if !new.contains_key(name) {
            out.push(format!("- {what} {name}"));
        }
    }
    let kept: Vec<&String> = old_order.iter().filter(|n| new.contains_key(*n)).collect();
    let kept_new: Vec<&String> = new_order.iter().filter(|n| old.contains_key(*n)).collect();
    if kept != kept_new {
        out.push(format!(
            "~ {what} order: {} -> {}",
            names(kept),
            names(kept_new)
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use custos_governance::Role;

    #[test]
    fn each_change_reads_as_its_effect() {
        let state = State {
            users: BTreeMap::new(),
            admin_quorum: 2,
            policy: Some(
                br#"{"rules":[{"name":"a","action":{"type":"allow"}},{"name":"b"}]}"#.to_vec(),
            ),
            address_book: None,
            blind_wallets: Default::default(),
            committees: BTreeMap::new(),
            demo: false,
        };
        let lines = describe(
            &state,
            &[
                Change::SetQuorum(3),
                Change::SetPolicy(
                    br#"{"rules":[{"name":"b"},{"name":"a","action":{"type":"deny"}},{"name":"c"}]}"#
                        .to_vec(),
                ),
                Change::Grant {
                    id: "ivy".into(),
                    role: Role::Initiator,
                },
            ],
        );
        assert_eq!(lines[0], "~ admin quorum: 2 -> 3");
        assert!(lines[1].starts_with("~ policy rule a: "), "{lines:?}");
        assert!(lines[2].starts_with("+ policy rule c: "), "{lines:?}");
        assert_eq!(lines[3], "~ policy rule order: a,b -> b,a");
        // A second rule of an existing name shows as what it is.
        let twice = describe(
            &state,
            &[Change::SetPolicy(
                br#"{"rules":[{"name":"a","action":{"type":"deny"}},{"name":"a","action":{"type":"allow"}},{"name":"b"}]}"#
                    .to_vec(),
            )],
        );
        assert!(twice[0].starts_with("~ policy rule a: "), "{twice:?}");
        assert!(twice[1].starts_with("+ policy rule a (2): "), "{twice:?}");
        assert_eq!(lines[4], "+ role initiator for ivy (had none)");
    }
}
