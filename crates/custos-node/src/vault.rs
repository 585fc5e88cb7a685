//! The share vault's cryptography, independent of where entries are stored.
//!
//! - **Key**: Argon2id (RFC 9106) from the operator's passphrase and a random
//!   16-byte salt; parameters are stored in the [`VaultHeader`] (default 64 MiB,
//!   3 passes, 1 lane) and bounded on load so a tampered header cannot ask for
//!   absurd work.
//! - **Check value**: the header carries a sealed constant, so a wrong
//!   passphrase (or an altered header) is reported at unlock, before any entry
//!   is touched.
//! - **Entries**: XChaCha20-Poly1305 with a random 24-byte nonce. The associated
//!   data binds format version, node id, entry kind, key id and epoch, so an
//!   entry copied to another node, key, kind or epoch does not open.
//!
//! Plaintexts come back as [`Zeroizing`] buffers; the vault key is zeroized on
//! drop and never printed.

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use rand_core::{CryptoRng, RngCore};
use zeroize::Zeroizing;

/// Format version of the header and of every entry.
pub const VAULT_VERSION: u16 = 1;
const HEADER_MAGIC: &[u8; 4] = b"CSVH";
const ENTRY_MAGIC: &[u8; 4] = b"CSVE";
const CHECK_PLAINTEXT: &[u8] = b"custos-vault/v1 passphrase check";
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const SALT_LEN: usize = 16;

/// Why the vault refused.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    /// The passphrase does not open this vault, or the header was altered.
    #[error("the passphrase does not open this vault (wrong passphrase, or the vault header was altered)")]
    WrongPassphrase,
    /// An entry fails authentication: altered, truncated, or stored under
    /// another node, key, kind or epoch.
    #[error("vault entry {0} fails authentication (altered, truncated, or moved from another key or node)")]
    EntryTampered(String),
    /// Bytes that are not a vault header or entry of a known version.
    #[error("not a vault {what} of a supported version")]
    Format {
        /// "header" or "entry".
        what: &'static str,
    },
    /// KDF parameters out of the accepted range.
    #[error("vault KDF parameters out of range: {0}")]
    Params(&'static str),
    /// The passphrase is empty or too short.
    #[error("passphrase too short: at least {min} characters required")]
    WeakPassphrase {
        /// Minimum length.
        min: usize,
    },
}

/// Minimum passphrase length in bytes.
pub const MIN_PASSPHRASE: usize = 12;

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes.
    pub passes: u32,
    /// Lanes.
    pub lanes: u32,
}

impl Default for KdfParams {
    /// 64 MiB, 3 passes, 1 lane: above RFC 9106's second recommended option
    /// (64 MiB, 3 passes, 4 lanes) in cost per lane, about 0.2 s here.
    fn default() -> Self {
        Self {
            memory_kib: 64 * 1024,
            passes: 3,
            lanes: 1,
        }
    }
}

impl KdfParams {
    fn check(&self) -> Result<Params, VaultError> {
        if !(8 * 1024..=4 * 1024 * 1024).contains(&self.memory_kib) {
            return Err(VaultError::Params("memory must be 8 MiB to 4 GiB"));
        }
        if !(1..=64).contains(&self.passes) || !(1..=16).contains(&self.lanes) {
            return Err(VaultError::Params("passes 1..=64, lanes 1..=16"));
        }
        Params::new(self.memory_kib, self.passes, self.lanes, Some(32))
            .map_err(|_| VaultError::Params("rejected by argon2"))
    }
}

/// What an entry holds; part of its associated data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum EntryKind {
    /// A threshold key share.
    KeyShare = 1,
    /// The committee's ECDSA aux info.
    AuxInfo = 2,
    /// Safe primes made ahead of time.
    SafePrimes = 3,
    /// The node's channel key.
    NodeKeys = 4,
    // 5 held ECDSA presignatures (the pool is gone: ADR 0008).
    /// The node's TLS private key.
    TlsKey = 6,
    /// What a key was born for (`wallet:` or `blind:` and the wallet's
    /// id), written before its share; a share without one is refused.
    KeyPurpose = 7,
    /// A wallet id's claim on one key: this node's record of the wallet
    /// (the statement it attested), written first, so ids are unique.
    Wallet = 8,
}

/// Where an entry belongs. Opening under any other binding fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryBinding<'a> {
    /// The node's id (its enrolled public key, hex).
    pub node_id: &'a str,
    /// What the entry holds.
    pub kind: EntryKind,
    /// The key (or committee) the entry belongs to; zeros if none.
    pub key_id: [u8; 32],
    /// Refresh epoch of the share (0 before any refresh).
    pub epoch: u64,
}

impl EntryBinding<'_> {
    fn associated_data(&self) -> Vec<u8> {
        let mut ad = Vec::with_capacity(64 + self.node_id.len());
        ad.extend_from_slice(b"custos-vault/v1/entry\0");
        ad.extend_from_slice(&VAULT_VERSION.to_be_bytes());
        ad.extend_from_slice(&(self.node_id.len() as u64).to_be_bytes());
        ad.extend_from_slice(self.node_id.as_bytes());
        ad.push(self.kind as u8);
        ad.extend_from_slice(&self.key_id);
        ad.extend_from_slice(&self.epoch.to_be_bytes());
        ad
    }

    fn describe(&self) -> String {
        let key: String = self
            .key_id
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("{:?} key {key}… epoch {}", self.kind, self.epoch)
    }
}

/// The stored, public part of a vault: KDF parameters, salt, check value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultHeader {
    params: KdfParams,
    salt: [u8; SALT_LEN],
    check: Vec<u8>,
}

impl VaultHeader {
    /// Encoding: magic, version, memory, passes, lanes, salt, check value.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + 2 + 12 + SALT_LEN + self.check.len());
        out.extend_from_slice(HEADER_MAGIC);
        out.extend_from_slice(&VAULT_VERSION.to_be_bytes());
        for v in [
            self.params.memory_kib,
            self.params.passes,
            self.params.lanes,
        ] {
            out.extend_from_slice(&v.to_be_bytes());
        }
        out.extend_from_slice(&self.salt);
        out.extend_from_slice(&self.check);
        out
    }

    /// Decodes a header; the check value is verified by [`VaultKey::unlock`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, VaultError> {
        let format = VaultError::Format { what: "header" };
        let rest = bytes
            .strip_prefix(HEADER_MAGIC.as_slice())
            .ok_or(format.clone())?;
        let (version, rest) = rest.split_first_chunk::<2>().ok_or(format.clone())?;
        if u16::from_be_bytes(*version) != VAULT_VERSION {
            return Err(format);
        }
        let (m, rest) = rest.split_first_chunk::<4>().ok_or(format.clone())?;
        let (t, rest) = rest.split_first_chunk::<4>().ok_or(format.clone())?;
        let (p, rest) = rest.split_first_chunk::<4>().ok_or(format.clone())?;
        let (salt, check) = rest.split_first_chunk::<SALT_LEN>().ok_or(format.clone())?;
        if check.len() != NONCE_LEN + CHECK_PLAINTEXT.len() + TAG_LEN {
            return Err(format);
        }
        let params = KdfParams {
            memory_kib: u32::from_be_bytes(*m),
            passes: u32::from_be_bytes(*t),
            lanes: u32::from_be_bytes(*p),
        };
        params.check()?;
        Ok(Self {
            params,
            salt: *salt,
            check: check.to_vec(),
        })
    }
}

/// The unlocked vault key.
pub struct VaultKey {
    key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for VaultKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VaultKey(<redacted>)")
    }
}

fn header_ad(params: &KdfParams, salt: &[u8; SALT_LEN]) -> Vec<u8> {
    let mut ad = b"custos-vault/v1/check\0".to_vec();
    for v in [params.memory_kib, params.passes, params.lanes] {
        ad.extend_from_slice(&v.to_be_bytes());
    }
    ad.extend_from_slice(salt);
    ad
}

impl VaultKey {
    fn derive(
        passphrase: &[u8],
        params: &KdfParams,
        salt: &[u8; SALT_LEN],
    ) -> Result<Self, VaultError> {
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.check()?);
        let mut key = Zeroizing::new([0u8; 32]);
        argon
            .hash_password_into(passphrase, salt, key.as_mut())
            .map_err(|_| VaultError::Params("argon2 failed"))?;
        Ok(Self { key })
    }

    /// Makes a new vault: a random salt, the key, and the header to store.
    pub fn create(
        passphrase: &[u8],
        params: KdfParams,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<(Self, VaultHeader), VaultError> {
        if passphrase.len() < MIN_PASSPHRASE {
            return Err(VaultError::WeakPassphrase {
                min: MIN_PASSPHRASE,
            });
        }
        let mut salt = [0u8; SALT_LEN];
        rng.fill_bytes(&mut salt);
        let key = Self::derive(passphrase, &params, &salt)?;
        let check = key.seal_raw(&header_ad(&params, &salt), CHECK_PLAINTEXT, rng)?;
        Ok((
            key,
            VaultHeader {
                params,
                salt,
                check,
            },
        ))
    }

    /// Derives the key from `passphrase` and verifies it against the header.
    pub fn unlock(passphrase: &[u8], header: &VaultHeader) -> Result<Self, VaultError> {
        let key = Self::derive(passphrase, &header.params, &header.salt)?;
        let ad = header_ad(&header.params, &header.salt);
        match key.open_raw(&ad, &header.check) {
            Some(p) if p.as_slice() == CHECK_PLAINTEXT => Ok(key),
            _ => Err(VaultError::WrongPassphrase),
        }
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        // A reference conversion: the key is not copied out of its Zeroizing box.
        let key: &chacha20poly1305::Key = (&*self.key).into();
        XChaCha20Poly1305::new(key)
    }

    fn seal_raw(
        &self,
        ad: &[u8],
        plaintext: &[u8],
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<Vec<u8>, VaultError> {
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        let ct = self
            .cipher()
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: ad,
                },
            )
            .map_err(|_| VaultError::Params("encryption failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        Ok(out)
    }

    fn open_raw(&self, ad: &[u8], sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        let (nonce, ct) = sealed.split_first_chunk::<NONCE_LEN>()?;
        self.cipher()
            .decrypt(&XNonce::from(*nonce), Payload { msg: ct, aad: ad })
            .ok()
            .map(Zeroizing::new)
    }

    /// Seals `plaintext` for `binding`: magic, version, nonce, ciphertext+tag.
    pub fn seal(
        &self,
        binding: &EntryBinding<'_>,
        plaintext: &[u8],
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<Vec<u8>, VaultError> {
        let mut out = ENTRY_MAGIC.to_vec();
        out.extend_from_slice(&VAULT_VERSION.to_be_bytes());
        out.extend_from_slice(&self.seal_raw(&binding.associated_data(), plaintext, rng)?);
        Ok(out)
    }

    /// Opens an entry sealed for exactly `binding`.
    pub fn open(
        &self,
        binding: &EntryBinding<'_>,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        let rest = sealed
            .strip_prefix(ENTRY_MAGIC.as_slice())
            .ok_or(VaultError::Format { what: "entry" })?;
        let (version, body) = rest
            .split_first_chunk::<2>()
            .ok_or(VaultError::Format { what: "entry" })?;
        if u16::from_be_bytes(*version) != VAULT_VERSION {
            return Err(VaultError::Format { what: "entry" });
        }
        self.open_raw(&binding.associated_data(), body)
            .ok_or_else(|| VaultError::EntryTampered(binding.describe()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::rngs::OsRng;

    /// Cheap parameters for tests (the minimum accepted).
    const FAST: KdfParams = KdfParams {
        memory_kib: 8 * 1024,
        passes: 1,
        lanes: 1,
    };
    const PASS: &[u8] = b"correct horse battery staple";

    fn binding(kind: EntryKind, epoch: u64) -> EntryBinding<'static> {
        EntryBinding {
            node_id: "node-a",
            kind,
            key_id: [7; 32],
            epoch,
        }
    }

    #[test]
    fn round_trip_after_reload() {
        let (key, header) = VaultKey::create(PASS, FAST, &mut OsRng).unwrap();
        let sealed = key
            .seal(&binding(EntryKind::KeyShare, 0), b"share bytes", &mut OsRng)
            .unwrap();
        let header = VaultHeader::from_bytes(&header.to_bytes()).unwrap();
        let again = VaultKey::unlock(PASS, &header).unwrap();
        assert_eq!(
            again
                .open(&binding(EntryKind::KeyShare, 0), &sealed)
                .unwrap()
                .as_slice(),
            b"share bytes"
        );
        assert!(!String::from_utf8_lossy(&sealed).contains("share bytes"));
    }

    #[test]
    fn default_parameters_work() {
        let (_, header) = VaultKey::create(PASS, KdfParams::default(), &mut OsRng).unwrap();
        assert!(VaultKey::unlock(PASS, &header).is_ok());
    }

    #[test]
    fn wrong_passphrase_is_refused_at_unlock() {
        let (_, header) = VaultKey::create(PASS, FAST, &mut OsRng).unwrap();
        assert_eq!(
            VaultKey::unlock(b"correct horse battery stapler", &header).unwrap_err(),
            VaultError::WrongPassphrase
        );
        assert!(matches!(
            VaultKey::create(b"short", FAST, &mut OsRng),
            Err(VaultError::WeakPassphrase { .. })
        ));
    }

    #[test]
    fn entries_are_bound_to_node_kind_key_and_epoch() {
        let (key, _) = VaultKey::create(PASS, FAST, &mut OsRng).unwrap();
        let b = binding(EntryKind::KeyShare, 3);
        let sealed = key.seal(&b, b"x", &mut OsRng).unwrap();
        let others = [
            EntryBinding {
                node_id: "node-b",
                ..b
            },
            EntryBinding {
                kind: EntryKind::KeyPurpose,
                ..b
            },
            EntryBinding {
                key_id: [8; 32],
                ..b
            },
            EntryBinding { epoch: 2, ..b },
        ];
        for other in others {
            assert!(
                matches!(key.open(&other, &sealed), Err(VaultError::EntryTampered(_))),
                "{other:?}"
            );
        }
    }

    #[test]
    fn altered_header_is_refused() {
        let (_, header) = VaultKey::create(PASS, FAST, &mut OsRng).unwrap();
        let bytes = header.to_bytes();
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 1;
            let refused = match VaultHeader::from_bytes(&bad) {
                Err(_) => true,
                Ok(h) => VaultKey::unlock(PASS, &h).is_err(),
            };
            assert!(refused, "header byte {i}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Any flipped bit or truncation of an entry is refused.
        #[test]
        fn any_entry_mutation_is_refused(pos in any::<prop::sample::Index>(), xor in 1u8..=255, cut in any::<bool>()) {
            static KEY: std::sync::OnceLock<(VaultKey, Vec<u8>)> = std::sync::OnceLock::new();
            let (key, sealed) = KEY.get_or_init(|| {
                let (key, _) = VaultKey::create(PASS, FAST, &mut OsRng).unwrap();
                let sealed = key.seal(&binding(EntryKind::AuxInfo, 0), &[42u8; 300], &mut OsRng).unwrap();
                (key, sealed)
            });
            let mut bad = sealed.clone();
            let i = pos.index(bad.len());
            if cut { bad.truncate(i) } else { bad[i] ^= xor }
            prop_assert!(key.open(&binding(EntryKind::AuxInfo, 0), &bad).is_err());
        }
    }
}
