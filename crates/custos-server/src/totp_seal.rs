//! TOTP secrets at rest. The store (possibly a PostgreSQL database run by
//! someone else) holds them sealed with XChaCha20-Poly1305 under a key
//! derived from the server's audit key file, which lives on the server's
//! disk, not in the database; the user id is the associated data, so a
//! sealed secret cannot be moved to another user.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand_core::{CryptoRng, RngCore};
use zeroize::Zeroizing;

const NONCE: usize = 24;

/// Why a sealed secret does not open.
#[derive(Debug, thiserror::Error)]
#[error("stored TOTP secret does not open (wrong key, wrong user or altered)")]
pub struct SealError;

/// The sealing key, derived from the audit key's seed with HKDF-SHA256 and
/// a label of its own (the signing key itself is never used to encrypt).
pub fn key_from(audit_seed: &[u8; 32]) -> Zeroizing<[u8; 32]> {
    let mut key = Zeroizing::new([0u8; 32]);
    // 32 bytes is far below HKDF-SHA256's limit of 255 × 32.
    let _ = hkdf::Hkdf::<sha2::Sha256>::new(None, audit_seed)
        .expand(b"custos/v1 totp secrets at rest", key.as_mut());
    key
}

fn aad(user: &str) -> Vec<u8> {
    [b"custos totp\0".as_slice(), user.as_bytes()].concat()
}

/// `nonce ‖ ciphertext` of `secret` for `user`.
pub fn seal(
    key: &[u8; 32],
    user: &str,
    secret: &[u8],
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<Vec<u8>, SealError> {
    let mut nonce = [0u8; NONCE];
    rng.fill_bytes(&mut nonce);
    let aad = aad(user);
    let ct = XChaCha20Poly1305::new(key.into())
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: secret,
                aad: &aad,
            },
        )
        .map_err(|_| SealError)?;
    Ok([nonce.as_slice(), &ct].concat())
}

/// The secret sealed for `user`.
pub fn open(key: &[u8; 32], user: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
    if sealed.len() < NONCE {
        return Err(SealError);
    }
    let (nonce, ct) = sealed.split_at(NONCE);
    let nonce: [u8; NONCE] = nonce.try_into().map_err(|_| SealError)?;
    let aad = aad(user);
    XChaCha20Poly1305::new(key.into())
        .decrypt(&XNonce::from(nonce), Payload { msg: ct, aad: &aad })
        .map(Zeroizing::new)
        .map_err(|_| SealError)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn opens_only_for_its_user_key_and_bytes() {
        let key = key_from(&[7; 32]);
        let sealed = seal(&key, "ann", b"12345678901234567890", &mut rand_core::OsRng).unwrap();
        assert_eq!(
            open(&key, "ann", &sealed).unwrap().as_slice(),
            b"12345678901234567890"
        );
        // Another user's record, another server's key, a flipped bit, a
        // truncation: none opens.
        assert!(open(&key, "bob", &sealed).is_err());
        assert!(open(&key_from(&[8; 32]), "ann", &sealed).is_err());
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 1;
            assert!(open(&key, "ann", &bad).is_err(), "byte {i}");
        }
        assert!(open(&key, "ann", &sealed[..NONCE]).is_err());
        assert!(open(&key, "ann", &[]).is_err());
        // The derived key is not the seed.
        assert_ne!(key.as_slice(), &[7; 32]);
    }
}
