//! Relay faults for tests (feature `fault-injection`, never in a release
//! build): the server plays the malicious relay of the threat model and the
//! nodes must catch it. `CUSTOS_RELAY_FAULT=flip|replay|drop|reorder` picks
//! one fault, applied in every session to the first (sender, recipient)
//! stream the server sees.

use std::collections::HashMap;
use std::sync::Mutex;

use custos_tss::PartyIndex;
use custos_wire::Frame;

/// What the relay does to the chosen stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Flip one ciphertext bit of the first frame.
    Flip,
    /// Deliver the first frame twice.
    Replay,
    /// Deliver nothing of the stream.
    Drop,
    /// Swap the first two frames.
    Reorder,
}

#[derive(Default)]
struct Stream {
    pair: Option<(PartyIndex, PartyIndex)>,
    seen: u32,
    held: Option<Frame>,
}

/// The active fault and what it has done per session.
pub struct Faults {
    fault: Fault,
    sessions: Mutex<HashMap<[u8; 32], Stream>>,
}

impl Faults {
    /// From `CUSTOS_RELAY_FAULT`, if set.
    pub fn from_env() -> Option<Self> {
        let fault = match std::env::var("CUSTOS_RELAY_FAULT").ok()?.as_str() {
            "flip" => Fault::Flip,
            "replay" => Fault::Replay,
            "drop" => Fault::Drop,
            "reorder" => Fault::Reorder,
            _ => return None,
        };
        eprintln!("server: TEST BUILD: relay fault {fault:?} is active");
        Some(Self {
            fault,
            sessions: Mutex::default(),
        })
    }

    /// The frames to forward in place of `frame`.
    pub fn apply(&self, mut frame: Frame) -> Vec<Frame> {
        let Ok(mut sessions) = self.sessions.lock() else {
            return vec![frame];
        };
        let stream = sessions.entry(frame.header.session).or_default();
        let pair = (frame.header.from, frame.header.to);
        if *stream.pair.get_or_insert(pair) != pair {
            return vec![frame];
        }
        stream.seen += 1;
        match (self.fault, stream.seen) {
            (Fault::Flip, 1) => {
                if let Some(b) = frame.ciphertext.last_mut() {
                    *b ^= 1;
                }
                vec![frame]
            }
            (Fault::Replay, 1) => vec![frame.clone(), frame],
            (Fault::Drop, _) => vec![],
            (Fault::Reorder, 1) => {
                stream.held = Some(frame);
                vec![]
            }
            (Fault::Reorder, 2) => std::iter::once(frame).chain(stream.held.take()).collect(),
            _ => vec![frame],
        }
    }
}
