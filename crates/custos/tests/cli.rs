//! The real `custos` binary: `bench --quick --emit` prints the table and writes
//! records that verify with independent crates (k256, libsecp256k1 via
//! rust-bitcoin, ed25519-dalek).

// Tests may unwrap, index and panic (the workspace denies these elsewhere;
// clippy's allow-*-in-tests covers only #[test] functions, not helpers).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::process::Command;

#[test]
fn bench_quick_emits_verifiable_records() {
    let dir = std::env::temp_dir().join(format!("custos-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let emit = dir.join("sigs.jsonl");
    let out = Command::new(env!("CARGO_BIN_EXE_custos"))
        .args(["bench", "--quick", "--repeat", "1", "--emit"])
        .arg(&emit)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for row in [
        "ecdsa-secp256k1 | 2-of-3",
        "ecdsa-secp256k1 | 3-of-5",
        "schnorr-bip340  | 3-of-5",
        "ed25519         | 2-of-3",
    ] {
        assert!(stdout.contains(row), "missing {row}:\n{stdout}");
    }
    assert!(stdout.contains("cggmp24 directly"), "{stdout}");

    let mut seen = std::collections::BTreeMap::new();
    for line in std::fs::read_to_string(&emit).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let obj = v.as_object().unwrap();
        assert_eq!(obj.len(), 4, "exactly four fields: {line}");
        let field = |k: &str| hex::decode(v[k].as_str().unwrap()).unwrap();
        let (key, msg, sig) = (field("public_key"), field("message"), field("signature"));
        let scheme = v["scheme"].as_str().unwrap().to_owned();
        let ok = match scheme.as_str() {
            "ecdsa-secp256k1" => {
                use k256::ecdsa::signature::hazmat::PrehashVerifier;
                assert_eq!((key.len(), msg.len(), sig.len()), (33, 32, 64));
                let s = k256::ecdsa::Signature::from_slice(&sig).unwrap();
                s.normalize_s().is_none()
                    && k256::ecdsa::VerifyingKey::from_sec1_bytes(&key)
                        .unwrap()
                        .verify_prehash(&msg, &s)
                        .is_ok()
            }
            "schnorr-bip340" => {
                use bitcoin::secp256k1::{schnorr, Message, Secp256k1, XOnlyPublicKey};
                assert_eq!((key.len(), sig.len()), (32, 64));
                Secp256k1::verification_only()
                    .verify_schnorr(
                        &schnorr::Signature::from_slice(&sig).unwrap(),
                        &Message::from_digest_slice(&msg).unwrap(),
                        &XOnlyPublicKey::from_slice(&key).unwrap(),
                    )
                    .is_ok()
            }
            "ed25519" => {
                let k = ed25519_dalek::VerifyingKey::from_bytes(&key.try_into().unwrap()).unwrap();
                k.verify_strict(&msg, &ed25519_dalek::Signature::from_slice(&sig).unwrap())
                    .is_ok()
            }
            other => panic!("unknown scheme {other}"),
        };
        assert!(ok, "record does not verify: {line}");
        *seen.entry(scheme).or_insert(0) += 1;
    }
    // Root and HD child per shape, for every scheme.
    assert!(
        seen["schnorr-bip340"] >= 4 && seen["ed25519"] >= 4 && seen["ecdsa-secp256k1"] >= 4,
        "{seen:?}"
    );
    std::fs::remove_dir_all(&dir).ok();
}
