//! FROST signing (RFC 9591 §5) as a two-round [`Protocol`] in which every
//! signer broadcasts and every signer aggregates:
//!
//! 1. `commit`: broadcast the nonce commitments `(D_i, E_i)`;
//! 2. `sign`: with all commitments, form the signing package and broadcast
//!    the signature share `z_i`;
//! 3. `aggregate`: verifies the signature, and on failure each share, naming
//!    the culprits.
//!
//! The nonces move out of the state when used, so they cannot sign twice.

use std::collections::{BTreeMap, VecDeque};

use frost_core::keys::{KeyPackage, PublicKeyPackage};
use frost_core::round1::{self, SigningCommitments, SigningNonces};
use frost_core::round2::SignatureShare;
use frost_core::SigningPackage;
use rand_core::{CryptoRng, RngCore};

use super::{FrostKeyShare, Ids, Suite};
use crate::child_rng;
use crate::error::{Error, Misbehaviour};
use crate::hd::DerivationPath;
use crate::party::PartyIndex;
use crate::session::{Action, ExecutionId, Incoming, Outgoing, Protocol, Recipient, Session};
use crate::Signature;

/// Starts signing `message` with exactly `t` signers, at `path` (root for none).
pub fn sign<S: Suite>(
    share: &FrostKeyShare<S>,
    session_id: &[u8; 32],
    signers: &[PartyIndex],
    path: &DerivationPath,
    message: &[u8],
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<Session<Signature>, Error> {
    let me = share.index();
    let signers = share.committee().signer_set(signers, me)?;
    let signer_bytes: Vec<u8> = signers.iter().flat_map(|s| s.to_be_bytes()).collect();
    let eid = ExecutionId::derive(
        &format!("{}/sign", S::SCHEME.as_str()),
        session_id,
        &[&share.key_id().0, &signer_bytes, &path.to_bytes(), message],
    );
    let (key, public) = share.derived(path)?;
    let protocol = Sign::<S> {
        me,
        signers: signers.clone(),
        ids: Ids::new(&signers)?,
        key,
        public,
        message: message.to_vec(),
        rng: child_rng(rng),
        stage: Stage::Start,
        outbox: VecDeque::new(),
        commitments: BTreeMap::new(),
        shares: BTreeMap::new(),
    };
    Ok(Session::new(eid, me, signers, Box::new(protocol)))
}

enum Stage<S: Suite> {
    Start,
    Committed(SigningNonces<S>),
    Shared(SigningPackage<S>),
    Done,
}

struct Sign<S: Suite> {
    me: PartyIndex,
    signers: Vec<PartyIndex>,
    ids: Ids<S>,
    key: KeyPackage<S>,
    public: PublicKeyPackage<S>,
    message: Vec<u8>,
    rng: rand_chacha::ChaCha20Rng,
    stage: Stage<S>,
    outbox: VecDeque<Outgoing>,
    commitments: BTreeMap<PartyIndex, SigningCommitments<S>>,
    shares: BTreeMap<PartyIndex, SignatureShare<S>>,
}

const R1: u16 = 1;
const R2: u16 = 2;

impl<S: Suite> Sign<S> {
    fn keyed<T: Clone>(
        &self,
        map: &BTreeMap<PartyIndex, T>,
    ) -> Result<BTreeMap<frost_core::Identifier<S>, T>, Error> {
        map.iter()
            .map(|(&p, v)| Ok((self.ids.id(p)?, v.clone())))
            .collect()
    }

    fn step(&mut self) -> Result<Option<Action<Signature>>, Error> {
        let t = self.signers.len();
        let stage = std::mem::replace(&mut self.stage, Stage::Done);
        let (next, action) = match stage {
            Stage::Start => {
                let (nonces, commitments) = round1::commit(self.key.signing_share(), &mut self.rng);
                let payload = commitments
                    .serialize()
                    .map_err(|_| Error::Bug("frost encoding"))?;
                self.commitments.insert(self.me, commitments);
                self.outbox.push_back(Outgoing {
                    to: Recipient::All,
                    round: R1,
                    payload,
                });
                (Stage::Committed(nonces), None)
            }
            Stage::Committed(nonces) if self.commitments.len() == t => {
                let package = SigningPackage::new(self.keyed(&self.commitments)?, &self.message);
                let share =
                    S::sign_share(&package, &nonces, &self.key).map_err(|e| self.ids.aborted(e))?;
                drop(nonces);
                self.outbox.push_back(Outgoing {
                    to: Recipient::All,
                    round: R2,
                    payload: share.serialize(),
                });
                self.shares.insert(self.me, share);
                (Stage::Shared(package), None)
            }
            Stage::Shared(package) if self.shares.len() == t => {
                let sig = S::aggregate(&package, &self.keyed(&self.shares)?, &self.public)
                    .map_err(|e| self.ids.aborted(e))?;
                let bytes = sig.serialize().map_err(|_| Error::Bug("frost encoding"))?;
                (
                    Stage::Done,
                    Some(Action::Done(Signature {
                        scheme: S::SCHEME,
                        bytes,
                    })),
                )
            }
            Stage::Done => return Err(Error::Finished),
            waiting => (waiting, Some(Action::Wait)),
        };
        self.stage = next;
        Ok(action)
    }
}

impl<S: Suite> Protocol for Sign<S> {
    type Output = Signature;

    fn proceed(&mut self) -> Result<Action<Signature>, Error> {
        loop {
            if let Some(out) = self.outbox.pop_front() {
                return Ok(Action::Send(out));
            }
            if let Some(action) = self.step()? {
                return Ok(action);
            }
        }
    }

    fn receive(&mut self, msg: Incoming) -> Result<(), Error> {
        let from = msg.from;
        let round = msg.round;
        let malformed = |detail| Error::Misbehaved {
            from,
            kind: Misbehaviour::Malformed { round, detail },
        };
        let fresh = match round {
            R1 if msg.broadcast => {
                let c = SigningCommitments::<S>::deserialize(&msg.payload)
                    .map_err(|_| malformed("commitments"))?;
                self.commitments.insert(from, c).is_none()
            }
            R2 if msg.broadcast => {
                let z = SignatureShare::<S>::deserialize(&msg.payload)
                    .map_err(|_| malformed("signature share"))?;
                self.shares.insert(from, z).is_none()
            }
            _ => false,
        };
        if fresh {
            Ok(())
        } else {
            Err(Error::Misbehaved {
                from,
                kind: Misbehaviour::UnexpectedRound { round },
            })
        }
    }
}
