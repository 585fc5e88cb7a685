//! Envelope bytes from the network: decode never panics; what decodes re-encodes.
#![no_main]

use custos_tss::Envelope;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(env) = Envelope::from_bytes(data) {
        let again = Envelope::from_bytes(&env.to_bytes()).expect("re-encoding decodes");
        assert_eq!(again, env);
    }
});
