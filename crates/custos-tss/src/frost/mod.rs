//! BIP-340 Schnorr and Ed25519 threshold keys with the Zcash Foundation's FROST
//! (RFC 9591): DKG (`keys::dkg` part 1–3) and two-round signing, both run by
//! every party symmetrically (each party aggregates; no coordinator holds
//! anything).
//!
//! Our additions, kept small: a third DKG round in which parties compare a hash
//! of the round-1 transcript (FROST's DKG assumes a reliable broadcast, which a
//! relay does not give), a chain code derived from that confirmed transcript,
//! and additive HD shifts on the shares (see [`crate::hd`]).

mod dkg;
mod sign;
mod suite;

use std::collections::BTreeMap;

use frost_core::keys::{KeyPackage, PublicKeyPackage, SigningShare, VerifyingShare};
use frost_core::{Identifier, VerifyingKey};
use generic_ec::Point;
use zeroize::Zeroizing;

pub use dkg::keygen;
pub use sign::sign;
pub use suite::{Bip340, Ed25519, Suite};

use crate::error::{Error, ShareError};
use crate::hd::DerivationPath;
use crate::key_id::{KeyId, PublicInfo};
use crate::party::{Committee, PartyIndex};

/// Maps committee indices to FROST identifiers (`index + 1`) and back.
pub(crate) struct Ids<S: Suite> {
    to_id: BTreeMap<PartyIndex, Identifier<S>>,
    to_index: BTreeMap<Identifier<S>, PartyIndex>,
}

impl<S: Suite> Ids<S> {
    pub(crate) fn new(parties: &[PartyIndex]) -> Result<Self, Error> {
        let mut to_id = BTreeMap::new();
        let mut to_index = BTreeMap::new();
        for &p in parties {
            let id = identifier::<S>(p)?;
            to_id.insert(p, id);
            to_index.insert(id, p);
        }
        Ok(Self { to_id, to_index })
    }

    pub(crate) fn id(&self, p: PartyIndex) -> Result<Identifier<S>, Error> {
        self.to_id
            .get(&p)
            .copied()
            .ok_or(Error::Bug("party without identifier"))
    }

    /// FROST's error, with culprits mapped back to committee indices.
    pub(crate) fn aborted(&self, e: frost_core::Error<S>) -> Error {
        let culprits = e
            .culprits()
            .iter()
            .filter_map(|id| self.to_index.get(id).copied())
            .collect();
        Error::Aborted {
            culprits,
            reason: e.to_string(),
        }
    }
}

pub(crate) fn identifier<S: Suite>(p: PartyIndex) -> Result<Identifier<S>, Error> {
    let one_based = p.checked_add(1).ok_or(Error::Bug("index overflow"))?;
    Identifier::try_from(one_based).map_err(|_| Error::Bug("identifier"))
}

/// One party's FROST key share: its key package, the group's public package,
/// and the chain code for HD derivation.
pub struct FrostKeyShare<S: Suite> {
    key: KeyPackage<S>,
    public: PublicKeyPackage<S>,
    chain_code: [u8; 32],
    index: PartyIndex,
    committee: Committee,
    key_id: KeyId,
}

impl<S: Suite> std::fmt::Debug for FrostKeyShare<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrostKeyShare")
            .field("scheme", &S::SCHEME)
            .field("key_id", &self.key_id)
            .field("index", &self.index)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl<S: Suite> FrostKeyShare<S> {
    pub(crate) fn new(
        key: KeyPackage<S>,
        public: PublicKeyPackage<S>,
        chain_code: [u8; 32],
        index: PartyIndex,
        committee: Committee,
    ) -> Result<Self, Error> {
        let mut share = Self {
            key,
            public,
            chain_code,
            index,
            committee,
            key_id: KeyId([0; 32]),
        };
        share.key_id = KeyId::of(&share.public_info()?);
        Ok(share)
    }

    /// This party's committee index.
    pub fn index(&self) -> PartyIndex {
        self.index
    }

    /// The committee.
    pub fn committee(&self) -> Committee {
        self.committee
    }

    /// The key id.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    pub(crate) fn public_info(&self) -> Result<PublicInfo, Error> {
        let ser = |r: Result<Vec<u8>, frost_core::Error<S>>| {
            r.map_err(|_| Error::Bug("frost point encoding"))
        };
        let mut public_shares = Vec::with_capacity(usize::from(self.committee.size()));
        for p in self.committee.members() {
            let share = self
                .public
                .verifying_shares()
                .get(&identifier::<S>(p)?)
                .ok_or(ShareError::Inconsistent("verifying share missing"))?;
            public_shares.push(ser(share.serialize())?);
        }
        Ok(PublicInfo {
            scheme: S::SCHEME,
            threshold: self.committee.threshold(),
            group_key: ser(self.public.verifying_key().serialize())?,
            public_shares,
            chain_code: self.chain_code,
        })
    }

    pub(crate) fn secret_bytes(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.key.signing_share().serialize())
    }

    /// The group key as a point (the BIP-341 internal key for BIP-340 keys).
    pub(crate) fn group_point(&self) -> Result<Point<S::Ec>, Error> {
        let bytes = self
            .public
            .verifying_key()
            .serialize()
            .map_err(|_| Error::Bug("frost encoding"))?;
        S::point(&bytes).ok_or(Error::Bug("frost point is not a generic-ec point"))
    }

    /// Root extended public key.
    pub fn extended_public_key(&self) -> Result<hd_wallet::ExtendedPublicKey<S::Ec>, Error> {
        Ok(hd_wallet::ExtendedPublicKey {
            public_key: self.group_point()?,
            chain_code: self.chain_code,
        })
    }

    /// Key and public packages shifted to the child at `path`.
    pub(crate) fn derived(
        &self,
        path: &DerivationPath,
    ) -> Result<(KeyPackage<S>, PublicKeyPackage<S>), Error> {
        if path.is_root() {
            return Ok((self.key.clone(), self.public.clone()));
        }
        let derived = S::derive(path, &self.extended_public_key()?)?;
        let delta = derived.shift;
        let delta_g = Point::generator() * delta;
        let bad = |_| Error::Bug("derived value does not encode");
        let shift_point = |bytes: Vec<u8>| -> Result<Vec<u8>, Error> {
            let p = S::point(&bytes).ok_or(Error::Bug("frost point is not a generic-ec point"))?;
            Ok(S::point_bytes(&(p + delta_g)))
        };
        // x_i' = x_i + δ for every share; the group key and verifying shares move by δ·G.
        let secret =
            S::scalar(&self.key.signing_share().serialize()).ok_or(Error::Bug("frost scalar"))?;
        let secret = generic_ec::SecretScalar::new(&mut (secret + delta));
        let signing_share =
            SigningShare::deserialize(&Zeroizing::new(S::scalar_bytes(secret.as_ref())))
                .map_err(bad)?;
        let own = shift_point(self.key.verifying_share().serialize().map_err(bad)?)?;
        let verifying_key =
            VerifyingKey::deserialize(&S::point_bytes(&derived.public_key)).map_err(bad)?;
        let mut shares = BTreeMap::new();
        for (id, share) in self.public.verifying_shares() {
            let moved = shift_point(share.serialize().map_err(bad)?)?;
            shares.insert(*id, VerifyingShare::deserialize(&moved).map_err(bad)?);
        }
        let t = self.committee.threshold();
        let key = KeyPackage::new(
            *self.key.identifier(),
            signing_share,
            VerifyingShare::deserialize(&own).map_err(bad)?,
            verifying_key,
            t,
        );
        Ok((key, PublicKeyPackage::new(shares, verifying_key, Some(t))))
    }

    /// The key that signatures at `path` verify against (see [`Suite::output_key`]).
    pub fn public_key(&self, path: &DerivationPath) -> Result<Vec<u8>, Error> {
        let (_, public) = self.derived(path)?;
        S::output_key(&public).map_err(|_| Error::Bug("frost encoding"))
    }

    /// Rebuilds a share from validated parts (see [`crate::share`]).
    pub(crate) fn from_parts(
        public: &PublicInfo,
        index: PartyIndex,
        committee: Committee,
        secret: &[u8],
    ) -> Result<Self, Error> {
        let bad = |what| Error::Share(ShareError::Decode(what));
        let t = committee.threshold();
        let verifying_key =
            VerifyingKey::<S>::deserialize(&public.group_key).map_err(|_| bad("group key"))?;
        let mut shares = BTreeMap::new();
        for (p, bytes) in committee.members().into_iter().zip(&public.public_shares) {
            let share =
                VerifyingShare::<S>::deserialize(bytes).map_err(|_| bad("verifying share"))?;
            shares.insert(identifier::<S>(p)?, share);
        }
        let own = *shares
            .get(&identifier::<S>(index)?)
            .ok_or(bad("own verifying share"))?;
        let signing_share =
            SigningShare::<S>::deserialize(secret).map_err(|_| bad("signing share"))?;
        let key = KeyPackage::new(
            identifier::<S>(index)?,
            signing_share,
            own,
            verifying_key,
            t,
        );
        let public_package = PublicKeyPackage::new(shares, verifying_key, Some(t));
        let share = Self::new(key, public_package, public.chain_code, index, committee)?;
        // The frost types must re-encode to exactly what was stored.
        if share.public_info()? != *public {
            return Err(ShareError::Inconsistent("public material is not canonical").into());
        }
        Ok(share)
    }
}

/// Verifies a signature made by [`sign`] with the published key of
/// [`FrostKeyShare::public_key`] (BIP-340: 32-byte x-only; Ed25519: 32 bytes).
pub fn verify<S: Suite>(public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let key = if S::SCHEME == crate::Scheme::SchnorrBip340 {
        // x-only key: BIP-340 lifts it to the point with even y.
        let Ok(x) = <[u8; 32]>::try_from(public_key) else {
            return false;
        };
        let mut compressed = vec![0x02];
        compressed.extend_from_slice(&x);
        compressed
    } else {
        public_key.to_vec()
    };
    let Ok(key) = VerifyingKey::<S>::deserialize(&key) else {
        return false;
    };
    let Ok(sig) = frost_core::Signature::<S>::deserialize(signature) else {
        return false;
    };
    key.verify(message, &sig).is_ok()
}
