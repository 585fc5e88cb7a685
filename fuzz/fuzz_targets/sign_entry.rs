//! `sign` audit entries as witnesses and auditors decode them (the detail
//! is the server's JSON): decoding never panics, and what decodes is
//! checked against a fixed governance and wallet record to a clean answer.
#![no_main]

use custos_governance::{Genesis, Governance};
use custos_protocol::attest::WalletStatement;
use custos_protocol::sign_entry::SignEntry;
use custos_tss::Scheme;
use libfuzzer_sys::fuzz_target;

/// The Ed25519 base point: a valid key for the admin and the wallet.
const B: &str = "5866666666666666666666666666666666666666666666666666666666666666";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(entry) = SignEntry::decode(text) else { return };
    let key: [u8; 32] = hex::decode(B).expect("hex").try_into().expect("32");
    let Ok(gov) = Governance::genesis(&Genesis {
        admins: vec![("admin".into(), key)],
        admin_quorum: 1,
        audit_key: key,
        committees: vec![],
        demo: true,
    }) else {
        return;
    };
    let _ = entry.head();
    if let Ok(request) = entry.authentic(&gov) {
        let wallet = WalletStatement {
            wallet: request.wallet().to_owned(),
            scheme: Scheme::Ed25519,
            blind: false,
            committee: "default".into(),
            epoch: 0,
            key_id: request.key_id().to_owned(),
            public_key: B.into(),
            root_key: B.into(),
            chain_code: "00".repeat(32),
        };
        let _ = entry.recompute(&request, &wallet);
    }
});
