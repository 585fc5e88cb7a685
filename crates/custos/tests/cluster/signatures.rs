//! Independent verifiers of what the cluster signs, and share reconstruction
//! probes.

use super::*;

pub(crate) fn verify(scheme: &str, key: &[u8], msg: &[u8], sig: &[u8]) -> bool {
    match scheme {
        "ecdsa-secp256k1" => {
            use k256::ecdsa::signature::hazmat::PrehashVerifier;
            let s = k256::ecdsa::Signature::from_slice(sig).unwrap();
            s.normalize_s().is_none()
                && k256::ecdsa::VerifyingKey::from_sec1_bytes(key)
                    .unwrap()
                    .verify_prehash(msg, &s)
                    .is_ok()
        }
        "schnorr-bip340" => {
            use bitcoin::secp256k1::{schnorr, Message, Secp256k1, XOnlyPublicKey};
            Secp256k1::verification_only()
                .verify_schnorr(
                    &schnorr::Signature::from_slice(sig).unwrap(),
                    &Message::from_digest_slice(msg).unwrap(),
                    &XOnlyPublicKey::from_slice(key).unwrap(),
                )
                .is_ok()
        }
        "ed25519" => ed25519_dalek::VerifyingKey::from_bytes(&key.try_into().unwrap())
            .unwrap()
            .verify_strict(msg, &ed25519_dalek::Signature::from_slice(sig).unwrap())
            .is_ok(),
        other => panic!("{other}"),
    }
}

pub(crate) fn check_signature(record: &Value, expected_scheme: &str) {
    let obj = record.as_object().unwrap();
    assert_eq!(obj.len(), 5, "{record}");
    assert_eq!(record["request"].as_str().unwrap().len(), 32, "{record}");
    assert_eq!(record["scheme"], expected_scheme);
    let get = |k: &str| hex::decode(record[k].as_str().unwrap()).unwrap();
    assert!(
        verify(
            expected_scheme,
            &get("public_key"),
            &get("message"),
            &get("signature")
        ),
        "{record}"
    );
}

/// Test-only reconstruction of a private key from `t` shares' secret scalars
/// (the product never does this).
pub(crate) fn reconstruct<E: generic_ec::Curve>(
    shares: &[(u16, generic_ec::Scalar<E>)],
) -> generic_ec::Scalar<E> {
    use generic_ec::Scalar;
    let xs: Vec<Scalar<E>> = shares
        .iter()
        .map(|(i, _)| Scalar::from(u64::from(*i) + 1))
        .collect();
    let mut key = Scalar::zero();
    for (j, (_, s)) in shares.iter().enumerate() {
        let mut l = Scalar::one();
        for (m, xm) in xs.iter().enumerate() {
            if m != j {
                l *= xm * (xm - xs[j]).invert().unwrap();
            }
        }
        key += s * l;
    }
    key
}

pub(crate) fn sha2_256(data: &[u8]) -> [u8; 32] {
    use k256::sha2::Digest;
    k256::sha2::Sha256::digest(data).into()
}

pub(crate) fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out)
        } else {
            out.push(p)
        }
    }
}
