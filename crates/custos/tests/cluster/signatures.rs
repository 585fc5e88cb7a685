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

/// A message signature as `custos sign --json` prints it: the raw
/// signature verifies over what was signed, and the chain-encoded one by the
/// chain's own convention (alloy's EIP-191 recovery, the `bip322` crate, the
/// Solana off-chain crate) for the message `text`.
pub(crate) fn check_message(record: &Value, expected_scheme: &str, text: &[u8]) {
    let obj = record.as_object().unwrap();
    assert_eq!(obj.len(), 8, "{record}");
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
    let (address, encoded) = (
        record["address"].as_str().unwrap(),
        record["encoded"].as_str().unwrap(),
    );
    match record["format"].as_str().unwrap() {
        "eip191" => {
            let sig: alloy_primitives::Signature = encoded.parse().unwrap();
            let from = sig.recover_address_from_msg(text).unwrap();
            assert_eq!(from.to_checksum(None), address, "{record}");
        }
        "bip322" => {
            use base64::Engine;
            let raw = base64::engine::general_purpose::STANDARD
                .decode(encoded.strip_prefix("smp").unwrap())
                .unwrap();
            let witness: bitcoin::Witness = bitcoin::consensus::deserialize(&raw).unwrap();
            let address: bitcoin::Address = address
                .parse::<bitcoin::Address<_>>()
                .unwrap()
                .assume_checked();
            assert!(
                matches!(
                    bip322::verify_simple(&address, text, witness),
                    Ok(bip322::Verification::Valid { .. })
                ),
                "{record}"
            );
        }
        "solana-offchain" => {
            let m = solana_offchain_message::OffchainMessage::new(0, text).unwrap();
            let pk: solana_pubkey::Pubkey = address.parse().unwrap();
            let sig: solana_signature::Signature = encoded.parse().unwrap();
            assert!(m.verify(&pk, &sig).unwrap(), "{record}");
        }
        other => panic!("{other}"),
    }
}

/// [`check_message`] for a message given in hex.
pub(crate) fn check_signature(record: &Value, expected_scheme: &str) {
    let r = record.clone();
    let text = r["text_hex"].as_str().map(|h| hex::decode(h).unwrap());
    let mut r = r;
    r.as_object_mut().unwrap().remove("text_hex");
    check_message(&r, expected_scheme, &text.unwrap());
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
