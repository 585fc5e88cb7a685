//! Presignatures: the three interactive rounds of signing done ahead of time,
//! then a one-round online step once the message is known.
//!
//! Presignatures serve non-derived keys only: combining them with additive HD
//! shifts is insecure (Groth–Shoup, "On the security of ECDSA with additive key
//! derivation and presignatures", EUROCRYPT 2022), so [`sign_with_presignature`]
//! takes no derivation path. Derived keys use full signing.

use std::collections::BTreeMap;

use cggmp24::signing::{PartialSignature, PresignatureCommitment, PresignaturePublicData};
use cggmp24::ExecutionId as LibEid;
use generic_ec::coords::AlwaysHasAffineX;
use generic_ec::{NonZero, Point, Scalar, SecretScalar};
use rand_core::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::adapter::{aborted, RoundBased};
use super::{encode_verified, u16_bytes, Curve, EcdsaKeyShare, EcdsaMessage};
use crate::error::{Error, Misbehaviour, ParamError, ShareError};
use crate::party::PartyIndex;
use crate::session::{Action, ExecutionId, Incoming, Outgoing, Protocol, Recipient, Session};
use crate::share::{decode_exact, strip_header, KeyId, FORMAT_VERSION};
use crate::{child_rng, Signature};

/// One party's presignature for one key and one signer set.
///
/// # Security
/// Use once. Signing two messages with one presignature reveals the key. The
/// type is not `Clone`, and [`sign_with_presignature`] consumes it; a node that
/// persists presignatures ([`Presignature::to_bytes`]) must also record their
/// use durably before releasing a partial signature.
pub struct Presignature {
    inner: cggmp24::Presignature<Curve>,
    public: PresignaturePublicData<Curve>,
    signers: Vec<PartyIndex>,
    me: PartyIndex,
    key_id: KeyId,
    eid: ExecutionId,
}

impl std::fmt::Debug for Presignature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Presignature")
            .field("key_id", &self.key_id)
            .field("signers", &self.signers)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl Presignature {
    /// The signer set that must take part in the online step.
    pub fn signers(&self) -> &[PartyIndex] {
        &self.signers
    }

    /// Identifies this presignature at every signer (its presigning
    /// execution id), so a node can record its use.
    pub fn id(&self) -> [u8; 32] {
        self.eid.0
    }

    /// Versioned encoding for the node's vault. The result is secret.
    ///
    /// # Security
    /// A stored presignature can be loaded twice; the store must record its
    /// use durably before the partial signature leaves the node.
    pub fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>, Error> {
        let point = |p: &Point<Curve>| p.to_bytes(true).as_bytes().to_vec();
        let record = PresigRecordV1 {
            key_id: self.key_id,
            me: self.me,
            signers: self.signers.clone(),
            eid: self.eid.0,
            gamma: point(&self.inner.Gamma),
            commitments: self
                .public
                .commitments
                .iter()
                .map(|c| (point(&c.tilde_Delta), point(&c.tilde_S)))
                .collect(),
            tilde_k: Zeroizing::new(self.inner.tilde_k.as_ref().to_be_bytes().to_vec()),
            tilde_chi: Zeroizing::new(self.inner.tilde_chi.as_ref().to_be_bytes().to_vec()),
        };
        let body = Zeroizing::new(
            postcard::to_stdvec(&record).map_err(|_| Error::Bug("presignature encoding"))?,
        );
        let mut out = Zeroizing::new(Vec::with_capacity(6 + body.len()));
        out.extend_from_slice(PRESIG_MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_be_bytes());
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Decodes a presignature for `share` and checks it: same key and party,
    /// a valid signer set containing us, and our own commitments
    /// `Δ̃_i = k̃_i·Γ`, `S̃_i = χ̃_i·Γ` (what other signers will check our partial
    /// signature against).
    pub fn from_bytes(bytes: &[u8], share: &EcdsaKeyShare) -> Result<Self, Error> {
        let record: PresigRecordV1 = decode_exact(strip_header(bytes, PRESIG_MAGIC)?)?;
        if record.key_id != share.key_id || record.me != share.index() {
            return Err(
                ParamError::Mismatch("presignature belongs to another key or party").into(),
            );
        }
        let signers = share.committee()?.signer_set(&record.signers, record.me)?;
        if signers != record.signers || record.commitments.len() != signers.len() {
            return Err(ShareError::Inconsistent("presignature signer set").into());
        }
        let point = |b: &[u8]| {
            Point::<Curve>::from_bytes(b).map_err(|_| ShareError::Decode("presignature point"))
        };
        let scalar = |b: &[u8]| {
            Scalar::<Curve>::from_be_bytes(b).map_err(|_| ShareError::Decode("presignature scalar"))
        };
        let gamma = NonZero::from_point(point(&record.gamma)?)
            .ok_or(ShareError::Decode("presignature Γ is zero"))?;
        let commitments = record
            .commitments
            .iter()
            .map(|(d, s)| {
                Ok(PresignatureCommitment {
                    tilde_Delta: point(d)?,
                    tilde_S: point(s)?,
                })
            })
            .collect::<Result<Vec<_>, ShareError>>()?;
        let mut tilde_k = scalar(&record.tilde_k)?;
        let mut tilde_chi = scalar(&record.tilde_chi)?;
        let own = signers
            .iter()
            .position(|&s| s == record.me)
            .and_then(|i| commitments.get(i))
            .ok_or(ShareError::Inconsistent("presignature index"))?;
        if own.tilde_Delta != tilde_k * gamma || own.tilde_S != tilde_chi * gamma {
            return Err(ShareError::Inconsistent("presignature commitments").into());
        }
        let inner = cggmp24::Presignature {
            Gamma: gamma,
            tilde_k: SecretScalar::new(&mut tilde_k),
            tilde_chi: SecretScalar::new(&mut tilde_chi),
        };
        Ok(Presignature {
            inner,
            public: PresignaturePublicData {
                Gamma: gamma,
                commitments,
            },
            signers,
            me: record.me,
            key_id: record.key_id,
            eid: ExecutionId(record.eid),
        })
    }
}

const PRESIG_MAGIC: &[u8; 4] = b"CSPS";

#[derive(Serialize, Deserialize)]
struct PresigRecordV1 {
    key_id: KeyId,
    me: PartyIndex,
    signers: Vec<PartyIndex>,
    eid: [u8; 32],
    gamma: Vec<u8>,
    commitments: Vec<(Vec<u8>, Vec<u8>)>,
    tilde_k: Zeroizing<Vec<u8>>,
    tilde_chi: Zeroizing<Vec<u8>>,
}

/// Generates a presignature with exactly `t` signers (no message needed).
pub fn presign(
    share: &EcdsaKeyShare,
    session_id: &[u8; 32],
    signers: &[PartyIndex],
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<Session<Presignature>, Error> {
    let me = share.index();
    let signers = share.committee()?.signer_set(signers, me)?;
    let position = signers
        .iter()
        .position(|&s| s == me)
        .ok_or(ParamError::NotASigner(me))?;
    let position = u16::try_from(position).map_err(|_| Error::Bug("position > u16"))?;
    let key_id = share.key_id;
    let eid = ExecutionId::derive(
        "ecdsa/presign",
        session_id,
        &[&key_id.0, &u16_bytes(&signers)],
    );
    let inner = share.inner.clone();
    let lib_signers = signers.clone();
    let mut rng = child_rng(rng);
    let sm = round_based::state_machine::wrap_protocol(move |party| async move {
        cggmp24::signing(LibEid::new(&eid.0), position, &lib_signers, &inner)
            .generate_presignature(&mut rng, party)
            .await
    });
    let kept_signers = signers.clone();
    let finish = Box::new(move |out: Result<_, cggmp24::SigningError>| {
        let (inner, public) = out.map_err(|e| aborted(&e))?;
        Ok(Presignature {
            inner,
            public,
            signers: kept_signers,
            me,
            key_id,
            eid,
        })
    });
    let protocol = RoundBased::new(sm, signers.clone(), finish);
    Ok(Session::new(eid, me, signers, Box::new(protocol)))
}

/// Consumes `presignature` to sign `message` in one broadcast round.
///
/// `message` must carry its preimage ([`EcdsaMessage::Sha256`]): a presignature
/// must never sign a bare hash.
pub fn sign_with_presignature(
    presignature: Presignature,
    share: &EcdsaKeyShare,
    session_id: &[u8; 32],
    message: &EcdsaMessage,
) -> Result<Session<Signature>, Error> {
    let data = message.data_to_sign().ok_or(ParamError::Message(
        "a presignature signs only a message with known preimage",
    ))?;
    if presignature.key_id != share.key_id || presignature.me != share.index() {
        return Err(ParamError::Mismatch("presignature belongs to another key or party").into());
    }
    let digest = message.digest();
    let Presignature {
        inner,
        public,
        signers,
        me,
        key_id,
        eid: presign_eid,
    } = presignature;
    let eid = ExecutionId::derive(
        "ecdsa/online-sign",
        session_id,
        &[&key_id.0, &presign_eid.0, &u16_bytes(&signers), &digest],
    );
    let partial = inner.issue_partial_signature(data);
    let protocol = OnlineSign {
        signers: signers.clone(),
        mine: Some(partial),
        received: BTreeMap::from([(me, partial)]),
        public,
        data,
        digest,
        public_key: share.public_key(),
    };
    Ok(Session::new(eid, me, signers, Box::new(protocol)))
}

struct OnlineSign {
    signers: Vec<PartyIndex>,
    mine: Option<PartialSignature<Curve>>,
    received: BTreeMap<PartyIndex, PartialSignature<Curve>>,
    public: PresignaturePublicData<Curve>,
    data: cggmp24::DataToSign<Curve>,
    digest: [u8; 32],
    public_key: Point<Curve>,
}

const ROUND: u16 = 1;

impl OnlineSign {
    fn combine(&self) -> Result<Signature, Error> {
        let m = self.data.to_scalar();
        let r = self.public.Gamma.x().to_scalar();
        // σ_j·Γ = m·Δ̃_j + r·S̃_j for each signer j (cggmp24 `PartialSignature::combine`).
        let culprits: Vec<PartyIndex> = self
            .signers
            .iter()
            .zip(&self.public.commitments)
            .filter(|(j, c)| match self.received.get(j) {
                Some(p) => p.sigma * self.public.Gamma != m * c.tilde_Delta + r * c.tilde_S,
                None => true,
            })
            .map(|(j, _)| *j)
            .collect();
        if !culprits.is_empty() {
            return Err(Error::Aborted {
                culprits,
                reason: "invalid partial signature".into(),
            });
        }
        let partials: Vec<_> = self
            .signers
            .iter()
            .filter_map(|j| self.received.get(j).copied())
            .collect();
        let sig = PartialSignature::combine(&partials, &self.public, self.data).ok_or(
            Error::Aborted {
                culprits: vec![],
                reason: "partial signatures do not combine".into(),
            },
        )?;
        encode_verified(sig, &self.public_key, &self.digest)
    }
}

impl Protocol for OnlineSign {
    type Output = Signature;

    fn proceed(&mut self) -> Result<Action<Signature>, Error> {
        if let Some(mine) = self.mine.take() {
            let payload =
                postcard::to_stdvec(&mine).map_err(|_| Error::Bug("partial does not encode"))?;
            return Ok(Action::Send(Outgoing {
                to: Recipient::All,
                round: ROUND,
                payload,
            }));
        }
        if self.received.len() < self.signers.len() {
            return Ok(Action::Wait);
        }
        self.combine().map(Action::Done)
    }

    fn receive(&mut self, msg: Incoming) -> Result<(), Error> {
        let from = msg.from;
        if msg.round != ROUND || !msg.broadcast || self.received.contains_key(&from) {
            return Err(Error::Misbehaved {
                from,
                kind: Misbehaviour::UnexpectedRound { round: msg.round },
            });
        }
        let malformed = |detail| Error::Misbehaved {
            from,
            kind: Misbehaviour::Malformed {
                round: msg.round,
                detail,
            },
        };
        let (partial, rest): (PartialSignature<Curve>, _) =
            postcard::take_from_bytes(&msg.payload).map_err(|_| malformed("does not decode"))?;
        if !rest.is_empty() {
            return Err(malformed("trailing bytes"));
        }
        self.received.insert(from, partial);
        Ok(())
    }
}
