//! Stored key-share blobs: decode and validation never panic; an accepted
//! share re-encodes to the same bytes (one encoding per share).
#![no_main]

use std::sync::OnceLock;

use custos_tss::ecdsa::AuxInfo;
use custos_tss::KeyShare;
use libfuzzer_sys::fuzz_target;

fn aux() -> &'static AuxInfo {
    static AUX: OnceLock<AuxInfo> = OnceLock::new();
    AUX.get_or_init(|| {
        let line = include_str!("../../crates/custos-tss/test-data/aux-3.hex")
            .lines()
            .nth(1)
            .expect("fixture");
        AuxInfo::from_bytes(&hex::decode(line).expect("hex")).expect("aux fixture")
    })
}

fuzz_target!(|data: &[u8]| {
    for aux in [None, Some(aux())] {
        if let Ok(share) = KeyShare::from_bytes(data, aux) {
            assert_eq!(share.to_bytes().expect("encode").as_slice(), data);
        }
    }
});
