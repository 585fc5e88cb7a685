//! Published vectors through this crate's own verification and derivation:
//! BIP-340 (all 19 rows), RFC 8032 §7.1, BIP-32 vectors 1–3 (public derivation).

use std::str::FromStr;

use custos_tss::hd::derive_secp256k1_xpub;
use custos_tss::{DerivationPath, Scheme};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors");

fn read(name: &str) -> String {
    std::fs::read_to_string(format!("{DIR}/{name}")).unwrap()
}

#[test]
fn bip340_vectors() {
    let csv = read("bip340-test-vectors.csv");
    let mut rows = 0;
    for line in csv.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let (index, pk, msg, sig, expected) = (f[0], f[2], f[4], f[5], f[6] == "TRUE");
        let pk = hex::decode(pk).unwrap();
        let msg = hex::decode(msg).unwrap();
        let sig = hex::decode(sig).unwrap();
        assert_eq!(
            custos_tss::verify(Scheme::SchnorrBip340, &pk, &msg, &sig),
            expected,
            "BIP-340 vector {index}"
        );
        rows += 1;
    }
    assert_eq!(rows, 19);
}

#[test]
fn rfc8032_vectors() {
    let v: serde_json::Value = serde_json::from_str(&read("rfc8032-ed25519.json")).unwrap();
    let mut checked = 0;
    for case in v["cases"].as_array().unwrap() {
        let get = |k: &str| hex::decode(case[k].as_str().unwrap()).unwrap();
        let (pk, msg, mut sig) = (get("public_key"), get("message"), get("signature"));
        assert!(
            custos_tss::verify(Scheme::Ed25519, &pk, &msg, &sig),
            "{}",
            case["name"]
        );
        assert!(
            crate::common::verify_independently(Scheme::Ed25519, &pk, &msg, &sig),
            "{} (ed25519-dalek)",
            case["name"]
        );
        sig[0] ^= 1;
        assert!(
            !custos_tss::verify(Scheme::Ed25519, &pk, &msg, &sig),
            "{} mutated",
            case["name"]
        );
        checked += 1;
    }
    assert_eq!(checked, 5, "all five RFC 8032 §7.1 vectors");
}

/// For every chain entry, derive it from each ancestor reachable by a
/// non-hardened suffix, and compare key and chain code with the vector.
#[test]
fn bip32_public_derivation_vectors_1_to_3() {
    let v: serde_json::Value = serde_json::from_str(&read("bip32-test-vectors.json")).unwrap();
    let mut checked = 0;
    for vector in v["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["vector"].as_u64().unwrap() <= 3)
    {
        let chains = vector["chains"].as_array().unwrap();
        let entries: Vec<(Vec<&str>, bitcoin::bip32::Xpub)> = chains
            .iter()
            .map(|c| {
                let path: Vec<&str> = c["path"].as_str().unwrap().split('/').skip(1).collect();
                (
                    path,
                    bitcoin::bip32::Xpub::from_str(c["xpub"].as_str().unwrap()).unwrap(),
                )
            })
            .collect();
        for (child_path, child) in &entries {
            for (parent_path, parent) in &entries {
                let Some(suffix) = child_path.strip_prefix(parent_path.as_slice()) else {
                    continue;
                };
                if suffix.is_empty() || suffix.iter().any(|s| s.ends_with('h')) {
                    continue;
                }
                let path = DerivationPath::new(suffix.iter().map(|s| s.parse().unwrap()).collect())
                    .unwrap();
                let (key, cc) = derive_secp256k1_xpub(
                    &parent.public_key.serialize(),
                    &parent.chain_code.to_bytes(),
                    &path,
                )
                .unwrap();
                assert_eq!(key, child.public_key.serialize(), "key at {child_path:?}");
                assert_eq!(
                    cc,
                    child.chain_code.to_bytes(),
                    "chain code at {child_path:?}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 4, "only {checked} derivations checked");
}
