//! Stored safe-prime blobs: decode never panics.
#![no_main]

use custos_tss::ecdsa::SafePrimes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = SafePrimes::from_bytes(data);
});
