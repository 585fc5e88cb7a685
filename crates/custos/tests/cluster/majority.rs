//! A 2-of-5 committee, as separate processes: a checkpoint needs a
//! majority of the committee (3), not the threshold (2). A server that has
//! only the two signers co-sign (test build, fault `pair-witness`) gets no
//! signature from either of two disjoint pairs — so two pairs can never
//! each certify a log of their own — and the checkpoints it recorded with
//! two co-signatures do not verify.

use super::*;

#[test]
fn two_disjoint_pairs_of_a_two_of_five_committee_certify_nothing() {
    let mut c = Cluster::with(5, 2, "five");
    // The demo admin adds initiator ivy and a policy allowing her messages.
    let (ok, ivy, err) = custos(
        &c.data,
        &["user", "keygen", "--id", "ivy", "--out", &c.key("ivy")],
    );
    assert!(ok, "{err}");
    std::fs::write(
        c.data.join("policy.json"),
        r#"{"rules":[{"name":"messages","initiators":[{"role":"initiator"}],"kinds":["message"],"action":{"type":"allow"}}]}"#,
    )
    .unwrap();
    let policy = c.data.join("policy.json").display().to_string();
    let add = format!("ivy:{}:initiator", ivy.trim());
    let (ok, out, err) = custos(
        &c.data,
        &[
            "governance",
            "propose",
            "--add-user",
            &add,
            "--policy",
            &policy,
        ],
    );
    assert!(ok && out.contains(": applied"), "{out}{err}");
    let w = c
        .run(&["wallet", "create", "--scheme", "ed25519", "--json"])
        .unwrap();
    assert_eq!(w["attested_by"].as_array().unwrap().len(), 5, "{w}");
    let w = w["id"].as_str().unwrap().to_owned();
    // Honest: all five co-sign the checkpoint, a pair signs.
    check_signature(&c.sign(&w, "01", Some("0,1"), "m").unwrap(), "ed25519");
    c.restart_server(Some("CUSTOS_AUTH_FAULT=pair-witness"));
    for pair in ["0,1", "2,3"] {
        let err = c.sign(&w, "02", Some(pair), "m").unwrap_err();
        assert!(
            err.contains("log before sign: fewer co-signatures than a majority of the committee"),
            "{pair}: {err}"
        );
    }
    c.restart_server(None);
    // What the server recorded with two co-signatures does not verify.
    let export = c.data.join("audit.json");
    let (ok, out, err) = custos(
        &c.data,
        &["audit", "export", "--out", export.to_str().unwrap()],
    );
    assert!(
        ok && out.contains("answers from 5 of 5 nodes"),
        "{out}{err}"
    );
    let (ok, out, err) = custos(&c.data, &["audit", "verify", export.to_str().unwrap()]);
    assert!(!ok, "a pair's checkpoint verified: {out}");
    assert!(
        err.contains("too few node co-signatures (a majority of the committee is needed)"),
        "{err}"
    );
}
