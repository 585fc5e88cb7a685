//! Relay bytes into a node's sealed channel: decoding and opening never panic,
//! and nothing the fuzzer makes (it holds no enrolled key) is accepted.
#![no_main]

use std::collections::BTreeMap;
use std::sync::OnceLock;

use custos_wire::{Channel, Frame, NodeKeys};
use libfuzzer_sys::fuzz_target;

fn keys() -> &'static (NodeKeys, NodeKeys) {
    static KEYS: OnceLock<(NodeKeys, NodeKeys)> = OnceLock::new();
    KEYS.get_or_init(|| {
        let k = |b: u8| NodeKeys::from_secret_bytes(&[b; 32]).expect("key");
        (k(1), k(2))
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(frame) = Frame::from_bytes(data) else {
        return;
    };
    assert_eq!(Frame::from_bytes(&frame.to_bytes()).as_ref(), Ok(&frame));
    let (me, peer) = keys();
    let roster: BTreeMap<_, _> = [(0u16, me.public()), (1u16, peer.public())]
        .into_iter()
        .collect();
    let mut channel = Channel::new(frame.header.session, 0, me, roster).expect("channel");
    assert!(
        channel.open(&frame).is_err(),
        "a frame not sealed by the peer was accepted"
    );
});
