//! Signing requests from users (through the server) and as nodes rebuild
//! them: decoding never panics; what decodes re-encodes to an equal value,
//! hashes, and yields a policy record or a clean refusal.
#![no_main]

use custos_protocol::authz::SigningRequest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = SigningRequest::from_bytes(data) {
        let bytes = request.to_bytes().expect("encode");
        assert_eq!(SigningRequest::from_bytes(&bytes).expect("decode"), request);
        if let Ok(hash) = request.hash() {
            if let Ok(record) = request.record("fuzz") {
                assert_eq!(record.request, hex::encode(hash));
            }
        }
    }
});
