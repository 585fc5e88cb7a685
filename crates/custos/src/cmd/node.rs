//! `custos node`: set up, pin and run a shard node.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Subcommand;

use super::runtime;

#[derive(Subcommand)]
pub enum NodeCommand {
    /// Create a node (multi-machine setup): channel key, TLS identity and
    /// vault; writes DIR/enrolment.json for the server operator.
    Init {
        /// Node directory (created).
        #[arg(long)]
        dir: PathBuf,
        /// Node name.
        #[arg(long)]
        name: String,
        /// Server's node address, host:port.
        #[arg(long)]
        server_addr: String,
        /// Server's TLS fingerprint, as its operator read it out (`custos server init`).
        #[arg(long)]
        server_fingerprint: String,
        /// File holding the vault passphrase (else $CUSTOS_NODE_PASSPHRASE, else a prompt).
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
    },
    /// Pin the committee (committee.json from `custos server enrol`) after
    /// comparing its fingerprint with the one the server operator gave you.
    Pin {
        /// Node directory.
        #[arg(long)]
        dir: PathBuf,
        /// committee.json.
        #[arg(long)]
        committee: PathBuf,
        /// The committee fingerprint, as the server operator read it out.
        #[arg(long)]
        fingerprint: String,
        /// The governance genesis hash, as the admins read it out.
        #[arg(long)]
        genesis: Option<String>,
    },
    /// Print the node's audit co-signing key (for auditors' key files).
    WitnessKey {
        /// Node directory.
        #[arg(long)]
        dir: PathBuf,
        /// File holding the vault passphrase (else $CUSTOS_NODE_PASSPHRASE, else a prompt).
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
    },
    /// Run a node.
    Run {
        /// Node directory.
        #[arg(long)]
        dir: PathBuf,
        /// File holding the vault passphrase (else $CUSTOS_NODE_PASSPHRASE, else a prompt).
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
    },
    /// Print the node's journal: every job it ran, with parameters and result
    /// (read-only; needs no passphrase).
    Journal {
        /// Node directory.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Store safe primes made elsewhere in the node's vault (hex file, as written by `custos-tss` tools).
    ImportPrimes {
        /// Node directory.
        #[arg(long)]
        dir: PathBuf,
        /// File holding the vault passphrase (else $CUSTOS_NODE_PASSPHRASE, else a prompt).
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
        /// Hex file with the encoded primes.
        #[arg(long)]
        primes_file: PathBuf,
    },
}

/// The vault passphrase: `--passphrase-file`, else $CUSTOS_NODE_PASSPHRASE,
/// else a prompt.
fn passphrase(file: Option<PathBuf>) -> Result<zeroize::Zeroizing<String>> {
    let text = match (file, std::env::var("CUSTOS_NODE_PASSPHRASE")) {
        (Some(f), _) => {
            std::fs::read_to_string(&f).with_context(|| format!("read {}", f.display()))?
        }
        (None, Ok(p)) => p,
        (None, Err(_)) => rpassword::prompt_password("vault passphrase: ").context(
            "no --passphrase-file, no CUSTOS_NODE_PASSPHRASE, and no terminal to prompt on",
        )?,
    };
    Ok(zeroize::Zeroizing::new(
        text.trim_end_matches(['\n', '\r']).to_owned(),
    ))
}

pub fn run(cmd: NodeCommand) -> Result<()> {
    match cmd {
        NodeCommand::Run {
            dir,
            passphrase_file,
        } => {
            let pass = passphrase(passphrase_file)?;
            runtime()?
                .block_on(custos_node::daemon::run(&dir, pass.as_bytes()))
                .map_err(Into::into)
        }
        NodeCommand::Init {
            dir,
            name,
            server_addr,
            server_fingerprint,
            passphrase_file,
        } => init(
            &dir,
            &name,
            &server_addr,
            &server_fingerprint,
            passphrase_file,
        ),
        NodeCommand::Pin {
            dir,
            committee,
            fingerprint,
            genesis,
        } => {
            let spec: custos_protocol::control::CommitteeSpec =
                serde_json::from_str(&std::fs::read_to_string(&committee)?)
                    .context("committee file")?;
            let mut config = custos_node::config::NodeConfig::load(&dir)?;
            config.pin(&spec, &fingerprint)?;
            if let Some(g) = genesis {
                config.pin_genesis(&g)?;
            }
            config.save(&dir)?;
            println!(
                "pinned committee {} ({}-of-{}); this node is member {}",
                spec.id,
                spec.threshold,
                spec.members.len(),
                config.index
            );
            Ok(())
        }
        NodeCommand::WitnessKey {
            dir,
            passphrase_file,
        } => {
            let pass = passphrase(passphrase_file)?;
            let key = runtime()?.block_on(custos_node::daemon::witness_public_key(
                &dir,
                pass.as_bytes(),
            ))?;
            println!("{key}");
            Ok(())
        }
        NodeCommand::Journal { dir } => {
            let entries = runtime()?.block_on(custos_node::store::read_journal(
                &dir.join(custos_node::daemon::DB_FILE),
            ))?;
            for e in entries {
                println!("{}", serde_json::to_string(&e)?);
            }
            Ok(())
        }
        NodeCommand::ImportPrimes {
            dir,
            passphrase_file,
            primes_file,
        } => {
            let pass = passphrase(passphrase_file)?;
            let primes = zeroize::Zeroizing::new(
                hex::decode(std::fs::read_to_string(&primes_file)?.trim())
                    .context("primes file is not hex")?,
            );
            runtime()?
                .block_on(custos_node::daemon::import_primes(
                    &dir,
                    pass.as_bytes(),
                    &primes,
                ))
                .map_err(Into::into)
        }
    }
}

/// `custos node init`: a new node's identities and vault, and the
/// enrolment file for the server operator.
fn init(
    dir: &std::path::Path,
    name: &str,
    server_addr: &str,
    server_fingerprint: &str,
    passphrase_file: Option<PathBuf>,
) -> Result<()> {
    server_fingerprint
        .parse::<custos_net::Fingerprint>()
        .context("--server-fingerprint")?;
    if dir.join(custos_node::daemon::DB_FILE).exists() {
        bail!("{} already holds a node", dir.display());
    }
    let pass = passphrase(passphrase_file)?;
    let enrolment = runtime()?.block_on(custos_node::daemon::init(
        dir,
        name,
        pass.as_bytes(),
        custos_node::vault::KdfParams::default(),
    ))?;
    custos_node::config::NodeConfig::unpinned(&enrolment, server_addr, server_fingerprint)
        .save(dir)?;
    let text = serde_json::to_string_pretty(&enrolment)?;
    std::fs::write(dir.join("enrolment.json"), &text)?;
    println!("{text}");
    eprintln!(
        "Hand {} to the server operator; then pin the committee with `custos node pin`.",
        dir.join("enrolment.json").display()
    );
    Ok(())
}
