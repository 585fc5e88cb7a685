//! Persisted formats: key shares and ECDSA aux info, versioned and validated on
//! load. A blob becomes a usable share only after every check passes:
//!
//! 1. magic and format version;
//! 2. canonical decoding with no trailing bytes;
//! 3. committee parameters (1 < t ≤ n ≤ 16, index < n);
//! 4. the public material hashes to the recorded [`KeyId`] (or aux id), so a
//!    changed chain code, public share or Paillier modulus is caught;
//! 5. the public shares lie on one polynomial of degree t−1 through the group
//!    key, and the secret share matches this party's public share
//!    (ECDSA additionally: cggmp24's own `Valid` checks and `N_i = p·q`).
//!
//! Fixtures of every released format live in `test-data/` and must always load.

use generic_ec::{Curve, NonZero, Point, Scalar, SecretScalar};
use paillier_zk::backend::Integer;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::ecdsa::{self, AuxInfo, EcdsaKeyShare};
use crate::error::{Error, ParamError, ShareError};
use crate::frost::{self, Bip340, FrostKeyShare};
use crate::hd::DerivationPath;
pub use crate::key_id::KeyId;
use crate::key_id::{tagged_hash, PublicInfo};
use crate::party::{Committee, PartyIndex};
use crate::Scheme;

const SHARE_MAGIC: &[u8; 4] = b"CSKS";
const AUX_MAGIC: &[u8; 4] = b"CSAX";
/// Current format version of both blobs.
pub const FORMAT_VERSION: u16 = 1;

#[derive(Serialize, Deserialize)]
struct ShareRecordV1 {
    key_id: KeyId,
    public: PublicInfo,
    index: PartyIndex,
    secret: Zeroizing<Vec<u8>>,
}

/// One party's share of a threshold key, for any scheme.
#[derive(Debug)]
pub enum KeyShare {
    /// cggmp24 ECDSA on secp256k1.
    Ecdsa(EcdsaKeyShare),
    /// FROST BIP-340 Schnorr (Taproot).
    Schnorr(FrostKeyShare<Bip340>),
    /// FROST Ed25519.
    Ed25519(FrostKeyShare<frost::Ed25519>),
}

impl KeyShare {
    /// The scheme.
    pub fn scheme(&self) -> Scheme {
        match self {
            KeyShare::Ecdsa(_) => Scheme::EcdsaSecp256k1,
            KeyShare::Schnorr(_) => Scheme::SchnorrBip340,
            KeyShare::Ed25519(_) => Scheme::Ed25519,
        }
    }

    /// The key id.
    pub fn key_id(&self) -> KeyId {
        match self {
            KeyShare::Ecdsa(s) => s.key_id,
            KeyShare::Schnorr(s) => s.key_id(),
            KeyShare::Ed25519(s) => s.key_id(),
        }
    }

    /// This party's committee index.
    pub fn index(&self) -> PartyIndex {
        match self {
            KeyShare::Ecdsa(s) => s.index(),
            KeyShare::Schnorr(s) => s.index(),
            KeyShare::Ed25519(s) => s.index(),
        }
    }

    /// The committee.
    pub fn committee(&self) -> Result<Committee, Error> {
        match self {
            KeyShare::Ecdsa(s) => s.committee(),
            KeyShare::Schnorr(s) => Ok(s.committee()),
            KeyShare::Ed25519(s) => Ok(s.committee()),
        }
    }

    /// The public key that signatures at `path` verify against: ECDSA 33-byte
    /// compressed; BIP-340 32-byte x-only Taproot output key (BIP-86 tweak of
    /// the derived internal key); Ed25519 32 bytes.
    pub fn public_key(&self, path: &DerivationPath) -> Result<Vec<u8>, Error> {
        match self {
            KeyShare::Ecdsa(s) => {
                let child = path.derive_secp256k1(&s.extended_public_key())?;
                Ok(child.public_key.to_bytes(true).to_vec())
            }
            KeyShare::Schnorr(s) => s.public_key(path),
            KeyShare::Ed25519(s) => s.public_key(path),
        }
    }

    /// Root extended public key of a secp256k1 key as (33-byte compressed key,
    /// chain code): the data of a BIP-32 xpub at depth 0. For BIP-340 keys
    /// this is the internal (untweaked) key.
    pub fn extended_public_key(&self) -> Result<([u8; 33], [u8; 32]), Error> {
        let epub = match self {
            KeyShare::Ecdsa(s) => s.extended_public_key(),
            KeyShare::Schnorr(s) => s.extended_public_key()?,
            KeyShare::Ed25519(_) => {
                return Err(ParamError::Mismatch("Ed25519 keys have no BIP-32 xpub").into())
            }
        };
        let key = <[u8; 33]>::try_from(epub.public_key.to_bytes(true).as_ref())
            .map_err(|_| Error::Bug("point length"))?;
        Ok((key, epub.chain_code))
    }

    /// Root public data for watch-only derivation: (root key, chain code),
    /// where the root key is the compressed secp256k1 key (ECDSA; the Taproot
    /// internal key for BIP-340) or the 32-byte Ed25519 key. See
    /// [`crate::hd::public_key_at`].
    pub fn root_public(&self) -> Result<(Vec<u8>, [u8; 32]), Error> {
        match self {
            KeyShare::Ecdsa(s) => {
                let e = s.extended_public_key();
                Ok((e.public_key.to_bytes(true).to_vec(), e.chain_code))
            }
            KeyShare::Schnorr(s) => {
                let e = s.extended_public_key()?;
                Ok((e.public_key.to_bytes(true).to_vec(), e.chain_code))
            }
            KeyShare::Ed25519(s) => {
                let e = s.extended_public_key()?;
                Ok((e.public_key.to_bytes(true).to_vec(), e.chain_code))
            }
        }
    }

    fn public_info(&self) -> Result<PublicInfo, Error> {
        match self {
            KeyShare::Ecdsa(s) => Ok(s.public_info()),
            KeyShare::Schnorr(s) => s.public_info(),
            KeyShare::Ed25519(s) => s.public_info(),
        }
    }

    fn secret_bytes(&self) -> Zeroizing<Vec<u8>> {
        match self {
            KeyShare::Ecdsa(s) => {
                let x: &SecretScalar<ecdsa::Curve> = s.inner.core.x.as_ref();
                let x: &Scalar<ecdsa::Curve> = x.as_ref();
                Zeroizing::new(x.to_be_bytes().to_vec())
            }
            KeyShare::Schnorr(s) => s.secret_bytes(),
            KeyShare::Ed25519(s) => s.secret_bytes(),
        }
    }

    /// Versioned encoding. ECDSA shares omit the committee's aux info, which
    /// is stored once per committee ([`AuxInfo::to_bytes`]).
    pub fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>, Error> {
        let record = ShareRecordV1 {
            key_id: self.key_id(),
            public: self.public_info()?,
            index: self.index(),
            secret: self.secret_bytes(),
        };
        let body =
            Zeroizing::new(postcard::to_stdvec(&record).map_err(|_| Error::Bug("share encoding"))?);
        let mut out = Zeroizing::new(Vec::with_capacity(6 + body.len()));
        out.extend_from_slice(SHARE_MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_be_bytes());
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Decodes and validates a share. ECDSA shares need their committee's `aux`.
    pub fn from_bytes(bytes: &[u8], aux: Option<&AuxInfo>) -> Result<Self, Error> {
        let body = strip_header(bytes, SHARE_MAGIC)?;
        let record: ShareRecordV1 = decode_exact(body)?;
        let public = &record.public;
        let n = u16::try_from(public.public_shares.len())
            .map_err(|_| ShareError::Decode("too many shares"))?;
        let committee = Committee::new(public.threshold, n)
            .map_err(|_| ShareError::Inconsistent("threshold"))?;
        committee
            .check_member(record.index)
            .map_err(|_| ShareError::Inconsistent("index"))?;
        if KeyId::of(public) != record.key_id {
            return Err(ShareError::KeyId.into());
        }
        if record.secret.len() != 32 {
            return Err(ShareError::Decode("secret share length").into());
        }
        let share = match public.scheme {
            Scheme::EcdsaSecp256k1 => {
                check_shares::<generic_ec::curves::Secp256k1>(
                    public,
                    record.index,
                    |b| Scalar::from_be_bytes(b).ok(),
                    &record.secret,
                )?;
                let aux = aux.ok_or(ParamError::Mismatch(
                    "an ECDSA share needs its committee's aux info",
                ))?;
                KeyShare::Ecdsa(ecdsa_from_record(
                    public,
                    record.index,
                    committee,
                    &record.secret,
                    aux,
                )?)
            }
            Scheme::SchnorrBip340 => {
                check_shares::<generic_ec::curves::Secp256k1>(
                    public,
                    record.index,
                    |b| Scalar::from_be_bytes(b).ok(),
                    &record.secret,
                )?;
                KeyShare::Schnorr(FrostKeyShare::from_parts(
                    public,
                    record.index,
                    committee,
                    &record.secret,
                )?)
            }
            Scheme::Ed25519 => {
                check_shares::<generic_ec::curves::Ed25519>(
                    public,
                    record.index,
                    |b| Scalar::from_le_bytes(b).ok(),
                    &record.secret,
                )?;
                KeyShare::Ed25519(FrostKeyShare::from_parts(
                    public,
                    record.index,
                    committee,
                    &record.secret,
                )?)
            }
        };
        if share.key_id() != record.key_id {
            return Err(ShareError::KeyId.into());
        }
        Ok(share)
    }
}

pub(crate) fn strip_header<'a>(bytes: &'a [u8], magic: &[u8; 4]) -> Result<&'a [u8], ShareError> {
    let rest = bytes
        .strip_prefix(magic.as_slice())
        .ok_or(ShareError::Magic)?;
    let (version, body) = rest
        .split_first_chunk::<2>()
        .ok_or(ShareError::Decode("truncated header"))?;
    match u16::from_be_bytes(*version) {
        FORMAT_VERSION => Ok(body),
        other => Err(ShareError::Version(other)),
    }
}

pub(crate) fn decode_exact<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, ShareError> {
    let (value, rest) =
        postcard::take_from_bytes(body).map_err(|_| ShareError::Decode("malformed body"))?;
    if !rest.is_empty() {
        return Err(ShareError::Decode("trailing bytes"));
    }
    Ok(value)
}

/// Step 5: public shares on one degree-(t−1) polynomial through the group key
/// (shares are f(1), …, f(n); group key f(0)), and secret·G = own public share.
fn check_shares<E: Curve>(
    public: &PublicInfo,
    index: PartyIndex,
    scalar: impl Fn(&[u8]) -> Option<Scalar<E>>,
    secret: &[u8],
) -> Result<(), ShareError> {
    let point = |b: &[u8]| Point::<E>::from_bytes(b).ok().and_then(NonZero::from_point);
    let key = point(&public.group_key).ok_or(ShareError::Decode("group key"))?;
    let shares = public
        .public_shares
        .iter()
        .map(|b| point(b).ok_or(ShareError::Decode("public share")))
        .collect::<Result<Vec<_>, _>>()?;
    let t = usize::from(public.threshold);
    let xs: Vec<Scalar<E>> = (1..=t).map(|i| Scalar::from(i as u64)).collect();
    let base = shares
        .get(..t)
        .ok_or(ShareError::Inconsistent("fewer shares than threshold"))?;
    let interpolate = |x: Scalar<E>| -> Result<Point<E>, ShareError> {
        let mut acc = Point::<E>::zero();
        for (j, (xj, share)) in xs.iter().zip(base).enumerate() {
            let mut num = Scalar::<E>::one();
            let mut den = Scalar::<E>::one();
            for (m, xm) in xs.iter().enumerate() {
                if m != j {
                    num *= x - xm;
                    den *= xj - xm;
                }
            }
            let inv = den
                .invert()
                .ok_or(ShareError::Inconsistent("duplicate evaluation point"))?;
            acc += **share * (num * inv);
        }
        Ok(acc)
    };
    if interpolate(Scalar::zero())? != *key {
        return Err(ShareError::Inconsistent(
            "public shares do not interpolate to the group key",
        ));
    }
    for (i, share) in shares.iter().enumerate().skip(t) {
        if interpolate(Scalar::from(i as u64 + 1))? != **share {
            return Err(ShareError::Inconsistent(
                "public shares are not on one polynomial",
            ));
        }
    }
    let x = scalar(secret).ok_or(ShareError::Decode("secret share"))?;
    let x = SecretScalar::new(&mut x.clone());
    let own = shares
        .get(usize::from(index))
        .ok_or(ShareError::Inconsistent("index"))?;
    if Point::generator() * &x != **own {
        return Err(ShareError::Inconsistent(
            "secret share does not match public share",
        ));
    }
    Ok(())
}

fn ecdsa_from_record(
    public: &PublicInfo,
    index: PartyIndex,
    committee: Committee,
    secret: &[u8],
    aux: &AuxInfo,
) -> Result<EcdsaKeyShare, Error> {
    use cggmp24::key_share::{DirtyIncompleteKeyShare, DirtyKeyInfo, Validate, VssSetup};
    let bad = |what| Error::Share(ShareError::Decode(what));
    let shared_public_key = ecdsa::nonzero_point(&public.group_key).ok_or(bad("group key"))?;
    let public_shares = public
        .public_shares
        .iter()
        .map(|b| ecdsa::nonzero_point(b).ok_or(bad("public share")))
        .collect::<Result<Vec<_>, _>>()?;
    let x = Scalar::from_be_bytes(secret).map_err(|_| bad("secret share"))?;
    let x = NonZero::from_secret_scalar(SecretScalar::new(&mut x.clone()))
        .ok_or(bad("zero secret share"))?;
    let indices = (1..=committee.size())
        .map(|i| NonZero::from_scalar(Scalar::from(i)))
        .collect::<Option<Vec<_>>>()
        .ok_or(Error::Bug("zero evaluation point"))?;
    let core = DirtyIncompleteKeyShare::<ecdsa::Curve> {
        i: index,
        key_info: DirtyKeyInfo {
            curve: Default::default(),
            shared_public_key,
            public_shares,
            vss_setup: Some(VssSetup {
                min_signers: committee.threshold(),
                I: indices,
            }),
            chain_code: Some(public.chain_code),
        },
        x,
    };
    let core = core
        .validate()
        .map_err(|_| ShareError::Inconsistent("cggmp24 rejects the core share"))?;
    EcdsaKeyShare::from_parts(core, aux)
}

#[derive(Serialize, Deserialize)]
struct AuxRecordV1 {
    aux_id: [u8; 32],
    index: PartyIndex,
    public: AuxPublic,
    p: Zeroizing<Vec<u8>>,
    q: Zeroizing<Vec<u8>>,
}

#[derive(Serialize, Deserialize)]
struct AuxPublic {
    /// Paillier moduli N_j.
    moduli: Vec<Vec<u8>>,
    /// Ring-Pedersen (N̂_j, s_j, t_j).
    pedersen: Vec<[Vec<u8>; 3]>,
}

impl AuxPublic {
    fn id(&self) -> [u8; 32] {
        tagged_hash(
            b"custos-tss/v1/aux-id\0",
            &postcard::to_stdvec(self).unwrap_or_default(),
        )
    }
}

fn int_bytes(i: &Integer) -> Vec<u8> {
    i.to_bytes_msf()
}

fn int_from(b: &[u8]) -> Result<Integer, ShareError> {
    // Canonical: no leading zero byte, so each value has one encoding.
    if b.first() == Some(&0) || b.is_empty() {
        return Err(ShareError::Decode("non-canonical integer"));
    }
    Ok(Integer::from_bytes_msf(b))
}

impl AuxInfo {
    /// Id of the committee's public aux data (identical at every party).
    pub fn aux_id(&self) -> [u8; 32] {
        self.public().id()
    }

    fn public(&self) -> AuxPublic {
        AuxPublic {
            moduli: self.inner.N.iter().map(int_bytes).collect(),
            pedersen: self
                .inner
                .pedersen_params
                .iter()
                .map(|p| [int_bytes(&p.hat_N), int_bytes(&p.s), int_bytes(&p.t)])
                .collect(),
        }
    }

    /// Versioned encoding.
    pub fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>, Error> {
        let public = self.public();
        let record = AuxRecordV1 {
            aux_id: public.id(),
            index: self.index,
            public,
            p: Zeroizing::new(int_bytes(&self.inner.p)),
            q: Zeroizing::new(int_bytes(&self.inner.q)),
        };
        let body =
            Zeroizing::new(postcard::to_stdvec(&record).map_err(|_| Error::Bug("aux encoding"))?);
        let mut out = Zeroizing::new(Vec::with_capacity(6 + body.len()));
        out.extend_from_slice(AUX_MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_be_bytes());
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Decodes and validates aux info (cggmp24's checks, `N_i = p·q`, aux id).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        use cggmp24::key_share::{DirtyAuxInfo, PedersenParams, Validate};
        let record: AuxRecordV1 = decode_exact(strip_header(bytes, AUX_MAGIC)?)?;
        if record.public.id() != record.aux_id {
            return Err(ShareError::KeyId.into());
        }
        let n = record.public.moduli.len();
        if n != record.public.pedersen.len()
            || Committee::new(2, n as u16).is_err()
            || usize::from(record.index) >= n
        {
            return Err(ShareError::Inconsistent("aux committee size").into());
        }
        let moduli = record
            .public
            .moduli
            .iter()
            .map(|b| int_from(b))
            .collect::<Result<Vec<_>, _>>()?;
        let pedersen_params = record
            .public
            .pedersen
            .iter()
            .map(|[hat_n, s, t]| {
                Ok(PedersenParams {
                    hat_N: int_from(hat_n)?,
                    s: int_from(s)?,
                    t: int_from(t)?,
                    multiexp: None,
                    crt: None,
                })
            })
            .collect::<Result<Vec<_>, ShareError>>()?;
        let (p, q) = (int_from(&record.p)?, int_from(&record.q)?);
        let own = moduli
            .get(usize::from(record.index))
            .ok_or(ShareError::Inconsistent("index"))?;
        if *own != &p * &q {
            return Err(ShareError::Inconsistent("N_i != p*q").into());
        }
        let dirty = DirtyAuxInfo::<ecdsa::Level> {
            p,
            q,
            N: moduli,
            pedersen_params,
            security_level: std::marker::PhantomData,
        };
        let valid = dirty
            .validate()
            .map_err(|_| ShareError::Inconsistent("cggmp24 rejects the aux info"))?;
        Ok(AuxInfo {
            inner: std::sync::Arc::new(valid),
            index: record.index,
        })
    }
}
