//! The server's files on its own disk: private files made owner-only, and
//! the audit-log key (which never lives in the database).

use std::path::Path;

use ed25519_dalek::SigningKey;
use zeroize::Zeroizing;

/// The server's audit-log key file (32-byte Ed25519 seed).
pub const AUDIT_KEY_FILE: &str = "audit-key";

/// Creates `path` (it must not exist) readable by the owner only.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    options.open(path)?.write_all(bytes)
}

/// Reads (or with `create`, makes) the server's audit key in `dir`.
pub fn audit_key(dir: &Path, create: bool) -> std::io::Result<SigningKey> {
    let path = dir.join(AUDIT_KEY_FILE);
    if create && !path.exists() {
        let key = SigningKey::generate(&mut rand_core::OsRng);
        write_private(&path, &key.to_bytes())?;
    }
    let bytes = Zeroizing::new(std::fs::read(&path)?);
    let seed: [u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| std::io::Error::other("audit key file is not 32 bytes"))?;
    Ok(SigningKey::from_bytes(&seed))
}
