//! The two loops that run a [`Session`]: [`drive`] over any blocking
//! [`Transport`] (the node uses it over its channel), and [`simulate`], which
//! runs several sessions in one thread for tests and benchmarks.

use std::collections::{BTreeMap, VecDeque};

use crate::error::Error;
use crate::party::PartyIndex;
use crate::session::{Envelope, Session, Stats, Step};

/// A blocking message queue for one party.
pub trait Transport {
    /// Transport failure (closed channel, timeout, …).
    type Error;
    /// Sends one envelope to `env.to`.
    fn send(&mut self, env: Envelope) -> Result<(), Self::Error>;
    /// Blocks until the next envelope for this party arrives.
    fn recv(&mut self) -> Result<Envelope, Self::Error>;
}

/// Why [`drive`] stopped.
#[derive(Debug, thiserror::Error)]
pub enum DriveError<T> {
    /// The protocol or a peer failed.
    #[error(transparent)]
    Protocol(#[from] Error),
    /// The transport failed.
    #[error("transport: {0}")]
    Transport(T),
}

/// Runs `session` to completion over `transport`.
pub fn drive<O, T: Transport>(
    mut session: Session<O>,
    transport: &mut T,
) -> Result<O, DriveError<T::Error>> {
    loop {
        match session.poll()? {
            Step::Send(envs) => {
                for env in envs {
                    transport.send(env).map_err(DriveError::Transport)?;
                }
            }
            Step::Wait => {
                let env = transport.recv().map_err(DriveError::Transport)?;
                session.handle(env)?;
            }
            Step::Done(out) => return Ok(out),
        }
    }
}

/// Runs several independent sessions of this party over one `transport`
/// at once (e.g. one signing per transaction input), routing each incoming
/// envelope by its execution id. An envelope for none of them means the
/// sender runs something else (another message to sign, another key): the
/// run stops with `ExecutionIdMismatch` naming the sender.
pub fn drive_all<O, T: Transport>(
    sessions: Vec<Session<O>>,
    transport: &mut T,
) -> Result<Vec<O>, DriveError<T::Error>> {
    let ids: Vec<_> = sessions.iter().map(Session::execution_id).collect();
    let mut running: Vec<Option<Session<O>>> = sessions.into_iter().map(Some).collect();
    let mut outputs: Vec<Option<O>> = running.iter().map(|_| None).collect();
    loop {
        let mut waiting = false;
        for (slot, out) in running.iter_mut().zip(outputs.iter_mut()) {
            let Some(session) = slot else { continue };
            loop {
                match session.poll()? {
                    Step::Send(envs) => {
                        for env in envs {
                            transport.send(env).map_err(DriveError::Transport)?;
                        }
                    }
                    Step::Wait => {
                        waiting = true;
                        break;
                    }
                    Step::Done(o) => {
                        *out = Some(o);
                        *slot = None;
                        break;
                    }
                }
            }
        }
        if !waiting {
            return outputs
                .into_iter()
                .map(|o| o.ok_or(Error::Bug("session ended without output").into()))
                .collect();
        }
        let env = transport.recv().map_err(DriveError::Transport)?;
        let target = ids
            .iter()
            .position(|id| *id == env.execution_id)
            .and_then(|i| running.get_mut(i))
            .and_then(Option::as_mut);
        match target {
            Some(session) => session.handle(env)?,
            None => {
                return Err(Error::Misbehaved {
                    from: env.from,
                    kind: crate::error::Misbehaviour::ExecutionIdMismatch,
                }
                .into())
            }
        }
    }
}

/// Runs all `sessions` in this thread, delivering every envelope unchanged.
pub fn simulate<O>(sessions: Vec<Session<O>>) -> Vec<Result<O, Error>> {
    simulate_with(sessions, |env| vec![env])
}

/// Like [`simulate`], but every envelope in flight passes through `network`,
/// which may drop, alter, duplicate, reorder or inject envelopes (tests of
/// adversarial delivery). Results are in the order of `sessions`.
pub fn simulate_with<O>(
    sessions: Vec<Session<O>>,
    network: impl FnMut(Envelope) -> Vec<Envelope>,
) -> Vec<Result<O, Error>> {
    simulate_measured(sessions, network).0
}

/// Like [`simulate_with`], also returning the traffic of all parties together.
pub fn simulate_measured<O>(
    sessions: Vec<Session<O>>,
    mut network: impl FnMut(Envelope) -> Vec<Envelope>,
) -> (Vec<Result<O, Error>>, Stats) {
    type Party<O> = (Session<O>, Option<Result<O, Error>>);
    let mut parties: Vec<Party<O>> = sessions.into_iter().map(|s| (s, None)).collect();
    let mut inbox: BTreeMap<PartyIndex, VecDeque<Envelope>> = parties
        .iter()
        .map(|(s, _)| (s.me(), VecDeque::new()))
        .collect();
    loop {
        let mut progressed = false;
        for (session, result) in parties.iter_mut() {
            if result.is_some() {
                continue;
            }
            loop {
                match session.poll() {
                    Ok(Step::Send(envs)) => {
                        progressed = true;
                        for env in envs.into_iter().flat_map(&mut network) {
                            if let Some(q) = inbox.get_mut(&env.to) {
                                q.push_back(env);
                            }
                        }
                    }
                    Ok(Step::Wait) => {
                        let next = inbox.get_mut(&session.me()).and_then(VecDeque::pop_front);
                        match next {
                            Some(env) => {
                                progressed = true;
                                if let Err(e) = session.handle(env) {
                                    *result = Some(Err(e));
                                    break;
                                }
                            }
                            None => break,
                        }
                    }
                    Ok(Step::Done(out)) => {
                        progressed = true;
                        *result = Some(Ok(out));
                        break;
                    }
                    Err(e) => {
                        progressed = true;
                        *result = Some(Err(e));
                        break;
                    }
                }
            }
        }
        if !progressed {
            break;
        }
    }
    let mut total = Stats::default();
    let results = parties
        .into_iter()
        .map(|(s, r)| {
            let st = s.stats();
            total.messages += st.messages;
            total.bytes += st.bytes;
            total.payload_bytes += st.payload_bytes;
            r.unwrap_or(Err(Error::Stalled))
        })
        .collect();
    (results, total)
}
