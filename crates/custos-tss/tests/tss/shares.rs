//! Key-share and aux-info formats: round trips, released-format fixtures,
//! redacted `Debug`, and single-byte mutations that must all be refused.

use std::sync::OnceLock;

use custos_tss::ecdsa::AuxInfo;
use custos_tss::error::{Error, ShareError};
use custos_tss::{DerivationPath, KeyShare, Scheme};
use proptest::prelude::*;

use crate::common::{aux, dkg, message, sign, verify_independently};

fn fixture_path(scheme: Scheme) -> String {
    format!(
        "{}/test-data/share-v1-{}.hex",
        env!("CARGO_MANIFEST_DIR"),
        scheme.as_str()
    )
}

/// Shares of each scheme (2-of-3), serialized once per test binary.
fn blobs() -> &'static Vec<(Scheme, Vec<u8>)> {
    static BLOBS: OnceLock<Vec<(Scheme, Vec<u8>)>> = OnceLock::new();
    BLOBS.get_or_init(|| {
        Scheme::ALL
            .iter()
            .map(|&s| (s, dkg(s, 2, 3)[1].to_bytes().unwrap().to_vec()))
            .collect()
    })
}

fn aux_for(scheme: Scheme, index: u16) -> Option<AuxInfo> {
    (scheme == Scheme::EcdsaSecp256k1).then(|| aux(3).swap_remove(usize::from(index)))
}

#[test]
fn shares_round_trip_and_still_sign() {
    for scheme in Scheme::ALL {
        let shares = dkg(scheme, 2, 3);
        let aux = (scheme == Scheme::EcdsaSecp256k1).then(|| aux(3));
        let reloaded: Vec<KeyShare> = shares
            .iter()
            .enumerate()
            .map(|(i, s)| {
                KeyShare::from_bytes(&s.to_bytes().unwrap(), aux.as_ref().map(|a| &a[i])).unwrap()
            })
            .collect();
        for (a, b) in shares.iter().zip(&reloaded) {
            assert_eq!(a.key_id(), b.key_id());
            assert_eq!(a.to_bytes().unwrap(), b.to_bytes().unwrap());
        }
        let msg = message();
        let path: DerivationPath = "m/0/3".parse().unwrap();
        let sig = sign(&reloaded, &[0, 2], &path, &msg);
        assert!(verify_independently(
            scheme,
            &reloaded[0].public_key(&path).unwrap(),
            &msg,
            &sig.bytes
        ));
    }
}

#[test]
fn released_format_fixtures_load() {
    for scheme in Scheme::ALL {
        let path = fixture_path(scheme);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let bytes = hex::decode(text.trim()).unwrap();
        let share = KeyShare::from_bytes(&bytes, aux_for(scheme, 1).as_ref()).unwrap();
        assert_eq!(share.scheme(), scheme);
        assert_eq!(share.index(), 1);
    }
}

/// Regenerates `test-data/share-v1-*.hex`. Run only when adding a format
/// version: `cargo test -p custos-tss --test tss -- --ignored write_share_fixtures`.
#[test]
#[ignore]
fn write_share_fixtures() {
    for (scheme, blob) in blobs() {
        std::fs::write(fixture_path(*scheme), hex::encode(blob) + "\n").unwrap();
    }
}

#[test]
fn debug_and_errors_do_not_print_secrets() {
    for scheme in Scheme::ALL {
        let share = &dkg(scheme, 2, 3)[0];
        let debug = format!("{share:?}");
        assert!(debug.contains("<redacted>"), "{debug}");
        let blob = share.to_bytes().unwrap();
        // The secret is the last 32 bytes of the record body.
        let secret_hex = hex::encode(&blob[blob.len() - 32..]);
        assert!(!debug.to_lowercase().contains(&secret_hex[..16]), "{debug}");
    }
    let aux = &aux(3)[0];
    assert!(format!("{aux:?}").contains("<redacted>"));
}

#[test]
fn header_errors_are_typed() {
    let (_, blob) = &blobs()[1];
    let mut wrong_version = blob.clone();
    wrong_version[5] = 9;
    assert!(matches!(
        KeyShare::from_bytes(&wrong_version, None),
        Err(Error::Share(ShareError::Version(9)))
    ));
    assert!(matches!(
        KeyShare::from_bytes(b"nope", None),
        Err(Error::Share(ShareError::Magic))
    ));
    let mut trailing = blob.clone();
    trailing.push(0);
    assert!(matches!(
        KeyShare::from_bytes(&trailing, None),
        Err(Error::Share(ShareError::Decode(_)))
    ));
    assert!(KeyShare::from_bytes(&blob[..blob.len() - 1], None).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Any single-byte change of a serialized share is refused: by the
    /// decoder, the key-id check, or the share-consistency validation.
    #[test]
    fn any_single_byte_mutation_of_a_share_is_refused(which in 0usize..3, pos in any::<prop::sample::Index>(), xor in 1u8..=255) {
        let (scheme, blob) = &blobs()[which];
        let mut bad = blob.clone();
        let i = pos.index(bad.len());
        bad[i] ^= xor;
        let aux = aux_for(*scheme, 1);
        prop_assert!(KeyShare::from_bytes(&bad, aux.as_ref()).is_err(), "{scheme} byte {i} ^ {xor:#x} accepted");
    }

    /// The same for the committee aux info.
    #[test]
    fn any_single_byte_mutation_of_aux_info_is_refused(pos in any::<prop::sample::Index>(), xor in 1u8..=255) {
        static AUX: OnceLock<Vec<u8>> = OnceLock::new();
        let blob = AUX.get_or_init(|| aux(3)[0].to_bytes().unwrap().to_vec());
        let mut bad = blob.clone();
        let i = pos.index(bad.len());
        bad[i] ^= xor;
        prop_assert!(AuxInfo::from_bytes(&bad).is_err(), "byte {i} ^ {xor:#x} accepted");
    }
}

#[test]
fn every_byte_position_of_each_share_is_covered() {
    // Deterministic sweep complementing the proptest: flip the low bit of each byte.
    for (scheme, blob) in blobs() {
        let aux = aux_for(*scheme, 1);
        for i in 0..blob.len() {
            let mut bad = blob.clone();
            bad[i] ^= 1;
            assert!(
                KeyShare::from_bytes(&bad, aux.as_ref()).is_err(),
                "{scheme} byte {i}"
            );
        }
    }
}
