//! Nothing a user is shown comes from the server alone (DESIGN threat
//! table, rows "server" and "database administrator"): wallets carry the
//! committee's attestations, which the CLI checks against the pinned
//! genesis and from which it derives addresses itself; every node checks a
//! request's wallet and key against its own record and a wallet order
//! against its own governance head; the audit log cannot be cut.

use custos_chains::message::MessageFormat;
use custos_protocol::authz::{MessageRequest, SigningRequest};

use super::*;

/// The key of user ira (an initiator the test holds in memory: the
/// initiator a lying server fooled into signing what it prepared).
pub(crate) fn ira() -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[0x1a; 32])
}

fn api_url(c: &Cluster) -> String {
    serde_json::from_str::<Value>(&std::fs::read_to_string(c.data.join("cluster.json")).unwrap())
        .unwrap()["api_url"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Runs `sql` on the server's database, as its administrator could.
pub(crate) fn server_sql(c: &Cluster, sql: &[&str]) {
    let db = c.data.join("server/server.db");
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite:{}", db.display()))
            .await
            .unwrap();
        let mut tx = pool.begin().await.unwrap();
        for q in sql {
            sqlx::query(q).execute(&mut *tx).await.unwrap();
        }
        tx.commit().await.unwrap();
        pool.close().await;
    });
}

/// Swaps the key material of two wallets' rows (key ids are unique).
fn swap_keys(c: &Cluster, a: &str, b: &str) {
    server_sql(
        c,
        &[
            "CREATE TEMP TABLE k AS SELECT id, key_id, public_key, root_key, chain_code FROM wallets",
            "UPDATE wallets SET key_id = 'moving-' || key_id",
            &format!(
                "UPDATE wallets SET (key_id, public_key, root_key, chain_code) = \
                 (SELECT key_id, public_key, root_key, chain_code FROM k WHERE k.id = '{b}') \
                 WHERE id = '{a}'"
            ),
            &format!(
                "UPDATE wallets SET (key_id, public_key, root_key, chain_code) = \
                 (SELECT key_id, public_key, root_key, chain_code FROM k WHERE k.id = '{a}') \
                 WHERE id = '{b}'"
            ),
            "UPDATE wallets SET key_id = substr(key_id, 8) WHERE key_id LIKE 'moving-%'",
            "DROP TABLE k",
        ],
    );
}

/// ira submits a message request through the API, signed as a fooled
/// initiator would sign it.
fn ira_submits(c: &Cluster, request: &SigningRequest) -> (u16, String) {
    use ed25519_dalek::Signer;
    let hash = request.hash().unwrap();
    let body = serde_json::json!({
        "request": hex::encode(request.to_bytes().unwrap()),
        "signature": hex::encode(ira().sign(&custos_governance::initiate_message(&hash)).to_bytes()),
        "signers": [0, 1],
    })
    .to_string();
    let nonce = hex::encode(request.request_id());
    let h = signed_headers(
        "ira",
        &ira(),
        "POST",
        "/v1/requests",
        body.as_bytes(),
        unix_now(),
        &nonce,
    );
    http(
        &format!("{}/v1/requests", api_url(c)),
        "POST",
        &h,
        body.as_bytes(),
    )
}

/// A database edit of the `wallets` table changes no address or xpub any
/// command prints (each refuses instead), and no node signs a wallet's
/// request with another wallet's key.
pub(crate) fn database_edits_change_nothing_shown(c: &mut Cluster, a: &str, b: &str) {
    let shown = |c: &mut Cluster, w: &str| {
        (
            c.run(&["address", "--wallet", w, "--json"]),
            c.run(&["address", "--wallet", w, "--chain", "bitcoin", "--json"]),
            c.run(&["wallet", "show", w, "--json"]),
        )
    };
    let before = shown(c, b);
    let (addr, _, view) = &before;
    assert_eq!(addr.as_ref().unwrap()["attested_by"], 3, "{addr:?}");
    assert!(view.as_ref().unwrap()["xpub"]
        .as_str()
        .unwrap()
        .starts_with("xpub"));
    let a_key = c.run(&["wallet", "show", a, "--json"]).unwrap()["key_id"]
        .as_str()
        .unwrap()
        .to_owned();
    swap_keys(c, a, b);
    for cmd in [
        vec!["address", "--wallet", b],
        vec!["address", "--wallet", b, "--chain", "bitcoin"],
        vec!["wallet", "show", b],
        vec!["wallet", "list"],
    ] {
        let err = c.run(&cmd).unwrap_err();
        assert!(
            err.contains("the committee's attestations do not hold"),
            "{cmd:?}: {err}"
        );
    }
    // The initiator's CLI refuses to sign for the wallet at all.
    let err = sign_text(c, b).unwrap_err();
    assert!(err.contains("attestations do not hold"), "{err}");
    // An initiator fooled into signing what the server's row says (wallet
    // b, the key the row now names): every node refuses from its own record.
    let request = SigningRequest::Message(MessageRequest {
        request_id: [0xb1; 16],
        wallet: b.to_owned(),
        key_id: a_key,
        path: "m".into(),
        format: MessageFormat::Eip191,
        message: b"pay the database admin".to_vec(),
    });
    let (status, body) = ira_submits(c, &request);
    assert_ne!(status, 200, "{body}");
    assert!(
        body.contains(&format!(
            "the request names wallet {b}, but its key belongs to wallet {a}"
        )),
        "{status}: {body}"
    );
    // Restored, everything shows as before.
    swap_keys(c, a, b);
    let after = shown(c, b);
    assert_eq!(after.0, before.0);
    assert_eq!(after.1, before.1);
    assert_eq!(after.2, before.2);
}

fn sign_text(c: &mut Cluster, wallet: &str) -> Result<Value, String> {
    let key = c.key("ivy");
    c.run(&[
        "sign",
        "--wallet",
        wallet,
        "--format",
        "eip191",
        "--message",
        "hello",
        "--json",
        "--key",
        &key,
    ])
}

/// A server that lies about wallets: an order no admin signed is refused
/// by every node before any round, and a transfer prepared with another
/// wallet's key is refused by the initiator's CLI.
pub(crate) fn lying_server_about_wallets(c: &mut Cluster, eth_wallet: &str) {
    let count = c
        .run(&["wallet", "list", "--json"])
        .unwrap()
        .as_array()
        .unwrap()
        .len();
    c.restart_server(Some("CUSTOS_AUTH_FAULT=forge-order"));
    let err = c
        .run(&["wallet", "create", "--scheme", "ed25519", "--json"])
        .unwrap_err();
    assert!(
        err.contains("wallet order: not signed by an admin"),
        "{err}"
    );
    for i in 0..3 {
        let last = c.journal(i).pop().unwrap();
        assert_eq!(last["kind"], "keygen", "{last}");
        assert!(
            last["outcome"]
                .as_str()
                .unwrap()
                .contains("not signed by an admin"),
            "node-{i}: {last}"
        );
    }
    c.restart_server(Some("CUSTOS_AUTH_FAULT=other-key"));
    let err = c
        .run_strings(&eth_transfer(eth_wallet, 90, None))
        .unwrap_err();
    assert!(err.contains("whose attested key is"), "{err}");
    c.restart_server(None);
    assert_eq!(
        c.run(&["wallet", "list", "--json"])
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        count
    );
}

/// The database administrator cuts the log's tail and every checkpoint
/// after the cut (what is left is a consistent, co-signed prefix): the
/// nodes' fresh answers show the log went further, and `audit verify`
/// refuses the export.
pub(crate) fn database_cut_of_the_log_is_refused(c: &mut Cluster) {
    let export = c.data.join("audit-before-cut.json");
    let (ok, out, err) = custos(
        &c.data,
        &["audit", "export", "--out", export.to_str().unwrap()],
    );
    assert!(ok, "{out}{err}");
    let clean: Value = serde_json::from_str(&std::fs::read_to_string(&export).unwrap()).unwrap();
    let sizes: Vec<u64> = clean["checkpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|cp| cp["checkpoint"]["size"].as_u64().unwrap())
        .collect();
    let cut = sizes[sizes.len() / 2];
    server_sql(
        c,
        &[
            &format!("DELETE FROM audit_entries WHERE seq >= {cut}"),
            &format!("DELETE FROM documents WHERE kind = 'checkpoint' AND id > '{cut:020}'"),
        ],
    );
    let cut_export = c.data.join("audit-cut.json");
    let (ok, out, err) = custos(
        &c.data,
        &["audit", "export", "--out", cut_export.to_str().unwrap()],
    );
    assert!(ok, "{out}{err}");
    let (ok, out, err) = custos(&c.data, &["audit", "verify", cut_export.to_str().unwrap()]);
    assert!(!ok, "a cut log verified: {out}");
    assert!(
        err.contains(&format!("the export has {cut} entries")) && err.contains("the log was cut"),
        "{err}"
    );
}
