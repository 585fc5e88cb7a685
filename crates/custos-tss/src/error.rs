//! Typed errors. Every variant that a peer can cause names the peer.
//!
//! Error text never contains key material: only party indices, round numbers,
//! lengths and the audited libraries' own (secret-free) reason strings.

use crate::limits::PartyIndex;

/// Why a protocol run or a key operation failed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request itself is malformed; refused before any round runs.
    #[error("invalid parameters: {0}")]
    Params(#[from] ParamError),
    /// A peer sent something that the transport-level checks reject.
    #[error("party {from} misbehaved: {kind}")]
    Misbehaved {
        /// The sender named in the offending envelope.
        from: PartyIndex,
        /// What was wrong with it.
        kind: Misbehaviour,
    },
    /// The cryptographic protocol aborted.
    ///
    /// `culprits` is filled where the library can prove who cheated (FROST's
    /// proofs of knowledge and signature-share checks, our DKG transcript echo).
    /// cggmp24 0.7.0-alpha.3 keeps its blame list private, so ECDSA aborts carry
    /// no culprit, only the library's reason.
    #[error("protocol aborted{}: {reason}", fmt_culprits(.culprits))]
    Aborted {
        /// Parties proven to have deviated, if the library can tell.
        culprits: Vec<PartyIndex>,
        /// The library's reason (secret-free).
        reason: String,
    },
    /// A stored or received key share failed validation.
    #[error("invalid key share: {0}")]
    Share(#[from] ShareError),
    /// In-process simulation only: every party waits and no message is in flight.
    #[error("run stalled: no message can arrive")]
    Stalled,
    /// A session was used after it finished or failed.
    #[error("session already finished")]
    Finished,
    /// An internal invariant broke. Never caused by peer input alone.
    #[error("internal error: {0}")]
    Bug(&'static str),
}

fn fmt_culprits(c: &[PartyIndex]) -> String {
    if c.is_empty() {
        String::new()
    } else {
        format!(" (culprits: {c:?})")
    }
}

impl Error {
    /// Parties that this error blames, if any.
    pub fn culprits(&self) -> Vec<PartyIndex> {
        match self {
            Error::Misbehaved { from, .. } => vec![*from],
            Error::Aborted { culprits, .. } => culprits.clone(),
            Error::Params(_)
            | Error::Share(_)
            | Error::Stalled
            | Error::Finished
            | Error::Bug(_) => {
                vec![]
            }
        }
    }
}

/// A request that cannot run. Checked before the first round.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    /// 1 < t ≤ n ≤ 16 does not hold.
    #[error("threshold {t} of {n} is not supported (need 1 < t <= n <= {max})", max = crate::limits::MAX_PARTIES)]
    Threshold {
        /// Threshold.
        t: u16,
        /// Committee size.
        n: u16,
    },
    /// The signer set is smaller than the threshold.
    #[error("{got} signers given, {need} required")]
    TooFewSigners {
        /// Signers given.
        got: usize,
        /// Threshold.
        need: u16,
    },
    /// The signer set is larger than the threshold (the protocols need exactly t).
    #[error("{got} signers given, exactly {need} required")]
    TooManySigners {
        /// Signers given.
        got: usize,
        /// Threshold.
        need: u16,
    },
    /// A party index appears twice.
    #[error("party {0} listed twice")]
    DuplicateParty(PartyIndex),
    /// A party index outside the committee.
    #[error("party {index} is not in the committee of {n}")]
    UnknownParty {
        /// The index.
        index: PartyIndex,
        /// Committee size.
        n: u16,
    },
    /// This party is not among the signers it was asked to run with.
    #[error("local party {0} is not among the signers")]
    NotASigner(PartyIndex),
    /// The derivation path has a hardened or otherwise unusable index.
    #[error("derivation path: {0}")]
    Path(String),
    /// A message to sign that the scheme or mode cannot accept.
    #[error("message: {0}")]
    Message(&'static str),
    /// Key share and request disagree (scheme, committee, key).
    #[error("key share does not fit the request: {0}")]
    Mismatch(&'static str),
}

/// One way a peer's envelope can be wrong.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Misbehaviour {
    /// The sender is not a participant of this session (or is ourselves).
    #[error("sender is not a participant of this session")]
    UnexpectedSender,
    /// The envelope was addressed to another party.
    #[error("message addressed to party {0}")]
    WrongRecipient(PartyIndex),
    /// The execution id differs: the peer runs another session, protocol,
    /// signer set or message.
    #[error("execution id mismatch")]
    ExecutionIdMismatch,
    /// A message with a sequence number already received.
    #[error("duplicate message (sequence {seq})")]
    Duplicate {
        /// The repeated sequence number.
        seq: u32,
    },
    /// A message arrived ahead of one that the sender sent before it.
    #[error("out-of-order message: expected sequence {expected}, got {got}")]
    OutOfOrder {
        /// The next sequence number due from this sender.
        expected: u32,
        /// The one that arrived.
        got: u32,
    },
    /// The payload does not decode, or decodes to the wrong round or kind.
    #[error("malformed message in round {round}: {detail}")]
    Malformed {
        /// Round claimed by the envelope.
        round: u16,
        /// What failed (no payload bytes are echoed).
        detail: &'static str,
    },
    /// A round this protocol does not have, or a broadcast sent point-to-point.
    #[error("unexpected message for round {round}")]
    UnexpectedRound {
        /// Round claimed by the envelope.
        round: u16,
    },
    /// The peer's view of the DKG transcript differs from ours.
    #[error("transcript confirmation differs")]
    TranscriptMismatch,
}

/// Why a key share was refused.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShareError {
    /// Not a Custos share blob.
    #[error("not a key share (bad magic)")]
    Magic,
    /// Written by an unknown format version.
    #[error("unsupported key-share format version {0}")]
    Version(u16),
    /// The blob does not decode, or has trailing bytes.
    #[error("key share does not decode: {0}")]
    Decode(&'static str),
    /// Decoded, but the cryptographic consistency checks fail.
    #[error("key share is inconsistent: {0}")]
    Inconsistent(&'static str),
    /// The public key material no longer hashes to the recorded key id.
    #[error("key id does not match the public key material")]
    KeyId,
}
