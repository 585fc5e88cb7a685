//! Threshold ECDSA on secp256k1 with cggmp24 (CGGMP24, pinned 0.7.0-alpha.3).
//!
//! Flow per committee: each party generates safe primes ahead of time
//! ([`SafePrimes`]), the committee runs [`aux_info`] once, and every later key
//! of that committee costs only a DKG ([`keygen`]) of a few milliseconds.
//! Signing is one interactive run ([`sign`]), always in full: there is no
//! presignature pool (ADR 0008: with a known nonce point, a signature on one
//! digest under one non-hardened child is one on a computable other digest
//! under a sibling key).
//!
//! cggmp24's errors are opaque and its blame list is private, so an aborted
//! cggmp24 run reports the library's reason without naming the cheater.

mod adapter;
mod primes;

use std::sync::Arc;

use cggmp24::signing::AnyDataToSign;
use cggmp24::supported_curves::Secp256k1;
use cggmp24::{DataToSign, ExecutionId as LibEid, PrehashedDataToSign};
use generic_ec::{NonZero, Point, Scalar};
use rand_core::{CryptoRng, RngCore};
use sha2::Sha256;

pub use primes::SafePrimes;

use crate::error::{Error, ParamError};
use crate::hd::DerivationPath;
use crate::key_id::KeyId;
use crate::party::{Committee, PartyIndex};
use crate::progress::{Progress, ProgressTracer};
use crate::scheme::{child_rng, Scheme, Signature};
use crate::session::{ExecutionId, Session};
use adapter::{aborted, RoundBased};

/// The curve.
pub type Curve = Secp256k1;
/// cggmp24 security level: 128-bit (1536-bit safe primes, 3072-bit moduli).
pub type Level = cggmp24::security_level::SecurityLevel128;

/// The committee-wide auxiliary info (Paillier and ring-Pedersen parameters)
/// held by one party.
///
/// One aux info serves every key of its committee. cggmp24's crate docs ("On
/// reusability of the auxiliary data"): "examination of the proof shows that
/// this is not necessary, and a fixed group of signers can use the same
/// auxiliary data for the secure sharing/usage of multiple keys."
#[derive(Clone)]
pub struct AuxInfo {
    pub(crate) inner: Arc<cggmp24::key_share::AuxInfo<Level>>,
    pub(crate) index: PartyIndex,
}

impl std::fmt::Debug for AuxInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuxInfo")
            .field("index", &self.index)
            .field("n", &self.inner.N.len())
            .field("primes", &"<redacted>")
            .finish()
    }
}

impl AuxInfo {
    /// This party's index in the committee.
    pub fn index(&self) -> PartyIndex {
        self.index
    }

    /// Committee size this aux info was made for.
    pub fn committee_size(&self) -> usize {
        self.inner.N.len()
    }
}

/// One party's ECDSA key share (core share + the committee's aux info).
#[derive(Clone)]
pub struct EcdsaKeyShare {
    pub(crate) inner: Arc<cggmp24::KeyShare<Curve, Level>>,
    pub(crate) aux: AuxInfo,
    pub(crate) key_id: KeyId,
}

impl std::fmt::Debug for EcdsaKeyShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EcdsaKeyShare")
            .field("key_id", &self.key_id)
            .field("index", &self.inner.core.i)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl EcdsaKeyShare {
    pub(crate) fn from_parts(
        core: cggmp24::IncompleteKeyShare<Curve>,
        aux: &AuxInfo,
    ) -> Result<Self, Error> {
        if core.i != aux.index || core.public_shares.len() != aux.committee_size() {
            return Err(
                ParamError::Mismatch("aux info belongs to another party or committee").into(),
            );
        }
        let inner = cggmp24::KeyShare::from_parts((core, (*aux.inner).clone())).map_err(|_| {
            crate::error::ShareError::Inconsistent("core share and aux info disagree")
        })?;
        let mut share = Self {
            inner: Arc::new(inner),
            aux: aux.clone(),
            key_id: KeyId([0; 32]),
        };
        share.key_id = KeyId::of(&share.public_info());
        Ok(share)
    }

    /// Public material every party holds identically.
    pub(crate) fn public_info(&self) -> crate::key_id::PublicInfo {
        let core = &self.inner.core;
        crate::key_id::PublicInfo {
            scheme: Scheme::EcdsaSecp256k1,
            threshold: core.vss_setup.as_ref().map(|v| v.min_signers).unwrap_or(0),
            group_key: core.shared_public_key.to_bytes(true).to_vec(),
            public_shares: core
                .public_shares
                .iter()
                .map(|p| p.to_bytes(true).to_vec())
                .collect(),
            chain_code: core.chain_code.unwrap_or([0; 32]),
        }
    }

    /// This party's committee index.
    pub fn index(&self) -> PartyIndex {
        self.inner.core.i
    }

    /// The committee the key is shared in.
    pub fn committee(&self) -> Result<Committee, Error> {
        let n = u16::try_from(self.inner.core.public_shares.len())
            .map_err(|_| Error::Bug("n > u16"))?;
        let t = self
            .inner
            .core
            .vss_setup
            .as_ref()
            .map(|v| v.min_signers)
            .unwrap_or(n);
        Ok(Committee::new(t, n)?)
    }

    /// The underlying cggmp24 share, for interoperability and for measuring
    /// this wrapper against the library (`custos bench`).
    pub fn as_cggmp24(&self) -> &cggmp24::KeyShare<Curve, Level> {
        &self.inner
    }

    /// The key id.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The aux info this share uses.
    pub fn aux_info(&self) -> &AuxInfo {
        &self.aux
    }

    /// Root public key.
    pub fn public_key(&self) -> Point<Curve> {
        *self.inner.core.shared_public_key
    }

    /// Root extended public key (public key + chain code).
    pub fn extended_public_key(&self) -> hd_wallet::ExtendedPublicKey<Curve> {
        hd_wallet::ExtendedPublicKey {
            public_key: self.public_key(),
            chain_code: self.inner.core.chain_code.unwrap_or([0; 32]),
        }
    }
}

/// What an ECDSA signature covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EcdsaMessage {
    /// A 32-byte digest whose preimage this node computed itself (a BIP-143 or
    /// BIP-341 sighash, an EIP-1559 signing hash, an EIP-191 or BIP-322
    /// message digest), or a blind wallet's digest. Full signing only.
    Prehashed([u8; 32]),
    /// A message hashed here with SHA-256.
    Sha256(Vec<u8>),
}

impl EcdsaMessage {
    /// The 32-byte digest that the signature verifies against.
    pub fn digest(&self) -> [u8; 32] {
        match self {
            EcdsaMessage::Prehashed(d) => *d,
            EcdsaMessage::Sha256(m) => <Sha256 as sha2::Digest>::digest(m).into(),
        }
    }

    fn to_scalar(&self) -> Scalar<Curve> {
        Scalar::from_be_bytes_mod_order(self.digest())
    }

    pub(crate) fn data_to_sign(&self) -> Option<DataToSign<Curve>> {
        match self {
            EcdsaMessage::Prehashed(_) => None,
            EcdsaMessage::Sha256(m) => Some(DataToSign::digest::<Sha256>(m)),
        }
    }
}

fn u16_bytes(v: &[u16]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_be_bytes()).collect()
}

/// Runs the committee's aux-info generation (Paillier keys and ring-Pedersen
/// parameters with their ZK proofs) for party `me` of `n`.
///
/// `primes` come from [`SafePrimes::generate`], which can run ahead of time.
/// `progress` receives round and stage events.
pub fn aux_info(
    session_id: &[u8; 32],
    n: u16,
    me: PartyIndex,
    primes: SafePrimes,
    progress: Option<Box<dyn Progress>>,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<Session<AuxInfo>, Error> {
    let committee = Committee::new(2, n).map_err(|_| ParamError::Threshold { t: 2, n })?;
    committee.check_member(me)?;
    let eid = ExecutionId::derive("ecdsa/aux-info", session_id, &[&n.to_be_bytes()]);
    let mut rng = child_rng(rng);
    let sm = round_based::state_machine::wrap_protocol(move |party| async move {
        let mut tracer = progress.map(ProgressTracer::new);
        let mut builder = cggmp24::aux_info_gen(LibEid::new(&eid.0), me, n, primes.into_inner());
        if let Some(t) = tracer.as_mut() {
            builder = builder.set_progress_tracer(t);
        }
        builder.start(&mut rng, party).await
    });
    let finish = Box::new(move |out: Result<_, cggmp24::KeyRefreshError>| {
        let aux = out.map_err(|e| aborted(&e))?;
        Ok(AuxInfo {
            inner: Arc::new(aux),
            index: me,
        })
    });
    let protocol = RoundBased::new(sm, committee.members(), finish);
    Ok(Session::new(
        eid,
        me,
        committee.members(),
        Box::new(protocol),
    ))
}

/// Distributed key generation for party `me` of `committee`, completing the
/// share with the committee's `aux` info. The key supports BIP-32 derivation
/// (a chain code is generated jointly).
pub fn keygen(
    session_id: &[u8; 32],
    committee: Committee,
    me: PartyIndex,
    aux: &AuxInfo,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<Session<EcdsaKeyShare>, Error> {
    committee.check_member(me)?;
    if aux.index != me || aux.committee_size() != usize::from(committee.size()) {
        return Err(ParamError::Mismatch("aux info belongs to another party or committee").into());
    }
    let (t, n) = (committee.threshold(), committee.size());
    let eid = ExecutionId::derive(
        "ecdsa/keygen",
        session_id,
        &[&t.to_be_bytes(), &n.to_be_bytes()],
    );
    let mut rng = child_rng(rng);
    let sm = round_based::state_machine::wrap_protocol(move |party| async move {
        cggmp24::keygen::<Curve>(LibEid::new(&eid.0), me, n)
            .set_threshold(t)
            .hd_wallet(true)
            .start(&mut rng, party)
            .await
    });
    let aux = aux.clone();
    let finish = Box::new(move |out: Result<_, cggmp24::KeygenError>| {
        let core = out.map_err(|e| aborted(&e))?;
        EcdsaKeyShare::from_parts(core, &aux)
    });
    let protocol = RoundBased::new(sm, committee.members(), finish);
    Ok(Session::new(
        eid,
        me,
        committee.members(),
        Box::new(protocol),
    ))
}

/// Interactive signing by exactly `t` signers, optionally with a derived
/// (non-hardened BIP-32) child key. Output: 64-byte `r ‖ s`, low-S.
pub fn sign(
    share: &EcdsaKeyShare,
    session_id: &[u8; 32],
    signers: &[PartyIndex],
    path: &DerivationPath,
    message: &EcdsaMessage,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<Session<Signature>, Error> {
    let me = share.index();
    let signers = share.committee()?.signer_set(signers, me)?;
    let position = signers
        .iter()
        .position(|&s| s == me)
        .ok_or(ParamError::NotASigner(me))?;
    let position = u16::try_from(position).map_err(|_| Error::Bug("position > u16"))?;
    let digest = message.digest();
    let eid = ExecutionId::derive(
        "ecdsa/sign",
        session_id,
        &[
            &share.key_id.0,
            &u16_bytes(&signers),
            &path.to_bytes(),
            &digest,
        ],
    );
    let child_key = path
        .derive_secp256k1(&share.extended_public_key())?
        .public_key;
    let inner = share.inner.clone();
    let indices = path.indices().to_vec();
    let lib_signers = signers.clone();
    let msg = message.clone();
    let mut rng = child_rng(rng);
    let sm = round_based::state_machine::wrap_protocol(move |party| async move {
        let prehashed;
        let known;
        let data: &dyn AnyDataToSign<Curve> = match msg.data_to_sign() {
            Some(d) => {
                known = d;
                &known
            }
            None => {
                prehashed = PrehashedDataToSign::from_scalar(msg.to_scalar());
                &prehashed
            }
        };
        let mut builder = cggmp24::signing(LibEid::new(&eid.0), position, &lib_signers, &inner);
        if !indices.is_empty() {
            builder = builder
                .set_derivation_path(indices)
                .map_err(|_| SignSetup::Path)?;
        }
        builder
            .sign(&mut rng, party, data)
            .await
            .map_err(SignSetup::Lib)
    });
    let finish = Box::new(move |out: Result<cggmp24::Signature<Curve>, SignSetup>| {
        let sig = out.map_err(|e| match e {
            SignSetup::Path => Error::Params(ParamError::Path("rejected by cggmp24".into())),
            SignSetup::Lib(e) => aborted(&e),
        })?;
        encode_verified(sig.normalize_s(), &child_key, &digest)
    });
    let protocol = RoundBased::new(sm, signers.clone(), finish);
    Ok(Session::new(eid, me, signers, Box::new(protocol)))
}

enum SignSetup {
    Path,
    Lib(cggmp24::SigningError),
}

/// Checks a combined signature against the key and encodes it as `r ‖ s`.
pub(crate) fn encode_verified(
    sig: cggmp24::Signature<Curve>,
    public_key: &Point<Curve>,
    digest: &[u8; 32],
) -> Result<Signature, Error> {
    let prehashed = PrehashedDataToSign::from_scalar(Scalar::from_be_bytes_mod_order(digest));
    sig.verify(public_key, &prehashed)
        .map_err(|_| Error::Aborted {
            culprits: vec![],
            reason: "combined signature does not verify".into(),
        })?;
    let mut bytes = vec![0u8; cggmp24::Signature::<Curve>::serialized_len()];
    sig.write_to_slice(&mut bytes);
    Ok(Signature {
        scheme: Scheme::EcdsaSecp256k1,
        bytes,
    })
}

/// Verifies a 64-byte `r ‖ s` ECDSA signature (low-S required) over `digest`
/// with a 33-byte compressed public key.
pub fn verify(public_key: &[u8], digest: &[u8; 32], signature: &[u8]) -> bool {
    let Ok(pk) = Point::<Curve>::from_bytes(public_key) else {
        return false;
    };
    let Some(sig) = cggmp24::Signature::<Curve>::read_from_slice(signature) else {
        return false;
    };
    if sig.normalize_s() != sig {
        return false;
    }
    let prehashed = PrehashedDataToSign::from_scalar(Scalar::from_be_bytes_mod_order(digest));
    sig.verify(&pk, &prehashed).is_ok()
}

pub(crate) fn nonzero_point(bytes: &[u8]) -> Option<NonZero<Point<Curve>>> {
    Point::<Curve>::from_bytes(bytes)
        .ok()
        .and_then(NonZero::from_point)
}
