//! RFC 6238 vectors, single-use ±1-step TOTP, and signed-request checks.

// Tests may unwrap, index and panic (the workspace denies these elsewhere;
// clippy's allow-*-in-tests covers only #[test] functions, not helpers).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use custos_governance::auth::{verify_request, AuthError, NonceCache, RequestSignature, Totp};
use ed25519_dalek::{Signer, SigningKey};
use rand::rngs::OsRng;
use totp_rs::Algorithm;
use zeroize::Zeroizing;

#[test]
fn rfc6238_appendix_b() {
    let v: serde_json::Value = serde_json::from_str(include_str!("vectors/rfc6238.json")).unwrap();
    let mut checked = 0;
    for (name, alg) in [
        ("SHA1", Algorithm::SHA1),
        ("SHA256", Algorithm::SHA256),
        ("SHA512", Algorithm::SHA512),
    ] {
        let seed = hex::decode(v["seeds"][name].as_str().unwrap()).unwrap();
        let totp = Totp::with(alg, 8, Zeroizing::new(seed), None).unwrap();
        for row in v["rows"].as_array().unwrap() {
            assert_eq!(
                totp.code(row["time"].as_u64().unwrap()),
                row[name].as_str().unwrap()
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 18);
}

#[test]
fn totp_codes_are_accepted_once_within_one_step() {
    let secret = Zeroizing::new(b"0123456789abcdef0123".to_vec());
    let mut t = Totp::new(secret.clone(), None).unwrap();
    let now = 1_795_429_800;
    let code = t.code(now);
    t.accept(&code, now).unwrap();
    assert_eq!(t.accept(&code, now), Err(AuthError::Totp), "each code once");
    // The previous step's code is older than the one just used: refused too.
    assert_eq!(t.accept(&t.code(now - 30), now), Err(AuthError::Totp));
    // The next step's code, 30 s later, is fine; two steps away is not.
    let mut fresh = Totp::new(secret.clone(), None).unwrap();
    assert!(fresh.accept(&fresh.code(now + 30), now).is_ok());
    let mut fresh = Totp::new(secret.clone(), None).unwrap();
    assert_eq!(
        fresh.accept(&fresh.code(now + 60), now),
        Err(AuthError::Totp)
    );
    assert_eq!(fresh.accept("000000x", now), Err(AuthError::Totp));
    // Short secrets are refused.
    assert!(Totp::new(Zeroizing::new(vec![1; 10]), None).is_err());
    // Debug never shows the secret.
    assert!(!format!("{fresh:?}").contains("0123456789"));
}

#[test]
fn signed_requests_fresh_unreplayed_and_bound_to_every_field() {
    let key = SigningKey::generate(&mut OsRng);
    let now = 1_795_429_800;
    let req = RequestSignature {
        method: "POST",
        path: "/v1/wallets/w1/transfers",
        body_sha256: [7; 32],
        timestamp: now - 10,
        nonce: "00112233445566778899aabbccddeeff",
    };
    let sig = key.sign(&req.message()).to_bytes();
    let mut nonces = NonceCache::default();
    verify_request(&req, &sig, &key.verifying_key(), now, &mut nonces).unwrap();
    assert_eq!(
        verify_request(&req, &sig, &key.verifying_key(), now, &mut nonces),
        Err(AuthError::Replayed)
    );
    let mut fresh = NonceCache::default();
    assert_eq!(
        verify_request(&req, &sig, &key.verifying_key(), now + 400, &mut fresh),
        Err(AuthError::Stale)
    );
    // Any field changed: the signature no longer verifies.
    for altered in [
        RequestSignature {
            method: "GET",
            ..req.clone()
        },
        RequestSignature {
            path: "/v1/wallets/w2/transfers",
            ..req.clone()
        },
        RequestSignature {
            body_sha256: [8; 32],
            ..req.clone()
        },
        RequestSignature {
            timestamp: now - 11,
            ..req.clone()
        },
        RequestSignature {
            nonce: "00112233445566778899aabbccddeefe",
            ..req.clone()
        },
    ] {
        let mut n = NonceCache::default();
        assert_eq!(
            verify_request(&altered, &sig, &key.verifying_key(), now, &mut n),
            Err(AuthError::BadSignature)
        );
    }
    // A refused request does not burn its nonce.
    let mut n = NonceCache::default();
    let other = SigningKey::generate(&mut OsRng);
    assert!(verify_request(&req, &sig, &other.verifying_key(), now, &mut n).is_err());
    verify_request(&req, &sig, &key.verifying_key(), now, &mut n).unwrap();
    let bad_nonce = RequestSignature {
        nonce: "xyz",
        ..req.clone()
    };
    assert_eq!(
        verify_request(
            &bad_nonce,
            &sig,
            &key.verifying_key(),
            now,
            &mut NonceCache::default()
        ),
        Err(AuthError::Nonce)
    );
}
