//! Recipient addresses: parsing never panics; an accepted address prints
//! back to a string that parses to the same address.
#![no_main]

use custos_chains::address::{parse_bitcoin, parse_ethereum, parse_solana};
use custos_chains::intent::BitcoinNetwork;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(a) = parse_ethereum(s) {
        assert_eq!(parse_ethereum(&a.to_checksum(None)).expect("round trip"), a);
    }
    for net in [
        BitcoinNetwork::Mainnet,
        BitcoinNetwork::Testnet,
        BitcoinNetwork::Signet,
        BitcoinNetwork::Regtest,
    ] {
        if let Ok(a) = parse_bitcoin(s, net) {
            assert_eq!(parse_bitcoin(&a.to_string(), net).expect("round trip"), a);
        }
    }
    if let Ok(p) = parse_solana(s) {
        assert_eq!(parse_solana(&p.to_string()).expect("round trip"), p);
    }
});
