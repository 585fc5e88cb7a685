//! The one driver interface: a sans-IO [`Protocol`] wrapped in a [`Session`]
//! that authenticates the *routing* of every message before the protocol sees it.
//!
//! A session never reads a socket or a clock. Callers feed it [`Envelope`]s and
//! send what [`Session::poll`] returns; [`crate::driver`] has the two loops that
//! do so (an in-process simulation and a blocking transport loop).
//!
//! Envelope checks, in order: the sender is a peer of this session, the envelope
//! is addressed to us, it carries our execution id, and its per-stream sequence
//! number is exactly the next one (catching duplicates, replays, reordering and
//! drops). Confidentiality and sender authentication are the channel's job
//! (issue 4: end-to-end encrypted node channels); these checks make sure a relay
//! that passes them still cannot confuse the protocol.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Misbehaviour};
use crate::party::PartyIndex;

/// Upper bound on one envelope's payload. The largest cggmp24 message
/// (aux-info round with Paillier proofs, n = 16) is far below this.
pub const MAX_PAYLOAD: usize = 8 << 20;

/// Where a protocol wants a message to go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recipient {
    /// Every other participant (the protocols check consistency themselves).
    All,
    /// One participant, by committee index.
    One(PartyIndex),
}

/// A message a protocol wants sent.
#[derive(Debug)]
pub struct Outgoing {
    /// Destination.
    pub to: Recipient,
    /// Protocol round, for routing checks.
    pub round: u16,
    /// Encoded protocol message.
    pub payload: Vec<u8>,
}

/// A message handed to a protocol after the envelope checks passed.
#[derive(Debug)]
pub struct Incoming {
    /// Sender's committee index.
    pub from: PartyIndex,
    /// Whether the sender broadcast it.
    pub broadcast: bool,
    /// Round claimed by the envelope.
    pub round: u16,
    /// Encoded protocol message (untrusted).
    pub payload: Vec<u8>,
}

/// What a protocol wants next.
#[derive(Debug)]
pub enum Action<O> {
    /// Send this, then call `proceed` again.
    Send(Outgoing),
    /// Nothing to do until another message is received.
    Wait,
    /// Finished.
    Done(O),
}

/// A sans-IO multi-party protocol state machine.
///
/// Implementations own their secrets and move each round's secret state into
/// the next, so nothing can be replayed by calling them twice. Not `Send`:
/// cggmp24 runs inside round-based's single-threaded executor, so a node
/// creates and drives each session on one thread.
pub trait Protocol {
    /// What a successful run yields.
    type Output;
    /// Advances as far as possible without new input.
    fn proceed(&mut self) -> Result<Action<Self::Output>, Error>;
    /// Accepts one message that passed the envelope checks.
    fn receive(&mut self, msg: Incoming) -> Result<(), Error>;
}

/// A 32-byte execution id binding every message of a run to its context:
/// protocol, scheme, caller's session id, committee, signers, message, path.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ExecutionId(pub [u8; 32]);

impl std::fmt::Debug for ExecutionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ExecutionId({})", hex_prefix(&self.0))
    }
}

fn hex_prefix(b: &[u8]) -> String {
    b.iter().take(8).map(|x| format!("{x:02x}")).collect()
}

impl ExecutionId {
    /// Domain-separated hash of length-prefixed fields.
    pub fn derive(protocol: &str, session_id: &[u8; 32], fields: &[&[u8]]) -> Self {
        let mut h = Sha256::new();
        h.update(b"custos-tss/v1/execution-id\0");
        for part in [protocol.as_bytes(), session_id.as_slice()]
            .into_iter()
            .chain(fields.iter().copied())
        {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part);
        }
        Self(h.finalize().into())
    }
}

/// One routed protocol message. Broadcasts are expanded to one envelope per
/// recipient so every (sender, recipient) stream is numbered on its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// Execution id of the run.
    pub execution_id: ExecutionId,
    /// Sender's committee index.
    pub from: PartyIndex,
    /// Recipient's committee index.
    pub to: PartyIndex,
    /// Whether this copy belongs to a broadcast.
    pub broadcast: bool,
    /// Position in the (from, to) stream, starting at 0.
    pub seq: u32,
    /// Protocol round.
    pub round: u16,
    /// Encoded protocol message.
    pub payload: Vec<u8>,
}

/// Why envelope bytes were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeDecodeError {
    /// Bytes do not decode as an envelope.
    #[error("envelope does not decode")]
    Malformed,
    /// Decoded, with bytes left over.
    #[error("trailing bytes after envelope")]
    TrailingBytes,
    /// Payload above [`MAX_PAYLOAD`].
    #[error("payload too large")]
    TooLarge,
}

impl Envelope {
    /// Canonical encoding (postcard).
    pub fn to_bytes(&self) -> Vec<u8> {
        postcard::to_stdvec(self).unwrap_or_default()
    }

    /// Decodes untrusted bytes; rejects trailing data and oversized payloads.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, EnvelopeDecodeError> {
        if bytes.len() > MAX_PAYLOAD + 128 {
            return Err(EnvelopeDecodeError::TooLarge);
        }
        let (env, rest): (Envelope, _) =
            postcard::take_from_bytes(bytes).map_err(|_| EnvelopeDecodeError::Malformed)?;
        if !rest.is_empty() {
            return Err(EnvelopeDecodeError::TrailingBytes);
        }
        if env.payload.len() > MAX_PAYLOAD {
            return Err(EnvelopeDecodeError::TooLarge);
        }
        Ok(env)
    }
}

/// What the caller should do next.
#[derive(Debug)]
pub enum Step<O> {
    /// Deliver these envelopes, then poll again.
    Send(Vec<Envelope>),
    /// Wait for the next incoming envelope.
    Wait,
    /// The run finished.
    Done(O),
}

/// Traffic counters of one party's run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Envelopes sent (a broadcast counts once per recipient).
    pub messages: usize,
    /// Encoded envelope bytes sent.
    pub bytes: usize,
    /// Protocol payload bytes sent, without envelope overhead.
    pub payload_bytes: usize,
}

enum State {
    Running,
    Finished,
}

/// A protocol run of one party, with routing checks.
pub struct Session<O> {
    eid: ExecutionId,
    me: PartyIndex,
    next_out: BTreeMap<PartyIndex, u32>,
    next_in: BTreeMap<PartyIndex, u32>,
    protocol: Box<dyn Protocol<Output = O>>,
    state: State,
    stats: Stats,
}

impl<O> std::fmt::Debug for Session<O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("eid", &self.eid)
            .field("me", &self.me)
            .field("peers", &self.next_in.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl<O> Session<O> {
    /// Wraps `protocol` for party `me` talking to `peers` (must not contain `me`).
    pub fn new(
        eid: ExecutionId,
        me: PartyIndex,
        peers: impl IntoIterator<Item = PartyIndex>,
        protocol: Box<dyn Protocol<Output = O>>,
    ) -> Self {
        let peers: Vec<_> = peers.into_iter().filter(|&p| p != me).collect();
        Self {
            eid,
            me,
            next_out: peers.iter().map(|&p| (p, 0)).collect(),
            next_in: peers.iter().map(|&p| (p, 0)).collect(),
            protocol,
            state: State::Running,
            stats: Stats::default(),
        }
    }

    /// Converts the output when the run finishes.
    pub fn map<U: 'static>(self, f: impl FnOnce(O) -> U + 'static) -> Session<U>
    where
        O: 'static,
    {
        let protocol = MapOutput {
            inner: self.protocol,
            f: Some(f),
        };
        Session {
            eid: self.eid,
            me: self.me,
            next_out: self.next_out,
            next_in: self.next_in,
            protocol: Box::new(protocol),
            state: self.state,
            stats: self.stats,
        }
    }

    /// This party's index.
    pub fn me(&self) -> PartyIndex {
        self.me
    }

    /// The execution id every envelope must carry.
    pub fn execution_id(&self) -> ExecutionId {
        self.eid
    }

    /// Traffic sent so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Advances the protocol: returns envelopes to send, `Wait`, or the output.
    pub fn poll(&mut self) -> Result<Step<O>, Error> {
        if matches!(self.state, State::Finished) {
            return Err(Error::Finished);
        }
        let result = self.poll_inner();
        if !matches!(result, Ok(Step::Send(_)) | Ok(Step::Wait)) {
            self.state = State::Finished;
        }
        result
    }

    fn poll_inner(&mut self) -> Result<Step<O>, Error> {
        let mut out = Vec::new();
        loop {
            match self.protocol.proceed()? {
                Action::Send(msg) => self.address(msg, &mut out)?,
                Action::Wait if out.is_empty() => return Ok(Step::Wait),
                Action::Wait => return Ok(Step::Send(out)),
                Action::Done(o) if out.is_empty() => return Ok(Step::Done(o)),
                // A protocol never finishes with unsent messages of its own.
                Action::Done(_) => {
                    return Err(Error::Bug("protocol finished with messages pending"))
                }
            }
        }
    }

    fn address(&mut self, msg: Outgoing, out: &mut Vec<Envelope>) -> Result<(), Error> {
        let recipients: Vec<PartyIndex> = match msg.to {
            Recipient::All => self.next_out.keys().copied().collect(),
            Recipient::One(p) if self.next_out.contains_key(&p) => vec![p],
            Recipient::One(_) => return Err(Error::Bug("protocol addressed a non-participant")),
        };
        let broadcast = matches!(msg.to, Recipient::All);
        for to in recipients {
            let seq = self
                .next_out
                .get_mut(&to)
                .ok_or(Error::Bug("unknown recipient"))?;
            let env = Envelope {
                execution_id: self.eid,
                from: self.me,
                to,
                broadcast,
                seq: *seq,
                round: msg.round,
                payload: msg.payload.clone(),
            };
            *seq = seq.checked_add(1).ok_or(Error::Bug("sequence overflow"))?;
            self.stats.messages += 1;
            self.stats.payload_bytes += env.payload.len();
            self.stats.bytes += env.to_bytes().len();
            out.push(env);
        }
        Ok(())
    }

    /// Checks an envelope's routing and hands its payload to the protocol.
    ///
    /// Any error is final: the session refuses further use, as an aborted run
    /// must be restarted with a fresh execution id.
    pub fn handle(&mut self, env: Envelope) -> Result<(), Error> {
        if matches!(self.state, State::Finished) {
            return Err(Error::Finished);
        }
        let result = self.handle_inner(env);
        if result.is_err() {
            self.state = State::Finished;
        }
        result
    }

    fn handle_inner(&mut self, env: Envelope) -> Result<(), Error> {
        let from = env.from;
        let misbehaved = |kind| Error::Misbehaved { from, kind };
        let expected = self
            .next_in
            .get_mut(&from)
            .ok_or(misbehaved(Misbehaviour::UnexpectedSender))?;
        if env.to != self.me {
            return Err(misbehaved(Misbehaviour::WrongRecipient(env.to)));
        }
        if env.execution_id != self.eid {
            return Err(misbehaved(Misbehaviour::ExecutionIdMismatch));
        }
        if env.seq < *expected {
            return Err(misbehaved(Misbehaviour::Duplicate { seq: env.seq }));
        }
        if env.seq > *expected {
            return Err(misbehaved(Misbehaviour::OutOfOrder {
                expected: *expected,
                got: env.seq,
            }));
        }
        *expected = expected
            .checked_add(1)
            .ok_or(Error::Bug("sequence overflow"))?;
        self.protocol.receive(Incoming {
            from,
            broadcast: env.broadcast,
            round: env.round,
            payload: env.payload,
        })
    }
}

struct MapOutput<O, F> {
    inner: Box<dyn Protocol<Output = O>>,
    f: Option<F>,
}

impl<O, U, F: FnOnce(O) -> U> Protocol for MapOutput<O, F> {
    type Output = U;

    fn proceed(&mut self) -> Result<Action<U>, Error> {
        Ok(match self.inner.proceed()? {
            Action::Send(m) => Action::Send(m),
            Action::Wait => Action::Wait,
            Action::Done(o) => Action::Done((self.f.take().ok_or(Error::Finished)?)(o)),
        })
    }

    fn receive(&mut self, msg: Incoming) -> Result<(), Error> {
        self.inner.receive(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_round_trip_and_trailing_bytes() {
        let env = Envelope {
            execution_id: ExecutionId([7; 32]),
            from: 1,
            to: 2,
            broadcast: true,
            seq: 3,
            round: 4,
            payload: vec![1, 2, 3],
        };
        let bytes = env.to_bytes();
        assert_eq!(Envelope::from_bytes(&bytes).unwrap(), env);
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(
            Envelope::from_bytes(&longer),
            Err(EnvelopeDecodeError::TrailingBytes)
        );
        assert_eq!(
            Envelope::from_bytes(&bytes[..bytes.len() - 1]),
            Err(EnvelopeDecodeError::Malformed)
        );
    }

    #[test]
    fn execution_ids_separate_fields() {
        let sid = [1; 32];
        let a = ExecutionId::derive("sign", &sid, &[b"ab", b"c"]);
        let b = ExecutionId::derive("sign", &sid, &[b"a", b"bc"]);
        assert_ne!(a, b);
    }
}
