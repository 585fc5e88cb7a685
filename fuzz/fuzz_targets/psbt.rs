//! PSBT import: parsing and planning never panic on hostile bytes.
#![no_main]

use custos_chains::intent::BitcoinNetwork;
use custos_chains::psbt::{parse, plan};
use custos_chains::AccountKey;
use custos_tss::Scheme;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(psbt) = parse(data) {
        let key = |_: u32| {
            Ok(AccountKey {
                scheme: Scheme::EcdsaSecp256k1,
                public_key: hex::decode(
                    "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798",
                )
                .expect("hex"),
            })
        };
        let _ = plan(&psbt, BitcoinNetwork::Regtest, key);
    }
});
