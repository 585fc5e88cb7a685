//! Files the CLI writes that must be readable by their owner only (key
//! files, the demo's passphrases and saved sessions).

use std::path::Path;

use anyhow::Result;

/// Creates `path` (it must not exist) with mode 0600 and writes `text`.
pub(crate) fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?
        .write_all(text.as_bytes())?;
    Ok(())
}
