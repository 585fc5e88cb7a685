//! Helpers: fixtures, in-process DKG and signing, independent verifiers.

use custos_tss::driver::simulate;
use custos_tss::ecdsa::AuxInfo;
use custos_tss::{Committee, DerivationPath, KeyShare, PartyIndex, Scheme, Signature};
use rand::rngs::OsRng;
use rand::RngCore;

/// Committee aux info fixture (`test-data/aux-{n}.hex`, made by the
/// `gen-fixtures` example). Test use only.
pub fn aux(n: u16) -> Vec<AuxInfo> {
    let path = format!("{}/test-data/aux-{n}.hex", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .lines()
        .map(|l| AuxInfo::from_bytes(&hex::decode(l).unwrap()).unwrap())
        .collect()
}

pub fn session_id() -> [u8; 32] {
    let mut sid = [0u8; 32];
    OsRng.fill_bytes(&mut sid);
    sid
}

pub fn dkg(scheme: Scheme, t: u16, n: u16) -> Vec<KeyShare> {
    let committee = Committee::new(t, n).unwrap();
    let aux = (scheme == Scheme::EcdsaSecp256k1).then(|| aux(n));
    let sid = session_id();
    let sessions = (0..n)
        .map(|i| {
            let aux = aux.as_ref().map(|a| &a[usize::from(i)]);
            custos_tss::keygen(scheme, &sid, committee, i, aux, &mut OsRng).unwrap()
        })
        .collect();
    let shares: Vec<KeyShare> = simulate(sessions).into_iter().map(Result::unwrap).collect();
    let key = shares[0].public_key(&DerivationPath::root()).unwrap();
    for s in &shares {
        assert_eq!(
            s.public_key(&DerivationPath::root()).unwrap(),
            key,
            "all parties agree on the key"
        );
        assert_eq!(s.key_id(), shares[0].key_id());
    }
    shares
}

/// Signs with `signers`; every signer must output the same signature.
pub fn sign(
    shares: &[KeyShare],
    signers: &[PartyIndex],
    path: &DerivationPath,
    message: &[u8],
) -> Signature {
    let sid = session_id();
    let sessions = signers
        .iter()
        .map(|&i| {
            custos_tss::sign(
                &shares[usize::from(i)],
                &sid,
                signers,
                path,
                message,
                &mut OsRng,
            )
            .unwrap()
        })
        .collect();
    let sigs: Vec<Signature> = simulate(sessions).into_iter().map(Result::unwrap).collect();
    assert!(sigs.windows(2).all(|w| w[0] == w[1]), "signers disagree");
    sigs.into_iter().next().unwrap()
}

/// Every `t`-subset of `0..n`.
pub fn subsets(t: u16, n: u16) -> Vec<Vec<PartyIndex>> {
    fn go(start: u16, n: u16, left: u16, cur: &mut Vec<u16>, out: &mut Vec<Vec<u16>>) {
        if left == 0 {
            out.push(cur.clone());
            return;
        }
        for i in start..n {
            cur.push(i);
            go(i + 1, n, left - 1, cur, out);
            cur.pop();
        }
    }
    let mut out = Vec::new();
    go(0, n, t, &mut Vec::new(), &mut out);
    out
}

/// Verifies with crates independent of the signing stack: k256 (ECDSA, low-S),
/// libsecp256k1 via rust-bitcoin (BIP-340), ed25519-dalek `verify_strict`.
pub fn verify_independently(
    scheme: Scheme,
    public_key: &[u8],
    message: &[u8],
    signature: &[u8],
) -> bool {
    match scheme {
        Scheme::EcdsaSecp256k1 => {
            use k256::ecdsa::signature::hazmat::PrehashVerifier;
            let Ok(key) = k256::ecdsa::VerifyingKey::from_sec1_bytes(public_key) else {
                return false;
            };
            let Ok(sig) = k256::ecdsa::Signature::from_slice(signature) else {
                return false;
            };
            sig.normalize_s().is_none() && key.verify_prehash(message, &sig).is_ok()
        }
        Scheme::SchnorrBip340 => {
            use bitcoin::secp256k1::{schnorr, Message, Secp256k1, XOnlyPublicKey};
            let Ok(key) = XOnlyPublicKey::from_slice(public_key) else {
                return false;
            };
            let Ok(sig) = schnorr::Signature::from_slice(signature) else {
                return false;
            };
            let Ok(msg) = Message::from_digest_slice(message) else {
                return false;
            };
            Secp256k1::verification_only()
                .verify_schnorr(&sig, &msg, &key)
                .is_ok()
        }
        Scheme::Ed25519 => {
            let Ok(key) = <[u8; 32]>::try_from(public_key) else {
                return false;
            };
            let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(&key) else {
                return false;
            };
            let Ok(sig) = ed25519_dalek::Signature::from_slice(signature) else {
                return false;
            };
            key.verify_strict(message, &sig).is_ok()
        }
    }
}

/// A 32-byte message (a digest for ECDSA, a BIP-340 message).
pub fn message() -> Vec<u8> {
    let mut m = vec![0u8; 32];
    OsRng.fill_bytes(&mut m);
    m
}
