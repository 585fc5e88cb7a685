//! Runs one job (aux info, keygen, signing) to completion on the calling
//! thread: drives the custos-tss session of a checked job (see
//! [`crate::checked`]: the committee against the node's pinned roster)
//! through the sealed channel, and enforces a deadline per message that
//! names the parties the node is still waiting for.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use custos_chains::Payload;
use custos_protocol::authz::{Planned, SigningRequest};
use custos_protocol::control::Job;
use custos_protocol::sealed::EnvelopeChannel;
use custos_tss::driver::{drive, DriveError, Transport};
use custos_tss::ecdsa::{AuxInfo, SafePrimes};
use custos_tss::progress::Progress;
use custos_tss::{DerivationPath, Envelope, KeyShare, PartyIndex};
use custos_wire::{Channel, Frame, NodeKeys, NodePublicKey, WireError};
use rand_core::{CryptoRng, RngCore};

use crate::checked::{CheckedJob, Seat};

/// What a job needs from the node's vault.
pub enum JobInput {
    /// Aux info: this node's safe primes.
    Primes(SafePrimes),
    /// Keygen: the committee's aux info (ECDSA only).
    Aux(Option<AuxInfo>),
    /// Signing: the key share and what this node planned to sign with it
    /// ([`plan`]), one `(path, payload)` per signature.
    Signing(Box<KeyShare>, Vec<(DerivationPath, Payload)>),
}

/// What a finished job leaves for the node to store or report.
#[derive(Debug)]
pub enum JobOutput {
    /// New committee aux info.
    Aux(AuxInfo),
    /// New key share.
    Share(Box<KeyShare>),
    /// One signature per planned payload.
    Signatures(Vec<custos_tss::Signature>),
}

/// This node's plan of `request` with `share`: the payloads it will sign,
/// built from the request alone and the share's own public keys.
pub fn plan(share: &KeyShare, request: &SigningRequest) -> Result<Planned, JobError> {
    if share.key_id().to_string() != request.key_id() {
        return Err(JobError::Input("the request names another key"));
    }
    let key_at = |p: &DerivationPath| {
        share
            .public_key(p)
            .map_err(|_| custos_chains::ChainError::Key("derivation"))
    };
    custos_protocol::authz::plan(request, share.scheme(), &key_at).map_err(JobError::Request)
}

pub use crate::job_error::JobError;

impl JobError {
    /// Parties this error blames (protocol culprits, channel senders, or
    /// the silent parties of a timeout).
    pub fn culprits(&self) -> Vec<PartyIndex> {
        match self {
            JobError::Protocol(e) => e.culprits(),
            JobError::Wire(
                WireError::Tampered { from }
                | WireError::Replayed { from, .. }
                | WireError::Reordered { from, .. }
                | WireError::Impersonation { from }
                | WireError::UnknownSender { from }
                | WireError::WrongSession { from }
                | WireError::Misdelivered { from, .. },
            ) => vec![*from],
            JobError::Timeout { waiting_for, .. } => waiting_for.clone(),
            _ => vec![],
        }
    }
}

/// Events the job receives from the node's connection task.
#[derive(Debug)]
pub enum Inbound {
    /// A relayed frame for this session.
    Frame(Frame),
    /// The server aborted the session.
    Abort(String),
}

struct NodeTransport<'k, F> {
    channel: Channel<'k>,
    inbound: Receiver<Inbound>,
    send: F,
    timeout: Duration,
    received: BTreeMap<PartyIndex, usize>,
}

impl<E: Display, F: FnMut(Frame) -> Result<(), E>> Transport for NodeTransport<'_, F> {
    type Error = JobError;

    fn send(&mut self, env: Envelope) -> Result<(), JobError> {
        let frame = self.channel.seal_envelope(&env, &mut rand_core::OsRng)?;
        (self.send)(frame).map_err(|e| JobError::Aborted(e.to_string()))
    }

    fn recv(&mut self) -> Result<Envelope, JobError> {
        match self.inbound.recv_timeout(self.timeout) {
            Ok(Inbound::Frame(frame)) => {
                let env = self.channel.open_envelope(&frame)?;
                *self.received.entry(env.from).or_default() += 1;
                Ok(env)
            }
            Ok(Inbound::Abort(reason)) => Err(JobError::Aborted(reason)),
            Err(RecvTimeoutError::Timeout) => {
                let most = self.received.values().copied().max().unwrap_or(0);
                let waiting_for = self
                    .received
                    .iter()
                    .filter(|(_, &n)| n < most || most == 0)
                    .map(|(&p, _)| p)
                    .collect();
                Err(JobError::Timeout {
                    after: self.timeout,
                    waiting_for,
                })
            }
            Err(RecvTimeoutError::Disconnected) => {
                Err(JobError::Aborted("connection to the server closed".into()))
            }
        }
    }
}

/// Runs `job` with this node's `keys`, checking the committee against the
/// `pinned` roster (committee index → channel key) and threshold.
///
/// `send` hands a sealed frame to the connection task; `inbound` delivers
/// frames and aborts for this session. Each wait is bounded by `timeout`.
/// `progress` hears about rounds and stages of long jobs (aux info).
/// Protocols only: the daemon authorises a job before it gets here (see
/// [`crate::checked`] and the daemon's pipeline).
#[allow(clippy::too_many_arguments)]
pub fn run_job<E: Display>(
    job: &Job,
    keys: &NodeKeys,
    pinned: &[NodePublicKey],
    pinned_threshold: u16,
    input: JobInput,
    inbound: Receiver<Inbound>,
    send: impl FnMut(Frame) -> Result<(), E>,
    timeout: Duration,
    progress: Option<Box<dyn Progress>>,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<JobOutput, JobError> {
    let (seat, kind) = crate::checked::check(job, keys, pinned, pinned_threshold)?;
    run_checked(
        &seat, &kind, keys, input, inbound, send, timeout, progress, rng,
    )
}

/// Runs a job that was decoded and whose committee was checked
/// ([`crate::checked::check`]) with the material `input` from the vault.
#[allow(clippy::too_many_arguments)]
pub fn run_checked<E: Display>(
    seat: &Seat,
    kind: &CheckedJob,
    keys: &NodeKeys,
    input: JobInput,
    inbound: Receiver<Inbound>,
    send: impl FnMut(Frame) -> Result<(), E>,
    timeout: Duration,
    progress: Option<Box<dyn Progress>>,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<JobOutput, JobError> {
    let channel = Channel::new(seat.session, seat.me, keys, seat.roster.clone())?;
    let mut transport = NodeTransport {
        channel,
        inbound,
        send,
        timeout,
        received: seat
            .roster
            .keys()
            .filter(|&&p| p != seat.me)
            .map(|&p| (p, 0))
            .collect(),
    };
    let finish = |e: DriveError<JobError>| match e {
        DriveError::Protocol(p) => JobError::Protocol(p),
        DriveError::Transport(t) => t,
    };
    let mismatch = || JobError::Input("job kind and input disagree");
    let (sid, committee) = (&seat.session, seat.committee);
    // One arm per kind, each taking the input it needs: a new kind must
    // say how it runs.
    match kind {
        CheckedJob::AuxInfo { .. } => {
            let JobInput::Primes(primes) = input else {
                return Err(mismatch());
            };
            let session = custos_tss::ecdsa::aux_info(sid, seat.n, seat.me, primes, progress, rng)?;
            drive(session, &mut transport)
                .map(JobOutput::Aux)
                .map_err(finish)
        }
        CheckedJob::Keygen { order } => {
            let JobInput::Aux(aux) = input else {
                return Err(mismatch());
            };
            // What the key is born for (its wallet and kind) is part of its
            // DKG's session id: nodes told different purposes never finish
            // one key together.
            let o = &order.order;
            let sid = &keygen_session(sid, o.scheme, &o.wallet, o.blind);
            let session = custos_tss::keygen(o.scheme, sid, committee, seat.me, aux.as_ref(), rng)?;
            drive(session, &mut transport)
                .map(|s| JobOutput::Share(Box::new(s)))
                .map_err(finish)
        }
        CheckedJob::Sign {
            signers, payloads, ..
        } => {
            let JobInput::Signing(share, work) = input else {
                return Err(mismatch());
            };
            if share.committee()? != committee {
                return Err(JobError::Input("share does not belong to this committee"));
            }
            let work: Vec<(DerivationPath, Vec<u8>)> = work
                .iter()
                .map(|(path, p)| (path.clone(), p.message().to_vec()))
                .collect();
            sign_all(&share, sid, signers, &work, payloads, &mut transport, rng)
        }
    }
}

/// Signs every `(path, message)` this node built, after checking them
/// against what the server claims, all at once over one channel; each
/// signing gets its own session id.
fn sign_all<E: Display, F: FnMut(Frame) -> Result<(), E>>(
    share: &KeyShare,
    sid: &[u8; 32],
    signers: &[PartyIndex],
    work: &[(DerivationPath, Vec<u8>)],
    claimed: &[Vec<u8>],
    transport: &mut NodeTransport<'_, F>,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<JobOutput, JobError> {
    if let Some(index) =
        (0..work.len().max(claimed.len())).find(|&i| work.get(i).map(|w| &w.1) != claimed.get(i))
    {
        return Err(JobError::PayloadMismatch { index });
    }
    let sessions = work
        .iter()
        .enumerate()
        .map(|(k, (path, message))| {
            let sub = sub_session(sid, k);
            custos_tss::sign(share, &sub, signers, path, message, rng)
        })
        .collect::<Result<Vec<_>, _>>()?;
    custos_tss::driver::drive_all(sessions, transport)
        .map(JobOutput::Signatures)
        .map_err(|e| match e {
            DriveError::Protocol(p) => JobError::Protocol(p),
            DriveError::Transport(t) => t,
        })
}

/// The DKG session id of a key of `scheme` born for `wallet` (blind or
/// ordinary) in job session `sid`.
fn keygen_session(
    sid: &[u8; 32],
    scheme: custos_tss::Scheme,
    wallet: &str,
    blind: bool,
) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"custos/keygen-session/v2");
    h.update(sid);
    h.update(scheme.as_str().as_bytes());
    h.update([u8::from(blind)]);
    h.update((wallet.len() as u64).to_be_bytes());
    h.update(wallet.as_bytes());
    h.finalize().into()
}

/// Session id of the `k`-th signing inside one job.
fn sub_session(sid: &[u8; 32], k: usize) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"custos/sub-session/v1");
    h.update(sid);
    h.update((k as u64).to_be_bytes());
    h.finalize().into()
}
