//! `custos audit`: export the tamper-evident audit log with the nodes'
//! answers to a fresh nonce, and verify it offline against the pinned
//! governance genesis.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Subcommand;

use crate::auditing;
use crate::client::Client;

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Write every entry and checkpoint, the governance chain and the
    /// nodes' signed answers to a fresh random nonce (the newest checkpoint
    /// each co-signed) to a file.
    Export {
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Verify an export offline; names the first bad entry or checkpoint,
    /// and refuses a log cut before the newest checkpoint a majority of
    /// the nodes co-signed.
    Verify {
        /// Export file.
        export: PathBuf,
        /// The governance genesis hash (hex) the admins published (default:
        /// CUSTOS_GENESIS, else the local cluster's).
        #[arg(long)]
        genesis: Option<String>,
        /// The nonce `custos audit export` printed (hex): refuses an export
        /// whose freshness answers are over another.
        #[arg(long)]
        nonce: Option<String>,
    },
}

pub fn run(cmd: AuditCommand, data_dir: &Path) -> Result<()> {
    match cmd {
        AuditCommand::Export { out } => {
            let c = Client::locate(data_dir)?;
            println!("{}", auditing::export(&c, &out)?);
            Ok(())
        }
        AuditCommand::Verify {
            export,
            genesis,
            nonce,
        } => {
            let hex32 = |h: &str, what: &str| -> Result<[u8; 32]> {
                hex::decode(h.trim())
                    .ok()
                    .and_then(|b| b.try_into().ok())
                    .with_context(|| format!("--{what} is 32 bytes of hex"))
            };
            let genesis = match genesis {
                Some(h) => hex32(&h, "genesis")?,
                None => crate::trust::pinned_genesis(data_dir)?,
            };
            let nonce = nonce.map(|n| hex32(&n, "nonce")).transpose()?;
            println!("{}", auditing::verify(&export, genesis, nonce)?);
            Ok(())
        }
    }
}
