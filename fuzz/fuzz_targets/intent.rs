//! Transfer intents from the server: decoding never panics; an accepted
//! intent re-encodes to the same bytes and builds or is refused cleanly for
//! every kind of key.
#![no_main]

use custos_chains::intent::TransferIntent;
use custos_chains::AccountKey;
use custos_tss::Scheme;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(intent) = TransferIntent::from_bytes(data) {
        assert_eq!(intent.to_bytes().expect("encode"), data);
        let keys = [
            AccountKey {
                scheme: Scheme::EcdsaSecp256k1,
                public_key: hex::decode(
                    "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798",
                )
                .expect("hex"),
            },
            AccountKey {
                scheme: Scheme::SchnorrBip340,
                public_key: hex::decode(
                    "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798",
                )
                .expect("hex"),
            },
            AccountKey {
                scheme: Scheme::Ed25519,
                public_key: vec![7; 32],
            },
        ];
        for key in &keys {
            let _ = custos_chains::build(&intent, key);
        }
    }
});
