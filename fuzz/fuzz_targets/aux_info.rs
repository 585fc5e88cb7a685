//! Stored aux-info blobs: decode and validation never panic.
#![no_main]

use custos_tss::ecdsa::AuxInfo;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(aux) = AuxInfo::from_bytes(data) {
        assert_eq!(aux.to_bytes().expect("encode").as_slice(), data);
    }
});
