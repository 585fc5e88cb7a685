//! FROST DKG (RFC 9591 appendix C / Komlo–Goldberg, `frost_core::keys::dkg`)
//! as a three-round [`Protocol`]:
//!
//! 1. broadcast: `part1` package (commitment to the secret polynomial and a
//!    proof of knowledge of its constant term);
//! 2. point-to-point: `part2` secret shares `f_i(j)`;
//! 3. broadcast: a hash of the whole round-1 transcript and the resulting
//!    public key package. `part3` alone assumes every party saw the same
//!    round-1 broadcasts; an equivocating sender or relay would otherwise leave
//!    parties with different group keys. Parties whose hash differs are named.

use std::collections::{BTreeMap, VecDeque};

use frost_core::keys::dkg::{self, round1, round2};
use frost_core::keys::{KeyPackage, PublicKeyPackage};
use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};

use super::{FrostKeyShare, Ids, Suite};
use crate::child_rng;
use crate::error::{Error, Misbehaviour};
use crate::party::{Committee, PartyIndex};
use crate::session::{Action, ExecutionId, Incoming, Outgoing, Protocol, Recipient, Session};

/// Starts FROST DKG for party `me` of `committee`.
pub fn keygen<S: Suite>(
    session_id: &[u8; 32],
    committee: Committee,
    me: PartyIndex,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<Session<FrostKeyShare<S>>, Error> {
    committee.check_member(me)?;
    let (t, n) = (committee.threshold(), committee.size());
    let eid = ExecutionId::derive(
        &format!("{}/keygen", S::SCHEME.as_str()),
        session_id,
        &[&t.to_be_bytes(), &n.to_be_bytes()],
    );
    let protocol = Dkg::<S> {
        eid,
        me,
        committee,
        ids: Ids::new(&committee.members())?,
        rng: child_rng(rng),
        stage: Stage::Start,
        outbox: VecDeque::new(),
        r1: BTreeMap::new(),
        r2: BTreeMap::new(),
        r3: BTreeMap::new(),
    };
    Ok(Session::new(
        eid,
        me,
        committee.members(),
        Box::new(protocol),
    ))
}

enum Stage<S: Suite> {
    Start,
    Round1(round1::SecretPackage<S>),
    Round2(round2::SecretPackage<S>),
    Round3 {
        key: KeyPackage<S>,
        public: PublicKeyPackage<S>,
        confirmation: [u8; 32],
    },
    Done,
}

struct Dkg<S: Suite> {
    eid: ExecutionId,
    me: PartyIndex,
    committee: Committee,
    ids: Ids<S>,
    rng: rand_chacha::ChaCha20Rng,
    stage: Stage<S>,
    outbox: VecDeque<Outgoing>,
    /// Round-1 packages of every party, ours included (for the transcript).
    r1: BTreeMap<PartyIndex, round1::Package<S>>,
    r2: BTreeMap<PartyIndex, round2::Package<S>>,
    r3: BTreeMap<PartyIndex, [u8; 32]>,
}

const R1: u16 = 1;
const R2: u16 = 2;
const R3: u16 = 3;

impl<S: Suite> Dkg<S> {
    fn peers(&self) -> usize {
        usize::from(self.committee.size()) - 1
    }

    /// Round-1 packages of the other parties, keyed by FROST identifier.
    fn others_r1(&self) -> Result<BTreeMap<frost_core::Identifier<S>, round1::Package<S>>, Error> {
        self.r1
            .iter()
            .filter(|(&p, _)| p != self.me)
            .map(|(&p, pkg)| Ok((self.ids.id(p)?, pkg.clone())))
            .collect()
    }

    fn confirmation(&self, public: &PublicKeyPackage<S>) -> Result<[u8; 32], Error> {
        let enc =
            |r: Result<Vec<u8>, frost_core::Error<S>>| r.map_err(|_| Error::Bug("frost encoding"));
        let mut h = Sha256::new();
        h.update(b"custos-tss/v1/frost-dkg-transcript\0");
        h.update(self.eid.0);
        for (p, pkg) in &self.r1 {
            let bytes = enc(pkg.serialize())?;
            h.update(p.to_be_bytes());
            h.update((bytes.len() as u64).to_be_bytes());
            h.update(bytes);
        }
        h.update(enc(public.serialize())?);
        Ok(h.finalize().into())
    }

    fn step(&mut self) -> Result<Option<Action<FrostKeyShare<S>>>, Error> {
        let stage = std::mem::replace(&mut self.stage, Stage::Done);
        let (next, action) = match stage {
            Stage::Start => {
                let (t, n) = (self.committee.threshold(), self.committee.size());
                let (secret, package) = dkg::part1(self.ids.id(self.me)?, n, t, &mut self.rng)
                    .map_err(|e| self.ids.aborted(e))?;
                let payload = package
                    .serialize()
                    .map_err(|_| Error::Bug("frost encoding"))?;
                self.r1.insert(self.me, package);
                self.outbox.push_back(Outgoing {
                    to: Recipient::All,
                    round: R1,
                    payload,
                });
                (Stage::Round1(secret), None)
            }
            Stage::Round1(secret) if self.r1.len() == self.peers() + 1 => {
                let (secret, packages) =
                    dkg::part2(secret, &self.others_r1()?).map_err(|e| self.ids.aborted(e))?;
                for p in self
                    .committee
                    .members()
                    .into_iter()
                    .filter(|&p| p != self.me)
                {
                    let pkg = packages
                        .get(&self.ids.id(p)?)
                        .ok_or(Error::Bug("part2 skipped a party"))?;
                    let payload = pkg.serialize().map_err(|_| Error::Bug("frost encoding"))?;
                    self.outbox.push_back(Outgoing {
                        to: Recipient::One(p),
                        round: R2,
                        payload,
                    });
                }
                (Stage::Round2(secret), None)
            }
            Stage::Round2(secret) if self.r2.len() == self.peers() => {
                let r2 = self
                    .r2
                    .iter()
                    .map(|(&p, pkg)| Ok((self.ids.id(p)?, pkg.clone())))
                    .collect::<Result<BTreeMap<_, _>, Error>>()?;
                let (key, public) = dkg::part3(&secret, &self.others_r1()?, &r2)
                    .map_err(|e| self.ids.aborted(e))?;
                let confirmation = self.confirmation(&public)?;
                self.outbox.push_back(Outgoing {
                    to: Recipient::All,
                    round: R3,
                    payload: confirmation.to_vec(),
                });
                (
                    Stage::Round3 {
                        key,
                        public,
                        confirmation,
                    },
                    None,
                )
            }
            Stage::Round3 {
                key,
                public,
                confirmation,
            } if self.r3.len() == self.peers() => {
                let culprits: Vec<_> = self
                    .r3
                    .iter()
                    .filter(|(_, c)| **c != confirmation)
                    .map(|(&p, _)| p)
                    .collect();
                if !culprits.is_empty() {
                    return Err(Error::Aborted {
                        culprits,
                        reason: "DKG transcripts differ".into(),
                    });
                }
                let chain_code = chain_code(&confirmation);
                let share = FrostKeyShare::new(key, public, chain_code, self.me, self.committee)?;
                (Stage::Done, Some(Action::Done(share)))
            }
            Stage::Done => return Err(Error::Finished),
            waiting => (waiting, Some(Action::Wait)),
        };
        self.stage = next;
        Ok(action)
    }
}

/// Chain code for HD derivation: public, identical at every party, and
/// unpredictable before the DKG ran (it hashes every party's round-1 package).
fn chain_code(confirmation: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"custos-tss/v1/frost-chain-code\0");
    h.update(confirmation);
    h.finalize().into()
}

impl<S: Suite> Protocol for Dkg<S> {
    type Output = FrostKeyShare<S>;

    fn proceed(&mut self) -> Result<Action<FrostKeyShare<S>>, Error> {
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
        let unexpected = Error::Misbehaved {
            from,
            kind: Misbehaviour::UnexpectedRound { round },
        };
        let malformed = |detail| Error::Misbehaved {
            from,
            kind: Misbehaviour::Malformed { round, detail },
        };
        let fresh = match round {
            R1 if msg.broadcast => {
                let pkg = round1::Package::<S>::deserialize(&msg.payload)
                    .map_err(|_| malformed("round-1 package"))?;
                self.r1.insert(from, pkg).is_none()
            }
            R2 if !msg.broadcast => {
                let pkg = round2::Package::<S>::deserialize(&msg.payload)
                    .map_err(|_| malformed("round-2 package"))?;
                self.r2.insert(from, pkg).is_none()
            }
            R3 if msg.broadcast => {
                let c: [u8; 32] = msg
                    .payload
                    .as_slice()
                    .try_into()
                    .map_err(|_| malformed("confirmation length"))?;
                self.r3.insert(from, c).is_none()
            }
            _ => false,
        };
        if fresh {
            Ok(())
        } else {
            Err(unexpected)
        }
    }
}
