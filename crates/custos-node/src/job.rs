//! Runs one job (aux info, keygen, signing) to completion on the calling
//! thread: drives the custos-tss session of a checked job (see
//! [`crate::checked`]: the committee against the node's pinned roster)
//! through the sealed channel, and enforces a deadline per message that
//! names the parties the node is still waiting for.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use custos_protocol::control::Job;
use custos_protocol::sealed::EnvelopeChannel;
use custos_tss::driver::{drive, DriveError, Transport};
use custos_tss::ecdsa::{AuxInfo, EcdsaMessage, Presignature, SafePrimes};
use custos_tss::progress::Progress;
use custos_tss::{Committee, DerivationPath, Envelope, KeyShare, PartyIndex};
use custos_wire::{Channel, Frame, NodeKeys, NodePublicKey, WireError};
use rand_core::{CryptoRng, RngCore};

use crate::checked::{CheckedJob, Seat};

/// What a job needs from the node's vault.
pub enum JobInput {
    /// Aux info: this node's safe primes.
    Primes(SafePrimes),
    /// Keygen: the committee's aux info (ECDSA only).
    Aux(Option<AuxInfo>),
    /// Signing and presigning: the key share.
    Share(Box<KeyShare>),
    /// Signing with a presignature, already marked used in the store.
    Presigned(Box<KeyShare>, Box<Presignature>),
}

/// What a finished job leaves for the node to store or report.
#[derive(Debug)]
pub enum JobOutput {
    /// New committee aux info.
    Aux(AuxInfo),
    /// New key share.
    Share(Box<KeyShare>),
    /// A new presignature.
    Presignature(Box<Presignature>),
    /// A signature.
    Signature(custos_tss::Signature),
    /// One signature per payload of a transfer or PSBT.
    Signatures(Vec<custos_tss::Signature>),
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
        CheckedJob::AuxInfo => {
            let JobInput::Primes(primes) = input else {
                return Err(mismatch());
            };
            let session = custos_tss::ecdsa::aux_info(sid, seat.n, seat.me, primes, progress, rng)?;
            drive(session, &mut transport)
                .map(JobOutput::Aux)
                .map_err(finish)
        }
        CheckedJob::Keygen { scheme } => {
            let JobInput::Aux(aux) = input else {
                return Err(mismatch());
            };
            let session = custos_tss::keygen(*scheme, sid, committee, seat.me, aux.as_ref(), rng)?;
            drive(session, &mut transport)
                .map(|s| JobOutput::Share(Box::new(s)))
                .map_err(finish)
        }
        CheckedJob::Sign {
            key_id,
            signers,
            path,
            message,
            sha256,
            ..
        } => {
            let JobInput::Share(share) = input else {
                return Err(mismatch());
            };
            check_share(&share, key_id, committee)?;
            let session = match (&*share, sha256) {
                (KeyShare::Ecdsa(s), true) => {
                    let message = EcdsaMessage::Sha256(message.clone());
                    custos_tss::ecdsa::sign(s, sid, signers, path, &message, rng)?
                }
                (_, true) => return Err(JobError::Input("only ECDSA hashes at the node")),
                (_, false) => custos_tss::sign(&share, sid, signers, path, message, rng)?,
            };
            drive(session, &mut transport)
                .map(JobOutput::Signature)
                .map_err(finish)
        }
        CheckedJob::Presign { key_id, signers } => {
            let JobInput::Share(share) = input else {
                return Err(mismatch());
            };
            check_share(&share, key_id, committee)?;
            let KeyShare::Ecdsa(s) = &*share else {
                return Err(JobError::Input("presignatures are for ECDSA keys"));
            };
            let session = custos_tss::ecdsa::presign(s, sid, signers, rng)?;
            drive(session, &mut transport)
                .map(|p| JobOutput::Presignature(Box::new(p)))
                .map_err(finish)
        }
        CheckedJob::SignPresigned {
            key_id,
            signers,
            message,
            ..
        } => {
            let JobInput::Presigned(share, presignature) = input else {
                return Err(mismatch());
            };
            check_share(&share, key_id, committee)?;
            let KeyShare::Ecdsa(s) = &*share else {
                return Err(JobError::Input("presignatures are for ECDSA keys"));
            };
            if presignature.signers() != signers.as_slice() {
                return Err(JobError::Input("presignature was made for other signers"));
            }
            let message = EcdsaMessage::Sha256(message.clone());
            let session =
                custos_tss::ecdsa::sign_with_presignature(*presignature, s, sid, &message)?;
            drive(session, &mut transport)
                .map(JobOutput::Signature)
                .map_err(finish)
        }
        CheckedJob::SignTransfer {
            key_id,
            signers,
            intent,
            payloads,
            ..
        } => {
            let JobInput::Share(share) = input else {
                return Err(mismatch());
            };
            check_share(&share, key_id, committee)?;
            if intent.key_id != *key_id {
                return Err(JobError::Input("the intent names another key"));
            }
            let path: DerivationPath = intent.path().parse().map_err(custos_tss::Error::from)?;
            let account = custos_chains::AccountKey {
                scheme: share.scheme(),
                public_key: share.public_key(&path)?,
            };
            let unsigned = custos_chains::build(intent, &account)?;
            let work: Vec<(DerivationPath, Vec<u8>)> = unsigned
                .payloads
                .iter()
                .map(|p| (path.clone(), p.message().to_vec()))
                .collect();
            sign_all(&share, sid, signers, &work, payloads, &mut transport, rng)
        }
        CheckedJob::SignPsbt {
            key_id,
            signers,
            network,
            psbt,
            payloads,
            ..
        } => {
            let JobInput::Share(share) = input else {
                return Err(mismatch());
            };
            check_share(&share, key_id, committee)?;
            let key_at = |a: u32| -> Result<custos_chains::AccountKey, custos_chains::ChainError> {
                let path: DerivationPath = format!("m/0/{a}")
                    .parse()
                    .map_err(|_| custos_chains::ChainError::Key("account path"))?;
                Ok(custos_chains::AccountKey {
                    scheme: share.scheme(),
                    public_key: share
                        .public_key(&path)
                        .map_err(|_| custos_chains::ChainError::Key("account key"))?,
                })
            };
            let planned = custos_chains::psbt::plan(psbt, *network, key_at)?;
            let work = planned
                .iter()
                .map(|p| {
                    let path: DerivationPath = format!("m/0/{}", p.account)
                        .parse()
                        .map_err(custos_tss::Error::from)?;
                    Ok((path, p.payload.message().to_vec()))
                })
                .collect::<Result<Vec<_>, JobError>>()?;
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

/// Session id of the `k`-th signing inside one job.
fn sub_session(sid: &[u8; 32], k: usize) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"custos/sub-session/v1");
    h.update(sid);
    h.update((k as u64).to_be_bytes());
    h.finalize().into()
}

fn check_share(share: &KeyShare, key_id: &str, committee: Committee) -> Result<(), JobError> {
    if share.key_id().to_string() != key_id || share.committee()? != committee {
        return Err(JobError::Input(
            "share does not belong to this key and committee",
        ));
    }
    Ok(())
}
