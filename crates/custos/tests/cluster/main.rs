//! The whole system as separate processes on loopback: `custos server run`
//! and three `custos node run`, driven through the `custos` CLI and the REST
//! API. One scenario, so the committee's ECDSA aux info is made once; its
//! parts by area: `harness` (processes, CLI, HTTP), `api` (signed calls,
//! sessions), `signatures` (independent verifiers), `governance` (users,
//! policy, audit export), `meaning` (one meaning per signature: messages,
//! blind digests, one policy bucket per asset, outpoint values), `attacks`
//! (the malicious server), `attested` (nothing shown comes from the server
//! alone: attested wallets, a database cut of the log), `chains` (transfers
//! and PSBTs), `majority` (a 2-of-5 committee: pairs certify nothing), and
//! `enrolment`
//! (the second test, by hand).

// Tests may unwrap, index and panic (the workspace denies these elsewhere;
// clippy's allow-*-in-tests covers only #[test] functions, not helpers).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use custos_node::store::NodeVault;
use custos_node::vault::EntryKind;
use custos_tss::{KeyShare, Scheme};
use serde_json::Value;

mod api;
mod attacks;
mod attested;
mod chains;
mod enrolment;
mod governance;
mod harness;
mod majority;
mod meaning;
mod signatures;

use api::*;
use attacks::*;
use attested::*;
use chains::*;
use governance::*;
use harness::*;
use meaning::*;
use signatures::*;

#[test]
fn cluster_end_to_end() {
    let mut c = Cluster::new();
    setup_governance(&mut c);
    let schemes = ["ecdsa-secp256k1", "schnorr-bip340", "ed25519"];
    let mut wallets = BTreeMap::new();
    for scheme in schemes {
        let (ok, out, err) = custos(&c.data, &["wallet", "create", "--scheme", scheme, "--json"]);
        assert!(ok, "{err}");
        c.responses.extend([out.clone(), err.clone()]);
        if scheme == "ecdsa-secp256k1" {
            // The committee's first ECDSA key makes its aux info; the CLI
            // shows the nodes' progress meanwhile.
            assert!(err.contains("[aux-info] node-"), "no progress shown: {err}");
        }
        let w: Value = serde_json::from_str(out.trim()).unwrap();
        wallets.insert(scheme, w["id"].as_str().unwrap().to_owned());
        for signers in ["0,1", "0,2", "1,2"] {
            for path in ["m", "m/0/1"] {
                let r = c
                    .sign(&wallets[scheme], &"5a".repeat(33), Some(signers), path)
                    .unwrap();
                check_signature(&r, scheme);
            }
        }
    }
    // Only admins create keys.
    let key = c.key("ivy");
    let err = c
        .run(&["wallet", "create", "--scheme", "ed25519", "--key", &key])
        .unwrap_err();
    assert!(err.contains("ivy is not an admin"), "{err}");
    // A second ECDSA key reuses the committee's aux info (no new aux session).
    let second = c
        .run(&["wallet", "create", "--scheme", "ecdsa-secp256k1", "--json"])
        .unwrap();
    assert_ne!(second["key_id"], serde_json::json!(null));

    let second = second["id"].as_str().unwrap().to_owned();
    database_edits_change_nothing_shown(&mut c, &wallets["ecdsa-secp256k1"], &second);
    one_meaning_per_signature(&mut c, &wallets, &second);
    chain_transfers(&mut c, &wallets);
    malicious_server(&mut c, &wallets);
    lying_server_about_wallets(&mut c, &wallets["ecdsa-secp256k1"]);

    // One node down: automatic signer choice still signs; naming it fails fast.
    c.stop_node(2);
    let start = Instant::now();
    check_signature(
        &c.sign(&wallets["ed25519"], "01", None, "m").unwrap(),
        "ed25519",
    );
    let err = c
        .sign(&wallets["ed25519"], "01", Some("0,2"), "m")
        .unwrap_err();
    assert!(err.contains("not connected: node-2"), "{err}");
    // Two down: a clear error, well within the deadline.
    c.stop_node(1);
    let err = c
        .sign(&wallets["schnorr-bip340"], &"01".repeat(32), None, "m")
        .unwrap_err();
    assert!(err.contains("only 1 of the 2 required nodes"), "{err}");
    assert!(start.elapsed() < Duration::from_secs(20));

    // Restart: nodes reload their vaults and sign again.
    c.start_node(1);
    c.start_node(2);
    c.wait_connected(&[0, 1, 2]);
    check_signature(
        &c.sign(
            &wallets["ecdsa-secp256k1"],
            &"77".repeat(33),
            Some("1,2"),
            "m/5",
        )
        .unwrap(),
        "ecdsa-secp256k1",
    );

    // A node that stalls while connected (stopped, its socket open) delays
    // no one: the audit checkpoint holds with the two that co-signed, and
    // they sign. Resumed, it reads the entries it missed, a page at a time
    // (pages made tiny here), and signs again.
    c.restart_server(Some("CUSTOS_TEST_WITNESS_PAGE_BYTES=600"));
    let stalled = c.nodes[&2].id().to_string();
    assert!(Command::new("kill")
        .args(["-STOP", &stalled])
        .status()
        .unwrap()
        .success());
    let r = c.sign(&wallets["ed25519"], "02", None, "m");
    assert!(Command::new("kill")
        .args(["-CONT", &stalled])
        .status()
        .unwrap()
        .success());
    check_signature(&r.unwrap(), "ed25519");
    let server_log = std::fs::read_to_string(c.data.join("server.log")).unwrap();
    assert!(
        server_log
            .lines()
            .any(|l| l.contains("holds without") && l.contains("node-2")),
        "{server_log}"
    );
    check_signature(
        &c.sign(&wallets["ed25519"], "03", Some("0,2"), "m").unwrap(),
        "ed25519",
    );
    let server_log = std::fs::read_to_string(c.data.join("server.log")).unwrap();
    assert!(
        server_log
            .lines()
            .any(|l| l.contains("node-2 catches up on the audit log: page to size")),
        "{server_log}"
    );
    c.restart_server(None);

    // A node killed mid-round: the session aborts with an error naming it,
    // and a retry with another subset succeeds.
    let data = c.data.clone();
    let wallet = wallets["ecdsa-secp256k1"].clone();
    let key = c.key("ivy");
    let signing = std::thread::spawn(move || {
        custos(
            &data,
            &[
                "sign",
                "--wallet",
                &wallet,
                "--message-hex",
                &"42".repeat(33),
                "--format",
                "eip191",
                "--signers",
                "0,1",
                "--json",
                "--key",
                &key,
            ],
        )
    });
    std::thread::sleep(Duration::from_millis(400));
    c.stop_node(1);
    let (ok, out, err) = signing.join().unwrap();
    assert!(!ok, "a signature was produced after its signer died: {out}");
    assert!(err.contains("node-1"), "{err}");
    check_signature(
        &c.sign(
            &wallets["ecdsa-secp256k1"],
            &"42".repeat(33),
            Some("0,2"),
            "m",
        )
        .unwrap(),
        "ecdsa-secp256k1",
    );
    c.start_node(1);
    c.wait_connected(&[0, 1, 2]);

    // Wrong passphrase: a clear error at start, and the vault file untouched.
    c.stop_node(0);
    let db = c.node_dir(0).join("node.db");
    // The node was killed: fold its write-ahead log into the file first, so
    // the comparison below sees every byte of the store.
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite:{}", db.display()))
            .await
            .unwrap();
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    });
    let before = std::fs::read(&db).unwrap();
    std::fs::write(c.data.join("wrong-pass"), "not the passphrase at all").unwrap();
    let out = Command::new(EXE)
        .args(["node", "run", "--dir"])
        .arg(c.node_dir(0))
        .arg("--passphrase-file")
        .arg(c.data.join("wrong-pass"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("passphrase does not open this vault"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(&db).unwrap(),
        before,
        "a refused start must not write the vault"
    );
    c.start_node(0);
    c.wait_connected(&[0, 1, 2]);

    // A malicious relay (the server, test build): each fault to a
    // node-to-node stream aborts the session at the receiving node with the
    // matching typed error, and no signature comes back.
    for (fault, expect) in [
        ("flip", "fails authentication (altered or forged)"),
        ("replay", "replayed (sequence 0)"),
        ("reorder", "out of order: expected sequence 0, got 1"),
        ("drop", "timed out after 5s waiting for parties"),
    ] {
        c.restart_server(Some(&format!("CUSTOS_RELAY_FAULT={fault}")));
        let err = c
            .sign(&wallets["ed25519"], "0f0f", Some("0,1"), "m")
            .unwrap_err();
        assert!(err.contains(expect), "{fault}: {err}");
    }
    c.restart_server(None);
    check_signature(
        &c.sign(&wallets["ed25519"], "0f0f", Some("0,1"), "m")
            .unwrap(),
        "ed25519",
    );

    audit_export_verifies_and_every_corruption_is_named(&mut c);
    phantom_signing_is_named(&mut c, &wallets["ecdsa-secp256k1"]);
    database_cut_of_the_log_is_refused(&mut c);

    // Secret scan: each share's secret and each full key must appear nowhere.
    let mut secrets: Vec<Vec<u8>> = Vec::new();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let aux = |vault: &NodeVault| {
        rt.block_on(vault.get(EntryKind::AuxInfo, [0; 32], 0))
            .unwrap()
            .map(|b| custos_tss::ecdsa::AuxInfo::from_bytes(&b).unwrap())
    };
    let mut by_key: BTreeMap<String, Vec<(u16, Vec<u8>, Scheme)>> = BTreeMap::new();
    for i in 0..3u16 {
        let dir = c.node_dir(i);
        let pass = std::fs::read_to_string(dir.join("passphrase")).unwrap();
        let config: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("node.json")).unwrap()).unwrap();
        let vault = rt
            .block_on(NodeVault::open(
                &dir.join("node.db"),
                pass.as_bytes(),
                config["public_key"].as_str().unwrap(),
            ))
            .unwrap();
        let aux = aux(&vault);
        for key_id in rt.block_on(vault.keys(EntryKind::KeyShare)).unwrap() {
            let id: [u8; 32] = hex::decode(&key_id).unwrap().try_into().unwrap();
            let blob = rt
                .block_on(vault.get(EntryKind::KeyShare, id, 0))
                .unwrap()
                .unwrap();
            let share = KeyShare::from_bytes(&blob, aux.as_ref()).unwrap();
            let secret = blob[blob.len() - 32..].to_vec();
            by_key
                .entry(key_id)
                .or_default()
                .push((i, secret.clone(), share.scheme()));
            secrets.push(secret);
        }
    }
    assert_eq!(by_key.len(), 5, "four wallets and the blind one");
    for shares in by_key.values() {
        let scheme = shares[0].2;
        let full = match scheme {
            Scheme::Ed25519 => {
                type E = generic_ec::curves::Ed25519;
                let parts: Vec<_> = shares
                    .iter()
                    .take(2)
                    .map(|(i, s, _)| (*i, generic_ec::Scalar::<E>::from_le_bytes(s).unwrap()))
                    .collect();
                reconstruct(&parts).to_le_bytes().to_vec()
            }
            _ => {
                type E = generic_ec::curves::Secp256k1;
                let parts: Vec<_> = shares
                    .iter()
                    .take(2)
                    .map(|(i, s, _)| (*i, generic_ec::Scalar::<E>::from_be_bytes(s).unwrap()))
                    .collect();
                reconstruct(&parts).to_be_bytes().to_vec()
            }
        };
        secrets.push(full);
    }
    let mut haystacks: Vec<(String, Vec<u8>)> = Vec::new();
    let mut all = Vec::new();
    files(&c.data, &mut all);
    for f in all {
        haystacks.push((f.display().to_string(), std::fs::read(&f).unwrap()));
    }
    for (k, r) in c.responses.iter().enumerate() {
        haystacks.push((format!("response {k}"), r.as_bytes().to_vec()));
    }
    for secret in &secrets {
        let hex_lower = hex::encode(secret).into_bytes();
        let hex_upper = hex::encode_upper(secret).into_bytes();
        for (name, hay) in &haystacks {
            for needle in [secret, &hex_lower, &hex_upper] {
                assert!(
                    !hay.windows(needle.len()).any(|w| w == needle.as_slice()),
                    "secret material found in {name}"
                );
            }
        }
    }
}
