//! Governance proposals from users (through the server) and chains nodes
//! receive: decoding never panics, and applying any decoded proposal to a
//! fixed chain either extends it or is refused with nothing changed.
#![no_main]

use custos_governance::{Genesis, Governance, SignedProposal};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(signed) = postcard::from_bytes::<SignedProposal>(data) else {
        return;
    };
    // Ed25519 base point encodings stand in for keys; nothing verifies.
    let genesis = Genesis {
        admins: vec![
            ("a".into(), [0x58; 32]),
            ("b".into(), [0x66; 32]),
        ],
        admin_quorum: 1,
        audit_key: [0x58; 32],
        committees: vec![],
        demo: true,
    };
    let Ok(mut gov) = Governance::genesis(&genesis) else {
        return;
    };
    let before = gov.clone();
    if gov.apply(&signed).is_err() {
        assert_eq!(gov, before);
    }
});
