//! The malicious-server suite: each lie the threat model lists, refused by
//! the nodes.

use super::*;

/// A large ether transfer by ivy (needs two approvals); returns the
/// request id while pending.
pub(crate) fn large_eth(c: &mut Cluster, wallet: &str, nonce: u64) -> Result<Value, String> {
    let mut a = eth_transfer(wallet, nonce, None);
    let i = a.iter().position(|x| x == "1000000000000000").unwrap();
    a[i] = "6000000000000000".into();
    c.run_strings(&a)
}

pub(crate) fn approve(c: &mut Cluster, id: &str, user: &str) -> Result<String, String> {
    let key = c.key(user);
    let (ok, out, err) = custos(&c.data, &["approve", id, "--key", &key]);
    c.responses.extend([out.clone(), err.clone()]);
    if ok {
        Ok(out)
    } else {
        Err(err)
    }
}

/// DESIGN threat table, row 1: a server that lies is refused by the nodes,
/// each with its typed reason, and no signature comes back.
pub(crate) fn malicious_server(c: &mut Cluster, wallets: &BTreeMap<&str, String>) {
    let w = wallets["ecdsa-secp256k1"].clone();
    // Honest: pending until two approvers sign, then signed; the initiator
    // and a viewer are refused by the server already.
    let r = large_eth(c, &w, 20).unwrap();
    assert_eq!(r["state"], "pending", "{r}");
    let id = r["id"].as_str().unwrap().to_owned();
    assert!(approve(c, &id, "ivy")
        .unwrap_err()
        .contains("cannot approve their own request"));
    assert!(approve(c, &id, "vic")
        .unwrap_err()
        .contains("may not approve"));
    approve(c, &id, "ann").unwrap();
    let out = approve(c, &id, "bob").unwrap();
    assert!(out.trim().starts_with("0x02"), "{out}");
    let signed_id = id;

    // Each attack: the fault, who approves before dispatch, the node's reason.
    let attacks: &[(&str, &[&str], &str)] = &[
        ("no-approvals", &[], "0 of 2 required approvals"),
        ("below-quorum", &["ann"], "1 of 2 required approvals"),
        (
            "forge-approval",
            &["ann", "bob"],
            "approval: bad signature by bob",
        ),
        ("accept", &["ann", "ivy"], "ivy approved their own request"),
        ("accept", &["ann", "vic"], "vic may not approve under rule"),
        (
            "alter-amount",
            &["ann", "bob"],
            "initiator: bad signature by ivy",
        ),
        (
            "alter-destination",
            &["ann", "bob"],
            "initiator: bad signature by ivy",
        ),
        (
            "alter-fee",
            &["ann", "bob"],
            "initiator: bad signature by ivy",
        ),
        (
            "stale-head",
            &["ann", "bob"],
            "request approved under governance head",
        ),
        ("skew", &["ann", "bob"], "s from this node's clock"),
        (
            "unlogged",
            &["ann", "bob"],
            "is not covered, as this node planned it, by an audit checkpoint",
        ),
        (
            "payload",
            &["ann", "bob"],
            "differs from the one this node built from the request",
        ),
    ];
    for (k, (fault, approvers, expect)) in attacks.iter().enumerate() {
        c.restart_server(Some(&format!("CUSTOS_AUTH_FAULT={fault}")));
        let mut result = large_eth(c, &w, 30 + k as u64).map(|v| v.to_string());
        if let Ok(r) = &result {
            let id = serde_json::from_str::<Value>(r).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned();
            for a in *approvers {
                result = approve(c, &id, a);
                if result.is_err() {
                    break;
                }
            }
        }
        let err = result.expect_err(fault);
        assert!(err.contains(expect), "{fault}: {err}");
    }
    // (7) Replay of a signed request: every node refuses from its own record.
    c.restart_server(Some("CUSTOS_AUTH_FAULT=accept"));
    let err = approve(c, &signed_id, "ann").unwrap_err();
    assert!(
        err.contains("was signed before; refusing to sign it again"),
        "{err}"
    );
    // (10) Velocity: a transfer and a PSBT signing of the wallet (one bitcoin
    // bucket, fees included: about 220 600 sat) used most of its hourly
    // 250 000 sat; a third request of 50 000, sent to the other node pair by
    // a server that ignores policy, is refused (node 2 never signed the first
    // ones but witnessed them in the audit log).
    let err = c
        .run(&[
            "transfer",
            "--wallet",
            &w,
            "--chain",
            "bitcoin",
            "--network",
            "regtest",
            "--to",
            BTC_TO,
            "--amount",
            "50000",
            "--index",
            "1",
            "--utxo",
            &format!("{}:0:100000", "ab".repeat(32)),
            "--fee-rate",
            "3",
            "--signers",
            "1,2",
            "--key",
            &c.key("ivy"),
            "--json",
        ])
        .unwrap_err();
    assert!(
        err.contains("no policy rule matches (default deny)"),
        "{err}"
    );
    // (9) A governance change with fewer than quorum admin signatures: the
    // admin quorum becomes 2, then a one-signature change forwarded by the
    // server is refused by every node, which stays at its head.
    c.restart_server(None);
    let (ok, pk, err) = custos(
        &c.data,
        &[
            "user",
            "keygen",
            "--id",
            "admin2",
            "--out",
            &c.key("admin2"),
        ],
    );
    assert!(ok, "{err}");
    let add = format!("admin2:{}:admin", pk.trim());
    let (ok, out, err) = custos(
        &c.data,
        &["governance", "propose", "--add-user", &add, "--quorum", "2"],
    );
    assert!(ok && out.contains("applied"), "{out}{err}");
    c.restart_server(Some("CUSTOS_AUTH_FAULT=governance"));
    let (ok, out, err) = custos(
        &c.data,
        &["governance", "propose", "--grant", "vic:initiator"],
    );
    assert!(ok && out.contains("pending"), "{out}{err}");
    std::thread::sleep(std::time::Duration::from_secs(1));
    for i in 0..3 {
        let log = std::fs::read_to_string(c.data.join(format!("node-{i}.log"))).unwrap();
        assert!(
            log.contains("1 of 2 admin signatures"),
            "node {i} did not refuse: {log}"
        );
    }
    c.restart_server(None);
}

/// The server logs a signing under an initiator signature nobody made (a
/// phantom): every witness skips it (no node counts or signs it), and
/// `audit verify` names the entry. Run after the clean audit export: the
/// log keeps the phantom as evidence.
pub(crate) fn phantom_signing_is_named(c: &mut Cluster, wallet: &str) {
    c.restart_server(Some("CUSTOS_AUTH_FAULT=phantom-sign"));
    let r = large_eth(c, wallet, 90).unwrap();
    let id = r["id"].as_str().unwrap().to_owned();
    approve(c, &id, "ann").unwrap();
    let err = approve(c, &id, "bob").unwrap_err();
    assert!(
        err.contains("is not covered, as this node planned it, by an audit checkpoint"),
        "{err}"
    );
    let node_log = std::fs::read_to_string(c.data.join("node-0.log")).unwrap();
    assert!(
        node_log
            .lines()
            .any(|l| l
                .contains("is not a signing this node accepts: initiator: bad signature by ivy")),
        "{node_log}"
    );
    c.restart_server(None);
    let export = c.data.join("audit-phantom.json");
    let (ok, out, err) = custos(
        &c.data,
        &["audit", "export", "--out", export.to_str().unwrap()],
    );
    assert!(ok, "{out}{err}");
    let (ok, out, err) = custos(&c.data, &["audit", "verify", export.to_str().unwrap()]);
    assert!(!ok, "a phantom signing verified: {out}");
    assert!(
        err.contains(
            "a signing its initiator did not sign as logged: initiator: bad signature by ivy"
        ),
        "{err}"
    );
}
