//! Relay faults for tests (feature `fault-injection`, never in a release
//! build): the server plays the malicious relay of the threat model and the
//! nodes must catch it. `CUSTOS_RELAY_FAULT=flip|replay|drop|reorder` picks
//! one fault, applied in every session to the first (sender, recipient)
//! stream the server sees. `CUSTOS_JOB_FAULT=payload|intent` makes transfer
//! jobs lie: `payload` states a different sighash than the intent gives;
//! `intent` sends the last signer an intent for a larger amount (with the
//! payloads that intent gives, so only the other nodes can notice).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use custos_tss::PartyIndex;
use custos_wire::control::JobKind;
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

/// Transfer jobs as a lying server would send them (`CUSTOS_JOB_FAULT`).
pub fn edit_transfer(
    mut kind: JobKind,
    intent: &custos_chains::TransferIntent,
    wallet: &crate::store::WalletRecord,
    signers: &[PartyIndex],
) -> Result<(JobKind, BTreeMap<PartyIndex, JobKind>), crate::workflow::FlowError> {
    let mut overrides = BTreeMap::new();
    match std::env::var("CUSTOS_JOB_FAULT").ok().as_deref() {
        Some("payload") => {
            if let JobKind::SignTransfer { payloads, .. } = &mut kind {
                if let Some(b) = payloads.first_mut().and_then(|p| p.first_mut()) {
                    *b ^= 1;
                }
            }
        }
        Some("intent") => {
            let mut other = intent.clone();
            match &mut other.chain {
                custos_chains::ChainIntent::Ethereum(e) => e.amount += 1,
                custos_chains::ChainIntent::Bitcoin(b) => b.amount += 1,
                custos_chains::ChainIntent::Solana(s) => s.amount += 1,
            }
            let key = crate::transfers::account_key(wallet, other.account)?;
            let unsigned = custos_chains::build(&other, &key)?;
            if let (
                JobKind::SignTransfer {
                    key_id, signers: s, ..
                },
                Some(&last),
            ) = (&kind, signers.last())
            {
                overrides.insert(
                    last,
                    JobKind::SignTransfer {
                        key_id: key_id.clone(),
                        signers: s.clone(),
                        intent: other.to_bytes()?,
                        payloads: unsigned
                            .payloads
                            .iter()
                            .map(|p| p.message().to_vec())
                            .collect(),
                    },
                );
            }
        }
        _ => {}
    }
    Ok((kind, overrides))
}
