//! Adapts round-based's sync state machine (how cggmp24 exposes its protocols
//! without an async runtime) to [`Protocol`].

use std::collections::VecDeque;

use round_based::state_machine::{ProceedResult, StateMachine};
use round_based::{Incoming as RbIncoming, MessageDestination, MessageType, ProtocolMessage};
use serde::{de::DeserializeOwned, Serialize};

use crate::error::{Error, Misbehaviour};
use crate::party::PartyIndex;
use crate::session::{Action, Incoming, Outgoing, Protocol, Recipient};

type Finish<R, T> = Box<dyn FnOnce(R) -> Result<T, Error>>;

/// A cggmp24 protocol run behind the [`Protocol`] interface.
///
/// `positions[k]` is the committee index of the party at protocol position `k`
/// (signing renumbers the t signers `0..t`; keygen and aux use committee order).
pub(crate) struct RoundBased<SM: StateMachine, T> {
    sm: SM,
    awaiting: bool,
    inbox: VecDeque<RbIncoming<SM::Msg>>,
    positions: Vec<PartyIndex>,
    next_id: u64,
    finish: Option<Finish<SM::Output, T>>,
}

impl<SM, T> RoundBased<SM, T>
where
    SM: StateMachine,
{
    pub(crate) fn new(sm: SM, positions: Vec<PartyIndex>, finish: Finish<SM::Output, T>) -> Self {
        Self {
            sm,
            awaiting: false,
            inbox: VecDeque::new(),
            positions,
            next_id: 0,
            finish: Some(finish),
        }
    }

    fn committee_index(&self, position: u16) -> Result<PartyIndex, Error> {
        self.positions
            .get(usize::from(position))
            .copied()
            .ok_or(Error::Bug("library addressed an unknown position"))
    }

    fn position(&self, index: PartyIndex) -> Option<u16> {
        self.positions
            .iter()
            .position(|&p| p == index)
            .and_then(|p| u16::try_from(p).ok())
    }
}

impl<SM, T> Protocol for RoundBased<SM, T>
where
    SM: StateMachine,
    SM::Msg: Serialize + DeserializeOwned + ProtocolMessage,
{
    type Output = T;

    fn proceed(&mut self) -> Result<Action<T>, Error> {
        loop {
            if self.awaiting {
                let Some(msg) = self.inbox.pop_front() else {
                    return Ok(Action::Wait);
                };
                self.awaiting = false;
                self.sm
                    .received_msg(msg)
                    .map_err(|_| Error::Bug("state machine refused a requested message"))?;
            }
            match self.sm.proceed() {
                ProceedResult::SendMsg(out) => {
                    let to = match out.recipient {
                        MessageDestination::AllParties => Recipient::All,
                        MessageDestination::OneParty(p) => Recipient::One(self.committee_index(p)?),
                    };
                    let round = out.msg.round();
                    let payload = postcard::to_stdvec(&out.msg)
                        .map_err(|_| Error::Bug("protocol message does not encode"))?;
                    return Ok(Action::Send(Outgoing { to, round, payload }));
                }
                ProceedResult::NeedsOneMoreMessage => self.awaiting = true,
                ProceedResult::Yielded => {}
                ProceedResult::Output(out) => {
                    let finish = self.finish.take().ok_or(Error::Finished)?;
                    return finish(out).map(Action::Done);
                }
                ProceedResult::Error(_) => return Err(Error::Bug("round-based executor failed")),
            }
        }
    }

    fn receive(&mut self, msg: Incoming) -> Result<(), Error> {
        let from = msg.from;
        let malformed = |detail| Error::Misbehaved {
            from,
            kind: Misbehaviour::Malformed {
                round: msg.round,
                detail,
            },
        };
        let (decoded, rest): (SM::Msg, _) =
            postcard::take_from_bytes(&msg.payload).map_err(|_| malformed("does not decode"))?;
        if !rest.is_empty() {
            return Err(malformed("trailing bytes"));
        }
        if decoded.round() != msg.round {
            return Err(malformed("payload belongs to another round"));
        }
        let sender = self.position(from).ok_or(Error::Misbehaved {
            from,
            kind: Misbehaviour::UnexpectedSender,
        })?;
        let id = self.next_id;
        self.next_id += 1;
        let msg_type = if msg.broadcast {
            MessageType::Broadcast
        } else {
            MessageType::P2P
        };
        self.inbox.push_back(RbIncoming {
            id,
            sender,
            msg_type,
            msg: decoded,
        });
        Ok(())
    }
}

/// Maps a cggmp24 error (opaque; its blame list is private) to [`Error::Aborted`].
pub(crate) fn aborted(err: &dyn std::error::Error) -> Error {
    let mut reason = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        reason.push_str(": ");
        reason.push_str(&s.to_string());
        source = s.source();
    }
    Error::Aborted {
        culprits: vec![],
        reason,
    }
}
