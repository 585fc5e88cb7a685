//! Relay faults for tests (feature `fault-injection`, never in a release
//! build): the server plays the malicious relay of the threat model and the
//! nodes must catch it. `CUSTOS_RELAY_FAULT=flip|replay|drop|reorder` picks
//! one fault, applied in every session to the first (sender, recipient)
//! stream the server sees. `CUSTOS_AUTH_FAULT` makes the server lie about
//! transfers in the ways the threat model lists (see
//! [`edit_authorization`]); the nodes must refuse each.

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

/// The authorisation fault named by `CUSTOS_AUTH_FAULT`, if any. While one
/// is set the server also skips its own policy, role and segregation-of-duty
/// checks and dispatches whatever it holds, so only the nodes stand between
/// the request and a signature.
pub fn auth_fault() -> Option<String> {
    std::env::var("CUSTOS_AUTH_FAULT")
        .ok()
        .filter(|f| !f.is_empty())
}

/// Edits what a lying server sends with a transfer (`CUSTOS_AUTH_FAULT`):
/// `no-approvals`, `forge-approval`, `alter-amount`, `alter-destination`,
/// `alter-fee`, `stale-head`, `skew`, `unlogged`. `log` is cleared when the
/// signing must not be logged.
pub fn edit_authorization(
    auth: &mut custos_protocol::authz::Authorization,
    request: &mut custos_protocol::authz::SigningRequest,
    log: &mut bool,
    stale_head: Option<[u8; 32]>,
) {
    use custos_chains::ChainIntent;
    use custos_protocol::authz::SigningRequest;
    let Some(fault) = auth_fault() else { return };
    eprintln!("server: TEST BUILD: authorisation fault {fault} is active");
    let mut alter = |f: &dyn Fn(&mut ChainIntent)| {
        if let SigningRequest::Transfer(t) = request {
            f(&mut t.chain);
        }
    };
    match fault.as_str() {
        // (`below-quorum` and `accept` act in `approvals`: the server
        // dispatches early or counts approvals it should refuse.)
        "no-approvals" => auth.approvals.clear(),
        "forge-approval" => {
            use ed25519_dalek::Signer;
            let key = ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng);
            if let Some(last) = auth.approvals.last_mut() {
                last.1 = key.sign(b"forged").to_bytes().to_vec();
            }
        }
        "alter-amount" => alter(&|c| match c {
            ChainIntent::Ethereum(e) => e.amount += 1,
            ChainIntent::Bitcoin(b) => b.amount += 1,
            ChainIntent::Solana(s) => s.amount += 1,
        }),
        "alter-destination" => alter(&|c| {
            if let ChainIntent::Ethereum(e) = c {
                e.to = "0x000000000000000000000000000000000000dEaD".into();
            }
        }),
        "alter-fee" => alter(&|c| {
            if let ChainIntent::Ethereum(e) = c {
                e.max_fee_per_gas += 1;
            }
        }),
        "stale-head" => {
            if let Some(h) = stale_head {
                auth.head = h;
            }
        }
        "skew" => auth.time -= 3 * 3600,
        "unlogged" => *log = false,
        _ => {}
    }
}

/// `CUSTOS_AUTH_FAULT=payload`: the server states a different sighash than
/// the intent gives.
pub fn edit_payloads(payloads: &mut [Vec<u8>]) {
    if auth_fault().as_deref() == Some("payload") {
        if let Some(b) = payloads.first_mut().and_then(|p| p.first_mut()) {
            *b ^= 1;
        }
    }
}

/// `CUSTOS_AUTH_FAULT=phantom-sign`: the server logs the signing with an
/// initiator signature nobody made (a signing it claims someone asked
/// for): no witness may add it to its ledger, so no node signs, and the
/// auditor names the entry.
pub fn edit_sign_entry(entry: &mut custos_protocol::sign_entry::SignEntry) {
    if auth_fault().as_deref() == Some("phantom-sign") {
        use ed25519_dalek::Signer;
        eprintln!("server: TEST BUILD: authorisation fault phantom-sign is active");
        let key = ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng);
        entry.initiator_signature = hex::encode(key.sign(b"phantom").to_bytes());
    }
}

/// `CUSTOS_AUTH_FAULT=forge-order`: the server starts a wallet's aux info
/// and DKG on an order no admin signed (every node must refuse before any
/// round).
pub fn edit_order(order: &mut custos_protocol::attest::SignedOrder) {
    if auth_fault().as_deref() == Some("forge-order") {
        use ed25519_dalek::Signer;
        eprintln!("server: TEST BUILD: authorisation fault forge-order is active");
        let key = ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng);
        order.signature = key.sign(&order.order.message()).to_bytes().to_vec();
    }
}

/// `CUSTOS_AUTH_FAULT=other-key`: the server prepares a transfer of one
/// wallet naming the key of `other` (the initiator's CLI must refuse it).
pub fn edit_prepared_key(
    intent: &mut custos_chains::intent::TransferIntent,
    other: Option<String>,
) {
    if auth_fault().as_deref() == Some("other-key") {
        if let Some(k) = other {
            eprintln!("server: TEST BUILD: authorisation fault other-key is active");
            intent.key_id = k;
        }
    }
}
