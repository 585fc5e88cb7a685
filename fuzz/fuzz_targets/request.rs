//! Signing requests from users (through the server) and as nodes decode
//! them: decoding never panics; what decodes is the canonical encoding,
//! hashes, and plans (for a fixed wallet key of each scheme) into payloads
//! and a policy record, or a clean refusal.
#![no_main]

use custos_protocol::authz::{plan, SigningRecord, SigningRequest};
use custos_tss::Scheme;
use libfuzzer_sys::fuzz_target;

/// The secp256k1 generator (compressed) and an Ed25519 point, as the
/// wallet's key at every path.
const SECP: &str = "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798";
const ED: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = SigningRequest::from_bytes(data) {
        let bytes = request.to_bytes().expect("encode");
        assert_eq!(bytes, data, "only the canonical encoding decodes");
        let Ok(hash) = request.hash() else { return };
        for (scheme, key) in [
            (Scheme::EcdsaSecp256k1, SECP),
            (Scheme::SchnorrBip340, &SECP[2..]),
            (Scheme::Ed25519, ED),
        ] {
            let key_at = |_: &custos_tss::DerivationPath| Ok(hex::decode(key).expect("hex"));
            if let Ok(planned) = plan(&request, scheme, &key_at) {
                let record = SigningRecord::new(&request, "fuzz", &planned).expect("record");
                assert_eq!(record.request, hex::encode(hash));
                assert!(!planned.work.is_empty());
            }
        }
    }
});
