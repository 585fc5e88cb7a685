//! The one decode of a server's job. Every field the node acts on — the
//! transfer intent, the PSBT and its network, derivation paths, the
//! presignature id — is parsed here, once, into a [`CheckedJob`]; the
//! committee the server names is checked against the operator's pinned
//! roster into a [`Seat`]. The later steps (journal, authorization, vault
//! material, protocol) read these values and never the server's bytes
//! again, so what the node authorises is exactly what it signs.

use std::collections::BTreeMap;

use bitcoin::psbt::Psbt;
use custos_chains::intent::BitcoinNetwork;
use custos_chains::TransferIntent;
use custos_protocol::authz::{Authorization, MessageRequest, PsbtRequest, SigningRequest};
use custos_protocol::control::{Job, JobKind};
use custos_tss::{Committee, DerivationPath, PartyIndex, Scheme};
use custos_wire::{NodeKeys, NodePublicKey};

use crate::job_error::JobError;

/// What a signing job asks for, as the initiator signed it, and who
/// authorised it.
#[derive(Debug, Clone)]
pub struct Signing {
    /// The request, rebuilt from the job's own (decoded) fields.
    pub request: SigningRequest,
    /// Initiator, approvals and the governance head they were given under.
    pub auth: Authorization,
}

/// A server's job after its single decode: one variant per job kind.
/// Every step of the node's pipeline matches on it exhaustively, so a new
/// kind cannot reach the protocol without passing each of them.
#[derive(Debug, Clone)]
pub enum CheckedJob {
    /// Generate the committee's ECDSA aux info.
    AuxInfo,
    /// Distributed key generation.
    Keygen {
        /// Scheme of the new key.
        scheme: Scheme,
    },
    /// Make one ECDSA presignature.
    Presign {
        /// Key id (hex).
        key_id: String,
        /// The presignature's signers.
        signers: Vec<PartyIndex>,
    },
    /// Sign a message or digest.
    Sign {
        /// Key id (hex).
        key_id: String,
        /// Exactly `t` signers.
        signers: Vec<PartyIndex>,
        /// Derivation path.
        path: DerivationPath,
        /// Message or digest.
        message: Vec<u8>,
        /// ECDSA: hash `message` at the node.
        sha256: bool,
        /// The request and its authorisation.
        signing: Signing,
    },
    /// Sign with a stored presignature.
    SignPresigned {
        /// Key id (hex).
        key_id: String,
        /// The presignature's signers.
        signers: Vec<PartyIndex>,
        /// Presignature id.
        presignature: [u8; 32],
        /// The message the node hashes and signs.
        message: Vec<u8>,
        /// The request and its authorisation.
        signing: Signing,
    },
    /// Sign a transfer the node builds itself.
    SignTransfer {
        /// Key id (hex) the server says the job runs with.
        key_id: String,
        /// Exactly `t` signers.
        signers: Vec<PartyIndex>,
        /// The decoded intent (`signing.request` holds the same intent).
        intent: TransferIntent,
        /// The server's view of what is signed.
        payloads: Vec<Vec<u8>>,
        /// The request and its authorisation.
        signing: Signing,
    },
    /// Sign a wallet's inputs of a PSBT.
    SignPsbt {
        /// Key id (hex).
        key_id: String,
        /// Exactly `t` signers.
        signers: Vec<PartyIndex>,
        /// Bitcoin network.
        network: BitcoinNetwork,
        /// The parsed PSBT.
        psbt: Box<Psbt>,
        /// The server's view of what is signed.
        payloads: Vec<Vec<u8>>,
        /// The request and its authorisation.
        signing: Signing,
    },
}

impl CheckedJob {
    /// Decodes `kind`; the only place the node parses a job's bytes.
    pub fn decode(kind: &JobKind) -> Result<Self, JobError> {
        Ok(match kind {
            JobKind::AuxInfo => CheckedJob::AuxInfo,
            JobKind::Keygen { scheme } => CheckedJob::Keygen { scheme: *scheme },
            JobKind::Presign { key_id, signers } => CheckedJob::Presign {
                key_id: key_id.clone(),
                signers: signers.clone(),
            },
            JobKind::Sign {
                key_id,
                signers,
                path,
                message,
                sha256,
                request_id,
                wallet,
                auth,
            } => CheckedJob::Sign {
                key_id: key_id.clone(),
                signers: signers.clone(),
                path: path.parse().map_err(custos_tss::Error::from)?,
                message: message.clone(),
                sha256: *sha256,
                signing: Signing {
                    request: SigningRequest::Message(MessageRequest {
                        request_id: *request_id,
                        wallet: wallet.clone(),
                        key_id: key_id.clone(),
                        path: path.clone(),
                        message: message.clone(),
                        sha256: *sha256,
                    }),
                    auth: auth.clone(),
                },
            },
            JobKind::SignPresigned {
                key_id,
                signers,
                presignature,
                message,
                request_id,
                wallet,
                auth,
            } => CheckedJob::SignPresigned {
                key_id: key_id.clone(),
                signers: signers.clone(),
                presignature: parse_id(presignature)?,
                message: message.clone(),
                // A presignature signs at the root and always hashes.
                signing: Signing {
                    request: SigningRequest::Message(MessageRequest {
                        request_id: *request_id,
                        wallet: wallet.clone(),
                        key_id: key_id.clone(),
                        path: "m".into(),
                        message: message.clone(),
                        sha256: true,
                    }),
                    auth: auth.clone(),
                },
            },
            JobKind::SignTransfer {
                key_id,
                signers,
                intent,
                payloads,
                auth,
            } => {
                let intent = TransferIntent::from_bytes(intent).map_err(JobError::Intent)?;
                CheckedJob::SignTransfer {
                    key_id: key_id.clone(),
                    signers: signers.clone(),
                    signing: Signing {
                        request: SigningRequest::Transfer(intent.clone()),
                        auth: auth.clone(),
                    },
                    intent,
                    payloads: payloads.clone(),
                }
            }
            JobKind::SignPsbt {
                key_id,
                signers,
                network,
                psbt,
                payloads,
                request_id,
                wallet,
                auth,
            } => CheckedJob::SignPsbt {
                key_id: key_id.clone(),
                signers: signers.clone(),
                network: network.parse()?,
                psbt: Box::new(custos_chains::psbt::parse(psbt)?),
                payloads: payloads.clone(),
                signing: Signing {
                    // The initiator signed the PSBT's bytes, not its parse.
                    request: SigningRequest::Psbt(PsbtRequest {
                        request_id: *request_id,
                        wallet: wallet.clone(),
                        key_id: key_id.clone(),
                        network: network.clone(),
                        psbt: psbt.clone(),
                    }),
                    auth: auth.clone(),
                },
            },
        })
    }

    /// The signer set of a signing or presigning job (`None`: all members).
    pub fn signers(&self) -> Option<&[PartyIndex]> {
        match self {
            CheckedJob::AuxInfo | CheckedJob::Keygen { .. } => None,
            CheckedJob::Presign { signers, .. }
            | CheckedJob::Sign { signers, .. }
            | CheckedJob::SignPresigned { signers, .. }
            | CheckedJob::SignTransfer { signers, .. }
            | CheckedJob::SignPsbt { signers, .. } => Some(signers),
        }
    }

    /// The decoded transfer intent, for the journal.
    pub fn intent(&self) -> Option<&TransferIntent> {
        match self {
            CheckedJob::SignTransfer { intent, .. } => Some(intent),
            CheckedJob::AuxInfo
            | CheckedJob::Keygen { .. }
            | CheckedJob::Presign { .. }
            | CheckedJob::Sign { .. }
            | CheckedJob::SignPresigned { .. }
            | CheckedJob::SignPsbt { .. } => None,
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

    fn transfer(intent: Vec<u8>) -> JobKind {
        JobKind::SignTransfer {
            key_id: "00".repeat(32),
            signers: vec![0, 1],
            intent,
            payloads: vec![vec![1]],
            auth: auth(),
        }
    }

    #[test]
    fn the_intent_is_decoded_once_for_every_later_step() {
        let t = intent();
        let job = CheckedJob::decode(&transfer(t.to_bytes().unwrap())).unwrap();
        let CheckedJob::SignTransfer {
            intent, signing, ..
        } = &job
        else {
            panic!("{job:?}")
        };
        // What is authorised (the request) and what is built and signed
        // (the intent) are the same decoded value.
        assert_eq!(intent, &t);
        assert_eq!(signing.request, SigningRequest::Transfer(t.clone()));
        assert_eq!(job.intent(), Some(&t));
        assert_eq!(job.signers(), Some(&[0, 1][..]));
    }

    #[test]
    fn undecodable_fields_are_refused_before_any_step() {
        let err = CheckedJob::decode(&transfer(vec![0xff; 3])).unwrap_err();
        assert!(matches!(err, JobError::Intent(_)), "{err}");
        assert!(err.to_string().starts_with("refused: "), "{err}");

        let presigned = JobKind::SignPresigned {
            key_id: "00".repeat(32),
            signers: vec![0, 1],
            presignature: "not hex".into(),
            message: b"m".to_vec(),
            request_id: [1; 16],
            wallet: "w".into(),
            auth: auth(),
        };
        let err = CheckedJob::decode(&presigned).unwrap_err();
        assert_eq!(err.to_string(), "bad id");

        let psbt = JobKind::SignPsbt {
            key_id: "00".repeat(32),
            signers: vec![0, 1],
            network: "moon".into(),
            psbt: Vec::new(),
            payloads: Vec::new(),
            request_id: [1; 16],
            wallet: "w".into(),
            auth: auth(),
        };
        assert!(matches!(CheckedJob::decode(&psbt), Err(JobError::Chain(_))));

        let sign = JobKind::Sign {
            key_id: "00".repeat(32),
            signers: vec![0, 1],
            path: "not a path".into(),
            message: vec![0; 32],
            sha256: false,
            request_id: [1; 16],
            wallet: "w".into(),
            auth: auth(),
        };
        assert!(matches!(
            CheckedJob::decode(&sign),
            Err(JobError::Protocol(_))
        ));
    }

    #[test]
    fn the_seat_holds_only_the_signers_of_the_pinned_committee() {
        let keys: Vec<NodeKeys> = (0..3).map(|_| NodeKeys::generate(&mut OsRng)).collect();
        let pinned: Vec<NodePublicKey> = keys.iter().map(NodeKeys::public).collect();
        let kind = JobKind::Presign {
            key_id: "00".repeat(32),
            signers: vec![0, 2],
        };
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
