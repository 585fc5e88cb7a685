//! A user's Ed25519 signing key in a local file, encrypted under a
//! passphrase (Argon2id → XChaCha20-Poly1305, the user id and public key as
//! associated data so a file cannot be relabelled). The CLI signs requests,
//! intents, approvals and governance proposals with it.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use ed25519_dalek::{Signer, SigningKey};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

const TAG: &str = "custos/user-key/v1";

#[derive(Serialize, Deserialize)]
struct KeyFile {
    format: String,
    user: String,
    public_key: String,
    kdf: Kdf,
    nonce: String,
    ciphertext: String,
}

#[derive(Serialize, Deserialize)]
struct Kdf {
    m_kib: u32,
    t: u32,
    p: u32,
    salt: String,
}

/// An unlocked user key (the signing key zeroizes itself when dropped).
#[derive(Clone)]
pub struct UserKey {
    /// User id in the governance chain.
    pub user: String,
    key: SigningKey,
}

impl std::fmt::Debug for UserKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserKey").field("user", &self.user).finish()
    }
}

fn cipher(passphrase: &[u8], kdf: &Kdf) -> Result<XChaCha20Poly1305> {
    let salt = hex::decode(&kdf.salt)?;
    let params = Params::new(kdf.m_kib, kdf.t, kdf.p, Some(32)).map_err(anyhow::Error::msg)?;
    let mut key = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(passphrase, &salt, key.as_mut())
        .map_err(anyhow::Error::msg)?;
    // A reference conversion: the key is not copied out of its Zeroizing box.
    let k: &chacha20poly1305::Key = (&*key).into();
    Ok(XChaCha20Poly1305::new(k))
}

fn aad(user: &str, public_key: &str) -> Vec<u8> {
    format!("{TAG}\n{user}\n{public_key}").into_bytes()
}

impl UserKey {
    /// A new random key for `user`.
    pub fn generate(user: &str) -> Self {
        Self {
            user: user.to_owned(),
            key: SigningKey::generate(&mut rand::rngs::OsRng),
        }
    }

    /// The public key (what governance records).
    pub fn public(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// Signs `message`.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.key.sign(message).to_bytes().to_vec()
    }

    /// Writes the key encrypted under `passphrase` (refuses to overwrite,
    /// and a passphrase too weak to hold against offline guessing).
    pub fn save(&self, path: &Path, passphrase: &[u8]) -> Result<()> {
        strong_enough(passphrase)?;
        let mut salt = [0u8; 16];
        let mut nonce = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let kdf = Kdf {
            m_kib: 64 * 1024,
            t: 3,
            p: 1,
            salt: hex::encode(salt),
        };
        let public_key = hex::encode(self.public());
        let seed = Zeroizing::new(self.key.to_bytes());
        let ciphertext = cipher(passphrase, &kdf)?
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: seed.as_slice(),
                    aad: &aad(&self.user, &public_key),
                },
            )
            .map_err(|_| anyhow::anyhow!("encryption failed"))?;
        let file = KeyFile {
            format: TAG.into(),
            user: self.user.clone(),
            public_key,
            kdf,
            nonce: hex::encode(nonce),
            ciphertext: hex::encode(ciphertext),
        };
        crate::files::write_private(path, &serde_json::to_string_pretty(&file)?)
    }

    /// Reads and decrypts a key file.
    pub fn load(path: &Path, passphrase: &[u8]) -> Result<Self> {
        let file: KeyFile = serde_json::from_str(
            &std::fs::read_to_string(path)
                .with_context(|| format!("reading key file {}", path.display()))?,
        )
        .context("not a Custos user key file")?;
        if file.format != TAG {
            bail!("not a Custos user key file ({})", file.format);
        }
        let nonce: [u8; 24] = hex::decode(&file.nonce)?
            .try_into()
            .map_err(|_| anyhow::anyhow!("key file nonce"))?;
        let seed = Zeroizing::new(
            cipher(passphrase, &file.kdf)?
                .decrypt(
                    &XNonce::from(nonce),
                    Payload {
                        msg: &hex::decode(&file.ciphertext)?,
                        aad: &aad(&file.user, &file.public_key),
                    },
                )
                .map_err(|_| anyhow::anyhow!("wrong passphrase or damaged key file"))?,
        );
        let seed: Zeroizing<[u8; 32]> = Zeroizing::new(
            seed.as_slice()
                .try_into()
                .context("key file holds no 32-byte key")?,
        );
        let key = SigningKey::from_bytes(&seed);
        if hex::encode(key.verifying_key().to_bytes()) != file.public_key {
            bail!("key file public key does not match its secret");
        }
        Ok(Self {
            user: file.user,
            key,
        })
    }
}

/// The key file to use: `--key`, else the local demo admin key of `custos
/// up` in the data dir.
pub fn locate(key: Option<PathBuf>, data_dir: &Path) -> Result<UserKey> {
    let (path, passphrase) = match key {
        Some(p) => {
            let pass = match std::env::var("CUSTOS_KEY_PASSPHRASE") {
                Ok(p) => Zeroizing::new(p),
                Err(_) => Zeroizing::new(
                    rpassword::prompt_password("key passphrase: ")
                        .context("no CUSTOS_KEY_PASSPHRASE and no terminal to prompt on")?,
                ),
            };
            (p, pass)
        }
        None => {
            let p = data_dir.join(DEMO_ADMIN_KEY);
            let pass = Zeroizing::new(
                std::fs::read_to_string(data_dir.join(DEMO_ADMIN_PASSPHRASE))
                    .context("no --key given and no demo admin key in the data dir")?
                    .trim()
                    .to_owned(),
            );
            (p, pass)
        }
    };
    UserKey::load(&path, passphrase.as_bytes())
}

/// `custos up`'s first admin (local demo convenience).
pub const DEMO_ADMIN_KEY: &str = "demo-admin.key";
/// Its TOTP secret as an otpauth URI (local demo convenience only).
pub const DEMO_ADMIN_TOTP: &str = "demo-admin.totp";
/// Its passphrase, next to it (local demo convenience only).
pub const DEMO_ADMIN_PASSPHRASE: &str = "demo-admin.passphrase";

/// Fewest characters a user-key passphrase has.
pub const MIN_PASSPHRASE: usize = 12;

/// A file thief guesses offline (Argon2id slows, never stops, that):
/// at least [`MIN_PASSPHRASE`] characters, and not a repeat of a few.
fn strong_enough(passphrase: &[u8]) -> Result<()> {
    let text = String::from_utf8_lossy(passphrase);
    let distinct: std::collections::BTreeSet<char> = text.chars().collect();
    if text.chars().count() < MIN_PASSPHRASE || distinct.len() < 6 {
        anyhow::bail!(
            "the passphrase is too weak: use at least {MIN_PASSPHRASE} characters, not a repeat \
             of a few (a passphrase of several random words is best)"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_round_trip_and_wrong_passphrase() {
        let dir = std::env::temp_dir().join(format!("custos-userkey-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("k.json");
        let _ = std::fs::remove_file(&path);
        let k = UserKey::generate("alice");
        for weak in [&b"pw"[..], b"aaaaaaaaaaaaaaaa", b"abcabcabcabc"] {
            assert!(k.save(&path, weak).is_err());
        }
        let pw = b"correct horse battery";
        k.save(&path, pw).unwrap();
        let back = UserKey::load(&path, pw).unwrap();
        assert_eq!(back.public(), k.public());
        assert_eq!(back.user, "alice");
        assert!(UserKey::load(&path, b"other").is_err());
        // Relabelling the user breaks the associated data.
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("alice", "mallory");
        std::fs::write(&path, text).unwrap();
        assert!(UserKey::load(&path, pw).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
