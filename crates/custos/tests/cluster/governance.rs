//! Users and policy through governance, and the audit export verified
//! offline with every corruption named.

use super::*;

/// Policy of the scenario: large ether transfers need two approvers;
/// bitcoin is limited to 240 000 sat per initiator per hour; other
/// transfers, raw signings and PSBTs by initiators are allowed; anything
/// else is denied.
pub(crate) const POLICY: &str = r#"{"rules":[
  {"name":"large-ether","chains":["ethereum"],"assets":["native"],"min_amount":"5000000000000000",
   "action":{"type":"approve","count":2,"from":[{"role":"approver"}]}},
  {"name":"bitcoin-velocity","initiators":[{"role":"initiator"}],"chains":["bitcoin-regtest"],
   "velocity":{"scope":"wallet","window_secs":3600,"max_sum":"250000"},"action":{"type":"allow"}},
  {"name":"initiators","initiators":[{"role":"initiator"}],
   "chains":["ethereum","solana"],"action":{"type":"allow"}},
  {"name":"messages","initiators":[{"role":"initiator"}],"kinds":["message"],"action":{"type":"allow"}},
  {"name":"blind digests","kinds":["blind"],
   "action":{"type":"approve","count":1,"from":[{"role":"approver"}]}}
]}"#;

impl Cluster {
    pub(crate) fn key(&self, user: &str) -> String {
        self.data.join(format!("{user}.key")).display().to_string()
    }
}

/// Users (initiator ivy, approvers ann and bob, viewer vic) and the policy,
/// added by the demo admin of `custos up` (admin quorum 1).
pub(crate) fn setup_governance(c: &mut Cluster) {
    let mut add = vec![
        format!(
            "rex:{}:viewer",
            hex::encode(rex().verifying_key().to_bytes())
        ),
        format!(
            "ira:{}:initiator",
            hex::encode(ira().verifying_key().to_bytes())
        ),
    ];
    for (user, role) in [
        ("ivy", "initiator"),
        ("ann", "approver"),
        ("bob", "approver"),
        ("vic", "viewer"),
    ] {
        let (ok, out, err) = custos(
            &c.data,
            &["user", "keygen", "--id", user, "--out", &c.key(user)],
        );
        assert!(ok, "{err}");
        add.push(format!("{user}:{}:{role}", out.trim()));
    }
    std::fs::write(c.data.join("policy.json"), POLICY).unwrap();
    let policy = c.data.join("policy.json").display().to_string();
    let mut args = vec!["governance", "propose", "--policy", &policy];
    for a in &add {
        args.extend(["--add-user", a]);
    }
    let (ok, out, err) = custos(&c.data, &args);
    assert!(ok, "{err}");
    assert!(out.contains(": applied"), "{out}");
    // Each node validated the chain itself.
    let (ok, out, _) = custos(&c.data, &["governance", "show"]);
    assert!(ok);
    assert!(out.contains("height 1"), "{out}");
    signed_calls_and_totp_sessions(c);
    cli_session(c);
}

/// The whole scenario's audit log, exported with the CLI (with the nodes'
/// signed answers to a fresh nonce), verifies offline against the pinned
/// genesis alone: the server's audit key, the committee's witness keys and
/// its checkpoint quorum all come from the governance chain. Each
/// corruption is named by `custos audit verify`.
pub(crate) fn audit_export_verifies_and_every_corruption_is_named(c: &mut Cluster) {
    let export = c.data.join("audit.json");
    let (ok, out, err) = custos(
        &c.data,
        &["audit", "export", "--out", export.to_str().unwrap()],
    );
    assert!(
        ok && out.contains("answers from 3 of 3 nodes"),
        "{out}{err}"
    );
    let api = serde_json::from_str::<Value>(
        &std::fs::read_to_string(c.data.join("cluster.json")).unwrap(),
    )
    .unwrap()["api_url"]
        .as_str()
        .unwrap()
        .to_owned();
    // Reads need a user: no anonymous governance read.
    let (status, err) = http(&format!("{api}/v1/governance"), "GET", &[], b"");
    assert_eq!(status, 401, "{err}");
    let verify = |e: &Value| {
        let f = c.data.join("audit-probe.json");
        std::fs::write(&f, e.to_string()).unwrap();
        custos(&c.data, &["audit", "verify", f.to_str().unwrap()])
    };
    let clean: Value = serde_json::from_str(&std::fs::read_to_string(&export).unwrap()).unwrap();
    let (ok, out, err) = verify(&clean);
    assert!(ok && out.starts_with("ok: "), "{out}{err}");
    // Against the nonce its exporter kept: this one, and no other.
    let nonce = clean["freshness"]["nonce"].as_str().unwrap();
    let file = export.to_str().unwrap();
    let (ok, out, err) = custos(&c.data, &["audit", "verify", file, "--nonce", nonce]);
    assert!(ok && out.contains("covered by checkpoints"), "{out}{err}");
    let (ok, _, err) = custos(
        &c.data,
        &["audit", "verify", file, "--nonce", &"00".repeat(32)],
    );
    assert!(!ok && err.contains("is not yours"), "{err}");
    let entries = clean["entries"].as_array().unwrap().len();
    let checkpoints = clean["checkpoints"].as_array().unwrap().len();
    assert!(entries > 50 && checkpoints > 5, "{out}");
    // Every action of the scenario is there.
    let actions: std::collections::BTreeSet<&str> = clean["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["entry"]["action"].as_str().unwrap())
        .collect();
    for a in [
        "governance-genesis",
        "node-join",
        "node-leave",
        "dkg",
        "wallet-created",
        "request",
        "approval",
        "sign",
        "signed",
        "sign-failed",
        "governance-change",
    ] {
        assert!(actions.contains(a), "no {a} entry: {actions:?}");
    }
    let probe = |name: &str, f: &dyn Fn(&mut Value), expect: &str| {
        let mut e = clean.clone();
        f(&mut e);
        let (ok, out, err) = verify(&e);
        assert!(!ok, "{name}: corruption not detected: {out}");
        assert!(err.contains(expect), "{name}: {err}");
    };
    let k = entries / 2;
    probe(
        "edit an entry",
        &|e| {
            let d = &mut e["entries"][k]["entry"]["detail"];
            *d = Value::String(d.as_str().unwrap().replacen('"', "'", 1));
        },
        &format!("entry {k}"),
    );
    probe(
        "delete an entry",
        &|e| {
            e["entries"].as_array_mut().unwrap().remove(k);
        },
        &format!("entry {k}"),
    );
    probe(
        "insert an entry",
        &|e| {
            let copy = e["entries"][k].clone();
            e["entries"].as_array_mut().unwrap().insert(k, copy);
        },
        &format!("entry {}", k + 1),
    );
    probe(
        "swap two entries",
        &|e| {
            e["entries"].as_array_mut().unwrap().swap(k, k + 1);
        },
        &format!("entry {k}"),
    );
    probe(
        "truncate",
        &|e| {
            e["entries"].as_array_mut().unwrap().truncate(k);
        },
        "checkpoint of size",
    );
    probe(
        "swap a checkpoint's root",
        &|e| {
            let cps = e["checkpoints"].as_array_mut().unwrap();
            let other = cps[1]["checkpoint"]["root"].clone();
            cps[0]["checkpoint"]["root"] = other;
        },
        "checkpoint of size",
    );
    probe(
        "two checkpoints of one size",
        &|e| {
            let cps = e["checkpoints"].as_array_mut().unwrap();
            let mut fork = cps[1].clone();
            fork["checkpoint"]["root"] = cps[0]["checkpoint"]["root"].clone();
            cps.push(fork);
        },
        "checkpoint of size",
    );
    probe(
        "no checkpoint at all",
        &|e| e["checkpoints"] = Value::Array(Vec::new()),
        "no co-signed checkpoint",
    );
    // A cut that keeps a consistent prefix and its checkpoints: only the
    // nodes' fresh answers show that the log went further.
    probe(
        "cut with the checkpoints after the cut",
        &|e| {
            e["entries"].as_array_mut().unwrap().truncate(k);
            e["checkpoints"]
                .as_array_mut()
                .unwrap()
                .retain(|cp| cp["checkpoint"]["size"].as_u64().unwrap() <= k as u64);
        },
        "the log was cut",
    );
    probe(
        "a flipped byte in one co-signature",
        &|e| {
            let cps = e["checkpoints"].as_array_mut().unwrap();
            let last = cps.len() - 1;
            let sig = &mut cps[last]["cosignatures"][0]["signature"][0];
            *sig = (sig.as_u64().unwrap() ^ 1).into();
        },
        "a co-signature does not verify",
    );
    probe(
        "a co-signature by a key that is no member's",
        &|e| {
            let cps = e["checkpoints"].as_array_mut().unwrap();
            cps[0]["cosignatures"][0]["key"][0] = 7.into();
        },
        "no witness of the committee",
    );
    probe(
        "answers from a minority",
        &|e| {
            e["freshness"]["answers"]
                .as_array_mut()
                .unwrap()
                .truncate(1)
        },
        "only 1 of the 3 nodes answered",
    );
    // An old answer replayed: the nodes signed another nonce.
    let (ok, out, err) = custos(
        &c.data,
        &[
            "audit",
            "export",
            "--out",
            c.data.join("audit-2.json").to_str().unwrap(),
        ],
    );
    assert!(ok, "{out}{err}");
    let later: Value =
        serde_json::from_str(&std::fs::read_to_string(c.data.join("audit-2.json")).unwrap())
            .unwrap();
    assert_ne!(later["freshness"]["nonce"], clean["freshness"]["nonce"]);
    probe(
        "answers to an earlier nonce",
        &|e| e["freshness"]["nonce"] = later["freshness"]["nonce"].clone(),
        "over another nonce (an old answer replayed)",
    );
    probe(
        "a flipped byte in a freshness answer",
        &|e| {
            let a = &mut e["freshness"]["answers"][0]["size"];
            *a = (a.as_u64().unwrap() + 1).into();
        },
        "freshness answer does not verify",
    );
}
