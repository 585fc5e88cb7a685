//! Every t-subset signs, for every scheme, at the root and at HD children;
//! each signature verifies with an independent verifier and with ours, and a
//! flipped bit makes both refuse.

use custos_tss::{DerivationPath, Scheme};

use crate::common::{dkg, message, sign, subsets, verify_independently};

fn every_subset_signs(scheme: Scheme, t: u16, n: u16) {
    let shares = dkg(scheme, t, n);
    let root = DerivationPath::root();
    let paths = [
        root.clone(),
        "m/0/1".parse().unwrap(),
        "m/7/2147483647".parse().unwrap(),
    ];
    for signers in subsets(t, n) {
        let msg = message();
        let key = shares[0].public_key(&root).unwrap();
        let sig = sign(&shares, &signers, &root, &msg);
        assert!(
            verify_independently(scheme, &key, &msg, &sig.bytes),
            "{scheme} {signers:?}"
        );
        assert!(custos_tss::verify(scheme, &key, &msg, &sig.bytes));
        let mut bad = sig.bytes.clone();
        bad[40] ^= 1;
        assert!(!verify_independently(scheme, &key, &msg, &bad));
        assert!(!custos_tss::verify(scheme, &key, &msg, &bad));
    }
    // HD children at two paths, signed by the first and the last subset.
    let all = subsets(t, n);
    for (path, signers) in paths[1..]
        .iter()
        .zip([all.first().unwrap(), all.last().unwrap()])
    {
        let msg = message();
        let child = shares[0].public_key(path).unwrap();
        assert_ne!(child, shares[0].public_key(&root).unwrap());
        let sig = sign(&shares, signers, path, &msg);
        assert!(
            verify_independently(scheme, &child, &msg, &sig.bytes),
            "{scheme} {path}"
        );
        assert!(!verify_independently(
            scheme,
            &shares[0].public_key(&root).unwrap(),
            &msg,
            &sig.bytes
        ));
    }
}

#[test]
fn schnorr_2_of_3() {
    every_subset_signs(Scheme::SchnorrBip340, 2, 3);
}

#[test]
fn schnorr_3_of_5() {
    every_subset_signs(Scheme::SchnorrBip340, 3, 5);
}

#[test]
fn ed25519_2_of_3() {
    every_subset_signs(Scheme::Ed25519, 2, 3);
}

#[test]
fn ed25519_3_of_5() {
    every_subset_signs(Scheme::Ed25519, 3, 5);
}

#[test]
fn ecdsa_2_of_3() {
    every_subset_signs(Scheme::EcdsaSecp256k1, 2, 3);
}

#[test]
fn ecdsa_3_of_5() {
    every_subset_signs(Scheme::EcdsaSecp256k1, 3, 5);
}

#[test]
fn frost_thresholds_up_to_16() {
    for (t, n) in [(2, 2), (5, 9), (16, 16)] {
        for scheme in [Scheme::SchnorrBip340, Scheme::Ed25519] {
            let shares = dkg(scheme, t, n);
            let signers: Vec<u16> = (n - t..n).collect();
            let msg = message();
            let sig = sign(&shares, &signers, &DerivationPath::root(), &msg);
            let key = shares[0].public_key(&DerivationPath::root()).unwrap();
            assert!(
                verify_independently(scheme, &key, &msg, &sig.bytes),
                "{scheme} {t}-of-{n}"
            );
        }
    }
}
