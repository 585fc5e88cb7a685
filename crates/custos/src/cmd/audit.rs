//! `custos audit`: export the tamper-evident audit log and verify it offline.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Subcommand;

use super::runtime;
use crate::client::Client;
use crate::govern;
use crate::json::Field;

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Write every entry and checkpoint to a file.
    Export {
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Local demo: write the keys file for `custos audit verify` from a
    /// `custos up` data dir (the genesis audit key and each node's witness
    /// key). An auditor gets these from the admins and node operators.
    Keys {
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Verify an export offline; names the first bad entry.
    Verify {
        /// Export file.
        export: PathBuf,
        /// Keys file: {"server": HEX, "nodes": [HEX, …], "quorum": N}.
        #[arg(long)]
        keys: PathBuf,
    },
}

pub fn run(cmd: AuditCommand, data_dir: &Path) -> Result<()> {
    match cmd {
        AuditCommand::Export { out } => {
            let c = Client::locate(data_dir)?;
            let export = c.get("/v1/audit/export")?;
            std::fs::write(&out, serde_json::to_string_pretty(&export)?)?;
            println!(
                "{} entries, {} checkpoints written to {}",
                export.at("entries").as_array().map(Vec::len).unwrap_or(0),
                export
                    .at("checkpoints")
                    .as_array()
                    .map(Vec::len)
                    .unwrap_or(0),
                out.display()
            );
            Ok(())
        }
        AuditCommand::Keys { out } => keys(&out, data_dir),
        AuditCommand::Verify { export, keys } => {
            println!("{}", govern::verify_audit(&export, &keys)?);
            Ok(())
        }
    }
}

/// `custos audit keys`: the server's audit key from the governance head and
/// every node's witness key, read from the local cluster's node vaults.
fn keys(out: &Path, data_dir: &Path) -> Result<()> {
    let c = Client::locate(data_dir)?;
    let g = c.get("/v1/governance")?;
    let cluster: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data_dir.join("cluster.json"))?)?;
    let rt = runtime()?;
    let mut nodes = Vec::new();
    for i in 0..cluster.at("nodes").as_u64().unwrap_or(0) {
        let dir = data_dir.join(format!("node-{i}"));
        let pass = std::fs::read_to_string(dir.join("passphrase"))?;
        nodes.push(rt.block_on(custos_node::daemon::witness_public_key(
            &dir,
            pass.trim().as_bytes(),
        ))?);
    }
    let keys = serde_json::json!({
        "server": g.at("audit_key"), "nodes": nodes, "quorum": cluster.at("threshold"),
    });
    std::fs::write(out, serde_json::to_string_pretty(&keys)?)?;
    println!("{keys}");
    Ok(())
}
