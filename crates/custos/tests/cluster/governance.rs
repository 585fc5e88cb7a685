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
    let mut add = vec![format!(
        "rex:{}:viewer",
        hex::encode(rex().verifying_key().to_bytes())
    )];
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

/// The whole scenario's audit log, exported with the CLI, verifies offline
/// against the genesis audit key and the nodes' witness keys (two
/// co-signatures per checkpoint); each corruption is named by `custos audit
/// verify` with the first bad entry.
pub(crate) fn audit_export_verifies_and_every_corruption_is_named(c: &mut Cluster) {
    let export = c.data.join("audit.json");
    let (ok, out, err) = custos(
        &c.data,
        &["audit", "export", "--out", export.to_str().unwrap()],
    );
    assert!(ok && out.contains("entries"), "{out}{err}");
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
    let (ok, shown, err) = custos(&c.data, &["governance", "show"]);
    assert!(ok, "{err}");
    let audit_key = shown
        .lines()
        .find_map(|l| l.strip_prefix("audit key "))
        .unwrap()
        .to_owned();
    let mut nodes = Vec::new();
    for i in 0..3 {
        let dir = c.node_dir(i);
        let (ok, out, err) = custos(
            &c.data,
            &[
                "node",
                "witness-key",
                "--dir",
                dir.to_str().unwrap(),
                "--passphrase-file",
                dir.join("passphrase").to_str().unwrap(),
            ],
        );
        assert!(ok, "{err}");
        nodes.push(out.trim().to_owned());
    }
    let keys = c.data.join("audit-keys.json");
    std::fs::write(
        &keys,
        serde_json::json!({ "server": audit_key, "nodes": nodes, "quorum": 2 }).to_string(),
    )
    .unwrap();
    let verify = |e: &Value| {
        let f = c.data.join("audit-probe.json");
        std::fs::write(&f, e.to_string()).unwrap();
        custos(
            &c.data,
            &[
                "audit",
                "verify",
                f.to_str().unwrap(),
                "--keys",
                keys.to_str().unwrap(),
            ],
        )
    };
    let clean: Value = serde_json::from_str(&std::fs::read_to_string(&export).unwrap()).unwrap();
    let (ok, out, err) = verify(&clean);
    assert!(ok && out.starts_with("ok: "), "{out}{err}");
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
}
