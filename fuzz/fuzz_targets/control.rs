//! Control messages between node and server (bytes from the TLS peer):
//! length checks and decoding never panic; what decodes re-encodes.
#![no_main]

use custos_net::framing::{body_len, decode, encode};
use custos_protocol::control::{NodeMessage, ServerMessage};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(prefix) = data.first_chunk::<4>() {
        let _ = body_len(*prefix);
    }
    if let Ok(msg) = decode::<NodeMessage>(data) {
        let bytes = encode(&msg).expect("encode");
        assert_eq!(decode::<NodeMessage>(&bytes[4..]).expect("decode"), msg);
    }
    if let Ok(msg) = decode::<ServerMessage>(data) {
        let bytes = encode(&msg).expect("encode");
        assert_eq!(decode::<ServerMessage>(&bytes[4..]).expect("decode"), msg);
    }
});
