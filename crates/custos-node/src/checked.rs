//! The one decode of a server's job. A signing job's request — transfer
//! intent, PSBT, message or blind digest — is decoded here, once, from the
//! canonical bytes the initiator signed, into a [`CheckedJob`]; the
//! committee the server names is checked against the operator's pinned
//! roster into a [`Seat`]. The later steps (journal, authorization with the
//! node's own plan of the request, vault material, protocol) read these
//! values and never the server's bytes again, so what the node authorises
//! is exactly what it signs.

use std::collections::BTreeMap;

use custos_audit::checkpoint::SignedCheckpoint;
use custos_protocol::attest::SignedOrder;
use custos_protocol::authz::{Authorization, SigningRequest};
use custos_protocol::control::{Job, JobKind};
use custos_tss::{Committee, PartyIndex, Scheme};
use custos_wire::{NodeKeys, NodePublicKey};

use crate::job_error::JobError;

/// A server's job after its single decode: one variant per job kind.
/// Every step of the node's pipeline matches on it exhaustively, so a new
/// kind cannot reach the protocol without passing each of them.
#[derive(Debug, Clone)]
pub enum CheckedJob {
    /// Generate the committee's ECDSA aux info, for an admin's order.
    AuxInfo {
        /// The order of the committee's first ECDSA wallet.
        order: SignedOrder,
    },
    /// Distributed key generation of the wallet an admin ordered.
    Keygen {
        /// The order.
        order: SignedOrder,
    },
    /// Sign a request.
    Sign {
        /// Exactly `t` signers.
        signers: Vec<PartyIndex>,
        /// The request, decoded from the bytes the initiator signed.
        request: Box<SigningRequest>,
        /// The server's view of what is signed.
        payloads: Vec<Vec<u8>>,
        /// Initiator, approvals and the governance head they were given
        /// under.
        auth: Authorization,
        /// The majority checkpoint covering the request's `sign` entry.
        checkpoint: Box<SignedCheckpoint>,
    },
}

impl CheckedJob {
    /// Decodes `kind`; the only place the node parses a job's bytes.
    pub fn decode(kind: &JobKind) -> Result<Self, JobError> {
        Ok(match kind {
            JobKind::AuxInfo { order } => CheckedJob::AuxInfo {
                order: order.clone(),
            },
            JobKind::Keygen { order } => CheckedJob::Keygen {
                order: order.clone(),
            },
            JobKind::Sign {
                signers,
                request,
                payloads,
                auth,
                checkpoint,
            } => CheckedJob::Sign {
                signers: signers.clone(),
                request: Box::new(SigningRequest::from_bytes(request).map_err(JobError::Request)?),
                payloads: payloads.clone(),
                auth: auth.clone(),
                checkpoint: Box::new(checkpoint.clone()),
            },
        })
    }

    /// The signer set of a signing job (`None`: all members).
    pub fn signers(&self) -> Option<&[PartyIndex]> {
        match self {
            CheckedJob::AuxInfo { .. } | CheckedJob::Keygen { .. } => None,
            CheckedJob::Sign { signers, .. } => Some(signers),
        }
    }

    /// The decoded request, for the journal.
    pub fn request(&self) -> Option<&SigningRequest> {
        match self {
            CheckedJob::Sign { request, .. } => Some(&**request),
            CheckedJob::AuxInfo { .. } | CheckedJob::Keygen { .. } => None,
        }
    }

    /// The scheme and blind wallet of a keygen (`None` for other kinds).
    pub fn keygen(&self) -> Option<(Scheme, Option<&str>)> {
        match self {
            CheckedJob::Keygen { order } => Some((
                order.order.scheme,
                order.order.blind.then_some(order.order.wallet.as_str()),
            )),
            CheckedJob::AuxInfo { .. } | CheckedJob::Sign { .. } => None,
        }
    }
}

/// The committee a job runs in, checked against the pinned roster.
#[derive(Debug, Clone)]
pub struct Seat {
    /// Session id.
    pub session: [u8; 32],
    /// This node's index.
    pub me: PartyIndex,
    /// Committee size.
    pub n: u16,
    /// The committee (pinned threshold and size).
    pub committee: Committee,
    /// Channel keys of the parties of this session (signers, or all).
    pub roster: BTreeMap<PartyIndex, NodePublicKey>,
}

impl Seat {
    /// Checks the server's committee against the `pinned` roster (committee
    /// index → channel key) and threshold, and `kind`'s signers against the
    /// committee.
    pub fn check(
        job: &Job,
        kind: &CheckedJob,
        keys: &NodeKeys,
        pinned: &[NodePublicKey],
        pinned_threshold: u16,
    ) -> Result<Self, JobError> {
        let spec = &job.committee;
        if spec.members != pinned || spec.threshold != pinned_threshold {
            return Err(JobError::Roster("members or threshold differ"));
        }
        if spec.members.get(usize::from(job.me)) != Some(&keys.public()) {
            return Err(JobError::Roster("our key is not at our index"));
        }
        let n =
            u16::try_from(spec.members.len()).map_err(|_| JobError::Roster("too many members"))?;
        let committee = Committee::new(spec.threshold, n).map_err(custos_tss::Error::from)?;
        let parties: Vec<PartyIndex> = match kind.signers() {
            Some(signers) => committee
                .signer_set(signers, job.me)
                .map_err(custos_tss::Error::from)?,
            None => committee.members(),
        };
        let roster = parties
            .iter()
            .filter_map(|&p| spec.members.get(usize::from(p)).map(|k| (p, *k)))
            .collect();
        Ok(Seat {
            session: job.session,
            me: job.me,
            n,
            committee,
            roster,
        })
    }
}

/// Decodes `job` and checks its committee: the whole check step for a
/// caller that does not journal in between.
pub fn check(
    job: &Job,
    keys: &NodeKeys,
    pinned: &[NodePublicKey],
    pinned_threshold: u16,
) -> Result<(Seat, CheckedJob), JobError> {
    let kind = CheckedJob::decode(&job.kind)?;
    let seat = Seat::check(job, &kind, keys, pinned, pinned_threshold)?;
    Ok((seat, kind))
}

/// A 32-byte id in hex.
pub fn parse_id(hex_id: &str) -> Result<[u8; 32], JobError> {
    hex::decode(hex_id)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(JobError::BadId)
}

#[cfg(test)]
mod tests {
    use super::*;
    use custos_chains::intent::{Asset, ChainIntent, EthereumTransfer, INTENT_VERSION};
    use custos_chains::TransferIntent;
    use custos_protocol::control::CommitteeSpec;
    use rand_core::OsRng;

    fn auth() -> Authorization {
        Authorization {
            head: [0; 32],
            initiator: "ivy".into(),
            initiator_signature: Vec::new(),
            approvals: Vec::new(),
            time: 0,
        }
    }

    fn intent() -> TransferIntent {
        TransferIntent {
            version: INTENT_VERSION,
            request_id: [3; 16],
            wallet: "w1".into(),
            key_id: "00".repeat(32),
            account: 2,
            chain: ChainIntent::Ethereum(EthereumTransfer {
                chain_id: 1,
                to: "0x00000000000000000000000000000000000000aa".into(),
                asset: Asset::Native,
                amount: 10,
                nonce: 0,
                max_fee_per_gas: 1,
                max_priority_fee_per_gas: 1,
                gas_limit: 21_000,
            }),
        }
    }

    fn sign(request: Vec<u8>) -> JobKind {
        JobKind::Sign {
            signers: vec![0, 1],
            request,
            payloads: vec![vec![1]],
            auth: auth(),
            checkpoint: custos_audit::checkpoint::SignedCheckpoint {
                checkpoint: custos_audit::checkpoint::Checkpoint {
                    size: 0,
                    root: [0; 32],
                },
                server: vec![],
                cosignatures: vec![],
            },
        }
    }

    #[test]
    fn the_request_is_decoded_once_for_every_later_step() {
        let r = SigningRequest::Transfer(intent());
        let job = CheckedJob::decode(&sign(r.to_bytes().unwrap())).unwrap();
        assert_eq!(job.request(), Some(&r));
        assert_eq!(job.signers(), Some(&[0, 1][..]));
    }

    #[test]
    fn undecodable_or_non_canonical_requests_are_refused_before_any_step() {
        let err = CheckedJob::decode(&sign(vec![0xff; 3])).unwrap_err();
        assert!(matches!(err, JobError::Request(_)), "{err}");
        assert!(err.to_string().starts_with("refused: "), "{err}");
        // Trailing bytes: another byte string for the same request.
        let mut bytes = SigningRequest::Transfer(intent()).to_bytes().unwrap();
        bytes.push(0);
        assert!(CheckedJob::decode(&sign(bytes)).is_err());
    }

    #[test]
    fn the_seat_holds_only_the_signers_of_the_pinned_committee() {
        let keys: Vec<NodeKeys> = (0..3).map(|_| NodeKeys::generate(&mut OsRng)).collect();
        let pinned: Vec<NodePublicKey> = keys.iter().map(NodeKeys::public).collect();
        let mut kind = sign(SigningRequest::Transfer(intent()).to_bytes().unwrap());
        if let JobKind::Sign { signers, .. } = &mut kind {
            *signers = vec![0, 2];
        }
        let job = Job {
            session: [9; 32],
            committee: CommitteeSpec {
                id: "c".into(),
                threshold: 2,
                members: pinned.clone(),
            },
            me: 2,
            kind,
        };
        let (seat, _) = check(&job, &keys[2], &pinned, 2).unwrap();
        assert_eq!(seat.roster.keys().copied().collect::<Vec<_>>(), vec![0, 2]);
        assert_eq!((seat.me, seat.n, seat.session), (2, 3, [9; 32]));
        // Not at our index, or a signer set without us: refused.
        assert!(matches!(
            check(&job, &keys[1], &pinned, 2),
            Err(JobError::Roster(_))
        ));
        let mut other = job.clone();
        other.me = 1;
        assert!(check(&other, &keys[1], &pinned, 2).is_err());
    }
}
