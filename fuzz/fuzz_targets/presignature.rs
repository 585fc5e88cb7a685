//! Stored presignature blobs (a node's vault): decode and validation never
//! panic; an accepted presignature re-encodes to the same bytes.
#![no_main]

use std::sync::OnceLock;

use custos_tss::ecdsa::{AuxInfo, EcdsaKeyShare, Presignature};
use custos_tss::KeyShare;
use libfuzzer_sys::fuzz_target;

fn share() -> &'static EcdsaKeyShare {
    static SHARE: OnceLock<EcdsaKeyShare> = OnceLock::new();
    SHARE.get_or_init(|| {
        let blob = hex::decode(
            include_str!("../../crates/custos-tss/test-data/share-v1-ecdsa-secp256k1.hex").trim(),
        )
        .expect("hex");
        include_str!("../../crates/custos-tss/test-data/aux-3.hex")
            .lines()
            .filter_map(|l| AuxInfo::from_bytes(&hex::decode(l).ok()?).ok())
            .find_map(|aux| match KeyShare::from_bytes(&blob, Some(&aux)) {
                Ok(KeyShare::Ecdsa(s)) => Some(s),
                _ => None,
            })
            .expect("share fixture")
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = Presignature::from_bytes(data, share()) {
        assert_eq!(p.to_bytes().expect("encode").as_slice(), data);
    }
});
